// The hand-written INODE_ITEM encoder and decoder (src/format/inode-item.ts) against the generic
// struct code they replace on the hot paths: the same 160 bytes for any item, including u64 fields
// near 2^53, times before 1970 (negative seconds: u64 near 2^64) and a used reserved area.
import { describe, expect, it } from 'vitest';
import { InodeItem } from '../../../src/format/structs.js';
import { viewOf } from '../../../src/format/struct.js';
import { decodeInodeFrom, encodeInodeInto } from '../../../src/format/inode-item.js';
import { edgyU64, mulberry32 as rng } from '../../shared/rng.js';


describe('INODE_ITEM encoder', () => {
  it('writes the same bytes as the generic struct encoder', () => {
    const r = rng(7);
    const u64 = () => edgyU64(r);
    const u32 = () => (r() < 0.2 ? 0xffffffff : Math.floor(r() * 2 ** 32));
    const ts = () => ({ sec: r() < 0.2 ? -Math.floor(r() * 1e9) : Math.floor(r() * 4e9), nsec: Math.floor(r() * 1e9) });
    for (let i = 0; i < 500; i++) {
      const item = {
        generation: u64(), transid: u64(), size: u64(), nbytes: u64(), blockGroup: u64(),
        nlink: u32(), uid: u32(), gid: u32(), mode: u32(), rdev: u64(), flags: u64(), sequence: u64(),
        reserved: new Uint8Array(32).map(() => (r() < 0.1 ? Math.floor(r() * 256) : 0)),
        atime: ts(), ctime: ts(), mtime: ts(), otime: ts(),
      };
      const want = new Uint8Array(InodeItem.size + 16).fill(0xaa);
      InodeItem.encode(viewOf(want), 8, item);
      const got = new Uint8Array(InodeItem.size + 16).fill(0xaa);
      encodeInodeInto(got, 8, item);
      expect(got).toEqual(want);
      expect(InodeItem.decode(viewOf(got), 8)).toEqual(item);
      expect(decodeInodeFrom(got, 8)).toEqual(item);
    }
  });

  it('decodes what the generic decoder decodes, and refuses a u64 past 2^53 as it does', () => {
    const r = rng(8);
    for (let i = 0; i < 200; i++) {
      const b = new Uint8Array(InodeItem.size + 8).map(() => (r() < 0.5 ? 0 : Math.floor(r() * 256)));
      // Keep every u64 within 2^53 except now and then one field.
      for (const f of ['generation', 'transid', 'size', 'nbytes', 'blockGroup', 'rdev', 'flags', 'sequence', 'atime', 'ctime', 'mtime', 'otime'] as const) {
        if (r() < 0.95) b[4 + InodeItem.off[f] + 6] &= 0x0f;
        if (r() < 0.9) b[4 + InodeItem.off[f] + 7] = 0;
      }
      let want: unknown;
      try {
        want = InodeItem.decode(viewOf(b), 4);
      } catch (e) {
        expect(() => decodeInodeFrom(b, 4)).toThrow(expect.objectContaining({ code: (e as { code: string }).code }) as Error);
        continue;
      }
      expect(decodeInodeFrom(b, 4)).toEqual(want);
    }
  });

  it('refuses what the generic encoder refuses: a u64 past 2^53', () => {
    const item = InodeItem.zero();
    item.size = 2 ** 60;
    expect(() => encodeInodeInto(new Uint8Array(InodeItem.size), 0, item)).toThrow();
    expect(() => InodeItem.encode(viewOf(new Uint8Array(InodeItem.size)), 0, item)).toThrow();
  });
});

// Write-behind of compressed writes (src/inode/file.ts cowRange, FsInfo.writeTail): a
// FileHandle write returns while its last chunks compress on a worker; the next write of the
// file takes them up, any other call settles them first. Judged by what every call sees, by the
// extents being those of writes that never go behind, by btrfs check --check-data-csum, and by a
// tail whose device write fails aborting the transaction (the last commit stays).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryDevice, mkfs, mount } from '../../../src/index.js';
import { FaultDevice } from '../../../src/device/fault.js';
import type { Filesystem } from '../../../src/api/filesystem.js';
import { writeFile as engineWrite } from '../../../src/inode/file.js';
import { findFileExtents } from '../../../src/inode/file-item.js';
import { readInode } from '../../../src/inode/inode.js';
import { BTRFS_MAX_UNCOMPRESSED } from '../../../src/kernels/compression.js';
import { btrfsCheckDevice } from '../../shared/btrfs-progs.js';
import { KINDS, pseudoRandom } from '../kernels/compress-corpus.js';

const MiB = 1024 * 1024;
const CHUNK = BTRFS_MAX_UNCOMPRESSED;

/**
 * A chunk the heuristic passes and the codec cannot shrink by a sector, so it sets the sticky
 * NOCOMPRESS flag: random bytes, but those the heuristic samples (16 of every 256) take 32
 * values only (a small byte set).
 */
function incompressibleChunk(seed: number): Uint8Array {
  const b = pseudoRandom(CHUNK, seed);
  for (let i = 0; i < b.length; i += 256) for (let k = 0; k < 16; k++) b[i + k]! &= 31;
  return b;
}

const mounted: Filesystem[] = [];
afterEach(async () => {
  for (const f of mounted.splice(0)) if (f.isMounted) await f.unmount().catch(() => undefined);
  vi.restoreAllMocks();
});

async function compressedFs(dev: MemoryDevice | FaultDevice, options = 'compress=zstd:1'): Promise<Filesystem> {
  const fs = await mount([dev], options);
  mounted.push(fs);
  // Workers ready first: a write's chunks go to them, not all to the engine thread.
  await fs.info.compressPool!.start();
  expect(fs.info.compressPool!.active).toBe(true);
  return fs;
}

async function judge(dev: MemoryDevice): Promise<void> {
  const r = await btrfsCheckDevice(dev);
  expect(r.ok, r.output).toBe(true);
}

/** The file extent items and the inode item's counters of `path`, as they are in the tree. */
async function layout(fs: Filesystem, path: string): Promise<unknown> {
  return fs.read(async (info) => {
    const loc = await fs.promises.locate(info, path);
    const item = await readInode(info, loc.root, loc.ino);
    const extents = await findFileExtents(info, loc.root, loc.ino, 0, Number.MAX_SAFE_INTEGER);
    return {
      size: item.size, nbytes: item.nbytes, flags: item.flags,
      extents: extents.map((e) => [e.fileOffset, e.type, e.compression, e.diskBytenr, e.diskNumBytes, e.offset, e.numBytes, e.ramBytes]),
    };
  });
}

describe('write-behind of compressed writes', () => {
  it('a write returns before its last chunks are extents; stat, reads, other writes and the commit see every byte', async () => {
    const dev = new MemoryDevice(256 * MiB);
    await mkfs([dev]);
    const fs = await compressedFs(dev);
    const p = fs.promises;
    const data = KINDS.text!(8 * MiB);
    const fh = await p.open('/f', 'w');
    let seenPending = false;
    for (let off = 0; off < data.length; off += MiB) {
      await fh.write(data, off, MiB, off);
      if (fs.info.writeTail !== undefined) {
        seenPending = true;
        // The stat fast path is off while a tail is pending.
        expect(fs.quiescent).toBe(false);
      }
    }
    // The mechanism ran: otherwise this test would say nothing.
    expect(seenPending).toBe(true);
    expect(fs.info.stats.writeTails).toBeGreaterThan(0);
    // Another file's write settles the tail first; then stat sees all the blocks.
    await p.writeFile('/other', 'x');
    expect(fs.info.writeTail).toBeUndefined();
    const st = await p.stat('/f');
    expect(st.size).toBe(8 * MiB);
    expect(st.blocks).toBe((8 * MiB) / 512);
    // A read right after a write that went behind.
    await fh.write(data, 0, MiB, 8 * MiB);
    expect(Buffer.from(await p.readFile('/f')).equals(Buffer.concat([data, data.subarray(0, MiB)]))).toBe(true);
    await fh.close();
    const l = (await layout(fs, '/f')) as { nbytes: number; extents: number[][] };
    expect(l.nbytes).toBe(9 * MiB);
    // Every extent compressed (text), each one chunk.
    expect(l.extents.length).toBe((9 * MiB) / CHUNK);
    expect(l.extents.every((e) => e[2] !== 0)).toBe(true);
    await fs.unmount();
    await judge(dev);
    const again = await mount([dev]);
    mounted.push(again);
    expect(Buffer.from(await again.promises.readFile('/f')).equals(Buffer.concat([data, data.subarray(0, MiB)]))).toBe(true);
  });

  it('makes the same extents and inode items as the same writes made without going behind', async () => {
    // Text, an unaligned end, a chunk that sets the sticky NOCOMPRESS flag at a write's end, a
    // write of another file in between, a write that does not continue the last one.
    const text = KINDS.text!(6 * MiB);
    const writes: { file: string; at: number; data: Uint8Array }[] = [];
    for (let i = 0; i < 3; i++) writes.push({ file: '/a', at: i * MiB, data: text.subarray(i * MiB, (i + 1) * MiB) });
    writes.push({ file: '/b', at: 0, data: text.subarray(3 * MiB, 4 * MiB + 100) });
    writes.push({ file: '/b', at: MiB + 100, data: text.subarray(0, MiB) });
    writes.push({ file: '/a', at: 3 * MiB, data: text.subarray(4 * MiB, 5 * MiB) });
    const last = new Uint8Array(MiB);
    last.set(text.subarray(5 * MiB, 5 * MiB + 6 * CHUNK));
    last.set(incompressibleChunk(3), 6 * CHUNK);
    last.set(incompressibleChunk(4), 7 * CHUNK);
    writes.push({ file: '/a', at: 4 * MiB, data: last });
    writes.push({ file: '/a', at: 5 * MiB, data: text.subarray(0, MiB) });
    writes.push({ file: '/a', at: 64 * 1024, data: text.subarray(0, 3 * CHUNK) });

    async function run(behind: boolean): Promise<{ a: unknown; b: unknown; tails: number }> {
      const dev = new MemoryDevice(256 * MiB);
      await mkfs([dev]);
      const fs = await compressedFs(dev);
      const p = fs.promises;
      const handles = { '/a': await p.open('/a', 'w'), '/b': await p.open('/b', 'w') } as Record<string, Awaited<ReturnType<typeof p.open>>>;
      for (const w of writes) {
        if (behind) {
          await handles[w.file]!.write(w.data, 0, w.data.length, w.at);
        } else {
          await fs.transaction(async (info) => {
            const loc = await p.locate(info, w.file);
            return engineWrite(info, loc.root, loc.ino, w.at, w.data);
          });
        }
      }
      for (const h of Object.values(handles)) await h.close();
      await fs.sync();
      const out = { a: await layout(fs, '/a'), b: await layout(fs, '/b'), tails: fs.info.stats.writeTails };
      await fs.unmount();
      await judge(dev);
      return out;
    }
    const behind = await run(true);
    const direct = await run(false);
    expect(behind.tails).toBeGreaterThan(0);
    expect(direct.tails).toBe(0);
    expect(behind.a).toEqual(direct.a);
    expect(behind.b).toEqual(direct.b);
    // The sticky flag was set by the incompressible chunks, and later writes went uncompressed.
    expect(((behind.a as { flags: number }).flags & 0x8) !== 0).toBe(true);
  });

  it('a tail whose device write fails aborts the transaction: the next call gets EIO, the last commit stays', async () => {
    const inner = new MemoryDevice(256 * MiB);
    await mkfs([inner]);
    const dev = new FaultDevice(inner);
    const fs = await compressedFs(dev);
    const p = fs.promises;
    const committed = KINDS.text!(MiB);
    await p.writeFile('/f', committed);
    await fs.sync();
    // Two chunks: both go to the idle worker at once, so the write goes behind before any
    // result; neither saves a sector, so the tail writes 256 KiB uncompressed, to the device
    // at once (fs/writeback.ts write-through).
    const fh = await p.open('/f', 'r+');
    const tail = new Uint8Array(2 * CHUNK);
    tail.set(incompressibleChunk(5));
    tail.set(incompressibleChunk(6), CHUNK);
    await fh.write(tail, 0, tail.length, MiB);
    expect(fs.info.writeTail).toBeDefined();
    dev.cutPower();
    const err = await p.stat('/f').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EIO', syscall: 'stat', path: '/f' });
    expect(String((err as Error).message)).toMatch(/last write failed after the write returned, and the transaction is aborted/);
    expect(fs.info.aborted).toBeDefined();
    // Read-only from here on, and nothing is committed.
    await expect(fh.write(tail, 0, 4096, 0)).rejects.toMatchObject({ code: 'EROFS' });
    await expect(fs.sync()).rejects.toMatchObject({ code: 'EIO' });
    await fh.close();
    await fs.unmount();
    const after = dev.stateAfter(dev.events.length);
    await judge(after);
    const again = await mount([after]);
    mounted.push(again);
    expect(Buffer.from(await again.promises.readFile('/f')).equals(Buffer.from(committed))).toBe(true);
  });
});

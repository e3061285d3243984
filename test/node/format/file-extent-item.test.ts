// The hand-written file extent item encoder and decoder (src/inode/file-item.ts) against the
// generic struct code they replace on the hot paths: the same bytes for any item (inline, REG,
// PREALLOC, u64 fields near 2^53 and in their negative number form), the same fields back, and
// the same refusals of a u64 past 2^53.
import { describe, expect, it } from 'vitest';
import { FileExtentHead, FileExtentItem } from '../../../src/format/structs.js';
import { viewOf } from '../../../src/format/struct.js';
import { FileExtentType } from '../../../src/format/constants.js';
import { decodeFileExtent, encodeFileExtent, type FileExtent } from '../../../src/inode/file-item.js';
import { edgyU64, mulberry32 as rng } from '../../shared/rng.js';

describe('file extent item encoder and decoder', () => {
  it('write and read the same bytes as the generic struct code', () => {
    const r = rng(11);
    const u64 = () => edgyU64(r);
    const u8 = () => Math.floor(r() * 256);
    for (let i = 0; i < 1000; i++) {
      const type = [FileExtentType.INLINE, FileExtentType.REG, FileExtentType.PREALLOC][i % 3]!;
      const inline = type === FileExtentType.INLINE ? new Uint8Array(Math.floor(r() * 300)).map(u8) : undefined;
      const fe: FileExtent = {
        fileOffset: Math.floor(r() * 2 ** 40), generation: u64(), ramBytes: type === FileExtentType.INLINE ? inline!.length : u64(),
        compression: i % 7 === 0 ? u8() : 0, encryption: i % 11 === 0 ? u8() : 0, otherEncoding: i % 5 === 0 ? Math.floor(r() * 65536) : 0, type,
        diskBytenr: inline ? 0 : u64(), diskNumBytes: inline ? 0 : u64(), offset: inline ? 0 : u64(), numBytes: inline ? inline.length : u64(), inline,
      };
      const got = encodeFileExtent(fe);
      const want = new Uint8Array(inline ? FileExtentHead.size + inline.length : FileExtentItem.size);
      (inline ? FileExtentHead : FileExtentItem).encode(viewOf(want), 0, fe);
      if (inline) want.set(inline, FileExtentHead.size);
      expect(got).toEqual(want);
      // Back: every field the generic decoder reads, where the item is one decodeFileExtent accepts.
      const generic = (inline ? FileExtentHead : FileExtentItem).decode(viewOf(want), 0);
      const valid = inline
        ? fe.compression !== 0 || fe.ramBytes === inline.length
        : fe.numBytes > 0 && (fe.diskBytenr === 0 || fe.compression !== 0 || fe.offset + fe.numBytes <= fe.diskNumBytes);
      if (!valid) continue;
      const back = decodeFileExtent(got, 300, fe.fileOffset);
      expect({ ...back, inline: undefined, fileOffset: undefined }).toMatchObject({ ...generic, ...(inline ? { diskBytenr: 0, diskNumBytes: 0, offset: 0, numBytes: fe.ramBytes } : {}) });
      expect(back.inline).toEqual(inline);
    }
  });

  it('refuse what the generic code refuses: a u64 past 2^53, both ways', () => {
    const fe: FileExtent = {
      fileOffset: 0, generation: 2 ** 53, ramBytes: 4096, compression: 0, encryption: 0, otherEncoding: 0, type: FileExtentType.REG,
      diskBytenr: 4096, diskNumBytes: 4096, offset: 0, numBytes: 4096, inline: undefined,
    };
    expect(() => encodeFileExtent(fe)).toThrow(/EOVERFLOW/);
    const bytes = encodeFileExtent({ ...fe, generation: 1 });
    bytes.set([0, 0, 0, 0, 0, 0, 0x40, 0], 8); // ram_bytes = 2^62
    expect(() => decodeFileExtent(bytes, 300, 0)).toThrow(/EOVERFLOW/);
  });
});

// The sixteen-lane split of one buffer (asm/crc32c.ts crc32cSplit16): single sectors of a
// batch shorter than sixteen, and long buffers from the standard seed (tree blocks,
// superblocks), against the bit-at-a-time reference; more lane lengths than the kernel keeps
// shift tables for, in turns, so that evicted and rebuilt tables are exercised.
import { beforeAll, describe, expect, it } from 'vitest';
import { checksumInto, checksumSectorsInto, crc32c, loadKernels } from '../../../src/kernels/checksum.js';
import { pseudoRandomBytes, referenceRawCrc32c } from './vectors.js';

beforeAll(() => loadKernels());

const standard = (data: Uint8Array) => ~referenceRawCrc32c(0xffffffff, data) >>> 0;
const le32 = (b: Uint8Array, at: number) => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;

describe('crc32c split into sixteen lanes', () => {
  it('lone sectors (fewer than sixteen in a batch) match the reference', () => {
    for (const sectorBytes of [2048, 4096, 8192, 65536]) {
      for (const count of [1, 3, 15, 17]) {
        const data = pseudoRandomBytes(sectorBytes * count + 5, sectorBytes + count).subarray(5);
        const out = new Uint8Array(count * 4);
        checksumSectorsInto('crc32c', data, 0, data.length, sectorBytes, out, 0);
        for (let i = 0; i < count; i++) {
          expect(le32(out, i * 4), `${count} x ${sectorBytes}, sector ${i}`).toBe(standard(data.subarray(i * sectorBytes, (i + 1) * sectorBytes)));
        }
      }
    }
  });

  it('long buffers from the standard seed (tree blocks) match the reference, lane lengths in turns', () => {
    const data = pseudoRandomBytes(70_000, 3);
    const lengths = [2047, 2048, 2300, 4064, 4096, 16352, 16384 - 32 + 7, 65536 - 32, 69_999];
    for (let round = 0; round < 3; round++) {
      for (const len of lengths) {
        const one = new Uint8Array(4);
        checksumInto('crc32c', data, 32, len - 32 > 0 ? len - 32 : len, one, 0);
        const part = data.subarray(32, 32 + (len - 32 > 0 ? len - 32 : len));
        expect(le32(one, 0), `len ${len}, round ${round}`).toBe(standard(part));
        // Raw crc32c from the standard seed takes the split too; any other seed does not.
        expect(crc32c(0xffffffff, part)).toBe(referenceRawCrc32c(0xffffffff, part));
        expect(crc32c(0x1234567, part)).toBe(referenceRawCrc32c(0x1234567, part));
      }
    }
  });
});

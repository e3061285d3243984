// Checksum kernels against spec vectors, a bit-at-a-time reference, hash-wasm, and
// images written by btrfs-progs (mkfs.btrfs, the oracle nobody here wrote).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, openSync, readSync, closeSync, rmSync, writeFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCRC32, createXXHash64 } from 'hash-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BTRFS_CSUM_SIZE, CSUM_TYPES, btrfsExtrefHash, btrfsNameHash, checksum, checksumInto, checksumMatches,
  checksumSectorsInto, crc32c, crc32cRange, csumSizeBytes, csumTypeById, csumTypeByName, kernelsLoaded, loadKernels,
  type CsumName,
} from '../../../src/kernels/checksum.js';
import { AssertionError } from '../../../src/util/assert.js';
import { FsError } from '../../../src/util/errors.js';
import {
  BLAKE2B256_ABC, CRC32C_VECTORS, NAME_HASHES, SHA256_ABC, SHA256_EMPTY, XXH64_VECTORS, ascii, hex,
  pseudoRandomBytes, referenceRawCrc32c,
} from './vectors.js';

const ALGS: readonly CsumName[] = ['crc32c', 'xxhash', 'sha256', 'blake2'];

/** The standard CRC-32C of data as btrfs stores it: little-endian u32. */
function crc32cLeBytes(crc: number): string {
  return hex(Uint8Array.of(crc & 0xff, (crc >>> 8) & 0xff, (crc >>> 16) & 0xff, crc >>> 24));
}

beforeAll(async () => {
  // Concurrent first calls must share one load.
  await Promise.all([loadKernels(), loadKernels(), loadKernels()]);
});

describe('csum type table', () => {
  it('matches btrfs ids, sizes and btrfs-progs names', () => {
    expect(CSUM_TYPES.map((t) => [t.name, t.id, t.sizeBytes, t.displayName])).toEqual([
      ['crc32c', 0, 4, 'crc32c'], ['xxhash', 1, 8, 'xxhash64'], ['sha256', 2, 32, 'sha256'], ['blake2', 3, 32, 'blake2b'],
    ]);
    expect(csumTypeById(1).name).toBe('xxhash');
    expect(csumTypeByName('blake2b').id).toBe(3);
    expect(csumSizeBytes('sha256')).toBe(32);
  });
  it('refuses unknown ids and names with EINVAL', () => {
    expect(() => csumTypeById(4)).toThrow(FsError);
    expect(() => csumTypeById(1.5)).toThrow(/EINVAL/);
    expect(() => csumTypeByName('md5')).toThrow(/EINVAL/);
  });
  it('reports loaded after loadKernels', () => {
    expect(kernelsLoaded()).toBe(true);
  });
});

describe('crc32c', () => {
  for (const v of CRC32C_VECTORS) {
    it(`standard CRC-32C of ${v.what}`, () => {
      expect((~crc32c(0xffffffff, v.data)) >>> 0).toBe(v.crc);
      expect(hex(checksumIntoFresh('crc32c', v.data))).toBe(crc32cLeBytes(v.crc));
    });
  }

  it('raw crc32c has no inversion: crc32c(0, empty) = 0, crc32c(s, empty) = s', () => {
    expect(crc32c(0, new Uint8Array(0))).toBe(0);
    expect(crc32c(0x12345678, new Uint8Array(0))).toBe(0x12345678);
    expect(crc32c(0, new Uint8Array(16))).toBe(0);
  });

  it('agrees with the bit-at-a-time definition for every length 0..1100 and odd offsets', () => {
    const buf = pseudoRandomBytes(1200, 7);
    for (let len = 0; len <= 1100; len += len < 80 ? 1 : 37) {
      for (const off of [0, 1, 3, 5]) {
        const data = buf.subarray(off, off + len);
        const seed = (len * 2654435761) >>> 0;
        expect(crc32c(seed, data), `len ${len} off ${off}`).toBe(referenceRawCrc32c(seed, data));
        expect(crc32cRange(seed, buf, off, len)).toBe(referenceRawCrc32c(seed, data));
      }
    }
  });

  it('long single buffers (the four-lane path) agree with chained pieces, of the kernel and of the small-input table', () => {
    const data = pseudoRandomBytes(100_003, 11);
    for (const len of [512, 513, 4096, 16384 - 32, 65535, 100_003]) {
      for (const piece of [97, 13, 64]) {
        let chained = 0xfffffffe;
        for (let i = 0; i < len; i += piece) chained = crc32c(chained, data.subarray(i, Math.min(len, i + piece)));
        expect(crc32c(0xfffffffe, data.subarray(0, len)), `len ${len} in pieces of ${piece}`).toBe(chained);
      }
    }
  });

  it('inputs larger than the 4 MiB scratch chain correctly', () => {
    const data = pseudoRandomBytes(9 * 1024 * 1024 + 5, 3);
    const whole = crc32c(1, data);
    const cut = 5 * 1024 * 1024 + 1;
    expect(whole).toBe(crc32c(crc32c(1, data.subarray(0, cut)), data.subarray(cut)));
    // hash-wasm is an independent CRC-32C implementation.
    return createCRC32(0x82f63b78).then((h) => {
      h.init();
      h.update(data);
      expect((~crc32c(0xffffffff, data)) >>> 0).toBe(parseInt(h.digest('hex'), 16));
    });
  });

  it('btrfs_name_hash matches DIR_ITEM key offsets written by mkfs.btrfs', () => {
    for (const { name, hash } of NAME_HASHES) expect(btrfsNameHash(ascii(name)), name).toBe(hash);
    expect(btrfsNameHash(ascii('hello.txt'))).toBe(crc32c(~1 >>> 0, ascii('hello.txt')));
  });

  it('btrfs_extref_hash seeds with the low 32 bits of the parent objectid', () => {
    const name = ascii('file');
    expect(btrfsExtrefHash(256, name)).toBe(referenceRawCrc32c(256, name));
    expect(btrfsExtrefHash(2 ** 32 + 256, name)).toBe(referenceRawCrc32c(256, name));
  });
});

describe('xxhash64, sha256, blake2b', () => {
  for (const v of XXH64_VECTORS) {
    it(`XXH64(${v.what}) stored little-endian`, () => {
      const le = hex(checksumIntoFresh('xxhash', v.data));
      expect(le).toBe(v.hash.match(/../g)!.reverse().join(''));
    });
  }
  it('sha256 FIPS 180-2 vectors', () => {
    expect(hex(checksumIntoFresh('sha256', ascii('abc')))).toBe(SHA256_ABC);
    expect(hex(checksumIntoFresh('sha256', new Uint8Array(0)))).toBe(SHA256_EMPTY);
  });
  it('blake2b-256 of "abc"', () => {
    expect(hex(checksumIntoFresh('blake2', ascii('abc')))).toBe(BLAKE2B256_ABC);
  });
});

describe('batches', () => {
  for (const alg of ALGS) {
    it(`${alg}: a batch equals its sectors one by one`, () => {
      for (const sectorBytes of [4096, 512, 65536, 24]) {
        const count = sectorBytes === 65536 ? 70 : 37; // 70 x 64 KiB crosses the 4 MiB scratch bound
        const data = pseudoRandomBytes(sectorBytes * count, sectorBytes + count);
        const size = csumSizeBytes(alg);
        const batch = checksum(alg, data, sectorBytes);
        expect(batch.length).toBe(count * size);
        for (let i = 0; i < count; i++) {
          const one = new Uint8Array(size);
          checksumInto(alg, data, i * sectorBytes, sectorBytes, one, 0);
          expect(hex(batch.subarray(i * size, (i + 1) * size)), `${alg} sector ${i} of ${sectorBytes}`).toBe(hex(one));
        }
        if (alg === 'crc32c') {
          for (let i = 0; i < count; i += 5) {
            const crc = ~referenceRawCrc32c(0xffffffff, data.subarray(i * sectorBytes, (i + 1) * sectorBytes)) >>> 0;
            expect(hex(batch.subarray(i * 4, i * 4 + 4))).toBe(crc32cLeBytes(crc));
          }
        }
      }
    });
  }

  it('checksumSectorsInto writes only its own bytes, at an offset, from an unaligned source', () => {
    const data = pseudoRandomBytes(3 + 8 * 4096, 5);
    const out = new Uint8Array(4 + 8 * 8 + 4).fill(0xaa);
    checksumSectorsInto('xxhash', data, 3, 8 * 4096, 4096, out, 4);
    expect(out.subarray(0, 4).every((b) => b === 0xaa)).toBe(true);
    expect(out.subarray(68).every((b) => b === 0xaa)).toBe(true);
    expect(hex(out.subarray(4, 68))).toBe(hex(checksum('xxhash', data.subarray(3), 4096)));
    const crcOut = new Uint8Array(32);
    checksumSectorsInto('crc32c', data, 3, 8 * 4096, 4096, crcOut, 0);
    expect(hex(crcOut)).toBe(hex(checksum('crc32c', data.slice(3), 4096)));
  });

  it('an empty batch is empty', () => {
    for (const alg of ALGS) expect(checksum(alg, new Uint8Array(0), 4096).length).toBe(0);
  });

  it('refuses a length that is not a whole number of sectors', () => {
    for (const alg of ALGS) expect(() => checksum(alg, new Uint8Array(4097), 4096)).toThrow(AssertionError);
    expect(() => checksum('crc32c', new Uint8Array(4096), 0)).toThrow(AssertionError);
  });

  it('xxhash agrees with hash-wasm read as a little-endian u64', async () => {
    const h = await createXXHash64();
    const data = pseudoRandomBytes(4096 * 3, 9);
    const batch = checksum('xxhash', data, 4096);
    for (let i = 0; i < 3; i++) {
      h.init();
      h.update(data.subarray(i * 4096, (i + 1) * 4096));
      expect(hex(batch.subarray(i * 8, i * 8 + 8))).toBe(h.digest('hex').match(/../g)!.reverse().join(''));
    }
  });
});

describe('tree block and superblock checksums', () => {
  it('checksumInto may write into the block it reads (csum field at the start)', () => {
    for (const alg of ALGS) {
      const block = pseudoRandomBytes(16384, 21);
      const expected = new Uint8Array(csumSizeBytes(alg));
      checksumInto(alg, block.slice(), 32, 16384 - 32, expected, 0);
      checksumInto(alg, block, 32, 16384 - 32, block, 0);
      expect(hex(block.subarray(0, expected.length))).toBe(hex(expected));
      expect(checksumMatches(alg, block, 32, 16384 - 32, block, 0)).toBe(true);
      block[100] ^= 1;
      expect(checksumMatches(alg, block, 32, 16384 - 32, block, 0)).toBe(false);
    }
  });
});

describe('agreement with mkfs.btrfs images', () => {
  const SUPER_OFFSET = 0x10000;
  const SUPER_BYTES = 0x1000;
  const SUPER_MIRRORS = [SUPER_OFFSET, 64 * 1024 * 1024];
  const CSUM_TYPE_AT = 0xc4; // btrfs_super_block.csum_type (u16)
  const NODESIZE_AT = 0x94;
  const HEADER_BYTES = 101;
  const CSUM_TREE_OBJECTID = 7;
  const EXTENT_CSUM_KEY = 128;

  for (const alg of ALGS) {
    it(`${alg}: superblock, every tree block and the data csum items verify`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'butterfs-csum-'));
      try {
        const root = join(dir, 'root');
        mkdirSync(root);
        // Two full sectors of known data: mkfs writes them as a regular extent with csums.
        const fileData = pseudoRandomBytes(2 * 4096, 1234);
        writeFileSync(join(root, 'data.bin'), fileData);
        const image = join(dir, 'img');
        writeFileSync(image, new Uint8Array(0));
        truncateSync(image, 128 * 1024 * 1024);
        execFileSync('mkfs.btrfs', ['-q', '-f', '--csum', alg, '--rootdir', root, image], { stdio: 'pipe' });

        const fd = openSync(image, 'r');
        const read = (pos: number, len: number): Uint8Array => {
          const b = new Uint8Array(len);
          expect(readSync(fd, b, 0, len, pos)).toBe(len);
          return b;
        };
        try {
          const sb = read(SUPER_OFFSET, SUPER_BYTES);
          const sbView = new DataView(sb.buffer);
          expect(csumTypeById(sbView.getUint16(CSUM_TYPE_AT, true)).name).toBe(alg);
          const size = csumSizeBytes(alg);
          expect(checksumMatches(alg, sb, 0x20, SUPER_BYTES - 0x20, sb, 0)).toBe(true);
          expect(sb.subarray(size, BTRFS_CSUM_SIZE).every((b) => b === 0)).toBe(true);
          const fsid = hex(sb.subarray(0x20, 0x30));
          const nodesize = sbView.getUint32(NODESIZE_AT, true);

          // Every tree block of this filesystem (header fsid = superblock fsid) must verify.
          let treeBlocks = 0;
          let superCopies = 0;
          let dataCsumsChecked = 0;
          const imageBytes = 128 * 1024 * 1024;
          for (let pos = 0; pos < imageBytes; pos += nodesize) {
            const mirror = SUPER_MIRRORS.find((at) => pos <= at && at < pos + nodesize);
            if (mirror !== undefined) {
              // A superblock copy (its bytenr differs, so its csum does too) sits here, not a tree block.
              const copy = read(mirror, SUPER_BYTES);
              expect(checksumMatches(alg, copy, 0x20, SUPER_BYTES - 0x20, copy, 0), `super at ${mirror}`).toBe(true);
              superCopies++;
              continue;
            }
            const block = read(pos, nodesize);
            if (hex(block.subarray(0x20, 0x30)) !== fsid) continue;
            treeBlocks++;
            expect(checksumMatches(alg, block, 32, nodesize - 32, block, 0), `tree block at ${pos}`).toBe(true);
            const view = new DataView(block.buffer);
            const owner = view.getUint32(0x58, true);
            const level = block[0x64];
            if (owner !== CSUM_TREE_OBJECTID || level !== 0) continue;
            const nritems = view.getUint32(0x60, true);
            for (let i = 0; i < nritems; i++) {
              const item = HEADER_BYTES + i * 25;
              if (block[item + 8] !== EXTENT_CSUM_KEY) continue;
              const dataOff = HEADER_BYTES + view.getUint32(item + 17, true);
              const dataLen = view.getUint32(item + 21, true);
              // The only data extent is data.bin: its csums are ours of fileData.
              expect(hex(block.subarray(dataOff, dataOff + dataLen))).toBe(hex(checksum(alg, fileData, 4096)));
              dataCsumsChecked += dataLen / size;
            }
          }
          expect(treeBlocks).toBeGreaterThan(3);
          expect(superCopies).toBe(2); // 64 KiB and 64 MiB on a 128 MiB image
          expect(dataCsumsChecked).toBe(2 * 2); // two sectors, in both copies of the DUP csum leaf
        } finally {
          closeSync(fd);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

function checksumIntoFresh(alg: CsumName, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(csumSizeBytes(alg));
  checksumInto(alg, data, 0, data.length, out, 0);
  return out;
}

// The checksum kernels in real Chromium: the crc32c .wasm must load through Vite's
// `new URL('./wasm/crc32c.wasm', import.meta.url)` (fetch, not node:fs), and the hash-wasm
// hashers must work in a browser. Same spec vectors as the node tests.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  btrfsNameHash, checksum, checksumInto, crc32c, csumSizeBytes, kernelsLoaded, loadKernels, type CsumName,
} from '../../../src/kernels/checksum.js';
import {
  BLAKE2B256_ABC, CRC32C_VECTORS, NAME_HASHES, SHA256_ABC, XXH64_VECTORS, ascii, hex, pseudoRandomBytes,
  referenceRawCrc32c,
} from '../../node/kernels/vectors.js';

beforeAll(async () => {
  await Promise.all([loadKernels(), loadKernels()]);
});

function digest(alg: CsumName, data: Uint8Array): string {
  const out = new Uint8Array(csumSizeBytes(alg));
  checksumInto(alg, data, 0, data.length, out, 0);
  return hex(out);
}

describe('checksum kernels in Chromium', () => {
  it('runs in a browser, not in node', () => {
    expect(typeof window).toBe('object');
    expect(kernelsLoaded()).toBe(true);
  });

  it('crc32c spec vectors', () => {
    for (const v of CRC32C_VECTORS) expect((~crc32c(0xffffffff, v.data)) >>> 0, v.what).toBe(v.crc);
    expect(digest('crc32c', ascii('123456789'))).toBe('839206e3');
  });

  it('crc32c of odd lengths and offsets agrees with the bit-at-a-time definition', () => {
    const buf = pseudoRandomBytes(5000, 17);
    for (const len of [1, 7, 9, 511, 512, 513, 4093, 4999]) {
      const data = buf.subarray(1, 1 + len);
      expect(crc32c(0x1234, data), `len ${len}`).toBe(referenceRawCrc32c(0x1234, data));
    }
  });

  it('btrfs_name_hash as mkfs.btrfs wrote it', () => {
    for (const { name, hash } of NAME_HASHES) expect(btrfsNameHash(ascii(name)), name).toBe(hash);
  });

  it('xxhash64, sha256, blake2b-256 vectors', () => {
    for (const v of XXH64_VECTORS) expect(digest('xxhash', v.data)).toBe(v.hash.match(/../g)!.reverse().join(''));
    expect(digest('sha256', ascii('abc'))).toBe(SHA256_ABC);
    expect(digest('blake2', ascii('abc'))).toBe(BLAKE2B256_ABC);
  });

  it('a 1 MiB batch of 4 KiB sectors equals its sectors one by one, for every algorithm', () => {
    const data = pseudoRandomBytes(1024 * 1024, 99);
    for (const alg of ['crc32c', 'xxhash', 'sha256', 'blake2'] as const) {
      const size = csumSizeBytes(alg);
      const batch = checksum(alg, data, 4096);
      for (let i = 0; i < 256; i += 15) {
        expect(hex(batch.subarray(i * size, (i + 1) * size)), `${alg} ${i}`)
          .toBe(digest(alg, data.subarray(i * 4096, (i + 1) * 4096)));
      }
    }
  });
});

// Checksums of data sectors, tree blocks and superblocks, exactly as btrfs stores them.
//
// Owns: loading every checksum kernel once (loadKernels), and the two synchronous entry
// points the engine calls on its hot paths:
//  * checksum / checksumSectorsInto: the digests of every sector of a batch, end to end
//    (a csum item's payload);
//  * checksumInto: the digest of one range, e.g. a tree block's bytes 32..nodesize or a
//    superblock's 0x20..0x1000, written into the start of its 32-byte csum field.
//
// Digest bytes, as btrfs-progs crypto/hash.c and the kernel's crypto drivers write them:
//  * crc32c: standard CRC-32C (init ~0, final xor ~0), little-endian u32;
//  * xxhash: XXH64 with seed 0, little-endian u64 (put_unaligned_le64);
//  * sha256: the 32-byte digest;
//  * blake2: BLAKE2b with a 32-byte (256-bit) digest.
//
// Implementations: crc32c is our AssemblyScript kernel (asm/crc32c.ts), batched; it beat
// hash-wasm's CRC-32C per 4 KiB sector (docs/benchmarks.md, "Checksums"). xxhash64,
// sha256 and blake2b are hash-wasm hashers, created once here and reused (creating one
// is async; reusing one is sync). hash-wasm writes XXH64 big-endian, so those bytes are
// reversed into btrfs's little-endian order.

import { createBLAKE2b, createSHA256, createXXHash64, type IHasher } from 'hash-wasm';
import { assert, unreachable } from '../util/assert.js';
import { crc32cKernelLoaded, crc32cRange, crc32cSectorsInto, loadCrc32cKernel } from './crc32c.js';
import { CSUM_TYPES, type CsumName, type CsumType } from './csum-types.js';

export { CSUM_TYPES, BTRFS_CSUM_SIZE, csumTypeById, csumTypeByName, type CsumName, type CsumType } from './csum-types.js';
export { crc32c, crc32cRange } from './crc32c.js';
export { btrfsNameHash, btrfsExtrefHash } from './hash.js';

/** Reused by checksumMatches; every digest fits (BTRFS_CSUM_SIZE bytes). */
const digestScratch = new Uint8Array(32);

interface Hashers {
  readonly xxhash: IHasher;
  readonly sha256: IHasher;
  readonly blake2: IHasher;
}

let hashers: Hashers | undefined;
let loading: Promise<void> | undefined;

/**
 * Instantiates every checksum kernel. Call (and await) once before any other function
 * here; calling again, or concurrently, returns the same work. A failure is reported to
 * the caller and a later call tries again.
 */
export function loadKernels(): Promise<void> {
  loading ??= (async () => {
    const [xxhash, sha256, blake2] = await Promise.all([
      createXXHash64(),
      createSHA256(),
      createBLAKE2b(256),
      loadCrc32cKernel(),
    ]);
    hashers = { xxhash, sha256, blake2 };
  })().catch((e: unknown) => {
    loading = undefined;
    throw e;
  });
  return loading;
}

export function kernelsLoaded(): boolean {
  return hashers !== undefined && crc32cKernelLoaded();
}

function loadedHashers(): Hashers {
  assert(hashers !== undefined, 'checksum kernels used before loadKernels() resolved');
  return hashers;
}

/** CSUM_TYPES by name: typeOf runs on every checksum call (a find() there showed in profiles). */
const TYPE_BY_NAME = new Map<string, CsumType>(CSUM_TYPES.map((row) => [row.name, row]));

function typeOf(alg: CsumName): CsumType {
  // Programmer error if alg is not a CsumName; csumTypeByName would report it as EINVAL.
  const t = TYPE_BY_NAME.get(alg);
  assert(t !== undefined, `unknown checksum algorithm ${String(alg)}`);
  return t;
}

/** Digest size of alg in bytes (4, 8, 32, 32). */
export function csumSizeBytes(alg: CsumName): number {
  return typeOf(alg).sizeBytes;
}

/** One hash-wasm digest of data[offset, offset + lengthBytes) into out at outOffset, in btrfs byte order. */
function hasherDigestInto(
  alg: Exclude<CsumName, 'crc32c'>, hasher: IHasher, data: Uint8Array, offset: number, lengthBytes: number,
  out: Uint8Array, outOffset: number,
): void {
  hasher.init();
  hasher.update(data.subarray(offset, offset + lengthBytes));
  const digest = hasher.digest('binary');
  if (alg === 'xxhash') {
    // hash-wasm gives XXH64's canonical big-endian form; btrfs stores le64.
    assert(digest.length === 8, 'xxhash64 digest is not 8 bytes');
    for (let i = 0; i < 8; i++) out[outOffset + i] = digest[7 - i]!;
  } else {
    out.set(digest, outOffset);
  }
}

/**
 * Digests of every sectorBytes-long sector of data[offset, offset + lengthBytes),
 * concatenated into out at outOffset (csumSizeBytes(alg) bytes per sector), in the byte
 * order btrfs stores them.
 */
export function checksumSectorsInto(
  alg: CsumName, data: Uint8Array, offset: number, lengthBytes: number, sectorBytes: number,
  out: Uint8Array, outOffset: number,
): void {
  const sizeBytes = typeOf(alg).sizeBytes;
  assert(Number.isInteger(sectorBytes) && sectorBytes > 0, `checksum: bad sector size ${sectorBytes}`);
  assert(Number.isInteger(lengthBytes) && lengthBytes >= 0, `checksum: bad length ${lengthBytes}`);
  assert(lengthBytes % sectorBytes === 0,
    `checksum: ${lengthBytes} bytes is not a whole number of ${sectorBytes}-byte sectors`);
  assert(Number.isInteger(offset) && offset >= 0 && offset + lengthBytes <= data.length,
    'checksum: range past the end of data');
  const sectorCount = lengthBytes / sectorBytes;
  assert(Number.isInteger(outOffset) && outOffset >= 0 && outOffset + sectorCount * sizeBytes <= out.length,
    'checksum: output too small');
  if (alg === 'crc32c') {
    crc32cSectorsInto(data, offset, lengthBytes, sectorBytes, out, outOffset);
    return;
  }
  const hasher = loadedHashers()[alg];
  for (let i = 0; i < sectorCount; i++) {
    hasherDigestInto(alg, hasher, data, offset + i * sectorBytes, sectorBytes, out, outOffset + i * sizeBytes);
  }
}

/**
 * Digests of every sectorBytes-long sector of data, concatenated (csumSizeBytes(alg)
 * bytes each): the payload of btrfs csum items for that data.
 * data.length must be a whole number of sectors.
 */
export function checksum(alg: CsumName, data: Uint8Array, sectorBytes: number): Uint8Array {
  assert(Number.isInteger(sectorBytes) && sectorBytes > 0, `checksum: bad sector size ${sectorBytes}`);
  assert(data.length % sectorBytes === 0,
    `checksum: ${data.length} bytes is not a whole number of ${sectorBytes}-byte sectors`);
  const out = new Uint8Array((data.length / sectorBytes) * typeOf(alg).sizeBytes);
  checksumSectorsInto(alg, data, 0, data.length, sectorBytes, out, 0);
  return out;
}

/**
 * Digest of data[offset, offset + lengthBytes), any length, written to out at outOffset
 * (csumSizeBytes(alg) bytes; the rest of a 32-byte csum field is the caller's to zero).
 * A tree block: checksumInto(alg, block, 32, nodesize - 32, block, 0).
 */
export function checksumInto(
  alg: CsumName, data: Uint8Array, offset: number, lengthBytes: number, out: Uint8Array, outOffset: number,
): void {
  const sizeBytes = typeOf(alg).sizeBytes;
  assert(Number.isInteger(offset) && offset >= 0, `checksum: bad offset ${offset}`);
  assert(Number.isInteger(lengthBytes) && lengthBytes >= 0, `checksum: bad length ${lengthBytes}`);
  assert(offset + lengthBytes <= data.length, 'checksum: range past the end of data');
  assert(Number.isInteger(outOffset) && outOffset >= 0 && outOffset + sizeBytes <= out.length,
    'checksum: output too small');
  switch (alg) {
    case 'crc32c': {
      // The input is read into wasm memory before out is written, so out may overlap data
      // (the tree block case writes its csum into the block's own first bytes).
      const crc = ~crc32cRange(0xffffffff, data, offset, lengthBytes);
      out[outOffset] = crc & 0xff;
      out[outOffset + 1] = (crc >>> 8) & 0xff;
      out[outOffset + 2] = (crc >>> 16) & 0xff;
      out[outOffset + 3] = (crc >>> 24) & 0xff;
      return;
    }
    case 'xxhash':
    case 'sha256':
    case 'blake2':
      hasherDigestInto(alg, loadedHashers()[alg], data, offset, lengthBytes, out, outOffset);
      return;
    default:
      unreachable(alg);
  }
}

/**
 * True when the first csumSizeBytes(alg) bytes at out[csumOffset] equal the digest of
 * data[offset, offset + lengthBytes). Compares without allocating for crc32c; the others
 * allocate one small digest (hash-wasm's own).
 */
export function checksumMatches(
  alg: CsumName, data: Uint8Array, offset: number, lengthBytes: number, expected: Uint8Array, expectedOffset: number,
): boolean {
  const sizeBytes = typeOf(alg).sizeBytes;
  assert(expectedOffset >= 0 && expectedOffset + sizeBytes <= expected.length, 'checksum: expected digest out of range');
  checksumInto(alg, data, offset, lengthBytes, digestScratch, 0);
  for (let i = 0; i < sizeBytes; i++) if (digestScratch[i] !== expected[expectedOffset + i]) return false;
  return true;
}


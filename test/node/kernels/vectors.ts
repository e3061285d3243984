// Known-answer vectors shared by the node and browser checksum tests. Each comes from a
// specification or from btrfs-progs output, never from our own code.

export const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
export const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** CRC-32C check value (the CRC catalogue's "check" for CRC-32/ISCSI) and RFC 3720 B.4 vectors. */
export const CRC32C_VECTORS: ReadonlyArray<{ what: string; data: Uint8Array; crc: number }> = [
  { what: '"123456789"', data: ascii('123456789'), crc: 0xe3069283 },
  { what: 'empty', data: new Uint8Array(0), crc: 0x00000000 },
  { what: '32 zero bytes (RFC 3720)', data: new Uint8Array(32), crc: 0x8a9136aa },
  { what: '32 0xff bytes (RFC 3720)', data: new Uint8Array(32).fill(0xff), crc: 0x62a8ab43 },
  { what: '0..31 (RFC 3720)', data: Uint8Array.from({ length: 32 }, (_, i) => i), crc: 0x46dd794e },
  { what: '31..0 (RFC 3720)', data: Uint8Array.from({ length: 32 }, (_, i) => 31 - i), crc: 0x113fdb5c },
];

/** XXH64 seed 0 (xxHash's reference values). */
export const XXH64_VECTORS: ReadonlyArray<{ what: string; data: Uint8Array; hash: string }> = [
  { what: 'empty', data: new Uint8Array(0), hash: 'ef46db3751d8e999' },
  { what: '"abc"', data: ascii('abc'), hash: '44bc2cf5ad770999' },
];

/** FIPS 180-2 appendix B.1 and RFC 7693-family BLAKE2b-256 of "abc". */
export const SHA256_ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
export const SHA256_EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
export const BLAKE2B256_ABC = 'bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319';

/**
 * DIR_ITEM key offsets printed by `btrfs inspect-internal dump-tree` (btrfs-progs 6.2) for
 * an image made by `mkfs.btrfs --rootdir` with these names: btrfs_name_hash(name).
 */
export const NAME_HASHES: ReadonlyArray<{ name: string; hash: number }> = [
  { name: 'hello.txt', hash: 1096805209 },
  { name: 'data.bin', hash: 2164674738 },
  { name: 'subdir', hash: 2797133009 },
  { name: 'a', hash: 3427024844 },
];

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function pseudoRandomBytes(lengthBytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(lengthBytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < lengthBytes; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Bit-at-a-time reflected CRC-32C, no inversion: the definition, to check the fast paths against. */
export function referenceRawCrc32c(seed: number, data: Uint8Array): number {
  let crc = seed >>> 0;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return crc >>> 0;
}

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) kernel for butterfs.
//
// Owns: the slicing-by-8 tables and the two loops the filesystem needs, a raw CRC
// update (btrfs kernel `crc32c()` semantics: no inversion, the caller chooses the seed)
// and a batch that checksums many equal-sized sectors in one call (the data checksum
// path: `~crc32c(~0, sector)` per sector, as btrfs stores it).
//
// Memory layout: the tables are a static segment; everything from `inputBase()` up is
// scratch owned by the JS side (src/kernels/crc32c.ts), which copies input there, grows
// memory as needed and reads results back. The module has no imports and no allocator.
//
// Why four lanes: one slicing-by-8 chain is bound by the latency of its own loads and
// xors (each 8-byte step needs the previous CRC), not by load throughput. Running four
// independent chains side by side lets the CPU overlap them. In the batch the lanes are
// four sectors; for one long buffer they are its four quarters, joined afterwards with
// the CRC shift operator (multiplication by x^(8n) modulo the polynomial), as zlib's
// crc32_combine does.

const POLY: u32 = 0x82f63b78;

/** 8 tables of 256 u32: T[k][i] is the CRC of byte i followed by k zero bytes. */
const TABLES: usize = memory.data(8 * 256 * 4, 64);
/** X2N[k] = x^(2^k) modulo the polynomial, reflected; 32 entries cover any u32 length. */
const X2N: usize = memory.data(32 * 4, 64);

/** Below this many bytes a single chain is as fast as four plus the combine. */
const LANES_MIN_BYTES: usize = 512;

function buildTables(): void {
  for (let i: u32 = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    store<u32>(TABLES + (<usize>i << 2), c);
  }
  for (let k: usize = 1; k < 8; k++) {
    for (let i: usize = 0; i < 256; i++) {
      const prev = load<u32>(TABLES + ((k - 1) << 10) + (i << 2));
      store<u32>(TABLES + (k << 10) + (i << 2), (prev >>> 8) ^ load<u32>(TABLES + ((<usize>(prev & 0xff)) << 2)));
    }
  }
  let p: u32 = 1 << 30; // x^1
  store<u32>(X2N, p);
  for (let k: usize = 1; k < 32; k++) {
    p = multModP(p, p);
    store<u32>(X2N + (k << 2), p);
  }
}
buildTables();

@inline function t(k: usize, byte: u32): u32 {
  return load<u32>(TABLES + (k << 10) + (<usize>byte << 2));
}

/**
 * One slicing-by-8 step: feeds the 8 bytes at p into crc. The upper four bytes do not
 * mix with crc, so they are loaded as bytes: a byte load is one operation where a shift
 * and a mask are two, and the step is bound by operation count (measured ~5% faster).
 */
@inline function step8(crc: u32, p: usize): u32 {
  const lo = load<u32>(p) ^ crc;
  return t(7, lo & 0xff) ^ t(6, (lo >>> 8) & 0xff) ^ t(5, (lo >>> 16) & 0xff) ^ t(4, lo >>> 24) ^
    t(3, load<u8>(p, 4)) ^ t(2, load<u8>(p, 5)) ^ t(1, load<u8>(p, 6)) ^ t(0, load<u8>(p, 7));
}

@inline function step1(crc: u32, p: usize): u32 {
  return (crc >>> 8) ^ t(0, (crc ^ <u32>load<u8>(p)) & 0xff);
}

/** Raw CRC of [p, p+len) continuing from crc, one chain. */
function updateChain(crc: u32, p: usize, len: usize): u32 {
  // Byte steps until p is 8-aligned, so the word loads below are aligned.
  while (len > 0 && (p & 7) != 0) {
    crc = step1(crc, p);
    p++;
    len--;
  }
  const end8 = p + (len & ~<usize>7);
  while (p < end8) {
    crc = step8(crc, p);
    p += 8;
  }
  len &= 7;
  while (len > 0) {
    crc = step1(crc, p);
    p++;
    len--;
  }
  return crc;
}

/** a * b modulo the polynomial, both reflected (bit 31 is x^0). */
function multModP(a: u32, b: u32): u32 {
  let m: u32 = 1 << 31;
  let p: u32 = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p;
}

/** x^(8 * lengthBytes) modulo the polynomial: the shift that skips lengthBytes zero bytes. */
function xPow8n(lengthBytes: usize): u32 {
  let p: u32 = 1 << 31; // x^0
  let k: usize = 3;
  let n = lengthBytes;
  while (n != 0) {
    if (n & 1) p = multModP(load<u32>(X2N + ((k & 31) << 2)), p);
    n >>>= 1;
    k++;
  }
  return p;
}

/**
 * Raw CRC-32C of len bytes at ptr, starting from crc, with no inversion before or after
 * (the Linux `crc32c(seed, data, len)` contract that btrfs builds its name hashes on).
 */
export function crc32cUpdate(crc: u32, ptr: usize, len: usize): u32 {
  if (len < LANES_MIN_BYTES) return updateChain(crc, ptr, len);
  // Four lanes of equal 8-byte-multiple length; the tail goes to the last chain.
  const laneBytes = (len >>> 2) & ~<usize>7;
  let c0 = crc;
  let c1: u32 = 0;
  let c2: u32 = 0;
  let c3: u32 = 0;
  let p0 = ptr;
  let p1 = ptr + laneBytes;
  let p2 = p1 + laneBytes;
  let p3 = p2 + laneBytes;
  const end0 = p1;
  while (p0 < end0) {
    c0 = step8(c0, p0);
    c1 = step8(c1, p1);
    c2 = step8(c2, p2);
    c3 = step8(c3, p3);
    p0 += 8;
    p1 += 8;
    p2 += 8;
    p3 += 8;
  }
  const shift = xPow8n(laneBytes);
  let c = multModP(shift, c0) ^ c1;
  c = multModP(shift, c) ^ c2;
  c = multModP(shift, c) ^ c3;
  return updateChain(c, p3, ptr + len - p3);
}

/**
 * Standard CRC-32C (init ~0, final xor ~0) of each of `count` sectors of `sectorBytes`
 * laid end to end at ptr; the results go to outPtr as little-endian u32, which is how
 * btrfs stores a crc32c checksum.
 */
export function crc32cSectors(ptr: usize, sectorBytes: usize, count: usize, outPtr: usize): void {
  let i: usize = 0;
  // Four sectors side by side while they are long enough for the lanes to pay off and
  // their length keeps the loads 8-aligned (btrfs sector sizes are powers of two >= 4 KiB).
  if (sectorBytes >= LANES_MIN_BYTES && (sectorBytes & 7) == 0 && (ptr & 7) == 0) {
    for (; i + 4 <= count; i += 4) {
      let p0 = ptr + i * sectorBytes;
      let p1 = p0 + sectorBytes;
      let p2 = p1 + sectorBytes;
      let p3 = p2 + sectorBytes;
      const end0 = p1;
      let c0: u32 = ~0;
      let c1: u32 = ~0;
      let c2: u32 = ~0;
      let c3: u32 = ~0;
      while (p0 < end0) {
        c0 = step8(c0, p0);
        c1 = step8(c1, p1);
        c2 = step8(c2, p2);
        c3 = step8(c3, p3);
        p0 += 8;
        p1 += 8;
        p2 += 8;
        p3 += 8;
      }
      store<u32>(outPtr + (i << 2), ~c0);
      store<u32>(outPtr + (i << 2), ~c1, 4);
      store<u32>(outPtr + (i << 2), ~c2, 8);
      store<u32>(outPtr + (i << 2), ~c3, 12);
    }
  }
  for (; i < count; i++) {
    store<u32>(outPtr + (i << 2), ~crc32cUpdate(~0, ptr + i * sectorBytes, sectorBytes));
  }
}

/** First byte the JS side may use as scratch: past the static data, 64-byte aligned. */
export function inputBase(): usize {
  return (__heap_base + 63) & ~<usize>63;
}

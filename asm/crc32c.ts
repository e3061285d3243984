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
// The batch takes sixteen sectors at a time through a SIMD kernel (crc32cSectors16,
// ~15-25% faster than the scalar lanes here), then each remaining sector split into sixteen
// lanes of the same kernel (crc32cSplit16), else fours, then ones. Long single buffers from
// the standard seed (tree blocks) take the split too.
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

/**
 * Nibble tables for the SIMD batch, as byte planes: 16 bytes each, in the order
 * TL0 TL1 TL2 TL3 TH0 TH1 TH2 TH3, where TLk[n] is byte k of T[0][n] and THk[n] is
 * byte k of T[0][n << 4]. The CRC table is linear over GF(2), so
 * T[0][x] = T[0][x & 15] ^ T[0][x & 0xf0]: two 16-entry lookups, which i8x16.swizzle does
 * for sixteen lanes at once.
 */
const NIBBLE_PLANES: usize = memory.data(8 * 16, 16);
/** The transposed 16 x 16 byte block of the SIMD batch. */
const COLUMNS: usize = memory.data(256, 16);
/** Where the SIMD batch spills its four CRC byte planes to assemble the sixteen u32s. */
const PLANE_SPILL: usize = memory.data(4 * 16, 16);

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
  for (let n: usize = 0; n < 16; n++) {
    const lo = load<u32>(TABLES + (n << 2));
    const hi = load<u32>(TABLES + (n << 6));
    for (let k: usize = 0; k < 4; k++) {
      store<u8>(NIBBLE_PLANES + (k << 4) + n, <u8>(lo >>> (<u32>k * 8)));
      store<u8>(NIBBLE_PLANES + ((k + 4) << 4) + n, <u8>(hi >>> (<u32>k * 8)));
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

/** The lane length whose shift is cached in shiftForLane (0: none yet). */
let shiftLaneBytes: usize = 0;
let shiftForLane: u32 = 0;

/**
 * Raw CRC-32C of len bytes at ptr, starting from crc, with no inversion before or after
 * (the Linux `crc32c(seed, data, len)` contract that btrfs builds its name hashes on).
 */
export function crc32cUpdate(crc: u32, ptr: usize, len: usize): u32 {
  if (len < LANES_MIN_BYTES) return updateChain(crc, ptr, len);
  // From the standard seed (a tree block, a superblock), the whole 256-byte multiples go
  // through the sixteen-lane SIMD kernel, the rest through one chain.
  if (crc == 0xffffffff && len >= SPLIT16_MIN_BYTES) {
    const simdBytes = len & ~<usize>255;
    const raw = ~crc32cSplit16(ptr, simdBytes);
    return updateChain(raw, ptr + simdBytes, len - simdBytes);
  }
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
  // Computing the shift costs ~1 us, as much as checksumming 2 KiB; callers repeat
  // the same lengths (nodesize, sectorsize, superblock), so the last one is kept.
  if (laneBytes != shiftLaneBytes) {
    shiftLaneBytes = laneBytes;
    shiftForLane = xPow8n(laneBytes);
  }
  const shift = shiftForLane;
  let c = multModP(shift, c0) ^ c1;
  c = multModP(shift, c) ^ c2;
  c = multModP(shift, c) ^ c3;
  return updateChain(c, p3, ptr + len - p3);
}

// Sixteen sectors at once with SIMD: lane i of every vector belongs to sector i. The CRC
// state is four byte planes c0..c3 (c0 holds the low byte of each lane's CRC), so the
// byte-at-a-time update crc = (crc >> 8) ^ T[(crc ^ b) & 0xff] becomes a plane move plus
// eight 16-entry swizzles, for sixteen sectors per instruction. Wasm has no carry-less
// multiply, so this (not folding) is what SIMD can do for a CRC; it needs about a third of
// the operations per byte of scalar slicing-by-8. Sixteen rows of 16 bytes (one from each
// sector) are transposed into sixteen columns (byte t of every sector) by four rounds of
// the same byte interleave.

@inline function interleaveLo(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}

@inline function interleaveHi(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}

/** CRC-32C (init ~0, final ~0) of 16 sectors of sectorBytes (a multiple of 16) at p, to out as le32. */
function crc32cSectors16(p: usize, sectorBytes: usize, outPtr: usize): void {
  const tl0 = v128.load(NIBBLE_PLANES, 0);
  const tl1 = v128.load(NIBBLE_PLANES, 16);
  const tl2 = v128.load(NIBBLE_PLANES, 32);
  const tl3 = v128.load(NIBBLE_PLANES, 48);
  const th0 = v128.load(NIBBLE_PLANES, 64);
  const th1 = v128.load(NIBBLE_PLANES, 80);
  const th2 = v128.load(NIBBLE_PLANES, 96);
  const th3 = v128.load(NIBBLE_PLANES, 112);
  const nibble = i8x16.splat(0x0f);
  let c0 = i8x16.splat(-1);
  let c1 = c0;
  let c2 = c0;
  let c3 = c0;
  for (let j: usize = 0; j < sectorBytes; j += 16) {
    const q = p + j;
    let r0 = v128.load(q);
    let r1 = v128.load(q + sectorBytes);
    let r2 = v128.load(q + sectorBytes * 2);
    let r3 = v128.load(q + sectorBytes * 3);
    let r4 = v128.load(q + sectorBytes * 4);
    let r5 = v128.load(q + sectorBytes * 5);
    let r6 = v128.load(q + sectorBytes * 6);
    let r7 = v128.load(q + sectorBytes * 7);
    let r8 = v128.load(q + sectorBytes * 8);
    let r9 = v128.load(q + sectorBytes * 9);
    let r10 = v128.load(q + sectorBytes * 10);
    let r11 = v128.load(q + sectorBytes * 11);
    let r12 = v128.load(q + sectorBytes * 12);
    let r13 = v128.load(q + sectorBytes * 13);
    let r14 = v128.load(q + sectorBytes * 14);
    let r15 = v128.load(q + sectorBytes * 15);
    for (let round = 0; round < 4; round++) {
      const n0 = interleaveLo(r0, r8);
      const n1 = interleaveHi(r0, r8);
      const n2 = interleaveLo(r1, r9);
      const n3 = interleaveHi(r1, r9);
      const n4 = interleaveLo(r2, r10);
      const n5 = interleaveHi(r2, r10);
      const n6 = interleaveLo(r3, r11);
      const n7 = interleaveHi(r3, r11);
      const n8 = interleaveLo(r4, r12);
      const n9 = interleaveHi(r4, r12);
      const n10 = interleaveLo(r5, r13);
      const n11 = interleaveHi(r5, r13);
      const n12 = interleaveLo(r6, r14);
      const n13 = interleaveHi(r6, r14);
      const n14 = interleaveLo(r7, r15);
      const n15 = interleaveHi(r7, r15);
      r0 = n0; r1 = n1; r2 = n2; r3 = n3; r4 = n4; r5 = n5; r6 = n6; r7 = n7;
      r8 = n8; r9 = n9; r10 = n10; r11 = n11; r12 = n12; r13 = n13; r14 = n14; r15 = n15;
    }
    // Now r_t holds byte j + t of every sector. They go through memory so that the
    // sixteen steps below need registers only for the tables and the state: x64 has 16
    // vector registers, and spilling in the middle of the steps was measured slower.
    v128.store(COLUMNS, r0, 0); v128.store(COLUMNS, r1, 16); v128.store(COLUMNS, r2, 32); v128.store(COLUMNS, r3, 48);
    v128.store(COLUMNS, r4, 64); v128.store(COLUMNS, r5, 80); v128.store(COLUMNS, r6, 96); v128.store(COLUMNS, r7, 112);
    v128.store(COLUMNS, r8, 128); v128.store(COLUMNS, r9, 144); v128.store(COLUMNS, r10, 160); v128.store(COLUMNS, r11, 176);
    v128.store(COLUMNS, r12, 192); v128.store(COLUMNS, r13, 208); v128.store(COLUMNS, r14, 224); v128.store(COLUMNS, r15, 240);
    for (let t: usize = 0; t < 256; t += 16) {
      const x = v128.xor(c0, v128.load(COLUMNS + t));
      const lo = v128.and(x, nibble);
      const hi = v128.and(i16x8.shr_u(x, 4), nibble);
      c0 = v128.xor(v128.xor(c1, i8x16.swizzle(tl0, lo)), i8x16.swizzle(th0, hi));
      c1 = v128.xor(v128.xor(c2, i8x16.swizzle(tl1, lo)), i8x16.swizzle(th1, hi));
      c2 = v128.xor(v128.xor(c3, i8x16.swizzle(tl2, lo)), i8x16.swizzle(th2, hi));
      c3 = v128.xor(i8x16.swizzle(tl3, lo), i8x16.swizzle(th3, hi));
    }
  }
  v128.store(PLANE_SPILL, c0, 0);
  v128.store(PLANE_SPILL, c1, 16);
  v128.store(PLANE_SPILL, c2, 32);
  v128.store(PLANE_SPILL, c3, 48);
  for (let i: usize = 0; i < 16; i++) {
    const crc = <u32>load<u8>(PLANE_SPILL + i) | (<u32>load<u8>(PLANE_SPILL + 16 + i) << 8) |
      (<u32>load<u8>(PLANE_SPILL + 32 + i) << 16) | (<u32>load<u8>(PLANE_SPILL + 48 + i) << 24);
    store<u32>(outPtr + (i << 2), ~crc);
  }
}

// One buffer through the sixteen-lane kernel: its sixteen equal pieces are the lanes, and
// their standard CRCs are joined as zlib's crc32_combine does: crc(A || B) =
// shift_|B|(crc(A)) ^ crc(B), where shift_n multiplies by x^(8n) modulo the polynomial. That
// multiplication is linear over GF(2), so for a fixed n it is four 256-entry tables (one per
// byte of the CRC); the tables of the last few lane lengths are kept (a sector's, a tree
// block's, the superblock's), as building one costs ~1,000 multiplications.

/** Lane lengths whose shift tables are cached, and the tables (4 x 256 u32 each). */
const SHIFT_SLOTS: usize = 4;
const SHIFT_TABLES: usize = memory.data(<i32>(SHIFT_SLOTS * 4096), 64);
/** The lane length of each slot's table (0: empty); static data, as the heap is the JS side's scratch. */
const SHIFT_SLOT_LANES: usize = memory.data(<i32>(SHIFT_SLOTS * 4), 16);
let shiftSlotNext: usize = 0;
/** The sixteen lane CRCs of crc32cSplit16. */
const LANE_CRCS: usize = memory.data(16 * 4, 16);
/** Below this many bytes the four scalar lanes are as fast (the join costs ~15 table steps). */
const SPLIT16_MIN_BYTES: usize = 2048;

function shiftTableFor(laneBytes: usize): usize {
  for (let k: usize = 0; k < SHIFT_SLOTS; k++) {
    if (<usize>load<u32>(SHIFT_SLOT_LANES + (k << 2)) == laneBytes) return SHIFT_TABLES + (k << 12);
  }
  const slot = shiftSlotNext;
  shiftSlotNext = (shiftSlotNext + 1) % SHIFT_SLOTS;
  const table = SHIFT_TABLES + (slot << 12);
  const m = xPow8n(laneBytes);
  for (let k: usize = 0; k < 4; k++) {
    for (let b: usize = 0; b < 256; b++) store<u32>(table + (k << 10) + (b << 2), multModP(m, <u32>b << (<u32>k * 8)));
  }
  store<u32>(SHIFT_SLOT_LANES + (slot << 2), <u32>laneBytes);
  return table;
}

@inline function shiftBy(table: usize, x: u32): u32 {
  return load<u32>(table + (<usize>(x & 0xff) << 2)) ^ load<u32>(table + 1024 + (<usize>((x >>> 8) & 0xff) << 2)) ^
    load<u32>(table + 2048 + (<usize>((x >>> 16) & 0xff) << 2)) ^ load<u32>(table + 3072 + (<usize>(x >>> 24) << 2));
}

/** Standard CRC-32C (init ~0, final ~0) of len bytes at p; len a multiple of 256 (lanes of whole 16-byte columns). */
function crc32cSplit16(p: usize, len: usize): u32 {
  const lane = len >>> 4;
  crc32cSectors16(p, lane, LANE_CRCS);
  const table = shiftTableFor(lane);
  let d = load<u32>(LANE_CRCS);
  for (let i: usize = 1; i < 16; i++) d = shiftBy(table, d) ^ load<u32>(LANE_CRCS + (i << 2));
  return d;
}

/**
 * Standard CRC-32C (init ~0, final xor ~0) of each of `count` sectors of `sectorBytes`
 * laid end to end at ptr; the results go to outPtr as little-endian u32, which is how
 * btrfs stores a crc32c checksum.
 */
export function crc32cSectors(ptr: usize, sectorBytes: usize, count: usize, outPtr: usize): void {
  let i: usize = 0;
  if ((sectorBytes & 15) == 0) {
    for (; i + 16 <= count; i += 16) crc32cSectors16(ptr + i * sectorBytes, sectorBytes, outPtr + (i << 2));
  }
  // Fewer than sixteen left (a random 4 KiB read or write): each sector's sixteen pieces are
  // the lanes instead.
  if ((sectorBytes & 255) == 0 && sectorBytes >= SPLIT16_MIN_BYTES) {
    for (; i < count; i++) store<u32>(outPtr + (i << 2), crc32cSplit16(ptr + i * sectorBytes, sectorBytes));
  }
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

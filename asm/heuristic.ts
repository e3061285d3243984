// btrfs's pre-compression heuristic (fs/btrfs/compression.c btrfs_compress_heuristic),
// step for step, so that butterfs decides "try to compress" exactly where Linux does.
//
// Owns: sampling, the repeated-pattern test, the byte set, the core set (with the
// kernel's radix sort), the integer Shannon entropy, and the decision. Nothing else.
//
// Input: len bytes at ptr, standing for the file range [0, len) as the page cache holds
// it (4 KiB pages; bytes past the end of the range read as zero, as the page cache has
// them past EOF). The kernel is called with an inclusive end, so end = len - 1 here.
//
// Faithfulness notes (each is the kernel's behaviour, kept on purpose):
//  * sampling reads 16 bytes every 256 within each 4 KiB page, at most 128 KiB + 1
//    bytes of range (end is clamped to start + BTRFS_MAX_UNCOMPRESSED), so at most
//    8192 sample bytes; the "don't sample garbage" test `start > end - 16` is done in
//    u64, so for a range shorter than 17 bytes it never fires and the whole first page
//    (zeros past the data) is sampled; a 1-byte range has end = 0, which is page
//    aligned, so no page is sampled at all and the empty sample "repeats";
//  * the radix sort sorts ALIGN(ilog2(max count), 8) bits, so counts whose highest bit
//    is bit 8 (256..511) are sorted on their low 8 bits only, and a sample whose every
//    count is 1 is not sorted at all. The core-set and entropy loops then walk that
//    order and stop at the first zero count, exactly as the kernel does.
//
// Memory layout: static tables below; the JS side (src/kernels/heuristic.ts) copies the
// input from inputBase() up. No imports, no allocator.

const PAGE_SIZE: u64 = 4096;
const SAMPLING_READ_SIZE: u32 = 16;
const SAMPLING_INTERVAL: u32 = 256;
const BTRFS_MAX_UNCOMPRESSED: u64 = 128 * 1024;
const MAX_SAMPLE_SIZE: u32 = <u32>(BTRFS_MAX_UNCOMPRESSED * SAMPLING_READ_SIZE / SAMPLING_INTERVAL);
const BUCKET_SIZE: i32 = 256;
const BYTE_SET_THRESHOLD: u32 = 64;
const BYTE_CORE_SET_LOW: u32 = 64;
const BYTE_CORE_SET_HIGH: u32 = 200;
const ENTROPY_LVL_ACEPTABLE: u32 = 65;
const ENTROPY_LVL_HIGH: u32 = 80;
const RADIX_BASE: u32 = 4;
const COUNTERS_SIZE: u32 = 1 << RADIX_BASE;

const SAMPLE: usize = memory.data(<i32>MAX_SAMPLE_SIZE, 16);
/** struct bucket_item { u32 count; } bucket[256], bucket_b[256]. */
const BUCKET: usize = memory.data(BUCKET_SIZE * 4, 16);
const BUCKET_B: usize = memory.data(BUCKET_SIZE * 4, 16);
const COUNTERS: usize = memory.data(<i32>COUNTERS_SIZE * 4, 16);

// The intermediate figures of the last call, for tests and tools (0 when not reached).
let lastSampleSize: u32 = 0;
let lastByteSetSize: u32 = 0;
let lastCoreSetSize: u32 = 0;
let lastEntropy: u32 = 0;

@inline function bucketAt(base: usize, i: i32): u32 {
  return load<u32>(base + (<usize>i << 2));
}

@inline function setBucket(base: usize, i: i32, v: u32): void {
  store<u32>(base + (<usize>i << 2), v);
}

/** ilog2 of a non-zero u64: index of the highest set bit. */
@inline function ilog2(n: u64): u32 {
  return 63 - <u32>clz(n);
}

@inline function ilog2W(n: u64): u32 {
  return ilog2(n * n * n * n);
}

/** heuristic_collect_sample with start = 0 and end = len - 1 (len >= 1). */
function collectSample(ptr: usize, len: usize): u32 {
  let start: u64 = 0;
  let end: u64 = <u64>len - 1;
  if (end - start > BTRFS_MAX_UNCOMPRESSED) end = start + BTRFS_MAX_UNCOMPRESSED;
  let index = start / PAGE_SIZE;
  let indexEnd = end / PAGE_SIZE;
  if (end % PAGE_SIZE != 0) indexEnd++;
  let pos: u32 = 0;
  while (index < indexEnd) {
    const page = index * PAGE_SIZE;
    let i = <u32>(start % PAGE_SIZE);
    while (i < <u32>PAGE_SIZE - SAMPLING_READ_SIZE) {
      // u64 on purpose: for end < 16 this wraps and never stops the sampling.
      if (start > end - <u64>SAMPLING_READ_SIZE) break;
      const from = page + <u64>i;
      if (from + <u64>SAMPLING_READ_SIZE <= <u64>len) {
        memory.copy(SAMPLE + pos, ptr + <usize>from, SAMPLING_READ_SIZE);
      } else {
        for (let k: u32 = 0; k < SAMPLING_READ_SIZE; k++) {
          const at = from + <u64>k;
          store<u8>(SAMPLE + pos + k, at < <u64>len ? load<u8>(ptr + <usize>at) : 0);
        }
      }
      i += SAMPLING_INTERVAL;
      start += SAMPLING_INTERVAL;
      pos += SAMPLING_READ_SIZE;
    }
    index++;
  }
  return pos;
}

function sampleRepeatedPatterns(sampleSize: u32): bool {
  const half = sampleSize / 2;
  return memory.compare(SAMPLE, SAMPLE + half, half) == 0;
}

function byteSetSize(): u32 {
  let size: u32 = 0;
  let i: i32 = 0;
  for (; i < <i32>BYTE_SET_THRESHOLD; i++) {
    if (bucketAt(BUCKET, i) > 0) size++;
  }
  for (; i < BUCKET_SIZE; i++) {
    if (bucketAt(BUCKET, i) > 0) {
      size++;
      if (size > BYTE_SET_THRESHOLD) return size;
    }
  }
  return size;
}

@inline function get4bits(num: u64, shift: u32): u32 {
  // Reverse order: the sort is descending.
  return (COUNTERS_SIZE - 1) - <u32>((num >> <u64>shift) % <u64>COUNTERS_SIZE);
}

/** One counting-sort pass on 4 bits from src to dst (stable). */
function radixPass(src: usize, dst: usize, num: i32, shift: u32): void {
  memory.fill(COUNTERS, 0, COUNTERS_SIZE * 4);
  for (let i: i32 = 0; i < num; i++) {
    const addr = get4bits(bucketAt(src, i), shift);
    setBucket(COUNTERS, addr, bucketAt(COUNTERS, addr) + 1);
  }
  for (let i: i32 = 1; i < <i32>COUNTERS_SIZE; i++) {
    setBucket(COUNTERS, i, bucketAt(COUNTERS, i) + bucketAt(COUNTERS, i - 1));
  }
  for (let i: i32 = num - 1; i >= 0; i--) {
    const v = bucketAt(src, i);
    const addr = get4bits(v, shift);
    const newAddr = bucketAt(COUNTERS, addr) - 1;
    setBucket(COUNTERS, addr, newAddr);
    setBucket(dst, <i32>newAddr, v);
  }
}

/** The kernel's radix_sort: two passes per round, so the result ends in `array`. */
function radixSort(array: usize, arrayBuf: usize, num: i32): void {
  let maxNum: u64 = bucketAt(array, 0);
  for (let i: i32 = 1; i < num; i++) {
    const v: u64 = bucketAt(array, i);
    if (v > maxNum) maxNum = v;
  }
  // ilog2(0) is undefined in the kernel; the caller never gets here with an empty
  // sample (an empty sample "repeats"), so maxNum >= 1.
  const bufNum = ilog2(maxNum);
  const align = RADIX_BASE * 2;
  const bitlen = (bufNum + align - 1) & ~(align - 1);
  let shift: u32 = 0;
  while (shift < bitlen) {
    radixPass(array, arrayBuf, num, shift);
    shift += RADIX_BASE;
    radixPass(arrayBuf, array, num, shift);
    shift += RADIX_BASE;
  }
}

function byteCoreSetSize(sampleSize: u32): u32 {
  let coresetSum: u32 = 0;
  const threshold = sampleSize * 90 / 100;
  radixSort(BUCKET, BUCKET_B, BUCKET_SIZE);
  let i: u32 = 0;
  for (; i < BYTE_CORE_SET_LOW; i++) coresetSum += bucketAt(BUCKET, <i32>i);
  if (coresetSum > threshold) return i;
  for (; i < BYTE_CORE_SET_HIGH && bucketAt(BUCKET, <i32>i) > 0; i++) {
    coresetSum += bucketAt(BUCKET, <i32>i);
    if (coresetSum > threshold) break;
  }
  return i;
}

function shannonEntropy(sampleSize: u32): u32 {
  const entropyMax: u32 = 8 * ilog2W(2);
  let entropySum: u32 = 0;
  const szBase = ilog2W(sampleSize);
  for (let i: i32 = 0; i < BUCKET_SIZE && bucketAt(BUCKET, i) > 0; i++) {
    const p = bucketAt(BUCKET, i);
    const pBase = ilog2W(p);
    entropySum += p * (szBase - pBase);
  }
  entropySum /= sampleSize;
  return entropySum * 100 / entropyMax;
}

/**
 * btrfs_compress_heuristic over len bytes at ptr. Returns the kernel's value: 0 do not
 * compress (core set >= 200 or entropy >= 80); non-zero compress, naming the test that
 * decided: 1 repeated pattern, 2 byte set < 64, 3 core set <= 64, 4 entropy <= 65,
 * 5 entropy < 80.
 */
export function compressHeuristic(ptr: usize, len: usize): i32 {
  lastSampleSize = 0;
  lastByteSetSize = 0;
  lastCoreSetSize = 0;
  lastEntropy = 0;
  const sampleSize: u32 = len == 0 ? 0 : collectSample(ptr, len);
  lastSampleSize = sampleSize;
  if (sampleRepeatedPatterns(sampleSize)) return 1;

  memory.fill(BUCKET, 0, <usize>BUCKET_SIZE * 4);
  for (let i: u32 = 0; i < sampleSize; i++) {
    const b = <i32>load<u8>(SAMPLE + i);
    setBucket(BUCKET, b, bucketAt(BUCKET, b) + 1);
  }

  let v = byteSetSize();
  lastByteSetSize = v;
  if (v < BYTE_SET_THRESHOLD) return 2;

  v = byteCoreSetSize(sampleSize);
  lastCoreSetSize = v;
  if (v <= BYTE_CORE_SET_LOW) return 3;
  if (v >= BYTE_CORE_SET_HIGH) return 0;

  v = shannonEntropy(sampleSize);
  lastEntropy = v;
  if (v <= ENTROPY_LVL_ACEPTABLE) return 4;
  // The kernel leaves the band between the two levels to "additional analysis" it
  // does not do, and compresses.
  if (v < ENTROPY_LVL_HIGH) return 5;
  return 0;
}

export function heuristicSampleSize(): u32 { return lastSampleSize; }
export function heuristicByteSetSize(): u32 { return lastByteSetSize; }
export function heuristicCoreSetSize(): u32 { return lastCoreSetSize; }
export function heuristicEntropy(): u32 { return lastEntropy; }

/** First byte the JS side may use as scratch: past the static data, 64-byte aligned. */
export function inputBase(): usize {
  return (__heap_base + 63) & ~<usize>63;
}

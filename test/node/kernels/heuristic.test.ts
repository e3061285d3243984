// btrfs's pre-compression heuristic: the AssemblyScript kernel against a plain TS port of
// the kernel's C (fs/btrfs/compression.c: heuristic_collect_sample,
// sample_repeated_patterns, byte_set_size, radix_sort, byte_core_set_size,
// shannon_entropy, btrfs_compress_heuristic), written here line for line as the
// reference, on crafted inputs for each test and thousands of random ones.
import { beforeAll, describe, expect, it } from 'vitest';
import { heuristic, heuristicDetail, loadCompressionKernels } from '../../../src/kernels/compression.js';

beforeAll(async () => {
  await loadCompressionKernels();
});

// ---- Reference: the kernel's C, transcribed. u64 values stay below 2^53 here (n^4 with
// n <= 8192 is 2^52), so plain numbers and BigInt only where C wraps.

const PAGE_SIZE = 4096;
const SAMPLING_READ_SIZE = 16;
const SAMPLING_INTERVAL = 256;
const BTRFS_MAX_UNCOMPRESSED = 128 * 1024;
const BUCKET_SIZE = 256;

function ilog2(n: number): number {
  // Exact for n < 2^53: the highest set bit.
  let r = 0;
  while (n >= 2) {
    n = Math.floor(n / 2);
    r++;
  }
  return r;
}
const ilog2W = (n: number): number => ilog2(n * n * n * n);

interface RefResult { ret: number; sampleSize: number; byteSetSize: number; coreSetSize: number; entropy: number }

function refHeuristic(data: Uint8Array): RefResult {
  const res: RefResult = { ret: 0, sampleSize: 0, byteSetSize: 0, coreSetSize: 0, entropy: 0 };
  // heuristic_collect_sample(inode, start = 0, end = len - 1)
  const sample = new Uint8Array(8192);
  let sampleSize = 0;
  if (data.length > 0) {
    let start = 0n;
    let end = BigInt(data.length - 1);
    const U64 = (1n << 64n) - 1n;
    if (((end - start) & U64) > BigInt(BTRFS_MAX_UNCOMPRESSED)) end = start + BigInt(BTRFS_MAX_UNCOMPRESSED);
    let index = start >> 12n;
    let indexEnd = end >> 12n;
    if (end % BigInt(PAGE_SIZE) !== 0n) indexEnd++;
    let pos = 0;
    while (index < indexEnd) {
      const page = Number(index) * PAGE_SIZE;
      let i = Number(start % BigInt(PAGE_SIZE));
      while (i < PAGE_SIZE - SAMPLING_READ_SIZE) {
        if (start > ((end - BigInt(SAMPLING_READ_SIZE)) & U64)) break;
        for (let k = 0; k < SAMPLING_READ_SIZE; k++) {
          const at = page + i + k;
          sample[pos + k] = at < data.length ? data[at]! : 0; // the page cache past EOF is zeros
        }
        i += SAMPLING_INTERVAL;
        start += BigInt(SAMPLING_INTERVAL);
        pos += SAMPLING_READ_SIZE;
      }
      index++;
    }
    sampleSize = pos;
  }
  res.sampleSize = sampleSize;
  // sample_repeated_patterns
  const half = Math.floor(sampleSize / 2);
  let same = true;
  for (let i = 0; i < half; i++) if (sample[i] !== sample[half + i]) { same = false; break; }
  if (same) { res.ret = 1; return res; }
  const bucket = new Array<number>(BUCKET_SIZE).fill(0);
  for (let i = 0; i < sampleSize; i++) bucket[sample[i]!]!++;
  // byte_set_size
  let bss = 0;
  {
    let i = 0;
    for (; i < 64; i++) if (bucket[i]! > 0) bss++;
    for (; i < BUCKET_SIZE; i++) {
      if (bucket[i]! > 0) {
        bss++;
        if (bss > 64) break;
      }
    }
  }
  res.byteSetSize = bss;
  if (bss < 64) { res.ret = 2; return res; }
  // byte_core_set_size with radix_sort(bucket, bucket_b, 256)
  const bucketB = new Array<number>(BUCKET_SIZE).fill(0);
  const get4bits = (num: number, shift: number): number => 15 - (Math.floor(num / 2 ** shift) % 16);
  const pass = (src: number[], dst: number[], shift: number): void => {
    const counters = new Array<number>(16).fill(0);
    for (let i = 0; i < BUCKET_SIZE; i++) counters[get4bits(src[i]!, shift)]!++;
    for (let i = 1; i < 16; i++) counters[i]! += counters[i - 1]!;
    for (let i = BUCKET_SIZE - 1; i >= 0; i--) {
      const addr = get4bits(src[i]!, shift);
      counters[addr]!--;
      dst[counters[addr]!] = src[i]!;
    }
  };
  let maxNum = bucket[0]!;
  for (let i = 1; i < BUCKET_SIZE; i++) if (bucket[i]! > maxNum) maxNum = bucket[i]!;
  const bitlen = Math.ceil(ilog2(maxNum) / 8) * 8; // ALIGN(ilog2(max), RADIX_BASE * 2)
  for (let shift = 0; shift < bitlen; shift += 8) {
    pass(bucket, bucketB, shift);
    pass(bucketB, bucket, shift + 4);
  }
  const threshold = Math.floor((sampleSize * 90) / 100);
  let coresetSum = 0;
  let core = 0;
  for (; core < 64; core++) coresetSum += bucket[core]!;
  if (coresetSum <= threshold) {
    for (; core < 200 && bucket[core]! > 0; core++) {
      coresetSum += bucket[core]!;
      if (coresetSum > threshold) break;
    }
  }
  res.coreSetSize = core;
  if (core <= 64) { res.ret = 3; return res; }
  if (core >= 200) { res.ret = 0; return res; }
  // shannon_entropy
  const entropyMax = 8 * ilog2W(2);
  let entropySum = 0;
  const szBase = ilog2W(sampleSize);
  for (let i = 0; i < BUCKET_SIZE && bucket[i]! > 0; i++) {
    const p = bucket[i]!;
    entropySum = (entropySum + p * (szBase - ilog2W(p))) >>> 0;
  }
  entropySum = Math.floor(entropySum / sampleSize);
  const entropy = Math.floor((entropySum * 100) / entropyMax);
  res.entropy = entropy;
  if (entropy <= 65) { res.ret = 4; return res; }
  res.ret = entropy < 80 ? 5 : 0;
  return res;
}

// ---- Inputs.

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

/** Bytes drawn from `alphabet` distinct values with a skew: small alphabets, text-like, uniform. */
function skewed(len: number, alphabet: number, skew: number, next: () => number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    let v = next() % alphabet;
    for (let s = 0; s < skew; s++) v = Math.min(v, next() % alphabet);
    out[i] = v;
  }
  return out;
}

/** `hot` values carry hotShare of the bytes, the rest spread evenly over all 256. */
function hotAndTail(len: number, hot: number, hotShare: number, next: () => number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = (next() % 1000) < hotShare * 1000 ? next() % hot : next() % 256;
  return out;
}

function expectSame(data: Uint8Array, what: string): RefResult {
  const ref = refHeuristic(data);
  const got = heuristicDetail(data);
  expect({ ret: got.ret, sampleSize: got.sampleSize, byteSetSize: got.byteSetSize, coreSetSize: got.coreSetSize, entropy: got.entropy }, what)
    .toEqual(ref);
  expect(heuristic(data), what).toBe(ref.ret !== 0);
  return ref;
}

describe('btrfs_compress_heuristic', () => {
  it('samples 16 bytes of every 256 per 4 KiB page, at most 8192', () => {
    expect(heuristicDetail(new Uint8Array(128 * 1024)).sampleSize).toBe(8192);
    expect(heuristicDetail(new Uint8Array(1024 * 1024)).sampleSize).toBe(8192);
    expect(heuristicDetail(new Uint8Array(4096)).sampleSize).toBe(256);
    // 4097 bytes: page 1 has one byte, too few for a 16-byte read before the end.
    expect(heuristicDetail(new Uint8Array(4097)).sampleSize).toBe(256);
    expect(heuristicDetail(new Uint8Array(4096 + 17)).sampleSize).toBe(272);
    // Shorter than 17 bytes: the u64 end test never fires, the zero-filled page is sampled.
    expect(heuristicDetail(new Uint8Array(10)).sampleSize).toBe(256);
    // One byte: end = 0 is page aligned, no page is sampled.
    expect(heuristicDetail(new Uint8Array(1)).sampleSize).toBe(0);
  });

  it('decides each crafted case by the test the kernel would use', () => {
    const next = rng(7);
    const zeros = new Uint8Array(65536);
    expect(expectSame(zeros, 'zeros').ret).toBe(1);
    // Repeated halves: any 64 KiB block twice.
    const block = skewed(65536, 256, 0, next);
    const twice = new Uint8Array(131072);
    twice.set(block);
    twice.set(block, 65536);
    expect(expectSame(twice, 'repeated halves').ret).toBe(1);
    // JSON-ish text: byte set < 64.
    const text = new TextEncoder().encode(JSON.stringify(Array.from({ length: 3000 }, (_, i) => ({ id: i, name: `n${i}` }))));
    expect(expectSame(text.subarray(0, 131072), 'json').ret).toBe(2);
    // Uniform random: core set >= 200.
    expect(expectSame(skewed(131072, 256, 0, next), 'random').ret).toBe(0);
    expect(heuristicDetail(skewed(131072, 256, 0, next)).reason).toBe('core-set-high');
    // 100 values, uniform: byte set >= 64, core set 90 (> 64, < 200), entropy ~ 6.6 bits = 83%.
    const hundred = skewed(131072, 100, 0, next);
    expect(expectSame(hundred, 'hundred').ret).toBe(0);
    expect(heuristicDetail(hundred).reason).toBe('entropy-high');
    // 50 hot values and a thin tail over all 256: byte set 256, core set <= 64.
    expect(expectSame(hotAndTail(131072, 50, 0.95, next), 'core set low').ret).toBe(3);
    // 8 hot values with 80% and the tail: core set in (64, 200), entropy <= 65%.
    expect(expectSame(hotAndTail(131072, 8, 0.8, next), 'entropy low').ret).toBe(4);
    // 16 hot values with 70%: entropy between 65% and 80%, which the kernel compresses.
    expect(expectSame(hotAndTail(131072, 16, 0.7, next), 'entropy mid').ret).toBe(5);
  });

  it('agrees with the reference on thousands of random inputs', () => {
    const next = rng(0xb7f5);
    const seen = new Set<number>();
    for (let n = 0; n < 2000; n++) {
      const r = next();
      // Lengths around page and sample boundaries as well as anywhere up to 160 KiB.
      const lengths = [0, 1, 2, 15, 16, 17, 255, 256, 4095, 4096, 4097, 4112, 4113, 131071, 131072, 131073];
      const len = r % 3 === 0 ? lengths[next() % lengths.length]! : next() % (160 * 1024);
      const alphabet = 1 + (next() % 256);
      const skew = next() % 5;
      const data = next() % 2 === 0 ? skewed(len, alphabet, skew, next)
        : hotAndTail(len, alphabet, (next() % 1000) / 1000, next);
      if (next() % 7 === 0 && len > 2) data.copyWithin(Math.floor(len / 2), 0, Math.floor(len / 2));
      seen.add(expectSame(data, `input ${n}: ${len} bytes, alphabet ${alphabet}, skew ${skew}`).ret);
    }
    // Every outcome was exercised.
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

// The JS face of btrfs's pre-compression heuristic (asm/heuristic.ts, a step-for-step
// port of fs/btrfs/compression.c btrfs_compress_heuristic).
//
// Owns: the kernel instance and its scratch memory (bounded: the kernel never looks past
// the first 128 KiB of a range, so no more is copied in). Synchronous once
// loadHeuristicKernel() has resolved.

import { WasmKernel } from './wasm-loader.js';

interface HeuristicExports {
  readonly memory: WebAssembly.Memory;
  compressHeuristic(ptr: number, lengthBytes: number): number;
  heuristicSampleSize(): number;
  heuristicByteSetSize(): number;
  heuristicCoreSetSize(): number;
  heuristicEntropy(): number;
  inputBase(): number;
}

/** BTRFS_MAX_UNCOMPRESSED: the heuristic samples at most this much of a range. */
const SAMPLED_BYTES = 128 * 1024;

/** Which of the kernel's tests decided, in the order it runs them. */
export type HeuristicReason =
  | 'repeated-pattern' // first half of the sample equals the second half: compress
  | 'byte-set' // fewer than 64 distinct byte values: compress
  | 'core-set-low' // <= 64 byte values cover 90% of the sample: compress
  | 'core-set-high' // >= 200 byte values needed for 90%: do not compress
  | 'entropy-low' // entropy <= 65% of 8 bits: compress
  | 'entropy-mid' // entropy in (65, 80): the kernel compresses
  | 'entropy-high'; // entropy >= 80: do not compress

export interface HeuristicDetail {
  /** btrfs_compress_heuristic's return value: 0 do not compress, 1..5 the test that said compress. */
  readonly ret: number;
  readonly compress: boolean;
  readonly reason: HeuristicReason;
  /** Bytes sampled (16 of every 256 per 4 KiB page; at most 8192). */
  readonly sampleSize: number;
  /** Distinct byte values, counted up to 65 (0 when the test was not reached). */
  readonly byteSetSize: number;
  /** Byte values covering 90% of the sample, as the kernel counts them (0 when not reached). */
  readonly coreSetSize: number;
  /** Integer Shannon entropy in percent of 8 bits, as the kernel computes it (0 when not reached). */
  readonly entropy: number;
}

const KERNEL = new WasmKernel<HeuristicExports>('heuristic', () => new URL('./wasm/heuristic.wasm', import.meta.url), ['compressHeuristic'], SAMPLED_BYTES);

export function loadHeuristicKernel(): Promise<void> {
  return KERNEL.load();
}

export function heuristicKernelLoaded(): boolean {
  return KERNEL.loaded;
}

/** Runs the kernel over input (its first 128 KiB) and returns its return value. */
function runKernel(input: Uint8Array): number {
  const k = KERNEL.scratch(SAMPLED_BYTES);
  KERNEL.heap.set(input.subarray(0, Math.min(input.length, SAMPLED_BYTES)), KERNEL.scratchBase);
  // The kernel clamps the range to 128 KiB + 1 bytes and never reads past 128 KiB, so the
  // true length matters only up to that clamp.
  return k.compressHeuristic(KERNEL.scratchBase, Math.min(input.length, SAMPLED_BYTES + 1));
}

const REASONS: Record<number, HeuristicReason> = {
  1: 'repeated-pattern', 2: 'byte-set', 3: 'core-set-low', 4: 'entropy-low', 5: 'entropy-mid',
};

/**
 * btrfs_compress_heuristic over input as the file range [0, input.length): true when
 * btrfs would go on to try compressing it. Only the first 128 KiB are looked at.
 */
export function heuristic(input: Uint8Array): boolean {
  return runKernel(input) !== 0;
}

/** heuristic() with the kernel's intermediate figures, for tests and tools. */
export function heuristicDetail(input: Uint8Array): HeuristicDetail {
  const ret = runKernel(input);
  const k = KERNEL.kernel;
  const entropy = k.heuristicEntropy();
  // A "no" comes from the core set (entropy never computed) or from the entropy (>= 80).
  const reason: HeuristicReason = ret !== 0 ? REASONS[ret]! : entropy === 0 ? 'core-set-high' : 'entropy-high';
  return {
    ret,
    compress: ret !== 0,
    reason,
    sampleSize: k.heuristicSampleSize(),
    byteSetSize: k.heuristicByteSetSize(),
    coreSetSize: k.heuristicCoreSetSize(),
    entropy,
  };
}

// The JS face of the LZO kernel (asm/lzo.ts): btrfs's LZO extent framing around LZO1X,
// one wasm call per extent.
//
// Owns: the kernel instance, its scratch memory and the copies in and out. Scratch is
// bounded by the extent limits: at most 128 KiB in, 128 KiB + a segment of slack out.
// Everything is synchronous once loadLzoKernel() has resolved.

import { assert } from '../util/assert.js';
import { FsError } from '../util/errors.js';
import { WasmKernel, WASM_PAGE_BYTES } from './wasm-loader.js';

interface LzoExports {
  readonly memory: WebAssembly.Memory;
  lzo1xCompress(src: number, lengthBytes: number, dst: number): number;
  lzo1xCompressBound(lengthBytes: number): number;
  lzo1xDecompress(src: number, lengthBytes: number, dst: number, outCap: number): number;
  lzoCompressBound(lengthBytes: number, sectorSize: number): number;
  lzoCompressExtent(src: number, lengthBytes: number, dst: number, sectorSize: number): number;
  lzoDecompressExtent(src: number, lengthBytes: number, dst: number, ramBytes: number, sectorSize: number): number;
  inputBase(): number;
}

/** BTRFS_MAX_UNCOMPRESSED and BTRFS_MAX_COMPRESSED. */
const MAX_EXTENT_BYTES = 128 * 1024;
/** Raw LZO1X calls (tests, tools) take up to this much; extents never need more. */
const MAX_RAW_BYTES = 1024 * 1024;
const LZO_LEN = 4;
const BTRFS_E2BIG = -7;

/** lzo1x_worst_compress(x). */
export function lzo1xWorstCompress(lengthBytes: number): number {
  return lengthBytes + (lengthBytes >>> 4) + 64 + 3;
}

const KERNEL = new WasmKernel<LzoExports>('lzo', () => new URL('./wasm/lzo.wasm', import.meta.url), ['lzoCompressExtent', 'lzoDecompressExtent', 'lzo1xCompress', 'lzo1xDecompress', 'lzoCompressBound', 'lzo1xCompressBound']);

export function loadLzoKernel(): Promise<void> {
  return KERNEL.load();
}

export function lzoKernelLoaded(): boolean {
  return KERNEL.loaded;
}

/** The kernel, with [scratchBase, scratchBase + bytes) addressable (bounded) and `heap` current. */
function withScratch(bytes: number): LzoExports {
  assert(bytes <= 2 * MAX_RAW_BYTES + 2 * WASM_PAGE_BYTES, `lzo scratch request ${bytes} exceeds bound`);
  return KERNEL.scratch(bytes);
}

function checkSectorSize(sectorSize: number): void {
  assert(Number.isInteger(sectorSize) && sectorSize >= 4096 && sectorSize <= 65536 &&
    (sectorSize & (sectorSize - 1)) === 0, `lzo: bad sector size ${sectorSize}`);
}

/** Where the output area starts: after inputBytes of input, 64-aligned. */
function outputAt(inputBytes: number): number {
  return KERNEL.scratchBase + ((inputBytes + 63) & ~63);
}

/**
 * btrfs lzo_compress_folios: input (1 byte .. 128 KiB) in btrfs's LZO framing, or null
 * where the kernel gives up (-E2BIG: the output would need more pages than the input,
 * or after more than two sectors it is longer than the input read so far). The output is a
 * view of the kernel's memory, valid until the next call into the kernel (copy it at once).
 */
export function lzoCompressExtentView(input: Uint8Array, sectorSize = 4096): Uint8Array | null {
  checkSectorSize(sectorSize);
  assert(input.length > 0 && input.length <= MAX_EXTENT_BYTES, `lzo: extent input of ${input.length} bytes`);
  const dst = outputAt(input.length);
  let k = withScratch(dst - KERNEL.scratchBase);
  const bound = k.lzoCompressBound(input.length, sectorSize);
  k = withScratch(dst - KERNEL.scratchBase + bound);
  KERNEL.heap.set(input, KERNEL.scratchBase);
  const got = k.lzoCompressExtent(KERNEL.scratchBase, input.length, dst, sectorSize);
  if (got === BTRFS_E2BIG) return null;
  assert(got > LZO_LEN && got <= bound, `lzo kernel returned ${got}`);
  return KERNEL.heap.subarray(dst, dst + got);
}

const LZO_ERRORS: Record<number, string> = {
  [-1]: 'LZO_E_ERROR', [-4]: 'LZO_E_INPUT_OVERRUN', [-5]: 'LZO_E_OUTPUT_OVERRUN',
  [-6]: 'LZO_E_LOOKBEHIND_OVERRUN', [-8]: 'LZO_E_INPUT_NOT_CONSUMED', [-117]: 'bad btrfs lzo framing',
};

function lzoError(code: number, what: string): FsError {
  return new FsError('EIO', `lzo ${what}: ${LZO_ERRORS[code] ?? `error ${code}`}`);
}

/**
 * btrfs lzo_decompress_bio: a framed LZO extent as read from disk (its disk_num_bytes,
 * zero padding included) to exactly ramBytes bytes. Segments that end early leave zeros,
 * as btrfs zero-fills the rest of the read; output past ramBytes is not kept. Corrupt
 * framing or data: FsError EIO.
 */
export function lzoDecompressExtent(input: Uint8Array, ramBytes: number, sectorSize = 4096): Uint8Array {
  checkSectorSize(sectorSize);
  assert(Number.isInteger(ramBytes) && ramBytes >= 0 && ramBytes <= MAX_EXTENT_BYTES, `lzo: ram_bytes ${ramBytes}`);
  if (input.length > MAX_EXTENT_BYTES) throw new FsError('EIO', `lzo extent of ${input.length} bytes exceeds 128 KiB`);
  const dst = outputAt(input.length);
  const k = withScratch(dst - KERNEL.scratchBase + ramBytes + lzo1xWorstCompress(sectorSize));
  KERNEL.heap.set(input, KERNEL.scratchBase);
  const got = k.lzoDecompressExtent(KERNEL.scratchBase, input.length, dst, ramBytes, sectorSize);
  if (got < 0) throw lzoError(got, 'extent');
  assert(got <= ramBytes, `lzo kernel produced ${got} > ${ramBytes}`);
  const out = new Uint8Array(ramBytes);
  out.set(KERNEL.heap.subarray(dst, dst + got));
  return out;
}

/**
 * btrfs lzo_decompress, the inline-extent case: exactly one segment, the header must
 * name the exact length, and the segment must yield at least ramBytes (<= one sector).
 */
export function lzoDecompressInline(input: Uint8Array, ramBytes: number, sectorSize = 4096): Uint8Array {
  checkSectorSize(sectorSize);
  assert(Number.isInteger(ramBytes) && ramBytes >= 0 && ramBytes <= sectorSize, `lzo inline: ram_bytes ${ramBytes}`);
  const segMax = lzo1xWorstCompress(sectorSize);
  if (input.length < LZO_LEN || input.length > segMax + LZO_LEN * 2) {
    throw new FsError('EIO', `lzo inline extent of ${input.length} bytes`);
  }
  const view = new DataView(input.buffer, input.byteOffset, input.length);
  if (view.getUint32(0, true) !== input.length) throw new FsError('EIO', 'lzo inline extent: total length mismatch');
  if (input.length < LZO_LEN * 2 || view.getUint32(LZO_LEN, true) !== input.length - LZO_LEN * 2) {
    throw new FsError('EIO', 'lzo inline extent: segment length mismatch');
  }
  const raw = lzo1xDecompressRaw(input.subarray(LZO_LEN * 2), sectorSize);
  if (raw.length < ramBytes) throw new FsError('EIO', `lzo inline extent: ${raw.length} bytes < ram_bytes ${ramBytes}`);
  return raw.slice(0, ramBytes);
}

/** A raw LZO1X stream of input (no btrfs framing); for tests and interop. */
export function lzo1xCompressRaw(input: Uint8Array): Uint8Array {
  assert(input.length <= MAX_RAW_BYTES, `lzo1x: input of ${input.length} bytes`);
  const dst = outputAt(input.length);
  // The kernel's bound: the format's worst case plus the slack its 16-byte copies overshoot by.
  let k = withScratch(dst - KERNEL.scratchBase);
  k = withScratch(dst - KERNEL.scratchBase + k.lzo1xCompressBound(input.length));
  KERNEL.heap.set(input, KERNEL.scratchBase);
  const got = k.lzo1xCompress(KERNEL.scratchBase, input.length, dst);
  assert(got >= 3 && got <= lzo1xWorstCompress(input.length), `lzo1x kernel returned ${got}`);
  return KERNEL.heap.slice(dst, dst + got);
}

/** Decompresses a raw LZO1X stream of at most maxOutBytes output; corrupt input: FsError EIO. */
export function lzo1xDecompressRaw(input: Uint8Array, maxOutBytes: number): Uint8Array {
  assert(Number.isInteger(maxOutBytes) && maxOutBytes >= 0 && maxOutBytes <= MAX_RAW_BYTES, `lzo1x: out bound ${maxOutBytes}`);
  if (input.length > MAX_RAW_BYTES) throw new FsError('EIO', `lzo1x stream of ${input.length} bytes`);
  const dst = outputAt(input.length);
  const k = withScratch(dst - KERNEL.scratchBase + maxOutBytes);
  KERNEL.heap.set(input, KERNEL.scratchBase);
  const got = k.lzo1xDecompress(KERNEL.scratchBase, input.length, dst, maxOutBytes);
  if (got < 0) throw lzoError(got, 'stream');
  return KERNEL.heap.slice(dst, dst + got);
}

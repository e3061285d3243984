// btrfs zstd extents (fs/btrfs/zstd.c): one zstd frame per extent, of up to 128 KiB of
// input, window at most 128 KiB (windowLog 17), levels 1..15 (and -15..-1 since Linux
// 6.15).
//
// Owns: loading the zstd codec once (bounded in time), the frame-header checks that keep
// decoding bounded, and the btrfs read/write rules.
//
// Implementation: libzstd compiled to WebAssembly, @foxglove/wasm-zstd's build (libzstd 1.5,
// ~1.7x faster than @bokuweb/zstd-wasm's at compression levels 1-3 on text: docs/benchmarks.md,
// "Compression kernels"), through our own glue below (its package glue is CommonJS over Node's
// Buffer). Its .wasm is copied to src/kernels/wasm/libzstd.wasm by scripts/build-asm.mjs and
// loads like our kernels: one instance per thread, ours alone. Its exports are minified names,
// pinned to version 1.0.1 and checked at load. Its decompress takes a destination capacity,
// which bounded decoding needs. (Until session 8 frames were decoded by @bokuweb/zstd-wasm,
// whose module is one global per realm: two init() calls at once, from anyone in the realm,
// left it decoding wrong bytes without an error.)
// Compression is one-shot ZSTD_compress with the source size known, so libzstd fits the
// window to the input: for inputs up to 128 KiB the frame is single-segment, its window is
// its content size, never past windowLog 17 (checked on every frame: compressFrame).
//
// Reading follows zstd_decompress_bio: only the first frame counts (Linux stops when its
// stream says the frame is done; the sector padding after it is ignored), the window may
// not exceed 128 KiB (Linux's decoder is set up with that limit), output past ram_bytes
// is not kept and a frame that ends early leaves zeros. Decoding is bounded before
// libzstd sees the data: the header and every block header are walked here, the content
// size must be at most 128 KiB, and libzstd decodes into a buffer of exactly that size.

import { assert } from '../util/assert.js';
import { FsError } from '../util/errors.js';
import { instantiateKernel } from './wasm-loader.js';

const MAX_EXTENT_BYTES = 128 * 1024;
/** ZSTD_BTRFS_MAX_WINDOWLOG. */
const MAX_WINDOW_LOG = 17;
const ZSTD_MAGIC = 0xfd2fb528;
/** A load that has not finished by then will not (the glue swallows compile errors). */
const LOAD_TIMEOUT_MS = 20_000;

let loaded = false;
let loading: Promise<void> | undefined;

/**
 * @foxglove/wasm-zstd 1.0.1's module: emscripten, minified export names (from its glue:
 * c memory, d __wasm_call_ctors, f malloc, g free, h compressBound, i compress, j decompress),
 * two imports (a.a emscripten_resize_heap, a.b emscripten_memcpy_big).
 */
interface LibzstdExports {
  readonly c: WebAssembly.Memory;
  d(): void;
  f(bytes: number): number;
  g(ptr: number): void;
  h(srcBytes: number): number;
  /** ZSTD_compress(dst, dstCapacity, src, srcSize, level); -1 on error. */
  i(dst: number, dstCapacity: number, src: number, srcBytes: number, level: number): number;
  /** ZSTD_decompress(dst, dstCapacity, src, srcSize): the bytes decoded, never past dstCapacity; negative on error. */
  j(dst: number, dstCapacity: number, src: number, srcBytes: number): number;
}

/**
 * The codec and its two buffers (src: one extent; dst: compressBound of one extent). Compression
 * reads src and writes dst; decompression reads a frame copied into dst and writes src.
 */
interface Compressor {
  readonly exports: LibzstdExports;
  heap: Uint8Array;
  readonly src: number;
  readonly dst: number;
  readonly dstCapacity: number;
}

let compressor: Compressor | undefined;
/** libzstd's heap may grow to this much (its CCtx for 128 KiB at level 15 takes a few MiB). */
const MAX_HEAP_BYTES = 256 * 1024 * 1024;

async function loadCompressor(): Promise<Compressor> {
  let memory: WebAssembly.Memory | undefined;
  let heap = new Uint8Array(0);
  const imports = {
    a: {
      // emscripten_resize_heap(requestedBytes): grow linear memory, 0 when it cannot.
      a: (requested: number): number => {
        const want = requested >>> 0;
        if (memory === undefined || want > MAX_HEAP_BYTES) return 0;
        const pages = Math.ceil((want - memory.buffer.byteLength) / 65536);
        try {
          if (pages > 0) memory.grow(pages);
        } catch {
          return 0;
        }
        heap = new Uint8Array(memory.buffer);
        if (compressor) compressor.heap = heap;
        return 1;
      },
      // emscripten_memcpy_big(dest, src, bytes).
      b: (dest: number, src: number, bytes: number): void => {
        heap.copyWithin(dest, src, src + bytes);
      },
    },
  };
  const instance = await instantiateKernel(new URL('./wasm/libzstd.wasm', import.meta.url), imports);
  const exports = instance.exports as unknown as LibzstdExports;
  if (!(exports.c instanceof WebAssembly.Memory)) throw new Error('libzstd: no memory export (not @foxglove/wasm-zstd 1.0.1?)');
  for (const fn of ['d', 'f', 'g', 'h', 'i', 'j'] as const) {
    if (typeof exports[fn] !== 'function') throw new Error(`libzstd: export ${fn} is missing (not @foxglove/wasm-zstd 1.0.1?)`);
  }
  memory = exports.c;
  heap = new Uint8Array(memory.buffer);
  exports.d();
  const dstCapacity = exports.h(MAX_EXTENT_BYTES);
  const src = exports.f(MAX_EXTENT_BYTES);
  const dst = exports.f(dstCapacity);
  if (src === 0 || dst === 0 || dstCapacity < MAX_EXTENT_BYTES) throw new Error('libzstd: could not allocate its buffers');
  return { exports, heap: new Uint8Array(memory.buffer), src, dst, dstCapacity };
}

/** The codec's heap, viewed again when its memory grew (which detaches the old view). */
function heapOf(c: Compressor): Uint8Array {
  if (c.heap.buffer !== c.exports.c.buffer) c.heap = new Uint8Array(c.exports.c.buffer);
  return c.heap;
}

/** One ZSTD_compress frame of input (<= 128 KiB), as a view of the codec's memory (valid until the next call into it). */
function compressFrame(c: Compressor, input: Uint8Array, level: number): Uint8Array {
  heapOf(c).set(input, c.src);
  const n = c.exports.i(c.dst, c.dstCapacity, c.src, input.length, level);
  if (n < 0 || n > c.dstCapacity) throw new Error(`libzstd: ZSTD_compress failed (${n})`);
  const frame = heapOf(c).subarray(c.dst, c.dst + n);
  // btrfs reads no window over 128 KiB: never write one (a header walk, a few block headers).
  const info = zstdFrameInfo(frame);
  assert(info.frameBytes === n && info.contentSize === input.length, () => `libzstd wrote a frame of ${info.frameBytes}/${n} bytes for ${info.contentSize}/${input.length}`);
  return frame;
}

/**
 * One frame (exactly its bytes, <= 128 KiB) decoded into at most `capacity` bytes, as a view of
 * the codec's memory valid until the next call into it; a frame libzstd refuses: FsError EIO.
 */
function decodeFrame(c: Compressor, frame: Uint8Array, capacity: number): Uint8Array {
  assert(frame.length <= c.dstCapacity && capacity <= MAX_EXTENT_BYTES, () => `zstd: a frame of ${frame.length} bytes into ${capacity}`);
  heapOf(c).set(frame, c.dst);
  const n = c.exports.j(c.src, capacity, c.dst, frame.length);
  if (n < 0 || n > capacity) throw corrupt(`libzstd could not decode the frame (${n})`);
  return heapOf(c).subarray(c.src, c.src + n);
}

export function loadZstd(): Promise<void> {
  loading ??= (async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`zstd codec did not load within ${LOAD_TIMEOUT_MS} ms`)), LOAD_TIMEOUT_MS);
    });
    let c: Compressor;
    try {
      c = await Promise.race([loadCompressor(), timeout]);
    } finally {
      clearTimeout(timer);
    }
    // A frame made and read back proves the codec works, and that the frame is one btrfs
    // takes, before anything relies on it.
    const probe = new Uint8Array(64).fill(0x61);
    const frame = compressFrame(c, probe, 3).slice();
    const info = zstdFrameInfo(frame);
    assert(info.contentSize === 64 && info.windowBytes <= 2 ** MAX_WINDOW_LOG, 'zstd codec failed its self-test (frame header)');
    const back = decodeFrame(c, frame, 64);
    assert(back.length === 64 && back.every((b) => b === 0x61), 'zstd codec failed its self-test');
    compressor = c;
    loaded = true;
  })().catch((e: unknown) => {
    loading = undefined;
    throw e;
  });
  return loading;
}

export function zstdLoaded(): boolean {
  return loaded;
}

/** A zstd frame of input (1 byte .. 128 KiB) at level (-15..15, not 0), as a view of the codec's memory valid until the next call into it (copy it at once). */
export function zstdCompressView(input: Uint8Array, level: number): Uint8Array {
  assert(loaded, 'zstd used before loadCompressionKernels() resolved');
  assert(Number.isInteger(level) && level >= -15 && level <= 15 && level !== 0, `zstd: level ${level}`);
  assert(input.length <= MAX_EXTENT_BYTES, `zstd: extent input of ${input.length} bytes`);
  return compressFrame(compressor!, input, level);
}

export interface ZstdFrameInfo {
  /** Bytes of the frame, header to checksum: what follows is not part of it. */
  readonly frameBytes: number;
  /** Frame_Content_Size, or -1 when the header does not give it. */
  readonly contentSize: number;
  /** The window the decoder must keep. */
  readonly windowBytes: number;
  readonly singleSegment: boolean;
  readonly checksum: boolean;
}

function corrupt(detail: string): FsError {
  return new FsError('EIO', `zstd extent: ${detail}`);
}

/**
 * Walks the first zstd frame of data (RFC 8878 section 3.1.1): header, then block headers
 * up to the last block, then the optional checksum. Throws FsError EIO where the frame is
 * not one btrfs could have written or read (bad magic, reserved bits, a window over
 * 128 KiB, a content size over 128 KiB, a block past the end or over the block limit).
 */
export function zstdFrameInfo(data: Uint8Array): ZstdFrameInfo {
  if (data.length < 6) throw corrupt(`${data.length} bytes is shorter than a frame header`);
  const magic = (data[0]! | (data[1]! << 8) | (data[2]! << 16) | (data[3]! << 24)) >>> 0;
  if (magic !== ZSTD_MAGIC) throw corrupt(`bad magic 0x${magic.toString(16)}`);
  const fhd = data[4]!;
  const fcsFlag = fhd >>> 6;
  const singleSegment = (fhd & 0x20) !== 0;
  if (fhd & 0x08) throw corrupt('reserved frame header bit set');
  const checksum = (fhd & 0x04) !== 0;
  const dictIdBytes = [0, 1, 2, 4][fhd & 3]!;
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]!;
  let at = 5;
  let windowBytes = 0;
  if (!singleSegment) {
    const wd = data[at++]!;
    const windowLog = 10 + (wd >>> 3);
    if (windowLog > MAX_WINDOW_LOG) throw corrupt(`window log ${windowLog} > ${MAX_WINDOW_LOG}`);
    const base = 2 ** windowLog;
    windowBytes = base + (base / 8) * (wd & 7);
  }
  at += dictIdBytes;
  if (at + fcsBytes > data.length) throw corrupt('truncated frame header');
  let contentSize = -1;
  if (fcsBytes > 0) {
    let v = 0;
    for (let i = fcsBytes - 1; i >= 0; i--) v = v * 256 + data[at + i]!;
    contentSize = fcsBytes === 2 ? v + 256 : v;
    at += fcsBytes;
  }
  if (contentSize > MAX_EXTENT_BYTES) throw corrupt(`content size ${contentSize} > 128 KiB`);
  if (singleSegment) windowBytes = contentSize;
  if (windowBytes > 2 ** MAX_WINDOW_LOG) throw corrupt(`window ${windowBytes} > 128 KiB`);
  const blockMax = Math.min(windowBytes, MAX_EXTENT_BYTES);
  // Each block header is 3 bytes, so the walk ends within data.length / 3 steps.
  for (;;) {
    if (at + 3 > data.length) throw corrupt('truncated block header');
    const bh = data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16);
    at += 3;
    const last = (bh & 1) !== 0;
    const type = (bh >>> 1) & 3;
    const size = bh >>> 3;
    if (type === 3) throw corrupt('reserved block type');
    const stored = type === 1 ? 1 : size;
    if (size > blockMax) throw corrupt(`block of ${size} bytes > block limit ${blockMax}`);
    if (at + stored > data.length) throw corrupt('truncated block');
    at += stored;
    if (last) break;
  }
  if (checksum) {
    if (at + 4 > data.length) throw corrupt('truncated checksum');
    at += 4;
  }
  return { frameBytes: at, contentSize, windowBytes, singleSegment, checksum };
}

/** A zstd extent (padding included) to exactly ramBytes bytes; corrupt: FsError EIO. */
export function zstdDecompress(input: Uint8Array, ramBytes: number): Uint8Array {
  assert(loaded, 'zstd used before loadCompressionKernels() resolved');
  assert(Number.isInteger(ramBytes) && ramBytes >= 0 && ramBytes <= MAX_EXTENT_BYTES, `zstd: ram_bytes ${ramBytes}`);
  if (input.length > MAX_EXTENT_BYTES) throw corrupt(`${input.length} bytes exceeds 128 KiB`);
  const info = zstdFrameInfo(input);
  // With a content size libzstd decodes into at most that many bytes (checked <= 128 KiB
  // above); without one, into the 128 KiB the window allows.
  const decoded = decodeFrame(compressor!, input.subarray(0, info.frameBytes), info.contentSize >= 0 ? info.contentSize : MAX_EXTENT_BYTES);
  if (info.contentSize >= 0 && decoded.length !== info.contentSize) {
    throw corrupt(`frame decoded to ${decoded.length} bytes, header says ${info.contentSize}`);
  }
  // A copy: the view is the codec's memory. Past the frame's content, zeros.
  const out = new Uint8Array(ramBytes);
  out.set(decoded.length > ramBytes ? decoded.subarray(0, ramBytes) : decoded);
  return out;
}

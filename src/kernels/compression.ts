// Compression of file extents, exactly as btrfs stores them (fs/btrfs/compression.c,
// zlib.c, lzo.c, zstd.c).
//
// Owns: the codec table (on-disk ids, names, levels), loading every compression kernel
// once (loadCompressionKernels), and the synchronous entry points the file layer calls:
//  * compress: one extent's worth of data (<= 128 KiB) to the bytes btrfs would write,
//    or null where btrfs would write the data uncompressed;
//  * decompress: a compressed extent as read from disk to its ram_bytes bytes, or
//    FsError EIO;
//  * heuristic: btrfs's pre-compression heuristic (should compression be tried at all).
//
// Implementations, each chosen on the benchmark (docs/benchmarks.md, "Compression
// kernels"): lzo is our AssemblyScript kernel (asm/lzo.ts; there is no LZO library worth
// the name for the web), zlib is fflate, zstd is libzstd in WebAssembly
// (@foxglove/wasm-zstd's build, zstd.ts), the heuristic is our AssemblyScript kernel (asm/heuristic.ts).

import { assert, unreachable } from '../util/assert.js';
import { FsError } from '../util/errors.js';
import { heuristicKernelLoaded, loadHeuristicKernel } from './heuristic.js';
import { loadLzoKernel, lzoCompressExtentView, lzoDecompressExtent, lzoDecompressInline, lzoKernelLoaded } from './lzo.js';
import { zlibCompress, zlibDecompress } from './zlib.js';
import { loadZstd, zstdCompressView, zstdDecompress, zstdLoaded } from './zstd.js';

export { heuristic, heuristicDetail, type HeuristicDetail, type HeuristicReason } from './heuristic.js';

export type CompressionName = 'zlib' | 'lzo' | 'zstd';

export interface CompressionType {
  /** BTRFS_COMPRESS_*: the value of a file extent item's `compression` byte. */
  readonly id: number;
  readonly name: CompressionName;
  /** Levels the mount option and property accept (btrfs_compress_op min/max_level). */
  readonly minLevel: number;
  readonly maxLevel: number;
  /** The level `compress=name` (no level) means. */
  readonly defaultLevel: number;
  /** Linux version that can read it (feature flags: COMPRESS_LZO, COMPRESS_ZSTD). */
  readonly since: string;
}

/**
 * The codecs, as btrfs numbers them on disk (BTRFS_COMPRESS_NONE is 0). lzo has no
 * levels (the kernel's op says 1..1). zstd's negative levels are accepted by Linux 6.15
 * and later; older kernels read those extents fine (the level is not on disk).
 */
export const COMPRESSION_TYPES: readonly CompressionType[] = [
  { id: 1, name: 'zlib', minLevel: 1, maxLevel: 9, defaultLevel: 3, since: '2.6.29' },
  { id: 2, name: 'lzo', minLevel: 1, maxLevel: 1, defaultLevel: 1, since: '2.6.38' },
  { id: 3, name: 'zstd', minLevel: -15, maxLevel: 15, defaultLevel: 3, since: '4.14' },
];

/** BTRFS_MAX_UNCOMPRESSED: the most data one compressed extent holds. */
export const BTRFS_MAX_UNCOMPRESSED = 128 * 1024;
/** BTRFS_MAX_COMPRESSED: the most bytes one compressed extent takes on disk. */
export const BTRFS_MAX_COMPRESSED = 128 * 1024;

export function compressionTypeByName(name: string): CompressionType {
  const t = COMPRESSION_TYPES.find((row) => row.name === name);
  if (t === undefined) throw new FsError('EINVAL', `unknown compression ${JSON.stringify(name)}`);
  return t;
}

export function compressionTypeById(id: number): CompressionType {
  const t = COMPRESSION_TYPES.find((row) => row.id === id);
  if (t === undefined) throw new FsError('EIO', `unknown compression type ${id}`);
  return t;
}

function typeOf(codec: CompressionName): CompressionType {
  const t = COMPRESSION_TYPES.find((row) => row.name === codec);
  assert(t !== undefined, `unknown codec ${String(codec)}`);
  return t;
}

/**
 * The level btrfs uses for `level` (btrfs_compress_set_level): 0 means the default;
 * above the maximum is clamped to it; below the minimum (zstd) to the minimum.
 */
export function effectiveLevel(codec: CompressionName, level: number): number {
  const t = typeOf(codec);
  assert(Number.isInteger(level), `compression level ${level} is not an integer`);
  if (level === 0) return t.defaultLevel;
  return Math.min(Math.max(level, t.minLevel), t.maxLevel);
}

let loading: Promise<void> | undefined;

/**
 * Instantiates every compression kernel and codec. Await once before any other function
 * here; later and concurrent calls share the same work; a failure is reported to the
 * caller and a later call tries again.
 */
export function loadCompressionKernels(): Promise<void> {
  loading ??= Promise.all([loadLzoKernel(), loadHeuristicKernel(), loadZstd()]).then(() => undefined, (e: unknown) => {
    loading = undefined;
    throw e;
  });
  return loading;
}

export function compressionKernelsLoaded(): boolean {
  return lzoKernelLoaded() && heuristicKernelLoaded() && zstdLoaded();
}

function checkSectorSize(sectorSize: number): void {
  assert(Number.isInteger(sectorSize) && sectorSize >= 4096 && sectorSize <= 65536 &&
    (sectorSize & (sectorSize - 1)) === 0, `bad sector size ${sectorSize}`);
}

/**
 * btrfs's rule for keeping a compressed extent (compress_file_range): the compressed
 * size rounded up to a sector, plus one sector, must not exceed the input rounded up to
 * a sector. That is, compression must save at least one whole sector.
 */
export function compressionSavesSector(compressedBytes: number, inputBytes: number, sectorSize = 4096): boolean {
  checkSectorSize(sectorSize);
  const roundUp = (n: number): number => Math.ceil(n / sectorSize) * sectorSize;
  return roundUp(compressedBytes) + sectorSize <= roundUp(inputBytes);
}

/**
 * The codec's own output for input, before btrfs's "saves a sector" rule: what an inline
 * extent stores. Null where the codec gives up as btrfs's does (lzo: the framing's E2BIG
 * rules; zlib, zstd: output not smaller than input).
 */
export function compressRaw(codec: CompressionName, input: Uint8Array, level: number, sectorSize = 4096): Uint8Array | null {
  return codecOutput(codec, input, level, sectorSize)?.slice() ?? null;
}

/** compressRaw's output, possibly a view of the codec's memory, valid only until the next call into that codec. */
function codecOutput(codec: CompressionName, input: Uint8Array, level: number, sectorSize: number): Uint8Array | null {
  checkSectorSize(sectorSize);
  assert(input.length > 0 && input.length <= BTRFS_MAX_UNCOMPRESSED, `compress: ${input.length} bytes of input`);
  const lvl = effectiveLevel(codec, level);
  let out: Uint8Array;
  switch (codec) {
    case 'lzo': return lzoCompressExtentView(input, sectorSize);
    case 'zlib': out = zlibCompress(input, lvl); break;
    case 'zstd': out = zstdCompressView(input, lvl); break;
    default: return unreachable(codec);
  }
  return out.length >= input.length ? null : out;
}

/**
 * One extent's data (1 byte .. 128 KiB) compressed as btrfs writes it, or null when btrfs
 * would store it uncompressed (the codec gave up, or the result does not save at least
 * one sector). level 0 means the codec's default; out-of-range levels are clamped as
 * btrfs clamps them.
 */
export function compress(codec: CompressionName, input: Uint8Array, level: number, sectorSize = 4096): Uint8Array | null {
  return compressView(codec, input, level, sectorSize)?.slice() ?? null;
}

/**
 * compress(), with the output possibly a view of a codec's memory, valid only until the next
 * call into that codec: for a caller that copies it at once (compress-chunk.ts). A fresh
 * buffer costs a page fault per 4 KiB in a browser, many times the copy.
 */
export function compressView(codec: CompressionName, input: Uint8Array, level: number, sectorSize = 4096): Uint8Array | null {
  const out = codecOutput(codec, input, level, sectorSize);
  return out !== null && compressionSavesSector(out.length, input.length, sectorSize) ? out : null;
}

/**
 * A regular compressed extent as read from disk (disk_num_bytes, padding included) to
 * exactly ramBytes bytes (btrfs_decompress_bio: a stream that ends early leaves zeros;
 * output past ramBytes is dropped). Corrupt data: FsError EIO, never more work than the
 * input bounds and never more memory than ramBytes plus a sector.
 */
export function decompress(codec: CompressionName, input: Uint8Array, ramBytes: number, sectorSize = 4096): Uint8Array {
  checkSectorSize(sectorSize);
  assert(Number.isInteger(ramBytes) && ramBytes >= 0 && ramBytes <= BTRFS_MAX_UNCOMPRESSED, `decompress: ram_bytes ${ramBytes}`);
  switch (codec) {
    case 'lzo': return lzoDecompressExtent(input, ramBytes, sectorSize);
    case 'zlib': return zlibDecompress(input, ramBytes);
    case 'zstd': return zstdDecompress(input, ramBytes);
    default: return unreachable(codec);
  }
}

/**
 * A compressed inline extent's data to exactly ramBytes (<= one sector) bytes
 * (btrfs_decompress). For lzo the single-segment rules of lzo_decompress apply (the
 * header must give the exact length, and a segment shorter than ramBytes is EIO); zlib
 * and zstd read as regular extents do.
 */
export function decompressInline(codec: CompressionName, input: Uint8Array, ramBytes: number, sectorSize = 4096): Uint8Array {
  checkSectorSize(sectorSize);
  assert(Number.isInteger(ramBytes) && ramBytes >= 0 && ramBytes <= sectorSize, `decompressInline: ram_bytes ${ramBytes}`);
  if (codec === 'lzo') return lzoDecompressInline(input, ramBytes, sectorSize);
  return decompress(codec, input, ramBytes, sectorSize);
}

// One chunk of a compressed write (btrfs compress_file_range, per 128 KiB of input): the
// heuristic, the codec, btrfs's "saves a sector" rule, the zero padding to a sector and the
// data checksums of the padded bytes. The one implementation both the engine thread and the
// compression workers (compress.worker.ts) run, so an extent is byte for byte the same
// whichever thread compressed it.
//
// Owns: that function, and the messages between the pool (compress-pool.ts) and its workers.
// Pure: no I/O; synchronous once loadCompressionKernels() and the checksum kernels resolved.

import { assert } from '../util/assert.js';
import { checksum, type CsumName } from './checksum.js';
import type { DeviceReadSource } from './device-sums.js';
import { BTRFS_MAX_COMPRESSED, BTRFS_MAX_UNCOMPRESSED, compress, heuristic, type CompressionName } from './compression.js';

/** What the chunk is compressed with: the same for every chunk of one write. */
export interface ChunkJob {
  readonly codec: CompressionName;
  /** The effective level (effectiveLevel: never 0). */
  readonly level: number;
  readonly sectorSize: number;
  /** Run btrfs_compress_heuristic first (false for compress-force and a defrag with a codec). */
  readonly heuristic: boolean;
  /** The filesystem's data checksum, over the padded compressed bytes. */
  readonly csum: CsumName;
}

/**
 * The chunk's fate: `plain` when the heuristic says not to try (written uncompressed, no
 * flag), `incompressible` when the codec gave up or saved no sector (compress_file_range's
 * mark_incompressible case), `compressed` with the on-disk bytes.
 */
export type ChunkResult =
  | { readonly kind: 'plain' }
  | { readonly kind: 'incompressible' }
  | {
    readonly kind: 'compressed';
    /** The extent as it goes to disk: the codec's output zero padded to a whole sector. */
    readonly disk: Uint8Array;
    /** The codec's output length, before padding. */
    readonly compressedBytes: number;
    /** The data checksums of `disk`, one per sector. */
    readonly sums: Uint8Array;
  };

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** One chunk (1 byte .. 128 KiB) through heuristic, codec, padding and checksums. */
export function compressChunk(job: ChunkJob, input: Uint8Array): ChunkResult {
  assert(input.length > 0 && input.length <= BTRFS_MAX_UNCOMPRESSED, () => `compressChunk: ${input.length} bytes`);
  if (job.heuristic && !heuristic(input)) return { kind: 'plain' };
  const z = compress(job.codec, input, job.level, job.sectorSize);
  if (z === null) return { kind: 'incompressible' };
  const diskBytes = alignUp(z.length, job.sectorSize);
  assert(diskBytes < input.length && diskBytes <= BTRFS_MAX_COMPRESSED, () => `compressed chunk of ${diskBytes} bytes for ${input.length}`);
  const disk = new Uint8Array(diskBytes);
  disk.set(z);
  return { kind: 'compressed', disk, compressedBytes: z.length, sums: checksum(job.csum, disk, job.sectorSize) };
}

// ---- the pool's messages. Buffers cross by transfer, never by copy: the input is the
// pool's own 128 KiB buffer (sent, then sent back for the next chunk), the results are
// buffers the worker made for them.

export type WorkerRequest = ChunkRequest | SumsRequest;

/** A chunk to compress (compressChunk). */
export interface ChunkRequest {
  readonly type: 'chunk';
  readonly id: number;
  readonly job: ChunkJob;
  /** A buffer of at least `length` bytes whose first `length` bytes are the chunk. */
  readonly input: ArrayBuffer;
  readonly length: number;
}

export type WireResult =
  | { readonly kind: 'plain' }
  | { readonly kind: 'incompressible' }
  | { readonly kind: 'compressed'; readonly disk: ArrayBuffer; readonly compressedBytes: number; readonly sums: ArrayBuffer };

export type WorkerReply =
  /** The checksum kernels are loaded (sums requests); `compression: false`: the codecs are not yet (compress-ready follows). */
  | { readonly type: 'ready'; readonly compression?: boolean }
  | { readonly type: 'compress-ready' }
  | { readonly type: 'load-failed'; readonly error: string }
  | { readonly type: 'done'; readonly id: number; readonly result: WireResult; readonly input: ArrayBuffer }
  | { readonly type: 'failed'; readonly id: number; readonly error: string; readonly input: ArrayBuffer }
  | { readonly type: 'sums-done'; readonly id: number; readonly sums: ArrayBuffer }
  | { readonly type: 'sums-failed'; readonly id: number; readonly error: string };

/** Device ranges to checksum, read by the worker through a handle of its own (device-sums.ts). */
export interface SumsRequest {
  readonly type: 'sums';
  readonly id: number;
  readonly source: DeviceReadSource;
  /** Offset, length pairs on the device, whole sectors. */
  readonly ranges: readonly number[];
  readonly csum: CsumName;
  readonly sectorSize: number;
}

/** An owned, whole ArrayBuffer of the view's bytes: the view itself when it is one, else a copy. */
function ownBuffer(view: Uint8Array): ArrayBuffer {
  if (view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.buffer instanceof ArrayBuffer) return view.buffer;
  return view.slice().buffer as ArrayBuffer;
}

/** A result as it crosses to the pool, with the buffers to transfer. */
export function toWire(result: ChunkResult): { wire: WireResult; transfer: ArrayBuffer[] } {
  if (result.kind !== 'compressed') return { wire: result, transfer: [] };
  const disk = ownBuffer(result.disk);
  const sums = ownBuffer(result.sums);
  return { wire: { kind: 'compressed', disk, compressedBytes: result.compressedBytes, sums }, transfer: [disk, sums] };
}

export function fromWire(wire: WireResult): ChunkResult {
  if (wire.kind !== 'compressed') return wire;
  return { kind: 'compressed', disk: new Uint8Array(wire.disk), compressedBytes: wire.compressedBytes, sums: new Uint8Array(wire.sums) };
}

/**
 * A worker port's failure, reported once to the handler the pool registers; later reasons, and
 * anything after terminate (close), are dropped. Shared by the browser and Node ports.
 */
export function failureLatch(): { fail(reason: string): void; onFailure(handler: (reason: string) => void): void; close(): void } {
  let handler: ((reason: string) => void) | undefined;
  let done = false;
  return {
    fail: (reason) => {
      if (done) return;
      done = true;
      handler?.(reason);
    },
    onFailure: (h) => { handler = h; },
    close: () => { done = true; },
  };
}

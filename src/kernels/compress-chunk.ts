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
import { BTRFS_MAX_COMPRESSED, BTRFS_MAX_UNCOMPRESSED, compressView, heuristic, type CompressionName } from './compression.js';

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
    /**
     * The extent as it goes to disk: the codec's output zero padded to a whole sector. Its
     * buffer is a chunk buffer (BTRFS_MAX_COMPRESSED bytes, takeChunkBuffer): give it back with
     * releaseChunkBuffer once the bytes are copied elsewhere.
     */
    readonly disk: Uint8Array;
    /** The codec's output length, before padding. */
    readonly compressedBytes: number;
    /** The data checksums of `disk`, one per sector. */
    readonly sums: Uint8Array;
  };

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

// Chunk buffers: the compressed extents' bytes, in buffers used again and again. In a browser a
// fresh ArrayBuffer's pages fault on first touch: 50-160 us for 64 KiB on this project's
// machine against ~1.3 us to copy into memory in use (docs/benchmarks.md, "Compressed writes",
// session 7), which was a third of a compressed write's time on the engine thread.
const MAX_SPARE_CHUNK_BUFFERS = 32;
const spareChunkBuffers: ArrayBuffer[] = [];

/** A buffer of BTRFS_MAX_COMPRESSED bytes for a chunk's disk bytes: a spare one if there is one. */
export function takeChunkBuffer(): ArrayBuffer {
  return spareChunkBuffers.pop() ?? new ArrayBuffer(BTRFS_MAX_COMPRESSED);
}

/** Gives a chunk buffer back for reuse: its bytes must be unused from now on. Buffers of other sizes are left to the GC. */
export function releaseChunkBuffer(buf: ArrayBufferLike): void {
  if (buf instanceof ArrayBuffer && buf.byteLength === BTRFS_MAX_COMPRESSED && spareChunkBuffers.length < MAX_SPARE_CHUNK_BUFFERS) spareChunkBuffers.push(buf);
}

/**
 * One chunk (1 byte .. 128 KiB) through heuristic, codec, padding and checksums. `output`: a
 * chunk buffer for the disk bytes (else one is taken).
 */
export function compressChunk(job: ChunkJob, input: Uint8Array, output?: ArrayBuffer): ChunkResult {
  assert(input.length > 0 && input.length <= BTRFS_MAX_UNCOMPRESSED, () => `compressChunk: ${input.length} bytes`);
  if (job.heuristic && !heuristic(input)) return { kind: 'plain' };
  // A view of the codec's memory: copied into the chunk buffer before any other codec call.
  const z = compressView(job.codec, input, job.level, job.sectorSize);
  if (z === null) return { kind: 'incompressible' };
  const diskBytes = alignUp(z.length, job.sectorSize);
  assert(diskBytes < input.length && diskBytes <= BTRFS_MAX_COMPRESSED, () => `compressed chunk of ${diskBytes} bytes for ${input.length}`);
  const buf = output !== undefined && output.byteLength === BTRFS_MAX_COMPRESSED ? output : takeChunkBuffer();
  const disk = new Uint8Array(buf, 0, diskBytes);
  disk.set(z);
  // A reused buffer holds an earlier chunk's bytes: the padding is zeroed here.
  disk.fill(0, z.length);
  return { kind: 'compressed', disk, compressedBytes: z.length, sums: checksum(job.csum, disk, job.sectorSize) };
}

// ---- the pool's messages. Buffers cross by transfer, never by copy: the input is the
// pool's own 128 KiB buffer (sent, then sent back for the next chunk), the results are
// buffers the worker made for them.

export type WorkerRequest = ChunkRequest | SumsRequest | FlushRequest;

/** A chunk to compress (compressChunk). */
export interface ChunkRequest {
  readonly type: 'chunk';
  readonly id: number;
  readonly job: ChunkJob;
  /** A buffer of at least `length` bytes whose first `length` bytes are the chunk. */
  readonly input: ArrayBuffer;
  readonly length: number;
  /** A chunk buffer for the result's disk bytes (the pool's spare), if the pool has one. */
  readonly output?: ArrayBuffer;
}

export type WireResult =
  | { readonly kind: 'plain' }
  | { readonly kind: 'incompressible' }
  | { readonly kind: 'compressed'; readonly disk: ArrayBuffer; readonly diskBytes: number; readonly compressedBytes: number; readonly sums: ArrayBuffer };

/** The Worker name (browser) of a checksum-only pool worker, which loads no codecs (compress.worker.ts). */
export const SUMS_WORKER_NAME = 'butterfs-sums';

export type WorkerReply =
  /** The checksum kernels are loaded (sums requests); `compression: false`: the codecs are not yet (compress-ready follows). */
  | { readonly type: 'ready'; readonly compression?: boolean }
  | { readonly type: 'compress-ready' }
  | { readonly type: 'load-failed'; readonly error: string }
  /** `output`: the request's output buffer when the result did not use it, back to the pool. */
  | { readonly type: 'done'; readonly id: number; readonly result: WireResult; readonly input: ArrayBuffer; readonly output?: ArrayBuffer }
  | { readonly type: 'failed'; readonly id: number; readonly error: string; readonly input: ArrayBuffer }
  | { readonly type: 'sums-done'; readonly id: number; readonly sums: ArrayBuffer }
  | { readonly type: 'sums-failed'; readonly id: number; readonly error: string }
  | { readonly type: 'flush-done'; readonly id: number }
  | { readonly type: 'flush-failed'; readonly id: number; readonly error: string };

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

/** A device to flush through a handle of the worker's own (early writeback: device-sums.ts flushDevice). */
export interface FlushRequest {
  readonly type: 'flush';
  readonly id: number;
  readonly source: DeviceReadSource;
}

/** An owned, whole ArrayBuffer of the view's bytes: the view itself when it is one, else a copy. */
function ownBuffer(view: Uint8Array): ArrayBuffer {
  if (view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.buffer instanceof ArrayBuffer) return view.buffer;
  return view.slice().buffer as ArrayBuffer;
}

/** An error as a worker reports it. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/**
 * A worker's answer to a chunk request, with the buffers to transfer: compressChunk's result,
 * the input buffer back, and the output buffer back when the result did not use it; or
 * `failed` (the pool then runs the chunk again on its own thread, where the same error
 * surfaces to the writer).
 */
export function answerChunk(request: ChunkRequest): { reply: WorkerReply; transfer: ArrayBuffer[] } {
  try {
    const { wire, transfer } = toWire(compressChunk(request.job, new Uint8Array(request.input, 0, request.length), request.output));
    const output = request.output !== undefined && !transfer.includes(request.output) ? request.output : undefined;
    return {
      reply: { type: 'done', id: request.id, result: wire, input: request.input, output },
      transfer: [...transfer, request.input, ...(output ? [output] : [])],
    };
  } catch (e) {
    return { reply: { type: 'failed', id: request.id, error: errorMessage(e), input: request.input }, transfer: [request.input] };
  }
}

/** A result as it crosses to the pool, with the buffers to transfer. */
export function toWire(result: ChunkResult): { wire: WireResult; transfer: ArrayBuffer[] } {
  if (result.kind !== 'compressed') return { wire: result, transfer: [] };
  // The disk bytes go in their whole chunk buffer (no copy); the pool uses it again.
  const disk = result.disk.buffer as ArrayBuffer;
  const sums = ownBuffer(result.sums);
  return { wire: { kind: 'compressed', disk, diskBytes: result.disk.length, compressedBytes: result.compressedBytes, sums }, transfer: [disk, sums] };
}

export function fromWire(wire: WireResult): ChunkResult {
  if (wire.kind !== 'compressed') return wire;
  return { kind: 'compressed', disk: new Uint8Array(wire.disk, 0, wire.diskBytes), compressedBytes: wire.compressedBytes, sums: new Uint8Array(wire.sums) };
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

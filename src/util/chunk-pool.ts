// Memory chunks kept for reuse by everything in this thread (every filesystem mounted here).
// Fresh memory costs a page fault per 4 KiB the first time it is touched: in Chromium on the
// VMs we measure on, ~10 µs a page, far more than the copy into it (docs/benchmarks.md,
// "Compressed writes", session 7, and "Files", session 12). A buffer that is filled and dropped
// again and again (the writeback's arena between two flushes, the dirty sectors of small
// overwrites between two settles) takes its memory from here and gives it back, so only the
// first fill of a chunk pays the faults, whichever filesystem of this thread made it.
//
// Chunks given back must not be referenced any more: the next taker overwrites them.

/** Bytes of one chunk. */
export const POOL_CHUNK_BYTES = 4 * 1024 * 1024;
/** Free chunks kept at most (16 MiB); more are left to the garbage collector. */
const POOL_KEEP_CHUNKS = 4;

const free: Uint8Array[] = [];

/** A chunk of POOL_CHUNK_BYTES, reused when one is free (its bytes are whatever its last user left). */
export function takeChunk(): Uint8Array {
  return free.pop() ?? new Uint8Array(POOL_CHUNK_BYTES);
}

/** Gives chunks back (taken with takeChunk, referenced by nothing any more). */
export function giveChunks(chunks: readonly Uint8Array[]): void {
  for (const c of chunks) {
    if (free.length >= POOL_KEEP_CHUNKS) return;
    if (c.length === POOL_CHUNK_BYTES && c.byteOffset === 0 && c.buffer.byteLength === POOL_CHUNK_BYTES) free.push(c);
  }
}

/** Free chunks held now (tests). */
export function freeChunkCount(): number {
  return free.length;
}

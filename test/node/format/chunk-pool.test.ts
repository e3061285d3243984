// The thread's pool of memory chunks (src/util/chunk-pool.ts): a chunk given back is the next
// one taken (its memory already touched), only whole pool chunks are kept, and at most 16 MiB.
import { describe, expect, it } from 'vitest';
import { POOL_CHUNK_BYTES, freeChunkCount, giveChunks, takeChunk } from '../../../src/util/chunk-pool.js';

describe('chunk pool', () => {
  it('hands back what it was given, keeps only its own chunks, and at most four', () => {
    // Empty it first (other tests in this thread may have left chunks).
    const drained: Uint8Array[] = [];
    while (freeChunkCount() > 0) drained.push(takeChunk());
    const a = takeChunk();
    expect(a.length).toBe(POOL_CHUNK_BYTES);
    a[5] = 42;
    giveChunks([a]);
    expect(freeChunkCount()).toBe(1);
    const again = takeChunk();
    expect(again).toBe(a);
    expect(again[5]).toBe(42);
    // A view of part of a chunk, or a buffer of another size, is not kept.
    giveChunks([again.subarray(0, 1024), new Uint8Array(POOL_CHUNK_BYTES / 2), new Uint8Array(new ArrayBuffer(POOL_CHUNK_BYTES * 2), 0, POOL_CHUNK_BYTES)]);
    expect(freeChunkCount()).toBe(0);
    const many = Array.from({ length: 6 }, () => takeChunk());
    giveChunks(many);
    expect(freeChunkCount()).toBe(4);
    expect(takeChunk()).toBe(many[3]);
  });
});

// The compression workers in Chromium (src/kernels/compress-pool.ts): started from the page and,
// as the engine does, from inside a dedicated worker (nested workers), through Vite's
// `new Worker(new URL(...))`; their chunks are byte for byte the engine thread's; a FileHandle's
// compressed writes go behind (return while their last chunks compress) and read back exact.
import { describe, expect, it } from 'vitest';
import { compressChunk, type ChunkJob } from '../../../src/kernels/compress-chunk.js';
import { CompressPool } from '../../../src/kernels/compress-pool.js';
import { loadCompressionKernels } from '../../../src/kernels/compression.js';
import { loadKernels } from '../../../src/kernels/checksum.js';
import { EXTENT_BYTES, KINDS, bytesEqual } from '../../node/kernels/compress-corpus.js';
import type { PoolWorkerAnswer } from './compress-pool.worker.js';

describe('compression pool in Chromium', () => {
  it('starts workers from the page and they compress as the page does', async () => {
    await Promise.all([loadCompressionKernels(), loadKernels()]);
    const pool = new CompressPool({ workers: 2 });
    try {
      await pool.start();
      expect(pool.disabledReason).toBeUndefined();
      expect(pool.status().ready).toBe(2);
      const job: ChunkJob = { codec: 'zstd', level: 3, sectorSize: 4096, heuristic: true, csum: 'crc32c' };
      const inputs = ['text', 'json', 'random', 'zeros'].map((k) => KINDS[k]!(EXTENT_BYTES));
      const s = pool.stream(job, inputs);
      for (const input of inputs) {
        const got = await s.next();
        const want = compressChunk(job, input);
        expect(got.kind).toBe(want.kind);
        if (got.kind === 'compressed' && want.kind === 'compressed') {
          expect(bytesEqual(got.disk, want.disk)).toBe(true);
          expect(bytesEqual(got.sums, want.sums)).toBe(true);
        }
      }
      s.close();
      expect(pool.status().chunksInWorkers).toBeGreaterThan(0);
    } finally {
      await pool.terminate();
    }
  });

  it('starts nested workers from the engine\'s dedicated worker; a mount there writes through them', async () => {
    const worker = new Worker(new URL('./compress-pool.worker.ts', import.meta.url), { type: 'module' });
    try {
      const answer = await new Promise<PoolWorkerAnswer>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('worker did not answer in 50 s')), 50_000);
        worker.onmessage = (e: MessageEvent<PoolWorkerAnswer>) => { clearTimeout(timer); resolve(e.data); };
        worker.onerror = (e) => { clearTimeout(timer); reject(new Error(e.message)); };
        worker.postMessage('go');
      });
      expect(answer.error).toBeUndefined();
      console.log(`nested compression workers ready after ${answer.startMs.toFixed(0)} ms`);
      expect(answer.ready).toBe(2);
      expect(answer.mismatches).toEqual([]);
      expect(answer.chunksInWorkers).toBeGreaterThan(0);
      expect(answer.write).toMatchObject({ readBack: true, disabledReason: undefined });
      expect(answer.write.chunksInWorkers).toBeGreaterThan(0);
      expect(answer.behind).toMatchObject({ pendingAfterWrite: true, readBack: true, remountReadBack: true });
      expect(answer.behind.tails).toBeGreaterThan(0);
    } finally {
      worker.terminate();
    }
  }, 60_000);
});

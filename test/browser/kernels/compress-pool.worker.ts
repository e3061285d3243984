// The compression pool inside a dedicated module worker, where the engine runs in a browser: its
// workers are nested dedicated workers. Answers one request with what it saw.
import { compressChunk, type ChunkJob } from '../../../src/kernels/compress-chunk.js';
import { CompressPool } from '../../../src/kernels/compress-pool.js';
import { loadCompressionKernels, type CompressionName } from '../../../src/kernels/compression.js';
import { loadKernels } from '../../../src/kernels/checksum.js';
import { MemoryDevice, mkfs, mount } from '../../../src/index.js';
import { EXTENT_BYTES, KINDS, bytesEqual } from '../../node/kernels/compress-corpus.js';

export interface PoolWorkerAnswer {
  startMs: number;
  ready: number;
  mismatches: string[];
  chunksInWorkers: number;
  write: { chunksInWorkers: number; readBack: boolean; disabledReason: string | undefined };
  error?: string;
}

self.onmessage = async () => {
  try {
    await Promise.all([loadCompressionKernels(), loadKernels()]);
    const pool = new CompressPool({ workers: 2 });
    const t0 = performance.now();
    await pool.start();
    const startMs = performance.now() - t0;
    const inputs = ['text', 'json', 'source', 'zeros', 'random', 'compressed'].map((k) => KINDS[k]!(EXTENT_BYTES));
    inputs.push(KINDS.text!(5000));
    const mismatches: string[] = [];
    for (const [codec, level] of [['zstd', 1], ['zstd', 15], ['lzo', 1], ['zlib', 1], ['zlib', 9]] as [CompressionName, number][]) {
      const job: ChunkJob = { codec, level, sectorSize: 4096, heuristic: true, csum: 'crc32c' };
      const s = pool.stream(job, inputs);
      for (const [i, input] of inputs.entries()) {
        const got = await s.next();
        const want = compressChunk(job, input);
        const same = got.kind === want.kind && (got.kind !== 'compressed' || want.kind !== 'compressed'
          || (bytesEqual(got.disk, want.disk) && bytesEqual(got.sums, want.sums)));
        if (!same) mismatches.push(`${codec}:${level} chunk ${i}`);
      }
      s.close();
    }
    const status = pool.status();
    await pool.terminate();

    // A mount's own pool, started by its first compressed write.
    const dev = new MemoryDevice(128 * 1024 * 1024);
    await mkfs([dev]);
    const fs = await mount([dev], 'compress=zstd:1');
    const text = KINDS.text!(4 * 1024 * 1024);
    await fs.promises.writeFile('/warm', text.subarray(0, 1024 * 1024));
    await fs.info.compressPool!.start();
    await fs.promises.writeFile('/t', text);
    const ws = fs.info.compressPool!.status();
    const back = await fs.promises.readFile('/t');
    await fs.unmount();
    const answer: PoolWorkerAnswer = {
      startMs, ready: status.ready, mismatches, chunksInWorkers: status.chunksInWorkers,
      write: { chunksInWorkers: ws.chunksInWorkers, readBack: bytesEqual(new Uint8Array(back), text), disabledReason: ws.disabledReason },
    };
    postMessage(answer);
  } catch (e) {
    postMessage({ error: e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e) });
  }
};

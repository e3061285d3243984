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
  /** FileHandle writes, which may return while their last chunks compress (write-behind). */
  behind: { tails: number; pendingAfterWrite: boolean; readBack: boolean; remountReadBack: boolean };
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
    // Write-behind: 1 MiB writes through a FileHandle; the read right after the last write
    // settles its tail first.
    const fh = await fs.promises.open('/h', 'w');
    let pendingAfterWrite = false;
    for (let off = 0; off < text.length; off += 1024 * 1024) {
      await fh.write(text, off, 1024 * 1024, off);
      pendingAfterWrite ||= fs.info.writeTail !== undefined;
    }
    const hBack = await fs.promises.readFile('/h');
    await fh.close();
    const tails = fs.info.stats.writeTails;
    await fs.unmount();
    const again = await mount([dev]);
    const hAgain = await again.promises.readFile('/h');
    await again.unmount();
    const answer: PoolWorkerAnswer = {
      startMs, ready: status.ready, mismatches, chunksInWorkers: status.chunksInWorkers,
      write: { chunksInWorkers: ws.chunksInWorkers, readBack: bytesEqual(new Uint8Array(back), text), disabledReason: ws.disabledReason },
      behind: { tails, pendingAfterWrite, readBack: bytesEqual(new Uint8Array(hBack), text), remountReadBack: bytesEqual(new Uint8Array(hAgain), text) },
    };
    postMessage(answer);
  } catch (e) {
    postMessage({ error: e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e) });
  }
};

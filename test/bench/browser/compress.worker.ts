// Timed compressed-write workloads for test/bench/browser/compress.bench.ts, in a dedicated worker
// (OPFS sync access handles): the engine in-process on OpfsDevice, mounted with each compress=
// option in turn, writing the same text; and the parts of the write path alone (the codec per
// 128 KiB chunk, the heuristic, the data checksums) on the same bytes, to say where time goes.
import * as Comlink from 'comlink';
import { OpfsDevice } from '../../../src/device/index.js';
import { mkfs, mount } from '../../../src/api/filesystem.js';
import { compress, heuristic, loadCompressionKernels, type CompressionName } from '../../../src/kernels/compression.js';
import { checksum } from '../../../src/kernels/checksum.js';
import { CompressPool, hardwareThreads, setDefaultCompressWorkers } from '../../../src/kernels/compress-pool.js';
import { textCorpus } from './compress-corpus.js';

const MiB = 1024 * 1024;
const CHUNK = 128 * 1024;
const DEVICE_BYTES = 1024 * MiB;
const OPEN_TIMEOUT_MS = 5000;
let seq = 0;



export interface WriteFigures {
  MBps: number;
  writeMs: number;
  commitMs: number;
  readMBps: number;
  diskBytes: number;
  uncompressedBytes: number;
  /** Chunks compressed on the pool's workers / on the engine thread (stolen, or no workers). */
  chunksInWorkers: number;
  chunksInThread: number;
}

const api = {
  ping: () => true,
  threads: () => hardwareThreads(),

  /**
   * One filesystem mounted with `options`: `totalBytes` of text written sequentially in
   * `writeBytes` writes, committed (MB/s over both); then read back after a remount (cold).
   * `workers`: compression workers of the mount (undefined: one per CPU, the default).
   */
  async sequential(prefix: string, options: string, totalBytes: number, writeBytes: number, seed: number, workers?: number): Promise<WriteFigures> {
    setDefaultCompressWorkers(workers);
    const corpus = textCorpus(16 * MiB, seed);
    const name = `${prefix}/c${seq++}`;
    const dev = await OpfsDevice.open(name, { sizeBytes: DEVICE_BYTES, openTimeoutMs: OPEN_TIMEOUT_MS });
    try {
      await mkfs([dev]);
      let fs = await mount([dev], options);
      // A mounted filesystem's steady state, for every mode alike: one large write and commit,
      // which starts the pool's workers (at mount for compress=, at the first large write
      // otherwise: they make a commit's data checksums), and the workers ready.
      await fs.promises.writeFile('/warm-up', corpus.subarray(0, MiB));
      await fs.sync();
      await fs.info.compressPool?.start();
      const t0 = performance.now();
      const fh = await fs.promises.open('/text.json', 'w');
      for (let off = 0; off < totalBytes; off += writeBytes) {
        const at = off % corpus.length;
        await fh.write(corpus, at, Math.min(writeBytes, corpus.length - at), off);
      }
      await fh.close();
      const t1 = performance.now();
      await fs.sync();
      const t2 = performance.now();
      const cs = await fs.filesystem.compsize('/text.json');
      const pool = fs.info.compressPool?.status();
      if (pool?.disabledReason !== undefined) throw new Error(`compression pool off: ${pool.disabledReason}`);
      await fs.unmount();
      fs = await mount([dev], options);
      const r0 = performance.now();
      const rh = await fs.promises.open('/text.json', 'r');
      const buf = new Uint8Array(writeBytes);
      let got = 0;
      for (;;) {
        const { bytesRead } = await rh.read(buf, 0, writeBytes, null);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      await rh.close();
      const r1 = performance.now();
      if (got !== totalBytes) throw new Error(`read ${got} of ${totalBytes}`);
      await fs.unmount();
      return {
        MBps: totalBytes / 1e3 / (t2 - t0), writeMs: t1 - t0, commitMs: t2 - t1, readMBps: totalBytes / 1e3 / (r1 - r0),
        diskBytes: cs.total.diskBytes, uncompressedBytes: cs.total.uncompressedBytes,
        chunksInWorkers: pool?.chunksInWorkers ?? 0, chunksInThread: pool?.chunksInThread ?? 0,
      };
    } finally {
      await dev.close();
      await OpfsDevice.remove(name);
    }
  },

  /** The write path's CPU parts alone over `totalBytes` of the same text, per 128 KiB chunk: MB/s each. */
  async parts(codecs: [CompressionName, number][], totalBytes: number, seed: number) {
    await loadCompressionKernels();
    const corpus = textCorpus(16 * MiB, seed);
    const chunks = (fn: (c: Uint8Array) => void) => {
      const t0 = performance.now();
      for (let off = 0; off < totalBytes; off += CHUNK) {
        const at = off % corpus.length;
        fn(corpus.subarray(at, at + CHUNK));
      }
      return totalBytes / 1e3 / (performance.now() - t0);
    };
    const out: Record<string, number> = {};
    out.heuristic = chunks((c) => void heuristic(c));
    out.crc32c = chunks((c) => void checksum('crc32c', c, 4096));
    for (const [codec, level] of codecs) {
      let z = 0;
      out[`${codec}:${level}`] = chunks((c) => void (z += compress(codec, c, level, 4096)?.length ?? CHUNK));
      out[`${codec}:${level} ratio`] = totalBytes / z;
    }
    return out;
  },

  /**
   * The compression pool alone (no filesystem): `totalBytes` of the text in 1 MiB writes' worth
   * of 128 KiB chunks through a stream, per pool size, alternating; MB/s of input each.
   */
  async pool(codec: CompressionName, level: number, sizes: number[], totalBytes: number, rounds: number) {
    await loadCompressionKernels();
    const corpus = textCorpus(16 * MiB, 1);
    const pools = sizes.map((workers) => new CompressPool({ workers }));
    await Promise.all(pools.map((p) => p.start()));
    const out: Record<string, number[]> = {};
    for (let round = 0; round < rounds; round++) {
      for (const [i, p] of pools.entries()) {
        const job = { codec, level, sectorSize: 4096, heuristic: true, csum: 'crc32c' as const };
        const t0 = performance.now();
        for (let off = 0; off < totalBytes; off += MiB) {
          const at = off % corpus.length;
          const chunks: Uint8Array[] = [];
          for (let c = 0; c < MiB; c += CHUNK) chunks.push(corpus.subarray(at + c, at + c + CHUNK));
          const s = p.stream(job, chunks);
          for (let c = 0; c < chunks.length; c++) await s.next();
          s.close();
        }
        (out[`${codec}:${level}, ${sizes[i]} workers`] ??= []).push(totalBytes / 1e3 / (performance.now() - t0));
      }
    }
    await Promise.all(pools.map((p) => p.terminate()));
    return out;
  },

  async cleanup(prefix: string): Promise<void> {
    await (await navigator.storage.getDirectory()).removeEntry(prefix, { recursive: true }).catch((e: unknown) => {
      if (!(e instanceof DOMException && e.name === 'NotFoundError')) throw e;
    });
  },
};

export type CompressBenchWorkerApi = typeof api;
Comlink.expose(api);

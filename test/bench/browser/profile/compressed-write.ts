// A workload for scripts/profile-in-chromium.mjs: the compress bench's text written in 1 MiB
// writes to a fresh filesystem on OPFS with a compress= mount option, then committed.
// Args: { mode = 'compress=lzo', workers (compression workers; default one per CPU but one), mb = 256,
// early (MiB of data between early flushes, 0 for none: setEarlyFlushBytes) }.
// Returns MB/s, the write and commit times, the writes that went behind (write tails) and where the chunks were compressed.
import { OpfsDevice } from '../../../../src/device/index.js';
import { mkfs, mount } from '../../../../src/api/filesystem.js';
import { setDefaultCompressWorkers } from '../../../../src/kernels/compress-pool.js';
import { setEarlyFlushBytes } from '../../../../src/fs/writeback.js';
import { textCorpus } from '../compress-corpus.js';

const MiB = 1024 * 1024;
/** Made in the warm-up run, so that the profiled one is the write alone. */
let text: Uint8Array | undefined;

export async function run(args: { mode?: string; workers?: number; mb?: number; early?: number }): Promise<{ MBps: number; [k: string]: number }> {
  setDefaultCompressWorkers(args.workers);
  setEarlyFlushBytes(args.early === undefined ? undefined : args.early * MiB);
  const total = (args.mb ?? 256) * MiB;
  text ??= textCorpus(16 * MiB, 1);
  const name = `profile-compressed-write-${Date.now()}`;
  const dev = await OpfsDevice.open(name, { sizeBytes: 1024 * MiB, openTimeoutMs: 5000 });
  try {
    await mkfs([dev]);
    const fs = await mount([dev], args.mode ?? 'compress=lzo');
    await fs.promises.writeFile('/warm-up', text.subarray(0, MiB));
    await fs.sync();
    await fs.info.compressPool?.start();
    const t0 = performance.now();
    const fh = await fs.promises.open('/text', 'w');
    for (let off = 0; off < total; off += MiB) await fh.write(text, off % (16 * MiB), MiB, off);
    await fh.close();
    const t1 = performance.now();
    await fs.sync();
    const t2 = performance.now();
    const MBps = total / 1e3 / (t2 - t0);
    const tails = fs.info.stats.writeTails;
    const pool = fs.info.compressPool?.status();
    await fs.unmount();
    return { MBps: Math.round(MBps), writeMs: Math.round(t1 - t0), commitMs: Math.round(t2 - t1), tails, inWorkers: pool?.chunksInWorkers ?? 0, inThread: pool?.chunksInThread ?? 0, earlyFlushes: fs.info.writeback.earlyFlushes };
  } finally {
    await dev.close();
    await OpfsDevice.remove(name);
  }
}

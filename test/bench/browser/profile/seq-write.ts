// A workload for scripts/profile-in-chromium.mjs: the files bench's sequential write (256 MiB in
// 1 MiB writes through one handle, then the commit) on OPFS, with the commit's device flushes
// timed, and a raw OPFS write of the same bytes (write + flush) after it for comparison.
// Args: { mb = 256, rawFirst (a raw write before the engine's too), sparse (and one into a
// sparse 1 GiB file at 128 MiB, as the engine writes its device), workers (compression workers),
// early (MiB of data between early flushes, 0 for none: setEarlyFlushBytes) }.
import { OpfsDevice } from '../../../../src/device/index.js';
import { mkfs, mount } from '../../../../src/api/filesystem.js';
import { sequentialWrite, type Target } from '../files-workloads.js';
import { setDefaultCompressWorkers } from '../../../../src/kernels/compress-pool.js';
import { setEarlyFlushBytes } from '../../../../src/fs/writeback.js';

const MiB = 1024 * 1024;

export async function run(args: { mb?: number; rawFirst?: boolean; workers?: number; sparse?: boolean; early?: number }): Promise<Record<string, unknown>> {
  setDefaultCompressWorkers(args.workers);
  setEarlyFlushBytes(args.early === undefined ? undefined : args.early * MiB);
  const bytes = (args.mb ?? 256) * MiB;
  const name = `profile-seq-${Date.now()}`;
  const rawBefore = args.rawFirst ? await raw(name + '-first', bytes) : undefined;
  const dev = await OpfsDevice.open(name, { sizeBytes: 1024 * MiB, openTimeoutMs: 5000 });
  const flushes: number[] = [];
  // Time in the device's writes (the rest of the write phase is the engine's own).
  const writes = { n: 0, ms: 0 };
  const write = dev.write.bind(dev);
  dev.write = async (offset: number, data: Uint8Array) => {
    const t = performance.now();
    await write(offset, data);
    writes.ms += performance.now() - t;
    writes.n++;
  };
  const flush = dev.flush.bind(dev);
  dev.flush = async () => {
    const t = performance.now();
    await flush();
    flushes.push(Math.round(performance.now() - t));
  };
  let engine: Record<string, unknown>;
  try {
    await mkfs([dev]);
    const fs = await mount([dev]);
    const t: Target = { promises: fs.promises as unknown as Target['promises'], sync: () => fs.sync() };
    // As the bench: a large write and commit first, which starts the pool's worker.
    await fs.promises.writeFile('/warm-up', new Uint8Array(MiB));
    await fs.sync();
    await fs.info.compressPool?.start();
    flushes.length = 0;
    writes.n = 0;
    writes.ms = 0;
    const w = await sequentialWrite(t, '/big', bytes, MiB);
    engine = { sumsJobs: fs.info.compressPool?.status().sumsJobsDone, early: fs.info.writeback.earlyFlushes, deviceWrites: writes.n, deviceWriteMs: Math.round(writes.ms), MBps: Math.round(w.MBps), writeMs: Math.round(w.writeMs), commitMs: Math.round(w.commitMs), flushes: [...flushes] };
    await fs.unmount();
  } finally {
    await dev.close();
    await OpfsDevice.remove(name);
  }
  return { engine, raw: await raw(name, bytes), rawBefore, rawSparse: args.sparse ? await raw(`${name}-sparse`, bytes, 1024 * MiB, 128 * MiB) : undefined };
}

/** Raw OPFS: the same writes into a file of its own, then one flush. */
async function raw(name: string, bytes: number, truncateTo = 0, at = 0): Promise<Record<string, number>> {
  const root = await navigator.storage.getDirectory();
  const fh = await root.getFileHandle(`${name}-raw`, { create: true });
  const h = await (fh as unknown as { createSyncAccessHandle(): Promise<{ write(b: Uint8Array, o: { at: number }): number; truncate(n: number): void; flush(): void; close(): void }> }).createSyncAccessHandle();
  // `truncateTo`: the file made that long first (sparse, as a device), and written from `at`.
  if (truncateTo > 0) {
    h.truncate(truncateTo);
    h.flush();
  }
  const chunk = new Uint8Array(MiB).map((_, i) => (i * 7) & 0xff);
  const t0 = performance.now();
  for (let off = 0; off < bytes; off += MiB) {
    chunk[0] = off / MiB;
    h.write(chunk, { at: at + off });
  }
  const t1 = performance.now();
  h.flush();
  const t2 = performance.now();
  h.close();
  await root.removeEntry(`${name}-raw`);
  return { MBps: Math.round(bytes / 1e3 / (t2 - t0)), writeMs: Math.round(t1 - t0), flushMs: Math.round(t2 - t1) };
}

// A workload for scripts/profile-in-chromium.mjs: the files bench's cold small-file pass (stat,
// then readdir, then read, after a remount) on a bigger tree, so that each pass is long enough
// to profile. The tree is made in the warm-up run and kept; the profiled run is the cold passes.
// Reports the device reads each readdir pass made (count, KiB, ms). The tree's device stays in
// the profiler's OPFS under one name (made again by the next profiler run).
// Args: { dirs = 1000, perDir = 100, stat = true }.
import { OpfsDevice } from '../../../../src/device/index.js';
import { mkfs, mount, type Filesystem } from '../../../../src/api/filesystem.js';
import { contentOf, pathOf, shuffled } from '../files-workloads.js';

const MiB = 1024 * 1024;
const DEVICE = 'profile-small-files';
let made: { dev: OpfsDevice; key: string } | undefined;

export async function run(args: { dirs?: number; perDir?: number; stat?: boolean }): Promise<Record<string, number>> {
  const dirs = args.dirs ?? 1000;
  const perDir = args.perDir ?? 100;
  const shape = { files: dirs * perDir, perDir };
  const key = `${dirs}x${perDir}`;
  if (made?.key !== key) {
    if (made) await made.dev.close();
    await OpfsDevice.remove(DEVICE).catch(() => undefined);
    const dev = await OpfsDevice.open(DEVICE, { sizeBytes: 4096 * MiB, openTimeoutMs: 5000 });
    await mkfs([dev]);
    const fs = await mount([dev]);
    for (let d = 0; d < dirs; d++) await fs.promises.mkdir(`/d${d}`);
    for (let i = 0; i < shape.files; i++) await fs.promises.writeFile(pathOf(i, shape), contentOf(i % 5000));
    await fs.unmount();
    made = { dev, key };
  }
  const t0 = performance.now();
  const fs: Filesystem = await mount([made.dev]);
  const out: Record<string, number> = { mountMs: performance.now() - t0 };
  const p = fs.promises;
  if (args.stat ?? true) {
    const order = shuffled(Array.from({ length: shape.files }, (_, i) => i), 12);
    const s0 = performance.now();
    for (const i of order) await p.stat(pathOf(i, shape));
    out.statsPerSec = (shape.files * 1000) / (performance.now() - s0);
  }
  // Both ways a device is read: read (tree blocks: volumes.readLogical) and readInto (file data).
  const dev = made.dev as unknown as { read(o: number, n: number): Promise<Uint8Array>; readInto(o: number, b: Uint8Array): Promise<void> };
  const realRead = dev.read;
  const realReadInto = dev.readInto;
  let reads = 0;
  let readBytes = 0;
  let readMs = 0;
  const counted = <T>(bytes: number, io: () => Promise<T>): Promise<T> => {
    reads++;
    readBytes += bytes;
    const t = performance.now();
    const r = io();
    readMs += performance.now() - t;
    return r;
  };
  dev.read = (o, n) => counted(n, () => realRead.call(dev, o, n));
  dev.readInto = (o, b) => counted(b.length, () => realReadInto.call(dev, o, b));
  const dirOrder = shuffled(Array.from({ length: dirs }, (_, d) => d), 13);
  try {
    for (const pass of ['cold', 'warm']) {
      const s0 = performance.now();
      for (const d of dirOrder) {
        const names = await p.readdir(`/d${d}`);
        if (names.length !== perDir) throw new Error(`readdir /d${d}: ${names.length}`);
      }
      out[`readdir_${pass}`] = (dirs * 1000) / (performance.now() - s0);
      out[`reads_${pass}`] = reads;
      out[`readKiB_${pass}`] = readBytes / 1024;
      out[`readMs_${pass}`] = readMs;
      reads = 0;
      readMs = 0;
      readBytes = 0;
    }
  } finally {
    delete (dev as { read?: unknown }).read;
    delete (dev as { readInto?: unknown }).readInto;
  }
  await fs.unmount();
  for (const k of Object.keys(out)) out[k] = Math.round(out[k]!);
  return out;
}

// A workload for scripts/profile-in-chromium.mjs: the files bench's random 4 KiB row (75% reads,
// 25% overwrites in a 64 MiB file written and committed first, then the commit), on OPFS.
// Args: { ops = 20000, mb = 64, reads = 0.75 (the share of reads) }.
import { OpfsDevice } from '../../../../src/device/index.js';
import { mkfs, mount } from '../../../../src/api/filesystem.js';
import { rng, sequentialWrite, type Target } from '../files-workloads.js';

const MiB = 1024 * 1024;

export async function run(args: { ops?: number; mb?: number; reads?: number }): Promise<Record<string, number>> {
  const name = `profile-random-${Date.now()}`;
  const dev = await OpfsDevice.open(name, { sizeBytes: 1024 * MiB, openTimeoutMs: 5000 });
  try {
    await mkfs([dev]);
    const fs = await mount([dev]);
    const t: Target = { promises: fs.promises as unknown as Target['promises'], sync: () => fs.sync() };
    const bytes = (args.mb ?? 64) * MiB;
    await sequentialWrite(t, '/rand', bytes, MiB);
    const ops = args.ops ?? 20000;
    const readShare = args.reads ?? 0.75;
    const r = rng(5);
    const buf = new Uint8Array(4096);
    const blocks = bytes / 4096;
    const t0 = performance.now();
    const fh = await fs.promises.open('/rand', 'r+');
    for (let k = 0; k < ops; k++) {
      const at = Math.floor(r() * blocks) * 4096;
      if (r() < readShare) {
        await fh.read(buf, 0, 4096, at);
      } else {
        buf[0] = k & 0xff;
        await fh.write(buf, 0, 4096, at);
      }
    }
    await fh.close();
    const t1 = performance.now();
    await fs.sync();
    const t2 = performance.now();
    await fs.unmount();
    return { opsPerSec: Math.round((ops * 1000) / (t2 - t0)), opsMs: Math.round(t1 - t0), commitMs: Math.round(t2 - t1) };
  } finally {
    await dev.close();
    await OpfsDevice.remove(name);
  }
}

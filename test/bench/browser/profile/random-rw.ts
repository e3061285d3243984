// A workload for scripts/profile-in-chromium.mjs: the files bench's random 4 KiB row (75% reads,
// 25% overwrites in a 64 MiB file written and committed first, then the commit), on OPFS.
// Args: { ops = 20000, mb = 64, reads = 0.75 (the share of reads) }.
import { OpfsDevice } from '../../../../src/device/index.js';
import { mkfs, mount } from '../../../../src/api/filesystem.js';
import { randomReadWrite, sequentialWrite, type Target } from '../files-workloads.js';

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
    const r = await randomReadWrite(t, '/rand', bytes, ops, 5, args.reads ?? 0.75);
    await fs.unmount();
    // The operations' time without the commit's.
    const opsMs = (ops * 1000) / r.opsPerSec - r.commitMs;
    return { opsPerSec: Math.round(r.opsPerSec), opsMs: Math.round(opsMs), commitMs: Math.round(r.commitMs) };
  } finally {
    await dev.close();
    await OpfsDevice.remove(name);
  }
}

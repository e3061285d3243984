// A workload for scripts/profile-in-chromium.mjs: the files bench's create row (mkdir of each
// directory, writeFile of 1-4 KiB files, then the commit) on a fresh OPFS device, `rounds` times
// in a row (each round a new filesystem, as the bench's rounds), so that the profiled run is a
// warm worker's steady state.
// Args: { files = 10000, perDir = 100, rounds = 3 }.
import { OpfsDevice } from '../../../../src/device/index.js';
import { mkfs, mount } from '../../../../src/api/filesystem.js';
import { contentOf, pathOf } from '../files-workloads.js';

const MiB = 1024 * 1024;
let contents: Uint8Array[] = [];

export async function run(args: { files?: number; perDir?: number; rounds?: number }): Promise<Record<string, number>> {
  const shape = { files: args.files ?? 10000, perDir: args.perDir ?? 100 };
  if (contents.length !== shape.files) contents = Array.from({ length: shape.files }, (_, i) => contentOf(i));
  const out: Record<string, number> = {};
  for (let r = 0; r < (args.rounds ?? 3); r++) {
    const name = `profile-create-${Date.now()}-${r}`;
    const dev = await OpfsDevice.open(name, { sizeBytes: 2048 * MiB, openTimeoutMs: 5000 });
    try {
      await mkfs([dev]);
      const fs = await mount([dev]);
      const p = fs.promises;
      const t0 = performance.now();
      for (let d = 0; d * shape.perDir < shape.files; d++) {
        await p.mkdir(`/d${d}`);
        for (let i = d * shape.perDir; i < Math.min(shape.files, (d + 1) * shape.perDir); i++) await p.writeFile(pathOf(i, shape), contents[i]!);
      }
      const t1 = performance.now();
      await fs.sync();
      const t2 = performance.now();
      out[`filesPerSec${r}`] = Math.round((shape.files * 1000) / (t2 - t0));
      out[`createMs${r}`] = Math.round(t1 - t0);
      out[`commitMs${r}`] = Math.round(t2 - t1);
      await fs.unmount();
    } finally {
      await dev.close();
      await OpfsDevice.remove(name);
    }
  }
  return out;
}

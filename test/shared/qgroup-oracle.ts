// The judges of the qgroup tests: btrfs-progs' `btrfs check --readonly --qgroup-report`
// (qgroup-verify.c recomputes every qgroup's referenced / exclusive bytes from the extent
// tree and prints "Counts for qgroup id: L/ID are different" on a mismatch) and our own
// check, both on the image as committed.
import { expect } from 'vitest';
import { join } from 'node:path';
import type { MemoryDevice } from '../../src/device/memory.js';
import type { Filesystem } from '../../src/api/filesystem.js';
import { btrfsProg, saveImage, tempDir } from './btrfs-progs.js';

export interface QgroupReport {
  output: string;
  /** qgroupids ('0/257') btrfs check found different. */
  different: string[];
  /** btrfs check's own computation per qgroupid, when printed. */
  ours: Map<string, { referenced: number; exclusive: number }>;
}

/** Runs `btrfs check --readonly --qgroup-report` on the device's image. */
export async function progsQgroupReport(dev: MemoryDevice): Promise<QgroupReport> {
  const t = await tempDir('butterfs-qgroup-');
  try {
    const img = join(t.dir, 'img');
    await saveImage(dev, img);
    const r = await btrfsProg(['check', '--readonly', '--qgroup-report', img]);
    const different = [...r.output.matchAll(/Counts for qgroup id: (\d+\/\d+) are different/g)].map((m) => m[1]);
    const ours = new Map<string, { referenced: number; exclusive: number }>();
    for (const m of r.output.matchAll(/Counts for qgroup id: (\d+\/\d+).*\nour:\s+referenced (\d+).*\n.*\n(?:diff:.*\n)?our:\s+exclusive (\d+)/g)) {
      ours.set(m[1], { referenced: Number(m[2]), exclusive: Number(m[3]) });
    }
    // btrfs check exits 1 on qgroup differences alone; any other problem is a failure here.
    if (/^ERROR|error\(s\) found/m.test(r.output) || (!r.ok && different.length === 0)) throw new Error(`btrfs check failed:\n${r.output}`);
    return { output: r.output, different, ours };
  } finally {
    await t.cleanup();
  }
}

/**
 * Commits, then requires: btrfs check clean with no qgroup difference, our check clean with
 * no qgroup problem, and returns the numbers fs.qgroup.show() reports by qgroupid.
 */
export async function judgeQgroups(dev: MemoryDevice, fs: Filesystem, label: string): Promise<Map<string, { referenced: number; exclusive: number }>> {
  await fs.sync();
  const ours = await fs.check();
  expect(ours.errors, `${label}: our check`).toEqual([]);
  const report = await progsQgroupReport(dev);
  expect(report.different, `${label}: btrfs check --qgroup-report\n${report.output}`).toEqual([]);
  const shown = new Map<string, { referenced: number; exclusive: number }>();
  for (const g of await fs.qgroup.show()) shown.set(g.qgroupid, { referenced: g.referenced, exclusive: g.exclusive });
  return shown;
}

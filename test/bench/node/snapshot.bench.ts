// Snapshots, reflinks and deletion on the memory device (the subvolumes issue's benchmarks):
//   npx vitest bench --run --project node test/bench/node/snapshot.bench.ts
// docs/benchmarks.md ("Snapshots, reflinks, deletion") has the figures.
//
// (1) snapshot time (snapshot + the commit that writes it) of a subvolume with 10 files and
// one with 10,000 files, in the same run: btrfs snapshots copy one root block, so the two should
// match; (2) a reflink copy (copyFile with COPYFILE_FICLONE) of a 256 MiB file, plus its commit,
// against a plain copy of the same file; (3) reclaim rate of deleting a subvolume (10,000 files,
// 64 MiB unshared data) until the cleaner has dropped it and the space is free again.
// Each figure needs its own fresh filesystem, so the file times its phases itself and prints a
// markdown table; the bench() entry re-times the small snapshot as a cross-check.
import { bench, describe } from 'vitest';
import { MemoryDevice } from '../../../src/device/memory.js';
import { mkfs, mount, type Filesystem } from '../../../src/index.js';

const MiB = 1024 * 1024;
const COPYFILE_FICLONE = 2;

async function withFiles(n: number): Promise<{ fs: Filesystem; dev: MemoryDevice }> {
  const dev = new MemoryDevice(1024 * MiB);
  await mkfs([dev]);
  const fs = await mount([dev]);
  await fs.subvolume.create('/vol');
  const body = new Uint8Array(1500).fill(0x61);
  for (let i = 0; i < n; i++) {
    if (i % 1000 === 0) await fs.promises.mkdir(`/vol/d${i / 1000}`);
    await fs.promises.writeFile(`/vol/d${Math.floor(i / 1000)}/f${i}`, body);
  }
  await fs.sync();
  return { fs, dev };
}

async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function snapshotMs(fs: Filesystem, name: string): Promise<{ ms: number; blocks: number }> {
  const before = fs.info.stats.treeBlocksAllocated;
  const ms = await timeMs(async () => {
    await fs.subvolume.snapshot('/vol', name);
    await fs.sync();
  });
  return { ms, blocks: fs.info.stats.treeBlocksAllocated - before };
}

const rows: string[] = [];

describe('snapshots, reflinks, deletion', async () => {
  const small = await withFiles(10);
  const big = await withFiles(10_000);
  for (let r = 0; r < 3; r++) {
    const a = await snapshotMs(small.fs, `/s${r}`);
    const b = await snapshotMs(big.fs, `/s${r}`);
    rows.push(`| snapshot + commit, round ${r + 1} | 10 files: ${a.ms.toFixed(2)} ms (${a.blocks} blocks) | 10,000 files: ${b.ms.toFixed(2)} ms (${b.blocks} blocks) |`);
  }

  const dev = new MemoryDevice(1024 * MiB);
  await mkfs([dev]);
  const fs = await mount([dev]);
  const data = new Uint8Array(256 * MiB);
  for (let i = 0; i < data.length; i += 4096) data[i] = i & 0xff;
  await fs.promises.writeFile('/big', data);
  await fs.sync();
  const reflink = await timeMs(async () => {
    await fs.promises.copyFile('/big', '/big-reflink', COPYFILE_FICLONE);
    await fs.sync();
  });
  const copy = await timeMs(async () => {
    await fs.promises.copyFile('/big', '/big-copy');
    await fs.sync();
  });
  rows.push(`| copy of a 256 MiB file + commit | reflink (FICLONE): ${reflink.toFixed(1)} ms | plain copy: ${copy.toFixed(1)} ms (${(256 * MiB / 1e6 / (copy / 1000)).toFixed(0)} MB/s) |`);

  const del = await withFiles(10_000);
  await del.fs.promises.writeFile('/vol/unshared', new Uint8Array(64 * MiB).fill(3));
  await del.fs.sync();
  const usedBefore = del.fs.info.sb.bytesUsed;
  const dropMs = await timeMs(async () => {
    await del.fs.subvolume.delete('/vol');
    await del.fs.subvolume.sync();
  });
  const freed = usedBefore - del.fs.info.sb.bytesUsed;
  rows.push(`| delete a subvolume (10,000 files + 64 MiB) until reclaimed | ${dropMs.toFixed(0)} ms | ${(freed / 1e6).toFixed(1)} MB freed, ${(freed / 1e6 / (dropMs / 1000)).toFixed(0)} MB/s |`);

  console.log(['', '| measurement | | |', '|---|---|---|', ...rows].join('\n'));

  let n = 100;
  bench('snapshot + commit of a 10-file subvolume', async () => {
    await small.fs.subvolume.snapshot('/vol', `/b${n++}`);
    await small.fs.sync();
  }, { iterations: 20 });
});

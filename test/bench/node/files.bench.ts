// The small-file workload of the files bench (test/bench/browser/files-workloads.ts) in Node on
// the memory device: the engine's CPU cost without OPFS, for A/B runs of two trees:
//   npx vitest bench --run --project node test/bench/node/files.bench.ts
// docs/benchmarks.md ("Files", session 6) has the figures. Each round is a fresh filesystem:
// 10,000 files of 1-4 KiB created (mkdir + writeFile each) and committed, then stat, readdir and
// read of everything (warm: what the creates left cached), then the same after a remount (cold).
// The first rounds warm the JIT; the table gives every round and the median of the later ones.
// This machine's noise is as wide as most changes: compare trees in alternating processes.
import { bench, describe } from 'vitest';
import { MemoryDevice } from '../../../src/device/memory.js';
import { mkfs, mount } from '../../../src/index.js';
import { contentOf, readSmallFiles, smallFiles, type Target, type TreeShape } from '../browser/files-workloads.js';

const ROUNDS = 7;
const WARM_UP = 2;
const FILES = 10_000;
const shapes: TreeShape[] = [{ files: FILES, perDir: 100 }, { files: FILES, perDir: 10 }];
const contents = Array.from({ length: FILES }, (_, i) => contentOf(i));

const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const rows: string[] = [];
for (const shape of shapes) {
  const rounds: { createMs: number; commitMs: number; stat: number; readdir: number; read: number; coldStat: number; coldReaddir: number; coldRead: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const dev = new MemoryDevice(1024 * 1024 * 1024);
    await mkfs([dev]);
    let fs = await mount([dev]);
    const target = (): Target => ({ promises: fs.promises as unknown as Target['promises'], sync: () => fs.sync() });
    const warm = await smallFiles(target(), shape, contents, 11);
    await fs.unmount();
    fs = await mount([dev]);
    const cold = await readSmallFiles(target(), shape, 12);
    await fs.unmount();
    rounds.push({
      createMs: warm.createMs, commitMs: warm.commitMs, stat: warm.statsPerSec, readdir: warm.readdirsPerSec, read: warm.readFilesPerSec,
      coldStat: cold.statsPerSec, coldReaddir: cold.readdirsPerSec, coldRead: cold.readFilesPerSec,
    });
  }
  const later = rounds.slice(WARM_UP);
  const m = (f: (x: (typeof rounds)[number]) => number) => fmt(median(later.map(f)));
  const dirs = `${shape.files / shape.perDir} dirs x ${shape.perDir}`;
  rows.push(`| ${dirs} | ${m((x) => x.createMs)} + ${m((x) => x.commitMs)} | ${m((x) => (FILES * 1000) / (x.createMs + x.commitMs))} | ${m((x) => x.stat)} / ${m((x) => x.coldStat)} | ${m((x) => x.readdir)} / ${m((x) => x.coldReaddir)} | ${m((x) => x.read)} / ${m((x) => x.coldRead)} |`);
  console.log(`${dirs}: rounds ${JSON.stringify(rounds.map((x) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, Math.round(v)]))))}`);
}
console.log(`\n### Small files in Node, memory device: median of rounds ${WARM_UP + 1}-${ROUNDS}\n`);
console.log(['| tree | create + commit, ms | files/s | stat/s warm / cold | readdir dirs/s warm / cold | read files/s warm / cold |', '|---|---|---|---|---|---|', ...rows].join('\n'));

describe('small files on the memory device (timed above, see the printed table)', () => {
  bench('placeholder', () => undefined, { iterations: 1, time: 0 });
});

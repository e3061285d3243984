// B-tree and commit on OPFS in Chromium, side by side with the memory device in the same worker:
//   BUTTERFS_BENCH=1 npx vitest bench --run --project browser test/bench/browser/tree.bench.ts
// BUTTERFS_BENCH=1 makes vite.config.ts use an on-disk Chromium profile (the default context
// keeps OPFS in RAM and is ~100x slower) and no file parallelism: run it alone.
//
// The engine runs in a dedicated worker (test/bench/browser/tree.worker.ts; OPFS sync access
// handles exist only there); each comlink call is one whole measurement. vitest 4.1's bench()
// collects no samples in browser mode, so this file times through the worker and prints markdown
// tables to the terminal; docs/benchmarks.md ("B-tree and commit") has the figures.
// VITE_TREE_BENCH_QUICK=1 (Vite passes VITE_* variables to the page) shrinks every size by 10x:
// a smoke run, not for the doc.
import * as Comlink from 'comlink';
import { bench, describe } from 'vitest';
import type { DeviceKind, InsertFigures, TreeBenchWorkerApi } from './tree.worker.js';

const SCALE = (import.meta as unknown as { env: Record<string, string | undefined> }).env.VITE_TREE_BENCH_QUICK === '1' ? 0.1 : 1;
const INSERTS = Math.round(100_000 * SCALE);
const INSERT_ROUNDS = 3;
const COMMIT_N = [100, 1000, 10000].map((n) => Math.round(n * SCALE));
// Ascending inserts fill leaves: 130 items per 16 KiB leaf, 31 per 4 KiB leaf; > 10000 leaves.
const COMMIT_TREE_ITEMS: Record<number, number> = { 16384: Math.round(1_400_000 * SCALE), 4096: Math.round(350_000 * SCALE) };
const COLD_LOOKUPS = Math.round(2000 * SCALE);
const KINDS: DeviceKind[] = ['opfs', 'memory'];

const worker = new Worker(new URL('./tree.worker.ts', import.meta.url), { type: 'module' });
const engine = Comlink.wrap<TreeBenchWorkerApi>(worker);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (x: number, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

// 1. Inserts, rounds interleaved across devices and configurations.
const insertRows = [
  `| device | nodesize | key order | inserts/s (median of ${INSERT_ROUNDS}) | best | commit after, ms | MB written by that commit (device bytes) |`,
  '|---|---|---|---|---|---|---|',
];
{
  const configs = [16384, 4096].flatMap((nodesize) => (['sequential', 'random'] as const).flatMap((order) => KINDS.map((kind) => ({ kind, nodesize, order }))));
  const results = new Map<string, InsertFigures[]>();
  for (let round = 0; round < INSERT_ROUNDS; round++) {
    for (const c of configs) {
      const id = `${c.kind}/${c.nodesize}/${c.order}`;
      results.set(id, [...(results.get(id) ?? []), await engine.insertRun(c.kind, c.nodesize, c.order, INSERTS)]);
    }
  }
  for (const c of configs) {
    const rs = results.get(`${c.kind}/${c.nodesize}/${c.order}`)!;
    const rates = rs.map((r) => r.insertsPerSec);
    insertRows.push(`| ${c.kind} | ${c.nodesize} | ${c.order} | ${fmt(median(rates))} | ${fmt(Math.max(...rates))} | ${fmt(median(rs.map((r) => r.commitMs)), 1)} | ${fmt(rs[0]!.commitMBWritten, 1)} |`);
  }
}

// 2. Commit of N dirty leaves, and cold lookups on the same tree.
const commitRows = [
  '| device | nodesize | N leaves touched | touch (COW) ms | dirty blocks before commit | commit ms | blocks written | metadata MB (x2 DUP on device) | MB/s | before first write ms | writes ms (first to last write) | flushes ms (both) |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|',
];
const coldRows = ['| device | nodesize | leaves | lookups/s (median of 3 fresh mounts) | tree blocks read per lookup |', '|---|---|---|---|---|'];
for (const nodesize of [16384, 4096]) {
  for (const kind of KINDS) {
    const { buildMs, leaves } = await engine.commitSetup(kind, nodesize, COMMIT_TREE_ITEMS[nodesize]!);
    console.log(`built ${kind} ${nodesize}: ${leaves} leaves in ${fmt(buildMs)} ms`);
    for (const n of COMMIT_N) {
      // The first round warms the JIT and the allocator; the second is reported.
      await engine.commitRun(n);
      const f = await engine.commitRun(n);
      commitRows.push(`| ${kind} | ${nodesize} | ${n} | ${fmt(f.touchMs, 1)} | ${f.dirtyBefore} | ${fmt(f.commitMs, 1)} | ${fmt(f.blocks)} | ${fmt(f.metadataMB, 1)} | ${fmt((f.metadataMB * 1e3) / f.commitMs, 1)} | ${fmt(f.beforeWritesMs, 1)} | ${fmt(f.writesMs, 1)} | ${fmt(f.flushMs, 1)} |`);
    }
    const cold = [];
    for (let round = 0; round < 3; round++) cold.push(await engine.coldLookups(COLD_LOOKUPS, 100 + round));
    coldRows.push(`| ${kind} | ${nodesize} | ${leaves} | ${fmt(median(cold.map((c) => c.lookupsPerSec)))} | ${fmt(median(cold.map((c) => c.readsPerLookup)), 2)} |`);
    await engine.commitTeardown();
  }
}
await engine.cleanup();
worker.terminate();

console.log(`\n## B-tree and commit in Chromium (${navigator.userAgent})\n`);
console.log(`### Inserts, ${INSERTS} items of 100 bytes in one transaction\n${insertRows.join('\n')}\n`);
console.log(`### Commit of N dirty leaves\n${commitRows.join('\n')}\n`);
console.log(`### Cold lookups (fresh mount, ${COLD_LOOKUPS} random leaves' first keys)\n${coldRows.join('\n')}\n`);

describe('engine on OPFS and memory (timed above, see the printed tables)', () => {
  bench('placeholder', () => undefined, { iterations: 1, time: 0 });
});

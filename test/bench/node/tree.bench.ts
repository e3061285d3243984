// B-tree and commit throughput of the engine on the memory device, side by side in one run:
//   npx vitest bench --run --project node test/bench/node/tree.bench.ts
// docs/benchmarks.md ("B-tree and commit") has the figures and how to read them.
//
// Measured: (1) inserts/s into the fs tree, keys (1000 + i, 1, 0) with 100-byte items, in one
// transaction, sequential and random key order, nodesize 16 KiB and 4 KiB; (2) lookups/s of
// random existing keys, warm (every block cached) and cold (a fresh mount per round, empty
// cache); (3) commit time for N dirty leaves (one item touched in each of N leaves spread
// across the tree), with MB/s of metadata written.
//
// Each figure needs its own setup (a fresh filesystem, a tree of a given size, N dirty leaves)
// and times one phase of it, which tinybench's loop does not express, so the file times its
// phases itself and prints markdown tables; the bench() entries below are warm lookups only (the
// one measurement that is a plain loop), as a cross-check of the printed table.
//
// BUTTERFS_TREE_BENCH_QUICK=1 shrinks every size by 10x (a smoke run, not for the doc).
// BUTTERFS_TREE_BENCH_PROFILE=1 also runs the V8 sampling profiler (node:inspector) over chosen
// phases and prints where their time goes, by function and by source file (self time); the
// tables of such a run are slower and not for the doc.
import { Session } from 'node:inspector/promises';
import { bench, describe } from 'vitest';
import type { BlockDevice } from '../../../src/device/block-device.js';
import { MemoryDevice } from '../../../src/device/memory.js';
import { mulberry32 } from '../../../src/device/fault.js';
import { mkfs } from '../../../src/fs/mkfs.js';
import { openFs } from '../../../src/fs/open.js';
import type { FsInfo } from '../../../src/fs/fs-info.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { updateItem } from '../../../src/fs/items.js';
import { insertItem, lookup, searchSlot, nextLeaf } from '../../../src/tree/ctree.js';
import { checkTreeBlock } from '../../../src/tree/tree-checker.js';
import { checksumInto } from '../../../src/kernels/checksum.js';
import { Key } from '../../../src/format/key.js';
import type { ExtentBuffer } from '../../../src/tree/extent-buffer.js';

const MiB = 1024 * 1024;
const QUICK = process.env.BUTTERFS_TREE_BENCH_QUICK === '1';
const SCALE = QUICK ? 0.1 : 1;
const ITEM_BYTES = 100;
const FIRST_OBJECTID = 1000;
const INODE_ITEM = 1;
const DEVICE_BYTES = 8 * 1024 * MiB; // sparse: only written pages cost memory

const PROFILE = process.env.BUTTERFS_TREE_BENCH_PROFILE === '1';
const profiles: string[] = [];

interface CpuProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface CpuProfile { nodes: CpuProfileNode[]; samples: number[]; timeDeltas: number[] }

/** Runs `fn`; with PROFILE and `on`, under the sampling profiler, and records a self-time summary. */
async function profiled<T>(name: string, fn: () => Promise<T>, on = true): Promise<T> {
  if (!PROFILE || !on) return fn();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  const out = await fn();
  const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
  session.disconnect();
  profiles.push(summarize(name, profile));
  return out;
}

function summarize(name: string, p: CpuProfile): string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  // The inspector's own `dispatch` (the Profiler.stop call) is profiler overhead, not the phase.
  const overhead = new Set(p.nodes.filter((n) => n.callFrame.functionName === 'dispatch' && n.callFrame.url === '').map((n) => n.id));
  for (let i = 0; i < p.samples.length; i++) if (!overhead.has(p.samples[i]!)) selfUs.set(p.samples[i]!, (selfUs.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    const file = f.url.replace(/^.*\/(src|node_modules|test)\//, '$1/').replace(/\?.*$/, '') || '(native/gc/idle)';
    const fnName = `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
    byFn.set(fnName, (byFn.get(fnName) ?? 0) + us);
    byFile.set(file, (byFile.get(file) ?? 0) + us);
  }
  const top = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([k, us]) => `  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`).join('\n');
  return `### profile: ${name} (${(total / 1000).toFixed(0)} ms sampled)\nby file:\n${top(byFile, 8)}\nby function:\n${top(byFn, 15)}\n`;
}

const keyOf = (i: number) => Key.of(FIRST_OBJECTID + i, INODE_ITEM, 0);
const item = new Uint8Array(ITEM_BYTES).map((_, i) => i);

/** A device that counts what the commit writes and when (the memory device is synchronous inside). */
class CountingDevice implements BlockDevice {
  bytesWritten = 0;
  writes = 0;
  firstWriteMs = -1;
  lastWriteMs = -1;
  constructor(readonly inner: BlockDevice) {}
  get sizeBytes(): number {
    return this.inner.sizeBytes;
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    return this.inner.read(offset, length);
  }
  async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.firstWriteMs < 0) this.firstWriteMs = performance.now();
    this.bytesWritten += data.length;
    this.writes++;
    await this.inner.write(offset, data);
    this.lastWriteMs = performance.now();
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  reset(): void {
    this.bytesWritten = 0;
    this.writes = 0;
    this.firstWriteMs = -1;
    this.lastWriteMs = -1;
  }
}

function permutation(n: number, seed: number): number[] {
  const rand = mulberry32(seed);
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (x: number, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function freshFs(nodesize: number): Promise<{ dev: CountingDevice; fs: FsInfo }> {
  const dev = new CountingDevice(new MemoryDevice(DEVICE_BYTES));
  await mkfs([dev], { nodesize });
  return { dev, fs: await openFs([dev], { cacheBytes: 4096 * MiB }) };
}

/** The first key of every leaf of the fs tree, left to right (walks the leaves). */
async function leavesOf(fs: FsInfo): Promise<Key[]> {
  const firstKeys: Key[] = [];
  const { path } = await searchSlot(fs, fs.fsTree, Key.of(0, 0, 0));
  // Bounded by the number of leaves.
  do firstKeys.push(path.leaf.key(0));
  while (await nextLeaf(fs, fs.fsTree, path));
  return firstKeys;
}

// ------------------------------------------------------------------ 1. inserts

const INSERTS = Math.round(100_000 * SCALE);
const INSERT_ROUNDS = 3;

interface InsertResult { insertsPerSec: number; commitMs: number; leaves: number; level: number }

async function insertRun(nodesize: number, order: 'sequential' | 'random', profile: boolean): Promise<InsertResult> {
  const { fs } = await freshFs(nodesize);
  const idx = order === 'random' ? permutation(INSERTS, 42) : Array.from({ length: INSERTS }, (_, i) => i);
  const keys = idx.map(keyOf);
  startTransaction(fs);
  const t0 = performance.now();
  await profiled(`inserts, nodesize ${nodesize}, ${order}`, async () => {
    for (const k of keys) await insertItem(fs, fs.fsTree, k, item);
  }, profile);
  const t1 = performance.now();
  await commitTransaction(fs);
  const t2 = performance.now();
  const leaves = (await leavesOf(fs)).length;
  return { insertsPerSec: (INSERTS * 1000) / (t1 - t0), commitMs: t2 - t1, leaves, level: fs.fsTree.node.level };
}

const insertRows: string[] = [
  `| nodesize | key order | inserts/s (median of ${INSERT_ROUNDS}) | best | commit after, ms | leaves | tree height |`,
  '|---|---|---|---|---|---|---|',
];
{
  const configs = [16384, 4096].flatMap((n) => (['sequential', 'random'] as const).map((o) => ({ n, o })));
  const results = new Map<string, InsertResult[]>();
  // Rounds interleave the configurations, so drift on a shared machine hits all alike.
  for (let round = 0; round < INSERT_ROUNDS; round++) {
    for (const c of configs) {
      const r = await insertRun(c.n, c.o, round === 0);
      const id = `${c.n}/${c.o}`;
      results.set(id, [...(results.get(id) ?? []), r]);
    }
  }
  for (const c of configs) {
    const rs = results.get(`${c.n}/${c.o}`)!;
    const rates = rs.map((r) => r.insertsPerSec);
    insertRows.push(`| ${c.n} | ${c.o} | ${fmt(median(rates))} | ${fmt(Math.max(...rates))} | ${fmt(median(rs.map((r) => r.commitMs)), 1)} | ${rs[0]!.leaves} | ${rs[0]!.level + 1} |`);
  }
}

// ------------------------------------------------------------------ 2. lookups

const LOOKUP_ITEMS = Math.round(200_000 * SCALE);
const WARM_LOOKUPS = Math.round(100_000 * SCALE);
const COLD_LOOKUPS = Math.round(2_000 * SCALE);
const COLD_ROUNDS = 5;

const lookupRows: string[] = [
  `| nodesize | cache | lookups/s (median) | tree blocks read per lookup | leaves |`,
  '|---|---|---|---|---|',
];
const warmFs = new Map<number, FsInfo>();
for (const nodesize of [16384, 4096]) {
  const { dev, fs } = await freshFs(nodesize);
  startTransaction(fs);
  for (let i = 0; i < LOOKUP_ITEMS; i++) await insertItem(fs, fs.fsTree, keyOf(i), item);
  await commitTransaction(fs);
  const leaves = (await leavesOf(fs)).length;
  const rand = mulberry32(7);
  const keys = Array.from({ length: WARM_LOOKUPS }, () => keyOf(Math.floor(rand() * LOOKUP_ITEMS)));

  // Warm: every block is in the cache (one full pass first).
  for (const k of keys) await lookup(fs, fs.fsTree, k);
  const warm: number[] = [];
  for (let round = 0; round < 3; round++) {
    const t0 = performance.now();
    await profiled(`warm lookups, nodesize ${nodesize}`, async () => {
      for (const k of keys) if (!(await lookup(fs, fs.fsTree, k))) throw new Error(`key ${k} missing`);
    }, round === 0);
    warm.push((WARM_LOOKUPS * 1000) / (performance.now() - t0));
  }
  lookupRows.push(`| ${nodesize} | warm (all cached) | ${fmt(median(warm))} | 0 | ${leaves} |`);
  warmFs.set(nodesize, fs);

  // Cold: a fresh mount per round (empty cache; the mount's own reads are not timed), each
  // lookup in a leaf not read before in that mount (the first key of a random distinct leaf),
  // so every lookup reads its leaf and the nodes above it that are not yet cached.
  const leafKeys = await leavesOf(fs);
  const coldCount = Math.min(COLD_LOOKUPS, leafKeys.length);
  const cold: number[] = [];
  let reads = 0;
  for (let round = 0; round < COLD_ROUNDS; round++) {
    const order = permutation(leafKeys.length, 100 + round).slice(0, coldCount).map((j) => leafKeys[j]!);
    const cfs = await openFs([dev], { cacheBytes: 4096 * MiB });
    const r0 = cfs.stats.treeBlockReads;
    const t0 = performance.now();
    await profiled(`cold lookups, nodesize ${nodesize}`, async () => {
      for (const k of order) if (!(await lookup(cfs, cfs.fsTree, k))) throw new Error(`key ${k} missing`);
    }, round === 0);
    cold.push((coldCount * 1000) / (performance.now() - t0));
    reads += cfs.stats.treeBlockReads - r0;
  }
  lookupRows.push(`| ${nodesize} | cold (fresh mount, ${coldCount} lookups in distinct leaves) | ${fmt(median(cold))} | ${fmt(reads / (COLD_ROUNDS * coldCount), 2)} | ${leaves} |`);
}

// ------------------------------------------------------------------ 3. commit of N dirty leaves

// Trees with more leaves than the largest N: ascending inserts fill leaves, (nodesize - 101) / 125
// items per leaf (130 at 16 KiB, 31 at 4 KiB), so the item count is sized per nodesize.
const COMMIT_N = [100, 1000, 10000].map((n) => Math.round(n * SCALE));
const COMMIT_TREE_ITEMS: Record<number, number> = { 16384: Math.round(1_400_000 * SCALE), 4096: Math.round(350_000 * SCALE) };

const commitRows: string[] = [
  '| nodesize | N leaves touched | touch (COW) ms | dirty blocks before commit | commit ms | blocks written | metadata MB written (x2 DUP on device) | MB/s | refs + root items ms | checksum + tree-check ms (est.) | device writes ms |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
];
for (const nodesize of [16384, 4096]) {
  const { dev, fs } = await freshFs(nodesize);
  const items = COMMIT_TREE_ITEMS[nodesize]!;
  // Built in slices of 100k per transaction, as a long-running writer would commit.
  for (let i = 0; i < items;) {
    startTransaction(fs);
    for (const end = Math.min(items, i + 100_000); i < end; i++) await insertItem(fs, fs.fsTree, keyOf(i), item);
    await commitTransaction(fs);
  }
  const leafKeys = await leavesOf(fs);
  for (const n of COMMIT_N) {
    if (n > leafKeys.length) throw new Error(`tree has ${leafKeys.length} leaves, fewer than ${n}`);
    for (let round = 0; round < 2; round++) {
      startTransaction(fs);
      const t0 = performance.now();
      // One item in each of n leaves spread evenly across the tree.
      for (let j = 0; j < n; j++) {
        const k = leafKeys[Math.floor((j * leafKeys.length) / n)]!;
        await updateItem(fs, fs.fsTree, k, (dv) => dv.setUint8(0, (dv.getUint8(0) + 1) & 0xff));
      }
      const t1 = performance.now();
      const dirtyBefore = fs.dirty.size;
      const sample = [...fs.dirty.values()];
      dev.reset();
      const c0 = performance.now();
      await profiled(`commit of ${n} dirty leaves, nodesize ${nodesize}`, () => commitTransaction(fs), round === 1);
      const c1 = performance.now();
      // Tree blocks written: device bytes less the superblock copies, over the DUP copies.
      const blockBytes = dev.bytesWritten - superCopyBytes(dev);
      const blocks = blockBytes / 2 / nodesize;
      // Estimate of the per-block CPU work done before the writes (checksum + tree-checker),
      // timed on the blocks just written (now clean in the cache).
      const est = estimateChecksumAndCheck(fs, sample, blocks);
      if (round === 1) {
        commitRows.push(`| ${nodesize} | ${n} | ${fmt(t1 - t0, 1)} | ${dirtyBefore} | ${fmt(c1 - c0, 1)} | ${fmt(blocks)} | ${fmt((blocks * nodesize) / 1e6, 1)} | ${fmt((blocks * nodesize) / 1e3 / (c1 - c0), 1)} | ${fmt(dev.firstWriteMs - c0 - est, 1)} | ${fmt(est, 1)} | ${fmt(dev.lastWriteMs - dev.firstWriteMs, 1)} |`);
      }
    }
  }
}

/** Superblock copies written at commit: one 4 KiB write per copy that fits the device. */
function superCopyBytes(dev: CountingDevice): number {
  const copies = [64 * 1024, 64 * MiB, 256 * 1024 * MiB].filter((o) => o + 4096 <= dev.sizeBytes).length;
  return copies * 4096;
}

/**
 * Time of writeDirtyBlocks' CPU work (tree-checker + checksum per block) for `blocks` blocks,
 * extrapolated from `sample` (blocks written by the commit just timed, so the same shape).
 */
function estimateChecksumAndCheck(fs: FsInfo, sample: ExtentBuffer[], blocks: number): number {
  const t0 = performance.now();
  for (const eb of sample) {
    if (checkTreeBlock(eb, fs.nodesize) !== null) throw new Error('bad block');
    checksumInto(fs.csum, eb.data, 32, fs.nodesize - 32, new Uint8Array(32), 0);
  }
  return ((performance.now() - t0) * blocks) / sample.length;
}

console.log(`\n## B-tree and commit, memory device (node ${process.version}${QUICK ? ', QUICK' : ''})\n`);
console.log(`### Inserts, ${INSERTS} items of ${ITEM_BYTES} bytes in one transaction\n${insertRows.join('\n')}\n`);
console.log(`### Lookups of random existing keys, tree of ${LOOKUP_ITEMS} items\n${lookupRows.join('\n')}\n`);
console.log(`### Commit of N dirty leaves\n${commitRows.join('\n')}\n`);
if (PROFILE) console.log(`\n## CPU profiles (self time)\n\n${profiles.join('\n')}`);

describe('warm lookups, 1000 random existing keys per iteration', () => {
  for (const [nodesize, fs] of warmFs) {
    const rand = mulberry32(11);
    const keys = Array.from({ length: 1000 }, () => keyOf(Math.floor(rand() * LOOKUP_ITEMS)));
    bench(`nodesize ${nodesize}, tree of ${LOOKUP_ITEMS} items`, async () => {
      for (const k of keys) await lookup(fs, fs.fsTree, k);
    }, { time: 1000, warmupTime: 200 });
  }
});

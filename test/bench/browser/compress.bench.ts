// Compressed writes end to end in Chromium (issue 6): the same text written sequentially by the
// engine on OpfsDevice (in a dedicated worker) with no compression, compress=zstd:1 and
// compress=lzo (and zlib:1 for reference), alternating, in one run:
//   BUTTERFS_BENCH=1 npx vitest bench --run --project browser test/bench/browser/compress.bench.ts
// (BUTTERFS_BENCH=1: on-disk Chromium profile, no file parallelism; run it alone.)
// Then the write path's CPU parts alone on the same bytes (codec per 128 KiB chunk, heuristic,
// crc32c), to say where the time goes. vitest's bench() collects no samples in browser mode, so
// this file times itself and prints markdown; docs/benchmarks.md ("Compressed writes") has the
// figures. VITE_COMPRESS_BENCH_QUICK=1 writes 32 MiB instead of 256 MiB (a smoke run).
import * as Comlink from 'comlink';
import { bench, describe } from 'vitest';
import type { CompressBenchWorkerApi, WriteFigures } from './compress.worker.js';

const MiB = 1024 * 1024;
const QUICK = (import.meta as unknown as { env: Record<string, string | undefined> }).env.VITE_COMPRESS_BENCH_QUICK === '1';
const TOTAL = (QUICK ? 32 : 256) * MiB;
const WRITE = 1 * MiB;
const ROUNDS = 5;
/** Mount options, and the compression workers (undefined: one per CPU, the default; 0: none, the engine thread alone). */
const MODES: [string, number | undefined][] = [
  ['', undefined], ['compress=zstd:1', undefined], ['compress=lzo', undefined], ['compress=zlib:1', undefined],
  ['compress=zstd:1', 0], ['compress=lzo', 0],
];
const label = ([options, workers]: [string, number | undefined]) => `${options || '(none)'}${workers === 0 ? ', no workers' : ''}`;
const prefix = `butterfs-compress-bench-${Date.now()}`;

const fmt = (x: number, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const worker = new Worker(new URL('./compress.worker.ts', import.meta.url), { type: 'module' });
const engine = Comlink.wrap<CompressBenchWorkerApi>(worker);
await engine.ping();
const threads = await engine.threads();

// Rounds alternate the modes, so that a slow moment of the machine hits them all alike.
const runs = new Map<string, WriteFigures[]>(MODES.map((m) => [label(m), []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const mode of MODES) {
    const r = await engine.sequential(prefix, mode[0], TOTAL, WRITE, 1 + round, mode[1]);
    runs.get(label(mode))!.push(r);
    console.log(`${label(mode)} round ${round}: ${JSON.stringify(r)}`);
  }
}
const parts = await engine.parts([['zstd', 1], ['lzo', 0], ['zlib', 1]], 64 * MiB, 1);
console.log(`parts: ${JSON.stringify(parts)}`);
// The pool alone: no workers, one, and one per CPU.
const sizes = [...new Set([0, 1, threads])];
const poolRuns = { ...await engine.pool('zstd', 1, sizes, (QUICK ? 16 : 64) * MiB, 3), ...await engine.pool('lzo', 1, sizes, (QUICK ? 16 : 64) * MiB, 3) };
console.log(`pool: ${JSON.stringify(poolRuns)}`);
await engine.cleanup(prefix);
worker.terminate();

const base = median(runs.get(label(MODES[0]!))!.map((r) => r.MBps));
const bestBase = Math.max(...runs.get(label(MODES[0]!))!.map((r) => r.MBps));
const rows = MODES.map((mode) => {
  const rs = runs.get(label(mode))!;
  const m = (k: keyof WriteFigures) => median(rs.map((r) => r[k]));
  const best = Math.max(...rs.map((r) => r.MBps));
  const ratio = m('uncompressedBytes') / m('diskBytes');
  const inWorkers = m('chunksInWorkers') / Math.max(1, m('chunksInWorkers') + m('chunksInThread'));
  // Each round's ratio to the uncompressed write of the same round (the modes alternate within
  // a round), then their median: an OPFS stall in one uncompressed round moves one ratio, not
  // the denominator of all of them.
  const perRound = median(rs.map((r, i) => r.MBps / runs.get(label(MODES[0]!))![i]!.MBps));
  return `| ${label(mode)} | ${fmt(m('MBps'))} / ${fmt(best)} | ${(m('MBps') / base).toFixed(2)}x / ${(best / bestBase).toFixed(2)}x | ${perRound.toFixed(2)}x | ${fmt(m('commitMs'))} | ${ratio.toFixed(2)}x | ${mode[0] && mode[1] !== 0 ? `${(100 * inWorkers).toFixed(0)}%` : ''} | ${fmt(m('readMBps'))} |`;
});
console.log(`\n## Compressed writes in Chromium (${navigator.userAgent})\n`);
console.log(`Sequential write of ${TOTAL / MiB} MiB of JSON/source-like text in ${WRITE / MiB} MiB writes + commit, engine in a worker on OpfsDevice, ${threads} hardware threads, median / best of ${ROUNDS} alternating rounds.\n`);
console.log(['| mount option | write + commit, MB/s, median / best | vs none (median / best) | vs none, same round (median of the rounds) | commit, ms | compsize ratio | chunks on workers | cold read, MB/s |', '|---|---|---|---|---|---|---|---|', ...rows].join('\n'));
console.log(`\n### The write path's CPU parts alone, same text, 128 KiB chunks, MB/s of input\n`);
console.log(['| part | MB/s | ratio |', '|---|---|---|',
  `| heuristic | ${fmt(parts.heuristic!)} | |`, `| crc32c | ${fmt(parts.crc32c!)} | |`,
  ...['zstd:1', 'lzo:0', 'zlib:1'].map((k) => `| ${k} | ${fmt(parts[k]!)} | ${parts[`${k} ratio`]!.toFixed(2)}x |`)].join('\n'));
console.log(`\n### The compression pool alone (chunk streams of 1 MiB writes, engine thread stealing), MB/s of input, 3 alternating rounds\n`);
console.log(['| codec, pool | rounds | median |', '|---|---|---|',
  ...Object.entries(poolRuns).map(([k, v]) => `| ${k} | ${v.map((x) => fmt(x)).join(', ')} | ${fmt(median(v))} |`)].join('\n'));

describe('compressed writes on OPFS (timed above, see the printed tables)', () => {
  bench('placeholder', () => undefined, { iterations: 1, time: 0 });
});

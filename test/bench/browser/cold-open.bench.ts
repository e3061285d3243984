// Cold open through the page client: `connect()` to the first stat resolving, with the worker as
// Vite's dev server serves it (src/, one request per module) and as `npm run build` ships it (one
// bundled file, scripts/build-worker.mjs; served by the dev server, and from a Blob URL, which
// costs no request), in the same run, rounds alternating:
//   node scripts/build-worker.mjs .cache/bench-worker --no-sourcemap && \
//   BUTTERFS_BENCH=1 npx vitest bench --run --project browser test/bench/browser/cold-open.bench.ts
// (BUTTERFS_BENCH=1: on-disk profile, no file parallelism; run it alone. VITE_FILES_BENCH_QUICK=1
// builds 10,000 files instead of 100,000: a smoke run.)
//
// For each filesystem (10 files; 100,000 files of 3,000 bytes in directories of 100, left on OPFS
// by test/bench/browser/files.worker.ts) and each worker build, per round:
//  * worker start: `new Worker(url)` to its first comlink answer (fetching, compiling and running
//    its modules; nothing opened);
//  * connect(): a new worker, lock, device open, mount (connect() resolved);
//  * first stat: `client.promises.stat()` right after;
//  * the same connect() + stat with a worker started ahead (startWorker(): loaded before);
// and the engine alone in a fresh bench worker (device open + mount + stat, timed inside it).
// vitest 4.1's bench() collects no samples in browser mode, so this file times itself and prints
// a markdown table; docs/benchmarks.md ("Files", "Client round trip") has the figures.
import * as Comlink from 'comlink';
import { bench, describe } from 'vitest';
import { connect } from '../../../src/worker/client.js';
import type { FilesBenchWorkerApi } from './files.worker.js';

const QUICK = (import.meta as unknown as { env: Record<string, string | undefined> }).env.VITE_FILES_BENCH_QUICK === '1';
const ROUNDS = 5;
const SIZES = [10, QUICK ? 10_000 : 100_000];
const prefix = `butterfs-cold-bench-${Date.now()}`;

const fmt = (x: number, digits = 1) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// The two builds of the same worker.
const devUrl = new URL('../../../src/worker/worker.ts', import.meta.url);
const bundleUrl = new URL('/.cache/bench-worker/worker.js', location.href);
{
  const r = await fetch(bundleUrl, { method: 'HEAD' });
  const type = r.headers.get('content-type') ?? '';
  if (!r.ok || !type.includes('javascript')) throw new Error(`no worker bundle at ${bundleUrl.pathname}: run \`node scripts/build-worker.mjs .cache/bench-worker --no-sourcemap\` first`);
}
// The bundle once more from a Blob URL: no request at all (a server's HTTP cache answering at
// once), its kernel URLs pointed back at the served assets.
// (The file as built: the dev server rewrites the URLs of what it serves.)
const bundleText = ((await import(/* @vite-ignore */ `${bundleUrl.pathname}?raw`)) as { default: string }).default;
if (!bundleText.includes('new URL(`assets/')) throw new Error('the bundle no longer loads its kernels as new URL(`assets/...`): update the Blob variant');
const blobUrl = new URL(URL.createObjectURL(new Blob(
  [bundleText.replaceAll('new URL(`assets/', `new URL(\`${new URL('assets/', bundleUrl).href}`)],
  { type: 'text/javascript' },
)));
const builds = [
  { label: 'dev server (src/, unbundled)', url: devUrl },
  { label: 'bundle, served by the dev server', url: bundleUrl },
  { label: 'bundle, from a Blob URL (no request)', url: blobUrl },
] as const;

/**
 * Resolves when `worker` answers a message, that is once its modules are loaded: a fast call of
 * a name the worker refuses (protocol.ts), not a comlink call. (A comlink proxy of our own on the
 * worker would, when garbage-collected, send comlink's RELEASE, which ends the worker's exposure
 * to the connect() that uses it later.)
 */
function answered(worker: Worker): Promise<void> {
  return new Promise((resolve) => {
    const listener = (ev: MessageEvent) => {
      if ((ev.data as { bfr?: unknown } | null)?.bfr !== 0) return;
      worker.removeEventListener('message', listener);
      resolve();
    };
    worker.addEventListener('message', listener);
    worker.postMessage({ bfq: 'call', i: 0, h: 0, m: 'ping', a: [] });
  });
}

/** Module load of a build: a new worker to its first answer. */
async function workerStartMs(url: URL): Promise<number> {
  const t0 = performance.now();
  const worker = new Worker(url, { type: 'module', name: 'butterfs' });
  await answered(worker);
  const ms = performance.now() - t0;
  worker.terminate();
  return ms;
}

interface Round {
  startMs: number;
  connectMs: number;
  statMs: number;
  totalMs: number;
  /** connect() + stat with a worker started ahead (startWorker(), loaded before connect()). */
  aheadMs: number;
}

/** `p`, or an error naming the step when it takes longer than 60 s (a hang is reported, not waited out). */
function step<T>(what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`cold-open bench: ${what} did not finish within 60 s`)), 60_000);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

async function clientRound(name: string, url: URL): Promise<Round> {
  const startMs = await step('worker start', workerStartMs(url));
  const t0 = performance.now();
  const client = await step('connect()', connect({ name, backend: 'opfs', worker: url }));
  const t1 = performance.now();
  await step('first stat', client.promises.stat('/d0/f0'));
  const t2 = performance.now();
  await step('close()', client.close());
  // A worker started ahead (what startWorker() is for): loaded before connect() is called.
  const worker = new Worker(url, { type: 'module', name: 'butterfs' });
  await step('worker start (ahead)', answered(worker));
  const t3 = performance.now();
  const ahead = await step('connect() (ahead)', connect({ name, backend: 'opfs', worker }));
  await step('first stat (ahead)', ahead.promises.stat('/d0/f0'));
  const aheadMs = performance.now() - t3;
  await step('close() (ahead)', ahead.close());
  return { startMs, connectMs: t1 - t0, statMs: t2 - t1, totalMs: t2 - t0, aheadMs };
}

const filesWorker = new Worker(new URL('./files.worker.ts', import.meta.url), { type: 'module' });
const files = Comlink.wrap<FilesBenchWorkerApi>(filesWorker);

const rows: string[] = [];
for (const count of SIZES) {
  const name = `${prefix}/fs${count}`;
  const { buildMs } = await files.buildFs(name, { files: count, perDir: 100 }, 3000);
  console.log(`built ${count} files in ${fmt(buildMs, 0)} ms`);
  const rounds = new Map<string, Round[]>(builds.map((b) => [b.label, []]));
  // A first round of each, not counted: the HTTP cache and Vite's transform cache warm up.
  for (const b of builds) await clientRound(name, b.url);
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? builds : [...builds].reverse();
    for (const b of order) rounds.get(b.label)!.push(await clientRound(name, b.url));
  }
  const engine: { openMs: number; mountMs: number; statMs: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const w = new Worker(new URL('./files.worker.ts', import.meta.url), { type: 'module' });
    const fresh = Comlink.wrap<FilesBenchWorkerApi>(w);
    await fresh.ping();
    engine.push(await fresh.coldMount(name, '/d0/f0'));
    w.terminate();
  }
  const em = (k: 'openMs' | 'mountMs' | 'statMs') => median(engine.map((e) => e[k]));
  for (const b of builds) {
    const rs = rounds.get(b.label)!;
    const m = (k: keyof Round) => median(rs.map((x) => x[k]));
    rows.push(`| ${count.toLocaleString('en-US')} files | ${b.label} | ${fmt(m('startMs'))} | ${fmt(m('connectMs'))} | ${fmt(m('statMs'))} | **${fmt(m('totalMs'))}** | ${fmt(m('aheadMs'))} | ${fmt(em('openMs') + em('mountMs') + em('statMs'))} |`);
    console.log(`${count} files, ${b.label}: ${JSON.stringify(rs)}`);
  }
  console.log(`${count} files, engine in a fresh worker: ${JSON.stringify(engine)}`);
}

await files.cleanup(prefix);
filesWorker.terminate();

console.log(`\n## Cold open through the client in Chromium (${navigator.userAgent})\n`);
console.log(`ms, median of ${ROUNDS} rounds alternating between the builds\n`);
console.log([
  '| filesystem | worker build | worker start (to first answer) | connect() (new worker, lock, open, mount) | first stat | connect() + stat | connect() + stat, worker started ahead | engine alone: open + mount + stat |',
  '|---|---|---|---|---|---|---|---|',
  ...rows,
].join('\n'));

describe('cold open (timed above, see the printed table)', () => {
  bench('placeholder', () => undefined, { iterations: 1, time: 0 });
});

// What one call through the page client costs, and where it goes, in Chromium:
//   BUTTERFS_BENCH=1 npx vitest bench --run --project browser test/bench/browser/client.bench.ts
// (BUTTERFS_BENCH=1: on-disk profile, no file parallelism; run it alone.)
//
// 1. The pieces, in a reference worker started the same way as the butterfs worker (module
//    Worker, comlink, the butterfs wire installed): a bare postMessage ping-pong (the floor of any
//    round trip), comlink calls that do nothing, return a Stats or throw an FsError, the engine
//    in-process on a MemoryDevice timed inside the worker (its own cost per call), and the page's
//    share of a call (issuing it: the synchronous part; rebuilding an error).
// 2. The client from connect() on OPFS, two connections open side by side: one with every call
//    through comlink (`fastCalls: false`, the client as it was before the fast calls), one with the
//    fast calls (src/worker/rpc.ts). Their rounds alternate, so the machine's noise falls on both.
// vitest 4.1's bench() collects no samples in browser mode, so this file times itself and prints
// markdown tables; docs/benchmarks.md ("Files", "Client round trip") has the figures.
import * as Comlink from 'comlink';
import { bench, describe } from 'vitest';
import { FsError } from '../../../src/util/errors.js';
import { connect, type FilesystemClient } from '../../../src/worker/client.js';
import { errorFromWire, errorToWire, installWire } from '../../../src/worker/wire.js';
import '../../../src/worker/value-classes.js';
import type { ClientBenchWorkerApi } from './client.worker.js';

// The page side of the wire, as connect() installs it (the reference rows come first).
installWire('page');

const CALLS = 1000;
const ROUNDS = 7;
const IN_FLIGHT = 32;
const MiB = 1 << 20;
const prefix = `butterfs-client-bench-${Date.now()}`;

const fmt = (x: number, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

type Op = () => Promise<unknown>;

/** µs per call of one round: `calls` calls, one at a time. */
async function serialRound(one: Op, calls: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) await one();
  return ((performance.now() - t0) * 1000) / calls;
}

/** µs per call of one round: `calls` calls with `inFlight` outstanding at all times. */
async function concurrentRound(one: Op, calls: number, inFlight = IN_FLIGHT): Promise<number> {
  let started = 0;
  const lane = async () => {
    while (started < calls) {
      started++;
      await one();
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inFlight }, lane));
  return ((performance.now() - t0) * 1000) / calls;
}

/** µs of the page's own work to issue one call (the synchronous part), and then to drain them all. */
async function burstRound(one: Op, calls: number): Promise<{ issueUs: number; drainUs: number }> {
  const t0 = performance.now();
  const all: Promise<unknown>[] = new Array(calls);
  for (let i = 0; i < calls; i++) all[i] = one();
  const t1 = performance.now();
  await Promise.all(all);
  const t2 = performance.now();
  return { issueUs: ((t1 - t0) * 1000) / calls, drainUs: ((t2 - t1) * 1000) / calls };
}

/** Median over ROUNDS rounds (after one warm-up round) of a timed round. */
async function medianOf(round: () => Promise<number>): Promise<number> {
  await round();
  const out: number[] = [];
  for (let r = 0; r < ROUNDS; r++) out.push(await round());
  return median(out);
}

// ---------------------------------------------------------------- 1. the pieces

const pieces: string[] = [];
function piece(what: string, us: number): void {
  pieces.push(`| ${what} | ${fmt(us, 1)} | ${fmt(1e6 / us)} |`);
  console.log(`${what}: ${fmt(us, 1)} µs`);
}

{
  const worker = new Worker(new URL('./client.worker.ts', import.meta.url), { type: 'module' });
  const ref = Comlink.wrap<ClientBenchWorkerApi>(worker);
  const { port1, port2 } = new MessageChannel();
  await ref.echoOn(Comlink.transfer(port2, [port2]));
  await ref.prepare();
  let nextId = 1;
  const waiting = new Map<number, () => void>();
  const answer = (ev: MessageEvent<{ n?: number; echo?: true }>) => {
    const done = ev.data?.echo ? waiting.get(ev.data.n!) : undefined;
    if (!done) return;
    waiting.delete(ev.data.n!);
    done();
  };
  port1.onmessage = answer;
  worker.addEventListener('message', answer);
  const ping = (on: MessagePort | Worker, stat = false) => () => new Promise<void>((resolve) => {
    const n = nextId++;
    waiting.set(n, resolve);
    on.postMessage({ echo: true, n, stat, p: 'stat', a: ['/d/f'] });
  });
  piece('bare postMessage ping-pong, MessagePort', await medianOf(() => serialRound(ping(port1), CALLS)));
  piece('bare postMessage ping-pong, the worker\'s own port (what the client uses)', await medianOf(() => serialRound(ping(worker), CALLS)));
  piece('bare postMessage ping-pong, stat-shaped reply', await medianOf(() => serialRound(ping(worker, true), CALLS)));
  piece(`bare postMessage, ${IN_FLIGHT} in flight`, await medianOf(() => concurrentRound(ping(worker), CALLS * 2)));
  piece('comlink + butterfs wire: no-op call', await medianOf(() => serialRound(() => ref.noop(), CALLS)));
  piece('comlink + butterfs wire: returns a Stats', await medianOf(() => serialRound(() => ref.stats(), CALLS)));
  piece('comlink + butterfs wire: throws an FsError', await medianOf(() => serialRound(() => (ref.fail() as Promise<unknown>).catch((e: unknown) => e), CALLS)));
  piece('engine in-process (in the worker, MemoryDevice): stat', await ref.engineMicros('stat', CALLS, ROUNDS));
  piece('engine in-process: stat, ENOENT', await ref.engineMicros('statMissing', CALLS, ROUNDS));
  piece('engine in-process: readFile 1 KiB', await ref.engineMicros('readFile', CALLS, ROUNDS));
  {
    const inner = new FsError('ENOENT', 'no such file or directory');
    const wire = errorToWire(new FsError('ENOENT', 'no such file or directory', { syscall: 'stat', path: '/d/none', cause: inner }));
    piece('page: rebuilding an ENOENT (with its cause) from the wire', await medianOf(async () => {
      const t0 = performance.now();
      for (let i = 0; i < CALLS; i++) errorFromWire(wire);
      return ((performance.now() - t0) * 1000) / CALLS;
    }));
  }
  port1.close();
  worker.terminate();
}

// ---------------------------------------------------------------- 2. the client, comlink vs fast calls

interface Side {
  client: FilesystemClient;
  small: Uint8Array;
  big: Uint8Array;
  four: Uint8Array;
  into: Uint8Array;
  fh: Awaited<ReturnType<FilesystemClient['promises']['open']>>;
}

async function side(fastCalls: boolean): Promise<Side> {
  const name = `${prefix}/${fastCalls ? 'fast' : 'comlink'}`;
  const client = await connect({ name, backend: 'opfs', deviceSizeBytes: 2048 * MiB, mkfs: true, fastCalls });
  const p = client.promises;
  await p.mkdir('/d');
  const small = new Uint8Array(1024).fill(7);
  const big = new Uint8Array(MiB).map((_, i) => i & 0xff);
  await p.writeFile('/d/f', small);
  await p.writeFile('/d/big', big);
  await client.sync();
  return { client, small, big, four: new Uint8Array(4096), into: new Uint8Array(MiB), fh: await p.open('/d/big', 'r+') };
}

const comlinkSide = await side(false);
const fastSide = await side(true);

const rows: string[] = [];
/** One row: the same measurement on both sides, rounds alternating between them. */
async function compare(what: string, round: (s: Side) => Promise<number>, bytes?: number): Promise<void> {
  await round(comlinkSide);
  await round(fastSide);
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) {
      a.push(await round(comlinkSide));
      b.push(await round(fastSide));
    } else {
      b.push(await round(fastSide));
      a.push(await round(comlinkSide));
    }
  }
  const ca = median(a);
  const fb = median(b);
  const rate = (us: number) => (bytes === undefined ? `${fmt(1e6 / us)}/s` : `${fmt(bytes / us)} MB/s`);
  rows.push(`| ${what} | ${fmt(ca, 1)} | ${fmt(fb, 1)} | ${rate(ca)} | ${rate(fb)} | ${(ca / fb).toFixed(2)}x |`);
  console.log(`${what}: comlink ${fmt(ca, 1)} µs, fast ${fmt(fb, 1)} µs`);
}

await compare('`await client.generation` (comlink on both: the control)', (s) => serialRound(() => s.client.generation, CALLS));
await compare('promises.stat', (s) => serialRound(() => s.client.promises.stat('/d/f'), CALLS));
await compare('promises.stat, ENOENT', (s) => serialRound(() => s.client.promises.stat('/d/none').catch((e: unknown) => e), CALLS));
await compare('promises.readFile 1 KiB', (s) => serialRound(() => s.client.promises.readFile('/d/f'), CALLS));
await compare('promises.writeFile 1 KiB', (s) => serialRound(() => s.client.promises.writeFile('/d/w', s.small), CALLS));
await compare('promises.readdir (3 names)', (s) => serialRound(() => s.client.promises.readdir('/d'), CALLS));
await compare('FileHandle.read 4 KiB into the caller\'s buffer', (s) => serialRound(() => s.fh.read(s.four, 0, 4096, 8192), CALLS));
await compare('FileHandle.write 4 KiB', (s) => serialRound(() => s.fh.write(s.four, 0, 4096, 8192), CALLS));
await compare('FileHandle.read 1 MiB into the caller\'s buffer', (s) => serialRound(() => s.fh.read(s.into, 0, MiB, 0), 40), MiB);
await compare('promises.readFile 1 MiB', (s) => serialRound(() => s.client.promises.readFile('/d/big'), 40), MiB);
await compare('FileHandle.write 1 MiB (copied: the caller keeps its buffer)', async (s) => {
  const us = await serialRound(() => s.fh.write(s.big, 0, MiB, 0), 20);
  await s.client.sync(); // frees the overwritten extents
  return us;
}, MiB);
await compare(`promises.stat, ${IN_FLIGHT} in flight`, (s) => concurrentRound(() => s.client.promises.stat('/d/f'), CALLS * 2));
await compare(`promises.readFile 1 KiB, ${IN_FLIGHT} in flight`, (s) => concurrentRound(() => s.client.promises.readFile('/d/f'), CALLS * 2));
await compare('promises.stat, page\'s work to issue one call (1,000 issued at once)', async (s) => (await burstRound(() => s.client.promises.stat('/d/f'), CALLS)).issueUs);
await compare('promises.stat, 1,000 issued at once: time to the last answer, per call', async (s) => (await burstRound(() => s.client.promises.stat('/d/f'), CALLS)).drainUs);

for (const s of [comlinkSide, fastSide]) {
  await s.fh.close();
  await s.client.close();
}
await (await navigator.storage.getDirectory()).removeEntry(prefix, { recursive: true });

console.log(`\n## Client round trip in Chromium (${navigator.userAgent})\n`);
console.log(`### The pieces (µs per call, median of ${ROUNDS} rounds of ${fmt(CALLS)})\n`);
console.log(['| what | µs per call | per second |', '|---|---|---|', ...pieces].join('\n'));
console.log(`\n### The client on OPFS: comlink vs fast calls (µs per call, median of ${ROUNDS} alternating rounds)\n`);
console.log(['| call | comlink, µs | fast calls, µs | comlink | fast calls | speedup |', '|---|---|---|---|---|---|', ...rows].join('\n'));

describe('client round trip (timed above, see the printed tables)', () => {
  bench('placeholder', () => undefined, { iterations: 1, time: 0 });
});

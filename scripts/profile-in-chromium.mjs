#!/usr/bin/env node
// A CPU profile of a workload run in a dedicated worker in Debian's Chromium, on OPFS with an
// on-disk profile: where the engine's time goes in the browser, which Node profiles do not show
// (session 7 found fresh-buffer page faults this way; docs/benchmarks.md, "Compressed writes").
//
//   node scripts/profile-in-chromium.mjs test/bench/browser/profile/compressed-write.ts '{"mode":"compress=lzo"}'
//
// Workloads are in test/bench/browser/profile/: compressed-write.ts (the compress bench's write),
// small-files-cold.ts (the files bench's cold stat and readdir passes, with the device reads
// counted), small-files-create.ts, random-rw.ts (the random 4 KiB row, with a chosen share of
// reads), seq-write.ts (the sequential write, its commit's flushes timed, and raw OPFS after) and
// early-flush-raw.ts (raw OPFS alone: a write and flush with and without a second worker flushing
// as the writes go on).
// The workload module exports `async function run(args)`; it runs once unprofiled (warm-up) and
// once profiled. The profile goes to node_modules/.cache/profile/<name>.cpuprofile (open it in
// Chrome's DevTools) and its top functions by self time are printed. A development tool: CI does
// not run it. Run it alone (it needs both cores).
// CHROMIUM_ARGS adds Chromium switches, e.g. CHROMIUM_ARGS='--js-flags=--expose-gc' for a workload
// that calls gc(), or '--js-flags=--trace-gc' with DEBUG=pw:browser to see each collection.
// ISOLATED=1 serves the page cross-origin isolated: performance.now() then ticks in 5 µs instead
// of 100 µs, fine enough to time single calls (the bench's pages are not isolated).
// RUNS=N runs the workload N times in the same worker with no profiler (A/B figures: the
// profiler's sampling slows some code, allocation among it, far more than the rest).
// HEAP=1 samples allocations instead of CPU time and prints the functions that allocate most.
import { createServer } from 'vite';
import { chromium } from 'playwright-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';

const [workloadArg, argsJson = '{}'] = process.argv.slice(2);
if (!workloadArg) {
  console.error('usage: node scripts/profile-in-chromium.mjs <workload.ts> [json args]');
  process.exit(2);
}
const workload = resolve(workloadArg);
const args = JSON.parse(argsJson);
const dir = resolve('node_modules/.cache/profile');
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}/worker.ts`, `import { run } from '/@fs${workload}';
self.onmessage = async (e) => {
  try { (self as unknown as Worker).postMessage({ ok: await run(e.data) }); } catch (err) { (self as unknown as Worker).postMessage({ error: String(err) }); }
};
`);
writeFileSync(`${dir}/index.html`, `<!doctype html><script type="module">
const w = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
// A workload module that fails to load (a syntax error, a missing export) fires 'error' on the
// worker, maybe before the first run, and never answers: that is reported as the workload's
// error instead of waiting forever.
let failed;
let pending;
w.onerror = (e) => {
  e.preventDefault();
  failed = { error: \`the workload worker failed: \${e.message || 'its module did not load'}\` };
  pending?.(failed);
};
window.runWorkload = (a) => new Promise((res) => {
  if (failed) return res(failed);
  pending = res;
  w.onmessage = (e) => res(e.data);
  w.postMessage(a);
});
</script>`);

const server = await createServer({ root: dir, configFile: false, logLevel: 'warn', server: { port: 0, fs: { strict: false }, headers: process.env.ISOLATED ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } : {} } });
await server.listen();
const url = server.resolvedUrls.local[0];
const ctx = await chromium.launchPersistentContext(resolve('node_modules/.cache/chromium-profile-profiler'), {
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', ...(process.env.CHROMIUM_ARGS ? process.env.CHROMIUM_ARGS.split(' ') : [])],
});
try {
  const page = ctx.pages()[0] ?? await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  // The worker's own session, not flattened: commands go through Target.sendMessageToTarget.
  let workerSession;
  const pending = new Map();
  let nextId = 1;
  cdp.on('Target.attachedToTarget', (e) => { if (e.targetInfo.type === 'worker') workerSession ??= e.sessionId; });
  cdp.on('Target.receivedMessageFromTarget', (e) => {
    const m = JSON.parse(e.message);
    if (m.id !== undefined && pending.has(m.id)) { pending.get(m.id)(m); pending.delete(m.id); }
  });
  const send = (method, params = {}) => new Promise((res) => {
    const id = nextId++;
    pending.set(id, res);
    void cdp.send('Target.sendMessageToTarget', { sessionId: workerSession, message: JSON.stringify({ id, method, params }) });
  });
  await cdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });
  await page.goto(url);
  await page.waitForFunction(() => typeof window.runWorkload === 'function');
  for (let i = 0; i < 50 && workerSession === undefined; i++) await new Promise((r) => setTimeout(r, 100));
  if (workerSession === undefined) throw new Error('the workload worker did not attach');
  const once = async () => {
    const r = await page.evaluate((a) => window.runWorkload(a), args);
    if (r.error) throw new Error(`workload: ${r.error}`);
    return r.ok;
  };
  console.log('warm-up:', JSON.stringify(await once()));
  if (process.env.RUNS) {
    // Unprofiled runs only (the profiler's sampling slows allocation-heavy code unevenly): for A/B figures.
    for (let i = 1; i < Number(process.env.RUNS); i++) console.log(`run ${i + 1}:`, JSON.stringify(await once()));
  } else if (process.env.HEAP) {
    // Allocation sampling instead of CPU: which functions allocate the most bytes (live or not).
    await send('HeapProfiler.enable');
    await send('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    console.log('sampled:', JSON.stringify(await once()));
    const profile = (await send('HeapProfiler.stopSampling')).result.profile;
    const self = new Map();
    let total = 0;
    const walk = (n) => {
      const f = n.callFrame;
      const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(src|test)\//, '$1/').replace(/\?.*$/, '')}:${f.lineNumber + 1}`;
      self.set(key, (self.get(key) ?? 0) + n.selfSize);
      total += n.selfSize;
      for (const c of n.children ?? []) walk(c);
    };
    walk(profile.head);
    console.log(`\nallocated (sampled), ${(total / 1048576).toFixed(1)} MiB:`);
    for (const [k, b] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
      console.log(`${(b / 1048576).toFixed(2).padStart(8)} MiB ${((100 * b) / total).toFixed(1).padStart(5)}%  ${k}`);
    }
  } else {
    await send('Profiler.enable');
    await send('Profiler.setSamplingInterval', { interval: 100 });
    await send('Profiler.start');
    console.log('profiled:', JSON.stringify(await once()));
    const profile = (await send('Profiler.stop')).result.profile;
    const out = `${dir}/${basename(workload).replace(/\.[jt]s$/, '')}.cpuprofile`;
    writeFileSync(out, JSON.stringify(profile));
    // Self time per function.
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const self = new Map();
    let total = 0;
    profile.samples.forEach((id, i) => {
      const f = byId.get(id).callFrame;
      const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(src|test)\//, '$1/').replace(/\?.*$/, '')}:${f.lineNumber + 1}`;
      const dt = profile.timeDeltas[i] ?? 0;
      self.set(key, (self.get(key) ?? 0) + dt);
      total += dt;
    });
    console.log(`\n${out}\nself time, ${(total / 1000).toFixed(0)} ms sampled:`);
    for (const [k, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
      console.log(`${(t / 1000).toFixed(0).padStart(7)} ms ${((100 * t) / total).toFixed(1).padStart(5)}%  ${k}`);
    }
  }
} finally {
  await ctx.close();
  await server.close();
}

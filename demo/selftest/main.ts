// The self-test page: butterfs's core test scenarios, run in the visitor's own browser, with a
// progress bar and a report. Scenarios that need OPFS sync access handles run in a worker
// (selftest.worker.ts); the differential runs here in the page, against butterfs through the
// client (a worker over this browser's storage), as the browser test suite does.
import * as Comlink from 'comlink';
import { connect, type FilesystemClient } from '../../src/worker/client.js';
import { MemoryDevice, mkfs, mount, IdbDevice, type Filesystem } from '../../src/index.js';
import { runDifferential, xattrExtra, type PromisesLike } from '../../test/shared/differential.js';
import type { SelftestWorkerApi } from './selftest.worker.js';
import type { Report, ScenarioResult, WorkerScenarioId } from './scenarios.js';

interface Scenario {
  id: string;
  title: string;
  what: string;
  run(report: Report): Promise<ScenarioResult>;
}

const worker = new Worker(new URL('./selftest.worker.ts', import.meta.url), { type: 'module', name: 'butterfs-selftest' });
const remote = Comlink.wrap<SelftestWorkerApi>(worker);
const inWorker = (id: WorkerScenarioId) => (report: Report) => remote.run(id, Comlink.proxy(report));

const DIFF_OPS = Number(new URLSearchParams(location.search).get('ops') ?? 1000);

async function differential(report: Report): Promise<ScenarioResult> {
  const opfs = await remote.hasOpfsSyncHandles();
  const backend = opfs ? 'opfs' : 'idb';
  const name = `butterfs-selftest-diff-${Date.now().toString(36)}`;
  const SIZE = 128 << 20;
  const open = () => connect({ name, backend, deviceSizeBytes: SIZE, mkfs: { nodesize: 4096 } });
  let client: FilesystemClient = await open();
  const oracleDev = new MemoryDevice(SIZE);
  await mkfs([oracleDev], { nodesize: 4096 });
  const oracle: Filesystem = await mount([oracleDev]);
  const prefix = '/sandbox/root';
  await oracle.promises.mkdir(prefix, { recursive: true });
  let done = 0;
  const started = performance.now();
  try {
    const stats = await runDifferential({
      seed: 1 + Math.floor(Math.random() * 1000),
      ops: DIFF_OPS,
      subject: () => {
        report(++done, DIFF_OPS * 2.2, 'operations');
        return { fs: client.promises as unknown as PromisesLike, prefix: '' };
      },
      oracle: { fs: oracle.promises as unknown as PromisesLike, prefix },
      commit: () => client.sync(),
      remount: async () => {
        await client.close();
        client = await open();
      },
      commitEvery: 50,
      remountEvery: 150,
      extra: xattrExtra,
    });
    const verdict = await client.check();
    if (!verdict.ok) throw new Error(`check after the run: ${verdict.errors.slice(0, 2).join('; ')}`);
    return {
      summary: `${stats.ops} random operations agree with the in-memory engine (${stats.errors} expected errors, ${stats.commits} commits, ${stats.remounts} worker restarts) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
      details: [
        `the subject is butterfs as a page uses it: connect() over ${backend === 'opfs' ? 'OPFS' : 'IndexedDB'}, every call through the worker`,
        'the reference is the same engine in-process on memory: this checks the worker boundary and this browser\'s storage, while POSIX semantics are held to node:fs by the project\'s node test suite',
        `operations: ${Object.entries(stats.byOp).map(([k, v]) => `${k} ${v}`).join(', ')}`,
      ],
    };
  } finally {
    await client.close().catch(() => undefined);
    await oracle.unmount();
    if (backend === 'idb') await IdbDevice.remove(`${name}/dev1`).catch(() => undefined);
    else await (await navigator.storage.getDirectory()).removeEntry(name, { recursive: true }).catch(() => undefined);
  }
}

const SCENARIOS: Scenario[] = [
  { id: 'opfs', title: 'Device conformance: OPFS', what: 'reads, writes, flushes, bounds, persistence of an OPFS device (sync access handle, in a worker)', run: inWorker('opfsConformance') },
  { id: 'idb', title: 'Device conformance: IndexedDB', what: 'the same checks on the IndexedDB device', run: inWorker('idbConformance') },
  { id: 'fs', title: 'A filesystem on this browser\'s storage', what: 'mkfs, files of every extent kind, a reflink, remount from the device, read back, check', run: inWorker('filesystemRoundTrip') },
  { id: 'crash', title: 'Power cut at any write', what: 'a workload cut at every write, with unflushed writes dropped, kept or torn: each state mounts to a committed generation with exactly its files', run: inWorker('crashPoints') },
  { id: 'corrupt', title: 'Injected corruption is detected', what: 'flipped bits in data and metadata: EIO on a single copy, repaired from the DUP copy, never wrong bytes', run: inWorker('corruption') },
  { id: 'diff', title: 'Differential run', what: `${DIFF_OPS} random fs.promises operations through the worker, compared call by call with the engine in-process`, run: differential },
];

// ---------------------------------------------------------------- page

const $ = <T extends HTMLElement>(sel: string) => document.querySelector<T>(sel)!;
const list = $('#scenarios');
const overall = $('#overall-fill');
const overallLabel = $('#overall-label');
const reportPre = $('#report');
const runButton = $<HTMLButtonElement>('#run');

type State = 'pending' | 'running' | 'passed' | 'failed' | 'skipped';
const results = new Map<string, { state: State; text: string; details: string[]; ms: number }>();

for (const s of SCENARIOS) {
  const li = document.createElement('li');
  li.className = 'sc';
  li.dataset.id = s.id;
  li.dataset.state = 'pending';
  li.innerHTML = `<div class="sc-head"><span class="sc-badge"></span><strong></strong><span class="sc-time"></span></div><p class="sc-what"></p><div class="sc-track"><div class="sc-fill"></div></div><p class="sc-result"></p>`;
  li.querySelector('strong')!.textContent = s.title;
  li.querySelector('.sc-what')!.textContent = s.what;
  list.append(li);
}

function setState(id: string, state: State, text = '', fraction?: number): void {
  const li = list.querySelector<HTMLElement>(`[data-id="${id}"]`)!;
  li.dataset.state = state;
  li.querySelector('.sc-badge')!.textContent = { pending: 'waiting', running: 'running', passed: 'passed', failed: 'failed', skipped: 'skipped' }[state];
  if (text) li.querySelector('.sc-result')!.textContent = text;
  if (fraction !== undefined) li.querySelector<HTMLElement>('.sc-fill')!.style.width = `${Math.round(fraction * 100)}%`;
}

function writeReport(): void {
  const lines = [
    `butterfs self-test, ${new Date().toISOString()}`,
    `browser: ${navigator.userAgent}`,
    `OPFS sync access handles: ${results.get('opfs')?.state === 'skipped' ? 'no' : 'yes'}`,
    '',
  ];
  for (const s of SCENARIOS) {
    const r = results.get(s.id);
    if (!r) continue;
    lines.push(`[${r.state.toUpperCase()}] ${s.title} (${(r.ms / 1000).toFixed(1)} s): ${r.text}`);
    for (const d of r.details) lines.push(`    ${d}`);
  }
  const passed = [...results.values()].filter((r) => r.state === 'passed').length;
  const failed = [...results.values()].filter((r) => r.state === 'failed').length;
  const skipped = [...results.values()].filter((r) => r.state === 'skipped').length;
  lines.push('', `${passed} passed, ${failed} failed, ${skipped} skipped`);
  reportPre.textContent = lines.join('\n');
  document.body.dataset.done = results.size === SCENARIOS.length ? (failed ? 'failed' : 'passed') : '';
}

async function runAll(): Promise<void> {
  runButton.disabled = true;
  results.clear();
  document.body.dataset.done = '';
  for (const s of SCENARIOS) setState(s.id, 'pending', ' ', 0);
  for (const [i, s] of SCENARIOS.entries()) {
    setState(s.id, 'running', 'running…', 0);
    const started = performance.now();
    let finished = false;
    // Progress from the worker arrives as messages: one may land after the result; ignore it.
    const report: Report = (done, total, note) => {
      if (finished) return;
      const f = total ? Math.min(1, done / total) : 0;
      setState(s.id, 'running', note ?? 'running…', f);
      overall.style.width = `${Math.round(((i + f) / SCENARIOS.length) * 100)}%`;
      overallLabel.textContent = `${s.title}: ${note ?? ''}`;
    };
    try {
      const r = await s.run(report).finally(() => (finished = true));
      results.set(s.id, { state: 'passed', text: r.summary, details: r.details, ms: performance.now() - started });
      setState(s.id, 'passed', r.summary, 1);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const skipped = message.startsWith('skipped');
      results.set(s.id, { state: skipped ? 'skipped' : 'failed', text: message, details: [], ms: performance.now() - started });
      setState(s.id, skipped ? 'skipped' : 'failed', message, skipped ? 0 : undefined);
    }
    (list.querySelector(`[data-id="${s.id}"] .sc-time`) as HTMLElement).textContent = `${((performance.now() - started) / 1000).toFixed(1)} s`;
    writeReport();
  }
  overall.style.width = '100%';
  const failed = [...results.values()].filter((r) => r.state === 'failed').length;
  overallLabel.textContent = failed ? `${failed} scenario(s) failed: see the report` : 'All scenarios passed in this browser.';
  runButton.disabled = false;
  runButton.textContent = 'Run again';
}

runButton.addEventListener('click', () => void runAll());
$('#copy').addEventListener('click', () => void navigator.clipboard?.writeText(reportPre.textContent ?? ''));
if (new URLSearchParams(location.search).has('run')) void runAll();

// The self-test's scenarios that run inside a worker (where OPFS sync access handles live): the
// core of the browser test suite, in the visitor's own browser. Each is a plain async function
// that reports progress and returns a one-line summary, or throws with what went wrong.
import { mkfs, mount, MemoryDevice, OpfsDevice, IdbDevice, FsError, type BlockDevice, type Filesystem } from '../../src/index.js';
import { FaultDevice, type UnflushedPolicy } from '../../src/device/fault.js';
import { deviceConformanceChecks, type DeviceHarness } from '../../test/shared/device-conformance.js';

export type Report = (done: number, total: number, note?: string) => void;

export interface ScenarioResult {
  summary: string;
  /** Lines for the report (what was checked). */
  details: string[];
}

const MiB = 1024 * 1024;
const RUN = `selftest-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;

function fail(message: string): never {
  throw new Error(message);
}

export function hasOpfsSyncHandles(): boolean {
  return typeof (globalThis as { FileSystemSyncAccessHandle?: unknown }).FileSystemSyncAccessHandle !== 'undefined';
}

// ---------------------------------------------------------------- device conformance

async function conformance(harness: DeviceHarness, cleanup: () => Promise<void>, report: Report): Promise<ScenarioResult> {
  const details: string[] = [];
  try {
    let i = 0;
    for (const check of deviceConformanceChecks) {
      report(i, deviceConformanceChecks.length, check.name);
      if (check.needsReopen && !harness.reopen) {
        details.push(`skipped (no reopen): ${check.name}`);
      } else {
        try {
          await check.run(harness);
        } catch (e) {
          fail(`${check.name}: ${(e as Error).message}`);
        }
        details.push(`ok: ${check.name}`);
      }
      report(++i, deviceConformanceChecks.length, check.name);
    }
  } finally {
    await cleanup();
  }
  return { summary: `${deviceConformanceChecks.length} device checks passed`, details };
}

export async function opfsConformance(report: Report): Promise<ScenarioResult> {
  if (!hasOpfsSyncHandles()) throw new Error('skipped: this browser has no OPFS sync access handles');
  let n = 0;
  const harness: DeviceHarness = {
    create: (sizeBytes) => OpfsDevice.open(`${RUN}/opfs-${n++}`, { sizeBytes }),
    reopen: (d) => OpfsDevice.open((d as OpfsDevice).name),
  };
  const cleanup = async () => {
    const root = await navigator.storage.getDirectory();
    await root.removeEntry(RUN, { recursive: true }).catch(() => undefined);
  };
  return conformance(harness, cleanup, report);
}

export async function idbConformance(report: Report): Promise<ScenarioResult> {
  const names: string[] = [];
  const harness: DeviceHarness = {
    create: (sizeBytes) => {
      const name = `${RUN}/idb-${names.length}`;
      names.push(name);
      return IdbDevice.open(name, { sizeBytes });
    },
    reopen: (d) => IdbDevice.open((d as IdbDevice).name),
  };
  const cleanup = async () => {
    for (const name of names) await IdbDevice.remove(name).catch(() => undefined);
  };
  return conformance(harness, cleanup, report);
}

// ---------------------------------------------------------------- a filesystem on this browser's storage

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export async function filesystemRoundTrip(report: Report): Promise<ScenarioResult> {
  const opfs = hasOpfsSyncHandles();
  const name = `${RUN}/fs`;
  const open = async (sizeBytes?: number): Promise<BlockDevice> => {
    const o = sizeBytes ? { sizeBytes } : {};
    return opfs ? OpfsDevice.open(name, o) : IdbDevice.open(name, o);
  };
  const sizes = [0, 100, 2048, 4096, 5000, 70_000, 1_000_000];
  let dev = await open(128 * MiB);
  try {
    await mkfs([dev], { label: 'selftest' });
    let fs = await mount([dev]);
    report(1, 5, 'writing files');
    await fs.promises.mkdir('/d/e', { recursive: true });
    for (const [i, n] of sizes.entries()) await fs.promises.writeFile(`/d/f${i}`, pattern(n, i));
    await fs.promises.copyFile('/d/f6', '/d/e/clone', 2 /* COPYFILE_FICLONE */);
    await fs.promises.symlink('f1', '/d/link');
    await fs.promises.rename('/d/f5', '/d/e/moved');
    await fs.unmount();
    await dev.close();
    report(2, 5, 'reopening the device');
    dev = await open();
    fs = await mount([dev]);
    report(3, 5, 'reading back');
    for (const [i, n] of sizes.entries()) {
      const path = i === 5 ? '/d/e/moved' : `/d/f${i}`;
      const got = await fs.promises.readFile(path);
      if (!sameBytes(got, pattern(n, i))) fail(`${path}: read back differs after remount`);
    }
    if (!sameBytes(await fs.promises.readFile('/d/e/clone'), pattern(1_000_000, 6))) fail('the reflinked copy differs');
    if ((await fs.promises.readlink('/d/link')) !== 'f1') fail('symlink target differs');
    report(4, 5, 'checking');
    const verdict = await fs.check();
    if (!verdict.ok) fail(`check: ${verdict.errors.slice(0, 3).join('; ')}`);
    await fs.unmount();
    report(5, 5);
    return { summary: `${sizes.length + 2} files written, remounted from ${opfs ? 'OPFS' : 'IndexedDB'}, read back, checked`, details: [`file sizes ${sizes.join(', ')} bytes`, `check: ${verdict.stats.treeBlocks} tree blocks, ${verdict.stats.dataExtents} data extents`] };
  } finally {
    await dev.close().catch(() => undefined);
    if (opfs) await (await navigator.storage.getDirectory()).removeEntry(RUN, { recursive: true }).catch(() => undefined);
    else await IdbDevice.remove(name).catch(() => undefined);
  }
}

// ---------------------------------------------------------------- crash points

type Model = Map<string, string>;

async function readModel(fs: Filesystem): Promise<Model> {
  const m: Model = new Map();
  for (const name of (await fs.promises.readdir('/')) as string[]) m.set(name, await fs.promises.readFile(`/${name}`, 'utf8'));
  return m;
}

function sameModel(a: Model, b: Model): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

export async function crashPoints(report: Report): Promise<ScenarioResult> {
  const base = new MemoryDevice(64 * MiB);
  await mkfs([base], { nodesize: 4096 });
  const dev = new FaultDevice(base, { record: true });
  const fs = await mount([dev]);
  const model: Model = new Map();
  const gens = new Map<number, { model: Model; commitStart: number; commitEnd: number }>();
  gens.set(fs.generation, { model: new Map(), commitStart: 0, commitEnd: 0 });
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let t = 0; t < 5; t++) {
    for (let op = 0; op < 12; op++) {
      const names = [...model.keys()];
      if (names.length > 4 && rand() < 0.3) {
        const victim = names[Math.floor(rand() * names.length)];
        await fs.promises.unlink(`/${victim}`);
        model.delete(victim);
      } else {
        const name = `f${Math.floor(rand() * 40)}`;
        const text = `${name} in transaction ${t}: ${'x'.repeat(Math.floor(rand() * 6000))}`;
        await fs.promises.writeFile(`/${name}`, text);
        model.set(name, text);
      }
    }
    const commitStart = dev.events.length;
    await fs.sync();
    gens.set(fs.generation, { model: new Map(model), commitStart, commitEnd: dev.events.length });
  }
  const total = dev.events.length;
  const policies: [string, UnflushedPolicy][] = [['drop', 'none'], ['keep', 'all'], ['torn', { seed: 11, keepProbability: 0.5, tearProbability: 0.3 }]];
  const MAX_STATES = 420;
  const step = Math.max(1, Math.ceil(((total + 1) * policies.length) / MAX_STATES));
  let states = 0;
  let done = 0;
  const planned = Math.ceil((total + 1) / step) * policies.length;
  for (let k = 0; k <= total; k += step) {
    for (const [pname, policy] of policies) {
      const state = dev.stateAfter(k, typeof policy === 'object' && typeof policy !== 'function' ? { ...policy, seed: policy.seed + k } : policy);
      let durable = 0;
      let inFlight: number | undefined;
      for (const [g, info] of gens) {
        if (info.commitEnd <= k) durable = Math.max(durable, g);
        else if (info.commitStart < k) inFlight = g;
      }
      const crashed = await mount([state], 'ro');
      const g = crashed.generation;
      if (g !== durable && g !== inFlight) fail(`crash after write ${k} (${pname}): mounted generation ${g}, expected ${durable}${inFlight ? ` or ${inFlight}` : ''}`);
      if (!sameModel(await readModel(crashed), gens.get(g)!.model)) fail(`crash after write ${k} (${pname}): the files are not those of generation ${g}`);
      const verdict = await crashed.check();
      if (!verdict.ok) fail(`crash after write ${k} (${pname}): check: ${verdict.errors.slice(0, 2).join('; ')}`);
      await crashed.unmount();
      states++;
      report(++done, planned, `crash after write ${k} of ${total}, unflushed writes ${pname}`);
    }
  }
  return {
    summary: `${states} crash states (${step === 1 ? 'after every one' : `after one in ${step}`} of ${total} writes; unflushed writes dropped, kept, torn) mount to a committed generation with its exact files and pass check`,
    details: [`${gens.size - 1} commits of a workload of writes, overwrites and deletions`],
  };
}

// ---------------------------------------------------------------- injected corruption

interface BlockGroup { start: number; lengthBytes: number; stripes: { physical: number }[] }

async function physicalCopies(fs: Filesystem, logical: number): Promise<number[]> {
  const groups = (await (fs as unknown as { filesystem: { blockGroups(): Promise<BlockGroup[]> } }).filesystem.blockGroups());
  const g = groups.find((b) => logical >= b.start && logical < b.start + b.lengthBytes);
  if (!g) fail(`no block group holds logical ${logical}`);
  return g.stripes.map((s) => s.physical + (logical - g.start));
}

async function flipByte(dev: BlockDevice, physical: number): Promise<void> {
  const at = Math.floor(physical / 4096) * 4096;
  const block = (await dev.read(at, 4096)).slice();
  block[physical - at] ^= 0x20;
  await dev.write(at, block);
}

async function expectEio(what: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof FsError && e.code === 'EIO') return;
    fail(`${what}: expected EIO, got ${(e as Error).message}`);
  }
  fail(`${what}: read succeeded on corrupt data (wrong bytes would have been returned)`);
}

export async function corruption(report: Report): Promise<ScenarioResult> {
  const details: string[] = [];
  const dev = new MemoryDevice(128 * MiB);
  await mkfs([dev]);
  let fs = await mount([dev]);
  const data = pattern(64 * 1024, 3);
  await fs.promises.writeFile('/victim.bin', data);
  for (let i = 0; i < 40; i++) await fs.promises.writeFile(`/small-${i}`, `file ${i}`);
  await fs.unmount();
  fs = await mount([dev]);
  // The data extent of /victim.bin and a leaf of the fs tree, from the dump (as progs prints them).
  const ino = (await fs.promises.stat('/victim.bin')).ino;
  const fsDump = await fs.dumpTree({ tree: 5 });
  const extent = new RegExp(`key \\(${ino} EXTENT_DATA 0\\)[^\\n]*\\n[^\\n]*\\n\\s+extent data disk byte (\\d+)`).exec(fsDump);
  if (!extent) fail('could not find the data extent of /victim.bin in the fs tree');
  const leaf = /^(?:leaf|node) (\d+) /m.exec(fsDump.slice(fsDump.indexOf('fs tree key')));
  if (!leaf) fail('could not find the fs tree root block');
  const dataCopies = await physicalCopies(fs, Number(extent[1]) + 4096 * 5 + 100);
  const metaCopies = await physicalCopies(fs, Number(leaf[1]) + 200);
  await fs.unmount();
  report(1, 4, 'bit flip in a data sector (single profile)');

  // 1. Data, single copy: EIO, never wrong bytes; the other sectors still read.
  await flipByte(dev, dataCopies[0]);
  fs = await mount([dev], 'ro');
  await expectEio('a flipped bit in file data', () => fs.promises.readFile('/victim.bin'));
  const fh = await fs.promises.open('/victim.bin', 'r');
  const head = new Uint8Array(4096 * 5);
  await fh.read(head, 0, head.length, 0);
  await fh.close();
  if (!sameBytes(head, data.subarray(0, head.length))) fail('sectors before the damaged one read wrong');
  await fs.unmount();
  details.push('data: a flipped bit in a sector is EIO; the sectors around it still read correctly');
  await flipByte(dev, dataCopies[0]);
  report(2, 4, 'bit flip in one copy of a metadata block (DUP)');

  // 2. Metadata, one DUP copy damaged: read from the other copy and rewritten.
  if (metaCopies.length !== 2) fail(`metadata has ${metaCopies.length} copies, expected 2 (DUP)`);
  await flipByte(dev, metaCopies[0]);
  fs = await mount([dev]);
  const names = (await fs.promises.readdir('/')) as string[];
  if (names.length !== 41) fail(`with one bad copy, the directory lists ${names.length} names, expected 41`);
  const repairs = (fs as unknown as { info: { stats: { treeBlockRepairs: number } } }).info.stats.treeBlockRepairs;
  await fs.unmount();
  const [a, b] = await Promise.all(metaCopies.map((p) => dev.read(Math.floor(p / 4096) * 4096, 4096)));
  if (!sameBytes(a, b)) fail('the bad metadata copy was not rewritten from the good one');
  details.push(`metadata: a flipped bit in one DUP copy is read from the other copy and repaired (${repairs} repair)`);
  report(3, 4, 'both copies of a metadata block damaged');

  // 3. Both copies bad: EIO naming the block. (The read-write mount above may have moved the
  // fs tree root by copy-on-write: find it again.)
  fs = await mount([dev], 'ro');
  const again = await fs.dumpTree({ tree: 5 });
  const root = /^(?:leaf|node) (\d+) /m.exec(again.slice(again.indexOf('fs tree key')));
  if (!root) fail('could not find the fs tree root block');
  const bothCopies = await physicalCopies(fs, Number(root[1]) + 200);
  await fs.unmount();
  for (const p of bothCopies) await flipByte(dev, p);
  await expectEio('both copies of a tree block flipped', async () => {
    const broken = await mount([dev], 'ro');
    try {
      await broken.promises.readdir('/');
      for (const n of names) await broken.promises.readFile(`/${n}`);
    } finally {
      await broken.unmount().catch(() => undefined);
    }
  });
  details.push('metadata: both copies damaged is EIO, never wrong data');
  report(4, 4);
  return { summary: 'flipped bits in data and metadata are detected: EIO on a single copy, repaired from the DUP copy', details };
}

export const WORKER_SCENARIOS = { opfsConformance, idbConformance, filesystemRoundTrip, crashPoints, corruption };
export type WorkerScenarioId = keyof typeof WORKER_SCENARIOS;

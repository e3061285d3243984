// One writer per filesystem: two connect() calls in one page behave like two tabs (each has its
// own worker, and Web Locks and BroadcastChannel are per origin, across workers and tabs).
import { afterAll, describe, expect, it } from 'vitest';
import { connect, connectionInfo, FsError, isFsError, type ConnectionState, type FilesystemClient } from '../../../src/worker/client.js';
import { removeRun } from './cleanup.js';

const run = `wtabs${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
const SIZE = 64 << 20;
const idbDevices: string[] = [];
const open: FilesystemClient[] = [];

afterAll(async () => {
  for (const c of open) await c.close();
  await removeRun(run, idbDevices);
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** 'pending' if p has not settled within ms. */
async function settledWithin<T>(p: Promise<T>, ms: number): Promise<'pending' | 'settled'> {
  return Promise.race([p.then(() => 'settled' as const, () => 'settled' as const), sleep(ms).then(() => 'pending' as const)]);
}

function stateRecorder() {
  const states: ConnectionState[] = [];
  const waiters: { state: ConnectionState; resolve: () => void }[] = [];
  return {
    states,
    onStateChange: (s: ConnectionState) => {
      states.push(s);
      for (const w of waiters.splice(0)) if (w.state === s) w.resolve();
      else waiters.push(w);
    },
    reached(state: ConnectionState): Promise<void> {
      if (states.includes(state)) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ state, resolve }));
    },
  };
}

async function holder(name: string, backend: 'opfs' | 'idb' = 'opfs'): Promise<FilesystemClient> {
  if (backend === 'idb') idbDevices.push(`${name}/dev1`);
  const fs = await connect({ name, backend, deviceSizeBytes: SIZE, mkfs: { label: 'tabs' }, whenBusy: 'fail' });
  open.push(fs);
  return fs;
}

describe('whenBusy: wait', () => {
  it('the second connection waits without opening the devices, then opens them when the first closes', async () => {
    const name = `${run}-wait`;
    const a = await holder(name);
    await a.sync();
    const rec = stateRecorder();
    const pendingB = connect({ name, backend: 'opfs', whenBusy: 'wait', onStateChange: rec.onStateChange });
    await rec.reached('waiting-for-lock');
    expect(await settledWithin(pendingB, 500)).toBe('pending');
    expect(rec.states).toEqual(['waiting-for-lock']);
    // The first is unaffected.
    expect((await a.check()).ok).toBe(true);
    const lastGeneration = await a.generation;
    await a.close();
    const b = await pendingB;
    open.push(b);
    expect(rec.states).toEqual(['waiting-for-lock', 'opening', 'holder']);
    expect(connectionInfo(b).summary?.label).toBe('tabs');
    expect(await b.generation).toBe(lastGeneration);
    expect((await b.check()).ok).toBe(true);
    await b.close();
  });

  it('a waiting connect() can be aborted; it never held anything', async () => {
    const name = `${run}-abort`;
    const a = await holder(name, 'idb');
    const controller = new AbortController();
    const pending = connect({ name, backend: 'idb', signal: controller.signal });
    await sleep(100);
    controller.abort();
    await expect(pending).rejects.toSatisfy((e) => isFsError(e, 'ECANCELED'));
    await a.close();
    // The aborted one left no lock behind.
    const c = await connect({ name, backend: 'idb', whenBusy: 'fail' });
    await c.close();
  });
});

describe('whenBusy: fail', () => {
  it('is EBUSY naming the filesystem while another connection holds it', async () => {
    const name = `${run}-fail`;
    const a = await holder(name);
    const e = await connect({ name, backend: 'opfs', whenBusy: 'fail' }).then(() => expect.fail('connected twice'), (x: unknown) => x);
    expect(e).toBeInstanceOf(FsError);
    expect((e as FsError).code).toBe('EBUSY');
    expect((e as FsError).errno).toBe(-16);
    expect((e as FsError).syscall).toBe('mount');
    expect((e as FsError).path).toBe(name);
    await a.close();
  });

  it('two filesystem names over one device: the second is EBUSY naming the device', async () => {
    const name = `${run}-dev`;
    const a = await holder(name);
    const e = await connect({ name: `${name}-alias`, backend: 'opfs', devices: [`${name}/dev1`] }).then(() => expect.fail('two writers'), (x: unknown) => x);
    expect(isFsError(e, 'EBUSY')).toBe(true);
    expect((e as FsError).path).toBe(`${name}/dev1`);
    await a.close();
  });
});

describe('whenBusy: share', () => {
  it('a sharer reaches the filesystem through the holder, never opens the devices, and takes over when the holder leaves', async () => {
    const name = `${run}-share`;
    const a = await holder(name);
    const rec = stateRecorder();
    const b = await connect({ name, backend: 'opfs', whenBusy: 'share', onStateChange: rec.onStateChange });
    open.push(b);
    const bInfo = connectionInfo(b);
    expect(bInfo.state).toBe('sharer');
    expect(await bInfo.devicesOpen()).toBe(false);
    expect(await b.generation).toBe(await a.generation);
    // The sharer's calls run in the holder's engine: a commit through b shows in a.
    const check = await b.check();
    expect(check.ok).toBe(true);
    expect(await b.dumpSuper()).toContain('label\t\t\ttabs');
    // File data both ways through the channel; Stats arrive as values.
    await b.promises.writeFile('/from-b', new Uint8Array([1, 2, 3, 4]));
    expect([...(await a.promises.readFile('/from-b'))]).toEqual([1, 2, 3, 4]);
    await a.promises.writeFile('/from-a', 'holder wrote this');
    expect(await b.promises.readFile('/from-a', 'utf8')).toBe('holder wrote this');
    expect((await b.promises.stat('/from-a')).isFile()).toBe(true);
    const missing = await b.promises.stat('/nope').then(() => expect.fail('exists'), (x: unknown) => x);
    expect(isFsError(missing, 'ENOENT')).toBe(true);
    expect((missing as FsError).path).toBe('/nope');
    // A FileHandle crosses by reference (a MessagePort), which a BroadcastChannel cannot carry.
    await expect(b.promises.open('/from-a')).rejects.toThrow();
    // Errors cross the channel intact, and a sharer cannot unmount.
    const e = await b.unmount().then(() => expect.fail('sharer unmounted'), (x: unknown) => x);
    expect(isFsError(e, 'EPERM')).toBe(true);

    // A second sharer.
    const c = await connect({ name, backend: 'opfs', whenBusy: 'share' });
    open.push(c);
    expect(connectionInfo(c).state).toBe('sharer');

    await a.sync();
    const generation = await a.generation;
    await a.close(); // nothing left to commit: the generation stays
    // One of the sharers takes over; the other re-attaches to it.
    await Promise.race([rec.reached('holder'), new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (connectionInfo(c).state === 'holder') {
          clearInterval(t);
          resolve();
        }
      }, 20);
    })]);
    const [newHolder, stillSharer] = connectionInfo(b).state === 'holder' ? [b, c] : [c, b];
    expect(connectionInfo(newHolder).state).toBe('holder');
    expect(await connectionInfo(newHolder).devicesOpen()).toBe(true);
    expect(connectionInfo(stillSharer).state).toBe('sharer');
    expect(await connectionInfo(stillSharer).devicesOpen()).toBe(false);
    expect(await newHolder.generation).toBe(generation);
    // The remaining sharer is served by the new holder (its first request may be queued until it re-attaches).
    expect((await stillSharer.check()).ok).toBe(true);
    expect(await stillSharer.promises.readFile('/from-b')).toEqual(new Uint8Array([1, 2, 3, 4]));
    expect(await stillSharer.generation).toBe(await newHolder.generation);

    await stillSharer.close();
    await newHolder.close();
  });

  it('a sharer connecting while nobody holds the filesystem becomes the holder', async () => {
    const name = `${run}-share-alone`;
    idbDevices.push(`${name}/dev1`);
    const b = await connect({ name, backend: 'idb', deviceSizeBytes: SIZE, mkfs: true, whenBusy: 'share' });
    open.push(b);
    expect(connectionInfo(b).state).toBe('holder');
    await b.close();
  });
});

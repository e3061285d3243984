// butterfs/client in real Chromium: connect() starts the worker, which opens OPFS or IndexedDB
// devices, formats them when blank, mounts, and serves the Filesystem through comlink.
import { afterAll, describe, expect, it } from 'vitest';
import { connect, connectionInfo, FsError, isFsError, startWorker, transfer, type FilesystemClient } from '../../../src/worker/client.js';
import { IdbDevice } from '../../../src/device/idb.js';
import { OpfsDevice } from '../../../src/device/opfs.js';

const run = `wt${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
const SIZE = 64 << 20;
const made: { backend: 'opfs' | 'idb'; device: string }[] = [];

afterAll(async () => {
  for (const { backend, device } of made) if (backend === 'idb') await IdbDevice.remove(device);
  // OPFS devices: their directories (some tests never create the device file itself).
  const root = await navigator.storage.getDirectory();
  for await (const key of (root as unknown as { keys(): AsyncIterable<string> }).keys()) {
    if (key.startsWith(run)) await root.removeEntry(key, { recursive: true });
  }
});

function fsName(backend: string, what: string): string {
  const name = `${run}-${backend}-${what}`;
  return name;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => expect.fail('expected a rejection'),
    (e: unknown) => e,
  );
}

for (const backend of ['opfs', 'idb'] as const) {
  describe(`connect (${backend})`, () => {
    it('formats a blank device, mounts, syncs, checks clean, and finds the same filesystem after a worker restart', async () => {
      const name = fsName(backend, 'persist');
      made.push({ backend, device: `${name}/dev1` });
      const states: string[] = [];
      const fs = await connect({ name, backend, deviceSizeBytes: SIZE, mkfs: { label: `lbl-${backend}` }, mountOptions: 'commit=30', onStateChange: (s) => states.push(s) });
      const info = connectionInfo(fs);
      expect(info.state).toBe('holder');
      expect(states).toEqual(['opening', 'holder']);
      expect(info.summary?.formatted).toBe(true);
      expect(info.summary?.label).toBe(`lbl-${backend}`);
      expect(await info.devicesOpen()).toBe(true);
      const generation = await fs.generation;
      expect(generation).toBe(info.summary?.generation);
      await fs.sync();
      const result = await fs.check();
      expect(result.errors).toEqual([]);
      expect(result.ok).toBe(true);
      expect(await fs.dumpSuper()).toContain(`label\t\t\tlbl-${backend}`);
      const options = await fs.options;
      expect(options.commitIntervalMs).toBe(30_000);
      await fs.close();
      expect(info.state).toBe('closed');
      expect(await info.devicesOpen()).toBe(false);
      await expect(fs.sync()).rejects.toSatisfy((e) => e instanceof FsError && e.code === 'EIO');

      // A new worker: no mkfs this time (the devices hold a filesystem), same fsid, label, generation.
      const again = await connect({ name, backend, deviceSizeBytes: SIZE, mkfs: true });
      const info2 = connectionInfo(again);
      expect(info2.summary?.formatted).toBe(false);
      expect(info2.summary?.fsid).toBe(info.summary?.fsid);
      expect(info2.summary?.label).toBe(`lbl-${backend}`);
      expect(await again.generation).toBe(generation);
      expect((await again.check()).ok).toBe(true);
      await again.close();
      await again.close(); // idempotent
    });

    it('a bad mount option string is EINVAL from the worker, and no device is even created', async () => {
      const name = fsName(backend, 'badopt');
      const e = await rejection(connect({ name, backend, deviceSizeBytes: SIZE, mkfs: true, mountOptions: 'compress=zstd,nosuchoption' }));
      expect(e).toBeInstanceOf(FsError);
      const fe = e as FsError;
      expect(fe.code).toBe('EINVAL');
      expect(fe.errno).toBe(-22);
      expect(fe.name).toBe('FsError');
      expect(fe.message).toMatch(/^EINVAL: invalid argument/);
      // The stack is the worker's, where the error was raised.
      expect(fe.stack).toMatch(/mount-options/);
      if (backend === 'opfs') {
        await expect(OpfsDevice.remove(`${name}/dev1`)).rejects.toSatisfy((x) => isFsError(x, 'ENOENT'));
      } else {
        made.push({ backend, device: `${name}/dev1` });
        await expect(IdbDevice.open(`${name}/dev1`)).rejects.toSatisfy((x) => isFsError(x, 'EINVAL'));
      }
    });

    it('an error with syscall and path (opening a device that does not exist, with no size) crosses intact', async () => {
      const name = fsName(backend, 'nodev');
      const device = `${name}/dev1`;
      made.push({ backend, device });
      const e = await rejection(connect({ name, backend }));
      expect(e).toBeInstanceOf(FsError);
      const fe = e as FsError;
      expect(fe.code).toBe('EINVAL');
      expect(fe.errno).toBe(-22);
      expect(fe.syscall).toBe('open');
      expect(fe.path).toBe(device);
      expect(fe.message).toContain(`open '${device}'`);
    });

    it('mounting a blank device without mkfs fails with the engine error and releases the lock', async () => {
      const name = fsName(backend, 'blank');
      made.push({ backend, device: `${name}/dev1` });
      const e = await rejection(connect({ name, backend, deviceSizeBytes: SIZE }));
      expect(e).toBeInstanceOf(FsError);
      // The lock was released with the failed open: a second connect gets it at once.
      const fs = await connect({ name, backend, mkfs: true, whenBusy: 'fail' });
      expect(connectionInfo(fs).summary?.formatted).toBe(true);
      await fs.close();
    });
  });
}

describe('the client surface', () => {
  let fs: FilesystemClient;
  const name = fsName('idb', 'surface');
  made.push({ backend: 'idb', device: `${name}/dev1` });
  afterAll(async () => {
    await fs?.close();
  });

  it('in-process members are refused with EOPNOTSUPP; assignment is refused', async () => {
    fs = await connect({ name, backend: 'idb', deviceSizeBytes: SIZE, mkfs: true });
    const loose = fs as unknown as Record<string, () => Promise<unknown>> & { info: Promise<unknown>; fsCallback: Promise<unknown> };
    await expect(loose.fsCallback).rejects.toSatisfy((e) => e instanceof FsError && e.code === 'EOPNOTSUPP');
    await expect(loose.transaction()).rejects.toSatisfy((e) => e instanceof FsError && e.code === 'EOPNOTSUPP');
    await expect(loose.read()).rejects.toSatisfy((e) => e instanceof FsError && e.code === 'EOPNOTSUPP');
    await expect(loose.info).rejects.toSatisfy((e) => e instanceof FsError && e.code === 'EOPNOTSUPP');
    expect(() => {
      (fs as unknown as Record<string, unknown>).sync = 1;
    }).toThrow(FsError);
  });

  it('the client is not a thenable and dumpTree text arrives whole', async () => {
    expect((fs as unknown as { then?: unknown }).then).toBeUndefined();
    const text = await fs.dumpTree({ tree: 1 });
    expect(text).toMatch(/^root tree/);
  });

  it('fs.promises answers ENOENT with code, errno, syscall and path', async () => {
    const e = await rejection(fs.promises.readFile('/no/such/file'));
    expect(e).toBeInstanceOf(FsError);
    expect((e as FsError).code).toBe('ENOENT');
    expect((e as FsError).errno).toBe(-2);
    expect((e as FsError).syscall).toBe('open');
    expect((e as FsError).path).toBe('/no/such/file');
  });

  it('file data round-trips: writeFile copies by default, moves with transfer(); readFile bytes arrive whole', async () => {
    const data = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
    await fs.promises.writeFile('/big', data);
    expect(data.byteLength).toBe(300_000); // copied, still ours
    const moved = data.slice();
    await fs.promises.writeFile('/big2', transfer(moved, [moved.buffer]));
    expect(moved.byteLength).toBe(0); // moved
    const back = await fs.promises.readFile('/big');
    expect(back).toBeInstanceOf(Uint8Array);
    expect(back.byteLength).toBe(300_000);
    expect(back[123_457]).toBe((123_457 * 7) & 0xff);
    expect(await fs.promises.readFile('/big2', 'utf8')).toHaveLength(300_000 - 0); // decoded in the worker
    expect((await fs.check()).ok).toBe(true);
  });

  it('Stats and Dirent arrive as values with their methods; a FileHandle is a reference whose read() fills our buffer', async () => {
    await fs.promises.mkdir('/dir/sub', { recursive: true });
    await fs.promises.writeFile('/dir/f', 'hello, worker');
    const st = await fs.promises.stat('/dir/f');
    expect(st.isFile()).toBe(true);
    expect(st.isDirectory()).toBe(false);
    expect(st.size).toBe(13);
    expect(st.mtime).toBeInstanceOf(Date);
    const entries = await fs.promises.readdir('/dir', { withFileTypes: true });
    const byName = Object.fromEntries((entries as { name: string; isDirectory(): boolean }[]).map((d) => [d.name, d.isDirectory()]));
    expect(byName).toEqual({ f: false, sub: true });

    const fh = await fs.promises.open('/dir/f', 'r');
    expect(typeof (await fh.fd)).toBe('number');
    const mine = new Uint8Array(5);
    const r = await fh.read(mine, 0, 5, 7);
    expect(r.bytesRead).toBe(5);
    expect(r.buffer).toBe(mine); // the caller's own array, filled, as in-process
    expect(new TextDecoder().decode(mine)).toBe('worke');
    await fh.close();
  });

  it('check() takes an onProgress callback and an AbortSignal from the page', async () => {
    let calls = 0;
    const ok = await fs.check({ onProgress: () => void calls++ });
    expect(ok.ok).toBe(true);
    expect(calls).toBeGreaterThan(0);
    const ac = new AbortController();
    ac.abort();
    await expect(fs.check({ signal: ac.signal })).rejects.toSatisfy((e) => isFsError(e, 'ECANCELED'));
  });
});

describe('startWorker()', () => {
  it('a worker started ahead serves a later connect(), which then only opens and mounts', async () => {
    const name = fsName('opfs', 'ahead');
    const worker = startWorker();
    const fs = await connect({ name, backend: 'opfs', deviceSizeBytes: SIZE, mkfs: true, worker });
    await fs.promises.writeFile('/x', 'ahead');
    expect(await fs.promises.readFile('/x', 'utf8')).toBe('ahead');
    await fs.close();
  });
});

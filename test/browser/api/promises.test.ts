// fs.promises through the page client in Chromium: persistence across a worker restart (and what
// a crashed worker keeps: the last commit), and errors crossing the boundary with node's fields,
// compared call for call with the same engine in-process.
import { Buffer } from 'buffer';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, FsError, nodeFs, type FilesystemClient } from '../../../src/worker/client.js';
import { MemoryDevice, mkfs, mount, type Filesystem } from '../../../src/index.js';
import { removeRun } from '../worker/cleanup.js';

const run = `wprom${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
const SIZE = 64 << 20;
const idbDevices: string[] = [];

afterAll(async () => {
  await removeRun(run, idbDevices);
});

/** A small tree with every kind of thing fs.promises makes. */
async function populate(p: FilesystemClient['promises'] | Filesystem['promises']): Promise<void> {
  await p.mkdir('/a/b/c', { recursive: true, mode: 0o750 });
  await p.writeFile('/a/small.txt', 'hello, OPFS');
  await p.writeFile('/a/b/big.bin', new Uint8Array(300_000).map((_, i) => (i * 31) & 0xff));
  await p.symlink('b/big.bin', '/a/link');
  await p.link('/a/small.txt', '/a/b/hard');
  await p.chmod('/a/small.txt', 0o600);
  await p.utimes('/a/small.txt', 1_000_000, 1_234_567);
  await p.setxattr('/a/small.txt', 'user.note', new TextEncoder().encode('kept'), {});
}

async function expectTree(p: FilesystemClient['promises']): Promise<void> {
  expect(await p.readFile('/a/small.txt', 'utf8')).toBe('hello, OPFS');
  const big = await p.readFile('/a/b/big.bin');
  expect(big.byteLength).toBe(300_000);
  expect(big[299_999]).toBe((299_999 * 31) & 0xff);
  expect(await p.readlink('/a/link')).toBe('b/big.bin');
  expect((await p.stat('/a/link')).size).toBe(300_000);
  const st = await p.stat('/a/small.txt');
  expect(st.mode & 0o7777).toBe(0o600);
  expect(st.nlink).toBe(2);
  expect(st.mtimeMs).toBe(1_234_567_000);
  expect((await p.stat('/a/b/c')).mode & 0o7777).toBe(0o750);
  expect(new TextDecoder().decode((await p.getxattr('/a/small.txt', 'user.note')) as Uint8Array)).toBe('kept');
  expect((await p.readdir('/a')).sort()).toEqual(['b', 'link', 'small.txt']);
}

for (const backend of ['opfs', 'idb'] as const) {
  describe(`persistence through the client (${backend})`, () => {
    it('what was written is there after close() and a new worker; a crashed worker keeps the last commit', async () => {
      const name = `${run}-${backend}`;
      if (backend === 'idb') idbDevices.push(`${name}/dev1`);
      const a = await connect({ name, backend, deviceSizeBytes: SIZE, mkfs: true });
      await populate(a.promises);
      await a.close(); // unmount commits

      const b = await connect({ name, backend, deviceSizeBytes: SIZE, mkfs: true });
      await expectTree(b.promises);
      await b.promises.writeFile('/committed', 'yes');
      await b.sync();
      await b.close();

      // A worker that dies without close(): changes since the last commit are lost, as in a power
      // cut; the commit before is whole.
      const worker = new Worker(new URL('../../../src/worker/worker.ts', import.meta.url), { type: 'module', name: 'butterfs' });
      const c = await connect({ name, backend, worker, closeTimeoutMs: 300 });
      await c.promises.writeFile('/committed', 'overwritten, never committed');
      await c.promises.writeFile('/lost', 'never committed');
      // The worker is gone, and with it the Web Lock, which the next connect takes. close() on
      // the dead connection does not hang: it times out with ETIMEDOUT.
      worker.terminate();
      await expect(c.close()).rejects.toMatchObject({ code: 'ETIMEDOUT' });

      const d = await connect({ name, backend });
      try {
        await expectTree(d.promises);
        expect(await d.promises.readFile('/committed', 'utf8')).toBe('yes');
        await expect(d.promises.stat('/lost')).rejects.toMatchObject({ code: 'ENOENT' });
        expect((await d.check()).errors).toEqual([]);
      } finally {
        await d.close();
      }
    });
  });
}

describe('errors across the boundary', () => {
  it('every failing fs.promises call rejects with the same FsError as in-process: code, errno, syscall, path, dest, message', async () => {
    const name = `${run}-errors`;
    const client = await connect({ name, backend: 'opfs', deviceSizeBytes: SIZE, mkfs: true });
    const dev = new MemoryDevice(SIZE);
    await mkfs([dev]);
    const local = await mount([dev]);
    try {
      await populate(client.promises);
      await populate(local.promises);
      type P = Record<string, (...a: unknown[]) => Promise<unknown>>;
      const calls: [string, unknown[]][] = [
        ['readFile', ['/nope']],
        ['readFile', ['/a']],
        ['stat', ['/a/small.txt/x']],
        ['lstat', ['/nope/deeper']],
        ['mkdir', ['/a']],
        ['mkdir', ['/x/y/z']],
        ['rmdir', ['/a']],
        ['rmdir', ['/a/small.txt']],
        ['unlink', ['/a/b']],
        ['rename', ['/a', '/a/b/c/d']],
        ['rename', ['/nope', '/x']],
        ['link', ['/a/small.txt', '/a/link']],
        ['link', ['/a/b', '/a/b2']],
        ['symlink', ['x', '/a/small.txt']],
        ['readlink', ['/a/small.txt']],
        ['open', ['/a/small.txt', 'wx']],
        ['open', ['/a/b', 'w']],
        ['open', ['/a/small.txt', 'zz']],
        ['writeFile', ['/a/b/c', 'x']],
        ['truncate', ['/a/b', 3]],
        ['copyFile', ['/a/small.txt', '/a/b/hard', 1]],
        ['access', ['/nope']],
        ['rm', ['/a']],
        ['stat', ['/a/' + 'n'.repeat(256)]],
        ['stat', ['/a/\0']],
        ['getxattr', ['/a/small.txt', 'user.none']],
        ['setxattr', ['/a/small.txt', 'user.note', new Uint8Array(1), { create: true }]],
        ['realpath', ['/a/link/x']],
      ];
      for (const [method, args] of calls) {
        const remote = await (client.promises as unknown as P)[method](...args).then(() => undefined, (e: unknown) => e);
        const inProcess = await (local.promises as unknown as P)[method](...args).then(() => undefined, (e: unknown) => e);
        expect(inProcess, `${method} fails in-process`).toBeInstanceOf(FsError);
        expect(remote, `${method}(${JSON.stringify(args).slice(0, 60)}) through the client`).toBeInstanceOf(FsError);
        const fields = (e: unknown) => {
          const f = e as FsError;
          return { name: f.name, code: f.code, errno: f.errno, syscall: f.syscall, path: f.path, dest: f.dest, message: f.message };
        };
        expect(fields(remote), method).toEqual(fields(inProcess));
      }
      // Through a FileHandle reference as well.
      const fh = await client.promises.open('/a/small.txt', 'r');
      await expect(fh.write(new Uint8Array(1))).rejects.toMatchObject({ code: 'EBADF', errno: -9 });
      await fh.close();
      // And through nodeFs(), which forwards to the same calls.
      await expect(nodeFs(client).promises.readFile('/nope')).rejects.toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'open', path: '/nope' });
    } finally {
      await client.close();
      await local.unmount();
    }
  });

  it("a Buffer argument (a Uint8Array subclass whose slice() is a view) is copied, and the caller's memory stays usable", async () => {
    const client = await connect({ name: `${run}-buffer`, backend: 'opfs', deviceSizeBytes: SIZE, mkfs: true });
    try {
      const pool = Buffer.from('0123456789abcdef');
      const view = pool.subarray(4, 10);
      await client.promises.writeFile('/v', view);
      expect(pool.buffer.byteLength).toBeGreaterThan(0); // not detached
      expect(pool.toString()).toBe('0123456789abcdef');
      expect(await client.promises.readFile('/v', 'utf8')).toBe('456789');
    } finally {
      await client.close();
    }
  });
});

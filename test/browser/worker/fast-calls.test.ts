// The fast calls (src/worker/rpc.ts, rpc-server.ts) in real Chromium: fs.promises and FileHandle
// calls to the page's own worker without comlink. Everything a page sees must be what the
// comlink path gives (and what the engine gives in-process): values, value classes, errors with
// their codes, the caller's buffers filled or kept, calls in flight together, a closed client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, FsError, isFsError, transfer, type FilesystemClient } from '../../../src/worker/client.js';
import { BigIntStats, Dirent, Stats } from '../../../src/api/stats.js';
import { removeRun } from './cleanup.js';

const run = `wfast${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
const SIZE = 64 << 20;
const idbDevices: string[] = [];

let fast: FilesystemClient;
let slow: FilesystemClient;

beforeAll(async () => {
  fast = await connect({ name: `${run}-fast`, backend: 'opfs', deviceSizeBytes: SIZE, mkfs: true });
  slow = await connect({ name: `${run}-comlink`, backend: 'opfs', deviceSizeBytes: SIZE, mkfs: true, fastCalls: false });
  for (const c of [fast, slow]) {
    await c.promises.mkdir('/d/sub', { recursive: true });
    await c.promises.writeFile('/d/f', 'hello, fast calls');
    await c.promises.writeFile('/d/bytes', new Uint8Array(10_000).map((_, i) => (i * 13) & 0xff));
    await c.promises.symlink('f', '/d/link');
  }
});

afterAll(async () => {
  await fast?.close();
  await slow?.close();
  await removeRun(run, idbDevices);
});

async function rejection(p: Promise<unknown>): Promise<FsError> {
  const e = await p.then(() => expect.fail('expected a rejection'), (x: unknown) => x);
  expect(e).toBeInstanceOf(FsError);
  return e as FsError;
}

/** What a page can observe of an error: what must agree between the fast and the comlink path. */
function seen(e: FsError) {
  return { name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, dest: e.dest, message: e.message, cause: (e.cause as FsError | undefined)?.code };
}

describe('errors', () => {
  it('carry code, errno, syscall, path, message, cause and the worker stack, as through comlink', async () => {
    const cases: [string, (c: FilesystemClient) => Promise<unknown>][] = [
      ['stat ENOENT', (c) => c.promises.stat('/d/none')],
      ['readFile EISDIR', (c) => c.promises.readFile('/d')],
      ['mkdir EEXIST', (c) => c.promises.mkdir('/d')],
      ['open ENOTDIR', (c) => c.promises.open('/d/f/x', 'r')],
      ['rename ENOENT with dest', (c) => c.promises.rename('/d/none', '/d/other')],
      ['rmdir ENOTEMPTY', (c) => c.promises.rmdir('/d')],
      ['access EINVAL (bad mode)', (c) => c.promises.access('/d/f', 99)],
    ];
    for (const [what, call] of cases) {
      const a = await rejection(call(fast));
      const b = await rejection(call(slow));
      expect(seen(a), what).toEqual(seen(b));
      expect(a.stack, what).toMatch(/\.ts/); // the worker's stack
    }
    const e = await rejection(fast.promises.stat('/d/none'));
    expect(e.code).toBe('ENOENT');
    expect(e.errno).toBe(-2);
    expect(e.syscall).toBe('stat');
    expect(e.path).toBe('/d/none');
  });

  it('a FileHandle used after close() fails with EBADF', async () => {
    const fh = await fast.promises.open('/d/f', 'r');
    await fh.close();
    const e = await rejection(fh.read(new Uint8Array(4), 0, 4, 0));
    expect(e.code).toBe('EBADF');
    expect(await fh.fd).toBe(-1);
  });
});

describe('values', () => {
  it('Stats, BigIntStats and Dirent arrive with their prototypes and the same fields as through comlink', async () => {
    const st = await fast.promises.stat('/d/f');
    expect(st).toBeInstanceOf(Stats);
    expect(st.isFile()).toBe(true);
    expect(st.size).toBe(17);
    const other = await slow.promises.stat('/d/f');
    expect(Object.keys(st).sort()).toEqual(Object.keys(other).sort());
    // The Dates are made on first use from the *Ms fields, on this side of the boundary.
    expect(st.mtime).toBeInstanceOf(Date);
    expect(st.mtime.getTime()).toBe(Math.trunc(st.mtimeMs));
    const big = await fast.promises.lstat('/d/link', { bigint: true });
    expect(big).toBeInstanceOf(BigIntStats);
    expect(big.isSymbolicLink()).toBe(true);
    expect(typeof big.ino).toBe('bigint');
    const entries = await fast.promises.readdir('/d', { withFileTypes: true });
    expect(entries.every((d) => d instanceof Dirent)).toBe(true);
    expect(entries.map((d) => [d.name, d.isFile(), d.isDirectory(), d.isSymbolicLink()]).sort()).toEqual([
      ['bytes', true, false, false], ['f', true, false, false], ['link', false, false, true], ['sub', false, true, false],
    ]);
    expect(entries[0]!.parentPath).toBe('/d');
    const raw = await fast.promises.readdir('/d', { encoding: 'buffer', withFileTypes: true });
    expect(raw.every((d) => (d.name as unknown) instanceof Uint8Array)).toBe(true);
    expect(await fast.promises.readdir('/d')).toEqual(await slow.promises.readdir('/d'));
    expect(await fast.promises.readlink('/d/link')).toBe('f');
    expect(await fast.promises.realpath('/d/link')).toBe('/d/f');
    expect(await fast.promises.statfs('/')).toEqual(await fast.promises.statfs('/'));
  });

  it('readFile with an encoding decodes in the worker; fh.readableWebStream() arrives as a stream', async () => {
    expect(await fast.promises.readFile('/d/f', 'utf8')).toBe('hello, fast calls');
    const fh = await fast.promises.open('/d/bytes', 'r');
    const stream = await fh.readableWebStream();
    let n = 0;
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) n += chunk.byteLength;
    expect(n).toBe(10_000);
    await fh.close();
  });
});

describe('buffers', () => {
  it('writeFile copies the caller\'s buffer by default and moves it with transfer()', async () => {
    const data = new Uint8Array(50_000).map((_, i) => (i * 7) & 0xff);
    await fast.promises.writeFile('/w1', data);
    expect(data.byteLength).toBe(50_000);
    const moved = data.slice();
    await fast.promises.writeFile('/w2', transfer(moved, [moved.buffer]));
    expect(moved.byteLength).toBe(0);
    expect(await fast.promises.readFile('/w1')).toEqual(data);
    expect(await fast.promises.readFile('/w2')).toEqual(data);
    // A view into a larger buffer: exactly the view is written.
    const big = new Uint8Array(100).map((_, i) => i);
    await fast.promises.writeFile('/w3', big.subarray(10, 20));
    expect([...(await fast.promises.readFile('/w3'))]).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  });

  it('FileHandle.read fills exactly the range read in the caller\'s buffer and resolves with that buffer', async () => {
    const fh = await fast.promises.open('/d/bytes', 'r');
    const mine = new Uint8Array(100).fill(0xee);
    const r = await fh.read(mine, 10, 50, 1000);
    expect(r.bytesRead).toBe(50);
    expect(r.buffer).toBe(mine);
    for (let i = 0; i < 100; i++) expect(mine[i], `byte ${i}`).toBe(i >= 10 && i < 60 ? ((1000 + i - 10) * 13) & 0xff : 0xee);
    // Past the end: a short read touches only what was read.
    const tail = new Uint8Array(16).fill(1);
    const t = await fh.read(tail, 0, 16, 9_990);
    expect(t.bytesRead).toBe(10);
    expect([...tail.subarray(10)]).toEqual([1, 1, 1, 1, 1, 1]);
    // read(buffer, options), read(options), read() with the worker's own buffer.
    const opt = new Uint8Array(8);
    const o = await fh.read(opt, { offset: 2, length: 4, position: 0 });
    expect(o.buffer).toBe(opt);
    expect([...opt]).toEqual([0, 0, 0, 13, 26, 39, 0, 0]);
    const viaOptions = new Uint8Array(4);
    expect((await fh.read({ buffer: viaOptions, position: 1 })).buffer).toBe(viaOptions);
    expect([...viaOptions]).toEqual([13, 26, 39, 52]);
    const own = await fh.read({ length: 3, position: 2 } as never) as { bytesRead: number; buffer: Uint8Array };
    expect(own.bytesRead).toBe(3);
    expect([...own.buffer.subarray(0, 3)]).toEqual([26, 39, 52]);
    // Another kind of view: bytes land in its memory.
    const words = new Uint16Array(4);
    const w = await fh.read(words, 0, 8, 0);
    expect(w.buffer).toBe(words);
    expect([...new Uint8Array(words.buffer)]).toEqual([0, 13, 26, 39, 52, 65, 78, 91]);
    // Out of range: the engine's EINVAL, and the caller's buffer untouched.
    const untouched = new Uint8Array(4).fill(9);
    const e = await rejection(fh.read(untouched, 2, 8, 0));
    expect(e.code).toBe('EINVAL');
    expect([...untouched]).toEqual([9, 9, 9, 9]);
    await fh.close();
  });

  it('large reads (through the page\'s scratch buffers) fill only what was read, also several in flight', async () => {
    const size = 300_000;
    const content = new Uint8Array(size).map((_, i) => (i * 31 + 7) & 0xff);
    await fast.promises.writeFile('/large', content);
    const fh = await fast.promises.open('/large', 'r');
    const whole = new Uint8Array(size);
    expect((await fh.read(whole, 0, size, 0)).bytesRead).toBe(size);
    expect(whole).toEqual(content);
    // The same scratch buffer again, for a short read: what it held before must not leak.
    const short = new Uint8Array(size).fill(0xee);
    const r = await fh.read(short, 1000, 200_000, size - 5000);
    expect(r.bytesRead).toBe(5000);
    expect(short.subarray(1000, 6000)).toEqual(content.subarray(size - 5000));
    expect(short.subarray(0, 1000).every((b) => b === 0xee)).toBe(true);
    expect(short.subarray(6000).every((b) => b === 0xee)).toBe(true);
    // Reads in flight together each get their own bytes.
    const parts = Array.from({ length: 4 }, () => new Uint8Array(100_000));
    const done = await Promise.all(parts.map((p, i) => fh.read(p, 0, 100_000, i * 50_000)));
    done.forEach((d, i) => {
      expect(d.buffer).toBe(parts[i]);
      expect(parts[i]).toEqual(content.subarray(i * 50_000, i * 50_000 + 100_000));
    });
    await fh.close();
  });

  it('readv and writev use the caller\'s arrays; write resolves with the caller\'s buffer', async () => {
    const fh = await fast.promises.open('/vec', 'w+');
    const parts = [new Uint8Array([1, 2, 3]), new Uint8Array([4, 5])];
    const wv = await fh.writev(parts, 0);
    expect(wv.bytesWritten).toBe(5);
    expect(wv.buffers).toBe(parts);
    const data = new Uint8Array([9, 8, 7]);
    const w = await fh.write(data, 0, 3, 5);
    expect(w.buffer).toBe(data);
    expect(data.byteLength).toBe(3);
    const view = new DataView(new Uint8Array([6, 6]).buffer);
    expect((await fh.write(view, 0, 2, 8)).bytesWritten).toBe(2);
    const a = new Uint8Array(4);
    const b = new Uint8Array(10).fill(0xff);
    const rv = await fh.readv([a, b], 0);
    expect(rv.bytesRead).toBe(10);
    expect(rv.buffers[0]).toBe(a);
    expect(rv.buffers[1]).toBe(b);
    expect([...a]).toEqual([1, 2, 3, 4]);
    expect([...b]).toEqual([5, 9, 8, 7, 6, 6, 0xff, 0xff, 0xff, 0xff]);
    expect((await fh.stat()).size).toBe(10);
    await fh.close();
  });

  it('a FileHandle of this connection can be passed back as an argument', async () => {
    const fh = await fast.promises.open('/d/f', 'r');
    expect(await fast.promises.readFile(fh as never, 'utf8')).toBe('hello, fast calls');
    await fh.close();
  });
});

describe('calls in flight', () => {
  it('many calls in flight at once are all answered, each with its own result', async () => {
    // (The engine does not promise an order between calls in flight, as node does not: reads
    // are made once the writes are done.)
    await Promise.all(Array.from({ length: 100 }, (_, i) => fast.promises.writeFile(`/d/sub/n${i}`, `#${i}`)));
    const reads = Array.from({ length: 100 }, (_, i) => fast.promises.readFile(`/d/sub/n${i}`, 'utf8'));
    const stats = Array.from({ length: 100 }, (_, i) => fast.promises.stat(`/d/sub/n${i}`));
    const missing = fast.promises.stat('/d/sub/none').then(() => 'found', (e: unknown) => (isFsError(e, 'ENOENT') ? 'ENOENT' : String(e)));
    expect(await Promise.all(reads)).toEqual(Array.from({ length: 100 }, (_, i) => `#${i}`));
    expect((await Promise.all(stats)).map((s) => s.size)).toEqual(Array.from({ length: 100 }, (_, i) => `#${i}`.length));
    expect(await missing).toBe('ENOENT');
    expect((await fast.promises.readdir('/d/sub')).length).toBe(100);
  });

  it('a fast call made just before a comlink call reaches the engine first', async () => {
    const written = fast.promises.writeFile('/order', 'before sync');
    await fast.sync(); // a comlink call
    await written;
    expect(await fast.promises.readFile('/order', 'utf8')).toBe('before sync');
  });

  it('one call whose argument cannot be sent fails alone; the others made with it are answered', async () => {
    const gone = new Uint8Array(8);
    await fast.promises.writeFile('/gone', transfer(gone, [gone.buffer])); // now detached
    const ok = fast.promises.stat('/d/f');
    const bad = fast.promises.writeFile('/gone2', transfer(gone, [gone.buffer]));
    const ok2 = fast.promises.readFile('/d/f', 'utf8');
    await expect(bad).rejects.toBeDefined();
    expect((await ok).size).toBe(17);
    expect(await ok2).toBe('hello, fast calls');
  });

  it('an AbortSignal in the options aborts the call', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(fast.promises.readFile('/d/f', { signal: ac.signal })).rejects.toSatisfy((e: unknown) => (e as { name?: string }).name === 'AbortError');
  });
});

describe('a closed client', () => {
  it('answers the calls made before close() and fails later ones with EIO', async () => {
    const name = `${run}-close`;
    const c = await connect({ name, backend: 'opfs', deviceSizeBytes: SIZE, mkfs: true });
    const fh = await c.promises.open('/x', 'w');
    const pending = c.promises.writeFile('/y', 'made before close');
    const closed = c.close();
    await pending; // reached the worker before close(): answered
    await closed;
    const e = await rejection(c.promises.stat('/y'));
    expect(e.code).toBe('EIO');
    expect(e.message).toMatch(/closed/);
    const h = await rejection(fh.write(new Uint8Array(1), 0, 1, 0));
    expect(h.code).toBe('EIO');
    const again = await connect({ name, backend: 'opfs' });
    expect(await again.promises.readFile('/y', 'utf8')).toBe('made before close');
    await again.close();
  });
});

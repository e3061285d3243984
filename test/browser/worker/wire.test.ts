// The boundary rules (src/worker/wire.ts) in real Chromium: what is moved, copied, rebuilt or
// proxied between the page and a worker.
import * as Comlink from 'comlink';
import { afterAll, describe, expect, it } from 'vitest';
import { installWire, transfer } from '../../../src/worker/wire.js';
import { FsError } from '../../../src/util/errors.js';
import type { WireTestApi } from './wire.worker.js';
import type { Client } from '../../../src/worker/types.js';

installWire('page');
const worker = new Worker(new URL('./wire.worker.ts', import.meta.url), { type: 'module' });
// The worker's API seen through the client's type rule (objects with methods by reference).
const remote = Comlink.wrap(worker) as unknown as Client<WireTestApi>;
afterAll(() => worker.terminate());

describe('buffers', () => {
  it('a returned Uint8Array is moved, not copied: the worker no longer has it', async () => {
    const r = await remote.bytes(1 << 20);
    expect(r).toBeInstanceOf(Uint8Array);
    expect(r.byteLength).toBe(1 << 20);
    expect(r[1000]).toBe(1000 & 0xff);
    expect(await remote.lastByteLength()).toBe(0);
  });
  it('a view into a larger buffer keeps its offset and length', async () => {
    const r = await remote.window();
    expect([...r]).toEqual([16, 17, 18, 19, 20, 21, 22, 23]);
    expect(await remote.lastByteLength()).toBe(0);
  });
  it('buffers at the top level of a plain result object are moved too', async () => {
    const r = await remote.readResult();
    expect(r.bytesRead).toBe(3);
    expect([...r.buffer]).toEqual([1, 2, 3]);
    expect(await remote.lastByteLength()).toBe(0);
  });
  it('arguments are copied by default and moved with transfer()', async () => {
    const kept = new Uint8Array(4096);
    expect(await remote.receive(kept)).toBe(4096);
    expect(kept.byteLength).toBe(4096);
    const moved = new Uint8Array(4096);
    expect(await remote.receive(transfer(moved, [moved.buffer]))).toBe(4096);
    expect(moved.byteLength).toBe(0);
  });
});

describe('errors', () => {
  it('a thrown FsError arrives as an FsError with every field, its message, the worker stack and its cause chain', async () => {
    const e = await remote.fail('ENOENT').then(() => expect.fail('no throw'), (x: unknown) => x);
    expect(e).toBeInstanceOf(FsError);
    const fe = e as FsError;
    expect(fe.code).toBe('ENOENT');
    expect(fe.errno).toBe(-2);
    expect(fe.syscall).toBe('open');
    expect(fe.path).toBe('/a/b');
    expect(fe.dest).toBe('/c');
    expect(fe.message).toBe("ENOENT: no such file or directory, open '/a/b' -> '/c' (detail here)");
    expect(fe.stack).toContain('wire.worker');
    expect(fe.cause).toBeInstanceOf(FsError);
    expect((fe.cause as FsError).code).toBe('EIO');
    expect(((fe.cause as FsError).cause as Error).message).toBe('innermost');
  });
  it('other errors keep name, message and a string code', async () => {
    const e = await remote.failPlain().then(() => expect.fail('no throw'), (x: unknown) => x);
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).name).toBe('TypeError');
    expect((e as Error).message).toBe('plain type error');
    expect((e as Error & { code: string }).code).toBe('ERR_SOMETHING');
  });
  it('a thrown non-error value arrives as is', async () => {
    await expect(remote.failValue()).rejects.toEqual({ weird: 42 });
  });
  it('an FsError returned as a value is an FsError', async () => {
    const e = await remote.errorValue();
    expect(e).toBeInstanceOf(FsError);
    expect(e.code).toBe('EEXIST');
    expect(e.path).toBe('/x');
  });
});

describe('references and values', () => {
  it('an object with methods crosses by reference', async () => {
    const c = await remote.counter();
    expect(await c.add(2)).toBe(2);
    expect(await c.add(3)).toBe(5);
    expect(await c.total()).toBe(5);
  });
  it('plain data crosses by value', async () => {
    const d = await remote.plainData();
    expect(d).toEqual({ a: 1, nested: { b: 'x' }, when: new Date(0) });
  });
  it('a function argument crosses by reference (callbacks)', async () => {
    expect(await remote.callBack((x) => x * 2)).toBe(41);
  });
  it('an AbortSignal argument aborts in the worker', async () => {
    const ac = new AbortController();
    const p = remote.waitForAbort(ac.signal);
    ac.abort(new Error('stop now'));
    expect(await p).toBe('stop now');
    const done = new AbortController();
    done.abort(new Error('before'));
    expect(await remote.waitForAbort(done.signal)).toBe('already: before');
  });
  it('streams are transferred both ways', async () => {
    const s = await remote.stream();
    const chunks: number[] = [];
    for await (const c of s as unknown as AsyncIterable<Uint8Array>) chunks.push(...c);
    expect(chunks).toEqual([0, 1, 2]);
    const out = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(10));
        c.enqueue(new Uint8Array(5));
        c.close();
      },
    });
    expect(await remote.drain(out)).toBe(15);
  });
});

// A worker with the butterfs wire installed and a few values to send back: the boundary rules of
// src/worker/wire.ts tested without a filesystem.
import * as Comlink from 'comlink';
import { installWire } from '../../../src/worker/wire.js';
import { FsError } from '../../../src/util/errors.js';

installWire('worker');

let lastReturned: Uint8Array | undefined;

class Counter {
  private n = 0;
  add(k: number): number {
    this.n += k;
    return this.n;
  }
  async total(): Promise<number> {
    return this.n;
  }
}

const api = {
  bytes(n: number): Uint8Array {
    lastReturned = new Uint8Array(n).map((_, i) => i & 0xff);
    return lastReturned;
  },
  /** A view into the middle of a larger buffer: the view's offset and length must survive. */
  window(): Uint8Array {
    const buffer = new Uint8Array(64).map((_, i) => i);
    lastReturned = buffer.subarray(16, 24);
    return lastReturned;
  },
  readResult(): { bytesRead: number; buffer: Uint8Array } {
    lastReturned = new Uint8Array([1, 2, 3]);
    return { bytesRead: 3, buffer: lastReturned };
  },
  /** byteLength of the last returned buffer here, in the worker: 0 once it was moved. */
  lastByteLength(): number {
    return lastReturned?.buffer.byteLength ?? -1;
  },
  /** What arrived from the page: its length, and whether the page's buffer was moved is for the page to see. */
  receive(data: Uint8Array): number {
    return data.byteLength;
  },
  fail(code: 'ENOENT' | 'EIO'): never {
    throw new FsError(code, 'detail here', { syscall: 'open', path: '/a/b', dest: '/c', cause: new FsError('EIO', 'inner', { cause: new Error('innermost') }) });
  },
  failPlain(): never {
    const e = new TypeError('plain type error') as TypeError & { code: string };
    e.code = 'ERR_SOMETHING';
    throw e;
  },
  failValue(): never {
    throw { weird: 42 };
  },
  errorValue(): FsError {
    return new FsError('EEXIST', undefined, { syscall: 'mkdir', path: '/x' });
  },
  counter(): Counter {
    return new Counter();
  },
  plainData(): { a: number; nested: { b: string }; when: Date } {
    return { a: 1, nested: { b: 'x' }, when: new Date(0) };
  },
  async callBack(fn: (x: number) => number | Promise<number>): Promise<number> {
    return (await fn(20)) + 1;
  },
  /** Resolves with the abort reason's message once the signal aborts. */
  waitForAbort(signal: AbortSignal): Promise<string> {
    if (signal.aborted) return Promise.resolve(`already: ${String((signal.reason as Error)?.message ?? signal.reason)}`);
    return new Promise((resolve) => signal.addEventListener('abort', () => resolve(String((signal.reason as Error)?.message ?? signal.reason))));
  },
  stream(): ReadableStream<Uint8Array> {
    let i = 0;
    return new ReadableStream({
      pull(c) {
        if (i === 3) c.close();
        else c.enqueue(new Uint8Array([i++]));
      },
    });
  },
  async drain(stream: ReadableStream<Uint8Array>): Promise<number> {
    let n = 0;
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) n += chunk.byteLength;
    return n;
  },
};
export type WireTestApi = typeof api;
Comlink.expose(api);

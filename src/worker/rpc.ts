// The page's half of the fast calls (protocol.ts, "fast calls"; the worker's half, and why these
// calls do not go through comlink, is rpc-server.ts).
//
// A call is one message: { call id, target (0 = fs.promises, else a FileHandle's number), method,
// arguments }, the arguments cloned by postMessage with a few members replaced first (patches):
// a Uint8Array is copied (exactly the view) and moved, or moved as is after transfer(); the
// buffer a FileHandle.read fills is not sent at all (the worker reads into a scratch buffer of the
// same length lent by the page, and the page copies what was read into the caller's buffer); a
// FileHandle of this connection goes by its number; an AbortSignal as wire.ts sends it. Calls
// pipeline: any number may be in flight, matched by id. The calls made in one turn of the page's
// event loop leave as one message (a FastBatch) and their answers come back as one, when the
// last of them is ready: a postMessage costs more CPU here than a cached stat, so calls in
// flight share them.
//
// A FileHandle from a fast open() is a Proxy here, like the client itself: `fh.read(...)` is a
// fast call, `await fh.fd` a fast read of the property, `await using fh` closes it, and the
// worker forgets the handle when this object is garbage-collected (it is not closed then, as a
// comlink reference is not).
import { FsError } from '../util/errors.js';
import { parentOf, type ArgPatch, type FastBatch, type FastReplies, type FastReply, type FastRequest, type WirePath } from './protocol.js';
import { errorFromWire, isMovedByPage, isPlain, isTransferableBytes, signalHandler, valueClassPrototype } from './wire.js';

/** How deep arguments are walked (options objects, readv/writev's arrays of buffers). */
const MAX_ARG_DEPTH = 3;

/** An argument the fast path cannot carry (a function, an object with methods): comlink takes the call. */
const NOT_FAST = Symbol('not a fast argument');

const asyncDispose = (Symbol as unknown as { asyncDispose?: symbol }).asyncDispose;

/** Copies the bytes read into the caller's buffers once the answer arrived (FileHandle.read/readv). */
type Fill = (result: unknown, filled: (outIndex: number) => Uint8Array | undefined) => void;

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  /** The caller's own arrays, by patch number (undefined for patches that are not arrays). */
  originals: unknown[];
  /** Patch number -> position among the 'out' buffers (for Fill). */
  outOrder: Map<number, number>;
  fill: Fill | undefined;
}

interface Outgoing {
  request: FastRequest;
  transfer: Transferable[];
}

interface Encoding {
  patches: ArgPatch[];
  originals: unknown[];
  transfer: Transferable[];
  outs: ReadonlySet<ArrayBufferView> | undefined;
  outOrder: Map<number, number>;
}

function bytesOf(v: ArrayBufferView): Uint8Array {
  return v instanceof Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** The buffer(s) FileHandle.read/readv fill, and how to copy the bytes read into them. */
function readPlan(method: string, args: unknown[]): { outs: Set<ArrayBufferView>; fill: Fill } | undefined {
  if (method === 'read') {
    const [first, second] = args;
    let view: ArrayBufferView;
    let offset: unknown;
    if (ArrayBuffer.isView(first)) {
      view = first;
      offset = second !== null && typeof second === 'object' ? (second as { offset?: unknown }).offset : second;
    } else if (first !== null && typeof first === 'object' && ArrayBuffer.isView((first as { buffer?: unknown }).buffer)) {
      view = (first as { buffer: ArrayBufferView }).buffer;
      offset = (first as { offset?: unknown }).offset;
    } else {
      return undefined; // read() / read({ length }): the worker allocates, the result moves as is
    }
    return {
      outs: new Set([view]),
      fill: (result, filled) => {
        // The engine validated offset and length against a buffer of the same size; a result
        // means they were in range.
        const n = (result as { bytesRead: number }).bytesRead;
        const from = typeof offset === 'number' ? offset : 0;
        const bytes = filled(0);
        if (n > 0 && bytes) bytesOf(view).set(bytes.subarray(from, from + n), from);
      },
    };
  }
  if (method === 'readv' && Array.isArray(args[0]) && args[0].every((v) => ArrayBuffer.isView(v))) {
    const views = args[0] as ArrayBufferView[];
    return {
      outs: new Set(views),
      fill: (result, filled) => {
        // readv fills the buffers in order, each completely before the next.
        let left = (result as { bytesRead: number }).bytesRead;
        views.forEach((view, i) => {
          const k = Math.min(view.byteLength, left);
          const bytes = filled(i);
          if (k > 0 && bytes) bytesOf(view).set(bytes.subarray(0, k));
          left -= k;
        });
        (result as { buffers: unknown }).buffers = views;
      },
    };
  }
  return undefined;
}

/**
 * Scratch buffers for reads into the caller's buffer: lent to the worker with the request, filled
 * there, moved back with the answer, and kept here once their bytes are copied out. With a fresh
 * array per read in the worker a 1 MiB FileHandle.read was no faster than through comlink (three
 * runs: 0.87-1.08x); with these, 1.27-1.38x (docs/benchmarks.md, "Client round trip"). Only for
 * reads of SCRATCH_MIN_BYTES or more (small arrays come from the allocator's warm memory anyway),
 * at most SCRATCH_KEPT buffers of at most SCRATCH_MAX_BYTES each; reads in flight together take
 * one each.
 */
const SCRATCH_MIN_BYTES = 64 * 1024;
const SCRATCH_MAX_BYTES = 16 * 1024 * 1024;
const SCRATCH_KEPT = 4;

class ScratchPool {
  private readonly free: ArrayBuffer[] = [];

  /** A buffer of at least `n` bytes (the smallest kept one, else a new one), or undefined for small or huge reads. */
  take(n: number): ArrayBuffer | undefined {
    if (n < SCRATCH_MIN_BYTES || n > SCRATCH_MAX_BYTES) return undefined;
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const size = this.free[i]!.byteLength;
      if (size >= n && (best === -1 || size < this.free[best]!.byteLength)) best = i;
    }
    return best === -1 ? new ArrayBuffer(n) : this.free.splice(best, 1)[0];
  }

  give(buffer: ArrayBuffer): void {
    if (buffer.byteLength < SCRATCH_MIN_BYTES || buffer.byteLength > SCRATCH_MAX_BYTES) return;
    if (this.free.length >= SCRATCH_KEPT) this.free.sort((a, b) => b.byteLength - a.byteLength).pop();
    this.free.push(buffer);
  }
}

export class FastCalls {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Buffers lent to the worker for FileHandle.read to fill, kept between reads. */
  private readonly scratch = new ScratchPool();
  /** Requests made in this turn of the event loop, sent together at its end (flush). */
  private readonly outbox: Outgoing[] = [];
  /** Set when the worker is gone: every call in flight and every later one fails with it. */
  private failure: Error | undefined;
  /** The page's FileHandle objects, by the number the worker keeps them under. */
  private readonly handleIds = new WeakMap<object, number>();
  private readonly released = typeof FinalizationRegistry === 'undefined'
    ? undefined
    : new FinalizationRegistry<number>((h) => {
      if (!this.failure) this.post({ bfq: 'release', h }, []);
    });

  constructor(private readonly worker: Worker) {
    worker.addEventListener('message', (ev: MessageEvent) => {
      const d = ev.data as FastReply | FastReplies | null;
      if (d === null || typeof d !== 'object') return;
      if ('bfr' in d) this.settle(d);
      else if ('bfb' in d) for (const one of d.bfb) this.settle(one);
    });
  }

  /** The worker is gone (closed, terminated, crashed): fail what is in flight and what comes. */
  fail(error: Error): void {
    this.failure ??= error;
    this.outbox.length = 0;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }

  /**
   * fs.promises[method](...args) in the worker; undefined when an argument cannot go this way
   * (the caller then uses comlink).
   */
  callPromises(method: string, args: unknown[]): Promise<unknown> | undefined {
    return this.send(0, method, args, undefined, undefined);
  }

  private callHandle(h: number, method: string, args: unknown[]): Promise<unknown> {
    const plan = readPlan(method, args);
    let fill = plan?.fill;
    if (method === 'writev' && Array.isArray(args[0])) {
      const buffers = args[0];
      // The result's `buffers` is the caller's own array, as in-process.
      fill = (result) => {
        (result as { buffers: unknown }).buffers = buffers;
      };
    }
    const sent = this.send(h, method, args, plan?.outs, fill);
    return sent ?? Promise.reject(new TypeError(`an argument of FileHandle.${method} cannot cross to the worker (a function, or an object with methods)`));
  }

  private get(h: number, member: string): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const i = this.nextId++;
      this.pending.set(i, { resolve, reject, originals: [], outOrder: new Map(), fill: undefined });
      this.post({ bfq: 'get', i, h, m: member }, []);
    });
  }

  private send(h: number, method: string, args: unknown[], outs: ReadonlySet<ArrayBufferView> | undefined, fill: Fill | undefined): Promise<unknown> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    const enc: Encoding = { patches: [], originals: [], transfer: [], outs, outOrder: new Map() };
    const a: unknown[] = new Array(args.length);
    for (let i = 0; i < args.length; i++) {
      const v = this.encode(args[i], [i], 0, enc);
      if (v === NOT_FAST) return undefined;
      a[i] = v;
    }
    return new Promise((resolve, reject) => {
      const i = this.nextId++;
      this.pending.set(i, { resolve, reject, originals: enc.originals, outOrder: enc.outOrder, fill });
      const request: FastRequest = { bfq: 'call', i, h, m: method, a };
      if (enc.patches.length > 0) request.s = enc.patches;
      this.post(request, enc.transfer);
    });
  }

  /** Queues a request; the requests of one turn of the event loop leave as one message (flush). */
  private post(request: FastRequest, transfer: Transferable[]): void {
    if (this.outbox.length === 0) queueMicrotask(() => this.flush());
    this.outbox.push({ request, transfer });
  }

  /**
   * Sends what is queued. Also called before any comlink message of the client goes out, so that
   * calls keep the order in which the page made them, whichever way they go.
   */
  flush(): void {
    const out = this.outbox.splice(0);
    if (out.length === 0) return;
    if (out.length === 1) {
      this.postOne(out[0]!);
      return;
    }
    const transfer: Transferable[] = [];
    for (const o of out) for (const t of o.transfer) if (!transfer.includes(t)) transfer.push(t);
    try {
      this.worker.postMessage({ bfq: 'batch', q: out.map((o) => o.request) } satisfies FastBatch, transfer);
    } catch {
      // One request structured clone refuses (a detached buffer): each alone, so only it fails.
      for (const o of out) this.postOne(o);
    }
  }

  private postOne({ request, transfer }: Outgoing): void {
    try {
      this.worker.postMessage(request, transfer);
    } catch (e) {
      if (request.bfq === 'release') return;
      const p = this.pending.get(request.i);
      this.pending.delete(request.i);
      p?.reject(e);
    }
  }

  private patch(enc: Encoding, patch: ArgPatch, original: unknown): void {
    enc.patches.push(patch);
    enc.originals.push(original);
  }

  /** The value to clone for argument member `v` (patches recorded in `enc`), or NOT_FAST. */
  private encode(v: unknown, path: WirePath, depth: number, enc: Encoding): unknown {
    if (v === null || v === undefined) return v;
    switch (typeof v) {
      case 'string':
      case 'number':
      case 'boolean':
      case 'bigint':
        return v;
      case 'function':
      case 'symbol':
        return NOT_FAST;
    }
    const o = v as object;
    if (ArrayBuffer.isView(o)) {
      if (enc.outs?.has(o)) {
        enc.outOrder.set(enc.patches.length, enc.outOrder.size);
        const patch: ArgPatch = { p: path, k: 'out', n: o.byteLength };
        const scratch = this.scratch.take(o.byteLength);
        if (scratch) {
          patch.b = scratch;
          enc.transfer.push(scratch);
        }
        this.patch(enc, patch, o);
        return null;
      }
      if (!(o.buffer instanceof ArrayBuffer)) return o; // a SharedArrayBuffer is shared, not copied
      if (isTransferableBytes(o) && isMovedByPage(o)) {
        if (!enc.transfer.includes(o.buffer)) enc.transfer.push(o.buffer);
        this.patch(enc, { p: path, k: 'bytes' }, o);
        return o;
      }
      // One copy of exactly the view, into a plain Uint8Array (not `slice()`, which a subclass
      // such as Buffer may answer with a view of shared memory: see wire.ts).
      const copy = new Uint8Array(o.byteLength);
      copy.set(bytesOf(o));
      enc.transfer.push(copy.buffer);
      this.patch(enc, o instanceof Uint8Array ? { p: path, k: 'bytes' } : { p: path, k: 'view', t: o.constructor.name }, o);
      return copy;
    }
    if (o instanceof Date) return o;
    const h = this.handleIds.get(o);
    if (h !== undefined) {
      this.patch(enc, { p: path, k: 'handle', h }, undefined);
      return null;
    }
    if (typeof AbortSignal !== 'undefined' && o instanceof AbortSignal) {
      const [w, transfer] = signalHandler.serialize(o);
      enc.transfer.push(...transfer);
      this.patch(enc, { p: path, k: 'signal', w }, undefined);
      return null;
    }
    if (depth >= MAX_ARG_DEPTH) return NOT_FAST;
    if (Array.isArray(o)) {
      const out: unknown[] = new Array(o.length);
      for (let i = 0; i < o.length; i++) {
        const m = this.encode(o[i], [...path, i], depth + 1, enc);
        if (m === NOT_FAST) return NOT_FAST;
        out[i] = m;
      }
      return out;
    }
    if (isPlain(o)) {
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(o)) {
        const m = this.encode((o as Record<string, unknown>)[key], [...path, key], depth + 1, enc);
        if (m === NOT_FAST) return NOT_FAST;
        out[key] = m;
      }
      return out;
    }
    return NOT_FAST;
  }

  private settle(d: FastReply): void {
    const p = this.pending.get(d.bfr);
    if (!p) return;
    this.pending.delete(d.bfr);
    if (d.e) {
      p.reject(d.e.isError ? errorFromWire(d.e.value) : d.e.value);
      return;
    }
    let r = d.r;
    let filled: Map<number, Uint8Array> | undefined;
    for (const patch of d.s ?? []) {
      let value: unknown;
      switch (patch.k) {
        case 'class': {
          const proto = valueClassPrototype(patch.c) ?? Object.prototype;
          const at = patch.p.length === 0 ? r : (() => {
            const { parent, key } = parentOf(r, patch.p);
            return parent[key];
          })();
          if (patch.each) for (const m of at as object[]) Object.setPrototypeOf(m, proto);
          else Object.setPrototypeOf(at as object, proto);
          continue;
        }
        case 'echo':
          value = p.originals[patch.a];
          if (patch.b) (filled ??= new Map()).set(p.outOrder.get(patch.a)!, patch.b);
          break;
        case 'handle':
          value = this.handle(patch.h);
          break;
        case 'error':
          value = errorFromWire(patch.w);
          break;
      }
      if (patch.p.length === 0) {
        r = value;
      } else {
        const { parent, key } = parentOf(r, patch.p);
        parent[key] = value;
      }
    }
    try {
      p.fill?.(r, (k) => filled?.get(k));
    } catch (e) {
      p.reject(e);
      return;
    } finally {
      for (const bytes of filled?.values() ?? []) this.scratch.give(bytes.buffer as ArrayBuffer);
    }
    p.resolve(r);
  }

  /** The page's object for the worker's handle `h` (a FileHandle): see the header. */
  private handle(h: number): object {
    const members = new Map<string, unknown>();
    const member = (name: string) => {
      const call = (...args: unknown[]) => this.callHandle(h, name, args);
      // `await fh.fd`: a read of the property, as through comlink.
      return Object.assign(call, {
        then: (onFulfilled?: (v: unknown) => unknown, onRejected?: (e: unknown) => unknown) => this.get(h, name).then(onFulfilled, onRejected),
      });
    };
    const proxy = new Proxy(Object.create(null) as object, {
      get: (_t, prop) => {
        if (prop === 'then') return undefined; // not a thenable: `await open()` yields the handle
        if (asyncDispose !== undefined && prop === asyncDispose) return () => this.callHandle(h, 'close', []);
        if (typeof prop === 'symbol') return undefined;
        let m = members.get(prop);
        if (m === undefined) {
          m = member(prop);
          members.set(prop, m);
        }
        return m;
      },
      set: () => {
        throw new FsError('EPERM', 'a butterfs FileHandle is read-only here; call its methods');
      },
    });
    this.handleIds.set(proxy, h);
    this.released?.register(proxy, h);
    return proxy;
  }
}

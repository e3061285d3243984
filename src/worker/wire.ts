// How values cross the worker boundary: comlink transfer handlers, installed once per context
// by the worker entry (role 'worker') and by the page client (role 'page').
//
// The rule, by kind of value (the table below is in the order comlink tries the handlers):
//
// | value                                   | crosses as                                   | where   |
// |-----------------------------------------|----------------------------------------------|---------|
// | a thrown error                          | FsError rebuilt with code/errno/syscall/path/dest, message and stack; other Errors as Error with name/message/stack/code; `cause` chains kept (bounded depth) | both |
// | an FsError as a value (argument, result) | same as above, without throwing              | both    |
// | ReadableStream / WritableStream / TransformStream | transferred (moved, not copied)     | both    |
// | AbortSignal (page argument)             | a port; abort() on the page aborts a fresh signal in the worker | page -> worker |
// | a plain options object with callbacks / an AbortSignal at its top level | those members as above, the rest cloned | both |
// | a registered value class (Stats, Dirent), or an array of them | rebuilt with its prototype (methods stay sync) | both |
// | a Uint8Array argument                   | copied once (moved with `transfer()`); when the result carries it back (filehandle.read), the bytes are copied into the caller's array | page -> worker |
// | Uint8Array result, or a plain object / array holding Uint8Arrays at its top level | the ArrayBuffers are transferred | worker -> page |
// | a function; an object with methods      | by reference (a comlink proxy over a MessagePort) | worker -> page; functions both ways |
// | anything else                           | structured clone (comlink's default)          | both    |
//
// Transfer of results is safe because of an ownership rule of the engine's API, the same as
// node's: a buffer an API call returns belongs to the caller (the caller may write into it), so
// the engine keeps no reference to it and the worker may move it. Arguments from the page are
// copied by default (moving them would silently detach the caller's buffer, which node:fs never
// does); a page that is done with a buffer moves it with `transfer(data, [data.buffer])`.
//
// "Data by value, anything with methods by reference" is the runtime rule that the client's
// type (`Client<T>` in types.ts) states at the type level, so the two agree.
//
// fs.promises and FileHandle calls from a page to its own worker do not go through comlink but
// as fast calls (rpc.ts, rpc-server.ts), which follow this table with a few differences that
// save copies (listed in rpc-server.ts) and use the helpers exported here.
import * as Comlink from 'comlink';
import { ERRNO, FsError, type ErrorCode } from '../util/errors.js';

export type WireRole = 'worker' | 'page';

/** Bound on the `cause` chain carried across (a cycle or a deep chain must not grow a message). */
const MAX_CAUSE_DEPTH = 4;

/** An error as it travels: plain data only. */
export interface WireError {
  kind: 'FsError' | 'Error' | 'DOMException';
  name: string;
  message: string;
  stack?: string;
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
  dest?: string;
  cause?: WireError | { kind: 'value'; value: unknown };
}

function cloneableOrString(value: unknown): unknown {
  try {
    structuredClone(value);
    return value;
  } catch {
    return String(value);
  }
}

export function errorToWire(e: Error, depth = 0): WireError {
  const w: WireError = {
    kind: e instanceof FsError ? 'FsError' : typeof DOMException !== 'undefined' && e instanceof DOMException ? 'DOMException' : 'Error',
    name: e.name,
    message: e.message,
  };
  if (e.stack !== undefined) w.stack = e.stack;
  const fields = e as Error & { code?: unknown; errno?: unknown; syscall?: unknown; path?: unknown; dest?: unknown };
  if (typeof fields.code === 'string') w.code = fields.code;
  if (typeof fields.errno === 'number') w.errno = fields.errno;
  if (typeof fields.syscall === 'string') w.syscall = fields.syscall;
  if (typeof fields.path === 'string') w.path = fields.path;
  if (typeof fields.dest === 'string') w.dest = fields.dest;
  if (e.cause !== undefined && depth < MAX_CAUSE_DEPTH) {
    w.cause = e.cause instanceof Error ? errorToWire(e.cause, depth + 1) : { kind: 'value', value: cloneableOrString(e.cause) };
  }
  return w;
}

export function errorFromWire(w: WireError): Error {
  const cause = w.cause === undefined ? undefined : w.cause.kind === 'value' ? (w.cause as { value: unknown }).value : errorFromWire(w.cause as WireError);
  let e: Error;
  if (w.kind === 'FsError' && w.code !== undefined && w.code in ERRNO) {
    const fields: { syscall?: string; path?: string; dest?: string; cause?: unknown } = {};
    if (w.syscall !== undefined) fields.syscall = w.syscall;
    if (w.path !== undefined) fields.path = w.path;
    if (w.dest !== undefined) fields.dest = w.dest;
    if (cause !== undefined) fields.cause = cause;
    e = new FsError(w.code as ErrorCode, undefined, fields);
    // The worker's message already holds the detail sentence; keep it word for word.
    e.message = w.message;
  } else if (w.kind === 'DOMException' && typeof DOMException !== 'undefined') {
    e = new DOMException(w.message, w.name);
  } else {
    e = new Error(w.message, cause === undefined ? undefined : { cause });
    e.name = w.name;
    const extra = e as Error & { code?: string; errno?: number; syscall?: string; path?: string; dest?: string };
    if (w.code !== undefined) extra.code = w.code;
    if (w.errno !== undefined) extra.errno = w.errno;
    if (w.syscall !== undefined) extra.syscall = w.syscall;
    if (w.path !== undefined) extra.path = w.path;
    if (w.dest !== undefined) extra.dest = w.dest;
  }
  // The stack where it happened (in the worker) is the useful one.
  if (w.stack !== undefined) Object.defineProperty(e, 'stack', { value: w.stack, writable: true, configurable: true });
  return e;
}

/** The serialized form of a thrown value, as the 'throw' handler sends it. */
export type WireThrown = { isError: true; value: WireError } | { isError: false; value: unknown };

export function thrownToWire(value: unknown): WireThrown {
  return value instanceof Error ? { isError: true, value: errorToWire(value) } : { isError: false, value: cloneableOrString(value) };
}

const throwHandler: Comlink.TransferHandler<{ value: unknown }, WireThrown> = {
  // The same test as comlink's own 'throw' handler: an object carrying comlink's throw marker.
  // The marker symbol is not exported; comlink wraps every thrown value as
  // `{ value, [throwMarker]: 0 }`, the only object it sends with a symbol key of that description.
  canHandle: (v): v is { value: unknown } =>
    typeof v === 'object' && v !== null && Object.getOwnPropertySymbols(v).some((s) => s.description === 'Comlink.thrown'),
  serialize: ({ value }) => [thrownToWire(value), []],
  deserialize: (w) => {
    throw w.isError ? errorFromWire(w.value) : w.value;
  },
};

const fsErrorValueHandler: Comlink.TransferHandler<Error, WireError> = {
  canHandle: (v): v is Error => v instanceof FsError,
  serialize: (e) => [errorToWire(e), []],
  deserialize: (w) => errorFromWire(w),
};

type AnyStream = ReadableStream<unknown> | WritableStream<unknown> | TransformStream<unknown, unknown>;
export function isStream(v: unknown): v is AnyStream {
  return (typeof ReadableStream !== 'undefined' && v instanceof ReadableStream)
    || (typeof WritableStream !== 'undefined' && v instanceof WritableStream)
    || (typeof TransformStream !== 'undefined' && v instanceof TransformStream);
}
const streamHandler: Comlink.TransferHandler<AnyStream, AnyStream> = {
  canHandle: isStream,
  serialize: (s) => [s, [s as unknown as Transferable]],
  deserialize: (s) => s,
};

/** An AbortSignal as it travels: its state now, and a port that carries a later abort. */
export interface WireSignal {
  aborted: boolean;
  reason: unknown;
  port: MessagePort;
}
export const signalHandler: Comlink.TransferHandler<AbortSignal, WireSignal> = {
  canHandle: (v): v is AbortSignal => typeof AbortSignal !== 'undefined' && v instanceof AbortSignal,
  serialize: (signal) => {
    const { port1, port2 } = new MessageChannel();
    const send = () => {
      port1.postMessage(thrownToWire(signal.reason));
      port1.close();
    };
    if (!signal.aborted) signal.addEventListener('abort', send, { once: true });
    return [{ aborted: signal.aborted, reason: signal.aborted ? thrownToWire(signal.reason) : undefined, port: port2 }, [port2]];
  },
  deserialize: (w) => {
    const controller = new AbortController();
    const reasonOf = (t: WireThrown) => (t.isError ? errorFromWire(t.value) : t.value);
    if (w.aborted) {
      controller.abort(reasonOf(w.reason as WireThrown));
      w.port.close();
    } else {
      w.port.onmessage = (ev: MessageEvent<WireThrown>) => {
        controller.abort(reasonOf(ev.data));
        w.port.close();
      };
    }
    return controller.signal;
  },
};

let role: WireRole | undefined;

// ---------------------------------------------------------------- buffers

/** Buffers the page asked to move (`transfer()` of client.ts) rather than copy. */
const movedByPage = new WeakSet<object>();

/** Whether the page moved `value` with transfer() (the fast calls honour it too: rpc.ts). */
export function isMovedByPage(value: object): boolean {
  return movedByPage.has(value);
}

/** Like Comlink.transfer, and also understood by the butterfs argument handler. */
export function transfer<T>(value: T, transferables: Transferable[]): T {
  if (typeof value === 'object' && value !== null) movedByPage.add(value);
  return Comlink.transfer(value, transferables);
}

// A Uint8Array argument is tagged with an id. When the worker's result holds that same array
// (node's `filehandle.read(buffer, ...)` resolves { bytesRead, buffer } with the caller's
// buffer), the page copies the bytes back into the caller's array and puts it in the result:
// the caller's buffer is filled, as in-process.
let nextArgumentId = 1;
const argumentsSent = new Map<number, WeakRef<Uint8Array>>();
const argumentsGone = typeof FinalizationRegistry === 'undefined' ? undefined : new FinalizationRegistry<number>((id) => argumentsSent.delete(id));
const argumentIds = new WeakMap<Uint8Array, number>();

interface WireArgumentBytes {
  id: number;
  bytes: Uint8Array;
}
const argumentBytesHandler: Comlink.TransferHandler<Uint8Array, WireArgumentBytes> = {
  canHandle: (v): v is Uint8Array => role === 'page' && isTransferableBytes(v),
  serialize: (v) => {
    const id = nextArgumentId++;
    argumentsSent.set(id, new WeakRef(v));
    argumentsGone?.register(v, id);
    if (movedByPage.has(v)) return [{ id, bytes: v }, [v.buffer as ArrayBuffer]];
    // One copy of exactly the view (structured clone would copy the whole underlying buffer),
    // into a fresh plain Uint8Array: not `v.slice()`, which a subclass may override to return a
    // view (node's Buffer and the `buffer` package do), so that transferring the "copy" would
    // detach the caller's own memory (a Buffer pool shared by unrelated buffers, even).
    const copy = new Uint8Array(v.byteLength);
    copy.set(v);
    return [{ id, bytes: copy }, [copy.buffer]];
  },
  deserialize: (w) => {
    argumentIds.set(w.bytes, w.id);
    return w.bytes;
  },
};

export function isTransferableBytes(v: unknown): v is Uint8Array {
  // A SharedArrayBuffer is shared, not moved; it crosses by structured clone (no copy either).
  return v instanceof Uint8Array && v.buffer instanceof ArrayBuffer;
}
export function isPlain(v: unknown): v is Record<string, unknown> | unknown[] {
  if (typeof v !== 'object' || v === null) return false;
  if (Array.isArray(v)) return true;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
/** The arrays of a result: the value itself (key null), or the top-level members of a plain object / array. */
function bytesIn(v: unknown): { key: string | number | null; bytes: Uint8Array }[] {
  if (isTransferableBytes(v)) return [{ key: null, bytes: v }];
  if (!isPlain(v)) return [];
  const out: { key: string | number | null; bytes: Uint8Array }[] = [];
  if (Array.isArray(v)) v.forEach((m, i) => isTransferableBytes(m) && out.push({ key: i, bytes: m }));
  else for (const [k, m] of Object.entries(v)) if (isTransferableBytes(m)) out.push({ key: k, bytes: m });
  return out;
}

interface WireResultBytes {
  value: unknown;
  /** Which arrays of the value are the page's own arguments coming back. */
  echoes: { key: string | number | null; id: number }[];
}
const resultBytesHandler: Comlink.TransferHandler<unknown, WireResultBytes> = {
  canHandle: (v): v is unknown => role === 'worker' && bytesIn(v).length > 0,
  serialize: (v) => {
    const found = bytesIn(v);
    const echoes: WireResultBytes['echoes'] = [];
    for (const { key, bytes } of found) {
      const id = argumentIds.get(bytes);
      if (id !== undefined) echoes.push({ key, id });
    }
    return [{ value: v, echoes }, [...new Set(found.map((f) => f.bytes.buffer as ArrayBuffer))]];
  },
  deserialize: ({ value, echoes }) => {
    let out = value;
    for (const { key, id } of echoes) {
      const original = argumentsSent.get(id)?.deref();
      argumentsSent.delete(id);
      const arrived = (key === null ? out : (out as Record<string | number, unknown>)[key]) as Uint8Array;
      // A moved (detached) or resized original cannot take the bytes: the result keeps its own array.
      if (!original || original.byteLength !== arrived.byteLength) continue;
      original.set(arrived);
      if (key === null) out = original;
      else (out as Record<string | number, unknown>)[key] = original;
    }
    return out;
  },
};

// ---------------------------------------------------------------- value classes

/**
 * Classes whose instances are data with methods computed from it (node's Stats, Dirent): they
 * cross by value and are rebuilt on the other side with their prototype, so `stats.isFile()`
 * stays a synchronous call. Registered by name on both sides (value-classes.ts).
 */
const valueClasses = new Map<string, object>();
export function registerValueClass(name: string, ctor: { prototype: object }): void {
  valueClasses.set(name, ctor.prototype);
}
export function valueClassOf(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const proto = Object.getPrototypeOf(v);
  for (const [name, p] of valueClasses) if (p === proto) return name;
  return undefined;
}
type WireValueObject = { c: string; f: Record<string, unknown> };
type WireValue = { one: WireValueObject } | { many: (WireValueObject | { raw: unknown })[] };
/** The prototype registered under `name`, if any. */
export function valueClassPrototype(name: string): object | undefined {
  return valueClasses.get(name);
}
const encodeValue = (v: object, c: string): WireValueObject => ({ c, f: { ...(v as Record<string, unknown>) } });
const decodeValue = (w: WireValueObject): unknown => Object.assign(Object.create(valueClasses.get(w.c) ?? Object.prototype), w.f);
const valueClassHandler: Comlink.TransferHandler<unknown, WireValue> = {
  // A value-class instance, or an array holding some (readdir withFileTypes).
  canHandle: (v): v is unknown => valueClassOf(v) !== undefined || (Array.isArray(v) && v.some((m) => valueClassOf(m) !== undefined)),
  serialize: (v) => {
    const c = valueClassOf(v);
    if (c !== undefined) return [{ one: encodeValue(v as object, c) }, []];
    return [{ many: (v as unknown[]).map((m) => {
      const mc = valueClassOf(m);
      return mc === undefined ? { raw: m } : encodeValue(m as object, mc);
    }) }, []];
  },
  deserialize: (w) => ('one' in w ? decodeValue(w.one) : w.many.map((m) => ('raw' in m ? m.raw : decodeValue(m)))),
};

/** Built-in values that structured clone carries (they have methods, yet cross by value). */
export function isCloneableBuiltin(v: object): boolean {
  return v instanceof Error || v instanceof Date || v instanceof RegExp || v instanceof Map || v instanceof Set
    || v instanceof ArrayBuffer || ArrayBuffer.isView(v) || v instanceof Promise || Array.isArray(v)
    || (typeof Blob !== 'undefined' && v instanceof Blob)
    || (typeof MessagePort !== 'undefined' && v instanceof MessagePort)
    || isStream(v);
}
/** Objects with methods (own or inherited, below Object.prototype): they cross by reference. */
function hasMethods(v: object): boolean {
  let depth = 0;
  for (let o: object | null = v; o !== null && o !== Object.prototype && depth < 32; o = Object.getPrototypeOf(o), depth++) {
    for (const key of Object.getOwnPropertyNames(o)) {
      if (key === 'constructor') continue;
      const d = Object.getOwnPropertyDescriptor(o, key);
      if (d && typeof d.value === 'function') return true;
    }
  }
  return false;
}
export function crossesByReference(v: unknown): boolean {
  if (typeof v === 'function') return true;
  if (role !== 'worker' || typeof v !== 'object' || v === null || isCloneableBuiltin(v) || valueClassOf(v) !== undefined) return false;
  return hasMethods(v);
}
const referenceHandler: Comlink.TransferHandler<object, MessagePort> = {
  canHandle: (v): v is object => crossesByReference(v),
  serialize: (obj) => {
    const { port1, port2 } = new MessageChannel();
    Comlink.expose(obj, port1);
    return [port2, [port2]];
  },
  deserialize: (port) => {
    port.start();
    return Comlink.wrap(port);
  },
};

// An options object (a plain object argument) may carry callbacks and an AbortSignal at its top
// level: `check({ onProgress })`, `readFile(p, { signal })`. Those members cross as the values
// above do (by reference, as a signal); the rest of the object by clone.
interface WireOptions {
  data: Record<string, unknown>;
  functions: Record<string, MessagePort>;
  signals: Record<string, WireSignal>;
}
function isSpecialMember(m: unknown): boolean {
  return typeof m === 'function' || (typeof AbortSignal !== 'undefined' && m instanceof AbortSignal);
}
const optionsHandler: Comlink.TransferHandler<Record<string, unknown>, WireOptions> = {
  canHandle: (v): v is Record<string, unknown> => isPlain(v) && !Array.isArray(v) && Object.values(v).some(isSpecialMember),
  serialize: (v) => {
    const w: WireOptions = { data: {}, functions: {}, signals: {} };
    const transferables: Transferable[] = [];
    for (const [k, m] of Object.entries(v)) {
      if (typeof m === 'function') {
        const [port, t] = referenceHandler.serialize(m);
        w.functions[k] = port;
        transferables.push(...t);
      } else if (typeof AbortSignal !== 'undefined' && m instanceof AbortSignal) {
        const [signal, t] = signalHandler.serialize(m);
        w.signals[k] = signal;
        transferables.push(...t);
      } else {
        w.data[k] = m;
      }
    }
    return [w, transferables];
  },
  deserialize: (w) => {
    const out: Record<string, unknown> = { ...w.data };
    for (const [k, port] of Object.entries(w.functions)) out[k] = referenceHandler.deserialize(port);
    for (const [k, signal] of Object.entries(w.signals)) out[k] = signalHandler.deserialize(signal);
    return out;
  },
};

/** Installs the handlers; the first call fixes the role of this context. */
export function installWire(as: WireRole): void {
  if (role !== undefined) {
    if (role !== as) throw new Error(`butterfs wire already installed as '${role}', not '${as}'`);
    return;
  }
  role = as;
  Comlink.transferHandlers.set('throw', throwHandler as Comlink.TransferHandler<unknown, unknown>);
  Comlink.transferHandlers.set('butterfs:fserror', fsErrorValueHandler as Comlink.TransferHandler<unknown, unknown>);
  Comlink.transferHandlers.set('butterfs:stream', streamHandler as Comlink.TransferHandler<unknown, unknown>);
  Comlink.transferHandlers.set('butterfs:signal', signalHandler as Comlink.TransferHandler<unknown, unknown>);
  Comlink.transferHandlers.set('butterfs:options', optionsHandler as Comlink.TransferHandler<unknown, unknown>);
  Comlink.transferHandlers.set('butterfs:value', valueClassHandler);
  Comlink.transferHandlers.set('butterfs:arg-bytes', argumentBytesHandler as Comlink.TransferHandler<unknown, unknown>);
  Comlink.transferHandlers.set('butterfs:result-bytes', resultBytesHandler);
  Comlink.transferHandlers.set('butterfs:ref', referenceHandler as Comlink.TransferHandler<unknown, unknown>);
}

// The type of the page-side client: the in-process engine's API, promisified, derived from the
// engine's own types so that nothing is listed twice and new engine methods (fs.promises, the
// admin namespaces) appear on the client as soon as they exist.
//
// `Client<T>` is comlink's `Remote<T>` with two differences, both matching what the worker does
// at run time (wire.ts):
//  * a property whose value has methods (a namespace such as `fs.promises`) is reached through,
//    `client.promises.readFile(...)`, not cloned: comlink's Remote types it as `Promise<object>`
//    although its proxy does the same path access;
//  * a value with methods returned by a call (a FileHandle from `open`) crosses by reference and
//    is typed `Client<...>` (comlink needs each such class to be marked with `Comlink.proxy`).
// Data (numbers, strings, plain objects, arrays, Uint8Array, Date, Error, streams) crosses by
// value, and so do the engine's value classes (Stats, Dirent: value-classes.ts), rebuilt with
// their methods on the page.
//
// Overloaded methods keep up to four overloads (comlink's Remote keeps only the last).
import type { Filesystem } from '../api/filesystem.js';
import type { ValueClassInstance } from './value-classes.js';

type AnyFunction = (...args: never[]) => unknown;

/** Values that have methods but cross by structured clone, transfer, or as registered value classes. */
type ByValueBuiltin =
  | ValueClassInstance | readonly unknown[]
  | Date | RegExp | Error | ArrayBuffer | ArrayBufferView | Blob | Promise<unknown>
  | ReadableStream<never> | WritableStream<never> | TransformStream<never, never>
  | Map<unknown, unknown> | Set<unknown> | MessagePort | AbortSignal;

type HasMethods<T> = true extends { [K in keyof T]-?: T[K] extends AnyFunction ? true : false }[keyof T] ? true : false;

/** True when a value of type T crosses the boundary by reference (functions, objects with methods). */
export type CrossesByReference<T> =
  T extends ByValueBuiltin ? false
    : T extends AnyFunction ? true
      : T extends object ? HasMethods<T>
        : false;

/** A value returned by the engine, as the page receives it (distributes over unions: `FileHandle | undefined`). */
export type Returned<T> = T extends unknown ? (CrossesByReference<T> extends true ? Client<T> : T) : never;

/** Up to four call signatures of F (overloads), the first ones repeated when F has fewer. */
type Overloads<F> = F extends {
  (...a: infer A1): infer R1;
  (...a: infer A2): infer R2;
  (...a: infer A3): infer R3;
  (...a: infer A4): infer R4;
} ? [[A1, R1], [A2, R2], [A3, R3], [A4, R4]] : never;
type Same<X, Y> = (<T>() => T extends X ? 1 : 2) extends (<T>() => T extends Y ? 1 : 2) ? true : false;
type RemoteSignature<O> = O extends [infer A extends unknown[], infer R] ? (...args: A) => Promise<Returned<Awaited<R>>> : never;
/** A signature, unless the next one is the same (the padding of Overloads). */
type Distinct<O, Next> = Same<O, Next> extends true ? unknown : RemoteSignature<O>;

/**
 * A remote call: same parameters, the result promised, overloads kept (up to four, e.g.
 * readFile(path, 'utf8') -> Promise<string>, readFile(path) -> Promise<Uint8Array>).
 */
export type ClientFunction<F> = Overloads<F> extends [infer O1, infer O2, infer O3, infer O4]
  ? Distinct<O1, O2> & Distinct<O2, O3> & Distinct<O3, O4> & RemoteSignature<O4>
  : never;

/** The page-side view of an engine object T. */
export type Client<T> = (T extends AnyFunction ? ClientFunction<T> : unknown) & {
  readonly [K in keyof T]: T[K] extends AnyFunction
    ? ClientFunction<T[K]>
    : CrossesByReference<T[K]> extends true
      ? Client<T[K]>
      : Promise<T[K]>;
};

/**
 * Members of Filesystem not offered through the worker. The worker refuses them (EOPNOTSUPP) and
 * the client type leaves them out. Every other member, present and future, is on the client.
 *  * transaction, read, info: they take or hand out the engine's in-memory state (FsInfo),
 *    which cannot cross a thread;
 *  * fsCallback: node's callback-style fs is typed as a string-keyed record, which the client
 *    type cannot map; over a worker, use `promises` (a callback fs can be built over it).
 */
export type LocalOnly = 'transaction' | 'read' | 'info' | 'fsCallback' | 'topRoot' | 'kickCleaner' | 'waitCleaner' | 'cleanerBudget';
export const LOCAL_ONLY: readonly LocalOnly[] = ['transaction', 'read', 'info', 'fsCallback', 'topRoot', 'kickCleaner', 'waitCleaner', 'cleanerBudget'];

/** The part of Filesystem a page reaches through the worker. */
export type FilesystemApi = Omit<Filesystem, LocalOnly>;

/** What `connect()` resolves to: the filesystem, promisified, plus `close()`. */
export type FilesystemClient = Client<FilesystemApi> & {
  /**
   * The holder: unmounts (commit), closes the devices, releases the lock, ends the worker.
   * A sharer: detaches from the holder and ends its own (idle) worker. Idempotent.
   */
  close(): Promise<void>;
};

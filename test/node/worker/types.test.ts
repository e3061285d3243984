// Type tests of the page client (comlink tests/type-checks.ts style): checked by `tsc --noEmit`
// (tsconfig includes test/) and run as a vitest file so that they are part of the suite. The
// runtime assertions are no-ops; a wrong type fails the type check.
import { describe, expectTypeOf, it } from 'vitest';
import type { Remote } from 'comlink';
import type { Filesystem } from '../../../src/api/filesystem.js';
import type { CheckOptions, CheckResult } from '../../../src/fs/check.js';
import type { Client, FilesystemApi, FilesystemClient, LocalOnly } from '../../../src/worker/types.js';
import type { FsPromises } from '../../../src/api/promises.js';
import type { Attributes } from '../../../src/api/attributes.js';
import type { SubvolumeApi } from '../../../src/api/subvolume.js';
import type { PropertyApi } from '../../../src/api/property.js';
import type { QgroupApi } from '../../../src/api/qgroup.js';
import type { FileHandle } from '../../../src/api/file-handle.js';
import type { BigIntStats, Dirent, Stats } from '../../../src/api/stats.js';
import type { connect, ConnectionInfo, ConnectOptions } from '../../../src/worker/client.js';
import type { DefragmentOptions, DefragResult, CompsizeResult } from '../../../src/api/filesystem-admin.js';
import type { PathLike } from '../../../src/api/path.js';

type Fn = (...args: never[]) => unknown;
/** What every member of T must look like on the client: methods promisified, data read as a promise. */
type Promisified<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : Promise<T[K]>;
};
type MethodKeys<T> = { [K in keyof T]: T[K] extends Fn ? K : never }[keyof T];

describe('FilesystemClient', () => {
  /** Members of Filesystem reached through by path (namespaces with methods), not read as values. */
  type Namespaces = 'promises' | 'attributes' | 'filesystem' | 'subvolume' | 'property' | 'qgroup';
  it('has every member of the in-process Filesystem but the in-process ones, promisified', () => {
    // The same keys, plus close().
    expectTypeOf<Exclude<keyof FilesystemClient, 'close'>>().toEqualTypeOf<Exclude<keyof Filesystem, LocalOnly>>();
    // Each method and data member: same parameters, the awaited result in a promise.
    type Plain = Exclude<keyof FilesystemApi, Namespaces>;
    expectTypeOf<Pick<FilesystemClient, Plain>>().toEqualTypeOf<Readonly<Promisified<Pick<FilesystemApi, Plain>>>>();
    // Namespaces are clients themselves.
    expectTypeOf<FilesystemClient['promises']>().toEqualTypeOf<Client<FsPromises>>();
    expectTypeOf<FilesystemClient['attributes']>().toEqualTypeOf<Client<Attributes>>();
    expectTypeOf<FilesystemClient['subvolume']>().toEqualTypeOf<Client<SubvolumeApi>>();
    expectTypeOf<FilesystemClient['property']>().toEqualTypeOf<Client<PropertyApi>>();
    expectTypeOf<FilesystemClient['qgroup']>().toEqualTypeOf<Client<QgroupApi>>();
  });

  it('methods match comlink Remote<Filesystem> call for call', () => {
    type R = Remote<FilesystemApi>;
    type C = FilesystemClient;
    type SameCall<K extends MethodKeys<FilesystemApi>> = [Parameters<C[K]>, ReturnType<C[K]>] extends [Parameters<R[K]>, ReturnType<R[K]>]
      ? [Parameters<R[K]>, ReturnType<R[K]>] extends [Parameters<C[K]>, ReturnType<C[K]>] ? true : false
      : false;
    expectTypeOf<{ [K in MethodKeys<FilesystemApi>]: SameCall<K> }[MethodKeys<FilesystemApi>]>().toEqualTypeOf<true>();
  });

  it('fs.filesystem.defragment and compsize: same options (onProgress and signal cross by reference, wire.ts), results by value', () => {
    type Admin = FilesystemClient['filesystem'];
    expectTypeOf<Admin['defragment']>().parameters.toEqualTypeOf<[path: PathLike, options?: DefragmentOptions]>();
    expectTypeOf<Admin['defragment']>().returns.toEqualTypeOf<Promise<DefragResult>>();
    expectTypeOf<Admin['compsize']>().parameters.toEqualTypeOf<[paths: PathLike | PathLike[], options?: { oneFileSystem?: boolean }]>();
    expectTypeOf<Admin['compsize']>().returns.toEqualTypeOf<Promise<CompsizeResult>>();
  });

  it('concrete signatures', () => {
    expectTypeOf<FilesystemClient['sync']>().toEqualTypeOf<() => Promise<void>>();
    expectTypeOf<FilesystemClient['unmount']>().toEqualTypeOf<() => Promise<void>>();
    expectTypeOf<FilesystemClient['check']>().toEqualTypeOf<(options?: CheckOptions) => Promise<CheckResult>>();
    expectTypeOf<FilesystemClient['dumpSuper']>().parameters.toEqualTypeOf<[options?: { full?: boolean }]>();
    expectTypeOf<FilesystemClient['dumpSuper']>().returns.toEqualTypeOf<Promise<string>>();
    expectTypeOf<FilesystemClient['generation']>().toEqualTypeOf<Promise<number>>();
    expectTypeOf<FilesystemClient['close']>().toEqualTypeOf<() => Promise<void>>();
    expectTypeOf<typeof connect>().returns.toEqualTypeOf<Promise<FilesystemClient>>();
    expectTypeOf<ConnectOptions['backend']>().toEqualTypeOf<'opfs' | 'idb'>();
    expectTypeOf<ConnectionInfo['state']>().toEqualTypeOf<'waiting-for-lock' | 'opening' | 'holder' | 'sharer' | 'closed'>();
  });

  it('in-process members are not on the client', () => {
    const c = {} as FilesystemClient;
    // @ts-expect-error transaction() takes engine callbacks: in-process only
    void c.transaction;
    // @ts-expect-error read() likewise
    void c.read;
    // @ts-expect-error info is the engine's in-memory state
    void c.info;
    // @ts-expect-error the callback-style fs is in-process only
    void c.fsCallback;
    // @ts-expect-error the client is read-only
    c.sync = async () => undefined;
  });
});

// A model of what src/api is adding (fs.promises): a namespace, an overloaded call, a FileHandle
// (methods: by reference) and Stats (data with methods: by reference too, until it is registered
// as a value class).
declare class FileHandleModel {
  readonly fd: number;
  read(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesRead: number; buffer: Uint8Array }>;
  close(): Promise<void>;
}
interface StatsModel {
  size: number;
  isFile(): boolean;
}
interface PromisesModel {
  readFile(path: string): Promise<Uint8Array>;
  readdir(path: string): Promise<string[]>;
  open(path: string, flags?: string): Promise<FileHandleModel>;
  stat(path: string): Promise<StatsModel>;
  exists?: undefined;
}
interface EngineModel {
  promises: PromisesModel;
  label: string;
  maybeHandle(): FileHandleModel | undefined;
}

describe('Client<T> on an fs.promises-like engine', () => {
  type C = Client<EngineModel>;
  it('a namespace is reached through, not cloned', () => {
    expectTypeOf<C['promises']['readFile']>().toEqualTypeOf<(path: string) => Promise<Uint8Array>>();
    expectTypeOf<C['promises']['readdir']>().toEqualTypeOf<(path: string) => Promise<string[]>>();
    expectTypeOf<C['label']>().toEqualTypeOf<Promise<string>>();
  });
  it('an object with methods comes back by reference, its data members as promises', () => {
    type H = Awaited<ReturnType<C['promises']['open']>>;
    expectTypeOf<H['fd']>().toEqualTypeOf<Promise<number>>();
    expectTypeOf<H['read']>().returns.toEqualTypeOf<Promise<{ bytesRead: number; buffer: Uint8Array }>>();
    expectTypeOf<H['close']>().toEqualTypeOf<() => Promise<void>>();
    type S = Awaited<ReturnType<C['promises']['stat']>>;
    expectTypeOf<S['isFile']>().toEqualTypeOf<() => Promise<boolean>>();
    expectTypeOf<ReturnType<C['maybeHandle']>>().toEqualTypeOf<Promise<Client<FileHandleModel> | undefined>>();
  });
});

describe('fs.promises through the client', () => {
  type P = FilesystemClient['promises'];
  it('overloads are kept: readFile with an encoding is a string, without one bytes', () => {
    // Type-checked, never run (the client is not real here).
    const calls = (p: P) => {
      expectTypeOf(p.readFile('/a', 'utf8')).toEqualTypeOf<Promise<string>>();
      expectTypeOf(p.readFile('/a')).toEqualTypeOf<Promise<Uint8Array>>();
      expectTypeOf(p.stat('/a')).toEqualTypeOf<Promise<Stats>>();
      expectTypeOf(p.stat('/a', { bigint: true })).toEqualTypeOf<Promise<BigIntStats>>();
    };
    void calls;
  });
  it('Stats and Dirent are values (isFile() stays synchronous); a FileHandle is a reference', () => {
    type S = Awaited<ReturnType<P['lstat']>>;
    expectTypeOf<S>().toEqualTypeOf<Stats | BigIntStats>();
    expectTypeOf<Stats['isFile']>().toEqualTypeOf<() => boolean>();
    type D = Awaited<ReturnType<P['readdir']>>;
    expectTypeOf<D>().toEqualTypeOf<(string | Uint8Array)[] | Dirent<string | Uint8Array>[]>();
    type H = Awaited<ReturnType<P['open']>>;
    expectTypeOf<H>().toEqualTypeOf<Client<FileHandle>>();
    expectTypeOf<H['fd']>().toEqualTypeOf<Promise<number>>();
    expectTypeOf<H['close']>().toEqualTypeOf<() => Promise<void>>();
  });
  it('every method of FsPromises is on the client, promisified', () => {
    expectTypeOf<keyof P>().toEqualTypeOf<keyof FsPromises>();
  });
});

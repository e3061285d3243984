// The page client (`butterfs/client`): `connect()` starts a butterfs worker for one filesystem
// and returns the filesystem's API, promisified (`FilesystemClient`, types.ts), plus close().
//
// What the client is: a JS Proxy that turns every property path into a comlink call on whichever
// target currently serves this connection: this page's own worker (when it holds the filesystem)
// or, for a sharing tab, the holder's worker over the share channel (share.ts). The target can
// change under the client (a sharer takes over when the holder goes away) without the page
// noticing, except that requests in flight at that moment fail with EIO. The functions of
// fs.promises (and the FileHandles they open) skip comlink when the target is this page's own
// worker: they go as fast calls (rpc.ts), one small message each way, batched when several are
// made in one turn; `fastCalls: false` turns that off.
//
// Multi-tab (one writer per filesystem, Web Locks; the worker takes the locks, see worker.ts):
//   whenBusy 'wait'  (default) connect() resolves when the lock is ours and the fs is mounted;
//   whenBusy 'share' connect() resolves at once through the holder, and this tab takes over when
//                    the holder goes away;
//   whenBusy 'fail'  EBUSY at once.
import * as Comlink from 'comlink';
import type { MkfsOptions } from '../fs/mkfs.js';
import { PROMISES_METHODS } from '../api/promises-surface.js';
import { FsError } from '../util/errors.js';
import { defaultDeviceNames, type Backend, type ConnectionState, type MountSummary, type OpenRequest, type WhenBusy, type WorkerControl } from './protocol.js';
import { FastCalls } from './rpc.js';
import { ShareLink } from './share.js';
import type { FilesystemClient } from './types.js';
import { installWire } from './wire.js';
import './value-classes.js';

export type { Backend, ConnectionState, MountSummary, WhenBusy } from './protocol.js';
export type { Client, ClientFunction, CrossesByReference, FilesystemApi, FilesystemClient, LocalOnly, Returned } from './types.js';
export { FsError, isFsError } from '../util/errors.js';
/** A node-like `fs` ({ promises, constants }) over a client, for libraries such as isomorphic-git. */
export { nodeFs, type NodeFs, type NodeFsPromises } from './node-fs.js';

/**
 * Move (not copy) a buffer you pass: `fs.promises.writeFile(p, transfer(data, [data.buffer]))`.
 * Your array is detached afterwards. Without it, a Uint8Array argument is copied once.
 */
export { transfer } from './wire.js';

export interface ConnectOptions {
  /** The filesystem's name: it names the Web Lock, the share channel and (by default) the devices. */
  name: string;
  backend: Backend;
  /** A count (devices `${name}/dev1` ...) or the device names. Default 1. */
  devices?: number | string[];
  /** Size of each device when it is created (required then); existing devices smaller than this are grown. */
  deviceSizeBytes?: number;
  /** Format when no device holds a btrfs filesystem: true (defaults) or mkfs options. Default false. */
  mkfs?: MkfsOptions | boolean;
  /** btrfs mount options, e.g. 'commit=5'. */
  mountOptions?: string;
  whenBusy?: WhenBusy;
  /**
   * The worker to use (a Worker running `butterfs/worker`, e.g. from startWorker() earlier, or its
   * URL). Default: a new one, the one beside this module.
   */
  worker?: Worker | URL;
  /** Gives up waiting (for the lock, or for the open): connect() rejects with ECANCELED. */
  signal?: AbortSignal;
  /** Every change of state: 'waiting-for-lock', 'opening', 'holder', 'sharer', 'closed'. */
  onStateChange?: (state: ConnectionState) => void;
  /** OpfsDevice open bounds. */
  openTimeoutMs?: number;
  /**
   * How long close() waits for the worker to commit and unmount (default 60 s). A worker that
   * was terminated or hangs does not answer: close() then terminates it and fails with
   * ETIMEDOUT (changes since the last commit are lost, as after a power cut).
   */
  closeTimeoutMs?: number;
  busyRetryMs?: number;
  /**
   * fs.promises and FileHandle calls go to this page's own worker as fast calls (rpc.ts), one
   * small message each way. false sends them through comlink like every other call: slower, for
   * comparison and diagnosis (test/bench/browser/client.bench.ts). Default true.
   */
  fastCalls?: boolean;
}

export interface ConnectionInfo {
  readonly name: string;
  readonly backend: Backend;
  readonly state: ConnectionState;
  /** The filesystem as this connection last mounted it (holder); undefined for a sharer that never held it. */
  readonly summary: MountSummary | undefined;
  /** Whether this connection's own worker has the devices open. */
  devicesOpen(): Promise<boolean>;
}

const connections = new WeakMap<object, ConnectionInfo>();

/** The state of a client returned by connect(). */
export function connectionInfo(client: FilesystemClient): ConnectionInfo {
  const info = connections.get(client);
  if (!info) throw new FsError('EINVAL', 'not a butterfs client');
  return info;
}

/**
 * Starts a butterfs worker now, for a later `connect({ ..., worker })`: its code loads while the
 * page does other things, and connect() then only takes the lock, opens and mounts. Starting the
 * worker is most of a cold connect() (docs/benchmarks.md, "Cold open"). One worker serves one
 * connect().
 */
export function startWorker(): Worker {
  // Written out in this form so that bundlers (Vite, webpack 5) see and bundle the worker. In the
  // built package, worker.js beside this module is already one bundled file
  // (scripts/build-worker.mjs), so a page without a bundler loads one file, not the module graph.
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'butterfs' });
  // A failure to load before connect() listens must still fail that connect().
  worker.addEventListener('error', (ev: ErrorEvent) => {
    ev.preventDefault();
    earlyFailures.set(worker, workerError(ev));
  }, { once: true });
  return worker;
}

/** Workers from startWorker() that failed before a connect() took them. */
const earlyFailures = new WeakMap<Worker, FsError>();

function workerError(ev: ErrorEvent): FsError {
  return new FsError('EIO', `the butterfs worker failed: ${ev.message || 'it could not be loaded'}`);
}

function workerFor(option: Worker | URL | undefined): Worker {
  if (option instanceof Worker) return option;
  if (option) return new Worker(option, { type: 'module', name: 'butterfs' });
  return startWorker();
}

function deviceNames(options: ConnectOptions): string[] {
  const d = options.devices ?? 1;
  if (Array.isArray(d)) return [...d];
  if (!Number.isInteger(d) || d < 1 || d > 64) throw new FsError('EINVAL', `devices: expected a count from 1 to 64 or names, got ${d}`);
  return defaultDeviceNames(options.name, d);
}

/** A property path followed on whatever currently serves the connection. */
type Target = Record<PropertyKey, unknown>;
function follow(target: Target, path: PropertyKey[]): unknown {
  return path.reduce<unknown>((o, p) => (o as Target)[p], target);
}

/** The functions of fs.promises that go as fast calls (rpc.ts): all but opendir (its Dir is a comlink reference). */
const FAST_PROMISES = new Set<string>(PROMISES_METHODS.filter((m) => m !== 'opendir'));

/** How the client proxy reaches the fast calls. */
interface FastRoute {
  /** A fast call of `path` with `args`, or undefined when it must go through comlink. */
  call(path: readonly PropertyKey[], args: unknown[]): Promise<unknown> | undefined;
  /** Sends the fast calls queued in this turn, before a comlink message (they keep their order). */
  flush(): void;
}

function makeClientProxy(getTarget: () => Target, close: () => Promise<void>, fast: FastRoute, path: PropertyKey[] = []): unknown {
  // Members are made once per path and kept: `client.promises.stat(p)` in a loop allocates nothing here.
  const members = new Map<string, unknown>();
  return new Proxy(function () {}, {
    get(_t, prop) {
      if (typeof prop === 'symbol') return undefined;
      if (path.length === 0) {
        if (prop === 'close') return close;
        // Not a thenable: `await connect()` must yield the client itself.
        if (prop === 'then') return undefined;
      } else if (prop === 'then') {
        // `await client.generation`: a read of the remote value.
        return (onFulfilled?: (v: unknown) => unknown, onRejected?: (e: unknown) => unknown) => {
          let p: Promise<unknown>;
          try {
            const target = getTarget();
            fast.flush();
            p = Promise.resolve(follow(target, path) as Promise<unknown>);
          } catch (e) {
            p = Promise.reject(e);
          }
          return p.then(onFulfilled, onRejected);
        };
      }
      let member = members.get(prop);
      if (member === undefined) {
        member = makeClientProxy(getTarget, close, fast, [...path, prop]);
        members.set(prop, member);
      }
      return member;
    },
    apply(_t, _this, args: unknown[]) {
      try {
        const target = getTarget();
        const sent = fast.call(path, args);
        if (sent) return sent;
        fast.flush();
        return (follow(target, path) as (...a: unknown[]) => Promise<unknown>)(...args);
      } catch (e) {
        return Promise.reject(e);
      }
    },
    set() {
      throw new FsError('EPERM', 'a butterfs client is read-only; call its methods');
    },
  });
}

/** Starts a worker for the filesystem `options.name` and connects to it. */
export async function connect(options: ConnectOptions): Promise<FilesystemClient> {
  installWire('page');
  if (typeof options.name !== 'string' || options.name === '') throw new FsError('EINVAL', 'connect: name is required');
  if (options.backend !== 'opfs' && options.backend !== 'idb') throw new FsError('EINVAL', `connect: backend must be 'opfs' or 'idb', got '${String(options.backend)}'`);
  const whenBusy = options.whenBusy ?? 'wait';
  if (whenBusy !== 'wait' && whenBusy !== 'share' && whenBusy !== 'fail') throw new FsError('EINVAL', `connect: whenBusy must be 'wait', 'share' or 'fail'`);
  options.signal?.throwIfAborted();
  const request: OpenRequest = {
    name: options.name,
    backend: options.backend,
    devices: deviceNames(options),
    mkfs: options.mkfs === true ? {} : options.mkfs === undefined || options.mkfs === false ? false : options.mkfs,
    whenBusy,
  };
  if (options.deviceSizeBytes !== undefined) request.deviceSizeBytes = options.deviceSizeBytes;
  if (options.mountOptions !== undefined) request.mountOptions = options.mountOptions;
  if (options.openTimeoutMs !== undefined) request.openTimeoutMs = options.openTimeoutMs;
  if (options.busyRetryMs !== undefined) request.busyRetryMs = options.busyRetryMs;

  const worker = workerFor(options.worker);
  const control = Comlink.wrap<WorkerControl & { fs: Target }>(worker);

  // 'starting' until the worker reports; connect() never resolves in it.
  let state: ConnectionState | 'starting' = 'starting';
  let summary: MountSummary | undefined;
  let target: Target | undefined;
  let link: ShareLink | undefined;
  let closing: Promise<void> | undefined;
  // fs.promises and FileHandle calls to this page's own worker, once it holds the filesystem.
  const fast = new FastCalls(worker);
  let fastReady = false;
  const fastRoute: FastRoute = {
    call: (path, args) => {
      if (!fastReady || path.length !== 2 || path[0] !== 'promises' || !FAST_PROMISES.has(path[1] as string)) return undefined;
      return fast.callPromises(path[1] as string, args);
    },
    flush: () => fast.flush(),
  };
  const setState = (s: ConnectionState) => {
    if (state === s || state === 'closed') return;
    state = s;
    options.onStateChange?.(s);
  };

  // The worker failing to load or crashing fails whatever is waiting on it.
  let failWorker!: (e: unknown) => void;
  const workerFailed = new Promise<never>((_, reject) => (failWorker = reject));
  workerFailed.catch(() => undefined); // observed through the races below; this only marks it handled
  worker.addEventListener('error', (ev: ErrorEvent) => {
    ev.preventDefault();
    const e = workerError(ev);
    failWorker(e);
    fast.fail(e);
  });
  const failedEarly = earlyFailures.get(worker);
  if (failedEarly) failWorker(failedEarly);
  worker.addEventListener('messageerror', () => failWorker(new FsError('EIO', 'the butterfs worker sent a message that could not be read')));

  const close = (): Promise<void> => {
    closing ??= (async () => {
      setState('closed');
      state = 'closed';
      link?.close('connection closed');
      link = undefined;
      target = undefined;
      fastReady = false;
      const limitMs = options.closeTimeoutMs ?? 60_000;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new FsError('ETIMEDOUT', `the butterfs worker did not finish close() within ${limitMs} ms; it was terminated`)), limitMs);
      });
      try {
        // Fast calls made before close() reach the worker before it unmounts, and are answered.
        fast.flush();
        await Promise.race([control.close(), workerFailed, timedOut]);
      } finally {
        clearTimeout(timer);
        control[Comlink.releaseProxy]();
        worker.terminate();
        // Answered before close() resolved, unless the worker hung: those fail now.
        fast.fail(new FsError('EIO', 'the butterfs connection is closed'));
      }
    })();
    return closing;
  };

  const getTarget = (): Target => {
    if (!target) throw new FsError('EIO', state === 'closed' ? 'the butterfs connection is closed' : 'the butterfs connection is not ready');
    return target;
  };
  const client = makeClientProxy(getTarget, close, fastRoute) as FilesystemClient;
  connections.set(client, {
    name: options.name,
    backend: options.backend,
    get state() {
      return state as ConnectionState;
    },
    get summary() {
      return summary;
    },
    devicesOpen: () => {
      if (state === 'closed') return Promise.resolve(false);
      fast.flush();
      return control.devicesOpen();
    },
  });

  // Resolved when this connection's own worker holds the filesystem (at start or on takeover).
  let heldHere!: () => void;
  const held = new Promise<void>((resolve) => (heldHere = resolve));
  const becomeHolder = (s: MountSummary) => {
    if (state === 'closed') return;
    summary = s;
    link?.close('the filesystem moved to this tab; retry');
    link = undefined;
    target = control.fs as unknown as Target;
    fastReady = options.fastCalls !== false;
    setState('holder');
    heldHere();
  };
  // A failed takeover before connect() resolved fails connect(); after, it is reported here (this
  // tab then stays a sharer of whoever holds the filesystem next).
  let takeoverFailed!: (e: unknown) => void;
  const takeoverFailedBeforeReady = new Promise<never>((_, reject) => (takeoverFailed = reject));
  takeoverFailedBeforeReady.catch(() => undefined); // observed through the race below
  let ready = false;
  const onTakeoverError = (e: unknown) => {
    if (!ready) takeoverFailed(e);
    else console.error(`butterfs: taking over '${options.name}' failed`, e);
  };

  let aborted: Promise<never> = new Promise<never>(() => undefined);
  if (options.signal) {
    const signal = options.signal;
    aborted = new Promise<never>((_, reject) => {
      signal.addEventListener('abort', () => reject(new FsError('ECANCELED', 'connect() aborted', { cause: signal.reason })), { once: true });
    });
    aborted.catch(() => undefined);
  }

  try {
    const started = await Promise.race([
      control.start(request, (s) => setState(s), (s) => becomeHolder(s), onTakeoverError),
      workerFailed,
      aborted,
    ]);
    if (started.role === 'holder') {
      becomeHolder(started.summary);
    } else {
      link = new ShareLink(options.name);
      const shared = Comlink.wrap<Target>(link) as unknown as Target;
      // Either a holder answers, or the holder left before answering and this worker took over.
      await Promise.race([link.attached, held, takeoverFailedBeforeReady, workerFailed, aborted]);
      // (`state` may have changed in the callbacks while awaiting: read it afresh.)
      if ((state as ConnectionState) !== 'holder') {
        target = shared;
        setState('sharer');
      }
    }
    ready = true;
    return client;
  } catch (e) {
    await close().catch((closeError: unknown) => console.error('butterfs: closing after a failed connect', closeError));
    throw e;
  }
}

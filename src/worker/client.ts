// The page client (`butterfs/client`): `connect()` starts a butterfs worker for one filesystem
// and returns the filesystem's API, promisified (`FilesystemClient`, types.ts), plus close().
//
// What the client is: a JS Proxy that turns every property path into a comlink call on whichever
// target currently serves this connection: this page's own worker (when it holds the filesystem)
// or, for a sharing tab, the holder's worker over the share channel (share.ts). The target can
// change under the client (a sharer takes over when the holder goes away) without the page
// noticing, except that requests in flight at that moment fail with EIO.
//
// Multi-tab (one writer per filesystem, Web Locks; the worker takes the locks, see worker.ts):
//   whenBusy 'wait'  (default) connect() resolves when the lock is ours and the fs is mounted;
//   whenBusy 'share' connect() resolves at once through the holder, and this tab takes over when
//                    the holder goes away;
//   whenBusy 'fail'  EBUSY at once.
import * as Comlink from 'comlink';
import type { MkfsOptions } from '../fs/mkfs.js';
import { FsError } from '../util/errors.js';
import { defaultDeviceNames, type Backend, type ConnectionState, type MountSummary, type OpenRequest, type WhenBusy, type WorkerControl } from './protocol.js';
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
  /** The worker to use (a Worker running `butterfs/worker`, or its URL). Default: the one beside this module. */
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

function startWorker(option: Worker | URL | undefined): Worker {
  if (option instanceof Worker) return option;
  if (option) return new Worker(option, { type: 'module', name: 'butterfs' });
  // Written out in this form so that bundlers (Vite, webpack 5) see and bundle the worker.
  return new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'butterfs' });
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

function makeClientProxy(getTarget: () => Target, close: () => Promise<void>, path: PropertyKey[] = []): unknown {
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
            p = Promise.resolve(follow(getTarget(), path) as Promise<unknown>);
          } catch (e) {
            p = Promise.reject(e);
          }
          return p.then(onFulfilled, onRejected);
        };
      }
      return makeClientProxy(getTarget, close, [...path, prop]);
    },
    apply(_t, _this, args: unknown[]) {
      try {
        return (follow(getTarget(), path) as (...a: unknown[]) => Promise<unknown>)(...args);
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

  const worker = startWorker(options.worker);
  const control = Comlink.wrap<WorkerControl & { fs: Target }>(worker);

  // 'starting' until the worker reports; connect() never resolves in it.
  let state: ConnectionState | 'starting' = 'starting';
  let summary: MountSummary | undefined;
  let target: Target | undefined;
  let link: ShareLink | undefined;
  let closing: Promise<void> | undefined;
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
    failWorker(new FsError('EIO', `the butterfs worker failed: ${ev.message || 'it could not be loaded'}`));
  });
  worker.addEventListener('messageerror', () => failWorker(new FsError('EIO', 'the butterfs worker sent a message that could not be read')));

  const close = (): Promise<void> => {
    closing ??= (async () => {
      setState('closed');
      state = 'closed';
      link?.close('connection closed');
      link = undefined;
      target = undefined;
      const limitMs = options.closeTimeoutMs ?? 60_000;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new FsError('ETIMEDOUT', `the butterfs worker did not finish close() within ${limitMs} ms; it was terminated`)), limitMs);
      });
      try {
        await Promise.race([control.close(), workerFailed, timedOut]);
      } finally {
        clearTimeout(timer);
        control[Comlink.releaseProxy]();
        worker.terminate();
      }
    })();
    return closing;
  };

  const getTarget = (): Target => {
    if (!target) throw new FsError('EIO', state === 'closed' ? 'the butterfs connection is closed' : 'the butterfs connection is not ready');
    return target;
  };
  const client = makeClientProxy(getTarget, close) as FilesystemClient;
  connections.set(client, {
    name: options.name,
    backend: options.backend,
    get state() {
      return state as ConnectionState;
    },
    get summary() {
      return summary;
    },
    devicesOpen: () => (state === 'closed' ? Promise.resolve(false) : control.devicesOpen()),
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

// What the page client and the worker entry say to each other, and the names they agree on
// (Web Locks, BroadcastChannel). Data only.
import type { MkfsOptions } from '../fs/mkfs.js';
import type { WireError, WireSignal, WireThrown } from './wire.js';

export type Backend = 'opfs' | 'idb';

/**
 * What a tab does when another tab (or another connect() in this page) holds the filesystem:
 *  * 'wait'  (default): wait for the lock, then open the devices;
 *  * 'share': reach the filesystem through the holder's worker now, and take over (open the
 *             devices) when the holder goes away;
 *  * 'fail':  reject with EBUSY at once.
 */
export type WhenBusy = 'wait' | 'share' | 'fail';

/**
 * Where a connection is:
 *  * 'waiting-for-lock': another context holds the filesystem; nothing is open here;
 *  * 'opening': the lock is ours; devices are being opened (and formatted, if asked), then mounted;
 *  * 'holder': mounted here, served to this page and to sharing tabs;
 *  * 'sharer': calls go to the holder's worker (this worker waits for the lock, devices closed);
 *  * 'closed'.
 */
export type ConnectionState = 'waiting-for-lock' | 'opening' | 'holder' | 'sharer' | 'closed';

export interface OpenRequest {
  name: string;
  backend: Backend;
  /** Device names, in the backend's namespace (OPFS path, IndexedDB device name). */
  devices: string[];
  /** Size of each device when it is created (or grown to); omitted: existing devices as they are. */
  deviceSizeBytes?: number;
  /** Format when no device holds a btrfs superblock. false: never format. */
  mkfs: MkfsOptions | false;
  mountOptions?: string;
  whenBusy: WhenBusy;
  /** OpfsDevice open bounds (TOOLCHAIN.md: createSyncAccessHandle can hang). */
  openTimeoutMs?: number;
  busyRetryMs?: number;
}

/** What the holder's worker reports about the mounted filesystem (plain data). */
export interface MountSummary {
  name: string;
  backend: Backend;
  devices: string[];
  /** True when this open formatted the devices. */
  formatted: boolean;
  label: string;
  fsid: string;
  generation: number;
  nodesize: number;
  sectorsize: number;
  totalBytes: number;
  bytesUsed: number;
}

export type StartResult = { role: 'holder'; summary: MountSummary } | { role: 'busy' };

/** The worker's control surface (Comlink.expose on the worker global). */
export interface WorkerControl {
  /**
   * Takes the lock (per whenBusy) and opens, formats and mounts. With 'share' and a busy lock,
   * resolves { role: 'busy' } at once and keeps waiting for the lock; when it is granted the
   * worker mounts and calls onTakeover (or onTakeoverError).
   */
  start(
    request: OpenRequest,
    onState: (state: ConnectionState) => void,
    onTakeover: (summary: MountSummary) => void,
    onTakeoverError: (error: unknown) => void,
  ): Promise<StartResult>;
  /** Unmount (commit), close devices, stop serving sharers, release the locks. Idempotent. */
  close(): Promise<void>;
  /** Whether this worker has the devices open (tests, diagnostics). */
  devicesOpen(): boolean;
}

/** The Web Lock that makes one context the holder of a filesystem. */
export function filesystemLockName(name: string): string {
  return `butterfs:${name}`;
}

/**
 * One lock per device as well, taken after the filesystem lock, so that two filesystems named
 * differently can never open the same device either.
 */
export function deviceLockName(backend: Backend, device: string): string {
  return `butterfs-device:${backend}:${device}`;
}

/** The BroadcastChannel on which a holder serves sharing tabs. */
export function shareChannelName(name: string): string {
  return `butterfs-share:${name}`;
}

/** Messages on the share channel. `msg` is a comlink wire message. */
export type ShareMessage =
  /** sharer -> any holder: please serve me. */
  | { t: 'attach'; from: string }
  /** holder -> all (announcement, `to` absent) or -> one sharer (attached). */
  | { t: 'holder'; holderId: string; to?: string }
  /** holder -> all: unmounting; requests not answered yet will not be. */
  | { t: 'gone'; holderId: string }
  | { t: 'rpc'; from: string; to: string; msg: unknown }
  /** sharer -> holder: forget me. */
  | { t: 'detach'; from: string; to: string };

/** Default device names of a filesystem: `${name}/dev1` ... */
export function defaultDeviceNames(name: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${name}/dev${i + 1}`);
}

// ---------------------------------------------------------------- fast calls (rpc.ts, rpc-server.ts)
//
// fs.promises and FileHandle calls from a page to its own worker, one small message each way,
// on the same port as comlink's messages (so that every call keeps its order with the others:
// a write sent before close() or sync() reaches the engine first). comlink ignores these
// messages (no `id`, no `type`) and the fast-call listeners ignore comlink's.

/** Where a member of a message sits: the argument list (or the result) and keys below it. */
export type WirePath = (string | number)[];

/** The object holding the member at `path` (non-empty), and that member's key. */
export function parentOf(root: unknown, path: WirePath): { parent: Record<string | number, unknown>; key: string | number } {
  let parent = root as Record<string | number, unknown>;
  for (let i = 0; i < path.length - 1; i++) parent = parent[path[i]!] as Record<string | number, unknown>;
  return { parent, key: path[path.length - 1]! };
}

/**
 * What the page replaced in the arguments before cloning them; the worker puts the real thing
 * back at `p` (a path into the argument list).
 *  * bytes: a Uint8Array the worker received (a copy, or moved by transfer()): kept in mind so
 *    that a result carrying it back (FileHandle.write's { buffer }) is not sent back;
 *  * out:   a buffer the engine fills (FileHandle.read/readv): not sent; the engine reads into
 *    `n` bytes of `b` (a scratch buffer the page lends, moved both ways) or of a new array, which
 *    is returned, and the page copies what was read into the caller's own buffer;
 *  * view:  another ArrayBufferView (DataView, Uint16Array, ...): its bytes arrive as a
 *    Uint8Array and are viewed again as `t`;
 *  * handle: a FileHandle this connection opened (by its number);
 *  * signal: an AbortSignal (state now, a port for a later abort).
 */
export type ArgPatch =
  | { p: WirePath; k: 'bytes' }
  | { p: WirePath; k: 'out'; n: number; b?: ArrayBuffer }
  | { p: WirePath; k: 'view'; t: string }
  | { p: WirePath; k: 'handle'; h: number }
  | { p: WirePath; k: 'signal'; w: WireSignal };

/** page -> worker. `h` 0 is fs.promises; other numbers are FileHandles the worker keeps. */
export type FastRequest =
  | { bfq: 'call'; i: number; h: number; m: string; a: unknown[]; s?: ArgPatch[] }
  | { bfq: 'get'; i: number; h: number; m: string }
  /** The page's object for handle `h` was garbage-collected: forget it (it is not closed). */
  | { bfq: 'release'; h: number };

/**
 * Requests the page made in one turn of its event loop travel as one message, and their answers
 * come back as one (`FastReplies`) when the last is ready: a postMessage costs 10-60 µs of CPU
 * here, more than a cached stat, so many calls in flight share them.
 */
export interface FastBatch {
  bfq: 'batch';
  q: FastRequest[];
}

/**
 * What the worker replaced in a result; the page puts the real thing back at `p` (a path into
 * the result, [] for the result itself).
 *  * echo:   argument `a` (an index into the request's patches) came back; the page puts the
 *            caller's own array there; `b` holds the bytes of an 'out' argument;
 *  * class:  a registered value class (Stats, Dirent): the prototype is restored, on the value
 *            at `p` or, with `each`, on every member of the array at `p`;
 *  * handle: an object with methods (a FileHandle): kept in the worker under `h`;
 *  * error:  an Error as a value.
 */
export type ResultPatch =
  | { p: WirePath; k: 'echo'; a: number; b?: Uint8Array }
  | { p: WirePath; k: 'class'; c: string; each?: true }
  | { p: WirePath; k: 'handle'; h: number }
  | { p: WirePath; k: 'error'; w: WireError };

/** worker -> page: a result (`r`, with patches `s`) or a thrown value (`e`, a WireThrown). */
export interface FastReply {
  bfr: number;
  r?: unknown;
  s?: ResultPatch[];
  e?: WireThrown;
}

/** worker -> page: the answers to a FastBatch, in the order they were ready. */
export interface FastReplies {
  bfb: FastReply[];
}

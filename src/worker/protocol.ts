// What the page client and the worker entry say to each other, and the names they agree on
// (Web Locks, BroadcastChannel). Data only.
import type { MkfsOptions } from '../fs/mkfs.js';

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

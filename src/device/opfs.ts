// OpfsDevice: a block device backed by one file of the Origin Private File System, through one
// FileSystemSyncAccessHandle that is opened once and kept open for the device's life (dedicated
// workers only: that is the only place browsers hand out sync access handles).
//
// Name mapping: 'myfs/dev1' is the file 'dev1' in the directory 'myfs' of
// navigator.storage.getDirectory(); every component but the last is a directory (created on
// open). Components must be non-empty and not '.' or '..'.
//
// Opening is bounded: createSyncAccessHandle() sometimes never settles in the Chromium we test
// on (TOOLCHAIN.md), so each attempt races a timeout (ETIMEDOUT); and a handle still held by a
// page that is going away (NoModificationAllowedError, InvalidStateError) is retried with bounded
// exponential backoff, then reported as EBUSY. A handle that settles after its attempt timed out
// is closed at once so it does not keep the file locked.
//
// Hot path: read() reads straight into the Uint8Array it returns, readInto() into the caller's
// view, and write() hands the caller's buffer to the handle: no intermediate copies. All are
// synchronous calls wrapped in a promise.
//
// One handle per device file at a time: the handle is opened in 'readwrite-unsafe' mode (where
// the browser has it) under a Web Lock named after the device, held until close. The lock is
// what keeps a second context out (busy: retried, then EBUSY, as above); the mode is what lets a
// pool worker open a second handle of its own to read the device while this thread is blocked in
// flush() (readSource; kernels/device-sums.ts). Without Web Locks the handle is opened in the
// default exclusive mode and there is no readSource.
//
// Fault model: the browser's. A write that returned may be lost by a crash (of the tab, the
// browser or the machine) until flush(), which is handle.flush(): after it, everything written
// before is durable as far as the browser's own storage is (Chromium calls fsync/fdatasync).
// Quota exhaustion on write is ENOSPC.

import { FsError } from '../util/errors.js';
import type { BlockDevice } from './block-device.js';
import { DEVICE_ALIGN_BYTES } from './block-device.js';
import { checkDeviceSize, checkRange, closedError, isAligned } from './io-checks.js';
import type { DeviceReadSource } from '../kernels/device-sums.js';

/** The part of FileSystemSyncAccessHandle we use (declared here: not every TS lib has it). */
export interface SyncAccessHandle {
  read(buffer: Uint8Array, options?: { at?: number }): number;
  write(buffer: Uint8Array, options?: { at?: number }): number;
  truncate(newSize: number): void;
  getSize(): number;
  flush(): void;
  close(): void;
  /** 'readwrite' (exclusive) or 'readwrite-unsafe'; absent in browsers without handle modes. */
  readonly mode?: string;
}

/** The part of the Web Locks API we use. */
interface LockManagerLike {
  request(name: string, options: { ifAvailable: boolean }, callback: (lock: unknown) => Promise<void> | undefined): Promise<unknown>;
}

const LOCK_PREFIX = 'butterfs-opfs-device:';

/** The device's Web Lock if free now (its release function), else undefined. */
function tryDeviceLock(locks: LockManagerLike, name: string): Promise<(() => void) | undefined> {
  return new Promise((resolve, reject) => {
    locks.request(LOCK_PREFIX + name, { ifAvailable: true }, (lock) => {
      if (lock === null) {
        resolve(undefined);
        return undefined;
      }
      return new Promise<void>((release) => resolve(() => release()));
    }).catch(reject);
  });
}

/** What a held device lock looks like to the open loop: the same as a handle held elsewhere. */
function lockHeldError(name: string): Error {
  const e = new Error(`the Web Lock of device ${name} is held by another context`);
  e.name = 'NoModificationAllowedError';
  return e;
}

export interface OpfsOpenOptions {
  /**
   * Size of the device. Required when the file does not exist yet (it is created and truncated
   * to this size); an existing smaller file is grown to it; an existing larger file is EINVAL
   * (shrinking would drop data). Omitted: an existing file's size is used.
   */
  sizeBytes?: number;
  /** Bound on one createSyncAccessHandle() attempt. Default 5000 ms. */
  openTimeoutMs?: number;
  /** Total bound on retrying while another context holds the handle. Default 3000 ms. */
  busyRetryMs?: number;
}

const DEFAULT_OPEN_TIMEOUT_MS = 5000;
const DEFAULT_BUSY_RETRY_MS = 3000;
const FIRST_BACKOFF_MS = 20;
const MAX_BACKOFF_MS = 500;
/** Depth bound on the directory path of a device name. */
const MAX_NAME_COMPONENTS = 32;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function isBusyError(e: unknown): boolean {
  const name = (e as { name?: unknown } | null)?.name;
  return name === 'NoModificationAllowedError' || name === 'InvalidStateError';
}

function domToFsError(e: unknown, syscall: string, path: string): unknown {
  if (e instanceof FsError) return e;
  const name = (e as { name?: unknown } | null)?.name;
  const message = (e as { message?: unknown } | null)?.message;
  const detail = `${String(name)}: ${String(message)}`;
  switch (name) {
    case 'QuotaExceededError': return new FsError('ENOSPC', detail, { syscall, path, cause: e });
    case 'NotFoundError': return new FsError('ENOENT', detail, { syscall, path, cause: e });
    case 'TypeMismatchError': return new FsError('EISDIR', detail, { syscall, path, cause: e });
    case 'NoModificationAllowedError':
    case 'InvalidStateError': return new FsError('EBUSY', detail, { syscall, path, cause: e });
    case 'NotAllowedError':
    case 'SecurityError': return new FsError('EACCES', detail, { syscall, path, cause: e });
    default: return new FsError('EIO', detail, { syscall, path, cause: e });
  }
}

function splitName(name: string): string[] {
  const parts = name.split('/');
  if (parts.length > MAX_NAME_COMPONENTS || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new FsError('EINVAL', `bad OPFS device name (non-empty components, no '.' or '..', at most ${MAX_NAME_COMPONENTS})`, { syscall: 'open', path: name });
  }
  return parts;
}

/**
 * One createSyncAccessHandle() attempt, bounded by `timeoutMs` (ETIMEDOUT); a handle that
 * arrives later is closed at once. Also the pool worker's open of a device (kernels/device-sums.ts).
 */
export function createHandleWithTimeout(file: FileSystemFileHandle, timeoutMs: number, name: string, mode: string | undefined): Promise<SyncAccessHandle> {
  const f = file as unknown as { createSyncAccessHandle(options?: { mode: string }): Promise<SyncAccessHandle> };
  const create = mode === undefined ? f.createSyncAccessHandle() : f.createSyncAccessHandle({ mode });
  return new Promise<SyncAccessHandle>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(new FsError('ETIMEDOUT', `createSyncAccessHandle did not settle within ${timeoutMs} ms`, { syscall: 'open', path: name }));
    }, timeoutMs);
    create.then(
      (handle) => {
        clearTimeout(timer);
        // Late success after we reported ETIMEDOUT: nobody will use it, and it locks the file.
        if (timedOut) handle.close();
        else resolve(handle);
      },
      (e: unknown) => {
        clearTimeout(timer);
        // A late failure after ETIMEDOUT was reported has nothing left to fail: the caller already
        // got the error for this attempt. Otherwise it is this attempt's result.
        if (!timedOut) reject(e);
      },
    );
  });
}

export class OpfsDevice implements BlockDevice {
  readonly sizeBytes: number;
  readonly name: string;
  /** Present when the handle is in 'readwrite-unsafe' mode: a worker may open one of its own to read. */
  readonly readSource: DeviceReadSource | undefined;
  private handle: SyncAccessHandle | undefined;
  private readonly ioOpts = { at: 0 };
  private releaseLock: (() => void) | undefined;

  private constructor(name: string, file: FileSystemFileHandle, handle: SyncAccessHandle, sizeBytes: number, releaseLock: (() => void) | undefined) {
    this.name = name;
    this.handle = handle;
    this.sizeBytes = sizeBytes;
    this.releaseLock = releaseLock;
    this.readSource = handle.mode === 'readwrite-unsafe' ? { kind: 'opfs', file, name } : undefined;
  }

  static async open(name: string, options: OpfsOpenOptions = {}): Promise<OpfsDevice> {
    const parts = splitName(name);
    if (options.sizeBytes !== undefined) checkDeviceSize(options.sizeBytes, 'open', name);
    const openTimeoutMs = options.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS;
    const busyRetryMs = options.busyRetryMs ?? DEFAULT_BUSY_RETRY_MS;

    const locks = (navigator as unknown as { locks?: LockManagerLike }).locks;
    // The first lock request goes out with the directory walk (each is a round trip to the
    // browser process); a failed walk gives back a lock it got.
    let firstLock = locks !== undefined ? tryDeviceLock(locks, name) : undefined;
    let file: FileSystemFileHandle;
    try {
      let dir = await navigator.storage.getDirectory();
      for (const part of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(part, { create: true });
      file = await dir.getFileHandle(parts[parts.length - 1], { create: true });
    } catch (e) {
      void firstLock?.then((r) => r?.(), () => undefined);
      throw domToFsError(e, 'open', name);
    }

    const deadline = Date.now() + busyRetryMs;
    let backoffMs = FIRST_BACKOFF_MS;
    let handle: SyncAccessHandle | undefined;
    let release: (() => void) | undefined;
    // Bounded: each busy attempt sleeps at least FIRST_BACKOFF_MS and we stop past the deadline.
    for (;;) {
      try {
        if (locks !== undefined) {
          release = await (firstLock ?? tryDeviceLock(locks, name));
          firstLock = undefined;
          if (release === undefined) throw lockHeldError(name);
        }
        handle = await createHandleWithTimeout(file, openTimeoutMs, name, locks !== undefined ? 'readwrite-unsafe' : undefined);
        break;
      } catch (e) {
        release?.();
        release = undefined;
        if (!isBusyError(e)) throw domToFsError(e, 'open', name);
        if (Date.now() + backoffMs > deadline) {
          throw new FsError('EBUSY', `sync access handle still held by another context after ${busyRetryMs} ms of retries`, { syscall: 'open', path: name, cause: e });
        }
        await sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
      }
    }

    try {
      let sizeBytes = handle.getSize();
      if (options.sizeBytes !== undefined) {
        if (sizeBytes > options.sizeBytes) {
          throw new FsError('EINVAL', `existing device is ${sizeBytes} bytes, larger than the requested ${options.sizeBytes}`, { syscall: 'open', path: name });
        }
        if (sizeBytes < options.sizeBytes) {
          handle.truncate(options.sizeBytes);
          sizeBytes = options.sizeBytes;
        }
      } else if (sizeBytes === 0) {
        throw new FsError('EINVAL', 'device does not exist yet: sizeBytes is required to create it', { syscall: 'open', path: name });
      } else if (!isAligned(sizeBytes)) {
        throw new FsError('EINVAL', `device file size ${sizeBytes} is not a multiple of ${DEVICE_ALIGN_BYTES}`, { syscall: 'open', path: name });
      }
      return new OpfsDevice(name, file, handle, sizeBytes, release);
    } catch (e) {
      try {
        handle.close();
      } finally {
        release?.();
      }
      throw domToFsError(e, 'open', name);
    }
  }

  /** Remove a device's file (it must be closed). Missing files are ENOENT. */
  static async remove(name: string): Promise<void> {
    const parts = splitName(name);
    try {
      let dir = await navigator.storage.getDirectory();
      for (const part of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(part);
      await dir.removeEntry(parts[parts.length - 1]);
    } catch (e) {
      throw domToFsError(e, 'unlink', name);
    }
  }

  private live(syscall: string): SyncAccessHandle {
    if (!this.handle) throw closedError(syscall, this.name);
    return this.handle;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.readInto(offset, out);
    return out;
  }

  async readInto(offset: number, out: Uint8Array): Promise<void> {
    const handle = this.live('read');
    const length = out.length;
    checkRange(offset, length, this.sizeBytes, 'read', this.name);
    this.ioOpts.at = offset;
    let n: number;
    try {
      n = handle.read(out, this.ioOpts);
    } catch (e) {
      throw domToFsError(e, 'read', this.name);
    }
    if (n !== length) throw new FsError('EIO', `short read: ${n} of ${length} bytes at ${offset}`, { syscall: 'read', path: this.name });
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    const handle = this.live('write');
    checkRange(offset, data.length, this.sizeBytes, 'write', this.name);
    this.ioOpts.at = offset;
    let n: number;
    try {
      n = handle.write(data, this.ioOpts);
    } catch (e) {
      throw domToFsError(e, 'write', this.name);
    }
    if (n !== data.length) throw new FsError('EIO', `short write: ${n} of ${data.length} bytes at ${offset}`, { syscall: 'write', path: this.name });
  }

  async flush(): Promise<void> {
    const handle = this.live('flush');
    try {
      handle.flush();
    } catch (e) {
      throw domToFsError(e, 'fsync', this.name);
    }
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    const release = this.releaseLock;
    this.releaseLock = undefined;
    try {
      handle?.close();
    } catch (e) {
      throw domToFsError(e, 'close', this.name);
    } finally {
      release?.();
    }
  }
}

// The demo's device worker: what the page needs done to a device while no filesystem has it
// open. It probes whether this browser gives OPFS sync access handles (they exist only in
// dedicated workers, so the page cannot tell by itself), reports a device's size, removes a
// device (reset), copies a device out as a disk image (export) and writes an image into a device
// (import). The device bytes *are* the btrfs image: butterfs keeps Linux's on-disk format, so an
// exported image mounts on Linux and an image made by mkfs.btrfs opens here.
//
// It takes the filesystem's Web Lock (the name the butterfs worker uses) for every operation, so
// that it never touches a device that a butterfs worker (in this tab or another) has open.
import * as Comlink from 'comlink';
import { OpfsDevice, IdbDevice, FsError, type BlockDevice } from '../../src/index.js';

export type Backend = 'opfs' | 'idb';

/** Bytes per read/write step of export and import: large enough to be fast, small enough to cancel. */
const STEP_BYTES = 4 * 1024 * 1024;
const EXPORT_FILE = 'butterfs-demo-export.img';
const LOCK_WAIT_MS = 10_000;

let cancelled = false;

/** The part of FileSystemSyncAccessHandle used here (the type lives in the WebWorker lib). */
interface SyncHandle {
  write(data: Uint8Array, options: { at: number }): number;
  truncate(size: number): void;
  flush(): void;
  close(): void;
}

async function withLock<T>(fsName: string, fn: () => Promise<T>): Promise<T> {
  const signal = AbortSignal.timeout(LOCK_WAIT_MS);
  try {
    return await navigator.locks.request(`butterfs:${fsName}`, { signal }, fn);
  } catch (e) {
    if ((e as DOMException).name === 'AbortError' || (e as DOMException).name === 'TimeoutError') {
      throw new FsError('EBUSY', `the filesystem '${fsName}' is held by another tab; close it there first`);
    }
    throw e;
  }
}

async function openDevice(backend: Backend, name: string, sizeBytes?: number): Promise<BlockDevice> {
  const opts = sizeBytes === undefined ? {} : { sizeBytes };
  return backend === 'opfs' ? OpfsDevice.open(name, opts) : IdbDevice.open(name, opts);
}

async function opfsFile(path: string, create: boolean): Promise<FileSystemFileHandle | undefined> {
  const parts = path.split('/');
  try {
    let dir = await navigator.storage.getDirectory();
    for (const part of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(part, { create });
    return await dir.getFileHandle(parts[parts.length - 1], { create });
  } catch (e) {
    if ((e as DOMException).name === 'NotFoundError') return undefined;
    throw e;
  }
}

const api = {
  /** Whether OPFS sync access handles work here (created and closed once, bounded by a timeout). */
  async probeOpfs(): Promise<{ ok: boolean; reason?: string }> {
    if (typeof (globalThis as { FileSystemSyncAccessHandle?: unknown }).FileSystemSyncAccessHandle === 'undefined') {
      return { ok: false, reason: 'this browser has no OPFS sync access handles (FileSystemSyncAccessHandle)' };
    }
    if (typeof navigator.storage?.getDirectory !== 'function') return { ok: false, reason: 'this browser has no Origin Private File System' };
    try {
      const file = await opfsFile('butterfs-demo-probe', true);
      const handle = await Promise.race([
        (file as unknown as { createSyncAccessHandle(): Promise<{ close(): void }> }).createSyncAccessHandle(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('createSyncAccessHandle did not answer in 5 s')), 5000)),
      ]);
      handle.close();
      await (await navigator.storage.getDirectory()).removeEntry('butterfs-demo-probe');
      return { ok: true };
    } catch (e) {
      return { ok: false, reason: `OPFS sync access handles fail here: ${(e as Error).message}` };
    }
  },

  /** The device's size in bytes, or 0 when it does not exist. */
  async deviceSize(fsName: string, backend: Backend, device: string): Promise<number> {
    return withLock(fsName, async () => {
      if (backend === 'opfs') {
        const file = await opfsFile(device, false);
        return file ? (await file.getFile()).size : 0;
      }
      try {
        const d = await IdbDevice.open(device);
        const size = d.sizeBytes;
        await d.close();
        return size;
      } catch (e) {
        if (e instanceof FsError && e.code === 'EINVAL') return 0;
        throw e;
      }
    });
  },

  async remove(fsName: string, backend: Backend, device: string): Promise<void> {
    await withLock(fsName, async () => {
      try {
        if (backend === 'opfs') await OpfsDevice.remove(device);
        else await IdbDevice.remove(device);
      } catch (e) {
        if (!(e instanceof FsError && e.code === 'ENOENT')) throw e;
      }
    });
  },

  cancel(): void {
    cancelled = true;
  },

  /**
   * Copies the device into a file the page can download: an OPFS file beside the devices (no
   * copy in memory), or a Blob when this browser has no OPFS. The copy is a snapshot: the
   * filesystem can be used again while the download runs.
   */
  async exportImage(fsName: string, backend: Backend, device: string, onProgress: (done: number, total: number) => void): Promise<File | Blob> {
    cancelled = false;
    return withLock(fsName, async () => {
      const dev = await openDevice(backend, device);
      try {
        const total = dev.sizeBytes;
        const target = await api.probeOpfs().then((p) => (p.ok ? opfsFile(EXPORT_FILE, true) : undefined));
        if (target) {
          const out = await (target as unknown as { createSyncAccessHandle(): Promise<SyncHandle> }).createSyncAccessHandle();
          try {
            out.truncate(total);
            for (let at = 0; at < total; at += STEP_BYTES) {
              if (cancelled) throw new FsError('ECANCELED', 'export cancelled');
              const chunk = await dev.read(at, Math.min(STEP_BYTES, total - at));
              out.write(chunk, { at });
              onProgress(Math.min(at + STEP_BYTES, total), total);
            }
            out.flush();
          } finally {
            out.close();
          }
          return target.getFile();
        }
        const parts: BlobPart[] = [];
        for (let at = 0; at < total; at += STEP_BYTES) {
          if (cancelled) throw new FsError('ECANCELED', 'export cancelled');
          parts.push(new Blob([await dev.read(at, Math.min(STEP_BYTES, total - at)) as Uint8Array<ArrayBuffer>]));
          onProgress(Math.min(at + STEP_BYTES, total), total);
        }
        return new Blob(parts, { type: 'application/octet-stream' });
      } finally {
        await dev.close();
      }
    });
  },

  /**
   * Replaces the device with the bytes of `image` (a btrfs image: checked for the superblock
   * magic first). The device becomes at least `minSizeBytes` long; btrfs is happy on a device
   * larger than the filesystem, as on a partition larger than its filesystem.
   */
  async importImage(fsName: string, backend: Backend, device: string, image: Blob, minSizeBytes: number, onProgress: (done: number, total: number) => void): Promise<number> {
    cancelled = false;
    const magic = new TextDecoder().decode(new Uint8Array(await image.slice(0x10040, 0x10048).arrayBuffer()));
    if (magic !== '_BHRfS_M') throw new FsError('EINVAL', 'not a btrfs image: no btrfs superblock at 64 KiB');
    return withLock(fsName, async () => {
      try {
        if (backend === 'opfs') await OpfsDevice.remove(device);
        else await IdbDevice.remove(device);
      } catch (e) {
        if (!(e instanceof FsError && e.code === 'ENOENT')) throw e;
      }
      const aligned = Math.ceil(image.size / 4096) * 4096;
      const sizeBytes = Math.max(aligned, minSizeBytes);
      const dev = await openDevice(backend, device, sizeBytes);
      try {
        for (let at = 0; at < image.size; at += STEP_BYTES) {
          if (cancelled) throw new FsError('ECANCELED', 'import cancelled (the device is incomplete: reset or import again)');
          const bytes = new Uint8Array(await image.slice(at, Math.min(at + STEP_BYTES, image.size)).arrayBuffer());
          const padded = bytes.length % 4096 === 0 ? bytes : (() => {
            const p = new Uint8Array(Math.ceil(bytes.length / 4096) * 4096);
            p.set(bytes);
            return p;
          })();
          await dev.write(at, padded);
          onProgress(Math.min(at + STEP_BYTES, image.size), image.size);
        }
        await dev.flush();
      } finally {
        await dev.close();
      }
      return sizeBytes;
    });
  },
};

export type ImageWorkerApi = typeof api;
Comlink.expose(api);

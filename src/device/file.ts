// FileDevice: a block device backed by one regular file, through node:fs/promises (Node only).
//
// node:fs is loaded lazily, by a specifier bundlers do not follow, so that importing this module
// (and the device index that re-exports it) from a browser bundle pulls in nothing from Node;
// only calling FileDevice.create/open needs Node.
//
// Fault model: that of the host filesystem. A write that returned is in the page cache and may be
// lost or torn (at any boundary the kernel chooses) by a crash until flush(), which is
// fdatasync(2): after it, everything written before is durable.

import type { FileHandle } from 'node:fs/promises';
import { ERRNO, FsError, type ErrorCode } from '../util/errors.js';
import type { BlockDevice } from './block-device.js';
import type { DeviceReadSource } from '../kernels/device-sums.js';
import { checkDeviceSize, checkRange, closedError, isAligned } from './io-checks.js';
import { DEVICE_ALIGN_BYTES } from './block-device.js';

type FsPromises = typeof import('node:fs/promises');

// A variable, not a literal, so Vite/Rollup do not try to resolve node:fs for the browser.
const NODE_FS_PROMISES = 'node:fs/promises';
let fsPromises: Promise<FsPromises> | undefined;
function loadFs(): Promise<FsPromises> {
  fsPromises ??= import(/* @vite-ignore */ NODE_FS_PROMISES) as Promise<FsPromises>;
  return fsPromises;
}

/** The open file's absolute path, device and inode numbers (decimal strings: exact) and size. */
async function identify(path: string, handle: FileHandle): Promise<{ absolute: string; dev: string; ino: string; size: number }> {
  const specifier = 'node:path';
  const { resolve } = (await import(/* @vite-ignore */ specifier)) as typeof import('node:path');
  const st = await wrap('fstat', path, () => handle.stat({ bigint: true }));
  return { absolute: resolve(path), dev: String(st.dev), ino: String(st.ino), size: Number(st.size) };
}

/** node's errors become FsErrors with the same code (EIO when node's code is not one we know). */
function toFsError(e: unknown, syscall: string, path: string): unknown {
  if (e instanceof FsError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return e; // not an operating error from node: let it through as is
  const known = Object.prototype.hasOwnProperty.call(ERRNO, code) ? (code as ErrorCode) : 'EIO';
  // node's message repeats what FsError already says for a known code; keep it only otherwise.
  return new FsError(known, known === code ? undefined : (e as Error).message, { syscall, path, cause: e });
}

async function wrap<T>(syscall: string, path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toFsError(e, syscall, path);
  }
}

/** Upper bound on short-read/short-write retries of one request (each makes progress or fails). */
const MAX_PARTIAL_IO = 1 << 20;

export class FileDevice implements BlockDevice {
  readonly sizeBytes: number;
  readonly path: string;
  /**
   * A pool worker reads the file by its absolute path, and checks that it opened this very file
   * (device and inode numbers as fstat gave them here): fs/writeback.ts, a commit's data checksums.
   */
  readonly readSource: DeviceReadSource;
  private handle: FileHandle | undefined;

  private constructor(path: string, handle: FileHandle, sizeBytes: number, identity: Awaited<ReturnType<typeof identify>>) {
    this.path = path;
    this.readSource = { kind: 'path', path: identity.absolute, dev: identity.dev, ino: identity.ino };
    this.handle = handle;
    this.sizeBytes = sizeBytes;
  }

  /** Create (or truncate) the file at `path` to `sizeBytes` of zeros. */
  static async create(path: string, sizeBytes: number): Promise<FileDevice> {
    checkDeviceSize(sizeBytes, 'open', path);
    const fs = await loadFs();
    const handle = await wrap('open', path, () => fs.open(path, 'w+'));
    let identity: Awaited<ReturnType<typeof identify>>;
    try {
      await wrap('ftruncate', path, () => handle.truncate(sizeBytes));
      identity = await identify(path, handle);
    } catch (e) {
      await handle.close();
      throw e;
    }
    return new FileDevice(path, handle, sizeBytes, identity);
  }

  /** Open an existing device file; its size is the device size (must be aligned). */
  static async open(path: string): Promise<FileDevice> {
    const fs = await loadFs();
    const handle = await wrap('open', path, () => fs.open(path, 'r+'));
    let sizeBytes: number;
    let identity: Awaited<ReturnType<typeof identify>>;
    try {
      identity = await identify(path, handle);
      sizeBytes = identity.size;
      if (!isAligned(sizeBytes) || sizeBytes === 0) {
        throw new FsError('EINVAL', `device file size ${sizeBytes} is not a positive multiple of ${DEVICE_ALIGN_BYTES}`, { syscall: 'open', path });
      }
    } catch (e) {
      await handle.close();
      throw e;
    }
    return new FileDevice(path, handle, sizeBytes, identity);
  }

  private live(syscall: string): FileHandle {
    if (!this.handle) throw closedError(syscall, this.path);
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
    checkRange(offset, length, this.sizeBytes, 'read', this.path);
    let done = 0;
    for (let i = 0; done < length; i++) {
      if (i >= MAX_PARTIAL_IO) throw new FsError('EIO', 'too many short reads', { syscall: 'read', path: this.path });
      const { bytesRead } = await wrap('read', this.path, () => handle.read(out, done, length - done, offset + done));
      // The file is sized to the device, so EOF inside the range means someone shrank it under us.
      if (bytesRead === 0) throw new FsError('EIO', `unexpected end of file at ${offset + done}`, { syscall: 'read', path: this.path });
      done += bytesRead;
    }
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    const handle = this.live('write');
    checkRange(offset, data.length, this.sizeBytes, 'write', this.path);
    let done = 0;
    for (let i = 0; done < data.length; i++) {
      if (i >= MAX_PARTIAL_IO) throw new FsError('EIO', 'too many short writes', { syscall: 'write', path: this.path });
      const { bytesWritten } = await wrap('write', this.path, () => handle.write(data, done, data.length - done, offset + done));
      if (bytesWritten === 0) throw new FsError('EIO', `write made no progress at ${offset + done}`, { syscall: 'write', path: this.path });
      done += bytesWritten;
    }
  }

  async flush(): Promise<void> {
    const handle = this.live('flush');
    await wrap('fdatasync', this.path, () => handle.datasync());
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    if (handle) await wrap('close', this.path, () => handle.close());
  }
}

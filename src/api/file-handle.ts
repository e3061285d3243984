// node's fs/promises FileHandle over one open inode: positioned and sequential reads and writes,
// readv/writev, stat, truncate, sync, chmod/chown/utimes, readFile/writeFile/appendFile and a
// web ReadableStream of the contents.
//
// A handle names an inode, not a path: it keeps working after the file is renamed or unlinked
// (the open file table, open-files.ts, keeps an unlinked inode as an orphan until the last
// close). Each call is one turn of the filesystem's writer mutex, so a write is atomic with
// respect to other calls.
//
// Durability: sync() and datasync() commit the running transaction (there is no tree-log
// yet, so a full commit is the fsync); writes are durable at the next commit otherwise. A
// compressed write may return before its last chunks are extents (write-behind), and small
// overwrites may wait as dirty sectors: they are extents before any other call runs, and an
// error there is the next call's (inode/file.ts cowRange, DirtySectors).
import type { FsInfo } from '../fs/fs-info.js';
import { readInode, peekInode, findInode, isDir, type InodeItem } from '../inode/inode.js';
import { evictInode } from '../inode/namei.js';
import * as file from '../inode/file.js';
import { FsError } from '../util/errors.js';
import type { Filesystem } from './filesystem.js';
import type { OpenFiles } from './open-files.js';
import type { Loc } from './path.js';
import { Stats, BigIntStats } from './stats.js';
import { asNodeBytes, decodeBytes, toBytes, checkEncoding } from './encoding.js';
import {
  withPath, fsError, parsePosition, canRead, canWrite, O, statsOf, setMode, setOwner, setTimes, touchAtime,
  parseMode, toUnixSeconds, secondsToTimespec, checkAborted, touchAtimeHeld,
} from './inode-ops.js';

/** What node's FileHandle.read() allocates when called without a buffer. */
const DEFAULT_READ_BYTES = 16384;
/** Chunk of readableWebStream() pulls and of copies. */
export const STREAM_CHUNK_BYTES = 64 * 1024;

export interface HandleContext {
  filesystem: Filesystem;
  openFiles: OpenFiles;
}

export interface ReadResult<T> {
  bytesRead: number;
  buffer: T;
}
export interface WriteResult<T> {
  bytesWritten: number;
  buffer: T;
}

interface ReadOptions<T> {
  buffer?: T;
  offset?: number;
  length?: number;
  position?: number | bigint | null;
}

type View = ArrayBufferView;

function bytesOf(v: View): Uint8Array {
  return v instanceof Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function checkRange(what: string, value: number, min: number, max: number, syscall: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw fsError('EINVAL', syscall, undefined, `the value of "${what}" is out of range: >= ${min} && <= ${max}, received ${value} (ERR_OUT_OF_RANGE)`);
  }
}

export class FileHandle {
  #fd: number;
  #position = 0;
  #closing: Promise<void> | undefined;

  /** @internal Use fs.promises.open(). */
  constructor(
    private readonly ctx: HandleContext,
    /** @internal */ readonly loc: Loc,
    /** @internal O_* flags the handle was opened with. */ readonly flags: number,
    /** @internal The path it was opened by (for error messages). */ readonly path: string,
    fd: number,
  ) {
    this.#fd = fd;
  }

  /** The descriptor number, -1 once closed (as node). */
  get fd(): number {
    return this.#fd;
  }

  private get fsys(): Filesystem {
    return this.ctx.filesystem;
  }

  private checkOpen(syscall: string): void {
    if (this.#fd === -1 || this.#closing) throw fsError('EBADF', syscall, this.path, 'file closed');
  }

  private async run<T>(syscall: string, write: boolean, fn: (fs: FsInfo) => Promise<T>, options?: { continuesWrite?: boolean; readsTail?: boolean }): Promise<T> {
    this.checkOpen(syscall);
    try {
      return await (write ? this.fsys.transaction(fn, options) : this.fsys.read(fn, options));
    } catch (e) {
      throw withPath(e, syscall, this.path);
    }
  }

  // ---------------------------------------------------------------- read

  read(options?: ReadOptions<Uint8Array> & { buffer?: undefined }): Promise<ReadResult<Uint8Array>>;
  read<T extends View>(buffer: T, offset?: number | null, length?: number | null, position?: number | bigint | null): Promise<ReadResult<T>>;
  read<T extends View>(buffer: T, options: ReadOptions<T>): Promise<ReadResult<T>>;
  read<T extends View>(options: ReadOptions<T> & { buffer: T }): Promise<ReadResult<T>>;
  /** read(buffer, offset?, length?, position?), read(buffer, options), read(options), read(). */
  async read<T extends View = Uint8Array>(bufferOrOptions?: T | ReadOptions<T> | null, offsetOrOptions?: number | ReadOptions<T> | null, length?: number | null, position?: number | bigint | null): Promise<ReadResult<T>> {
    let buffer: T;
    let offset: number;
    let len: number;
    let pos: unknown;
    if (bufferOrOptions === undefined || bufferOrOptions === null || !ArrayBuffer.isView(bufferOrOptions)) {
      const o = (bufferOrOptions ?? {}) as ReadOptions<T>;
      buffer = o.buffer ?? (asNodeBytes(new Uint8Array(DEFAULT_READ_BYTES)) as unknown as T);
      offset = o.offset ?? 0;
      len = o.length ?? buffer.byteLength - offset;
      pos = o.position;
    } else if (typeof offsetOrOptions === 'object' && offsetOrOptions !== null) {
      buffer = bufferOrOptions;
      offset = offsetOrOptions.offset ?? 0;
      len = offsetOrOptions.length ?? buffer.byteLength - offset;
      pos = offsetOrOptions.position;
    } else {
      buffer = bufferOrOptions;
      offset = offsetOrOptions ?? 0;
      len = length ?? buffer.byteLength - offset;
      pos = position;
    }
    checkRange('offset', offset, 0, buffer.byteLength, 'read');
    checkRange('length', len, 0, buffer.byteLength - offset, 'read');
    const at = parsePosition(pos, 'read');
    const n = await this.readInto(bytesOf(buffer).subarray(offset, offset + len), at);
    return { bytesRead: n, buffer };
  }

  /** Reads into `target` at `position` (the file position, advanced, when undefined). */
  private async readInto(target: Uint8Array, position: number | undefined): Promise<number> {
    this.checkOpen('read');
    if (!canRead(this.flags)) throw fsError('EBADF', 'read', this.path, 'not open for reading');
    if (target.length === 0) return 0;
    const n = await this.run('read', false, async (fs) => {
      // This file's small overwrites may still wait as dirty sectors: read through them (any
      // other pending tail is settled here).
      const dirty = await file.tailForRead(fs, this.loc.root, this.loc.ino);
      // The cache's own item when it has one (read, never changed here): no copy per read.
      const item = peekInode(this.loc.root, this.loc.ino) ?? await readInode(fs, this.loc.root, this.loc.ino);
      if (isDir(item.mode)) throw new FsError('EISDIR', 'is a directory');
      const at = position ?? this.#position;
      // Straight into the caller's buffer (verified there): no buffer of our own, no copy.
      const n = await file.readHandleInto(fs, this.loc.root, this.loc.ino, at, target, item, dirty);
      if (position === undefined) this.#position = at + n;
      // relatime: the first read after a write moves atime; in this turn of the mutex, not one
      // of its own (the random 4 KiB read/write mix does it once per write).
      // Writes waiting as dirty sectors moved mtime and ctime already (the settle stamps them).
      const seen = dirty === undefined ? item : { ...item, mtime: dirty.lastWrite, ctime: dirty.lastWrite };
      if (!(this.flags & O.NOATIME)) await touchAtimeHeld(fs, this.fsys.options, this.loc, seen);
      return n;
    }, { readsTail: true });
    return n;
  }

  private async touch(item: InodeItem): Promise<void> {
    try {
      await touchAtime(this.fsys, this.loc, item);
    } catch (e) {
      throw withPath(e, 'read', this.path);
    }
  }

  async readv<T extends View[]>(buffers: T, position?: number | bigint | null): Promise<{ bytesRead: number; buffers: T }> {
    const views = buffers.map(bytesOf);
    const total = views.reduce((s, v) => s + v.length, 0);
    const tmp = new Uint8Array(total);
    const n = await this.readInto(tmp, parsePosition(position, 'read'));
    let off = 0;
    for (const v of views) {
      if (off >= n) break;
      const k = Math.min(v.length, n - off);
      v.set(tmp.subarray(off, off + k));
      off += k;
    }
    return { bytesRead: n, buffers };
  }

  /** The rest of the file from the current position (node: readFile on a handle does not rewind). */
  async readFile(options?: { encoding?: string | null; signal?: AbortSignal } | string | null): Promise<Uint8Array | string> {
    const o = typeof options === 'string' ? { encoding: options } : (options ?? {});
    checkAborted(o.signal);
    if (o.encoding) checkEncoding(o.encoding);
    this.checkOpen('read');
    if (!canRead(this.flags)) throw fsError('EBADF', 'read', this.path, 'not open for reading');
    const { data, item } = await this.run('read', false, async (fs) => {
      const item = await readInode(fs, this.loc.root, this.loc.ino);
      if (isDir(item.mode)) throw new FsError('EISDIR', 'is a directory');
      const at = this.#position;
      const data = at >= item.size ? new Uint8Array(0) : await file.readFile(fs, this.loc.root, this.loc.ino, at, item.size - at);
      this.#position = at + data.length;
      return { data, item };
    });
    if (!(this.flags & O.NOATIME)) await this.touch(item);
    return o.encoding ? decodeBytes(data, o.encoding) : asNodeBytes(data);
  }

  /** A web ReadableStream of the file from the current position (node 20: readableWebStream). */
  readableWebStream(): ReadableStream<Uint8Array> {
    this.checkOpen('read');
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const chunk = new Uint8Array(STREAM_CHUNK_BYTES);
        const n = await this.readInto(chunk, undefined);
        if (n === 0) controller.close();
        else controller.enqueue(chunk.subarray(0, n));
      },
    });
  }

  // ---------------------------------------------------------------- write

  /**
   * write(buffer, offset?, length?, position?), write(buffer, options), write(string, position?,
   * encoding?). With O_APPEND every write goes to the end (as Linux, even with a position).
   */
  async write<T extends View | string>(data: T, offsetOrPosition?: number | bigint | null | { offset?: number; length?: number; position?: number | null }, lengthOrEncoding?: number | string | null, position?: number | bigint | null): Promise<WriteResult<T>> {
    let bytes: Uint8Array;
    let at: number | undefined;
    if (typeof data === 'string') {
      const encoding = typeof lengthOrEncoding === 'string' ? lengthOrEncoding : 'utf8';
      bytes = toBytes(data, encoding);
      at = parsePosition(typeof offsetOrPosition === 'object' ? undefined : offsetOrPosition, 'write');
    } else if (ArrayBuffer.isView(data)) {
      const all = bytesOf(data);
      let offset: number;
      let len: number;
      let pos: unknown;
      if (typeof offsetOrPosition === 'object' && offsetOrPosition !== null) {
        offset = offsetOrPosition.offset ?? 0;
        len = offsetOrPosition.length ?? all.length - offset;
        pos = offsetOrPosition.position;
      } else {
        offset = Number(offsetOrPosition ?? 0);
        len = typeof lengthOrEncoding === 'number' ? lengthOrEncoding : all.length - offset;
        pos = position;
      }
      checkRange('offset', offset, 0, all.length, 'write');
      checkRange('length', len, 0, all.length - offset, 'write');
      bytes = all.subarray(offset, offset + len);
      at = parsePosition(pos, 'write');
    } else {
      throw fsError('EINVAL', 'write', this.path, 'the "buffer" argument must be a string, Buffer, TypedArray or DataView (ERR_INVALID_ARG_TYPE)');
    }
    const n = await this.writeBytes(bytes, at);
    return { bytesWritten: n, buffer: data };
  }

  private async writeBytes(bytes: Uint8Array, position: number | undefined): Promise<number> {
    this.checkOpen('write');
    if (!canWrite(this.flags)) throw fsError('EBADF', 'write', this.path, 'not open for writing');
    if (bytes.length === 0) return 0;
    return this.run('write', true, async (fs) => {
      const append = (this.flags & O.APPEND) !== 0;
      const at = append ? (await readInode(fs, this.loc.root, this.loc.ino)).size : (position ?? this.#position);
      // A compressed write may return while its last chunks compress (write-behind: see
      // inode/file.ts cowRange); the next write of this file takes them up, anything else
      // settles them first.
      const n = await file.writeFile(fs, this.loc.root, this.loc.ino, at, bytes, { behind: true });
      // pwrite (a position given) leaves the file position alone, even with O_APPEND.
      if (position === undefined) this.#position = at + n;
      return n;
    }, { continuesWrite: true });
  }

  async writev<T extends View[]>(buffers: T, position?: number | bigint | null): Promise<{ bytesWritten: number; buffers: T }> {
    const views = buffers.map(bytesOf);
    const all = new Uint8Array(views.reduce((s, v) => s + v.length, 0));
    let off = 0;
    for (const v of views) {
      all.set(v, off);
      off += v.length;
    }
    const n = await this.writeBytes(all, parsePosition(position, 'write'));
    return { bytesWritten: n, buffers };
  }

  /** Writes everything at the current position (the end with O_APPEND); no truncation, as node. */
  async writeFile(data: unknown, options?: { encoding?: string | null; signal?: AbortSignal } | string | null): Promise<void> {
    const o = typeof options === 'string' ? { encoding: options } : (options ?? {});
    checkAborted(o.signal);
    const bytes = await collectData(data, o.encoding ?? 'utf8');
    await this.writeBytes(bytes, undefined);
  }

  appendFile(data: unknown, options?: { encoding?: string | null; signal?: AbortSignal } | string | null): Promise<void> {
    return this.writeFile(data, options);
  }

  // ---------------------------------------------------------------- attributes

  stat(options?: { bigint?: false }): Promise<Stats>;
  stat(options: { bigint: true }): Promise<BigIntStats>;
  stat(options?: { bigint?: boolean }): Promise<Stats | BigIntStats>;
  async stat(options?: { bigint?: boolean }): Promise<Stats | BigIntStats> {
    const item = await this.run('fstat', false, (fs) => readInode(fs, this.loc.root, this.loc.ino));
    return statsOf(this.loc, item, options?.bigint === true);
  }

  async truncate(len = 0): Promise<void> {
    this.checkOpen('ftruncate');
    // Linux ftruncate on a descriptor not open for writing: EINVAL.
    if (!canWrite(this.flags)) throw fsError('EINVAL', 'ftruncate', this.path, 'not open for writing');
    const size = Math.max(0, Math.trunc(Number(len)));
    await this.run('ftruncate', true, (fs) => file.truncateFile(fs, this.loc.root, this.loc.ino, size));
  }

  async chmod(mode: number | string): Promise<void> {
    const m = parseMode(mode, 0, 'fchmod', this.path);
    await this.run('fchmod', true, (fs) => setMode(fs, this.loc, m));
  }

  async chown(uid: number, gid: number): Promise<void> {
    await this.run('fchown', true, (fs) => setOwner(fs, this.loc, uid, gid));
  }

  async utimes(atime: number | string | Date, mtime: number | string | Date): Promise<void> {
    const a = secondsToTimespec(toUnixSeconds(atime, 'futime', this.path));
    const m = secondsToTimespec(toUnixSeconds(mtime, 'futime', this.path));
    await this.run('futime', true, (fs) => setTimes(fs, this.loc, a, m));
  }

  /** Commits (no tree-log yet: a full commit is the fsync). */
  async sync(): Promise<void> {
    this.checkOpen('fsync');
    try {
      await this.fsys.sync();
    } catch (e) {
      throw withPath(e, 'fsync', this.path);
    }
  }

  datasync(): Promise<void> {
    return this.sync();
  }

  // ---------------------------------------------------------------- close

  /**
   * Closes the handle. The last close of an inode whose names are all gone frees it (evict); if
   * the filesystem was unmounted meanwhile, the orphan item left on disk frees it at the next
   * mount instead.
   */
  close(): Promise<void> {
    if (this.#fd === -1) return Promise.resolve();
    this.#closing ??= this.closeNow();
    return this.#closing;
  }

  private async closeNow(): Promise<void> {
    const fd = this.#fd;
    this.#fd = -1;
    const last = this.ctx.openFiles.close(this.loc.root, this.loc.ino, fd);
    if (!last || !this.fsys.isMounted || this.fsys.info.readonly) return;
    try {
      await this.fsys.transaction(async (fs) => {
        // Another handle may have opened the inode while this one waited for the mutex.
        if (this.ctx.openFiles.isOpen(this.loc.root, this.loc.ino)) return;
        const item = await findInode(fs, this.loc.root, this.loc.ino);
        if (item && item.nlink === 0) await evictInode(fs, this.loc.root, this.loc.ino);
      });
    } catch (e) {
      throw withPath(e, 'close', this.path);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Bytes of writeFile's data: a string, an ArrayBufferView, or an (async) iterable of them. */
export async function collectData(data: unknown, encoding: string): Promise<Uint8Array> {
  if (typeof data === 'string' || ArrayBuffer.isView(data)) return toBytes(data, encoding);
  if (data !== null && typeof data === 'object' && (Symbol.asyncIterator in data || Symbol.iterator in data)) {
    const parts: Uint8Array[] = [];
    for await (const chunk of data as AsyncIterable<unknown>) parts.push(toBytes(chunk, encoding).slice());
    const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }
  throw new FsError('EINVAL', 'the "data" argument must be a string, Buffer, TypedArray, DataView or iterable (ERR_INVALID_ARG_TYPE)');
}

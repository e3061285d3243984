// fs.promises: node's fs/promises over a mounted butterfs (the surface web developers and
// libraries such as isomorphic-git use unchanged). Thin by design (STYLE.md): arguments are
// checked and paths walked here (path.ts); the work is done by the namespace (inode/namei.ts)
// and data (inode/file.ts) layers, inside one turn of the filesystem's writer mutex per call.
//
// Semantics are Linux's for a process running as root (uid 0, umask 022 unless configured):
// errors carry node's code, errno, syscall and path. Where node throws a TypeError for a bad
// argument (ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE), this API rejects
// with an FsError of code EINVAL naming node's code in its message; rm of a directory without
// `recursive` is EISDIR here (node: ERR_FS_EISDIR).
//
// Durability: changes join the running transaction and are durable at the next commit (sync(),
// the commit= timer, unmount). FileHandle.sync() commits; there is no tree-log yet.
import type { FsInfo } from '../fs/fs-info.js';
import { FileType, FIRST_INODE_OBJECTID, InodeFlags, EMPTY_SUBVOL_DIR_OBJECTID } from '../format/constants.js';
import { readInode, peekInode, isDir, isReg, S_IFREG, type InodeItem } from '../inode/inode.js';
import * as namei from '../inode/namei.js';
import * as file from '../inode/file.js';
import { FsError } from '../util/errors.js';
import { constants, O, PROMISES_METHODS } from './promises-surface.js';
import type { Filesystem } from './filesystem.js';
import { OpenFiles } from './open-files.js';
import { FileHandle, collectData, STREAM_CHUNK_BYTES } from './file-handle.js';
import { deleteSubvolume, unlinkSubvolume, renameSubvolume } from '../subvol/subvolume.js';
import { walk, walkCached, walkCachedForCreate, lookupLast, resolvedWith, loadedSubvolume, pathString, nameBytes, nameString, joinPath, type Loc, type Resolved, type PathLike } from './path.js';
import { Stats, BigIntStats, Dirent, type StatFs } from './stats.js';
import { asNodeBytes, decodeBytes, checkEncoding, toBytes } from './encoding.js';
import {
  withPath, fsError, parseMode, parseOpenFlags, toUnixSeconds, secondsToTimespec, canRead, canWrite, opensForChange,
  statsOf, setMode, setOwner, setTimes, touchAtime, checkAborted,
} from './inode-ops.js';

export { constants } from './promises-surface.js';

/** btrfs's statfs f_type (BTRFS_SUPER_MAGIC). */
const BTRFS_SUPER_MAGIC = 0x9123683e;
/** mkdtemp's random suffix, as libuv makes it. */
const TEMP_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const MKDTEMP_TRIES = 100;
/** Bound on the entries rm -r removes in one call (a corrupt directory loop must end). */
const MAX_RM_ENTRIES = 1 << 30;

/** Every name in the list is a method here (checked by the compiler). */
const PUBLIC_METHODS: readonly (keyof FsPromises)[] = PROMISES_METHODS;


export interface PromisesOptions {
  /** The file mode creation mask (process.umask() in node). Default 0o022. */
  umask?: number;
  /** The caller's credentials: owner of new files, and who permission checks are for. Default root. */
  uid?: number;
  gid?: number;
}

type EncodingOption = string | null | undefined | { encoding?: string | null };
type ReadFileOptions = string | null | { encoding?: string | null; flag?: string | number; signal?: AbortSignal };
type WriteFileOptions = string | null | { encoding?: string | null; mode?: number | string; flag?: string | number; flush?: boolean; signal?: AbortSignal };

function encodingOf(options: EncodingOption): string | undefined {
  const e = typeof options === 'string' ? options : (options?.encoding ?? undefined);
  if (e === undefined || e === null || e === 'buffer') return e === 'buffer' ? 'buffer' : undefined;
  checkEncoding(e);
  return e;
}

function outName(name: Uint8Array, encoding: string | undefined): string | Uint8Array {
  if (encoding === 'buffer') return asNodeBytes(name.slice());
  return encoding === undefined || encoding === 'utf8' || encoding === 'utf-8' ? nameString(name) : decodeBytes(name, encoding);
}

/** The last component of a path as written ('.', '..', a name, or '' for '/'). */
function lastComponent(path: string): string {
  const parts = path.split('/').filter((c) => c !== '');
  return parts.length === 0 ? '' : parts[parts.length - 1];
}

export class FsPromises {
  readonly constants = constants;
  /** File mode creation mask applied to modes of new files and directories. */
  umask: number;
  readonly uid: number;
  readonly gid: number;
  /** @internal The open file table of this filesystem. */
  readonly openFiles = new OpenFiles();

  constructor(
    /** @internal */ readonly filesystem: Filesystem,
    options: PromisesOptions = {},
  ) {
    this.umask = (options.umask ?? 0o022) & 0o777;
    this.uid = options.uid ?? 0;
    this.gid = options.gid ?? 0;
    // node's fs.promises functions work detached (`const { readFile } = fs.promises`).
    for (const name of PUBLIC_METHODS) {
      const v = (this as unknown as Record<string, (...a: unknown[]) => unknown>)[name];
      Object.defineProperty(this, name, { value: v.bind(this), enumerable: true, writable: true, configurable: true });
    }
  }

  // ---------------------------------------------------------------- plumbing

  /** @internal The '/' of this API: the root directory of the mounted subvolume. */
  top(_fs: FsInfo): Loc {
    return { root: this.filesystem.topRoot, ino: FIRST_INODE_OBJECTID };
  }

  /**
   * @internal What a walked name is when it is a subvolume entry: a linked subvolume (the
   * target is its root directory, in another tree) or the placeholder of one a snapshot did
   * not include (inode 2 of the parent's tree); undefined for anything else.
   */
  async subvolumeEntry(fs: FsInfo, r: Resolved): Promise<{ kind: 'subvolume' | 'placeholder'; id: number } | undefined> {
    if (!r.target || r.name === undefined || r.target.type !== FileType.DIR) return undefined;
    if (r.target.root === r.parent.root && r.target.ino !== EMPTY_SUBVOL_DIR_OBJECTID) return undefined;
    const e = await namei.lookupName(fs, r.parent.root, r.parent.ino, r.name);
    if (e?.subvolume === undefined) return undefined;
    return { kind: r.target.root === r.parent.root ? 'placeholder' : 'subvolume', id: e.subvolume };
  }

  /** @internal Whether subvolume `id` cannot be deleted now: it is mounted here or has open files. */
  subvolumeBusy(id: number): boolean {
    return id === this.filesystem.topRoot.objectid || this.openFiles.hasOpenIn(id);
  }

  /**
   * Removes the directory entry `name` of `parent` whose inode is `loc` (a directory known to
   * be empty or a subvolume to delete): rmdir(2) as btrfs does it, for a subvolume (deleted
   * when empty: btrfs_rmdir -> btrfs_delete_subvolume), the placeholder of one (only the
   * entry goes) and a plain directory.
   */
  private async removeDirectory(fs: FsInfo, parent: Loc, name: Uint8Array, loc: Loc): Promise<void> {
    const sub = await this.subvolumeEntry(fs, { parent, name, target: { ...loc, type: FileType.DIR }, mustBeDir: true, canonical: '' });
    if (sub?.kind === 'subvolume') {
      await deleteSubvolume(fs, parent.root, parent.ino, name, { rmdir: true, busy: (id) => this.subvolumeBusy(id) });
      this.filesystem.kickCleaner();
    } else if (sub?.kind === 'placeholder') {
      await unlinkSubvolume(fs, parent.root, parent.ino, name, sub.id);
    } else {
      await namei.rmdir(fs, parent.root, parent.ino, name, this.openFiles.hooks(parent.root));
    }
  }

  /**
   * One call: `fn` runs under the writer mutex (as a transaction when `write`), its FsErrors get
   * node's fields. `stage.syscall` may change inside fn (open, then read) so that the error
   * names the step that failed, as node's does.
   */
  private async run<T>(write: boolean, stage: { syscall: string; path?: string; dest?: string }, fn: (fs: FsInfo) => Promise<T>): Promise<T> {
    try {
      return await (write ? this.filesystem.transaction(fn) : this.filesystem.read(fn));
    } catch (e) {
      throw withPath(e, stage.syscall, stage.path, stage.dest);
    }
  }

  /** @internal The inode `path` names (symlinks followed unless `followLast` is false), or ENOENT. */
  async locate(fs: FsInfo, path: string, followLast = true): Promise<Loc> {
    return this.existing(await this.walk(fs, path, followLast));
  }

  /** @internal Runs `fn` as one call with node's error fields (see run). */
  call<T>(write: boolean, stage: { syscall: string; path?: string; dest?: string }, fn: (fs: FsInfo) => Promise<T>): Promise<T> {
    return this.run(write, stage, fn);
  }

  private walk(fs: FsInfo, path: string, followLast: boolean): Promise<Resolved> {
    return walk(fs, this.top(fs), path, { followLast });
  }

  /** Walk for operations on a name (create, remove, rename): the last component is never followed. */
  private async walkName(fs: FsInfo, path: string): Promise<Resolved> {
    return lookupLast(fs, await this.walkParent(fs, path));
  }

  /** The parent half of walkName (lookupLast finishes it). */
  private async walkParent(fs: FsInfo, path: string): Promise<Resolved> {
    const trailing = /\/\.?$/.test(path) && !/(^|\/)\.\.?\/?$/.test(path);
    // Walk without the trailing slash (so a final symlink is not followed), then remember it.
    const r = await walk(fs, this.top(fs), trailing ? path.replace(/\/+\.?$/, '') || '/' : path, { followLast: false, parentOnly: true });
    return resolvedWith(r, { mustBeDir: r.mustBeDir || trailing });
  }

  private existing(r: Resolved): Loc & { type: number } {
    if (!r.target) throw new FsError('ENOENT', 'no such file or directory');
    return r.target;
  }

  /** Owner and group of a new inode in `parent` (set-group-ID directories pass their group on). */
  private async newOwner(fs: FsInfo, parent: Loc): Promise<{ uid: number; gid: number; setgid: boolean }> {
    // Read-only: the cache's own item when it has it (no copy).
    const p = peekInode(parent.root, parent.ino) ?? await readInode(fs, parent.root, parent.ino);
    const setgid = (p.mode & 0o2000) !== 0;
    return { uid: this.uid, gid: setgid ? p.gid : this.gid, setgid };
  }

  /** Whether the caller may access `item` for `mask` (R_OK | W_OK | X_OK), by mode bits. */
  private permits(item: InodeItem, mask: number): boolean {
    if (this.uid === 0) {
      // Root reads and writes anything; it executes only what some x bit allows (or directories).
      return !(mask & 1) || isDir(item.mode) || (item.mode & 0o111) !== 0;
    }
    const bits = item.uid === this.uid ? (item.mode >> 6) & 7 : item.gid === this.gid ? (item.mode >> 3) & 7 : item.mode & 7;
    return (bits & mask) === mask;
  }

  /**
   * open(2) inside a running call: walks, creates (O_CREAT), checks (O_EXCL, O_DIRECTORY,
   * O_NOFOLLOW, directories opened for writing), truncates (O_TRUNC).
   */
  private async openIn(fs: FsInfo, path: string, flags: number, mode: number): Promise<{ loc: Loc; item: InodeItem }> {
    const excl = (flags & O.CREAT) !== 0 && (flags & O.EXCL) !== 0;
    // Opening an existing file by a path the dcache knows: no walk (we hold the filesystem, so
    // the caches are as the trees are). Anything else walks.
    const known = (flags & O.CREAT) === 0 ? walkCached(this.top(fs), path, (flags & O.NOFOLLOW) === 0) : undefined;
    // With O_CREAT, a trailing slash is EISDIR once the parent is found (path.ts `create`).
    const r: Resolved = known
      ? { parent: known, name: undefined, target: known, mustBeDir: false, canonical: '' }
      : ((flags & O.CREAT) !== 0 ? walkCachedForCreate(this.top(fs), path) : undefined)
        ?? await walk(fs, this.top(fs), path, { followLast: (flags & O.NOFOLLOW) === 0 && !excl, create: (flags & O.CREAT) !== 0 });
    if (r.target) {
      if (excl) throw new FsError('EEXIST', 'file exists');
      if (r.target.type === FileType.SYMLINK) throw new FsError('ELOOP', 'O_NOFOLLOW on a symbolic link');
      const item = await readInode(fs, r.target.root, r.target.ino);
      if ((flags & O.DIRECTORY) && !isDir(item.mode)) throw new FsError('ENOTDIR', 'not a directory');
      if (isDir(item.mode) && (canWrite(flags) || (flags & (O.CREAT | O.TRUNC)))) throw new FsError('EISDIR', 'is a directory');
      const mask = (canRead(flags) ? 4 : 0) | (canWrite(flags) || (flags & O.TRUNC) ? 2 : 0);
      // btrfs_permission: no writing in a read-only subvolume (or its placeholder dirs).
      if ((mask & 2) && namei.rootReadonly(r.target.root)) throw new FsError('EROFS', 'read-only file system');
      if (!this.permits(item, mask)) throw new FsError('EACCES', 'permission denied');
      // chattr +i / +a (Linux may_open): no writing an immutable file; an append-only file
      // only with O_APPEND and never truncated.
      if ((mask & 2) && (item.flags & InodeFlags.IMMUTABLE)) throw new FsError('EPERM', 'the file is immutable');
      if ((mask & 2) && (item.flags & InodeFlags.APPEND) && (!(flags & O.APPEND) || (flags & O.TRUNC))) {
        throw new FsError('EPERM', 'the file is append-only');
      }
      if ((flags & O.TRUNC) && isReg(item.mode) && item.size > 0) {
        await file.truncateFile(fs, r.target.root, r.target.ino, 0);
        return { loc: r.target, item: await readInode(fs, r.target.root, r.target.ino) };
      }
      return { loc: r.target, item };
    }
    if (!(flags & O.CREAT)) throw new FsError('ENOENT', 'no such file or directory');
    if (r.mustBeDir || r.name === undefined) throw new FsError('EISDIR', 'is a directory');
    // Linux 6.4+ refuses O_CREAT | O_DIRECTORY outright.
    if (flags & O.DIRECTORY) throw new FsError('EINVAL', 'O_CREAT with O_DIRECTORY');
    const owner = await this.newOwner(fs, r.parent);
    const ino = await namei.createNode(fs, r.parent.root, r.parent.ino, r.name, {
      mode: S_IFREG | (mode & 0o7777 & ~this.umask), uid: owner.uid, gid: owner.gid,
    });
    // (namei's link put the new name in the dcache: the next walk, a stat after a create, finds it.)
    const loc = { root: r.parent.root, ino };
    return { loc, item: await readInode(fs, loc.root, loc.ino) };
  }

  // ---------------------------------------------------------------- files

  async open(path: PathLike, flags?: string | number, mode?: number | string): Promise<FileHandle> {
    const p = pathString(path, 'open');
    const f = parseOpenFlags(flags, O.RDONLY, 'open', p);
    const m = parseMode(mode, 0o666, 'open', p);
    return this.run(opensForChange(f), { syscall: 'open', path: p }, async (fs) => {
      const { loc } = await this.openIn(fs, p, f, m);
      // Registered inside the same turn of the mutex: no unlink can slip in between.
      const h = this.openFiles.open(loc.root, loc.ino, (fd) => new FileHandle({ filesystem: this.filesystem, openFiles: this.openFiles }, loc, f, p, fd));
      if (!h) throw new FsError('EMFILE', 'too many open files');
      return h;
    });
  }

  readFile(path: PathLike | FileHandle, options: { encoding: string; flag?: string | number; signal?: AbortSignal } | string): Promise<string>;
  readFile(path: PathLike | FileHandle, options?: { encoding?: null; flag?: string | number; signal?: AbortSignal } | null): Promise<Uint8Array>;
  readFile(path: PathLike | FileHandle, options?: ReadFileOptions): Promise<string | Uint8Array>;
  async readFile(path: PathLike | FileHandle, options?: ReadFileOptions): Promise<string | Uint8Array> {
    if (path instanceof FileHandle) return path.readFile(options as { encoding?: string | null });
    const o = typeof options === 'string' ? { encoding: options } : (options ?? {});
    checkAborted(o.signal);
    const p = pathString(path, 'open');
    const encoding = o.encoding ?? undefined;
    if (encoding) checkEncoding(encoding);
    const flags = parseOpenFlags(o.flag, O.RDONLY, 'open', p);
    const stage = { syscall: 'open', path: p };
    const { data, loc, item } = await this.run(opensForChange(flags), stage, async (fs) => {
      const { loc, item } = await this.openIn(fs, p, flags, 0o666);
      stage.syscall = 'read';
      if (!canRead(flags)) throw new FsError('EBADF', 'not open for reading');
      if (isDir(item.mode)) throw new FsError('EISDIR', 'is a directory');
      const data = item.size === 0 ? new Uint8Array(0) : await file.readFile(fs, loc.root, loc.ino, 0, item.size);
      return { data, loc, item };
    });
    if (!(flags & O.NOATIME)) await this.atime(loc, item, 'read', p);
    return encoding ? decodeBytes(data, encoding) : asNodeBytes(data);
  }

  private async atime(loc: Loc, item: InodeItem, syscall: string, path: string): Promise<void> {
    try {
      await touchAtime(this.filesystem, loc, item);
    } catch (e) {
      throw withPath(e, syscall, path);
    }
  }

  async writeFile(path: PathLike | FileHandle, data: unknown, options?: WriteFileOptions): Promise<void> {
    return this.writeOrAppend(path, data, options, 'w');
  }

  async appendFile(path: PathLike | FileHandle, data: unknown, options?: WriteFileOptions): Promise<void> {
    return this.writeOrAppend(path, data, options, 'a');
  }

  private async writeOrAppend(path: PathLike | FileHandle, data: unknown, options: WriteFileOptions | undefined, defaultFlag: string): Promise<void> {
    const o = typeof options === 'string' ? { encoding: options } : (options ?? {});
    checkAborted(o.signal);
    if (path instanceof FileHandle) return path.writeFile(data, o);
    const p = pathString(path, 'open');
    const flags = parseOpenFlags(o.flag ?? defaultFlag, O.RDONLY, 'open', p);
    const mode = parseMode(o.mode, 0o666, 'open', p);
    const bytes = await collectData(data, o.encoding ?? 'utf8');
    const stage = { syscall: 'open', path: p };
    await this.run(true, stage, async (fs) => {
      const { loc, item } = await this.openIn(fs, p, flags, mode);
      stage.syscall = 'write';
      if (!canWrite(flags)) throw new FsError('EBADF', 'not open for writing');
      if (bytes.length > 0) await file.writeFile(fs, loc.root, loc.ino, flags & O.APPEND ? item.size : 0, bytes);
    });
    if ((flags & O.SYNC) === O.SYNC || ('flush' in o && o.flush)) await this.sync(p);
  }

  private async sync(path: string): Promise<void> {
    try {
      await this.filesystem.sync();
    } catch (e) {
      throw withPath(e, 'fsync', path);
    }
  }

  async truncate(path: PathLike, len: number = 0): Promise<void> {
    const p = pathString(path, 'open');
    const size = Math.max(0, Math.trunc(Number(len)));
    if (!Number.isSafeInteger(size)) throw fsError('EINVAL', 'ftruncate', p, `the "len" argument is out of range (ERR_OUT_OF_RANGE): ${len}`);
    const stage = { syscall: 'open', path: p };
    await this.run(true, stage, async (fs) => {
      const { loc } = await this.openIn(fs, p, O.RDWR, 0o666);
      stage.syscall = 'ftruncate';
      await file.truncateFile(fs, loc.root, loc.ino, size);
    });
  }

  /**
   * copyFile as libuv does it: the destination is opened O_WRONLY|O_CREAT (|O_EXCL), gets the
   * source's mode, is truncated and filled. COPYFILE_FICLONE shares the source's extents
   * (reflink, inode/file.ts cloneRange) and falls back to a copy when they cannot be shared;
   * COPYFILE_FICLONE_FORCE fails instead of copying.
   */
  async copyFile(src: PathLike, dest: PathLike, mode: number = 0): Promise<void> {
    const s = pathString(src, 'copyfile', 'src');
    const d = pathString(dest, 'copyfile', 'dest');
    if (!Number.isInteger(mode) || mode < 0 || mode > 7) throw fsError('EINVAL', 'copyfile', s, `the "mode" argument is out of range (ERR_OUT_OF_RANGE): ${mode}`, d);
    await this.run(true, { syscall: 'copyfile', path: s, dest: d }, async (fs) => {
      const { loc: from, item: srcItem } = await this.openIn(fs, s, O.RDONLY, 0);
      if (isDir(srcItem.mode)) {
        // libuv opens the destination before its first read of the source fails: the
        // destination's errors come first. (libuv then unlinks the destination, even one that
        // existed: that we do not copy.)
        const r = await this.walk(fs, d, true);
        if (r.target && mode & constants.COPYFILE_EXCL) throw new FsError('EEXIST', 'file exists');
        if ((r.target && r.target.type === FileType.DIR) || (!r.target && r.mustBeDir)) throw new FsError('EISDIR', 'is a directory');
        throw new FsError('EISDIR', 'is a directory');
      }
      const dstFlags = O.WRONLY | O.CREAT | (mode & constants.COPYFILE_EXCL ? O.EXCL : 0);
      const { loc: to } = await this.openIn(fs, d, dstFlags, srcItem.mode);
      if (to.root === from.root && to.ino === from.ino) return;
      await setMode(fs, to, srcItem.mode & 0o7777);
      await file.truncateFile(fs, to.root, to.ino, 0);
      if (srcItem.size === 0) return;
      if (mode & (constants.COPYFILE_FICLONE | constants.COPYFILE_FICLONE_FORCE)) {
        try {
          await file.cloneRange(fs, from.root, from.ino, 0, srcItem.size, to.root, to.ino, 0);
          return;
        } catch (e) {
          const unsupported = e instanceof FsError && (e.code === 'EINVAL' || e.code === 'EOPNOTSUPP' || e.code === 'EXDEV');
          if (!unsupported || mode & constants.COPYFILE_FICLONE_FORCE) throw e;
        }
      }
      for (let off = 0; off < srcItem.size; off += STREAM_CHUNK_BYTES * 16) {
        const chunk = await file.readFile(fs, from.root, from.ino, off, Math.min(STREAM_CHUNK_BYTES * 16, srcItem.size - off));
        if (chunk.length === 0) break;
        await file.writeFile(fs, to.root, to.ino, off, chunk);
      }
    });
  }

  // ---------------------------------------------------------------- metadata

  stat(path: PathLike, options?: { bigint?: false }): Promise<Stats>;
  stat(path: PathLike, options: { bigint: true }): Promise<BigIntStats>;
  stat(path: PathLike, options?: { bigint?: boolean }): Promise<Stats | BigIntStats>;
  async stat(path: PathLike, options?: { bigint?: boolean }): Promise<Stats | BigIntStats> {
    return this.statImpl(path, options, 'stat', true);
  }

  lstat(path: PathLike, options?: { bigint?: false }): Promise<Stats>;
  lstat(path: PathLike, options: { bigint: true }): Promise<BigIntStats>;
  lstat(path: PathLike, options?: { bigint?: boolean }): Promise<Stats | BigIntStats>;
  async lstat(path: PathLike, options?: { bigint?: boolean }): Promise<Stats | BigIntStats> {
    return this.statImpl(path, options, 'lstat', false);
  }

  private async statImpl(path: PathLike, options: { bigint?: boolean } | undefined, syscall: string, follow: boolean): Promise<Stats | BigIntStats> {
    const p = pathString(path, syscall);
    // Everything known from the caches and nothing running: answer now (the dcache's fast
    // path); anything else, errors included, takes the full walk.
    if (this.filesystem.quiescent) {
      const t = walkCached(this.top(this.filesystem.info), p, follow);
      const item = t && peekInode(t.root, t.ino);
      if (item) return statsOf(t, item, options?.bigint === true);
    }
    return this.run(false, { syscall, path: p }, async (fs) => {
      const t = this.existing(await this.walk(fs, p, follow));
      return statsOf(t, await readInode(fs, t.root, t.ino), options?.bigint === true);
    });
  }

  async access(path: PathLike, mode: number = constants.F_OK): Promise<void> {
    const p = pathString(path, 'access');
    if (!Number.isInteger(mode) || mode < 0 || mode > 7) throw fsError('EINVAL', 'access', p, `the "mode" argument is out of range (ERR_OUT_OF_RANGE): ${mode}`);
    await this.run(false, { syscall: 'access', path: p }, async (fs) => {
      const t = this.existing(await this.walk(fs, p, true));
      const item = await readInode(fs, t.root, t.ino);
      if ((mode & constants.W_OK) && (fs.readonly || namei.rootReadonly(t.root))) throw new FsError('EROFS', 'read-only file system');
      if ((mode & constants.W_OK) && item.flags & 0xc0) throw new FsError('EPERM', 'immutable or append-only');
      if (!this.permits(item, mode)) throw new FsError('EACCES', 'permission denied');
    });
  }

  async chmod(path: PathLike, mode: number | string): Promise<void> {
    const p = pathString(path, 'chmod');
    const m = parseMode(mode, 0, 'chmod', p);
    await this.run(true, { syscall: 'chmod', path: p }, async (fs) => setMode(fs, this.existing(await this.walk(fs, p, true)), m));
  }

  async chown(path: PathLike, uid: number, gid: number): Promise<void> {
    return this.chownImpl(path, uid, gid, 'chown', true);
  }

  async lchown(path: PathLike, uid: number, gid: number): Promise<void> {
    return this.chownImpl(path, uid, gid, 'lchown', false);
  }

  private async chownImpl(path: PathLike, uid: number, gid: number, syscall: string, follow: boolean): Promise<void> {
    const p = pathString(path, syscall);
    for (const [n, v] of [['uid', uid], ['gid', gid]] as const) {
      if (!Number.isInteger(v) || v < -1 || v > 0xffffffff) throw fsError('EINVAL', syscall, p, `the "${n}" argument is out of range (ERR_OUT_OF_RANGE): ${v}`);
    }
    await this.run(true, { syscall, path: p }, async (fs) => setOwner(fs, this.existing(await this.walk(fs, p, follow)), uid, gid));
  }

  async utimes(path: PathLike, atime: number | string | Date, mtime: number | string | Date): Promise<void> {
    return this.utimesImpl(path, atime, mtime, 'utime', true);
  }

  async lutimes(path: PathLike, atime: number | string | Date, mtime: number | string | Date): Promise<void> {
    return this.utimesImpl(path, atime, mtime, 'lutime', false);
  }

  private async utimesImpl(path: PathLike, atime: unknown, mtime: unknown, syscall: string, follow: boolean): Promise<void> {
    const p = pathString(path, syscall);
    const a = secondsToTimespec(toUnixSeconds(atime, syscall, p));
    const m = secondsToTimespec(toUnixSeconds(mtime, syscall, p));
    await this.run(true, { syscall, path: p }, async (fs) => setTimes(fs, this.existing(await this.walk(fs, p, follow)), a, m));
  }

  async realpath(path: PathLike, options?: EncodingOption): Promise<string | Uint8Array> {
    const p = pathString(path, 'realpath');
    const encoding = encodingOf(options);
    const canonical = await this.run(false, { syscall: 'realpath', path: p }, async (fs) => {
      const r = await this.walk(fs, p, true);
      this.existing(r);
      return r.canonical;
    });
    return encoding ? outName(nameBytes(canonical), encoding) : canonical;
  }

  /** statfs(2) as node's fs.promises.statfs reports it (f_files/f_ffree are 0 on btrfs). */
  async statfs(path: PathLike, options?: { bigint?: boolean }): Promise<StatFs | Record<keyof StatFs, bigint>> {
    const p = pathString(path, 'statfs');
    const s = await this.run(false, { syscall: 'statfs', path: p }, async (fs) => {
      this.existing(await this.walk(fs, p, true));
      const bsize = fs.sectorsize;
      const blocks = Math.floor(fs.sb.totalBytes / bsize);
      const bfree = Math.max(0, Math.floor((fs.sb.totalBytes - fs.sb.bytesUsed) / bsize));
      return { type: BTRFS_SUPER_MAGIC, bsize, blocks, bfree, bavail: bfree, files: 0, ffree: 0 };
    });
    if (!options?.bigint) return s;
    return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, BigInt(v)])) as Record<keyof StatFs, bigint>;
  }

  // ---------------------------------------------------------------- directories

  async mkdir(path: PathLike, options?: number | string | { mode?: number | string; recursive?: boolean } | null): Promise<string | undefined> {
    const p = pathString(path, 'mkdir');
    const o = typeof options === 'object' && options !== null ? options : { mode: options ?? undefined };
    const mode = parseMode(o.mode, 0o777, 'mkdir', p) & 0o1777 & ~this.umask;
    return this.run(true, { syscall: 'mkdir', path: p }, async (fs) => {
      if (!o.recursive) {
        const r = await this.walkName(fs, p);
        if (r.name === undefined || r.target) throw new FsError('EEXIST', 'file exists');
        await this.mkdirIn(fs, r.parent, r.name, mode);
        return undefined;
      }
      // mkdir -p: each prefix in turn, following symlinks to directories as node's mkdirp does.
      const absolute = p.startsWith('/');
      const parts = p.split('/').filter((c) => c !== '');
      let first: string | undefined;
      for (let i = 1; i <= parts.length; i++) {
        const prefix = (absolute ? '/' : '') + parts.slice(0, i).join('/');
        let r: Resolved | undefined;
        try {
          // The last one as given: a trailing slash on an existing non-directory is ENOTDIR.
          r = await this.walk(fs, i === parts.length ? p : prefix, true);
        } catch (e) {
          if (!(e instanceof FsError && e.code === 'ENOENT')) throw e;
        }
        if (r?.target) {
          if (r.target.type !== FileType.DIR) throw new FsError(i === parts.length ? 'EEXIST' : 'ENOTDIR', `'${prefix}' is not a directory`);
          continue;
        }
        // A dangling symlink: mkdir(2) says EEXIST, after which node's mkdirp stat()s it (ENOENT
        // for the last component) or gives up on the path (ENOTDIR in the middle).
        if (!r || (await this.walk(fs, prefix, false)).target) throw new FsError(i === parts.length ? 'ENOENT' : 'ENOTDIR', `'${prefix}' is a dangling symbolic link`);
        if (r.name === undefined) throw new FsError('ENOENT', 'no such file or directory');
        await this.mkdirIn(fs, r.parent, r.name, mode);
        // node returns the path as given when the last component is the first made, else the
        // prefix (its dirname) that was.
        first ??= i === parts.length ? p : prefix;
      }
      return first;
    });
  }

  private async mkdirIn(fs: FsInfo, parent: Loc, name: Uint8Array, mode: number): Promise<number> {
    const owner = await this.newOwner(fs, parent);
    return namei.mkdir(fs, parent.root, parent.ino, name, { mode: mode | (owner.setgid ? 0o2000 : 0), uid: owner.uid, gid: owner.gid });
  }

  async mkdtemp(prefix: string, options?: EncodingOption): Promise<string | Uint8Array> {
    const p = pathString(prefix, 'mkdtemp', 'prefix');
    const encoding = encodingOf(options);
    const made = await this.run(true, { syscall: 'mkdtemp', path: `${p}XXXXXX` }, async (fs) => {
      for (let attempt = 0; attempt < MKDTEMP_TRIES; attempt++) {
        let suffix = '';
        for (let i = 0; i < 6; i++) suffix += TEMP_CHARS[Math.floor(Math.random() * TEMP_CHARS.length)];
        const r = await this.walkName(fs, p + suffix);
        if (r.target || r.name === undefined) continue;
        await this.mkdirIn(fs, r.parent, r.name, 0o700 & ~this.umask);
        return p + suffix;
      }
      throw new FsError('EEXIST', `no free name after ${MKDTEMP_TRIES} tries`);
    });
    return encoding ? outName(nameBytes(made), encoding) : made;
  }

  readdir(path: PathLike, options: 'buffer' | { encoding: 'buffer'; withFileTypes?: false; recursive?: boolean }): Promise<Uint8Array[]>;
  readdir(path: PathLike, options?: string | null | { encoding?: string | null; withFileTypes?: false; recursive?: boolean }): Promise<string[]>;
  readdir(path: PathLike, options: { encoding?: string | null; withFileTypes: true; recursive?: boolean }): Promise<Dirent[]>;
  readdir(path: PathLike, options?: EncodingOption | { encoding?: string | null; withFileTypes?: boolean; recursive?: boolean }): Promise<(string | Uint8Array)[] | Dirent<string | Uint8Array>[]>;
  async readdir(path: PathLike, options?: EncodingOption | { encoding?: string | null; withFileTypes?: boolean; recursive?: boolean }): Promise<(string | Uint8Array)[] | Dirent<string | Uint8Array>[]> {
    const p = pathString(path, 'scandir');
    const o = typeof options === 'object' && options !== null ? options : {};
    const encoding = encodingOf(options as EncodingOption);
    const withTypes = 'withFileTypes' in o && o.withFileTypes === true;
    const recursive = 'recursive' in o && o.recursive === true;
    const { out, loc, item } = await this.run(false, { syscall: 'scandir', path: p }, async (fs) => {
      // A path the dcache knows needs no walk (we hold the filesystem: the caches are as the trees are).
      const t = walkCached(this.top(fs), p, true) ?? this.existing(await this.walk(fs, p, true));
      const item = await readInode(fs, t.root, t.ino);
      if (!isDir(item.mode)) throw new FsError('ENOTDIR', 'not a directory');
      // The usual call: the names, from the listing's shared array.
      if (!withTypes && !recursive && encoding === undefined) return { out: (await namei.readDirNames(fs, t.root, t.ino)).slice(), loc: t as Loc, item };
      const out: (string | Uint8Array | Dirent<string | Uint8Array>)[] = [];
      // Breadth first, as node's recursive readdir; each directory's entries in index order.
      const queue: { loc: Loc; rel: string }[] = [{ loc: t, rel: '' }];
      for (let q = 0; q < queue.length; q++) {
        const { loc, rel } = queue[q];
        for (const e of await namei.readDirAll(fs, loc.root, loc.ino)) {
          const name = e.text;
          const relName = rel === '' ? name : `${rel}/${name}`;
          if (withTypes) out.push(new Dirent(outName(e.name, encoding), e.type, rel === '' ? p : joinPath(p, rel)));
          else if (rel === '' && encoding === undefined) out.push(name);
          else out.push(rel === '' ? outName(e.name, encoding) : encoding === 'buffer' ? asNodeBytes(nameBytes(relName)) : relName);
          if (recursive && e.type === FileType.DIR) {
            const child = e.subvolume !== undefined ? await loadedSubvolume(fs, loc, e.name, e.subvolume) : { root: loc.root, ino: e.ino };
            queue.push({ loc: child, rel: relName });
          }
        }
      }
      return { out, loc: t as Loc, item };
    });
    await this.atime(loc, item, 'scandir', p);
    return out as (string | Uint8Array)[] | Dirent<string | Uint8Array>[];
  }

  async opendir(path: PathLike, options?: { encoding?: string | null; bufferSize?: number; recursive?: boolean }): Promise<Dir> {
    const p = pathString(path, 'opendir');
    const encoding = encodingOf(options);
    const bufferSize = options?.bufferSize ?? 32;
    if (!Number.isInteger(bufferSize) || bufferSize < 1 || bufferSize > 4294967295) throw fsError('EINVAL', 'opendir', p, `the "bufferSize" argument is out of range (ERR_OUT_OF_RANGE): ${bufferSize}`);
    const loc = await this.run(false, { syscall: 'opendir', path: p }, async (fs) => {
      const t = this.existing(await this.walk(fs, p, true));
      if (!isDir((await readInode(fs, t.root, t.ino)).mode)) throw new FsError('ENOTDIR', 'not a directory');
      return t as Loc;
    });
    return new Dir(this.filesystem, loc, p, encoding, bufferSize);
  }

  async rmdir(path: PathLike, options?: { recursive?: boolean; maxRetries?: number; retryDelay?: number }): Promise<void> {
    const p = pathString(path, 'rmdir');
    if (options?.recursive) return this.removeImpl(p, { recursive: true, force: false }, 'rmdir');
    await this.run(true, { syscall: 'rmdir', path: p }, async (fs) => {
      const r = await this.walkName(fs, p);
      if (r.name === undefined) {
        const last = lastComponent(p);
        throw new FsError(last === '.' ? 'EINVAL' : last === '..' ? 'ENOTEMPTY' : 'EBUSY', 'cannot remove this directory');
      }
      if (!r.target) throw new FsError('ENOENT', 'no such file or directory');
      if (r.target.type !== FileType.DIR) throw new FsError('ENOTDIR', 'not a directory');
      await this.removeDirectory(fs, r.parent, r.name, r.target);
    });
  }

  async unlink(path: PathLike): Promise<void> {
    const p = pathString(path, 'unlink');
    await this.run(true, { syscall: 'unlink', path: p }, async (fs) => {
      const r = await this.walkName(fs, p);
      if (r.name === undefined) throw new FsError('EISDIR', 'is a directory');
      if (!r.target) throw new FsError('ENOENT', 'no such file or directory');
      if (r.mustBeDir) throw new FsError(r.target.type === FileType.DIR ? 'EISDIR' : 'ENOTDIR', 'trailing slash');
      await namei.unlink(fs, r.parent.root, r.parent.ino, r.name, this.openFiles.hooks(r.parent.root));
    });
  }

  async rm(path: PathLike, options?: { force?: boolean; recursive?: boolean; maxRetries?: number; retryDelay?: number }): Promise<void> {
    const p = pathString(path, 'rm');
    return this.removeImpl(p, { force: options?.force === true, recursive: options?.recursive === true }, 'rm');
  }

  private async removeImpl(p: string, o: { force: boolean; recursive: boolean }, syscall: string): Promise<void> {
    await this.run(true, { syscall, path: p }, async (fs) => {
      let r: Resolved;
      try {
        r = await this.walkName(fs, p);
      } catch (e) {
        // force ignores a missing path, wherever along it the walk stopped (node: lstat's ENOENT).
        if (o.force && e instanceof FsError && e.code === 'ENOENT') return;
        throw e;
      }
      if (r.name === undefined) throw new FsError(lastComponent(p) === '' ? 'EBUSY' : 'EINVAL', 'cannot remove this directory');
      if (!r.target) {
        if (o.force) return;
        throw new FsError('ENOENT', 'no such file or directory');
      }
      const isDirectory = r.target.type === FileType.DIR;
      if (r.mustBeDir && !isDirectory) throw new FsError('ENOTDIR', 'not a directory');
      if (!isDirectory) {
        await namei.unlink(fs, r.parent.root, r.parent.ino, r.name, this.openFiles.hooks(r.parent.root));
        return;
      }
      if (!o.recursive) throw new FsError('EISDIR', 'is a directory (node: ERR_FS_EISDIR; use recursive)');
      await this.removeTree(fs, r.parent, r.name, r.target);
    });
  }

  /** rm -r: depth first, each directory emptied entry by entry then removed. */
  private async removeTree(fs: FsInfo, parent: Loc, name: Uint8Array, loc: Loc): Promise<void> {
    const stack: { parent: Loc; name: Uint8Array; loc: Loc }[] = [{ parent, name, loc }];
    for (let guard = 0; stack.length > 0; guard++) {
      if (guard > MAX_RM_ENTRIES) throw new FsError('EUCLEAN', 'rm -r did not finish (a directory loop?)');
      const top = stack[stack.length - 1];
      let child: namei.DirEntryInfo | undefined;
      child = (await namei.readDirAll(fs, top.loc.root, top.loc.ino, 1, 1))[0];
      if (!child) {
        await this.removeDirectory(fs, top.parent, top.name, top.loc);
        stack.pop();
      } else if (child.type === FileType.DIR && child.subvolume === undefined) {
        stack.push({ parent: top.loc, name: child.name, loc: { root: top.loc.root, ino: child.ino } });
      } else if (child.subvolume !== undefined) {
        // rm -r goes into subvolumes and deletes them once emptied, as rm(1) does on btrfs.
        stack.push({ parent: top.loc, name: child.name, loc: await loadedSubvolume(fs, top.loc, child.name, child.subvolume) });
      } else {
        await namei.unlink(fs, top.loc.root, top.loc.ino, child.name, this.openFiles.hooks(top.loc.root));
      }
    }
  }

  async rename(oldPath: PathLike, newPath: PathLike): Promise<void> {
    const s = pathString(oldPath, 'rename', 'oldPath');
    const d = pathString(newPath, 'rename', 'newPath');
    await this.run(true, { syscall: 'rename', path: s, dest: d }, async (fs) => {
      // Linux do_renameat2's order: both parents, then the old name, then the new one.
      const srcParent = await this.walkParent(fs, s);
      const dstParent = await this.walkParent(fs, d);
      if (srcParent.name === undefined || dstParent.name === undefined) throw new FsError('EBUSY', "cannot rename '/', '.' or '..'");
      const src = await lookupLast(fs, srcParent);
      if (!src.target) throw new FsError('ENOENT', 'no such file or directory');
      const dst = await lookupLast(fs, dstParent);
      const srcIsDir = src.target.type === FileType.DIR;
      // Linux do_renameat2's order: trailing slashes on a non-directory, then the ancestor traps.
      if (!srcIsDir && (src.mustBeDir || dst.mustBeDir)) throw new FsError('ENOTDIR', 'not a directory');
      if (src.canonical === dst.canonical) return;
      if (dst.canonical.startsWith(src.canonical + '/')) throw new FsError('EINVAL', 'cannot move a directory into itself');
      if (dst.target?.type === FileType.DIR && src.canonical.startsWith(dst.canonical + '/')) throw new FsError('ENOTEMPTY', 'directory not empty');
      // btrfs_rename's order: into a placeholder EPERM, across subvolumes EXDEV unless the
      // source is a subvolume (a link, which may move to another subvolume), a placeholder
      // source or a subvolume destination ENOTEMPTY.
      if (dst.parent.ino === EMPTY_SUBVOL_DIR_OBJECTID) throw new FsError('EPERM', 'operation not permitted');
      const srcSub = await this.subvolumeEntry(fs, src);
      if (srcSub?.kind !== 'subvolume' && src.parent.root !== dst.parent.root) throw new FsError('EXDEV', 'rename across subvolumes');
      const dstSub = await this.subvolumeEntry(fs, dst);
      if (srcSub?.kind === 'placeholder' || dstSub?.kind === 'subvolume') throw new FsError('ENOTEMPTY', 'directory not empty');
      if (srcSub?.kind === 'subvolume') {
        await renameSubvolume(fs, src.parent.root, src.parent.ino, src.name!, dst.parent.root, dst.parent.ino, dst.name!, this.openFiles.hooks(dst.parent.root));
        return;
      }
      if (dstSub?.kind === 'placeholder') {
        if (!srcIsDir) throw new FsError('EISDIR', 'is a directory');
        await unlinkSubvolume(fs, dst.parent.root, dst.parent.ino, dst.name!, dstSub.id);
      }
      await namei.rename(fs, src.parent.root, src.parent.ino, src.name!, dst.parent.ino, dst.name!, {}, this.openFiles.hooks(src.parent.root));
    });
  }

  async link(existingPath: PathLike, newPath: PathLike): Promise<void> {
    const s = pathString(existingPath, 'link', 'existingPath');
    const d = pathString(newPath, 'link', 'newPath');
    await this.run(true, { syscall: 'link', path: s, dest: d }, async (fs) => {
      const src = this.existing(await this.walk(fs, s, false));
      const dst = await this.walkName(fs, d);
      if (dst.name === undefined || dst.target) throw new FsError('EEXIST', 'file exists');
      if (dst.mustBeDir) throw new FsError('ENOENT', 'no such file or directory');
      if (dst.parent.root !== src.root) throw new FsError('EXDEV', 'link across subvolumes');
      await namei.link(fs, src.root, src.ino, dst.parent.ino, dst.name);
    });
  }

  /** symlink(target, path): `type` ('file', 'dir', 'junction') only matters on Windows. */
  async symlink(target: PathLike, path: PathLike, _type?: string | null): Promise<void> {
    const t = pathString(target, 'symlink', 'target');
    const p = pathString(path, 'symlink');
    await this.run(true, { syscall: 'symlink', path: t, dest: p }, async (fs) => {
      const r = await this.walkName(fs, p);
      if (r.name === undefined || r.target) throw new FsError('EEXIST', 'file exists');
      if (r.mustBeDir) throw new FsError('ENOENT', 'no such file or directory');
      const owner = await this.newOwner(fs, r.parent);
      await namei.symlink(fs, r.parent.root, r.parent.ino, r.name, nameBytes(t), { uid: owner.uid, gid: owner.gid });
    });
  }

  async readlink(path: PathLike, options?: EncodingOption): Promise<string | Uint8Array> {
    const p = pathString(path, 'readlink');
    const encoding = encodingOf(options);
    const bytes = await this.run(false, { syscall: 'readlink', path: p }, async (fs) => {
      const t = this.existing(await this.walk(fs, p, false));
      if (t.type !== FileType.SYMLINK) throw new FsError('EINVAL', 'not a symbolic link');
      return (await namei.readlink(fs, t.root, t.ino)).slice();
    });
    return outName(bytes, encoding);
  }

  // ---------------------------------------------------------------- xattrs (not in node's fs)

  /** The value of extended attribute `name` ('user.x', ...); ENODATA when it has none. */
  async getxattr(path: PathLike, name: string, options?: { noFollow?: boolean; encoding?: string }): Promise<Uint8Array | string> {
    const p = pathString(path, 'getxattr');
    const value = await this.run(false, { syscall: 'getxattr', path: p }, async (fs) => {
      const t = this.existing(await this.walk(fs, p, !options?.noFollow));
      return namei.getXattr(fs, t.root, t.ino, nameBytes(name));
    });
    return options?.encoding ? decodeBytes(value, options.encoding) : asNodeBytes(value);
  }

  async setxattr(path: PathLike, name: string, value: string | ArrayBufferView, options?: { noFollow?: boolean; create?: boolean; replace?: boolean }): Promise<void> {
    const p = pathString(path, 'setxattr');
    const v = toBytes(value, 'utf8', 'value');
    await this.run(true, { syscall: 'setxattr', path: p }, async (fs) => {
      const t = this.existing(await this.walk(fs, p, !options?.noFollow));
      await namei.setXattr(fs, t.root, t.ino, nameBytes(name), v, { create: options?.create, replace: options?.replace });
    });
  }

  async listxattr(path: PathLike, options?: { noFollow?: boolean }): Promise<string[]> {
    const p = pathString(path, 'listxattr');
    const names = await this.run(false, { syscall: 'listxattr', path: p }, async (fs) => {
      const t = this.existing(await this.walk(fs, p, !options?.noFollow));
      return namei.listXattrs(fs, t.root, t.ino);
    });
    return names.map(nameString);
  }

  async removexattr(path: PathLike, name: string, options?: { noFollow?: boolean }): Promise<void> {
    const p = pathString(path, 'removexattr');
    await this.run(true, { syscall: 'removexattr', path: p }, async (fs) => {
      const t = this.existing(await this.walk(fs, p, !options?.noFollow));
      await namei.removeXattr(fs, t.root, t.ino, nameBytes(name));
    });
  }
}

/** node's fs.Dir: entries read in batches (bufferSize) by DIR_INDEX, so a large directory streams. */
export class Dir {
  #nextIndex = 1;
  #buffered: Dirent<string | Uint8Array>[] = [];
  #done = false;
  #closed = false;

  constructor(
    private readonly filesystem: Filesystem,
    private readonly loc: Loc,
    readonly path: string,
    private readonly encoding: string | undefined,
    private readonly bufferSize: number,
  ) {}

  async read(): Promise<Dirent<string | Uint8Array> | null> {
    if (this.#closed) throw fsError('EBADF', 'opendir', this.path, 'directory handle was closed (ERR_DIR_CLOSED)');
    if (this.#buffered.length === 0 && !this.#done) await this.fill();
    return this.#buffered.shift() ?? null;
  }

  private async fill(): Promise<void> {
    try {
      await this.filesystem.read(async (fs) => {
        const want = this.bufferSize - this.#buffered.length;
        const entries = await namei.readDirAll(fs, this.loc.root, this.loc.ino, this.#nextIndex, want);
        for (const e of entries) {
          this.#buffered.push(new Dirent(outName(e.name, this.encoding), e.type, this.path));
          this.#nextIndex = e.index;
        }
        if (entries.length < want) this.#done = true;
      });
    } catch (e) {
      throw withPath(e, 'scandir', this.path);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) throw fsError('EBADF', 'close', this.path, 'directory handle was closed (ERR_DIR_CLOSED)');
    this.#closed = true;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Dirent<string | Uint8Array>> {
    try {
      for (;;) {
        const d = await this.read();
        if (d === null) return;
        yield d;
      }
    } finally {
      if (!this.#closed) await this.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#closed) await this.close();
  }
}


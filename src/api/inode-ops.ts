// What fs.promises and FileHandle share: node's argument rules (modes, times, flags), the
// mapping of engine errors to node's error fields, and the inode attribute changes (chmod,
// chown, utimes, atime) done the same way whether reached by path or by handle.
import type { FsInfo } from '../fs/fs-info.js';
import type { Timespec } from '../format/struct.js';
import { InodeFlags, EMPTY_SUBVOL_DIR_OBJECTID } from '../format/constants.js';
import { readInode, writeInode, cloneInode, nowTimespec, isDir, S_IFMT, type InodeItem } from '../inode/inode.js';
import { checkMutable, rootReadonly } from '../inode/namei.js';
import { FsError, ERRNO, type ErrorCode } from '../util/errors.js';
import type { Filesystem } from './filesystem.js';
import { shouldUpdateAtime } from './mount-options.js';
import { startTransaction } from '../fs/transaction.js';
import type { Loc } from './path.js';
import { Stats, BigIntStats } from './stats.js';

// ---------------------------------------------------------------- errors

/** The detail an engine error was raised with (the parenthesised end of its message). */
function detailOf(e: FsError): string | undefined {
  const m = /\((.*)\)$/s.exec(e.message);
  // A detail that only repeats the code's description adds nothing to node's message.
  return m && m[1] !== ERRNO[e.code][1] ? m[1] : undefined;
}

/**
 * The error as node reports it: the same code, with syscall, path (and dest) added. Errors that
 * already name a path (raised by this layer) and errors that are not FsErrors (assertions) pass
 * through unchanged.
 */
export function withPath(e: unknown, syscall: string, path?: string, dest?: string): unknown {
  if (!(e instanceof FsError) || e.syscall !== undefined) return e;
  return new FsError(e.code, detailOf(e), { syscall, path, dest, cause: e });
}

export function fsError(code: ErrorCode, syscall: string, path?: string, detail?: string, dest?: string): FsError {
  return new FsError(code, detail, { syscall, path, dest });
}

/** The error node's AbortSignal support raises (an AbortError with code ABORT_ERR). */
export function checkAborted(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  const e = new Error('The operation was aborted', { cause: signal.reason }) as Error & { code: string };
  e.name = 'AbortError';
  e.code = 'ABORT_ERR';
  throw e;
}

// ---------------------------------------------------------------- arguments

/** node's parseFileMode: an integer (uint32) or an octal string. */
export function parseMode(mode: unknown, fallback: number, syscall: string, path?: string): number {
  if (mode === undefined || mode === null) return fallback;
  if (typeof mode === 'number' && Number.isInteger(mode) && mode >= 0 && mode <= 0xffffffff) return mode;
  if (typeof mode === 'string' && /^[0-7]+$/.test(mode)) return Number.parseInt(mode, 8);
  throw fsError('EINVAL', syscall, path, `the "mode" argument must be a 32-bit unsigned integer or an octal string (ERR_INVALID_ARG_VALUE): ${String(mode)}`);
}

/** node's toUnixTimestamp: seconds (numbers, numeric strings), Dates; negative numbers mean now. */
export function toUnixSeconds(time: unknown, syscall: string, path?: string): number {
  // eslint-disable-next-line eqeqeq -- node's own test (`+time == time`), loose on purpose
  if (typeof time === 'string' && Number(time) == (time as unknown as number)) return Number(time);
  if (typeof time === 'number' && Number.isFinite(time)) return time < 0 ? Date.now() / 1000 : time;
  if (time instanceof Date) return time.getTime() / 1000;
  if (typeof time === 'bigint') return Number(time);
  throw fsError('EINVAL', syscall, path, `the "time" argument must be a Date or a time in seconds (ERR_INVALID_ARG_TYPE): ${String(time)}`);
}

/**
 * Seconds (possibly fractional) as a timespec, exactly as libuv converts them for node
 * (uv__fs_to_timespec): truncated toward zero, then to whole microseconds.
 */
export function secondsToTimespec(seconds: number): Timespec {
  let sec = Math.trunc(seconds);
  let nsec = Math.trunc((seconds - sec) * 1e9);
  nsec -= nsec % 1000;
  if (nsec < 0) {
    nsec += 1e9;
    sec -= 1;
  }
  return { sec, nsec };
}

/** A position argument: a non-negative integer, or null/undefined/-1 for "the current position". */
export function parsePosition(position: unknown, syscall: string): number | undefined {
  if (position === null || position === undefined) return undefined;
  if (typeof position === 'bigint') position = Number(position);
  if (typeof position !== 'number' || !Number.isInteger(position)) throw fsError('EINVAL', syscall, undefined, `the "position" argument must be an integer (ERR_INVALID_ARG_TYPE): ${String(position)}`);
  if (position === -1) return undefined;
  if (position < 0 || position > Number.MAX_SAFE_INTEGER) throw fsError('EINVAL', syscall, undefined, `the "position" argument is out of range (ERR_OUT_OF_RANGE): ${position}`);
  return position;
}

// ---------------------------------------------------------------- open flags

/** Linux open(2) flags, node's fs.constants values. */
export { O } from './promises-surface.js';
import { O } from './promises-surface.js';

const STRING_FLAGS: Record<string, number> = {
  r: O.RDONLY,
  rs: O.RDONLY | O.SYNC, sr: O.RDONLY | O.SYNC,
  'r+': O.RDWR,
  'rs+': O.RDWR | O.SYNC, 'sr+': O.RDWR | O.SYNC,
  w: O.TRUNC | O.CREAT | O.WRONLY,
  wx: O.TRUNC | O.CREAT | O.WRONLY | O.EXCL, xw: O.TRUNC | O.CREAT | O.WRONLY | O.EXCL,
  'w+': O.TRUNC | O.CREAT | O.RDWR,
  'wx+': O.TRUNC | O.CREAT | O.RDWR | O.EXCL, 'xw+': O.TRUNC | O.CREAT | O.RDWR | O.EXCL,
  a: O.APPEND | O.CREAT | O.WRONLY,
  ax: O.APPEND | O.CREAT | O.WRONLY | O.EXCL, xa: O.APPEND | O.CREAT | O.WRONLY | O.EXCL,
  as: O.APPEND | O.CREAT | O.WRONLY | O.SYNC, sa: O.APPEND | O.CREAT | O.WRONLY | O.SYNC,
  'a+': O.APPEND | O.CREAT | O.RDWR,
  'ax+': O.APPEND | O.CREAT | O.RDWR | O.EXCL, 'xa+': O.APPEND | O.CREAT | O.RDWR | O.EXCL,
  'as+': O.APPEND | O.CREAT | O.RDWR | O.SYNC, 'sa+': O.APPEND | O.CREAT | O.RDWR | O.SYNC,
};

/** node's stringToFlags: a flag string ('r', 'wx+', ...) or a number of O_* bits. */
export function parseOpenFlags(flags: unknown, fallback: number, syscall: string, path?: string): number {
  if (flags === undefined || flags === null) return fallback;
  if (typeof flags === 'number' && Number.isInteger(flags) && flags >= 0 && flags <= 0x7fffffff) return flags;
  if (typeof flags === 'string' && flags in STRING_FLAGS) return STRING_FLAGS[flags];
  throw fsError('EINVAL', syscall, path, `the argument 'flags' is invalid (ERR_INVALID_ARG_VALUE): ${String(flags)}`);
}

export const canRead = (flags: number) => (flags & O.ACCMODE) !== O.WRONLY;
export const canWrite = (flags: number) => (flags & O.ACCMODE) !== O.RDONLY;
/** Whether opening with these flags can change the filesystem (so must run as a writer). */
export const opensForChange = (flags: number) => canWrite(flags) || (flags & (O.CREAT | O.TRUNC)) !== 0;

// ---------------------------------------------------------------- attributes

export function statsOf(loc: Loc, item: InodeItem, bigint: boolean): Stats | BigIntStats {
  const dev = loc.root.objectid;
  return bigint ? new BigIntStats(dev, loc.ino, item) : new Stats(dev, loc.ino, item);
}

function bump(item: InodeItem, now: Timespec): void {
  item.ctime = now;
  item.sequence++;
}

function checkChangeable(item: InodeItem): void {
  if (item.flags & (InodeFlags.IMMUTABLE | InodeFlags.APPEND)) throw new FsError('EPERM', 'the inode is immutable or append-only');
}

/** chmod: the permission bits (07777) change, the type stays. */
export async function setMode(fs: FsInfo, loc: Loc, mode: number): Promise<void> {
  checkMutable(loc.root, loc.ino);
  const item = await readInode(fs, loc.root, loc.ino);
  checkChangeable(item);
  item.mode = (item.mode & S_IFMT) | (mode & 0o7777);
  bump(item, nowTimespec());
  await writeInode(fs, loc.root, loc.ino, item);
}

/**
 * chown: -1 keeps a field. As Linux (chown_common with ATTR_KILL_SUID|ATTR_KILL_SGID), even
 * root's chown of a non-directory clears set-user-ID, and set-group-ID when group-execute is set.
 */
export async function setOwner(fs: FsInfo, loc: Loc, uid: number, gid: number): Promise<void> {
  checkMutable(loc.root, loc.ino);
  const item = await readInode(fs, loc.root, loc.ino);
  checkChangeable(item);
  if (uid !== -1) item.uid = uid >>> 0;
  if (gid !== -1) item.gid = gid >>> 0;
  if (!isDir(item.mode)) {
    item.mode &= ~0o4000;
    if (item.mode & 0o010) item.mode &= ~0o2000;
  }
  bump(item, nowTimespec());
  await writeInode(fs, loc.root, loc.ino, item);
}

/** utimes: atime and mtime as given; ctime is now. */
export async function setTimes(fs: FsInfo, loc: Loc, atime: Timespec, mtime: Timespec): Promise<void> {
  checkMutable(loc.root, loc.ino);
  const item = await readInode(fs, loc.root, loc.ino);
  checkChangeable(item);
  item.atime = atime;
  item.mtime = mtime;
  bump(item, nowTimespec());
  await writeInode(fs, loc.root, loc.ino, item);
}

/**
 * After a read of `loc` (file data or a directory listing): moves atime to now when the mount's
 * atime policy (relatime by default: mount-options.ts shouldUpdateAtime) says so. A separate,
 * short transaction, taken only when an update is due; on a read-only filesystem never.
 */
export async function touchAtime(filesystem: Filesystem, loc: Loc, item: InodeItem): Promise<void> {
  const now = atimeDue(filesystem.info, filesystem.options, loc, item);
  if (now === undefined) return;
  await filesystem.transaction(async (fs) => {
    const cur = await readInode(fs, loc.root, loc.ino).catch((e: unknown) => {
      // The inode went away between the read and now (unlinked and evicted): nothing to touch.
      if (e instanceof FsError && e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (!cur) return;
    cur.atime = now;
    await writeInode(fs, loc.root, loc.ino, cur);
  });
}

/** The new atime when the mount's policy wants `item`'s atime moved to now, else undefined. */
function atimeDue(fs: FsInfo, options: Filesystem['options'], loc: Loc, item: Readonly<InodeItem>): Timespec | undefined {
  // A read-only subvolume keeps its atimes (btrfs_update_time fails, touch_atime ignores it).
  // Nor does the placeholder of a subvolume (inode 2): it is not on disk.
  if (fs.readonly || rootReadonly(loc.root) || loc.ino === EMPTY_SUBVOL_DIR_OBJECTID) return undefined;
  const now = nowTimespec();
  return shouldUpdateAtime(options, isDir(item.mode), item.atime, item.mtime, item.ctime, now, (item.flags & InodeFlags.NOATIME) !== 0) ? now : undefined;
}

/**
 * touchAtime for a caller that holds the filesystem already (a read's own turn of the mutex):
 * the update, when due, joins the running transaction (started if none) instead of taking a
 * turn of its own. `item` is the inode as read in this turn; it may be the cache's own
 * (peekInode), so it is not changed: the update is made on a copy.
 */
export async function touchAtimeHeld(fs: FsInfo, options: Filesystem['options'], loc: Loc, item: Readonly<InodeItem>): Promise<void> {
  const now = atimeDue(fs, options, loc, item);
  if (now === undefined) return;
  if (fs.transid === 0) startTransaction(fs);
  const copy = cloneInode(item);
  copy.atime = now;
  await writeInode(fs, loc.root, loc.ino, copy, true);
}

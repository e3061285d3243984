// node's fs.Stats, fs.BigIntStats and fs.Dirent, filled from a btrfs INODE_ITEM and directory
// entries. Field for field what node's stat gives on Linux btrfs:
//   dev      the subvolume id (Linux gives each subvolume its own anonymous device; the id
//            is the stable stand-in until subvolumes are mounted as such)
//   blksize  4096 (the sectorsize btrfs reports), blocks = nbytes / 512 rounded up
//   birthtime from otime (btrfs's creation time, what statx reports as btime)
import type { Timespec } from '../format/struct.js';
import { FileType } from '../format/constants.js';
import type { InodeItem } from '../inode/inode.js';
import { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK } from '../inode/inode.js';

const BLKSIZE = 4096;

abstract class StatsBase<T extends number | bigint> {
  abstract dev: T;
  abstract mode: T;

  private fmt(): number {
    return Number(this.mode) & S_IFMT;
  }
  isFile(): boolean { return this.fmt() === S_IFREG; }
  isDirectory(): boolean { return this.fmt() === S_IFDIR; }
  isSymbolicLink(): boolean { return this.fmt() === S_IFLNK; }
  isBlockDevice(): boolean { return this.fmt() === S_IFBLK; }
  isCharacterDevice(): boolean { return this.fmt() === S_IFCHR; }
  isFIFO(): boolean { return this.fmt() === S_IFIFO; }
  isSocket(): boolean { return this.fmt() === S_IFSOCK; }
}

/** Milliseconds as node computes them from a timespec (fractional: sec * 1e3 + nsec / 1e6). */
export function timespecMs(t: Timespec): number {
  return t.sec * 1e3 + t.nsec / 1e6;
}

export class Stats extends StatsBase<number> {
  dev: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  blksize: number;
  ino: number;
  size: number;
  blocks: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  birthtimeMs: number;

  constructor(dev: number, ino: number, item: InodeItem) {
    super();
    this.dev = dev;
    this.mode = item.mode;
    this.nlink = item.nlink;
    this.uid = item.uid;
    this.gid = item.gid;
    this.rdev = item.rdev;
    this.blksize = BLKSIZE;
    this.ino = ino;
    this.size = item.size;
    this.blocks = Math.ceil(item.nbytes / 512);
    this.atimeMs = timespecMs(item.atime);
    this.mtimeMs = timespecMs(item.mtime);
    this.ctimeMs = timespecMs(item.ctime);
    this.birthtimeMs = timespecMs(item.otime);
  }

  // The Dates are made on first use from the *Ms fields (as node does since v18): most stats
  // never read them, and a Stats crossing the worker boundary carries only the numbers.
  get atime(): Date { return ownDate(this, 'atime', this.atimeMs); }
  set atime(d: Date) { ownDate(this, 'atime', d); }
  get mtime(): Date { return ownDate(this, 'mtime', this.mtimeMs); }
  set mtime(d: Date) { ownDate(this, 'mtime', d); }
  get ctime(): Date { return ownDate(this, 'ctime', this.ctimeMs); }
  set ctime(d: Date) { ownDate(this, 'ctime', d); }
  get birthtime(): Date { return ownDate(this, 'birthtime', this.birthtimeMs); }
  set birthtime(d: Date) { ownDate(this, 'birthtime', d); }
}

/** Makes `d` (or a Date of `d` ms) the own, writable property `name` of `stats`, and returns it. */
function ownDate(stats: Stats, name: 'atime' | 'mtime' | 'ctime' | 'birthtime', d: Date | number): Date {
  const value = typeof d === 'number' ? new Date(d) : d;
  Object.defineProperty(stats, name, { value, writable: true, enumerable: true, configurable: true });
  return value;
}

const nsOf = (t: Timespec) => BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);

export class BigIntStats extends StatsBase<bigint> {
  dev: bigint;
  mode: bigint;
  nlink: bigint;
  uid: bigint;
  gid: bigint;
  rdev: bigint;
  blksize: bigint;
  ino: bigint;
  size: bigint;
  blocks: bigint;
  atimeMs: bigint;
  mtimeMs: bigint;
  ctimeMs: bigint;
  birthtimeMs: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  birthtimeNs: bigint;
  atime: Date;
  mtime: Date;
  ctime: Date;
  birthtime: Date;

  constructor(dev: number, ino: number, item: InodeItem) {
    super();
    this.dev = BigInt(dev);
    this.mode = BigInt(item.mode);
    this.nlink = BigInt(item.nlink);
    this.uid = BigInt(item.uid);
    this.gid = BigInt(item.gid);
    this.rdev = BigInt(item.rdev);
    this.blksize = BigInt(BLKSIZE);
    this.ino = BigInt(ino);
    this.size = BigInt(item.size);
    this.blocks = BigInt(Math.ceil(item.nbytes / 512));
    this.atimeNs = nsOf(item.atime);
    this.mtimeNs = nsOf(item.mtime);
    this.ctimeNs = nsOf(item.ctime);
    this.birthtimeNs = nsOf(item.otime);
    this.atimeMs = this.atimeNs / 1_000_000n;
    this.mtimeMs = this.mtimeNs / 1_000_000n;
    this.ctimeMs = this.ctimeNs / 1_000_000n;
    this.birthtimeMs = this.birthtimeNs / 1_000_000n;
    this.atime = new Date(Number(this.atimeMs));
    this.mtime = new Date(Number(this.mtimeMs));
    this.ctime = new Date(Number(this.ctimeMs));
    this.birthtime = new Date(Number(this.birthtimeMs));
  }
}

/** A directory entry as node's readdir({ withFileTypes: true }) and Dir.read() return it. */
export class Dirent<N extends string | Uint8Array = string> {
  constructor(
    readonly name: N,
    /** FT_* of the entry. */
    private readonly fileType: number,
    /** The directory that holds the entry, as given (node 20.12+; `path` is its older alias). */
    readonly parentPath: string,
  ) {}
  get path(): string { return this.parentPath; }
  isFile(): boolean { return this.fileType === FileType.REG_FILE; }
  isDirectory(): boolean { return this.fileType === FileType.DIR; }
  isSymbolicLink(): boolean { return this.fileType === FileType.SYMLINK; }
  isBlockDevice(): boolean { return this.fileType === FileType.BLKDEV; }
  isCharacterDevice(): boolean { return this.fileType === FileType.CHRDEV; }
  isFIFO(): boolean { return this.fileType === FileType.FIFO; }
  isSocket(): boolean { return this.fileType === FileType.SOCK; }
}

/** node's StatFs (statfs(2) as fs.promises.statfs returns it). */
export interface StatFs {
  type: number;
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
}

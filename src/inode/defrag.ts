// File defragmentation (btrfs defrag.c: btrfs_defrag_file, defrag_collect_targets,
// defrag_check_next_extent; the checks of ioctl.c btrfs_ioctl_defrag; btrfs-progs'
// `filesystem defragment` for the defaults and the recursion).
//
// Owns which parts of a file are rewritten ("targets") and the loop over a file and over a
// directory tree; the rewrite itself is file.ts's defragRewrite (the write path, COW,
// compression). The rules, as btrfs's:
//  * holes and PREALLOC extents are never targets; an inline extent is one unless max_inline
//    reaches a sector (the kernel compares the inline map's sector-sized length with it);
//  * with a codec (`compress`), every other extent is a target, compressed already or not
//    (so `-czstd` converts a zlib file, fstests btrfs/260);
//  * otherwise an extent is a target when it is shorter than the threshold (default 32 MiB as
//    btrfs-progs passes it; 0 means the kernel's 256 KiB), below its maximum size (128 MiB;
//    128 KiB for a compressed one), and either the next extent is a target too
//    (defrag_check_next_extent: not a hole, not PREALLOC, not at the maximum, under the
//    threshold, and this one is not the file's last) or it continues the previous target;
//  * targets are rewritten through the write path in the running transaction: new extents,
//    the old ones released (extents shared with a snapshot or a reflink are unshared: the
//    file gets its own copy, and the space the shared extents take stays until nothing else
//    refers to them, as on Linux);
//  * the extent maps are the file extent items one by one, as btrfs sees them with a cold
//    extent map cache (after a mount): the kernel also merges the maps of extents that are
//    contiguous on disk when they are cached, which makes it skip some of them.
//
// A file is done in steps of at most WINDOW bytes of the file, each in its own turn of the
// filesystem's writer (other calls, and the periodic commit, run in between); the step
// re-reads the file's extents, so a file that changes between steps is handled as it is
// then. The signal is checked between steps: a cancelled run ends with ECANCELED and keeps
// what it rewrote (every step leaves the file consistent).
import type { FsInfo, Root } from '../fs/fs-info.js';
import { FileExtentType, FileType, CompressionType } from '../format/constants.js';
import { readInode, isDir, isReg } from './inode.js';
import { checkMutable } from './namei.js';
import { defragRewrite } from './file.js';
import { findFileExtents, fileExtentEnd, isHole, type FileExtent } from './file-item.js';
import { walkTree, type ReadTurn, type TreeEntry } from './walk.js';
import type { CompressionName } from '../kernels/compression.js';
import { BTRFS_MAX_COMPRESSED } from '../kernels/compression.js';
import { MAX_EXTENT_SIZE } from '../format/constants.js';
import { FsError, isFsError, type ErrorCode } from '../util/errors.js';
import { assert } from '../util/assert.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** btrfs_defrag_file: extent_thresh 0 means this. */
export const KERNEL_DEFAULT_THRESH_BYTES = 256 * KiB;
/** btrfs-progs `filesystem defragment` passes this unless -t says otherwise. */
export const PROGS_DEFAULT_THRESH_BYTES = 32 * MiB;
/** extent_thresh is a u32 in btrfs_ioctl_defrag_range_args (progs trims -t to it). */
export const MAX_THRESH_BYTES = 0xffff_ffff;
/**
 * Bytes of the file one step covers. A target is rewritten by one call of the write path, so
 * this is also the largest extent a plain (uncompressed) defrag makes; equal to progs'
 * default threshold, so that a second run with the defaults leaves the result alone.
 * Compressed extents hold 128 KiB each whatever the step, so those steps are smaller (a
 * finer progress and a quicker cancel).
 */
const WINDOW_BYTES = 32 * MiB;
const COMPRESS_WINDOW_BYTES = 2 * MiB;

export interface DefragSettings {
  /** First byte of each file to look at (rounded down to a sector). */
  start: number;
  /** Bytes from start; Infinity: to the end of the file. */
  length: number;
  /** Extents at least this long are left alone (ignored with `compress`). */
  extentThresholdBytes: number;
  /** Recompress with this codec and level (0: the codec's default). */
  compress?: { codec: CompressionName; level: number };
}

export interface DefragProgress {
  /** The file being defragmented. */
  path: string;
  /** Where in it the next step starts, and its size. */
  fileOffset: number;
  fileBytes: number;
  /** Regular files finished so far. */
  filesDone: number;
  /** Bytes rewritten so far, over all files. */
  rewrittenBytes: number;
}

export interface DefragFailure {
  path: string;
  code: ErrorCode;
  message: string;
}

export interface DefragResult {
  /** Regular files looked at. */
  files: number;
  /** Bytes of file data rewritten (BTRFS_IOC_DEFRAG_RANGE's sectors defragged, in bytes). */
  rewrittenBytes: number;
  /**
   * Files of a recursive run that failed (progs reports each and goes on). A single file's
   * failure is thrown instead.
   */
  failures: DefragFailure[];
}

export interface DefragTurns {
  /** Runs `fn` with exclusive access, in the running transaction (started if none). */
  write: <T>(fn: (fs: FsInfo) => Promise<T>) => Promise<T>;
  /** Runs `fn` with exclusive access, changing nothing. */
  read: ReadTurn;
}

export interface DefragRun {
  signal?: AbortSignal;
  onProgress?: (p: DefragProgress) => void;
}

interface Target {
  start: number;
  end: number;
}

const alignDown = (n: number, a: number): number => Math.floor(n / a) * a;
const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** get_extent_max_capacity. */
function maxCapacity(fe: FileExtent): number {
  return fe.compression !== CompressionType.NONE ? BTRFS_MAX_COMPRESSED : MAX_EXTENT_SIZE;
}

/** The length of the extent map of an item (an inline extent's map is one sector). */
function mapLength(fs: FsInfo, fe: FileExtent): number {
  return fe.type === FileExtentType.INLINE ? fs.sectorsize : fe.numBytes;
}

function mapEnd(fs: FsInfo, fe: FileExtent): number {
  return fe.type === FileExtentType.INLINE ? fs.sectorsize : fileExtentEnd(fe);
}

/** defrag_check_next_extent: whether the extent after `fe` is worth merging with it. */
async function nextMergeable(fs: FsInfo, root: Root, ino: number, fe: FileExtent, sizeBytes: number, threshBytes: number): Promise<boolean> {
  const end = mapEnd(fs, fe);
  if (end >= sizeBytes) return false;
  const [next] = await findFileExtents(fs, root, ino, end, end + 1, 1);
  // No item at `end`: a hole (NO_HOLES) up to the next item.
  if (!next || next.fileOffset > end || isHole(next) || next.type === FileExtentType.PREALLOC) return false;
  const len = mapLength(fs, next);
  // The kernel compares with the capacity of the current extent's kind.
  if (len >= maxCapacity(fe)) return false;
  return len < threshBytes;
}

/**
 * defrag_collect_targets over [start, end) (whole sectors) of a file of `sizeBytes`: the
 * ranges to rewrite, clipped to [start, end), adjacent ones joined.
 */
export async function collectTargets(fs: FsInfo, root: Root, ino: number, sizeBytes: number, start: number, end: number, s: DefragSettings): Promise<Target[]> {
  const targets: Target[] = [];
  const thresh = s.extentThresholdBytes;
  for (const fe of await findFileExtents(fs, root, ino, start, end)) {
    const a = Math.max(fe.fileOffset, start);
    const b = Math.min(mapEnd(fs, fe), end);
    if (b <= a) continue;
    const last = targets[targets.length - 1];
    const add = () => {
      if (last && last.end === a) last.end = b;
      else targets.push({ start: a, end: b });
    };
    if (fe.type === FileExtentType.INLINE && fs.sectorsize <= fs.options.maxInlineBytes) continue;
    if (isHole(fe) || fe.type === FileExtentType.PREALLOC) continue;
    if (s.compress) {
      add();
      continue;
    }
    const len = mapLength(fs, fe);
    if (len >= thresh || len >= maxCapacity(fe)) continue;
    if (fe.type === FileExtentType.INLINE) {
      add();
      continue;
    }
    if (!(await nextMergeable(fs, root, ino, fe, sizeBytes, thresh)) && !(last && last.end === a)) continue;
    add();
  }
  return targets;
}

/**
 * One step of btrfs_defrag_file from file offset `cur`: the targets of the next window
 * rewritten. Returns where the next step starts (undefined when the file is done) and the
 * bytes rewritten. Runs in one write turn.
 */
export async function defragStep(fs: FsInfo, root: Root, ino: number, cur: number, s: DefragSettings): Promise<{ next: number | undefined; rewrittenBytes: number; sizeBytes: number }> {
  checkMutable(root);
  const inode = await readInode(fs, root, ino);
  if (isDir(inode.mode)) throw new FsError('EISDIR', `inode ${ino} is a directory`);
  if (!isReg(inode.mode)) throw new FsError('EINVAL', `inode ${ino} is not a regular file`);
  const ss = fs.sectorsize;
  const sizeBytes = inode.size;
  const lastByte = alignUp(Math.min(sizeBytes, s.start + s.length), ss);
  if (cur >= lastByte) return { next: undefined, rewrittenBytes: 0, sizeBytes };
  const windowEnd = Math.min(cur + (s.compress ? COMPRESS_WINDOW_BYTES : WINDOW_BYTES), lastByte);
  let rewrittenBytes = 0;
  for (const t of await collectTargets(fs, root, ino, sizeBytes, cur, windowEnd, s)) {
    assert(t.start % ss === 0 && t.end > t.start, `defrag target [${t.start}, ${t.end})`);
    rewrittenBytes += await defragRewrite(fs, root, ino, t.start, alignUp(t.end, ss) - t.start, { compress: s.compress });
  }
  return { next: windowEnd < lastByte ? windowEnd : undefined, rewrittenBytes, sizeBytes };
}

function checkCancel(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new FsError('ECANCELED', 'defragment cancelled', { cause: signal.reason });
}

/**
 * BTRFS_IOC_DEFRAG_RANGE on one regular file, in steps. EINVAL when `start` is at or past
 * the end of a non-empty file (an empty file is done at once), as the kernel.
 */
async function defragFile(turns: DefragTurns, file: TreeEntry, s: DefragSettings, run: DefragRun, totals: DefragResult): Promise<void> {
  let cur: number | undefined;
  let sizeBytes = 0;
  for (let step = 0; ; step++) {
    assert(step < 1 << 30, 'defragment did not progress');
    checkCancel(run.signal);
    const at = cur;
    const r = await turns.write(async (fs) => {
      if (at === undefined) {
        const inode = await readInode(fs, file.root, file.ino);
        if (isReg(inode.mode) && inode.size > 0 && s.start >= inode.size) {
          throw new FsError('EINVAL', `start ${s.start} is at or past the end of the file (${inode.size} bytes)`);
        }
      }
      return defragStep(fs, file.root, file.ino, at ?? alignDown(s.start, fs.sectorsize), s);
    });
    totals.rewrittenBytes += r.rewrittenBytes;
    sizeBytes = r.sizeBytes;
    cur = r.next;
    if (cur === undefined) break;
    run.onProgress?.({ path: file.path, fileOffset: cur, fileBytes: sizeBytes, filesDone: totals.files, rewrittenBytes: totals.rewrittenBytes });
  }
  totals.files++;
  run.onProgress?.({ path: file.path, fileOffset: sizeBytes, fileBytes: sizeBytes, filesDone: totals.files, rewrittenBytes: totals.rewrittenBytes });
}

/**
 * `btrfs filesystem defragment [-r]` of `top`: a regular file is defragmented (its errors
 * thrown); a directory with `recursive` has every regular file below it defragmented, in
 * the same subvolume only, each inode once (hard links), symlinks not followed, failures of
 * single files collected as progs reports them. A directory without `recursive` asks Linux
 * to defragment the subvolume's metadata tree (btrfs_defrag_root); butterfs has no tree
 * defragmenter, so that does nothing and succeeds. Other file types: EINVAL.
 */
export async function defragment(turns: DefragTurns, top: TreeEntry, s: DefragSettings, options: DefragRun & { recursive: boolean }): Promise<DefragResult> {
  const totals: DefragResult = { files: 0, rewrittenBytes: 0, failures: [] };
  checkMutable(top.root);
  if (top.type === FileType.REG_FILE) {
    await defragFile(turns, top, s, options, totals);
    return totals;
  }
  if (top.type !== FileType.DIR) throw new FsError('EINVAL', `${top.path} is not a regular file or a directory`);
  if (!options.recursive) return totals;
  const done = new Set<string>();
  for await (const e of walkTree(turns.read, top, { crossSubvolumes: false })) {
    checkCancel(options.signal);
    if (e.type !== FileType.REG_FILE) continue;
    const id = `${e.root.objectid}:${e.ino}`;
    if (done.has(id)) continue;
    done.add(id);
    try {
      await defragFile(turns, e, s, options, totals);
    } catch (err) {
      if (isFsError(err, 'ECANCELED') || !(err instanceof FsError)) throw err;
      // Per-file failures are reported and the walk goes on (progs' defrag_callback); a
      // file removed since it was listed is no failure.
      if (err.code === 'ENOENT') continue;
      totals.failures.push({ path: e.path, code: err.code, message: err.message });
    }
  }
  return totals;
}

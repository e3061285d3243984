// File data (btrfs file.c, inode.c, reflink.c): read, write, truncate, fallocate, reflink
// and freeing the data of regular files, over file extent items (file-item.ts), data extent
// refs (fs/extent-tree.ts) and data checksums (fs/csum-tree.ts).
//
// There is no page cache: each write allocates its own extents. The bytes of a write go to
// sector-aligned disk extents (partial sectors at the edges are read, modified and written),
// which is what btrfs's writeback (cow_file_range / run_delalloc_nocow) does with the dirty
// pages of the same range; the new extents' device writes (small ones) and checksums wait in
// fs/writeback.ts until the commit, which writes them coalesced before any metadata.
// Behaviours ported:
//  * COW (cow_file_range): new extents of at most BTRFS_MAX_EXTENT_SIZE (128 MiB),
//    checksummed (one checksum batch per extent) and handed to the writeback, then the old file
//    extents in the range replaced (btrfs_drop_extents: split, trimmed or dropped, with
//    their refs), the new item inserted and its data ref queued;
//  * NOCOW (run_delalloc_nocow / can_nocow_file_extent): for inodes with NODATACOW or
//    PREALLOC, in place into PREALLOC extents, and into REG extents of NODATACOW inodes,
//    when the extent is not shared (btrfs_cross_ref_exist: one inline ref, ours, generation
//    above the root's last_snapshot, no other queued ref) and has no checksums in the range;
//    a written PREALLOC range becomes REG (btrfs_mark_extent_written);
//  * inline extents (cow_file_range_inline): a whole file of at most max_inline bytes and
//    less than a sector, at offset 0, for inodes without NODATACOW / PREALLOC; a file that
//    outgrows it gets its first sector as a regular extent;
//  * truncate (btrfs_setsize / btrfs_truncate / btrfs_truncate_inode_items): down zeroes the
//    tail of the last partial sector (a COW of that sector, btrfs_truncate_block) and drops
//    or trims extents past it; up is a hole (no item with NO_HOLES, a hole item without);
//  * fallocate (btrfs_fallocate / __btrfs_prealloc_file_range): PREALLOC extents (at most
//    256 MiB each, no checksums) over holes and over non-prealloc extents past EOF; sets the
//    inode's PREALLOC flag; KEEP_SIZE leaves i_size alone;
//  * reflink (btrfs_clone / FICLONERANGE checks): new items naming the same disk extents
//    with adjusted offsets, refs added, no data copied (inline extents are copied);
//  * reads verify every sector against the csum tree (NODATASUM inodes have none): a bad
//    copy is retried from the other mirrors and repaired from a good one, else EIO; a read
//    never returns bytes that failed their checksum.
//  * compression (compress_file_range, btrfs_submit_compressed_read): for inodes that may
//    compress (not NODATACOW / NODATASUM) and want to (compress-force; else not NOCOMPRESS
//    and one of compress=, chattr +c, the compression property), COW writes go in chunks
//    of at most 128 KiB of input; each chunk passes the heuristic (unless forced), is
//    compressed, and is kept only when it saves at least a sector (kernels/compression.ts);
//    otherwise it is written uncompressed and the inode gets the sticky NOCOMPRESS flag
//    (unless forced or the property is set), so later writes do not try again. A kept
//    chunk is one disk extent of round_up(compressed, sectorsize) bytes, zero padded, its
//    checksums over those on-disk bytes, ram_bytes = num_bytes = the chunk. A whole small
//    file (at most a sector) may be a compressed inline extent (compressRaw, at most
//    max_inline bytes compressed). Compressed extents are never written in place: an
//    overwrite is COW, and items trimmed by it keep naming the whole compressed extent
//    with their offset into the decompressed bytes. Reads of a compressed extent read all
//    of it, verify its checksums (read repair as for any data), decompress to ram_bytes
//    (corrupt data: EIO, never wrong bytes) and take the item's part. The first LZO / ZSTD
//    extent sets the superblock's COMPRESS_LZO / COMPRESS_ZSTD incompat bit.
// Encrypted or otherwise encoded extents are refused with EOPNOTSUPP.
//
// Durability: data is written to the device (awaited) before the items naming it are
// inserted; the commit flushes every device after writing the tree blocks and before the
// superblocks, so no committed metadata can name data that did not reach the device. NOCOW
// writes overwrite committed data in place (that is what NODATACOW means); into PREALLOC
// extents they are invisible to the committed trees, which still call the range PREALLOC.
//
// Run to completion: the caller holds the filesystem's one writer (api/filesystem.ts) and a
// transaction is running for everything but readFile.
import { viewOf, type Timespec } from '../format/struct.js';
import { ExtentItem, ExtentDataRef, FileExtentHead, FileExtentItem, InodeItem as InodeItemStruct } from '../format/structs.js';
import { Key, compareKeys } from '../format/key.js';
import {
  ItemType, FileExtentType, CompressionType, InodeFlags, IncompatFlags, BlockGroupFlags, MAX_EXTENT_SIZE,
} from '../format/constants.js';
import { checksum, csumSizeBytes, checksumMatches, checksumSectorsInto } from '../kernels/checksum.js';
import { DEFER_SUMS } from '../fs/writeback.js';
import { lookup, nextLeafKey, replaceLeafItems, searchSlot, setItemKeySafe, truncateItem } from '../tree/ctree.js';
import { ITEM_SIZE, maxItemSize } from '../tree/extent-buffer.js';
import { settleWriteTail, type DirtySectorsTail, type FsInfo, type Root } from '../fs/fs-info.js';
import { allocateSpaceRange } from '../fs/space.js';
import { insertCsums, lookupCsums, csumsExist } from '../fs/csum-tree.js';
import { FsError, isFsError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import { readInode, findInode, writeInode, cloneInode, nowTimespec, isDir, isReg, type InodeItem } from './inode.js';
import { findXattr } from './namei.js';
import {
  compressRaw, decompress, decompressInline, heuristic, loadCompressionKernels, compressionTypeById,
  compressionTypeByName, effectiveLevel, BTRFS_MAX_UNCOMPRESSED, BTRFS_MAX_COMPRESSED, type CompressionName,
} from '../kernels/compression.js';
import { CompressPool, defaultPoolOptions, type ChunkStream } from '../kernels/compress-pool.js';
import { releaseChunkBuffer } from '../kernels/compress-chunk.js';
import { POOL_CHUNK_BYTES, takeChunk, giveChunks } from '../util/chunk-pool.js';
import {
  type FileExtent, fileExtentKey, findFileExtents, fileExtentEnd, encodeFileExtent, insertFileExtent, insertFileExtentDeferred, newFileExtent,
  holeFileExtent, isHole, decodeFileExtent, deleteFileExtent, insertFileExtents,
} from './file-item.js';
import {
  cachedFileExtents, rememberFileExtents, invalidateFileExtents, forgetFileExtents, extentMapVerify, extentMapStats,
} from './extent-map.js';

const MiB = 1024 * 1024;
/**
 * The largest file size and offset. Linux allows MAX_LFS_FILESIZE (2^63 - 1); butterfs keeps
 * offsets as JS numbers (ARCHITECTURE.md, Numbers), so 2^53 - 1.
 */
export const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER;
/** __btrfs_prealloc_file_range allocates at most this much per extent. */
const MAX_PREALLOC_EXTENT_BYTES = 256 * MiB;

/** One operation's view of a file: its inode item, changed in memory and written once at the end. */
interface FileState {
  fs: FsInfo;
  root: Root;
  ino: number;
  inode: InodeItem;
  /** BTRFS_IOC_DEFRAG_RANGE with a codec (inode->defrag_compress): set only by defragRewrite. */
  defragCompress?: { codec: CompressionName; level: number };
}

const alignDown = (n: number, a: number): number => Math.floor(n / a) * a;
const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

function hasDataSum(st: FileState): boolean {
  return (st.inode.flags & InodeFlags.NODATASUM) === 0;
}

function noHoles(fs: FsInfo): boolean {
  return (fs.sb.incompatFlags & IncompatFlags.NO_HOLES) !== 0;
}

function checkOffset(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new FsError('EINVAL', `${what} ${n} is not an offset`);
}

function requireWritable(fs: FsInfo): void {
  if (fs.readonly) throw new FsError('EROFS', 'filesystem is mounted read-only');
  assert(fs.transid > 0, 'file data changed outside a transaction');
}

async function loadFile(fs: FsInfo, root: Root, ino: number): Promise<FileState> {
  const inode = await readInode(fs, root, ino);
  if (isDir(inode.mode)) throw new FsError('EISDIR', `inode ${ino} is a directory`);
  if (!isReg(inode.mode)) throw new FsError('EINVAL', `inode ${ino} is not a regular file`);
  return { fs, root, ino, inode };
}

/** Stamps a data change (file_modified: mtime, ctime, i_version) and writes the inode. */
async function finishWrite(st: FileState, times: { mtime: boolean }, now = nowTimespec()): Promise<void> {
  st.inode.ctime = now;
  if (times.mtime) st.inode.mtime = now;
  st.inode.sequence += 1;
  assert(st.inode.nbytes >= 0, () => `inode ${st.ino}: nbytes went below zero`);
  await writeInode(st.fs, st.root, st.ino, st.inode);
}

// ---------------------------------------------------------------- the extent map

/**
 * findFileExtents through the inode's extent map (extent-map.ts): a range seen before costs no
 * search. The items returned are shared with the map: callers copy before changing one.
 */
async function fileExtentsIn(st: FileState, start: number, end: number, limit = Infinity): Promise<FileExtent[]> {
  const generation = st.inode.generation;
  const cached = cachedFileExtents(st.root, st.ino, generation, start, end);
  if (cached) {
    const out = cached.length > limit ? cached.slice(0, limit) : cached;
    if (extentMapVerify()) {
      const fresh = await findFileExtents(st.fs, st.root, st.ino, start, end, limit);
      assert(JSON.stringify(out) === JSON.stringify(fresh), () => `inode ${st.ino}: extent map for [${start}, ${end}) differs from the tree`);
    }
    extentMapStats.hits++;
    return out;
  }
  extentMapStats.misses++;
  const found = await findFileExtents(st.fs, st.root, st.ino, start, end, limit);
  // With a limit, only the range up to the last item found is known whole.
  const known = found.length < limit ? end : Math.min(end, fileExtentEnd(found[found.length - 1]));
  rememberFileExtents(st.root, st.ino, generation, start, known, found);
  return found;
}

// ---------------------------------------------------------------- reading

/**
 * Reads [offset, offset + length) of a regular file, short at EOF (empty past it). Holes
 * and PREALLOC extents read as zeros. EIO when a sector fails its checksum on every copy.
 */
export async function readFile(fs: FsInfo, root: Root, ino: number, offset: number, length: number): Promise<Uint8Array> {
  checkOffset(offset, 'read offset');
  checkOffset(length, 'read length');
  const inode = await readInode(fs, root, ino);
  if (isDir(inode.mode)) throw new FsError('EISDIR', `inode ${ino} is a directory`);
  if (offset >= inode.size || length === 0) return new Uint8Array(0);
  const out = new Uint8Array(Math.min(inode.size, offset + length) - offset);
  await readRangeInto({ fs, root, ino, inode }, offset, out);
  return out;
}

/**
 * readFile into the caller's buffer: [offset, offset + dest.length) of a regular file, short
 * at EOF; returns the bytes read (0 past EOF). The data is read from the devices straight into
 * `dest` and verified there; on an error the bytes it was to read are zeroed, so it never
 * holds bytes that failed their checksum. `inode`: the inode item when the caller has just
 * read it (saves a lookup).
 */
export async function readFileInto(fs: FsInfo, root: Root, ino: number, offset: number, dest: Uint8Array, inode?: InodeItem): Promise<number> {
  checkOffset(offset, 'read offset');
  const item = inode ?? await readInode(fs, root, ino);
  if (isDir(item.mode)) throw new FsError('EISDIR', `inode ${ino} is a directory`);
  if (offset >= item.size || dest.length === 0) return 0;
  const n = Math.min(item.size - offset, dest.length);
  const view = n === dest.length ? dest : dest.subarray(0, n);
  try {
    await readRangeInto({ fs, root, ino, inode: item }, offset, view);
  } catch (e) {
    // Never leave bytes that failed (or were not yet checked) in the caller's buffer.
    view.fill(0);
    throw e;
  }
  return n;
}

/** The file's bytes [start, start + len), zeros where nothing is stored. */
async function readRange(st: FileState, start: number, len: number): Promise<Uint8Array> {
  const out = new Uint8Array(len);
  await readRangeInto(st, start, out);
  return out;
}

/** The file's bytes [start, start + out.length) into `out` (every byte written: zeros where nothing is stored). */
async function readRangeInto(st: FileState, start: number, out: Uint8Array): Promise<void> {
  const end = start + out.length;
  const extents = await fileExtentsIn(st, start, end);
  // Bytes of out before `filled` are written; gaps between items (NO_HOLES) read as zeros.
  let filled = start;
  for (const fe of extents) {
    const ks = fe.fileOffset;
    const a = Math.max(ks, start);
    const b = Math.min(fileExtentEnd(fe), end);
    if (a >= b) continue;
    if (fe.encryption !== 0 || fe.otherEncoding !== 0) {
      throw new FsError('EOPNOTSUPP', `inode ${st.ino}: the extent at file offset ${ks} is encrypted or encoded (not supported)`);
    }
    assert(a >= filled, 'file extents overlap');
    if (a > filled) out.fill(0, filled - start, a - start);
    filled = b;
    const dest = out.subarray(a - start, b - start);
    if (fe.type === FileExtentType.INLINE) {
      dest.set((await inlineData(st, fe)).subarray(a - ks, b - ks));
    } else if (isHole(fe) || fe.type === FileExtentType.PREALLOC) {
      dest.fill(0);
    } else if (fe.compression !== CompressionType.NONE) {
      const ram = await readCompressed(st, fe);
      dest.set(ram.subarray(fe.offset + (a - ks), fe.offset + (b - ks)));
    } else {
      await readExtentInto(st, fe, a, dest);
    }
  }
  if (filled < end) out.fill(0, filled - start);
}

/** Unaligned reads up to this size go through one buffer of their whole sectors (one checksum lookup). */
const SMALL_UNALIGNED_READ_BYTES = 128 * 1024;

/**
 * The file bytes [a, a + dest.length) of the uncompressed regular extent `fe` into `dest`. The
 * whole sectors go straight into `dest`; a partial sector at either end is read (and verified)
 * whole into a scratch buffer and its part copied.
 */
async function readExtentInto(st: FileState, fe: FileExtent, a: number, dest: Uint8Array): Promise<void> {
  const ss = st.fs.sectorsize;
  const b = a + dest.length;
  const disk = (x: number) => fe.diskBytenr + fe.offset + (x - fe.fileOffset);
  const sa = alignDown(a, ss);
  const sb = Math.min(alignUp(b, ss), fileExtentEnd(fe));
  if (sa === a && sb === b) return readDataInto(st, disk(a), dest, a);
  if (sb - sa <= SMALL_UNALIGNED_READ_BYTES) {
    const tmp = new Uint8Array(sb - sa);
    await readDataInto(st, disk(sa), tmp, sa);
    dest.set(tmp.subarray(a - sa, b - sa));
    return;
  }
  const ma = alignUp(a, ss);
  const mb = alignDown(b, ss);
  if (sa < a) {
    const head = new Uint8Array(ma - sa);
    await readDataInto(st, disk(sa), head, sa);
    dest.set(head.subarray(a - sa), 0);
  }
  if (ma < mb) await readDataInto(st, disk(ma), dest.subarray(ma - a, mb - a), ma);
  if (mb < b) {
    const tail = new Uint8Array(sb - mb);
    await readDataInto(st, disk(mb), tail, mb);
    dest.set(tail.subarray(0, b - mb), mb - a);
  }
}

/** The codec of a compressed extent; EIO for an id btrfs does not define (the item is corrupt). */
function codecOf(st: FileState, fe: FileExtent): CompressionName {
  try {
    return compressionTypeById(fe.compression).name;
  } catch (e) {
    if (isFsError(e, 'EIO')) throw new FsError('EIO', `inode ${st.ino}, file offset ${fe.fileOffset}: unknown compression type ${fe.compression}`);
    throw e;
  }
}

/** Runs a decompression kernel; a corrupt stream is EIO naming the extent. */
function decompressed(st: FileState, fe: FileExtent, run: () => Uint8Array): Uint8Array {
  try {
    return run();
  } catch (e) {
    if (isFsError(e, 'EIO')) throw new FsError('EIO', `inode ${st.ino} of subvolume ${st.root.objectid}, file offset ${fe.fileOffset}: ${(e as Error).message}`);
    throw e;
  }
}

/** An inline extent's file bytes (ram_bytes of them), decompressed when it is compressed. */
async function inlineData(st: FileState, fe: FileExtent): Promise<Uint8Array> {
  assert(fe.type === FileExtentType.INLINE, 'inlineData of a non-inline extent');
  if (fe.compression === CompressionType.NONE) return fe.inline!;
  const codec = codecOf(st, fe);
  if (fe.ramBytes > st.fs.sectorsize) throw new FsError('EIO', `inode ${st.ino}: compressed inline extent of ${fe.ramBytes} bytes`);
  await loadCompressionKernels();
  return decompressed(st, fe, () => decompressInline(codec, fe.inline!, fe.ramBytes, st.fs.sectorsize));
}

/**
 * btrfs_submit_compressed_read: the whole compressed extent of `fe` read and verified
 * against its checksums (which cover the on-disk bytes), then decompressed to ram_bytes.
 * Sizes come from disk: anything btrfs would not write is EIO before any work.
 */
async function readCompressed(st: FileState, fe: FileExtent): Promise<Uint8Array> {
  const ss = st.fs.sectorsize;
  const codec = codecOf(st, fe);
  const where = `inode ${st.ino}, file offset ${fe.fileOffset}`;
  if (fe.diskNumBytes <= 0 || fe.diskNumBytes % ss !== 0 || fe.diskNumBytes > BTRFS_MAX_COMPRESSED) {
    throw new FsError('EIO', `${where}: compressed extent of ${fe.diskNumBytes} bytes on disk`);
  }
  if (fe.ramBytes <= 0 || fe.ramBytes > BTRFS_MAX_UNCOMPRESSED || fe.offset + fe.numBytes > fe.ramBytes) {
    throw new FsError('EIO', `${where}: compressed extent of ram_bytes ${fe.ramBytes} read at ${fe.offset} + ${fe.numBytes}`);
  }
  const raw = new Uint8Array(fe.diskNumBytes);
  await readDataInto(st, fe.diskBytenr, raw, fe.fileOffset - fe.offset);
  await loadCompressionKernels();
  return decompressed(st, fe, () => decompress(codec, raw, fe.ramBytes, ss));
}

/** Digests computed by readDataInto, reused (grown as needed): only used between two awaits. */
let digestScratch = new Uint8Array(1024);

/**
 * Reads [logical, logical + dest.length) (whole sectors) into `dest` and verifies every sector
 * against the csum tree (one lookup, one batched checksum call); a sector that fails is read
 * from the other copies, the first good one is used and written over the bad copy (read
 * repair). EIO naming the inode and file offset when none is good (`dest` then holds bytes
 * that failed: callers that hand out `dest` zero it, see readFileInto).
 */
async function readDataInto(st: FileState, logical: number, dest: Uint8Array, fileOffset: number): Promise<void> {
  const { fs } = st;
  const ss = fs.sectorsize;
  const len = dest.length;
  // Written in this transaction and not flushed yet: the bytes the digests were made of.
  if (fs.writeback.readInto(logical, dest)) return;
  await fs.volumes.readLogicalInto(logical, dest);
  if (!hasDataSum(st) || fs.options.ignoreDataCsums) return;
  const size = csumSizeBytes(fs.csum);
  const sectors = len / ss;
  await fs.writeback.resolveSums(fs, logical, len);
  const waiting = fs.writeback.sums(logical, len, ss, size);
  assert(waiting !== undefined || !fs.writeback.overlaps(logical, len), () => `read of ${len} bytes at ${logical} straddles data waiting for writeback`);
  const sums = waiting ? undefined : await lookupCsums(fs, logical, len);
  const expected = waiting ?? sums!.csums;
  if (digestScratch.length < sectors * size) digestScratch = new Uint8Array(sectors * size);
  const got = digestScratch;
  checksumSectorsInto(fs.csum, dest, 0, len, ss, got, 0);
  // The sectors that need a look (synchronously, before any await can reuse the scratch).
  let bad: number[] | undefined;
  for (let i = 0; i < sectors; i++) {
    if ((!sums || sums.found[i]) && equalRange(got, expected, i * size, size)) continue;
    (bad ??= []).push(i);
  }
  if (!bad) return;
  for (const i of bad) {
    const at = logical + i * ss;
    const where = `inode ${st.ino} of subvolume ${st.root.objectid}, file offset ${fileOffset + i * ss} (logical ${at})`;
    if (sums && !sums.found[i]) throw new FsError('EIO', `${where}: no data checksum for the sector`);
    fs.stats.csumErrors++;
    let good: Uint8Array | undefined;
    const copies = fs.volumes.numCopies(at);
    for (let mirror = 2; mirror <= copies && !good; mirror++) {
      const d = await fs.volumes.readLogical(at, ss, mirror);
      if (checksumMatches(fs.csum, d, 0, ss, expected, i * size)) good = d;
      else fs.stats.csumErrors++;
    }
    if (!good) throw new FsError('EIO', `${where}: data checksum mismatch on ${copies} cop${copies === 1 ? 'y' : 'ies'}`);
    dest.set(good, i * ss);
    if (!fs.readonly) await fs.volumes.writeLogicalCopy(at, good, 1);
  }
}

function equalRange(a: Uint8Array, b: Uint8Array, off: number, len: number): boolean {
  for (let i = off; i < off + len; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---------------------------------------------------------------- file extent items and refs

function dataRefOf(st: FileState, fe: FileExtent, itemOffset: number) {
  return { root: st.root.objectid, objectid: st.ino, offset: itemOffset - fe.offset };
}

/** Queues a change of the ref a file extent item at `itemOffset` holds on its disk extent. */
function changeRef(st: FileState, fe: FileExtent, itemOffset: number, delta: number): void {
  assert(!isHole(fe) && fe.type !== FileExtentType.INLINE, 'ref of an extent without disk bytes');
  const { fs } = st;
  fs.delayedRefs.addDataRef(fe.diskBytenr, fe.diskNumBytes, dataRefOf(st, fe, itemOffset), delta, false);
  if (delta < 0 && fe.generation === fs.transid) {
    // An extent of this transaction that nothing refers to any more (a block overwritten twice
    // before the commit): its bytes and checksums need not reach the disk at all. No item names
    // it, so nothing can read it or take a new ref to it; the commit still frees its space.
    const h = fs.delayedRefs.headOf(fe.diskBytenr);
    if (h && h.mustInsert && h.refs.every((r) => r.count === 0)) fs.writeback.drop(fe.diskBytenr, fe.diskNumBytes);
  }
}

/** Bytes an item counts toward the inode's nbytes (inode_add_bytes): none for holes. */
function countedBytes(fe: FileExtent): number {
  return isHole(fe) ? 0 : fe.numBytes;
}

/** Rewrites the item now keyed at `oldOffset` as `fe` (which may move its key within its gap). */
async function rewriteExtent(st: FileState, oldOffset: number, fe: FileExtent): Promise<void> {
  const { fs } = st;
  const { found, path } = await searchSlot(fs, st.root, fileExtentKey(st.ino, oldOffset), { cow: true });
  assert(found, () => `inode ${st.ino}: file extent at ${oldOffset} vanished`);
  const enc = encodeFileExtent(fe);
  const data = path.itemData();
  const old = decodeFileExtent(data, st.ino, oldOffset);
  invalidateFileExtents(st.root, st.ino, Math.min(oldOffset, fe.fileOffset), Math.max(fileExtentEnd(old), fileExtentEnd(fe)));
  assert(data.length === enc.length, 'rewriteExtent changes the item size');
  data.set(enc);
  fs.markDirty(path.leaf);
  if (fe.fileOffset !== oldOffset) setItemKeySafe(fs, path, fileExtentKey(st.ino, fe.fileOffset));
}

/**
 * btrfs_drop_extents: no file extent item covers [start, end) afterwards. Items across an
 * edge are trimmed (one across both is split in two, both holding a ref), items inside are
 * deleted with their refs; nbytes follows. Inline items go whole (they start at 0 and end
 * within the first sector; callers never cut one).
 */
/**
 * A file made in this transaction that holds no bytes yet has no file extent items (with
 * no_holes, holes have none either). Only for inodes of this transaction, whose nbytes this
 * code kept exact from zero.
 */
function hasNoExtents(st: FileState): boolean {
  return st.inode.nbytes === 0 && st.inode.generation === st.fs.transid && noHoles(st.fs);
}

/** Inserts a file extent item; for a file with no items yet its key is new for certain and the insert waits with the other new items (ctree.ts insertDeferred). */
async function putFileExtent(st: FileState, fe: FileExtent): Promise<void> {
  if (hasNoExtents(st)) {
    await insertFileExtentDeferred(st.fs, st.root, st.ino, fe);
    // The file's only item now: its extent map knows [0, end) whole (a gap before a first item
    // past 0, which no_holes leaves without an item), so the first read searches nothing. Not
    // an inline item: its bytes may be the writer's buffer.
    if (fe.inline === undefined) rememberFileExtents(st.root, st.ino, st.inode.generation, 0, fileExtentEnd(fe), [fe]);
  } else {
    await insertFileExtent(st.fs, st.root, st.ino, fe);
  }
}

/**
 * What a COW write asks of dropExtents (btrfs_drop_extents with replace_extent): the tail of an
 * item it splits is handed back to be inserted with the new item (one search), and a regular
 * item starting exactly at `start` that lies inside the range is left in the tree (its ref and
 * bytes dropped all the same) for the caller to overwrite in place with the new item, which has
 * the same key and size: no delete and insert, no leaf shifting.
 */
interface DropForReplace {
  tails: FileExtent[];
  keptAtStart: boolean;
}

async function dropExtents(st: FileState, start: number, end: number, replace?: DropForReplace): Promise<void> {
  const { fs, root, ino } = st;
  if (hasNoExtents(st)) return;
  let cur = start;
  // Each round removes or trims one item inside [start, end): bounded by the items there.
  for (let round = 0; cur < end; round++) {
    assert(round < 1 << 30, 'dropExtents did not progress');
    const [fe] = await fileExtentsIn(st, cur, end, 1);
    if (!fe) return;
    const ks = fe.fileOffset;
    const ke = fileExtentEnd(fe);
    if (fe.type === FileExtentType.INLINE) {
      assert(ks >= start, () => `inode ${ino}: dropping [${start}, ${end}) would cut the inline extent`);
      await deleteFileExtent(fs, root, ino, fe);
      st.inode.nbytes -= fe.ramBytes;
      cur = ke;
      continue;
    }
    const counted = !isHole(fe);
    if (ks < start && ke > end) {
      await rewriteExtent(st, ks, { ...fe, numBytes: start - ks });
      const tail: FileExtent = { ...fe, fileOffset: end, offset: fe.offset + (end - ks), numBytes: ke - end };
      if (replace) replace.tails.push(tail);
      else await insertFileExtent(fs, root, ino, tail);
      if (counted) {
        changeRef(st, tail, end, +1);
        st.inode.nbytes -= end - start;
      }
      return;
    }
    if (ks < start) {
      await rewriteExtent(st, ks, { ...fe, numBytes: start - ks });
      if (counted) st.inode.nbytes -= ke - start;
      cur = ke;
      continue;
    }
    if (ke > end) {
      await rewriteExtent(st, ks, { ...fe, fileOffset: end, offset: fe.offset + (end - ks), numBytes: ke - end });
      if (counted) st.inode.nbytes -= end - ks;
      return;
    }
    if (replace && ks === start && !replace.keptAtStart) replace.keptAtStart = true;
    else await deleteFileExtent(fs, root, ino, fe);
    if (counted) {
      changeRef(st, fe, ks, -1);
      st.inode.nbytes -= fe.numBytes;
    }
    cur = ke;
  }
}

/** Hole items over the parts of [start, end) without items (only without NO_HOLES). */
async function fillHoles(st: FileState, start: number, end: number): Promise<void> {
  if (noHoles(st.fs) || end <= start) return;
  let cur = start;
  const fes = await fileExtentsIn(st, start, end);
  for (const fe of [...fes, undefined]) {
    const next = fe ? Math.max(fe.fileOffset, start) : end;
    if (next > cur) await insertFileExtent(st.fs, st.root, st.ino, holeFileExtent(st.fs, cur, next - cur));
    if (fe) cur = Math.max(cur, fileExtentEnd(fe));
  }
}

// ---------------------------------------------------------------- inline extents

/** BTRFS_MAX_INLINE_DATA_SIZE: what fits after the head in one item. */
function maxInlineData(fs: FsInfo): number {
  return maxItemSize(fs.nodesize) - FileExtentHead.size;
}

/** Whether the inode may have an inline extent at all (not NODATACOW / PREALLOC). */
function inlinePossible(st: FileState): boolean {
  return (st.inode.flags & (InodeFlags.NODATACOW | InodeFlags.PREALLOC)) === 0;
}

/** Whether a whole file of `size` bytes is stored inline uncompressed (can_cow_file_range_inline). */
function inlineAllowed(st: FileState, size: number): boolean {
  const { fs } = st;
  return size > 0 && size < fs.sectorsize && size <= fs.options.maxInlineBytes && size <= maxInlineData(fs) && inlinePossible(st);
}

/**
 * compress_file_range's inline attempt, then cow_file_range_inline: the whole file `content`
 * (at most a sector) as a compressed inline extent when the inode compresses and the codec's
 * output fits max_inline, else uncompressed inline when allowed. False (nothing changed)
 * when the file must go to a regular extent.
 */
async function storeInline(st: FileState, content: Uint8Array): Promise<boolean> {
  const { fs } = st;
  const size = content.length;
  if (size === 0 || size > fs.sectorsize || !inlinePossible(st)) return false;
  const plan = await compressionFor(st);
  if (plan) {
    await loadCompressionKernels();
    const z = plan.skipHeuristic || heuristic(content) ? compressRaw(plan.codec, content, plan.level, fs.sectorsize) : null;
    if (z && z.length <= Math.min(fs.options.maxInlineBytes, maxInlineData(fs))) {
      await writeInline(st, content, z, compressionTypeByName(plan.codec).id);
      setCompressIncompat(fs, plan.codec);
      return true;
    }
  }
  if (!inlineAllowed(st, size)) return false;
  await writeInline(st, content);
  return true;
}

async function inlineExtentOf(st: FileState): Promise<FileExtent | undefined> {
  if (hasNoExtents(st)) return undefined;
  const [fe] = await fileExtentsIn(st, 0, 1, 1);
  return fe?.type === FileExtentType.INLINE ? fe : undefined;
}

/**
 * insert_inline_extent: the whole file as one inline item (the first sector's items dropped);
 * `stored` is what the item holds when compressed with codec id `compression`.
 */
async function writeInline(st: FileState, content: Uint8Array, stored: Uint8Array = content, compression: number = CompressionType.NONE): Promise<void> {
  const { fs } = st;
  await dropExtents(st, 0, fs.sectorsize);
  await putFileExtent(st, {
    fileOffset: 0, generation: fs.transid, ramBytes: content.length, compression, encryption: 0,
    otherEncoding: 0, type: FileExtentType.INLINE, diskBytenr: 0, diskNumBytes: 0, offset: 0, numBytes: content.length, inline: stored,
  });
  st.inode.nbytes += content.length;
}

/** The inline extent becomes a regular first sector (what writeback does once the file outgrew it). */
async function convertInline(st: FileState, fe: FileExtent): Promise<void> {
  const data = await inlineData(st, fe);
  const buf = new Uint8Array(st.fs.sectorsize);
  buf.set(data.subarray(0, Math.min(data.length, buf.length)));
  const n = await writeRange(st, 0, buf);
  if (n < buf.length) throw new FsError('ENOSPC', `inode ${st.ino}: no space to move the inline extent to a data extent`);
}

// ---------------------------------------------------------------- writeback

/** How an inode's writes are compressed now (compress_file_range's choices). */
interface CompressPlan {
  codec: CompressionName;
  level: number;
  /** compress-force: no heuristic, no sticky NOCOMPRESS. */
  force: boolean;
  /** Every chunk is tried without the heuristic (compress-force, or a defrag with a codec). */
  skipHeuristic: boolean;
  /** The btrfs.compression property names a codec (inode->prop_compress): no sticky NOCOMPRESS either. */
  prop: boolean;
}

const COMPRESSION_XATTR = new TextEncoder().encode('btrfs.compression');
/** The property's value is compared with ASCII names only: any byte decodes to one character. */
const latin1 = new TextDecoder('latin1');

/** The codec the btrfs.compression property names (prop_compress), if any. */
async function propCompression(st: FileState): Promise<CompressionName | undefined> {
  const v = await findXattr(st.fs, st.root, st.ino, COMPRESSION_XATTR);
  if (v === undefined) return undefined;
  const name = latin1.decode(v).split(':')[0];
  return name === 'zlib' || name === 'lzo' || name === 'zstd' ? name : undefined;
}

/**
 * btrfs_inode_can_compress and inode_need_compress (less the heuristic): undefined when the
 * inode's writes are not compressed. The codec is the property's, else the mount's, else
 * zlib (chattr +c alone); the level is the mount's, clamped to the codec.
 */
async function compressionFor(st: FileState): Promise<CompressPlan | undefined> {
  const o = st.fs.options;
  const flags = st.inode.flags;
  if (flags & (InodeFlags.NODATACOW | InodeFlags.NODATASUM)) return undefined;
  const force = o.compressForce && o.compress !== undefined;
  if (st.defragCompress) {
    // inode_need_compress: the defrag ioctl's codec comes before NOCOMPRESS and the heuristic;
    // compress_file_range takes its type and level. A chunk that saves nothing still sets the
    // sticky flag unless forced or the property names a codec (mark_incompressible).
    const { codec, level } = st.defragCompress;
    const prop = await propCompression(st);
    return { codec, level: effectiveLevel(codec, level), force, skipHeuristic: true, prop: prop !== undefined };
  }
  if (!force && (flags & InodeFlags.NOCOMPRESS)) return undefined;
  const prop = (flags & InodeFlags.COMPRESS) || o.compress !== undefined ? await propCompression(st) : undefined;
  if (!force && o.compress === undefined && !(flags & InodeFlags.COMPRESS) && prop === undefined) return undefined;
  const codec = prop ?? o.compress ?? 'zlib';
  return { codec, level: effectiveLevel(codec, o.compress === undefined ? 0 : o.compressLevel), force, skipHeuristic: force, prop: prop !== undefined };
}

/** btrfs_set_fs_incompat for a codec that needs a feature bit (lzo, zstd); written at commit. */
export function setCompressIncompat(fs: FsInfo, codec: CompressionName): void {
  const bit = codec === 'lzo' ? IncompatFlags.COMPRESS_LZO : codec === 'zstd' ? IncompatFlags.COMPRESS_ZSTD : 0;
  if (bit === 0 || (fs.sb.incompatFlags & bit) !== 0) return;
  fs.sb.incompatFlags |= bit;
  fs.superDirty = true;
}

/**
 * cow_file_range, through compress_file_range when the inode compresses: `buf` (whole
 * sectors) at file offset `start` in chunks of at most 128 KiB, each a compressed extent
 * when that saves a sector; runs of chunks left uncompressed are written as plain extents.
 * Returns the bytes written: all of buf, or less when data space ran out after some was
 * written (ENOSPC if none was).
 *
 * `behind` (a FileHandle write, writeFile's caller): the write may return while its last
 * chunks still compress on a worker (write-behind, as btrfs's writes return once their pages
 * are dirty and compression runs at writeback). Those chunks' bytes are copied, and they become
 * extents when the filesystem is next used (FsInfo.writeTail, settleWriteTail): by the next
 * write of the file, after it has handed its own chunks to the pool, so that the workers never
 * wait between two writes; before anything else, by the API's mutex and by the commit. Only
 * when every chunk left is on a worker, they are at most WRITE_TAIL_MAX_BYTES, and a data
 * block group has room for all of them uncompressed, so that the write's ENOSPC is still the
 * write's. A tail that fails all the same aborts the transaction (settleWriteTail).
 */
async function cowRange(st: FileState, start: number, buf: Uint8Array, behind = false): Promise<number> {
  const { fs } = st;
  const plan = await compressionFor(st);
  if (!plan) {
    await settleOwnTail(st);
    return cowPlain(st, start, buf);
  }
  await loadCompressionKernels();
  const ss = fs.sectorsize;
  const diskISize = st.inode.size;
  // The chunks, and which are tried: a single sector that is not the whole file cannot save a
  // sector (not tried, no flag).
  const chunks: (Uint8Array | undefined)[] = [];
  for (let pos = 0; pos < buf.length; pos += BTRFS_MAX_UNCOMPRESSED) {
    const fileOffset = start + pos;
    const len = Math.min(buf.length - pos, BTRFS_MAX_UNCOMPRESSED);
    const tiny = len <= ss && (fileOffset > 0 || fileOffset + len < diskISize);
    chunks.push(tiny ? undefined : buf.subarray(pos, pos + len));
  }
  // The chunks compress on the pool's workers while the extents of earlier ones are written
  // here, in file order (kernels/compress-pool.ts); the results are the same as compressing
  // each here in turn.
  if (fs.compressPool === undefined) fs.compressPool = new CompressPool(await defaultPoolOptions());
  const results = fs.compressPool.stream({ codec: plan.codec, level: plan.level, sectorSize: ss, heuristic: !plan.skipHeuristic, csum: fs.csum }, chunks);
  const w = new CompressedWrite(st, start, buf, plan, results);
  let detached = false;
  try {
    if (fs.writeTail !== undefined) {
      // The previous write's tail, now that this write's chunks are with the workers.
      await settleOwnTail(st);
      if (!plan.force && (st.inode.flags & InodeFlags.NOCOMPRESS)) {
        // One of its chunks set the sticky flag: this write goes uncompressed, as it would have.
        results.close();
        return cowPlain(st, start, buf);
      }
    }
    const n = await w.run(behind ? mayGoBehind : undefined);
    if (n !== undefined) return n;
    goBehind(w);
    detached = true;
    return buf.length;
  } finally {
    if (!detached) results.close();
  }
}

/** The most bytes a write leaves behind (FsInfo.writeTail): what a worker holds, and then some. */
const WRITE_TAIL_MAX_BYTES = 4 * BTRFS_MAX_UNCOMPRESSED;

/** The pending write tail, which is `st`'s file's (writeFile settles any other first), settled into `st`'s inode item. */
async function settleOwnTail(st: FileState): Promise<void> {
  const t = st.fs.writeTail;
  if (t === undefined) return;
  assert(t.root === st.root && t.ino === st.ino, () => `inode ${st.ino} written while inode ${t.ino}'s tail is pending`);
  await settleWriteTail(st.fs, st.inode);
}

/** cowRange's loop over the chunk results, which a write that goes behind leaves to finish later. */
class CompressedWrite {
  /** Bytes of the write done (file offset start + pos), and where the run of uncompressed chunks not yet written begins. */
  pos = 0;
  plainFrom = 0;
  /** The write's bytes from write offset `base` on (after goBehind: an owned copy of the rest). */
  buf: Uint8Array;
  base = 0;
  readonly total: number;

  constructor(public st: FileState, readonly start: number, buf: Uint8Array, readonly plan: CompressPlan, readonly results: ChunkStream) {
    this.buf = buf;
    this.total = buf.length;
  }

  private bytes(from: number, to: number): Uint8Array {
    return this.buf.subarray(from - this.base, to - this.base);
  }

  /** Writes [plainFrom, to) uncompressed; returns the shortfall (<= 0). */
  private async flushPlain(to: number): Promise<number> {
    const from = this.plainFrom;
    if (to <= from) return 0;
    try {
      const n = await cowPlain(this.st, this.start + from, this.bytes(from, to));
      return n - (to - from);
    } catch (e) {
      if (isFsError(e, 'ENOSPC') && from > 0) return from - to;
      throw e;
    }
  }

  /**
   * Turns the chunk results into extents, in file order, and returns the bytes written; or, when
   * `stop` says so before a chunk, stops there and returns undefined (run again to finish).
   */
  async run(stop?: (w: CompressedWrite) => boolean): Promise<number | undefined> {
    const { plan, results } = this;
    while (this.pos < this.total) {
      if (stop?.(this)) return undefined;
      const pos = this.pos;
      const fileOffset = this.start + pos;
      const len = Math.min(this.total - pos, BTRFS_MAX_UNCOMPRESSED);
      const r = await results.next();
      if (r.kind === 'incompressible' && !plan.force && !plan.prop) {
        // The sticky flag: this and every later write of the inode go uncompressed.
        this.st.inode.flags |= InodeFlags.NOCOMPRESS;
        const short = await this.flushPlain(this.total);
        this.pos = this.plainFrom = this.total;
        return this.total + short;
      }
      if (r.kind !== 'compressed') {
        this.pos = pos + len;
        continue;
      }
      const short = await this.flushPlain(pos);
      if (short < 0) return pos + short;
      try {
        await writeCompressedExtent(this.st, fileOffset, len, r.disk, r.sums, plan.codec);
      } catch (e) {
        if (isFsError(e, 'ENOSPC') && pos > 0) return pos;
        throw e;
      }
      this.pos = this.plainFrom = pos + len;
    }
    const short = await this.flushPlain(this.total);
    this.plainFrom = this.total;
    return this.total + short;
  }
}

/** Whether a data block group has `bytes` contiguous and free after its allocation cursor (where the next extents go). */
function dataRoomFor(fs: FsInfo, bytes: number): boolean {
  for (const bg of fs.blockGroups.ofType(BlockGroupFlags.DATA)) {
    if (bg.free !== undefined && bg.free.findFree(bytes, fs.sectorsize, bg.cursor) >= 0) return true;
  }
  return false;
}

/** cowRange's test before each chunk of a write that may go behind. */
function mayGoBehind(w: CompressedWrite): boolean {
  const { fs } = w.st;
  const rest = w.total - w.plainFrom;
  return rest <= WRITE_TAIL_MAX_BYTES && fs.writeTail === undefined && !fs.syncRequested && w.results.restOnWorkers && dataRoomFor(fs, rest);
}

/**
 * Leaves the rest of `w` as the filesystem's write tail: its bytes copied (the caller's buffer
 * is theirs again), its inode item a copy whose changes (nbytes, the sticky flag) go to the
 * file's item when it settles.
 */
function goBehind(w: CompressedWrite): void {
  const live = w.st;
  const { fs } = live;
  assert(fs.writeTail === undefined, 'two write tails');
  const from = w.plainFrom;
  const copy = (fs.writeTailScratch ??= new Uint8Array(WRITE_TAIL_MAX_BYTES)).subarray(0, w.total - from);
  copy.set(w.buf.subarray(from - w.base));
  w.results.rebase(copy, from);
  w.buf = copy;
  w.base = from;
  w.st = { ...live, inode: cloneInode(live.inode) };
  const before = { nbytes: w.st.inode.nbytes, flags: w.st.inode.flags };
  fs.stats.writeTails++;
  fs.writeTail = {
    root: live.root,
    ino: live.ino,
    end: w.start + w.total,
    settle: async (target) => {
      try {
        const n = (await w.run())!;
        if (n < w.total) throw new FsError('ENOSPC', `inode ${live.ino}: no data space for ${w.total - n} bytes at file offset ${w.start + n}`);
      } finally {
        w.results.close();
      }
      const nbytes = w.st.inode.nbytes - before.nbytes;
      const flags = w.st.inode.flags & ~before.flags;
      if (nbytes === 0 && flags === 0) return;
      if (target) {
        target.nbytes += nbytes;
        target.flags |= flags;
        return;
      }
      const item = await readInode(fs, live.root, live.ino);
      item.nbytes += nbytes;
      item.flags |= flags;
      await writeInode(fs, live.root, live.ino, item);
    },
  };
}

/**
 * One compressed extent of `len` bytes at `fileOffset`: `disk` (the codec's output, zero padded
 * to a sector) with `sums`, its data checksums (kernels/compress-chunk.ts).
 */
async function writeCompressedExtent(
  st: FileState, fileOffset: number, len: number, disk: Uint8Array, sums: Uint8Array, codec: CompressionName,
): Promise<void> {
  const { fs, root, ino } = st;
  const ss = fs.sectorsize;
  const diskLen = disk.length;
  assert(diskLen % ss === 0 && diskLen < len && diskLen <= BTRFS_MAX_COMPRESSED, () => `compressed extent of ${diskLen} bytes for ${len}`);
  assert(sums.length === (diskLen / ss) * csumSizeBytes(fs.csum), () => `${sums.length} bytes of checksums for a ${diskLen}-byte extent`);
  assert(hasDataSum(st), 'compressed extent of a NODATASUM inode');
  const ext = allocateSpaceRange(fs, BlockGroupFlags.DATA, diskLen, diskLen, ss);
  // The checksums (and a small extent's device write) wait for the commit (fs/writeback.ts),
  // the bytes copied into the writeback's arena: the chunk buffer is used again at once.
  await fs.writeback.add(fs, ext.start, disk, sums);
  releaseChunkBuffer(disk.buffer);
  await dropExtents(st, fileOffset, fileOffset + len);
  const fe: FileExtent = {
    ...newFileExtent(fs, FileExtentType.REG, fileOffset, ext.start, diskLen, 0, len), ramBytes: len, compression: compressionTypeByName(codec).id,
  };
  await insertFileExtent(fs, root, ino, fe);
  fs.delayedRefs.addDataRef(ext.start, diskLen, dataRefOf(st, fe, fileOffset), +1, true);
  st.inode.nbytes += len;
  setCompressIncompat(fs, codec);
}

/**
 * cow_file_range without compression: extents of up to BTRFS_MAX_EXTENT_SIZE. With `placed`,
 * the new extents' items are left to the caller (placeExtents), listed there in file order.
 */
async function cowPlain(st: FileState, start: number, buf: Uint8Array, placed?: FileExtent[]): Promise<number> {
  const { fs } = st;
  const ss = fs.sectorsize;
  let pos = 0;
  while (pos < buf.length) {
    let ext: { start: number; length: number };
    try {
      ext = allocateSpaceRange(fs, BlockGroupFlags.DATA, Math.min(buf.length - pos, MAX_EXTENT_SIZE), ss, ss);
    } catch (e) {
      if (isFsError(e, 'ENOSPC') && pos > 0) return pos;
      throw e;
    }
    const len = ext.length;
    const slice = buf.subarray(pos, pos + len);
    // The checksums (and a small extent's device write) wait for the commit (fs/writeback.ts),
    // where a large extent's are made from the device during the commit's flush.
    await fs.writeback.add(fs, ext.start, slice, hasDataSum(st) ? DEFER_SUMS : undefined);
    const fe = newFileExtent(fs, FileExtentType.REG, start + pos, ext.start, len, 0, len);
    if (placed) placed.push(fe);
    else await placeExtent(st, fe);
    pos += len;
  }
  return pos;
}

/**
 * The tree side of a COW write of the new extent `fe` (its bytes already with the writeback):
 * the items over its range dropped, its item inserted, its ref queued, nbytes counted.
 */
async function placeExtent(st: FileState, fe: FileExtent): Promise<void> {
  const { fs } = st;
  const fileOffset = fe.fileOffset;
  const len = fe.numBytes;
  const replace: DropForReplace = { tails: [], keptAtStart: false };
  await dropExtents(st, fileOffset, fileOffset + len, replace);
  if (replace.keptAtStart) {
    // The old item at this key, dropped but left in place: overwritten (same size).
    await rewriteExtent(st, fileOffset, fe);
    if (replace.tails.length > 0) await insertFileExtents(fs, st.root, st.ino, replace.tails);
  } else if (replace.tails.length > 0) {
    // An overwrite inside one item: the new item and the split-off tail go in with one search.
    await insertFileExtents(fs, st.root, st.ino, [fe, ...replace.tails]);
  } else {
    await putFileExtent(st, fe);
  }
  fs.delayedRefs.addDataRef(fe.diskBytenr, fe.diskNumBytes, dataRefOf(st, fe, fileOffset), +1, true);
  st.inode.nbytes += len;
}

/** Bytes a REG item takes in a leaf: its header and data. */
const REG_ITEM_LEAF_BYTES = ITEM_SIZE + FileExtentItem.size;

/**
 * placeExtent for many new extents of one file (`fes`: REG, sorted, not overlapping, their
 * bytes already with the writeback), as writeback of many dirty ranges does: the items of one
 * leaf are worked out together and swapped for the new ones in place (replaceLeafItems), one
 * search for all the new extents that leaf covers, where placeExtent searches three times for
 * each. What the tree, the refs and nbytes end up as is what placeExtent would make of each in
 * turn: an item a new extent cuts keeps its ref for its first piece and takes one more for
 * each further piece, an item covered whole drops its ref. A new extent the leaf cannot take
 * (no room, or its items may reach into the next leaf or the previous one) goes through
 * placeExtent, which splits leaves as it needs; the next ones are batched again.
 */
async function placeExtents(st: FileState, fes: readonly FileExtent[]): Promise<void> {
  for (let i = 0; i < fes.length;) {
    const took = batchedPlacement && !hasNoExtents(st) ? await placeInLeaf(st, fes, i) : 0;
    if (took > 0) {
      placementStats.batches++;
      placementStats.batched += took;
      i += took;
    } else {
      placementStats.single++;
      await placeExtent(st, fes[i]);
      i++;
    }
  }
}

let batchedPlacement = true;

/** Whether placeExtents batches by leaf (the default) or places each extent alone: tests compare the two. */
export function setBatchedPlacement(on: boolean): void {
  batchedPlacement = on;
}

/** placeExtents' counts (tests, benchmarks): leaves worked in one go, the extents they took, extents placed alone. */
export const placementStats = { batches: 0, batched: 0, single: 0 };

/** placeExtents' work in the leaf holding the items over fes[i]: how many of fes from i it placed (0: none). */
async function placeInLeaf(st: FileState, fes: readonly FileExtent[], i: number): Promise<number> {
  const { fs, root, ino } = st;
  const { found, path } = await searchSlot(fs, root, fileExtentKey(ino, fes[i].fileOffset), { cow: true });
  const leaf = path.leaf;
  const ours = (slot: number): boolean => {
    if (slot >= leaf.nritems) return false;
    const k = leaf.key(slot);
    return k.type === ItemType.EXTENT_DATA && k.objHi === 0 && k.objectid === ino;
  };
  const decodeAt = (slot: number): FileExtent => {
    const k = leaf.key(slot);
    return decodeFileExtent(leaf.itemData(slot), ino, k.offset);
  };
  let lo = path.slots[0];
  if (!found) {
    // The item before the search slot may reach into fes[i]; at slot 0 it is in the leaf before.
    if (lo === 0) return 0;
    if (ours(lo - 1) && fileExtentEnd(decodeAt(lo - 1)) > fes[i].fileOffset) lo--;
  }
  // The old items [lo, hi) over fes[i, j): every item that overlaps one of them. Each new
  // extent adds at most two items (itself and the tail of an item it splits).
  let room = leaf.leafFreeSpace();
  const olds: FileExtent[] = [];
  let hi = lo;
  let j = i;
  while (j < fes.length && room >= 2 * REG_ITEM_LEAF_BYTES) {
    const end = fileExtentEnd(fes[j]);
    let s = hi;
    const more: FileExtent[] = [];
    let prevEnd = olds.length > 0 ? fileExtentEnd(olds[olds.length - 1]) : -1;
    let plain = true;
    while (ours(s) && leaf.key(s).offset < end) {
      const o = decodeAt(s++);
      // Only REG items (and holes) are cut here; items that overlap are left to placeExtent's
      // search, which reports them.
      if (o.type !== FileExtentType.REG || o.fileOffset < prevEnd) plain = false;
      prevEnd = fileExtentEnd(o);
      more.push(o);
    }
    if (!plain) break;
    // Past the leaf's last item the next leaf may hold one more over this extent: not when
    // the last item here reaches past its end, nor when the next leaf's first key (its
    // ancestors name it) is past the extent's.
    if (s === leaf.nritems) {
      const last = more.length > 0 ? more[more.length - 1] : olds[olds.length - 1];
      if (last === undefined || fileExtentEnd(last) < end) {
        const next = nextLeafKey(path);
        if (next !== undefined && compareKeys(next, fileExtentKey(ino, end)) < 0) break;
      }
    }
    olds.push(...more);
    hi = s;
    j++;
    room -= 2 * REG_ITEM_LEAF_BYTES;
  }
  if (j === i) return 0;
  const news = fes.slice(i, j);
  // The old items' pieces outside every new extent, with their refs and bytes.
  const out: FileExtent[] = [];
  let k = 0;
  for (const o of olds) {
    const os = o.fileOffset;
    const oe = fileExtentEnd(o);
    while (k < news.length && fileExtentEnd(news[k]) <= os) k++;
    let cur = os;
    let kept = 0;
    let pieces = 0;
    const piece = (a: number, b: number) => {
      out.push({ ...o, fileOffset: a, offset: o.offset + (a - os), numBytes: b - a });
      kept += b - a;
      pieces++;
    };
    for (let m = k; m < news.length && news[m].fileOffset < oe; m++) {
      if (news[m].fileOffset > cur) piece(cur, news[m].fileOffset);
      cur = Math.max(cur, fileExtentEnd(news[m]));
    }
    if (cur < oe) piece(cur, oe);
    if (isHole(o)) continue;
    st.inode.nbytes -= o.numBytes - kept;
    if (pieces === 0) changeRef(st, o, os, -1);
    for (let p = 1; p < pieces; p++) changeRef(st, o, os, +1);
  }
  for (const fe of news) {
    out.push(fe);
    fs.delayedRefs.addDataRef(fe.diskBytenr, fe.diskNumBytes, dataRefOf(st, fe, fe.fileOffset), +1, true);
    st.inode.nbytes += fe.numBytes;
  }
  out.sort((a, b) => a.fileOffset - b.fileOffset);
  const from = Math.min(news[0].fileOffset, olds.length > 0 ? olds[0].fileOffset : Infinity);
  const to = Math.max(fileExtentEnd(news[news.length - 1]), olds.length > 0 ? fileExtentEnd(olds[olds.length - 1]) : -Infinity);
  invalidateFileExtents(root, ino, from, to);
  const data = out.map(encodeFileExtent);
  replaceLeafItems(fs, path, lo, hi - lo, out.map((fe) => fileExtentKey(ino, fe.fileOffset)), data.map((d) => d.length));
  for (let m = 0; m < data.length; m++) leaf.data.set(data[m], leaf.itemPtr(lo + m));
  // Every item over [from, to) is in `out` now (the ones before lo end at or before `from`,
  // the first one after starts at or after `to`): reads there need no search.
  rememberFileExtents(root, ino, st.inode.generation, from, to, out);
  return j - i;
}

/**
 * btrfs_cross_ref_exist (strict = false): whether the disk extent of `fe` may be referenced
 * by anything but this item's ref, judging by the queued refs and the committed extent item.
 */
async function crossRefExists(st: FileState, fe: FileExtent): Promise<boolean> {
  const { fs } = st;
  // can_nocow_file_extent: an item not newer than the subvolume's last snapshot may be in a
  // leaf the snapshot shares, whose extent has no ref of the snapshot's own to show it.
  if (fe.generation <= (st.root.item?.lastSnapshot ?? 0)) return true;
  const ours = dataRefOf(st, fe, fe.fileOffset);
  const same = (r: { root: number; objectid: number; offset: number }) => r.root === ours.root && r.objectid === ours.objectid && r.offset === ours.offset;
  const pending = fs.delayedRefs.pendingData(fe.diskBytenr);
  if (pending) {
    if (pending.refs.some((r) => !same(r))) return true;
    if (pending.mustInsert) return false;
  }
  const data = await lookup(fs, fs.extentTree, Key.of(fe.diskBytenr, ItemType.EXTENT_ITEM, fe.diskNumBytes));
  if (!data || data.length !== ExtentItem.size + 1 + ExtentDataRef.size) return true;
  const dv = viewOf(data);
  const ei = ExtentItem.decode(dv, 0);
  if (ei.generation <= (st.root.item?.lastSnapshot ?? 0)) return true;
  if (data[ExtentItem.size] !== ItemType.EXTENT_DATA_REF) return true;
  const r = ExtentDataRef.decode(dv, ExtentItem.size + 1);
  return !same(r) || r.count !== ei.refs;
}

/** can_nocow_file_extent for the part [a, b) of `fe`. */
async function canNocow(st: FileState, fe: FileExtent, a: number, b: number): Promise<boolean> {
  if (fe.type === FileExtentType.INLINE || isHole(fe)) return false;
  if (fe.type === FileExtentType.REG && (st.inode.flags & InodeFlags.NODATACOW) === 0) return false;
  if (fe.compression !== CompressionType.NONE || fe.encryption !== 0 || fe.otherEncoding !== 0) return false;
  if (await crossRefExists(st, fe)) return false;
  // Checksums in the range force COW: an extent's checksums are all valid or absent.
  const disk = fe.diskBytenr + fe.offset + (a - fe.fileOffset);
  // Data of this transaction still waiting for writeback has checksums waiting too: COW it.
  if (st.fs.writeback.overlaps(disk, b - a)) return false;
  return !(await csumsExist(st.fs, disk, b - a));
}

/**
 * extent_mergeable: `other` is a REG item of the same disk extent mapping the file the same
 * way (same backref offset), so it and a neighbouring written range can be one item.
 */
function mergeable(other: FileExtent | undefined, fe: FileExtent): other is FileExtent {
  return other !== undefined && other.type === FileExtentType.REG && other.diskBytenr === fe.diskBytenr &&
    other.diskNumBytes === fe.diskNumBytes && other.compression === CompressionType.NONE && other.encryption === 0 &&
    other.otherEncoding === 0 && other.fileOffset - other.offset === fe.fileOffset - fe.offset;
}

/**
 * btrfs_mark_extent_written: [a, b) of the PREALLOC item `fe` was written in place and
 * becomes REG. A written edge joins an adjacent REG item of the same extent when it maps
 * the extent contiguously; otherwise the item splits into up to three, each new item
 * holding a ref, and items merged away drop theirs.
 */
async function markExtentWritten(st: FileState, fe: FileExtent, a: number, b: number): Promise<void> {
  const { fs, root, ino } = st;
  const ks = fe.fileOffset;
  const ke = fileExtentEnd(fe);
  const piece = (base: FileExtent, type: number, from: number, to: number): FileExtent => ({
    ...base, type, generation: fs.transid, fileOffset: from, offset: base.offset + (from - base.fileOffset), numBytes: to - from,
  });
  const prev = a === ks && ks > 0 ? (await fileExtentsIn(st, ks - 1, ks, 1))[0] : undefined;
  const left = mergeable(prev, fe) && fileExtentEnd(prev!) === ks ? prev : undefined;
  const next = b === ke ? (await fileExtentsIn(st, ke, ke + 1, 1))[0] : undefined;
  const right = mergeable(next, fe) && next!.fileOffset === ke ? next : undefined;
  if (a === ks && b < ke && left) {
    await rewriteExtent(st, left.fileOffset, piece(left, FileExtentType.REG, left.fileOffset, b));
    await rewriteExtent(st, ks, piece(fe, FileExtentType.PREALLOC, b, ke));
    return;
  }
  if (b === ke && a > ks && right) {
    await rewriteExtent(st, ks, piece(fe, FileExtentType.PREALLOC, ks, a));
    await rewriteExtent(st, ke, piece(fe, FileExtentType.REG, a, fileExtentEnd(right)));
    return;
  }
  if (a === ks && b === ke) {
    const from = left ? left.fileOffset : ks;
    const to = right ? fileExtentEnd(right) : ke;
    if (right) {
      await deleteFileExtent(fs, root, ino, right);
      changeRef(st, right, right.fileOffset, -1);
    }
    if (left) {
      await deleteFileExtent(fs, root, ino, fe);
      changeRef(st, fe, ks, -1);
      await rewriteExtent(st, from, piece(left, FileExtentType.REG, from, to));
    } else {
      await rewriteExtent(st, ks, piece(fe, FileExtentType.REG, ks, to));
    }
    return;
  }
  if (a > ks) {
    await rewriteExtent(st, ks, piece(fe, FileExtentType.PREALLOC, ks, a));
    const mid = piece(fe, FileExtentType.REG, a, b);
    await insertFileExtent(fs, root, ino, mid);
    changeRef(st, mid, a, +1);
  } else {
    await rewriteExtent(st, ks, piece(fe, FileExtentType.REG, ks, b));
  }
  if (b < ke) {
    const tail = piece(fe, FileExtentType.PREALLOC, b, ke);
    await insertFileExtent(fs, root, ino, tail);
    changeRef(st, tail, b, +1);
  }
}

/**
 * Writeback of `buf` (whole sectors) at file offset `start` (run_delalloc_range): COW, or
 * for NODATACOW / PREALLOC inodes NOCOW where the extents allow it. Returns the bytes
 * written (short only on ENOSPC after progress).
 */
async function writeRange(st: FileState, start: number, buf: Uint8Array, behind = false): Promise<number> {
  const { fs } = st;
  assert(start % fs.sectorsize === 0 && buf.length % fs.sectorsize === 0, 'writeRange: not whole sectors');
  if ((st.inode.flags & (InodeFlags.NODATACOW | InodeFlags.PREALLOC)) === 0) return cowRange(st, start, buf, behind);
  await settleOwnTail(st);
  const end = start + buf.length;
  const pieces: { start: number; end: number; fe?: FileExtent }[] = [];
  const cowPiece = (s: number, e: number) => {
    const last = pieces[pieces.length - 1];
    if (last && !last.fe && last.end === s) last.end = e;
    else pieces.push({ start: s, end: e });
  };
  let cur = start;
  for (const fe of await fileExtentsIn(st, start, end)) {
    const a = Math.max(fe.fileOffset, cur);
    // An inline extent ends within the first sector: its piece is that whole sector.
    const b = Math.min(alignUp(fileExtentEnd(fe), fs.sectorsize), end);
    if (a > cur) cowPiece(cur, a);
    if (b <= a) continue;
    if (await canNocow(st, fe, a, b)) pieces.push({ start: a, end: b, fe });
    else cowPiece(a, b);
    cur = b;
  }
  if (cur < end) cowPiece(cur, end);
  for (const p of pieces) {
    const slice = buf.subarray(p.start - start, p.end - start);
    if (!p.fe) {
      const n = await cowRange(st, p.start, slice);
      if (n < slice.length) return p.start - start + n;
      continue;
    }
    const fe = p.fe;
    const disk = fe.diskBytenr + fe.offset + (p.start - fe.fileOffset);
    await fs.writeback.flushOverlapping(fs, disk, slice.length);
    await fs.volumes.writeLogical(disk, slice);
    if (hasDataSum(st)) await insertCsums(fs, disk, checksum(fs.csum, slice, fs.sectorsize));
    if (fe.type === FileExtentType.PREALLOC) await markExtentWritten(st, fe, p.start, p.end);
  }
  return buf.length;
}

// ---------------------------------------------------------------- write

/**
 * chattr rules for data changes: immutable files take none, append-only files only writes at
 * their end (and no truncate); a write to a file with S (synchronous updates) asks for a
 * commit when the operation ends (FsInfo.syncRequested).
 */
function checkAttributes(fs: FsInfo, inode: { flags: number; size: number }, offset: number, what: 'write' | 'truncate'): void {
  if (inode.flags & InodeFlags.IMMUTABLE) throw new FsError('EPERM', `${what} of an immutable file`);
  if ((inode.flags & InodeFlags.APPEND) && (what === 'truncate' || offset < inode.size)) throw new FsError('EPERM', `${what} inside an append-only file`);
  if (inode.flags & InodeFlags.SYNC) fs.syncRequested = true;
}

/**
 * Writes `data` at `offset` of a regular file; returns the bytes written (all of them, or
 * fewer when data space ran out part way; ENOSPC when none could be written). Extends the
 * size; updates nbytes, mtime, ctime, sequence and transid. New extents wait in the
 * writeback (fs/writeback.ts) and reach the device at the commit, before the metadata.
 */
/** Writes up to this size pad their sectors in one reused buffer instead of a new one each. */
const PAD_SCRATCH_BYTES = 64 * 1024;

/**
 * A zeroed buffer of `n` bytes for a write's whole sectors. Small ones are a view of the
 * filesystem's one reused buffer: nothing keeps it past the write (the writeback copies what it
 * holds, the checksums and device writes are made before the write returns, a compressed
 * write's chunks live only as long as its cowRange), and the writer runs one operation at a time.
 */
function paddedBuffer(fs: FsInfo, n: number): Uint8Array {
  if (n > PAD_SCRATCH_BYTES) return new Uint8Array(n);
  const scratch = (fs.padScratch ??= new Uint8Array(PAD_SCRATCH_BYTES));
  const view = scratch.subarray(0, n);
  view.fill(0);
  return view;
}

export async function writeFile(fs: FsInfo, root: Root, ino: number, offset: number, data: Uint8Array, options: { behind?: boolean } = {}): Promise<number> {
  requireWritable(fs);
  checkOffset(offset, 'write offset');
  const len = data.length;
  if (offset + len > MAX_FILE_SIZE) throw new FsError('EFBIG', `write of ${len} bytes at ${offset} passes the maximum file size`);
  const behind = options.behind === true;
  // A pending write tail (cowRange) of another file, or of this one not ending where this write
  // starts, is settled now; one this write continues is settled by cowRange once this write's
  // chunks are with the workers. Nothing before that reads or changes the tail's range: this
  // write starts at its end, a sector boundary (no head sector to read, no hole to fill).
  // A tail of dirty sectors of this file takes this write if it can, else it is settled.
  const tail = fs.writeTail;
  const own = behind && tail !== undefined && tail.root === root && tail.ino === ino;
  if (own && tail.dirty?.add(offset, data)) return len;
  if (tail !== undefined && !(own && tail.end === offset)) await settleWriteTail(fs);
  const st = await loadFile(fs, root, ino);
  checkAttributes(fs, st.inode, offset, 'write');
  if (len === 0) return 0;
  const ss = fs.sectorsize;
  if (behind && (await mayWaitDirty(st, offset, len))) {
    startDirtySectors(st, offset, data);
    return len;
  }
  // ---- qgroups: EDQUOT before anything changes (btrfs_qgroup_reserve_data of the write's sectors).
  fs.qgroup?.reserve(root.objectid, alignUp(offset + len, ss) - alignDown(offset, ss));
  const oldSize = st.inode.size;
  const end = offset + len;
  let written = len;
  let inlined = false;
  // A whole file within a sector may be inline: uncompressed when it fits max_inline, or
  // compressed when the inode compresses (else no copy of it is made just to be refused).
  const small = Math.max(oldSize, end);
  if (small <= ss && inlinePossible(st) && (inlineAllowed(st, small) || (await compressionFor(st)) !== undefined)) {
    const content = new Uint8Array(small);
    if (oldSize > 0) content.set(await readRange(st, 0, oldSize));
    content.set(data, offset);
    inlined = await storeInline(st, content);
  }
  if (!inlined) {
    const wStart = alignDown(offset, ss);
    const wEnd = alignUp(end, ss);
    let bufStart = wStart;
    const inline = await inlineExtentOf(st);
    if (inline && wStart > 0) {
      // The file outgrows its inline extent: its first sector becomes a regular extent, in
      // one extent with this write when they touch (as writeback of contiguous pages).
      if (wStart === ss) bufStart = 0;
      else await convertInline(st, inline);
    }
    if (offset > alignUp(oldSize, ss)) await fillHoles(st, alignUp(oldSize, ss), wStart);
    let buf: Uint8Array;
    if (bufStart === offset && wEnd === end) {
      buf = data; // aligned: no copy
    } else {
      buf = paddedBuffer(fs, wEnd - bufStart);
      if (bufStart < wStart) buf.set(await readRange(st, 0, Math.min(oldSize, ss)));
      let headRead = false;
      if (offset > wStart && wStart < oldSize) {
        buf.set(await readRange(st, wStart, Math.min(ss, oldSize - wStart)), wStart - bufStart);
        headRead = true;
      }
      const tail = wEnd - ss;
      if (end < wEnd && tail < oldSize && !(headRead && tail === wStart)) {
        buf.set(await readRange(st, tail, Math.min(ss, oldSize - tail)), tail - bufStart);
      }
      buf.set(data, offset - bufStart);
    }
    const n = await writeRange(st, bufStart, buf, behind);
    written = Math.max(0, Math.min(len, bufStart + n - offset));
    if (written === 0) throw new FsError('ENOSPC', `inode ${ino}: no data space for the write at ${offset}`);
  }
  st.inode.size = Math.max(oldSize, offset + written);
  await finishWrite(st, { mtime: true });
  // Bound the memory the transaction's waiting data takes: write it out now.
  if (fs.writeback.overLimit) await fs.writeback.flush(fs);
  return written;
}

// ---------------------------------------------------------------- dirty sectors

/**
 * Small overwrites wait as dirty sectors, as btrfs's buffered writes wait in the page cache
 * until writeback makes extents of them (cow_file_range over each run of contiguous dirty
 * pages). A FileHandle write of whole sectors inside a file that is copy-on-write, plain (no
 * compression, no nodatacow, no prealloc, no inline extent) and not under quotas or
 * synchronous updates returns once its bytes are copied here; later such writes of the file
 * join them (a sector written twice keeps the last bytes) and its FileHandle reads read through
 * them. They become extents when anything else uses the filesystem (FsInfo.writeTail,
 * settleWriteTail: the API's mutex, the commit, a write that cannot join): sorted, each run of
 * adjacent sectors one extent, then the inode's times, once. Adjacent writes land in one
 * extent, a sector written twice costs one, and the tree work is done in file order.
 *
 * The write's errors stay the write's: the file's state is checked when the first write waits
 * (and cannot change while they wait: everything that could settles them first), and every
 * write that joins checks that a data block group still has room for all the waiting bytes
 * (dataRoomFor), as a write that goes behind does. A settle that fails all the same aborts the
 * transaction (settleWriteTail). The settle stamps mtime and ctime with the time of the last
 * write that joined, so stat (which settles first) sees what it would have without the wait.
 */
const DIRTY_WRITE_MAX_BYTES = 64 * 1024;
/** Bytes of dirty sectors one file keeps waiting at most; a write past it settles them. */
const DIRTY_MAX_BYTES = 16 * 1024 * 1024;

async function mayWaitDirty(st: FileState, offset: number, len: number): Promise<boolean> {
  const { fs } = st;
  const ss = fs.sectorsize;
  if (fs.writeTail !== undefined || fs.qgroup !== undefined || fs.syncRequested) return false;
  if (offset % ss !== 0 || len % ss !== 0 || len > DIRTY_WRITE_MAX_BYTES || offset + len > st.inode.size) return false;
  if (st.inode.flags & (InodeFlags.NODATACOW | InodeFlags.PREALLOC | InodeFlags.SYNC)) return false;
  if (!dataRoomFor(fs, len)) return false;
  if ((await compressionFor(st)) !== undefined) return false;
  return (await inlineExtentOf(st)) === undefined;
}

class DirtySectors implements DirtySectorsTail {
  /** Sector index (file offset / sectorsize) -> that sector's bytes (a slot of one of `chunks`). */
  private readonly sectors = new Map<number, Uint8Array>();
  /** The pooled chunks the sectors' slots are in (util/chunk-pool.ts), given back by the settle. */
  private chunks: Uint8Array[] = [];
  /** Bytes of the last chunk taken by slots. */
  private chunkUsed = POOL_CHUNK_BYTES;
  private readonly ss: number;
  /** When the last write joined: the file's mtime and ctime from then on (file_update_time at each write). */
  lastWrite: Timespec = nowTimespec();

  constructor(private readonly fs: FsInfo, private readonly root: Root, private readonly ino: number, private readonly size: number) {
    this.ss = fs.sectorsize;
  }

  add(offset: number, data: Uint8Array): boolean {
    const ss = this.ss;
    const len = data.length;
    if (offset % ss !== 0 || len % ss !== 0 || len === 0 || len > DIRTY_WRITE_MAX_BYTES || offset + len > this.size) return false;
    if (this.fs.syncRequested) return false;
    const first = offset / ss;
    let fresh = 0;
    for (let i = 0; i < len / ss; i++) if (!this.sectors.has(first + i)) fresh++;
    const bytes = (this.sectors.size + fresh) * ss;
    if (bytes > DIRTY_MAX_BYTES || (fresh > 0 && !dataRoomFor(this.fs, bytes))) return false;
    for (let i = 0; i < len / ss; i++) {
      const k = first + i;
      const piece = data.subarray(i * ss, (i + 1) * ss);
      const held = this.sectors.get(k);
      if (held) held.set(piece);
      else {
        const slot = this.slot();
        slot.set(piece);
        this.sectors.set(k, slot);
      }
    }
    this.lastWrite = nowTimespec();
    return true;
  }

  /** A free slot of one sector (a pooled chunk's memory, whose first touch faulted long ago). */
  private slot(): Uint8Array {
    const ss = this.ss;
    if (this.chunkUsed + ss > POOL_CHUNK_BYTES) {
      this.chunks.push(takeChunk());
      this.chunkUsed = 0;
    }
    const chunk = this.chunks[this.chunks.length - 1];
    const s = chunk.subarray(this.chunkUsed, this.chunkUsed + ss);
    this.chunkUsed += ss;
    return s;
  }

  covers(offset: number, length: number): boolean {
    const ss = this.ss;
    for (let k = Math.floor(offset / ss); k * ss < offset + length; k++) if (!this.sectors.has(k)) return false;
    return true;
  }

  overlay(offset: number, dest: Uint8Array): void {
    const ss = this.ss;
    const end = offset + dest.length;
    for (let k = Math.floor(offset / ss); k * ss < end; k++) {
      const held = this.sectors.get(k);
      if (!held) continue;
      // The part of sector k inside [offset, end).
      const a = Math.max(k * ss, offset);
      const b = Math.min((k + 1) * ss, end);
      dest.set(held.subarray(a - k * ss, b - k * ss), a - offset);
    }
  }

  /** Writes the waiting sectors as extents, each run of adjacent ones one extent, then the inode's times. */
  async settle(): Promise<void> {
    const { fs, ss } = this;
    const st = await loadFile(fs, this.root, this.ino);
    // Nothing that would change how the file is written ran while they waited (it settles first).
    assert((st.inode.flags & (InodeFlags.NODATACOW | InodeFlags.PREALLOC)) === 0 && (await compressionFor(st)) === undefined, () => `inode ${this.ino}: dirty sectors of a file no longer written plainly`);
    const keys = [...this.sectors.keys()].sort((a, b) => a - b);
    // Every run's bytes to new extents first, then all their items, many to a leaf.
    const placed: FileExtent[] = [];
    for (let i = 0; i < keys.length;) {
      let j = i + 1;
      while (j < keys.length && keys[j] === keys[j - 1] + 1) j++;
      let buf: Uint8Array;
      if (j - i === 1) buf = this.sectors.get(keys[i])!;
      else {
        buf = new Uint8Array((j - i) * ss);
        for (let k = i; k < j; k++) buf.set(this.sectors.get(keys[k])!, (k - i) * ss);
      }
      const at = keys[i] * ss;
      const n = await cowPlain(st, at, buf, placed);
      if (n < buf.length) throw new FsError('ENOSPC', `inode ${this.ino}: no data space for ${buf.length - n} bytes at file offset ${at + n}`);
      i = j;
    }
    await placeExtents(st, placed);
    await finishWrite(st, { mtime: true }, this.lastWrite);
    // Every sector is copied on (the writeback's arena, or the device): the slots are free. A
    // settle that failed keeps its chunks (the transaction aborts; the garbage collector takes them).
    this.sectors.clear();
    giveChunks(this.chunks);
    this.chunks = [];
    this.chunkUsed = POOL_CHUNK_BYTES;
    if (fs.writeback.overLimit) await fs.writeback.flush(fs);
  }
}

/** The first dirty sectors of `st`'s file: `data` at `offset` (mayWaitDirty said it may wait). */
function startDirtySectors(st: FileState, offset: number, data: Uint8Array): void {
  const { fs } = st;
  const dirty = new DirtySectors(fs, st.root, st.ino, st.inode.size);
  const took = dirty.add(offset, data);
  assert(took, 'the first dirty write was refused');
  fs.stats.dirtyTails++;
  fs.writeTail = {
    root: st.root,
    ino: st.ino,
    dirty,
    settle: async (live) => {
      assert(live === undefined, 'dirty sectors settled into a running write');
      await dirty.settle();
    },
  };
}

/**
 * A FileHandle read's view of the pending write tail: settles any tail but the dirty sectors of
 * this file, which it returns (the read reads through them: readHandleInto).
 */
export async function tailForRead(fs: FsInfo, root: Root, ino: number): Promise<DirtySectorsTail | undefined> {
  const t = fs.writeTail;
  if (t === undefined) return undefined;
  if (t.dirty !== undefined && t.root === root && t.ino === ino) return t.dirty;
  await settleWriteTail(fs);
  return undefined;
}

/** readFileInto through `dirty` (tailForRead's): sectors waiting there are read from it. */
export async function readHandleInto(fs: FsInfo, root: Root, ino: number, offset: number, dest: Uint8Array, inode: InodeItem, dirty: DirtySectorsTail | undefined): Promise<number> {
  if (dirty === undefined) return readFileInto(fs, root, ino, offset, dest, inode);
  checkOffset(offset, 'read offset');
  if (offset >= inode.size || dest.length === 0) return 0;
  const n = Math.min(inode.size - offset, dest.length);
  const view = n === dest.length ? dest : dest.subarray(0, n);
  // Every sector waiting: nothing to read from the extents.
  const got = dirty.covers(offset, n) ? n : await readFileInto(fs, root, ino, offset, view, inode);
  dirty.overlay(offset, view.subarray(0, got));
  return got;
}

// ---------------------------------------------------------------- defrag

/**
 * The writeback of one defrag target (defrag_one_locked_target, then cow_file_range or
 * compress_file_range; the choice of targets is inode/defrag.ts's): [start, start + length)
 * of a regular file, whole sectors, read and written again through the write path, so it
 * lands in new extents. With `compress` every chunk is compressed with that codec and level
 * (0: the codec's default), the heuristic skipped, whatever the inode's flags and the mount
 * say (inode->defrag_compress). Shared extents (snapshots, reflinks) are unshared, as any
 * COW write unshares them; NODATACOW files are written in place where a write would be. An
 * inline extent (a file smaller than a sector) is stored again as a write of the whole file
 * stores it. mtime and ctime stay (defrag dirties pages without file_update_time); nbytes,
 * the flags (sticky NOCOMPRESS) and the transid change as for any writeback. Returns the
 * bytes written; ENOSPC and EDQUOT as for a write.
 */
export async function defragRewrite(
  fs: FsInfo, root: Root, ino: number, start: number, length: number, options: { compress?: { codec: CompressionName; level: number } } = {},
): Promise<number> {
  requireWritable(fs);
  const ss = fs.sectorsize;
  assert(start >= 0 && start % ss === 0 && length > 0 && length % ss === 0, () => `defragRewrite: [${start}, +${length}) is not whole sectors`);
  const st = await loadFile(fs, root, ino);
  const size = st.inode.size;
  if (start >= size) return 0;
  const end = Math.min(start + length, alignUp(size, ss));
  if (options.compress) st.defragCompress = options.compress;
  // ---- qgroups: EDQUOT before anything changes (btrfs_delalloc_reserve_space of the range).
  fs.qgroup?.reserve(root.objectid, end - start);
  let written: number;
  const inline = await inlineExtentOf(st);
  if (inline) {
    assert(start === 0 && size <= ss, () => `inode ${ino}: inline extent in a file of ${size} bytes`);
    const content = await readRange(st, 0, size);
    if (await storeInline(st, content)) {
      written = size;
    } else {
      const buf = new Uint8Array(ss);
      buf.set(content);
      written = await writeRange(st, 0, buf);
    }
  } else {
    written = await writeRange(st, start, await readRange(st, start, end - start));
  }
  if (written === 0) throw new FsError('ENOSPC', `inode ${ino}: no data space to defragment at ${start}`);
  await writeInode(fs, root, ino, st.inode);
  // Bound the memory the transaction's waiting data takes, as writeFile does.
  if (fs.writeback.overLimit) await fs.writeback.flush(fs);
  return written;
}

// ---------------------------------------------------------------- truncate

/**
 * Sets the size of a regular file (truncate / ftruncate). Down: the tail of the new last
 * sector is zeroed on disk and extents past it are dropped or trimmed (also when the size
 * is unchanged: that drops preallocated extents past EOF, as btrfs does). Up: a hole.
 */
export async function truncateFile(fs: FsInfo, root: Root, ino: number, newSize: number): Promise<void> {
  requireWritable(fs);
  checkOffset(newSize, 'size');
  if (newSize > MAX_FILE_SIZE) throw new FsError('EFBIG', `size ${newSize} passes the maximum file size`);
  const st = await loadFile(fs, root, ino);
  checkAttributes(fs, st.inode, 0, 'truncate');
  const ss = fs.sectorsize;
  const oldSize = st.inode.size;
  if (newSize > oldSize) {
    const inline = await inlineExtentOf(st);
    if (inline) {
      let inlined = false;
      if (newSize <= ss) {
        const content = new Uint8Array(newSize);
        content.set(await readRange(st, 0, oldSize));
        inlined = await storeInline(st, content);
      }
      if (!inlined) await convertInline(st, inline);
    }
    await fillHoles(st, alignUp(oldSize, ss), alignUp(newSize, ss));
  } else {
    if (newSize < oldSize && newSize % ss !== 0) await zeroTail(st, newSize);
    await truncateItems(st, newSize);
  }
  st.inode.size = newSize;
  await finishWrite(st, { mtime: true });
}

/**
 * btrfs_truncate_block: the bytes of the sector holding `size` past it become zeros on
 * disk, by rewriting that sector (COW, or in place for NOCOW). Holes and PREALLOC read as
 * zeros already; an inline extent is cut by truncateItems.
 */
async function zeroTail(st: FileState, size: number): Promise<void> {
  const ss = st.fs.sectorsize;
  const s = alignDown(size, ss);
  const [fe] = await fileExtentsIn(st, s, s + 1, 1);
  if (!fe || fe.type !== FileExtentType.REG || isHole(fe)) return;
  const buf = new Uint8Array(ss);
  buf.set(await readRange(st, s, size - s));
  const n = await writeRange(st, s, buf);
  if (n < ss) throw new FsError('ENOSPC', `inode ${st.ino}: no data space to zero the tail of the last sector`);
}

/** btrfs_truncate_inode_items: no item past `size` (rounded up to a sector); an inline extent is cut to it. */
async function truncateItems(st: FileState, size: number): Promise<void> {
  const { fs } = st;
  const inline = size > 0 ? await inlineExtentOf(st) : undefined;
  if (inline && inline.ramBytes > size && inline.compression !== CompressionType.NONE) {
    // A compressed inline extent cannot be cut: btrfs truncates its block and writeback
    // stores the shorter file again (inline when it still fits, else a regular sector).
    const content = (await inlineData(st, inline)).slice(0, size);
    if (!(await storeInline(st, content))) {
      const buf = new Uint8Array(fs.sectorsize);
      buf.set(content);
      await dropExtents(st, 0, fs.sectorsize);
      if ((await writeRange(st, 0, buf)) < buf.length) throw new FsError('ENOSPC', `inode ${st.ino}: no data space to rewrite the first sector`);
    }
  } else if (inline && inline.ramBytes > size) {
    invalidateFileExtents(st.root, st.ino, 0, fileExtentEnd(inline));
    const { found, path } = await searchSlot(fs, st.root, fileExtentKey(st.ino, 0), { cow: true });
    assert(found, 'inline extent vanished');
    truncateItem(fs, path, FileExtentHead.size + size, true);
    const dv = viewOf(path.itemData());
    dv.setUint32(FileExtentHead.off.ramBytes, size, true);
    dv.setUint32(FileExtentHead.off.ramBytes + 4, 0, true);
    fs.markDirty(path.leaf);
    st.inode.nbytes -= inline.ramBytes - size;
  }
  await dropExtents(st, alignUp(size, fs.sectorsize), MAX_FILE_SIZE);
}

// ---------------------------------------------------------------- fallocate

export interface FallocateOptions {
  /** FALLOC_FL_KEEP_SIZE: allocate past EOF without changing the size. */
  keepSize?: boolean;
}

/**
 * fallocate mode 0 / KEEP_SIZE: PREALLOC extents over the holes of [offset, offset + length)
 * (rounded out to sectors), reading as zeros until written. Extends the size unless keepSize.
 */
export async function fallocateFile(fs: FsInfo, root: Root, ino: number, offset: number, length: number, options: FallocateOptions = {}): Promise<void> {
  requireWritable(fs);
  checkOffset(offset, 'fallocate offset');
  if (!Number.isSafeInteger(length) || length <= 0) throw new FsError('EINVAL', `fallocate length ${length}`);
  if (offset + length > MAX_FILE_SIZE) throw new FsError('EFBIG', `fallocate to ${offset + length} passes the maximum file size`);
  const st = await loadFile(fs, root, ino);
  const ss = fs.sectorsize;
  const oldSize = st.inode.size;
  const end = offset + length;
  const allocStart = alignDown(offset, ss);
  const allocEnd = alignUp(end, ss);
  // ---- qgroups: EDQUOT before anything changes (btrfs_qgroup_reserve_data of the range).
  fs.qgroup?.reserve(root.objectid, allocEnd - allocStart);
  if (end > oldSize) {
    // btrfs_truncate_block(i_size) dirties the inline extent's page; writeback with the
    // PREALLOC flag set makes it a regular extent.
    const inline = await inlineExtentOf(st);
    if (inline) {
      st.inode.flags |= InodeFlags.PREALLOC;
      await convertInline(st, inline);
    }
  }
  if (!options.keepSize && allocStart > alignUp(oldSize, ss)) await fillHoles(st, alignUp(oldSize, ss), allocStart);
  // The ranges to preallocate: no item, hole items, and past EOF anything but PREALLOC.
  const ranges: [number, number][] = [];
  const add = (a: number, b: number) => {
    const last = ranges[ranges.length - 1];
    if (last && last[1] === a) last[1] = b;
    else if (b > a) ranges.push([a, b]);
  };
  let cur = allocStart;
  for (const fe of await fileExtentsIn(st, allocStart, allocEnd)) {
    const a = Math.max(fe.fileOffset, cur);
    const b = Math.min(alignUp(fileExtentEnd(fe), ss), allocEnd);
    if (a > cur) add(cur, a);
    if (b > a && (isHole(fe) || (a >= oldSize && fe.type === FileExtentType.REG))) add(a, b);
    cur = Math.max(cur, b);
  }
  if (cur < allocEnd) add(cur, allocEnd);
  try {
    for (const [a, b] of ranges) {
      for (let pos = a; pos < b;) {
        const ext = allocateSpaceRange(fs, BlockGroupFlags.DATA, Math.min(b - pos, MAX_PREALLOC_EXTENT_BYTES), ss, ss);
        await dropExtents(st, pos, pos + ext.length);
        const fe = newFileExtent(fs, FileExtentType.PREALLOC, pos, ext.start, ext.length, 0, ext.length);
        await insertFileExtent(fs, root, ino, fe);
        fs.delayedRefs.addDataRef(ext.start, ext.length, dataRefOf(st, fe, pos), +1, true);
        st.inode.nbytes += ext.length;
        st.inode.flags |= InodeFlags.PREALLOC;
        pos += ext.length;
      }
    }
    if (!options.keepSize) st.inode.size = Math.max(oldSize, end);
  } finally {
    // What was allocated stays (as btrfs does on a failed fallocate); the inode must count it.
    await finishWrite(st, { mtime: false });
  }
}

// ---------------------------------------------------------------- free

/**
 * Drops every file extent item of a regular file and its refs (btrfs_evict_inode's
 * truncate to 0), for the final unlink and orphan cleanup. The inode item, when there is
 * one, is left with size and nbytes 0 for the caller to delete.
 */
export async function freeInodeData(fs: FsInfo, root: Root, ino: number): Promise<void> {
  requireWritable(fs);
  const item = await findInode(fs, root, ino);
  const inode = item ?? InodeItemStruct.zero();
  await dropExtents({ fs, root, ino, inode }, 0, MAX_FILE_SIZE);
  forgetFileExtents(root, ino);
  if (item) {
    // The inode may outlive this call (orphan cleanup in steps): keep it consistent.
    item.size = 0;
    item.nbytes = 0;
    await writeInode(fs, root, ino, item);
  }
}

// ---------------------------------------------------------------- reflink

/**
 * FICLONERANGE: makes [dstOffset, +length) of dst share the extents of [srcOffset, +length)
 * of src. Offsets must be sector aligned, and length too unless the range ends at src's
 * EOF (length 0: to src's EOF; a length past EOF is cut to it). EINVAL for ranges that
 * overlap within one file, for a partial last sector landing inside dst's size, and for
 * files that differ in NODATASUM. Returns the bytes cloned. Inline extents are copied.
 */
export async function cloneRange(
  fs: FsInfo, srcRoot: Root, srcIno: number, srcOffset: number, length: number, dstRoot: Root, dstIno: number, dstOffset: number,
): Promise<number> {
  requireWritable(fs);
  checkOffset(srcOffset, 'clone source offset');
  checkOffset(dstOffset, 'clone destination offset');
  checkOffset(length, 'clone length');
  const ss = fs.sectorsize;
  const src = await loadFile(fs, srcRoot, srcIno);
  const sameFile = srcRoot === dstRoot && srcIno === dstIno;
  const dst = sameFile ? src : await loadFile(fs, dstRoot, dstIno);
  if ((src.inode.flags & InodeFlags.NODATASUM) !== (dst.inode.flags & InodeFlags.NODATASUM)) {
    throw new FsError('EINVAL', 'clone between a file with and a file without data checksums');
  }
  if (srcOffset % ss !== 0 || dstOffset % ss !== 0) throw new FsError('EINVAL', `clone offsets ${srcOffset} and ${dstOffset} must be multiples of ${ss}`);
  const srcSize = src.inode.size;
  if (length === 0) {
    if (srcOffset === srcSize) return 0;
    length = srcSize - srcOffset;
  }
  if (srcOffset >= srcSize) throw new FsError('EINVAL', `clone source offset ${srcOffset} is at or past EOF ${srcSize}`);
  length = Math.min(length, srcSize - srcOffset);
  const srcEnd = srcOffset + length;
  if (length % ss !== 0 && srcEnd !== srcSize) throw new FsError('EINVAL', `clone length ${length} must be a multiple of ${ss} unless it ends at the source's EOF`);
  if (length % ss !== 0 && dstOffset + length < dst.inode.size) throw new FsError('EINVAL', 'clone of a partial last sector into the middle of the destination');
  if (dstOffset + length > MAX_FILE_SIZE) throw new FsError('EFBIG', 'clone passes the maximum file size');
  const span = alignUp(length, ss);
  if (sameFile && dstOffset < srcOffset + span && srcOffset < dstOffset + span) throw new FsError('EINVAL', 'clone ranges overlap within one file');
  const dstOldSize = dst.inode.size;
  const dstNewSize = Math.max(dstOldSize, dstOffset + length);
  const dstInline = await inlineExtentOf(dst);
  if (dstInline && dstOffset > 0) await convertInline(dst, dstInline);
  if (dstOffset > alignUp(dstOldSize, ss)) await fillHoles(dst, alignUp(dstOldSize, ss), dstOffset);
  const map = (x: number) => dstOffset + (x - srcOffset);
  const fes = await fileExtentsIn(src, srcOffset, srcOffset + span);
  let cur = srcOffset;
  const holeTo = async (to: number) => {
    if (to <= cur) return;
    await dropExtents(dst, map(cur), map(to));
    await fillHoles(dst, map(cur), map(to));
  };
  for (const fe of fes) {
    const ks = fe.fileOffset;
    const a = Math.max(ks, cur);
    const b = Math.min(alignUp(fileExtentEnd(fe), ss), srcOffset + span);
    await holeTo(a);
    if (b <= a) continue;
    if (fe.type === FileExtentType.INLINE) {
      // clone_copy_inline_extent: the bytes are copied (inline item when dst is that small).
      // The file's bytes (decompressed when the item is compressed: not the item's length).
      const data = await inlineData(src, fe);
      const bytes = data.subarray(a - ks, Math.min(data.length, length - (a - srcOffset)));
      if (map(a) === 0 && inlineAllowed(dst, dstNewSize)) {
        await writeInline(dst, bytes.slice());
      } else {
        const buf = new Uint8Array(b - a);
        buf.set(bytes);
        await dropExtents(dst, map(a), map(b));
        if ((await writeRange(dst, map(a), buf)) < buf.length) throw new FsError('ENOSPC', 'no data space to copy an inline extent');
      }
    } else if (isHole(fe)) {
      await dropExtents(dst, map(a), map(b));
      await fillHoles(dst, map(a), map(b));
    } else {
      const clone: FileExtent = { ...fe, fileOffset: map(a), offset: fe.offset + (a - ks), numBytes: b - a };
      await dropExtents(dst, map(a), map(b));
      await insertFileExtent(fs, dstRoot, dstIno, clone);
      changeRef(dst, clone, clone.fileOffset, +1);
      dst.inode.nbytes += countedBytes(clone);
    }
    cur = b;
  }
  await holeTo(srcOffset + span);
  dst.inode.size = dstNewSize;
  await finishWrite(dst, { mtime: true });
  return length;
}

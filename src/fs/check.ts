// The checker (btrfs-progs check/main.c and check/mode-lowmem.c): our `btrfs check --readonly`.
//
// Owns: the read-only verification of a whole filesystem from its superblock down. It
// walks every tree reachable from the superblock (chunk tree, root tree, every tree with a
// ROOT_ITEM, the log tree) through the verifying read choke point (fs.readBlock), collects
// what the trees say, and cross-checks:
//   1. tree structure: every block readable and verified; keys ascending across leaves;
//      parent key = child first key; child generation <= parent generation; levels going
//      down by one; no block reached twice in one tree (loops) and empty leaves only as roots;
//   2. the extent tree against what references it: every tree block has a METADATA_ITEM /
//      EXTENT_ITEM with backrefs naming its tree or parent and refs equal to the references
//      found; every data extent's EXTENT_DATA_REF / SHARED_DATA_REF counts equal the file
//      extents pointing at it, counted per (root, inode, key.offset - extent offset) as
//      progs does; no extent item without a referrer; extents inside a block group of
//      their type and not overlapping;
//   3. the free space tree against the extent tree, per block group;
//   4. block group used bytes against the extents in them;
//   5. superblock totals, devices, chunks, block groups and dev extents against each other;
//   6. root items against their root blocks (through the read expectations) and root refs;
//   7. csum items: only over data extents, sizes whole, no overlaps;
//   8. fs trees: dir items <-> inode refs, nlink, directory i_size, file nbytes, hashes.
//
// Fault model: everything on disk is untrusted. Item sizes are checked before any decode,
// every loop over on-disk data is bounded by sizes already checked or by a visited set, and
// a bad block or item becomes an error sentence naming it, never an exception (FsErrors
// from the read path are recorded; anything else is a bug and propagates). The caller must
// not run a transaction while the check runs: it reads the committed state.
import { Key, readDiskKey } from '../format/key.js';
import { viewOf } from '../format/struct.js';
import {
  RootItem, ROOT_ITEM_LEGACY_SIZE, DevItem, InodeItem, InodeRef, InodeExtref, DirItem, FileExtentHead, FileExtentItem,
  ExtentItem, TreeBlockInfo, ExtentDataRef, BlockGroupItem, FreeSpaceInfo, FREE_SPACE_USING_BITMAPS, DevExtent, RootRef,
} from '../format/structs.js';
import {
  ItemType, ROOT_TREE_OBJECTID, EXTENT_TREE_OBJECTID, CHUNK_TREE_OBJECTID, DEV_TREE_OBJECTID, FS_TREE_OBJECTID,
  CSUM_TREE_OBJECTID, QUOTA_TREE_OBJECTID, UUID_TREE_OBJECTID, FREE_SPACE_TREE_OBJECTID, BLOCK_GROUP_TREE_OBJECTID,
  TREE_LOG_OBJECTID, TREE_RELOC_OBJECTID, DATA_RELOC_TREE_OBJECTID, EXTENT_CSUM_OBJECTID, ORPHAN_OBJECTID,
  FIRST_FREE_OBJECTID, LAST_FREE_OBJECTID, FIRST_CHUNK_TREE_OBJECTID, DEV_ITEMS_OBJECTID, MAX_LEVEL,
  EXTENT_FLAG_DATA, EXTENT_FLAG_TREE_BLOCK, BLOCK_FLAG_FULL_BACKREF, BLOCK_GROUP_TYPE_MASK, BlockGroupFlags, IncompatFlags, CompatRoFlags,
  FileExtentType, FileType, CompressionType,
} from '../format/constants.js';
import { compareU64, u64ToString } from '../format/u64.js';
import { ExtentBuffer } from '../tree/extent-buffer.js';
import { btrfsNameHash, btrfsExtrefHash, crc32c, csumSizeBytes } from '../kernels/checksum.js';
import { decodeChunk, stripeSize, type ChunkMapping } from '../volume/volumes.js';
import { RangeSet } from '../util/range-set.js';
import { FsError } from '../util/errors.js';
import { verifyQgroups } from './qgroup-verify.js';
import { parseSysChunkArray } from './super.js';
import { ownerMatches, type FsInfo } from './fs-info.js';

export interface CheckProgress {
  phase: 'trees' | 'extents' | 'block groups' | 'devices' | 'free space' | 'csums' | 'fs trees';
  done: number;
  total: number;
}

export interface CheckOptions {
  onProgress?: (p: CheckProgress) => void;
  /** Aborting makes check() throw FsError ECANCELED. */
  signal?: AbortSignal;
  /** Errors kept in the result; later ones are only counted (default 1000). */
  maxErrors?: number;
}

export interface CheckStats {
  trees: number;
  treeBlocks: number;
  metadataExtents: number;
  dataExtents: number;
  fileExtentRefs: number;
  blockGroups: number;
  chunks: number;
  devExtents: number;
  freeSpaceEntries: number;
  csumItems: number;
  csumBytes: number;
  inodes: number;
  dirEntries: number;
  /** Bytes used by extents, as counted by the check (should equal superblock bytes_used). */
  bytesUsed: number;
}

export interface CheckResult {
  ok: boolean;
  /** One sentence per problem, naming the block / item / range. */
  errors: string[];
  /** Errors beyond maxErrors, counted but not kept. */
  droppedErrors: number;
  stats: CheckStats;
}

// ---------------------------------------------------------------- records

/** One tree to walk: from the superblock or from a ROOT_ITEM. */
interface TreeDesc {
  id: number;
  /** ROOT_ITEM key offset (snapshots, reloc trees); 0 otherwise. */
  offset: number;
  bytenr: number;
  generation: number;
  level: number;
  /** Header owner the blocks must carry (subvolume trees: any subvolume tree). */
  owner: number;
  rootDirid: number;
  /** ROOT_ITEM refs (0: a deleted subvolume being dropped); 1 for trees without a root item. */
  refs: number;
  /** ROOT_ITEM last_snapshot. */
  lastSnapshot: number;
  /** A tree being dropped: the pointers before (dropKey, dropLevel) are gone (btrfs-progs ri->drop_key). */
  dropKey?: Key;
  dropLevel: number;
}

interface BlockRef {
  tree: number;
  /** Parent block bytenr, 0 for a tree's root block. */
  parent: number;
}

interface BlockRec {
  level: number;
  /** Header owner once read; the walking tree before. */
  owner: number;
  /** The first tree that reached it. */
  tree: number;
  refs: BlockRef[];
  readable: boolean;
  log: boolean;
  /** Header generation once read. */
  generation?: number;
}

type Backref =
  | { kind: 'tree'; root: number; count: 1 }
  | { kind: 'shared-block'; parent: number; count: 1 }
  | { kind: 'data'; root: number; objectid: number; offset: number; count: number }
  | { kind: 'shared-data'; parent: number; count: number }
  | { kind: 'owner'; root: number; count: 0 };

interface ExtentRec {
  bytenr: number;
  numBytes: number;
  /** 168 or 169. */
  type: number;
  /** METADATA_ITEM key offset / tree_block_info level, -1 when not a tree block. */
  level: number;
  refs: number;
  flags: number;
  backrefs: Backref[];
  key: string;
}

/** A file extent (EXTENT_DATA) with a disk extent, as a data backref would name it. */
interface DataRef {
  root: number;
  ino: number;
  /** key.offset - file extent offset, as u64 in number form (may wrap: negative). */
  offset: number;
  leaf: number;
  diskNumBytes: number;
  where: string;
}

interface InodeRec {
  hasItem: boolean;
  mode: number;
  nlink: number;
  size: number;
  nbytes: number;
  flags: number;
  /** INODE_REF / INODE_EXTREF names. */
  refs: { parent: number; index: number; name: string; extref: boolean }[];
  /** Sum of name_len over the DIR_ITEM and DIR_INDEX entries of this directory. */
  dirNameBytes: number;
  /** nbytes as the file extents add up (progs found_size). */
  extentBytes: number;
  fileExtents: number;
  dirEntries: number;
}

interface DirEnt {
  dir: number;
  index: boolean;
  keyOffset: number;
  name: string;
  loc: Key;
  type: number;
  where: string;
}

interface FsTreeState {
  inodes: Map<number, InodeRec>;
  dirEnts: DirEnt[];
  orphans: Set<number>;
}

const MAX_NAME_BYTES = 255;
const latin1 = (b: Uint8Array): string => String.fromCharCode(...b);
const utf8 = new TextDecoder('utf-8', { fatal: false });
const showName = (s: string): string => JSON.stringify(utf8.decode(Uint8Array.from(s, (c) => c.charCodeAt(0))));

function treeName(id: number): string {
  switch (id) {
    case ROOT_TREE_OBJECTID: return 'root tree';
    case EXTENT_TREE_OBJECTID: return 'extent tree';
    case CHUNK_TREE_OBJECTID: return 'chunk tree';
    case DEV_TREE_OBJECTID: return 'dev tree';
    case FS_TREE_OBJECTID: return 'fs tree';
    case CSUM_TREE_OBJECTID: return 'csum tree';
    case QUOTA_TREE_OBJECTID: return 'quota tree';
    case UUID_TREE_OBJECTID: return 'uuid tree';
    case FREE_SPACE_TREE_OBJECTID: return 'free space tree';
    case BLOCK_GROUP_TREE_OBJECTID: return 'block group tree';
    case TREE_LOG_OBJECTID: return 'log tree';
    case TREE_RELOC_OBJECTID: return 'reloc tree';
    case DATA_RELOC_TREE_OBJECTID: return 'data reloc tree';
    default: return `subvolume ${u64ToString(id)}`;
  }
}

/** Trees holding inodes (btrfs is_fstree, plus the data relocation tree). */
function isFsTree(id: number): boolean {
  return id === FS_TREE_OBJECTID || id === DATA_RELOC_TREE_OBJECTID ||
    (id >= FIRST_FREE_OBJECTID && compareU64(id, LAST_FREE_OBJECTID) <= 0);
}

/** S_IFMT -> the dir item type btrfs stores. */
function fileTypeOfMode(mode: number): number {
  switch (mode & 0o170000) {
    case 0o100000: return FileType.REG_FILE;
    case 0o040000: return FileType.DIR;
    case 0o020000: return FileType.CHRDEV;
    case 0o060000: return FileType.BLKDEV;
    case 0o010000: return FileType.FIFO;
    case 0o140000: return FileType.SOCK;
    case 0o120000: return FileType.SYMLINK;
    default: return FileType.UNKNOWN;
  }
}

/** hash_extent_data_ref: the key offset of a keyed EXTENT_DATA_REF, as [hi, lo] u32 halves. */
function extentDataRefHash(root: number, objectid: number, offset: number): [number, number] {
  const le = (n: number): Uint8Array => {
    const b = new Uint8Array(8);
    const v = BigInt.asUintN(64, BigInt(n));
    new DataView(b.buffer).setBigUint64(0, v, true);
    return b;
  };
  const high = crc32c(0xffffffff, le(root)) >>> 0;
  let low = crc32c(0xffffffff, le(objectid));
  low = crc32c(low, le(offset)) >>> 0;
  // (u64)high << 31 ^ (u64)low
  const hi = high >>> 1;
  const lo = (((high & 1) << 31) ^ low) >>> 0;
  return [hi, lo];
}

function rangesString(set: RangeSet, max = 4): string {
  const parts: string[] = [];
  for (const [s, l] of set.ranges()) {
    if (parts.length === max) {
      parts.push(`... (${set.count} ranges)`);
      break;
    }
    parts.push(`[${s}, +${l})`);
  }
  return parts.join(' ');
}

/** a minus b, both RangeSets (a new set). */
function subtract(a: RangeSet, b: RangeSet): RangeSet {
  const out = new RangeSet();
  for (const [s, l] of a.ranges()) out.add(s, l);
  for (const [s, l] of b.ranges()) out.removeAny(s, l);
  return out;
}

// ---------------------------------------------------------------- the checker

class Checker {
  readonly errors: string[] = [];
  dropped = 0;
  readonly stats: CheckStats = {
    trees: 0, treeBlocks: 0, metadataExtents: 0, dataExtents: 0, fileExtentRefs: 0, blockGroups: 0, chunks: 0,
    devExtents: 0, freeSpaceEntries: 0, csumItems: 0, csumBytes: 0, inodes: 0, dirEntries: 0, bytesUsed: 0,
  };
  private readonly maxErrors: number;

  // What the trees say.
  readonly blocks = new Map<number, BlockRec>();
  readonly chunks = new Map<number, ChunkMapping>();
  readonly devItems = new Map<number, { devid: number; totalBytes: number; bytesUsed: number; uuid: Uint8Array }>();
  readonly rootItems: { key: Key; id: number; offset: number; item: { generation: number; rootDirid: number; bytenr: number; level: number; refs: number; lastSnapshot: number; dropProgress: Key; dropLevel: number } }[] = [];
  /** ROOT_ITEM last_snapshot per tree id (the highest key offset's item). */
  readonly lastSnapshots = new Map<number, number>();
  readonly rootRefs = new Map<string, string>();
  readonly rootBackrefs = new Map<string, string>();
  readonly extents = new Map<number, ExtentRec>();
  private lastExtent: ExtentRec | undefined;
  readonly blockGroupItems = new Map<number, { length: number; used: number; flags: number }>();
  readonly devExtents: { devid: number; physical: number; length: number; chunkOffset: number; where: string }[] = [];
  readonly fstInfos = new Map<number, { length: number; extentCount: number; flags: number }>();
  readonly fstEntries: { start: number; length: number; bitmap: Uint8Array | undefined; where: string }[] = [];
  readonly csumItems: { start: number; length: number; where: string }[] = [];
  readonly dataRefs = new Map<number, DataRef[]>();
  /** Trees with blocks that could not be read: their contents are incomplete. */
  readonly damagedTrees = new Set<number>();
  private fsTree: FsTreeState | undefined;
  private readonly csumSize: number;
  private blocksRead = 0;
  private blocksEstimate = 1;

  constructor(
    readonly fs: FsInfo,
    readonly opts: CheckOptions,
  ) {
    this.maxErrors = opts.maxErrors ?? 1000;
    this.csumSize = csumSizeBytes(fs.csum);
  }

  error(msg: string): void {
    if (this.errors.length < this.maxErrors) this.errors.push(msg);
    else this.dropped++;
  }

  tick(): void {
    if (this.opts.signal?.aborted) throw new FsError('ECANCELED', 'check cancelled');
  }

  progress(phase: CheckProgress['phase'], done: number, total: number): void {
    this.tick();
    this.opts.onProgress?.({ phase, done, total });
  }

  /** Runs `fn`, turning an FsError (a value from disk we cannot represent) into an error sentence. */
  guard(where: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (!(e instanceof FsError)) throw e;
      this.error(`${where}: ${e.message}`);
    }
  }

  // ---------------------------------------------------------------- phase 1: trees

  async run(): Promise<void> {
    const fs = this.fs;
    const sb = fs.sb;
    if (fs.transid !== 0) throw new FsError('EBUSY', 'check reads the committed state: commit the running transaction first');
    // Estimate for progress: metadata blocks in use per the in-memory block groups.
    let metaUsed = 0;
    for (const bg of fs.blockGroups.all()) if (bg.flags & (BlockGroupFlags.METADATA | BlockGroupFlags.SYSTEM)) metaUsed += bg.used;
    this.blocksEstimate = Math.max(1, Math.ceil(metaUsed / fs.nodesize));

    const plain = { offset: 0, rootDirid: 0, refs: 1, lastSnapshot: 0, dropLevel: 0 };
    await this.walkTree({ ...plain, id: CHUNK_TREE_OBJECTID, bytenr: sb.chunkRoot, generation: sb.chunkRootGeneration, level: sb.chunkRootLevel, owner: CHUNK_TREE_OBJECTID });
    await this.walkTree({ ...plain, id: ROOT_TREE_OBJECTID, bytenr: sb.root, generation: sb.generation, level: sb.rootLevel, owner: ROOT_TREE_OBJECTID });
    for (const r of this.rootItems) {
      const it = r.item;
      const where = `root item ${r.key}`;
      if (it.generation > sb.generation) this.error(`${where}: generation ${it.generation} is newer than the superblock's ${sb.generation}`);
      if (it.level >= MAX_LEVEL) {
        this.error(`${where}: level ${it.level} is not below ${MAX_LEVEL}`);
        continue;
      }
      if (it.bytenr === 0) {
        this.error(`${where}: root block address is 0`);
        continue;
      }
      const dropping = it.dropProgress.objHi !== 0 || it.dropProgress.objLo !== 0;
      if (dropping && (it.dropLevel === 0 || it.dropLevel > it.level)) {
        this.error(`${where}: drop level ${it.dropLevel} with a root block at level ${it.level}`);
        continue;
      }
      await this.walkTree({
        id: r.id, offset: r.offset, bytenr: it.bytenr, generation: it.generation, level: it.level, owner: r.id, rootDirid: it.rootDirid,
        refs: it.refs, lastSnapshot: it.lastSnapshot, dropKey: dropping ? it.dropProgress : undefined, dropLevel: dropping ? it.dropLevel : 0,
      });
    }
    if (sb.logRoot !== 0) {
      // Log tree blocks have no extent items (btrfs allocates them outside the extent tree).
      await this.walkTree({ ...plain, id: TREE_LOG_OBJECTID, bytenr: sb.logRoot, generation: sb.generation + 1, level: sb.logRootLevel, owner: TREE_LOG_OBJECTID }, true);
    }
    this.checkRootRefs();
    this.checkExtents();
    this.checkBlockGroups();
    this.checkDevices();
    this.checkFreeSpace();
    this.checkCsums();
    // ---- qgroups (btrfs check --qgroup-report): recomputed from the extent tree.
    if (this.damagedTrees.size === 0) {
      try {
        for (const e of (await verifyQgroups(fs, { tick: () => this.tick() })).errors) this.error(e);
      } catch (e) {
        if (!(e instanceof FsError) || e.code === 'ECANCELED') throw e;
        this.error(`qgroups: ${e.message}`);
      }
    }
  }

  private async walkTree(t: TreeDesc, log = false): Promise<void> {
    const fs = this.fs;
    const name = `${treeName(t.id)}${t.offset ? ` (root item offset ${t.offset})` : ''}`;
    this.stats.trees++;
    this.progress('trees', this.blocksRead, Math.max(this.blocksRead, this.blocksEstimate));
    // Inode checks need every item of the tree, shared blocks included; a deleted subvolume
    // (refs 0) is only walked for its references, as it is being dropped.
    const fsTree = (isFsTree(t.id) || t.id === TREE_RELOC_OBJECTID) && t.refs !== 0;
    if (fsTree) this.fsTree = { inodes: new Map(), dirEnts: [], orphans: new Set() };
    const seen = new Set<number>();
    // shadow: a block first reached from another tree, walked again only for this tree's items.
    interface Pending { bytenr: number; generation: number; level: number; parent: number; parentGen: number; slot: number; firstKey?: Key; upper?: Key; shadow: boolean }
    const stack: Pending[] = [{ bytenr: t.bytenr, generation: t.generation, level: t.level, parent: 0, parentGen: Infinity, slot: -1, shadow: false }];
    // Bounded: every block is expanded at most once per tree (the visited set), and a
    // block's children are at most nodePtrsPerBlock.
    while (stack.length > 0) {
      const p = stack.pop()!;
      const from = p.parent === 0 ? 'its root item' : `slot ${p.slot} of node ${p.parent}`;
      const where = `tree block ${p.bytenr} (${name}, level ${p.level}, from ${from})`;
      let rec = this.blocks.get(p.bytenr);
      let shadow = p.shadow;
      if (seen.has(p.bytenr)) {
        if (rec && !shadow) rec.refs.push({ tree: t.id, parent: p.parent });
        this.error(`${where} is reached twice in the ${name}: a loop or a block shared inside one tree`);
        this.damagedTrees.add(t.id); // what the slot should have held is lost
        continue;
      }
      seen.add(p.bytenr);
      if (!shadow) {
        if (rec) {
          rec.refs.push({ tree: t.id, parent: p.parent });
          if (rec.level !== p.level) {
            this.error(`${where} is also reached as a level ${rec.level} block of the ${treeName(rec.tree)}`);
            continue;
          }
          if (log || rec.log) {
            this.error(`${where} is shared with the ${treeName(rec.tree)}`);
            continue;
          }
          // A shared subtree's references are counted once: its children's come from it alone.
          if (!fsTree || !rec.readable) continue;
          shadow = true;
        } else {
          rec = { level: p.level, owner: t.owner, tree: t.id, refs: [{ tree: t.id, parent: p.parent }], readable: false, log };
          this.blocks.set(p.bytenr, rec);
          if (++this.blocksRead % 64 === 0) this.progress('trees', this.blocksRead, Math.max(this.blocksRead, this.blocksEstimate));
          else this.tick();
        }
      } else {
        this.tick();
      }

      let eb: ExtentBuffer;
      try {
        eb = await fs.readBlock(p.bytenr, { generation: p.generation, level: p.level, owner: t.owner, firstKey: p.firstKey });
      } catch (e) {
        if (!(e instanceof FsError)) throw e;
        if (!shadow) this.error(`${where} cannot be read: ${e.message}`);
        this.damagedTrees.add(t.id);
        continue;
      }
      const nr = eb.nritems;
      if (!shadow) {
        const r = rec!;
        r.readable = true;
        this.stats.treeBlocks++;
        // A cached block skips the owner and first key checks of the read path: repeat them.
        this.guard(where, () => {
          if (!ownerMatches(t.owner, eb.owner)) this.error(`${where}: header owner ${u64ToString(eb.owner)}, expected ${u64ToString(t.owner)}`);
          r.owner = eb.owner;
          r.generation = eb.generation;
          if (eb.generation > fs.sb.generation && !log) this.error(`${where}: generation ${eb.generation} is newer than the superblock's ${fs.sb.generation}`);
          if (p.generation > p.parentGen) this.error(`${where}: generation ${p.generation} is newer than its parent's ${p.parentGen}`);
        });
        if (p.firstKey && nr > 0 && eb.compareKey(0, p.firstKey) !== 0) {
          this.error(`${where}: first key ${eb.key(0)} differs from the parent's key ${p.firstKey}`);
        }
        if (p.upper && nr > 0 && eb.compareKey(nr - 1, p.upper) >= 0) {
          this.error(`${where}: last key ${eb.key(nr - 1)} is not below the parent's next key ${p.upper}`);
        }
      }
      if (eb.level === 0) {
        if (nr === 0 && p.parent !== 0 && !shadow) this.error(`${where}: empty leaf below the root`);
        this.processLeaf(t, eb, name, shadow);
        continue;
      }
      // A tree being dropped: pointers before its drop progress are gone (btrfs-progs
      // run_next_block with ri->drop_key).
      let first = 0;
      if (t.dropKey && eb.level > t.dropLevel) first = eb.childSlot(t.dropKey);
      // Children pushed in reverse so that leaves are visited in key order.
      const children: Pending[] = [];
      for (let slot = first; slot < nr; slot++) {
        try {
          if (t.dropKey && eb.level === t.dropLevel && eb.compareKey(slot, t.dropKey) < 0) continue;
          children.push({
            bytenr: eb.blockptr(slot), generation: eb.ptrGeneration(slot), level: eb.level - 1, parent: p.bytenr,
            parentGen: eb.generation, slot, firstKey: eb.key(slot), upper: slot + 1 < nr ? eb.key(slot + 1) : p.upper, shadow,
          });
        } catch (e) {
          if (!(e instanceof FsError)) throw e;
          if (!shadow) this.error(`${where}: key pointer ${slot}: ${e.message}`);
          this.damagedTrees.add(t.id);
        }
      }
      for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
    }
    if (this.fsTree && fsTree) {
      if (this.damagedTrees.has(t.id)) {
        this.error(`${name}: inode and directory checks skipped because parts of the tree are unreadable or unreachable`);
      } else {
        this.checkFsTree(t, name, this.fsTree);
      }
      this.fsTree = undefined;
    }
  }

  private processLeaf(t: TreeDesc, eb: ExtentBuffer, treeLabel: string, shadow: boolean): void {
    const nr = eb.nritems;
    if (shadow) {
      // Only this tree's inode records: the block's own items were checked when first reached.
      if (!this.fsTree) return;
      for (let slot = 0; slot < nr; slot++) {
        const key = eb.key(slot);
        this.guard(`item ${key} in leaf ${eb.bytenr} slot ${slot} (${treeLabel})`, () => this.fsItem(eb, key, eb.itemData(slot), `item ${key} in leaf ${eb.bytenr} slot ${slot} (${treeLabel})`, true));
      }
      return;
    }
    for (let slot = 0; slot < nr; slot++) {
      const key = eb.key(slot);
      const data = eb.itemData(slot);
      const where = `item ${key} in leaf ${eb.bytenr} slot ${slot} (${treeLabel})`;
      this.guard(where, () => {
        switch (t.id) {
          case CHUNK_TREE_OBJECTID: return this.chunkItem(key, data, where);
          case ROOT_TREE_OBJECTID: return this.rootTreeItem(key, data, where);
          case EXTENT_TREE_OBJECTID: return this.extentItem(key, data, where);
          case DEV_TREE_OBJECTID: return this.devTreeItem(key, data, where);
          case CSUM_TREE_OBJECTID: return this.csumItem(key, data, where);
          case FREE_SPACE_TREE_OBJECTID: return this.freeSpaceItem(key, data, where);
          case BLOCK_GROUP_TREE_OBJECTID: return this.extentItem(key, data, where);
          default:
            if (this.fsTree) this.fsItem(eb, key, data, where, false);
            else if (isFsTree(t.id) || t.id === TREE_RELOC_OBJECTID) this.fileExtentRef(eb, key, data, where);
        }
      });
    }
  }

  private needSize(data: Uint8Array, size: number, where: string, exact = true): boolean {
    if (exact ? data.length === size : data.length >= size) return true;
    this.error(`${where}: item size ${data.length}, expected ${exact ? '' : 'at least '}${size}`);
    return false;
  }

  private chunkItem(key: Key, data: Uint8Array, where: string): void {
    if (key.type === ItemType.DEV_ITEM) {
      if (key.objectid !== DEV_ITEMS_OBJECTID) this.error(`${where}: dev item objectid is not ${DEV_ITEMS_OBJECTID}`);
      if (!this.needSize(data, DevItem.size, where)) return;
      const dv = viewOf(data);
      const D = DevItem.off;
      const d = { devid: u64(dv, D.devid), totalBytes: u64(dv, D.totalBytes), bytesUsed: u64(dv, D.bytesUsed), uuid: data.slice(D.uuid, D.uuid + 16) };
      if (d.devid !== key.offset) this.error(`${where}: devid ${d.devid} differs from the key`);
      if (this.devItems.has(d.devid)) this.error(`${where}: device ${d.devid} has two dev items`);
      this.devItems.set(d.devid, d);
    } else if (key.type === ItemType.CHUNK_ITEM) {
      if (key.objectid !== FIRST_CHUNK_TREE_OBJECTID) this.error(`${where}: chunk item objectid is not ${FIRST_CHUNK_TREE_OBJECTID}`);
      const c = decodeChunk(key.offset, data);
      this.chunks.set(c.start, c);
      this.stats.chunks++;
    }
  }

  private rootTreeItem(key: Key, data: Uint8Array, where: string): void {
    if (key.type === ItemType.ROOT_ITEM) {
      if (data.length !== RootItem.size && data.length !== ROOT_ITEM_LEGACY_SIZE) {
        this.error(`${where}: root item size ${data.length}, expected ${RootItem.size} or ${ROOT_ITEM_LEGACY_SIZE}`);
        return;
      }
      // Only the fields the check needs: btrfs leaves other fields unset at times.
      const dv = viewOf(data);
      const R = RootItem.off;
      const item = {
        generation: u64(dv, R.generation), rootDirid: u64(dv, R.rootDirid), bytenr: u64(dv, R.bytenr), level: data[R.level],
        refs: dv.getUint32(R.refs, true), lastSnapshot: u64(dv, R.lastSnapshot), dropProgress: readDiskKey(dv, R.dropProgress), dropLevel: data[R.dropLevel],
      };
      const id = key.objectid;
      if (id === ROOT_TREE_OBJECTID || id === CHUNK_TREE_OBJECTID || id === TREE_LOG_OBJECTID) {
        this.error(`${where}: the ${treeName(id)} has no root item`);
        return;
      }
      this.rootItems.push({ key, id, offset: key.offset, item });
      this.lastSnapshots.set(id, item.lastSnapshot);
    } else if (key.type === ItemType.ROOT_REF || key.type === ItemType.ROOT_BACKREF) {
      if (!this.needSize(data, RootRef.size, where, false)) return;
      const dv = viewOf(data);
      const r = { dirid: u64(dv, RootRef.off.dirid), sequence: u64(dv, RootRef.off.sequence), nameLen: dv.getUint16(RootRef.off.nameLen, true) };
      if (RootRef.size + r.nameLen !== data.length) {
        this.error(`${where}: name length ${r.nameLen} does not fill the item`);
        return;
      }
      const name = latin1(data.subarray(RootRef.size));
      const desc = `${r.dirid}/${r.sequence}/${name}`;
      if (key.type === ItemType.ROOT_REF) this.rootRefs.set(`${key.objectid}/${key.offset}`, desc);
      else this.rootBackrefs.set(`${key.offset}/${key.objectid}`, desc);
    }
  }

  private extentItem(key: Key, data: Uint8Array, where: string): void {
    const t = key.type;
    if (t === ItemType.BLOCK_GROUP_ITEM) {
      if (!this.needSize(data, BlockGroupItem.size, where)) return;
      const bg = BlockGroupItem.decode(viewOf(data), 0);
      this.blockGroupItems.set(key.objectid, { length: key.offset, used: bg.used, flags: bg.flags });
      this.stats.blockGroups++;
      return;
    }
    if (t === ItemType.EXTENT_ITEM || t === ItemType.METADATA_ITEM) {
      const bytenr = key.objectid;
      this.lastExtent = undefined;
      if (!this.needSize(data, ExtentItem.size, where, false)) return;
      const dv = viewOf(data);
      const ei = ExtentItem.decode(dv, 0);
      const treeBlock = (ei.flags & EXTENT_FLAG_TREE_BLOCK) !== 0;
      let level = -1;
      let numBytes = key.offset;
      let ptr = ExtentItem.size;
      if (t === ItemType.METADATA_ITEM) {
        numBytes = this.fs.nodesize;
        level = key.offset;
        if (!treeBlock) this.error(`${where}: metadata item without the TREE_BLOCK flag`);
      } else if (treeBlock) {
        if (!this.needSize(data, ExtentItem.size + TreeBlockInfo.size, where, false)) return;
        level = data[ExtentItem.size + TreeBlockInfo.off.level];
        ptr += TreeBlockInfo.size;
      }
      if (treeBlock && (ei.flags & EXTENT_FLAG_DATA) !== 0) this.error(`${where}: extent flagged both DATA and TREE_BLOCK`);
      if (!treeBlock && (ei.flags & EXTENT_FLAG_DATA) === 0) this.error(`${where}: extent flagged neither DATA nor TREE_BLOCK`);
      if (numBytes <= 0 || numBytes % this.fs.sectorsize !== 0 || bytenr % this.fs.sectorsize !== 0) {
        this.error(`${where}: extent [${bytenr}, +${numBytes}) is not sector aligned`);
      }
      const rec: ExtentRec = { bytenr, numBytes, type: t, level, refs: ei.refs, flags: ei.flags, backrefs: [], key: key.toString() };
      if (this.extents.has(bytenr)) {
        this.error(`${where}: second extent item for ${bytenr} (first ${this.extents.get(bytenr)!.key})`);
        return;
      }
      this.extents.set(bytenr, rec);
      this.lastExtent = rec;
      // Inline refs: bounded by the item size, each at least 9 bytes.
      while (ptr < data.length) {
        const type = data[ptr];
        const off = ptr + 1;
        const need = (n: number) => {
          if (ptr + n > data.length) {
            this.error(`${where}: inline ref of type ${type} at byte ${ptr} runs past the item`);
            return false;
          }
          return true;
        };
        if (type === ItemType.TREE_BLOCK_REF || type === ItemType.SHARED_BLOCK_REF || type === ItemType.EXTENT_OWNER_REF) {
          if (!need(9)) break;
          const v = u64(dv, off);
          if (type === ItemType.TREE_BLOCK_REF) rec.backrefs.push({ kind: 'tree', root: v, count: 1 });
          else if (type === ItemType.SHARED_BLOCK_REF) rec.backrefs.push({ kind: 'shared-block', parent: v, count: 1 });
          else rec.backrefs.push({ kind: 'owner', root: v, count: 0 });
          ptr += 9;
        } else if (type === ItemType.EXTENT_DATA_REF) {
          if (!need(1 + ExtentDataRef.size)) break;
          const r = ExtentDataRef.decode(dv, off);
          rec.backrefs.push({ kind: 'data', root: r.root, objectid: r.objectid, offset: r.offset, count: r.count });
          ptr += 1 + ExtentDataRef.size;
        } else if (type === ItemType.SHARED_DATA_REF) {
          if (!need(13)) break;
          rec.backrefs.push({ kind: 'shared-data', parent: u64(dv, off), count: dv.getUint32(off + 8, true) });
          ptr += 13;
        } else {
          this.error(`${where}: unknown inline ref type ${type} at byte ${ptr}`);
          break;
        }
      }
      return;
    }
    if (t === ItemType.TREE_BLOCK_REF || t === ItemType.SHARED_BLOCK_REF || t === ItemType.EXTENT_DATA_REF || t === ItemType.SHARED_DATA_REF) {
      const rec = this.lastExtent;
      if (!rec || rec.bytenr !== key.objectid) {
        this.error(`${where}: backref item without an extent item for ${key.objectid}`);
        return;
      }
      if (t === ItemType.TREE_BLOCK_REF) {
        if (!this.needSize(data, 0, where)) return;
        rec.backrefs.push({ kind: 'tree', root: key.offset, count: 1 });
      } else if (t === ItemType.SHARED_BLOCK_REF) {
        if (!this.needSize(data, 0, where)) return;
        rec.backrefs.push({ kind: 'shared-block', parent: key.offset, count: 1 });
      } else if (t === ItemType.EXTENT_DATA_REF) {
        if (!this.needSize(data, ExtentDataRef.size, where)) return;
        const r = ExtentDataRef.decode(viewOf(data), 0);
        const [hi, lo] = extentDataRefHash(r.root, r.objectid, r.offset);
        if (hi !== key.offHi || lo !== key.offLo) this.error(`${where}: key offset is not the hash of (root ${r.root}, inode ${r.objectid}, offset ${u64ToString(r.offset)})`);
        rec.backrefs.push({ kind: 'data', root: r.root, objectid: r.objectid, offset: r.offset, count: r.count });
      } else {
        if (!this.needSize(data, 4, where)) return;
        rec.backrefs.push({ kind: 'shared-data', parent: key.offset, count: viewOf(data).getUint32(0, true) });
      }
    }
  }

  private devTreeItem(key: Key, data: Uint8Array, where: string): void {
    if (key.type !== ItemType.DEV_EXTENT) return;
    if (!this.needSize(data, DevExtent.size, where)) return;
    const d = DevExtent.decode(viewOf(data), 0);
    this.devExtents.push({ devid: key.objectid, physical: key.offset, length: d.length, chunkOffset: d.chunkOffset, where });
    this.stats.devExtents++;
  }

  private csumItem(key: Key, data: Uint8Array, where: string): void {
    if (key.objectid !== EXTENT_CSUM_OBJECTID || key.type !== ItemType.EXTENT_CSUM) {
      this.error(`${where}: unexpected key in the csum tree`);
      return;
    }
    this.stats.csumItems++;
    if (data.length === 0 || data.length % this.csumSize !== 0) {
      this.error(`${where}: size ${data.length} is not a positive multiple of the checksum size ${this.csumSize}`);
      return;
    }
    const start = key.offset;
    if (start % this.fs.sectorsize !== 0) this.error(`${where}: csum start ${start} is not sector aligned`);
    const length = (data.length / this.csumSize) * this.fs.sectorsize;
    this.stats.csumBytes += length;
    this.csumItems.push({ start, length, where });
  }

  private freeSpaceItem(key: Key, data: Uint8Array, where: string): void {
    if (key.type === ItemType.FREE_SPACE_INFO) {
      if (!this.needSize(data, FreeSpaceInfo.size, where)) return;
      const info = FreeSpaceInfo.decode(viewOf(data), 0);
      this.fstInfos.set(key.objectid, { length: key.offset, extentCount: info.extentCount, flags: info.flags });
    } else if (key.type === ItemType.FREE_SPACE_EXTENT) {
      if (!this.needSize(data, 0, where)) return;
      this.fstEntries.push({ start: key.objectid, length: key.offset, bitmap: undefined, where });
    } else if (key.type === ItemType.FREE_SPACE_BITMAP) {
      this.fstEntries.push({ start: key.objectid, length: key.offset, bitmap: data.slice(), where });
    } else {
      this.error(`${where}: unexpected item type in the free space tree`);
    }
  }

  // ---------------------------------------------------------------- fs trees (collect)

  private inode(ino: number): InodeRec {
    const st = this.fsTree!;
    let r = st.inodes.get(ino);
    if (!r) {
      r = { hasItem: false, mode: 0, nlink: 0, size: 0, nbytes: 0, flags: 0, refs: [], dirNameBytes: 0, extentBytes: 0, fileExtents: 0, dirEntries: 0 };
      st.inodes.set(ino, r);
    }
    return r;
  }

  private fsItem(eb: ExtentBuffer, key: Key, data: Uint8Array, where: string, shadow: boolean): void {
    const st = this.fsTree!;
    const dv = viewOf(data);
    switch (key.type) {
      case ItemType.INODE_ITEM: {
        if (!this.needSize(data, InodeItem.size, where)) return;
        const r = this.inode(key.objectid);
        r.hasItem = true;
        r.mode = dv.getUint32(InodeItem.off.mode, true);
        r.nlink = dv.getUint32(InodeItem.off.nlink, true);
        r.size = u64(dv, InodeItem.off.size);
        r.nbytes = u64(dv, InodeItem.off.nbytes);
        this.stats.inodes++;
        return;
      }
      case ItemType.INODE_REF: {
        const r = this.inode(key.objectid);
        let p = 0;
        // Bounded: each entry consumes at least InodeRef.size bytes.
        while (p < data.length) {
          if (p + InodeRef.size > data.length) return this.error(`${where}: truncated inode ref at byte ${p}`);
          const ref = InodeRef.decode(dv, p);
          const end = p + InodeRef.size + ref.nameLen;
          if (ref.nameLen === 0 || ref.nameLen > MAX_NAME_BYTES || end > data.length) return this.error(`${where}: bad name length ${ref.nameLen} at byte ${p}`);
          r.refs.push({ parent: key.offset, index: ref.index, name: latin1(data.subarray(p + InodeRef.size, end)), extref: false });
          p = end;
        }
        return;
      }
      case ItemType.INODE_EXTREF: {
        const r = this.inode(key.objectid);
        let p = 0;
        while (p < data.length) {
          if (p + InodeExtref.size > data.length) return this.error(`${where}: truncated inode extref at byte ${p}`);
          const ref = InodeExtref.decode(dv, p);
          const end = p + InodeExtref.size + ref.nameLen;
          if (ref.nameLen === 0 || ref.nameLen > MAX_NAME_BYTES || end > data.length) return this.error(`${where}: bad name length ${ref.nameLen} at byte ${p}`);
          const nameBytes = data.subarray(p + InodeExtref.size, end);
          if (btrfsExtrefHash(ref.parentObjectid, nameBytes) !== key.offset) this.error(`${where}: key offset is not the hash of parent ${ref.parentObjectid} and name ${showName(latin1(nameBytes))}`);
          r.refs.push({ parent: ref.parentObjectid, index: ref.index, name: latin1(nameBytes), extref: true });
          p = end;
        }
        return;
      }
      case ItemType.DIR_ITEM:
      case ItemType.DIR_INDEX:
      case ItemType.XATTR_ITEM: {
        const isIndex = key.type === ItemType.DIR_INDEX;
        let p = 0;
        let n = 0;
        while (p < data.length) {
          if (p + DirItem.size > data.length) return this.error(`${where}: truncated dir item at byte ${p}`);
          // transid is not read: mkfs.btrfs 6.2 --rootdir leaves it uninitialized.
          const di = {
            location: readDiskKey(dv, p + DirItem.off.location), dataLen: dv.getUint16(p + DirItem.off.dataLen, true),
            nameLen: dv.getUint16(p + DirItem.off.nameLen, true), type: data[p + DirItem.off.type],
          };
          const end = p + DirItem.size + di.nameLen + di.dataLen;
          if (di.nameLen === 0 || di.nameLen > MAX_NAME_BYTES || end > data.length) return this.error(`${where}: bad name length ${di.nameLen} at byte ${p}`);
          const nameBytes = data.subarray(p + DirItem.size, p + DirItem.size + di.nameLen);
          const name = latin1(nameBytes);
          if (!isIndex && btrfsNameHash(nameBytes) !== key.offset) this.error(`${where}: key offset is not the name hash of ${showName(name)}`);
          if (key.type !== ItemType.XATTR_ITEM) {
            if (di.dataLen !== 0) this.error(`${where}: dir entry ${showName(name)} has ${di.dataLen} bytes of data`);
            st.dirEnts.push({ dir: key.objectid, index: isIndex, keyOffset: key.offset, name, loc: di.location, type: di.type, where });
            const dir = this.inode(key.objectid);
            dir.dirNameBytes += di.nameLen;
            dir.dirEntries++;
            this.stats.dirEntries++;
          }
          p = end;
          n++;
        }
        if (isIndex && n !== 1) this.error(`${where}: a DIR_INDEX holds ${n} entries, expected 1`);
        return;
      }
      case ItemType.EXTENT_DATA: {
        const r = this.inode(key.objectid);
        r.fileExtents++;
        if (!this.needSize(data, FileExtentHead.size, where, false)) return;
        const F = FileExtentItem.off;
        const head = { ramBytes: u64(dv, F.ramBytes), compression: data[F.compression], type: data[F.type] };
        if (head.type === FileExtentType.INLINE) {
          // progs counts an inline extent's ram_bytes toward the inode's nbytes.
          r.extentBytes += head.ramBytes;
          if (head.compression === CompressionType.NONE && head.ramBytes !== data.length - FileExtentHead.size) {
            this.error(`${where}: inline extent ram_bytes ${head.ramBytes} differs from its ${data.length - FileExtentHead.size} bytes`);
          }
          return;
        }
        if (head.type !== FileExtentType.REG && head.type !== FileExtentType.PREALLOC) return this.error(`${where}: unknown file extent type ${head.type}`);
        if (!this.needSize(data, FileExtentItem.size, where)) return;
        const fi = {
          diskBytenr: u64(dv, F.diskBytenr), diskNumBytes: u64(dv, F.diskNumBytes), offset: u64(dv, F.offset),
          numBytes: u64(dv, F.numBytes), compression: head.compression, ramBytes: head.ramBytes,
        };
        if (fi.diskBytenr === 0) return; // a hole
        r.extentBytes += fi.numBytes;
        if (shadow) return; // checked, and its reference counted, when the leaf was first reached
        if (fi.numBytes === 0 || fi.numBytes % this.fs.sectorsize !== 0) this.error(`${where}: num_bytes ${fi.numBytes} is not a positive multiple of the sector size`);
        const limit = fi.compression === CompressionType.NONE ? fi.diskNumBytes : fi.ramBytes;
        if (fi.offset + fi.numBytes > limit) this.error(`${where}: extent offset ${fi.offset} + num_bytes ${fi.numBytes} is past the extent's ${limit} bytes`);
        this.pushDataRef(eb, key, fi.diskBytenr, fi.diskNumBytes, fi.offset, where);
        return;
      }
      case ItemType.ORPHAN_ITEM:
        if (key.objectid === ORPHAN_OBJECTID) st.orphans.add(key.offset);
        return;
      default:
        return;
    }
  }

  /** A file extent's reference to its disk extent, counted per leaf (see checkDataExtent). */
  private pushDataRef(eb: ExtentBuffer, key: Key, diskBytenr: number, diskNumBytes: number, extentOffset: number, where: string): void {
    let list = this.dataRefs.get(diskBytenr);
    if (!list) this.dataRefs.set(diskBytenr, (list = []));
    list.push({ root: eb.owner, ino: key.objectid, offset: key.offset - extentOffset, leaf: eb.bytenr, diskNumBytes, where });
    this.stats.fileExtentRefs++;
  }

  /** The data reference of a file extent item in a tree whose inodes are not checked (a deleted subvolume being dropped). */
  private fileExtentRef(eb: ExtentBuffer, key: Key, data: Uint8Array, where: string): void {
    if (key.type !== ItemType.EXTENT_DATA) return;
    if (!this.needSize(data, FileExtentHead.size, where, false)) return;
    const F = FileExtentItem.off;
    const type = data[F.type];
    if (type === FileExtentType.INLINE) return;
    if (!this.needSize(data, FileExtentItem.size, where)) return;
    const dv = viewOf(data);
    const diskBytenr = u64(dv, F.diskBytenr);
    if (diskBytenr === 0) return;
    this.pushDataRef(eb, key, diskBytenr, u64(dv, F.diskNumBytes), u64(dv, F.offset), where);
  }

  // ---------------------------------------------------------------- fs trees (check)

  private checkFsTree(t: TreeDesc, name: string, st: FsTreeState): void {
    this.progress('fs trees', 0, st.inodes.size);
    const dirItems = new Map<string, DirEnt>();
    const dirIndexes = new Map<string, DirEnt>();
    for (const d of st.dirEnts) {
      if (d.index) dirIndexes.set(`${d.dir}/${d.keyOffset}`, d);
      else dirItems.set(`${d.dir}/${d.name}`, d);
    }
    const refIndex = new Map<string, { index: number }>();
    for (const [ino, r] of st.inodes) for (const ref of r.refs) refIndex.set(`${ino}/${ref.parent}/${ref.name}`, ref);

    const rootDir = t.rootDirid;
    if (rootDir !== 0 && !st.inodes.get(rootDir)?.hasItem) this.error(`${name}: root directory inode ${rootDir} is missing`);
    let done = 0;
    for (const [ino, r] of st.inodes) {
      if (++done % 1024 === 0) this.progress('fs trees', done, st.inodes.size);
      const where = `${name} inode ${ino}`;
      if (!r.hasItem) {
        this.error(`${where} has ${r.refs.length ? 'inode refs' : r.dirEntries ? 'directory entries' : 'file extents'} but no INODE_ITEM`);
        continue;
      }
      const isDir = (r.mode & 0o170000) === 0o040000;
      // nlink counts names; a subvolume's root directory has the one ".." ref to itself.
      if (r.nlink !== r.refs.length && !(r.nlink === 0 && st.orphans.has(ino))) {
        this.error(`${where}: nlink ${r.nlink} but ${r.refs.length} inode ref name(s)`);
      }
      if (r.refs.length === 0 && !st.orphans.has(ino)) this.error(`${where} has no inode ref and no orphan item`);
      for (const ref of r.refs) {
        if (ino === rootDir && ref.parent === ino) {
          if (ref.name !== '..' || ref.index !== 0) this.error(`${where}: root directory self ref is ${showName(ref.name)} index ${ref.index}, expected ".." index 0`);
          continue;
        }
        const rw = `${where}: ${ref.extref ? 'INODE_EXTREF' : 'INODE_REF'} ${showName(ref.name)} in directory ${ref.parent} index ${ref.index}`;
        const di = dirItems.get(`${ref.parent}/${ref.name}`);
        if (!di) this.error(`${rw} has no matching DIR_ITEM`);
        const dx = dirIndexes.get(`${ref.parent}/${ref.index}`);
        if (!dx) this.error(`${rw} has no matching DIR_INDEX`);
        else if (dx.name !== ref.name) this.error(`${rw}: DIR_INDEX ${ref.index} names ${showName(dx.name)}`);
      }
      if (isDir) {
        if (r.size !== r.dirNameBytes) this.error(`${where}: directory i_size ${r.size}, but its entries add up to ${r.dirNameBytes}`);
        if (r.fileExtents > 0) this.error(`${where}: directory has ${r.fileExtents} file extent item(s)`);
      } else {
        if (r.dirEntries > 0) this.error(`${where}: non-directory has ${r.dirEntries} directory entries`);
        const regOrLink = (r.mode & 0o170000) === 0o100000 || (r.mode & 0o170000) === 0o120000;
        if (regOrLink && r.nbytes !== r.extentBytes) this.error(`${where}: nbytes ${r.nbytes}, but its file extents add up to ${r.extentBytes}`);
      }
    }
    for (const d of st.dirEnts) {
      const kind = d.index ? 'DIR_INDEX' : 'DIR_ITEM';
      const dw = `${d.where}: ${kind} ${showName(d.name)} in directory ${d.dir}`;
      const parent = st.inodes.get(d.dir);
      if (parent?.hasItem && (parent.mode & 0o170000) !== 0o040000) continue; // reported above
      if (d.loc.type === ItemType.ROOT_ITEM) {
        // A subvolume entry. Without a ROOT_REF from this tree it is the stale entry a
        // snapshot keeps of a subvolume nested in its source (an empty directory to readers;
        // btrfs-progs' merge_root_recs skips it when is_child_root says no).
        continue;
      }
      if (d.loc.type !== ItemType.INODE_ITEM) {
        this.error(`${dw} points at key ${d.loc}, neither an inode nor a subvolume`);
        continue;
      }
      const child = d.loc.objectid;
      const c = st.inodes.get(child);
      if (!c?.hasItem) {
        this.error(`${dw} points at inode ${child}, which does not exist`);
        continue;
      }
      const ref = refIndex.get(`${child}/${d.dir}/${d.name}`);
      if (!ref) this.error(`${dw} points at inode ${child}, which has no matching inode ref`);
      else if (d.index && ref.index !== d.keyOffset) this.error(`${dw} has index ${d.keyOffset}, the inode ref says ${ref.index}`);
      if (fileTypeOfMode(c.mode) !== d.type) this.error(`${dw} has type ${d.type}, inode ${child} mode 0o${c.mode.toString(8)} says ${fileTypeOfMode(c.mode)}`);
    }
  }

  private checkRootRefs(): void {
    for (const [k, v] of this.rootRefs) {
      const b = this.rootBackrefs.get(k);
      const [parent, child] = k.split('/');
      if (b === undefined) this.error(`ROOT_REF from tree ${parent} to subvolume ${child} has no ROOT_BACKREF`);
      else if (b !== v) this.error(`ROOT_REF from tree ${parent} to subvolume ${child} differs from its ROOT_BACKREF`);
    }
    for (const k of this.rootBackrefs.keys()) {
      if (!this.rootRefs.has(k)) {
        const [parent, child] = k.split('/');
        this.error(`ROOT_BACKREF of subvolume ${child} to tree ${parent} has no ROOT_REF`);
      }
    }
    const haveTree = new Set(this.rootItems.map((r) => r.id));
    for (const k of this.rootRefs.keys()) {
      const child = Number(k.split('/')[1]);
      if (!haveTree.has(child)) this.error(`ROOT_REF names subvolume ${child}, which has no root item`);
    }
  }

  // ---------------------------------------------------------------- phase 2: extents

  private checkExtents(): void {
    const nodesize = this.fs.nodesize;
    const skinny = (this.fs.sb.incompatFlags & IncompatFlags.SKINNY_METADATA) !== 0;
    let done = 0;
    const total = this.extents.size + this.blocks.size;
    this.progress('extents', 0, total);
    // Tree blocks against their extent items.
    for (const [bytenr, b] of this.blocks) {
      if (++done % 1024 === 0) this.progress('extents', done, total);
      if (b.log) continue;
      const where = `tree block ${bytenr} (${treeName(b.tree)}, level ${b.level})`;
      const e = this.extents.get(bytenr);
      if (!e) {
        this.error(`${where} has no ${skinny ? 'METADATA_ITEM' : 'EXTENT_ITEM'} in the extent tree`);
        continue;
      }
      if ((e.flags & EXTENT_FLAG_TREE_BLOCK) === 0) {
        this.error(`${where}: its extent item ${e.key} is not flagged TREE_BLOCK`);
        continue;
      }
      if (e.numBytes !== nodesize) this.error(`${where}: its extent item ${e.key} covers ${e.numBytes} bytes, nodesize is ${nodesize}`);
      if (b.readable && e.level !== b.level) this.error(`${where}: its extent item ${e.key} says level ${e.level}`);
      // Every reference found needs exactly its backref (btrfs's back reference rules): from
      // a ROOT_ITEM the tree's TREE_BLOCK_REF; from a parent whose extent is FULL_BACKREF a
      // SHARED_BLOCK_REF naming it; from any other parent the TREE_BLOCK_REF of the
      // parent's owner. refs counts them.
      const want = new Map<string, { n: number; from: string }>();
      for (const r of b.refs) {
        let k: string;
        if (r.parent === 0) k = `tree ${u64ToString(r.tree)}`;
        else {
          const pe = this.extents.get(r.parent);
          const pb = this.blocks.get(r.parent);
          if (pe && (pe.flags & BLOCK_FLAG_FULL_BACKREF)) k = `parent ${r.parent}`;
          else k = `tree ${u64ToString(pb?.owner ?? r.tree)}`;
        }
        const from = r.parent === 0 ? `the root item of the ${treeName(r.tree)}` : `node ${r.parent} of the ${treeName(r.tree)}`;
        const w = want.get(k);
        if (w) {
          w.n++;
          this.error(`${where}: references from ${w.from} and ${from} both need backref ${k}`);
        } else want.set(k, { n: 1, from });
      }
      const have = new Map<string, number>();
      for (const x of e.backrefs) {
        if (x.kind === 'data' || x.kind === 'shared-data') {
          this.error(`${where}: data backref in a tree block's extent item`);
          continue;
        }
        if (x.kind !== 'tree' && x.kind !== 'shared-block') continue;
        const k = x.kind === 'tree' ? `tree ${u64ToString(x.root)}` : `parent ${x.parent}`;
        if (have.has(k)) this.error(`${where}: backref ${k} appears twice in ${e.key}`);
        have.set(k, (have.get(k) ?? 0) + 1);
      }
      for (const [k, w] of want) if (!have.has(k)) this.error(`${where}: reference from ${w.from} has no backref ${k} in ${e.key}`);
      for (const k of have.keys()) if (!want.has(k)) this.error(`${where}: backref ${k} in ${e.key} matches no reference to the block`);
      const full = (e.flags & BLOCK_FLAG_FULL_BACKREF) !== 0;
      if (b.readable && !b.log && isFsTree(b.owner)) {
        // progs check_owner_ref: a block with implicit refs to its children is referenced by its owner.
        if (!full && !have.has(`tree ${u64ToString(b.owner)}`)) this.error(`${where}: not FULL_BACKREF but has no backref from its owner ${treeName(b.owner)}`);
        // progs run_next_block: FULL_BACKREF only on blocks that may be shared (generation <= the owner's last snapshot).
        const last = this.lastSnapshots.get(b.owner);
        if (full && b.tree === b.owner && last !== undefined && (b.generation ?? 0) > last) {
          this.error(`${where}: FULL_BACKREF on a block of generation ${b.generation}, newer than its owner's last snapshot ${last}`);
        }
      }
      if (full && !isFsTree(b.owner) && b.owner !== TREE_RELOC_OBJECTID) this.error(`${where}: FULL_BACKREF on a block of the ${treeName(b.owner)}`);
      const backrefs = e.backrefs.reduce((a, x) => a + (x.kind === 'tree' || x.kind === 'shared-block' ? x.count : 0), 0);
      if (e.refs !== backrefs) this.error(`${where}: extent item ${e.key} has refs ${e.refs} but ${backrefs} backref(s)`);
      if (e.refs !== b.refs.length) this.error(`${where}: extent item ${e.key} has refs ${e.refs} but ${b.refs.length} reference(s) were found`);
    }
    // Extent items against what refers to them.
    for (const e of this.extents.values()) {
      if (++done % 1024 === 0) this.progress('extents', done, total);
      if (e.flags & EXTENT_FLAG_TREE_BLOCK) {
        this.stats.metadataExtents++;
        const b = this.blocks.get(e.bytenr);
        if (!b || b.log) this.error(`extent item ${e.key} is for a tree block that no tree references`);
        continue;
      }
      if ((e.flags & EXTENT_FLAG_DATA) === 0) continue;
      this.stats.dataExtents++;
      this.checkDataExtent(e);
    }
    // File extents pointing at no extent item.
    for (const [bytenr, refs] of this.dataRefs) {
      const e = this.extents.get(bytenr);
      if (e && (e.flags & EXTENT_FLAG_DATA)) continue;
      for (const r of refs.slice(0, 8)) this.error(`${r.where}: file extent points at disk bytenr ${bytenr}, which has no data extent item`);
    }
  }

  private checkDataExtent(e: ExtentRec): void {
    const where = `data extent ${e.key}`;
    const found = this.dataRefs.get(e.bytenr) ?? [];
    if (found.length === 0) {
      this.error(`${where} is referenced by no file extent`);
    }
    for (const r of found) {
      if (r.diskNumBytes !== e.numBytes) this.error(`${r.where}: file extent says the extent at ${e.bytenr} has ${r.diskNumBytes} bytes, its extent item says ${e.numBytes}`);
    }
    // Expected backrefs: a file extent in a FULL_BACKREF leaf counts toward SHARED_DATA_REF
    // (leaf); any other toward EXTENT_DATA_REF(leaf owner, inode, key offset - extent offset).
    const want = new Map<string, number>();
    for (const r of found) {
      const leaf = this.extents.get(r.leaf);
      const k = leaf && (leaf.flags & BLOCK_FLAG_FULL_BACKREF)
        ? `shared data backref (parent ${r.leaf})`
        : `backref (root ${u64ToString(r.root)}, inode ${r.ino}, offset ${u64ToString(r.offset)})`;
      want.set(k, (want.get(k) ?? 0) + 1);
    }
    const have = new Map<string, number>();
    let backrefs = 0;
    for (const x of e.backrefs) {
      let k: string;
      if (x.kind === 'data') k = `backref (root ${u64ToString(x.root)}, inode ${x.objectid}, offset ${u64ToString(x.offset)})`;
      else if (x.kind === 'shared-data') k = `shared data backref (parent ${x.parent})`;
      else {
        if (x.kind !== 'owner') this.error(`${where}: tree block backref in a data extent item`);
        continue;
      }
      backrefs += x.count;
      if (have.has(k)) this.error(`${where}: ${k} appears twice`);
      have.set(k, (have.get(k) ?? 0) + x.count);
    }
    for (const [k, n] of have) {
      const w = want.get(k) ?? 0;
      if (n !== w) this.error(`${where}: ${k} counts ${n}, found ${w} file extent(s)`);
    }
    for (const [k, w] of want) if (!have.has(k)) this.error(`${where}: ${w} file extent(s) for ${k} have no backref`);
    if (e.refs !== backrefs) this.error(`${where} has refs ${e.refs} but ${backrefs} backref(s)`);
  }

  // ---------------------------------------------------------------- phase 3: block groups

  /** Chunks sorted by start, and the chunk holding [start, start+len) or undefined. */
  private sortedChunks: ChunkMapping[] = [];
  private chunkHolding(start: number): ChunkMapping | undefined {
    const a = this.sortedChunks;
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid].start <= start) lo = mid + 1;
      else hi = mid;
    }
    const c = a[lo - 1];
    return c && start < c.start + c.length ? c : undefined;
  }

  private checkBlockGroups(): void {
    this.sortedChunks = [...this.chunks.values()].sort((a, b) => a.start - b.start);
    this.progress('block groups', 0, this.sortedChunks.length);
    for (const c of this.sortedChunks) {
      const bg = this.blockGroupItems.get(c.start);
      if (!bg) this.error(`chunk [${c.start}, +${c.length}) has no block group item`);
      else if (bg.length !== c.length) this.error(`block group item ${c.start} has length ${bg.length}, its chunk ${c.length}`);
      else if (bg.flags !== c.type) this.error(`block group ${c.start} flags 0x${bg.flags.toString(16)} differ from its chunk's 0x${c.type.toString(16)}`);
    }
    for (const [start, bg] of this.blockGroupItems) {
      if (!this.chunks.has(start)) this.error(`block group item [${start}, +${bg.length}) has no chunk`);
    }
    // Used bytes per chunk, extents inside one chunk of the right type, no overlaps.
    const used = new Map<number, number>();
    const sorted = [...this.extents.values()].sort((a, b) => a.bytenr - b.bytenr);
    let prevEnd = 0;
    let prev: ExtentRec | undefined;
    for (const e of sorted) {
      if (prev && e.bytenr < prevEnd) this.error(`extent ${e.key} overlaps extent ${prev.key}`);
      if (e.bytenr + e.numBytes > prevEnd) {
        prevEnd = e.bytenr + e.numBytes;
        prev = e;
      }
      const c = this.chunkHolding(e.bytenr);
      if (!c) {
        this.error(`extent ${e.key} is in no block group`);
        continue;
      }
      if (e.bytenr + e.numBytes > c.start + c.length) this.error(`extent ${e.key} crosses the end of block group ${c.start}`);
      used.set(c.start, (used.get(c.start) ?? 0) + e.numBytes);
      const type = c.type & BLOCK_GROUP_TYPE_MASK;
      const mixed = (this.fs.sb.incompatFlags & IncompatFlags.MIXED_GROUPS) !== 0;
      let want: number;
      if (e.flags & EXTENT_FLAG_DATA) want = BlockGroupFlags.DATA;
      else want = this.blocks.get(e.bytenr)?.tree === CHUNK_TREE_OBJECTID ? BlockGroupFlags.SYSTEM : BlockGroupFlags.METADATA;
      if ((type & want) === 0 || (!mixed && type !== want)) {
        this.error(`extent ${e.key} (${want === BlockGroupFlags.DATA ? 'data' : want === BlockGroupFlags.SYSTEM ? 'chunk tree block' : 'tree block'}) lies in block group ${c.start} of type 0x${type.toString(16)}`);
      }
    }
    let total = 0;
    for (const c of this.sortedChunks) {
      const u = used.get(c.start) ?? 0;
      total += u;
      const bg = this.blockGroupItems.get(c.start);
      if (bg && bg.used !== u) this.error(`block group [${c.start}, +${c.length}) says used ${bg.used}, its extents add up to ${u}`);
    }
    this.stats.bytesUsed = total;
    if (this.fs.sb.bytesUsed !== total) this.error(`superblock bytes_used ${this.fs.sb.bytesUsed}, but the extents add up to ${total}`);
  }

  // ---------------------------------------------------------------- phase 4: devices

  private checkDevices(): void {
    const sb = this.fs.sb;
    this.progress('devices', 0, this.devItems.size);
    if (sb.numDevices !== this.devItems.size) this.error(`superblock num_devices ${sb.numDevices}, the chunk tree has ${this.devItems.size} dev item(s)`);
    let totalBytes = 0;
    for (const d of this.devItems.values()) totalBytes += d.totalBytes;
    if (sb.totalBytes !== totalBytes) this.error(`superblock total_bytes ${sb.totalBytes}, the dev items add up to ${totalBytes}`);
    const own = this.devItems.get(sb.devItem.devid);
    if (!own) this.error(`superblock dev item names device ${sb.devItem.devid}, which has no dev item in the chunk tree`);
    else {
      if (own.totalBytes !== sb.devItem.totalBytes) this.error(`device ${own.devid}: total_bytes ${own.totalBytes} in the chunk tree, ${sb.devItem.totalBytes} in the superblock`);
      if (own.bytesUsed !== sb.devItem.bytesUsed) this.error(`device ${own.devid}: bytes_used ${own.bytesUsed} in the chunk tree, ${sb.devItem.bytesUsed} in the superblock`);
      if (!own.uuid.every((x, i) => x === sb.devItem.uuid[i])) this.error(`device ${own.devid}: uuid in the chunk tree differs from the superblock's`);
    }
    // Dev extents: per device sum, overlaps, bounds, and a chunk stripe for each.
    const stripes = new Map<string, { c: ChunkMapping; size: number }>();
    for (const c of this.chunks.values()) {
      const size = stripeSize(c);
      for (const s of c.stripes) {
        if (!this.devItems.has(s.devid)) this.error(`chunk ${c.start} has a stripe on device ${s.devid}, which has no dev item`);
        stripes.set(`${s.devid}/${s.physical}`, { c, size });
      }
    }
    const perDev = new Map<number, number>();
    const sortedDx = [...this.devExtents].sort((a, b) => a.devid - b.devid || a.physical - b.physical);
    const matched = new Set<string>();
    for (let i = 0; i < sortedDx.length; i++) {
      const x = sortedDx[i];
      perDev.set(x.devid, (perDev.get(x.devid) ?? 0) + x.length);
      const prev = sortedDx[i - 1];
      if (prev && prev.devid === x.devid && prev.physical + prev.length > x.physical) this.error(`${x.where}: dev extent overlaps the one at ${prev.physical}`);
      const dev = this.devItems.get(x.devid);
      if (!dev) this.error(`${x.where}: dev extent on device ${x.devid}, which has no dev item`);
      else if (x.physical + x.length > dev.totalBytes) this.error(`${x.where}: dev extent ends past device ${x.devid}'s ${dev.totalBytes} bytes`);
      const k = `${x.devid}/${x.physical}`;
      const s = stripes.get(k);
      if (!s) this.error(`${x.where}: dev extent matches no chunk stripe`);
      else {
        matched.add(k);
        if (s.c.start !== x.chunkOffset) this.error(`${x.where}: dev extent names chunk ${x.chunkOffset}, the stripe there is of chunk ${s.c.start}`);
        if (s.size !== x.length) this.error(`${x.where}: dev extent length ${x.length}, chunk ${s.c.start}'s stripes are ${s.size} bytes`);
      }
    }
    for (const [k, s] of stripes) if (!matched.has(k)) this.error(`chunk ${s.c.start}: stripe on device/offset ${k} has no dev extent`);
    for (const d of this.devItems.values()) {
      const u = perDev.get(d.devid) ?? 0;
      if (d.bytesUsed !== u) this.error(`device ${d.devid}: dev item bytes_used ${d.bytesUsed}, its dev extents add up to ${u}`);
    }
    // The superblock's sys_chunk_array must repeat the chunk tree's SYSTEM chunks.
    this.guard('superblock sys_chunk_array', () => {
      const sys = parseSysChunkArray(sb);
      for (const c of sys) {
        const t = this.chunks.get(c.start);
        if (!t || t.length !== c.length || t.type !== c.type || t.stripes.length !== c.stripes.length ||
          t.stripes.some((s, i) => s.devid !== c.stripes[i].devid || s.physical !== c.stripes[i].physical)) {
          this.error(`superblock sys_chunk_array chunk ${c.start} differs from the chunk tree`);
        }
      }
      for (const c of this.chunks.values()) {
        if ((c.type & BlockGroupFlags.SYSTEM) && !sys.some((s) => s.start === c.start)) this.error(`system chunk ${c.start} is missing from the superblock's sys_chunk_array`);
      }
    });
  }

  // ---------------------------------------------------------------- phase 5: free space tree

  private checkFreeSpace(): void {
    const sb = this.fs.sb;
    if ((sb.compatRoFlags & CompatRoFlags.FREE_SPACE_TREE) === 0) return;
    if (!this.rootItems.some((r) => r.id === FREE_SPACE_TREE_OBJECTID)) {
      this.error('the superblock flags a free space tree but the root tree has none');
      return;
    }
    if ((sb.compatRoFlags & CompatRoFlags.FREE_SPACE_TREE_VALID) === 0) return;
    const sectorsize = this.fs.sectorsize;
    // What the free space tree says, per block group (entries of removed chunks are ignored, as progs does).
    const fstFree = new Map<number, RangeSet>();
    const extentCounts = new Map<number, number>();
    const bitmapEntries = new Map<number, number>();
    for (const c of this.sortedChunks) fstFree.set(c.start, new RangeSet());
    for (const x of this.fstEntries) {
      this.tick();
      const c = this.chunkHolding(x.start);
      if (!c || !this.fstInfos.has(c.start)) continue;
      if (x.length <= 0 || x.start + x.length > c.start + c.length) {
        this.error(`${x.where}: free space entry crosses the end of block group ${c.start}`);
        continue;
      }
      const set = fstFree.get(c.start)!;
      const add = (s: number, l: number) => {
        if (set.intersects(s, l)) this.error(`${x.where}: free space [${s}, +${l}) overlaps another entry`);
        else set.add(s, l);
      };
      if (!x.bitmap) {
        add(x.start, x.length);
        extentCounts.set(c.start, (extentCounts.get(c.start) ?? 0) + 1);
        continue;
      }
      bitmapEntries.set(c.start, (bitmapEntries.get(c.start) ?? 0) + 1);
      const sectors = x.length / sectorsize;
      if (!Number.isInteger(sectors) || x.bitmap.length !== Math.ceil(sectors / 8)) {
        this.error(`${x.where}: bitmap of ${x.bitmap.length} bytes for ${x.length} bytes of space`);
        continue;
      }
      let run = -1;
      for (let i = 0; i <= sectors; i++) {
        const bit = i < sectors && (x.bitmap[i >> 3] & (1 << (i & 7))) !== 0;
        if (bit && run < 0) run = i;
        if (!bit && run >= 0) {
          add(x.start + run * sectorsize, (i - run) * sectorsize);
          run = -1;
        }
      }
    }
    let done = 0;
    for (const c of this.sortedChunks) {
      this.progress('free space', done++, this.sortedChunks.length);
      const where = `block group [${c.start}, +${c.length})`;
      const info = this.fstInfos.get(c.start);
      if (!info) {
        this.error(`${where} has no FREE_SPACE_INFO in the free space tree`);
        continue;
      }
      if (info.length !== c.length) this.error(`${where}: FREE_SPACE_INFO says length ${info.length}`);
      const have = fstFree.get(c.start)!;
      const usesBitmaps = (info.flags & FREE_SPACE_USING_BITMAPS) !== 0;
      const nExtents = extentCounts.get(c.start) ?? 0;
      const nBitmaps = bitmapEntries.get(c.start) ?? 0;
      if (usesBitmaps && nExtents > 0) this.error(`${where}: free space info says bitmaps but ${nExtents} FREE_SPACE_EXTENT item(s) exist`);
      if (!usesBitmaps && nBitmaps > 0) this.error(`${where}: free space info says extents but ${nBitmaps} FREE_SPACE_BITMAP item(s) exist`);
      const count = usesBitmaps ? have.count : nExtents;
      if (info.extentCount !== count) this.error(`${where}: FREE_SPACE_INFO extent_count ${info.extentCount}, the tree holds ${count} free extent(s)`);
      // Expected: the group minus every extent item; superblock stripes may be either.
      const want = new RangeSet();
      want.add(c.start, c.length);
      for (const e of this.extentsIn(c)) want.removeAny(e.bytenr, e.numBytes);
      const supers = new RangeSet();
      for (const r of this.fs.volumes.superStripeRanges(c)) supers.add(r.start, r.length);
      const missing = subtract(subtract(want, have), supers);
      const extra = subtract(subtract(have, want), supers);
      if (missing.count > 0) this.error(`${where}: free but missing from the free space tree: ${rangesString(missing)}`);
      if (extra.count > 0) this.error(`${where}: the free space tree says free, but allocated to extents: ${rangesString(extra)}`);
      this.stats.freeSpaceEntries += usesBitmaps ? nBitmaps : nExtents;
    }
  }

  private extentsByStart: ExtentRec[] | undefined;
  private extentsIn(c: ChunkMapping): ExtentRec[] {
    const a = (this.extentsByStart ??= [...this.extents.values()].sort((x, y) => x.bytenr - y.bytenr));
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid].bytenr < c.start) lo = mid + 1;
      else hi = mid;
    }
    const out: ExtentRec[] = [];
    for (let i = lo; i < a.length && a[i].bytenr < c.start + c.length; i++) out.push(a[i]);
    return out;
  }

  // ---------------------------------------------------------------- phase 6: csums

  private checkCsums(): void {
    const items = this.csumItems;
    this.progress('csums', 0, items.length);
    const data = (this.extentsByStart ??= [...this.extents.values()].sort((x, y) => x.bytenr - y.bytenr)).filter((e) => e.flags & EXTENT_FLAG_DATA);
    const dataSet = new RangeSet();
    for (const e of data) if (!dataSet.intersects(e.bytenr, e.numBytes)) dataSet.add(e.bytenr, e.numBytes);
    let prevEnd = -1;
    let prevWhere = '';
    for (let i = 0; i < items.length; i++) {
      if (i % 4096 === 0) this.progress('csums', i, items.length);
      const x = items[i];
      if (x.start < prevEnd) this.error(`${x.where}: csums for [${x.start}, +${x.length}) overlap those of ${prevWhere}`);
      if (x.start + x.length > prevEnd) {
        prevEnd = x.start + x.length;
        prevWhere = x.where;
      }
      // Every byte covered must be in a data extent.
      const notData = new RangeSet();
      notData.add(x.start, x.length);
      const covered = new RangeSet();
      for (let pos = x.start; pos < x.start + x.length;) {
        const r = dataSet.containing(pos);
        if (!r) {
          pos += this.fs.sectorsize;
          continue;
        }
        const end = Math.min(r[0] + r[1], x.start + x.length);
        covered.add(pos, end - pos);
        pos = end;
      }
      const bad = subtract(notData, covered);
      if (bad.count > 0) this.error(`${x.where}: csums cover ${rangesString(bad)}, which is in no data extent`);
    }
  }
}

/** A u64 field in number form (throws FsError EOVERFLOW past 2^53, caught by guard()). */
function u64(dv: DataView, off: number): number {
  const lo = dv.getUint32(off, true);
  const hi = dv.getUint32(off + 4, true);
  return new Key(0, 0, 0, hi, lo).offset;
}

/**
 * btrfs check --readonly: verifies the committed state of `fs` and returns every problem
 * found as a sentence. Never writes. Throws only FsError ECANCELED (signal), EBUSY (a
 * transaction is running) and programmer errors.
 */
export async function check(fs: FsInfo, opts: CheckOptions = {}): Promise<CheckResult> {
  const c = new Checker(fs, opts);
  await c.run();
  return { ok: c.errors.length === 0 && c.dropped === 0, errors: c.errors, droppedErrors: c.dropped, stats: c.stats };
}


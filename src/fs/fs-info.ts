// The mounted filesystem's state (btrfs's struct btrfs_fs_info) and the TreeHost the COW
// B-tree runs on: tree block reads through the one verifying choke point, tree block
// allocation and freeing, dirty tracking, and the running transaction's generation.
//
// Run to completion: one writer at a time mutates this state (the transaction queue in
// transaction.ts); a function's preconditions hold from its first line to its last.
import type { SuperBlock, RootItem } from '../format/structs.js';
import { ExtentBuffer, initHeader } from '../tree/extent-buffer.js';
import type { BlockExpectation, TreeHost, TreeRoot } from '../tree/tree-host.js';
import { BlockCache } from '../tree/block-cache.js';
import { Volumes } from '../volume/volumes.js';
import { BlockGroups, type BlockGroup } from './block-group.js';
import { BLOCK_FLAG_FULL_BACKREF, CHUNK_TREE_OBJECTID, BlockGroupFlags, EXTENT_TREE_OBJECTID, ROOT_TREE_OBJECTID, CSUM_TREE_OBJECTID, FREE_SPACE_TREE_OBJECTID, DEV_TREE_OBJECTID, UUID_TREE_OBJECTID, FS_TREE_OBJECTID, FIRST_FREE_OBJECTID, ItemType } from '../format/constants.js';
import { ItemCache } from '../tree/item-cache.js';
import type { DeferredItem } from '../tree/tree-host.js';
import type { CsumName } from '../kernels/checksum.js';
import type { CompressPool } from '../kernels/compress-pool.js';
import { readTreeBlock } from './disk-io.js';
import { DelayedRefs, isShareableRoot, lookupExtentInfo, modRef, blockRef } from './extent-tree.js';
import { allocateSpace } from './space.js';
import { DataWriteback } from './writeback.js';
import type { Timespec } from '../format/struct.js';
import { FsError } from '../util/errors.js';
import { assert } from '../util/assert.js';

/** Entries of each subvolume tree's item cache (about 200 bytes each). */
const ITEM_CACHE_ENTRIES = 32768;

/** One tree: its id, its current root block and (for all but the root and chunk trees) its ROOT_ITEM. */
export class Root implements TreeRoot {
  constructor(
    readonly objectid: number,
    public node: ExtentBuffer,
    public item: RootItem | undefined,
  ) {
    // Subvolume trees cache inode items and directory entries (path walks, stat): item-cache.ts.
    if (objectid === FS_TREE_OBJECTID || objectid >= FIRST_FREE_OBJECTID) {
      this.itemCache = new ItemCache([ItemType.INODE_ITEM, ItemType.DIR_ITEM], ITEM_CACHE_ENTRIES, ItemType.DIR_INDEX);
    }
  }

  readonly itemCache: ItemCache | undefined;

  /** The ROOT_ITEM bytes last written in this transaction (commit rewrites only changes). */
  itemOnDisk: Uint8Array | undefined;
  /**
   * Offset of the tree's ROOT_ITEM key: 0, or for a snapshot the transid that made it (btrfs
   * create_pending_snapshot); the drop compares block generations with it.
   */
  itemKeyOffset = 0;
  /** Next free inode number (subvolumes), found on first use: src/inode/inode.ts allocIno. */
  nextIno: number | undefined;
  /** Next DIR_INDEX per directory, found on first use (btrfs's index_cnt): src/inode/namei.ts. */
  dirIndexNext: Map<number, number> | undefined;
  /** Inserts waiting for the next search of this tree or the commit (ctree.ts insertDeferred). */
  deferred: Map<string, DeferredItem> | undefined = undefined;
}

/**
 * Quota accounting as the engine layers below src/subvol reach it (src/subvol/qgroup.ts
 * installs it while quotas are enabled; undefined otherwise).
 */
export interface QgroupHooks {
  /**
   * Before a write adds up to `bytes` to subvolume `rootId` (btrfs_qgroup_reserve_data):
   * throws EDQUOT, having changed nothing, when a limit of its qgroups would be passed.
   */
  reserve(rootId: number, bytes: number): void;
  /** Whether the commit has qgroup work even when no tree changed (counters from a rescan). */
  pending(): boolean;
  /**
   * At commit, once delayed refs ran (btrfs_qgroup_account_extents + btrfs_run_qgroups):
   * accounts the extents whose refs changed and writes the changed qgroup items.
   */
  commit(fs: FsInfo): Promise<void>;
}

/** The mount options the engine layers act on (parsed in api/mount-options.ts). */
export interface EngineOptions {
  /** Flush devices around the superblock write (nobarrier turns it off: unsafe). */
  barrier: boolean;
  /** Largest file stored inline (max_inline). */
  maxInlineBytes: number;
  /** New files are COW (datacow) and checksummed (datasum). */
  dataCow: boolean;
  dataSum: boolean;
  /** rescue=ignoredatacsums (read-only): data reads skip checksum verification. */
  ignoreDataCsums: boolean;
  /** acl: POSIX ACL xattrs accepted. */
  acl: boolean;
  /** compress=: the codec new writes try (undefined: none, unless an inode asks: chattr +c, property). */
  compress: 'zlib' | 'lzo' | 'zstd' | undefined;
  /** The codec's level (already mapped from 0 to the default). */
  compressLevel: number;
  /** compress-force: no heuristic, and an incompressible chunk does not set NOCOMPRESS. */
  compressForce: boolean;
}

export const DEFAULT_ENGINE_OPTIONS: Readonly<EngineOptions> = Object.freeze({
  barrier: true, maxInlineBytes: 2048, dataCow: true, dataSum: true, ignoreDataCsums: false, acl: true,
  compress: undefined, compressLevel: 0, compressForce: false,
});

export interface FsInfoInit {
  sb: SuperBlock;
  csum: CsumName;
  volumes: Volumes;
  readonly: boolean;
  cacheBytes?: number;
}

/** The pending end of a write that returned early (FsInfo.writeTail). */
export interface WriteTail {
  readonly root: Root;
  readonly ino: number;
  /**
   * A compressed write's tail: the end of the write's sectors (a sector boundary, at or past its
   * last byte); a write of the same file starting here may go on before the tail settles.
   * Undefined for dirty sectors, which later writes join by `dirty` instead.
   */
  readonly end?: number;
  /** Writes the tail's extents. `live`: the inode item of a write of the same file now running, which takes the tail's changes to the item (nbytes, flags); else the item is read and written. */
  settle(live: { nbytes: number; flags: number } | undefined): Promise<void>;
  /**
   * Present on a tail of small overwrites waiting as dirty sectors (inode/file.ts DirtySectors):
   * later FileHandle writes of the file join it and its FileHandle reads read through it,
   * without settling it.
   */
  readonly dirty?: DirtySectorsTail;
}

/** What a FileHandle read or write of the file does with a tail of dirty sectors (inode/file.ts). */
export interface DirtySectorsTail {
  /** Takes the write of `data` at `offset` if it may wait with the others (whole sectors inside the file, room left); false otherwise. */
  add(offset: number, data: Uint8Array): boolean;
  /** Whether every sector of [offset, offset + length) waits here (a read of it needs nothing else). */
  covers(offset: number, length: number): boolean;
  /** Copies the waiting bytes inside [offset, offset + dest.length) over `dest`. */
  overlay(offset: number, dest: Uint8Array): void;
  /** The time of the last write that joined: the file's mtime and ctime, which the settle writes. */
  readonly lastWrite: Timespec;
}

/**
 * Settles the pending write tail, if any: its extents are written now. A tail that fails aborts
 * the transaction (FsInfo.aborted; the mount turns read-only) and the error goes to the caller,
 * the first call after the write whose end it was.
 */
export async function settleWriteTail(fs: FsInfo, live?: { nbytes: number; flags: number }): Promise<void> {
  const t = fs.writeTail;
  if (t === undefined) return;
  fs.writeTail = undefined;
  try {
    await t.settle(live);
  } catch (e) {
    const detail = `the writeback of inode ${t.ino}'s last write failed after the write returned, and the transaction is aborted (the last commit stays): ${e instanceof Error ? e.message : String(e)}`;
    const err = new FsError(e instanceof FsError ? e.code : 'EIO', detail, { cause: e });
    fs.aborted ??= err;
    fs.readonly = true;
    throw err;
  }
}

export class FsInfo implements TreeHost {
  sb: SuperBlock;
  readonly csum: CsumName;
  readonly nodesize: number;
  readonly sectorsize: number;
  readonly volumes: Volumes;
  readonly blockGroups = new BlockGroups();
  readonly cache: BlockCache;
  /** Blocks changed in the running transaction, by bytenr. Written at commit. */
  readonly dirty = new Map<number, ExtentBuffer>();
  readonly delayedRefs = new DelayedRefs();
  /** New data extents of the running transaction, written out at commit (writeback.ts). */
  readonly writeback = new DataWriteback();
  readonly roots = new Map<number, Root>();
  readonly: boolean;
  /** Generation of the running transaction, 0 when none is running. */
  transid = 0;
  /** Next backup root slot to fill (super_roots[]). */
  backupSlot = 0;
  /**
   * Set by an operation that must be durable when it returns (chattr S / D, O_SYNC): the API
   * layer commits at the end of that operation and clears it.
   */
  syncRequested = false;
  /** The superblock changed on its own (label): the next commit writes a generation even with no tree change. */
  superDirty = false;
  /** Quotas (qgroups) while enabled: src/subvol/qgroup.ts. */
  qgroup: QgroupHooks | undefined = undefined;
  /** Mount options the engine acts on. */
  options: EngineOptions = { ...DEFAULT_ENGINE_OPTIONS };
  /** The compression workers, from the first compressed write to unmount (kernels/compress-pool.ts). */
  compressPool: CompressPool | undefined = undefined;
  /** The buffer small writes pad their sectors in (inode/file.ts paddedBuffer): one per filesystem, whose writer runs one operation at a time. */
  padScratch: Uint8Array | undefined = undefined;
  /**
   * A write that returned before its extents were made (inode/file.ts): a compressed write's
   * last chunks, still compressing on a worker (write-behind), or small overwrites waiting as
   * dirty sectors. Settled (their extents written) before anything else reads or changes the
   * filesystem: settleWriteTail, which the API's mutex and the commit call.
   */
  writeTail: WriteTail | undefined = undefined;
  /** The owned copy of a write tail's bytes (one tail at a time): reused, as fresh memory faults on first touch. */
  writeTailScratch: Uint8Array | undefined = undefined;
  /**
   * Why the running transaction was aborted (a write tail failed after its write returned): no
   * commit is made from here on, as btrfs after a transaction abort; the mount is read-only.
   */
  aborted: Error | undefined = undefined;
  /** Counters for tests and stats. */
  readonly stats = { treeBlockReads: 0, treeBlockRepairs: 0, csumErrors: 0, treeBlocksAllocated: 0, writeTails: 0, dirtyTails: 0 };
  /**
   * Blocks of this transaction that a snapshot made in this transaction shares: they must be
   * COWed before any change, like written blocks (btrfs's BTRFS_ROOT_FORCE_COW, which covers
   * a whole root until the commit; here only the blocks the snapshot saw, so that blocks
   * COWed after it stay writable). Filled by src/subvol/snapshot.ts.
   */
  readonly frozen = new WeakSet<ExtentBuffer>();
  /** update_ref_for_cow's last_ref for the block cowBlock is about to free (onCow -> freeBlock). */
  private cowLastRef: { bytenr: number; lastRef: boolean } | undefined;

  constructor(init: FsInfoInit) {
    this.sb = init.sb;
    this.csum = init.csum;
    this.nodesize = init.sb.nodesize;
    this.sectorsize = init.sb.sectorsize;
    this.volumes = init.volumes;
    this.readonly = init.readonly;
    this.cache = new BlockCache(init.cacheBytes);
  }

  get fsid(): Uint8Array {
    return this.sb.fsid;
  }
  /** The fsid tree blocks carry (metadata_uuid when that feature is on; we never set it). */
  get metadataFsid(): Uint8Array {
    return this.sb.fsid;
  }
  get chunkTreeUuid(): Uint8Array {
    return this.root(CHUNK_TREE_OBJECTID).node.chunkTreeUuid;
  }
  /** The last committed generation. */
  get generation(): number {
    return this.sb.generation;
  }

  root(objectid: number): Root {
    const r = this.roots.get(objectid);
    if (!r) throw new FsError('ENOENT', `tree ${objectid} is not loaded`);
    return r;
  }
  get rootTree(): Root { return this.root(ROOT_TREE_OBJECTID); }
  get chunkTree(): Root { return this.root(CHUNK_TREE_OBJECTID); }
  get extentTree(): Root { return this.root(EXTENT_TREE_OBJECTID); }
  get devTree(): Root { return this.root(DEV_TREE_OBJECTID); }
  get csumTree(): Root { return this.root(CSUM_TREE_OBJECTID); }
  get fsTree(): Root { return this.root(FS_TREE_OBJECTID); }
  get uuidTree(): Root | undefined { return this.roots.get(UUID_TREE_OBJECTID); }
  get freeSpaceTree(): Root | undefined { return this.roots.get(FREE_SPACE_TREE_OBJECTID); }

  // ---- TreeHost

  cachedBlock(bytenr: number, expect: BlockExpectation): ExtentBuffer | undefined {
    const eb = this.dirty.get(bytenr) ?? this.cache.get(bytenr);
    if (eb === undefined) return undefined;
    // A cached block was verified when read; the parent's expectations still must hold.
    // On a mismatch the block is read again through the choke point, which names the problem.
    if (eb.generation !== expect.generation || eb.level !== expect.level) return undefined;
    if (expect.owner !== undefined && !ownerMatches(expect.owner, eb.owner)) return undefined;
    if (expect.firstKey && eb.nritems > 0 && eb.compareKey(0, expect.firstKey) !== 0) return undefined;
    return eb;
  }

  async readBlock(bytenr: number, expect: BlockExpectation): Promise<ExtentBuffer> {
    const hit = this.cachedBlock(bytenr, expect);
    if (hit) return hit;
    const eb = await readTreeBlock(this, bytenr, expect);
    this.cache.put(eb);
    return eb;
  }

  allocBlock(owner: number, level: number): ExtentBuffer {
    assert(this.transid > 0, 'allocBlock outside a transaction');
    const type = owner === CHUNK_TREE_OBJECTID ? BlockGroupFlags.SYSTEM : BlockGroupFlags.METADATA;
    const bytenr = allocateSpace(this, type, this.nodesize, this.nodesize);
    assert(!this.dirty.has(bytenr), () => `allocated block ${bytenr} is still dirty`);
    const eb = new ExtentBuffer(bytenr, new Uint8Array(this.nodesize));
    initHeader(eb, { level, generation: this.transid, owner, fsid: this.metadataFsid, chunkTreeUuid: this.chunkTreeUuidForNew() });
    this.dirty.set(bytenr, eb);
    this.delayedRefs.addTreeBlock(bytenr, this.nodesize, level, owner, +1, true);
    this.accountRootBytes(owner, this.nodesize);
    this.stats.treeBlocksAllocated++;
    return eb;
  }

  /** During mkfs the chunk tree does not exist yet when the first blocks are made. */
  pendingChunkTreeUuid: Uint8Array | undefined;
  private chunkTreeUuidForNew(): Uint8Array {
    return this.pendingChunkTreeUuid ?? this.chunkTreeUuid;
  }

  /** The chunk tree uuid that DEV_EXTENT items name. */
  chunkTreeUuidForItems(): Uint8Array {
    return this.chunkTreeUuidForNew();
  }

  /**
   * The tree `owner` no longer references `eb` (btrfs_free_tree_block with the owner's
   * implicit ref). After a COW, whether this was the block's last reference is what
   * update_ref_for_cow found (onCow); every other block a tree frees was COWed by it in this
   * transaction and is referenced by it alone.
   */
  freeBlock(eb: ExtentBuffer, owner: number): void {
    let lastRef = true;
    if (this.cowLastRef !== undefined) {
      assert(this.cowLastRef.bytenr === eb.bytenr, () => `freeBlock(${eb.bytenr}) after onCow of block ${this.cowLastRef?.bytenr}`);
      lastRef = this.cowLastRef.lastRef;
      this.cowLastRef = undefined;
    }
    this.accountRootBytes(owner, -this.nodesize);
    this.freeTreeBlock(eb, owner, 0, lastRef);
  }

  /**
   * btrfs_free_tree_block: drops the ref on `eb` held by tree `root` (implicit) or by block
   * `parent` (FULL_BACKREF parent, when non-zero). On the last ref of a block of this
   * transaction that was never written its space is reusable at once; otherwise the space
   * is freed and pinned when the ref runs at commit (runHead).
   */
  freeTreeBlock(eb: ExtentBuffer, root: number, parent: number, lastRef: boolean): void {
    assert(this.transid > 0, 'freeTreeBlock outside a transaction');
    this.delayedRefs.addTreeRef(eb.bytenr, this.nodesize, eb.level, blockRef(root, parent), -1);
    if (!lastRef) return;
    if (eb.generation === this.transid && !eb.written) {
      // Never written: nothing on disk refers to it (btrfs_free_tree_block's fast path). When
      // its queued refs net to nothing its space is reusable at once; when its extent item
      // went in during this commit already, the drop frees and pins it (check_ref_cleanup).
      assert(this.dirty.get(eb.bytenr) === eb, () => `freeing block ${eb.bytenr} that is not the live block at that address`);
      this.dirty.delete(eb.bytenr);
      if (this.delayedRefs.headOf(eb.bytenr) === undefined) this.blockGroups.get(eb.bytenr).free?.add(eb.bytenr, this.nodesize);
    } else {
      this.cache.delete(eb.bytenr);
    }
  }

  /**
   * update_ref_for_cow (btrfs ctree.c), called by cowBlock before it frees `buf`: when buf
   * may be shared (a subvolume block not newer than the tree's last snapshot) its refs and
   * flags decide who holds buf's children from now on (extent-tree.c's four cases):
   *  * shared, owned by this tree, not FULL_BACKREF: buf's children get full refs from buf
   *    and buf becomes FULL_BACKREF; this tree's implicit refs pass to `cow`;
   *  * shared otherwise: cow's children get this tree's implicit refs;
   *  * not shared but FULL_BACKREF: the children's full refs from buf become implicit refs
   *    from cow;
   *  * not shared: nothing (implicit refs pass to cow); buf's ref is its last.
   */
  async onCow(buf: ExtentBuffer, cow: ExtentBuffer, owner: number): Promise<void> {
    let refs = 1;
    let flags = 0;
    const root = this.roots.get(owner);
    if (root && this.blockCanBeShared(root, buf)) {
      ({ refs, flags } = await lookupExtentInfo(this, buf.bytenr, buf.level));
      if (refs === 0) throw new FsError('EUCLEAN', `tree block ${buf.bytenr} of tree ${owner} has no references`);
    }
    let lastRef = false;
    if (refs > 1) {
      if (buf.owner === owner && (flags & BLOCK_FLAG_FULL_BACKREF) === 0) {
        modRef(this, owner, buf, true, true);
        this.delayedRefs.setExtentFlags(buf.bytenr, this.nodesize, buf.level, BLOCK_FLAG_FULL_BACKREF);
      } else {
        modRef(this, owner, cow, false, true);
      }
    } else {
      if (flags & BLOCK_FLAG_FULL_BACKREF) {
        modRef(this, owner, cow, false, true);
        modRef(this, owner, buf, true, false);
      }
      lastRef = true;
    }
    this.cowLastRef = { bytenr: buf.bytenr, lastRef };
  }

  /** btrfs_block_can_be_shared: only subvolume blocks up to the last snapshot, never a root block. */
  blockCanBeShared(root: Root, buf: ExtentBuffer): boolean {
    if (!isShareableRoot(root.objectid) || buf.bytenr === root.node.bytenr) return false;
    return buf.generation <= (root.item?.lastSnapshot ?? 0);
  }

  /** root_item.bytes_used: the bytes of the tree's own blocks (btrfs_set_root_used). */
  private accountRootBytes(owner: number, delta: number): void {
    const item = this.roots.get(owner)?.item;
    if (item) item.bytesUsed = Math.max(0, item.bytesUsed + delta);
  }

  markDirty(eb: ExtentBuffer): void {
    // Checked before any message is made: this runs at every change of a block.
    if (this.transid <= 0 || eb.generation !== this.transid) {
      assert(this.transid > 0, 'markDirty outside a transaction');
      assert(false, `block ${eb.bytenr} of generation ${eb.generation} changed without COW`);
    }
    this.dirty.set(eb.bytenr, eb);
  }

  shouldCow(eb: ExtentBuffer): boolean {
    return !(eb.generation === this.transid && !eb.written && !eb.reloc && !this.frozen.has(eb));
  }

  blockGroupOf(logical: number): BlockGroup {
    return this.blockGroups.get(logical);
  }
}

/**
 * btrfs_check_eb_owner: blocks of subvolume trees may belong to any subvolume tree (a
 * snapshot shares its source's blocks); blocks of other trees must carry the tree's id.
 */
export function ownerMatches(treeId: number, blockOwner: number): boolean {
  if (treeId === blockOwner) return true;
  return isShareableRoot(treeId) && isShareableRoot(blockOwner);
}

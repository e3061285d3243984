// Transactions and commit (btrfs transaction.c btrfs_commit_transaction, disk-io.c
// write_all_supers).
//
// Commit order, as btrfs: (1) items of chunks made in this transaction, (2) delayed refs,
// dirty block groups and root items until none of them produces more work, (3) every dirty
// tree block written, (4) flush, (5) superblock copies with the backup root slot rotated,
// (6) flush, (7) pinned extents become free. A crash before (5) completes leaves the
// previous superblock naming the previous trees, none of which was overwritten: blocks
// freed in this transaction stay pinned until (7).
import { flushDelayedInodes } from './delayed-inode.js';
import { Key } from '../format/key.js';
import { ItemType, CHUNK_TREE_OBJECTID, DEV_ITEMS_OBJECTID, FIRST_CHUNK_TREE_OBJECTID, BlockGroupFlags, EXTENT_TREE_OBJECTID, FS_TREE_OBJECTID, DEV_TREE_OBJECTID, CSUM_TREE_OBJECTID, NUM_BACKUP_ROOTS } from '../format/constants.js';
import { DevExtent, DevItem, RootItem } from '../format/structs.js';
import { viewOf } from '../format/struct.js';
import { insertItem, searchSlot } from '../tree/ctree.js';
import { encodeChunk, stripeSize } from '../volume/volumes.js';
import { FsError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import { settleWriteTail, type FsInfo } from './fs-info.js';
import { writeDirtyBlocks } from './disk-io.js';
import { runDelayedRefs, writeDirtyBlockGroups, encodeBlockGroupItem } from './extent-tree.js';
import { addBlockGroupFreeSpace } from './free-space-tree.js';
import { updateItem } from './items.js';
import { buildSysChunkArray, setBackupRoot, writeSuperCopies } from './super.js';

/** Bound on commit convergence rounds: each round only COWs blocks not yet COWed, so a few suffice. */
const MAX_COMMIT_ROUNDS = 64;

export function startTransaction(fs: FsInfo): void {
  if (fs.readonly) throw new FsError('EROFS', 'filesystem is mounted read-only');
  assert(fs.transid === 0, 'a transaction is already running');
  fs.transid = fs.sb.generation + 1;
}

export function encodeDevItem(item: DevItem): Uint8Array {
  const data = new Uint8Array(DevItem.size);
  DevItem.encode(viewOf(data), 0, item);
  return data;
}

/** btrfs_create_pending_block_groups: the items of chunks made in this transaction. */
async function createPendingBlockGroups(fs: FsInfo): Promise<number> {
  let n = 0;
  const touchedDevs = new Set<number>();
  for (const bg of fs.blockGroups.all()) {
    if (!bg.pendingCreate) continue;
    bg.pendingCreate = false;
    const map = fs.volumes.chunkAt(bg.start)!;
    await insertItem(fs, fs.chunkTree, Key.of(FIRST_CHUNK_TREE_OBJECTID, ItemType.CHUNK_ITEM, map.start), encodeChunk(map));
    const ss = stripeSize(map);
    for (const s of map.stripes) {
      const de = new Uint8Array(DevExtent.size);
      DevExtent.encode(viewOf(de), 0, {
        chunkTree: CHUNK_TREE_OBJECTID, chunkObjectid: FIRST_CHUNK_TREE_OBJECTID, chunkOffset: map.start, length: ss,
        chunkTreeUuid: fs.chunkTreeUuidForItems(),
      });
      await insertItem(fs, fs.devTree, Key.of(s.devid, ItemType.DEV_EXTENT, s.physical), de);
      touchedDevs.add(s.devid);
    }
    await insertItem(fs, fs.extentTree, Key.of(bg.start, ItemType.BLOCK_GROUP_ITEM, bg.length), encodeBlockGroupItem(bg.used, bg.flags));
    bg.dirty = false;
    await addBlockGroupFreeSpace(fs, bg);
    n++;
  }
  for (const devid of touchedDevs) {
    const d = fs.volumes.devices.get(devid)!;
    await updateItem(fs, fs.chunkTree, Key.of(DEV_ITEMS_OBJECTID, ItemType.DEV_ITEM, devid), (_dv, data) => data.set(encodeDevItem(d.item)));
  }
  return n;
}

/**
 * Writes the ROOT_ITEMs of trees changed in this transaction (root block, level, generation,
 * bytes_used). Returns how many were written; a later round rewrites one only if it changed
 * again (the extent tree keeps changing while refs run).
 */
async function updateRootItems(fs: FsInfo): Promise<number> {
  let n = 0;
  for (const r of fs.roots.values()) {
    if (!r.item || r.node.generation !== fs.transid) continue;
    r.item.bytenr = r.node.bytenr;
    r.item.level = r.node.level;
    r.item.generation = fs.transid;
    r.item.generationV2 = fs.transid;
    const encoded = new Uint8Array(RootItem.size);
    RootItem.encode(viewOf(encoded), 0, r.item);
    if (r.itemOnDisk && equalBytes(r.itemOnDisk, encoded)) continue;
    await updateItem(fs, fs.rootTree, Key.of(r.objectid, ItemType.ROOT_ITEM, r.itemKeyOffset), (_dv, data) => {
      if (data.length !== RootItem.size) throw new FsError('EUCLEAN', `root item of tree ${r.objectid} is ${data.length} bytes`);
      data.set(encoded);
    });
    r.itemOnDisk = encoded;
    n++;
  }
  return n;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Runs delayed refs, chunk items, block group items and root items until none of them
 * produces more work (the first half of a commit; qgroup.ts also runs it inside a
 * transaction to account a snapshot, as btrfs's qgroup_account_snapshot).
 */
export async function convergeTransaction(fs: FsInfo): Promise<void> {
  assert(fs.transid > 0, 'converge without a transaction');
  let rounds = 0;
  for (;;) {
    if (++rounds > MAX_COMMIT_ROUNDS) throw new FsError('EIO', 'commit did not converge');
    const work = (await createPendingBlockGroups(fs)) + (await runDelayedRefs(fs)) + (await writeDirtyBlockGroups(fs)) + (await updateRootItems(fs));
    if (work === 0 && fs.delayedRefs.size === 0) break;
  }
}

export async function commitTransaction(fs: FsInfo): Promise<void> {
  assert(fs.transid > 0, 'commit without a transaction');
  // A write that returned before its last chunks were extents: they are, before the commit.
  await settleWriteTail(fs);
  if (fs.aborted) throw fs.aborted;
  // Data before the metadata that names it: the transaction's new extents go to the devices
  // and their checksums into the csum tree (writeback.ts).
  await fs.writeback.flush(fs);
  await flushDelayedInodes(fs);
  if (fs.superDirty) {
    // A superblock-only change still needs a new root tree root to carry the new generation
    // (mount reads the root tree expecting the superblock's generation): COW it.
    fs.superDirty = false;
    await searchSlot(fs, fs.rootTree, Key.MIN, { cow: true });
  }
  await convergeTransaction(fs);
  // ---- qgroups (btrfs_qgroup_account_extents, btrfs_run_qgroups): once the refs ran, the
  // changed extents are accounted and the qgroup items written, which changes the quota
  // tree: converge again. Only when something changed (no generation for nothing).
  if (fs.qgroup && (fs.dirty.size > 0 || fs.qgroup.pending())) {
    await fs.qgroup.commit(fs);
    await convergeTransaction(fs);
  }
  if (fs.dirty.size === 0) {
    // Nothing changed: no new generation (btrfs skips the commit of an empty transaction).
    // Writing a superblock here would name a generation no tree root carries.
    fs.transid = 0;
    return;
  }
  // Any change allocates, which changes the extent tree, whose root item is in the root tree:
  // the root tree's root is always new, and the superblock's generation is its generation.
  assert(fs.rootTree.node.generation === fs.transid, 'commit: the root tree was not COWed');
  await writeDirtyBlocks(fs);
  const devs = [...fs.volumes.devices.values()].filter((d) => d.device);
  // nobarrier skips both flushes: a crash may then leave a superblock naming unwritten blocks.
  if (fs.options.barrier) await Promise.all(devs.map((d) => d.device!.flush()));
  fillSuperForCommit(fs);
  for (const d of devs) {
    const sb = { ...fs.sb, devItem: { ...d.item } };
    await writeSuperCopies(d.device!, sb);
    // Keep the in-memory superblock's dev item as written (new chunks change bytes_used).
    if (d.item.devid === fs.sb.devItem.devid) fs.sb.devItem = { ...d.item };
  }
  if (fs.options.barrier) await Promise.all(devs.map((d) => d.device!.flush()));
  // The new trees are live: what this transaction freed may be reused.
  for (const bg of fs.blockGroups.all()) {
    for (const [s, l] of bg.pinned.ranges()) bg.free?.add(s, l);
    bg.pinned.clear();
    // First fit from the start again: space freed by earlier commits is reused soon, which
    // keeps metadata dense (and makes every crash test exercise reuse of freed blocks).
    bg.cursor = bg.start;
  }
  fs.transid = 0;
}

function fillSuperForCommit(fs: FsInfo): void {
  const sb = fs.sb;
  const root = fs.rootTree.node;
  const chunk = fs.chunkTree.node;
  sb.generation = fs.transid;
  sb.root = root.bytenr;
  sb.rootLevel = root.level;
  sb.chunkRoot = chunk.bytenr;
  sb.chunkRootLevel = chunk.level;
  sb.chunkRootGeneration = chunk.generation;
  sb.uuidTreeGeneration = fs.transid;
  const sys = buildSysChunkArray(fs.volumes.allChunks().filter((c) => c.type & BlockGroupFlags.SYSTEM));
  sb.sysChunkArray = sys.array;
  sb.sysChunkArraySize = sys.size;
  sb.numDevices = fs.volumes.devices.size;
  const r = (id: number) => fs.root(id).node;
  const backup = {
    treeRoot: root.bytenr, treeRootGen: root.generation, treeRootLevel: root.level,
    chunkRoot: chunk.bytenr, chunkRootGen: chunk.generation, chunkRootLevel: chunk.level,
    extentRoot: r(EXTENT_TREE_OBJECTID).bytenr, extentRootGen: r(EXTENT_TREE_OBJECTID).generation, extentRootLevel: r(EXTENT_TREE_OBJECTID).level,
    fsRoot: r(FS_TREE_OBJECTID).bytenr, fsRootGen: r(FS_TREE_OBJECTID).generation, fsRootLevel: r(FS_TREE_OBJECTID).level,
    devRoot: r(DEV_TREE_OBJECTID).bytenr, devRootGen: r(DEV_TREE_OBJECTID).generation, devRootLevel: r(DEV_TREE_OBJECTID).level,
    csumRoot: r(CSUM_TREE_OBJECTID).bytenr, csumRootGen: r(CSUM_TREE_OBJECTID).generation, csumRootLevel: r(CSUM_TREE_OBJECTID).level,
    totalBytes: sb.totalBytes, bytesUsed: sb.bytesUsed, numDevices: sb.numDevices,
    unused64: new Uint8Array(32), unused8: new Uint8Array(10),
  };
  setBackupRoot(sb, fs.backupSlot, backup);
  fs.backupSlot = (fs.backupSlot + 1) % NUM_BACKUP_ROOTS;
}

// Deleting a subvolume tree (btrfs extent-tree.c btrfs_drop_snapshot with walk_down_tree,
// walk_down_proc, do_walk_down, walk_up_tree, walk_up_proc; transaction.c
// btrfs_clean_one_deleted_snapshot; disk-io.c btrfs_find_orphan_roots).
//
// A deleted tree (ROOT_ITEM refs 0, an orphan item (ORPHAN, ORPHAN_ITEM, id) in the root
// tree) is walked depth first from the left. Blocks only this tree references (refs 1) are
// entered, their children handled, then freed; a leaf drops the data refs of its file
// extents. A block with more refs is shared with another tree: it is not entered, only this
// tree's ref to it is dropped — after its subtree's blocks owned by the dying tree were
// converted to FULL_BACKREF (the UPDATE_BACKREF stage, btrfs_drop_snapshot's update_ref),
// so that no block keeps an implicit ref from a tree that no longer exists.
//
// The walk is split into chunks: when a chunk's budget of visited blocks is spent the
// position — the key and level of the next pointer to process — goes into the dead tree's
// ROOT_ITEM (drop_progress / drop_level) and the transaction ends (the caller's
// endTransaction; by default a commit and a new transaction). A crash or an unmount leaves
// the last committed position, and the next dropTree of the tree (resumeDeadRoots at mount)
// continues from it: everything before it was freed in the same commits that recorded it.
// When the walk is done the ROOT_ITEM and the orphan item go.
//
// Single writer: nothing else changes the dead tree (nothing may: its refs are 0), so the
// walk keeps its path across transactions as btrfs does.
import { Key, compareKeys } from '../format/key.js';
import { ItemType, ORPHAN_OBJECTID, BLOCK_FLAG_FULL_BACKREF, MAX_LEVEL, MIXED_BACKREF_REV } from '../format/constants.js';
import { RootItem } from '../format/structs.js';
import { viewOf } from '../format/struct.js';
import { deleteItem, flushDeferred, insertItem, iterItems, lookup, readNodeSlot } from '../tree/ctree.js';
import type { ExtentBuffer } from '../tree/extent-buffer.js';
import type { FsInfo, Root } from '../fs/fs-info.js';
import { lookupExtentInfo, modRef, blockRef, isShareableRoot } from '../fs/extent-tree.js';
import { qgroupTraceSubtree } from './qgroup.js';
import { startTransaction, commitTransaction } from '../fs/transaction.js';
import { FsError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import { findRootItem, loadRoot, updateRootItem } from './snapshot.js';

export interface DropProgress {
  /** The tree being dropped. */
  rootId: number;
  /** Tree blocks visited so far by this call (entered or released). */
  visited: number;
  /** Tree blocks freed so far by this call. */
  freed: number;
  /** Transactions ended so far by this call. */
  transactions: number;
  /** Where the walk resumes: the key and level of the next pointer to process. */
  dropProgress: Key;
  dropLevel: number;
}

export interface DropOptions {
  /** Checked between chunks: an aborted signal ends the call with 'cancelled' (the drop resumes later). */
  signal?: AbortSignal;
  onProgress?: (p: DropProgress) => void;
  /** Tree blocks to visit per transaction before it ends (btrfs_should_end_transaction). Default 1024. */
  budget?: number;
  /**
   * Ends the running transaction and starts the next (btrfs_end_transaction_throttle). The
   * default commits and starts a new one; an API may also release its lock in between.
   * When it returns a transaction must be running.
   */
  endTransaction?: (fs: FsInfo) => Promise<void>;
}

export type DropResult = 'done' | 'cancelled';

const DROP_REFERENCE = 1;
const UPDATE_BACKREF = 2;

/** btrfs's struct walk_control, with the path (nodes, slots, locks) beside it. */
interface WalkControl {
  refs: number[];
  flags: number[];
  updateProgress: Key;
  dropProgress: Key;
  dropLevel: number;
  stage: number;
  level: number;
  sharedLevel: number;
  updateRef: boolean;
  nodes: (ExtentBuffer | undefined)[];
  slots: number[];
  /** path->locks: whether the block's refs are known not to have changed since looked up. */
  locks: boolean[];
  visited: number;
  freed: number;
}

/** (ORPHAN_OBJECTID, ORPHAN_ITEM, id): a deleted subvolume whose tree is still to drop. */
export function rootOrphanKey(id: number): Key {
  return Key.of(ORPHAN_OBJECTID, ItemType.ORPHAN_ITEM, id);
}

/**
 * The engine half of deleting a subvolume (btrfs_delete_subvolume after the directory entry
 * and root refs are gone): the ROOT_ITEM gets refs 0 and the root tree an orphan item, so
 * that the tree is dropped now or after a crash or remount; the Root leaves fs.roots. Call
 * inside a running transaction; then dropTree (or leave it to resumeDeadRoots).
 */
export async function markRootDead(fs: FsInfo, root: Root): Promise<void> {
  if (fs.transid <= 0) throw new FsError('EROFS', 'marking a root dead outside a transaction');
  if (!isShareableRoot(root.objectid) || !root.item) throw new FsError('EINVAL', `tree ${root.objectid} is not a subvolume`);
  if (root.objectid === fs.fsTree.objectid) throw new FsError('EPERM', 'the top-level subvolume cannot be deleted');
  // Deferred inserts go in first: their file extent items carry data refs the drop must see.
  await flushDeferred(fs, root);
  root.item.refs = 0;
  await writeRootItem(fs, root);
  await insertItem(fs, fs.rootTree, rootOrphanKey(root.objectid), new Uint8Array(0));
  if (fs.roots.get(root.objectid) === root) fs.roots.delete(root.objectid);
}

/** Writes `root`'s ROOT_ITEM now, with its current root block (what updateRootItems does at commit). */
async function writeRootItem(fs: FsInfo, root: Root): Promise<void> {
  const item = root.item!;
  item.bytenr = root.node.bytenr;
  item.level = root.node.level;
  if (root.node.generation === fs.transid) {
    item.generation = fs.transid;
    item.generationV2 = fs.transid;
  }
  await updateRootItem(fs, root);
}

async function defaultEndTransaction(fs: FsInfo): Promise<void> {
  await commitTransaction(fs);
  startTransaction(fs);
}

/** find_next_key: the key after the path's position at `level` or above, or undefined at the end. */
function findNextKey(wc: WalkControl, level: number): Key | undefined {
  for (; level < MAX_LEVEL; level++) {
    const n = wc.nodes[level];
    if (!n) break;
    if (wc.slots[level] + 1 >= n.nritems) continue;
    return n.key(wc.slots[level] + 1);
  }
  return undefined;
}

/**
 * Drops tree `root`, whose ROOT_ITEM has refs 0 (markRootDead), inside a running
 * transaction, ending transactions between chunks as `opts` says: 'done' when the tree and
 * its ROOT_ITEM and orphan item are gone (the last part is in the running transaction, for
 * the caller to commit), 'cancelled' when the signal stopped it (the position is in the
 * running transaction's ROOT_ITEM; a later call resumes).
 */
export async function dropTree(fs: FsInfo, root: Root, opts: DropOptions = {}): Promise<DropResult> {
  if (fs.transid <= 0) throw new FsError('EROFS', 'dropTree outside a transaction');
  const item = root.item;
  if (!item || !isShareableRoot(root.objectid)) throw new FsError('EINVAL', `tree ${root.objectid} is not a subvolume`);
  if (item.refs !== 0) throw new FsError('EINVAL', `subvolume ${root.objectid} is not deleted (refs ${item.refs})`);
  if (fs.roots.get(root.objectid) === root) fs.roots.delete(root.objectid);
  const budget = Math.max(1, opts.budget ?? 1024);
  const endTransaction = opts.endTransaction ?? defaultEndTransaction;
  const rootId = root.objectid;

  const wc: WalkControl = {
    refs: new Array(MAX_LEVEL).fill(0), flags: new Array(MAX_LEVEL).fill(0),
    updateProgress: Key.MIN, dropProgress: Key.MIN, dropLevel: 0, stage: DROP_REFERENCE, level: 0, sharedLevel: -1,
    updateRef: root.node.backrefRev >= MIXED_BACKREF_REV,
    nodes: new Array(MAX_LEVEL).fill(undefined), slots: new Array(MAX_LEVEL).fill(0), locks: new Array(MAX_LEVEL).fill(false),
    visited: 0, freed: 0,
  };
  let transactions = 0;
  const report = () => opts.onProgress?.({ rootId, visited: wc.visited, freed: wc.freed, transactions, dropProgress: item.dropProgress, dropLevel: item.dropLevel });

  let level: number;
  if (item.dropProgress.objHi === 0 && item.dropProgress.objLo === 0) {
    level = root.node.level;
    wc.nodes[level] = root.node;
    wc.slots[level] = 0;
    wc.locks[level] = true;
  } else {
    // Resume: search down to drop_level for drop_progress (path->lowest_level), then the
    // refs and flags of the blocks above it.
    const key = item.dropProgress;
    wc.updateProgress = key;
    const dropLevel = item.dropLevel;
    if (dropLevel === 0 || dropLevel > root.node.level) throw new FsError('EUCLEAN', `dead tree ${rootId}: drop level ${dropLevel} with a root at level ${root.node.level}`);
    let eb = root.node;
    for (let l = root.node.level; ; l--) {
      assert(eb.level === l, 'dropTree: level mismatch on the resume path');
      const slot = eb.childSlot(key);
      wc.nodes[l] = eb;
      wc.slots[l] = slot;
      if (l === dropLevel) {
        if (eb.compareKey(slot, key) !== 0) throw new FsError('EUCLEAN', `dead tree ${rootId}: drop progress ${key} is not a key of block ${eb.bytenr}`);
        break;
      }
      eb = await readNodeSlot(fs, root, eb, slot);
    }
    for (level = root.node.level; ; level--) {
      wc.locks[level] = true;
      const info = await lookupExtentInfo(fs, wc.nodes[level]!.bytenr, level);
      if (info.refs === 0) throw new FsError('EUCLEAN', `tree block ${wc.nodes[level]!.bytenr} of dead tree ${rootId} has no references`);
      wc.refs[level] = info.refs;
      wc.flags[level] = info.flags;
      if (level === dropLevel) break;
      wc.locks[level] = false;
    }
  }
  wc.level = level;

  let sinceEnd = 0;
  for (;;) {
    const before = wc.visited;
    await walkDownTree(fs, root, wc);
    const done = await walkUpTree(fs, root, wc, MAX_LEVEL);
    if (done) {
      assert(wc.stage === DROP_REFERENCE, 'dropTree ended while updating backrefs');
      break;
    }
    if (wc.stage === DROP_REFERENCE) {
      wc.dropLevel = wc.level;
      wc.dropProgress = wc.nodes[wc.dropLevel]!.key(wc.slots[wc.dropLevel]);
    }
    item.dropProgress = wc.dropProgress;
    item.dropLevel = wc.dropLevel;
    assert(wc.level > 0, 'dropTree: progress at a leaf');
    sinceEnd += Math.max(1, wc.visited - before);
    if (sinceEnd >= budget || opts.signal?.aborted) {
      await writeRootItem(fs, root);
      if (opts.signal?.aborted) {
        report();
        return 'cancelled';
      }
      await endTransaction(fs);
      if (fs.transid <= 0) throw new FsError('EINVAL', 'dropTree: endTransaction left no transaction running');
      transactions++;
      sinceEnd = 0;
      report();
    }
  }
  // btrfs_del_root, then the orphan item when no root item of the tree is left.
  const f = await findRootItem(fs, rootId);
  if (!f) throw new FsError('EUCLEAN', `dead tree ${rootId} lost its root item`);
  await deleteItem(fs, fs.rootTree, f.key);
  if (!(await findRootItem(fs, rootId)) && (await lookup(fs, fs.rootTree, rootOrphanKey(rootId)))) {
    await deleteItem(fs, fs.rootTree, rootOrphanKey(rootId));
  }
  report();
  return 'done';
}

/** walk_down_proc: true when the walk must not go below the current block. */
async function walkDownProc(fs: FsInfo, root: Root, wc: WalkControl, lookupInfo: boolean): Promise<boolean> {
  const level = wc.level;
  const eb = wc.nodes[level]!;
  const flag = BLOCK_FLAG_FULL_BACKREF;
  if (wc.stage === UPDATE_BACKREF && eb.owner !== root.objectid) return true;
  // A block with refs 1 keeps them; FULL_BACKREF, once set, stays.
  if (lookupInfo && ((wc.stage === DROP_REFERENCE && wc.refs[level] !== 1) || (wc.stage === UPDATE_BACKREF && (wc.flags[level] & flag) === 0))) {
    const info = await lookupExtentInfo(fs, eb.bytenr, level);
    if (info.refs === 0) throw new FsError('EUCLEAN', `tree block ${eb.bytenr} of dead tree ${root.objectid} has no references`);
    wc.refs[level] = info.refs;
    wc.flags[level] = info.flags;
  }
  if (wc.stage === DROP_REFERENCE) {
    if (wc.refs[level] > 1) return true;
    wc.locks[level] = false;
    return false;
  }
  // UPDATE_BACKREF: the block's children get full refs from it instead of implicit ones.
  if ((wc.flags[level] & flag) === 0) {
    modRef(fs, root.objectid, eb, true, true);
    modRef(fs, root.objectid, eb, false, false);
    fs.delayedRefs.setExtentFlags(eb.bytenr, fs.nodesize, level, flag);
    wc.flags[level] |= flag;
  }
  if (level > 0) wc.locks[level] = false;
  return false;
}

/**
 * do_walk_down: enters the child at the current slot (returns false), or releases it
 * without entering (returns true): a shared child loses this tree's ref, after its subtree
 * is switched to UPDATE_BACKREF when that is still to do.
 */
async function doWalkDown(fs: FsInfo, root: Root, wc: WalkControl): Promise<boolean> {
  const level = wc.level;
  const parent = wc.nodes[level]!;
  const slot = wc.slots[level];
  const generation = parent.ptrGeneration(slot);
  // Blocks made before the snapshot need no backref update: btrfs compares with the ROOT_ITEM
  // key offset (the snapshot's transid; 0 for a subvolume, which then checks every block).
  const rootKeyOffset = root.itemKeyOffset;
  if (wc.stage === UPDATE_BACKREF && generation <= rootKeyOffset) return true;
  const bytenr = parent.blockptr(slot);
  const info = await lookupExtentInfo(fs, bytenr, level - 1);
  if (info.refs === 0) throw new FsError('EUCLEAN', `tree block ${bytenr} (slot ${slot} of block ${parent.bytenr}) of dead tree ${root.objectid} has no references`);
  wc.refs[level - 1] = info.refs;
  wc.flags[level - 1] = info.flags;
  wc.visited++;
  let skip = false;
  if (wc.stage === DROP_REFERENCE) {
    if (wc.refs[level - 1] > 1) {
      if (level === 1 && (wc.flags[0] & BLOCK_FLAG_FULL_BACKREF) !== 0) skip = true;
      else if (!wc.updateRef || generation <= rootKeyOffset) skip = true;
      else if (compareKeys(parent.key(slot), wc.updateProgress) < 0) skip = true;
      else {
        wc.stage = UPDATE_BACKREF;
        wc.sharedLevel = level - 1;
      }
    }
  } else if (level === 1 && (wc.flags[0] & BLOCK_FLAG_FULL_BACKREF) !== 0) {
    skip = true;
  }
  if (!skip) {
    const next = await readNodeSlot(fs, root, parent, slot);
    wc.nodes[level - 1] = next;
    wc.slots[level - 1] = 0;
    wc.locks[level - 1] = true;
    wc.level = level - 1;
    return false;
  }
  wc.refs[level - 1] = 0;
  wc.flags[level - 1] = 0;
  if (wc.stage === DROP_REFERENCE) {
    let parentRef = 0;
    if (wc.flags[level] & BLOCK_FLAG_FULL_BACKREF) parentRef = parent.bytenr;
    else if (parent.owner !== root.objectid) throw new FsError('EUCLEAN', `block ${parent.bytenr} of dead tree ${root.objectid} is owned by tree ${parent.owner}`);
    wc.dropLevel = level;
    const next = findNextKey(wc, level);
    if (next) wc.dropProgress = next;
    // ---- qgroups: the extents below a shared block released unentered change roots (btrfs_qgroup_trace_subtree).
    await qgroupTraceSubtree(fs, bytenr, level - 1, generation);
    fs.delayedRefs.addTreeRef(bytenr, fs.nodesize, level - 1, blockRef(root.objectid, parentRef), -1);
  }
  return true;
}

/** walk_down_tree: goes down from wc.level as far as blocks are this tree's alone. */
async function walkDownTree(fs: FsInfo, root: Root, wc: WalkControl): Promise<void> {
  let level = wc.level;
  let lookupInfo = true;
  // Bounded: each round enters a child (level - 1) or moves a slot right.
  while (level >= 0) {
    if (await walkDownProc(fs, root, wc, lookupInfo)) break;
    if (level === 0) break;
    if (wc.slots[level] >= wc.nodes[level]!.nritems) break;
    const released = await doWalkDown(fs, root, wc);
    if (released) {
      lookupInfo = true;
      wc.slots[level]++;
      continue;
    }
    lookupInfo = false;
    level = wc.level;
  }
}

/**
 * walk_up_proc: the block at wc.level is done. Returns true when the walk must go down into
 * it again (its refs fell to 1 while its backrefs were updated).
 */
async function walkUpProc(fs: FsInfo, root: Root, wc: WalkControl): Promise<boolean> {
  const level = wc.level;
  const eb = wc.nodes[level]!;
  if (wc.stage === UPDATE_BACKREF) {
    assert(wc.sharedLevel >= level, 'walkUpProc: below the shared level while updating');
    if (level < wc.sharedLevel) {
      wc.refs[level] = 0;
      wc.flags[level] = 0;
      return false;
    }
    const next = findNextKey(wc, level + 1);
    if (next) wc.updateProgress = next;
    else wc.updateRef = false;
    wc.stage = DROP_REFERENCE;
    wc.sharedLevel = -1;
    wc.slots[level] = 0;
    if (!wc.locks[level]) {
      assert(level > 0, 'walkUpProc: unlocked leaf');
      wc.locks[level] = true;
      const info = await lookupExtentInfo(fs, eb.bytenr, level);
      if (info.refs === 0) throw new FsError('EUCLEAN', `tree block ${eb.bytenr} of dead tree ${root.objectid} has no references`);
      wc.refs[level] = info.refs;
      wc.flags[level] = info.flags;
      if (info.refs === 1) {
        wc.locks[level] = false;
        return true;
      }
    }
  }
  // DROP_REFERENCE
  const lastRef = wc.refs[level] === 1;
  if (lastRef && level === 0) modRef(fs, root.objectid, eb, (wc.flags[0] & BLOCK_FLAG_FULL_BACKREF) !== 0, false);
  let parent = 0;
  if (eb === root.node) {
    if (wc.flags[level] & BLOCK_FLAG_FULL_BACKREF) parent = eb.bytenr;
    else if (eb.owner !== root.objectid) throw new FsError('EUCLEAN', `root block ${eb.bytenr} of dead tree ${root.objectid} is owned by tree ${eb.owner}`);
  } else {
    const up = wc.nodes[level + 1]!;
    if (wc.flags[level + 1] & BLOCK_FLAG_FULL_BACKREF) parent = up.bytenr;
    else if (up.owner !== root.objectid) throw new FsError('EUCLEAN', `block ${up.bytenr} of dead tree ${root.objectid} is owned by tree ${up.owner}`);
  }
  // ---- qgroups: a shared block this tree lets go of after updating its backrefs: the extents
  // below change roots (the skip in doWalkDown traces the same way).
  if (!lastRef) await qgroupTraceSubtree(fs, eb.bytenr, level, eb.generation);
  fs.freeTreeBlock(eb, root.objectid, parent, lastRef);
  wc.visited++;
  if (lastRef) wc.freed++;
  wc.refs[level] = 0;
  wc.flags[level] = 0;
  return false;
}

/** walk_up_tree: climbs from a finished block to the next slot to process; true when the whole tree is done. */
async function walkUpTree(fs: FsInfo, root: Root, wc: WalkControl, maxLevel: number): Promise<boolean> {
  let level = wc.level;
  wc.slots[level] = wc.nodes[level]!.nritems;
  while (level < maxLevel && wc.nodes[level]) {
    wc.level = level;
    if (wc.slots[level] + 1 < wc.nodes[level]!.nritems) {
      wc.slots[level]++;
      return false;
    }
    if (await walkUpProc(fs, root, wc)) return false;
    wc.locks[level] = false;
    wc.nodes[level] = undefined;
    level++;
  }
  return true;
}

/**
 * btrfs_find_orphan_roots + the cleaner: drops every deleted subvolume tree — those named
 * by an orphan item (ORPHAN, ORPHAN_ITEM, id) of the root tree and those whose ROOT_ITEM has
 * refs 0 — inside a running transaction, continuing where earlier drops stopped. Orphan
 * items without a root item are removed. Returns the ids dropped; stops early (with what
 * was dropped so far) when the signal aborts.
 */
export async function resumeDeadRoots(fs: FsInfo, opts: DropOptions = {}): Promise<number[]> {
  if (fs.transid <= 0) throw new FsError('EROFS', 'resumeDeadRoots outside a transaction');
  const ids = new Set<number>();
  for await (const it of iterItems(fs, fs.rootTree, Key.of(ORPHAN_OBJECTID, ItemType.ORPHAN_ITEM, 0), Key.of(ORPHAN_OBJECTID, ItemType.ORPHAN_ITEM, -1))) {
    ids.add(it.key.offset);
  }
  for await (const it of iterItems(fs, fs.rootTree, Key.of(0, ItemType.ROOT_ITEM, 0), Key.of(-256, ItemType.ROOT_ITEM, -1))) {
    if (it.key.type !== ItemType.ROOT_ITEM || !isShareableRoot(it.key.objectid)) continue;
    if (it.data.length >= RootItem.off.refs + 4 && viewOf(it.data).getUint32(RootItem.off.refs, true) === 0) ids.add(it.key.objectid);
  }
  const dropped: number[] = [];
  for (const id of [...ids].sort((a, b) => a - b)) {
    if (opts.signal?.aborted) break;
    const root = await loadRoot(fs, id);
    if (!root) {
      await deleteItem(fs, fs.rootTree, rootOrphanKey(id));
      continue;
    }
    if (root.item!.refs !== 0) continue; // an orphan item of a live subvolume: not ours to drop
    if ((await dropTree(fs, root, opts)) === 'done') dropped.push(id);
    else break;
  }
  return dropped;
}

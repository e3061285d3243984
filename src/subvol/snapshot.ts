// Snapshots of subvolume trees (btrfs transaction.c create_pending_snapshot, ctree.c
// btrfs_copy_root), and loading subvolume roots (disk-io.c btrfs_read_fs_root).
//
// A snapshot is O(1): the source's root block is copied into a block owned by the new tree
// and every child of that copy gets a reference from the new tree (btrfs_inc_ref: a
// TREE_BLOCK_REF(new) per child pointer, or for a leaf an EXTENT_DATA_REF(new, inode, offset)
// per file extent with disk bytes). Everything below is shared and unshared lazily, when
// either tree COWs a shared block (fs-info.ts onCow, btrfs's update_ref_for_cow).
//
// btrfs makes snapshots inside the commit, after the transaction's changes went into the
// trees; here a snapshot is made inside a running transaction and sees everything the trees
// hold at that moment (the engine applies every change to the trees when it happens: there
// are no delayed inodes or dirty pages). Blocks of this transaction that the copy now shares
// are frozen (FsInfo.frozen): any later change to them, from either tree, COWs first, as
// btrfs's FORCE_COW does.
//
// This is the engine half of snapshot creation. The subvolume layer adds what makes the new
// tree a visible subvolume: ROOT_REF / ROOT_BACKREF, the directory entry in the parent, the
// uuid tree entry.
import { Key } from '../format/key.js';
import { ItemType, ROOT_SUBVOL_RDONLY } from '../format/constants.js';
import { RootItem } from '../format/structs.js';
import { viewOf, type Timespec } from '../format/struct.js';
import { cowBlock, insertItem, iterItems } from '../tree/ctree.js';
import { Root, type FsInfo } from '../fs/fs-info.js';
import { isShareableRoot, modRef } from '../fs/extent-tree.js';
import { decodeRootItem } from '../fs/open.js';
import { nowTimespec } from '../inode/inode.js';
import { flushDelayedInodes } from '../fs/delayed-inode.js';
import { FsError } from '../util/errors.js';
import { updateItem } from '../fs/items.js';
import { assert } from '../util/assert.js';

export interface SnapshotOptions {
  /** The new root item gets BTRFS_ROOT_SUBVOL_RDONLY. */
  readonly?: boolean;
  /** ctime / otime of the new root item (default: now). */
  now?: Timespec;
  /** uuid of the new tree (default: a random v4 uuid). */
  uuid?: Uint8Array;
}

/** A random version 4 uuid, as btrfs generates for subvolumes (generate_random_guid). */
export function randomUuid(): Uint8Array {
  const u = new Uint8Array(16);
  globalThis.crypto.getRandomValues(u);
  u[6] = (u[6] & 0x0f) | 0x40;
  u[8] = (u[8] & 0x3f) | 0x80;
  return u;
}

/**
 * The key of a tree's ROOT_ITEM: (id, ROOT_ITEM, 0) for subvolumes, (id, ROOT_ITEM, transid)
 * for snapshots, as btrfs writes them.
 */
export function rootItemKey(id: number, offset = 0): Key {
  return Key.of(id, ItemType.ROOT_ITEM, offset);
}

/**
 * Snapshots subvolume tree `src` as the new tree `newObjectid`, inside the running
 * transaction (create_pending_snapshot): COWs the source's root block if it is older than
 * this transaction, copies it into a block owned by the new tree (btrfs_copy_root) whose
 * children get references from the new tree, inserts the new ROOT_ITEM
 * (newObjectid, ROOT_ITEM, transid) — a copy of the source's with the new root block, refs 1, a
 * new uuid, parent_uuid = the source's uuid, ctransid = otransid = last_snapshot = transid,
 * ctime = otime = now, flags 0 or RDONLY, received uuid and send/receive times cleared
 * unless read-only, no drop progress — sets the source's last_snapshot, and registers the
 * new Root in fs.roots. The work does not depend on the size of the source.
 */
export async function snapshotRoot(fs: FsInfo, src: Root, newObjectid: number, opts: SnapshotOptions = {}): Promise<Root> {
  if (fs.transid <= 0) throw new FsError('EROFS', 'snapshot outside a transaction');
  if (!isShareableRoot(src.objectid) || !src.item) throw new FsError('EINVAL', `tree ${src.objectid} is not a subvolume`);
  if (!isShareableRoot(newObjectid) || newObjectid === src.objectid) throw new FsError('EINVAL', `${newObjectid} is not a free subvolume id`);
  if (src.item.refs === 0) throw new FsError('ENOENT', `subvolume ${src.objectid} is being deleted`);
  if (fs.roots.has(newObjectid) || (await findRootItem(fs, newObjectid))) throw new FsError('EEXIST', `tree ${newObjectid} exists`);
  const transid = fs.transid;

  // The source's delayed inode updates go into its tree first (create_pending_snapshot's
  // btrfs_run_delayed_items): the copy shares the tree as it is.
  await flushDelayedInodes(fs, src);
  // The source's root block belongs to this transaction (btrfs_cow_block of the old root).
  await cowBlock(fs, src, src.node, undefined, 0);
  const old = src.node;

  // btrfs_copy_root: a copy owned by the new tree; its children gain the new tree's refs.
  const copy = fs.allocBlock(newObjectid, old.level);
  copy.copyContentsFrom(old, transid, newObjectid);
  modRef(fs, newObjectid, copy, false, true);
  fs.markDirty(copy);

  // FORCE_COW: blocks of this transaction below the source's root are now shared.
  for (const eb of fs.dirty.values()) {
    if (eb !== old && eb !== copy && eb.owner === src.objectid && eb.generation === transid) fs.frozen.add(eb);
  }

  src.item.lastSnapshot = transid;
  const now = opts.now ?? nowTimespec();
  const zeroTime = { sec: 0, nsec: 0 };
  const readonly = opts.readonly ?? false;
  const item: RootItem = {
    ...src.item,
    inode: { ...src.item.inode },
    bytenr: copy.bytenr,
    level: copy.level,
    generation: transid,
    generationV2: transid,
    refs: 1,
    lastSnapshot: transid,
    flags: readonly ? ROOT_SUBVOL_RDONLY : 0,
    dropProgress: Key.MIN,
    dropLevel: 0,
    uuid: (opts.uuid ?? randomUuid()).slice(),
    parentUuid: src.item.uuid.slice(),
    ctransid: transid,
    otransid: transid,
    ctime: now,
    otime: now,
    receivedUuid: readonly ? src.item.receivedUuid.slice() : new Uint8Array(16),
    stransid: readonly ? src.item.stransid : 0,
    rtransid: readonly ? src.item.rtransid : 0,
    stime: readonly ? src.item.stime : zeroTime,
    rtime: readonly ? src.item.rtime : zeroTime,
    reserved: new Uint8Array(64),
  };
  assert(item.uuid.length === 16, 'snapshot uuid must be 16 bytes');
  const encoded = new Uint8Array(RootItem.size);
  RootItem.encode(viewOf(encoded), 0, item);
  // btrfs keys a snapshot's root item with the transid that made it (create_pending_snapshot).
  await insertItem(fs, fs.rootTree, rootItemKey(newObjectid, fs.transid), encoded);
  const root = new Root(newObjectid, copy, item);
  root.itemKeyOffset = fs.transid;
  root.itemOnDisk = encoded;
  fs.roots.set(newObjectid, root);
  return root;
}

/**
 * The ROOT_ITEM of tree `id` with the highest key offset (btrfs_find_root with offset -1),
 * or undefined.
 */
export async function findRootItem(fs: FsInfo, id: number): Promise<{ key: Key; item: RootItem } | undefined> {
  let found: { key: Key; item: RootItem } | undefined;
  for await (const it of iterItems(fs, fs.rootTree, Key.of(id, ItemType.ROOT_ITEM, 0), Key.of(id, ItemType.ROOT_ITEM, -1))) {
    found = { key: it.key, item: decodeRootItem(it.data, id) };
  }
  return found;
}

/**
 * A subvolume tree's Root (btrfs_get_fs_root): the loaded one, or one read from its
 * ROOT_ITEM and registered in fs.roots. ENOENT when the tree has no root item or is being
 * deleted (refs 0).
 */
export async function readFsRoot(fs: FsInfo, id: number): Promise<Root> {
  const have = fs.roots.get(id);
  if (have) return have;
  if (!isShareableRoot(id)) throw new FsError('EINVAL', `tree ${id} is not a subvolume`);
  const r = await loadRoot(fs, id);
  if (!r) throw new FsError('ENOENT', `subvolume ${id} does not exist`);
  if (r.item!.refs === 0) throw new FsError('ENOENT', `subvolume ${id} is being deleted`);
  fs.roots.set(id, r);
  return r;
}

/** A tree read from its ROOT_ITEM, not registered anywhere (dead roots included); undefined without a root item. */
export async function loadRoot(fs: FsInfo, id: number): Promise<Root | undefined> {
  const f = await findRootItem(fs, id);
  if (!f) return undefined;
  const node = await fs.readBlock(f.item.bytenr, { generation: f.item.generation, level: f.item.level, owner: id });
  const r = new Root(id, node, f.item);
  r.itemKeyOffset = f.key.offset;
  const encoded = new Uint8Array(RootItem.size);
  RootItem.encode(viewOf(encoded), 0, f.item);
  r.itemOnDisk = encoded;
  return r;
}

/** btrfs_update_root: writes the in-memory ROOT_ITEM of `root` now. */
export async function updateRootItem(fs: FsInfo, root: Root): Promise<void> {
  const f = await findRootItem(fs, root.objectid);
  if (!f) throw new FsError('EUCLEAN', `tree ${root.objectid} has no root item`);
  const encoded = new Uint8Array(RootItem.size);
  RootItem.encode(viewOf(encoded), 0, root.item!);
  await updateItem(fs, fs.rootTree, f.key, (_dv, data) => {
    if (data.length !== RootItem.size) throw new FsError('EUCLEAN', `root item ${f.key} is ${data.length} bytes`);
    data.set(encoded);
  });
  root.itemOnDisk = encoded;
}

/**
 * btrfs_create_tree: a new tree `id` of one empty leaf, its ROOT_ITEM (refs 1, a new uuid, the
 * root inode fields btrfs writes, then `fields`) inserted and the Root registered in fs.roots.
 */
export async function createTree(fs: FsInfo, id: number, fields: Partial<RootItem> = {}, inodeFlags = 0): Promise<Root> {
  const leaf = fs.allocBlock(id, 0);
  const item = RootItem.zero();
  Object.assign(item.inode, { generation: 1, size: 3, nlink: 1, nbytes: fs.nodesize, mode: 0o40755, flags: inodeFlags });
  Object.assign(item, {
    generation: fs.transid, generationV2: fs.transid, bytenr: leaf.bytenr, level: 0, refs: 1, bytesUsed: fs.nodesize, uuid: randomUuid(),
  }, fields);
  const encoded = new Uint8Array(RootItem.size);
  RootItem.encode(viewOf(encoded), 0, item);
  await insertItem(fs, fs.rootTree, Key.of(id, ItemType.ROOT_ITEM, 0), encoded);
  const root = new Root(id, leaf, item);
  root.itemOnDisk = encoded;
  fs.roots.set(id, root);
  return root;
}

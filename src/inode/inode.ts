// Inodes (btrfs inode.c): INODE_ITEM read, insert, update; inode number allocation per
// subvolume; timestamps. The namespace (namei.ts) and file data (file.ts) build on this.
//
// Inode numbers: each subvolume's next free objectid is found once (the highest objectid in
// its tree, btrfs_init_root_free_objectid) and kept in memory on its Root; numbers are never
// reused within a mount (btrfs does the same).
import { InodeItem, type InodeItem as InodeItemT } from '../format/structs.js';
import { Key } from '../format/key.js';
import type { Timespec } from '../format/struct.js';
import { ItemType, FIRST_FREE_OBJECTID, LAST_FREE_OBJECTID, EMPTY_SUBVOL_DIR_OBJECTID, FS_TREE_OBJECTID } from '../format/constants.js';
import { insertItem, insertDeferred, deferredData, lookupDecoded, searchSlot, prevLeaf } from '../tree/ctree.js';
import type { FsInfo, Root } from '../fs/fs-info.js';
import { updateItem } from '../fs/items.js';
import { flushDelayedInodes } from '../fs/delayed-inode.js';
import { decodeInodeFrom, encodeInodeInto, ZERO_RESERVED } from '../format/inode-item.js';
import { FsError } from '../util/errors.js';

export type { InodeItemT as InodeItem };

/** S_IF* bits of st_mode. */
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

export const isDir = (mode: number) => (mode & S_IFMT) === S_IFDIR;
export const isReg = (mode: number) => (mode & S_IFMT) === S_IFREG;
export const isLnk = (mode: number) => (mode & S_IFMT) === S_IFLNK;

/** Wall-clock time as a btrfs timespec (millisecond resolution from Date, nanoseconds field). */
export function nowTimespec(nowMs = Date.now()): Timespec {
  const sec = Math.floor(nowMs / 1000);
  return { sec, nsec: Math.round((nowMs - sec * 1000) * 1e6) };
}

export function inodeKey(ino: number): Key {
  return Key.of(ino, ItemType.INODE_ITEM, 0);
}

export function decodeInode(data: Uint8Array, ino: number): InodeItemT {
  if (data.length !== InodeItem.size) throw new FsError('EUCLEAN', `inode ${ino}: item of ${data.length} bytes`);
  return decodeInodeFrom(data, 0);
}

export function encodeInode(item: InodeItemT): Uint8Array {
  const b = new Uint8Array(InodeItem.size);
  encodeInodeInto(b, 0, item);
  return b;
}

/**
 * The inode btrfs shows for a subvolume entry whose subvolume is not linked from this tree
 * (a snapshot of a tree with nested subvolumes: the snapshot keeps the entries, not the
 * subvolumes). The kernel makes it up on lookup (inode.c new_simple_dir): inode
 * BTRFS_EMPTY_SUBVOL_DIR_OBJECTID (2), an empty directory 0755, read-only; nothing of it is
 * on disk. Its times are the tree's creation time here.
 */
function emptySubvolDirItem(root: Root): InodeItemT {
  const item = InodeItem.zero();
  const t = root.item?.otime ?? { sec: 0, nsec: 0 };
  Object.assign(item, { generation: 0, transid: 0, size: 0, nbytes: 0, nlink: 1, mode: 0o40755, atime: t, ctime: t, mtime: t, otime: t });
  return item;
}

function isSubvolumeTree(root: Root): boolean {
  return root.objectid === FS_TREE_OBJECTID || root.objectid >= FIRST_FREE_OBJECTID;
}

/** The inode's item (a copy the caller may change), or ENOENT. */
export function readInode(fs: FsInfo, root: Root, ino: number): Promise<InodeItemT> {
  // Known without I/O (nearly always: the item cache): one resolved promise, no async frames.
  const known = peekInode(root, ino);
  if (known) return Promise.resolve(cloneInode(known));
  return readInodeSlow(fs, root, ino);
}

async function readInodeSlow(fs: FsInfo, root: Root, ino: number): Promise<InodeItemT> {
  if (ino === EMPTY_SUBVOL_DIR_OBJECTID && isSubvolumeTree(root)) return emptySubvolDirItem(root);
  const item = await findInode(fs, root, ino);
  if (!item) throw new FsError('ENOENT', `inode ${ino} of subvolume ${root.objectid} does not exist`);
  return item;
}

/** The inode's item (a delayed update first: fs/delayed-inode.ts), or undefined. */
export async function findInode(fs: FsInfo, root: Root, ino: number): Promise<InodeItemT | undefined> {
  const key = inodeKey(ino);
  const delayed = root.itemCache?.getDelayed(key) as InodeItemT | undefined;
  if (delayed) return cloneInode(delayed);
  const item = await lookupDecoded(fs, root, key, (d) => decodeInode(d, ino));
  return item && cloneInode(item);
}

/**
 * The inode's item if it is known without any I/O (a delayed update, or the item cache), else
 * undefined: the synchronous fast path of readInode (api/promises.ts stat). The item is the
 * cache's own: read it, never change it.
 */
export function peekInode(root: Root, ino: number): Readonly<InodeItemT> | undefined {
  const c = root.itemCache;
  if (!c || ino === EMPTY_SUBVOL_DIR_OBJECTID) return undefined;
  const key = inodeKey(ino);
  if (!c.covers(key)) return undefined;
  const delayed = c.getDelayed(key) as InodeItemT | undefined;
  if (delayed) return delayed;
  const e = c.get(key);
  if (!e?.data) return undefined;
  if (e.decoded === undefined) e.decoded = decodeInode(e.data, ino);
  return e.decoded as InodeItemT;
}

/** A copy the caller may change (the cached or delayed decoded item stays as it is; `reserved` is shared and read-only). */
export function cloneInode(i: InodeItemT): InodeItemT {
  return {
    generation: i.generation, transid: i.transid, size: i.size, nbytes: i.nbytes, blockGroup: i.blockGroup,
    nlink: i.nlink, uid: i.uid, gid: i.gid, mode: i.mode, rdev: i.rdev, flags: i.flags, sequence: i.sequence,
    reserved: i.reserved, // never changed by anyone: shared, not copied
    atime: { sec: i.atime.sec, nsec: i.atime.nsec }, ctime: { sec: i.ctime.sec, nsec: i.ctime.nsec },
    mtime: { sec: i.mtime.sec, nsec: i.mtime.nsec }, otime: { sec: i.otime.sec, nsec: i.otime.nsec },
  };
}

/** Delayed inode updates one tree holds at most before the writer flushes them (fs/delayed-inode.ts). */
export const MAX_DELAYED_INODES = 16384;

/**
 * Writes `item` over the existing INODE_ITEM; transid is set to the running transaction.
 * `owned`: the caller hands `item` over and never touches it again, so the delayed update keeps
 * it as it is instead of a copy.
 */
export async function writeInode(fs: FsInfo, root: Root, ino: number, item: InodeItemT, owned = false): Promise<void> {
  item.transid = fs.transid;
  const key = inodeKey(ino);
  const c = root.itemCache;
  if (c && c.covers(key)) {
    // An inode made in this transaction whose item still waits to be inserted: the update is
    // written into that item (one tree write at the flush instead of the insert and then the
    // delayed update over it).
    const delayed = c.getDelayed(key) !== undefined;
    const waiting = delayed ? undefined : deferredData(root, key);
    if (waiting && waiting.length === InodeItem.size) {
      encodeInodeInto(waiting, 0, item);
      c.set(key, waiting, owned ? item : cloneInode(item), true);
      return;
    }
    // A delayed update (fs/delayed-inode.ts), written at the latest by the commit. The item
    // must exist now, as for an update in place (usually known: the caller just read it).
    if (!delayed && !(await lookupDecoded(fs, root, key, (d) => decodeInode(d, ino)))) {
      throw new FsError('EUCLEAN', `tree ${root.objectid}: item ${key} to update is missing`);
    }
    c.setDelayed(key, owned ? item : cloneInode(item));
    // Bounded like the other waiting work: a transaction that touches very many inodes writes
    // them out in batches instead of holding them all until the commit.
    if (c.delayedCount >= MAX_DELAYED_INODES) await flushDelayedInodes(fs, root);
    return;
  }
  const bytes = encodeInode(item);
  await updateItem(fs, root, key, (_dv, data) => data.set(bytes));
}

/** A fresh inode item (btrfs_new_inode): nlink 1 (0 for the caller to raise for dirs: see namei). */
export function newInodeItem(fs: FsInfo, mode: number, uid: number, gid: number, now: Timespec, rdev = 0, flags = 0): InodeItemT {
  // A literal, not InodeItem.zero() (a loop over the field list) and a copy over it: one per create.
  return {
    generation: fs.transid, transid: fs.transid, size: 0, nbytes: 0, blockGroup: 0, nlink: 1, uid, gid, mode, rdev, flags, sequence: 0,
    reserved: ZERO_RESERVED, atime: now, ctime: now, mtime: now, otime: now,
  };
}

/**
 * A new inode's INODE_ITEM as a deferred insert (ctree.ts insertDeferred), which also tells the
 * subvolume's item cache its bytes and decoded form, in one entry.
 */
export function insertInodeDeferred(fs: FsInfo, root: Root, ino: number, item: InodeItemT): void {
  insertDeferred(fs, root, inodeKey(ino), encodeInode(item), cloneInode(item));
}

export async function insertInode(fs: FsInfo, root: Root, ino: number, item: InodeItemT): Promise<void> {
  const key = inodeKey(ino);
  const bytes = encodeInode(item);
  await insertItem(fs, root, key, bytes);
  root.itemCache?.set(key, bytes, cloneInode(item));
}

/** Next free inode number of `root` (btrfs_get_free_objectid). */
export async function allocIno(fs: FsInfo, root: Root): Promise<number> {
  if (root.nextIno === undefined) root.nextIno = (await highestObjectid(fs, root)) + 1;
  const ino = root.nextIno;
  if (ino > Number.MAX_SAFE_INTEGER || ino >= 2 ** 53 + LAST_FREE_OBJECTID) throw new FsError('ENOSPC', `subvolume ${root.objectid} has no free inode numbers`);
  root.nextIno = ino + 1;
  return ino;
}

/** The highest objectid in use below BTRFS_LAST_FREE_OBJECTID (btrfs_find_highest_objectid). */
async function highestObjectid(fs: FsInfo, root: Root): Promise<number> {
  // Search for the largest possible key below the special objectids; the item before the
  // insertion point holds the highest objectid in use.
  const { path } = await searchSlot(fs, root, Key.of(2 ** 53 - 1, 255, -1));
  let slot = path.slots[0];
  if (slot === 0) {
    if (!(await prevLeaf(fs, root, path))) return FIRST_FREE_OBJECTID - 1;
    slot = path.slots[0] + 1;
  }
  const k = path.leaf.key(slot - 1);
  if (k.objHi >= 0x8000_0000) return FIRST_FREE_OBJECTID - 1; // only special objectids (orphans) present
  return Math.max(FIRST_FREE_OBJECTID - 1, k.objectid);
}

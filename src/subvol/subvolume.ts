// Subvolumes as users see them (btrfs ioctl.c create_subvol, btrfs_mksubvol,
// create_snapshot, btrfs_ioctl_snap_destroy, btrfs_ioctl_default_subvol,
// btrfs_ioctl_subvol_setflags; inode.c btrfs_delete_subvolume, btrfs_unlink_subvol,
// fixup_tree_root_location; transaction.c create_pending_snapshot's linking half;
// btrfs-progs cmds/subvolume.c and libbtrfsutil for what list and show report).
//
// A subvolume is a tree of its own (objectid >= 256, inode numbers from 256 again) linked
// into a directory of another subvolume by four items: the parent's DIR_ITEM and DIR_INDEX
// with location (id, ROOT_ITEM, -1), and ROOT_REF (parent, id) / ROOT_BACKREF (id, parent)
// in the root tree (root-ref.ts). Its ROOT_ITEM carries uuid, parent_uuid (snapshots),
// received_uuid, the transids and times; the uuid tree maps its uuid back to its id.
//
// The engine half of a snapshot (the O(1) shared copy) is snapshot.ts; the engine half of a
// deletion (dropping the tree, resumable) is drop-tree.ts. Everything here runs inside a
// transaction of the caller's, except the readers (list, info, paths, enterSubvolume).
import { Key, writeDiskKey } from '../format/key.js';
import {
  ItemType, FIRST_FREE_OBJECTID, FS_TREE_OBJECTID, ROOT_TREE_DIR_OBJECTID, EMPTY_SUBVOL_DIR_OBJECTID, ORPHAN_OBJECTID,
  ROOT_SUBVOL_RDONLY, ROOT_SUBVOL_DEAD, IncompatFlags, FileType,
} from '../format/constants.js';
import { RootItem, DirItem } from '../format/structs.js';
import type { Timespec } from '../format/struct.js';
import { iterItems } from '../tree/ctree.js';
import { Root, type FsInfo } from '../fs/fs-info.js';
import { isShareableRoot } from '../fs/extent-tree.js';
import { updateItem } from '../fs/items.js';
import { decodeRootItem } from '../fs/open.js';
import { btrfsNameHash } from '../kernels/checksum.js';
import { readInode, insertInode, newInodeItem, allocIno, nowTimespec, isDir, S_IFDIR } from '../inode/inode.js';
import { addRef, listRefs } from '../inode/inode-ref.js';
import { lookupHashed, checkName } from '../inode/dir-item.js';
import { lookupName, addSubvolumeEntry, removeSubvolumeEntry, checkMutable, rmdir as rmdirInode, getXattr, setXattr, type UnlinkHooks } from '../inode/namei.js';
import { inheritedFlags } from '../inode/attr.js';
import { FsError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import { snapshotRoot, readFsRoot, findRootItem, updateRootItem, createTree } from './snapshot.js';
import { markRootDead } from './drop-tree.js';
import { addRootRef, delRootRef, findRootRef, findRootBackref, hasChildSubvolumes, type RootRefInfo } from './root-ref.js';
import { uuidTreeAdd, uuidTreeRemove, isEmptyUuid } from './uuid-tree.js';
import { qgroupOnSubvolumeCreate, qgroupOnSnapshot } from './qgroup.js';

/** BTRFS_INODE_ROOT_ITEM_INIT: set in the inode of every root item btrfs creates. */
const INODE_ROOT_ITEM_INIT = 2 ** 31;
/** The name of the root tree directory's entry naming the default subvolume. */
const DEFAULT_NAME = new TextEncoder().encode('default');
/** Properties a new subvolume copies from its parent subvolume's root (btrfs_inode_inherit_props). */
const INHERITED_XATTRS = ['btrfs.compression'].map((n) => new TextEncoder().encode(n));
/** Bound on the depth of subvolume nesting and of directory chains walked for paths. */
const MAX_DEPTH = 65536;

const utf8 = new TextDecoder();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Whether the tree's ROOT_ITEM says read-only (btrfs_root_readonly). */
export function isReadonlySubvolume(root: Root): boolean {
  return root.item !== undefined && (root.item.flags & ROOT_SUBVOL_RDONLY) !== 0;
}

// ---------------------------------------------------------------- lookup

/**
 * Where a subvolume entry leads (fixup_tree_root_location): the subvolume's root directory
 * when the root tree links it from exactly this directory and name (a ROOT_REF from
 * `parent`), otherwise the empty placeholder directory btrfs shows for it (inode 2 of
 * `parent`): the entry was copied by a snapshot of `parent`'s source, the subvolume was not.
 */
export async function enterSubvolume(fs: FsInfo, parent: Root, dir: number, name: Uint8Array, id: number): Promise<{ root: Root; ino: number }> {
  const ref = await findRootRef(fs, parent.objectid, id);
  if (!ref || ref.dirid !== dir || !sameBytes(ref.name, name)) return { root: parent, ino: EMPTY_SUBVOL_DIR_OBJECTID };
  return { root: await readFsRoot(fs, id), ino: FIRST_FREE_OBJECTID };
}

/** The subvolume `id` (loaded on first use), or ENOENT when it does not exist or is deleted. */
export async function subvolumeRoot(fs: FsInfo, id: number): Promise<Root> {
  if (!isShareableRoot(id)) throw new FsError('ENOENT', `${id} is not a subvolume id`);
  return readFsRoot(fs, id);
}

// ---------------------------------------------------------------- create, snapshot

/** The checks every new link runs before anything changes: a writable directory without the name. */
async function checkNewEntry(fs: FsInfo, parent: Root, dir: number, name: Uint8Array): Promise<void> {
  checkName(name);
  checkMutable(parent, dir);
  const d = await readInode(fs, parent, dir);
  if (!isDir(d.mode)) throw new FsError('ENOTDIR', `inode ${dir} is not a directory`);
  if (await lookupName(fs, parent, dir, name)) throw new FsError('EEXIST', 'file exists');
}

/** Links subvolume `id` as `name` in `dir` of `parent` (btrfs_add_link for a subvolume root). */
async function linkSubvolume(fs: FsInfo, parent: Root, dir: number, name: Uint8Array, id: number): Promise<void> {
  const index = await addSubvolumeEntry(fs, parent, dir, name, id);
  await addRootRef(fs, parent.objectid, id, dir, index, name);
}

/** btrfs_get_free_objectid on the root tree: the next subvolume id (>= 256, never reused in a mount). */
async function newSubvolumeId(fs: FsInfo): Promise<number> {
  const id = await allocIno(fs, fs.rootTree);
  assert(id >= FIRST_FREE_OBJECTID, `subvolume id ${id} below ${FIRST_FREE_OBJECTID}`);
  if (fs.roots.has(id) || (await findRootItem(fs, id))) throw new FsError('EEXIST', `subvolume id ${id} is taken`);
  return id;
}

export interface CreateSubvolumeOptions {
  uid: number;
  gid: number;
  /** Permission bits of the new root directory (after the umask). Default 0o755. */
  mode?: number;
  now?: Timespec;
}

/**
 * create_subvol: a new empty subvolume named `name` in directory `dir` of `parent`: a new
 * tree whose root directory is inode 256 (INODE_ITEM, INODE_REF ".." to itself, index 0),
 * its ROOT_ITEM, the uuid tree entry, the directory entry and the root refs.
 */
export async function createSubvolume(fs: FsInfo, parent: Root, dir: number, name: Uint8Array, o: CreateSubvolumeOptions): Promise<Root> {
  await checkNewEntry(fs, parent, dir, name);
  const id = await newSubvolumeId(fs);
  const transid = fs.transid;
  const now = o.now ?? nowTimespec();

  const root = await createTree(fs, id, {
    generation: transid, generationV2: transid, rootDirid: FIRST_FREE_OBJECTID, lastSnapshot: 0, flags: 0, ctime: now, otime: now, ctransid: transid, otransid: transid,
  }, INODE_ROOT_ITEM_INIT);
  // ---- qgroups: the new subvolume's qgroup 0/id (btrfs_qgroup_inherit in create_subvol).
  await qgroupOnSubvolumeCreate(fs, id);

  // The root directory. A subvolume inherits the attributes and properties of its parent
  // subvolume's root, not of the directory it is made in (btrfs_create_new_inode).
  const parentTop = await readInode(fs, parent, FIRST_FREE_OBJECTID);
  const mode = S_IFDIR | ((o.mode ?? 0o755) & 0o7777);
  const dirItem = newInodeItem(fs, mode, o.uid, o.gid, now, 0, inheritedFlags(fs, parentTop, mode));
  await insertInode(fs, root, FIRST_FREE_OBJECTID, dirItem);
  await addRef(fs, root, FIRST_FREE_OBJECTID, FIRST_FREE_OBJECTID, new TextEncoder().encode('..'), 0);
  for (const x of INHERITED_XATTRS) {
    const v = await getXattr(fs, parent, FIRST_FREE_OBJECTID, x).catch((e: unknown) => {
      if (e instanceof FsError && e.code === 'ENODATA') return undefined;
      throw e;
    });
    if (v) await setXattr(fs, root, FIRST_FREE_OBJECTID, x, v);
  }

  await uuidTreeAdd(fs, root.item!.uuid, ItemType.UUID_KEY_SUBVOL, id);
  await linkSubvolume(fs, parent, dir, name, id);
  return root;
}

/**
 * create_snapshot / create_pending_snapshot: a snapshot of subvolume `src` named `name` in
 * directory `dir` of `parent` (which may be `src` itself: the snapshot does not contain its
 * own entry, it is made first). Subvolumes nested in `src` are not part of it: their entries
 * are copied and show as empty directories in the snapshot (enterSubvolume).
 */
export async function snapshotSubvolume(fs: FsInfo, src: Root, parent: Root, dir: number, name: Uint8Array, o: { readonly?: boolean } = {}): Promise<Root> {
  if (!isShareableRoot(src.objectid) || !src.item) throw new FsError('EINVAL', `tree ${src.objectid} is not a subvolume`);
  if (src.item.refs === 0) throw new FsError('ENOENT', `subvolume ${src.objectid} is being deleted`);
  await checkNewEntry(fs, parent, dir, name);
  const id = await newSubvolumeId(fs);
  const snap = await snapshotRoot(fs, src, id, { readonly: o.readonly === true });
  // ---- qgroups: account the snapshot before anything else changes (qgroup_account_snapshot).
  await qgroupOnSnapshot(fs, src.objectid, id);
  await uuidTreeAdd(fs, snap.item!.uuid, ItemType.UUID_KEY_SUBVOL, id);
  if (!isEmptyUuid(snap.item!.receivedUuid)) await uuidTreeAdd(fs, snap.item!.receivedUuid, ItemType.UUID_KEY_RECEIVED_SUBVOL, id);
  await linkSubvolume(fs, parent, dir, name, id);
  return snap;
}

// ---------------------------------------------------------------- delete, unlink, rename

/** The id of the default subvolume: the root tree directory's "default" entry (5 without one). */
export async function getDefaultSubvolume(fs: FsInfo): Promise<number> {
  const e = await lookupHashed(fs, fs.rootTree, ROOT_TREE_DIR_OBJECTID, ItemType.DIR_ITEM, DEFAULT_NAME);
  if (!e) return FS_TREE_OBJECTID;
  if (e.location.type !== ItemType.ROOT_ITEM) throw new FsError('EUCLEAN', `the default subvolume entry points at ${e.location}`);
  return e.location.objectid;
}

/**
 * btrfs_ioctl_default_subvol: makes `id` (0 meaning 5) the subvolume mounted when no subvol=
 * or subvolid= is given, and sets the DEFAULT_SUBVOL incompat bit as btrfs does.
 */
export async function setDefaultSubvolume(fs: FsInfo, id: number): Promise<void> {
  if (id === 0) id = FS_TREE_OBJECTID;
  await subvolumeRoot(fs, id);
  const e = await lookupHashed(fs, fs.rootTree, ROOT_TREE_DIR_OBJECTID, ItemType.DIR_ITEM, DEFAULT_NAME);
  const location = Key.of(id, ItemType.ROOT_ITEM, -1);
  if (!e) {
    // mkfs writes the entry; btrfs refuses without it ("you don't have the default diritem").
    throw new FsError('ENOENT', 'the root tree has no default subvolume entry');
  }
  const key = Key.of(ROOT_TREE_DIR_OBJECTID, ItemType.DIR_ITEM, btrfsNameHash(DEFAULT_NAME));
  await updateItem(fs, fs.rootTree, key, (dv) => writeDiskKey(dv, e.offset + DirItem.off.location, location));
  fs.sb.incompatFlags |= IncompatFlags.DEFAULT_SUBVOL;
}

export interface DeleteOptions {
  /** rmdir(2) semantics: the subvolume must be empty (ENOTEMPTY), as btrfs_rmdir checks first. */
  rmdir?: boolean;
  /** The subvolume has open files or is mounted: EBUSY (butterfs does not keep deleted trees alive for them). */
  busy?: (id: number) => boolean;
}

/**
 * btrfs_delete_subvolume for the subvolume entry `name` of directory `dir` of `parent`:
 * EPERM for the default subvolume, ENOTEMPTY while it holds other subvolumes, then the entry
 * and the root refs go (btrfs_unlink_subvol), the uuid tree forgets it, its ROOT_ITEM gets
 * refs 0 and the DEAD flag, and an orphan item marks it for the cleaner (drop-tree.ts). The
 * tree itself is dropped later. Returns the deleted subvolume's id.
 */
export async function deleteSubvolume(fs: FsInfo, parent: Root, dir: number, name: Uint8Array, o: DeleteOptions = {}): Promise<number> {
  const e = await lookupName(fs, parent, dir, name);
  if (!e) throw new FsError('ENOENT', 'no such file or directory');
  if (e.subvolume === undefined) throw new FsError('EINVAL', 'not a subvolume');
  const id = e.subvolume;
  const ref = await findRootRef(fs, parent.objectid, id);
  if (!ref || ref.dirid !== dir || !sameBytes(ref.name, name)) throw new FsError('EINVAL', 'not a subvolume (the placeholder of one a snapshot did not include)');
  const sub = await subvolumeRoot(fs, id);
  if (o.rmdir) {
    const top = await readInode(fs, sub, FIRST_FREE_OBJECTID);
    if (top.size > 0) throw new FsError('ENOTEMPTY', 'directory not empty');
  }
  checkMutable(parent, dir);
  if ((await getDefaultSubvolume(fs)) === id) throw new FsError('EPERM', `subvolume ${id} is the default subvolume`);
  if (await hasChildSubvolumes(fs, id)) throw new FsError('ENOTEMPTY', `subvolume ${id} contains other subvolumes`);
  if (o.busy?.(id)) throw new FsError('EBUSY', `subvolume ${id} is in use (open files or mounted)`);

  await unlinkSubvolume(fs, parent, dir, name, id);
  const item = sub.item!;
  item.flags |= ROOT_SUBVOL_DEAD;
  item.dropProgress = Key.MIN;
  item.dropLevel = 0;
  await uuidTreeRemove(fs, item.uuid, ItemType.UUID_KEY_SUBVOL, id);
  if (!isEmptyUuid(item.receivedUuid)) await uuidTreeRemove(fs, item.receivedUuid, ItemType.UUID_KEY_RECEIVED_SUBVOL, id);
  await markRootDead(fs, sub);
  return id;
}

/**
 * btrfs_unlink_subvol: removes the entry `name` (naming subvolume `id`) from `dir` of
 * `parent`, with the ROOT_REF / ROOT_BACKREF pair when they name this entry. Without them
 * (the placeholder of a subvolume a snapshot did not include) only the entry goes: rmdir of
 * the placeholder.
 */
export async function unlinkSubvolume(fs: FsInfo, parent: Root, dir: number, name: Uint8Array, id: number): Promise<void> {
  checkMutable(parent, dir);
  const index = await delRootRef(fs, parent.objectid, id, dir, name);
  await removeSubvolumeEntry(fs, parent, dir, name, id, index);
}

/**
 * btrfs_rename for a subvolume: its link moves from `srcDir` of `srcParent` to `dstDir` of
 * `dstParent` (which may be another subvolume: a subvolume is a link, so btrfs allows it).
 * A destination that is the placeholder of a subvolume, or an empty directory, is replaced;
 * a destination subvolume is ENOTEMPTY, a non-directory ENOTDIR.
 */
export async function renameSubvolume(
  fs: FsInfo, srcParent: Root, srcDir: number, srcName: Uint8Array, dstParent: Root, dstDir: number, dstName: Uint8Array, hooks: UnlinkHooks = {},
): Promise<void> {
  checkName(dstName);
  checkMutable(srcParent, srcDir);
  checkMutable(dstParent, dstDir);
  const src = await lookupName(fs, srcParent, srcDir, srcName);
  if (!src) throw new FsError('ENOENT', 'no such file or directory');
  if (src.subvolume === undefined) throw new FsError('EINVAL', 'not a subvolume');
  const id = src.subvolume;
  const srcRef = await findRootRef(fs, srcParent.objectid, id);
  if (!srcRef || srcRef.dirid !== srcDir || !sameBytes(srcRef.name, srcName)) throw new FsError('ENOTEMPTY', 'the placeholder of a subvolume cannot be renamed');
  const dst = await lookupName(fs, dstParent, dstDir, dstName);
  if (dst) {
    if (dst.subvolume !== undefined) {
      const dref = await findRootRef(fs, dstParent.objectid, dst.subvolume);
      if (dref && dref.dirid === dstDir && sameBytes(dref.name, dstName)) throw new FsError('ENOTEMPTY', 'the destination is a subvolume');
      if (dst.subvolume === id && dstParent === srcParent) return;
      await removeSubvolumeEntry(fs, dstParent, dstDir, dstName, dst.subvolume, undefined);
    } else if (dst.type !== FileType.DIR) {
      throw new FsError('ENOTDIR', 'not a directory');
    } else {
      await rmdirInode(fs, dstParent, dstDir, dstName, hooks);
    }
  }
  await unlinkSubvolume(fs, srcParent, srcDir, srcName, id);
  await linkSubvolume(fs, dstParent, dstDir, dstName, id);
}

// ---------------------------------------------------------------- flags


/**
 * btrfs_ioctl_subvol_setflags (BTRFS_SUBVOL_RDONLY), with btrfs-progs' property rule: a
 * received subvolume (received_uuid set) becomes writable only when forced, and then loses
 * its received_uuid (it no longer matches what was received: BTRFS_IOC_SET_RECEIVED_SUBVOL
 * with a zero uuid). Returns whether anything changed.
 */
export async function setSubvolumeReadonly(fs: FsInfo, root: Root, readonly: boolean, o: { force?: boolean } = {}): Promise<boolean> {
  const item = root.item;
  if (!item || !isShareableRoot(root.objectid)) throw new FsError('EINVAL', `tree ${root.objectid} is not a subvolume`);
  if (readonly === isReadonlySubvolume(root)) return false;
  const received = !isEmptyUuid(item.receivedUuid);
  if (!readonly && received && !o.force) {
    throw new FsError('EPERM', 'cannot make a received subvolume writable without force: its received_uuid is what incremental send matches (make a snapshot instead)');
  }
  if (readonly) item.flags |= ROOT_SUBVOL_RDONLY;
  else item.flags -= item.flags & ROOT_SUBVOL_RDONLY;
  if (!readonly && received) {
    await uuidTreeRemove(fs, item.receivedUuid, ItemType.UUID_KEY_RECEIVED_SUBVOL, root.objectid);
    item.receivedUuid = new Uint8Array(16);
    item.stransid = 0;
    item.stime = { sec: 0, nsec: 0 };
    item.rtransid = fs.transid;
    item.rtime = nowTimespec();
  }
  await updateRootItem(fs, root);
  return true;
}

// ---------------------------------------------------------------- list, show

export interface SubvolumeInfo {
  /** Subvolume (tree) id. */
  id: number;
  /** The subvolume it is linked in (btrfs list's "top level"); 0 for the top level itself. */
  parentId: number;
  /** Directory of the parent holding its name (0 for the top level). */
  dirId: number;
  /** Its name in that directory ('' for the top level). */
  name: string;
  /** Path from the top-level subvolume (5), as `btrfs subvolume list` prints it ('' for 5). */
  path: string;
  /** ROOT_ITEM fields (libbtrfsutil btrfs_util_subvolume_info). */
  flags: number;
  readonly: boolean;
  uuid: Uint8Array;
  parentUuid: Uint8Array;
  receivedUuid: Uint8Array;
  /** Last transaction that changed the tree (btrfs list "gen"). */
  generation: number;
  ctransid: number;
  /** Creation transaction (btrfs list -c "cgen"). */
  otransid: number;
  stransid: number;
  rtransid: number;
  ctime: Timespec;
  otime: Timespec;
  stime: Timespec;
  rtime: Timespec;
}

/** The path of directory `dir` inside tree `root`, '' for its root directory (btrfs ino_lookup). */
async function dirPath(fs: FsInfo, root: Root, dir: number): Promise<string> {
  const parts: string[] = [];
  let cur = dir;
  for (let depth = 0; cur !== FIRST_FREE_OBJECTID; depth++) {
    if (depth > MAX_DEPTH) throw new FsError('EUCLEAN', `tree ${root.objectid}: directory ${dir} is too deep (a loop?)`);
    const refs = await listRefs(fs, root, cur);
    if (refs.length === 0) throw new FsError('EUCLEAN', `tree ${root.objectid}: directory ${cur} has no name`);
    parts.push(utf8.decode(refs[0].name));
    cur = refs[0].parent;
  }
  return parts.reverse().join('/');
}

/** Where subvolume `id` is linked, and its path from the top level ('' for 5). */
async function linkOf(fs: FsInfo, id: number): Promise<{ backref: RootRefInfo | undefined; path: string }> {
  if (id === FS_TREE_OBJECTID) return { backref: undefined, path: '' };
  const chain: RootRefInfo[] = [];
  let cur = id;
  for (let depth = 0; cur !== FS_TREE_OBJECTID; depth++) {
    if (depth > MAX_DEPTH) throw new FsError('EUCLEAN', `subvolume ${id}: nesting too deep (a loop?)`);
    const b = await findRootBackref(fs, cur);
    if (!b) break; // unlinked (deleted): no path
    chain.push(b);
    cur = b.parent;
  }
  if (chain.length === 0) return { backref: undefined, path: '' };
  const parts: string[] = [];
  for (const b of chain.reverse()) {
    const parent = await readFsRoot(fs, b.parent);
    const d = await dirPath(fs, parent, b.dirid);
    if (d) parts.push(d);
    parts.push(utf8.decode(b.name));
  }
  return { backref: chain[chain.length - 1], path: parts.join('/') };
}

function infoOf(id: number, item: RootItem, link: { backref: RootRefInfo | undefined; path: string }): SubvolumeInfo {
  return {
    id,
    parentId: link.backref?.parent ?? 0,
    dirId: link.backref?.dirid ?? 0,
    name: link.backref ? utf8.decode(link.backref.name) : '',
    path: link.path,
    flags: item.flags,
    readonly: (item.flags & ROOT_SUBVOL_RDONLY) !== 0,
    uuid: item.uuid.slice(),
    parentUuid: item.parentUuid.slice(),
    receivedUuid: item.receivedUuid.slice(),
    generation: item.generation,
    ctransid: item.ctransid,
    otransid: item.otransid,
    stransid: item.stransid,
    rtransid: item.rtransid,
    ctime: item.ctime,
    otime: item.otime,
    stime: item.stime,
    rtime: item.rtime,
  };
}

/** btrfs_util_subvolume_info of subvolume `id` (ENOENT when it does not exist or is deleted). */
export async function subvolumeInfo(fs: FsInfo, id: number): Promise<SubvolumeInfo> {
  const root = await subvolumeRoot(fs, id);
  return infoOf(id, root.item!, await linkOf(fs, id));
}

/**
 * Every live subvolume but the top level, by id (`btrfs subvolume list`): ROOT_ITEMs of
 * subvolume trees with refs > 0. With `deleted`, also those deleted and not yet cleaned
 * (`btrfs subvolume list -d`), which have no path.
 */
export async function listSubvolumes(fs: FsInfo, o: { deleted?: boolean } = {}): Promise<SubvolumeInfo[]> {
  const found: { id: number; item: RootItem }[] = [];
  for await (const it of iterItems(fs, fs.rootTree, Key.of(FIRST_FREE_OBJECTID, ItemType.ROOT_ITEM, 0), Key.of(ORPHAN_OBJECTID - 1, ItemType.ROOT_ITEM, -1))) {
    if (it.key.type !== ItemType.ROOT_ITEM || !isShareableRoot(it.key.objectid)) continue;
    // In memory the ROOT_ITEM may be newer than in the tree (commit writes it).
    const id = it.key.objectid;
    const item = fs.roots.get(id)?.item ?? decodeRootItem(it.data, id);
    if (item.refs === 0 && !o.deleted) continue;
    if (found.length > 0 && found[found.length - 1].id === id) found[found.length - 1] = { id, item };
    else found.push({ id, item });
  }
  const out: SubvolumeInfo[] = [];
  for (const { id, item } of found) out.push(infoOf(id, item, item.refs === 0 ? { backref: undefined, path: '' } : await linkOf(fs, id)));
  return out;
}

/** Whether deleted subvolumes wait for the cleaner (orphan items of the root tree). */
export async function hasDeadRoots(fs: FsInfo): Promise<boolean> {
  for await (const _ of iterItems(fs, fs.rootTree, Key.of(ORPHAN_OBJECTID, ItemType.ORPHAN_ITEM, 0), Key.of(ORPHAN_OBJECTID, ItemType.ORPHAN_ITEM, -1))) return true;
  return false;
}

/** The subvolume whose root directory is `ino` of `root`, or undefined when it is not one. */
export function subvolumeOfDir(root: Root, ino: number): number | undefined {
  return ino === FIRST_FREE_OBJECTID && isShareableRoot(root.objectid) ? root.objectid : undefined;
}

/** Formats a uuid as btrfs prints it (8-4-4-4-12 lowercase hex), '-' when empty. */
export function uuidString(u: Uint8Array): string {
  if (isEmptyUuid(u)) return '-';
  const h = [...u].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export { findRootBackref };

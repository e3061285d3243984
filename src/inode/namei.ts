// The namespace (btrfs inode.c / namei): lookup, create, mkdir, symlink, link, unlink, rmdir,
// rename (with RENAME_NOREPLACE / RENAME_EXCHANGE), readdir, xattrs, orphans.
//
// A name lives in three items: DIR_ITEM (dir, 84, hash) and DIR_INDEX (dir, 96, index) in the
// parent, and INODE_REF (ino, 12, parent) (or INODE_EXTREF) in the child; the parent's i_size
// counts 2 x name length per entry, as btrfs computes it. Directories have nlink 1 (btrfs does
// not count subdirectories); regular files count their names.
//
// Names here are bytes (UTF-8 from the API layer); every function runs inside a transaction
// except lookup/readdir/readlink/getxattr/listxattr.
import { Key } from '../format/key.js';
import { getLe32, getU64 } from '../format/u64.js';
import { ItemType, FileType, FileExtentType, LINK_MAX, ORPHAN_OBJECTID, FIRST_INODE_OBJECTID, InodeFlags, EMPTY_SUBVOL_DIR_OBJECTID, ROOT_SUBVOL_RDONLY } from '../format/constants.js';
import { FileExtentHead, FILE_EXTENT_INLINE_DATA_START, DirItem } from '../format/structs.js';
import { viewOf } from '../format/struct.js';
import { insertItem, insertDeferred, insertDeferredBounded, deleteItem, iterItems, forEachSlot, lookup, searchSlot, prevLeaf, nextLeaf, deleteItems } from '../tree/ctree.js';
import { maxItemSize, type ExtentBuffer } from '../tree/extent-buffer.js';
import type { FsInfo, Root } from '../fs/fs-info.js';
import { FsError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import {
  readInode, peekInode, writeInode, newInodeItem, allocIno, nowTimespec, findInode, insertInodeDeferred,
  S_IFMT, S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, isDir, type InodeItem,
} from './inode.js';
import { lookupHashed, insertHashed, deleteHashed, encodeDirItem, parseDirItems, checkName, nameString, asciiName } from './dir-item.js';
import { btrfsNameHash } from '../kernels/checksum.js';
import { addRef, removeRef, listRefs, encodeRef } from './inode-ref.js';
import { freeInodeData } from './file.js';
import { inheritedFlags } from './attr.js';
import { inheritProps } from './props.js';
import { utf8Encode } from '../util/utf8.js';

export interface Credentials {
  uid: number;
  gid: number;
}

export interface LookupResult {
  ino: number;
  /** FileType of the entry (FT_*). */
  type: number;
  /** Set when the entry is a subvolume root (location is a ROOT_ITEM key). */
  subvolume?: number;
}

export interface DirEntryInfo {
  /** The name's bytes: read-only (a listing may be shared through the tree's cache). */
  readonly name: Uint8Array;
  /** The name as a string (nameString's form). */
  readonly text: string;
  readonly ino: number;
  readonly type: number;
  readonly index: number;
  readonly subvolume?: number;
}

/** FT_* of a st_mode. */
export function fileTypeOfMode(mode: number): number {
  switch (mode & S_IFMT) {
    case S_IFREG: return FileType.REG_FILE;
    case S_IFDIR: return FileType.DIR;
    case S_IFLNK: return FileType.SYMLINK;
    case S_IFCHR: return FileType.CHRDEV;
    case S_IFBLK: return FileType.BLKDEV;
    case S_IFIFO: return FileType.FIFO;
    case S_IFSOCK: return FileType.SOCK;
    default: throw new FsError('EINVAL', `invalid file mode 0${mode.toString(8)}`);
  }
}

// ---------------------------------------------------------------- lookup / readdir

export async function lookupName(fs: FsInfo, root: Root, dir: number, name: Uint8Array): Promise<LookupResult | undefined> {
  const e = await lookupHashed(fs, root, dir, ItemType.DIR_ITEM, name);
  if (!e) return undefined;
  if (e.location.type === ItemType.ROOT_ITEM) return { ino: FIRST_INODE_OBJECTID, type: e.type, subvolume: e.location.objectid };
  return { ino: e.location.objectid, type: e.type };
}

/**
 * Directory entries in creation (DIR_INDEX) order, starting after index `after`: readDirAll a
 * page at a time (each page its own search, so the tree may change between pages).
 */
export async function* readDir(fs: FsInfo, root: Root, dir: number, after = 1): AsyncGenerator<DirEntryInfo> {
  for (;;) {
    const page = await readDirAll(fs, root, dir, after, READDIR_PAGE);
    yield* page;
    if (page.length < READDIR_PAGE) return;
    after = page[page.length - 1].index;
  }
}

const READDIR_PAGE = 256;
const DIR_NAME_LEN = DirItem.off.nameLen;
const DIR_DATA_LEN = DirItem.off.dataLen;
const DIR_TYPE = DirItem.off.type;

/** A readdir entry: its name bytes are made from the string on first use when the name is ASCII. */
class ListedEntry implements DirEntryInfo {
  constructor(
    readonly text: string,
    private bytes: Uint8Array | undefined,
    readonly ino: number,
    readonly type: number,
    readonly index: number,
    readonly subvolume: number | undefined,
  ) {}

  get name(): Uint8Array {
    return (this.bytes ??= utf8Encode(this.text));
  }
}

/**
 * The name length of the one btrfs_dir_item the DIR_INDEX item at `slot` (data at `p`) holds;
 * EUCLEAN when the item does not hold exactly one entry.
 */
function indexItemNameLen(leaf: ExtentBuffer, slot: number, p: number): number {
  const d = leaf.data;
  const size = leaf.itemSize(slot);
  const nameLen = size >= DirItem.size ? d[p + DIR_NAME_LEN] | (d[p + DIR_NAME_LEN + 1] << 8) : 0;
  const dataLen = size >= DirItem.size ? d[p + DIR_DATA_LEN] | (d[p + DIR_DATA_LEN + 1] << 8) : 0;
  if (nameLen === 0 || DirItem.size + nameLen + dataLen !== size) {
    throw new FsError('EUCLEAN', `dir index ${leaf.key(slot)}: item of ${size} bytes does not hold one entry (name ${nameLen}, data ${dataLen})`);
  }
  return nameLen;
}

/** Every entry of `dir` after index `after`, in creation (DIR_INDEX) order: readDir in one call, one await per leaf. */
export async function readDirAll(fs: FsInfo, root: Root, dir: number, after = 1, limit = Infinity): Promise<readonly DirEntryInfo[]> {
  // A whole listing is remembered by the tree's cache until an index item of `dir` changes.
  const whole = after <= 1 && limit === Infinity;
  const cache = root.itemCache;
  if (whole && cache) {
    const hit = cache.getListing(dir) as readonly ListedEntry[] | undefined;
    if (hit) return hit;
  }
  const out: ListedEntry[] = [];
  if (limit <= 0) return out;
  await forEachSlot(fs, root, Key.of(dir, ItemType.DIR_INDEX, after + 1), Key.of(dir, ItemType.DIR_INDEX, -1), (leaf, slot) => {
    // A DIR_INDEX holds exactly one btrfs_dir_item: read it in place (this is the readdir loop).
    const d = leaf.data;
    const p = leaf.itemPtr(slot);
    const nameLen = indexItemNameLen(leaf, slot, p);
    const index = getU64(d, leaf.keyOffset(slot) + 9, 'dir index');
    const nameAt = p + DirItem.size;
    // Most names are ASCII: the string is read from the leaf and the bytes are made only if asked.
    const ascii = asciiName(d, nameAt, nameLen);
    const bytes = ascii === undefined ? d.slice(nameAt, nameAt + nameLen) : undefined;
    const text = ascii ?? nameString(bytes!);
    const loc = getU64(d, p, 'dir entry location');
    const isSubvol = d[p + 8] === ItemType.ROOT_ITEM;
    out.push(new ListedEntry(text, bytes, isSubvol ? FIRST_INODE_OBJECTID : loc, d[p + DIR_TYPE], index, isSubvol ? loc : undefined));
    return out.length < limit;
  });
  // Shared with every later caller until the directory changes: read-only from here on (the
  // caller has it too: a new entry makes a copy).
  if (whole && cache) cache.putListing(dir, out, true);
  return out;
}

const textsOf = (entries: readonly unknown[]): string[] => (entries as readonly ListedEntry[]).map((e) => e.text);

/**
 * The names of every entry of `dir` in index order (readdir's answer), read-only: a remembered
 * listing's (made once), else read from the index items alone and remembered as names.
 */
export async function readDirNames(fs: FsInfo, root: Root, dir: number): Promise<readonly string[]> {
  const cache = root.itemCache;
  const known = cache?.getNames(dir, textsOf);
  if (known) return known;
  const names = await listNames(fs, root, dir);
  cache?.putNames(dir, names);
  return names;
}

/**
 * The names of `dir`'s DIR_INDEX items in order, read in place: readDirAll's walk without its
 * entries, its per-item callback or its key objects, which made a cold 100-entry listing
 * about 2.5 times slower (Node, session 11). The same checks: an item that does not hold
 * exactly one entry is EUCLEAN, and indexes must ascend across leaves (a cycle in a corrupt
 * tree would repeat them).
 */
async function listNames(fs: FsInfo, root: Root, dir: number): Promise<string[]> {
  const { path } = await searchSlot(fs, root, Key.of(dir, ItemType.DIR_INDEX, 2));
  const out: string[] = [];
  const lo = dir >>> 0;
  const hi = Math.floor(dir / 0x100000000) >>> 0;
  let last = -1;
  for (;;) {
    const leaf = path.leaf;
    const d = leaf.data;
    const n = leaf.nritems;
    const first = path.slots[0];
    for (let slot = first; slot < n; slot++) {
      const k = leaf.keyOffset(slot);
      // The key (objectid, type, offset), little-endian: stop past the directory's index items.
      if (d[k + 8] !== ItemType.DIR_INDEX || getLe32(d, k) !== lo || getLe32(d, k + 4) !== hi) return out;
      if (slot === first) {
        const index = getU64(d, k + 9, 'dir index');
        if (index <= last) throw new FsError('EUCLEAN', `dir index ${leaf.key(slot)} after index ${last} in leaf ${leaf.bytenr}`);
      }
      const p = leaf.itemPtr(slot);
      const nameLen = indexItemNameLen(leaf, slot, p);
      const at = p + DirItem.size;
      out.push(asciiName(d, at, nameLen) ?? nameString(d.slice(at, at + nameLen)));
    }
    // Every slot from `first` on was one of the directory's index items.
    if (first < n) last = getU64(d, leaf.keyOffset(n - 1) + 9, 'dir index');
    path.slots[0] = n;
    if (!(await nextLeaf(fs, root, path))) return out;
  }
}

/** Next DIR_INDEX of `dir` (btrfs_set_inode_index; first use finds the highest existing one). */
async function nextDirIndex(fs: FsInfo, root: Root, dir: number): Promise<number> {
  const cache = (root.dirIndexNext ??= new Map<number, number>());
  let next = cache.get(dir);
  if (next === undefined) {
    next = 2;
    const { path } = await searchSlot(fs, root, Key.of(dir, ItemType.DIR_INDEX, -1));
    let slot = path.slots[0];
    let ok = true;
    if (slot === 0) {
      ok = await prevLeaf(fs, root, path);
      slot = path.slots[0] + 1;
    }
    if (ok) {
      const k = path.leaf.key(slot - 1);
      if (k.type === ItemType.DIR_INDEX && k.objHi === 0 && k.objectid === dir) next = k.offset + 1;
    }
    // Keep the cache bounded: it is a hint rebuilt from the tree on a miss.
    if (cache.size > 4096) cache.clear();
  }
  cache.set(dir, next + 1);
  return next;
}

// ---------------------------------------------------------------- links

async function touchDir(fs: FsInfo, root: Root, dir: number, sizeDelta: number): Promise<void> {
  const item = await readInode(fs, root, dir);
  // chattr +D (or +S) on the directory: its changes are committed when the operation ends.
  if (item.flags & (InodeFlags.DIRSYNC | InodeFlags.SYNC)) fs.syncRequested = true;
  item.size += sizeDelta;
  assert(item.size >= 0, `directory ${dir} size below zero`);
  const now = nowTimespec();
  item.mtime = now;
  item.ctime = now;
  item.sequence++;
  await writeInode(fs, root, dir, item, true);
}

/** Adds `name` in `dir` for inode `ino` (btrfs_add_link). */
export async function addLink(fs: FsInfo, root: Root, dir: number, name: Uint8Array, ino: number, type: number, newInode?: InodeItem): Promise<number> {
  const index = await nextDirIndex(fs, root, dir);
  // A new inode's INODE_ITEM and its first INODE_REF go in together (btrfs_create_new_inode
  // inserts both in one batch: adjacent keys, one search).
  if (newInode) insertInodeWithRef(fs, root, ino, newInode, dir, name, index);
  const entry = encodeDirItem(Key.of(ino, ItemType.INODE_ITEM, 0), fs.transid, type, name);
  const cache = root.itemCache;
  const hash = btrfsNameHash(name);
  // A directory whose names the cache knows all of stays so (the new name joins them).
  const complete = cache?.knownAbsent(dir, hash) === true;
  await insertHashed(fs, root, dir, ItemType.DIR_ITEM, entry, name, hash);
  // The new name goes into the dcache (what the next walk asks for), keyed by its string: only
  // when that string spells exactly these bytes (not invalid UTF-8), or another spelling would
  // find it; without it the directory is no longer complete (insertHashed cleared that).
  const ascii = asciiName(name, 0, name.length);
  const text = ascii ?? nameString(name);
  if (cache && (ascii !== undefined || equalName(utf8Encode(text), name))) cache.addedName(dir, text, hash, { ino, type } satisfies LookupResult, complete);
  // A fresh index is a new key for certain: it waits with the other new items (btrfs delays
  // every DIR_INDEX insert: btrfs_insert_delayed_dir_index). It is above every other of `dir`,
  // so a remembered listing gets the entry at its end rather than being read again (the insert
  // drops it), as readDirAll makes entries: the bytes too for a name that is not ASCII (the
  // index item's, which nothing changes).
  const listed = cache?.takeListing(dir);
  const indexItem = entry.slice();
  await insertDeferredBounded(fs, root, Key.of(dir, ItemType.DIR_INDEX, index), indexItem);
  if (listed) cache!.appendListing(dir, listed, new ListedEntry(text, ascii === undefined ? indexItem.subarray(DirItem.size) : undefined, ino, type, index, undefined));
  if (!newInode) await addRef(fs, root, ino, dir, name, index);
  await touchDir(fs, root, dir, 2 * name.length);
  return index;
}

/**
 * A new inode's INODE_ITEM and its first INODE_REF (btrfs_create_new_inode inserts both in one
 * batch). The inode number was never used (allocIno), so both keys are new for certain: they
 * wait as deferred inserts and go into the tree with the other new items in key order.
 */
function insertInodeWithRef(fs: FsInfo, root: Root, ino: number, item: InodeItem, dir: number, name: Uint8Array, index: number): void {
  insertInodeDeferred(fs, root, ino, item);
  insertDeferred(fs, root, Key.of(ino, ItemType.INODE_REF, dir), encodeRef(index, name));
}

/** Removes `name` of inode `ino` from `dir` (btrfs_unlink_inode without the nlink change). */
async function removeLink(fs: FsInfo, root: Root, dir: number, name: Uint8Array, ino: number): Promise<void> {
  const index = await removeRef(fs, root, ino, dir, name);
  if (!(await deleteHashed(fs, root, dir, ItemType.DIR_ITEM, name))) throw new FsError('EUCLEAN', `directory ${dir} lost the dir item of inode ${ino}`);
  await deleteItem(fs, root, Key.of(dir, ItemType.DIR_INDEX, index));
  await touchDir(fs, root, dir, -2 * name.length);
}

/**
 * The directory half of linking subvolume `subvolume` as `name` in `dir` (btrfs_add_link for
 * a subvolume root): DIR_ITEM and DIR_INDEX with location (subvolume, ROOT_ITEM, -1) and
 * type DIR, the directory's size and times. The ROOT_REF / ROOT_BACKREF pair is the
 * subvolume layer's. Returns the dir index.
 */
export async function addSubvolumeEntry(fs: FsInfo, root: Root, dir: number, name: Uint8Array, subvolume: number): Promise<number> {
  checkName(name);
  checkMutable(root, dir);
  checkWritableInode(await requireDir(fs, root, dir), `directory ${dir}`);
  if (await lookupHashed(fs, root, dir, ItemType.DIR_ITEM, name)) throw new FsError('EEXIST', 'file exists');
  const index = await nextDirIndex(fs, root, dir);
  const entry = encodeDirItem(Key.of(subvolume, ItemType.ROOT_ITEM, -1), fs.transid, FileType.DIR, name);
  await insertHashed(fs, root, dir, ItemType.DIR_ITEM, entry, name);
  await insertItem(fs, root, Key.of(dir, ItemType.DIR_INDEX, index), entry);
  await touchDir(fs, root, dir, 2 * name.length);
  return index;
}

/**
 * The directory half of btrfs_unlink_subvol: removes the subvolume entry `name` of `dir`
 * (DIR_ITEM, and the DIR_INDEX at `index`, or, when the caller has no index because there
 * was no ROOT_REF, the DIR_INDEX found by name: btrfs_search_dir_index_item).
 */
export async function removeSubvolumeEntry(fs: FsInfo, root: Root, dir: number, name: Uint8Array, subvolume: number, index: number | undefined): Promise<void> {
  checkMutable(root, dir);
  const e = await lookupHashed(fs, root, dir, ItemType.DIR_ITEM, name);
  if (!e || e.location.type !== ItemType.ROOT_ITEM || e.location.objectid !== subvolume) {
    throw new FsError('ENOENT', `directory ${dir} has no entry for subvolume ${subvolume}`);
  }
  if (index === undefined) {
    for await (const it of iterItems(fs, root, Key.of(dir, ItemType.DIR_INDEX, 0), Key.of(dir, ItemType.DIR_INDEX, -1))) {
      const d = parseDirItems(it.data, `dir index ${it.key}`)[0];
      if (d && d.location.type === ItemType.ROOT_ITEM && d.location.objectid === subvolume && equalName(d.name, name)) {
        index = it.key.offset;
        break;
      }
    }
    if (index === undefined) throw new FsError('EUCLEAN', `directory ${dir}: subvolume entry without a dir index`);
  }
  await deleteHashed(fs, root, dir, ItemType.DIR_ITEM, name);
  await deleteItem(fs, root, Key.of(dir, ItemType.DIR_INDEX, index));
  await touchDir(fs, root, dir, -2 * name.length);
}

function equalName(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The directory's item, read-only (the cache's own when it has it: no copy), or ENOTDIR. */
async function requireDir(fs: FsInfo, root: Root, dir: number): Promise<Readonly<InodeItem>> {
  const d = peekInode(root, dir) ?? await readInode(fs, root, dir);
  if (!isDir(d.mode)) throw new FsError('ENOTDIR', `inode ${dir} is not a directory`);
  return d;
}

function checkWritableInode(item: InodeItem, what: string): void {
  if (item.flags & (InodeFlags.IMMUTABLE | InodeFlags.APPEND)) throw new FsError('EPERM', `${what} is immutable or append-only`);
}

/** Whether subvolume `root` is read-only (ROOT_ITEM flags BTRFS_ROOT_SUBVOL_RDONLY: btrfs_root_readonly). */
export function rootReadonly(root: Root): boolean {
  return root.item !== undefined && (root.item.flags & ROOT_SUBVOL_RDONLY) !== 0;
}

/**
 * Every change inside a subvolume checks this first, before anything is modified: a
 * read-only subvolume refuses with EROFS (btrfs_permission / btrfs_setattr), and the empty
 * directory that stands for a subvolume a snapshot did not include (inode 2, see inode.ts)
 * takes no names (its simple_dir_inode_operations have no create: EPERM).
 */
export function checkMutable(root: Root, dir?: number): void {
  if (rootReadonly(root)) throw new FsError('EROFS', `subvolume ${root.objectid} is read-only`);
  if (dir === EMPTY_SUBVOL_DIR_OBJECTID) throw new FsError('EPERM', 'the placeholder of a subvolume not in this snapshot cannot change');
}

export interface CreateOptions extends Credentials {
  mode: number;
  rdev?: number;
  /** Inode flags to start with (inherited attributes are the caller's to compute). */
  flags?: number;
}

/** Creates a new inode named `name` in `dir` (files, directories, devices, fifos, sockets). */
export async function createNode(fs: FsInfo, root: Root, dir: number, name: Uint8Array, o: CreateOptions): Promise<number> {
  checkName(name);
  checkMutable(root, dir);
  const parent = await requireDir(fs, root, dir);
  checkWritableInode(parent, `directory ${dir}`);
  if (await lookupHashed(fs, root, dir, ItemType.DIR_ITEM, name)) throw new FsError('EEXIST', 'file exists');
  const type = fileTypeOfMode(o.mode);
  const ino = await allocIno(fs, root);
  const flags = (o.flags ?? 0) | inheritedFlags(fs, parent, o.mode);
  const item = newInodeItem(fs, o.mode, o.uid, o.gid, nowTimespec(), o.rdev ?? 0, flags);
  await addLink(fs, root, dir, name, ino, type, item);
  // A new directory's listing and names are known: none (its links' are added as they come);
  // so is its first index (no search for the highest, which would flush the waiting inserts).
  if (type === FileType.DIR) {
    root.itemCache?.putListing(ino, [], false);
    root.itemCache?.newDirectory(ino);
    (root.dirIndexNext ??= new Map<number, number>()).set(ino, 2);
  }
  await inheritProps(fs, root, dir, parent, ino, o.mode);
  return ino;
}

export async function mkdir(fs: FsInfo, root: Root, dir: number, name: Uint8Array, o: Credentials & { mode: number; flags?: number }): Promise<number> {
  return createNode(fs, root, dir, name, { ...o, mode: S_IFDIR | (o.mode & 0o7777) });
}

/** The longest symlink target: what fits inline in one leaf item, and below PATH_MAX. */
export function maxSymlinkBytes(fs: FsInfo): number {
  return Math.min(4095, maxItemSize(fs.nodesize) - FILE_EXTENT_INLINE_DATA_START, fs.sectorsize - 1);
}

export async function symlink(fs: FsInfo, root: Root, dir: number, name: Uint8Array, target: Uint8Array, o: Credentials): Promise<number> {
  if (target.length === 0) throw new FsError('ENOENT', 'empty symlink target');
  if (target.length > maxSymlinkBytes(fs)) throw new FsError('ENAMETOOLONG', `symlink target of ${target.length} bytes; at most ${maxSymlinkBytes(fs)}`);
  const ino = await createNode(fs, root, dir, name, { ...o, mode: S_IFLNK | 0o777 });
  const ext = new Uint8Array(FILE_EXTENT_INLINE_DATA_START + target.length);
  FileExtentHead.encode(viewOf(ext), 0, { generation: fs.transid, ramBytes: target.length, compression: 0, encryption: 0, otherEncoding: 0, type: FileExtentType.INLINE });
  ext.set(target, FILE_EXTENT_INLINE_DATA_START);
  await insertItem(fs, root, Key.of(ino, ItemType.EXTENT_DATA, 0), ext);
  const item = await readInode(fs, root, ino);
  item.size = target.length;
  item.nbytes = target.length;
  await writeInode(fs, root, ino, item);
  return ino;
}

export async function readlink(fs: FsInfo, root: Root, ino: number): Promise<Uint8Array> {
  const item = await readInode(fs, root, ino);
  if ((item.mode & S_IFMT) !== S_IFLNK) throw new FsError('EINVAL', `inode ${ino} is not a symlink`);
  const data = await lookup(fs, root, Key.of(ino, ItemType.EXTENT_DATA, 0));
  if (!data || data.length < FILE_EXTENT_INLINE_DATA_START) throw new FsError('EUCLEAN', `symlink ${ino} has no inline extent`);
  const head = FileExtentHead.decode(viewOf(data), 0);
  if (head.type !== FileExtentType.INLINE || head.compression !== 0) {
    throw new FsError('EOPNOTSUPP', `symlink ${ino} target is not an uncompressed inline extent`);
  }
  return data.subarray(FILE_EXTENT_INLINE_DATA_START);
}

/** A new name for an existing non-directory inode (hard link). */
export async function link(fs: FsInfo, root: Root, ino: number, dir: number, name: Uint8Array): Promise<void> {
  checkName(name);
  checkMutable(root, dir);
  const item = await readInode(fs, root, ino);
  if (isDir(item.mode)) throw new FsError('EPERM', 'hard links to directories are not allowed');
  checkWritableInode(item, `inode ${ino}`);
  if (item.nlink >= LINK_MAX) throw new FsError('EMLINK', `inode ${ino} has ${item.nlink} links`);
  const parent = await requireDir(fs, root, dir);
  checkWritableInode(parent, `directory ${dir}`);
  if (await lookupHashed(fs, root, dir, ItemType.DIR_ITEM, name)) throw new FsError('EEXIST', 'file exists');
  await addLink(fs, root, dir, name, ino, fileTypeOfMode(item.mode));
  const after = await readInode(fs, root, ino);
  after.nlink++;
  after.ctime = nowTimespec();
  after.sequence++;
  await writeInode(fs, root, ino, after);
}

export interface UnlinkHooks {
  /** Whether the inode is still open; an open inode with no names becomes an orphan. */
  isOpen?(ino: number): boolean;
}

/** Drops one link of a non-directory; frees it (or orphans it while open) at zero links. */
async function dropLink(fs: FsInfo, root: Root, ino: number, hooks: UnlinkHooks): Promise<void> {
  const item = await readInode(fs, root, ino);
  assert(item.nlink > 0, `inode ${ino} with nlink 0 still had a name`);
  item.nlink--;
  item.ctime = nowTimespec();
  item.sequence++;
  await writeInode(fs, root, ino, item);
  if (item.nlink > 0) return;
  if (hooks.isOpen?.(ino)) await addOrphan(fs, root, ino);
  else await evictInode(fs, root, ino);
}

export async function unlink(fs: FsInfo, root: Root, dir: number, name: Uint8Array, hooks: UnlinkHooks = {}): Promise<void> {
  checkMutable(root, dir);
  await requireDir(fs, root, dir);
  const e = await lookupName(fs, root, dir, name);
  if (!e) throw new FsError('ENOENT', 'no such file or directory');
  if (e.subvolume !== undefined || e.type === FileType.DIR) throw new FsError('EISDIR', 'is a directory');
  const parent = await readInode(fs, root, dir);
  checkWritableInode(parent, `directory ${dir}`);
  checkWritableInode(await readInode(fs, root, e.ino), `inode ${e.ino}`);
  await removeLink(fs, root, dir, name, e.ino);
  await dropLink(fs, root, e.ino, hooks);
}

export async function rmdir(fs: FsInfo, root: Root, dir: number, name: Uint8Array, hooks: UnlinkHooks = {}): Promise<void> {
  checkMutable(root, dir);
  await requireDir(fs, root, dir);
  const e = await lookupName(fs, root, dir, name);
  if (!e) throw new FsError('ENOENT', 'no such file or directory');
  // A subvolume entry is removed by the subvolume layer (src/subvol/subvolume.ts
  // deleteSubvolume / unlinkSubvolumeEntry), which the API calls for it.
  if (e.subvolume !== undefined) throw new FsError('EINVAL', `'${new TextDecoder().decode(name)}' is a subvolume: remove it with the subvolume layer`);
  const child = await readInode(fs, root, e.ino);
  if (!isDir(child.mode)) throw new FsError('ENOTDIR', 'not a directory');
  if (child.size !== 0) throw new FsError('ENOTEMPTY', 'directory not empty');
  checkWritableInode(await readInode(fs, root, dir), `directory ${dir}`);
  checkWritableInode(child, `directory ${e.ino}`);
  await removeLink(fs, root, dir, name, e.ino);
  await dropDirectory(fs, root, e.ino, hooks);
}

/** A removed directory: freed now, or an orphan until its last close when it is open. */
async function dropDirectory(fs: FsInfo, root: Root, ino: number, hooks: UnlinkHooks): Promise<void> {
  if (hooks.isOpen?.(ino)) {
    const item = await readInode(fs, root, ino);
    item.nlink = 0;
    item.ctime = nowTimespec();
    item.sequence++;
    await writeInode(fs, root, ino, item);
    await addOrphan(fs, root, ino);
  } else {
    await evictInode(fs, root, ino);
  }
}

export interface RenameFlags {
  noReplace?: boolean;
  exchange?: boolean;
}

/** Whether `ancestor` is `dir` or one of its ancestors (walks INODE_REF parents up to the root). */
async function isAncestor(fs: FsInfo, root: Root, ancestor: number, dir: number): Promise<boolean> {
  let cur = dir;
  // Bounded by a depth no real tree reaches; a corrupt parent loop ends in EUCLEAN.
  for (let depth = 0; depth < 65536; depth++) {
    if (cur === ancestor) return true;
    if (cur === FIRST_INODE_OBJECTID) return false;
    const refs = await listRefs(fs, root, cur);
    if (refs.length === 0) return false;
    cur = refs[0].parent;
  }
  throw new FsError('EUCLEAN', `directory ${dir}: parent chain too deep (a loop?)`);
}

export async function rename(fs: FsInfo, root: Root, srcDir: number, srcName: Uint8Array, dstDir: number, dstName: Uint8Array, flags: RenameFlags = {}, hooks: UnlinkHooks = {}): Promise<void> {
  checkName(dstName);
  checkMutable(root, srcDir);
  checkMutable(root, dstDir);
  if (flags.noReplace && flags.exchange) throw new FsError('EINVAL', 'RENAME_NOREPLACE and RENAME_EXCHANGE together');
  await requireDir(fs, root, srcDir);
  await requireDir(fs, root, dstDir);
  const src = await lookupName(fs, root, srcDir, srcName);
  if (!src) throw new FsError('ENOENT', 'no such file or directory');
  // Subvolume entries are renamed by the subvolume layer (renameSubvolumeEntry).
  if (src.subvolume !== undefined) throw new FsError('EINVAL', 'the source is a subvolume: rename it with the subvolume layer');
  const dst = await lookupName(fs, root, dstDir, dstName);
  if (flags.exchange && !dst) throw new FsError('ENOENT', 'no such file or directory');
  if (dst && flags.noReplace) throw new FsError('EEXIST', 'file exists');
  // btrfs_rename: a subvolume is never replaced (ENOTEMPTY); the placeholder of one is
  // (subvolume layer).
  if (dst && dst.subvolume !== undefined) throw new FsError('ENOTEMPTY', 'the destination is a subvolume');
  const srcIsDir = src.type === FileType.DIR;
  if (srcIsDir && srcDir !== dstDir && (await isAncestor(fs, root, src.ino, dstDir))) {
    throw new FsError('EINVAL', 'cannot move a directory into itself');
  }
  if (dst && dst.ino === src.ino) return; // two names of one inode: POSIX says do nothing
  for (const d of new Set([srcDir, dstDir])) checkWritableInode(await readInode(fs, root, d), `directory ${d}`);
  checkWritableInode(await readInode(fs, root, src.ino), `inode ${src.ino}`);
  const now = nowTimespec();
  const touch = async (ino: number) => {
    const it = await readInode(fs, root, ino);
    it.ctime = now;
    it.sequence++;
    await writeInode(fs, root, ino, it);
  };
  if (flags.exchange && dst) {
    const dstIsDir = dst.type === FileType.DIR;
    if (dstIsDir && srcDir !== dstDir && (await isAncestor(fs, root, dst.ino, srcDir))) throw new FsError('EINVAL', 'cannot move a directory into itself');
    checkWritableInode(await readInode(fs, root, dst.ino), `inode ${dst.ino}`);
    await removeLink(fs, root, srcDir, srcName, src.ino);
    await removeLink(fs, root, dstDir, dstName, dst.ino);
    await addLink(fs, root, dstDir, dstName, src.ino, src.type);
    await addLink(fs, root, srcDir, srcName, dst.ino, dst.type);
    await touch(src.ino);
    await touch(dst.ino);
    return;
  }
  if (dst) {
    const dstIsDir = dst.type === FileType.DIR;
    if (srcIsDir && !dstIsDir) throw new FsError('ENOTDIR', 'not a directory');
    if (!srcIsDir && dstIsDir) throw new FsError('EISDIR', 'is a directory');
    const victim = await readInode(fs, root, dst.ino);
    checkWritableInode(victim, `inode ${dst.ino}`);
    if (dstIsDir && victim.size !== 0) throw new FsError('ENOTEMPTY', 'directory not empty');
    await removeLink(fs, root, dstDir, dstName, dst.ino);
    if (dstIsDir) await dropDirectory(fs, root, dst.ino, hooks);
    else await dropLink(fs, root, dst.ino, hooks);
  }
  await removeLink(fs, root, srcDir, srcName, src.ino);
  await addLink(fs, root, dstDir, dstName, src.ino, src.type);
  await touch(src.ino);
}

// ---------------------------------------------------------------- inode removal, orphans

/** Deletes every item of inode `ino` (its data refs first), as btrfs_evict_inode. */
export async function evictInode(fs: FsInfo, root: Root, ino: number): Promise<void> {
  const item = await findInode(fs, root, ino);
  if (item && (item.mode & S_IFMT) === S_IFREG) await freeInodeData(fs, root, ino);
  // Delete the remaining items (inode, refs, xattrs, symlink extent) leaf by leaf.
  for (let guard = 0; guard < 1 << 20; guard++) {
    const { path } = await searchSlot(fs, root, Key.of(ino, 0, 0), { cow: true, insLen: -1 });
    const leaf = path.leaf;
    let slot = path.slots[0];
    if (slot >= leaf.nritems) {
      // The first item of the inode may start the next leaf.
      const k = await firstKeyFrom(fs, root, Key.of(ino, 0, 0));
      if (!k || k.objectid !== ino || k.objHi !== 0) break;
      const r = await searchSlot(fs, root, k, { cow: true, insLen: -1 });
      slot = r.path.slots[0];
      let n = 0;
      while (slot + n < r.path.leaf.nritems && r.path.leaf.key(slot + n).objHi === 0 && r.path.leaf.key(slot + n).objectid === ino) n++;
      await deleteItems(fs, r.path, slot, n);
      continue;
    }
    let n = 0;
    while (slot + n < leaf.nritems && leaf.key(slot + n).objHi === 0 && leaf.key(slot + n).objectid === ino) n++;
    if (n === 0) break;
    await deleteItems(fs, path, slot, n);
  }
  await removeOrphan(fs, root, ino);
}

async function firstKeyFrom(fs: FsInfo, root: Root, k: Key): Promise<Key | undefined> {
  for await (const it of iterItems(fs, root, k, Key.MAX)) return it.key;
  return undefined;
}

export async function addOrphan(fs: FsInfo, root: Root, ino: number): Promise<void> {
  const key = Key.of(ORPHAN_OBJECTID, ItemType.ORPHAN_ITEM, ino);
  if (!(await lookup(fs, root, key))) await insertItem(fs, root, key, new Uint8Array(0));
}

export async function removeOrphan(fs: FsInfo, root: Root, ino: number): Promise<void> {
  const key = Key.of(ORPHAN_OBJECTID, ItemType.ORPHAN_ITEM, ino);
  if (await lookup(fs, root, key)) await deleteItem(fs, root, key);
}

/** Frees inodes left orphaned by a crash or unmount with open unlinked files (btrfs_orphan_cleanup). */
export async function cleanupOrphans(fs: FsInfo, root: Root): Promise<number> {
  const inos: number[] = [];
  for await (const it of iterItems(fs, root, Key.of(ORPHAN_OBJECTID, ItemType.ORPHAN_ITEM, 0), Key.of(ORPHAN_OBJECTID, ItemType.ORPHAN_ITEM, -1))) inos.push(it.key.offset);
  for (const ino of inos) {
    const item = await findInode(fs, root, ino);
    if (item && item.nlink > 0) await removeOrphan(fs, root, ino); // was relinked
    else await evictInode(fs, root, ino);
  }
  return inos.length;
}

// ---------------------------------------------------------------- xattrs

const XATTR_PREFIXES = ['user.', 'trusted.', 'security.', 'system.', 'btrfs.'];

function checkXattrName(name: Uint8Array): void {
  if (name.length === 0 || name.length > 255) throw new FsError('ERANGE', `xattr name of ${name.length} bytes`);
  const s = new TextDecoder().decode(name);
  if (!XATTR_PREFIXES.some((p) => s.startsWith(p) && s.length > p.length)) throw new FsError('EOPNOTSUPP', `xattr namespace of '${s}' is not supported`);
}

export async function getXattr(fs: FsInfo, root: Root, ino: number, name: Uint8Array): Promise<Uint8Array> {
  checkXattrName(name);
  await readInode(fs, root, ino);
  const e = await lookupHashed(fs, root, ino, ItemType.XATTR_ITEM, name);
  if (!e) throw new FsError('ENODATA', 'no such attribute');
  return e.data.slice();
}

/**
 * The value of xattr `name` of inode `ino`, or undefined: getXattr without its checks and its
 * ENODATA (the write path asks for btrfs.compression at each compressed write, and an error
 * made per write costs its stack trace). A view of the leaf: read it before the tree changes.
 */
export async function findXattr(fs: FsInfo, root: Root, ino: number, name: Uint8Array): Promise<Uint8Array | undefined> {
  return (await lookupHashed(fs, root, ino, ItemType.XATTR_ITEM, name))?.data;
}

export async function listXattrs(fs: FsInfo, root: Root, ino: number): Promise<Uint8Array[]> {
  await readInode(fs, root, ino);
  const out: Uint8Array[] = [];
  for await (const it of iterItems(fs, root, Key.of(ino, ItemType.XATTR_ITEM, 0), Key.of(ino, ItemType.XATTR_ITEM, -1))) {
    for (const e of parseDirItems(it.data, `xattr ${it.key}`)) out.push(e.name.slice());
  }
  return out;
}

export interface SetXattrFlags {
  create?: boolean;
  replace?: boolean;
}

export async function setXattr(fs: FsInfo, root: Root, ino: number, name: Uint8Array, value: Uint8Array, flags: SetXattrFlags = {}): Promise<void> {
  checkXattrName(name);
  checkMutable(root, ino);
  const item = await readInode(fs, root, ino);
  checkWritableInode(item, `inode ${ino}`);
  const max = maxItemSize(fs.nodesize) - DirItem.size - name.length;
  if (value.length > max) throw new FsError('E2BIG', `xattr value of ${value.length} bytes; at most ${max} with nodesize ${fs.nodesize}`);
  const existing = await lookupHashed(fs, root, ino, ItemType.XATTR_ITEM, name);
  if (flags.create && existing) throw new FsError('EEXIST', 'attribute exists');
  if (flags.replace && !existing) throw new FsError('ENODATA', 'no such attribute');
  if (existing) await deleteHashed(fs, root, ino, ItemType.XATTR_ITEM, name);
  const entry = encodeDirItem(Key.MIN, fs.transid, FileType.XATTR, name, value);
  await insertHashed(fs, root, ino, ItemType.XATTR_ITEM, entry, name);
  const after = await readInode(fs, root, ino);
  after.ctime = nowTimespec();
  after.sequence++;
  await writeInode(fs, root, ino, after);
}

export async function removeXattr(fs: FsInfo, root: Root, ino: number, name: Uint8Array): Promise<void> {
  checkXattrName(name);
  checkMutable(root, ino);
  const item = await readInode(fs, root, ino);
  checkWritableInode(item, `inode ${ino}`);
  if (!(await deleteHashed(fs, root, ino, ItemType.XATTR_ITEM, name))) throw new FsError('ENODATA', 'no such attribute');
  item.ctime = nowTimespec();
  item.sequence++;
  await writeInode(fs, root, ino, item);
}

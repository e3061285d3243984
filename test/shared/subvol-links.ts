// Test-only stand-in for the subvolume layer (src/subvol, to come): what makes a tree made by
// snapshotRoot a visible subvolume, so that btrfs check accepts the image — ROOT_REF
// (5, 156, id) and ROOT_BACKREF (id, 144, 5) {dirid 256, sequence = dir index, name}, the
// DIR_ITEM / DIR_INDEX in directory 256 of the fs tree with location (id, ROOT_ITEM, -1) and
// type DIR (the directory's i_size grows by 2 * name), and the UUID_KEY_SUBVOL entry — and
// the reverse for deletion, followed by markRootDead.
import { Key } from '../../src/format/key.js';
import { ItemType, FileType, UUID_TREE_OBJECTID, FS_TREE_OBJECTID, FIRST_FREE_OBJECTID } from '../../src/format/constants.js';
import { RootRef } from '../../src/format/structs.js';
import { viewOf } from '../../src/format/struct.js';
import { deleteItem, insertItem, iterItems } from '../../src/tree/ctree.js';
import type { FsInfo, Root } from '../../src/fs/fs-info.js';
import { encodeDirItem, insertHashed, deleteHashed } from '../../src/inode/dir-item.js';
import { readInode, writeInode } from '../../src/inode/inode.js';
import { uuidKey } from '../../src/fs/mkfs.js';
import { markRootDead } from '../../src/subvol/drop-tree.js';

const enc = new TextEncoder();
const DIR = FIRST_FREE_OBJECTID;

function rootRef(index: number, name: Uint8Array): Uint8Array {
  const data = new Uint8Array(RootRef.size + name.length);
  RootRef.encode(viewOf(data), 0, { dirid: DIR, sequence: index, nameLen: name.length });
  data.set(name, RootRef.size);
  return data;
}

async function nextIndex(fs: FsInfo, parent: Root): Promise<number> {
  let next = 2;
  for await (const it of iterItems(fs, parent, Key.of(DIR, ItemType.DIR_INDEX, 0), Key.of(DIR, ItemType.DIR_INDEX, -1))) next = it.key.offset + 1;
  const cached = parent.dirIndexNext?.get(DIR);
  if (cached !== undefined && cached > next) next = cached;
  (parent.dirIndexNext ??= new Map()).set(DIR, next + 1);
  return next;
}

function le64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}

/** Links subvolume `sub` as `name` in directory 256 of the fs tree. Returns the dir index. */
export async function linkSubvolume(fs: FsInfo, sub: Root, name: string): Promise<number> {
  const parent = fs.fsTree;
  const n = enc.encode(name);
  const index = await nextIndex(fs, parent);
  const entry = encodeDirItem(Key.of(sub.objectid, ItemType.ROOT_ITEM, -1), fs.transid, FileType.DIR, n);
  await insertHashed(fs, parent, DIR, ItemType.DIR_ITEM, entry, n);
  await insertItem(fs, parent, Key.of(DIR, ItemType.DIR_INDEX, index), entry);
  const dir = await readInode(fs, parent, DIR);
  dir.size += 2 * n.length;
  await writeInode(fs, parent, DIR, dir);
  await insertItem(fs, fs.rootTree, Key.of(FS_TREE_OBJECTID, ItemType.ROOT_REF, sub.objectid), rootRef(index, n));
  await insertItem(fs, fs.rootTree, Key.of(sub.objectid, ItemType.ROOT_BACKREF, FS_TREE_OBJECTID), rootRef(index, n));
  await insertItem(fs, fs.root(UUID_TREE_OBJECTID), uuidKey(sub.item!.uuid, ItemType.UUID_KEY_SUBVOL), le64(sub.objectid));
  return index;
}

/** Unlinks subvolume `sub` (named `name`, dir index `index`) and marks its tree dead. */
export async function deleteSubvolume(fs: FsInfo, sub: Root, name: string, index: number): Promise<void> {
  const parent = fs.fsTree;
  const n = enc.encode(name);
  if (!(await deleteHashed(fs, parent, DIR, ItemType.DIR_ITEM, n))) throw new Error(`no dir item ${name}`);
  await deleteItem(fs, parent, Key.of(DIR, ItemType.DIR_INDEX, index));
  const dir = await readInode(fs, parent, DIR);
  dir.size -= 2 * n.length;
  await writeInode(fs, parent, DIR, dir);
  await deleteItem(fs, fs.rootTree, Key.of(FS_TREE_OBJECTID, ItemType.ROOT_REF, sub.objectid));
  await deleteItem(fs, fs.rootTree, Key.of(sub.objectid, ItemType.ROOT_BACKREF, FS_TREE_OBJECTID));
  await deleteItem(fs, fs.root(UUID_TREE_OBJECTID), uuidKey(sub.item!.uuid, ItemType.UUID_KEY_SUBVOL));
  await markRootDead(fs, sub);
}

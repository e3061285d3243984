// Links between subvolume trees in the root tree (btrfs root-tree.c btrfs_add_root_ref,
// btrfs_del_root_ref, btrfs_find_root_ref; ctree.h btrfs_root_ref).
//
// A subvolume named `name` in directory `dirid` of tree `parent` has two items in the root
// tree with one payload, {dirid, sequence = the DIR_INDEX of the name, name_len} + name:
// ROOT_REF (parent, 156, child) and ROOT_BACKREF (child, 144, parent). Together with the
// parent's DIR_ITEM / DIR_INDEX (location (child, ROOT_ITEM, -1)) they are the one link a
// subvolume has; btrfs check matches all four.
import { Key } from '../format/key.js';
import { ItemType } from '../format/constants.js';
import { RootRef } from '../format/structs.js';
import { viewOf } from '../format/struct.js';
import { deleteItem, insertItem, iterItems, lookup } from '../tree/ctree.js';
import type { FsInfo } from '../fs/fs-info.js';
import { FsError } from '../util/errors.js';

export interface RootRefInfo {
  /** The tree holding the link (ROOT_REF key objectid / ROOT_BACKREF key offset). */
  parent: number;
  /** The linked subvolume. */
  child: number;
  /** Directory of `parent` holding the name. */
  dirid: number;
  /** DIR_INDEX of the name in that directory. */
  sequence: number;
  name: Uint8Array;
}

function encodeRootRef(dirid: number, sequence: number, name: Uint8Array): Uint8Array {
  const data = new Uint8Array(RootRef.size + name.length);
  RootRef.encode(viewOf(data), 0, { dirid, sequence, nameLen: name.length });
  data.set(name, RootRef.size);
  return data;
}

function decodeRootRef(data: Uint8Array, parent: number, child: number, what: string): RootRefInfo {
  if (data.length < RootRef.size) throw new FsError('EUCLEAN', `${what}: item of ${data.length} bytes`);
  const r = RootRef.decode(viewOf(data), 0);
  if (RootRef.size + r.nameLen !== data.length || r.nameLen === 0) throw new FsError('EUCLEAN', `${what}: name length ${r.nameLen} in an item of ${data.length} bytes`);
  return { parent, child, dirid: r.dirid, sequence: r.sequence, name: data.slice(RootRef.size) };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** btrfs_add_root_ref: ROOT_REF (parent, child) and ROOT_BACKREF (child, parent). */
export async function addRootRef(fs: FsInfo, parent: number, child: number, dirid: number, sequence: number, name: Uint8Array): Promise<void> {
  const data = encodeRootRef(dirid, sequence, name);
  await insertItem(fs, fs.rootTree, Key.of(parent, ItemType.ROOT_REF, child), data);
  await insertItem(fs, fs.rootTree, Key.of(child, ItemType.ROOT_BACKREF, parent), data.slice());
}

/** The ROOT_REF from tree `parent` to subvolume `child`, if there is one. */
export async function findRootRef(fs: FsInfo, parent: number, child: number): Promise<RootRefInfo | undefined> {
  const data = await lookup(fs, fs.rootTree, Key.of(parent, ItemType.ROOT_REF, child));
  return data ? decodeRootRef(data, parent, child, `root ref ${parent} -> ${child}`) : undefined;
}

/**
 * The ROOT_BACKREF of `child` (its link into a parent tree). A subvolume has one link; the
 * first backref is taken if a damaged tree holds more.
 */
export async function findRootBackref(fs: FsInfo, child: number): Promise<RootRefInfo | undefined> {
  for await (const it of iterItems(fs, fs.rootTree, Key.of(child, ItemType.ROOT_BACKREF, 0), Key.of(child, ItemType.ROOT_BACKREF, -1))) {
    return decodeRootRef(it.data, it.key.offset, child, `root backref ${child} -> ${it.key.offset}`);
  }
  return undefined;
}

/** Whether tree `parent` holds links to other subvolumes (may_destroy_subvol's ENOTEMPTY test). */
export async function hasChildSubvolumes(fs: FsInfo, parent: number): Promise<boolean> {
  for await (const _ of iterItems(fs, fs.rootTree, Key.of(parent, ItemType.ROOT_REF, 0), Key.of(parent, ItemType.ROOT_REF, -1))) return true;
  return false;
}

/** Every ROOT_REF from tree `parent`. */
export async function listRootRefs(fs: FsInfo, parent: number): Promise<RootRefInfo[]> {
  const out: RootRefInfo[] = [];
  for await (const it of iterItems(fs, fs.rootTree, Key.of(parent, ItemType.ROOT_REF, 0), Key.of(parent, ItemType.ROOT_REF, -1))) {
    out.push(decodeRootRef(it.data, parent, it.key.offset, `root ref ${parent} -> ${it.key.offset}`));
  }
  return out;
}

/**
 * btrfs_del_root_ref: removes both items when they name `dirid` / `name`; returns the
 * sequence (dir index) they held, or undefined when there is no ROOT_REF (ENOENT in btrfs:
 * the caller then finds the index by name). EUCLEAN when the items disagree with the name.
 */
export async function delRootRef(fs: FsInfo, parent: number, child: number, dirid: number, name: Uint8Array): Promise<number | undefined> {
  const ref = await findRootRef(fs, parent, child);
  if (!ref) return undefined;
  if (ref.dirid !== dirid || !sameBytes(ref.name, name)) return undefined;
  const backKey = Key.of(child, ItemType.ROOT_BACKREF, parent);
  const back = await lookup(fs, fs.rootTree, backKey);
  if (back) {
    const b = decodeRootRef(back, parent, child, `root backref ${child} -> ${parent}`);
    if (b.dirid !== dirid || !sameBytes(b.name, name) || b.sequence !== ref.sequence) {
      throw new FsError('EUCLEAN', `root backref ${child} -> ${parent} differs from its root ref`);
    }
    await deleteItem(fs, fs.rootTree, backKey);
  }
  await deleteItem(fs, fs.rootTree, Key.of(parent, ItemType.ROOT_REF, child));
  return ref.sequence;
}

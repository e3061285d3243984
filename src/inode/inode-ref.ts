// Back references from an inode to its names (btrfs inode-item.c): INODE_REF (ino, 12,
// parent) packing every {index, name} of the inode in that parent, and, with the extref
// feature, INODE_EXTREF (ino, 13, extref_hash(parent, name)) once an INODE_REF item is full.
import { InodeRef, InodeExtref } from '../format/structs.js';
import { Key } from '../format/key.js';
import { viewOf } from '../format/struct.js';
import { ItemType } from '../format/constants.js';
import { btrfsExtrefHash } from '../kernels/checksum.js';
import { searchSlot, extendItem, truncateItem, deleteItems, iterItems, lookup } from '../tree/ctree.js';
import { tryInsert } from './dir-item.js';
import { maxItemSize } from '../tree/extent-buffer.js';
import type { FsInfo, Root } from '../fs/fs-info.js';
import { FsError } from '../util/errors.js';
import { readU64, putU64 } from '../format/u64.js';

export interface NameRef {
  parent: number;
  index: number;
  name: Uint8Array;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface RefEntry extends NameRef {
  offset: number;
  size: number;
}

function parseRefs(data: Uint8Array, parent: number, ino: number): RefEntry[] {
  const dv = viewOf(data);
  const out: RefEntry[] = [];
  let off = 0;
  while (off < data.length) {
    if (off + InodeRef.size > data.length) throw new FsError('EUCLEAN', `inode ${ino}: truncated inode ref`);
    const nameLen = dv.getUint16(off + InodeRef.off.nameLen, true);
    const size = InodeRef.size + nameLen;
    if (off + size > data.length) throw new FsError('EUCLEAN', `inode ${ino}: inode ref name out of bounds`);
    out.push({ parent, index: readU64(dv, off + InodeRef.off.index, 'inode ref index'), name: data.subarray(off + InodeRef.size, off + size), offset: off, size });
    off += size;
  }
  return out;
}

function parseExtrefs(data: Uint8Array, ino: number): RefEntry[] {
  const dv = viewOf(data);
  const out: RefEntry[] = [];
  let off = 0;
  while (off < data.length) {
    if (off + InodeExtref.size > data.length) throw new FsError('EUCLEAN', `inode ${ino}: truncated inode extref`);
    const nameLen = dv.getUint16(off + InodeExtref.off.nameLen, true);
    const size = InodeExtref.size + nameLen;
    if (off + size > data.length) throw new FsError('EUCLEAN', `inode ${ino}: inode extref name out of bounds`);
    out.push({
      parent: readU64(dv, off + InodeExtref.off.parentObjectid, 'extref parent'),
      index: readU64(dv, off + InodeExtref.off.index, 'extref index'),
      name: data.subarray(off + InodeExtref.size, off + size), offset: off, size,
    });
    off += size;
  }
  return out;
}

/** An INODE_REF entry (btrfs_inode_ref + name). */
export function encodeRef(index: number, name: Uint8Array): Uint8Array {
  const b = new Uint8Array(InodeRef.size + name.length);
  putU64(b, InodeRef.off.index, index);
  b[InodeRef.off.nameLen] = name.length;
  b[InodeRef.off.nameLen + 1] = name.length >>> 8;
  b.set(name, InodeRef.size);
  return b;
}

function encodeExtref(parent: number, index: number, name: Uint8Array): Uint8Array {
  const b = new Uint8Array(InodeExtref.size + name.length);
  InodeExtref.encode(viewOf(b), 0, { parentObjectid: parent, index, nameLen: name.length });
  b.set(name, InodeExtref.size);
  return b;
}

/** Every name of inode `ino` (INODE_REF and INODE_EXTREF), in key order. */
export async function listRefs(fs: FsInfo, root: Root, ino: number): Promise<NameRef[]> {
  const out: NameRef[] = [];
  for await (const it of iterItems(fs, root, Key.of(ino, ItemType.INODE_REF, 0), Key.of(ino, ItemType.INODE_EXTREF, -1))) {
    if (it.key.type === ItemType.INODE_REF) out.push(...parseRefs(it.data, it.key.offset, ino));
    else out.push(...parseExtrefs(it.data, ino));
  }
  return out;
}

/** Adds the name (parent, name, index) to `ino` (btrfs_insert_inode_ref, falling back to an extref). */
export async function addRef(fs: FsInfo, root: Root, ino: number, parent: number, name: Uint8Array, index: number): Promise<void> {
  const key = Key.of(ino, ItemType.INODE_REF, parent);
  const entry = encodeRef(index, name);
  if (await tryInsert(fs, root, key, entry)) return;
  const current = await lookup(fs, root, key);
  if (!current) throw new FsError('EUCLEAN', `item ${key} vanished`);
  if (parseRefs(current, parent, ino).some((r) => equalBytes(r.name, name))) throw new FsError('EEXIST', 'inode ref exists');
  if (current.length + entry.length <= maxItemSize(fs.nodesize)) {
    const { found, path } = await searchSlot(fs, root, key, { cow: true, insLen: entry.length });
    if (!found) throw new FsError('EUCLEAN', `item ${key} vanished`);
    const old = path.itemData().length;
    extendItem(fs, path, entry.length);
    path.itemData().set(entry, old);
    fs.markDirty(path.leaf);
    return;
  }
  // The INODE_REF item is full: an extref (the extref feature is on for every filesystem we make).
  const xkey = Key.of(ino, ItemType.INODE_EXTREF, btrfsExtrefHash(parent, name));
  const xentry = encodeExtref(parent, index, name);
  if (await tryInsert(fs, root, xkey, xentry)) return;
  const xcurrent = await lookup(fs, root, xkey);
  if (!xcurrent) throw new FsError('EUCLEAN', `item ${xkey} vanished`);
  if (xcurrent.length + xentry.length > maxItemSize(fs.nodesize)) throw new FsError('EMLINK', `inode ${ino} has too many names`);
  const r = await searchSlot(fs, root, xkey, { cow: true, insLen: xentry.length });
  if (!r.found) throw new FsError('EUCLEAN', `item ${xkey} vanished`);
  const old = r.path.itemData().length;
  extendItem(fs, r.path, xentry.length);
  r.path.itemData().set(xentry, old);
  fs.markDirty(r.path.leaf);
}

/** Removes the name; returns its dir index. ENOENT when the inode has no such name. */
export async function removeRef(fs: FsInfo, root: Root, ino: number, parent: number, name: Uint8Array): Promise<number> {
  for (const [key, parse] of [
    [Key.of(ino, ItemType.INODE_REF, parent), (d: Uint8Array) => parseRefs(d, parent, ino)],
    [Key.of(ino, ItemType.INODE_EXTREF, btrfsExtrefHash(parent, name)), (d: Uint8Array) => parseExtrefs(d, ino)],
  ] as const) {
    const { found, path } = await searchSlot(fs, root, key, { cow: true, insLen: -1 });
    if (!found) continue;
    const data = path.itemData();
    const e = parse(data).find((r) => r.parent === parent && equalBytes(r.name, name));
    if (!e) continue;
    if (e.size === data.length) {
      await deleteItems(fs, path, path.slot, 1);
    } else {
      data.copyWithin(e.offset, e.offset + e.size);
      truncateItem(fs, path, data.length - e.size, true);
      fs.markDirty(path.leaf);
    }
    return e.index;
  }
  throw new FsError('ENOENT', `inode ${ino} has no name in directory ${parent}`);
}

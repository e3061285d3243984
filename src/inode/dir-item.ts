// Directory entries and xattrs (btrfs dir-item.c): DIR_ITEM (dir, 84, name_hash) holding one
// or more btrfs_dir_item entries whose names share the hash, DIR_INDEX (dir, 96, index)
// holding exactly one, and XATTR_ITEM (ino, 24, name_hash) using the same struct with the
// value after the name.
//
// Entries are parsed field by field: transid is not validated by btrfs, and mkfs.btrfs 6.2
// writes garbage there, so it is never decoded as a number.
import { DirItem } from '../format/structs.js';
import { Key, readDiskKeyAt } from '../format/key.js';
import { putLe32, putU64 } from '../format/u64.js';
import { ItemType, NAME_LEN } from '../format/constants.js';
import { btrfsNameHash } from '../kernels/checksum.js';
import { searchSlot, insertItem, insertDeferred, extendItem, truncateItem, deleteItems, lookup } from '../tree/ctree.js';
import { maxItemSize } from '../tree/extent-buffer.js';
import type { FsInfo, Root } from '../fs/fs-info.js';
import { FsError } from '../util/errors.js';

const D = DirItem.off;

export interface DirEntry {
  location: Key;
  type: number;
  name: Uint8Array;
  /** xattr value (empty for directory entries). */
  data: Uint8Array;
  /** Offset of this entry within the item's data. */
  offset: number;
  /** Total bytes of this entry. */
  size: number;
}

/** Parses every entry of a DIR_ITEM / DIR_INDEX / XATTR_ITEM payload. EUCLEAN when malformed. */
export function parseDirItems(data: Uint8Array, what: string): DirEntry[] {
  const out: DirEntry[] = [];
  let off = 0;
  // Bounded: each entry consumes at least DirItem.size bytes. Byte loads, no DataView: one is
  // parsed for every name a walk looks up.
  while (off < data.length) {
    if (off + DirItem.size > data.length) throw new FsError('EUCLEAN', `${what}: truncated dir item`);
    const nameLen = data[off + D.nameLen] | (data[off + D.nameLen + 1] << 8);
    const dataLen = data[off + D.dataLen] | (data[off + D.dataLen + 1] << 8);
    const size = DirItem.size + nameLen + dataLen;
    if (off + size > data.length || nameLen === 0) throw new FsError('EUCLEAN', `${what}: dir item name/data length ${nameLen}/${dataLen} out of bounds`);
    const nameStart = off + DirItem.size;
    out.push({
      location: readDiskKeyAt(data, off + D.location),
      type: data[off + D.type],
      name: data.subarray(nameStart, nameStart + nameLen),
      data: data.subarray(nameStart + nameLen, nameStart + nameLen + dataLen),
      offset: off,
      size,
    });
    off += size;
  }
  return out;
}

export function encodeDirItem(location: Key, transid: number, type: number, name: Uint8Array, value: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(DirItem.size + name.length + value.length);
  // Byte stores, no DataView: these items are small and one is made for every name.
  putLe32(b, D.location, location.objLo);
  putLe32(b, D.location + 4, location.objHi);
  b[D.location + 8] = location.type;
  putLe32(b, D.location + 9, location.offLo);
  putLe32(b, D.location + 13, location.offHi);
  putU64(b, D.transid, transid);
  b[D.dataLen] = value.length;
  b[D.dataLen + 1] = value.length >>> 8;
  b[D.nameLen] = name.length;
  b[D.nameLen + 1] = name.length >>> 8;
  b[D.type] = type;
  b.set(name, DirItem.size);
  b.set(value, DirItem.size + name.length);
  return b;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The entry named `name` in the hashed item (DIR_ITEM or XATTR_ITEM) of `objectid`, or undefined. */
export async function lookupHashed(fs: FsInfo, root: Root, objectid: number, type: number, name: Uint8Array): Promise<DirEntry | undefined> {
  const hash = btrfsNameHash(name);
  // A directory whose names the cache knows all of: no search for a name it has not got (the
  // lookup before every create in a directory made in this mount).
  if (type === ItemType.DIR_ITEM && root.itemCache?.knownAbsent(objectid, hash)) return undefined;
  const data = await lookup(fs, root, Key.of(objectid, type, hash));
  if (!data) return undefined;
  return parseDirItems(data, `item (${objectid} ${type})`).find((e) => equalBytes(e.name, name));
}

/**
 * Adds an entry to the hashed item (creating it, or appending on a hash collision as
 * btrfs insert_with_overflow does). EEXIST when the name is there; ENOSPC (as btrfs's
 * -EOVERFLOW) when the item cannot grow. `hash`: the name's, when the caller has it.
 */
export async function insertHashed(
  fs: FsInfo, root: Root, objectid: number, type: number, entry: Uint8Array, name: Uint8Array, hash = btrfsNameHash(name),
): Promise<void> {
  const key = Key.of(objectid, type, hash);
  // The cache knows the key is absent (the lookup before a create asked): a new key for
  // certain, deferred with the other new items (ctree.ts insertDeferred).
  const c = root.itemCache;
  if (c && c.covers(key) && ((type === ItemType.DIR_ITEM && c.knownAbsent(objectid, key.offLo)) || c.get(key)?.data === null)) {
    insertDeferred(fs, root, key, entry.slice());
    return;
  }
  // The common case is a new hash: one search. A collision (EEXIST on the key) appends.
  if (await tryInsert(fs, root, key, entry)) return;
  const current = await lookup(fs, root, key);
  if (!current) throw new FsError('EUCLEAN', `item ${key} vanished`);
  if (parseDirItems(current, `item ${key}`).some((e) => equalBytes(e.name, name))) throw new FsError('EEXIST', 'name exists');
  if (current.length + entry.length > maxItemSize(fs.nodesize)) throw new FsError('ENOSPC', `too many names with hash ${key.offset}`);
  const { found, path } = await searchSlot(fs, root, key, { cow: true, insLen: entry.length });
  if (!found) throw new FsError('EUCLEAN', `item ${key} vanished`);
  const oldSize = path.itemData().length;
  extendItem(fs, path, entry.length);
  path.itemData().set(entry, oldSize);
  fs.markDirty(path.leaf);
}

/** Inserts a new item; false (and nothing changed) when the key exists. */
export async function tryInsert(fs: FsInfo, root: Root, key: Key, data: Uint8Array): Promise<boolean> {
  try {
    await insertItem(fs, root, key, data);
    return true;
  } catch (e) {
    if (e instanceof FsError && e.code === 'EEXIST') return false;
    throw e;
  }
}

/** Removes the entry named `name` from the hashed item; false when absent. */
export async function deleteHashed(fs: FsInfo, root: Root, objectid: number, type: number, name: Uint8Array): Promise<boolean> {
  const key = Key.of(objectid, type, btrfsNameHash(name));
  const { found, path } = await searchSlot(fs, root, key, { cow: true, insLen: -1 });
  if (!found) return false;
  const data = path.itemData();
  const e = parseDirItems(data, `item ${key}`).find((x) => equalBytes(x.name, name));
  if (!e) return false;
  if (e.size === data.length) {
    await deleteItems(fs, path, path.slot, 1);
    return true;
  }
  // btrfs_delete_one_dir_name: close the gap, then cut the item's end.
  data.copyWithin(e.offset, e.offset + e.size);
  truncateItem(fs, path, data.length - e.size, true);
  fs.markDirty(path.leaf);
  return true;
}

/** Validates a single path component as btrfs and POSIX require. */
export function checkName(name: Uint8Array, what = 'name'): void {
  if (name.length === 0) throw new FsError('ENOENT', `empty ${what}`);
  if (name.length > NAME_LEN) throw new FsError('ENAMETOOLONG', `${what} is ${name.length} bytes; at most ${NAME_LEN}`);
  for (const c of name) if (c === 0 || c === 0x2f) throw new FsError('EINVAL', `${what} contains '/' or NUL`);
}

export const DIR_ITEM = ItemType.DIR_ITEM;
export const DIR_INDEX = ItemType.DIR_INDEX;
export const XATTR_ITEM = ItemType.XATTR_ITEM;

const utf8Decoder = new TextDecoder();

/** A name's bytes as a string (invalid UTF-8 as U+FFFD, as node shows such names). */
export function nameString(b: Uint8Array): string {
  // Most names are short ASCII: build those directly (a TextDecoder call costs more).
  return (b.length <= 64 ? asciiName(b, 0, b.length) : undefined) ?? utf8Decoder.decode(b);
}

/** The name at data[at, at + len) as a string when it is all ASCII (read in place), else undefined. */
export function asciiName(data: Uint8Array, at: number, len: number): string | undefined {
  const end = at + len;
  for (let i = at; i < end; i++) if (data[i] > 0x7f) return undefined;
  // Eight characters per String.fromCharCode call: a string per character made readdir's names
  // three quarters of its time.
  const f = String.fromCharCode;
  const d = data;
  let s = '';
  let i = at;
  for (; i + 8 <= end; i += 8) s += f(d[i], d[i + 1], d[i + 2], d[i + 3], d[i + 4], d[i + 5], d[i + 6], d[i + 7]);
  switch (end - i) {
    case 1: return s + f(d[i]);
    case 2: return s + f(d[i], d[i + 1]);
    case 3: return s + f(d[i], d[i + 1], d[i + 2]);
    case 4: return s + f(d[i], d[i + 1], d[i + 2], d[i + 3]);
    case 5: return s + f(d[i], d[i + 1], d[i + 2], d[i + 3], d[i + 4]);
    case 6: return s + f(d[i], d[i + 1], d[i + 2], d[i + 3], d[i + 4], d[i + 5]);
    case 7: return s + f(d[i], d[i + 1], d[i + 2], d[i + 3], d[i + 4], d[i + 5], d[i + 6]);
    default: return s;
  }
}

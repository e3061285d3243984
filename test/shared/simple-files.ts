// Test-only helpers that put valid empty regular files into a subvolume's root directory
// with the raw tree API (INODE_ITEM, INODE_REF, DIR_ITEM, DIR_INDEX, directory i_size),
// so engine tests can drive many tree operations that btrfs check can judge before the
// POSIX layer exists.
import { Key } from '../../src/format/key.js';
import { viewOf } from '../../src/format/struct.js';
import { InodeItem, InodeRef, DirItem } from '../../src/format/structs.js';
import { ItemType, FileType, FIRST_INODE_OBJECTID } from '../../src/format/constants.js';
import { btrfsNameHash } from '../../src/kernels/checksum.js';
import { insertItem, deleteItem, lookup } from '../../src/tree/ctree.js';
import { updateItem } from '../../src/fs/items.js';
import type { FsInfo, Root } from '../../src/fs/fs-info.js';

const enc = new TextEncoder();

export interface SimpleFile {
  ino: number;
  index: number;
}

function inodeBytes(fs: FsInfo, mode: number, nowSec: number): Uint8Array {
  const ii = InodeItem.zero();
  const t = { sec: nowSec, nsec: 0 };
  Object.assign(ii, { generation: fs.transid, transid: fs.transid, nlink: 1, mode, atime: t, ctime: t, mtime: t, otime: t });
  const b = new Uint8Array(InodeItem.size);
  InodeItem.encode(viewOf(b), 0, ii);
  return b;
}

async function addDirSize(fs: FsInfo, root: Root, delta: number): Promise<void> {
  await updateItem(fs, root, Key.of(FIRST_INODE_OBJECTID, ItemType.INODE_ITEM, 0), (dv) => {
    const off = InodeItem.off.size;
    dv.setUint32(off, dv.getUint32(off, true) + delta, true);
    const t = InodeItem.off.transid;
    dv.setUint32(t, fs.transid, true);
  });
}

/** Creates an empty file `name` in the root directory. Returns undefined on a DIR_ITEM hash clash. */
export async function createFile(fs: FsInfo, root: Root, name: string, ino: number, index: number): Promise<SimpleFile | undefined> {
  const n = enc.encode(name);
  const hash = btrfsNameHash(n);
  if (await lookup(fs, root, Key.of(FIRST_INODE_OBJECTID, ItemType.DIR_ITEM, hash))) return undefined;
  await insertItem(fs, root, Key.of(ino, ItemType.INODE_ITEM, 0), inodeBytes(fs, 0o100644, 1_700_000_000));
  const ref = new Uint8Array(InodeRef.size + n.length);
  InodeRef.encode(viewOf(ref), 0, { index, nameLen: n.length });
  ref.set(n, InodeRef.size);
  await insertItem(fs, root, Key.of(ino, ItemType.INODE_REF, FIRST_INODE_OBJECTID), ref);
  const di = new Uint8Array(DirItem.size + n.length);
  DirItem.encode(viewOf(di), 0, { location: Key.of(ino, ItemType.INODE_ITEM, 0), transid: fs.transid, dataLen: 0, nameLen: n.length, type: FileType.REG_FILE });
  di.set(n, DirItem.size);
  await insertItem(fs, root, Key.of(FIRST_INODE_OBJECTID, ItemType.DIR_ITEM, hash), di);
  await insertItem(fs, root, Key.of(FIRST_INODE_OBJECTID, ItemType.DIR_INDEX, index), di);
  await addDirSize(fs, root, 2 * n.length);
  return { ino, index };
}

export async function removeFile(fs: FsInfo, root: Root, name: string, f: SimpleFile): Promise<void> {
  const n = enc.encode(name);
  await deleteItem(fs, root, Key.of(FIRST_INODE_OBJECTID, ItemType.DIR_ITEM, btrfsNameHash(n)));
  await deleteItem(fs, root, Key.of(FIRST_INODE_OBJECTID, ItemType.DIR_INDEX, f.index));
  await deleteItem(fs, root, Key.of(f.ino, ItemType.INODE_REF, FIRST_INODE_OBJECTID));
  await deleteItem(fs, root, Key.of(f.ino, ItemType.INODE_ITEM, 0));
  await addDirSize(fs, root, -2 * n.length);
}

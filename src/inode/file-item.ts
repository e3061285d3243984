// File extent items (the EXTENT_DATA half of btrfs file-item.c): (ino, EXTENT_DATA, file
// offset) -> btrfs_file_extent_item. Three kinds:
//  * INLINE: the file's bytes follow the 21-byte head (ram_bytes of them when uncompressed);
//    only at file offset 0 and only for a whole small file;
//  * REG: num_bytes of the file from byte `offset` of the disk extent [disk_bytenr,
//    +disk_num_bytes) (disk_bytenr 0: an explicit hole, written only without NO_HOLES);
//  * PREALLOC: like REG, but the bytes read as zeros until written (fallocate).
// The checksums of data live in the csum tree (src/fs/csum-tree.ts).
//
// Owns decoding (with every size checked: items come from disk and are untrusted), encoding,
// and finding the items that overlap a file range.
import { Key } from '../format/key.js';
import { viewOf } from '../format/struct.js';
import { FileExtentHead, FileExtentItem } from '../format/structs.js';
import { ItemType, FileExtentType, CompressionType } from '../format/constants.js';
import { insertItem, iterItems, searchSlot, prevLeaf } from '../tree/ctree.js';
import type { FsInfo, Root } from '../fs/fs-info.js';
import { FsError } from '../util/errors.js';

/** A file extent item as decoded; `inline` holds a copy of an inline extent's bytes. */
export interface FileExtent {
  /** The key offset: where in the file the item starts. */
  fileOffset: number;
  generation: number;
  ramBytes: number;
  compression: number;
  encryption: number;
  otherEncoding: number;
  type: number;
  /** REG / PREALLOC only (0 for inline). */
  diskBytenr: number;
  diskNumBytes: number;
  offset: number;
  /** REG / PREALLOC: bytes of the file the item covers. Inline: ram_bytes. */
  numBytes: number;
  inline: Uint8Array | undefined;
}

export function fileExtentKey(ino: number, fileOffset: number): Key {
  return Key.of(ino, ItemType.EXTENT_DATA, fileOffset);
}

/** Decodes the item at (ino, EXTENT_DATA, fileOffset); EUCLEAN when malformed. */
export function decodeFileExtent(data: Uint8Array, ino: number, fileOffset: number): FileExtent {
  const where = `inode ${ino} file extent at ${fileOffset}`;
  if (data.length < FileExtentHead.size) throw new FsError('EUCLEAN', `${where}: item of ${data.length} bytes`);
  const dv = viewOf(data);
  const h = FileExtentHead.decode(dv, 0);
  if (h.type === FileExtentType.INLINE) {
    const inline = data.slice(FileExtentHead.size);
    if (h.compression === CompressionType.NONE && h.ramBytes !== inline.length) {
      throw new FsError('EUCLEAN', `${where}: inline ram_bytes ${h.ramBytes} but ${inline.length} bytes of data`);
    }
    return { fileOffset, ...h, diskBytenr: 0, diskNumBytes: 0, offset: 0, numBytes: h.ramBytes, inline };
  }
  if (h.type !== FileExtentType.REG && h.type !== FileExtentType.PREALLOC) throw new FsError('EUCLEAN', `${where}: unknown type ${h.type}`);
  if (data.length !== FileExtentItem.size) throw new FsError('EUCLEAN', `${where}: item of ${data.length} bytes, expected ${FileExtentItem.size}`);
  const fe = FileExtentItem.decode(dv, 0);
  if (fe.numBytes <= 0) throw new FsError('EUCLEAN', `${where}: num_bytes ${fe.numBytes}`);
  if (fe.diskBytenr !== 0 && fe.compression === CompressionType.NONE && fe.offset + fe.numBytes > fe.diskNumBytes) {
    throw new FsError('EUCLEAN', `${where}: offset ${fe.offset} + num_bytes ${fe.numBytes} past the extent's ${fe.diskNumBytes} bytes`);
  }
  return { fileOffset, ...fe, inline: undefined };
}

export function encodeFileExtent(fe: FileExtent): Uint8Array {
  if (fe.type === FileExtentType.INLINE) {
    const inline = fe.inline!;
    const data = new Uint8Array(FileExtentHead.size + inline.length);
    FileExtentHead.encode(viewOf(data), 0, fe);
    data.set(inline, FileExtentHead.size);
    return data;
  }
  const data = new Uint8Array(FileExtentItem.size);
  FileExtentItem.encode(viewOf(data), 0, fe);
  return data;
}

/** Where the item's file range ends: inline items end at ram_bytes (not rounded up). */
export function fileExtentEnd(fe: FileExtent): number {
  return fe.fileOffset + fe.numBytes;
}

export const isHole = (fe: FileExtent): boolean => fe.type !== FileExtentType.INLINE && fe.diskBytenr === 0;

export async function insertFileExtent(fs: FsInfo, root: Root, ino: number, fe: FileExtent): Promise<void> {
  await insertItem(fs, root, fileExtentKey(ino, fe.fileOffset), encodeFileExtent(fe));
}

/** A REG or PREALLOC item over a disk extent, as written now. */
export function newFileExtent(fs: FsInfo, type: number, fileOffset: number, diskBytenr: number, diskNumBytes: number, offset: number, numBytes: number): FileExtent {
  return {
    fileOffset, generation: fs.transid, ramBytes: diskNumBytes, compression: CompressionType.NONE, encryption: 0, otherEncoding: 0,
    type, diskBytenr, diskNumBytes, offset, numBytes, inline: undefined,
  };
}

/** An explicit hole (filesystems without NO_HOLES). */
export function holeFileExtent(fs: FsInfo, fileOffset: number, numBytes: number): FileExtent {
  return { ...newFileExtent(fs, FileExtentType.REG, fileOffset, 0, 0, 0, numBytes), ramBytes: numBytes };
}

/**
 * The key of the last EXTENT_DATA item of `ino` at or before `fileOffset`, or undefined.
 * (A file extent that starts before an offset may cover it.)
 */
async function itemAtOrBefore(fs: FsInfo, root: Root, ino: number, fileOffset: number): Promise<Key | undefined> {
  const { found, path } = await searchSlot(fs, root, fileExtentKey(ino, fileOffset));
  let k: Key | undefined;
  if (found) k = path.itemKey();
  else if (path.slots[0] > 0) k = path.leaf.key(path.slots[0] - 1);
  else if (await prevLeaf(fs, root, path)) k = path.slots[0] < path.leaf.nritems ? path.leaf.key(path.slots[0]) : undefined;
  if (!k || k.type !== ItemType.EXTENT_DATA || k.objHi !== 0 || k.objectid !== ino) return undefined;
  return k;
}

/**
 * The file extent items of `ino` that overlap [start, end), in file order, at most `limit`.
 * Iteration is bounded by the tree walk (strictly ascending keys).
 */
export async function findFileExtents(fs: FsInfo, root: Root, ino: number, start: number, end: number, limit = Infinity): Promise<FileExtent[]> {
  const out: FileExtent[] = [];
  if (end <= start || limit <= 0) return out;
  const first = (await itemAtOrBefore(fs, root, ino, start)) ?? fileExtentKey(ino, start);
  for await (const it of iterItems(fs, root, first, fileExtentKey(ino, end - 1))) {
    const fe = decodeFileExtent(it.data, ino, it.key.offset);
    if (fileExtentEnd(fe) <= start) continue;
    if (out.length > 0 && fe.fileOffset < fileExtentEnd(out[out.length - 1])) {
      throw new FsError('EUCLEAN', `inode ${ino}: file extents at ${out[out.length - 1].fileOffset} and ${fe.fileOffset} overlap`);
    }
    out.push(fe);
    if (out.length >= limit) break;
  }
  return out;
}

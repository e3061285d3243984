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
import { FileExtentHead, FileExtentItem } from '../format/structs.js';
import { ItemType, FileExtentType, CompressionType } from '../format/constants.js';
import { insertItem, insertEmptyItems, insertDeferredBounded, deleteItem, forEachItemFromFloor } from '../tree/ctree.js';
import { invalidateFileExtents } from './extent-map.js';
import { getU64, putU64 } from '../format/u64.js';
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
  const where = () => `inode ${ino} file extent at ${fileOffset}`;
  if (data.length < FileExtentHead.size) throw new FsError('EUCLEAN', `${where()}: item of ${data.length} bytes`);
  // By hand, not the generic struct decoder: this runs for every extent of every read. Byte
  // loads, no DataView (one per item made V8 move small buffers off its heap).
  const generation = getU64(data, F.generation, 'file extent generation');
  const ramBytes = getU64(data, F.ramBytes, 'file extent ram_bytes');
  const compression = data[F.compression];
  const encryption = data[F.encryption];
  const otherEncoding = data[F.otherEncoding] | (data[F.otherEncoding + 1] << 8);
  const type = data[F.type];
  if (type === FileExtentType.INLINE) {
    const inline = data.slice(FileExtentHead.size);
    if (compression === CompressionType.NONE && ramBytes !== inline.length) {
      throw new FsError('EUCLEAN', `${where()}: inline ram_bytes ${ramBytes} but ${inline.length} bytes of data`);
    }
    return { fileOffset, generation, ramBytes, compression, encryption, otherEncoding, type, diskBytenr: 0, diskNumBytes: 0, offset: 0, numBytes: ramBytes, inline };
  }
  if (type !== FileExtentType.REG && type !== FileExtentType.PREALLOC) throw new FsError('EUCLEAN', `${where()}: unknown type ${type}`);
  if (data.length !== FileExtentItem.size) throw new FsError('EUCLEAN', `${where()}: item of ${data.length} bytes, expected ${FileExtentItem.size}`);
  const diskBytenr = getU64(data, F.diskBytenr, 'file extent disk_bytenr');
  const diskNumBytes = getU64(data, F.diskNumBytes, 'file extent disk_num_bytes');
  const offset = getU64(data, F.offset, 'file extent offset');
  const numBytes = getU64(data, F.numBytes, 'file extent num_bytes');
  if (numBytes <= 0) throw new FsError('EUCLEAN', `${where()}: num_bytes ${numBytes}`);
  if (diskBytenr !== 0 && compression === CompressionType.NONE && offset + numBytes > diskNumBytes) {
    throw new FsError('EUCLEAN', `${where()}: offset ${offset} + num_bytes ${numBytes} past the extent's ${diskNumBytes} bytes`);
  }
  return { fileOffset, generation, ramBytes, compression, encryption, otherEncoding, type, diskBytenr, diskNumBytes, offset, numBytes, inline: undefined };
}

const F = FileExtentItem.off;

/**
 * The item's bytes: by hand with byte stores (as FileExtentHead / FileExtentItem.encode would
 * write them: a test holds the two together), as one is made for every write.
 */
export function encodeFileExtent(fe: FileExtent): Uint8Array {
  const inline = fe.type === FileExtentType.INLINE;
  const data = new Uint8Array(inline ? FileExtentHead.size + fe.inline!.length : FileExtentItem.size);
  putU64(data, F.generation, fe.generation);
  putU64(data, F.ramBytes, fe.ramBytes);
  data[F.compression] = fe.compression;
  data[F.encryption] = fe.encryption;
  data[F.otherEncoding] = fe.otherEncoding;
  data[F.otherEncoding + 1] = fe.otherEncoding >>> 8;
  data[F.type] = fe.type;
  if (inline) {
    data.set(fe.inline!, FileExtentHead.size);
    return data;
  }
  putU64(data, F.diskBytenr, fe.diskBytenr);
  putU64(data, F.diskNumBytes, fe.diskNumBytes);
  putU64(data, F.offset, fe.offset);
  putU64(data, F.numBytes, fe.numBytes);
  return data;
}

/** Where the item's file range ends: inline items end at ram_bytes (not rounded up). */
export function fileExtentEnd(fe: FileExtent): number {
  return fe.fileOffset + fe.numBytes;
}

export const isHole = (fe: FileExtent): boolean => fe.type !== FileExtentType.INLINE && fe.diskBytenr === 0;

export async function insertFileExtent(fs: FsInfo, root: Root, ino: number, fe: FileExtent): Promise<void> {
  invalidateFileExtents(root, ino, fe.fileOffset, fileExtentEnd(fe));
  await insertItem(fs, root, fileExtentKey(ino, fe.fileOffset), encodeFileExtent(fe));
}

/**
 * Inserts items of `ino` with ascending, adjacent-in-key-order offsets (no existing item
 * between them) in one search: the new extent of an overwrite and the tail of the item it split.
 */
export async function insertFileExtents(fs: FsInfo, root: Root, ino: number, fes: readonly FileExtent[]): Promise<void> {
  const keys = fes.map((fe) => fileExtentKey(ino, fe.fileOffset));
  const data = fes.map(encodeFileExtent);
  for (const fe of fes) invalidateFileExtents(root, ino, fe.fileOffset, fileExtentEnd(fe));
  const path = await insertEmptyItems(fs, root, keys, data.map((d) => d.length));
  const leaf = path.leaf;
  for (let i = 0; i < data.length; i++) leaf.data.set(data[i], leaf.itemPtr(path.slots[0] + i));
}

/** Deletes the item `fe` (as found in the tree) of `ino`. */
export async function deleteFileExtent(fs: FsInfo, root: Root, ino: number, fe: FileExtent): Promise<void> {
  invalidateFileExtents(root, ino, fe.fileOffset, fileExtentEnd(fe));
  await deleteItem(fs, root, fileExtentKey(ino, fe.fileOffset));
}

/** insertFileExtent for a key that is new for certain: deferred with the tree's other new items (ctree.ts insertDeferred). */
export async function insertFileExtentDeferred(fs: FsInfo, root: Root, ino: number, fe: FileExtent): Promise<void> {
  invalidateFileExtents(root, ino, fe.fileOffset, fileExtentEnd(fe));
  await insertDeferredBounded(fs, root, fileExtentKey(ino, fe.fileOffset), encodeFileExtent(fe));
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
 * The file extent items of `ino` that overlap [start, end), in file order, at most `limit`.
 * One search (from the item at or before `start`), then a walk bounded by strictly ascending keys.
 */
export async function findFileExtents(fs: FsInfo, root: Root, ino: number, start: number, end: number, limit = Infinity): Promise<FileExtent[]> {
  const out: FileExtent[] = [];
  if (end <= start || limit <= 0) return out;
  await forEachItemFromFloor(fs, root, fileExtentKey(ino, start), fileExtentKey(ino, end - 1), (key, data) => {
    // The floor may be another inode's item, or this inode's non-extent item.
    if (key.type !== ItemType.EXTENT_DATA || key.objHi !== 0 || key.objectid !== ino) return true;
    const fe = decodeFileExtent(data, ino, key.offset);
    if (fileExtentEnd(fe) <= start) return true;
    if (out.length > 0 && fe.fileOffset < fileExtentEnd(out[out.length - 1])) {
      throw new FsError('EUCLEAN', `inode ${ino}: file extents at ${out[out.length - 1].fileOffset} and ${fe.fileOffset} overlap`);
    }
    out.push(fe);
    return out.length < limit;
  });
  return out;
}

// The uuid tree (btrfs uuid-tree.c): subvolume uuids -> subvolume ids, so that send/receive
// find a subvolume by uuid. Key (uuid bytes 0..7 as u64, UUID_KEY_SUBVOL or
// UUID_KEY_RECEIVED_SUBVOL, uuid bytes 8..15 as u64); the item is an array of u64 subvolume
// ids (several subvolumes may have been received from one uuid).
import { viewOf } from '../format/struct.js';
import { searchSlot, insertItem, deleteItems, extendItem, truncateItem } from '../tree/ctree.js';
import type { FsInfo } from '../fs/fs-info.js';
import { uuidKey } from '../fs/mkfs.js';
import { FsError } from '../util/errors.js';

export function isEmptyUuid(uuid: Uint8Array): boolean {
  return uuid.every((b) => b === 0);
}

function readU64(dv: DataView, off: number): number {
  return dv.getUint32(off, true) + dv.getUint32(off + 4, true) * 2 ** 32;
}

function writeU64(dv: DataView, off: number, n: number): void {
  dv.setUint32(off, n >>> 0, true);
  dv.setUint32(off + 4, Math.floor(n / 2 ** 32), true);
}

/** The subvolume ids listed under `uuid` / `type`. */
export async function uuidTreeLookup(fs: FsInfo, uuid: Uint8Array, type: number): Promise<number[]> {
  const tree = fs.uuidTree;
  if (!tree) return [];
  const { found, path } = await searchSlot(fs, tree, uuidKey(uuid, type));
  if (!found) return [];
  const data = path.itemData();
  if (data.length % 8 !== 0) throw new FsError('EUCLEAN', `uuid tree item of ${data.length} bytes`);
  const dv = viewOf(data);
  const out: number[] = [];
  for (let off = 0; off < data.length; off += 8) out.push(readU64(dv, off));
  return out;
}

/** btrfs_uuid_tree_add: lists `subid` under `uuid` / `type` (no-op when already listed). */
export async function uuidTreeAdd(fs: FsInfo, uuid: Uint8Array, type: number, subid: number): Promise<void> {
  const tree = fs.uuidTree;
  if (!tree) return; // btrfs rebuilds a missing uuid tree at mount; nothing to keep in step
  if ((await uuidTreeLookup(fs, uuid, type)).includes(subid)) return;
  const key = uuidKey(uuid, type);
  const { found, path } = await searchSlot(fs, tree, key, { cow: true, insLen: 8 });
  if (!found) {
    const data = new Uint8Array(8);
    writeU64(viewOf(data), 0, subid);
    await insertItem(fs, tree, key, data);
    return;
  }
  extendItem(fs, path, 8);
  const data = path.itemData();
  writeU64(viewOf(data), data.length - 8, subid);
  fs.markDirty(path.leaf);
}

/** btrfs_uuid_tree_remove: drops `subid` from `uuid` / `type`; the item goes with its last id. */
export async function uuidTreeRemove(fs: FsInfo, uuid: Uint8Array, type: number, subid: number): Promise<void> {
  const tree = fs.uuidTree;
  if (!tree) return;
  const key = uuidKey(uuid, type);
  const { found, path } = await searchSlot(fs, tree, key, { cow: true, insLen: -1 });
  if (!found) return;
  const data = path.itemData();
  const dv = viewOf(data);
  let at = -1;
  for (let off = 0; off < data.length; off += 8) if (readU64(dv, off) === subid) at = off;
  if (at < 0) return;
  if (data.length === 8) {
    await deleteItems(fs, path, path.slot, 1);
    return;
  }
  // Move the last id into the hole, then cut the item's end.
  data.copyWithin(at, data.length - 8, data.length);
  truncateItem(fs, path, data.length - 8, true);
  fs.markDirty(path.leaf);
}

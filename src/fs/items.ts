// Small helpers over the COW B-tree used across the fs layer: change an item in place,
// replace or insert an item.
import type { Key } from '../format/key.js';
import { viewOf } from '../format/struct.js';
import { searchSlot, insertItem, deleteItems } from '../tree/ctree.js';
import { FsError } from '../util/errors.js';
import type { FsInfo, Root } from './fs-info.js';

/** COWs the path to `key` and lets `mutate` change the item's bytes in place. */
export async function updateItem(fs: FsInfo, root: Root, key: Key, mutate: (dv: DataView, data: Uint8Array) => void): Promise<void> {
  const { found, path } = await searchSlot(fs, root, key, { cow: true });
  if (!found) throw new FsError('EUCLEAN', `tree ${root.objectid}: item ${key} to update is missing`);
  root.itemCache?.invalidate(key);
  const data = path.itemData();
  mutate(viewOf(data), data);
  fs.markDirty(path.leaf);
  const c = root.itemCache;
  if (c && c.covers(key)) c.set(key, data);
}

/** Inserts `key` with `data`, or replaces the data of an existing item with that key. */
export async function upsertItem(fs: FsInfo, root: Root, key: Key, data: Uint8Array): Promise<void> {
  const { found, path } = await searchSlot(fs, root, key, { cow: true });
  if (found) {
    if (path.itemData().length === data.length) {
      root.itemCache?.invalidate(key);
      path.itemData().set(data);
      fs.markDirty(path.leaf);
      return;
    }
    await deleteItems(fs, path, path.slot, 1);
  }
  await insertItem(fs, root, key, data);
}

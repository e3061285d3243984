// Delayed inode updates (btrfs delayed-inode.c, its inode half; the items half is ctree.ts
// insertDeferred, flushed here first): writeInode (src/inode/inode.ts)
// does not search the tree for every change of an INODE_ITEM; the newest decoded item waits in
// the subvolume's item cache (tree/item-cache.ts setDelayed) and reads see it there. A file
// created and written, and its directory changed a hundred times in one transaction, cost one
// tree write each at the flush, not one per change; the flush writes them in key order, and
// inodes whose items share a leaf share one search.
//
// Flushed at the latest by the commit (transaction.ts), and before anything copies fs tree
// blocks in the running transaction: a snapshot of the tree (subvol/snapshot.ts). (dump-tree and
// check read the committed trees; check commits first.)
// Deleting an inode's item drops its delayed update (ItemCache.invalidate), so a flush never
// resurrects an inode.
import { InodeItem, type InodeItem as InodeItemT } from '../format/structs.js';
import { searchSlot, flushDeferred, type Path } from '../tree/ctree.js';
import { FsError } from '../util/errors.js';
import { encodeInodeInto } from '../format/inode-item.js';
import type { FsInfo, Root } from './fs-info.js';

/** Writes the delayed inode updates of `only` (or of every loaded tree). Returns how many were written. */
export async function flushDelayedInodes(fs: FsInfo, only?: Root): Promise<number> {
  let n = 0;
  for (const root of only ? [only] : [...fs.roots.values()]) {
    // The deferred inserts first (new inodes' items among them), then their newer updates.
    await flushDeferred(fs, root);
    const c = root.itemCache;
    if (!c || c.delayedCount === 0) continue;
    let path: Path | undefined;
    for (const { key, value } of c.takeDelayed()) {
      const item = value as InodeItemT;
      let slot = -1;
      if (path) {
        // Sorted keys: the next inode is often in the leaf the previous search COWed, which
        // nothing has changed since but these in-place writes.
        const [found, s] = path.leaf.binSearch(key);
        if (found) slot = s;
      }
      if (slot < 0) {
        const r = await searchSlot(fs, root, key, { cow: true });
        if (!r.found) throw new FsError('EUCLEAN', `tree ${root.objectid}: inode item ${key} to update is missing`);
        path = r.path;
        slot = r.path.slots[0];
      }
      const leaf = path!.leaf;
      if (leaf.itemSize(slot) !== InodeItem.size) throw new FsError('EUCLEAN', `tree ${root.objectid}: inode item ${key} of ${leaf.itemSize(slot)} bytes`);
      const at = leaf.itemPtr(slot);
      encodeInodeInto(leaf.data, at, item);
      fs.markDirty(leaf);
      c.set(key, leaf.data.subarray(at, at + InodeItem.size), item);
      n++;
    }
  }
  return n;
}

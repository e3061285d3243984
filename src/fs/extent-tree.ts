// The extent tree (btrfs extent-tree.c, delayed-ref.c): every allocated extent has an
// EXTENT_ITEM / METADATA_ITEM with its references; every block group a BLOCK_GROUP_ITEM.
//
// Reference changes are not applied when they happen: they are queued as delayed refs,
// merged per extent (a block allocated and freed in one transaction nets to nothing), and
// applied at commit, where applying them changes the extent and free space trees, which
// queues more refs, until nothing is left (btrfs_run_delayed_refs(-1) with
// btrfs_write_dirty_block_groups).
//
// Today: tree block refs of their owning tree (TREE_BLOCK_REF, skinny METADATA_ITEM).
// Shared refs (snapshots) and data refs come with the issues that need them.
import { Key } from '../format/key.js';
import { ItemType, EXTENT_FLAG_TREE_BLOCK, IncompatFlags } from '../format/constants.js';
import { ExtentItem, ExtentInlineRef, BlockGroupItem } from '../format/structs.js';
import { viewOf } from '../format/struct.js';
import { insertItem, deleteItem, lookup } from '../tree/ctree.js';
import { FsError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import type { FsInfo } from './fs-info.js';
import { addToFreeSpaceTree, removeFromFreeSpaceTree } from './free-space-tree.js';
import { updateItem } from './items.js';

export interface DelayedRefHead {
  bytenr: number;
  numBytes: number;
  level: number;
  owner: number;
  /** Net change of references. */
  refMod: number;
  /** The extent was allocated in this transaction: its item must be inserted. */
  mustInsert: boolean;
}

export class DelayedRefs {
  private heads = new Map<number, DelayedRefHead>();

  get size(): number {
    return this.heads.size;
  }

  addTreeBlock(bytenr: number, numBytes: number, level: number, owner: number, refMod: number, isNew: boolean): void {
    const h = this.heads.get(bytenr);
    if (!h) {
      this.heads.set(bytenr, { bytenr, numBytes, level, owner, refMod, mustInsert: isNew });
      return;
    }
    assert(h.owner === owner, `tree block ${bytenr}: refs from trees ${h.owner} and ${owner} (shared refs not supported yet)`);
    h.refMod += refMod;
    h.mustInsert ||= isNew;
    if (h.refMod === 0 && h.mustInsert) this.heads.delete(bytenr);
  }

  /** Takes every queued head, sorted by bytenr, leaving the queue empty. */
  take(): DelayedRefHead[] {
    const out = [...this.heads.values()].sort((a, b) => a.bytenr - b.bytenr);
    this.heads.clear();
    return out;
  }
}

const TREE_BLOCK_ITEM_SIZE = ExtentItem.size + ExtentInlineRef.size;

function metadataKey(fs: FsInfo, h: DelayedRefHead): Key {
  return skinny(fs)
    ? Key.of(h.bytenr, ItemType.METADATA_ITEM, h.level)
    : Key.of(h.bytenr, ItemType.EXTENT_ITEM, h.numBytes);
}

function skinny(fs: FsInfo): boolean {
  return (fs.sb.incompatFlags & IncompatFlags.SKINNY_METADATA) !== 0;
}

function accountUsed(fs: FsInfo, bytenr: number, delta: number): void {
  const bg = fs.blockGroupOf(bytenr);
  bg.used += delta;
  assert(bg.used >= 0 && bg.used <= bg.length, `block group ${bg.start} used ${bg.used} out of range`);
  bg.dirty = true;
  fs.sb.bytesUsed += delta;
}

async function runHead(fs: FsInfo, h: DelayedRefHead): Promise<void> {
  if (h.mustInsert) {
    assert(h.refMod === 1, `new tree block ${h.bytenr} with ref change ${h.refMod}`);
    if (!skinny(fs)) throw new FsError('EOPNOTSUPP', 'writing to filesystems without skinny-metadata is not supported');
    const data = new Uint8Array(TREE_BLOCK_ITEM_SIZE);
    const dv = viewOf(data);
    ExtentItem.encode(dv, 0, { refs: 1, generation: fs.transid, flags: EXTENT_FLAG_TREE_BLOCK });
    ExtentInlineRef.encode(dv, ExtentItem.size, { type: ItemType.TREE_BLOCK_REF, offset: h.owner });
    await insertItem(fs, fs.extentTree, metadataKey(fs, h), data);
    accountUsed(fs, h.bytenr, h.numBytes);
    await removeFromFreeSpaceTree(fs, h.bytenr, h.numBytes);
    return;
  }
  assert(h.refMod === -1, `tree block ${h.bytenr}: ref change ${h.refMod} on an existing extent`);
  const key = metadataKey(fs, h);
  const data = await lookup(fs, fs.extentTree, key);
  if (!data) throw new FsError('EUCLEAN', `extent item for tree block ${h.bytenr} is missing`);
  const refs = ExtentItem.decode(viewOf(data), 0).refs;
  if (refs !== 1) throw new FsError('EOPNOTSUPP', `tree block ${h.bytenr} has ${refs} refs (shared blocks are not supported yet)`);
  await deleteItem(fs, fs.extentTree, key);
  accountUsed(fs, h.bytenr, -h.numBytes);
  await addToFreeSpaceTree(fs, h.bytenr, h.numBytes);
}

/** Applies all queued refs. Returns how many heads ran. */
export async function runDelayedRefs(fs: FsInfo): Promise<number> {
  const heads = fs.delayedRefs.take();
  for (const h of heads) await runHead(fs, h);
  return heads.length;
}

/** Writes BLOCK_GROUP_ITEMs whose used bytes changed. Returns how many were written. */
export async function writeDirtyBlockGroups(fs: FsInfo): Promise<number> {
  let n = 0;
  for (const bg of fs.blockGroups.all()) {
    if (!bg.dirty || bg.pendingCreate) continue;
    bg.dirty = false;
    await updateItem(fs, fs.extentTree, Key.of(bg.start, ItemType.BLOCK_GROUP_ITEM, bg.length), (dv) => {
      dv.setUint32(BlockGroupItem.off.used, bg.used % 2 ** 32, true);
      dv.setUint32(BlockGroupItem.off.used + 4, Math.floor(bg.used / 2 ** 32), true);
    });
    n++;
  }
  return n;
}

export function encodeBlockGroupItem(used: number, flags: number): Uint8Array {
  const data = new Uint8Array(BlockGroupItem.size);
  BlockGroupItem.encode(viewOf(data), 0, { used, chunkObjectid: 256, flags });
  return data;
}

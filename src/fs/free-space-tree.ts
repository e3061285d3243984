// The free space tree (btrfs free-space-tree.c): for every block group a FREE_SPACE_INFO
// (start, 198, length) and its free ranges as FREE_SPACE_EXTENT items (start, 199, length),
// or as FREE_SPACE_BITMAP items when the info's USING_BITMAPS flag is set.
//
// butterfs writes the extent form. It reads both, and converts a bitmap block group to
// extents the first time it changes it (btrfs converts in both directions; either form is
// valid on disk). Each block group keeps `fstExtents`, a mirror of what the tree says is
// free, so an update knows the exact keys to delete and insert without searching.
import { Key } from '../format/key.js';
import { ItemType } from '../format/constants.js';
import { FreeSpaceInfo, FREE_SPACE_USING_BITMAPS } from '../format/structs.js';
import { viewOf } from '../format/struct.js';
import { insertItem, deleteItem, iterItems } from '../tree/ctree.js';
import { RangeSet } from '../util/range-set.js';
import { FsError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import type { BlockGroup } from './block-group.js';
import type { FsInfo } from './fs-info.js';
import { updateItem } from './items.js';

const EMPTY = new Uint8Array(0);

function infoKey(bg: BlockGroup): Key {
  return Key.of(bg.start, ItemType.FREE_SPACE_INFO, bg.length);
}
function extentKey(start: number, len: number): Key {
  return Key.of(start, ItemType.FREE_SPACE_EXTENT, len);
}

async function adjustCount(fs: FsInfo, bg: BlockGroup, delta: number): Promise<void> {
  if (delta === 0) return;
  await updateItem(fs, fs.freeSpaceTree!, infoKey(bg), (dv) => {
    const n = dv.getUint32(FreeSpaceInfo.off.extentCount, true) + delta;
    assert(n >= 0, 'free space extent count below zero');
    dv.setUint32(FreeSpaceInfo.off.extentCount, n, true);
  });
}

/** Adds the items of a new block group: everything free (add_block_group_free_space). */
export async function addBlockGroupFreeSpace(fs: FsInfo, bg: BlockGroup): Promise<void> {
  if (!fs.freeSpaceTree) return;
  const info = new Uint8Array(FreeSpaceInfo.size);
  FreeSpaceInfo.encode(viewOf(info), 0, { extentCount: 1, flags: 0 });
  await insertItem(fs, fs.freeSpaceTree, infoKey(bg), info);
  await insertItem(fs, fs.freeSpaceTree, extentKey(bg.start, bg.length), EMPTY);
  bg.fstExtents = new RangeSet();
  bg.fstExtents.add(bg.start, bg.length);
  bg.fstUsesBitmaps = false;
}

async function convertToExtents(fs: FsInfo, bg: BlockGroup): Promise<void> {
  const root = fs.freeSpaceTree!;
  const bitmaps: Key[] = [];
  for await (const it of iterItems(fs, root, Key.of(bg.start, 0, 0), Key.of(bg.end - 1, 255, -1))) {
    if (it.key.type === ItemType.FREE_SPACE_BITMAP) bitmaps.push(it.key);
  }
  for (const k of bitmaps) await deleteItem(fs, root, k);
  for (const [s, l] of bg.fstExtents!.ranges()) await insertItem(fs, root, extentKey(s, l), EMPTY);
  await updateItem(fs, root, infoKey(bg), (dv) => {
    dv.setUint32(FreeSpaceInfo.off.extentCount, bg.fstExtents!.count, true);
    dv.setUint32(FreeSpaceInfo.off.flags, dv.getUint32(FreeSpaceInfo.off.flags, true) & ~FREE_SPACE_USING_BITMAPS, true);
  });
  bg.fstUsesBitmaps = false;
}

/** [start, start+len) is now allocated (remove_from_free_space_tree). */
export async function removeFromFreeSpaceTree(fs: FsInfo, start: number, len: number): Promise<void> {
  const root = fs.freeSpaceTree;
  if (!root) return;
  const bg = fs.blockGroupOf(start);
  const set = bg.fstExtents;
  if (!set) throw new FsError('EUCLEAN', `free space of block group ${bg.start} was not loaded`);
  if (bg.fstUsesBitmaps) await convertToExtents(fs, bg);
  const r = set.containing(start);
  if (!r || r[0] + r[1] < start + len) {
    throw new FsError('EUCLEAN', `free space tree: [${start}, +${len}) allocated but not free in block group ${bg.start}`);
  }
  const [s, l] = r;
  await deleteItem(fs, root, extentKey(s, l));
  let delta = -1;
  if (start > s) {
    await insertItem(fs, root, extentKey(s, start - s), EMPTY);
    delta++;
  }
  if (start + len < s + l) {
    await insertItem(fs, root, extentKey(start + len, s + l - start - len), EMPTY);
    delta++;
  }
  set.remove(start, len);
  await adjustCount(fs, bg, delta);
}

/** [start, start+len) is free again (add_to_free_space_tree). */
export async function addToFreeSpaceTree(fs: FsInfo, start: number, len: number): Promise<void> {
  const root = fs.freeSpaceTree;
  if (!root) return;
  const bg = fs.blockGroupOf(start);
  const set = bg.fstExtents;
  if (!set) throw new FsError('EUCLEAN', `free space of block group ${bg.start} was not loaded`);
  if (bg.fstUsesBitmaps) await convertToExtents(fs, bg);
  if (set.intersects(start, len)) throw new FsError('EUCLEAN', `free space tree: [${start}, +${len}) freed twice`);
  let newStart = start;
  let newEnd = start + len;
  let delta = 1;
  const left = start > bg.start ? set.endingAt(start) : undefined;
  if (left) {
    await deleteItem(fs, root, extentKey(left[0], left[1]));
    newStart = left[0];
    delta--;
  }
  const right = start + len < bg.end ? set.startingAt(start + len) : undefined;
  if (right) {
    await deleteItem(fs, root, extentKey(right[0], right[1]));
    newEnd = right[0] + right[1];
    delta--;
  }
  await insertItem(fs, root, extentKey(newStart, newEnd - newStart), EMPTY);
  set.add(start, len);
  await adjustCount(fs, bg, delta);
}

/**
 * Reads every block group's free space from the tree (load_free_space_tree): fills
 * bg.fstExtents, and bg.free = that minus superblock stripes and pinned ranges.
 */
export async function loadFreeSpaceTree(fs: FsInfo): Promise<void> {
  const root = fs.freeSpaceTree;
  assert(root, 'no free space tree');
  let bg: BlockGroup | undefined;
  for await (const it of iterItems(fs, root, Key.MIN, Key.MAX)) {
    const k = it.key;
    if (k.type === ItemType.FREE_SPACE_INFO) {
      bg = fs.blockGroups.lookup(k.objectid);
      if (!bg || bg.start !== k.objectid || bg.length !== k.offset) {
        // mkfs.btrfs (6.x) leaves infos of the temporary chunks it removed; btrfs ignores them.
        bg = undefined;
        continue;
      }
      const info = FreeSpaceInfo.decode(viewOf(it.data), 0);
      bg.fstExtents = new RangeSet();
      bg.fstUsesBitmaps = (info.flags & FREE_SPACE_USING_BITMAPS) !== 0;
      continue;
    }
    if (!bg || k.objectid < bg.start || k.objectid >= bg.end) continue;
    const start = k.objectid;
    const len = k.offset;
    if (start + len > bg.end || len <= 0) throw new FsError('EUCLEAN', `free space item ${k} outside its block group`);
    if (k.type === ItemType.FREE_SPACE_EXTENT) {
      bg.fstExtents!.add(start, len);
    } else if (k.type === ItemType.FREE_SPACE_BITMAP) {
      // One bit per sector, set = free.
      const bits = it.data;
      const sectors = len / fs.sectorsize;
      if (bits.length * 8 < sectors) throw new FsError('EUCLEAN', `free space bitmap ${k} too short`);
      let runStart = -1;
      for (let i = 0; i <= sectors; i++) {
        const set = i < sectors && (bits[i >> 3] & (1 << (i & 7))) !== 0;
        if (set && runStart < 0) runStart = i;
        if (!set && runStart >= 0) {
          bg.fstExtents!.add(start + runStart * fs.sectorsize, (i - runStart) * fs.sectorsize);
          runStart = -1;
        }
      }
    }
  }
  for (const g of fs.blockGroups.all()) {
    if (!g.fstExtents) throw new FsError('EUCLEAN', `block group ${g.start} has no free space info`);
    g.free = new RangeSet();
    for (const [s, l] of g.fstExtents.ranges()) g.free.add(s, l);
    for (const r of g.superRanges) g.free.removeAny(r.start, r.length);
  }
}

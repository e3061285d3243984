// The csum tree (the checksum half of btrfs file-item.c): one digest per data sector,
// packed into EXTENT_CSUM items keyed (EXTENT_CSUM_OBJECTID, EXTENT_CSUM, logical start)
// whose data is the digests of consecutive sectors from that address.
//
// Owns: inserting the checksums of newly written data (btrfs_csum_file_blocks: extend the
// item that ends where the new range starts while it has room, else insert items sized to
// the gap before the next item and to MAX_CSUM_ITEMS), looking them up for reads
// (btrfs_lookup_csums_list / btrfs_lookup_bio_sums; the digests reads found are kept until the
// tree changes, below), and deleting those of a freed extent (btrfs_del_csums: whole items,
// truncation at either end, or a split of one item).
//
// It lives in fs/ rather than beside the file extent code in inode/ because the extent tree
// deletes an extent's checksums when the extent's last reference goes (__btrfs_free_extent),
// and fs/ must not import the inode layer.
//
// Invariant the allocator gives us: the checksums of a range are deleted in the commit that
// frees it, and freed space is reused only after that commit, so a freshly allocated range
// has no checksum items; inserting never has to replace digests of someone else's data.
import { Key } from '../format/key.js';
import { ItemType, EXTENT_CSUM_OBJECTID } from '../format/constants.js';
import { u64Hi, u64Lo } from '../format/u64.js';
import { insertItem, deleteItems, extendItem, truncateItem, setItemKeySafe, searchSlot, iterItems, prevLeaf, nextLeaf, forEachItemFromFloor } from '../tree/ctree.js';
import { ITEM_SIZE, leafDataSize } from '../tree/extent-buffer.js';
import { csumSizeBytes } from '../kernels/checksum.js';
import { FsError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import type { FsInfo } from './fs-info.js';

/** The kernel's PAGE_SIZE in MAX_CSUM_ITEMS (a count of digests there, oddly, but so it is). */
const PAGE_SIZE = 4096;

/** MAX_CSUM_ITEMS: most digests one csum item holds. */
export function maxCsumItems(fs: FsInfo): number {
  const size = csumSizeBytes(fs.csum);
  return Math.min(Math.floor((leafDataSize(fs.nodesize) - ITEM_SIZE * 2) / size) - 1, PAGE_SIZE);
}

function csumKey(bytenr: number): Key {
  return Key.of(EXTENT_CSUM_OBJECTID, ItemType.EXTENT_CSUM, bytenr);
}

const CSUM_OBJ_HI = u64Hi(EXTENT_CSUM_OBJECTID);
const CSUM_OBJ_LO = u64Lo(EXTENT_CSUM_OBJECTID);

function isCsumKey(k: Key): boolean {
  return k.objHi === CSUM_OBJ_HI && k.objLo === CSUM_OBJ_LO && k.type === ItemType.EXTENT_CSUM;
}

/** Sectors covered by a csum item of `bytes` bytes; EUCLEAN when not whole digests. */
function itemSectors(fs: FsInfo, key: Key, bytes: number): number {
  const size = csumSizeBytes(fs.csum);
  if (bytes === 0 || bytes % size !== 0) throw new FsError('EUCLEAN', `csum item ${key} has ${bytes} bytes, not whole ${size}-byte digests`);
  return bytes / size;
}

/**
 * The key of the csum item that may cover `bytenr` (the last item at or before it), or
 * undefined. Two searches at most.
 */
async function itemAtOrBefore(fs: FsInfo, bytenr: number): Promise<Key | undefined> {
  const { found, path } = await searchSlot(fs, fs.csumTree, csumKey(bytenr));
  if (found) return path.itemKey();
  if (path.slots[0] > 0) {
    const k = path.leaf.key(path.slots[0] - 1);
    return isCsumKey(k) ? k : undefined;
  }
  if (!(await prevLeaf(fs, fs.csumTree, path))) return undefined;
  if (path.slots[0] >= path.leaf.nritems) return undefined;
  const k = path.leaf.key(path.slots[0]);
  return isCsumKey(k) ? k : undefined;
}

export interface CsumLookup {
  /** The digests of every sector of the range, in order (zero where none was found). */
  csums: Uint8Array;
  /** found[i] is 1 when the digest of sector i was found. */
  found: Uint8Array;
  /** How many sectors had a digest. */
  count: number;
}

// ---- the digests reads looked up, kept while the csum tree does not change
//
// A read looks up its sectors' digests: a search of the csum tree each time. Reads come back to
// the same stretches of the disk (random reads in a file, a file read again, small files whose
// extents sit side by side), so the digests a lookup found are kept, per aligned window of
// CSUM_WINDOW_BYTES of disk addresses (the part of one csum item in that window, copied), and a
// read inside a window kept needs no search. insertCsums and deleteCsums, the only code that
// changes csum items, drop them all first. At most CSUM_WINDOWS_KEPT are kept; beyond that the
// set starts over.

/** Disk bytes per window: 1 MiB, 256 digests of a 4 KiB sector (1 KiB of crc32c, 8 KiB of sha256). */
const CSUM_WINDOW_BYTES = 1024 * 1024;
const CSUM_WINDOWS_KEPT = 256;

interface CsumWindow {
  /** The disk range whose digests `sums` holds, inside one window. */
  readonly start: number;
  readonly end: number;
  readonly sums: Uint8Array;
}

const csumWindows = new WeakMap<FsInfo, Map<number, CsumWindow>>();

/** Forgets the digests kept for reads: the csum tree is about to change. */
function csumTreeChanging(fs: FsInfo): void {
  csumWindows.get(fs)?.clear();
}

/** The digests stored for [bytenr, bytenr + len) (len whole sectors). */
export async function lookupCsums(fs: FsInfo, bytenr: number, len: number): Promise<CsumLookup> {
  const ss = fs.sectorsize;
  const size = csumSizeBytes(fs.csum);
  assert(bytenr % ss === 0 && len % ss === 0 && len > 0, () => `lookupCsums [${bytenr}, +${len}) not whole sectors`);
  const sectors = len / ss;
  const out: CsumLookup = { csums: new Uint8Array(sectors * size), found: new Uint8Array(sectors), count: 0 };
  const end = bytenr + len;
  const win = Math.floor(bytenr / CSUM_WINDOW_BYTES);
  let kept = csumWindows.get(fs);
  const w = kept?.get(win);
  if (w !== undefined && w.start <= bytenr && end <= w.end) {
    out.csums.set(w.sums.subarray(((bytenr - w.start) / ss) * size, ((end - w.start) / ss) * size));
    out.found.fill(1);
    out.count = sectors;
    return out;
  }
  // One search, from the item at or before bytenr (it may cover it), then a walk.
  await forEachItemFromFloor(fs, fs.csumTree, csumKey(bytenr), csumKey(end - 1), (key, data) => {
    if (!isCsumKey(key)) return true;
    const start = key.offset;
    const n = itemSectors(fs, key, data.length);
    const itemEnd = start + n * ss;
    const a = Math.max(start, bytenr);
    const b = Math.min(itemEnd, end);
    if (a >= b) return true;
    const from = (a - start) / ss;
    const to = (a - bytenr) / ss;
    const count = (b - a) / ss;
    out.csums.set(data.subarray(from * size, (from + count) * size), to * size);
    out.found.fill(1, to, to + count);
    out.count += count;
    if (count === sectors) {
      // One item held them all: keep its part in bytenr's window for the next reads there.
      const ws = Math.max(start, win * CSUM_WINDOW_BYTES);
      const we = Math.min(itemEnd, (win + 1) * CSUM_WINDOW_BYTES);
      if (kept === undefined) csumWindows.set(fs, (kept = new Map()));
      if (kept.size >= CSUM_WINDOWS_KEPT) kept.clear();
      kept.set(win, { start: ws, end: we, sums: data.slice(((ws - start) / ss) * size, ((we - start) / ss) * size) });
    }
    // Items cover distinct sectors: once every sector has its digest, the walk is done (no
    // look at the next item, which may be in the next leaf: another descent).
    return out.count < sectors;
  });
  return out;
}

/** Whether any digest exists for [bytenr, bytenr + len) (btrfs_lookup_csums_list != 0). */
export async function csumsExist(fs: FsInfo, bytenr: number, len: number): Promise<boolean> {
  const ss = fs.sectorsize;
  const end = bytenr + len;
  const first = (await itemAtOrBefore(fs, bytenr)) ?? csumKey(bytenr);
  for await (const it of iterItems(fs, fs.csumTree, first, csumKey(end - 1))) {
    const itemEnd = it.key.offset + itemSectors(fs, it.key, it.data.length) * ss;
    if (itemEnd > bytenr) return true;
  }
  return false;
}

/** The start of the first csum item after the path's insertion point, or Infinity. */
async function nextCsumStart(fs: FsInfo, bytenr: number): Promise<number> {
  const { path } = await searchSlot(fs, fs.csumTree, csumKey(bytenr));
  if (path.slots[0] >= path.leaf.nritems && !(await nextLeaf(fs, fs.csumTree, path))) return Infinity;
  const k = path.leaf.key(path.slots[0]);
  return isCsumKey(k) ? k.offset : Infinity;
}

/**
 * btrfs_csum_file_blocks: stores `csums` (the digests of consecutive sectors from `bytenr`).
 * Extends the item ending at `bytenr` when there is one with room, else inserts items as
 * large as the gap to the next item and MAX_CSUM_ITEMS allow.
 */
export async function insertCsums(fs: FsInfo, bytenr: number, csums: Uint8Array): Promise<void> {
  csumTreeChanging(fs);
  const ss = fs.sectorsize;
  const size = csumSizeBytes(fs.csum);
  const max = maxCsumItems(fs);
  assert(bytenr % ss === 0 && csums.length % size === 0, 'insertCsums: bad range');
  const total = csums.length / size;
  let done = 0;
  // Each round stores at least one digest.
  for (let round = 0; done < total; round++) {
    assert(round <= total, 'insertCsums did not progress');
    const cur = bytenr + done * ss;
    const left = total - done;
    const key = csumKey(cur);
    let { found, path } = await searchSlot(fs, fs.csumTree, key, { cow: true });
    // btrfs_lookup_csum: the item starting at cur, or one before it in this leaf that covers
    // cur (overwrite) or ends exactly at cur (extend).
    let slot = found ? path.slots[0] : path.slots[0] - 1;
    if (slot >= 0 && isCsumKey(path.leaf.key(slot))) {
      const leaf = path.leaf;
      const start = leaf.key(slot).offset;
      const n = itemSectors(fs, leaf.key(slot), leaf.itemSize(slot));
      const at = (cur - start) / ss;
      if (at < n) {
        const k = Math.min(left, n - at);
        leaf.data.set(csums.subarray(done * size, (done + k) * size), leaf.itemPtr(slot) + at * size);
        fs.markDirty(leaf);
        done += k;
        continue;
      }
      if (at === n && n < max) {
        if (leaf.leafFreeSpace() < size) {
          // Make room for the extension (search_for_extension) and find the item again.
          ({ found, path } = await searchSlot(fs, fs.csumTree, key, { cow: true, insLen: size }));
          assert(!found, 'csum item appeared at the insertion point');
          slot = path.slots[0] - 1;
        }
        const l2 = path.leaf;
        if (slot >= 0 && isCsumKey(l2.key(slot)) && l2.key(slot).offset === start) {
          // Never grow into the next item (there is none by the allocator's invariant).
          let room = Math.min(left, max - n);
          if (slot + 1 < l2.nritems && isCsumKey(l2.key(slot + 1))) room = Math.min(room, (l2.key(slot + 1).offset - cur) / ss);
          room = Math.min(room, Math.floor(l2.leafFreeSpace() / size));
          if (room > 0) {
            path.slots[0] = slot;
            extendItem(fs, path, room * size);
            l2.data.set(csums.subarray(done * size, (done + room) * size), l2.itemPtr(slot) + n * size);
            fs.markDirty(l2);
            done += room;
            continue;
          }
        }
      }
    }
    // Insert a new item, as large as the gap to the next item allows.
    const next = await nextCsumStart(fs, cur);
    const k = Math.max(1, Math.min(left, max, Math.floor((next - cur) / ss)));
    await insertItem(fs, fs.csumTree, key, csums.subarray(done * size, (done + k) * size));
    done += k;
  }
}

/**
 * btrfs_del_csums: removes the digests of [bytenr, bytenr + len): items inside go, items
 * overlapping an end are truncated, an item spanning the whole range is split in two.
 * Walks backwards from the end, one item per round.
 */
export async function deleteCsums(fs: FsInfo, bytenr: number, len: number): Promise<void> {
  csumTreeChanging(fs);
  const ss = fs.sectorsize;
  const size = csumSizeBytes(fs.csum);
  assert(bytenr % ss === 0 && len % ss === 0, 'deleteCsums: bad range');
  const end = bytenr + len;
  // Each round deletes or trims at least one item inside the range: bounded by the items
  // there, which cover distinct sectors.
  for (let round = 0; round <= len / ss + 1; round++) {
    const { found, path } = await searchSlot(fs, fs.csumTree, csumKey(end - 1), { cow: true, insLen: -1 });
    if (!found) {
      if (path.slots[0] === 0) return;
      path.slots[0]--;
    }
    const leaf = path.leaf;
    const key = path.itemKey();
    if (!isCsumKey(key)) return;
    const start = key.offset;
    if (start >= end) return;
    const n = itemSectors(fs, key, leaf.itemSize(path.slots[0]));
    const itemEnd = start + n * ss;
    if (itemEnd <= bytenr) return;
    if (start >= bytenr && itemEnd <= end) {
      // Inside the range: delete it with the items before it in this leaf that are too.
      let first = path.slots[0];
      while (first > 0) {
        const pk = leaf.key(first - 1);
        if (!isCsumKey(pk) || pk.offset < bytenr) break;
        first--;
      }
      const firstStart = leaf.key(first).offset;
      await deleteItems(fs, path, first, path.slots[0] - first + 1);
      if (firstStart === bytenr) return;
    } else if (start < bytenr && itemEnd > end) {
      // The range is in the middle: keep the head in this item, the tail in a new one.
      const tail = leaf.itemData(path.slots[0]).slice(((end - start) / ss) * size);
      truncateItem(fs, path, ((bytenr - start) / ss) * size, true);
      await insertItem(fs, fs.csumTree, csumKey(end), tail);
      return;
    } else if (start < bytenr) {
      // truncate_one_csum: the item runs into the range from the left.
      truncateItem(fs, path, ((bytenr - start) / ss) * size, true);
      return;
    } else {
      // The item runs out of the range to the right: drop its head.
      truncateItem(fs, path, ((itemEnd - end) / ss) * size, false);
      setItemKeySafe(fs, path, csumKey(end));
    }
  }
  throw new FsError('EUCLEAN', `deleting csums of [${bytenr}, +${len}) did not finish`);
}

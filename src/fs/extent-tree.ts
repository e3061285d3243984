// The extent tree (btrfs extent-tree.c, delayed-ref.c): every allocated extent has an
// EXTENT_ITEM / METADATA_ITEM with its references; every block group a BLOCK_GROUP_ITEM.
//
// Reference changes are not applied when they happen: they are queued as delayed refs,
// merged per extent (a block allocated and freed in one transaction nets to nothing), and
// applied at commit, where applying them changes the extent and free space trees, which
// queues more refs, until nothing is left (btrfs_run_delayed_refs(-1) with
// btrfs_write_dirty_block_groups).
//
// Tree blocks: refs of their owning tree (TREE_BLOCK_REF in a skinny METADATA_ITEM).
// Data extents: EXTENT_ITEM (bytenr, 168, length) flagged DATA with EXTENT_DATA_REFs
// (root, inode, file offset - extent offset, count), inline in the item while they fit and
// no keyed backref item exists for the extent, else as keyed EXTENT_DATA_REF items
// (bytenr, 178, hash_extent_data_ref) (btrfs insert_inline_extent_backref /
// insert_extent_data_ref). Inline refs are ordered as btrfs orders them: by type, and data
// refs of one type by descending hash (lookup_inline_extent_backref's insertion point).
// When a data extent's last ref goes, its item, its checksums (csum-tree.ts) and its space go
// (__btrfs_free_extent); the space stays pinned until the commit that freed it is on disk.
// Shared refs (snapshots: SHARED_BLOCK_REF / SHARED_DATA_REF) come with the issues that need them.
import { Key } from '../format/key.js';
import { ItemType, EXTENT_FLAG_TREE_BLOCK, EXTENT_FLAG_DATA, IncompatFlags, MAX_LEVEL } from '../format/constants.js';
import { ExtentItem, ExtentInlineRef, ExtentDataRef, BlockGroupItem } from '../format/structs.js';
import { viewOf } from '../format/struct.js';
import { u64Hi, u64Lo, readU64, writeU64 } from '../format/u64.js';
import { insertItem, deleteItem, deleteItems, extendItem, truncateItem, lookup, searchSlot, type Path } from '../tree/ctree.js';
import { ITEM_SIZE, leafDataSize } from '../tree/extent-buffer.js';
import { crc32c } from '../kernels/checksum.js';
import { FsError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import type { FsInfo } from './fs-info.js';
import { addToFreeSpaceTree, removeFromFreeSpaceTree } from './free-space-tree.js';
import { deleteCsums } from './csum-tree.js';
import { updateItem } from './items.js';

/** Who holds a data extent: btrfs_extent_data_ref without its count. */
export interface DataRef {
  /** The subvolume tree holding the file extent item. */
  root: number;
  /** The inode. */
  objectid: number;
  /** File offset of the item minus its offset into the extent (may wrap below 0 as u64). */
  offset: number;
}

export interface DataRefMod extends DataRef {
  /** Net change of this ref's count. */
  count: number;
}

export interface DelayedRefHead {
  bytenr: number;
  numBytes: number;
  /** A data extent (EXTENT_ITEM flagged DATA); else a tree block. */
  isData: boolean;
  /** Tree blocks: level and owning tree. */
  level: number;
  owner: number;
  /** Net change of references. */
  refMod: number;
  /** The extent was allocated in this transaction: its item must be inserted. */
  mustInsert: boolean;
  /** Data extents: net change per (root, inode, offset), in the order first seen. */
  dataRefs: Map<string, DataRefMod> | undefined;
}

const dataRefId = (r: DataRef): string => `${r.root}/${r.objectid}/${r.offset}`;

export class DelayedRefs {
  private heads = new Map<number, DelayedRefHead>();

  get size(): number {
    return this.heads.size;
  }

  addTreeBlock(bytenr: number, numBytes: number, level: number, owner: number, refMod: number, isNew: boolean): void {
    const h = this.heads.get(bytenr);
    if (!h) {
      this.heads.set(bytenr, { bytenr, numBytes, isData: false, level, owner, refMod, mustInsert: isNew, dataRefs: undefined });
      return;
    }
    assert(!h.isData, `tree block ref for data extent ${bytenr}`);
    assert(h.owner === owner, `tree block ${bytenr}: refs from trees ${h.owner} and ${owner} (shared refs not supported yet)`);
    h.refMod += refMod;
    h.mustInsert ||= isNew;
    if (h.refMod === 0 && h.mustInsert) this.heads.delete(bytenr);
  }

  /**
   * Queues `count` (+ or -) references of `ref` to the data extent [bytenr, +numBytes);
   * `isNew` when the extent was just allocated (btrfs_add_delayed_data_ref). Unlike a tree
   * block, a data extent that nets to nothing keeps its head: its checksums must go and its
   * space is pinned, because its bytes were written and csummed.
   */
  addDataRef(bytenr: number, numBytes: number, ref: DataRef, count: number, isNew: boolean): void {
    assert(Number.isInteger(count) && count !== 0, `data ref change ${count}`);
    let h = this.heads.get(bytenr);
    if (!h) {
      h = { bytenr, numBytes, isData: true, level: 0, owner: 0, refMod: 0, mustInsert: isNew, dataRefs: new Map() };
      this.heads.set(bytenr, h);
    }
    assert(h.isData, `data ref for tree block ${bytenr}`);
    assert(h.numBytes === numBytes, `data extent ${bytenr}: refs with lengths ${h.numBytes} and ${numBytes}`);
    h.refMod += count;
    h.mustInsert ||= isNew;
    const id = dataRefId(ref);
    const m = h.dataRefs!.get(id);
    if (m) m.count += count;
    else h.dataRefs!.set(id, { root: ref.root, objectid: ref.objectid, offset: ref.offset, count });
  }

  /** The queued data ref changes of an extent (check_delayed_ref), or undefined. */
  pendingData(bytenr: number): { mustInsert: boolean; refs: DataRefMod[] } | undefined {
    const h = this.heads.get(bytenr);
    if (!h || !h.isData) return undefined;
    return { mustInsert: h.mustInsert, refs: [...h.dataRefs!.values()].filter((r) => r.count !== 0) };
  }

  /** Takes every queued head, sorted by bytenr, leaving the queue empty. */
  take(): DelayedRefHead[] {
    const out = [...this.heads.values()].sort((a, b) => a.bytenr - b.bytenr);
    this.heads.clear();
    return out;
  }
}

const TREE_BLOCK_ITEM_SIZE = ExtentItem.size + ExtentInlineRef.size;
/** An inline EXTENT_DATA_REF: the type byte and a btrfs_extent_data_ref. */
const INLINE_DATA_REF_SIZE = 1 + ExtentDataRef.size;

/** BTRFS_MAX_EXTENT_ITEM_SIZE: an extent item grows by inline refs up to this size. */
export function maxExtentItemSize(nodesize: number): number {
  return (leafDataSize(nodesize) >> 4) - ITEM_SIZE;
}

/** btrfs_extent_inline_ref_size; 0 for a type that is no inline ref. */
function inlineRefSize(type: number): number {
  switch (type) {
    case ItemType.TREE_BLOCK_REF:
    case ItemType.SHARED_BLOCK_REF:
    case ItemType.EXTENT_OWNER_REF:
      return ExtentInlineRef.size;
    case ItemType.EXTENT_DATA_REF:
      return INLINE_DATA_REF_SIZE;
    case ItemType.SHARED_DATA_REF:
      return ExtentInlineRef.size + 4;
    default:
      return 0;
  }
}

const le64Scratch = new Uint8Array(8);
function crcU64(seed: number, n: number): number {
  writeU64(viewOf(le64Scratch), 0, n);
  return crc32c(seed, le64Scratch) >>> 0;
}

/**
 * hash_extent_data_ref: ((u64)crc(root) << 31) ^ crc(inode, offset), as [hi, lo] u32 halves
 * (the value uses all 64 bits). The key offset of a keyed EXTENT_DATA_REF and the order of
 * inline data refs.
 */
export function hashExtentDataRef(root: number, objectid: number, offset: number): [number, number] {
  const high = crcU64(0xffffffff, root);
  const low = crcU64(crcU64(0xffffffff, objectid), offset);
  return [high >>> 1, ((((high & 1) << 31) ^ low) >>> 0)];
}

function compareHash(a: [number, number], b: [number, number]): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
  return 0;
}

function decodeDataRef(dv: DataView, off: number): DataRef & { count: number } {
  return ExtentDataRef.decode(dv, off);
}

function sameRef(a: DataRef, b: DataRef): boolean {
  return a.root === b.root && a.objectid === b.objectid && a.offset === b.offset;
}

/**
 * lookup_inline_extent_backref for an EXTENT_DATA_REF: where `ref` is among the inline refs
 * of a data extent item, or where it would be inserted. Walks at most the item's bytes.
 */
function findInlineDataRef(data: Uint8Array, ref: DataRef, where: string): { found: boolean; ptr: number } {
  const dv = viewOf(data);
  const want = ItemType.EXTENT_DATA_REF;
  const hash = hashExtentDataRef(ref.root, ref.objectid, ref.offset);
  let ptr = ExtentItem.size;
  while (ptr < data.length) {
    const type = data[ptr];
    const size = inlineRefSize(type);
    if (size === 0 || ptr + size > data.length) throw new FsError('EUCLEAN', `${where}: bad inline ref of type ${type} at byte ${ptr}`);
    if (want < type) break;
    if (want > type) {
      ptr += size;
      continue;
    }
    const d = decodeDataRef(dv, ptr + 1);
    if (sameRef(d, ref)) return { found: true, ptr };
    if (compareHash(hashExtentDataRef(d.root, d.objectid, d.offset), hash) < 0) break;
    ptr += size;
  }
  return { found: false, ptr };
}

/** Whether the item after the path's slot is a keyed backref of `bytenr` (find_next_key). */
function nextIsBackrefOf(path: Path, bytenr: number): boolean {
  const leaf = path.leaf;
  let next: Key | undefined;
  if (path.slots[0] + 1 < leaf.nritems) next = leaf.key(path.slots[0] + 1);
  else {
    for (let l = 1; l < MAX_LEVEL && path.nodes[l]; l++) {
      const n = path.nodes[l]!;
      if (path.slots[l] + 1 < n.nritems) {
        next = n.key(path.slots[l] + 1);
        break;
      }
    }
  }
  return next !== undefined && next.objHi === u64Hi(bytenr) && next.objLo === u64Lo(bytenr) && next.type < ItemType.BLOCK_GROUP_ITEM;
}

function dataExtentKey(bytenr: number, numBytes: number): Key {
  return Key.of(bytenr, ItemType.EXTENT_ITEM, numBytes);
}

function keyedDataRefKey(bytenr: number, hash: [number, number]): Key {
  return new Key(u64Hi(bytenr), u64Lo(bytenr), ItemType.EXTENT_DATA_REF, hash[0], hash[1]);
}

/** The next key offset after a hash collision (key.offset++ as u64). */
function nextHash(h: [number, number]): [number, number] {
  return h[1] === 0xffff_ffff ? [(h[0] + 1) >>> 0, 0] : [h[0], h[1] + 1];
}

/** Bound on hash collisions walked for one keyed data ref (each needs a crc32c collision). */
const MAX_HASH_COLLISIONS = 1024;

/** insert_extent_data_ref: adds `count` to the keyed EXTENT_DATA_REF of `ref`, inserting it if absent. */
async function addKeyedDataRef(fs: FsInfo, bytenr: number, ref: DataRef, count: number): Promise<void> {
  let hash = hashExtentDataRef(ref.root, ref.objectid, ref.offset);
  for (let i = 0; i < MAX_HASH_COLLISIONS; i++, hash = nextHash(hash)) {
    const key = keyedDataRefKey(bytenr, hash);
    const old = await lookup(fs, fs.extentTree, key);
    if (!old) {
      const data = new Uint8Array(ExtentDataRef.size);
      ExtentDataRef.encode(viewOf(data), 0, { ...ref, count });
      await insertItem(fs, fs.extentTree, key, data);
      return;
    }
    if (old.length !== ExtentDataRef.size) throw new FsError('EUCLEAN', `extent data ref ${key} has ${old.length} bytes`);
    if (!sameRef(decodeDataRef(viewOf(old), 0), ref)) continue;
    await updateItem(fs, fs.extentTree, key, (dv) => dv.setUint32(ExtentDataRef.off.count, dv.getUint32(ExtentDataRef.off.count, true) + count, true));
    return;
  }
  throw new FsError('EUCLEAN', `data extent ${bytenr}: more than ${MAX_HASH_COLLISIONS} keyed refs collide`);
}

/** lookup_extent_data_ref + remove_extent_data_ref: takes `count` off the keyed ref of `ref`. */
async function dropKeyedDataRef(fs: FsInfo, bytenr: number, ref: DataRef, count: number): Promise<void> {
  let hash = hashExtentDataRef(ref.root, ref.objectid, ref.offset);
  for (let i = 0; i < MAX_HASH_COLLISIONS; i++, hash = nextHash(hash)) {
    const key = keyedDataRefKey(bytenr, hash);
    const { found, path } = await searchSlot(fs, fs.extentTree, key, { cow: true, insLen: -1 });
    if (!found) break;
    const data = path.itemData();
    if (data.length !== ExtentDataRef.size) throw new FsError('EUCLEAN', `extent data ref ${key} has ${data.length} bytes`);
    const d = decodeDataRef(viewOf(data), 0);
    if (!sameRef(d, ref)) continue;
    if (d.count < count) throw new FsError('EUCLEAN', `extent data ref ${key} counts ${d.count}, dropping ${count}`);
    if (d.count === count) {
      await deleteItems(fs, path, path.slots[0], 1);
    } else {
      viewOf(data).setUint32(ExtentDataRef.off.count, d.count - count, true);
      fs.markDirty(path.leaf);
    }
    return;
  }
  throw new FsError('EUCLEAN', `data extent ${bytenr}: no backref for root ${ref.root} inode ${ref.objectid} offset ${ref.offset}`);
}

function readRefs(data: Uint8Array, where: string): number {
  if (data.length < ExtentItem.size) throw new FsError('EUCLEAN', `${where}: extent item of ${data.length} bytes`);
  const dv = viewOf(data);
  if ((readU64(dv, ExtentItem.off.flags) & EXTENT_FLAG_DATA) === 0) throw new FsError('EUCLEAN', `${where}: not a data extent`);
  return readU64(dv, ExtentItem.off.refs);
}

/** __btrfs_inc_extent_ref for a data extent: inline while it fits, else keyed. */
async function addDataRefToExtent(fs: FsInfo, bytenr: number, numBytes: number, ref: DataRef, count: number): Promise<void> {
  const key = dataExtentKey(bytenr, numBytes);
  const where = `data extent ${bytenr}`;
  const { found, path } = await searchSlot(fs, fs.extentTree, key, { cow: true, insLen: INLINE_DATA_REF_SIZE });
  if (!found) throw new FsError('EUCLEAN', `${where}: extent item is missing`);
  const leaf = path.leaf;
  let data = path.itemData();
  const refs = readRefs(data, where);
  const pos = findInlineDataRef(data, ref, where);
  const countOff = 1 + ExtentDataRef.off.count;
  if (pos.found) {
    const dv = viewOf(data);
    dv.setUint32(pos.ptr + countOff, dv.getUint32(pos.ptr + countOff, true) + count, true);
    writeU64(dv, ExtentItem.off.refs, refs + count);
    fs.markDirty(leaf);
    return;
  }
  const oldSize = data.length;
  if (oldSize + INLINE_DATA_REF_SIZE < maxExtentItemSize(fs.nodesize) && !nextIsBackrefOf(path, bytenr)) {
    // setup_inline_extent_backref: open a gap at the insertion point.
    extendItem(fs, path, INLINE_DATA_REF_SIZE);
    data = path.itemData();
    data.copyWithin(pos.ptr + INLINE_DATA_REF_SIZE, pos.ptr, oldSize);
    const dv = viewOf(data);
    data[pos.ptr] = ItemType.EXTENT_DATA_REF;
    ExtentDataRef.encode(dv, pos.ptr + 1, { ...ref, count });
    writeU64(dv, ExtentItem.off.refs, refs + count);
    fs.markDirty(leaf);
    return;
  }
  writeU64(viewOf(data), ExtentItem.off.refs, refs + count);
  fs.markDirty(leaf);
  await addKeyedDataRef(fs, bytenr, ref, count);
}

/** __btrfs_free_extent's ref half: takes `count` refs of `ref` off the extent; returns the refs left. */
async function dropDataRefFromExtent(fs: FsInfo, bytenr: number, numBytes: number, ref: DataRef, count: number): Promise<number> {
  const key = dataExtentKey(bytenr, numBytes);
  const where = `data extent ${bytenr}`;
  let { found, path } = await searchSlot(fs, fs.extentTree, key, { cow: true, insLen: -1 });
  if (!found) throw new FsError('EUCLEAN', `${where}: extent item is missing`);
  let data = path.itemData();
  const pos = findInlineDataRef(data, ref, where);
  if (!pos.found) {
    // A keyed ref: change it first (its own search), then find the extent item again.
    await dropKeyedDataRef(fs, bytenr, ref, count);
    ({ found, path } = await searchSlot(fs, fs.extentTree, key, { cow: true, insLen: -1 }));
    if (!found) throw new FsError('EUCLEAN', `${where}: extent item is missing`);
    data = path.itemData();
  }
  const refs = readRefs(data, where);
  if (refs < count) throw new FsError('EUCLEAN', `${where} has ${refs} refs, dropping ${count}`);
  if (pos.found) {
    // update_inline_extent_backref
    const countOff = pos.ptr + 1 + ExtentDataRef.off.count;
    const dv = viewOf(data);
    const c = dv.getUint32(countOff, true);
    if (c < count) throw new FsError('EUCLEAN', `${where}: inline ref counts ${c}, dropping ${count}`);
    if (c > count) {
      dv.setUint32(countOff, c - count, true);
    } else {
      data.copyWithin(pos.ptr, pos.ptr + INLINE_DATA_REF_SIZE, data.length);
      truncateItem(fs, path, data.length - INLINE_DATA_REF_SIZE, true);
      data = path.itemData();
    }
  }
  const left = refs - count;
  if (left === 0) {
    if (data.length !== ExtentItem.size) throw new FsError('EUCLEAN', `${where}: no refs left but inline refs remain`);
    await deleteItems(fs, path, path.slots[0], 1);
    return 0;
  }
  writeU64(viewOf(data), ExtentItem.off.refs, left);
  fs.markDirty(path.leaf);
  return left;
}

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

async function runTreeHead(fs: FsInfo, h: DelayedRefHead): Promise<void> {
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

/**
 * A data extent lost its last ref (or was allocated and dropped in one transaction, with
 * `inTrees` false): its checksums go, its range is free in the free space tree and the block
 * group, and the space stays pinned until this commit is on disk.
 */
async function freeDataExtent(fs: FsInfo, bytenr: number, numBytes: number, inTrees: boolean): Promise<void> {
  await deleteCsums(fs, bytenr, numBytes);
  if (inTrees) {
    await addToFreeSpaceTree(fs, bytenr, numBytes);
    accountUsed(fs, bytenr, -numBytes);
  }
  fs.blockGroupOf(bytenr).pinned.add(bytenr, numBytes);
}

/**
 * Runs the queued ref changes of one data extent (run_delayed_data_ref): a new extent's item
 * is inserted with its first ref (alloc_reserved_file_extent) and the others added; on an
 * existing one adds run before drops (select_delayed_ref), so refs never pass through 0.
 */
async function runDataHead(fs: FsInfo, h: DelayedRefHead): Promise<void> {
  const refs = [...h.dataRefs!.values()].filter((r) => r.count !== 0);
  if (h.mustInsert) {
    for (const r of refs) assert(r.count > 0, `new data extent ${h.bytenr}: ref (${r.root}, ${r.objectid}, ${r.offset}) dropped below 0`);
    if (refs.length === 0) {
      await freeDataExtent(fs, h.bytenr, h.numBytes, false);
      return;
    }
    const [first, ...rest] = refs;
    const data = new Uint8Array(ExtentItem.size + INLINE_DATA_REF_SIZE);
    const dv = viewOf(data);
    ExtentItem.encode(dv, 0, { refs: first.count, generation: fs.transid, flags: EXTENT_FLAG_DATA });
    data[ExtentItem.size] = ItemType.EXTENT_DATA_REF;
    ExtentDataRef.encode(dv, ExtentItem.size + 1, first);
    await insertItem(fs, fs.extentTree, dataExtentKey(h.bytenr, h.numBytes), data);
    accountUsed(fs, h.bytenr, h.numBytes);
    await removeFromFreeSpaceTree(fs, h.bytenr, h.numBytes);
    for (const r of rest) await addDataRefToExtent(fs, h.bytenr, h.numBytes, r, r.count);
    return;
  }
  for (const r of refs) if (r.count > 0) await addDataRefToExtent(fs, h.bytenr, h.numBytes, r, r.count);
  for (const r of refs) {
    if (r.count >= 0) continue;
    const left = await dropDataRefFromExtent(fs, h.bytenr, h.numBytes, r, -r.count);
    if (left === 0) await freeDataExtent(fs, h.bytenr, h.numBytes, true);
  }
}

/** Applies all queued refs. Returns how many heads ran. */
export async function runDelayedRefs(fs: FsInfo): Promise<number> {
  const heads = fs.delayedRefs.take();
  for (const h of heads) {
    if (h.isData) await runDataHead(fs, h);
    else await runTreeHead(fs, h);
  }
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

// The extent tree (btrfs extent-tree.c, delayed-ref.c): every allocated extent has an
// EXTENT_ITEM / METADATA_ITEM with its references; every block group a BLOCK_GROUP_ITEM.
//
// Reference changes are not applied when they happen: they are queued as delayed refs,
// merged per extent and per reference (a block allocated and freed in one transaction nets
// to nothing), and applied at commit, where applying them changes the extent and free space
// trees, which queues more refs, until nothing is left (btrfs_run_delayed_refs(-1) with
// btrfs_write_dirty_block_groups). Extent flag changes (FULL_BACKREF) are delayed with them
// (btrfs_set_disk_extent_flags, a delayed extent op).
//
// References (btrfs's "back reference rules", extent-tree.c):
//  * tree blocks: TREE_BLOCK_REF(root) — implicit: the block is reached from a block owned by
//    `root` whose extent is not FULL_BACKREF (or from root's ROOT_ITEM) — or
//    SHARED_BLOCK_REF(parent) — the parent block's extent is FULL_BACKREF;
//  * data extents: EXTENT_DATA_REF(root, inode, file offset - extent offset) with a count of
//    file extent items in leaves of that root that are not FULL_BACKREF, or
//    SHARED_DATA_REF(parent leaf) with the count of file extent items in that leaf.
// Refs live inline in the extent item (skinny METADATA_ITEM for tree blocks) while it stays
// under BTRFS_MAX_EXTENT_ITEM_SIZE and no keyed backref item of the extent exists, ordered as
// lookup_inline_extent_backref orders them (by type; within a type by descending root /
// parent, data refs by descending hash: what the kernel's tree-checker demands); else as
// keyed items (bytenr, 176, root), (bytenr, 182, parent), (bytenr, 178, hash) and
// (bytenr, 184, parent).
// When an extent's last ref goes, its item goes, data extents lose their checksums
// (csum-tree.ts), the free space tree and block group get the space back, and the space stays
// pinned until the commit that freed it is on disk (__btrfs_free_extent,
// btrfs_update_block_group).
//
// Snapshots share tree blocks: btrfs_inc_ref / btrfs_dec_ref (modRef here) add or drop the
// references a block holds on its children, either implicit (the block's owner) or full
// (the block itself as parent); update_ref_for_cow (fs-info.ts onCow) and btrfs_drop_snapshot
// (src/subvol/drop-tree.ts) decide which.
import { Key } from '../format/key.js';
import {
  ItemType, EXTENT_FLAG_TREE_BLOCK, EXTENT_FLAG_DATA, IncompatFlags, MAX_LEVEL, FileExtentType, FS_TREE_OBJECTID, FIRST_FREE_OBJECTID,
} from '../format/constants.js';
import { ExtentItem, ExtentInlineRef, ExtentDataRef, BlockGroupItem, FileExtentItem } from '../format/structs.js';
import { viewOf } from '../format/struct.js';
import { u64Hi, u64Lo, readU64, writeU64, compareU64, putU64, putLe32 } from '../format/u64.js';
import { insertItem, insertEmptyItems, deleteItems, extendItem, truncateItem, lookup, searchSlot, type Path } from '../tree/ctree.js';
import type { ExtentBuffer } from '../tree/extent-buffer.js';
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

/**
 * One back reference, as btrfs's delayed ref nodes tell them apart: its type
 * (TREE_BLOCK_REF, SHARED_BLOCK_REF, EXTENT_DATA_REF, SHARED_DATA_REF) and the fields that
 * type uses (root for TREE_BLOCK_REF; parent for the shared ones; root, objectid, offset for
 * EXTENT_DATA_REF); unused fields are 0.
 */
export interface BackRef {
  type: number;
  root: number;
  parent: number;
  objectid: number;
  offset: number;
}

export interface BackRefMod extends BackRef {
  /** Net change of this ref's count (tree block refs: -1, 0 or +1). */
  count: number;
}

export const treeRef = (root: number): BackRef => ({ type: ItemType.TREE_BLOCK_REF, root, parent: 0, objectid: 0, offset: 0 });
export const sharedBlockRef = (parent: number): BackRef => ({ type: ItemType.SHARED_BLOCK_REF, root: 0, parent, objectid: 0, offset: 0 });
export const dataRef = (r: DataRef): BackRef => ({ type: ItemType.EXTENT_DATA_REF, root: r.root, parent: 0, objectid: r.objectid, offset: r.offset });
export const sharedDataRef = (parent: number): BackRef => ({ type: ItemType.SHARED_DATA_REF, root: 0, parent, objectid: 0, offset: 0 });

/** A tree block's ref from `parent` when that block is FULL_BACKREF, else from tree `root`. */
export const blockRef = (root: number, parent: number): BackRef => (parent !== 0 ? sharedBlockRef(parent) : treeRef(root));

const refId = (r: BackRef): string => `${r.type}/${r.root}/${r.parent}/${r.objectid}/${r.offset}`;

/** Past this many refs a head indexes them by refId (linear search below: no allocation). */
const REF_INDEX_FROM = 16;

function findRef(h: DelayedRefHead, ref: BackRef): BackRefMod | undefined {
  if (h.index) return h.index.get(refId(ref));
  for (const r of h.refs) {
    if (r.type === ref.type && r.root === ref.root && r.parent === ref.parent && r.objectid === ref.objectid && r.offset === ref.offset) return r;
  }
  return undefined;
}

export interface DelayedRefHead {
  bytenr: number;
  numBytes: number;
  /** A data extent (EXTENT_ITEM flagged DATA); else a tree block. */
  isData: boolean;
  /** Tree blocks: level. */
  level: number;
  /** Net change of references. */
  refMod: number;
  /** The extent was allocated in this transaction: its item must be inserted. */
  mustInsert: boolean;
  /** Net change per reference, in the order first seen (btrfs merges per ref the same way). */
  refs: BackRefMod[];
  /** refs by refId, built once a head has many refs (most have one or two). */
  index: Map<string, BackRefMod> | undefined;
  /** Extent flags to set (a delayed extent op: BLOCK_FLAG_FULL_BACKREF). */
  flagsToSet: number;
}

export class DelayedRefs {
  private heads = new Map<number, DelayedRefHead>();
  /**
   * qgroups (src/subvol/qgroup.ts, while enabled): told of every extent whose refs a
   * subvolume tree changes (btrfs_qgroup_trace_extent from add_delayed_ref_head).
   */
  trace: ((bytenr: number, numBytes: number) => void) | undefined;

  get size(): number {
    return this.heads.size;
  }

  private head(bytenr: number, numBytes: number, isData: boolean, level: number): DelayedRefHead {
    let h = this.heads.get(bytenr);
    if (!h) {
      h = { bytenr, numBytes, isData, level, refMod: 0, mustInsert: false, refs: [], index: undefined, flagsToSet: 0 };
      this.heads.set(bytenr, h);
    }
    assert(h.isData === isData, () => `extent ${bytenr}: ${isData ? 'data' : 'tree block'} ref for a ${h.isData ? 'data extent' : 'tree block'}`);
    assert(h.numBytes === numBytes, () => `extent ${bytenr}: refs with lengths ${h.numBytes} and ${numBytes}`);
    if (!isData) assert(h.level === level, () => `tree block ${bytenr}: refs at levels ${h.level} and ${level}`);
    return h;
  }

  private mod(h: DelayedRefHead, ref: BackRef, count: number): void {
    // ---- qgroups: data refs and refs of subvolume tree blocks (shared refs only exist there).
    if (this.trace && (h.isData || ref.type === ItemType.SHARED_BLOCK_REF || isShareableRoot(ref.root))) this.trace(h.bytenr, h.numBytes);
    const m = findRef(h, ref);
    if (m) {
      m.count += count;
    } else {
      const r: BackRefMod = { type: ref.type, root: ref.root, parent: ref.parent, objectid: ref.objectid, offset: ref.offset, count };
      h.refs.push(r);
      if (h.index) h.index.set(refId(r), r);
      else if (h.refs.length > REF_INDEX_FROM) h.index = new Map(h.refs.map((x) => [refId(x), x]));
    }
    h.refMod += count;
  }

  /**
   * Queues a change (+1 / -1) of a tree block's ref (btrfs_add_delayed_tree_ref); `isNew`
   * when the block was just allocated (its extent item is inserted with this ref).
   */
  addTreeRef(bytenr: number, numBytes: number, level: number, ref: BackRef, refMod: number, isNew = false): void {
    assert(ref.type === ItemType.TREE_BLOCK_REF || ref.type === ItemType.SHARED_BLOCK_REF, () => `tree block ${bytenr}: ref type ${ref.type}`);
    assert(refMod === 1 || refMod === -1, () => `tree block ${bytenr}: ref change ${refMod}`);
    const h = this.head(bytenr, numBytes, false, level);
    this.mod(h, ref, refMod);
    h.mustInsert ||= isNew;
    const m = findRef(h, ref)!;
    assert(m.count >= -1 && m.count <= 1, () => `tree block ${bytenr}: ref ${refId(ref)} changed by ${m.count}`);
    // A block allocated and freed in one transaction nets to nothing (check_ref_cleanup).
    if (h.mustInsert && h.refMod === 0 && h.refs.every((r) => r.count === 0)) this.heads.delete(bytenr);
  }

  /** TREE_BLOCK_REF of `owner`: the ref a tree holds on its own blocks. */
  addTreeBlock(bytenr: number, numBytes: number, level: number, owner: number, refMod: number, isNew: boolean): void {
    this.addTreeRef(bytenr, numBytes, level, treeRef(owner), refMod, isNew);
  }

  /**
   * Queues `count` (+ or -) references to the data extent [bytenr, +numBytes)
   * (btrfs_add_delayed_data_ref): an EXTENT_DATA_REF for a DataRef, or any data BackRef;
   * `isNew` when the extent was just allocated. Unlike a tree block, a data extent that nets
   * to nothing keeps its head: its checksums must go and its space is pinned, because its
   * bytes were written and csummed.
   */
  addDataRef(bytenr: number, numBytes: number, ref: DataRef | BackRef, count: number, isNew: boolean): void {
    assert(Number.isInteger(count) && count !== 0, () => `data ref change ${count}`);
    const r: BackRef = 'type' in ref ? ref : dataRef(ref);
    assert(r.type === ItemType.EXTENT_DATA_REF || r.type === ItemType.SHARED_DATA_REF, () => `data extent ${bytenr}: ref type ${r.type}`);
    const h = this.head(bytenr, numBytes, true, 0);
    this.mod(h, r, count);
    h.mustInsert ||= isNew;
  }

  /** btrfs_set_disk_extent_flags: `flags` are ORed into the extent item at commit. */
  setExtentFlags(bytenr: number, numBytes: number, level: number, flags: number): void {
    const h = this.head(bytenr, numBytes, false, level);
    h.flagsToSet |= flags;
  }

  /** The queued changes of an extent (btrfs_find_delayed_ref_head), or undefined. */
  headOf(bytenr: number): Readonly<DelayedRefHead> | undefined {
    return this.heads.get(bytenr);
  }

  /**
   * The queued data ref changes of an extent (check_delayed_ref), or undefined. Shared data
   * refs are reported with root, objectid and offset 0: they never match a file's own ref.
   */
  pendingData(bytenr: number): { mustInsert: boolean; refs: DataRefMod[] } | undefined {
    const h = this.heads.get(bytenr);
    if (!h || !h.isData) return undefined;
    const refs = h.refs.filter((r) => r.count !== 0).map((r) => ({ root: r.root, objectid: r.objectid, offset: r.offset, count: r.count }));
    return { mustInsert: h.mustInsert, refs };
  }

  /** Takes every queued head, sorted by bytenr, leaving the queue empty. */
  take(): DelayedRefHead[] {
    const out = [...this.heads.values()].sort((a, b) => a.bytenr - b.bytenr);
    this.heads.clear();
    return out;
  }
}

/** An inline EXTENT_DATA_REF: the type byte and a btrfs_extent_data_ref. */
const INLINE_DATA_REF_SIZE = 1 + ExtentDataRef.size;
/** An inline SHARED_DATA_REF: btrfs_extent_inline_ref and a u32 count. */
const INLINE_SHARED_DATA_REF_SIZE = ExtentInlineRef.size + 4;

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
      return INLINE_SHARED_DATA_REF_SIZE;
    default:
      return 0;
  }
}

const isDataType = (type: number): boolean => type === ItemType.EXTENT_DATA_REF || type === ItemType.SHARED_DATA_REF;

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

function sameDataRef(a: DataRef, b: DataRef): boolean {
  return a.root === b.root && a.objectid === b.objectid && a.offset === b.offset;
}

/** The key offset a non-data-ref inline ref or keyed ref of `ref` carries. */
function refOffset(ref: BackRef): number {
  return ref.type === ItemType.TREE_BLOCK_REF ? ref.root : ref.parent;
}

/**
 * lookup_inline_extent_backref: where `ref` is among the inline refs of an extent item, or
 * where it would be inserted (by type; within a type before the first entry of lower
 * offset / hash). Walks at most the item's bytes.
 */
function findInlineRef(data: Uint8Array, ref: BackRef, where: string): { found: boolean; ptr: number } {
  const dv = viewOf(data);
  const want = ref.type;
  const hash = want === ItemType.EXTENT_DATA_REF ? hashExtentDataRef(ref.root, ref.objectid, ref.offset) : undefined;
  const wantOff = refOffset(ref);
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
    if (type === ItemType.EXTENT_DATA_REF) {
      const d = decodeDataRef(dv, ptr + 1);
      if (sameDataRef(d, ref)) return { found: true, ptr };
      if (compareHash(hashExtentDataRef(d.root, d.objectid, d.offset), hash!) < 0) break;
    } else {
      const off = readU64(dv, ptr + 1);
      if (off === wantOff) return { found: true, ptr };
      if (compareU64(off, wantOff) < 0) break;
    }
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

function skinny(fs: FsInfo): boolean {
  return (fs.sb.incompatFlags & IncompatFlags.SKINNY_METADATA) !== 0;
}

/** The key of an extent's item: (bytenr, EXTENT_ITEM, length) for data, (bytenr, METADATA_ITEM, level) for tree blocks. */
function extentKey(bytenr: number, numBytes: number, isData: boolean, level: number): Key {
  return isData ? Key.of(bytenr, ItemType.EXTENT_ITEM, numBytes) : Key.of(bytenr, ItemType.METADATA_ITEM, level);
}

function extentWhere(isData: boolean, bytenr: number): string {
  return `${isData ? 'data extent' : 'tree block'} ${bytenr}`;
}

function keyedRefKey(bytenr: number, ref: BackRef, hash?: [number, number]): Key {
  if (ref.type === ItemType.EXTENT_DATA_REF) return new Key(u64Hi(bytenr), u64Lo(bytenr), ItemType.EXTENT_DATA_REF, hash![0], hash![1]);
  return Key.of(bytenr, ref.type, refOffset(ref));
}

/** The next key offset after a hash collision (key.offset++ as u64). */
function nextHash(h: [number, number]): [number, number] {
  return h[1] === 0xffff_ffff ? [(h[0] + 1) >>> 0, 0] : [h[0], h[1] + 1];
}

/** Bound on hash collisions walked for one keyed data ref (each needs a crc32c collision). */
const MAX_HASH_COLLISIONS = 1024;

/** insert_extent_data_ref / insert_tree_block_ref: adds `count` to the keyed ref, inserting it if absent. */
async function addKeyedRef(fs: FsInfo, bytenr: number, ref: BackRef, count: number): Promise<void> {
  if (ref.type === ItemType.TREE_BLOCK_REF || ref.type === ItemType.SHARED_BLOCK_REF) {
    assert(count === 1, () => `tree block ${bytenr}: keyed ref added ${count} times`);
    const key = keyedRefKey(bytenr, ref);
    if (await lookup(fs, fs.extentTree, key)) throw new FsError('EUCLEAN', `tree block ${bytenr}: keyed backref ${key} exists already`);
    await insertItem(fs, fs.extentTree, key, new Uint8Array(0));
    return;
  }
  if (ref.type === ItemType.SHARED_DATA_REF) {
    const key = keyedRefKey(bytenr, ref);
    const old = await lookup(fs, fs.extentTree, key);
    if (!old) {
      const data = new Uint8Array(4);
      viewOf(data).setUint32(0, count, true);
      await insertItem(fs, fs.extentTree, key, data);
      return;
    }
    if (old.length !== 4) throw new FsError('EUCLEAN', `shared data ref ${key} has ${old.length} bytes`);
    await updateItem(fs, fs.extentTree, key, (dv) => dv.setUint32(0, dv.getUint32(0, true) + count, true));
    return;
  }
  let hash = hashExtentDataRef(ref.root, ref.objectid, ref.offset);
  for (let i = 0; i < MAX_HASH_COLLISIONS; i++, hash = nextHash(hash)) {
    const key = keyedRefKey(bytenr, ref, hash);
    const old = await lookup(fs, fs.extentTree, key);
    if (!old) {
      const data = new Uint8Array(ExtentDataRef.size);
      ExtentDataRef.encode(viewOf(data), 0, { root: ref.root, objectid: ref.objectid, offset: ref.offset, count });
      await insertItem(fs, fs.extentTree, key, data);
      return;
    }
    if (old.length !== ExtentDataRef.size) throw new FsError('EUCLEAN', `extent data ref ${key} has ${old.length} bytes`);
    if (!sameDataRef(decodeDataRef(viewOf(old), 0), ref)) continue;
    await updateItem(fs, fs.extentTree, key, (dv) => dv.setUint32(ExtentDataRef.off.count, dv.getUint32(ExtentDataRef.off.count, true) + count, true));
    return;
  }
  throw new FsError('EUCLEAN', `data extent ${bytenr}: more than ${MAX_HASH_COLLISIONS} keyed refs collide`);
}

/** lookup_extent_data_ref / lookup_tree_block_ref + remove_extent_backref for a keyed ref. */
async function dropKeyedRef(fs: FsInfo, bytenr: number, ref: BackRef, count: number): Promise<void> {
  const where = extentWhere(isDataType(ref.type), bytenr);
  let hash = ref.type === ItemType.EXTENT_DATA_REF ? hashExtentDataRef(ref.root, ref.objectid, ref.offset) : undefined;
  const tries = hash ? MAX_HASH_COLLISIONS : 1;
  for (let i = 0; i < tries; i++) {
    const key = keyedRefKey(bytenr, ref, hash);
    const { found, path } = await searchSlot(fs, fs.extentTree, key, { cow: true, insLen: -1 });
    if (!found) break;
    const data = path.itemData();
    let have: number;
    if (ref.type === ItemType.TREE_BLOCK_REF || ref.type === ItemType.SHARED_BLOCK_REF) {
      if (data.length !== 0) throw new FsError('EUCLEAN', `tree block backref ${key} has ${data.length} bytes`);
      have = 1;
    } else if (ref.type === ItemType.SHARED_DATA_REF) {
      if (data.length !== 4) throw new FsError('EUCLEAN', `shared data ref ${key} has ${data.length} bytes`);
      have = viewOf(data).getUint32(0, true);
    } else {
      if (data.length !== ExtentDataRef.size) throw new FsError('EUCLEAN', `extent data ref ${key} has ${data.length} bytes`);
      const d = decodeDataRef(viewOf(data), 0);
      if (!sameDataRef(d, ref)) {
        hash = nextHash(hash!);
        continue;
      }
      have = d.count;
    }
    if (have < count) throw new FsError('EUCLEAN', `backref ${key} counts ${have}, dropping ${count}`);
    if (have === count) {
      await deleteItems(fs, path, path.slots[0], 1);
    } else {
      const countOff = ref.type === ItemType.SHARED_DATA_REF ? 0 : ExtentDataRef.off.count;
      viewOf(data).setUint32(countOff, have - count, true);
      fs.markDirty(path.leaf);
    }
    return;
  }
  throw new FsError('EUCLEAN', `${where}: no backref ${describeRef(ref)}`);
}

export function describeRef(r: BackRef): string {
  switch (r.type) {
    case ItemType.TREE_BLOCK_REF: return `tree block ref root ${r.root}`;
    case ItemType.SHARED_BLOCK_REF: return `shared block ref parent ${r.parent}`;
    case ItemType.EXTENT_DATA_REF: return `extent data ref root ${r.root} inode ${r.objectid} offset ${r.offset}`;
    default: return `shared data ref parent ${r.parent}`;
  }
}

function readExtentRefs(data: Uint8Array, isData: boolean, where: string): number {
  if (data.length < ExtentItem.size) throw new FsError('EUCLEAN', `${where}: extent item of ${data.length} bytes`);
  const dv = viewOf(data);
  const flags = readU64(dv, ExtentItem.off.flags);
  const want = isData ? EXTENT_FLAG_DATA : EXTENT_FLAG_TREE_BLOCK;
  if ((flags & want) === 0) throw new FsError('EUCLEAN', `${where}: extent item flags 0x${flags.toString(16)} lack ${isData ? 'DATA' : 'TREE_BLOCK'}`);
  return readU64(dv, ExtentItem.off.refs);
}

/**
 * Writes an inline ref of `ref` with `count` at `ptr` of an extent item's bytes: byte stores
 * (btrfs_extent_inline_ref, then btrfs_extent_data_ref or the shared ref's count), as every new
 * extent's item carries one.
 */
function writeInlineRef(data: Uint8Array, ptr: number, ref: BackRef, count: number): void {
  data[ptr] = ref.type;
  if (ref.type === ItemType.EXTENT_DATA_REF) {
    const at = ptr + 1;
    putU64(data, at + ExtentDataRef.off.root, ref.root);
    putU64(data, at + ExtentDataRef.off.objectid, ref.objectid);
    putU64(data, at + ExtentDataRef.off.offset, ref.offset);
    putLe32(data, at + ExtentDataRef.off.count, count);
  } else {
    putU64(data, ptr + 1, refOffset(ref));
    if (ref.type === ItemType.SHARED_DATA_REF) putLe32(data, ptr + ExtentInlineRef.size, count);
  }
}

/** A new extent item's head (btrfs_extent_item: refs, generation, flags) by byte stores. */
function writeExtentItemHead(data: Uint8Array, refs: number, generation: number, flags: number): void {
  putU64(data, ExtentItem.off.refs, refs);
  putU64(data, ExtentItem.off.generation, generation);
  putU64(data, ExtentItem.off.flags, flags);
}

/** Byte offset of the count of the inline ref at `ptr` (data refs only). */
function inlineCountOff(type: number, ptr: number): number {
  return type === ItemType.EXTENT_DATA_REF ? ptr + 1 + ExtentDataRef.off.count : ptr + ExtentInlineRef.size;
}

/** __btrfs_inc_extent_ref: adds `count` refs of `ref` to an existing extent, inline while it fits, else keyed. */
async function addRefToExtent(fs: FsInfo, h: DelayedRefHead, ref: BackRef, count: number): Promise<void> {
  const key = extentKey(h.bytenr, h.numBytes, h.isData, h.level);
  const where = extentWhere(h.isData, h.bytenr);
  const size = inlineRefSize(ref.type);
  const { found, path } = await searchSlot(fs, fs.extentTree, key, { cow: true, insLen: size });
  if (!found) throw new FsError('EUCLEAN', `${where}: extent item ${key} is missing`);
  const leaf = path.leaf;
  let data = path.itemData();
  const refs = readExtentRefs(data, h.isData, where);
  const pos = findInlineRef(data, ref, where);
  if (pos.found) {
    if (!isDataType(ref.type)) throw new FsError('EUCLEAN', `${where}: adding ${describeRef(ref)}, which exists already`);
    const dv = viewOf(data);
    const c = inlineCountOff(ref.type, pos.ptr);
    dv.setUint32(c, dv.getUint32(c, true) + count, true);
    writeU64(dv, ExtentItem.off.refs, refs + count);
    fs.markDirty(leaf);
    return;
  }
  const oldSize = data.length;
  if (oldSize + size < maxExtentItemSize(fs.nodesize) && !nextIsBackrefOf(path, h.bytenr)) {
    // setup_inline_extent_backref: open a gap at the insertion point.
    extendItem(fs, path, size);
    data = path.itemData();
    data.copyWithin(pos.ptr + size, pos.ptr, oldSize);
    writeInlineRef(data, pos.ptr, ref, count);
    writeU64(viewOf(data), ExtentItem.off.refs, refs + count);
    fs.markDirty(leaf);
    return;
  }
  writeU64(viewOf(data), ExtentItem.off.refs, refs + count);
  fs.markDirty(leaf);
  await addKeyedRef(fs, h.bytenr, ref, count);
}

/** __btrfs_free_extent's ref half: takes `count` refs of `ref` off the extent; returns the refs left (0: the item is gone). */
async function dropRefFromExtent(fs: FsInfo, h: DelayedRefHead, ref: BackRef, count: number): Promise<number> {
  const key = extentKey(h.bytenr, h.numBytes, h.isData, h.level);
  const where = extentWhere(h.isData, h.bytenr);
  let { found, path } = await searchSlot(fs, fs.extentTree, key, { cow: true, insLen: -1 });
  if (!found) throw new FsError('EUCLEAN', `${where}: extent item ${key} is missing`);
  let data = path.itemData();
  const pos = findInlineRef(data, ref, where);
  if (!pos.found) {
    // A keyed ref: change it first (its own search), then find the extent item again.
    await dropKeyedRef(fs, h.bytenr, ref, count);
    ({ found, path } = await searchSlot(fs, fs.extentTree, key, { cow: true, insLen: -1 }));
    if (!found) throw new FsError('EUCLEAN', `${where}: extent item ${key} is missing`);
    data = path.itemData();
  }
  const refs = readExtentRefs(data, h.isData, where);
  if (refs < count) throw new FsError('EUCLEAN', `${where} has ${refs} refs, dropping ${count}`);
  if (pos.found) {
    // update_inline_extent_backref
    const size = inlineRefSize(ref.type);
    const dv = viewOf(data);
    const c = isDataType(ref.type) ? dv.getUint32(inlineCountOff(ref.type, pos.ptr), true) : 1;
    if (c < count) throw new FsError('EUCLEAN', `${where}: inline ${describeRef(ref)} counts ${c}, dropping ${count}`);
    if (c > count) {
      dv.setUint32(inlineCountOff(ref.type, pos.ptr), c - count, true);
    } else {
      data.copyWithin(pos.ptr, pos.ptr + size, data.length);
      truncateItem(fs, path, data.length - size, true);
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

/** run_delayed_extent_op: ORs `flags` into an existing extent item. */
async function setFlagsOnExtent(fs: FsInfo, h: DelayedRefHead, flags: number): Promise<void> {
  const key = extentKey(h.bytenr, h.numBytes, h.isData, h.level);
  const { found, path } = await searchSlot(fs, fs.extentTree, key, { cow: true });
  if (!found) throw new FsError('EUCLEAN', `${extentWhere(h.isData, h.bytenr)}: extent item ${key} is missing for a flags update`);
  const data = path.itemData();
  const dv = viewOf(data);
  writeU64(dv, ExtentItem.off.flags, readU64(dv, ExtentItem.off.flags) | flags);
  fs.markDirty(path.leaf);
}

function accountUsed(fs: FsInfo, bytenr: number, delta: number): void {
  const bg = fs.blockGroupOf(bytenr);
  bg.used += delta;
  assert(bg.used >= 0 && bg.used <= bg.length, () => `block group ${bg.start} used ${bg.used} out of range`);
  bg.dirty = true;
  fs.sb.bytesUsed += delta;
}

/** alloc_reserved_tree_block / alloc_reserved_file_extent: the item of a new extent, with its first ref. */
async function insertNewExtent(fs: FsInfo, h: DelayedRefHead, first: BackRefMod): Promise<void> {
  const data = new Uint8Array(ExtentItem.size + inlineRefSize(first.type));
  const flags = (h.isData ? EXTENT_FLAG_DATA : EXTENT_FLAG_TREE_BLOCK) | h.flagsToSet;
  writeExtentItemHead(data, first.count, fs.transid, flags);
  writeInlineRef(data, ExtentItem.size, first, first.count);
  await insertItem(fs, fs.extentTree, extentKey(h.bytenr, h.numBytes, h.isData, h.level), data);
  accountUsed(fs, h.bytenr, h.numBytes);
  await removeFromFreeSpaceTree(fs, h.bytenr, h.numBytes);
}

/**
 * An extent lost its last ref (do_free_extent_accounting, btrfs_update_block_group): data
 * extents lose their checksums; the range is free in the free space tree and the block
 * group; the space stays pinned until this commit is on disk. `inTrees` false: a data
 * extent allocated and dropped in this transaction, never in the trees.
 */
async function freeExtent(fs: FsInfo, h: DelayedRefHead, inTrees: boolean): Promise<void> {
  if (h.isData) await deleteCsums(fs, h.bytenr, h.numBytes);
  else fs.cache.delete(h.bytenr);
  if (inTrees) {
    await addToFreeSpaceTree(fs, h.bytenr, h.numBytes);
    accountUsed(fs, h.bytenr, -h.numBytes);
  }
  fs.blockGroupOf(h.bytenr).pinned.add(h.bytenr, h.numBytes);
}

/**
 * Runs the queued changes of one extent (btrfs_run_delayed_refs_for_head): a new extent's
 * item is inserted with its first ref and the others added; on an existing one the flags
 * are set, then adds run before drops (select_delayed_ref), so refs never pass through 0.
 */
async function runHead(fs: FsInfo, h: DelayedRefHead): Promise<void> {
  const refs = h.refs.filter((r) => r.count !== 0);
  if (!h.isData) {
    for (const r of refs) assert(r.count === 1 || r.count === -1, `tree block ${h.bytenr}: ${describeRef(r)} changed by ${r.count}`);
  }
  if (h.mustInsert) {
    for (const r of refs) assert(r.count > 0, `new extent ${h.bytenr}: ${describeRef(r)} dropped below 0`);
    if (refs.length === 0) {
      // Allocated and freed in this transaction. A tree block's space went back when it
      // was freed (fs-info.ts); a data extent's bytes were written and csummed.
      if (h.isData) await freeExtent(fs, h, false);
      return;
    }
    if (!h.isData && !skinny(fs)) throw new FsError('EOPNOTSUPP', 'writing to filesystems without skinny-metadata is not supported');
    const [first, ...rest] = refs;
    await insertNewExtent(fs, h, first);
    for (const r of rest) await addRefToExtent(fs, h, r, r.count);
    return;
  }
  if (h.flagsToSet) await setFlagsOnExtent(fs, h, h.flagsToSet);
  for (const r of refs) if (r.count > 0) await addRefToExtent(fs, h, r, r.count);
  for (const r of refs) {
    if (r.count >= 0) continue;
    const left = await dropRefFromExtent(fs, h, r, -r.count);
    if (left === 0) await freeExtent(fs, h, true);
  }
}

/** The one ref a new extent is inserted with, when that is all its head holds (the common case). */
function soleNewRef(fs: FsInfo, h: DelayedRefHead): BackRefMod | undefined {
  if (!h.mustInsert || (!h.isData && !skinny(fs))) return undefined;
  let only: BackRefMod | undefined;
  for (const r of h.refs) {
    if (r.count === 0) continue;
    if (only || r.count < 0 || (!h.isData && r.count !== 1)) return undefined;
    only = r;
  }
  return only;
}

/**
 * How far from heads[i] a run of new extents goes that can be inserted in one batch: each with
 * a single ref, each starting where the previous one ends, in one block group, and none but the
 * last at the block group's start (its BLOCK_GROUP_ITEM key would sort between them). No other
 * extent item can lie between two adjacent new extents, so their items are adjacent keys.
 */
function newExtentRun(fs: FsInfo, heads: DelayedRefHead[], i: number): number {
  if (!soleNewRef(fs, heads[i])) return i + 1;
  const bg = fs.blockGroupOf(heads[i].bytenr);
  const maxBytes = leafDataSize(fs.nodesize) >> 1;
  let bytes = 0;
  let j = i + 1;
  for (; j < heads.length; j++) {
    const prev = heads[j - 1];
    const h = heads[j];
    if (h.bytenr !== prev.bytenr + prev.numBytes || prev.bytenr === bg.start || h.bytenr >= bg.start + bg.length) break;
    const r = soleNewRef(fs, h);
    if (!r) break;
    bytes += ITEM_SIZE + ExtentItem.size + inlineRefSize(r.type);
    if (bytes > maxBytes) break;
  }
  return j;
}

/**
 * insertNewExtent for a run of adjacent new extents (newExtentRun): one batch insert of their
 * items and one free space tree change for the whole range, instead of a search and up to four
 * free space tree changes per extent. Returns false (nothing changed) when the tree disagrees
 * (a key between them): the caller then inserts them one by one.
 */
async function insertNewExtents(fs: FsInfo, run: DelayedRefHead[]): Promise<boolean> {
  const keys: Key[] = [];
  const datas: Uint8Array[] = [];
  for (const h of run) {
    const first = soleNewRef(fs, h)!;
    const data = new Uint8Array(ExtentItem.size + inlineRefSize(first.type));
    const flags = (h.isData ? EXTENT_FLAG_DATA : EXTENT_FLAG_TREE_BLOCK) | h.flagsToSet;
    writeExtentItemHead(data, first.count, fs.transid, flags);
    writeInlineRef(data, ExtentItem.size, first, first.count);
    keys.push(extentKey(h.bytenr, h.numBytes, h.isData, h.level));
    datas.push(data);
  }
  let path: Path;
  try {
    path = await insertEmptyItems(fs, fs.extentTree, keys, datas.map((d) => d.length));
  } catch (e) {
    if (e instanceof FsError && e.code === 'EEXIST') return false;
    throw e;
  }
  const leaf = path.leaf;
  for (let k = 0; k < datas.length; k++) leaf.data.set(datas[k], leaf.itemPtr(path.slots[0] + k));
  fs.markDirty(leaf);
  const start = run[0].bytenr;
  const last = run[run.length - 1];
  const len = last.bytenr + last.numBytes - start;
  for (const h of run) accountUsed(fs, h.bytenr, h.numBytes);
  // One free space change for the whole range when it lies in one free range (it does:
  // the run was allocated from free space that nothing else took); else per extent.
  const free = fs.freeSpaceTree ? fs.blockGroupOf(start).fstExtents?.containing(start) : undefined;
  if (!fs.freeSpaceTree || (free && free[0] + free[1] >= start + len)) await removeFromFreeSpaceTree(fs, start, len);
  else for (const h of run) await removeFromFreeSpaceTree(fs, h.bytenr, h.numBytes);
  return true;
}

/** Applies all queued refs. Returns how many heads ran. */
export async function runDelayedRefs(fs: FsInfo): Promise<number> {
  const heads = fs.delayedRefs.take();
  for (let i = 0; i < heads.length; ) {
    const j = newExtentRun(fs, heads, i);
    if (j > i + 1 && (await insertNewExtents(fs, heads.slice(i, j)))) {
      i = j;
      continue;
    }
    for (; i < j; i++) await runHead(fs, heads[i]);
  }
  return heads.length;
}

export interface ExtentInfo {
  /** References: the extent item's plus the queued changes. */
  refs: number;
  /** Extent flags: the item's plus the queued flag updates. */
  flags: number;
}

/**
 * btrfs_lookup_extent_info for a tree block: its reference count and flags as they will
 * be once the queued refs run. refs 0 when there is neither an item nor a queued ref.
 */
export async function lookupExtentInfo(fs: FsInfo, bytenr: number, level: number): Promise<ExtentInfo> {
  const h = fs.delayedRefs.headOf(bytenr);
  let refs = 0;
  let flags = 0;
  if (!h?.mustInsert) {
    const data = await lookup(fs, fs.extentTree, Key.of(bytenr, ItemType.METADATA_ITEM, level));
    if (data) {
      if (data.length < ExtentItem.size) throw new FsError('EUCLEAN', `tree block ${bytenr}: extent item of ${data.length} bytes`);
      const ei = ExtentItem.decode(viewOf(data), 0);
      refs = ei.refs;
      flags = ei.flags;
    }
  }
  if (h) {
    assert(!h.isData, () => `tree block ${bytenr} has a data extent head`);
    refs += h.refMod;
    flags |= h.flagsToSet;
  }
  return { refs, flags };
}

/** Trees whose blocks snapshots share (btrfs BTRFS_ROOT_SHAREABLE: subvolume trees). */
export function isShareableRoot(id: number): boolean {
  return id === FS_TREE_OBJECTID || id >= FIRST_FREE_OBJECTID;
}

/**
 * __btrfs_mod_ref (btrfs_inc_ref / btrfs_dec_ref): adds (inc) or drops one reference for
 * each child of `buf`: each block pointer of a node, each file extent item with disk bytes
 * of a leaf (leaves only in shareable trees). With `fullBackref` the refs name `buf` as
 * parent (SHARED_BLOCK_REF / SHARED_DATA_REF); else they are implicit refs of buf's owner
 * (TREE_BLOCK_REF / EXTENT_DATA_REF(owner, inode, key offset - extent offset)).
 */
export function modRef(fs: FsInfo, rootId: number, buf: ExtentBuffer, fullBackref: boolean, inc: boolean): void {
  const refRoot = buf.owner;
  const nritems = buf.nritems;
  const level = buf.level;
  if (!isShareableRoot(rootId) && level === 0) return;
  const parent = fullBackref ? buf.bytenr : 0;
  const mod = inc ? 1 : -1;
  const F = FileExtentItem.off;
  for (let i = 0; i < nritems; i++) {
    if (level > 0) {
      fs.delayedRefs.addTreeRef(buf.blockptr(i), fs.nodesize, level - 1, blockRef(refRoot, parent), mod);
      continue;
    }
    const key = buf.key(i);
    if (key.type !== ItemType.EXTENT_DATA) continue;
    const data = buf.itemData(i);
    if (data.length <= F.type) throw new FsError('EUCLEAN', `leaf ${buf.bytenr} slot ${i}: file extent item of ${data.length} bytes`);
    if (data[F.type] === FileExtentType.INLINE) continue;
    if (data.length < FileExtentItem.size) throw new FsError('EUCLEAN', `leaf ${buf.bytenr} slot ${i}: file extent item of ${data.length} bytes`);
    const dv = viewOf(data);
    const diskBytenr = readU64(dv, F.diskBytenr);
    if (diskBytenr === 0) continue;
    const numBytes = readU64(dv, F.diskNumBytes);
    const ref = parent !== 0 ? sharedDataRef(parent) : dataRef({ root: refRoot, objectid: key.objectid, offset: key.offset - readU64(dv, F.offset) });
    fs.delayedRefs.addDataRef(diskBytenr, numBytes, ref, mod, false);
  }
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

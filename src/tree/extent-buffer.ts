// An in-memory tree block (btrfs's extent_buffer): nodesize bytes with typed accessors for
// the header, leaf items and node key pointers. All raw offset math for tree blocks lives
// here; everything else goes through these accessors.
//
// Leaf layout:  [header 101][item 0][item 1]...  free  ...[data 1][data 0]   (data grows down
// from the end; an item's `offset` is relative to the end of the header).
// Node layout:  [header 101][key_ptr 0][key_ptr 1]...
import { Header, Item, KeyPtr } from '../format/structs.js';
import { DISK_KEY_SIZE, Key, compareDiskKey, readDiskKey, writeDiskKey } from '../format/key.js';
import { readU64, writeU64 } from '../format/u64.js';
import { BACKREF_REV_SHIFT, HEADER_FLAG_WRITTEN, HEADER_FLAG_RELOC, MIXED_BACKREF_REV } from '../format/constants.js';
import { viewOf } from '../format/struct.js';
import { assert } from '../util/assert.js';

export const HEADER_SIZE = Header.size;
export const ITEM_SIZE = Item.size;
export const KEY_PTR_SIZE = KeyPtr.size;

const H = Header.off;

/** Items a leaf of `nodesize` can hold at most (all empty items). */
export function maxLeafItems(nodesize: number): number {
  return Math.floor((nodesize - HEADER_SIZE) / ITEM_SIZE);
}
/** Key pointers a node of `nodesize` holds (BTRFS_NODEPTRS_PER_BLOCK). */
export function nodePtrsPerBlock(nodesize: number): number {
  return Math.floor((nodesize - HEADER_SIZE) / KEY_PTR_SIZE);
}
/** Bytes available for items and their data in a leaf (BTRFS_LEAF_DATA_SIZE). */
export function leafDataSize(nodesize: number): number {
  return nodesize - HEADER_SIZE;
}
/** The largest item data a leaf can hold (BTRFS_MAX_ITEM_SIZE). */
export function maxItemSize(nodesize: number): number {
  return leafDataSize(nodesize) - ITEM_SIZE;
}

export class ExtentBuffer {
  readonly dv: DataView;

  constructor(
    /** Logical address of the block. */
    readonly bytenr: number,
    readonly data: Uint8Array,
  ) {
    this.dv = viewOf(data);
  }

  get nodesize(): number {
    return this.data.length;
  }

  // ---- header
  get level(): number { return this.dv.getUint8(H.level); }
  set level(v: number) { this.dv.setUint8(H.level, v); }
  get nritems(): number { return this.dv.getUint32(H.nritems, true); }
  set nritems(v: number) { this.dv.setUint32(H.nritems, v, true); }
  get generation(): number { return readU64(this.dv, H.generation, 'header generation'); }
  set generation(v: number) { writeU64(this.dv, H.generation, v); }
  get owner(): number { return readU64(this.dv, H.owner, 'header owner'); }
  set owner(v: number) { writeU64(this.dv, H.owner, v); }
  get headerBytenr(): number { return readU64(this.dv, H.bytenr, 'header bytenr'); }
  set headerBytenr(v: number) { writeU64(this.dv, H.bytenr, v); }
  /** Low 32 bits of the header flags (WRITTEN, RELOC). */
  get flagsLo(): number { return this.dv.getUint32(H.flagsLo, true); }
  set flagsLo(v: number) { this.dv.setUint32(H.flagsLo, v >>> 0, true); }
  get backrefRev(): number { return this.dv.getUint8(H.flagsLo + BACKREF_REV_SHIFT / 8); }
  set backrefRev(v: number) { this.dv.setUint8(H.flagsLo + BACKREF_REV_SHIFT / 8, v); }
  get written(): boolean { return (this.flagsLo & HEADER_FLAG_WRITTEN) !== 0; }
  get reloc(): boolean { return (this.flagsLo & HEADER_FLAG_RELOC) !== 0; }
  get fsid(): Uint8Array { return this.data.subarray(H.fsid, H.fsid + 16); }
  get chunkTreeUuid(): Uint8Array { return this.data.subarray(H.chunkTreeUuid, H.chunkTreeUuid + 16); }
  get isLeaf(): boolean { return this.level === 0; }

  // ---- keys (leaf item keys and node key pointers share the first 17 bytes)
  keyOffset(slot: number): number {
    return HEADER_SIZE + slot * (this.level === 0 ? ITEM_SIZE : KEY_PTR_SIZE);
  }
  key(slot: number): Key {
    return readDiskKey(this.dv, this.keyOffset(slot));
  }
  /** The type byte of the key at `slot` (after the 8-byte objectid). */
  keyType(slot: number): number {
    return this.data[this.keyOffset(slot) + 8];
  }
  setKey(slot: number, k: Key): void {
    writeDiskKey(this.dv, this.keyOffset(slot), k);
  }
  compareKey(slot: number, k: Key): number {
    return compareDiskKey(this.dv, this.keyOffset(slot), k);
  }

  /**
   * Binary search for `k` among the first nritems keys: returns [found, slot] where slot is
   * the match or the insertion point (btrfs's generic_bin_search).
   */
  binSearch(k: Key): [boolean, number] {
    const stride = this.level === 0 ? ITEM_SIZE : KEY_PTR_SIZE;
    const dv = this.dv;
    let lo = 0;
    let hi = this.nritems;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareDiskKey(dv, HEADER_SIZE + mid * stride, k);
      if (c < 0) lo = mid + 1;
      else if (c > 0) hi = mid;
      else return [true, mid];
    }
    return [false, lo];
  }

  /**
   * Takes `src`'s contents while keeping this (newly allocated) block's identity: its bytenr,
   * fsid and chunk tree uuid; the checksum cleared (computed at write), generation
   * `generation`, no WRITTEN / RELOC flag, the mixed backref revision, owner `owner`
   * (btrfs_cow_block and btrfs_copy_root: copy_extent_buffer_full, then the header fixups).
   */
  copyContentsFrom(src: ExtentBuffer, generation: number, owner: number): void {
    assert(src.nodesize === this.nodesize, 'copy between blocks of different sizes');
    const fsid = this.data.slice(H.fsid, H.fsid + 16);
    const chunkUuid = this.data.slice(H.chunkTreeUuid, H.chunkTreeUuid + 16);
    this.data.set(src.data);
    this.data.fill(0, H.csum, H.csum + 32);
    this.data.set(fsid, H.fsid);
    this.data.set(chunkUuid, H.chunkTreeUuid);
    this.headerBytenr = this.bytenr;
    this.generation = generation;
    this.flagsLo = this.flagsLo & ~(HEADER_FLAG_WRITTEN | HEADER_FLAG_RELOC);
    this.backrefRev = MIXED_BACKREF_REV;
    this.owner = owner;
  }

  /** In a node: the slot whose subtree holds `k` (the last key <= k; slot 0 when k is below all). */
  childSlot(k: Key): number {
    const [found, slot] = this.binSearch(k);
    return found || slot === 0 ? slot : slot - 1;
  }

  // ---- leaf items
  itemDataOffset(slot: number): number {
    return this.dv.getUint32(HEADER_SIZE + slot * ITEM_SIZE + DISK_KEY_SIZE, true);
  }
  setItemDataOffset(slot: number, v: number): void {
    this.dv.setUint32(HEADER_SIZE + slot * ITEM_SIZE + DISK_KEY_SIZE, v, true);
  }
  itemSize(slot: number): number {
    return this.dv.getUint32(HEADER_SIZE + slot * ITEM_SIZE + DISK_KEY_SIZE + 4, true);
  }
  setItemSize(slot: number, v: number): void {
    this.dv.setUint32(HEADER_SIZE + slot * ITEM_SIZE + DISK_KEY_SIZE + 4, v, true);
  }
  /** Absolute offset in the block where item `slot`'s data starts. */
  itemPtr(slot: number): number {
    return HEADER_SIZE + this.itemDataOffset(slot);
  }
  /** A view (not a copy) of item `slot`'s data. */
  itemData(slot: number): Uint8Array {
    const p = this.itemPtr(slot);
    return this.data.subarray(p, p + this.itemSize(slot));
  }
  /** Bytes used by items and their data (btrfs's leaf_space_used over all items). */
  leafUsedBytes(): number {
    const n = this.nritems;
    if (n === 0) return 0;
    return n * ITEM_SIZE + (this.itemDataOffset(0) + this.itemSize(0) - this.itemDataOffset(n - 1));
  }
  /** btrfs_leaf_free_space. */
  leafFreeSpace(): number {
    return leafDataSize(this.nodesize) - this.leafUsedBytes();
  }
  /** Offset (relative to header end) where item data of the last item begins: data end of the leaf. */
  leafDataEnd(): number {
    const n = this.nritems;
    return n === 0 ? leafDataSize(this.nodesize) : this.itemDataOffset(n - 1);
  }

  // ---- node key pointers
  blockptr(slot: number): number {
    return readU64(this.dv, HEADER_SIZE + slot * KEY_PTR_SIZE + DISK_KEY_SIZE, 'key_ptr blockptr');
  }
  setBlockptr(slot: number, v: number): void {
    writeU64(this.dv, HEADER_SIZE + slot * KEY_PTR_SIZE + DISK_KEY_SIZE, v);
  }
  ptrGeneration(slot: number): number {
    return readU64(this.dv, HEADER_SIZE + slot * KEY_PTR_SIZE + DISK_KEY_SIZE + 8, 'key_ptr generation');
  }
  setPtrGeneration(slot: number, v: number): void {
    writeU64(this.dv, HEADER_SIZE + slot * KEY_PTR_SIZE + DISK_KEY_SIZE + 8, v);
  }

  /** Moves `len` bytes inside the block (memmove). */
  move(dst: number, src: number, len: number): void {
    if (len > 0) this.data.copyWithin(dst, src, src + len);
  }
}

/** Fills a fresh block's header (everything but the checksum, written at commit). */
export function initHeader(
  eb: ExtentBuffer,
  h: { level: number; generation: number; owner: number; fsid: Uint8Array; chunkTreeUuid: Uint8Array },
): void {
  assert(h.fsid.length === 16 && h.chunkTreeUuid.length === 16, 'uuid sizes');
  eb.data.fill(0, 0, HEADER_SIZE);
  eb.headerBytenr = eb.bytenr;
  eb.level = h.level;
  eb.generation = h.generation;
  eb.owner = h.owner;
  eb.nritems = 0;
  eb.flagsLo = 0;
  eb.backrefRev = 1;
  eb.data.set(h.fsid, H.fsid);
  eb.data.set(h.chunkTreeUuid, H.chunkTreeUuid);
}

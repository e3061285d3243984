// The copy-on-write B-tree (btrfs ctree.c): search, COW of a path, insert, delete, split,
// push, merge, grow and shrink, item resize, leaf walking.
//
// Owns the shape of every tree: which items live in which leaf, which pointers in which
// node, and the root block of each TreeRoot. It does no I/O, allocation or reference
// counting itself: blocks come from and go back to a TreeHost (tree-host.ts).
//
// API (all async functions take the host first; `root` is the tree, modified in place):
//   class Path { nodes: (ExtentBuffer|undefined)[]; slots: number[]; root?: TreeRoot }   (path.ts)
//   searchSlot(host, root, key, { insLen = 0, cow = false } = {}): Promise<{ found: boolean; path: Path }>
//   insertEmptyItems(host, root, keys: Key[], sizes: number[]): Promise<Path>   (path.slots[0] = first new item)
//   insertEmptyItem(host, root, key, size): Promise<Path>
//   insertItem(host, root, key, data: Uint8Array): Promise<Path>
//   deleteItems(host, path, slot, nr): Promise<void>          (path comes from a COW search with insLen -1)
//   deleteItem(host, root, key): Promise<void>               (ENOENT when absent)
//   replaceLeafItems(host, path, slot, nr, keys, sizes): void (items of one leaf swapped for others in place)
//   extendItem(host, path, dataSize): void                   (after a COW search with insLen >= dataSize)
//   truncateItem(host, path, newSize, fromEnd): void          (fromEnd: keep the start; else keep the end
//                                                             and add the cut bytes to the key offset)
//   nextLeaf(host, root, path): Promise<boolean>  /  prevLeaf(host, root, path): Promise<boolean>
//   iterItems(host, root, minKey, maxKey): AsyncGenerator<{ key, data, leaf, slot }>
//   lookup(host, root, key): Promise<Uint8Array | undefined>     (a copy)
//   cowBlock(host, root, eb, parent, parentSlot): Promise<ExtentBuffer>   (btrfs_cow_block)
//   readNodeSlot(host, root, parent, slot): Promise<ExtentBuffer>        (read_node_slot)
//   fixupLowKeys(host, path, key, level): void                           (btrfs_fixup_low_keys)
//   setItemKeySafe(host, path, key): void                                (btrfs_set_item_key_safe)
//   duplicateItem(host, root, path, newKey): Promise<Path>                (btrfs_duplicate_item)
//
// Invariants of a tree between calls (checked by the tests after every commit):
//  * every block passes checkLeaf / checkNode (tree-checker.ts);
//  * keys ascend strictly across all leaves, left to right;
//  * a node's key for slot i equals the first key of child i, its ptr generation equals the
//    child's header generation, and the child's level is the node's level - 1;
//  * only the root may be an empty leaf; a node never has 0 pointers; depth < MAX_LEVEL;
//  * every block modified in a transaction was COWed first (host.shouldCow false for it),
//    and every block COWed away or emptied is handed to host.freeBlock exactly once.
// Within a COW search, blocks are COWed top-down so a parent is always writable before its
// child's pointer is rewritten. Nodes are pre-split on the way down when fewer than 4
// pointers are free (a leaf split adds at most 2 pointers to its parent, a node split 1),
// and pre-balanced on the way down for deletions, as btrfs does.
//
// Single writer: there are no locks. The kernel's complexity that exists only for locking
// (path locks, skip_locking, keep_locks, re-search after dropping locks) is left out.
import { ItemType, FileExtentType, MAX_LEVEL } from '../format/constants.js';
import { Key, compareKeys } from '../format/key.js';
import { FileExtentHead, FileExtentItem } from '../format/structs.js';
import { assert } from '../util/assert.js';
import { FsError } from '../util/errors.js';
import {
  ExtentBuffer,
  HEADER_SIZE,
  ITEM_SIZE,
  KEY_PTR_SIZE,
  leafDataSize,
  maxItemSize,
  nodePtrsPerBlock,
} from './extent-buffer.js';
import { Path } from './path.js';
import type { CachedItem, ItemCache } from './item-cache.js';
import type { BlockExpectation, DeferredItem, TreeHost, TreeRoot } from './tree-host.js';

export { Path } from './path.js';

export interface SearchOptions {
  /**
   * The caller reads one exact key and has looked among the deferred inserts itself
   * (lookup): the search need not put them into the tree first.
   */
  exactRead?: boolean;
  /**
   * > 0: make room so that this many bytes (item data + item headers) fit in the leaf
   * (split / push on the way down). < 0: the caller will delete; merge underfull nodes on
   * the way down. Non-zero requires cow.
   */
  insLen?: number;
  /** COW every block on the path so the caller may modify them. */
  cow?: boolean;
}

export interface SearchResult {
  found: boolean;
  path: Path;
}

export interface IterItem {
  key: Key;
  /** A view into the leaf, valid until the tree is next modified. */
  data: Uint8Array;
  leaf: ExtentBuffer;
  slot: number;
}

// ---------------------------------------------------------------- small helpers

const itemOff = (slot: number): number => HEADER_SIZE + slot * ITEM_SIZE;
const keyPtrOff = (slot: number): number => HEADER_SIZE + slot * KEY_PTR_SIZE;

/** Copies `len` bytes from `src` at `srcOff` into `dst` at `dstOff` (copy_extent_buffer). */
function copyBytes(dst: ExtentBuffer, dstOff: number, src: ExtentBuffer, srcOff: number, len: number): void {
  if (len > 0) dst.data.set(src.data.subarray(srcOff, srcOff + len), dstOff);
}

/** btrfs_item_data_end: where item `slot`'s data ends (relative to the header end). */
function itemDataEnd(l: ExtentBuffer, slot: number): number {
  return l.itemDataOffset(slot) + l.itemSize(slot);
}

/** leaf_space_used: bytes of items and data used by items start .. start+nr-1. */
function leafSpaceUsed(l: ExtentBuffer, start: number, nr: number): number {
  if (nr === 0) return 0;
  const end = Math.min(l.nritems, start + nr) - 1;
  const used = itemDataEnd(l, start) - l.itemDataOffset(end) + ITEM_SIZE * nr;
  assert(used >= 0, 'leaf space used < 0');
  return used;
}

function isRoot(root: TreeRoot, eb: ExtentBuffer): boolean {
  return root.node.bytenr === eb.bytenr;
}

/**
 * btrfs_mark_buffer_dirty, with the COW discipline asserted: a block may only be modified
 * once it has been COWed in the running transaction.
 */
function dirty(host: TreeHost, root: TreeRoot, eb: ExtentBuffer): void {
  assert(!host.shouldCow(eb, root.objectid), () => `block ${eb.bytenr} modified without COW`);
  host.markDirty(eb);
}

/** Adds `n` (< 2^32) to a key's offset, as u64; EOVERFLOW past 2^64 - 1. */
function keyAddOffset(k: Key, n: number): Key {
  assert(n >= 0 && n < 0x1_0000_0000, 'key offset delta out of range');
  const lo = k.offLo + n;
  const carry = lo >= 0x1_0000_0000 ? 1 : 0;
  const hi = k.offHi + carry;
  if (hi > 0xffff_ffff) throw new FsError('EOVERFLOW', `key ${k} offset + ${n} overflows u64`);
  return new Key(k.objHi, k.objLo, k.type, hi, lo >>> 0);
}

// ---------------------------------------------------------------- reading and COW

/**
 * read_node_slot: child `slot` of node `parent`, verified by the host against what the
 * parent says of it (generation, level, owner, first key).
 */
export async function readNodeSlot(host: TreeHost, root: TreeRoot, parent: ExtentBuffer, slot: number): Promise<ExtentBuffer> {
  assert(parent.level > 0, 'readNodeSlot on a leaf');
  assert(slot >= 0 && slot < parent.nritems, () => `readNodeSlot slot ${slot} out of range`);
  const bytenr = parent.blockptr(slot);
  const expect: BlockExpectation = {
    generation: parent.ptrGeneration(slot),
    level: parent.level - 1,
    owner: root.objectid,
    firstKey: parent.key(slot),
  };
  const eb = host.cachedBlock(bytenr, expect) ?? (await host.readBlock(bytenr, expect));
  // The host verified the block; these two are cheap and keep a broken host from sending
  // the descent somewhere else (a wrong level would let a walk exceed MAX_LEVEL).
  if (eb.level !== parent.level - 1 || eb.bytenr !== bytenr) {
    throw new FsError('EUCLEAN', `child of block ${parent.bytenr} slot ${slot}: have block ${eb.bytenr} level ${eb.level}, expect block ${bytenr} level ${parent.level - 1}`);
  }
  return eb;
}

/**
 * btrfs_cow_block / __btrfs_cow_block: returns `eb` if it may already be modified in the
 * running transaction (should_cow_block), else a copy in a new block that replaces it in
 * the tree (parent pointer or root), after which the old block is freed. `parent` must
 * already be writable; it is undefined exactly when `eb` is the root.
 */
export async function cowBlock(
  host: TreeHost,
  root: TreeRoot,
  eb: ExtentBuffer,
  parent: ExtentBuffer | undefined,
  parentSlot: number,
): Promise<ExtentBuffer> {
  if (!host.shouldCow(eb, root.objectid)) return eb;
  if (host.transid <= 0) throw new FsError('EROFS', `cannot modify tree ${root.objectid}: no running transaction`);
  if (parent === undefined) {
    assert(isRoot(root, eb), () => `COW of block ${eb.bytenr} without parent but it is not the root`);
  } else {
    assert(parent.blockptr(parentSlot) === eb.bytenr, () => `COW: parent ${parent.bytenr} slot ${parentSlot} does not point to ${eb.bytenr}`);
    assert(!host.shouldCow(parent, root.objectid), 'COW: parent not writable');
  }
  const cow = host.allocBlock(root.objectid, eb.level);
  // Everything copied; the copy keeps its own identity (its bytenr, the running generation, our owner).
  cow.copyContentsFrom(eb, host.transid, root.objectid);
  await host.onCow?.(eb, cow, root.objectid);
  if (parent === undefined) {
    root.node = cow;
  } else {
    parent.setBlockptr(parentSlot, cow.bytenr);
    parent.setPtrGeneration(parentSlot, host.transid);
    dirty(host, root, parent);
  }
  host.freeBlock(eb, root.objectid);
  dirty(host, root, cow);
  return cow;
}

// ---------------------------------------------------------------- keys in parents

/**
 * btrfs_fixup_low_keys: after slot 0 of path.nodes[level - 1] changed its key, rewrite the
 * key pointing to it in each ancestor, going up while the block is its parent's slot 0.
 */
export function fixupLowKeys(host: TreeHost, path: Path, key: Key, level: number): void {
  const root = path.root;
  assert(root !== undefined, 'fixupLowKeys: path has no root');
  for (let i = level; i < MAX_LEVEL; i++) {
    const t = path.nodes[i];
    if (!t) break;
    const tslot = path.slots[i];
    t.setKey(tslot, key);
    dirty(host, root, t);
    if (tslot !== 0) break;
  }
}

/**
 * btrfs_set_item_key_safe: changes the key of the item at the path's slot, which must stay
 * strictly between its neighbours (EINVAL otherwise). The path must come from a COW search.
 */
export function setItemKeySafe(host: TreeHost, path: Path, key: Key): void {
  const root = path.root;
  assert(root !== undefined, 'setItemKeySafe: path has no root');
  const leaf = path.leaf;
  const slot = path.slots[0];
  assert(slot < leaf.nritems, 'setItemKeySafe: no item at slot');
  if (slot > 0 && leaf.compareKey(slot - 1, key) >= 0) throw new FsError('EINVAL', `new key ${key} not above previous key ${leaf.key(slot - 1)}`);
  if (slot < leaf.nritems - 1 && leaf.compareKey(slot + 1, key) <= 0) throw new FsError('EINVAL', `new key ${key} not below next key ${leaf.key(slot + 1)}`);
  // The next key may live in the next leaf: the parent's key for the next leaf bounds it.
  if (slot === leaf.nritems - 1) {
    for (let l = 1; l < MAX_LEVEL && path.nodes[l]; l++) {
      const n = path.nodes[l]!;
      if (path.slots[l] + 1 < n.nritems) {
        if (n.compareKey(path.slots[l] + 1, key) <= 0) throw new FsError('EINVAL', `new key ${key} not below next key ${n.key(path.slots[l] + 1)}`);
        break;
      }
    }
  }
  forgetItem(root, leaf, slot);
  root.itemCache?.invalidate(key);
  leaf.setKey(slot, key);
  dirty(host, root, leaf);
  if (slot === 0) fixupLowKeys(host, path, key, 1);
}

// ---------------------------------------------------------------- node level operations

/**
 * insert_ptr: inserts a key pointer at `slot` of path.nodes[level], which has room (the
 * search pre-split it). The child is new in this transaction: its ptr generation is transid.
 */
function insertPtr(host: TreeHost, root: TreeRoot, path: Path, key: Key, bytenr: number, slot: number, level: number): void {
  const lower = path.nodes[level];
  assert(lower !== undefined, () => `insertPtr: no node at level ${level}`);
  const nritems = lower.nritems;
  assert(slot <= nritems, 'insertPtr: slot past end');
  assert(nritems < nodePtrsPerBlock(lower.nodesize), () => `insertPtr: node ${lower.bytenr} full`);
  lower.move(keyPtrOff(slot + 1), keyPtrOff(slot), (nritems - slot) * KEY_PTR_SIZE);
  lower.setKey(slot, key);
  lower.setBlockptr(slot, bytenr);
  lower.setPtrGeneration(slot, host.transid);
  lower.nritems = nritems + 1;
  dirty(host, root, lower);
}

/**
 * btrfs_del_ptr: removes pointer `slot` from path.nodes[level]. An emptied root turns into
 * an empty leaf; an emptied non-root node (which balancing should never produce) is removed
 * from its own parent in turn rather than left behind invalid.
 */
function delPtr(host: TreeHost, root: TreeRoot, path: Path, level: number, slot: number): void {
  const parent = path.nodes[level];
  assert(parent !== undefined, () => `delPtr: no node at level ${level}`);
  let nritems = parent.nritems;
  assert(slot < nritems, 'delPtr: slot past end');
  parent.move(keyPtrOff(slot), keyPtrOff(slot + 1), (nritems - slot - 1) * KEY_PTR_SIZE);
  nritems--;
  parent.nritems = nritems;
  dirty(host, root, parent);
  if (nritems === 0) {
    if (isRoot(root, parent)) {
      // Everything below is gone: the root becomes an empty leaf.
      parent.level = 0;
      path.nodes.fill(undefined);
      path.slots.fill(0);
      path.nodes[0] = parent;
    } else {
      assert(path.nodes[level + 1] !== undefined, 'delPtr: non-root node without parent on the path');
      delPtr(host, root, path, level + 1, path.slots[level + 1]);
      host.freeBlock(parent, root.objectid);
    }
  } else if (slot === 0) {
    fixupLowKeys(host, path, parent.key(0), level + 1);
  }
}

/**
 * push_node_left: moves pointers from the start of `src` to the end of `dst` (its left
 * sibling). `empty` allows emptying src. Returns true when something moved.
 */
function pushNodeLeft(host: TreeHost, root: TreeRoot, dst: ExtentBuffer, src: ExtentBuffer, empty: boolean): boolean {
  const srcN = src.nritems;
  const dstN = dst.nritems;
  let push = nodePtrsPerBlock(dst.nodesize) - dstN;
  if (!empty && srcN <= 8) return false;
  if (push <= 0) return false;
  if (empty) {
    push = Math.min(srcN, push);
    if (push < srcN && srcN - push < 8) {
      // Leave at least 8 pointers in src when not emptying it.
      if (push <= 8) return false;
      push -= 8;
    }
  } else {
    push = Math.min(srcN - 8, push);
  }
  copyBytes(dst, keyPtrOff(dstN), src, keyPtrOff(0), push * KEY_PTR_SIZE);
  if (push < srcN) src.move(keyPtrOff(0), keyPtrOff(push), (srcN - push) * KEY_PTR_SIZE);
  src.nritems = srcN - push;
  dst.nritems = dstN + push;
  dirty(host, root, src);
  dirty(host, root, dst);
  return true;
}

/**
 * balance_node_right: moves up to half of `src`'s pointers (from its end) to the start of
 * `dst` (its right sibling), never emptying src. Returns true when something moved.
 */
function balanceNodeRight(host: TreeHost, root: TreeRoot, dst: ExtentBuffer, src: ExtentBuffer): boolean {
  const srcN = src.nritems;
  const dstN = dst.nritems;
  let push = nodePtrsPerBlock(dst.nodesize) - dstN;
  if (push <= 0) return false;
  if (srcN < 4) return false;
  const maxPush = (srcN >> 1) + 1;
  if (maxPush >= srcN) return false;
  if (maxPush < push) push = maxPush;
  dst.move(keyPtrOff(push), keyPtrOff(0), dstN * KEY_PTR_SIZE);
  copyBytes(dst, keyPtrOff(0), src, keyPtrOff(srcN - push), push * KEY_PTR_SIZE);
  src.nritems = srcN - push;
  dst.nritems = dstN + push;
  dirty(host, root, src);
  dirty(host, root, dst);
  return true;
}

/**
 * insert_new_root: the tree grows by one level: a new root at `level` with one pointer to
 * the old root, which is path.nodes[level - 1].
 */
function insertNewRoot(host: TreeHost, root: TreeRoot, path: Path, level: number): void {
  assert(path.nodes[level] === undefined, 'insertNewRoot: level already has a node');
  const lower = path.nodes[level - 1];
  assert(lower !== undefined && isRoot(root, lower), 'insertNewRoot: path top is not the root');
  if (level >= MAX_LEVEL) {
    throw new FsError('EOVERFLOW', `tree ${root.objectid} would grow past ${MAX_LEVEL} levels`);
  }
  assert(lower.nritems > 0, 'insertNewRoot over an empty block');
  assert(lower.generation === host.transid, 'insertNewRoot: old root not COWed');
  const c = host.allocBlock(root.objectid, level);
  assert(c.level === level && c.nritems === 0, 'allocBlock returned a bad header');
  c.setKey(0, lower.key(0));
  c.setBlockptr(0, lower.bytenr);
  c.setPtrGeneration(0, lower.generation);
  c.nritems = 1;
  dirty(host, root, c);
  root.node = c;
  path.nodes[level] = c;
  path.slots[level] = 0;
}

/**
 * push_nodes_for_insert: tries to make room in path.nodes[level] by pushing pointers into
 * a sibling. Returns true when it did (the path then points at the right block).
 */
async function pushNodesForInsert(host: TreeHost, root: TreeRoot, path: Path, level: number): Promise<boolean> {
  const mid = path.nodes[level]!;
  const parent = path.nodes[level + 1];
  if (!parent) return false;
  const pslot = path.slots[level + 1];
  let origSlot = path.slots[level];
  const maxPtrs = nodePtrsPerBlock(mid.nodesize);

  if (pslot > 0) {
    let left = await readNodeSlot(host, root, parent, pslot - 1);
    const leftN = left.nritems;
    if (leftN < maxPtrs - 1) {
      left = await cowBlock(host, root, left, parent, pslot - 1);
      if (pushNodeLeft(host, root, left, mid, false)) {
        origSlot += leftN;
        parent.setKey(pslot, mid.key(0));
        dirty(host, root, parent);
        if (left.nritems > origSlot) {
          path.nodes[level] = left;
          path.slots[level + 1] -= 1;
          path.slots[level] = origSlot;
        } else {
          path.slots[level] = origSlot - left.nritems;
        }
        return true;
      }
    }
  }
  if (pslot + 1 < parent.nritems) {
    let right = await readNodeSlot(host, root, parent, pslot + 1);
    if (right.nritems < maxPtrs - 1) {
      right = await cowBlock(host, root, right, parent, pslot + 1);
      if (balanceNodeRight(host, root, right, mid)) {
        parent.setKey(pslot + 1, right.key(0));
        dirty(host, root, parent);
        if (mid.nritems <= origSlot) {
          path.nodes[level] = right;
          path.slots[level + 1] += 1;
          path.slots[level] = origSlot - mid.nritems;
        }
        return true;
      }
    }
  }
  return false;
}

/**
 * split_node: makes room in path.nodes[level] (nearly full) by pushing to a sibling or
 * splitting it in two; grows the tree when it is the root.
 */
async function splitNode(host: TreeHost, root: TreeRoot, path: Path, level: number): Promise<void> {
  let c = path.nodes[level]!;
  const maxPtrs = nodePtrsPerBlock(c.nodesize);
  if (!path.nodes[level + 1]) {
    insertNewRoot(host, root, path, level + 1);
  } else {
    const pushed = await pushNodesForInsert(host, root, path, level);
    c = path.nodes[level]!;
    if (pushed && c.nritems < maxPtrs - 3) return;
  }
  const n = c.nritems;
  const mid = (n + 1) >> 1;
  const split = host.allocBlock(root.objectid, level);
  assert(split.level === level && split.nritems === 0, 'allocBlock returned a bad header');
  copyBytes(split, keyPtrOff(0), c, keyPtrOff(mid), (n - mid) * KEY_PTR_SIZE);
  split.nritems = n - mid;
  c.nritems = mid;
  dirty(host, root, c);
  dirty(host, root, split);
  insertPtr(host, root, path, split.key(0), split.bytenr, path.slots[level + 1] + 1, level + 1);
  if (path.slots[level] >= mid) {
    path.slots[level] -= mid;
    path.nodes[level] = split;
    path.slots[level + 1] += 1;
  }
}

/**
 * balance_level: on the way down for a deletion, merges path.nodes[level] with its
 * siblings when it is at most a quarter full, and promotes the only child of a root node.
 * On promotion path.nodes[level] becomes undefined: the search restarts from the new root.
 */
async function balanceLevel(host: TreeHost, root: TreeRoot, path: Path, level: number): Promise<void> {
  if (level === 0) return;
  let mid: ExtentBuffer | undefined = path.nodes[level]!;
  let origSlot = path.slots[level];
  const origPtr = mid.blockptr(origSlot);
  const parent = path.nodes[level + 1];

  if (!parent) {
    // A root node with a single pointer: its child becomes the root.
    if (mid.nritems !== 1) return;
    let child = await readNodeSlot(host, root, mid, 0);
    child = await cowBlock(host, root, child, mid, 0);
    root.node = child;
    path.nodes[level] = undefined;
    host.freeBlock(mid, root.objectid);
    return;
  }
  if (mid.nritems > Math.floor(nodePtrsPerBlock(mid.nodesize) / 4)) return;

  const pslot = path.slots[level + 1];
  let left: ExtentBuffer | undefined;
  let right: ExtentBuffer | undefined;
  if (pslot > 0) {
    left = await readNodeSlot(host, root, parent, pslot - 1);
    left = await cowBlock(host, root, left, parent, pslot - 1);
  }
  if (pslot + 1 < parent.nritems) {
    right = await readNodeSlot(host, root, parent, pslot + 1);
    right = await cowBlock(host, root, right, parent, pslot + 1);
  }

  // First make room in mid by pushing into left; then empty right into mid.
  if (left) {
    origSlot += left.nritems;
    pushNodeLeft(host, root, left, mid, true);
  }
  if (right) {
    pushNodeLeft(host, root, mid, right, true);
    if (right.nritems === 0) {
      delPtr(host, root, path, level + 1, pslot + 1);
      host.freeBlock(right, root.objectid);
      right = undefined;
    } else {
      parent.setKey(pslot + 1, right.key(0));
      dirty(host, root, parent);
    }
  }
  if (mid.nritems === 1) {
    // A node with one pointer could be emptied by a deletion below it: take some from the
    // left. There is a left sibling: without one, right would have filled mid.
    assert(left !== undefined, 'balanceLevel: single-pointer node without left sibling');
    if (!balanceNodeRight(host, root, mid, left)) {
      const ok = pushNodeLeft(host, root, left, mid, true);
      assert(ok, 'balanceLevel: could not merge single-pointer node');
    }
  }
  if (mid.nritems === 0) {
    delPtr(host, root, path, level + 1, pslot);
    host.freeBlock(mid, root.objectid);
    mid = undefined;
  } else {
    parent.setKey(pslot, mid.key(0));
    dirty(host, root, parent);
  }

  if (left) {
    if (left.nritems > origSlot) {
      path.nodes[level] = left;
      path.slots[level + 1] -= 1;
      path.slots[level] = origSlot;
    } else {
      origSlot -= left.nritems;
      path.slots[level] = origSlot;
    }
  }
  const now = path.nodes[level]!;
  assert(now.blockptr(path.slots[level]) === origPtr, 'balanceLevel lost the path');
}

// ---------------------------------------------------------------- leaf level operations

/**
 * push_leaf_right: moves items from the end of the path's leaf into its right sibling to
 * free at least `dataSize` bytes (empty: may move every item). Returns true when it moved
 * items; the path then points where the slot went.
 */
async function pushLeafRight(host: TreeHost, root: TreeRoot, path: Path, dataSize: number, empty: boolean): Promise<boolean> {
  const left = path.nodes[0]!;
  const upper = path.nodes[1];
  if (!upper) return false;
  const slot = path.slots[1];
  if (slot >= upper.nritems - 1) return false;
  let right = await readNodeSlot(host, root, upper, slot + 1);
  if (right.leafFreeSpace() < dataSize) return false;
  right = await cowBlock(host, root, right, upper, slot + 1);
  const freeSpace = right.leafFreeSpace();
  if (freeSpace < dataSize) return false;
  let leftN = left.nritems;
  if (leftN === 0) return false;

  const nr = empty ? 0 : 1;
  let pushSpace = 0;
  let pushItems = 0;
  for (let i = leftN - 1; i >= nr; i--) {
    // The new item would land in right if its slot moves there: count it.
    if (path.slots[0] === i) pushSpace += dataSize + ITEM_SIZE;
    const sz = left.itemSize(i);
    if (sz + ITEM_SIZE + pushSpace > freeSpace) break;
    pushItems++;
    pushSpace += sz + ITEM_SIZE;
  }
  if (pushItems === 0) return false;

  const lds = leafDataSize(left.nodesize);
  let rightN = right.nritems;
  const pushData = itemDataEnd(left, leftN - pushItems) - left.leafDataEnd();
  const rDataEnd = right.leafDataEnd();
  // Make room at the top of right's data area, then copy left's data there.
  right.move(HEADER_SIZE + rDataEnd - pushData, HEADER_SIZE + rDataEnd, lds - rDataEnd);
  copyBytes(right, HEADER_SIZE + lds - pushData, left, HEADER_SIZE + left.leafDataEnd(), pushData);
  // Shift right's item headers and copy left's in front of them.
  right.move(itemOff(pushItems), itemOff(0), rightN * ITEM_SIZE);
  copyBytes(right, itemOff(0), left, itemOff(leftN - pushItems), pushItems * ITEM_SIZE);
  rightN += pushItems;
  right.nritems = rightN;
  let p = lds;
  for (let i = 0; i < rightN; i++) {
    p -= right.itemSize(i);
    right.setItemDataOffset(i, p);
  }
  leftN -= pushItems;
  left.nritems = leftN;
  dirty(host, root, left);
  dirty(host, root, right);

  upper.setKey(slot + 1, right.key(0));
  dirty(host, root, upper);

  if (path.slots[0] >= leftN) {
    path.slots[0] -= leftN;
    path.nodes[0] = right;
    path.slots[1] += 1;
  }
  return true;
}

/**
 * push_leaf_left: moves items from the start of the path's leaf into its left sibling to
 * free at least `dataSize` bytes (empty: may move every item). Returns true when it moved
 * items; the path then points where the slot went.
 */
async function pushLeafLeft(host: TreeHost, root: TreeRoot, path: Path, dataSize: number, empty: boolean): Promise<boolean> {
  const right = path.nodes[0]!;
  const upper = path.nodes[1];
  const slot = path.slots[1];
  if (!upper || slot === 0) return false;
  let rightN = right.nritems;
  if (rightN === 0) return false;
  let left = await readNodeSlot(host, root, upper, slot - 1);
  if (left.leafFreeSpace() < dataSize) return false;
  left = await cowBlock(host, root, left, upper, slot - 1);
  const freeSpace = left.leafFreeSpace();
  if (freeSpace < dataSize) return false;

  const nr = empty ? rightN : rightN - 1;
  let pushSpace = 0;
  let pushItems = 0;
  for (let i = 0; i < nr; i++) {
    if (path.slots[0] === i) pushSpace += dataSize + ITEM_SIZE;
    const sz = right.itemSize(i);
    if (sz + ITEM_SIZE + pushSpace > freeSpace) break;
    pushItems++;
    pushSpace += sz + ITEM_SIZE;
  }
  if (pushItems === 0) return false;

  const lds = leafDataSize(right.nodesize);
  const oldLeftN = left.nritems;
  const oldLeftDataEnd = left.leafDataEnd();
  copyBytes(left, itemOff(oldLeftN), right, itemOff(0), pushItems * ITEM_SIZE);
  const pushData = lds - right.itemDataOffset(pushItems - 1);
  copyBytes(left, HEADER_SIZE + oldLeftDataEnd - pushData, right, HEADER_SIZE + right.itemDataOffset(pushItems - 1), pushData);
  // The moved items keep their distances from the top of the data area, shifted down by
  // what left already held.
  const shift = lds - oldLeftDataEnd;
  for (let i = oldLeftN; i < oldLeftN + pushItems; i++) left.setItemDataOffset(i, left.itemDataOffset(i) - shift);
  left.nritems = oldLeftN + pushItems;

  if (pushItems < rightN) {
    const rDataEnd = right.leafDataEnd();
    const remaining = right.itemDataOffset(pushItems - 1) - rDataEnd;
    right.move(HEADER_SIZE + lds - remaining, HEADER_SIZE + rDataEnd, remaining);
    right.move(itemOff(0), itemOff(pushItems), (rightN - pushItems) * ITEM_SIZE);
  }
  rightN -= pushItems;
  right.nritems = rightN;
  let p = lds;
  for (let i = 0; i < rightN; i++) {
    p -= right.itemSize(i);
    right.setItemDataOffset(i, p);
  }
  dirty(host, root, left);
  dirty(host, root, right);

  // An emptied right leaf is about to be deleted by the caller: its key does not matter.
  if (rightN > 0) fixupLowKeys(host, path, right.key(0), 1);

  if (path.slots[0] < pushItems) {
    path.slots[0] += oldLeftN;
    path.nodes[0] = left;
    path.slots[1] -= 1;
  } else {
    path.slots[0] -= pushItems;
  }
  assert(path.slots[0] >= 0, 'pushLeafLeft: negative slot');
  return true;
}

/**
 * copy_for_split: moves items mid..nritems-1 of leaf `l` into the new leaf `right` and links
 * right into the parent after l.
 */
function copyForSplit(host: TreeHost, root: TreeRoot, path: Path, l: ExtentBuffer, right: ExtentBuffer, slot: number, mid: number, nritems: number): void {
  const lds = leafDataSize(l.nodesize);
  const n = nritems - mid;
  assert(n > 0 && mid > 0, 'copyForSplit would leave an empty leaf');
  const dataCopy = itemDataEnd(l, mid) - l.leafDataEnd();
  copyBytes(right, itemOff(0), l, itemOff(mid), n * ITEM_SIZE);
  copyBytes(right, HEADER_SIZE + lds - dataCopy, l, HEADER_SIZE + l.leafDataEnd(), dataCopy);
  const rtDataOff = lds - itemDataEnd(l, mid);
  right.nritems = n;
  for (let i = 0; i < n; i++) right.setItemDataOffset(i, right.itemDataOffset(i) + rtDataOff);
  l.nritems = mid;
  dirty(host, root, l);
  dirty(host, root, right);
  insertPtr(host, root, path, right.key(0), right.bytenr, path.slots[1] + 1, 1);
  assert(path.slots[0] === slot, 'copyForSplit: path moved');
  if (mid <= slot) {
    path.nodes[0] = right;
    path.slots[0] -= mid;
    path.slots[1] += 1;
  }
}

/**
 * split_leaf: makes the path's leaf able to take `dataSize` more bytes at its slot, by
 * pushing items to siblings, else splitting it (twice if needed, or into a new empty leaf
 * for the new item alone). `extend`: the slot holds an existing item that will grow.
 */
async function splitLeaf(host: TreeHost, root: TreeRoot, insKey: Key, path: Path, dataSize: number, extend: boolean): Promise<void> {
  let l = path.nodes[0]!;
  const lds = leafDataSize(l.nodesize);
  if (extend && dataSize + l.itemSize(path.slots[0]) + ITEM_SIZE > lds) {
    throw new FsError('EOVERFLOW', `item ${l.key(path.slots[0])} of ${l.itemSize(path.slots[0])} bytes cannot grow by ${dataSize}`);
  }
  if (dataSize > 0 && path.nodes[1]) {
    if (!(await pushLeafRight(host, root, path, dataSize, false))) {
      await pushLeafLeft(host, root, path, dataSize, false);
    }
    l = path.nodes[0]!;
    if (l.leafFreeSpace() >= dataSize) return;
  }
  if (!path.nodes[1]) insertNewRoot(host, root, path, 1);

  // At most two rounds: the second one only ever splits the leaf that holds the slot.
  for (let round = 0; round < 2; round++) {
    l = path.nodes[0]!;
    const slot = path.slots[0];
    const nritems = l.nritems;
    let mid = (nritems + 1) >> 1;
    let split = 1; // 0: new empty leaf for the item alone; 2: split again afterwards
    if (mid <= slot) {
      if (nritems === 1 || leafSpaceUsed(l, mid, nritems - mid) + dataSize > lds) {
        if (slot >= nritems) {
          split = 0;
        } else {
          mid = slot;
          if (mid !== nritems && leafSpaceUsed(l, mid, nritems - mid) + dataSize > lds) split = 2;
        }
      }
    } else if (leafSpaceUsed(l, 0, mid) + dataSize > lds) {
      if (!extend && dataSize > 0 && slot === 0) {
        split = 0;
      } else if ((extend || dataSize === 0) && slot === 0) {
        mid = 1;
      } else {
        mid = slot;
        if (mid !== nritems && leafSpaceUsed(l, mid, nritems - mid) + dataSize > lds) split = 2;
      }
    }
    assert(!(round === 1 && split === 2), 'splitLeaf: third split needed');

    const right = host.allocBlock(root.objectid, 0);
    assert(right.level === 0 && right.nritems === 0, 'allocBlock returned a bad header');
    if (split === 0) {
      // The new item goes alone into the new (empty) leaf; the parent key is its key.
      if (mid <= slot) {
        insertPtr(host, root, path, insKey, right.bytenr, path.slots[1] + 1, 1);
        path.nodes[0] = right;
        path.slots[0] = 0;
        path.slots[1] += 1;
      } else {
        insertPtr(host, root, path, insKey, right.bytenr, path.slots[1], 1);
        path.nodes[0] = right;
        path.slots[0] = 0;
        if (path.slots[1] === 0) fixupLowKeys(host, path, insKey, 1);
      }
      dirty(host, root, right);
      return;
    }
    copyForSplit(host, root, path, l, right, slot, mid, nritems);
    if (split !== 2) return;
  }
}

// ---------------------------------------------------------------- search

/**
 * btrfs_search_slot. Walks from the root to the leaf where `key` is or would be. found:
 * path.slots[0] is the item; else it is the insertion point (may equal nritems).
 * cow: every block on the path is COWed. insLen > 0: afterwards the leaf has insLen free
 * bytes (the caller must then insert, or an empty leaf may remain). insLen < 0: underfull
 * nodes on the path are merged so that deleting from the leaf keeps the tree valid.
 */
export async function searchSlot(host: TreeHost, root: TreeRoot, key: Key, opts: SearchOptions = {}): Promise<SearchResult> {
  const insLen = opts.insLen ?? 0;
  const cow = opts.cow ?? false;
  assert(cow || insLen === 0, 'searchSlot: insLen requires cow');
  if (insLen > leafDataSize(host.nodesize)) {
    throw new FsError('EOVERFLOW', `${insLen} bytes can never fit in a leaf of nodesize ${host.nodesize}`);
  }
  if (cow && host.transid <= 0) throw new FsError('EROFS', `cannot modify tree ${root.objectid}: no running transaction`);
  // Whatever waits to be inserted goes in first: every search sees the whole tree.
  if (root.deferred !== undefined && root.deferred.size > 0 && !(opts.exactRead && !cow)) await flushDeferred(host, root);

  // A restart happens only after a root promotion, which lowers the tree: bounded by levels.
  for (let restart = 0; restart <= MAX_LEVEL; restart++) {
    const path = new Path();
    path.root = root;
    let b = root.node;
    if (b.level >= MAX_LEVEL) throw new FsError('EUCLEAN', `tree ${root.objectid} root ${b.bytenr} has level ${b.level}`);
    let restarted = false;
    // Each round goes one level down: bounded by the root level.
    for (let guard = 0; guard <= MAX_LEVEL; guard++) {
      const level = b.level;
      if (cow) b = await cowBlock(host, root, b, path.nodes[level + 1], path.slots[level + 1]);
      path.nodes[level] = b;
      let [found, slot] = b.binSearch(key);
      if (level !== 0) {
        // In a node, follow the last pointer whose key is <= key.
        if (!found && slot > 0) slot -= 1;
        path.slots[level] = slot;
        if (insLen > 0 && b.nritems >= nodePtrsPerBlock(b.nodesize) - 3) {
          await splitNode(host, root, path, level);
          b = path.nodes[level]!;
          slot = path.slots[level];
        } else if (insLen < 0) {
          await balanceLevel(host, root, path, level);
          const nb = path.nodes[level];
          if (!nb) {
            restarted = true;
            break;
          }
          b = nb;
          slot = path.slots[level];
        }
        b = await readNodeSlot(host, root, b, slot);
      } else {
        path.slots[0] = slot;
        if (insLen > 0 && insLen > b.leafFreeSpace()) {
          await splitLeaf(host, root, key, path, insLen, found);
          assert(path.nodes[0]!.leafFreeSpace() >= insLen, 'splitLeaf did not make room');
        }
        return { found, path };
      }
    }
    assert(restarted, 'searchSlot descended past MAX_LEVEL');
  }
  throw new FsError('EUCLEAN', `tree ${root.objectid}: search restarted too often`);
}

/** btrfs_search_slot without COW: a lookup. */
export async function lookup(host: TreeHost, root: TreeRoot, key: Key): Promise<Uint8Array | undefined> {
  const c = root.itemCache;
  if (c && c.covers(key)) {
    const e = c.get(key) ?? (await fillCache(host, root, c, key));
    return e.data ? e.data.slice() : undefined;
  }
  const waiting = deferredItem(root, key);
  if (waiting) return waiting.data.slice();
  const { found, path } = await searchSlot(host, root, key, { exactRead: true });
  if (!found) return undefined;
  return path.itemData().slice();
}

async function fillCache(host: TreeHost, root: TreeRoot, c: ItemCache, key: Key): Promise<CachedItem> {
  const waiting = deferredItem(root, key);
  if (waiting) return c.set(key, waiting.data);
  const { found, path } = await searchSlot(host, root, key, { exactRead: true });
  return c.set(key, found ? path.itemData() : null);
}

/**
 * The item of `key` decoded by `decode`, or undefined when absent. Where the tree caches the
 * key's kind, the decoded value is kept with the cached bytes and returned again until the item
 * changes: the caller must treat it as read-only (copy before changing it).
 */
export async function lookupDecoded<T>(host: TreeHost, root: TreeRoot, key: Key, decode: (data: Uint8Array) => T): Promise<T | undefined> {
  const c = root.itemCache;
  if (c && c.covers(key)) {
    const e = c.get(key) ?? (await fillCache(host, root, c, key));
    if (!e.data) return undefined;
    if (e.decoded === undefined) e.decoded = decode(e.data);
    return e.decoded as T;
  }
  const waiting = deferredItem(root, key);
  if (waiting) return decode(waiting.data.slice());
  const { found, path } = await searchSlot(host, root, key, { exactRead: true });
  return found ? decode(path.itemData().slice()) : undefined;
}

/** An item of the path's leaf is about to change, move or go: drop it from the tree's cache. */
function forgetItem(root: TreeRoot | undefined, leaf: ExtentBuffer, slot: number): void {
  const c = root?.itemCache;
  if (c && c.coversType(leaf.keyType(slot))) c.invalidate(leaf.key(slot));
}

// ---------------------------------------------------------------- insert

function checkItemSizes(nodesize: number, keys: Key[], sizes: number[]): number {
  if (keys.length === 0 || keys.length !== sizes.length) {
    throw new FsError('EINVAL', `insert of ${keys.length} keys with ${sizes.length} sizes`);
  }
  const max = maxItemSize(nodesize);
  let total = 0;
  for (let i = 0; i < keys.length; i++) {
    const s = sizes[i];
    if (!Number.isInteger(s) || s < 0) throw new FsError('EINVAL', `item ${keys[i]} size ${s} is not a size`);
    if (s > max) throw new FsError('EOVERFLOW', `item ${keys[i]} of ${s} bytes exceeds the maximum item size ${max} (nodesize ${nodesize})`);
    if (i > 0 && compareKeys(keys[i - 1], keys[i]) >= 0) throw new FsError('EINVAL', `batch keys not ascending: ${keys[i - 1]} then ${keys[i]}`);
    total += s + ITEM_SIZE;
  }
  if (total > leafDataSize(nodesize)) {
    throw new FsError('EOVERFLOW', `batch of ${keys.length} items (${total} bytes) does not fit in one leaf of nodesize ${nodesize}`);
  }
  return total;
}

/** Throws EEXIST when an existing key lies in [first, last] (a batch must land in one gap). */
/** The first key at or after the path's leaf slot, in this leaf or (via the ancestors) the next one; undefined at the tree's end. */
function keyAtInsertionPoint(path: Path): Key | undefined {
  const leaf = path.leaf;
  if (path.slots[0] < leaf.nritems) return leaf.key(path.slots[0]);
  return nextLeafKey(path);
}

/** The first key of the leaf after the path's leaf, as its ancestors name it; undefined at the tree's end. */
export function nextLeafKey(path: Path): Key | undefined {
  for (let l = 1; l < MAX_LEVEL; l++) {
    const n = path.nodes[l];
    if (!n) return undefined;
    if (path.slots[l] + 1 < n.nritems) return n.key(path.slots[l] + 1);
  }
  return undefined;
}

/**
 * setup_items_for_insert: opens `keys.length` items at the path's slot, whose leaf has room
 * (the search made it). Their data is zeroed.
 */
function setupItemsForInsert(host: TreeHost, root: TreeRoot, path: Path, keys: Key[], sizes: number[], totalSize: number, forget = true): void {
  const leaf = path.leaf;
  const slot = path.slots[0];
  const nr = keys.length;
  const nritems = leaf.nritems;
  const cache = root.itemCache;
  if (cache && forget) for (const k of keys) cache.invalidate(k);
  assert(leaf.leafFreeSpace() >= totalSize, () => `leaf ${leaf.bytenr} lacks ${totalSize} free bytes`);
  assert(slot <= nritems, 'insert slot past end');
  let totalData = 0;
  for (const s of sizes) totalData += s;
  let dataEnd = leaf.leafDataEnd();
  if (slot < nritems) {
    const oldData = itemDataEnd(leaf, slot);
    assert(oldData >= dataEnd, 'leaf data out of order');
    for (let i = slot; i < nritems; i++) leaf.setItemDataOffset(i, leaf.itemDataOffset(i) - totalData);
    leaf.move(itemOff(slot + nr), itemOff(slot), (nritems - slot) * ITEM_SIZE);
    leaf.move(HEADER_SIZE + dataEnd - totalData, HEADER_SIZE + dataEnd, oldData - dataEnd);
    dataEnd = oldData;
  }
  for (let i = 0; i < nr; i++) {
    leaf.setKey(slot + i, keys[i]);
    dataEnd -= sizes[i];
    leaf.setItemDataOffset(slot + i, dataEnd);
    leaf.setItemSize(slot + i, sizes[i]);
  }
  leaf.data.fill(0, HEADER_SIZE + dataEnd, HEADER_SIZE + dataEnd + totalData);
  leaf.nritems = nritems + nr;
  dirty(host, root, leaf);
  if (slot === 0) fixupLowKeys(host, path, keys[0], 1);
  assert(leaf.leafFreeSpace() >= 0, 'leaf overfilled');
}

/**
 * btrfs_insert_empty_items: inserts items with zeroed data of the given sizes. The keys
 * must ascend and no existing key may lie between the first and the last (EEXIST). Returns
 * the path, at the first new item, so the caller fills the data in place.
 */
export async function insertEmptyItems(host: TreeHost, root: TreeRoot, keys: Key[], sizes: number[]): Promise<Path> {
  const totalSize = checkItemSizes(host.nodesize, keys, sizes);
  let res: SearchResult;
  try {
    res = await searchSlot(host, root, keys[0], { insLen: totalSize, cow: true });
  } catch (e) {
    // A search that finds the key prepares the leaf to extend that item, which may not be
    // possible: the error the caller needs is still EEXIST.
    if (e instanceof FsError && e.code === 'EOVERFLOW' && (await searchSlot(host, root, keys[0])).found) {
      throw new FsError('EEXIST', `item ${keys[0]} already exists`);
    }
    throw e;
  }
  const { found, path } = res;
  // Found means the leaf was prepared for extension only (no empty leaf was made): the
  // tree is valid as it stands.
  if (found) throw new FsError('EEXIST', `item ${keys[0]} already exists`);
  if (keys.length > 1) {
    // No existing key may lie inside the batch: the key at the insertion point (in this leaf,
    // or the first of the next one, which an ancestor names) must sort after the last.
    const next = keyAtInsertionPoint(path);
    if (next && compareKeys(next, keys[keys.length - 1]) <= 0) {
      throw new FsError('EEXIST', `item ${next} lies inside the batch ${keys[0]} .. ${keys[keys.length - 1]}`);
    }
  }
  setupItemsForInsert(host, root, path, keys, sizes, totalSize);
  return path;
}

// ---------------------------------------------------------------- deferred inserts

/**
 * btrfs's delayed items, for inserts whose keys are new for certain (a new inode's INODE_ITEM
 * and INODE_REF, a directory's next DIR_INDEX, a DIR_ITEM whose absence the cache knows): the
 * item waits in `root.deferred` and goes into the tree with the others in key order, one
 * search per leaf instead of one per item (flushDeferred). Nothing can miss it: every search
 * of the tree flushes first (searchSlot), and the tree's cache holds covered items from the
 * moment they are deferred, so lookups answer as if the insert had happened. The commit (and a
 * snapshot of the tree) flushes before it writes the tree. `data` is owned from here on;
 * `decoded`, if given, is what the tree's cache keeps beside it (lookupDecoded's form).
 */
export function insertDeferred(host: TreeHost, root: TreeRoot, key: Key, data: Uint8Array, decoded?: unknown): void {
  if (host.transid <= 0) throw new FsError('EROFS', `cannot modify tree ${root.objectid}: no running transaction`);
  checkItemSizes(host.nodesize, [key], [data.length]);
  const id = deferredId(key);
  const q = (root.deferred ??= new Map());
  if (q.has(id)) throw new FsError('EEXIST', `item ${key} already exists`);
  const c = root.itemCache;
  if (c) {
    c.invalidate(key);
    // The queue owns `data` and only ever copies it into a leaf: the cache may keep it as it is.
    if (c.covers(key)) c.set(key, data, decoded, true);
  }
  q.set(id, { key, data });
}

/**
 * Deferred inserts one tree holds at most before its writer flushes them (bounds memory). 512
 * (~130 creates) since session 6: with 2048 or 8192 waiting, a run of creates in Node took
 * ~15% longer than with 256-1024 (the waiting items outlive the young generation and are
 * copied by the GC; the batches are no cheaper per item past a few hundred).
 */
export const MAX_DEFERRED_ITEMS = 512;

/**
 * insertDeferred, then a flush when the queue is full: the writer's way in (a long run of
 * creates does no search that would flush, and the queue must not grow with the transaction).
 */
export async function insertDeferredBounded(host: TreeHost, root: TreeRoot, key: Key, data: Uint8Array): Promise<void> {
  insertDeferred(host, root, key, data);
  if (root.deferred!.size >= MAX_DEFERRED_ITEMS) await flushDeferred(host, root);
}

/** The key as a short string (nine UTF-16 units: one String.fromCharCode, no number printing). */
function deferredId(key: Key): string {
  return String.fromCharCode(
    key.objHi >>> 16, key.objHi & 0xffff, key.objLo >>> 16, key.objLo & 0xffff, key.type,
    key.offHi >>> 16, key.offHi & 0xffff, key.offLo >>> 16, key.offLo & 0xffff,
  );
}

/** The deferred insert of exactly `key`, if one waits. */
function deferredItem(root: TreeRoot, key: Key): DeferredItem | undefined {
  const q = root.deferred;
  return q !== undefined && q.size > 0 ? q.get(deferredId(key)) : undefined;
}

/**
 * The bytes of the deferred insert of exactly `key`, if one waits: its owner may rewrite them in
 * place (same length) until the flush copies them into a leaf, and must then tell the tree's
 * cache (which holds these very bytes) what they decode to. A new inode's updates in the
 * transaction that made it go there (inode.ts writeInode) rather than into a delayed update.
 */
export function deferredData(root: TreeRoot, key: Key): Uint8Array | undefined {
  return deferredItem(root, key)?.data;
}

/**
 * Inserts every deferred item of `root`: sorted by key, then for each search as many of the
 * following items as sort before the next existing key and fit the leaf go in with it
 * (btrfs_insert_delayed_items). A deferred key that exists is EUCLEAN: it was new for certain,
 * so the tree is not what this filesystem wrote. The cache already holds what is inserted:
 * it is not touched (a newer delayed inode update of a new inode stays).
 */
export async function flushDeferred(host: TreeHost, root: TreeRoot): Promise<void> {
  const q = root.deferred;
  if (q === undefined || q.size === 0) return;
  root.deferred = undefined;
  const items = [...q.values()].sort((a, b) => compareKeys(a.key, b.key));
  for (let i = 0; i < items.length; ) {
    const first = items[i];
    const size0 = checkItemSizes(host.nodesize, [first.key], [first.data.length]);
    const { found, path } = await searchSlot(host, root, first.key, { insLen: size0, cow: true });
    if (found) throw new FsError('EUCLEAN', `tree ${root.objectid}: new item ${first.key} already exists`);
    const bound = keyAtInsertionPoint(path);
    let room = path.leaf.leafFreeSpace() - size0;
    let j = i + 1;
    while (j < items.length) {
      const need = items[j].data.length + ITEM_SIZE;
      if (need > room || (bound && compareKeys(items[j].key, bound) >= 0)) break;
      room -= need;
      j++;
    }
    const keys = items.slice(i, j).map((it) => it.key);
    const sizes = items.slice(i, j).map((it) => it.data.length);
    setupItemsForInsert(host, root, path, keys, sizes, sizes.reduce((a, b) => a + b, 0) + ITEM_SIZE * sizes.length, false);
    const leaf = path.leaf;
    for (let k = i; k < j; k++) leaf.data.set(items[k].data, leaf.itemPtr(path.slots[0] + k - i));
    i = j;
  }
}

/** btrfs_insert_empty_item. */
export async function insertEmptyItem(host: TreeHost, root: TreeRoot, key: Key, size: number): Promise<Path> {
  return insertEmptyItems(host, root, [key], [size]);
}

/** btrfs_insert_item: inserts `key` with a copy of `data`; EEXIST if the key exists. */
export async function insertItem(host: TreeHost, root: TreeRoot, key: Key, data: Uint8Array): Promise<Path> {
  const path = await insertEmptyItems(host, root, [key], [data.length]);
  const leaf = path.leaf;
  leaf.data.set(data, leaf.itemPtr(path.slots[0]));
  // What was just written is what the next lookup will want (a stat after a create).
  const c = root.itemCache;
  if (c && c.covers(key)) c.set(key, data);
  return path;
}

// ---------------------------------------------------------------- delete

/** btrfs_del_leaf: unlinks the (emptied) leaf at path.slots[1] and frees it. */
function delLeaf(host: TreeHost, root: TreeRoot, path: Path, leaf: ExtentBuffer): void {
  const parent = path.nodes[1];
  assert(parent !== undefined, 'delLeaf without parent');
  assert(parent.blockptr(path.slots[1]) === leaf.bytenr, 'delLeaf: parent does not point to the leaf');
  delPtr(host, root, path, 1, path.slots[1]);
  host.freeBlock(leaf, root.objectid);
}

/**
 * The eager half of the tree's shrinking: while the root is a node with one pointer, its
 * child (COWed, on the path) becomes the root. btrfs does this lazily in balance_level; we
 * also do it after deletions so a tree emptied down to one leaf is one leaf again.
 */
async function shrinkRoot(host: TreeHost, root: TreeRoot, path: Path): Promise<void> {
  for (let guard = 0; guard < MAX_LEVEL && root.node.level > 0 && root.node.nritems === 1; guard++) {
    const old = root.node;
    const level = old.level;
    let child = path.nodes[level - 1];
    if (!child || old.blockptr(0) !== child.bytenr) child = await readNodeSlot(host, root, old, 0);
    child = await cowBlock(host, root, child, old, 0);
    root.node = child;
    if (path.nodes[level] && path.nodes[level]!.bytenr === old.bytenr) path.nodes[level] = undefined;
    host.freeBlock(old, root.objectid);
  }
}

/** Takes items slot .. slot+nr-1 (nr >= 1) out of `leaf`, closing the gap; no rebalance, no dirtying. */
function removeFromLeaf(root: TreeRoot, leaf: ExtentBuffer, slot: number, nr: number): void {
  const nritems = leaf.nritems;
  if (root.itemCache) for (let i = slot; i < slot + nr; i++) forgetItem(root, leaf, i);
  const lastOff = leaf.itemDataOffset(slot + nr - 1);
  let dsize = 0;
  for (let i = 0; i < nr; i++) dsize += leaf.itemSize(slot + i);
  if (slot + nr !== nritems) {
    const dataEnd = leaf.leafDataEnd();
    leaf.move(HEADER_SIZE + dataEnd + dsize, HEADER_SIZE + dataEnd, lastOff - dataEnd);
    for (let i = slot + nr; i < nritems; i++) leaf.setItemDataOffset(i, leaf.itemDataOffset(i) + dsize);
    leaf.move(itemOff(slot), itemOff(slot + nr), (nritems - slot - nr) * ITEM_SIZE);
  }
  leaf.nritems = nritems - nr;
}

/**
 * btrfs_del_items: deletes items slot .. slot+nr-1 of the path's leaf. The path must come
 * from a COW search (insLen -1 so ancestors were balanced). An emptied leaf is removed from
 * its parent; a leaf less than a third full is pushed into its siblings. The path is stale
 * afterwards: search again.
 */
export async function deleteItems(host: TreeHost, path: Path, slot: number, nr: number): Promise<void> {
  const root = path.root;
  assert(root !== undefined, 'deleteItems: path has no root');
  const leaf = path.leaf;
  let nritems = leaf.nritems;
  assert(Number.isInteger(slot) && Number.isInteger(nr) && nr >= 1, 'deleteItems: bad range');
  assert(slot >= 0 && slot + nr <= nritems, () => `deleteItems: slots ${slot}+${nr} outside ${nritems} items`);
  removeFromLeaf(root, leaf, slot, nr);
  nritems -= nr;
  dirty(host, root, leaf);

  if (nritems === 0) {
    if (!isRoot(root, leaf)) delLeaf(host, root, path, leaf);
  } else {
    if (slot === 0) fixupLowKeys(host, path, leaf.key(0), 1);
    const used = leafSpaceUsed(leaf, 0, nritems);
    if (used < Math.floor(leafDataSize(leaf.nodesize) / 3) && path.nodes[1]) {
      // Mostly empty: try to empty it into its siblings. The pushes may move the path, so
      // remember the leaf's slot in its parent for the delete.
      const pslot = path.slots[1];
      await pushLeafLeft(host, root, path, 1, true);
      if (path.nodes[0] === leaf && leaf.nritems > 0) await pushLeafRight(host, root, path, 1, true);
      if (leaf.nritems === 0) {
        path.slots[1] = pslot;
        delLeaf(host, root, path, leaf);
      }
    }
  }
  await shrinkRoot(host, root, path);
}

/**
 * Replaces items slot .. slot+nr-1 (nr may be 0) of the path's leaf, which a COW search made
 * writable, with new items of `keys` and `sizes` (zeroed data, at path.slots[0] = slot on return,
 * for the caller to fill): a delete and an insert at one place, with no search, split or
 * rebalance between. The keys must ascend strictly, sort after the item before `slot` and
 * before the first item after the replaced ones, and the new items must fit in the leaf (its
 * free space plus the replaced items' bytes): the caller checks the space, and the order
 * against the neighbours in other leaves (an ancestor's keys bound them). The batch form of
 * btrfs_drop_extents followed by the inserts of the new items, for many extents of one leaf.
 */
export function replaceLeafItems(host: TreeHost, path: Path, slot: number, nr: number, keys: Key[], sizes: number[]): void {
  const root = path.root;
  assert(root !== undefined, 'replaceLeafItems: path has no root');
  const leaf = path.leaf;
  const nritems = leaf.nritems;
  assert(Number.isInteger(slot) && Number.isInteger(nr) && slot >= 0 && nr >= 0 && slot + nr <= nritems, () => `replaceLeafItems: slots ${slot}+${nr} outside ${nritems} items`);
  const totalSize = checkItemSizes(host.nodesize, keys, sizes);
  if (slot > 0) assert(leaf.compareKey(slot - 1, keys[0]) < 0, () => `replaceLeafItems: key ${keys[0]} not above ${leaf.key(slot - 1)}`);
  if (slot + nr < nritems) assert(leaf.compareKey(slot + nr, keys[keys.length - 1]) > 0, () => `replaceLeafItems: key ${keys[keys.length - 1]} not below ${leaf.key(slot + nr)}`);
  let freed = 0;
  for (let i = slot; i < slot + nr; i++) freed += leaf.itemSize(i) + ITEM_SIZE;
  assert(leaf.leafFreeSpace() + freed >= totalSize, () => `replaceLeafItems: ${totalSize} bytes do not fit in leaf ${leaf.bytenr}`);
  if (nr > 0) removeFromLeaf(root, leaf, slot, nr);
  path.slots[0] = slot;
  setupItemsForInsert(host, root, path, keys, sizes, totalSize);
}

/** Deletes the item with `key`; ENOENT when there is none. */
export async function deleteItem(host: TreeHost, root: TreeRoot, key: Key): Promise<void> {
  const { found, path } = await searchSlot(host, root, key, { insLen: -1, cow: true });
  if (!found) throw new FsError('ENOENT', `no item ${key} in tree ${root.objectid}`);
  await deleteItems(host, path, path.slots[0], 1);
}

// ---------------------------------------------------------------- resize items

/**
 * btrfs_extend_item: grows the item at the path's slot by `dataSize` zeroed bytes at its
 * end. The path must come from a COW search for the item with insLen >= dataSize.
 */
export function extendItem(host: TreeHost, path: Path, dataSize: number): void {
  const root = path.root;
  assert(root !== undefined, 'extendItem: path has no root');
  const leaf = path.leaf;
  const slot = path.slots[0];
  const nritems = leaf.nritems;
  assert(slot < nritems, 'extendItem: no item at slot');
  assert(Number.isInteger(dataSize) && dataSize >= 0, 'extendItem: bad size');
  const oldSize = leaf.itemSize(slot);
  const max = maxItemSize(leaf.nodesize);
  if (oldSize + dataSize > max) {
    throw new FsError('EOVERFLOW', `item ${leaf.key(slot)} of ${oldSize} bytes cannot grow by ${dataSize} (maximum item size ${max})`);
  }
  assert(leaf.leafFreeSpace() >= dataSize, () => `extendItem: leaf ${leaf.bytenr} lacks ${dataSize} bytes (search with insLen first)`);
  forgetItem(root, leaf, slot);
  const dataEnd = leaf.leafDataEnd();
  const oldData = itemDataEnd(leaf, slot);
  for (let i = slot; i < nritems; i++) leaf.setItemDataOffset(i, leaf.itemDataOffset(i) - dataSize);
  leaf.move(HEADER_SIZE + dataEnd - dataSize, HEADER_SIZE + dataEnd, oldData - dataEnd);
  leaf.setItemSize(slot, oldSize + dataSize);
  const p = leaf.itemPtr(slot) + oldSize;
  leaf.data.fill(0, p, p + dataSize);
  dirty(host, root, leaf);
}

/**
 * btrfs_truncate_item: shrinks the item at the path's slot to `newSize`. fromEnd: keep the
 * start. Otherwise keep the end and add the cut byte count to the key's offset (the item
 * still describes the same range, csum items for one), moving an inline file extent's
 * header along. The path must come from a COW search.
 */
export function truncateItem(host: TreeHost, path: Path, newSize: number, fromEnd: boolean): void {
  const root = path.root;
  assert(root !== undefined, 'truncateItem: path has no root');
  const leaf = path.leaf;
  const slot = path.slots[0];
  const nritems = leaf.nritems;
  assert(slot < nritems, 'truncateItem: no item at slot');
  const oldSize = leaf.itemSize(slot);
  assert(Number.isInteger(newSize) && newSize >= 0 && newSize <= oldSize, () => `truncateItem: ${newSize} not in [0, ${oldSize}]`);
  if (newSize === oldSize) return;
  forgetItem(root, leaf, slot);
  const sizeDiff = oldSize - newSize;
  // Compute the new key first: an overflow must fail before anything moved.
  const key = leaf.key(slot);
  const newKey = fromEnd ? key : keyAddOffset(key, sizeDiff);
  const dataEnd = leaf.leafDataEnd();
  const oldDataStart = leaf.itemDataOffset(slot);
  for (let i = slot; i < nritems; i++) leaf.setItemDataOffset(i, leaf.itemDataOffset(i) + sizeDiff);
  if (fromEnd) {
    leaf.move(HEADER_SIZE + dataEnd + sizeDiff, HEADER_SIZE + dataEnd, oldDataStart + newSize - dataEnd);
  } else {
    // Keep an inline file extent's header at the item's new start. Only when the header
    // fits in what is kept: the kernel's unconditional move would otherwise spill into
    // the data of the previous item.
    const head = FileExtentItem.off.diskBytenr;
    if (key.type === ItemType.EXTENT_DATA && newSize >= head) {
      const fi = HEADER_SIZE + oldDataStart;
      if (leaf.data[fi + FileExtentHead.off.type] === FileExtentType.INLINE) leaf.move(fi + sizeDiff, fi, head);
    }
    leaf.move(HEADER_SIZE + dataEnd + sizeDiff, HEADER_SIZE + dataEnd, oldDataStart - dataEnd);
    leaf.setKey(slot, newKey);
    if (slot === 0) fixupLowKeys(host, path, newKey, 1);
  }
  leaf.setItemSize(slot, newSize);
  dirty(host, root, leaf);
}

/**
 * The key that follows the path's item in the tree (from the leaf, else from the nearest
 * ancestor's next pointer), or undefined when the item is the last of the tree.
 */
function nextKeyAfter(path: Path): Key | undefined {
  const leaf = path.leaf;
  if (path.slots[0] + 1 < leaf.nritems) return leaf.key(path.slots[0] + 1);
  for (let l = 1; l < MAX_LEVEL; l++) {
    const n = path.nodes[l];
    if (!n) return undefined;
    if (path.slots[l] + 1 < n.nritems) return n.key(path.slots[l] + 1);
  }
  return undefined;
}

/**
 * btrfs_duplicate_item: inserts a copy of the item at the path's slot under `newKey`,
 * which must sort after it and before the next item (EINVAL otherwise). Returns a path at
 * the new item; the given path is stale afterwards.
 */
export async function duplicateItem(host: TreeHost, root: TreeRoot, path: Path, newKey: Key): Promise<Path> {
  const leaf = path.leaf;
  const slot = path.slots[0];
  assert(slot < leaf.nritems, 'duplicateItem: no item at slot');
  const key = leaf.key(slot);
  if (compareKeys(newKey, key) <= 0) throw new FsError('EINVAL', `duplicate key ${newKey} not above ${key}`);
  const next = nextKeyAfter(path);
  if (next && compareKeys(newKey, next) >= 0) throw new FsError('EINVAL', `duplicate key ${newKey} not below the next key ${next}`);
  const data = leaf.itemData(slot).slice();
  const p = await insertEmptyItems(host, root, [newKey], [data.length]);
  p.leaf.data.set(data, p.leaf.itemPtr(p.slots[0]));
  return p;
}

// ---------------------------------------------------------------- walking leaves

/**
 * btrfs_next_leaf: moves the path to the first slot of the next leaf. Returns false (path
 * unchanged) when this is the last leaf. No COW: the path is for reading afterwards.
 */
export async function nextLeaf(host: TreeHost, root: TreeRoot, path: Path): Promise<boolean> {
  for (let level = 1; level < MAX_LEVEL; level++) {
    const c = path.nodes[level];
    if (!c) return false;
    const slot = path.slots[level] + 1;
    if (slot >= c.nritems) continue;
    let next = await readNodeSlot(host, root, c, slot);
    path.slots[level] = slot;
    for (let l = level - 1; ; l--) {
      path.nodes[l] = next;
      path.slots[l] = 0;
      if (l === 0) break;
      next = await readNodeSlot(host, root, next, 0);
    }
    return true;
  }
  return false;
}

/**
 * btrfs_prev_leaf: moves the path to the last slot of the previous leaf. Returns false
 * (path unchanged) when this is the first leaf. No COW.
 */
export async function prevLeaf(host: TreeHost, root: TreeRoot, path: Path): Promise<boolean> {
  for (let level = 1; level < MAX_LEVEL; level++) {
    const c = path.nodes[level];
    if (!c) return false;
    const slot = path.slots[level];
    if (slot === 0) continue;
    let next = await readNodeSlot(host, root, c, slot - 1);
    path.slots[level] = slot - 1;
    for (let l = level - 1; ; l--) {
      const n = next.nritems;
      const s = n > 0 ? n - 1 : 0;
      path.nodes[l] = next;
      path.slots[l] = s;
      if (l === 0) break;
      next = await readNodeSlot(host, root, next, s);
    }
    return true;
  }
  return false;
}

/**
 * Calls `fn` for every item with minKey <= key <= maxKey in order, synchronously within each
 * leaf (one await per leaf, not per item as iterItems). `fn` returns false to stop. The data
 * handed to `fn` is a view of the leaf: copy what is kept. Nothing may change the tree while
 * the walk runs.
 */
export function forEachItem(
  host: TreeHost, root: TreeRoot, minKey: Key, maxKey: Key,
  fn: (key: Key, data: Uint8Array) => boolean | void,
): Promise<void> {
  return forEachSlot(host, root, minKey, maxKey, (leaf, slot) => fn(leaf.key(slot), leaf.itemData(slot)));
}

/**
 * forEachItem starting at the last item at or before `key` (its floor: an extent or csum item
 * that starts before an offset may cover it), in one search. The first item handed to `fn`
 * may be of any kind: `fn` filters.
 */
export async function forEachItemFromFloor(
  host: TreeHost, root: TreeRoot, key: Key, maxKey: Key,
  fn: (key: Key, data: Uint8Array) => boolean | void,
): Promise<void> {
  const { found, path } = await searchSlot(host, root, key);
  if (!found) {
    if (path.slots[0] > 0) path.slots[0]--;
    else if (!(await prevLeaf(host, root, path))) path.slots[0] = 0;
  }
  await walkSlots(host, root, path, maxKey, (leaf, slot) => fn(leaf.key(slot), leaf.itemData(slot)));
}

/**
 * forEachItem for the hottest loops (readdir): `fn` gets the leaf and the slot and reads the
 * item in place, so the walk allocates nothing per item.
 */
export async function forEachSlot(
  host: TreeHost, root: TreeRoot, minKey: Key, maxKey: Key,
  fn: (leaf: ExtentBuffer, slot: number) => boolean | void,
): Promise<void> {
  if (compareKeys(minKey, maxKey) > 0) return;
  const { path } = await searchSlot(host, root, minKey);
  await walkSlots(host, root, path, maxKey, fn);
}

/**
 * The walk under forEachSlot, forEachItem and forEachItemFromFloor, from the path's slot to maxKey. Keys ascend
 * within a leaf (the tree-checker saw to it when the leaf was read, and every change keeps it
 * so); across leaves the first key of each leaf must be above the last key of the one before,
 * which bounds the walk on a corrupt tree (a cycle repeats keys).
 */
async function walkSlots(host: TreeHost, root: TreeRoot, path: Path, maxKey: Key, fn: (leaf: ExtentBuffer, slot: number) => boolean | void): Promise<void> {
  let last: Key | undefined;
  let emptyLeaves = 0;
  for (;;) {
    const leaf = path.leaf;
    const n = leaf.nritems;
    if (n === 0 && ++emptyLeaves > 1) throw new FsError('EUCLEAN', `tree ${root.objectid}: empty leaf ${leaf.bytenr} below the root`);
    const first = path.slots[0];
    if (last && first < n && leaf.compareKey(first, last) <= 0) throw new FsError('EUCLEAN', `tree ${root.objectid}: key ${leaf.key(first)} after ${last} in leaf ${leaf.bytenr}`);
    for (let slot = first; slot < n; slot++) {
      if (leaf.compareKey(slot, maxKey) > 0) return;
      if (fn(leaf, slot) === false) return;
    }
    if (n > 0) last = leaf.key(n - 1);
    path.slots[0] = n;
    if (!(await nextLeaf(host, root, path))) return;
  }
}

export async function* iterItems(host: TreeHost, root: TreeRoot, minKey: Key, maxKey: Key): AsyncGenerator<IterItem> {
  if (compareKeys(minKey, maxKey) > 0) return;
  const { path } = await searchSlot(host, root, minKey);
  let prev: Key | undefined;
  let emptyLeaves = 0;
  for (;;) {
    const leaf = path.leaf;
    const slot = path.slots[0];
    if (slot >= leaf.nritems) {
      if (leaf.nritems === 0 && ++emptyLeaves > 1) throw new FsError('EUCLEAN', `tree ${root.objectid}: empty leaf ${leaf.bytenr} below the root`);
      if (!(await nextLeaf(host, root, path))) return;
      continue;
    }
    const key = leaf.key(slot);
    if (compareKeys(key, maxKey) > 0) return;
    // Strictly ascending keys also bound the walk: a cycle in a corrupt tree repeats keys.
    if (prev && compareKeys(prev, key) >= 0) throw new FsError('EUCLEAN', `tree ${root.objectid}: key ${key} after ${prev} in leaf ${leaf.bytenr}`);
    yield { key, data: leaf.itemData(slot), leaf, slot };
    prev = key;
    path.slots[0] = slot + 1;
  }
}

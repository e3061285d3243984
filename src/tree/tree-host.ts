// What the COW B-tree (ctree.ts) needs from the layers that own blocks and space. The tree
// code never allocates disk space, tracks references or does I/O itself: the filesystem
// (src/fs) implements TreeHost over the block cache, the allocator and the extent tree;
// tests implement it over a Map.
import type { ExtentBuffer } from './extent-buffer.js';
import type { ItemCache } from './item-cache.js';

/** What the parent pointer (or the root item / superblock) says a child block must be. */
export interface BlockExpectation {
  /** The generation stored in the parent's key_ptr (or root item). */
  generation: number;
  /** The level the child must have (parent level - 1). */
  level: number;
  /** The tree the block must belong to (header owner), when known. */
  owner?: number;
  /** The first key the child must hold (the parent's key for this slot), when known. */
  firstKey?: import('../format/key.js').Key;
}

export interface TreeHost {
  readonly nodesize: number;
  /** Generation of the running transaction (0 when read-only: COW is then forbidden). */
  readonly transid: number;
  /**
   * The block at `bytenr`, verified (checksum, header names itself, expectations, tree-checker).
   * Throws FsError EIO / EUCLEAN naming the block on any mismatch.
   */
  readBlock(bytenr: number, expect: BlockExpectation): Promise<ExtentBuffer>;
  /** A cached verified block, or undefined: the synchronous fast path of readBlock. */
  cachedBlock(bytenr: number, expect: BlockExpectation): ExtentBuffer | undefined;
  /**
   * A new zeroed block with its header filled (bytenr, level, owner, generation = transid,
   * fsid, chunk tree uuid), already marked dirty. Throws ENOSPC when no metadata space is left.
   */
  allocBlock(owner: number, level: number): ExtentBuffer;
  /**
   * `eb` (owned by tree `owner`) is no longer referenced by that tree: drop its reference.
   * The space stays pinned until the next commit is on disk.
   */
  freeBlock(eb: ExtentBuffer, owner: number): void;
  /** Records that `eb` was modified in this transaction (it must already be COWed). */
  markDirty(eb: ExtentBuffer): void;
  /**
   * btrfs's should_cow_block: whether `eb` must be copied before it is modified in the
   * running transaction (true unless created in this transaction and not yet written).
   */
  shouldCow(eb: ExtentBuffer, owner: number): boolean;
  /**
   * Called by COW when `eb` is replaced by `cow` in tree `owner`, before `freeBlock(eb)`:
   * the place where shared (snapshotted) blocks get their children's references adjusted.
   */
  onCow?(eb: ExtentBuffer, cow: ExtentBuffer, owner: number): Promise<void> | void;
}

/** One tree: its id and its current root block. ctree.ts replaces `node` on COW, growth and shrink. */
export interface TreeRoot {
  readonly objectid: number;
  node: ExtentBuffer;
  /** Lookups of some item types cached (item-cache.ts); ctree.ts keeps it exact on every change. */
  readonly itemCache?: ItemCache;
  /**
   * Inserts of keys known to be new, waiting to go into the tree in key order (ctree.ts
   * insertDeferred; btrfs's delayed items). Trees that never defer leave it undefined.
   */
  deferred?: Map<string, DeferredItem>;
}

/** One waiting insert: the key and the item's bytes (owned by the queue). */
export interface DeferredItem {
  key: import('../format/key.js').Key;
  data: Uint8Array;
}

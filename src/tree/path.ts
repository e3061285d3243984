// A path from a tree's root down to one slot of one leaf (btrfs's struct btrfs_path).
//
// Owns nothing: it only remembers which blocks searchSlot (ctree.ts) walked through and
// which slot it took in each. Index = level: nodes[0] is the leaf, nodes[root level] the
// root; levels above the root are undefined.
//
// Invariants while a path is valid (right after searchSlot / insertEmptyItems / nextLeaf /
// prevLeaf):
//  * for every level L with nodes[L + 1] defined, nodes[L].bytenr ===
//    nodes[L + 1].blockptr(slots[L + 1]) (the path is connected);
//  * slots[L] < nodes[L].nritems for L >= 1; slots[0] <= nodes[0].nritems (a slot equal to
//    nritems is the insertion point past the last item of the leaf);
//  * after a COW search every block on it may be modified in the running transaction.
// Any tree mutation other than the one the path was prepared for (deleteItems, a second
// insert, a search on the same tree with cow) leaves the path stale: search again.
import { MAX_LEVEL } from '../format/constants.js';
import type { Key } from '../format/key.js';
import { assert } from '../util/assert.js';
import type { ExtentBuffer } from './extent-buffer.js';
import type { TreeRoot } from './tree-host.js';

export class Path {
  /** The block at each level, leaf first. */
  nodes: (ExtentBuffer | undefined)[] = new Array<ExtentBuffer | undefined>(MAX_LEVEL).fill(undefined);
  /** The slot taken in each level's block (for nodes: the child followed). */
  slots: number[] = new Array<number>(MAX_LEVEL).fill(0);
  /** The tree this path was searched in (deleteItems needs it to replace the root). */
  root: TreeRoot | undefined;

  /** The leaf the path ends in. */
  get leaf(): ExtentBuffer {
    const l = this.nodes[0];
    assert(l !== undefined, 'path has no leaf');
    return l;
  }

  /** The leaf slot (item index) of the path. */
  get slot(): number {
    return this.slots[0];
  }

  /** Key of the item at the path's slot (which must exist). */
  itemKey(): Key {
    const l = this.leaf;
    assert(this.slots[0] < l.nritems, 'path slot is past the last item');
    return l.key(this.slots[0]);
  }

  /** A view (not a copy) of the data of the item at the path's slot. */
  itemData(): Uint8Array {
    const l = this.leaf;
    assert(this.slots[0] < l.nritems, 'path slot is past the last item');
    return l.itemData(this.slots[0]);
  }

  /** Level of the highest block on the path (the root's level). */
  get topLevel(): number {
    for (let i = MAX_LEVEL - 1; i >= 0; i--) if (this.nodes[i]) return i;
    return -1;
  }

  /** btrfs_release_path: forget every block. */
  release(): void {
    this.nodes.fill(undefined);
    this.slots.fill(0);
    this.root = undefined;
  }
}

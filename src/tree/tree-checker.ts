// The structural tree-checker (btrfs tree-checker.c: check_leaf, check_node), run by the fs
// layer on every tree block read and before every write, and by the test host on every read.
//
// Owns the structural invariants of one block taken alone:
//  * leaf: level 0; nritems <= maxLeafItems; keys strictly ascending; item data contiguous
//    from the end of the block downwards (item 0's data ends at the leaf data size, item i's
//    data ends where item i-1's begins), inside the block and not overlapping the item array.
//  * node: level 1 .. MAX_LEVEL-1; nritems 1 .. nodePtrsPerBlock; keys strictly ascending;
//    every blockptr non-zero and sectorsize aligned; every ptr generation non-zero.
// Item-type-specific checks (inode items, dir items, extent items...) are added later, in
// their own functions, on top of these. Cross-block checks (parent key = child first key,
// ptr generation = child generation, level = parent level - 1) belong to the read path,
// which knows the parent's expectations (TreeHost.readBlock).
//
// The checkers read untrusted bytes: every loop is bounded by nritems, which is checked
// against the block's capacity first. They return a message naming the problem, or null.
import { MAX_LEVEL } from '../format/constants.js';
import { compareDiskKey, readDiskKey } from '../format/key.js';
import { Header, KeyPtr } from '../format/structs.js';
import { u64PartsToString } from '../format/u64.js';
import {
  ExtentBuffer,
  HEADER_SIZE,
  ITEM_SIZE,
  KEY_PTR_SIZE,
  leafDataSize,
  maxLeafItems,
  nodePtrsPerBlock,
} from './extent-buffer.js';

const KP_PTR = KeyPtr.off.blockptr;
const KP_GEN = KeyPtr.off.generation;

function where(eb: ExtentBuffer, slot?: number): string {
  const kind = eb.level === 0 ? 'leaf' : 'node';
  const o = Header.off.owner;
  const owner = u64PartsToString(eb.dv.getUint32(o + 4, true), eb.dv.getUint32(o, true));
  return `corrupt ${kind}: root=${owner} block=${eb.bytenr}${slot === undefined ? '' : ` slot=${slot}`}`;
}

/** btrfs check_leaf, structure only. Returns a message naming the problem, or null. */
export function checkLeaf(eb: ExtentBuffer, nodesize: number): string | null {
  if (eb.data.length !== nodesize) return `${where(eb)}, block size ${eb.data.length} != nodesize ${nodesize}`;
  if (eb.level !== 0) return `${where(eb)}, invalid level for leaf, have ${eb.level} expect 0`;
  const nritems = eb.nritems;
  const max = maxLeafItems(nodesize);
  if (nritems > max) return `${where(eb)}, nritems too large, have ${nritems} expect <= ${max}`;
  const lds = leafDataSize(nodesize);
  const dv = eb.dv;
  for (let slot = 0; slot < nritems; slot++) {
    const itemOff = HEADER_SIZE + slot * ITEM_SIZE;
    // Keys strictly ascending (the kernel compares from slot 1 on: key (0 0 0) is legal).
    if (slot > 0 && compareDiskKey(dv, itemOff - ITEM_SIZE, readDiskKey(dv, itemOff)) >= 0) {
      return `${where(eb, slot)}, bad key order, prev ${readDiskKey(dv, itemOff - ITEM_SIZE)} current ${readDiskKey(dv, itemOff)}`;
    }
    const offset = eb.itemDataOffset(slot);
    const size = eb.itemSize(slot);
    const dataEnd = offset + size; // both u32: exact in a double
    const expectedEnd = slot === 0 ? lds : eb.itemDataOffset(slot - 1);
    if (dataEnd !== expectedEnd) {
      return `${where(eb, slot)}, unexpected item end, have ${dataEnd} expect ${expectedEnd}`;
    }
    if (dataEnd > lds) {
      return `${where(eb, slot)}, slot end outside of leaf, have ${dataEnd} expect range [0, ${lds}]`;
    }
    // The item's data must not overlap the item array (its own header included).
    if (HEADER_SIZE + offset < itemOff + ITEM_SIZE) {
      return `${where(eb, slot)}, slot overlaps with its data, item end ${itemOff + ITEM_SIZE} data start ${HEADER_SIZE + offset}`;
    }
  }
  return null;
}

/**
 * btrfs check_node, structure only. `sectorsize` is the alignment every blockptr must have.
 * Returns a message naming the problem, or null.
 */
export function checkNode(eb: ExtentBuffer, nodesize: number, sectorsize = 4096): string | null {
  if (eb.data.length !== nodesize) return `${where(eb)}, block size ${eb.data.length} != nodesize ${nodesize}`;
  const level = eb.level;
  if (level === 0 || level >= MAX_LEVEL) {
    return `${where(eb)}, invalid level for node, have ${level} expect [1, ${MAX_LEVEL - 1}]`;
  }
  const nr = eb.nritems;
  const max = nodePtrsPerBlock(nodesize);
  if (nr === 0 || nr > max) {
    return `${where(eb)}, nritems too ${nr === 0 ? 'small' : 'large'}, have ${nr} expect range [1, ${max}]`;
  }
  const dv = eb.dv;
  for (let slot = 0; slot < nr; slot++) {
    const kpOff = HEADER_SIZE + slot * KEY_PTR_SIZE;
    // blockptr and generation as raw halves: a corrupt value must give a message, not a throw.
    const ptrLo = dv.getUint32(kpOff + KP_PTR, true);
    const ptrHi = dv.getUint32(kpOff + KP_PTR + 4, true);
    if (ptrLo === 0 && ptrHi === 0) return `${where(eb, slot)}, invalid NULL node pointer`;
    if (ptrLo % sectorsize !== 0) {
      return `${where(eb, slot)}, unaligned pointer, have ${u64PartsToString(ptrHi, ptrLo)} should be aligned to ${sectorsize}`;
    }
    if (dv.getUint32(kpOff + KP_GEN, true) === 0 && dv.getUint32(kpOff + KP_GEN + 4, true) === 0) {
      return `${where(eb, slot)}, invalid ptr generation 0`;
    }
    if (slot > 0 && compareDiskKey(dv, kpOff - KEY_PTR_SIZE, readDiskKey(dv, kpOff)) >= 0) {
      return `${where(eb, slot)}, bad key order, prev ${readDiskKey(dv, kpOff - KEY_PTR_SIZE)} current ${readDiskKey(dv, kpOff)}`;
    }
  }
  return null;
}

/** Runs checkLeaf or checkNode according to the block's level. */
export function checkTreeBlock(eb: ExtentBuffer, nodesize: number, sectorsize = 4096): string | null {
  return eb.level === 0 ? checkLeaf(eb, nodesize) : checkNode(eb, nodesize, sectorsize);
}

// Which subvolume trees reach an extent (btrfs backref.c btrfs_find_all_roots /
// find_parent_nodes), for qgroup accounting (qgroup.ts).
//
// An extent's back references say who holds it: TREE_BLOCK_REF(root) and
// EXTENT_DATA_REF(root, inode, offset) are indirect (the holder is some block of `root`:
// found by searching `root` for the block's first key, or for the inode's file extent items),
// SHARED_BLOCK_REF(parent) and SHARED_DATA_REF(parent) are direct (the holder is the block
// `parent`). Holders are tree blocks whose own refs are resolved the same way, up to the root
// blocks of subvolumes: the roots of an extent are the subvolumes from whose root block it is
// reachable. As btrfs, an indirect ref that does not resolve (its tree is gone, the key is not
// found) counts its root directly.
//
// Every walk runs over a TreeView: the trees as some root tree root names them. qgroup
// accounting compares the view of the last commit (btrfs's commit roots: old roots) with the
// running transaction's trees (new roots). Blocks the last commit names are never overwritten
// before the next commit is on disk (they stay pinned when freed), so both views can be read
// at once; the walk reads, never COWs.
import { Key } from '../format/key.js';
import { ItemType, EXTENT_FLAG_TREE_BLOCK, FileExtentType, ROOT_TREE_OBJECTID, EXTENT_TREE_OBJECTID } from '../format/constants.js';
import { ExtentItem, TreeBlockInfo, ExtentDataRef, FileExtentItem } from '../format/structs.js';
import { viewOf } from '../format/struct.js';
import { readU64 } from '../format/u64.js';
import { iterItems } from '../tree/ctree.js';
import type { ExtentBuffer } from '../tree/extent-buffer.js';
import type { TreeRoot } from '../tree/tree-host.js';
import type { FsInfo } from '../fs/fs-info.js';
import { isShareableRoot } from '../fs/extent-tree.js';
import { decodeRootItem } from '../fs/open.js';
import { FsError } from '../util/errors.js';

/** Bound on the tree blocks one walk visits (a corrupt extent tree must not loop forever). */
const MAX_WALK_BLOCKS = 1 << 22;
/** Bound on tree depth while descending. */
const MAX_DEPTH = 8;

/** The trees as one root tree root names them. */
export interface TreeView {
  /** The root block of tree `id` in this view, or undefined when it has none. */
  rootOf(id: number): Promise<ExtentBuffer | undefined>;
  /** Cached roots of this view (per walk batch). */
  readonly cache: Map<number, ExtentBuffer | null>;
}

/**
 * The running transaction's trees: loaded roots as they are in memory, others (dead
 * subvolumes being dropped) from the root tree.
 */
export function currentView(fs: FsInfo): TreeView {
  const cache = new Map<number, ExtentBuffer | null>();
  return {
    cache,
    async rootOf(id: number) {
      const r = fs.roots.get(id);
      if (r) return r.node;
      if (cache.has(id)) return cache.get(id) ?? undefined;
      const node = await rootFromRootTree(fs, fs.rootTree.node, id);
      cache.set(id, node ?? null);
      return node;
    },
  };
}

/** The trees named by a root tree root block (the last commit's: sb.root). */
export function committedView(fs: FsInfo, rootTree: { bytenr: number; level: number; generation: number }): TreeView {
  const cache = new Map<number, ExtentBuffer | null>();
  let rootNode: ExtentBuffer | undefined;
  return {
    cache,
    async rootOf(id: number) {
      rootNode ??= await fs.readBlock(rootTree.bytenr, { generation: rootTree.generation, level: rootTree.level, owner: ROOT_TREE_OBJECTID });
      if (id === ROOT_TREE_OBJECTID) return rootNode;
      if (cache.has(id)) return cache.get(id) ?? undefined;
      const node = await rootFromRootTree(fs, rootNode, id);
      cache.set(id, node ?? null);
      return node;
    },
  };
}

/** The root block of tree `id` from the ROOT_ITEM with the highest key offset in a root tree. */
async function rootFromRootTree(fs: FsInfo, rootTreeNode: ExtentBuffer, id: number): Promise<ExtentBuffer | undefined> {
  let found: Uint8Array | undefined;
  const t: TreeRoot = { objectid: ROOT_TREE_OBJECTID, node: rootTreeNode };
  for await (const it of iterItems(fs, t, Key.of(id, ItemType.ROOT_ITEM, 0), Key.of(id, ItemType.ROOT_ITEM, -1))) found = it.data.slice();
  if (!found) return undefined;
  const item = decodeRootItem(found, id);
  return fs.readBlock(item.bytenr, { generation: item.generation, level: item.level, owner: id });
}

/** One back reference of an extent, as find_parent_nodes collects them. */
export interface ExtentRef {
  type: number;
  /** TREE_BLOCK_REF / EXTENT_DATA_REF: the tree. */
  root: number;
  /** SHARED_*: the parent block. */
  parent: number;
  /** EXTENT_DATA_REF: inode, offset (file offset - extent offset; -1 stands for a wrapped u64), count. */
  objectid: number;
  offset: number;
  count: number;
}

export interface ExtentRefs {
  bytenr: number;
  numBytes: number;
  isData: boolean;
  /** Tree blocks: level. */
  level: number;
  refs: ExtentRef[];
}

/** An EXTENT_DATA_REF's offset: number form, or -1 when the u64 wrapped below 0 (btrfs then searches from 0). */
function dataRefOffset(dv: DataView, off: number): number {
  const hi = dv.getUint32(off + 4, true);
  if (hi >= 0x0020_0000) return -1;
  return hi * 2 ** 32 + dv.getUint32(off, true);
}

function decodeDataRef(dv: DataView, off: number): ExtentRef {
  const O = ExtentDataRef.off;
  return {
    type: ItemType.EXTENT_DATA_REF, root: readU64(dv, off + O.root), parent: 0,
    objectid: readU64(dv, off + O.objectid), offset: dataRefOffset(dv, off + O.offset), count: dv.getUint32(off + O.count, true),
  };
}

/**
 * The extent item of `bytenr` and all its refs (inline and keyed) in a view's extent tree,
 * or undefined when the view has no extent at `bytenr`.
 */
export async function extentRefs(fs: FsInfo, view: TreeView, bytenr: number): Promise<ExtentRefs | undefined> {
  const node = await view.rootOf(EXTENT_TREE_OBJECTID);
  if (!node) throw new FsError('EUCLEAN', 'the extent tree is missing');
  const t: TreeRoot = { objectid: EXTENT_TREE_OBJECTID, node };
  let out: ExtentRefs | undefined;
  for await (const it of iterItems(fs, t, Key.of(bytenr, 0, 0), Key.of(bytenr, ItemType.SHARED_DATA_REF, -1))) {
    const { key, data } = it;
    const dv = viewOf(data);
    if (key.type === ItemType.EXTENT_ITEM || key.type === ItemType.METADATA_ITEM) {
      if (data.length < ExtentItem.size) throw new FsError('EUCLEAN', `extent item ${key} of ${data.length} bytes`);
      const flags = readU64(dv, ExtentItem.off.flags);
      const isData = (flags & EXTENT_FLAG_TREE_BLOCK) === 0;
      let ptr = ExtentItem.size;
      let level = 0;
      let numBytes = key.offset;
      if (key.type === ItemType.METADATA_ITEM) {
        level = key.offset;
        numBytes = fs.nodesize;
      } else if (!isData) {
        level = dv.getUint8(ptr + TreeBlockInfo.off.level);
        ptr += TreeBlockInfo.size;
      }
      out = { bytenr, numBytes, isData, level, refs: [] };
      let guard = 0;
      while (ptr < data.length) {
        if (++guard > data.length) throw new FsError('EUCLEAN', `extent item ${key}: inline refs loop`);
        const type = data[ptr];
        switch (type) {
          case ItemType.TREE_BLOCK_REF:
            out.refs.push({ type, root: readU64(dv, ptr + 1), parent: 0, objectid: 0, offset: 0, count: 1 });
            ptr += 9;
            break;
          case ItemType.SHARED_BLOCK_REF:
            out.refs.push({ type, root: 0, parent: readU64(dv, ptr + 1), objectid: 0, offset: 0, count: 1 });
            ptr += 9;
            break;
          case ItemType.EXTENT_DATA_REF:
            out.refs.push(decodeDataRef(dv, ptr + 1));
            ptr += 1 + ExtentDataRef.size;
            break;
          case ItemType.SHARED_DATA_REF:
            out.refs.push({ type, root: 0, parent: readU64(dv, ptr + 1), objectid: 0, offset: 0, count: dv.getUint32(ptr + 9, true) });
            ptr += 13;
            break;
          case ItemType.EXTENT_OWNER_REF:
            ptr += 9;
            break;
          default:
            throw new FsError('EUCLEAN', `extent item ${key}: inline ref of type ${type}`);
        }
      }
      continue;
    }
    if (!out) continue;
    switch (key.type) {
      case ItemType.TREE_BLOCK_REF:
        out.refs.push({ type: key.type, root: key.offset, parent: 0, objectid: 0, offset: 0, count: 1 });
        break;
      case ItemType.SHARED_BLOCK_REF:
        out.refs.push({ type: key.type, root: 0, parent: key.offset, objectid: 0, offset: 0, count: 1 });
        break;
      case ItemType.EXTENT_DATA_REF:
        out.refs.push(decodeDataRef(dv, 0));
        break;
      case ItemType.SHARED_DATA_REF:
        out.refs.push({ type: key.type, root: 0, parent: key.offset, objectid: 0, offset: 0, count: dv.getUint32(0, true) });
        break;
      default:
        break;
    }
  }
  return out;
}

/** Last slot of `node` whose key is <= key (0 when all are greater): where a search descends. */
function descendSlot(node: ExtentBuffer, key: Key): number {
  let lo = 0;
  let hi = node.nritems - 1;
  let best = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (node.compareKey(mid, key) <= 0) {
      best = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return best;
}

/** A tree block's own bytes, wherever they are (dirty, cached, on disk): only its first key is read. */
async function readAnyBlock(fs: FsInfo, bytenr: number, level: number): Promise<ExtentBuffer> {
  const eb = fs.dirty.get(bytenr) ?? fs.cache.get(bytenr);
  if (eb && eb.level === level) return eb;
  return fs.readBlock(bytenr, { generation: 0, level });
}

/**
 * resolve_indirect_ref for TREE_BLOCK_REF(root) of the block `bytenr` at `level`: the
 * block of `root` one level up that points at it, or undefined when the block is the root's
 * root block or cannot be found there (its root then counts directly, as btrfs).
 */
async function resolveTreeRef(fs: FsInfo, view: TreeView, rootId: number, bytenr: number, level: number): Promise<number | undefined> {
  const rootNode = await view.rootOf(rootId);
  if (!rootNode || rootNode.bytenr === bytenr || rootNode.level <= level) return undefined;
  const block = await readAnyBlock(fs, bytenr, level);
  if (block.nritems === 0) return undefined;
  const key = block.key(0);
  let node = rootNode;
  for (let depth = 0; node.level > level + 1; depth++) {
    if (depth > MAX_DEPTH) throw new FsError('EUCLEAN', `tree ${rootId}: too deep`);
    const slot = descendSlot(node, key);
    node = await fs.readBlock(node.blockptr(slot), { generation: node.ptrGeneration(slot), level: node.level - 1 });
  }
  // The parent's key for a block is the block's first key, so the search ends at its parent
  // in a consistent tree; the pointer is checked, not assumed.
  for (let i = 0; i < node.nritems; i++) if (node.blockptr(i) === bytenr) return node.bytenr;
  return undefined;
}

/**
 * resolve_indirect_ref for EXTENT_DATA_REF(root, inode, offset, count) of data extent
 * `bytenr`: the leaves of `root` holding the file extent items that make up the count.
 */
async function resolveDataRef(fs: FsInfo, view: TreeView, ref: ExtentRef, bytenr: number): Promise<number[]> {
  const rootNode = await view.rootOf(ref.root);
  if (!rootNode) return [];
  const t: TreeRoot = { objectid: ref.root, node: rootNode };
  const leaves: number[] = [];
  let found = 0;
  const F = FileExtentItem.off;
  const start = ref.offset < 0 ? 0 : ref.offset;
  for await (const it of iterItems(fs, t, Key.of(ref.objectid, ItemType.EXTENT_DATA, start), Key.of(ref.objectid, ItemType.EXTENT_DATA, -1))) {
    const data = it.data;
    if (data.length < FileExtentItem.size || data[F.type] === FileExtentType.INLINE) continue;
    const dv = viewOf(data);
    if (readU64(dv, F.diskBytenr) !== bytenr) continue;
    const keyOff = it.key.offset;
    const extOff = readU64(dv, F.offset);
    const refOff = keyOff - extOff;
    if (ref.offset >= 0 ? refOff !== ref.offset : refOff >= 0) continue;
    if (leaves[leaves.length - 1] !== it.leaf.bytenr) leaves.push(it.leaf.bytenr);
    if (++found >= ref.count) break;
  }
  return leaves;
}

/**
 * btrfs_find_all_roots: the subvolume trees (5 and ids >= 256) from whose root block the
 * extent at `bytenr` is reachable in `view`. Empty when the view has no such extent.
 */
export async function findAllRoots(fs: FsInfo, view: TreeView, bytenr: number): Promise<Set<number>> {
  const roots = new Set<number>();
  const queue = [bytenr];
  const seen = new Set<number>(queue);
  for (let i = 0; i < queue.length; i++) {
    if (i > MAX_WALK_BLOCKS) throw new FsError('EUCLEAN', `backref walk of extent ${bytenr} visits too many blocks`);
    const e = await extentRefs(fs, view, queue[i]);
    if (!e) continue;
    const parents: number[] = [];
    for (const r of e.refs) {
      switch (r.type) {
        case ItemType.SHARED_BLOCK_REF:
        case ItemType.SHARED_DATA_REF:
          parents.push(r.parent);
          break;
        case ItemType.TREE_BLOCK_REF: {
          if (!isShareableRoot(r.root)) break;
          const p = await resolveTreeRef(fs, view, r.root, e.bytenr, e.level);
          if (p === undefined) roots.add(r.root);
          else parents.push(p);
          break;
        }
        case ItemType.EXTENT_DATA_REF: {
          if (!isShareableRoot(r.root)) break;
          const leaves = await resolveDataRef(fs, view, r, e.bytenr);
          if (leaves.length === 0) roots.add(r.root);
          else parents.push(...leaves);
          break;
        }
        default:
          break;
      }
    }
    for (const p of parents) {
      if (seen.has(p)) continue;
      seen.add(p);
      queue.push(p);
    }
  }
  return roots;
}

/** Every extent item of a view's extent tree from `start` on, in order (for rescan). */
export async function* allExtents(fs: FsInfo, view: TreeView, start: number): AsyncGenerator<{ bytenr: number; numBytes: number }> {
  const node = await view.rootOf(EXTENT_TREE_OBJECTID);
  if (!node) throw new FsError('EUCLEAN', 'the extent tree is missing');
  const t: TreeRoot = { objectid: EXTENT_TREE_OBJECTID, node };
  let last = -1;
  for await (const it of iterItems(fs, t, Key.of(start, 0, 0), Key.MAX)) {
    const k = it.key;
    if (k.type !== ItemType.EXTENT_ITEM && k.type !== ItemType.METADATA_ITEM) continue;
    const bytenr = k.objectid;
    if (bytenr === last) continue;
    last = bytenr;
    yield { bytenr, numBytes: k.type === ItemType.METADATA_ITEM ? fs.nodesize : k.offset };
  }
}


// Qgroup verification for our check (btrfs-progs check/qgroup-verify.c, `btrfs check
// --qgroup-report`): every qgroup's referenced and exclusive bytes recomputed from the
// committed extent tree, independently of the engine's accounting (src/subvol/qgroup.ts
// walks backrefs per changed extent; this walks the whole extent tree the way btrfs-progs
// does):
//  * each extent's refs give roots directly (TREE_BLOCK_REF / EXTENT_DATA_REF: their tree)
//    or parents (SHARED_*: a tree block whose roots count);
//  * "implied" refs: every block and data extent below an interior tree block counts that
//    block as a parent, so whatever reaches the interior block reaches them;
//  * per extent, a qgroup (and every qgroup above it) counts the extent as referenced when
//    any of its subvolumes reaches it, as exclusive when all roots are its own.
// A qgroup is compared when its subvolume exists or its level is above 0 (as btrfs-progs);
// with the status INCONSISTENT or RESCAN flag nothing is compared (the numbers are known
// to be stale).
import { Key } from '../format/key.js';
import { ItemType, EXTENT_FLAG_TREE_BLOCK, FileExtentType, QUOTA_TREE_OBJECTID, ROOT_TREE_OBJECTID, EXTENT_TREE_OBJECTID } from '../format/constants.js';
import { ExtentItem, TreeBlockInfo, ExtentDataRef, FileExtentItem, QgroupInfo } from '../format/structs.js';
import { viewOf } from '../format/struct.js';
import { readU64 } from '../format/u64.js';
import { iterItems } from '../tree/ctree.js';
import type { ExtentBuffer } from '../tree/extent-buffer.js';
import type { TreeRoot } from '../tree/tree-host.js';
import type { FsInfo } from './fs-info.js';
import { isShareableRoot } from './extent-tree.js';
import { decodeRootItem } from './open.js';
import { FsError } from '../util/errors.js';

const STATUS_FLAG_ON = 1;
const STATUS_FLAG_RESCAN = 2;
const STATUS_FLAG_INCONSISTENT = 4;
const LEVEL_SHIFT = 2 ** 48;

/** One ref of an extent: a root (parent 0) or a parent block (root 0). */
interface Ref {
  root: number;
  parent: number;
}

interface Count {
  id: number;
  diskRfer: number;
  diskExcl: number;
  rfer: number;
  excl: number;
  subvolExists: boolean;
  parents: number[];
}

export interface QgroupVerifyResult {
  /** Whether the filesystem has quotas on. */
  enabled: boolean;
  /** Compared at all (not INCONSISTENT, no rescan running). */
  compared: boolean;
  /** Per qgroupid what the extent tree says. */
  counts: Map<number, { rfer: number; excl: number; diskRfer: number; diskExcl: number }>;
  /** Sentences, one per qgroup whose numbers differ. */
  errors: string[];
}

const fmt = (q: number): string => `${Math.floor(q / LEVEL_SHIFT)}/${q % LEVEL_SHIFT}`;

async function rootNode(fs: FsInfo, rootTree: TreeRoot, id: number): Promise<ExtentBuffer | undefined> {
  let data: Uint8Array | undefined;
  for await (const it of iterItems(fs, rootTree, Key.of(id, ItemType.ROOT_ITEM, 0), Key.of(id, ItemType.ROOT_ITEM, -1))) data = it.data.slice();
  if (!data) return undefined;
  const item = decodeRootItem(data, id);
  return fs.readBlock(item.bytenr, { generation: item.generation, level: item.level, owner: id });
}

/** Recomputes the qgroup numbers of the committed state of `fs` and compares them with the quota tree's. */
export async function verifyQgroups(fs: FsInfo, opts: { tick?: () => void } = {}): Promise<QgroupVerifyResult> {
  const result: QgroupVerifyResult = { enabled: false, compared: false, counts: new Map(), errors: [] };
  const sb = fs.sb;
  const rootTree: TreeRoot = { objectid: ROOT_TREE_OBJECTID, node: await fs.readBlock(sb.root, { generation: sb.generation, level: sb.rootLevel, owner: ROOT_TREE_OBJECTID }) };
  const quotaNode = await rootNode(fs, rootTree, QUOTA_TREE_OBJECTID);
  if (!quotaNode) return result;
  const counts = new Map<number, Count>();
  let flags = 0;
  const relations: [number, number][] = [];
  for await (const it of iterItems(fs, { objectid: QUOTA_TREE_OBJECTID, node: quotaNode }, Key.MIN, Key.MAX)) {
    const { key, data } = it;
    if (key.type === ItemType.QGROUP_STATUS) {
      flags = data.length >= 24 ? readU64(viewOf(data), 16) : 0;
    } else if (key.type === ItemType.QGROUP_INFO) {
      if (data.length < QgroupInfo.size) throw new FsError('EUCLEAN', `qgroup info ${fmt(key.offset)} is ${data.length} bytes`);
      const i = QgroupInfo.decode(viewOf(data), 0);
      const id = key.offset;
      const subvolExists = Math.floor(id / LEVEL_SHIFT) === 0 && (await rootNode(fs, rootTree, id)) !== undefined;
      counts.set(id, { id, diskRfer: i.rfer, diskExcl: i.excl, rfer: 0, excl: 0, subvolExists, parents: [] });
    } else if (key.type === ItemType.QGROUP_RELATION && key.objectid < key.offset) {
      relations.push([key.objectid, key.offset]);
    }
  }
  if ((flags & STATUS_FLAG_ON) === 0) return result;
  result.enabled = true;
  for (const [member, parent] of relations) {
    const m = counts.get(member);
    if (m && counts.has(parent)) m.parents.push(parent);
  }
  if ((flags & (STATUS_FLAG_INCONSISTENT | STATUS_FLAG_RESCAN)) !== 0) return result;
  result.compared = true;

  // Every extent's refs (scan_extents), and the interior tree blocks.
  const refs = new Map<number, Ref[]>();
  const sizes = new Map<number, number>();
  const interior: { bytenr: number; level: number }[] = [];
  const addRef = (bytenr: number, numBytes: number, r: Ref) => {
    let l = refs.get(bytenr);
    if (!l) {
      l = [];
      refs.set(bytenr, l);
      sizes.set(bytenr, numBytes);
    }
    if (!l.some((x) => x.root === r.root && x.parent === r.parent)) l.push(r);
  };
  const extentRoot = await rootNode(fs, rootTree, EXTENT_TREE_OBJECTID);
  if (!extentRoot) throw new FsError('EUCLEAN', 'the extent tree is missing');
  let current = -1;
  let currentBytes = 0;
  for await (const it of iterItems(fs, { objectid: EXTENT_TREE_OBJECTID, node: extentRoot }, Key.MIN, Key.MAX)) {
    opts.tick?.();
    const { key, data } = it;
    const dv = viewOf(data);
    if (key.type === ItemType.EXTENT_ITEM || key.type === ItemType.METADATA_ITEM) {
      current = key.objectid;
      const meta = key.type === ItemType.METADATA_ITEM;
      currentBytes = meta ? fs.nodesize : key.offset;
      const ef = readU64(dv, ExtentItem.off.flags);
      let ptr = ExtentItem.size;
      let level = meta ? key.offset : 0;
      if ((ef & EXTENT_FLAG_TREE_BLOCK) !== 0 && !meta) {
        level = data[ptr + TreeBlockInfo.off.level];
        ptr += TreeBlockInfo.size;
      }
      // Make the extent known even without refs we can use.
      if (!refs.has(current)) {
        refs.set(current, []);
        sizes.set(current, currentBytes);
      }
      if ((ef & EXTENT_FLAG_TREE_BLOCK) !== 0 && level > 0) interior.push({ bytenr: current, level });
      while (ptr < data.length) {
        const type = data[ptr];
        const off = ptr + 1;
        if (type === ItemType.TREE_BLOCK_REF) addRef(current, currentBytes, { root: readU64(dv, off), parent: 0 });
        else if (type === ItemType.SHARED_BLOCK_REF || type === ItemType.SHARED_DATA_REF) addRef(current, currentBytes, { root: 0, parent: readU64(dv, off) });
        else if (type === ItemType.EXTENT_DATA_REF) addRef(current, currentBytes, { root: readU64(dv, off + ExtentDataRef.off.root), parent: 0 });
        else if (type !== ItemType.EXTENT_OWNER_REF) throw new FsError('EUCLEAN', `extent ${current}: inline ref of type ${type}`);
        ptr += type === ItemType.EXTENT_DATA_REF ? 1 + ExtentDataRef.size : type === ItemType.SHARED_DATA_REF ? 13 : 9;
      }
      continue;
    }
    if (key.objectid !== current) continue;
    if (key.type === ItemType.TREE_BLOCK_REF) addRef(current, currentBytes, { root: key.offset, parent: 0 });
    else if (key.type === ItemType.SHARED_BLOCK_REF || key.type === ItemType.SHARED_DATA_REF) addRef(current, currentBytes, { root: 0, parent: key.offset });
    else if (key.type === ItemType.EXTENT_DATA_REF) addRef(current, currentBytes, { root: readU64(dv, ExtentDataRef.off.root), parent: 0 });
  }

  // resolve_one_root: the first ref's root, following parents.
  const resolveOne = (bytenr: number): number => {
    for (let guard = 0; guard < 64; guard++) {
      const l = refs.get(bytenr);
      if (!l || l.length === 0) return 0;
      if (l[0].root) return l[0].root;
      bytenr = l[0].parent;
    }
    return 0;
  };
  // map_implied_refs / travel_tree: everything below an interior block of a subvolume gets it as a parent.
  const F = FileExtentItem.off;
  for (const { bytenr: b, level: bLevel } of interior) {
    opts.tick?.();
    if (!isShareableRoot(resolveOne(b))) continue;
    const stack = [{ bytenr: b, level: bLevel, generation: 0 }];
    while (stack.length > 0) {
      const { bytenr: cur, level, generation } = stack.pop()!;
      // generation 0: the interior block's own generation is not known here (any is fine).
      const eb = await fs.readBlock(cur, { generation, level });
      if (cur !== b) addRef(cur, fs.nodesize, { root: 0, parent: b });
      if (eb.level > 0) {
        for (let i = 0; i < eb.nritems; i++) stack.push({ bytenr: eb.blockptr(i), level: eb.level - 1, generation: eb.ptrGeneration(i) });
        continue;
      }
      for (let i = 0; i < eb.nritems; i++) {
        if (eb.key(i).type !== ItemType.EXTENT_DATA) continue;
        const d = eb.itemData(i);
        if (d.length < FileExtentItem.size || d[F.type] === FileExtentType.INLINE) continue;
        const ddv = viewOf(d);
        const disk = readU64(ddv, F.diskBytenr);
        if (disk !== 0) addRef(disk, readU64(ddv, F.diskNumBytes), { root: 0, parent: b });
      }
    }
  }

  // find_parent_roots, memoized per block.
  const memo = new Map<number, Set<number>>();
  const rootsOf = (bytenr: number, depth: number): Set<number> => {
    const have = memo.get(bytenr);
    if (have) return have;
    if (depth > 64) throw new FsError('EUCLEAN', `qgroup verify: parent chain of ${bytenr} too deep`);
    const out = new Set<number>();
    for (const r of refs.get(bytenr) ?? []) {
      if (r.root) {
        if (isShareableRoot(r.root)) out.add(r.root);
      } else if (r.parent !== bytenr) {
        if (!refs.has(r.parent)) throw new FsError('EUCLEAN', `qgroup verify: parent ${r.parent} of extent ${bytenr} has no extent item`);
        for (const x of rootsOf(r.parent, depth + 1)) out.add(x);
      }
    }
    memo.set(bytenr, out);
    return out;
  };

  // account_one_extent.
  for (const [bytenr, l] of refs) {
    if (l.length === 0) continue;
    opts.tick?.();
    const roots = rootsOf(bytenr, 0);
    if (roots.size === 0) continue;
    const numBytes = sizes.get(bytenr)!;
    const per = new Map<number, number>();
    for (const r of roots) {
      const start = counts.get(r);
      if (!start) continue;
      const seen = new Set<number>();
      const queue = [start];
      for (let i = 0; i < queue.length; i++) {
        const c = queue[i];
        if (seen.has(c.id)) continue;
        seen.add(c.id);
        per.set(c.id, (per.get(c.id) ?? 0) + 1);
        for (const p of c.parents) queue.push(counts.get(p)!);
      }
    }
    for (const [id, n] of per) {
      const c = counts.get(id)!;
      c.rfer += numBytes;
      if (n === roots.size) c.excl += numBytes;
    }
  }

  for (const c of counts.values()) {
    result.counts.set(c.id, { rfer: c.rfer, excl: c.excl, diskRfer: c.diskRfer, diskExcl: c.diskExcl });
    const printable = c.subvolExists || c.id >= LEVEL_SHIFT;
    if (printable && (c.rfer !== c.diskRfer || c.excl !== c.diskExcl)) {
      result.errors.push(`qgroup ${fmt(c.id)}: referenced ${c.diskRfer} exclusive ${c.diskExcl} on disk, the extent tree gives referenced ${c.rfer} exclusive ${c.excl}`);
    }
  }
  return result;
}

// Quota groups (btrfs qgroup.c, classic qgroups: referenced / exclusive bytes found by
// backref walking; not simple quotas).
//
// On disk (the quota tree, objectid 8): QGROUP_STATUS (0, 240, 0) {version 1, generation,
// flags ON | RESCAN | INCONSISTENT, rescan progress, enable_gen}; per qgroup QGROUP_INFO
// (0, 242, qgroupid) {generation, rfer, rfer_cmpr, excl, excl_cmpr} and QGROUP_LIMIT
// (0, 244, qgroupid) {flags, max_rfer, max_excl, rsv_rfer, rsv_excl}; per relation two
// QGROUP_RELATION items (child, 246, parent) and (parent, 246, child). A qgroupid is
// level << 48 | id; level 0 qgroups are subvolumes (0/<subvolume id>).
//
// Accounting (btrfs_qgroup_account_extents): every extent whose refs a subvolume tree
// changes in a transaction is recorded (the delayed refs tell us: qgroup_extent_records);
// at commit, once the refs ran, its roots before the transaction (a backref walk over the
// last commit's trees) and after (over the current trees) are compared per qgroup:
// referenced moves when a qgroup's count of roots crosses 0, exclusive when it equals the
// number of roots (qgroup_update_counters). A snapshot is accounted as btrfs does
// (qgroup_account_snapshot + btrfs_qgroup_inherit): the transaction so far is accounted,
// the new subvolume's qgroup copies the source's referenced bytes, both have one node of
// exclusive, and the trees at that point become the "before" of the rest of the
// transaction (btrfs writes them out and switches commit roots; so do we, without a
// superblock). Deleting a subvolume drops shared subtrees without entering them; their
// extents are recorded by walking them (btrfs_qgroup_trace_subtree), so their exclusive
// owner gets them back when the drop completes.
//
// Limits: a write reserves the bytes it can add (its range, sector aligned) against every
// limit of its subvolume's qgroup and the qgroups above it, and fails with EDQUOT before it
// changes anything (qgroup_reserve / qgroup_check_limits). Reservations are released when
// the transaction is accounted.
//
// Run to completion: everything here runs under the filesystem's writer mutex.
import { Key } from '../format/key.js';
import { ItemType, QUOTA_TREE_OBJECTID, FS_TREE_OBJECTID, FileExtentType } from '../format/constants.js';
import { QgroupStatus, QgroupInfo, QgroupLimit, FileExtentItem } from '../format/structs.js';
import { viewOf } from '../format/struct.js';
import { readU64 } from '../format/u64.js';
import { insertItem, iterItems, searchSlot, deleteItems, deleteItem } from '../tree/ctree.js';
import { Root, type FsInfo, type QgroupHooks } from '../fs/fs-info.js';
import { isShareableRoot } from '../fs/extent-tree.js';
import { commitTransaction, convergeTransaction, startTransaction } from '../fs/transaction.js';
import { writeDirtyBlocks } from '../fs/disk-io.js';
import { upsertItem } from '../fs/items.js';
import { FsError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import { committedView, currentView, findAllRoots, allExtents, type TreeView } from './backref.js';
import { findRootItem, createTree } from './snapshot.js';

export const QGROUP_STATUS_FLAG_ON = 1;
export const QGROUP_STATUS_FLAG_RESCAN = 2;
export const QGROUP_STATUS_FLAG_INCONSISTENT = 4;
export const QGROUP_STATUS_VERSION = 1;
export const QGROUP_LIMIT_MAX_RFER = 1;
export const QGROUP_LIMIT_MAX_EXCL = 2;
export const QGROUP_LIMIT_RSV_RFER = 4;
export const QGROUP_LIMIT_RSV_EXCL = 8;

const LEVEL_SHIFT = 2 ** 48;
/** Highest level whose qgroupids are exact JS numbers (level << 48 | id < 2^53). */
const MAX_LEVEL = 31;

/** qgroupid = level << 48 | id. */
export function qgroupId(level: number, id: number): number {
  if (!Number.isInteger(level) || level < 0 || level > MAX_LEVEL) throw new FsError('EINVAL', `qgroup level ${level} out of range (0..${MAX_LEVEL})`);
  if (!Number.isInteger(id) || id < 0 || id >= LEVEL_SHIFT) throw new FsError('EINVAL', `qgroup id ${id} out of range`);
  return level * LEVEL_SHIFT + id;
}
export const qgroupLevel = (q: number): number => Math.floor(q / LEVEL_SHIFT);
export const qgroupSubvolid = (q: number): number => q % LEVEL_SHIFT;
export const formatQgroupId = (q: number): string => `${qgroupLevel(q)}/${qgroupSubvolid(q)}`;

/** '1/100' (or a bare subvolume id '257', level 0, as btrfs-progs parse_qgroupid) to a qgroupid. */
export function parseQgroupId(s: string): number {
  const m = /^(?:(\d+)\/)?(\d+)$/.exec(s.trim());
  if (!m) throw new FsError('EINVAL', `invalid qgroup id '${s}'`);
  return qgroupId(m[1] === undefined ? 0 : Number(m[1]), Number(m[2]));
}

/** One qgroup in memory (btrfs_qgroup). */
export interface Qgroup {
  readonly id: number;
  rfer: number;
  rferCmpr: number;
  excl: number;
  exclCmpr: number;
  limFlags: number;
  maxRfer: number;
  maxExcl: number;
  rsvRfer: number;
  rsvExcl: number;
  /** Qgroups this one is a member of, and its members. */
  readonly parents: Set<number>;
  readonly children: Set<number>;
  /** Bytes reserved by writes of the running transaction, not yet accounted. */
  reserved: number;
}

function newQgroup(id: number): Qgroup {
  return {
    id, rfer: 0, rferCmpr: 0, excl: 0, exclCmpr: 0, limFlags: 0, maxRfer: 0, maxExcl: 0, rsvRfer: 0, rsvExcl: 0,
    parents: new Set(), children: new Set(), reserved: 0,
  };
}

/** The root tree root a view starts from. */
interface ViewRoot {
  bytenr: number;
  level: number;
  generation: number;
}

/** The quota configuration and accounting state of a mounted filesystem (fs_info's qgroup fields). */
export class QgroupState implements QgroupHooks {
  flags: number;
  rescanProgress = 0;
  readonly groups = new Map<number, Qgroup>();
  /** Extents whose refs changed since they were last accounted: bytenr -> bytes (qgroup_extent_records). */
  readonly records = new Map<number, number>();
  /** Qgroups whose items must be written at commit. */
  readonly dirty = new Set<number>();
  private statusDirty = false;
  /**
   * The "before" of the running transaction when it is not the last commit: the trees as a
   * snapshot left them (btrfs's commit roots switched by qgroup_account_snapshot).
   */
  override: (ViewRoot & { transid: number }) | undefined;
  /** A subvolume being snapshotted: not in old and new roots while its snapshot is accounted (qgroup_to_skip). */
  private skip: number | undefined;

  constructor(flags: number) {
    this.flags = flags;
  }

  get(id: number): Qgroup | undefined {
    return this.groups.get(id);
  }

  add(id: number): Qgroup {
    let g = this.groups.get(id);
    if (!g) {
      g = newQgroup(id);
      this.groups.set(id, g);
    }
    this.dirty.add(id);
    return g;
  }

  markDirty(id: number): void {
    this.dirty.add(id);
  }

  markStatusDirty(): void {
    this.statusDirty = true;
  }

  /** btrfs_qgroup_trace_extent. */
  trace(bytenr: number, numBytes: number): void {
    if (bytenr === 0 || numBytes === 0) return;
    this.records.set(bytenr, numBytes);
  }

  /** A qgroup and all the qgroups above it, each once. */
  closure(g: Qgroup): Qgroup[] {
    const out = [g];
    const seen = new Set([g.id]);
    for (let i = 0; i < out.length; i++) {
      for (const p of out[i].parents) {
        if (seen.has(p)) continue;
        seen.add(p);
        const pg = this.groups.get(p);
        if (pg) out.push(pg);
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- QgroupHooks

  reserve(rootId: number, bytes: number): void {
    if (!isShareableRoot(rootId) || bytes <= 0) return;
    const g = this.groups.get(rootId);
    if (!g) return;
    const all = this.closure(g);
    for (const q of all) {
      const rsv = q.reserved;
      if ((q.limFlags & QGROUP_LIMIT_MAX_RFER) !== 0 && rsv + q.rfer + bytes > q.maxRfer) {
        throw new FsError('EDQUOT', `qgroup ${formatQgroupId(q.id)}: referenced limit ${q.maxRfer} reached`);
      }
      if ((q.limFlags & QGROUP_LIMIT_MAX_EXCL) !== 0 && rsv + q.excl + bytes > q.maxExcl) {
        throw new FsError('EDQUOT', `qgroup ${formatQgroupId(q.id)}: exclusive limit ${q.maxExcl} reached`);
      }
    }
    for (const q of all) q.reserved += bytes;
  }

  pending(): boolean {
    return this.statusDirty || this.dirty.size > 0 || this.records.size > 0;
  }

  async commit(fs: FsInfo): Promise<void> {
    await this.accountRecords(fs);
    for (const g of this.groups.values()) g.reserved = 0;
    await this.writeItems(fs);
  }

  // ---------------------------------------------------------------- accounting

  /** The trees before the running transaction (btrfs's commit roots). */
  oldView(fs: FsInfo): TreeView {
    const o = this.override;
    if (o && o.transid === fs.transid) return committedView(fs, o);
    return committedView(fs, { bytenr: fs.sb.root, level: fs.sb.rootLevel, generation: fs.sb.generation });
  }

  /** btrfs_qgroup_account_extents: every record, old roots against new roots. */
  async accountRecords(fs: FsInfo): Promise<void> {
    if (this.records.size === 0) return;
    const oldV = this.oldView(fs);
    const newV = currentView(fs);
    const records = [...this.records].sort((a, b) => a[0] - b[0]);
    this.records.clear();
    for (const [bytenr, numBytes] of records) {
      if ((this.flags & QGROUP_STATUS_FLAG_RESCAN) !== 0 && bytenr >= this.rescanProgress) continue;
      const oldRoots = await findAllRoots(fs, oldV, bytenr);
      const newRoots = await findAllRoots(fs, newV, bytenr);
      if (this.skip !== undefined) {
        oldRoots.delete(this.skip);
        newRoots.delete(this.skip);
      }
      this.accountExtent(numBytes, oldRoots, newRoots);
    }
  }

  /** btrfs_qgroup_account_extent: qgroup_update_refcnt for both sets, then qgroup_update_counters. */
  accountExtent(numBytes: number, oldRoots: Set<number>, newRoots: Set<number>): void {
    const nrOld = oldRoots.size;
    const nrNew = newRoots.size;
    if (nrOld === 0 && nrNew === 0) return;
    const oldCnt = new Map<number, number>();
    const newCnt = new Map<number, number>();
    const touched = new Map<number, Qgroup>();
    const count = (roots: Set<number>, cnt: Map<number, number>) => {
      for (const r of roots) {
        const g = this.groups.get(r);
        if (!g) continue;
        for (const q of this.closure(g)) {
          cnt.set(q.id, (cnt.get(q.id) ?? 0) + 1);
          touched.set(q.id, q);
        }
      }
    };
    count(oldRoots, oldCnt);
    count(newRoots, newCnt);
    for (const q of touched.values()) {
      const co = oldCnt.get(q.id) ?? 0;
      const cn = newCnt.get(q.id) ?? 0;
      let changed = false;
      if (co === 0 && cn > 0) {
        q.rfer += numBytes;
        q.rferCmpr += numBytes;
        changed = true;
      }
      if (co > 0 && cn === 0) {
        q.rfer -= numBytes;
        q.rferCmpr -= numBytes;
        changed = true;
      }
      // Exclusive <-> shared (the table of qgroup_update_counters).
      if (co === nrOld && cn < nrNew && co !== 0) {
        q.excl -= numBytes;
        q.exclCmpr -= numBytes;
        changed = true;
      }
      if (co < nrOld && cn === nrNew && cn !== 0) {
        q.excl += numBytes;
        q.exclCmpr += numBytes;
        changed = true;
      }
      if (co === nrOld && cn === nrNew) {
        if (co === 0 && cn !== 0) {
          q.excl += numBytes;
          q.exclCmpr += numBytes;
          changed = true;
        } else if (co !== 0 && cn === 0) {
          q.excl -= numBytes;
          q.exclCmpr -= numBytes;
          changed = true;
        }
      }
      if (changed) this.dirty.add(q.id);
    }
  }

  /** btrfs_run_qgroups: the changed INFO / LIMIT items and the status item. */
  async writeItems(fs: FsInfo): Promise<void> {
    const tree = quotaTree(fs);
    for (const id of [...this.dirty].sort((a, b) => a - b)) {
      const g = this.groups.get(id);
      if (!g) continue;
      await upsertItem(fs, tree, Key.of(0, ItemType.QGROUP_INFO, id), encodeInfo(fs.transid, g));
      await upsertItem(fs, tree, Key.of(0, ItemType.QGROUP_LIMIT, id), encodeLimit(g));
    }
    this.dirty.clear();
    this.statusDirty = false;
    await upsertItem(fs, tree, Key.of(0, ItemType.QGROUP_STATUS, 0), encodeStatus(fs.transid, this.flags, this.rescanProgress));
  }

  /**
   * qgroup_account_snapshot: accounts the transaction so far with the new snapshot left out
   * of every root set, gives it its qgroup (btrfs_qgroup_inherit), and makes the trees as
   * they are now the "before" of the rest of the transaction: they are written out (later
   * changes COW them) and the root tree's root is remembered.
   */
  async accountSnapshot(fs: FsInfo, srcId: number, dstId: number): Promise<void> {
    this.skip = dstId;
    try {
      await convergeTransaction(fs);
      await this.accountRecords(fs);
    } finally {
      this.skip = undefined;
    }
    this.inherit(fs, srcId, dstId);
    await writeDirtyBlocks(fs);
    // A commit must follow even if nothing else changes: the blocks just written are named
    // only by this transaction's trees.
    fs.superDirty = true;
    const rt = fs.rootTree.node;
    this.override = { transid: fs.transid, bytenr: rt.bytenr, level: rt.level, generation: rt.generation };
  }

  /** btrfs_qgroup_inherit for a snapshot of `srcId` (or a new subvolume when srcId is 0). */
  inherit(fs: FsInfo, srcId: number, dstId: number): void {
    const dst = this.add(dstId);
    dst.rfer = dst.rferCmpr = dst.excl = dst.exclCmpr = 0;
    const src = srcId ? this.groups.get(srcId) : undefined;
    if (!src) return;
    const nodesize = fs.nodesize;
    dst.rfer = src.rfer;
    dst.rferCmpr = src.rferCmpr;
    dst.excl = dst.exclCmpr = nodesize;
    src.excl = src.exclCmpr = nodesize;
    dst.limFlags = src.limFlags;
    dst.maxRfer = src.maxRfer;
    dst.maxExcl = src.maxExcl;
    dst.rsvRfer = src.rsvRfer;
    dst.rsvExcl = src.rsvExcl;
    this.dirty.add(src.id);
    // The source's exclusive bytes changed under the qgroups above it, by an amount only a
    // rescan knows: as btrfs (qgroup_snapshot_quick_inherit), the numbers are inconsistent.
    if (src.parents.size > 0) {
      this.flags |= QGROUP_STATUS_FLAG_INCONSISTENT;
      this.statusDirty = true;
    }
  }
}

function encodeInfo(generation: number, g: Qgroup): Uint8Array {
  const d = new Uint8Array(QgroupInfo.size);
  QgroupInfo.encode(viewOf(d), 0, { generation, rfer: g.rfer, rferCmpr: g.rferCmpr, excl: g.excl, exclCmpr: g.exclCmpr });
  return d;
}

function encodeLimit(g: Qgroup): Uint8Array {
  const d = new Uint8Array(QgroupLimit.size);
  QgroupLimit.encode(viewOf(d), 0, { flags: g.limFlags, maxRfer: g.maxRfer, maxExcl: g.maxExcl, rsvRfer: g.rsvRfer, rsvExcl: g.rsvExcl });
  return d;
}

function encodeStatus(generation: number, flags: number, rescan: number): Uint8Array {
  const d = new Uint8Array(QgroupStatus.size);
  QgroupStatus.encode(viewOf(d), 0, { version: QGROUP_STATUS_VERSION, generation, flags, rescan, enableGen: 0 });
  return d;
}

function quotaTree(fs: FsInfo): Root {
  const r = fs.roots.get(QUOTA_TREE_OBJECTID);
  if (!r) throw new FsError('ENOTCONN', 'quotas are not enabled');
  return r;
}

/** The quota state of a mounted filesystem, or undefined when quotas are off. */
export function qgroupState(fs: FsInfo): QgroupState | undefined {
  return fs.qgroup instanceof QgroupState ? fs.qgroup : undefined;
}

function requireState(fs: FsInfo): QgroupState {
  const s = qgroupState(fs);
  if (!s) throw new FsError('ENOTCONN', 'quotas are not enabled');
  return s;
}

function install(fs: FsInfo, st: QgroupState | undefined): void {
  fs.qgroup = st;
  fs.delayedRefs.trace = st ? (bytenr, numBytes) => st.trace(bytenr, numBytes) : undefined;
}

/** Reads one u64 from a possibly short item (btrfs-progs 6.2 mkfs writes a 32-byte status item). */
function u64At(data: Uint8Array, off: number): number {
  if (off + 8 > data.length) return 0;
  return readU64(viewOf(data), off);
}

/**
 * btrfs_read_qgroup_config: the quota configuration from the quota tree, at mount. Quotas
 * whose status lacks ON stay off; a status generation other than the superblock's marks the
 * numbers inconsistent, as btrfs. A rescan left running is finished here.
 */
export async function loadQgroups(fs: FsInfo): Promise<void> {
  install(fs, undefined);
  const tree = fs.roots.get(QUOTA_TREE_OBJECTID);
  if (!tree) return;
  let st: QgroupState | undefined;
  const relations: [number, number][] = [];
  const items: { type: number; id: number; data: Uint8Array }[] = [];
  for await (const it of iterItems(fs, tree, Key.MIN, Key.MAX)) {
    const { key, data } = it;
    if (key.type === ItemType.QGROUP_STATUS) {
      const O = QgroupStatus.off;
      const version = u64At(data, O.version);
      if (version !== QGROUP_STATUS_VERSION) return; // btrfs: "old qgroup version, quota disabled"
      const flags = u64At(data, O.flags);
      if ((flags & QGROUP_STATUS_FLAG_ON) === 0) return;
      st = new QgroupState(flags);
      st.rescanProgress = u64At(data, O.rescan);
      if (u64At(data, O.generation) !== fs.sb.generation) {
        st.flags |= QGROUP_STATUS_FLAG_INCONSISTENT;
        st.markStatusDirty();
      }
    } else if (key.type === ItemType.QGROUP_INFO || key.type === ItemType.QGROUP_LIMIT) {
      items.push({ type: key.type, id: key.offset, data: data.slice() });
    } else if (key.type === ItemType.QGROUP_RELATION) {
      if (key.objectid < key.offset) relations.push([key.objectid, key.offset]);
    }
  }
  if (!st) return;
  for (const { type, id, data } of items) {
    const g = st.groups.get(id) ?? newQgroup(id);
    st.groups.set(id, g);
    const dv = viewOf(data);
    if (type === ItemType.QGROUP_INFO) {
      if (data.length < QgroupInfo.size) throw new FsError('EUCLEAN', `qgroup info ${formatQgroupId(id)} is ${data.length} bytes`);
      const i = QgroupInfo.decode(dv, 0);
      Object.assign(g, { rfer: i.rfer, rferCmpr: i.rferCmpr, excl: i.excl, exclCmpr: i.exclCmpr });
    } else {
      if (data.length < QgroupLimit.size) throw new FsError('EUCLEAN', `qgroup limit ${formatQgroupId(id)} is ${data.length} bytes`);
      // btrfs-progs 6.2 mkfs -R quota leaves the limit item uninitialized: only the flag bits
      // btrfs defines count, and a value only with its flag.
      const flags = dv.getUint32(QgroupLimit.off.flags, true) & 0xf;
      g.limFlags = flags;
      g.maxRfer = flags & QGROUP_LIMIT_MAX_RFER ? readU64(dv, QgroupLimit.off.maxRfer) : 0;
      g.maxExcl = flags & QGROUP_LIMIT_MAX_EXCL ? readU64(dv, QgroupLimit.off.maxExcl) : 0;
      g.rsvRfer = flags & QGROUP_LIMIT_RSV_RFER ? readU64(dv, QgroupLimit.off.rsvRfer) : 0;
      g.rsvExcl = flags & QGROUP_LIMIT_RSV_EXCL ? readU64(dv, QgroupLimit.off.rsvExcl) : 0;
    }
  }
  for (const [child, parent] of relations) {
    const c = st.groups.get(child);
    const p = st.groups.get(parent);
    if (!c || !p) continue; // btrfs: "orphan qgroup relation", ignored
    c.parents.add(parent);
    p.children.add(child);
  }
  install(fs, st);
}

// ---------------------------------------------------------------- enable, disable

/**
 * btrfs_quota_enable: the quota tree with its status item and a qgroup for the top level and
 * every linked subvolume, then a rescan. The running transaction is committed first, so
 * that the rescan sees every change (changes before now were not recorded).
 */
export async function quotaEnable(fs: FsInfo): Promise<void> {
  if (qgroupState(fs)) return;
  if (fs.roots.has(QUOTA_TREE_OBJECTID)) {
    // A quota tree whose status is off (or unreadable): start from scratch, as btrfs would
    // refuse to create the tree twice.
    await dropQuotaTree(fs);
  }
  await commitTransaction(fs);
  startTransaction(fs);
  await createTree(fs, QUOTA_TREE_OBJECTID);

  const st = new QgroupState(QGROUP_STATUS_FLAG_ON | QGROUP_STATUS_FLAG_INCONSISTENT);
  st.add(FS_TREE_OBJECTID);
  for await (const it of iterItems(fs, fs.rootTree, Key.of(0, ItemType.ROOT_REF, 0), Key.MAX)) {
    if (it.key.type === ItemType.ROOT_REF) st.add(it.key.offset);
  }
  st.markStatusDirty();
  install(fs, st);
  await qgroupRescan(fs);
}

/** Deletes every item of the quota tree, its root block and its ROOT_ITEM (btrfs_quota_disable). */
async function dropQuotaTree(fs: FsInfo): Promise<void> {
  const tree = quotaTree(fs);
  for (let guard = 0; guard < 1 << 24; guard++) {
    const { path } = await searchSlot(fs, tree, Key.MIN, { cow: true, insLen: -1 });
    const n = path.leaf.nritems;
    if (n === 0) break;
    await deleteItems(fs, path, 0, n);
  }
  assert(tree.node.level === 0 && tree.node.nritems === 0, 'quota tree not empty after deleting its items');
  await deleteItem(fs, fs.rootTree, Key.of(QUOTA_TREE_OBJECTID, ItemType.ROOT_ITEM, 0));
  fs.roots.delete(QUOTA_TREE_OBJECTID);
  fs.freeBlock(tree.node, QUOTA_TREE_OBJECTID);
}

/** btrfs_quota_disable: no more accounting; the quota tree goes. */
export async function quotaDisable(fs: FsInfo): Promise<void> {
  if (!fs.roots.has(QUOTA_TREE_OBJECTID)) {
    install(fs, undefined);
    return;
  }
  install(fs, undefined);
  await dropQuotaTree(fs);
}

// ---------------------------------------------------------------- rescan

export interface RescanOptions {
  signal?: AbortSignal;
  /** Called every few hundred extents with the extents done and the current position (a bytenr). */
  onProgress?: (p: { extents: number; position: number }) => void;
}

/**
 * btrfs_qgroup_rescan (qgroup_rescan_leaf over the whole extent tree, in one go): every
 * qgroup's numbers from scratch, over the trees before the running transaction (whose own
 * changes are recorded and accounted at its commit, against those same trees). Cancelled
 * by the signal, the numbers are left marked inconsistent.
 */
export async function qgroupRescan(fs: FsInfo, o: RescanOptions = {}): Promise<void> {
  const st = requireState(fs);
  for (const g of st.groups.values()) {
    g.rfer = g.rferCmpr = g.excl = g.exclCmpr = 0;
    st.markDirty(g.id);
  }
  st.flags |= QGROUP_STATUS_FLAG_INCONSISTENT;
  st.markStatusDirty();
  const view = st.oldView(fs);
  let n = 0;
  for await (const e of allExtents(fs, view, 0)) {
    if (o.signal?.aborted) throw o.signal.reason instanceof Error ? o.signal.reason : new FsError('ECANCELED', 'qgroup rescan cancelled');
    const roots = await findAllRoots(fs, view, e.bytenr);
    st.accountExtent(e.numBytes, new Set(), roots);
    if (++n % 256 === 0) o.onProgress?.({ extents: n, position: e.bytenr });
  }
  o.onProgress?.({ extents: n, position: -1 });
  st.flags &= ~(QGROUP_STATUS_FLAG_INCONSISTENT | QGROUP_STATUS_FLAG_RESCAN);
  st.rescanProgress = 0;
}

// ---------------------------------------------------------------- create, destroy, relations, limits

/** btrfs_create_qgroup. */
export async function qgroupCreate(fs: FsInfo, id: number): Promise<void> {
  const st = requireState(fs);
  if (st.get(id)) throw new FsError('EEXIST', `qgroup ${formatQgroupId(id)} exists`);
  st.add(id);
}

/** btrfs_remove_qgroup: EBUSY while it has members; its own memberships go with it. */
export async function qgroupDestroy(fs: FsInfo, id: number): Promise<void> {
  const st = requireState(fs);
  const g = st.get(id);
  if (!g) throw new FsError('ENOENT', `qgroup ${formatQgroupId(id)} does not exist`);
  if (g.children.size > 0) throw new FsError('EBUSY', `qgroup ${formatQgroupId(id)} has members`);
  // btrfs refuses to remove the qgroup of a live subvolume (6.x: EBUSY).
  if (qgroupLevel(id) === 0 && isShareableRoot(id) && ((await findRootItem(fs, id))?.item.refs ?? 0) > 0) {
    throw new FsError('EBUSY', `qgroup ${formatQgroupId(id)} belongs to a live subvolume`);
  }
  for (const p of [...g.parents]) await qgroupRemoveRelation(fs, id, p);
  const tree = quotaTree(fs);
  for (const type of [ItemType.QGROUP_INFO, ItemType.QGROUP_LIMIT]) {
    const { found, path } = await searchSlot(fs, tree, Key.of(0, type, id), { cow: true, insLen: -1 });
    if (found) await deleteItems(fs, path, path.slots[0], 1);
  }
  st.groups.delete(id);
  st.dirty.delete(id);
}

/**
 * btrfs_add_qgroup_relation: `child` becomes a member of `parent` (a higher level). When the
 * child's bytes are all exclusive they are added to the parent and above
 * (quick_update_accounting); otherwise the numbers need a rescan, which runs unless
 * `rescan: false` (then they are marked inconsistent, as btrfs).
 */
export async function qgroupAddRelation(fs: FsInfo, child: number, parent: number, o: { rescan?: boolean } = {}): Promise<void> {
  const st = requireState(fs);
  if (qgroupLevel(child) >= qgroupLevel(parent)) throw new FsError('EINVAL', `qgroup ${formatQgroupId(parent)} is not above ${formatQgroupId(child)}`);
  const c = st.get(child);
  const p = st.get(parent);
  if (!c || !p) throw new FsError('EINVAL', `qgroup ${formatQgroupId(c ? parent : child)} does not exist`);
  if (c.parents.has(parent)) throw new FsError('EEXIST', `qgroup ${formatQgroupId(child)} is already in ${formatQgroupId(parent)}`);
  const tree = quotaTree(fs);
  await insertItem(fs, tree, Key.of(child, ItemType.QGROUP_RELATION, parent), new Uint8Array(0));
  await insertItem(fs, tree, Key.of(parent, ItemType.QGROUP_RELATION, child), new Uint8Array(0));
  c.parents.add(parent);
  p.children.add(child);
  quickUpdate(fs, st, c, p, 1, o.rescan ?? true);
  if ((st.flags & QGROUP_STATUS_FLAG_INCONSISTENT) !== 0 && (o.rescan ?? true)) await qgroupRescan(fs);
}

/** btrfs_del_qgroup_relation. */
export async function qgroupRemoveRelation(fs: FsInfo, child: number, parent: number, o: { rescan?: boolean } = {}): Promise<void> {
  const st = requireState(fs);
  const c = st.get(child);
  const p = st.get(parent);
  const tree = quotaTree(fs);
  let deleted = 0;
  for (const [a, b] of [[child, parent], [parent, child]]) {
    const { found, path } = await searchSlot(fs, tree, Key.of(a, ItemType.QGROUP_RELATION, b), { cow: true, insLen: -1 });
    if (found) {
      await deleteItems(fs, path, path.slots[0], 1);
      deleted++;
    }
  }
  const linked = c !== undefined && p !== undefined && c.parents.has(parent);
  if (!linked && deleted === 0) throw new FsError('ENOENT', `qgroup ${formatQgroupId(child)} is not in ${formatQgroupId(parent)}`);
  if (!linked) return;
  c!.parents.delete(parent);
  p!.children.delete(child);
  quickUpdate(fs, st, c!, p!, -1, o.rescan ?? true);
  if ((st.flags & QGROUP_STATUS_FLAG_INCONSISTENT) !== 0 && (o.rescan ?? true)) await qgroupRescan(fs);
}

/**
 * quick_update_accounting / __qgroup_excl_accounting: a member whose referenced bytes are
 * all exclusive moves them to (or from) the parent and everything above it; otherwise the
 * numbers are inconsistent until a rescan.
 */
function quickUpdate(_fs: FsInfo, st: QgroupState, child: Qgroup, parent: Qgroup, sign: 1 | -1, _rescan: boolean): void {
  if (child.excl !== child.rfer) {
    st.flags |= QGROUP_STATUS_FLAG_INCONSISTENT;
    st.markStatusDirty();
    return;
  }
  const n = child.excl * sign;
  for (const q of st.closure(parent)) {
    q.rfer += n;
    q.rferCmpr += n;
    q.excl += n;
    q.exclCmpr += n;
    st.markDirty(q.id);
  }
}

export interface QgroupLimits {
  /** Referenced bytes limit; null or undefined: none. */
  maxReferenced?: number | null;
  /** Exclusive bytes limit; null or undefined: none. */
  maxExclusive?: number | null;
}

/** btrfs_limit_qgroup: sets both limits (each cleared when null / undefined). */
export async function qgroupLimit(fs: FsInfo, id: number, lim: QgroupLimits): Promise<void> {
  const st = requireState(fs);
  const g = st.get(id);
  if (!g) throw new FsError('ENOENT', `qgroup ${formatQgroupId(id)} does not exist`);
  for (const v of [lim.maxReferenced, lim.maxExclusive]) {
    if (v !== null && v !== undefined && (!Number.isSafeInteger(v) || v < 0)) throw new FsError('EINVAL', `invalid limit ${v}`);
  }
  const setOne = (v: number | null | undefined, flag: number): number => {
    if (v === null || v === undefined) {
      g.limFlags &= ~flag;
      return 0;
    }
    g.limFlags |= flag;
    return v;
  };
  g.maxRfer = setOne(lim.maxReferenced, QGROUP_LIMIT_MAX_RFER);
  g.maxExcl = setOne(lim.maxExclusive, QGROUP_LIMIT_MAX_EXCL);
  await upsertItem(fs, quotaTree(fs), Key.of(0, ItemType.QGROUP_LIMIT, id), encodeLimit(g));
}

// ---------------------------------------------------------------- hooks for subvolumes

/** create_subvol's btrfs_qgroup_inherit(0, id): the new subvolume's qgroup (its root leaf is accounted at commit). */
export async function qgroupOnSubvolumeCreate(fs: FsInfo, id: number): Promise<void> {
  const st = qgroupState(fs);
  if (!st) return;
  st.inherit(fs, 0, id);
}

/**
 * create_pending_snapshot's qgroup_account_snapshot: call right after snapshotRoot made
 * `dstId` from `srcId`, before anything else changes.
 */
export async function qgroupOnSnapshot(fs: FsInfo, srcId: number, dstId: number): Promise<void> {
  const st = qgroupState(fs);
  if (!st) return;
  await st.accountSnapshot(fs, srcId, dstId);
}

/**
 * btrfs_qgroup_trace_subtree: a subvolume drop releases the shared block `bytenr` (at
 * `level`, generation `generation`) without entering it; every extent below changes roots,
 * so each is recorded.
 */
export async function qgroupTraceSubtree(fs: FsInfo, bytenr: number, level: number, generation: number): Promise<void> {
  const st = qgroupState(fs);
  if (!st) return;
  const F = FileExtentItem.off;
  const stack: { bytenr: number; level: number; generation: number }[] = [{ bytenr, level, generation }];
  for (let guard = 0; stack.length > 0; guard++) {
    if (guard > 1 << 26) throw new FsError('EUCLEAN', `subtree of block ${bytenr} is too large`);
    const b = stack.pop()!;
    st.trace(b.bytenr, fs.nodesize);
    const eb = await fs.readBlock(b.bytenr, { generation: b.generation, level: b.level });
    if (eb.level > 0) {
      for (let i = 0; i < eb.nritems; i++) stack.push({ bytenr: eb.blockptr(i), level: eb.level - 1, generation: eb.ptrGeneration(i) });
      continue;
    }
    for (let i = 0; i < eb.nritems; i++) {
      if (eb.key(i).type !== ItemType.EXTENT_DATA) continue;
      const data = eb.itemData(i);
      if (data.length < FileExtentItem.size || data[F.type] === FileExtentType.INLINE) continue;
      const dv = viewOf(data);
      const disk = readU64(dv, F.diskBytenr);
      if (disk !== 0) st.trace(disk, readU64(dv, F.diskNumBytes));
    }
  }
}

// ---------------------------------------------------------------- show

export interface QgroupShow {
  qgroupid: number;
  rfer: number;
  excl: number;
  limFlags: number;
  maxRfer: number;
  maxExcl: number;
  parents: number[];
  children: number[];
}

/** Every qgroup by qgroupid, as the running transaction has them (accounted up to its last commit). */
export function qgroupShow(fs: FsInfo): QgroupShow[] {
  const st = requireState(fs);
  return [...st.groups.values()]
    .sort((a, b) => a.id - b.id)
    .map((g) => ({
      qgroupid: g.id, rfer: g.rfer, excl: g.excl, limFlags: g.limFlags, maxRfer: g.maxRfer, maxExcl: g.maxExcl,
      parents: [...g.parents].sort((a, b) => a - b), children: [...g.children].sort((a, b) => a - b),
    }));
}

/** Status flags (ON, RESCAN, INCONSISTENT), or undefined when quotas are off. */
export function qgroupStatusFlags(fs: FsInfo): number | undefined {
  return qgroupState(fs)?.flags;
}


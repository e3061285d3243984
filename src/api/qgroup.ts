// fs.qgroup: `btrfs quota` and `btrfs qgroup` for butterfs (enable, disable, rescan, show,
// create, destroy, assign, remove, limit). Qgroup ids are strings as btrfs writes them:
// '0/257' (level 0: the subvolume 257), '1/100'. Thin (STYLE.md): the work is in
// src/subvol/qgroup.ts. Errors are FsErrors with syscall 'ioctl'; ENOTCONN while quotas are
// off, as btrfs.
import type { FsInfo } from '../fs/fs-info.js';
import { FsError } from '../util/errors.js';
import {
  quotaEnable, quotaDisable, qgroupRescan, qgroupShow, qgroupCreate, qgroupDestroy, qgroupAddRelation, qgroupRemoveRelation,
  qgroupLimit, qgroupStatusFlags, parseQgroupId, formatQgroupId, qgroupId, qgroupLevel,
  QGROUP_LIMIT_MAX_RFER, QGROUP_LIMIT_MAX_EXCL, QGROUP_STATUS_FLAG_INCONSISTENT, QGROUP_STATUS_FLAG_RESCAN,
} from '../subvol/qgroup.js';
import type { Filesystem } from './filesystem.js';
import { pathString, type PathLike } from './path.js';
import { withPath } from './inode-ops.js';

/** One qgroup as `btrfs qgroup show -pcre` reports it. */
export interface QgroupInfo {
  /** 'level/id', e.g. '0/257'. */
  qgroupid: string;
  /** Bytes reachable from the qgroup's subvolumes (rfer). */
  referenced: number;
  /** Bytes reachable only from them (excl). */
  exclusive: number;
  /** Limits; null when none is set. */
  maxReferenced: number | null;
  maxExclusive: number | null;
  /** Qgroups this one is a member of, and its members ('level/id'). */
  parents: string[];
  children: string[];
}

export interface QgroupStatus {
  enabled: boolean;
  /** The numbers need a rescan (btrfs's INCONSISTENT flag). */
  inconsistent: boolean;
  rescanRunning: boolean;
}

export class QgroupApi {
  constructor(private readonly filesystem: Filesystem) {}

  private async run<T>(write: boolean, path: string | undefined, fn: (fs: FsInfo) => Promise<T>): Promise<T> {
    try {
      return await (write ? this.filesystem.transaction(fn) : this.filesystem.read(fn));
    } catch (e) {
      throw withPath(e, 'ioctl', path);
    }
  }

  /** A qgroup id string, or for a path the level 0 qgroup of the subvolume holding it (btrfs qgroup limit SIZE PATH). */
  private async target(fs: FsInfo, qgroupOrPath: string | PathLike): Promise<number> {
    if (typeof qgroupOrPath === 'string' && /^\d+\/\d+$/.test(qgroupOrPath.trim())) return parseQgroupId(qgroupOrPath);
    const p = pathString(qgroupOrPath, 'ioctl');
    const t = await this.filesystem.promises.locate(fs, p);
    return qgroupId(0, t.root.objectid);
  }

  /**
   * `btrfs quota enable`: the quota tree, a qgroup per subvolume, and the numbers from a
   * rescan; committed when it resolves. Already enabled: nothing.
   */
  async enable(): Promise<void> {
    await this.run(true, undefined, (fs) => quotaEnable(fs));
    await this.filesystem.sync();
  }

  /** `btrfs quota disable`: the quota tree goes, limits stop applying. */
  async disable(): Promise<void> {
    await this.run(true, undefined, (fs) => quotaDisable(fs));
    await this.filesystem.sync();
  }

  /**
   * `btrfs quota rescan -w`: every qgroup's numbers from scratch, committed when it resolves.
   * `signal` cancels (the numbers are then marked inconsistent); `onProgress` hears the
   * extents done.
   */
  async rescan(options: { signal?: AbortSignal; onProgress?: (p: { extents: number; position: number }) => void } = {}): Promise<void> {
    await this.run(true, undefined, (fs) => qgroupRescan(fs, options));
    await this.filesystem.sync();
  }

  /** Enabled, and whether the numbers are trustworthy. */
  async status(): Promise<QgroupStatus> {
    return this.run(false, undefined, async (fs) => {
      const f = qgroupStatusFlags(fs);
      return {
        enabled: f !== undefined,
        inconsistent: f !== undefined && (f & QGROUP_STATUS_FLAG_INCONSISTENT) !== 0,
        rescanRunning: f !== undefined && (f & QGROUP_STATUS_FLAG_RESCAN) !== 0,
      };
    });
  }

  /**
   * `btrfs qgroup show -pcre`: every qgroup, by qgroupid. The running transaction is
   * committed first (`sync: false` skips that: numbers as of the last commit then).
   */
  async show(options: { sync?: boolean } = {}): Promise<QgroupInfo[]> {
    if (options.sync ?? true) await this.filesystem.sync();
    return this.run(false, undefined, async (fs) =>
      qgroupShow(fs).map((g) => ({
        qgroupid: formatQgroupId(g.qgroupid),
        referenced: g.rfer,
        exclusive: g.excl,
        maxReferenced: g.limFlags & QGROUP_LIMIT_MAX_RFER ? g.maxRfer : null,
        maxExclusive: g.limFlags & QGROUP_LIMIT_MAX_EXCL ? g.maxExcl : null,
        parents: g.parents.map(formatQgroupId),
        children: g.children.map(formatQgroupId),
      })));
  }

  /** `btrfs qgroup create 1/100`. */
  async create(qgroupid: string): Promise<void> {
    await this.run(true, undefined, (fs) => qgroupCreate(fs, parseQgroupId(qgroupid)));
  }

  /** `btrfs qgroup destroy 1/100`: EBUSY while it has members (or is a live subvolume's). */
  async destroy(qgroupid: string): Promise<void> {
    await this.run(true, undefined, (fs) => qgroupDestroy(fs, parseQgroupId(qgroupid)));
  }

  /**
   * `btrfs qgroup assign CHILD PARENT`: the parent must be of a higher level. When the child
   * shares extents the numbers are recomputed (a rescan), unless `rescan: false`.
   */
  async assign(child: string, parent: string, options: { rescan?: boolean } = {}): Promise<void> {
    await this.run(true, undefined, (fs) => qgroupAddRelation(fs, parseQgroupId(child), checkAbove(child, parent), options));
  }

  /** `btrfs qgroup remove CHILD PARENT`. */
  async remove(child: string, parent: string, options: { rescan?: boolean } = {}): Promise<void> {
    await this.run(true, undefined, (fs) => qgroupRemoveRelation(fs, parseQgroupId(child), parseQgroupId(parent), options));
  }

  /**
   * `btrfs qgroup limit`: the referenced and exclusive limits of a qgroup ('0/257') or of the
   * subvolume holding a path. null or undefined clears a limit.
   */
  async limit(qgroupOrPath: string | PathLike, limits: { maxReferenced?: number | null; maxExclusive?: number | null }): Promise<void> {
    const p = typeof qgroupOrPath === 'string' && /^\d+\/\d+$/.test(qgroupOrPath.trim()) ? undefined : pathString(qgroupOrPath, 'ioctl');
    await this.run(true, p, async (fs) => qgroupLimit(fs, await this.target(fs, qgroupOrPath), limits));
  }
}

function checkAbove(child: string, parent: string): number {
  const c = parseQgroupId(child);
  const p = parseQgroupId(parent);
  if (qgroupLevel(c) >= qgroupLevel(p)) throw new FsError('EINVAL', `qgroup ${parent} is not above ${child}`);
  return p;
}

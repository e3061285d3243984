// The mounted filesystem as the public API sees it (engine level): one writer at a time
// through a transaction mutex, the periodic commit (`commit=`), sync, unmount. The POSIX
// surface (fs.promises) is built on this.
import type { BlockDevice } from '../device/block-device.js';
import { settleWriteTail, type FsInfo, type Root } from '../fs/fs-info.js';
import { openFs } from '../fs/open.js';
import { defaultPoolOptions, startCompressPool } from '../kernels/compress-pool.js';
import { startTransaction, commitTransaction } from '../fs/transaction.js';
import { mkfs as mkfsEngine, type MkfsOptions, type MkfsResult } from '../fs/mkfs.js';
import { FsError } from '../util/errors.js';
import { Mutex } from './mutex.js';
import { check as checkEngine, type CheckOptions, type CheckResult } from '../fs/check.js';
import { dumpTree as dumpTreeEngine, type DumpTreeOptions } from '../fs/print-tree.js';
import { dumpSuper as dumpSuperEngine } from '../fs/print-super.js';
import { parseMountOptions, type MountOptions } from './mount-options.js';
import { FsPromises } from './promises.js';
import { readInode, isDir, isReg } from '../inode/inode.js';
import { cloneRange as cloneFileRange } from '../inode/file.js';
import { Attributes } from './attributes.js';
import { FilesystemAdmin } from './filesystem-admin.js';
import { createCallbackFs, type CallbackFs } from './callback-fs.js';
import { checkMutable, cleanupOrphans } from '../inode/namei.js';
import { FIRST_INODE_OBJECTID, FS_TREE_OBJECTID, InodeFlags } from '../format/constants.js';
import { resumeDeadRoots } from '../subvol/drop-tree.js';
import { getDefaultSubvolume, hasDeadRoots, listSubvolumes, subvolumeRoot, subvolumeOfDir } from '../subvol/subvolume.js';
import { SubvolumeApi } from './subvolume.js';
import { PropertyApi } from './property.js';
import { QgroupApi } from './qgroup.js';
import { loadQgroups, qgroupRescan, qgroupState, QGROUP_STATUS_FLAG_RESCAN } from '../subvol/qgroup.js';
import { pathString, walk, type PathLike } from './path.js';

/** Tree blocks the cleaner visits per transaction while dropping deleted subvolumes. */
const CLEANER_BUDGET = 256;

export class Filesystem {
  private readonly mutex = new Mutex();
  private commitTimer: ReturnType<typeof setTimeout> | undefined;
  private mounted = true;
  /**
   * node:fs/promises over this filesystem (src/api/promises.ts). An own enumerable property, so
   * that libraries which take a node-like `fs` (isomorphic-git: `{ fs }`) find it.
   */
  readonly promises: FsPromises;
  /** chattr / lsattr (btrfs-man5 FILE ATTRIBUTES). */
  readonly attributes: Attributes;
  /** `btrfs filesystem`: df, usage, label, sync, the block group map. */
  readonly filesystem: FilesystemAdmin;
  /** Subvolumes and snapshots (`btrfs subvolume`). */
  readonly subvolume: SubvolumeApi;
  /** `btrfs property`: ro, compression, label. */
  readonly property: PropertyApi;
  /** Quotas: `btrfs quota` and `btrfs qgroup` (enable, rescan, show, limit, ...). */
  readonly qgroup: QgroupApi;
  /**
   * @internal The mounted subvolume (subvol= / subvolid= / the default): the root whose
   * directory 256 is the '/' of `promises`.
   */
  topRoot: Root;
  private callbackFs: CallbackFs | undefined;
  /** The cleaner's run (dropping deleted subvolumes), while one is going. */
  private cleanerRun: Promise<void> | undefined;
  /** @internal Tree blocks the cleaner visits per chunk (a transaction each; tests make it small). */
  cleanerBudget = CLEANER_BUDGET;

  constructor(
    /** The engine state. Internal: exposed for tests and tools. */
    readonly info: FsInfo,
    readonly options: MountOptions,
  ) {
    this.topRoot = info.fsTree;
    this.promises = new FsPromises(this);
    this.attributes = new Attributes(this.promises);
    this.filesystem = new FilesystemAdmin(this);
    this.subvolume = new SubvolumeApi(this);
    this.property = new PropertyApi(this);
    this.qgroup = new QgroupApi(this);
    this.armCommitTimer();
  }

  /** The id of the mounted subvolume (5 unless subvol= / subvolid= / a default said otherwise). */
  get subvolumeId(): number {
    return this.topRoot.objectid;
  }

  /**
   * @internal Starts the cleaner unless it runs (btrfs's cleaner kthread): deleted
   * subvolumes are dropped in the background, a few hundred tree blocks per transaction,
   * each turn taking the writer mutex like any call, so other calls go on in between.
   */
  kickCleaner(): void {
    if (this.cleanerRun || this.info.readonly || !this.mounted) return;
    this.cleanerRun = this.runCleaner().finally(() => {
      this.cleanerRun = undefined;
    });
  }

  private async runCleaner(): Promise<void> {
    // Bounded by the work: each turn drops at least one budget of blocks or ends.
    for (;;) {
      const more = await this.locked(async () => {
        if (!this.mounted || this.info.readonly) return false;
        try {
          if (this.info.transid === 0) startTransaction(this.info);
          const turn = new AbortController();
          await resumeDeadRoots(this.info, {
            budget: this.cleanerBudget,
            signal: turn.signal,
            // Each chunk is committed (the drop position with it); the turn ends after the next.
            endTransaction: async (fs) => {
              await commitTransaction(fs);
              startTransaction(fs);
              turn.abort();
            },
          });
          return await hasDeadRoots(this.info);
        } catch (e) {
          // As btrfs aborts the transaction: no more writes on this mount.
          this.info.readonly = true;
          this.lastError = e;
          return false;
        }
      });
      if (!more) return;
    }
  }

  /**
   * @internal Waits until the cleaner has dropped every deleted subvolume (`btrfs subvolume
   * sync`), then commits. Rethrows the cleaner's failure.
   */
  async waitCleaner(): Promise<void> {
    for (let guard = 0; guard < 1 << 20; guard++) {
      this.kickCleaner();
      if (this.cleanerRun) await this.cleanerRun;
      if (this.lastError) throw this.lastError;
      const pending = await this.read((fs) => hasDeadRoots(fs));
      if (!pending || this.info.readonly) break;
    }
    if (!this.info.readonly) await this.sync();
  }

  /** node's callback-style `fs` (readFile(path, cb), open -> fd, ...) over `promises`. */
  get fsCallback(): CallbackFs {
    this.callbackFs ??= createCallbackFs(this.promises);
    return this.callbackFs;
  }

  /** False once unmount() has run. */
  get isMounted(): boolean {
    return this.mounted;
  }

  /** The last committed generation. */
  get generation(): number {
    return this.info.sb.generation;
  }

  private assertMounted(): void {
    if (!this.mounted) throw new FsError('EIO', 'filesystem is unmounted');
  }

  /**
   * Runs `fn` as part of the running transaction (started if none), with exclusive access.
   * Changes become durable at the next commit (sync, the commit= timer, unmount).
   */
  transaction<T>(fn: (fs: FsInfo) => Promise<T>, options: { continuesWrite?: boolean } = {}): Promise<T> {
    return this.locked(async () => {
      this.assertMounted();
      if (this.info.readonly) throw new FsError('EROFS', 'filesystem is mounted read-only');
      if (this.info.transid === 0) startTransaction(this.info);
      const result = await fn(this.info);
      if (this.info.syncRequested) {
        // chattr S / D: the change is durable before the call returns.
        this.info.syncRequested = false;
        await this.commitLocked();
      }
      return result;
    }, options.continuesWrite === true);
  }

  /**
   * Takes the writer mutex for `fn`. A write tail (FsInfo.writeTail: a compressed write that
   * returned while its last chunks compress, or small overwrites waiting as dirty sectors) is
   * settled first, so that `fn` sees every write's extents; except for a FileHandle write that
   * may continue it or a FileHandle read that reads through it (`keepTail`: inode/file.ts
   * decides, and settles it when not).
   */
  private locked<T>(fn: () => Promise<T>, keepTail = false): Promise<T> {
    return this.mutex.run(async () => {
      if (!keepTail && this.info.writeTail !== undefined) await settleWriteTail(this.info);
      return fn();
    });
  }

  /**
   * Whether a synchronous read of the in-memory state right now sees it between operations
   * (mounted, and no call running or queued): the cached fast paths (FsPromises.stat) use it.
   */
  get quiescent(): boolean {
    return this.mounted && this.mutex.idle && this.info.writeTail === undefined;
  }

  /** Read-only access with the same exclusion (a consistent view). */
  read<T>(fn: (fs: FsInfo) => Promise<T>, options: { readsTail?: boolean } = {}): Promise<T> {
    return this.locked(async () => {
      this.assertMounted();
      return fn(this.info);
    }, options.readsTail === true);
  }

  /** Commits the running transaction, if any, and waits for it to be durable. */
  sync(): Promise<void> {
    return this.locked(async () => {
      this.assertMounted();
      await this.commitLocked();
    });
  }

  private async commitLocked(): Promise<void> {
    if (this.info.transid !== 0) await commitTransaction(this.info);
  }

  private armCommitTimer(): void {
    if (this.info.readonly) return;
    this.commitTimer = setTimeout(() => {
      this.commitTimer = undefined;
      this.locked(async () => {
        if (this.mounted) await this.commitLocked();
      }).then(
        () => this.mounted && this.armCommitTimer(),
        (e: unknown) => {
          // A failed periodic commit leaves the filesystem unusable for writes, as btrfs
          // goes read-only on a transaction abort; the error surfaces on the next call.
          this.info.readonly = true;
          this.lastError = e;
        },
      );
    }, this.options.commitIntervalMs);
    // In Node, a pending commit timer must not keep the process alive.
    (this.commitTimer as { unref?: () => void }).unref?.();
  }

  /** The error of a failed periodic commit, if one happened. */
  lastError: unknown;

  /**
   * FICLONERANGE: shares `length` bytes of `src` from `srcOffset` into `dst` at `dstOffset`
   * (a reflink: no data is copied; later writes to either side copy only what they change).
   * Offsets must be sector-aligned and the length too unless it ends at the source's EOF
   * (length 0 means to EOF): EINVAL otherwise, as btrfs. Works across subvolumes. Returns
   * the bytes cloned.
   */
  async cloneRange(src: PathLike, srcOffset: number, length: number, dst: PathLike, dstOffset: number): Promise<number> {
    const sp = pathString(src, 'ioctl');
    const dp = pathString(dst, 'ioctl');
    for (const [what, n] of [['srcOffset', srcOffset], ['length', length], ['dstOffset', dstOffset]] as const) {
      if (!Number.isSafeInteger(n) || n < 0) throw new FsError('EINVAL', `cloneRange: ${what} must be a non-negative integer`, { syscall: 'ioctl', path: sp, dest: dp });
    }
    return this.promises.call(true, { syscall: 'ioctl', path: sp, dest: dp }, async (fs) => {
      const from = await this.promises.locate(fs, sp);
      const to = await this.promises.locate(fs, dp);
      for (const loc of [from, to]) {
        const item = await readInode(fs, loc.root, loc.ino);
        if (isDir(item.mode)) throw new FsError('EISDIR', 'is a directory');
        if (!isReg(item.mode)) throw new FsError('EINVAL', 'not a regular file');
      }
      checkMutable(to.root);
      const dstItem = await readInode(fs, to.root, to.ino);
      if (dstItem.flags & (InodeFlags.IMMUTABLE | InodeFlags.APPEND)) throw new FsError('EPERM', 'the destination is immutable or append-only');
      return cloneFileRange(fs, from.root, from.ino, srcOffset, length, to.root, to.ino, dstOffset);
    });
  }

  /**
   * Our `btrfs check --readonly`: every tree block verified, extent refs against backrefs, free
   * space tree against the extent tree, block group and superblock totals, fs tree links.
   * Commits the running transaction first, so it checks what is on disk.
   */
  check(options: CheckOptions = {}): Promise<CheckResult> {
    return this.locked(async () => {
      this.assertMounted();
      await this.commitLocked();
      return checkEngine(this.info, options);
    });
  }

  /** Text in the layout of `btrfs inspect-internal dump-tree` (one tree with `{ tree: id }`). */
  dumpTree(options: DumpTreeOptions = {}): Promise<string> {
    return this.read((fs) => dumpTreeEngine(fs, options));
  }

  /** Text in the layout of `btrfs inspect-internal dump-super` (`{ full: true }` for -f). */
  dumpSuper(options: { full?: boolean } = {}): Promise<string> {
    return this.read(async (fs) => dumpSuperEngine(fs, options));
  }

  /** Commits and detaches. The devices stay open (they belong to the caller). */
  unmount(): Promise<void> {
    return this.mutex.run(async () => {
      if (!this.mounted) return;
      // A write tail that fails aborts the transaction (nothing more is committed); the
      // filesystem is detached all the same, and the error reported.
      let tailError: unknown;
      try {
        await settleWriteTail(this.info);
      } catch (e) {
        tailError = e;
      }
      if (this.commitTimer) clearTimeout(this.commitTimer);
      this.commitTimer = undefined;
      // A cleaner turn queued behind this sees the filesystem unmounted and stops; its
      // position so far is committed here and resumed at the next mount.
      if (!this.info.readonly) await this.commitLocked();
      this.mounted = false;
      this.info.cache.clear();
      await this.info.compressPool?.terminate();
      if (tailError !== undefined) throw tailError;
    });
  }
}

export async function mkfs(devices: BlockDevice[], options: MkfsOptions = {}): Promise<MkfsResult> {
  return mkfsEngine(devices, options);
}

export async function mount(devices: BlockDevice[], options?: string): Promise<Filesystem> {
  const o = parseMountOptions(options);
  const info = await openFs(devices, { readonly: o.readonly, useBackupRoot: o.useBackupRoot, noLogReplay: o.noLogReplay });
  info.options = {
    barrier: o.barrier, maxInlineBytes: Math.min(o.maxInlineBytes, info.sectorsize), dataCow: o.dataCow, dataSum: o.dataSum,
    ignoreDataCsums: o.ignoreDataCsums, acl: o.acl, compress: o.compress, compressLevel: o.compressLevel, compressForce: o.compressForce,
  };
  // Quotas: the qgroup configuration from the quota tree (btrfs_read_qgroup_config).
  await loadQgroups(info);
  const filesystem = new Filesystem(info, o);
  filesystem.topRoot = await mountedSubvolume(info, o.subvolId, o.subvolPath);
  if (!info.readonly && ((qgroupState(info)?.flags ?? 0) & QGROUP_STATUS_FLAG_RESCAN) !== 0) {
    // A rescan that was running when the filesystem was last unmounted finishes now.
    await filesystem.transaction((fs) => qgroupRescan(fs));
  }
  if (!info.readonly) {
    // Inodes unlinked while open when the filesystem was last unmounted (or crashed) are freed
    // now, as btrfs_orphan_cleanup does (at mount for the mounted subvolume, on first lookup
    // for the others: here all at once). Only for writable mounts, as btrfs.
    await filesystem.transaction(async (fs) => {
      await cleanupOrphans(fs, fs.fsTree);
      for (const s of await listSubvolumes(fs)) await cleanupOrphans(fs, await subvolumeRoot(fs, s.id));
    });
    // Subvolumes deleted before the last unmount (or crash) are dropped in the background.
    if (await filesystem.read((fs) => hasDeadRoots(fs))) filesystem.kickCleaner();
    // compress=: the compression workers start loading now, so that the first write finds them ready.
    if (o.compress !== undefined) info.compressPool = startCompressPool(await defaultPoolOptions());
  }
  return filesystem;
}

/**
 * The subvolume a mount shows (btrfs super.c mount_subvol): subvolid= names it by id,
 * subvol= by its path from the top level (5), both must agree (EINVAL otherwise); neither:
 * the default subvolume.
 */
async function mountedSubvolume(fs: FsInfo, subvolId: number | undefined, subvolPath: string | undefined): Promise<Root> {
  let byPath: number | undefined;
  if (subvolPath !== undefined && subvolPath.replace(/\/+/g, '') !== '') {
    const top = { root: fs.fsTree, ino: FIRST_INODE_OBJECTID };
    const r = await walk(fs, top, subvolPath, { followLast: true });
    if (!r.target) throw new FsError('ENOENT', `subvol=${subvolPath}: no such file or directory`);
    byPath = subvolumeOfDir(r.target.root, r.target.ino);
    if (byPath === undefined) throw new FsError('EINVAL', `subvol=${subvolPath}: not a subvolume`);
  } else if (subvolPath !== undefined) {
    byPath = FS_TREE_OBJECTID;
  }
  if (byPath !== undefined && subvolId !== undefined && byPath !== subvolId) {
    throw new FsError('EINVAL', `subvol=${subvolPath} is subvolume ${byPath}, not subvolid=${subvolId}`);
  }
  const id = byPath ?? subvolId ?? (await getDefaultSubvolume(fs));
  return subvolumeRoot(fs, id);
}

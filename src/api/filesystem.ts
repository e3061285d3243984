// The mounted filesystem as the public API sees it (engine level): one writer at a time
// through a transaction mutex, the periodic commit (`commit=`), sync, unmount. The POSIX
// surface (fs.promises) is built on this.
import type { BlockDevice } from '../device/block-device.js';
import type { FsInfo } from '../fs/fs-info.js';
import { openFs } from '../fs/open.js';
import { startTransaction, commitTransaction } from '../fs/transaction.js';
import { mkfs as mkfsEngine, type MkfsOptions, type MkfsResult } from '../fs/mkfs.js';
import { FsError } from '../util/errors.js';
import { Mutex } from './mutex.js';
import { check as checkEngine, type CheckOptions, type CheckResult } from '../fs/check.js';
import { dumpTree as dumpTreeEngine, type DumpTreeOptions } from '../fs/print-tree.js';
import { dumpSuper as dumpSuperEngine } from '../fs/print-super.js';
import { parseMountOptions, type MountOptions } from './mount-options.js';
import { FsPromises } from './promises.js';
import { Attributes } from './attributes.js';
import { FilesystemAdmin } from './filesystem-admin.js';
import { createCallbackFs, type CallbackFs } from './callback-fs.js';
import { cleanupOrphans } from '../inode/namei.js';

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
  private callbackFs: CallbackFs | undefined;

  constructor(
    /** The engine state. Internal: exposed for tests and tools. */
    readonly info: FsInfo,
    readonly options: MountOptions,
  ) {
    this.promises = new FsPromises(this);
    this.attributes = new Attributes(this.promises);
    this.filesystem = new FilesystemAdmin(this);
    this.armCommitTimer();
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
  transaction<T>(fn: (fs: FsInfo) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
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
    });
  }

  /** Read-only access with the same exclusion (a consistent view). */
  read<T>(fn: (fs: FsInfo) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      this.assertMounted();
      return fn(this.info);
    });
  }

  /** Commits the running transaction, if any, and waits for it to be durable. */
  sync(): Promise<void> {
    return this.mutex.run(async () => {
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
      this.mutex
        .run(async () => {
          if (this.mounted) await this.commitLocked();
        })
        .then(
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
   * Our `btrfs check --readonly`: every tree block verified, extent refs against backrefs, free
   * space tree against the extent tree, block group and superblock totals, fs tree links.
   * Commits the running transaction first, so it checks what is on disk.
   */
  check(options: CheckOptions = {}): Promise<CheckResult> {
    return this.mutex.run(async () => {
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
      if (this.commitTimer) clearTimeout(this.commitTimer);
      this.commitTimer = undefined;
      if (!this.info.readonly) await this.commitLocked();
      this.mounted = false;
      this.info.cache.clear();
    });
  }
}

export async function mkfs(devices: BlockDevice[], options: MkfsOptions = {}): Promise<MkfsResult> {
  return mkfsEngine(devices, options);
}

export async function mount(devices: BlockDevice[], options?: string): Promise<Filesystem> {
  const o = parseMountOptions(options);
  if (o.subvolId !== undefined && o.subvolId !== 5) throw new FsError('EINVAL', `subvolid=${o.subvolId}: subvolumes other than the top level (5) are not supported yet`);
  if (o.subvolPath !== undefined && o.subvolPath !== '/' && o.subvolPath !== '') throw new FsError('EINVAL', `subvol=${o.subvolPath}: subvolumes other than the top level are not supported yet`);
  const info = await openFs(devices, { readonly: o.readonly, useBackupRoot: o.useBackupRoot, noLogReplay: o.noLogReplay });
  info.options = {
    barrier: o.barrier, maxInlineBytes: Math.min(o.maxInlineBytes, info.sectorsize), dataCow: o.dataCow, dataSum: o.dataSum,
    ignoreDataCsums: o.ignoreDataCsums, acl: o.acl,
  };
  const filesystem = new Filesystem(info, o);
  // Inodes unlinked while open when the filesystem was last unmounted (or crashed) are freed now,
  // as btrfs_orphan_cleanup does at mount. Only for writable mounts, as btrfs.
  if (!info.readonly) await filesystem.transaction((fs) => cleanupOrphans(fs, fs.fsTree));
  return filesystem;
}

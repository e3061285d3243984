// fs.subvolume: `btrfs subvolume` for butterfs (create, snapshot, delete, list, show,
// get-default, set-default, sync). Paths are those of fs.promises (from the mounted
// subvolume's root); the paths list and show report are from the top level (5), as btrfs's.
// Thin (STYLE.md): arguments and paths here, the work in src/subvol/subvolume.ts. Errors are
// FsErrors with syscall 'ioctl' (btrfs's are ioctls) and the path.
import type { FsInfo } from '../fs/fs-info.js';
import { FIRST_INODE_OBJECTID, FS_TREE_OBJECTID } from '../format/constants.js';
import { readInode } from '../inode/inode.js';
import {
  createSubvolume, snapshotSubvolume, deleteSubvolume, listSubvolumes, subvolumeInfo, getDefaultSubvolume, setDefaultSubvolume,
  subvolumeOfDir, subvolumeRoot, findRootBackref, uuidString, type SubvolumeInfo as EngineInfo,
} from '../subvol/subvolume.js';
import type { Timespec } from '../format/struct.js';
import { FsError } from '../util/errors.js';
import type { Filesystem } from './filesystem.js';
import { walk, lookupLast, pathString, type PathLike, type Loc, type Resolved } from './path.js';
import { withPath } from './inode-ops.js';

/** One subvolume as `btrfs subvolume list` / `show` (libbtrfsutil) report it. */
export interface SubvolumeInfo {
  /** Subvolume id (5 is the top level). */
  id: number;
  /** btrfs list "gen": the last transaction that changed it. */
  gen: number;
  /** btrfs list -c "cgen": the transaction that created it (otransid). */
  cgen: number;
  /** btrfs list "top level": the subvolume it is linked in (0 for the top level). */
  topLevel: number;
  /** Directory (inode number in the parent subvolume) holding its name. */
  dirId: number;
  /** Its name in that directory. */
  name: string;
  /** Path from the top level (btrfs list's path column; '' for the top level). */
  path: string;
  /** Uuids as btrfs prints them ('-' when unset: parentUuid of a non-snapshot, receivedUuid of a non-received one). */
  uuid: string;
  parentUuid: string;
  receivedUuid: string;
  /** BTRFS_ROOT_SUBVOL_RDONLY. */
  readonly: boolean;
  /** ROOT_ITEM flags. */
  flags: number;
  ctransid: number;
  otransid: number;
  stransid: number;
  rtransid: number;
  /** Creation time (btrfs show "Creation time"), last change, send and receive times (epoch 0 when unset). */
  otime: Date;
  ctime: Date;
  stime: Date;
  rtime: Date;
}

export interface SubvolumeShow extends SubvolumeInfo {
  /** Paths (from the top level) of the snapshots made of it (their parentUuid is its uuid). */
  snapshots: string[];
}

function dateOf(t: Timespec): Date {
  return new Date(t.sec * 1000 + Math.floor(t.nsec / 1e6));
}

function publicInfo(i: EngineInfo): SubvolumeInfo {
  return {
    id: i.id, gen: i.generation, cgen: i.otransid, topLevel: i.parentId, dirId: i.dirId, name: i.name, path: i.path,
    uuid: uuidString(i.uuid), parentUuid: uuidString(i.parentUuid), receivedUuid: uuidString(i.receivedUuid),
    readonly: i.readonly, flags: i.flags, ctransid: i.ctransid, otransid: i.otransid, stransid: i.stransid, rtransid: i.rtransid,
    otime: dateOf(i.otime), ctime: dateOf(i.ctime), stime: dateOf(i.stime), rtime: dateOf(i.rtime),
  };
}

export class SubvolumeApi {
  constructor(private readonly filesystem: Filesystem) {}

  private get promises() {
    return this.filesystem.promises;
  }

  private async run<T>(write: boolean, path: string | undefined, fn: (fs: FsInfo) => Promise<T>): Promise<T> {
    try {
      return await (write ? this.filesystem.transaction(fn) : this.filesystem.read(fn));
    } catch (e) {
      throw withPath(e, 'ioctl', path);
    }
  }

  /** The directory and name a new subvolume or snapshot goes to: the parent must exist, the name must not. */
  private async newName(fs: FsInfo, p: string): Promise<Resolved & { name: Uint8Array }> {
    const r = await lookupLast(fs, await walk(fs, this.promises.top(fs), p.replace(/\/+$/, '') || '/', { followLast: false, parentOnly: true }));
    if (r.name === undefined || r.target) throw new FsError('EEXIST', 'file exists');
    return r as Resolved & { name: Uint8Array };
  }

  /** The subvolume whose root directory `p` is (symlinks followed); EINVAL when `p` is not one. */
  private async subvolumeAt(fs: FsInfo, p: string): Promise<number> {
    const r = await walk(fs, this.promises.top(fs), p, { followLast: true });
    if (!r.target) throw new FsError('ENOENT', 'no such file or directory');
    const id = subvolumeOfDir(r.target.root, r.target.ino);
    if (id === undefined) throw new FsError('EINVAL', 'not a subvolume');
    return id;
  }

  /**
   * `btrfs subvolume create PATH`: a new empty subvolume. Its root directory gets `mode`
   * (default 0o777) less the umask of fs.promises, and the caller's uid / gid.
   */
  async create(path: PathLike, options: { mode?: number } = {}): Promise<SubvolumeInfo> {
    const p = pathString(path, 'ioctl');
    const { promises } = this;
    return this.run(true, p, async (fs) => {
      const r = await this.newName(fs, p);
      const root = await createSubvolume(fs, r.parent.root, r.parent.ino, r.name, {
        uid: promises.uid, gid: promises.gid, mode: (options.mode ?? 0o777) & ~promises.umask,
      });
      return publicInfo(await subvolumeInfo(fs, root.objectid));
    });
  }

  /**
   * `btrfs subvolume snapshot [-r] SOURCE DEST`: a snapshot of the subvolume whose root is
   * `source` at `dest` (which must not exist). EINVAL when `source` is a plain directory.
   */
  async snapshot(source: PathLike, dest: PathLike, options: { readonly?: boolean } = {}): Promise<SubvolumeInfo> {
    const s = pathString(source, 'ioctl', 'source');
    const d = pathString(dest, 'ioctl', 'dest');
    try {
      return await this.filesystem.transaction(async (fs) => {
        const src = await this.subvolumeAt(fs, s);
        const r = await this.newName(fs, d);
        const root = await snapshotSubvolume(fs, fs.root(src), r.parent.root, r.parent.ino, r.name, { readonly: options.readonly });
        return publicInfo(await subvolumeInfo(fs, root.objectid));
      });
    } catch (e) {
      throw withPath(e, 'ioctl', s, d);
    }
  }

  /**
   * `btrfs subvolume delete PATH` (or `--subvolid ID`): the subvolume's entry goes now, its
   * tree in the background (`sync()` waits for that). EPERM for the default subvolume and
   * the top level, ENOTEMPTY while it holds other subvolumes, EBUSY when it is the mounted
   * one or has open files, EINVAL when the path is not a subvolume.
   */
  async delete(pathOrId: PathLike | number): Promise<void> {
    const byId = typeof pathOrId === 'number';
    const p = byId ? undefined : pathString(pathOrId, 'ioctl');
    await this.run(true, p, async (fs) => {
      let parent: Loc;
      let name: Uint8Array;
      if (byId) {
        const id = pathOrId;
        if (id === FS_TREE_OBJECTID) throw new FsError('EPERM', 'the top-level subvolume cannot be deleted');
        const ref = await findRootBackref(fs, id);
        if (!ref) throw new FsError('ENOENT', `subvolume ${id} does not exist`);
        parent = { root: await subvolumeRoot(fs, ref.parent), ino: ref.dirid };
        name = ref.name;
      } else {
        const r = await lookupLast(fs, await walk(fs, this.promises.top(fs), p!.replace(/\/+$/, '') || '/', { followLast: false, parentOnly: true }));
        if (r.name === undefined) {
          const id = r.target ? subvolumeOfDir(r.target.root, r.target.ino) : undefined;
          throw new FsError(id === FS_TREE_OBJECTID ? 'EPERM' : 'EBUSY', 'cannot delete the mounted subvolume');
        }
        if (!r.target) throw new FsError('ENOENT', 'no such file or directory');
        if (subvolumeOfDir(r.target.root, r.target.ino) === undefined || r.target.root === r.parent.root) throw new FsError('EINVAL', 'not a subvolume');
        parent = r.parent;
        name = r.name;
      }
      await deleteSubvolume(fs, parent.root, parent.ino, name, { busy: (id) => this.promises.subvolumeBusy(id) });
    });
    this.filesystem.kickCleaner();
  }

  /** `btrfs subvolume list`: every subvolume but the top level, by id. */
  async list(): Promise<SubvolumeInfo[]> {
    return this.run(false, undefined, async (fs) => (await listSubvolumes(fs)).map(publicInfo));
  }

  /**
   * `btrfs subvolume show PATH` (or an id): the subvolume whose root `PATH` is, with the
   * snapshots made of it.
   */
  async show(pathOrId: PathLike | number): Promise<SubvolumeShow> {
    const p = typeof pathOrId === 'number' ? undefined : pathString(pathOrId, 'ioctl');
    return this.run(false, p, async (fs) => {
      const id = typeof pathOrId === 'number' ? pathOrId : await this.subvolumeAt(fs, p!);
      const info = publicInfo(await subvolumeInfo(fs, id));
      const snapshots = (await listSubvolumes(fs)).filter((s) => uuidString(s.parentUuid) === info.uuid).map((s) => s.path);
      return { ...info, snapshots };
    });
  }

  /** Whether `path` is the root directory of a subvolume (btrfs's test_issubvolume: inode 256). */
  async isSubvolume(path: PathLike): Promise<boolean> {
    const p = pathString(path, 'stat');
    return this.run(false, p, async (fs) => {
      const t = await this.promises.locate(fs, p);
      await readInode(fs, t.root, t.ino);
      return t.ino === FIRST_INODE_OBJECTID;
    });
  }

  /** `btrfs subvolume get-default`. */
  async getDefault(): Promise<SubvolumeInfo> {
    return this.run(false, undefined, async (fs) => publicInfo(await subvolumeInfo(fs, await getDefaultSubvolume(fs))));
  }

  /**
   * `btrfs subvolume set-default ID | PATH`: the subvolume mounted when no subvol= /
   * subvolid= is given (0 means 5).
   */
  async setDefault(idOrPath: number | PathLike): Promise<void> {
    const p = typeof idOrPath === 'number' ? undefined : pathString(idOrPath, 'ioctl');
    await this.run(true, p, async (fs) => {
      const id = typeof idOrPath === 'number' ? idOrPath : await this.subvolumeAt(fs, p!);
      await setDefaultSubvolume(fs, id);
    });
  }

  /**
   * `btrfs subvolume sync`: resolves when every deleted subvolume has been dropped by the
   * cleaner and that is committed.
   */
  async sync(): Promise<void> {
    await this.filesystem.waitCleaner();
  }
}

// Walking a directory tree for the commands that take "a file or a directory": btrfs-progs'
// recursive `filesystem defragment -r` (nftw with FTW_PHYS | FTW_MOUNT) and compsize (its own
// readdir recursion). Symbolic links are never followed below the top; special files are
// listed with their type for the caller to skip. A nested subvolume is entered only when the
// caller asks (compsize does by default; nftw's FTW_MOUNT stays on one st_dev, and each
// subvolume is its own st_dev on Linux, so defragment -r does not).
//
// Each directory is read in one turn of the caller's `read` (the filesystem's writer mutex),
// so the walk lets other calls run between directories and sees each directory as it is
// when it gets there (entries made or removed meanwhile may or may not be seen, as readdir).
import type { FsInfo, Root } from '../fs/fs-info.js';
import { FileType } from '../format/constants.js';
import { readDir } from './namei.js';
import { enterSubvolume } from '../subvol/subvolume.js';
import { FsError } from '../util/errors.js';

/** Bound on directory depth (a corrupt tree with a directory loop must end). */
const MAX_WALK_DEPTH = 4096;
/** Bound on entries walked in one call. */
const MAX_WALK_ENTRIES = 1 << 30;

export interface TreeEntry {
  /** The path as the caller spelled the top, joined with the names below it. */
  path: string;
  root: Root;
  ino: number;
  /** FileType (FT_*) of the entry. */
  type: number;
}

export type ReadTurn = <T>(fn: (fs: FsInfo) => Promise<T>) => Promise<T>;

function join(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

/**
 * Every entry below the directory `top` (not `top` itself), parents before children, each
 * directory's entries in readdir (DIR_INDEX) order. With `crossSubvolumes` false, entries that
 * are subvolumes are neither listed nor entered.
 */
export async function* walkTree(read: ReadTurn, top: TreeEntry, options: { crossSubvolumes: boolean }): AsyncGenerator<TreeEntry> {
  const utf8 = new TextDecoder();
  const stack: { dir: TreeEntry; depth: number }[] = [{ dir: top, depth: 0 }];
  let seen = 0;
  while (stack.length > 0) {
    const { dir, depth } = stack.pop()!;
    if (depth >= MAX_WALK_DEPTH) throw new FsError('ELOOP', `${dir.path}: directories nested deeper than ${MAX_WALK_DEPTH}`);
    const entries = await read(async (fs) => {
      const out: TreeEntry[] = [];
      for await (const e of readDir(fs, dir.root, dir.ino)) {
        if (++seen > MAX_WALK_ENTRIES) throw new FsError('EOVERFLOW', `more than ${MAX_WALK_ENTRIES} entries below ${top.path}`);
        const path = join(dir.path, utf8.decode(e.name));
        if (e.subvolume !== undefined) {
          if (!options.crossSubvolumes) continue;
          const at = await enterSubvolume(fs, dir.root, dir.ino, e.name, e.subvolume);
          out.push({ path, root: at.root, ino: at.ino, type: FileType.DIR });
        } else {
          out.push({ path, root: dir.root, ino: e.ino, type: e.type });
        }
      }
      return out;
    });
    const subdirs: TreeEntry[] = [];
    for (const e of entries) {
      yield e;
      if (e.type === FileType.DIR) subdirs.push(e);
    }
    // Depth first, in readdir order (the stack is popped from its end).
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push({ dir: subdirs[i], depth: depth + 1 });
  }
}

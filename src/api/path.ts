// Path names for the fs.promises surface: what node accepts as a path (string, Uint8Array,
// file: URL), and the walk from a path to an inode (Linux namei: link_path_walk), with its
// rules: POSIX separators, '.' and '..' taken physically as the walk goes, symlinks followed in
// every component but the last (and the last unless told not to), ELOOP after 40 of them,
// components of more than 255 bytes ENAMETOOLONG, a trailing slash meaning "must be a directory".
//
// Relative paths are relative to '/': there is no working directory.
//
// Paths are strings inside the API; a Uint8Array path is decoded as UTF-8 (a name that is not
// valid UTF-8 cannot be reached through a Uint8Array path yet: a known difference from node,
// which passes the bytes through). Names on disk are the UTF-8 bytes of each component.
import { FileType, NAME_LEN } from '../format/constants.js';
import type { FsInfo, Root } from '../fs/fs-info.js';
import { lookupName, readlink, type LookupResult } from '../inode/namei.js';
import { nameString } from '../inode/dir-item.js';

export { nameString };
import { enterSubvolume } from '../subvol/subvolume.js';
import { FsError } from '../util/errors.js';
import { btrfsNameHash } from '../kernels/hash.js';
import { utf8Encode } from '../util/utf8.js';

export type PathLike = string | Uint8Array | URL;

/** Linux SYMLOOP_MAX as the kernel counts it (MAXSYMLINKS). */
export const MAX_SYMLINKS = 40;
/** PATH_MAX, counting the terminating NUL as Linux does. */
export const PATH_MAX = 4096;

export function nameBytes(s: string): Uint8Array {
  return utf8Encode(s);
}

/**
 * The path as a string, validated as node validates it. Node throws ERR_INVALID_ARG_TYPE /
 * ERR_INVALID_ARG_VALUE / ERR_INVALID_URL_SCHEME (TypeErrors) for bad arguments; here they are
 * FsError EINVAL with the syscall and the path, so that one error type reaches the caller.
 */
export function pathString(p: unknown, syscall: string, arg = 'path'): string {
  let s: string;
  if (typeof p === 'string') s = p;
  else if (p instanceof Uint8Array) s = nameString(p);
  else if (p instanceof URL || (typeof p === 'object' && p !== null && typeof (p as URL).href === 'string' && typeof (p as URL).protocol === 'string')) {
    const u = p as URL;
    if (u.protocol !== 'file:') throw new FsError('EINVAL', `the URL must be of scheme file (ERR_INVALID_URL_SCHEME)`, { syscall, path: u.href });
    if (u.hostname !== '') throw new FsError('EINVAL', `file URL host must be "localhost" or empty (ERR_INVALID_FILE_URL_HOST)`, { syscall, path: u.href });
    if (/%2f/i.test(u.pathname)) throw new FsError('EINVAL', `file URL path must not include encoded / characters (ERR_INVALID_FILE_URL_PATH)`, { syscall, path: u.href });
    s = decodeURIComponent(u.pathname);
  } else {
    throw new FsError('EINVAL', `the "${arg}" argument must be of type string or an instance of Buffer or URL (ERR_INVALID_ARG_TYPE)`, { syscall, path: String(p) });
  }
  if (s.includes('\0')) throw new FsError('EINVAL', `the "${arg}" argument must be a string, Uint8Array, or URL without null bytes (ERR_INVALID_ARG_VALUE)`, { syscall, path: s });
  return s;
}

/** A place in the namespace: an inode of a subvolume. */
export interface Loc {
  root: Root;
  ino: number;
}

/** The end of a walk. */
export interface Resolved {
  /** The directory that holds (or would hold) the last component. */
  parent: Loc;
  /** The last component's name; undefined when the path ends at '/', '.' or '..'. */
  name: Uint8Array | undefined;
  /** The last component, when it exists (followed, if it was a symlink and following was asked). */
  target: (Loc & { type: number }) | undefined;
  /** The path ended in '/' (or '/.'): the result must be a directory. */
  mustBeDir: boolean;
  /** The absolute path of `target` (or of where it would be), symlinks resolved: realpath. */
  canonical: string;
}

export interface WalkOptions {
  /** Follow a symlink in the last component (stat: yes; lstat, unlink, rename: no). */
  followLast: boolean;
  /**
   * Stop before looking the last component up (Linux filename_parentat): `target` stays
   * undefined and `lookupLast` finishes the walk. rename looks both parents up before either
   * name, and the errors come in that order.
   */
  parentOnly?: boolean;
  /**
   * open with O_CREAT: a last component that must be a directory (trailing slash, also on a
   * symlink's target) is EISDIR before it is looked up (Linux open_last_lookups).
   */
  create?: boolean;
}

/**
 * Where the subvolume entry `name` of directory `parent` leads: the root directory (inode 256)
 * of subvolume `subvolume`, loaded on first use, or the empty placeholder directory btrfs
 * shows for a subvolume that a snapshot did not include.
 */
export type SubvolumeRoots = (fs: FsInfo, parent: Loc, name: Uint8Array, subvolume: number) => Promise<Loc>;

/** The subvolume loader (src/subvol/subvolume.ts enterSubvolume: btrfs's fixup_tree_root_location). */
export const loadedSubvolume: SubvolumeRoots = (fs, parent, name, id) => enterSubvolume(fs, parent.root, parent.ino, name, id);

interface Frame {
  loc: Loc;
  /** The name this directory was entered by ('' for the top). */
  name: string;
}

/**
 * A walk's end; realpath and rename want the canonical path, most walks never read it, so it is
 * built on use. So are the last component's bytes (`name`, always the UTF-8 of `last`): stat,
 * readdir and reads of an existing file never need them.
 */
class WalkResult implements Resolved {
  constructor(
    readonly parent: Loc,
    private bytes: Uint8Array | undefined,
    readonly target: Resolved['target'],
    readonly mustBeDir: boolean,
    private readonly frames: Frame[],
    private readonly last: string | undefined,
  ) {}

  get name(): Uint8Array | undefined {
    return this.last === undefined ? undefined : (this.bytes ??= utf8Encode(this.last));
  }

  get canonical(): string {
    const parts = this.frames.slice(1).map((f) => f.name);
    if (this.last !== undefined) parts.push(this.last);
    return '/' + parts.join('/');
  }
}

function splitComponents(path: string): string[] {
  return path.split('/').filter((c) => c !== '');
}

/**
 * Walks `path` from `top` (the '/' of this API). Errors are FsErrors without syscall/path:
 * the caller adds them. Missing intermediate directories are ENOENT, non-directories in the
 * middle ENOTDIR, a trailing slash on an existing non-directory ENOTDIR.
 */
export async function walk(fs: FsInfo, top: Loc, path: string, options: WalkOptions, subvolumes: SubvolumeRoots = loadedSubvolume): Promise<Resolved> {
  if (path === '') throw new FsError('ENOENT', 'empty path');
  // UTF-8 takes at most 3 bytes per UTF-16 unit: only long paths need encoding to be measured.
  if (path.length * 3 >= PATH_MAX && utf8Encode(path).length >= PATH_MAX) throw new FsError('ENAMETOOLONG', `path of ${path.length} characters`);
  let stack: Frame[] = [{ loc: top, name: '' }];
  let pending = splitComponents(path).reverse(); // next component at the end
  let mustBeDir = /\/\.?$/.test(path) && path !== '/';
  let links = 0;
  const cur = () => stack[stack.length - 1];
  const result = (parent: Loc, name: Uint8Array | undefined, target: Resolved['target'], mustBeDir: boolean, frames: Frame[], last?: string): Resolved =>
    new WalkResult(parent, name, target, mustBeDir, frames, last);
  // Bounded: each round consumes a component; symlinks add at most MAX_SYMLINKS targets, each
  // bounded by PATH_MAX.
  while (pending.length > 0) {
    const comp = pending.pop()!;
    const isLast = pending.length === 0;
    if (comp === '.' || comp === '..') {
      if (comp === '..' && stack.length > 1) stack = stack.slice(0, -1);
      if (isLast) {
        const d = cur().loc;
        return result(d, undefined, { ...d, type: FileType.DIR }, true, stack);
      }
      continue;
    }
    // The name's bytes are made where they are used: a directory the dcache resolves on the way
    // needs none. UTF-8 takes at most 3 bytes per UTF-16 unit, so only long names are measured.
    let name: Uint8Array | undefined;
    const dir = cur().loc;
    if (isLast && options.parentOnly) return result(dir, name, undefined, mustBeDir, stack, comp);
    if (isLast && options.create && mustBeDir) throw new FsError('EISDIR', 'O_CREAT with a trailing slash');
    if (comp.length * 3 > NAME_LEN && (name = utf8Encode(comp)).length > NAME_LEN) throw new FsError('ENAMETOOLONG', `component of ${name.length} bytes`);
    // The dcache first (item-cache.ts names: dropped whenever the name's DIR_ITEM changes).
    const cache = dir.root.itemCache;
    let e = cache?.getName(dir.ino, comp) as LookupResult | undefined;
    if (!e) {
      name ??= utf8Encode(comp);
      e = await lookupName(fs, dir.root, dir.ino, name);
      if (!e) {
        if (isLast) return result(dir, name, undefined, mustBeDir, stack, comp);
        throw new FsError('ENOENT', `'${comp}' does not exist`);
      }
      cache?.putName(dir.ino, comp, btrfsNameHash(name), e);
    }
    if (e.type === FileType.SYMLINK && (!isLast || options.followLast || mustBeDir)) {
      if (++links > MAX_SYMLINKS) throw new FsError('ELOOP', `more than ${MAX_SYMLINKS} symbolic links`);
      const target = nameString(await readlink(fs, dir.root, e.ino));
      if (target.startsWith('/')) stack = [stack[0]];
      // A trailing slash on the link's own target also asks for a directory.
      if (isLast && /\/\.?$/.test(target)) mustBeDir = true;
      pending = pending.concat(splitComponents(target).reverse());
      if (pending.length === 0) {
        // The link pointed at '/' (or its target was only slashes).
        const d = cur().loc;
        return result(d, undefined, { ...d, type: FileType.DIR }, true, stack);
      }
      continue;
    }
    const loc: Loc = e.subvolume !== undefined ? await subvolumes(fs, dir, (name ??= utf8Encode(comp)), e.subvolume) : { root: dir.root, ino: e.ino };
    if (isLast) {
      if (mustBeDir && e.type !== FileType.DIR) throw new FsError('ENOTDIR', `'${comp}' is not a directory`);
      return result(dir, name, { ...loc, type: e.type }, mustBeDir, stack, comp);
    }
    if (e.type !== FileType.DIR) throw new FsError('ENOTDIR', `'${comp}' is not a directory`);
    // In place: no result holds this array before the walk returns ('..' and an absolute
    // symlink make new ones).
    stack.push({ loc, name: comp });
  }
  // The path had no components: '/', '//', ...
  const d = cur().loc;
  return result(d, undefined, { ...d, type: FileType.DIR }, true, stack);
}

/**
 * walk from the caches alone, with no I/O and no await: the inode a plain path names (no '.',
 * '..', trailing slash, subvolume crossing, or symlink to follow), when every component was
 * resolved by an earlier walk and nothing changed the directory since (item-cache.ts names).
 * Undefined whenever anything is not known that way: the caller then walks for real, which
 * also produces the errors. Only valid while no operation runs (Filesystem.quiescent).
 */
export function walkCached(top: Loc, path: string, followLast: boolean): (Loc & { type: number }) | undefined {
  if (path === '' || path.length * 3 >= PATH_MAX || (path.length > 1 && path.endsWith('/'))) return undefined;
  const root = top.root;
  let ino = top.ino;
  let type: number = FileType.DIR;
  let from = 0;
  while (from < path.length) {
    let to = path.indexOf('/', from);
    if (to < 0) to = path.length;
    if (to > from) {
      const comp = path.slice(from, to);
      if (comp === '.' || comp === '..' || type !== FileType.DIR) return undefined;
      const e = root.itemCache?.getName(ino, comp) as LookupResult | undefined;
      if (!e || e.subvolume !== undefined) return undefined;
      if (e.type === FileType.SYMLINK && (followLast || to < path.length)) return undefined;
      ino = e.ino;
      type = e.type;
    }
    from = to + 1;
  }
  return { root, ino, type };
}

/**
 * walkCached for an open with O_CREAT: the walk from the caches alone when the parent directory
 * resolves that way and the last component is a plain name that the dcache either knows (not a
 * symlink nor a subvolume) or knows to be absent (a complete directory: item-cache.ts). Undefined
 * otherwise, the caller then walks for real (which also makes every error). The same validity
 * rule as walkCached: while nothing else runs.
 */
export function walkCachedForCreate(top: Loc, path: string): Resolved | undefined {
  const cut = path.lastIndexOf('/');
  const last = path.slice(cut + 1);
  // Long names go the long way (walk measures them and says ENAMETOOLONG).
  if (last === '' || last === '.' || last === '..' || last.length * 3 > NAME_LEN) return undefined;
  const parent = walkCached(top, cut <= 0 ? '/' : path.slice(0, cut), true);
  if (parent === undefined || parent.type !== FileType.DIR) return undefined;
  const dir: Loc = { root: parent.root, ino: parent.ino };
  const cache = dir.root.itemCache;
  if (!cache) return undefined;
  const e = cache.getName(dir.ino, last) as LookupResult | undefined;
  if (e) {
    if (e.subvolume !== undefined || e.type === FileType.SYMLINK) return undefined;
    return { parent: dir, name: utf8Encode(last), target: { root: dir.root, ino: e.ino, type: e.type }, mustBeDir: false, canonical: '' };
  }
  const name = utf8Encode(last);
  if (!cache.knownAbsent(dir.ino, btrfsNameHash(name))) return undefined;
  return { parent: dir, name, target: undefined, mustBeDir: false, canonical: '' };
}

/** Looks up the last component of a parentOnly walk (no symlink followed). */
export async function lookupLast(fs: FsInfo, r: Resolved, subvolumes: SubvolumeRoots = loadedSubvolume): Promise<Resolved> {
  if (r.name === undefined) return r;
  if (r.name.length > NAME_LEN) throw new FsError('ENAMETOOLONG', `component of ${r.name.length} bytes`);
  const e = await lookupName(fs, r.parent.root, r.parent.ino, r.name);
  if (!e) return r;
  const loc: Loc = e.subvolume !== undefined ? await subvolumes(fs, r.parent, r.name, e.subvolume) : { root: r.parent.root, ino: e.ino };
  return resolvedWith(r, { target: { ...loc, type: e.type } });
}

/** `r` with some fields changed (a spread would drop a walk result's getters: canonical, name). */
export function resolvedWith(r: Resolved, changes: Partial<Omit<Resolved, 'canonical' | 'name'>>): Resolved {
  return Object.assign(Object.create(Object.getPrototypeOf(r) as object) as Resolved, r, changes);
}

/** POSIX join of a parent path and a name, as node's path.join for our absolute-or-relative paths. */
export function joinPath(parent: string, name: string): string {
  if (parent === '' || parent === '.') return name;
  return parent.endsWith('/') ? parent + name : `${parent}/${name}`;
}

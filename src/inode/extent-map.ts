// The in-memory extent map (btrfs extent_map.c, in small): per inode, the file extent items
// already read from the fs tree, and the ranges known to have none, so that a read (or the
// write path's look at the items it replaces) does not search the tree again for a range it has
// seen. A random 4 KiB read of a cached range costs a binary search here instead of a B-tree
// descent.
//
// Exactness: an entry is a copy of what the tree holds. Every change of a file extent item goes
// through a few helpers (file-item.ts insertFileExtent / insertFileExtentDeferred /
// deleteFileExtent, and in file.ts rewriteExtent and the inline truncation), and each drops the
// entries overlapping the changed range before the tree changes; entries are dropped whole,
// never trimmed, so what remains is always a whole item (or a whole known gap) as the tree has
// it. An inode's map goes when its data is freed (unlink, eviction) and whenever its inode
// generation differs from the one the map was built for (an inode number used again). Maps hang
// off the Root object: a remount, a snapshot's new root or a deleted subvolume starts empty.
// Bounded: past MAX_ENTRIES_PER_ROOT entries a root's maps are dropped and rebuilt on demand.
//
// Tests can check every hit against the tree (setExtentMapVerify, or the environment variable
// BUTTERFS_EXTENT_MAP_VERIFY=1 in Node): a hit that differs from a fresh search is an assertion.
import type { Root } from '../fs/fs-info.js';
import { assert } from '../util/assert.js';
import type { FileExtent } from './file-item.js';

/** file-item.ts fileExtentEnd (not imported: file-item.ts imports this module). */
const itemEnd = (fe: FileExtent): number => fe.fileOffset + fe.numBytes;

/** One cached range: a file extent item covering [start, end), or a gap with no item (`fe` null). */
interface Entry {
  start: number;
  end: number;
  fe: FileExtent | null;
}

interface InodeMap {
  /** The inode generation the entries belong to. */
  generation: number;
  /**
   * The entries, sorted by start and non-overlapping, in chunks of at most chunkEntries (none
   * empty): a file of many extents (random overwrites) costs a splice of one chunk per change
   * instead of a move of every entry after it.
   */
  chunks: Entry[][];
  /** Entries in all chunks. */
  count: number;
}

interface RootMaps {
  inodes: Map<number, InodeMap>;
  entries: number;
}

const MAX_ENTRIES_PER_ROOT = 1 << 18;

/** A chunk that grows past this many entries is split in two. */
let chunkEntries = 128;

const maps = new WeakMap<Root, RootMaps>();

let verify = ((globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.BUTTERFS_EXTENT_MAP_VERIFY ?? '') === '1';

/** Whether every hit is checked against the tree (tests). */
export function extentMapVerify(): boolean {
  return verify;
}

export function setExtentMapVerify(on: boolean): void {
  verify = on;
}

/** Sets the entries a chunk holds before it splits (tests: small chunks make many of them). Returns the old value. */
export function setExtentMapChunkEntries(n: number): number {
  assert(Number.isInteger(n) && n >= 2, `extent map chunks of ${n} entries`);
  const old = chunkEntries;
  chunkEntries = n;
  return old;
}

/** Counters for tests and benchmarks. */
export const extentMapStats = { hits: 0, misses: 0 };

function inodeMap(root: Root, ino: number, generation: number, create: boolean): InodeMap | undefined {
  let r = maps.get(root);
  if (!r) {
    if (!create) return undefined;
    r = { inodes: new Map(), entries: 0 };
    maps.set(root, r);
  }
  let m = r.inodes.get(ino);
  if (m && m.generation !== generation) {
    r.entries -= m.count;
    r.inodes.delete(ino);
    m = undefined;
  }
  if (!m && create) {
    m = { generation, chunks: [], count: 0 };
    r.inodes.set(ino, m);
  }
  return m;
}

/** Index of the first entry of `entries` whose end is above `offset` (entries.length if none). */
function firstEnding(entries: Entry[], offset: number): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid].end <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Where the first entry whose end is above `offset` is: [chunk, index]; [chunks.length, 0] if none. */
function locate(chunks: Entry[][], offset: number): [number, number] {
  let lo = 0;
  let hi = chunks.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = chunks[mid];
    if (c[c.length - 1].end <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo === chunks.length ? [lo, 0] : [lo, firstEnding(chunks[lo], offset)];
}

/**
 * Drops the entries overlapping [start, end) and puts `piece` (if any) in their place; returns
 * the change in the number of entries. `piece` must lie within the dropped span's gap.
 */
function replace(m: InodeMap, start: number, end: number, piece: Entry | undefined): number {
  const chunks = m.chunks;
  let [ci, i] = locate(chunks, start);
  let removed = 0;
  while (ci < chunks.length) {
    const c = chunks[ci];
    let j = i;
    while (j < c.length && c[j].start < end) j++;
    const more = j === c.length;
    if (j > i) {
      c.splice(i, j - i);
      removed += j - i;
    }
    if (c.length === 0) {
      chunks.splice(ci, 1);
      i = 0;
    } else if (more && i === c.length && ci + 1 < chunks.length) {
      ci++;
      i = 0;
    } else {
      break;
    }
    if (!more) break;
  }
  let added = 0;
  if (piece) {
    added = 1;
    if (chunks.length === 0) {
      chunks.push([piece]);
    } else {
      if (ci === chunks.length) {
        ci = chunks.length - 1;
        i = chunks[ci].length;
      }
      const c = chunks[ci];
      c.splice(i, 0, piece);
      if (c.length > chunkEntries) chunks.splice(ci + 1, 0, c.splice(c.length >>> 1));
    }
  }
  m.count += added - removed;
  return added - removed;
}

/**
 * The file extent items overlapping [start, end), in file order (as findFileExtents returns
 * them), when the map covers all of the range; undefined when any part is unknown.
 */
export function cachedFileExtents(root: Root, ino: number, generation: number, start: number, end: number): FileExtent[] | undefined {
  const m = inodeMap(root, ino, generation, false);
  if (!m || end <= start) return undefined;
  const chunks = m.chunks;
  let [ci, i] = locate(chunks, start);
  let cur = start;
  const out: FileExtent[] = [];
  while (cur < end) {
    if (ci < chunks.length && i === chunks[ci].length) {
      ci++;
      i = 0;
    }
    if (ci >= chunks.length) return undefined;
    const e = chunks[ci][i];
    if (e.start > cur) return undefined;
    if (e.fe) out.push(e.fe);
    cur = e.end;
    i++;
  }
  return out;
}

/**
 * Remembers what a search of [start, end) found: `items` (every item overlapping the range, in
 * order, none left out) and the gaps between them inside the range.
 */
export function rememberFileExtents(root: Root, ino: number, generation: number, start: number, end: number, items: readonly FileExtent[]): void {
  if (end <= start) return;
  const pieces: Entry[] = [];
  let cur = start;
  for (const fe of items) {
    const a = fe.fileOffset;
    const b = itemEnd(fe);
    assert(b > cur || pieces.length === 0, 'rememberFileExtents: items out of order');
    if (a > cur) pieces.push({ start: cur, end: Math.min(a, end), fe: null });
    pieces.push({ start: a, end: b, fe });
    cur = Math.max(cur, b);
  }
  if (cur < end) pieces.push({ start: cur, end, fe: null });
  const r = maps.get(root);
  if (r && r.entries + pieces.length > MAX_ENTRIES_PER_ROOT) {
    r.inodes.clear();
    r.entries = 0;
  }
  const m = inodeMap(root, ino, generation, true)!;
  const rm = maps.get(root)!;
  // Entries already there for the same range are the same tree state: replace what overlaps.
  for (const p of pieces) if (p.end > p.start) rm.entries += replace(m, p.start, p.end, p);
}

/** Drops every entry of the inode overlapping [start, end) (before the tree changes there). */
export function invalidateFileExtents(root: Root, ino: number, start: number, end: number): void {
  const r = maps.get(root);
  const m = r?.inodes.get(ino);
  if (!m || end <= start) return;
  r!.entries += replace(m, start, end, undefined);
}

/** Forgets the inode's map (its data was freed, or it is going away). */
export function forgetFileExtents(root: Root, ino: number): void {
  const r = maps.get(root);
  const m = r?.inodes.get(ino);
  if (!m) return;
  r!.entries -= m.count;
  r!.inodes.delete(ino);
}

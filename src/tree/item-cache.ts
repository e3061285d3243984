// A lookup cache for a few item types of one tree (the fs trees' INODE_ITEM and DIR_ITEM: what
// every path walk and stat asks for), in the spirit of the kernel's dcache and inode cache: a
// stat of a file whose directory and inode were seen before costs map lookups, not B-tree
// descents.
//
// Exactness: the cache is only a copy of what the tree holds. ctree.ts tells it of every change
// to an item of a covered type (insert, delete, extend, truncate, key change) and
// src/fs/items.ts of every in-place data change; the entry of the key is dropped before the
// tree changes, so the next lookup reads the tree again. A miss is remembered too (`null`), so
// the lookups that precede a create cost one descent, not two. Bounded: past `capacity`
// entries the oldest are dropped (insertion order), so memory does not grow with the tree.
import type { Key } from '../format/key.js';
import { assert } from '../util/assert.js';

export interface CachedItem {
  /** The item's bytes (never handed out: lookups return copies), or null when the key is absent. */
  readonly data: Uint8Array | null;
  /** A decoded form some caller keeps beside the bytes (see lookupDecoded in ctree.ts). */
  decoded?: unknown;
}

/** A remembered directory listing; `lent` once a caller holds the array. */
export interface Listing {
  value: unknown[];
  lent: boolean;
  /** What a caller made of the whole listing (readdir's names), until the listing changes. */
  derived?: unknown;
  /** `value` is only the names (putNames: a plain readdir's), not the caller's entries. */
  namesOnly?: boolean;
}

interface DirNames {
  byName: Map<string, { value: unknown; hash: number }>;
  byHash: Map<number, string[]>;
  /**
   * Every name of the directory is here (a directory made in this mount, whose names all came
   * through addedName): a name hash not in byHash has no DIR_ITEM (knownAbsent). Cleared by any
   * change of one of its DIR_ITEMs this cache is told of otherwise (forgetNames).
   */
  complete: boolean;
}

/**
 * The first of `types` may have delayed updates (inode items), the second has names (directory
 * items), and `listType` (directory index items) keeps whole directory listings: fs-info.ts
 * makes the caches of subvolume trees with [INODE_ITEM, DIR_ITEM] and DIR_INDEX.
 */
export class ItemCache {
  // Per cached type, two generations: entries go into `young`; when the young maps hold
  // capacity/2 entries they become `old` and the previous old ones are dropped. A hit in an old
  // map moves the entry back to young. O(1) per operation, at most `capacity` entries, and
  // recently used entries survive. Keys are exact numbers (cacheKey), one map per type.
  private young: Map<number, CachedItem>[];
  private old: Map<number, CachedItem>[];
  private youngSize = 0;
  /** Lookups answered from the cache and not (for tests and benchmarks). */
  hits = 0;
  misses = 0;

  /**
   * @param types  the item types cached (a small set: a membership test runs on every insert and delete)
   * @param capacity  entries kept at most
   */
  constructor(
    private readonly types: readonly number[],
    readonly capacity = 65536,
    private readonly listType = -1,
  ) {
    this.young = types.map(() => new Map());
    this.old = types.map(() => new Map());
  }

  /**
   * Whether `key` is of a cached kind: a cached type, objectid below 2^21 and offset below 2^32
   * (inode numbers and name hashes of all but enormous subvolumes), so that objectid and offset
   * pack into one exact number. Other keys simply go to the tree.
   */
  covers(key: Key): boolean {
    return key.objHi === 0 && key.objLo < 0x200000 && key.offHi === 0 && this.types.includes(key.type);
  }

  /** Whether any item of `type` is cached at all (ctree's cheap pre-test on mutations). */
  coversType(type: number): boolean {
    return this.types.includes(type) || (type === this.listType && this.listings.size > 0);
  }

  get size(): number {
    let n = 0;
    for (let t = 0; t < this.types.length; t++) n += this.young[t].size + this.old[t].size;
    return n;
  }

  /** The entry of a covered key. */
  get(key: Key): CachedItem | undefined {
    const t = this.types.indexOf(key.type);
    const k = cacheKey(key);
    let e = this.young[t].get(k);
    if (!e) {
      e = this.old[t].get(k);
      if (e) {
        this.old[t].delete(k);
        this.put(t, k, e);
      }
    }
    if (e) this.hits++;
    else this.misses++;
    return e;
  }

  /**
   * Remembers what the tree holds for a covered `key`: a copy of `data`, or `data` itself when
   * `owned` (the caller never changes it again: the bytes of a deferred insert).
   */
  set(key: Key, data: Uint8Array | null, decoded?: unknown, owned = false): CachedItem {
    const t = this.types.indexOf(key.type);
    const k = cacheKey(key);
    const e: CachedItem = { data: data && !owned ? data.slice() : data, decoded };
    this.old[t].delete(k);
    this.put(t, k, e);
    return e;
  }

  private put(t: number, k: number, e: CachedItem): void {
    const young = this.young[t];
    if (!young.has(k)) {
      if (this.youngSize >= this.capacity >>> 1) {
        this.old = this.young;
        this.young = this.types.map(() => new Map());
        this.youngSize = 0;
      }
      this.youngSize++;
    }
    this.young[t].set(k, e);
  }

  // ---- names (the dcache): per directory, what a path component (as the caller spelt it)
  // resolves to, filled by path walks and creates (api/) and dropped when the DIR_ITEM of its
  // name hash changes (a name added or removed with that hash). Only positive entries.
  private names = new Map<number, DirNames>();
  private nameCount = 0;

  /** What `name` in directory `dir` resolved to, if remembered. */
  getName(dir: number, name: string): unknown {
    const v = this.names.get(dir)?.byName.get(name)?.value;
    if (v !== undefined) this.nameHits++;
    return v;
  }

  /** Path components answered from the names (for tests and benchmarks). */
  nameHits = 0;

  /** Remembers `name` in `dir` (whose DIR_ITEM key offset is `hash`) resolving to `value`. */
  putName(dir: number, name: string, hash: number, value: unknown): void {
    // Only directories whose DIR_ITEM keys this cache covers: their changes reach invalidate.
    if (!Number.isInteger(dir) || dir < 0 || dir >= 0x200000) return;
    if (this.nameCount >= this.capacity >>> 1) {
      this.names = new Map();
      this.nameCount = 0;
    }
    let d = this.names.get(dir);
    if (!d) this.names.set(dir, (d = { byName: new Map(), byHash: new Map(), complete: false }));
    const old = d.byName.get(name);
    if (old) {
      old.value = value;
      return;
    }
    d.byName.set(name, { value, hash });
    const same = d.byHash.get(hash);
    if (same) same.push(name);
    else d.byHash.set(hash, [name]);
    this.nameCount++;
  }

  private forgetNames(dir: number, hash: number): void {
    const d = this.names.get(dir);
    if (!d) return;
    d.complete = false;
    const same = d.byHash.get(hash);
    if (!same) return;
    for (const n of same) d.byName.delete(n);
    this.nameCount -= same.length;
    d.byHash.delete(hash);
  }

  /** A directory just made (no names yet): its names are complete from here (see DirNames). */
  newDirectory(dir: number): void {
    if (!Number.isInteger(dir) || dir < 0 || dir >= 0x200000) return;
    const old = this.names.get(dir);
    if (old) this.nameCount -= old.byName.size;
    this.names.set(dir, { byName: new Map(), byHash: new Map(), complete: true });
  }

  /** Whether directory `dir` certainly has no DIR_ITEM of name hash `hash`: its names are complete and none has that hash. */
  knownAbsent(dir: number, hash: number): boolean {
    const d = this.names.get(dir);
    return d !== undefined && d.complete && !d.byHash.has(hash);
  }

  /**
   * `name` (hash `hash`) was just linked in `dir` for `value`: remembered. `wasComplete`:
   * `knownAbsent(dir, hash)` held before its DIR_ITEM went in (which cleared `complete`), so
   * every name is known again.
   */
  addedName(dir: number, name: string, hash: number, value: unknown, wasComplete: boolean): void {
    const d = wasComplete ? this.names.get(dir) : undefined;
    this.putName(dir, name, hash, value);
    // putName may have dropped every directory's names to stay bounded: then `d` is gone.
    if (d !== undefined && this.names.get(dir) === d) d.complete = true;
  }

  /**
   * The item of `key` changes or goes: forget it, and forget a delayed update of it (a
   * deletion or a rewrite in the tree supersedes it; the delayed-update flush itself drops the
   * entry before it writes).
   */
  invalidate(key: Key): void {
    if (key.type === this.listType) {
      if (this.listings.size > 0 && key.objHi === 0) this.dropListing(key.objLo);
      return;
    }
    if (!this.covers(key)) return;
    const t = this.types.indexOf(key.type);
    const k = cacheKey(key);
    if (this.young[t].delete(k)) this.youngSize--;
    this.old[t].delete(k);
    if (this.delayed.size > 0 && t === 0) this.delayed.delete(k);
    if (t === 1 && this.names.size > 0) this.forgetNames(key.objLo, key.offLo);
  }

  // ---- directory listings (readdir): per directory, every entry in index order as the caller
  // decoded it. Dropped when any index item of the directory is inserted, deleted or changed,
  // except for a new last entry (a link's fresh, highest index: takeListing + appendListing),
  // which is added at the end. Bounded by the entries they hold, like the rest.
  private listings = new Map<number, Listing>();
  private listingEntries = 0;

  /** Whether the whole listing of `dir` is remembered (without handing it out). */
  hasListing(dir: number): boolean {
    const l = this.listings.get(dir);
    return l !== undefined && !l.namesOnly;
  }

  /** The whole listing of directory `dir`, if remembered: read-only from here on (see appendListing). */
  getListing(dir: number): readonly unknown[] | undefined {
    const l = this.listings.get(dir);
    if (!l || l.namesOnly) return undefined;
    l.lent = true;
    return l.value;
  }

  /**
   * Remembers the whole listing of `dir`; only directories below 2^32. `value` is the cache's
   * from here on; `lent`: the caller hands it out too (a listing just read for a reader), so it
   * never changes in place.
   */
  putListing(dir: number, value: unknown[], lent: boolean): void {
    this.keepListing(dir, { value, lent });
  }

  /**
   * The names of every entry of `dir` in index order: a whole listing's (`make` of its entries,
   * once) or a names-only one (putNames), if remembered. Read-only.
   */
  getNames(dir: number, make: (entries: readonly unknown[]) => readonly string[]): readonly string[] | undefined {
    const l = this.listings.get(dir);
    if (!l) return undefined;
    if (l.namesOnly) return l.value as string[];
    return (l.derived ??= make(l.value)) as readonly string[];
  }

  /**
   * Remembers the names of every entry of `dir` (a plain readdir's, read without entries);
   * dropped like a listing, and a miss for getListing's callers. `names` is the cache's from here on.
   */
  putNames(dir: number, names: string[]): void {
    this.keepListing(dir, { value: names, lent: true, namesOnly: true });
  }

  /**
   * Forgets the listing of `dir` and returns it, for appendListing after the index item of a new
   * last entry goes into the tree (which drops the listing).
   */
  takeListing(dir: number): Listing | undefined {
    const l = this.listings.get(dir);
    if (l) this.dropListing(dir);
    // Names alone cannot take an entry: the directory is read again when next listed.
    return l?.namesOnly ? undefined : l;
  }

  /**
   * Remembers `taken` (takeListing's) again with `entry` at its end: `dir` got an entry whose
   * index is above every other. In place, unless a caller holds the array (getListing): then a
   * copy, as what a caller holds never changes.
   */
  appendListing(dir: number, taken: Listing, entry: unknown): void {
    const value = taken.lent ? [...taken.value, entry] : taken.value;
    if (!taken.lent) value.push(entry);
    this.keepListing(dir, { value, lent: false });
  }

  private keepListing(dir: number, l: Listing): void {
    const entries = l.value.length;
    if (!Number.isInteger(dir) || dir < 0 || dir >= 0x100000000 || entries > this.capacity >>> 2) return;
    this.dropListing(dir);
    if (this.listingEntries + entries > this.capacity >>> 1) {
      this.listings.clear();
      this.listingEntries = 0;
    }
    this.listings.set(dir, l);
    this.listingEntries += entries;
  }

  private dropListing(dir: number): void {
    const l = this.listings.get(dir);
    if (!l) return;
    this.listings.delete(dir);
    this.listingEntries -= l.value.length;
  }

  // ---- delayed updates (btrfs's delayed inodes): the newest decoded item of a key of the
  // first cached type, not yet written to the tree; never evicted, written by the owner's
  // flush (src/inode/inode.ts flushDelayedInodes) at the latest at commit.
  private readonly delayed = new Map<number, { key: Key; value: unknown }>();

  /** A delayed update of a covered key of the first type replaces what the tree holds. */
  setDelayed(key: Key, value: unknown): void {
    const k = cacheKey(key);
    const t = this.types.indexOf(key.type);
    assert(t === 0, 'delayed updates are for the first cached type');
    if (this.young[t].delete(k)) this.youngSize--;
    this.old[t].delete(k);
    this.delayed.set(k, { key, value });
  }

  getDelayed(key: Key): unknown {
    return this.delayed.size > 0 ? this.delayed.get(cacheKey(key))?.value : undefined;
  }

  get delayedCount(): number {
    return this.delayed.size;
  }

  /** Takes every delayed update, in key order, leaving none. */
  takeDelayed(): { key: Key; value: unknown }[] {
    const out = [...this.delayed.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
    this.delayed.clear();
    return out;
  }

  clear(): void {
    this.young = this.types.map(() => new Map());
    this.old = this.types.map(() => new Map());
    this.youngSize = 0;
    this.listings.clear();
    this.listingEntries = 0;
    this.names = new Map();
    this.nameCount = 0;
  }
}

/** objectid < 2^21 and offset < 2^32 (covers): objectid * 2^32 + offset < 2^53, exact. */
function cacheKey(key: Key): number {
  return key.objLo * 0x100000000 + key.offLo;
}

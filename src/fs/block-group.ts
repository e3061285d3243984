// Block groups in memory (btrfs block-group.c): each chunk's usage, its free space for the
// allocator, pinned extents waiting for the commit, and the dirty/pending state that the
// commit writes back as BLOCK_GROUP_ITEMs (and, for new chunks, chunk/dev/free-space items).
//
// Free space is loaded lazily from the free space tree the first time a group allocates
// (btrfs's caching), minus the ranges that hold superblock copies (never allocated).
import { BlockGroupFlags, BLOCK_GROUP_TYPE_MASK } from '../format/constants.js';
import { RangeSet } from '../util/range-set.js';
import { FsError } from '../util/errors.js';
import { assert } from '../util/assert.js';

export class BlockGroup {
  /** Allocation cursor: next search starts here (keeps allocation roughly sequential). */
  cursor: number;
  /** In-memory free space; undefined until loaded. */
  free: RangeSet | undefined;
  /** Freed in this transaction: not reusable until the commit is on disk. */
  readonly pinned = new RangeSet();
  /** used changed since the last BLOCK_GROUP_ITEM write. */
  dirty = false;
  /** Created in this transaction: its items are inserted at commit. */
  pendingCreate = false;
  /** What the free space tree says is free (free-space-tree.ts keeps it in step). */
  fstExtents: RangeSet | undefined;
  /** The group's free space tree entries are bitmaps (converted to extents on first change). */
  fstUsesBitmaps = false;
  /** Logical ranges holding superblock copies. */
  superRanges: { start: number; length: number }[] = [];

  constructor(
    readonly start: number,
    readonly length: number,
    readonly flags: number,
    public used: number,
  ) {
    this.cursor = start;
  }

  get end(): number {
    return this.start + this.length;
  }
  get type(): number {
    return this.flags & BLOCK_GROUP_TYPE_MASK;
  }
  /** Bytes excluded for superblock copies (bytes_super). */
  get superBytes(): number {
    return this.superRanges.reduce((a, r) => a + r.length, 0);
  }
}

export class BlockGroups {
  /** Sorted by start. */
  private groups: BlockGroup[] = [];

  all(): readonly BlockGroup[] {
    return this.groups;
  }

  add(bg: BlockGroup): void {
    let i = 0;
    while (i < this.groups.length && this.groups[i].start < bg.start) i++;
    assert(!this.groups[i] || this.groups[i].start >= bg.end, 'block groups overlap');
    this.groups.splice(i, 0, bg);
  }

  remove(bg: BlockGroup): void {
    const i = this.groups.indexOf(bg);
    assert(i >= 0, 'no such block group');
    this.groups.splice(i, 1);
  }

  /** The group holding `logical`. */
  lookup(logical: number): BlockGroup | undefined {
    let lo = 0;
    let hi = this.groups.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.groups[mid].start <= logical) lo = mid + 1;
      else hi = mid;
    }
    const g = this.groups[lo - 1];
    return g && logical < g.end ? g : undefined;
  }

  get(logical: number): BlockGroup {
    const g = this.lookup(logical);
    if (!g) throw new FsError('EUCLEAN', `logical address ${logical} is in no block group`);
    return g;
  }

  ofType(type: number): BlockGroup[] {
    return this.groups.filter((g) => (g.flags & BLOCK_GROUP_TYPE_MASK) === type);
  }
}

export const BG_DATA = BlockGroupFlags.DATA;
export const BG_METADATA = BlockGroupFlags.METADATA;
export const BG_SYSTEM = BlockGroupFlags.SYSTEM;

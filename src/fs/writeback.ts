// Data writeback (btrfs's dirty pages and ordered extents, in small): the bytes of the small
// data extents a transaction allocates stay in memory, and the checksums of all of them, until
// the commit writes them out (or until `limitBytes` of data wait). At the flush the extents go
// to the devices in address order, adjacent ones in one write, and the checksums into the csum
// tree in runs of consecutive sectors: a transaction that writes 10,000 small files does a few
// large writes and a few csum items, not 10,000 of each. Large extents (WRITE_THROUGH_BYTES) are
// written at once, as a copy would cost more than it saves; only their checksums wait.
//
// Why this is safe: nothing on disk points at these extents until the commit that references
// them, and the commit flushes first (transaction.ts), so on disk the data is always there
// before the metadata naming it; a crash before the commit loses the data together with the
// metadata, as it always did. While the data waits, every read and write of a data address goes
// through here (src/inode/file.ts), so reads see the newest bytes.
//
// Only whole new extents are held: a write into an extent that is waiting (nodatacow, prealloc)
// first flushes (flushOverlapping), so the device and the csum tree are again the truth.
import type { FsInfo } from './fs-info.js';
import { insertCsums } from './csum-tree.js';
import { assert } from '../util/assert.js';

/** Largest single device write a flush makes out of adjacent extents. */
const MAX_FLUSH_WRITE = 8 * 1024 * 1024;

interface Held {
  start: number;
  length: number;
  /** The bytes, while they wait (undefined: large extents go to the device at once). */
  data: Uint8Array | undefined;
  /** The digests of the extent's sectors (undefined for nodatasum data). */
  sums: Uint8Array | undefined;
  /** Dropped before the flush (freed in the transaction that made it): nothing to write. */
  dropped: boolean;
  /** When `data` is an arena copy: its chunk (an index into arenaChunks) and offset there; else -1. */
  arenaChunk: number;
  arenaOffset: number;
}

/** Extents from this size on are written at once (a copy would cost more than the write saves); only their checksums wait. */
const WRITE_THROUGH_BYTES = 256 * 1024;

/**
 * Granule of the address index: each held extent is listed under every granule it touches, so
 * finding the extent at an address looks at a few extents, and adding one costs a map entry
 * or two whatever the order of the addresses (freed space is reused below earlier extents).
 */
const INDEX_GRANULE_BYTES = 64 * 1024;

/**
 * Small extents' bytes are copied end to end into arena chunks of this size rather than each
 * into its own buffer: extents allocated one after the other (the usual case) then sit side by
 * side in the arena as on disk, and the flush writes a run of them from the arena as it is,
 * without gathering it into a new buffer. Up to four chunks (16 MiB) are kept for the next
 * transaction: fresh memory costs a page fault per 4 KiB on first touch, more than the copy.
 */
const ARENA_CHUNK_BYTES = 4 * 1024 * 1024;
const ARENA_CHUNKS_KEPT = 4;

export class DataWriteback {
  /** Every held extent, in the order added. */
  private all: Held[] = [];
  /** Granule (address / INDEX_GRANULE_BYTES) -> the held extents that touch it. */
  private index = new Map<number, Held[]>();
  private arenaChunks: Uint8Array[] = [];
  /** The chunk being filled (an index into arenaChunks) and its bytes used. */
  private arenaChunk = -1;
  private arenaUsed = 0;
  /** Bytes waiting. */
  bytes = 0;

  /** @param limitBytes  above this many waiting bytes, `overLimit` asks the writer to flush */
  constructor(readonly limitBytes = 64 * 1024 * 1024) {}

  /** Extents dropped since the last flush (still in `all`, skipped by the flush). */
  private droppedCount = 0;

  get size(): number {
    return this.all.length - this.droppedCount;
  }

  get overLimit(): boolean {
    return this.bytes >= this.limitBytes;
  }

  /**
   * A new extent at `start` (just allocated, referenced by nothing on disk) with `data`; `sums`
   * are its sectors' digests for the csum tree. Small extents wait in memory (a copy of `data`
   * in the arena, or `data` itself when `owned`: nobody else keeps it); large ones are written
   * now.
   */
  async add(fs: FsInfo, start: number, data: Uint8Array, sums: Uint8Array | undefined, owned = false): Promise<void> {
    assert(data.length > 0, 'writeback: empty extent');
    assert(!this.overlaps(start, data.length), () => `writeback: extent ${start} (+${data.length}) overlaps a held one`);
    let kept: Uint8Array | undefined;
    let arenaChunk = -1;
    let arenaOffset = 0;
    if (data.length >= WRITE_THROUGH_BYTES) {
      await fs.volumes.writeLogical(start, data);
    } else if (owned) {
      kept = data;
    } else {
      kept = this.copyToArena(data);
      arenaChunk = this.arenaChunk;
      arenaOffset = this.arenaUsed - data.length;
    }
    const h: Held = { start, length: data.length, data: kept, sums, dropped: false, arenaChunk, arenaOffset };
    this.all.push(h);
    const last = Math.floor((start + data.length - 1) / INDEX_GRANULE_BYTES);
    for (let g = Math.floor(start / INDEX_GRANULE_BYTES); g <= last; g++) {
      const list = this.index.get(g);
      if (list) list.push(h);
      else this.index.set(g, [h]);
    }
    if (kept) this.bytes += kept.length;
  }

  /** A copy of `data` (< ARENA_CHUNK_BYTES) in the arena, right after the previous one when it fits. */
  private copyToArena(data: Uint8Array): Uint8Array {
    assert(data.length <= ARENA_CHUNK_BYTES, 'writeback: arena copy of a large extent');
    if (this.arenaChunk < 0 || this.arenaUsed + data.length > ARENA_CHUNK_BYTES) {
      this.arenaChunk++;
      if (this.arenaChunk === this.arenaChunks.length) this.arenaChunks.push(new Uint8Array(ARENA_CHUNK_BYTES));
      this.arenaUsed = 0;
    }
    const chunk = this.arenaChunks[this.arenaChunk];
    const copy = chunk.subarray(this.arenaUsed, this.arenaUsed + data.length);
    copy.set(data);
    this.arenaUsed += data.length;
    return copy;
  }

  /** The held extent containing all of [addr, addr + len), if any. */
  private find(addr: number, len: number): Held | undefined {
    if (this.all.length === 0) return undefined;
    const list = this.index.get(Math.floor(addr / INDEX_GRANULE_BYTES));
    if (!list) return undefined;
    for (const h of list) if (h.start <= addr && addr + len <= h.start + h.length) return h;
    return undefined;
  }

  /** Whether any held extent overlaps [addr, addr + len). */
  overlaps(addr: number, len: number): boolean {
    if (this.all.length === 0 || len <= 0) return false;
    const first = Math.floor(addr / INDEX_GRANULE_BYTES);
    const last = Math.floor((addr + len - 1) / INDEX_GRANULE_BYTES);
    const end = addr + len;
    if (last - first >= this.all.length) {
      // A range wider than the extents held: fewer steps over the extents than the granules.
      for (const h of this.all) if (h.start < end && addr < h.start + h.length) return true;
      return false;
    }
    for (let g = first; g <= last; g++) {
      const list = this.index.get(g);
      if (list) for (const h of list) if (h.start < end && addr < h.start + h.length) return true;
    }
    return false;
  }

  /**
   * Copies the waiting bytes of [addr, addr + dest.length) into `dest` and returns true, or
   * returns false when they are not in memory (read them from the device).
   */
  readInto(addr: number, dest: Uint8Array): boolean {
    const h = this.find(addr, dest.length);
    if (!h?.data) return false;
    const off = addr - h.start;
    dest.set(h.data.subarray(off, off + dest.length));
    return true;
  }

  /**
   * The waiting digests of the sectors of [addr, addr + len) (whole sectors, inside one
   * extent), or undefined when that range has none waiting (they are in the csum tree, or
   * the data has none).
   */
  sums(addr: number, len: number, sectorsize: number, csumSize: number): Uint8Array | undefined {
    const h = this.find(addr, len);
    if (!h?.sums) return undefined;
    const from = ((addr - h.start) / sectorsize) * csumSize;
    return h.sums.subarray(from, from + (len / sectorsize) * csumSize);
  }

  /**
   * Forgets the held extent [start, start + length), if held (else nothing): it was freed in the
   * transaction that allocated it, so neither its bytes nor its checksums go out. The caller
   * vouches that nothing refers to it (its delayed refs net to none).
   */
  drop(start: number, length: number): void {
    const list = this.index.get(Math.floor(start / INDEX_GRANULE_BYTES));
    const h = list?.find((x) => x.start === start);
    if (!h) return;
    assert(h.length === length, () => `writeback: drop of ${length} bytes at ${start}, held ${h.length}`);
    const last = Math.floor((start + length - 1) / INDEX_GRANULE_BYTES);
    for (let g = Math.floor(start / INDEX_GRANULE_BYTES); g <= last; g++) {
      const l = this.index.get(g)!;
      l.splice(l.indexOf(h), 1);
      if (l.length === 0) this.index.delete(g);
    }
    if (h.data) this.bytes -= h.data.length;
    h.data = undefined;
    h.sums = undefined;
    h.dropped = true;
    this.droppedCount++;
  }

  /** Flushes first when [addr, addr + len) touches waiting extents (before an in-place write there). */
  async flushOverlapping(fs: FsInfo, addr: number, len: number): Promise<void> {
    if (this.overlaps(addr, len)) await this.flush(fs);
  }

  /**
   * Writes every waiting extent to the devices (adjacent ones coalesced) and inserts their
   * checksums; runs inside the transaction (the csum tree changes).
   */
  async flush(fs: FsInfo): Promise<void> {
    if (this.all.length === 0) return;
    const all = this.all.sort((a, b) => a.start - b.start);
    this.all = [];
    this.index = new Map();
    this.bytes = 0;
    this.droppedCount = 0;
    // Data first: runs of adjacent waiting extents in one device write each; then the
    // checksums, runs of consecutive sectors in one insert each.
    const chunks = this.arenaChunks;
    const inArena = (a: Held, b: Held) => a.arenaChunk >= 0 && b.arenaChunk === a.arenaChunk && b.arenaOffset === a.arenaOffset + a.length;
    const arenaRun = (h: Held, bytes: number) => chunks[h.arenaChunk].subarray(h.arenaOffset, h.arenaOffset + bytes);
    for (const r of adjacentRuns(all, (h) => h.data, MAX_FLUSH_WRITE, inArena, arenaRun)) await fs.volumes.writeLogical(r.start, r.bytes);
    for (const r of adjacentRuns(all, (h) => h.sums, Infinity)) await insertCsums(fs, r.start, r.bytes);
    // The arena is reused only now that the writes from it are done; the writer runs one
    // operation at a time, so nothing was added meanwhile.
    assert(this.all.length === 0, 'writeback: extents added during a flush');
    this.arenaChunk = -1;
    this.arenaUsed = 0;
    this.arenaChunks.length = Math.min(this.arenaChunks.length, ARENA_CHUNKS_KEPT);
  }

  /** Forget everything (the filesystem is going away after a failed commit). */
  discard(): void {
    this.droppedCount = 0;
    this.all = [];
    this.index = new Map();
    this.bytes = 0;
    this.arenaChunk = -1;
    this.arenaUsed = 0;
    this.arenaChunks = [];
  }
}

/**
 * The runs of `all` (sorted, non-overlapping) whose extents each start where the previous one
 * ends and all have `part`, with at most `maxBytes` of it per run: each run's start and its
 * parts end to end (the one part itself for a run of one; when `together` says each part lies
 * right after the previous one in memory, as arena copies of consecutive extents do, `view`
 * gives them as one view, without a copy, and the run ends where they stop doing so). `together` is told rather than found from the
 * parts' buffers: reading `.buffer` of a small typed array makes V8 materialize it.
 */
function* adjacentRuns(
  all: Held[], part: (h: Held) => Uint8Array | undefined, maxBytes: number,
  together?: (prev: Held, next: Held) => boolean, view?: (first: Held, bytes: number) => Uint8Array,
): Generator<{ start: number; bytes: Uint8Array }> {
  for (let i = 0; i < all.length; ) {
    const first = part(all[i]);
    if (!first) {
      i++;
      continue;
    }
    let j = i + 1;
    let end = all[i].start + all[i].length;
    let total = first.length;
    // Whether the parts so far lie end to end in memory.
    let inPlace = together !== undefined && view !== undefined;
    for (; j < all.length; j++) {
      const p = part(all[j]);
      if (!p || all[j].start !== end || total + p.length > maxBytes) break;
      if (inPlace && !together!(all[j - 1], all[j])) {
        // The parts stop lying end to end (an arena chunk ends): the run so far goes out as
        // it lies; a lone part starts a run that is gathered by copying instead.
        if (j - i >= 2) break;
        inPlace = false;
      }
      end += all[j].length;
      total += p.length;
    }
    let bytes = first;
    if (j > i + 1) {
      if (inPlace) {
        bytes = view!(all[i], total);
      } else {
        bytes = new Uint8Array(total);
        for (let k = i, at = 0; k < j; k++) {
          const p = part(all[k])!;
          // A few digests: a loop beats TypedArray.set, whose call costs ~1 us in V8.
          if (p.length <= 64) for (let b = 0; b < p.length; b++) bytes[at + b] = p[b];
          else bytes.set(p, at);
          at += p.length;
        }
      }
    }
    yield { start: all[i].start, bytes };
    i = j;
  }
}

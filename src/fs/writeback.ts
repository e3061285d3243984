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
}

/** Extents from this size on are written at once (a copy would cost more than the write saves); only their checksums wait. */
const WRITE_THROUGH_BYTES = 256 * 1024;

export class DataWriteback {
  private held = new Map<number, Held>();
  /** Starts of `held`, ascending (allocation mostly ascends: usually an append). */
  private sorted: number[] = [];
  /** Bytes waiting. */
  bytes = 0;

  /** @param limitBytes  above this many waiting bytes, `overLimit` asks the writer to flush */
  constructor(readonly limitBytes = 64 * 1024 * 1024) {}

  get size(): number {
    return this.held.size;
  }

  get overLimit(): boolean {
    return this.bytes >= this.limitBytes;
  }

  /**
   * A new extent at `start` (just allocated, referenced by nothing on disk) with `data`; `sums`
   * are its sectors' digests for the csum tree. Small extents wait in memory (a copy of `data`,
   * or `data` itself when `owned`: nobody else keeps it); large ones are written now.
   */
  async add(fs: FsInfo, start: number, data: Uint8Array, sums: Uint8Array | undefined, owned = false): Promise<void> {
    assert(!this.held.has(start), () => `writeback: extent ${start} held twice`);
    let kept: Uint8Array | undefined;
    if (data.length >= WRITE_THROUGH_BYTES) await fs.volumes.writeLogical(start, data);
    else kept = owned ? data : data.slice();
    this.held.set(start, { start, length: data.length, data: kept, sums });
    const s = this.sorted;
    if (s.length === 0 || s[s.length - 1] < start) s.push(start);
    else s.splice(this.countUpTo(start), 0, start);
    if (kept) this.bytes += kept.length;
  }

  /** How many held extents start at or below `addr`. */
  private countUpTo(addr: number): number {
    const starts = this.sorted;
    let lo = 0;
    let hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid] <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The held extent containing all of [addr, addr + len), if any. */
  private find(addr: number, len: number): Held | undefined {
    if (this.held.size === 0) return undefined;
    const direct = this.held.get(addr);
    if (direct) return len <= direct.length ? direct : undefined;
    const n = this.countUpTo(addr);
    const h = n > 0 ? this.held.get(this.sorted[n - 1])! : undefined;
    return h && addr + len <= h.start + h.length ? h : undefined;
  }

  /** Whether any held extent overlaps [addr, addr + len). */
  overlaps(addr: number, len: number): boolean {
    if (this.held.size === 0) return false;
    const n = this.countUpTo(addr);
    const before = n > 0 ? this.held.get(this.sorted[n - 1])! : undefined;
    if (before && before.start + before.length > addr) return true;
    return n < this.sorted.length && this.sorted[n] < addr + len;
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

  /** Flushes first when [addr, addr + len) touches waiting extents (before an in-place write there). */
  async flushOverlapping(fs: FsInfo, addr: number, len: number): Promise<void> {
    if (this.overlaps(addr, len)) await this.flush(fs);
  }

  /**
   * Writes every waiting extent to the devices (adjacent ones coalesced) and inserts their
   * checksums; runs inside the transaction (the csum tree changes).
   */
  async flush(fs: FsInfo): Promise<void> {
    if (this.held.size === 0) return;
    const all = this.sorted.map((st) => this.held.get(st)!);
    this.held = new Map();
    this.sorted = [];
    this.bytes = 0;
    // Data first: runs of adjacent waiting extents in one device write each; then the
    // checksums, runs of consecutive sectors in one insert each.
    for (const r of adjacentRuns(all, (h) => h.data, MAX_FLUSH_WRITE)) await fs.volumes.writeLogical(r.start, r.bytes);
    for (const r of adjacentRuns(all, (h) => h.sums, Infinity)) await insertCsums(fs, r.start, r.bytes);
  }

  /** Forget everything (the filesystem is going away after a failed commit). */
  discard(): void {
    this.held = new Map();
    this.sorted = [];
    this.bytes = 0;
  }
}

/**
 * The runs of `all` (sorted, non-overlapping) whose extents each start where the previous one
 * ends and all have `part`, with at most `maxBytes` of it per run: each run's start and its
 * parts end to end (the one part itself for a run of one).
 */
function* adjacentRuns(all: Held[], part: (h: Held) => Uint8Array | undefined, maxBytes: number): Generator<{ start: number; bytes: Uint8Array }> {
  for (let i = 0; i < all.length; ) {
    const first = part(all[i]);
    if (!first) {
      i++;
      continue;
    }
    let j = i + 1;
    let end = all[i].start + all[i].length;
    let total = first.length;
    for (; j < all.length; j++) {
      const p = part(all[j]);
      if (!p || all[j].start !== end || total + p.length > maxBytes) break;
      end += all[j].length;
      total += p.length;
    }
    let bytes = first;
    if (j > i + 1) {
      bytes = new Uint8Array(total);
      for (let k = i, at = 0; k < j; k++) {
        const p = part(all[k])!;
        bytes.set(p, at);
        at += p.length;
      }
    }
    yield { start: all[i].start, bytes };
    i = j;
  }
}

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
//
// Early writeback: while data goes to a device before the commit (large extents, arena spills),
// an idle pool worker flushes that device every EARLY_FLUSH_BYTES through a handle of its own,
// as the kernel writes dirty pages back before anyone calls fsync. The commit's flush then finds
// little left, and this thread, instead of waiting in it, makes a share of the checksums.
//
// The checksums of a large extent (WRITE_THROUGH_BYTES on, written at once) on a device a worker
// can read (BlockDevice.readSource), in a chunk with one copy, are not made at the write
// (DEFER_SUMS): they are made at the flush, by pool workers reading the extents back through
// handles of their own (kernels/device-sums.ts) while this thread waits on a flush of the data
// devices (an OPFS flush blocks this thread, idle, while the OS writes the data back to disk).
// A large job is split among the workers ready for it (the pool has one per CPU for these:
// compress-pool.ts defaultPoolOptions), so the checksums take about the flush's time or less.
// That flush is one more than the commit's two, and far cheaper than the checksums it hides. If
// no worker is ready, or the worker fails, this thread reads the extents back and makes them. A
// read of such an extent before the flush makes its checksums first (resolveSums), so reads
// verify as always.
//
// What the deferred digests protect: they are of what the device returns right after the write
// (for OPFS and files, the OS page cache holding the bytes written), not of the writer's own
// buffer as the other extents' are. A device that returned other bytes than it had just been
// given would have those checksummed. So only single-copy extents are deferred: with two copies
// (dup, raid1*), sums of a bad first copy would make the good second one look corrupt. Every
// other extent (small, multi-copy, on a device without a readSource, or written while the pool
// has no worker that may take device jobs) has its digests made from the writer's bytes at the
// write, as before.
import type { FsInfo } from './fs-info.js';
import type { BlockDevice } from '../device/block-device.js';
import { insertCsums } from './csum-tree.js';
import { checksum, checksumSectorsInto, csumSizeBytes } from '../kernels/checksum.js';
import { CompressPool, defaultPoolOptions } from '../kernels/compress-pool.js';
import { assert } from '../util/assert.js';
import { POOL_CHUNK_BYTES, takeChunk, giveChunks } from '../util/chunk-pool.js';
import { profileOfFlags } from '../volume/raid.js';

/** Passed to add() for sums: make them later from the device (large extents) or now (small ones). */
export const DEFER_SUMS = 'defer';

let deferLargeSums = true;

/**
 * Whether large extents' checksums are made at the flush (the default) or at the write, as
 * before session 5: benchmarks measure the two side by side. Applies to writes from now on.
 */
export function setDeferredDataSums(on: boolean): void {
  deferLargeSums = on;
}

/** Pending checksums of more than this many bytes of extents are made at once (overLimit), not at the commit. */
const PENDING_SUMS_LIMIT_BYTES = 512 * 1024 * 1024;
/** A device's pending checksums of at least this many bytes are split among the ready workers. */
const SPLIT_SUMS_BYTES = 16 * 1024 * 1024;
/** Bytes read back per step when this thread makes pending checksums. */
const SUM_HERE_PIECE_BYTES = 8 * 1024 * 1024;

/** Largest single device write a flush makes out of adjacent extents. */
const MAX_FLUSH_WRITE = 8 * 1024 * 1024;

/**
 * Data bytes written to a device (large extents, arena spills) after which a pool worker is
 * asked to flush it, while the writes go on (early writeback; see DataWriteback.wrote).
 */
const EARLY_FLUSH_BYTES = 32 * 1024 * 1024;
let earlyFlushBytes = EARLY_FLUSH_BYTES;

/**
 * Sets the bytes after which a device is flushed early (0: no early writeback; undefined: the
 * default, EARLY_FLUSH_BYTES). Benchmarks and tests.
 */
export function setEarlyFlushBytes(bytes: number | undefined): void {
  assert(bytes === undefined || (Number.isInteger(bytes) && bytes >= 0), `early flush bytes ${bytes}`);
  earlyFlushBytes = bytes ?? EARLY_FLUSH_BYTES;
}

/**
 * Early flushes of one device asked for and not yet seen answered. The writes of a large file
 * go on in microtasks, with no turn of the event loop in which a worker's answer could come in,
 * so a device's early flushes are not made to wait for each other's answers: the worker makes
 * them one after the other (the later ones find only what was written since), up to this many.
 */
const MAX_EARLY_FLUSHES_RUNNING = 8;

/** A device's early writeback: bytes written since its last early flush was asked for, and the flushes running. */
interface EarlyFlush {
  bytes: number;
  running: Set<Promise<void>>;
}

interface Held {
  start: number;
  length: number;
  /** The bytes, while they wait (undefined: large extents go to the device at once). */
  data: Uint8Array | undefined;
  /** The digests of the extent's sectors (undefined for nodatasum data, or while pendingSums). */
  sums: Uint8Array | undefined;
  /** The digests are still to be made from the device's bytes (DEFER_SUMS). */
  pendingSums: boolean;
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
 * without gathering it into a new buffer. One chunk is kept, and reused after each spill and for
 * the next transaction: fresh memory costs a page fault per 4 KiB on first touch, more than the
 * copy (in Chromium on this VM ~10 µs a page; with four chunks kept, a fresh mount's first 16 MiB
 * of small writes spent ~40 ms faulting: docs/benchmarks.md, "Files", session 10). The chunk
 * comes from the thread's pool (util/chunk-pool.ts) and goes back to it after each flush, so a
 * new mount, and the dirty sectors between two flushes, use memory already touched. A spill
 * writes what the flush would have written anyway, in runs of up to a chunk.
 */
const ARENA_CHUNK_BYTES = POOL_CHUNK_BYTES;
const ARENA_CHUNKS_KEPT = 1;

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
  /** Bytes of extents whose checksums are still to be made. */
  pendingBytes = 0;
  /** Bytes of pending extents whose checksums a worker made / this thread made (benchmarks, tests). */
  sumsBytesInWorkers = 0;
  sumsBytesHere = 0;
  /** Times the arena's extents were written before the flush to keep it within its chunks (benchmarks, tests). */
  spills = 0;
  /** Early flushes a worker made (benchmarks, tests). */
  earlyFlushes = 0;
  private early = new Map<BlockDevice, EarlyFlush>();
  /** An early flush was asked for since the last flush(). */
  private earlyAsked = false;

  /** @param limitBytes  above this many waiting bytes, `overLimit` asks the writer to flush */
  constructor(readonly limitBytes = 64 * 1024 * 1024) {}

  /** Extents dropped since the last flush (still in `all`, skipped by the flush). */
  private droppedCount = 0;

  get size(): number {
    return this.all.length - this.droppedCount;
  }

  get overLimit(): boolean {
    return this.bytes >= this.limitBytes || this.pendingBytes >= PENDING_SUMS_LIMIT_BYTES;
  }

  /**
   * A new extent at `start` (just allocated, referenced by nothing on disk) with `data`; `sums`
   * are its sectors' digests for the csum tree, or DEFER_SUMS: made at the flush from the device
   * for a large extent, now for a small one. Small extents wait in memory (a copy of `data` in
   * the arena, or `data` itself when `owned`: nobody else keeps it); large ones are written now.
   */
  async add(fs: FsInfo, start: number, data: Uint8Array, sums: Uint8Array | undefined | typeof DEFER_SUMS, owned = false): Promise<void> {
    assert(data.length > 0, 'writeback: empty extent');
    assert(!this.overlaps(start, data.length), () => `writeback: extent ${start} (+${data.length}) overlaps a held one`);
    let pendingSums = false;
    if (sums === DEFER_SUMS) {
      // Deferred only where a worker may make them: with none (a pool of no workers, or one
      // that is off or refused a job), this thread would read the extent back at the commit
      // for nothing; it makes them now from the writer's bytes.
      if (data.length >= WRITE_THROUGH_BYTES && deferLargeSums && onePiece(fs, start, data.length) !== undefined && (await sumsWorkers(fs))) {
        pendingSums = true;
        sums = undefined;
      } else {
        sums = checksum(fs.csum, data, fs.sectorsize);
      }
    }
    let kept: Uint8Array | undefined;
    let arenaChunk = -1;
    let arenaOffset = 0;
    if (data.length >= WRITE_THROUGH_BYTES) {
      await fs.volumes.writeLogical(start, data);
      this.wrote(fs, start, data.length);
    } else if (owned) {
      kept = data;
    } else {
      if (this.arenaWouldGrow(data.length)) await this.spillArena(fs);
      kept = this.copyToArena(data);
      arenaChunk = this.arenaChunk;
      arenaOffset = this.arenaUsed - data.length;
    }
    const h: Held = { start, length: data.length, data: kept, sums, pendingSums, dropped: false, arenaChunk, arenaOffset };
    // Counted once the extent is held (a failed device write above holds nothing).
    if (pendingSums) this.pendingBytes += data.length;
    this.all.push(h);
    this.indexHeld(h);
    if (kept) this.bytes += kept.length;
  }

  /**
   * Data [start, start + length) went to the devices before the commit: once a device has had
   * EARLY_FLUSH_BYTES (setEarlyFlushBytes) since its last early flush, an idle pool worker flushes it through a handle
   * of its own (btrfs's background writeback of dirty pages, in small), without waiting. The
   * commit still flushes every device itself, so durability does not depend on it; its flush
   * then finds little left to write, and this thread makes a share of the checksums meanwhile
   * (makePendingSums). An OPFS flush blocks the thread that makes it: the worker's blocks only
   * the worker. Measured in Chromium (docs/benchmarks.md, "Files", session 13): raw OPFS, 256 MiB
   * in 1 MiB writes then a flush, 713-1,297 MB/s alone and 1,245-1,613 with a second worker
   * flushing every 32 MiB; the engine's 256 MiB write and commit went from a median of 0.85x of
   * raw to 1.0x. Only where the user wants flushes (barrier), with a pool already there (this
   * does not start one), on devices a worker can open (readSource).
   */
  private wrote(fs: FsInfo, start: number, length: number): void {
    const pool = fs.compressPool;
    if (earlyFlushBytes === 0 || pool === undefined || !pool.takesDeviceJobs || !fs.options.barrier) return;
    for (const [device, bytes] of deviceShares(fs, start, length)) {
      let e = this.early.get(device);
      if (e === undefined) this.early.set(device, e = { bytes: 0, running: new Set() });
      e.bytes += bytes;
      if (e.bytes < earlyFlushBytes || e.running.size >= MAX_EARLY_FLUSHES_RUNNING) continue;
      // No worker free for it now: the next write asks again.
      const job = pool.flushDevice(device.readSource!);
      if (job === undefined) continue;
      e.bytes = 0;
      this.earlyAsked = true;
      const running = e.running;
      // A failed early flush costs nothing but its head start (the pool says why, once).
      const done: Promise<void> = job.then(() => { this.earlyFlushes++; }, () => undefined).then(() => { running.delete(done); });
      running.add(done);
    }
  }

  /**
   * Waits for the early flushes still running: before the commit's own data flush after early
   * writeback, and at the end of each flush, so that no worker holds a device handle past a
   * commit (unmount commits).
   */
  private async settleEarly(): Promise<void> {
    for (const e of this.early.values()) await Promise.all(e.running);
  }

  /** Lists `h` under every granule of the address index it touches. */
  private indexHeld(h: Held): void {
    const last = Math.floor((h.start + h.length - 1) / INDEX_GRANULE_BYTES);
    for (let g = Math.floor(h.start / INDEX_GRANULE_BYTES); g <= last; g++) {
      const list = this.index.get(g);
      if (list) list.push(h);
      else this.index.set(g, [h]);
    }
  }

  /** Whether copying `len` bytes into the arena needs a chunk beyond the ones it keeps. */
  private arenaWouldGrow(len: number): boolean {
    const next = this.arenaChunk < 0 || this.arenaUsed + len > ARENA_CHUNK_BYTES;
    return next && this.arenaChunk + 1 >= ARENA_CHUNKS_KEPT;
  }

  /**
   * Writes every extent waiting in the arena to the devices now (adjacent ones coalesced, as the
   * flush does) and starts the arena over; their checksums still wait for the flush. The arena
   * then stays within the chunks it keeps: a fresh chunk would cost a page fault per 4 KiB on
   * first touch in a browser, far more than the device write made earlier (a compressed write
   * holds every extent here; docs/benchmarks.md, "Compressed writes", session 7).
   */
  private async spillArena(fs: FsInfo): Promise<void> {
    const held = this.all.filter((h) => h.arenaChunk >= 0 && h.data !== undefined).sort((a, b) => a.start - b.start);
    const chunks = this.arenaChunks;
    const inArena = (a: Held, b: Held) => b.arenaChunk === a.arenaChunk && b.arenaOffset === a.arenaOffset + a.length;
    const arenaRun = (h: Held, bytes: number) => chunks[h.arenaChunk].subarray(h.arenaOffset, h.arenaOffset + bytes);
    // A failed write leaves every extent held as it was (the flush writes them later).
    for (const r of adjacentRuns(held, (h) => h.data, MAX_FLUSH_WRITE, inArena, arenaRun)) {
      await fs.volumes.writeLogical(r.start, r.bytes);
      this.wrote(fs, r.start, r.bytes.length);
    }
    for (const h of held) {
      this.bytes -= h.data!.length;
      h.data = undefined;
    }
    // Dropped extents named arena bytes too; nothing reads them.
    for (const h of this.all) h.arenaChunk = -1;
    this.arenaChunk = -1;
    this.arenaUsed = 0;
    this.spills++;
  }

  /** A copy of `data` (< ARENA_CHUNK_BYTES) in the arena, right after the previous one when it fits. */
  private copyToArena(data: Uint8Array): Uint8Array {
    assert(data.length <= ARENA_CHUNK_BYTES, 'writeback: arena copy of a large extent');
    if (this.arenaChunk < 0 || this.arenaUsed + data.length > ARENA_CHUNK_BYTES) {
      this.arenaChunk++;
      if (this.arenaChunk === this.arenaChunks.length) this.arenaChunks.push(takeChunk());
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
    assert(!h?.pendingSums, () => `writeback: sums of ${addr} asked before resolveSums`);
    if (!h?.sums) return undefined;
    const from = ((addr - h.start) / sectorsize) * csumSize;
    return h.sums.subarray(from, from + (len / sectorsize) * csumSize);
  }

  /**
   * Makes the checksums of the held extent containing [addr, addr + len) now, on this thread,
   * from the device, if they are pending (a read of it before the flush: reads verify).
   */
  async resolveSums(fs: FsInfo, addr: number, len: number): Promise<void> {
    if (this.pendingBytes === 0) return;
    const h = this.find(addr, len);
    if (h?.pendingSums) await this.sumHere(fs, [h]);
  }

  /** Makes the pending checksums of `holds` on this thread, reading their bytes back from the devices. */
  private async sumHere(fs: FsInfo, holds: readonly Held[]): Promise<void> {
    const ss = fs.sectorsize;
    const size = csumSizeBytes(fs.csum);
    let buf: Uint8Array | undefined;
    for (const h of holds) {
      if (!h.pendingSums) continue;
      const sums = new Uint8Array((h.length / ss) * size);
      for (let off = 0; off < h.length; off += SUM_HERE_PIECE_BYTES) {
        const n = Math.min(SUM_HERE_PIECE_BYTES, h.length - off);
        if (buf === undefined || buf.length < n) buf = new Uint8Array(Math.min(SUM_HERE_PIECE_BYTES, h.length));
        const piece = buf.subarray(0, n);
        await fs.volumes.readLogicalInto(h.start + off, piece);
        checksumSectorsInto(fs.csum, piece, 0, n, ss, sums, (off / ss) * size);
      }
      // Settled or dropped meanwhile (the engine's mutex rules it out today; cheap to keep true).
      if (!h.pendingSums) continue;
      this.settleSums(h, sums);
      this.sumsBytesHere += h.length;
    }
  }

  private settleSums(h: Held, sums: Uint8Array): void {
    h.sums = sums;
    h.pendingSums = false;
    this.pendingBytes -= h.length;
  }

  /**
   * Makes every pending checksum of `all` (the flush's extents, written): a pool worker per
   * device reads them back, while the data devices are flushed; this thread makes those no
   * worker takes (none ready), during the flush when it is asynchronous, and those of a worker
   * that fails its job.
   */
  private async makePendingSums(fs: FsInfo, all: readonly Held[]): Promise<void> {
    const pending = all.filter((h) => h.pendingSums);
    if (pending.length === 0) return;
    await fs.compressPool?.takeMessages();
    // After early writeback the data is mostly on disk already, or going there in a worker's
    // flush (which holds that worker): this thread, which would otherwise wait in a flush of its
    // own for the same writes, makes a share of the checksums beside the free workers, and
    // flushes once they and the early flushes are done.
    const early = this.earlyAsked;
    const { jobs, here } = postSums(fs, pending, early ? 1 : 0);
    // The data devices' flush: a worker reads while this thread waits in it (an OPFS flush
    // blocks the thread); an asynchronous flush (a file) runs while this thread makes the rest.
    const flushDevices = () => {
      if (!fs.options.barrier) return undefined;
      const devices = [...fs.volumes.devices.values()].flatMap((d) => (d.device ? [d.device] : []));
      return Promise.all(devices.map((d) => d.flush())).then(() => undefined, (e: unknown) => ({ error: e }));
    };
    let flushed = early ? undefined : flushDevices();
    await this.sumHere(fs, here);
    for (const j of jobs) {
      let sums: Uint8Array | undefined;
      try {
        sums = await j.sums;
      } catch {
        // The pool has said why (a warning); this thread makes them.
      }
      const size = csumSizeBytes(fs.csum);
      const expected = j.holds.reduce((n, h) => n + (h.length / fs.sectorsize) * size, 0);
      // A job that failed: this thread makes what is still pending.
      if (sums === undefined || sums.length !== expected) {
        await this.sumHere(fs, j.holds);
        continue;
      }
      let at = 0;
      for (const h of j.holds) {
        const n = (h.length / fs.sectorsize) * size;
        // Unless a read made them meanwhile (resolveSums) or the extent was dropped.
        if (h.pendingSums) {
          this.settleSums(h, sums.subarray(at, at + n));
          this.sumsBytesInWorkers += h.length;
        }
        at += n;
      }
    }
    if (early) {
      await this.settleEarly();
      flushed = flushDevices();
    }
    const failed = await flushed;
    if (failed !== undefined) throw failed.error;
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
    if (h.pendingSums) this.pendingBytes -= h.length;
    h.data = undefined;
    h.sums = undefined;
    h.pendingSums = false;
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
    if (this.all.length === 0) return this.settleEarly();
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
    try {
      for (const r of adjacentRuns(all, (h) => h.data, MAX_FLUSH_WRITE, inArena, arenaRun)) await fs.volumes.writeLogical(r.start, r.bytes);
      await this.makePendingSums(fs, all);
    } catch (e) {
      // A device write, flush or read-back failed: everything is held again (checksums made so
      // far kept), so that a later flush writes it all and inserts every checksum. Forgetting it
      // would let a later commit name extents that have no checksums.
      this.restore(all);
      throw e;
    }
    assert(this.pendingBytes === 0, () => `writeback: ${this.pendingBytes} bytes of checksums still pending after the flush`);
    for (const r of adjacentRuns(all, (h) => h.sums, Infinity)) await insertCsums(fs, r.start, r.bytes);
    // The arena is reused only now that the writes from it are done; the writer runs one
    // operation at a time, so nothing was added meanwhile.
    assert(this.all.length === 0, 'writeback: extents added during a flush');
    this.arenaChunk = -1;
    this.arenaUsed = 0;
    giveChunks(this.arenaChunks);
    this.arenaChunks = [];
    // What was written so far is the commit's to flush now.
    await this.settleEarly();
    for (const e of this.early.values()) e.bytes = 0;
    this.earlyAsked = false;
  }

  /** Holds `all` again (a flush that failed before its checksum inserts), as add() left them. */
  private restore(all: Held[]): void {
    assert(this.all.length === 0, 'writeback: extents added during a failed flush');
    this.all = all;
    this.index = new Map();
    this.bytes = 0;
    this.droppedCount = 0;
    this.pendingBytes = 0;
    for (const h of all) {
      if (h.dropped) {
        this.droppedCount++;
        continue;
      }
      this.indexHeld(h);
      if (h.data) this.bytes += h.data.length;
      if (h.pendingSums) this.pendingBytes += h.length;
    }
  }

  /** Forget everything (the filesystem is going away after a failed commit). */
  discard(): void {
    this.droppedCount = 0;
    this.pendingBytes = 0;
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

/** A checksum job on a pool worker and the extents it covers, in order. */
interface SumsJobOf {
  holds: Held[];
  sums: Promise<Uint8Array>;
}

/**
 * Posts the pending checksums of `holds` to the pool's workers: per device, one job, or as many
 * as workers are ready (sumsSlots) plus `hereShares` parts for this thread when the device has
 * SPLIT_SUMS_BYTES or more (split at extent boundaries into parts of about equal bytes;
 * physically adjacent extents read as one range; under that size, with a share for this thread,
 * all of it is this thread's). Returns the jobs, and the extents no worker takes now (this
 * thread's shares, no pool or none ready, a device without a readSource, several copies).
 */
function postSums(fs: FsInfo, holds: readonly Held[], hereShares: number): { jobs: SumsJobOf[]; here: Held[] } {
  const pool = fs.compressPool;
  const here: Held[] = [];
  const perDevice = new Map<BlockDevice, { holds: Held[]; physical: number[]; bytes: number }>();
  for (const h of holds) {
    const at = pool?.active ? onePiece(fs, h.start, h.length) : undefined;
    if (at === undefined) {
      here.push(h);
      continue;
    }
    let g = perDevice.get(at.device);
    if (g === undefined) perDevice.set(at.device, g = { holds: [], physical: [], bytes: 0 });
    g.holds.push(h);
    g.physical.push(at.physical);
    g.bytes += h.length;
  }
  const jobs: SumsJobOf[] = [];
  for (const [device, g] of perDevice) {
    const parts = g.bytes >= SPLIT_SUMS_BYTES ? Math.max(1, pool!.sumsSlots + hereShares) : 1;
    let from = 0;
    let done = 0;
    for (let part = 1; part <= parts && from < g.holds.length; part++) {
      // The extents up to about part/parts of the device's bytes (the last part takes the rest).
      let to = from;
      const goal = part === parts ? Infinity : (g.bytes * part) / parts;
      const ranges: number[] = [];
      do {
        const h = g.holds[to];
        const p = g.physical[to];
        if (ranges.length > 0 && ranges[ranges.length - 2] + ranges[ranges.length - 1] === p) ranges[ranges.length - 1] += h.length;
        else ranges.push(p, h.length);
        done += h.length;
        to++;
      } while (to < g.holds.length && done < goal);
      const mine = g.holds.slice(from, to);
      from = to;
      // The last `hereShares` parts are this thread's.
      const job = part > parts - hereShares ? undefined : pool!.sumDeviceRanges(device.readSource!, ranges, fs.csum, fs.sectorsize);
      if (job === undefined) {
        here.push(...mine);
      } else {
        // Settled by the flush, in order; a job left behind by an error must not be an unhandled rejection.
        job.catch(() => undefined);
        jobs.push({ holds: mine, sums: job });
      }
    }
  }
  return { jobs, here };
}

/**
 * The devices that data written at [start, start + length) went to, with about how many bytes
 * each (every copy counted; a parity profile's rows spread over its stripes), for early writeback.
 */
function deviceShares(fs: FsInfo, start: number, length: number): Map<BlockDevice, number> {
  const out = new Map<BlockDevice, number>();
  const add = (devid: number, bytes: number) => {
    const device = fs.volumes.devices.get(devid)?.device;
    if (device?.readSource !== undefined) out.set(device, (out.get(device) ?? 0) + bytes);
  };
  // Chunk by chunk (adjacent extents written as one run may lie in two block groups).
  for (let pos = start, end = start + length; pos < end; ) {
    const c = fs.volumes.chunkAt(pos);
    if (c === undefined) break;
    const n = Math.min(end, c.start + c.length) - pos;
    const p = profileOfFlags(c.type);
    if (p.nparity > 0) {
      const each = Math.ceil(n / (c.stripes.length - p.nparity));
      for (const s of c.stripes) add(s.devid, each);
    } else {
      for (const seg of fs.volumes.mapRange(pos, n)) for (const copy of seg.copies) add(copy.devid, seg.length);
    }
    pos += n;
  }
  return out;
}

/**
 * Where extent [start, start + length) lies when it is one piece, in a chunk of one copy, on a
 * device a worker can read; else undefined (striped, mirrored, or no readSource).
 */
function onePiece(fs: FsInfo, start: number, length: number): { device: BlockDevice; physical: number } | undefined {
  const segs = fs.volumes.mapRange(start, length);
  if (segs.length !== 1 || segs[0].copies.length !== 1) return undefined;
  const copy = segs[0].copies[0];
  const device = fs.volumes.devices.get(copy.devid)?.device;
  return device?.readSource !== undefined ? { device, physical: copy.physical } : undefined;
}

/**
 * Whether the pool can take device jobs (it has workers, is on, and none refused a job),
 * creating it if need be; its workers start now (without waiting for them), so that they are
 * ready to make this transaction's checksums at its commit. The caller has found a device with
 * a readSource.
 */
async function sumsWorkers(fs: FsInfo): Promise<boolean> {
  if (fs.compressPool === undefined) {
    const options = await defaultPoolOptions();
    fs.compressPool ??= new CompressPool(options);
  }
  const pool = fs.compressPool;
  if (!pool.takesDeviceJobs) return false;
  pool.prestart();
  return true;
}

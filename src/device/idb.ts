// IdbDevice: a block device stored in IndexedDB (through `idb`), usable in any browser context
// (page or worker), for browsers or contexts without OPFS sync access handles.
//
// Layout: one database per device, named IDB_DB_PREFIX + name, with two object stores:
//   'meta'  key 'device' -> { version: 1, sizeBytes, pageBytes }
//   'pages' key pageIndex (number) -> Uint8Array of exactly pageBytes bytes
// A page that was never written has no record and reads as zeros.
//
// Page size: 64 KiB. IndexedDB costs a fixed overhead per record (a B-tree entry in LevelDB, a
// structured-clone envelope, a blob file above a size threshold) and per request; btrfs writes
// 16 KiB tree nodes and extents of 4 KiB..128 MiB, mostly sequentially within a chunk. 64 KiB
// pages keep the record count of a 1 GiB device at 16 Ki, amortise the per-request cost over
// four nodes, and cap the read-modify-write amplification of a lone 4 KiB write at 16x. (Chromium
// moves values above ~64 KiB out to blob files, which are slower; we stay at that threshold.)
//
// Writes are buffered: write() updates a whole-page copy in the `dirty` map (loading the page
// first when the write covers it only partly) and returns; flush() puts every dirty page in ONE
// readwrite transaction with durability 'strict' and resolves when it completes. Reads see
// unflushed writes (dirty, then pages being flushed, then the database).
//
// Memory bound: once dirty pages exceed `maxDirtyBytes` (default 64 MiB), the write that crossed
// it starts a flush and waits for it (backpressure). Writes and flushes are applied in the order
// they were called (one queue), and each transaction holds every write called before it, so the
// stored state is always the result of a prefix of the writes.
//
// Fault model: a crash loses the writes after the last completed transaction (explicit flush or
// automatic one past the cap) and nothing else; transactions are atomic, so there are no torn
// pages and no reordering. Stronger than btrfs assumes, which is fine. An IDB error (quota:
// ENOSPC; others: EIO) fails that flush, and its pages stay dirty so a later flush retries them.

import { openDB, deleteDB, type DBSchema, type IDBPDatabase } from 'idb';
import { assert } from '../util/assert.js';
import { FsError } from '../util/errors.js';
import type { BlockDevice } from './block-device.js';
import { DEVICE_ALIGN_BYTES } from './block-device.js';
import { checkDeviceSize, checkRange, closedError } from './io-checks.js';

export const IDB_PAGE_BYTES = 64 * 1024;
export const IDB_DB_PREFIX = 'butterfs-device:';
const DEFAULT_MAX_DIRTY_BYTES = 64 * 1024 * 1024;
const META_KEY = 'device';
const FORMAT_VERSION = 1;

interface DeviceMeta {
  version: number;
  sizeBytes: number;
  pageBytes: number;
}

interface DeviceSchema extends DBSchema {
  meta: { key: string; value: DeviceMeta };
  pages: { key: number; value: Uint8Array };
}

export interface IdbOpenOptions {
  /**
   * Size of the device. Required to create one; an existing smaller device grows to it (pages
   * are sparse, so this only rewrites the metadata); an existing larger one is EINVAL.
   * Omitted: the stored size.
   */
  sizeBytes?: number;
  /** Dirty bytes that trigger an automatic flush. Default 64 MiB; at least one page. */
  maxDirtyBytes?: number;
}

function idbToFsError(e: unknown, syscall: string, path: string): unknown {
  if (e instanceof FsError) return e;
  const name = (e as { name?: unknown } | null)?.name;
  const detail = `${String(name)}: ${String((e as { message?: unknown } | null)?.message)}`;
  const code = name === 'QuotaExceededError' ? 'ENOSPC' : 'EIO';
  return new FsError(code, detail, { syscall, path, cause: e });
}

export class IdbDevice implements BlockDevice {
  readonly sizeBytes: number;
  readonly name: string;
  private db: IDBPDatabase<DeviceSchema> | undefined;
  private readonly maxDirtyBytes: number;
  /** Pages written since the last flush started: whole-page copies, newest state. */
  private dirty = new Map<number, Uint8Array>();
  /**
   * Pages handed to a flush transaction that has not completed yet. When flushes overlap, the
   * later one's page replaces the earlier one's (same key, newer content); an entry is removed
   * only by the flush that put it there (identity check).
   */
  private flushing = new Map<number, Uint8Array>();
  /** Tail of the write/flush queue; operations that must wait for a page load run in order on it. */
  private queue: Promise<void> = Promise.resolve();
  /** Operations on the queue not yet finished. 0 means a write may run synchronously. */
  private queued = 0;

  private constructor(name: string, db: IDBPDatabase<DeviceSchema>, sizeBytes: number, maxDirtyBytes: number) {
    this.name = name;
    this.db = db;
    this.sizeBytes = sizeBytes;
    this.maxDirtyBytes = maxDirtyBytes;
  }

  static async open(name: string, options: IdbOpenOptions = {}): Promise<IdbDevice> {
    if (name === '') throw new FsError('EINVAL', 'empty IndexedDB device name', { syscall: 'open', path: name });
    if (options.sizeBytes !== undefined) checkDeviceSize(options.sizeBytes, 'open', name);
    const maxDirtyBytes = Math.max(options.maxDirtyBytes ?? DEFAULT_MAX_DIRTY_BYTES, IDB_PAGE_BYTES);
    let db: IDBPDatabase<DeviceSchema>;
    try {
      db = await openDB<DeviceSchema>(IDB_DB_PREFIX + name, 1, {
        upgrade(database) {
          database.createObjectStore('meta');
          database.createObjectStore('pages');
        },
        blocked() {
          // Another connection holds an older version open; with a single schema version this
          // cannot happen, and openDB keeps waiting rather than failing, so say nothing here.
        },
      });
    } catch (e) {
      throw idbToFsError(e, 'open', name);
    }
    try {
      const meta = await db.get('meta', META_KEY);
      let sizeBytes: number;
      if (meta) {
        if (meta.version !== FORMAT_VERSION || meta.pageBytes !== IDB_PAGE_BYTES) {
          throw new FsError('EINVAL', `unsupported IndexedDB device format (version ${meta.version}, page ${meta.pageBytes})`, { syscall: 'open', path: name });
        }
        checkDeviceSize(meta.sizeBytes, 'open', name);
        sizeBytes = meta.sizeBytes;
        if (options.sizeBytes !== undefined && options.sizeBytes < sizeBytes) {
          throw new FsError('EINVAL', `existing device is ${sizeBytes} bytes, larger than the requested ${options.sizeBytes}`, { syscall: 'open', path: name });
        }
      } else if (options.sizeBytes === undefined) {
        throw new FsError('EINVAL', 'device does not exist yet: sizeBytes is required to create it', { syscall: 'open', path: name });
      } else {
        sizeBytes = 0;
      }
      if (options.sizeBytes !== undefined && options.sizeBytes > sizeBytes) {
        sizeBytes = options.sizeBytes;
        const tx = db.transaction('meta', 'readwrite', { durability: 'strict' });
        await Promise.all([tx.store.put({ version: FORMAT_VERSION, sizeBytes, pageBytes: IDB_PAGE_BYTES }, META_KEY), tx.done]);
      }
      return new IdbDevice(name, db, sizeBytes, maxDirtyBytes);
    } catch (e) {
      db.close();
      throw idbToFsError(e, 'open', name);
    }
  }

  /** Delete a device's database (close it first). */
  static async remove(name: string): Promise<void> {
    try {
      await deleteDB(IDB_DB_PREFIX + name);
    } catch (e) {
      throw idbToFsError(e, 'unlink', name);
    }
  }

  private live(syscall: string): IDBPDatabase<DeviceSchema> {
    if (!this.db) throw closedError(syscall, this.name);
    return this.db;
  }

  /** Bytes of writes held in memory, not yet in a transaction. */
  get dirtyBytes(): number {
    return this.dirty.size * IDB_PAGE_BYTES;
  }

  /** The newest in-memory copy of a page, or undefined when only the database has it. */
  private memoryPage(index: number): Uint8Array | undefined {
    return this.dirty.get(index) ?? this.flushing.get(index);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const db = this.live('read');
    checkRange(offset, length, this.sizeBytes, 'read', this.name);
    const out = new Uint8Array(length);
    const missing: { index: number; inPage: number; at: number; n: number }[] = [];
    for (let done = 0; done < length;) {
      const pos = offset + done;
      const index = Math.floor(pos / IDB_PAGE_BYTES);
      const inPage = pos - index * IDB_PAGE_BYTES;
      const n = Math.min(IDB_PAGE_BYTES - inPage, length - done);
      const page = this.memoryPage(index);
      if (page) out.set(page.subarray(inPage, inPage + n), done);
      else missing.push({ index, inPage, at: done, n });
      done += n;
    }
    if (missing.length === 0) return out;
    let stored: (Uint8Array | undefined)[];
    try {
      const tx = db.transaction('pages', 'readonly');
      stored = await Promise.all(missing.map((m) => tx.store.get(m.index)));
    } catch (e) {
      throw idbToFsError(e, 'read', this.name);
    }
    for (let i = 0; i < missing.length; i++) {
      const m = missing[i];
      // A write that landed while we waited is newer than what the database returned; the read
      // was concurrent with it, so either answer is allowed, and the newer one is cheaper to get.
      const page = this.memoryPage(m.index) ?? stored[i];
      if (page) {
        if (page.length !== IDB_PAGE_BYTES) throw new FsError('EIO', `page ${m.index} has ${page.length} bytes, expected ${IDB_PAGE_BYTES}`, { syscall: 'read', path: this.name });
        out.set(page.subarray(m.inPage, m.inPage + m.n), m.at);
      }
    }
    return out;
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    try {
      this.live('write');
      checkRange(offset, data.length, this.sizeBytes, 'write', this.name);
    } catch (e) {
      return Promise.reject(e);
    }
    // Fast path: nothing queued ahead of us and every page is in memory or fully overwritten.
    if (this.queued === 0 && this.pagesToLoad(offset, data.length).length === 0) {
      this.apply(offset, data);
      if (this.dirtyBytes <= this.maxDirtyBytes) return Promise.resolve();
      return this.enqueue(() => this.flushNow());
    }
    // Slow path, in call order. The interface lets us hold `data` until the promise settles.
    return this.enqueue(async () => {
      const toLoad = this.pagesToLoad(offset, data.length);
      if (toLoad.length > 0) {
        const db = this.live('write');
        let stored: (Uint8Array | undefined)[];
        try {
          const tx = db.transaction('pages', 'readonly');
          stored = await Promise.all(toLoad.map((index) => tx.store.get(index)));
        } catch (e) {
          throw idbToFsError(e, 'write', this.name);
        }
        // Nothing else ran meanwhile (we hold the queue), so these pages are still not in memory.
        for (let i = 0; i < toLoad.length; i++) {
          assert(this.memoryPage(toLoad[i]) === undefined, 'page appeared in memory during a queued load');
          const page = stored[i];
          if (page && page.length !== IDB_PAGE_BYTES) throw new FsError('EIO', `page ${toLoad[i]} has ${page.length} bytes, expected ${IDB_PAGE_BYTES}`, { syscall: 'write', path: this.name });
          this.dirty.set(toLoad[i], page ? page.slice() : new Uint8Array(IDB_PAGE_BYTES));
        }
      }
      this.live('write');
      this.apply(offset, data);
      if (this.dirtyBytes > this.maxDirtyBytes) await this.flushNow();
    });
  }

  /** Indexes of pages the write touches partly and that are in memory neither dirty nor flushing. */
  private pagesToLoad(offset: number, length: number): number[] {
    const out: number[] = [];
    const first = Math.floor(offset / IDB_PAGE_BYTES);
    const last = Math.floor((offset + length - 1) / IDB_PAGE_BYTES);
    for (let index = first; index <= last && length > 0; index++) {
      if (this.memoryPage(index)) continue;
      const pageStart = index * IDB_PAGE_BYTES;
      const covered = offset <= pageStart && offset + length >= pageStart + IDB_PAGE_BYTES;
      if (!covered) out.push(index);
    }
    return out;
  }

  /** Copy `data` into dirty pages. Every partly covered page is in memory (pagesToLoad is empty). */
  private apply(offset: number, data: Uint8Array): void {
    for (let done = 0; done < data.length;) {
      const pos = offset + done;
      const index = Math.floor(pos / IDB_PAGE_BYTES);
      const inPage = pos - index * IDB_PAGE_BYTES;
      const n = Math.min(IDB_PAGE_BYTES - inPage, data.length - done);
      let page = this.dirty.get(index);
      if (!page) {
        // Pages in a flight transaction are immutable (the transaction may still be cloning
        // them), so a write to one starts a new dirty copy.
        const base = this.flushing.get(index);
        if (base) page = base.slice();
        else {
          assert(n === IDB_PAGE_BYTES, 'partial write to a page that was not loaded');
          page = new Uint8Array(IDB_PAGE_BYTES);
        }
        this.dirty.set(index, page);
      }
      page.set(data.subarray(done, done + n), inPage);
      done += n;
    }
  }

  private enqueue(op: () => Promise<void>): Promise<void> {
    this.queued++;
    const run = this.queue.then(op).finally(() => {
      this.queued--;
    });
    // The queue continues after a failed operation: its error goes to its own caller (`run`).
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  flush(): Promise<void> {
    try {
      this.live('flush');
    } catch (e) {
      return Promise.reject(e);
    }
    return this.enqueue(() => this.flushNow());
  }

  /** Put every dirty page in one strict transaction; resolve when it has committed. */
  private async flushNow(): Promise<void> {
    const db = this.live('flush');
    if (this.dirty.size === 0) return;
    const batch = this.dirty;
    this.dirty = new Map();
    for (const [index, page] of batch) this.flushing.set(index, page);
    try {
      const tx = db.transaction('pages', 'readwrite', { durability: 'strict' });
      const puts: Promise<unknown>[] = [];
      for (const [index, page] of batch) puts.push(tx.store.put(page, index));
      await Promise.all([...puts, tx.done]);
    } catch (e) {
      // The transaction did not commit: those pages are still unwritten. Put them back as dirty
      // unless a newer write already replaced them, so a later flush retries.
      for (const [index, page] of batch) if (!this.dirty.has(index)) this.dirty.set(index, page);
      throw idbToFsError(e, 'fsync', this.name);
    } finally {
      for (const [index, page] of batch) if (this.flushing.get(index) === page) this.flushing.delete(index);
    }
  }

  async close(): Promise<void> {
    const db = this.db;
    if (!db) return;
    // Close writes back what is buffered, as closing a file does (only a crash loses unflushed
    // writes). If that flush fails the device stays open, so the caller can retry or give up.
    await this.flush();
    this.db = undefined;
    this.dirty = new Map();
    db.close();
  }
}

// Page size must keep pages sector aligned.
assert(IDB_PAGE_BYTES % DEVICE_ALIGN_BYTES === 0, 'IDB_PAGE_BYTES must be a multiple of DEVICE_ALIGN_BYTES');

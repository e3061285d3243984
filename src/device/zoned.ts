// ZonedDevice: host-managed zoned block device emulation (btrfs-man5 ZONED MODE) over any
// BlockDevice, so that btrfs's zoned mode (append-only block groups, zone reset, the superblock
// ring in zones 0-1) can be exercised and used in the browser.
//
// Owns: the zone geometry (power-of-two zone size; optional conventional zones at the start,
// which accept random writes; sequential zones after them), the write pointer of each sequential
// zone and its persistence in a reserved region of the underlying device, outside the exposed
// size. The on-disk layout of that region (the write-pointer table) is in docs/format.md,
// "Zoned device emulation".
//
// Rules enforced, as a real ZBC/ZNS host-managed disk does:
//  * a write to a sequential zone must start exactly at the zone's write pointer and must not
//    cross the zone's end; otherwise EIO (Linux reports the "unaligned write" as EIO);
//  * a write starting in a conventional zone must stay inside conventional zones;
//  * reads of a sequential zone beyond its write pointer return zeros (whatever the underlying
//    device holds there, e.g. data from before a reset, is never exposed);
//  * reset rewinds a sequential zone (its content reads as zeros), finish makes it full.
//
// Write pointers: advanced when a write is accepted (so in-order appends may be in flight
// together); a failed underlying write leaves the pointer advanced and the range's content
// undefined, as on a disk. flush() flushes the underlying device, then writes the table (A/B
// copies, sequence number, crc32c) recording, per zone, the end of the writes that had
// *completed* before that underlying flush, then flushes again. reset() and finish() persist the
// table before they resolve, and writes called after a reset wait for that, so a crash can never
// pair an old (longer) write pointer with new data written after the reset.
//
// Fault model: that of the underlying device (unflushed writes lost, reordered, torn at 4 KiB).
// After a crash, each zone's write pointer is the one stored by the last flush whose table write
// completed (a torn table copy fails its checksum and the other copy, one flush older, is used),
// and every byte below it was flushed before that table was written. Data written past it before
// the crash reads as zeros and is overwritten by the next appends.

import { assert } from '../util/assert.js';
import { FsError } from '../util/errors.js';
import type { BlockDevice, ZoneInfo, ZoneReport } from './block-device.js';
import { DEVICE_ALIGN_BYTES } from './block-device.js';
import { crc32c } from './crc32c.js';
import { checkRange, closedError } from './io-checks.js';

export interface ZonedOptions {
  /** Power of two, from MIN_ZONE_BYTES to MAX_ZONE_BYTES. */
  zoneSizeBytes: number;
  /** Number of conventional (randomly writable) zones at the start. Default 0. */
  conventionalZones?: number;
}

/**
 * Smallest zone size accepted. Linux btrfs refuses zones under 4 MiB (BTRFS_MIN_ZONE_SIZE is
 * 4 MiB in newer kernels); we accept down to 64 KiB so tests can use small devices with many
 * zones. A filesystem meant to be exported to Linux should use >= 4 MiB zones.
 */
export const MIN_ZONE_BYTES = 64 * 1024;
/** btrfs's maximum zone size (btrfs-man5 ZONED MODE). */
export const MAX_ZONE_BYTES = 8 * 1024 * 1024 * 1024;
/** Bound on zones per device, which bounds the table (8 bytes per zone) written at each flush. */
export const MAX_ZONES = 1 << 20;

// Write-pointer table layout (little-endian); see docs/format.md "Zoned device emulation".
export const ZONE_TABLE_MAGIC = 'BFZWPTBL';
const TABLE_VERSION = 1;
const OFF_MAGIC = 0; // 8 bytes ASCII
const OFF_VERSION = 8; // u32
const OFF_CRC = 12; // u32 crc32c of bytes [16, 48 + 8 * zoneCount)
const OFF_SEQ = 16; // u64 sequence number, +1 per table write
const OFF_ZONE_SIZE = 24; // u64 zone size in bytes
const OFF_ZONE_COUNT = 32; // u32
const OFF_CONVENTIONAL = 36; // u32
const OFF_RESERVED = 40; // 8 bytes, zero
const TABLE_HEADER_BYTES = 48;
// Per zone: u32 write pointer and u32 end of written data, both in 4 KiB sectors from the zone
// start (they differ only for a finished zone: finish moves the pointer, not the data).
const ENTRY_BYTES = 8;
const SECTOR = DEVICE_ALIGN_BYTES;

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** Bytes of one copy of the table for `zoneCount` zones (sector aligned). */
export function zoneTableSlotBytes(zoneCount: number): number {
  return roundUp(TABLE_HEADER_BYTES + ENTRY_BYTES * zoneCount, DEVICE_ALIGN_BYTES);
}

function putU64(view: DataView, off: number, value: number): void {
  view.setUint32(off, value % 0x1_0000_0000, true);
  view.setUint32(off + 4, Math.floor(value / 0x1_0000_0000), true);
}

function getU64(view: DataView, off: number): number {
  return view.getUint32(off, true) + view.getUint32(off + 4, true) * 0x1_0000_0000;
}

interface TableCopy {
  seq: number;
  /** Relative bytes per zone. */
  wpRel: number[];
  dataRel: number[];
}

export class ZonedDevice implements BlockDevice {
  readonly sizeBytes: number;
  readonly zoned: ZoneInfo;
  readonly zoneSizeBytes: number;
  readonly zoneCount: number;
  readonly conventionalZones: number;
  /** Resolves once the write-pointer table is loaded; every operation waits for it. */
  readonly ready: Promise<void>;
  private readonly inner: BlockDevice;
  private readonly tableOffsetBytes: number;
  private readonly slotBytes: number;
  /** Issued write pointer (absolute bytes) per zone; for conventional zones, the zone start. */
  private wp: number[] = [];
  /**
   * End of accepted data per zone (absolute). Equals wp except after finish, which moves the
   * pointer to the zone end without data: reads stop here, not at wp.
   */
  private written: number[] = [];
  /** In-flight write start offsets per zone (token -> start); bounds the completed pointer. */
  private inflight: Map<number, number>[] = [];
  private nextToken = 0;
  /** Entries (relative bytes) of the last table written, and its sequence number. */
  private persistedWpRel: number[] = [];
  private persistedDataRel: number[] = [];
  private seq = 0;
  private loaded = false;
  private loadError: unknown;
  private closed = false;
  /** Table writes are serialised on this chain so two flushes never interleave. */
  private persistChain: Promise<void> = Promise.resolve();
  /** Set while a reset is being made durable: later writes wait for it. */
  private barrier: Promise<void> | undefined;

  /** Geometry check and table load; equivalent to `new ZonedDevice(...)` then `await ready`. */
  static async open(device: BlockDevice, options: ZonedOptions): Promise<ZonedDevice> {
    const zd = new ZonedDevice(device, options);
    await zd.ready;
    return zd;
  }

  constructor(device: BlockDevice, options: ZonedOptions) {
    const zoneSizeBytes = options.zoneSizeBytes;
    const conventionalZones = options.conventionalZones ?? 0;
    if (!Number.isSafeInteger(zoneSizeBytes) || zoneSizeBytes < MIN_ZONE_BYTES || zoneSizeBytes > MAX_ZONE_BYTES
      || !Number.isInteger(Math.log2(zoneSizeBytes))) {
      throw new FsError('EINVAL', `zone size ${zoneSizeBytes} is not a power of two in [${MIN_ZONE_BYTES}, ${MAX_ZONE_BYTES}]`, { syscall: 'ZonedDevice' });
    }
    if (device.zoned) throw new FsError('EINVAL', 'the underlying device is already zoned', { syscall: 'ZonedDevice' });
    const maxZones = Math.min(Math.floor(device.sizeBytes / zoneSizeBytes), MAX_ZONES);
    // The table's two copies sit right after the last exposed zone; sizing them for maxZones
    // zones over-reserves by at most a sector or two, and keeps this a single step.
    const slotBytes = zoneTableSlotBytes(maxZones);
    const zoneCount = Math.min(Math.floor((device.sizeBytes - 2 * slotBytes) / zoneSizeBytes), MAX_ZONES);
    if (!Number.isSafeInteger(conventionalZones) || conventionalZones < 0) {
      throw new FsError('EINVAL', `bad conventionalZones ${conventionalZones}`, { syscall: 'ZonedDevice' });
    }
    if (zoneCount < 1 || conventionalZones > zoneCount) {
      throw new FsError('EINVAL', `device of ${device.sizeBytes} bytes holds ${Math.max(zoneCount, 0)} zones of ${zoneSizeBytes} bytes plus the write-pointer table; need at least 1 and >= ${conventionalZones} conventional`, { syscall: 'ZonedDevice' });
    }
    this.inner = device;
    this.zoneSizeBytes = zoneSizeBytes;
    this.zoneCount = zoneCount;
    this.conventionalZones = conventionalZones;
    this.sizeBytes = zoneCount * zoneSizeBytes;
    this.slotBytes = zoneTableSlotBytes(zoneCount);
    this.tableOffsetBytes = this.sizeBytes;
    assert(this.tableOffsetBytes + 2 * this.slotBytes <= device.sizeBytes, 'zone table does not fit');

    const self = this;
    this.zoned = {
      zoneSizeBytes,
      zoneCount,
      conventionalZones,
      report: () => self.report(),
      reset: (zoneIndex: number) => self.resetZone(zoneIndex),
      finish: (zoneIndex: number) => self.finishZone(zoneIndex),
    };
    this.ready = this.load();
    // The load error is kept in loadError and rethrown by every operation (and by `ready` to whoever
    // awaits it); this handler only stops it from being reported as unhandled when nobody awaits
    // `ready` directly.
    this.ready.catch((e: unknown) => {
      this.loadError = e;
    });
  }

  private zoneStart(zone: number): number {
    return zone * this.zoneSizeBytes;
  }

  private isSequential(zone: number): boolean {
    return zone >= this.conventionalZones;
  }

  private async load(): Promise<void> {
    const raw = await this.inner.read(this.tableOffsetBytes, 2 * this.slotBytes);
    const copies: (TableCopy | undefined)[] = [];
    let withMagic = 0;
    for (let slot = 0; slot < 2; slot++) {
      const bytes = raw.subarray(slot * this.slotBytes, (slot + 1) * this.slotBytes);
      const parsed = this.parseCopy(bytes);
      if (parsed.hasMagic) withMagic++;
      copies.push(parsed.copy);
    }
    let best: TableCopy | undefined;
    for (const c of copies) if (c && (!best || c.seq > best.seq)) best = c;
    if (!best && withMagic === 2) {
      // Both copies were written at some point and both are damaged: one torn write can only
      // damage one copy, so this is corruption, not a crash.
      throw new FsError('EIO', 'both copies of the zone write-pointer table are corrupt', { syscall: 'ZonedDevice' });
    }
    const wpRel = best ? best.wpRel : new Array<number>(this.zoneCount).fill(0);
    const dataRel = best ? best.dataRel : new Array<number>(this.zoneCount).fill(0);
    this.seq = best ? best.seq : 0;
    this.persistedWpRel = wpRel.slice();
    this.persistedDataRel = dataRel.slice();
    this.wp = wpRel.map((rel, zone) => this.zoneStart(zone) + (this.isSequential(zone) ? rel : 0));
    this.written = dataRel.map((rel, zone) => this.zoneStart(zone) + (this.isSequential(zone) ? rel : 0));
    this.inflight = Array.from({ length: this.zoneCount }, () => new Map<number, number>());
    this.loaded = true;
  }

  /** Validate one table copy. Geometry mismatch in a valid copy is EINVAL. */
  private parseCopy(bytes: Uint8Array): { hasMagic: boolean; copy?: TableCopy } {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const magic = String.fromCharCode(...bytes.subarray(OFF_MAGIC, OFF_MAGIC + 8));
    if (magic !== ZONE_TABLE_MAGIC) return { hasMagic: false };
    if (view.getUint32(OFF_VERSION, true) !== TABLE_VERSION) return { hasMagic: true };
    const zoneCount = view.getUint32(OFF_ZONE_COUNT, true);
    // Bounded before use: the entries must fit in this copy.
    if (zoneCount > MAX_ZONES || TABLE_HEADER_BYTES + ENTRY_BYTES * zoneCount > bytes.length) return { hasMagic: true };
    const end = TABLE_HEADER_BYTES + ENTRY_BYTES * zoneCount;
    if (crc32c(bytes.subarray(OFF_CRC + 4, end)) !== view.getUint32(OFF_CRC, true)) return { hasMagic: true };
    const zoneSize = getU64(view, OFF_ZONE_SIZE);
    const conventional = view.getUint32(OFF_CONVENTIONAL, true);
    if (zoneSize !== this.zoneSizeBytes || zoneCount !== this.zoneCount || conventional !== this.conventionalZones) {
      throw new FsError('EINVAL', `zone geometry on the device (zone ${zoneSize} B x ${zoneCount}, ${conventional} conventional) differs from the options (zone ${this.zoneSizeBytes} B x ${this.zoneCount}, ${this.conventionalZones} conventional)`, { syscall: 'ZonedDevice' });
    }
    const wpRel: number[] = [];
    const dataRel: number[] = [];
    for (let zone = 0; zone < zoneCount; zone++) {
      const wp = view.getUint32(TABLE_HEADER_BYTES + ENTRY_BYTES * zone, true) * SECTOR;
      const data = view.getUint32(TABLE_HEADER_BYTES + ENTRY_BYTES * zone + 4, true) * SECTOR;
      // A checksummed copy with impossible pointers was written by a bug, not torn by a crash.
      if (wp > zoneSize || data > wp) {
        throw new FsError('EUCLEAN', `zone ${zone}: write pointer ${wp} / data end ${data} impossible for zone size ${zoneSize}`, { syscall: 'ZonedDevice' });
      }
      wpRel.push(wp);
      dataRel.push(data);
    }
    return { hasMagic: true, copy: { seq: getU64(view, OFF_SEQ), wpRel, dataRel } };
  }

  private encodeCopy(seq: number, wpRel: number[], dataRel: number[]): Uint8Array {
    const bytes = new Uint8Array(this.slotBytes);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < 8; i++) bytes[OFF_MAGIC + i] = ZONE_TABLE_MAGIC.charCodeAt(i);
    view.setUint32(OFF_VERSION, TABLE_VERSION, true);
    putU64(view, OFF_SEQ, seq);
    putU64(view, OFF_ZONE_SIZE, this.zoneSizeBytes);
    view.setUint32(OFF_ZONE_COUNT, this.zoneCount, true);
    view.setUint32(OFF_CONVENTIONAL, this.conventionalZones, true);
    assert(view.getUint32(OFF_RESERVED, true) === 0, 'reserved bytes must be zero');
    for (let zone = 0; zone < this.zoneCount; zone++) {
      view.setUint32(TABLE_HEADER_BYTES + ENTRY_BYTES * zone, wpRel[zone] / SECTOR, true);
      view.setUint32(TABLE_HEADER_BYTES + ENTRY_BYTES * zone + 4, dataRel[zone] / SECTOR, true);
    }
    const end = TABLE_HEADER_BYTES + ENTRY_BYTES * this.zoneCount;
    view.setUint32(OFF_CRC, crc32c(bytes.subarray(OFF_CRC + 4, end)), true);
    return bytes;
  }

  /** Throws unless the device can take I/O now (loaded, not closed). */
  private usable(syscall: string): void {
    if (this.closed) throw closedError(syscall);
    if (this.loadError !== undefined) throw this.loadError;
  }

  /** End of the writes of `zone` that have completed (everything below it is on the inner device). */
  private completedData(zone: number): number {
    let end = this.written[zone];
    for (const start of this.inflight[zone].values()) if (start < end) end = start;
    return end;
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    if (!this.loaded) return this.ready.then(() => this.read(offset, length));
    try {
      this.usable('read');
      checkRange(offset, length, this.sizeBytes, 'read');
    } catch (e) {
      return Promise.reject(e);
    }
    if (length === 0) return Promise.resolve(new Uint8Array(0));
    // Per zone touched, the readable end (completed write pointer), taken now, at call time.
    const firstZone = Math.floor(offset / this.zoneSizeBytes);
    const lastZone = Math.floor((offset + length - 1) / this.zoneSizeBytes);
    const cuts: { from: number; to: number }[] = [];
    let anyReadable = false;
    for (let zone = firstZone; zone <= lastZone; zone++) {
      const start = Math.max(this.zoneStart(zone), offset);
      const end = Math.min(this.zoneStart(zone + 1), offset + length);
      const readableEnd = this.isSequential(zone) ? Math.min(this.completedData(zone), end) : end;
      if (readableEnd > start) anyReadable = true;
      if (readableEnd < end) cuts.push({ from: Math.max(readableEnd, start) - offset, to: end - offset });
    }
    if (!anyReadable) return Promise.resolve(new Uint8Array(length));
    return this.inner.read(offset, length).then((data) => {
      for (const c of cuts) data.fill(0, c.from, c.to);
      return data;
    });
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    if (!this.loaded) return this.ready.then(() => this.write(offset, data));
    let token = -1;
    let zone = -1;
    try {
      this.usable('write');
      checkRange(offset, data.length, this.sizeBytes, 'write');
      if (data.length === 0) return Promise.resolve();
      zone = Math.floor(offset / this.zoneSizeBytes);
      const lastZone = Math.floor((offset + data.length - 1) / this.zoneSizeBytes);
      if (!this.isSequential(zone)) {
        if (this.isSequential(lastZone)) {
          throw new FsError('EIO', `write at ${offset} of ${data.length} bytes runs from conventional zone ${zone} into sequential zone ${lastZone}`, { syscall: 'write' });
        }
      } else {
        if (offset !== this.wp[zone]) {
          throw new FsError('EIO', `unaligned write: zone ${zone} write pointer is at ${this.wp[zone]}, write at ${offset}`, { syscall: 'write' });
        }
        if (lastZone !== zone) {
          throw new FsError('EIO', `write at ${offset} of ${data.length} bytes crosses the end of zone ${zone}`, { syscall: 'write' });
        }
        this.wp[zone] = offset + data.length;
        this.written[zone] = this.wp[zone];
        token = this.nextToken++;
        this.inflight[zone].set(token, offset);
      }
    } catch (e) {
      return Promise.reject(e);
    }
    const barrier = this.barrier;
    const issue = (): Promise<void> => this.inner.write(offset, data);
    const done = barrier ? barrier.then(issue) : issue();
    if (token < 0) return done;
    const z = zone;
    return done.finally(() => {
      this.inflight[z].delete(token);
    });
  }

  flush(): Promise<void> {
    if (!this.loaded) return this.ready.then(() => this.flush());
    try {
      this.usable('flush');
    } catch (e) {
      return Promise.reject(e);
    }
    return this.persist();
  }

  /**
   * Flush the inner device, then store the completed write pointers (if changed) and flush again.
   * Serialised: a call waits for the previous one, then snapshots the pointers when it runs.
   */
  private persist(): Promise<void> {
    const run = this.persistChain.then(async () => {
      const wpRel: number[] = [];
      const dataRel: number[] = [];
      for (let zone = 0; zone < this.zoneCount; zone++) {
        if (!this.isSequential(zone)) {
          wpRel.push(0);
          dataRel.push(0);
          continue;
        }
        const data = this.completedData(zone) - this.zoneStart(zone);
        // A finished zone keeps its pointer at the end; otherwise the pointer is the data end.
        const finished = this.wp[zone] > this.written[zone];
        dataRel.push(data);
        wpRel.push(finished ? this.wp[zone] - this.zoneStart(zone) : data);
      }
      await this.inner.flush();
      let same = true;
      for (let zone = 0; zone < this.zoneCount && same; zone++) {
        same = wpRel[zone] === this.persistedWpRel[zone] && dataRel[zone] === this.persistedDataRel[zone];
      }
      if (same) return;
      const seq = this.seq + 1;
      // Alternate copies: the one not holding the newest table is overwritten, so a torn write
      // leaves the previous table intact in the other copy.
      const slot = seq % 2;
      await this.inner.write(this.tableOffsetBytes + slot * this.slotBytes, this.encodeCopy(seq, wpRel, dataRel));
      await this.inner.flush();
      this.seq = seq;
      this.persistedWpRel = wpRel;
      this.persistedDataRel = dataRel;
    });
    // The chain continues after a failure; the failure itself goes to this call's caller.
    this.persistChain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  report(): ZoneReport[] {
    if (!this.loaded) {
      this.usable('report');
      throw new FsError('EAGAIN', 'zone table not loaded yet: await device.ready (or ZonedDevice.open) first', { syscall: 'report' });
    }
    const out: ZoneReport[] = [];
    for (let zone = 0; zone < this.zoneCount; zone++) {
      const startBytes = this.zoneStart(zone);
      if (!this.isSequential(zone)) {
        // Conventional zones have no write pointer; we report the zone start.
        out.push({ index: zone, startBytes, sizeBytes: this.zoneSizeBytes, type: 'conventional', condition: 'not-wp', writePointerBytes: startBytes });
        continue;
      }
      const wp = this.wp[zone];
      const condition = wp === startBytes ? 'empty' : wp === startBytes + this.zoneSizeBytes ? 'full' : 'open';
      out.push({ index: zone, startBytes, sizeBytes: this.zoneSizeBytes, type: 'sequential', condition, writePointerBytes: wp });
    }
    return out;
  }

  private checkZoneOp(zoneIndex: number, syscall: string): void {
    this.usable(syscall);
    if (!Number.isSafeInteger(zoneIndex) || zoneIndex < 0 || zoneIndex >= this.zoneCount) {
      throw new FsError('EINVAL', `zone ${zoneIndex} out of range [0, ${this.zoneCount})`, { syscall });
    }
    if (!this.isSequential(zoneIndex)) {
      throw new FsError('EINVAL', `zone ${zoneIndex} is conventional: it has no write pointer`, { syscall });
    }
  }

  private resetZone(zoneIndex: number): Promise<void> {
    if (!this.loaded) return this.ready.then(() => this.resetZone(zoneIndex));
    try {
      this.checkZoneOp(zoneIndex, 'zone reset');
    } catch (e) {
      return Promise.reject(e);
    }
    this.wp[zoneIndex] = this.zoneStart(zoneIndex);
    this.written[zoneIndex] = this.wp[zoneIndex];
    // Writes called from now on wait until the rewound pointer is durable (see header).
    const persisted = this.persist();
    const barrier = persisted.finally(() => {
      if (this.barrier === barrier) this.barrier = undefined;
    });
    this.barrier = barrier;
    return barrier;
  }

  private finishZone(zoneIndex: number): Promise<void> {
    if (!this.loaded) return this.ready.then(() => this.finishZone(zoneIndex));
    try {
      this.checkZoneOp(zoneIndex, 'zone finish');
    } catch (e) {
      return Promise.reject(e);
    }
    this.wp[zoneIndex] = this.zoneStart(zoneIndex + 1);
    return this.persist();
  }

  /** Persists the write pointers (a flush), then closes the underlying device. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (!this.loaded) await this.ready;
    await this.persist();
    this.closed = true;
    await this.inner.close();
  }
}

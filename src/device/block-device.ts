// The block device interface every storage backend implements (ARCHITECTURE.md §4).
//
// Fault model assumed by the layers above (btrfs-man5 STORAGE MODEL): a write that
// returned may still be lost or reordered until flush() returns; after flush() every
// write that returned before it is durable. Writes are not atomic beyond one sector
// (4096 bytes): a crash may tear a larger write at any sector boundary. Reads return
// what was last written, or an error (EIO) for a latent sector error; bit rot is
// possible and is caught by checksums above, not here.

import type { DeviceReadSource } from '../kernels/device-sums.js';

/**
 * Every offset, length and device size is a multiple of this: btrfs never does I/O in
 * smaller units (its smallest sectorsize is 4 KiB). Misaligned I/O is EINVAL.
 */
export const DEVICE_ALIGN_BYTES = 4096;

export interface ZoneReport {
  /** Zone index, 0-based. */
  index: number;
  startBytes: number;
  sizeBytes: number;
  /** 'conventional' zones accept random writes; 'sequential' ones only at the write pointer. */
  type: 'conventional' | 'sequential';
  /** empty / open / full for sequential zones (finish makes a zone full); 'not-wp' for conventional ones. */
  condition: 'empty' | 'open' | 'full' | 'not-wp';
  /** Absolute byte offset of the write pointer (start when empty, start + size when full). */
  writePointerBytes: number;
}

/** Present on zoned devices (host-managed zone emulation, btrfs-man5 ZONED MODE). */
export interface ZoneInfo {
  readonly zoneSizeBytes: number;
  readonly zoneCount: number;
  readonly conventionalZones: number;
  report(): ZoneReport[];
  /** Rewind a sequential zone's write pointer to its start; its contents read as zeros. */
  reset(zoneIndex: number): Promise<void>;
  /** Move a sequential zone's write pointer to its end (zone becomes full). */
  finish(zoneIndex: number): Promise<void>;
}

export interface BlockDevice {
  readonly sizeBytes: number;
  /** Read `length` bytes at `offset`. Out-of-range reads are EINVAL. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Optional: reads `dest.length` bytes at `offset` into `dest` (the caller's buffer, any view),
   * the same bytes read() would return, without a buffer of the device's own. Devices that can
   * fill a given view (a sync access handle, a file descriptor, memory) implement it so that
   * the data path reads straight into the reader's buffer; readDeviceInto() falls back to
   * read() and a copy for the others (wrappers such as the fault and zoned devices).
   */
  readInto?(offset: number, dest: Uint8Array): Promise<void>;
  /** Write all of `data` at `offset`. Out-of-range writes are EINVAL. The device may keep a reference to `data` only until the promise settles. */
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Everything written before is durable after. */
  flush(): Promise<void>;
  close(): Promise<void>;
  readonly zoned?: ZoneInfo;
  /**
   * Optional: where another thread (a pool worker) can read this device's bytes through a
   * handle of its own. A commit then has the data checksums of its large extents made there
   * while this thread waits on flush() (kernels/device-sums.ts, fs/writeback.ts). Only devices
   * whose reads return exactly what was written offer it (no wrappers that change bytes).
   */
  readonly readSource?: DeviceReadSource;
}

/** `dest.length` bytes at `offset` of `device` into `dest`: readInto when the device has it, else read() and a copy. */
export async function readDeviceInto(device: BlockDevice, offset: number, dest: Uint8Array): Promise<void> {
  if (device.readInto) return device.readInto(offset, dest);
  dest.set(await device.read(offset, dest.length));
}

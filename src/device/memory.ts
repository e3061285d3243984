// MemoryDevice: a block device in RAM, for tests, tools and the crash suite.
//
// Storage is sparse: the device is cut into 64 KiB pages allocated on first write, so a large
// device that is mostly empty (btrfs puts a superblock mirror at 64 MiB) costs only what was
// written. Pages are copy-on-write between forks: fork() shares every page and whichever side
// writes a shared page first copies it. That makes a snapshot of the whole device O(pages) in
// time and free in memory until written, which is what the crash suite needs to materialise
// thousands of crash states (fault.ts).
//
// Fault model: none. Writes are durable and atomic as soon as they are applied (synchronously,
// inside write()); flush() does nothing. Faults are injected by wrapping it in a FaultDevice.

import { assert } from '../util/assert.js';
import type { BlockDevice } from './block-device.js';
import { checkDeviceSize, checkRange, closedError } from './io-checks.js';

/** Allocation and copy-on-write unit. A multiple of DEVICE_ALIGN_BYTES. */
export const MEMORY_PAGE_BYTES = 64 * 1024;

export class MemoryDevice implements BlockDevice {
  readonly sizeBytes: number;
  /** pages[i] covers [i * MEMORY_PAGE_BYTES, (i + 1) * MEMORY_PAGE_BYTES); undefined reads as zeros. */
  private pages: (Uint8Array | undefined)[];
  /**
   * owned[i] === 1 when pages[i] belongs to this device alone and may be written in place;
   * 0 when it may be shared with a fork (copy before writing). Invariant: a page shared by two
   * devices is marked 0 in both.
   */
  private owned: Uint8Array;
  private closed = false;

  constructor(sizeBytes: number) {
    checkDeviceSize(sizeBytes, 'MemoryDevice');
    this.sizeBytes = sizeBytes;
    const pageCount = Math.ceil(sizeBytes / MEMORY_PAGE_BYTES);
    this.pages = new Array<Uint8Array | undefined>(pageCount).fill(undefined);
    this.owned = new Uint8Array(pageCount);
  }

  /**
   * A copy of the device's current content, sharing pages copy-on-write. Cheap: O(pages). Allowed
   * on a closed device too: that is how a test "reopens" an in-memory image.
   */
  fork(): MemoryDevice {
    const copy = new MemoryDevice(this.sizeBytes);
    copy.pages = this.pages.slice();
    // Both sides now share every page: neither may write one in place.
    this.owned.fill(0);
    return copy;
  }

  /** Bytes of page memory allocated (for tests of sparseness and fork sharing). */
  get allocatedBytes(): number {
    let n = 0;
    for (const p of this.pages) if (p) n += p.length;
    return n;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    return this.readSync(offset, length);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.writeSync(offset, data);
  }

  async readInto(offset: number, dest: Uint8Array): Promise<void> {
    this.readIntoSync(offset, dest);
  }

  /** read() without the promise, for wrappers (FaultDevice) that must apply I/O in call order. */
  readSync(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.readIntoSync(offset, out);
    return out;
  }

  /** readInto() without the promise: fills all of `dest` (zeros where nothing was written). */
  readIntoSync(offset: number, dest: Uint8Array): void {
    if (this.closed) throw closedError('read');
    const length = dest.length;
    checkRange(offset, length, this.sizeBytes, 'read');
    let done = 0;
    // Bounded: one iteration per page touched, at most length / MEMORY_PAGE_BYTES + 1.
    while (done < length) {
      const pos = offset + done;
      const index = Math.floor(pos / MEMORY_PAGE_BYTES);
      const inPage = pos - index * MEMORY_PAGE_BYTES;
      const n = Math.min(MEMORY_PAGE_BYTES - inPage, length - done);
      const page = this.pages[index];
      if (page) dest.set(page.subarray(inPage, inPage + n), done);
      else dest.fill(0, done, done + n);
      done += n;
    }
  }

  /** write() without the promise (see readSync). */
  writeSync(offset: number, data: Uint8Array): void {
    if (this.closed) throw closedError('write');
    checkRange(offset, data.length, this.sizeBytes, 'write');
    let done = 0;
    while (done < data.length) {
      const pos = offset + done;
      const index = Math.floor(pos / MEMORY_PAGE_BYTES);
      const inPage = pos - index * MEMORY_PAGE_BYTES;
      const n = Math.min(MEMORY_PAGE_BYTES - inPage, data.length - done);
      this.writablePage(index).set(data.subarray(done, done + n), inPage);
      done += n;
    }
  }

  /** The page at `index`, allocated or unshared so that it can be written in place. */
  private writablePage(index: number): Uint8Array {
    let page = this.pages[index];
    if (page && this.owned[index]) return page;
    page = page ? page.slice() : new Uint8Array(MEMORY_PAGE_BYTES);
    this.pages[index] = page;
    this.owned[index] = 1;
    return page;
  }

  async flush(): Promise<void> {
    if (this.closed) throw closedError('flush');
  }

  async close(): Promise<void> {
    // A second close is harmless, like close(2) on a fresh descriptor is not; we choose the
    // forgiving side because owners (FaultDevice, ZonedDevice) close what they wrap.
    this.closed = true;
    assert(this.pages.length === this.owned.length, 'page tables out of step');
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

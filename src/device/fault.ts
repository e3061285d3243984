// FaultDevice: a fault-injecting, recording block device for tests (after littlefs's emubd and
// TigerBeetle's testing/storage.zig). It wraps a device holding the content as written and keeps
// the faults apart from it, so that a test can tell what the device was asked to store from what
// it returns, and check repair.
//
// Fault model (every fault is inside btrfs-man5 STORAGE MODEL / WHEN THINGS GO WRONG):
//  * power cut after write N: write N+1 and every later write, flush and read fail with EIO and
//    the device is `crashed`. What survives is computed by stateAfter()/crashState():
//  * at a crash, writes since the last completed flush may each be kept whole, dropped, or torn
//    at 4096-byte sector granularity (a subset of its sectors kept); sectors are applied in
//    issue order, so dropping an earlier write and keeping a later one models reordering. Every
//    write before the last flush is kept (flush is honoured: assumption 2 holds);
//  * bit flips at given byte offsets (bit rot, assumption 3): applied to what reads return,
//    until the sector is rewritten;
//  * misdirected (ghost) writes: a chosen write lands at another offset, or is lost while
//    reporting success; recorded as such, so crash states reproduce it;
//  * latent sector errors: reads touching a marked sector fail with EIO until it is rewritten
//    (drives remap a sector on write).
// Faults are one-shot or explicit; nothing fires at random unless a test asks with a seed.
//
// Recording: when the wrapped device is a MemoryDevice (the usual case), every write and flush
// is logged (`events`, with a copy of the data) and a copy-on-write snapshot of the device is
// taken at construction and at each flush, so stateAfter(k) costs one fork plus the unflushed
// writes, whatever k. A crash suite enumerates k = 0 .. events.length.

import { assert } from '../util/assert.js';
import { FsError } from '../util/errors.js';
import type { BlockDevice } from './block-device.js';
import { DEVICE_ALIGN_BYTES } from './block-device.js';
import { checkRange, closedError } from './io-checks.js';
import { MemoryDevice } from './memory.js';

const SECTOR = DEVICE_ALIGN_BYTES;

/** mulberry32: a small seeded PRNG with 32-bit state; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RecordedWrite {
  kind: 'write';
  /** Position in `events`. */
  index: number;
  /** Where the caller asked the data to go. */
  offsetBytes: number;
  /** A private copy of what was written. */
  data: Uint8Array;
  /** Where it actually landed: offsetBytes, another offset (misdirected) or null (lost). */
  landedAtBytes: number | null;
}

export interface RecordedFlush {
  kind: 'flush';
  index: number;
}

export type RecordedEvent = RecordedWrite | RecordedFlush;

/**
 * What happens to the writes since the last flush at a crash:
 *  'all' / 'none': every one kept / dropped;
 *  { seed }: each is torn with tearProbability (default 0.25; then each sector kept with
 *    probability 1/2), else kept whole with keepProbability (default 0.5), else dropped;
 *  a function: per write, 'keep', 'drop' or one boolean per sector (true = that sector persisted).
 */
export type UnflushedPolicy =
  | 'all'
  | 'none'
  | { seed: number; keepProbability?: number; tearProbability?: number }
  | ((write: RecordedWrite, nthUnflushed: number) => 'keep' | 'drop' | boolean[]);

/** A one-shot misdirection: the next write for which `match` is true goes to `to`, or is lost. */
interface Misdirect {
  match: (offsetBytes: number, lengthBytes: number) => boolean;
  to: number | 'lost';
}

export interface FaultDeviceOptions {
  /** Log writes and flushes with snapshots (needs a MemoryDevice). Default: inner is a MemoryDevice. */
  record?: boolean;
}

export class FaultDevice implements BlockDevice {
  readonly sizeBytes: number;
  private readonly inner: BlockDevice;
  private readonly record: boolean;
  private log: RecordedEvent[] = [];
  /** Content at construction (recording only). */
  private base: MemoryDevice | undefined;
  /** Content after the flush at event index i (recording only). */
  private snapshots = new Map<number, MemoryDevice>();
  private writeCount = 0;
  private powerCutAfter: number | undefined;
  private crashedFlag = false;
  private closed = false;
  /** byte offset -> xor mask applied to reads. */
  private bitFlips = new Map<number, number>();
  /** sector indexes whose reads fail. */
  private latent = new Set<number>();
  private misdirects: Misdirect[] = [];

  constructor(inner: BlockDevice, options: FaultDeviceOptions = {}) {
    this.inner = inner;
    this.sizeBytes = inner.sizeBytes;
    this.record = options.record ?? inner instanceof MemoryDevice;
    if (this.record) {
      assert(inner instanceof MemoryDevice, 'FaultDevice recording needs a MemoryDevice to snapshot');
      this.base = inner.fork();
    }
  }

  /** The writes and flushes so far, in call order. */
  get events(): readonly RecordedEvent[] {
    return this.log;
  }

  /** Writes accepted so far (the N of cutPowerAfterWrite). */
  get writesIssued(): number {
    return this.writeCount;
  }

  get crashed(): boolean {
    return this.crashedFlag;
  }

  /** Power is cut once `n` writes in total have been accepted: later I/O fails with EIO. */
  cutPowerAfterWrite(n: number): void {
    assert(Number.isSafeInteger(n) && n >= 0, 'write count must be a non-negative integer');
    this.powerCutAfter = n;
  }

  /** Cut power now. */
  cutPower(): void {
    this.crashedFlag = true;
  }

  /** Flip bit `bit` (0..7) of the byte at `offsetBytes` in what reads return, until rewritten. */
  flipBit(offsetBytes: number, bit: number): void {
    assert(Number.isSafeInteger(offsetBytes) && offsetBytes >= 0 && offsetBytes < this.sizeBytes, 'bit flip offset out of range');
    assert(Number.isInteger(bit) && bit >= 0 && bit < 8, 'bit must be 0..7');
    const mask = (this.bitFlips.get(offsetBytes) ?? 0) ^ (1 << bit);
    if (mask === 0) this.bitFlips.delete(offsetBytes);
    else this.bitFlips.set(offsetBytes, mask);
  }

  /** Make reads of the sectors in [offset, offset + length) fail with EIO until rewritten. */
  addLatentError(offsetBytes: number, lengthBytes = SECTOR): void {
    checkRange(offsetBytes, lengthBytes, this.sizeBytes, 'addLatentError');
    for (let s = offsetBytes / SECTOR; s < (offsetBytes + lengthBytes) / SECTOR; s++) this.latent.add(s);
  }

  /** The next write matching `match` lands at `to` (same length, must fit) or is lost, and reports success. */
  misdirectNextWrite(match: (offsetBytes: number, lengthBytes: number) => boolean, to: number | 'lost'): void {
    if (to !== 'lost') assert(to % SECTOR === 0 && to >= 0 && to < this.sizeBytes, 'misdirect target must be an aligned in-range offset');
    this.misdirects.push({ match, to });
  }

  private usable(syscall: string): void {
    if (this.closed) throw closedError(syscall);
    if (this.crashedFlag) throw new FsError('EIO', 'device lost power (FaultDevice crash)', { syscall });
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.usable('read');
    checkRange(offset, length, this.sizeBytes, 'read');
    for (let s = offset / SECTOR; s < (offset + length) / SECTOR && this.latent.size > 0; s++) {
      if (this.latent.has(s)) throw new FsError('EIO', `latent sector error at ${s * SECTOR}`, { syscall: 'read' });
    }
    const data = this.inner instanceof MemoryDevice ? this.inner.readSync(offset, length) : await this.inner.read(offset, length);
    if (this.bitFlips.size > 0) {
      for (const [at, mask] of this.bitFlips) if (at >= offset && at < offset + length) data[at - offset] ^= mask;
    }
    return data;
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.usable('write');
    checkRange(offset, data.length, this.sizeBytes, 'write');
    if (this.powerCutAfter !== undefined && this.writeCount >= this.powerCutAfter) {
      this.crashedFlag = true;
      throw new FsError('EIO', `power cut after write ${this.powerCutAfter}`, { syscall: 'write' });
    }
    this.writeCount++;
    let landedAt: number | null = offset;
    const m = this.misdirects.findIndex((d) => d.match(offset, data.length));
    if (m >= 0) {
      const { to } = this.misdirects[m];
      this.misdirects.splice(m, 1);
      landedAt = to === 'lost' ? null : to;
      if (landedAt !== null) checkRange(landedAt, data.length, this.sizeBytes, 'write (misdirected)');
    }
    if (this.record) {
      this.log.push({ kind: 'write', index: this.log.length, offsetBytes: offset, data: data.slice(), landedAtBytes: landedAt });
    }
    if (landedAt === null) return;
    this.clearFaults(landedAt, data.length);
    if (this.inner instanceof MemoryDevice) this.inner.writeSync(landedAt, data);
    else await this.inner.write(landedAt, data);
  }

  /** A rewrite replaces the sectors: their flips and latent errors are gone. */
  private clearFaults(offset: number, length: number): void {
    if (this.latent.size > 0) for (let s = offset / SECTOR; s < (offset + length) / SECTOR; s++) this.latent.delete(s);
    if (this.bitFlips.size > 0) for (const at of [...this.bitFlips.keys()]) if (at >= offset && at < offset + length) this.bitFlips.delete(at);
  }

  async flush(): Promise<void> {
    this.usable('flush');
    if (this.record) {
      const index = this.log.length;
      this.log.push({ kind: 'flush', index });
      this.snapshots.set(index, (this.inner as MemoryDevice).fork());
    }
    await this.inner.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.inner.close();
  }

  /**
   * An independent copy: content (copy-on-write), log, snapshots, faults and power state. I/O on
   * one never shows in the other. Needs a MemoryDevice inside.
   */
  fork(): FaultDevice {
    assert(this.inner instanceof MemoryDevice, 'fork needs a MemoryDevice inside');
    const copy = new FaultDevice(this.inner.fork(), { record: this.record });
    copy.log = this.log.slice();
    if (this.base) copy.base = this.base.fork();
    copy.snapshots = new Map(this.snapshots);
    copy.writeCount = this.writeCount;
    copy.powerCutAfter = this.powerCutAfter;
    copy.crashedFlag = this.crashedFlag;
    copy.bitFlips = new Map(this.bitFlips);
    copy.latent = new Set(this.latent);
    copy.misdirects = this.misdirects.slice();
    return copy;
  }

  /**
   * The device content after a crash that happened once the first `k` events (writes and
   * flushes, see `events`) had been issued: everything up to the last flush among them, plus the
   * writes after it as `policy` decides. A fresh MemoryDevice (copy-on-write; write it freely).
   * Bit flips and latent errors are not part of it (wrap it in a new FaultDevice for those).
   */
  stateAfter(k: number, policy: UnflushedPolicy = 'none'): MemoryDevice {
    assert(this.record && this.base, 'stateAfter needs recording (a MemoryDevice inside)');
    assert(Number.isSafeInteger(k) && k >= 0 && k <= this.log.length, `crash point ${k} outside [0, ${this.log.length}]`);
    let lastFlush = -1;
    for (let i = k - 1; i >= 0; i--) {
      if (this.log[i].kind === 'flush') {
        lastFlush = i;
        break;
      }
    }
    const from = lastFlush >= 0 ? this.snapshots.get(lastFlush) : this.base;
    assert(from, `no snapshot for flush ${lastFlush}`);
    const image = from.fork();
    const decide = decider(policy);
    let nth = 0;
    for (let i = lastFlush + 1; i < k; i++) {
      const ev = this.log[i];
      assert(ev.kind === 'write', 'only writes follow the last flush');
      const choice = decide(ev, nth++);
      if (ev.landedAtBytes === null || choice === 'drop') continue;
      if (choice === 'keep') {
        image.writeSync(ev.landedAtBytes, ev.data);
        continue;
      }
      assert(choice.length === ev.data.length / SECTOR, 'torn-write mask needs one entry per sector');
      for (let s = 0; s < choice.length; s++) {
        if (choice[s]) image.writeSync(ev.landedAtBytes + s * SECTOR, ev.data.subarray(s * SECTOR, (s + 1) * SECTOR));
      }
    }
    return image;
  }

  /** The state after a crash now (all events issued): stateAfter(events.length, policy). */
  crashState(policy: UnflushedPolicy = 'none'): MemoryDevice {
    return this.stateAfter(this.log.length, policy);
  }
}

function decider(policy: UnflushedPolicy): (w: RecordedWrite, nth: number) => 'keep' | 'drop' | boolean[] {
  if (policy === 'all') return () => 'keep';
  if (policy === 'none') return () => 'drop';
  if (typeof policy === 'function') return policy;
  const rng = mulberry32(policy.seed);
  const tearP = policy.tearProbability ?? 0.25;
  const keepP = policy.keepProbability ?? 0.5;
  return (w) => {
    if (rng() < tearP) {
      const mask: boolean[] = [];
      for (let s = 0; s < w.data.length / SECTOR; s++) mask.push(rng() < 0.5);
      return mask;
    }
    return rng() < keepP ? 'keep' : 'drop';
  };
}

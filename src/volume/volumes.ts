// Logical -> physical (btrfs volumes.c): the devices of a filesystem, the chunk map, the
// mapping of a logical range to the stripes that hold it, and dev extent allocation.
//
// Fault model: devices may fail reads (EIO) and return rotten bytes; this layer does not
// verify contents (checksums are checked above it). It never writes outside a chunk's
// stripes, and writes to every copy of a mirrored profile.
import { readDeviceInto, type BlockDevice } from '../device/block-device.js';
import type { DevItem } from '../format/structs.js';
import { superblockOffset, SUPER_MIRROR_MAX, BlockGroupFlags, STRIPE_LEN, EXTENT_TREE_OBJECTID } from '../format/constants.js';
import { Chunk, Stripe, chunkItemSize } from '../format/structs.js';
import { FsError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import { profileOfFlags } from './raid.js';

/** btrfs keeps the first 1 MiB of every device out of chunks (boot loaders, the primary superblock). */
export const DEVICE_RESERVED_BYTES = 1024 * 1024;

export interface VolumeDevice {
  devid: number;
  uuid: Uint8Array;
  /** undefined when the device is missing (degraded). */
  device: BlockDevice | undefined;
  item: DevItem;
}

export interface ChunkStripe {
  devid: number;
  physical: number;
  devUuid: Uint8Array;
}

export interface ChunkMapping {
  /** Logical start of the chunk (the CHUNK_ITEM key offset). */
  start: number;
  length: number;
  type: number;
  stripeLen: number;
  ioAlign: number;
  ioWidth: number;
  sectorSize: number;
  subStripes: number;
  stripes: ChunkStripe[];
}

/** One piece of a logical range, with every copy that holds it. */
export interface MappedSegment {
  logical: number;
  length: number;
  /** Offset of this piece within the caller's range. */
  rangeOffset: number;
  copies: { devid: number; physical: number }[];
}

/** Whether every stripe of a chunk of these flags holds the whole chunk (single, dup, raid1, raid1c3, raid1c4). */
function mirroredWhole(flags: number): boolean {
  const p = profileOfFlags(flags);
  return p.nparity === 0 && p.name !== 'raid0' && p.name !== 'raid10';
}

/** The bytes of one stripe on one device (stripe_size in btrfs's chunk map). */
export function stripeSize(map: ChunkMapping): number {
  const p = profileOfFlags(map.type);
  const n = map.stripes.length;
  if (p.name === 'raid0') return map.length / n;
  if (p.name === 'raid10') return map.length / (n / map.subStripes);
  if (p.nparity > 0) return map.length / (n - p.nparity);
  return map.length;
}

export class Volumes {
  readonly devices = new Map<number, VolumeDevice>();
  /** Chunks sorted by logical start. */
  private chunks: ChunkMapping[] = [];

  allChunks(): readonly ChunkMapping[] {
    return this.chunks;
  }

  addChunk(map: ChunkMapping): void {
    assert(map.stripes.length > 0, 'chunk without stripes');
    const i = this.indexAfter(map.start);
    const prev = this.chunks[i - 1];
    if (prev && prev.start + prev.length > map.start) {
      throw new FsError('EUCLEAN', `chunk at ${map.start} overlaps chunk at ${prev.start}`);
    }
    const next = this.chunks[i];
    if (next && map.start + map.length > next.start) {
      throw new FsError('EUCLEAN', `chunk at ${map.start} overlaps chunk at ${next.start}`);
    }
    this.chunks.splice(i, 0, map);
  }

  removeChunk(start: number): void {
    const i = this.chunks.findIndex((c) => c.start === start);
    assert(i >= 0, `no chunk at ${start}`);
    this.chunks.splice(i, 1);
  }

  /** Index of the first chunk starting after `logical`. */
  private indexAfter(logical: number): number {
    let lo = 0;
    let hi = this.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.chunks[mid].start <= logical) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The chunk holding `logical`, or undefined. */
  chunkAt(logical: number): ChunkMapping | undefined {
    const c = this.chunks[this.indexAfter(logical) - 1];
    return c && logical < c.start + c.length ? c : undefined;
  }

  /** How many copies of `logical` can be read (mirror numbers 1..n). */
  numCopies(logical: number): number {
    const c = this.chunkAt(logical);
    if (!c) throw new FsError('EIO', `logical address ${logical} is in no chunk`);
    return profileOfFlags(c.type).ncopies;
  }

  /**
   * Maps [logical, logical+length) to device locations, split at stripe boundaries
   * (btrfs __btrfs_map_block for the non-parity profiles).
   */
  mapRange(logical: number, length: number): MappedSegment[] {
    const out: MappedSegment[] = [];
    let done = 0;
    // Bounded: each round consumes at least one byte and at most STRIPE_LEN; ranges are capped.
    assert(length <= 1024 * 1024 * 1024, 'mapRange length capped at 1 GiB');
    while (done < length) {
      const pos = logical + done;
      const c = this.chunkAt(pos);
      if (!c) throw new FsError('EIO', `logical address ${pos} is in no chunk`);
      const p = profileOfFlags(c.type);
      if (p.nparity > 0) throw new FsError('EOPNOTSUPP', `${p.name} block groups are not supported yet`);
      const off = pos - c.start;
      const n = c.stripes.length;
      let seg: number;
      let copies: { devid: number; physical: number }[];
      if (p.name === 'raid0' || p.name === 'raid10') {
        const stripeNr = Math.floor(off / c.stripeLen);
        const stripeOff = off % c.stripeLen;
        seg = Math.min(length - done, c.stripeLen - stripeOff, c.start + c.length - pos);
        const groups = p.name === 'raid10' ? n / c.subStripes : n;
        const idx = (stripeNr % groups) * (p.name === 'raid10' ? c.subStripes : 1);
        const row = Math.floor(stripeNr / groups);
        const width = p.name === 'raid10' ? c.subStripes : 1;
        copies = [];
        for (let k = 0; k < width; k++) {
          const s = c.stripes[idx + k];
          copies.push({ devid: s.devid, physical: s.physical + row * c.stripeLen + stripeOff });
        }
      } else {
        // single, dup, raid1*: every stripe holds the whole chunk.
        seg = Math.min(length - done, c.start + c.length - pos);
        copies = c.stripes.map((s) => ({ devid: s.devid, physical: s.physical + off }));
      }
      out.push({ logical: pos, length: seg, rangeOffset: done, copies });
      done += seg;
    }
    return out;
  }

  private deviceOf(devid: number): BlockDevice {
    const d = this.devices.get(devid);
    if (!d) throw new FsError('EIO', `device ${devid} is not part of this filesystem`);
    if (!d.device) throw new FsError('EIO', `device ${devid} is missing`);
    return d.device;
  }

  /** Reads copy `mirror` (1-based; 0 = the first) of a logical range. */
  async readLogical(logical: number, length: number, mirror = 0): Promise<Uint8Array> {
    const segs = this.mapRange(logical, length);
    if (segs.length === 1) {
      const c = segs[0].copies[Math.max(0, mirror - 1) % segs[0].copies.length];
      return this.deviceOf(c.devid).read(c.physical, length);
    }
    const out = new Uint8Array(length);
    for (const s of segs) {
      const c = s.copies[Math.max(0, mirror - 1) % s.copies.length];
      out.set(await this.deviceOf(c.devid).read(c.physical, s.length), s.rangeOffset);
    }
    return out;
  }

  /**
   * Reads copy `mirror` (1-based; 0 = the first) of [logical, logical + dest.length) into
   * `dest`, each stripe piece straight into its part of `dest` where the device can
   * (BlockDevice.readInto): the data path reads into the reader's buffer this way.
   */
  async readLogicalInto(logical: number, dest: Uint8Array, mirror = 0): Promise<void> {
    // The common case without mapRange's segment objects: a range inside one chunk whose every
    // stripe holds the whole chunk (single, dup, raid1*).
    const c = this.chunkAt(logical);
    if (c && logical + dest.length <= c.start + c.length && mirroredWhole(c.type)) {
      const s = c.stripes[Math.max(0, mirror - 1) % c.stripes.length];
      return readDeviceInto(this.deviceOf(s.devid), s.physical + (logical - c.start), dest);
    }
    const segs = this.mapRange(logical, dest.length);
    for (const s of segs) {
      const c = s.copies[Math.max(0, mirror - 1) % s.copies.length];
      const piece = segs.length === 1 ? dest : dest.subarray(s.rangeOffset, s.rangeOffset + s.length);
      await readDeviceInto(this.deviceOf(c.devid), c.physical, piece);
    }
  }

  /** Writes every copy of a logical range. Missing devices are skipped (degraded). */
  async writeLogical(logical: number, data: Uint8Array): Promise<void> {
    const writes: Promise<void>[] = [];
    for (const s of this.mapRange(logical, data.length)) {
      const piece = data.subarray(s.rangeOffset, s.rangeOffset + s.length);
      for (const c of s.copies) {
        const d = this.devices.get(c.devid);
        if (!d?.device) continue;
        writes.push(d.device.write(c.physical, piece));
      }
    }
    await Promise.all(writes);
  }

  /** Writes one copy (mirror, 1-based) of a logical range: used to repair a bad copy. */
  async writeLogicalCopy(logical: number, data: Uint8Array, mirror: number): Promise<void> {
    for (const s of this.mapRange(logical, data.length)) {
      const c = s.copies[(mirror - 1) % s.copies.length];
      await this.deviceOf(c.devid).write(c.physical, data.subarray(s.rangeOffset, s.rangeOffset + s.length));
    }
  }

  /**
   * Logical ranges of chunk `c` whose physical bytes hold a superblock copy: btrfs excludes
   * one stripe length (64 KiB) of logical space per hit (block-group.c exclude_super_stripes
   * with btrfs_rmap_block).
   */
  superStripeRanges(c: ChunkMapping): { start: number; length: number }[] {
    const out: { start: number; length: number }[] = [];
    const ss = stripeSize(c);
    const p = profileOfFlags(c.type);
    for (let m = 0; m < SUPER_MIRROR_MAX; m++) {
      const phys = superblockOffset(m);
      for (let i = 0; i < c.stripes.length; i++) {
        const s = c.stripes[i];
        if (phys < s.physical || phys >= s.physical + ss) continue;
        const stripeNr = Math.floor((phys - s.physical) / c.stripeLen);
        const offset = (phys - s.physical) % c.stripeLen;
        let logicalNr = stripeNr;
        if (p.name === 'raid0') logicalNr = stripeNr * c.stripes.length + i;
        else if (p.name === 'raid10') logicalNr = stripeNr * (c.stripes.length / c.subStripes) + Math.floor(i / c.subStripes);
        const start = c.start + logicalNr * c.stripeLen + offset;
        const len = Math.min(c.stripeLen, c.start + c.length - start);
        if (!out.some((r) => r.start === start)) out.push({ start, length: len });
      }
    }
    return out.sort((a, b) => a.start - b.start);
  }

  /** Physical ranges in use on `devid`, sorted (from the chunk map). */
  usedPhysical(devid: number): { start: number; length: number }[] {
    const out: { start: number; length: number }[] = [];
    for (const c of this.chunks) {
      const ss = stripeSize(c);
      for (const s of c.stripes) if (s.devid === devid) out.push({ start: s.physical, length: ss });
    }
    return out.sort((a, b) => a.start - b.start);
  }

  /** First free physical range of `size` bytes on `devid` (btrfs find_free_dev_extent), or undefined. */
  findFreeDevExtent(devid: number, size: number, totalBytes: number, extraUsed: { start: number; length: number }[] = []): number | undefined {
    const used = [...this.usedPhysical(devid), ...extraUsed].sort((a, b) => a.start - b.start);
    let cursor = DEVICE_RESERVED_BYTES;
    for (const u of used) {
      if (u.start - cursor >= size) return cursor;
      cursor = Math.max(cursor, u.start + u.length);
    }
    return totalBytes - cursor >= size ? cursor : undefined;
  }
}

/** The type bits btrfs prints ("METADATA|DUP"). */
export function blockGroupTypeString(flags: number): string {
  const parts: string[] = [];
  if (flags & BlockGroupFlags.DATA) parts.push('DATA');
  if (flags & BlockGroupFlags.SYSTEM) parts.push('SYSTEM');
  if (flags & BlockGroupFlags.METADATA) parts.push('METADATA');
  const p = profileOfFlags(flags);
  parts.push(p.name === 'single' ? 'single' : p.name.toUpperCase());
  return parts.join('|');
}

/** A CHUNK_ITEM's payload -> mapping. `data` is the item data; `start` the key offset. */
export function decodeChunk(start: number, data: Uint8Array): ChunkMapping {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < Chunk.size) throw new FsError('EUCLEAN', `chunk item at ${start} is ${data.length} bytes, too short`);
  const c = Chunk.decode(dv, 0);
  if (c.numStripes === 0 || data.length !== chunkItemSize(c.numStripes)) {
    throw new FsError('EUCLEAN', `chunk item at ${start}: ${c.numStripes} stripes do not fit ${data.length} bytes`);
  }
  if (c.length === 0 || c.stripeLen !== STRIPE_LEN) {
    throw new FsError('EUCLEAN', `chunk item at ${start}: length ${c.length}, stripe_len ${c.stripeLen}`);
  }
  const stripes: ChunkStripe[] = [];
  for (let i = 0; i < c.numStripes; i++) {
    const s = Stripe.decode(dv, Chunk.size + i * Stripe.size);
    stripes.push({ devid: s.devid, physical: s.offset, devUuid: s.devUuid });
  }
  return {
    start, length: c.length, type: c.type, stripeLen: c.stripeLen, ioAlign: c.ioAlign, ioWidth: c.ioWidth,
    sectorSize: c.sectorSize, subStripes: c.subStripes, stripes,
  };
}

/** Mapping -> CHUNK_ITEM payload (owner is always the extent tree, as btrfs writes it). */
export function encodeChunk(m: ChunkMapping): Uint8Array {
  const out = new Uint8Array(chunkItemSize(m.stripes.length));
  const dv = new DataView(out.buffer);
  Chunk.encode(dv, 0, {
    length: m.length, owner: EXTENT_TREE_OBJECTID, stripeLen: m.stripeLen, type: m.type, ioAlign: m.ioAlign,
    ioWidth: m.ioWidth, sectorSize: m.sectorSize, numStripes: m.stripes.length, subStripes: m.subStripes,
  });
  m.stripes.forEach((s, i) => Stripe.encode(dv, Chunk.size + i * Stripe.size, { devid: s.devid, offset: s.physical, devUuid: s.devUuid }));
  return out;
}

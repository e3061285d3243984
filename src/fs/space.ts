// Space allocation (btrfs extent-tree.c find_free_extent, volumes.c btrfs_create_chunk):
// extents come from the in-memory free space of block groups of the wanted type; when none
// has room, a new chunk is made in memory and its items are written at commit
// (createPendingBlockGroups), as btrfs does with its pending block groups.
import { BlockGroupFlags, BLOCK_GROUP_PROFILE_MASK } from '../format/constants.js';
import { FsError } from '../util/errors.js';
import { RangeSet } from '../util/range-set.js';
import { profileOfFlags } from '../volume/raid.js';
import { STRIPE_LEN } from '../format/constants.js';
import type { ChunkMapping } from '../volume/volumes.js';
import { BlockGroup } from './block-group.js';
import type { FsInfo } from './fs-info.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Per type: the largest stripe btrfs makes (init_alloc_chunk_ctl_policy_regular). */
function maxStripeBytes(type: number, totalBytes: number): number {
  if (type & BlockGroupFlags.DATA) return GiB;
  if (type & BlockGroupFlags.SYSTEM) return 32 * MiB;
  return totalBytes > 50 * GiB ? GiB : 256 * MiB;
}

/** The profile bits new chunks of `type` get: those of the existing groups of that type. */
export function profileFor(fs: FsInfo, type: number): number {
  const existing = fs.blockGroups.ofType(type)[0];
  if (existing) return existing.flags & BLOCK_GROUP_PROFILE_MASK;
  return type & BlockGroupFlags.DATA ? 0 : BlockGroupFlags.DUP;
}

/** Allocates `len` bytes aligned to `align` in a block group of `type`. */
export function allocateSpace(fs: FsInfo, type: number, len: number, align: number): number {
  for (const bg of fs.blockGroups.ofType(type)) {
    const at = tryAllocIn(bg, len, align);
    if (at >= 0) return at;
  }
  const bg = createChunk(fs, type, profileFor(fs, type));
  const at = tryAllocIn(bg, len, align);
  if (at < 0) throw new FsError('ENOSPC', `new ${type} chunk cannot hold ${len} bytes`);
  return at;
}

/**
 * Allocates between `minLen` and `maxLen` bytes (multiples of `align`) in a block group of
 * `type`, as btrfs_reserve_extent does for data: the whole of maxLen if any group (or one
 * new chunk) has it contiguous, else halving the request down to minLen. At most one chunk
 * is created per call, so a fragmented filesystem does not fill its devices with chunks
 * that each fail the request. ENOSPC when not even minLen fits.
 */
export function allocateSpaceRange(fs: FsInfo, type: number, maxLen: number, minLen: number, align: number): { start: number; length: number } {
  let len = Math.floor(maxLen / align) * align;
  if (len < minLen || minLen <= 0) throw new FsError('EINVAL', `allocation of ${minLen}..${maxLen} bytes`);
  let chunkTried = false;
  // Bounded: len halves each round until it reaches minLen.
  for (;;) {
    for (const bg of fs.blockGroups.ofType(type)) {
      const at = tryAllocIn(bg, len, align);
      if (at >= 0) return { start: at, length: len };
    }
    if (!chunkTried) {
      chunkTried = true;
      let bg: BlockGroup | undefined;
      try {
        bg = createChunk(fs, type, profileFor(fs, type));
      } catch (e) {
        if (!(e instanceof FsError && e.code === 'ENOSPC')) throw e;
      }
      if (bg) {
        const at = tryAllocIn(bg, len, align);
        if (at >= 0) return { start: at, length: len };
      }
    }
    if (len === minLen) throw new FsError('ENOSPC', `no ${minLen} contiguous bytes free for type 0x${type.toString(16)}`);
    len = Math.max(minLen, Math.floor(len / 2 / align) * align);
  }
}

function tryAllocIn(bg: BlockGroup, len: number, align: number): number {
  if (!bg.free) return -1;
  let at = bg.free.findFree(len, align, bg.cursor);
  if (at < 0 && bg.cursor > bg.start) at = bg.free.findFree(len, align, bg.start);
  if (at < 0) return -1;
  bg.free.remove(at, len);
  bg.cursor = at + len;
  return at;
}

/**
 * Makes a new chunk and block group of `type` with `profile` bits, in memory, on the
 * devices with the most free space. ENOSPC when the devices cannot hold it.
 */
export function createChunk(fs: FsInfo, type: number, profile: number, wantStripeBytes?: number): BlockGroup {
  const p = profileOfFlags(profile);
  if (!p.implemented || p.nparity > 0) throw new FsError('EOPNOTSUPP', `${p.name} chunks cannot be allocated yet`);
  const devs = [...fs.volumes.devices.values()].filter((d) => d.device);
  const stripesPerDev = p.name === 'dup' ? 2 : 1;
  const numStripes = p.name === 'dup' ? 2 : p.devsMax === 0 ? devs.length : Math.min(p.devsMax, devs.length);
  if (devs.length < p.devsMin || numStripes < p.devsMin) throw new FsError('ENOSPC', `${p.name} needs ${p.devsMin} devices, have ${devs.length}`);
  let stripeBytes = wantStripeBytes ?? Math.min(maxStripeBytes(type, fs.sb.totalBytes), Math.max(8 * MiB, Math.floor(fs.sb.totalBytes / 10 / MiB) * MiB));
  // Halve until the stripes fit (bounded: stops below 1 MiB).
  for (; stripeBytes >= MiB; stripeBytes = Math.floor(stripeBytes / 2 / MiB) * MiB) {
    const stripes = placeStripes(fs, devs.map((d) => d.devid), numStripes, stripesPerDev, stripeBytes);
    if (!stripes) continue;
    const dataStripes = p.name === 'raid0' ? numStripes : p.name === 'raid10' ? numStripes / 2 : 1;
    const length = stripeBytes * dataStripes;
    const start = Math.max(MiB, ...fs.volumes.allChunks().map((c) => c.start + c.length));
    const map: ChunkMapping = {
      start, length, type: type | profile, stripeLen: STRIPE_LEN, ioAlign: STRIPE_LEN, ioWidth: STRIPE_LEN,
      sectorSize: fs.sectorsize, subStripes: p.name === 'raid10' ? 2 : 1,
      stripes: stripes.map((s) => ({ devid: s.devid, physical: s.physical, devUuid: fs.volumes.devices.get(s.devid)!.uuid })),
    };
    fs.volumes.addChunk(map);
    for (const s of stripes) fs.volumes.devices.get(s.devid)!.item.bytesUsed += stripeBytes;
    const bg = newBlockGroup(fs, map, 0);
    bg.pendingCreate = true;
    bg.dirty = true;
    fs.blockGroups.add(bg);
    return bg;
  }
  throw new FsError('ENOSPC', `no room on the devices for a new chunk (type 0x${type.toString(16)})`);
}

function placeStripes(fs: FsInfo, devids: number[], numStripes: number, perDev: number, size: number): { devid: number; physical: number }[] | undefined {
  const out: { devid: number; physical: number }[] = [];
  const taken = new Map<number, { start: number; length: number }[]>();
  // Devices ordered by free bytes, most first (btrfs sorts by max_avail).
  const order = devids
    .map((id) => ({ id, free: fs.volumes.devices.get(id)!.item.totalBytes - fs.volumes.devices.get(id)!.item.bytesUsed }))
    .sort((a, b) => b.free - a.free);
  for (const { id } of order) {
    for (let k = 0; k < perDev && out.length < numStripes; k++) {
      const extra = taken.get(id) ?? [];
      const at = fs.volumes.findFreeDevExtent(id, size, fs.volumes.devices.get(id)!.item.totalBytes, extra);
      if (at === undefined) break;
      extra.push({ start: at, length: size });
      taken.set(id, extra);
      out.push({ devid: id, physical: at });
    }
    if (out.length === numStripes) return out;
  }
  return undefined;
}

/** A block group for chunk `map` with free space = all of it but `used`-less super stripes. */
export function newBlockGroup(fs: FsInfo, map: ChunkMapping, used: number): BlockGroup {
  const bg = new BlockGroup(map.start, map.length, map.type, used);
  bg.superRanges = fs.volumes.superStripeRanges(map);
  bg.free = new RangeSet();
  bg.free.add(map.start, map.length);
  for (const r of bg.superRanges) bg.free.removeAny(r.start, r.length);
  return bg;
}

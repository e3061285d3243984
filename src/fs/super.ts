// The superblock (btrfs disk-io.c btrfs_read_dev_super / write_all_supers, and
// btrfs_validate_super): finding the newest valid copy among the mirrors, validating it,
// the sys_chunk_array, backup root rotation, and writing every copy.
//
// Fault model: any copy may be torn, rotten or stale; a copy is used only when its
// checksum, magic and bytenr hold. Writing: the caller flushes every device before (so the
// trees a superblock names are durable first) and after (so the commit is durable).
import type { BlockDevice } from '../device/block-device.js';
import { SuperBlock, RootBackup, Chunk, chunkItemSize } from '../format/structs.js';
import {
  SUPER_INFO_SIZE, SUPER_MIRROR_MAX, SUPER_MAGIC_STRING, SYSTEM_CHUNK_ARRAY_SIZE, superblockOffset, IncompatFlags,
  CompatRoFlags, MIN_NODESIZE, MAX_NODESIZE, ItemType, FIRST_CHUNK_TREE_OBJECTID, MAX_LEVEL, NUM_BACKUP_ROOTS,
} from '../format/constants.js';
import { DISK_KEY_SIZE, Key, readDiskKey, writeDiskKey } from '../format/key.js';
import { viewOf } from '../format/struct.js';
import { checksumInto, checksumMatches, csumTypeById } from '../kernels/checksum.js';
import { FsError } from '../util/errors.js';
import { decodeChunk, encodeChunk, type ChunkMapping } from '../volume/volumes.js';

/** Incompat features butterfs reads and writes. A superblock with any other bit is refused. */
export const SUPPORTED_INCOMPAT =
  IncompatFlags.MIXED_BACKREF | IncompatFlags.DEFAULT_SUBVOL | IncompatFlags.BIG_METADATA | IncompatFlags.EXTENDED_IREF |
  IncompatFlags.SKINNY_METADATA | IncompatFlags.NO_HOLES | IncompatFlags.COMPRESS_LZO | IncompatFlags.COMPRESS_ZSTD;
/** compat_ro features we can write; others allow a read-only mount only. */
export const SUPPORTED_COMPAT_RO = CompatRoFlags.FREE_SPACE_TREE | CompatRoFlags.FREE_SPACE_TREE_VALID;

const MAGIC = new TextEncoder().encode(SUPER_MAGIC_STRING);

export function superMirrorCount(deviceBytes: number): number {
  let n = 0;
  for (let m = 0; m < SUPER_MIRROR_MAX; m++) if (superblockOffset(m) + SUPER_INFO_SIZE <= deviceBytes) n++;
  return n;
}

/** Why a raw superblock copy is unusable, or null when it is sound. */
export function superCopyProblem(raw: Uint8Array, expectedBytenr: number): string | null {
  for (let i = 0; i < 8; i++) if (raw[0x40 + i] !== MAGIC[i]) return 'bad magic';
  const dv = viewOf(raw);
  const csumType = dv.getUint16(SuperBlock.off.csumType, true);
  let alg;
  try {
    alg = csumTypeById(csumType).name;
  } catch {
    return `unknown csum type ${csumType}`;
  }
  if (!checksumMatches(alg, raw, 32, SUPER_INFO_SIZE - 32, raw, 0)) return 'checksum mismatch';
  const bytenrLo = dv.getUint32(SuperBlock.off.bytenr, true);
  const bytenrHi = dv.getUint32(SuperBlock.off.bytenr + 4, true);
  if (bytenrHi * 2 ** 32 + bytenrLo !== expectedBytenr) return `bytenr field ${bytenrHi * 2 ** 32 + bytenrLo} is not its offset ${expectedBytenr}`;
  return null;
}

export interface SuperCandidate {
  sb: SuperBlock;
  mirror: number;
}

/**
 * The newest valid superblock copy on `dev`, or a clear error listing what was wrong with each.
 * `maxGeneration` restricts to copies no newer than it (used by rescue paths).
 */
export async function readSuper(dev: BlockDevice): Promise<SuperCandidate> {
  const problems: string[] = [];
  let best: SuperCandidate | undefined;
  const n = superMirrorCount(dev.sizeBytes);
  if (n === 0) throw new FsError('EINVAL', `device of ${dev.sizeBytes} bytes is too small to hold a btrfs superblock`);
  for (let m = 0; m < n; m++) {
    const off = superblockOffset(m);
    let raw: Uint8Array;
    try {
      raw = await dev.read(off, SUPER_INFO_SIZE);
    } catch (e) {
      problems.push(`copy ${m} at ${off}: ${(e as Error).message}`);
      continue;
    }
    const p = superCopyProblem(raw, off);
    if (p) {
      problems.push(`copy ${m} at ${off}: ${p}`);
      continue;
    }
    const sb = SuperBlock.decode(viewOf(raw), 0);
    if (!best || sb.generation > best.sb.generation) best = { sb, mirror: m };
  }
  if (!best) throw new FsError('EINVAL', `no valid btrfs superblock: ${problems.join('; ')}`);
  return best;
}

/** btrfs_validate_super: geometry and feature checks on a checksum-valid superblock. */
export function validateSuper(sb: SuperBlock): void {
  const bad = (why: string) => new FsError('EUCLEAN', `superblock: ${why}`);
  const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
  if (!pow2(sb.sectorsize) || sb.sectorsize < 4096 || sb.sectorsize > 65536) throw bad(`invalid sectorsize ${sb.sectorsize}`);
  if (!pow2(sb.nodesize) || sb.nodesize < sb.sectorsize || sb.nodesize < MIN_NODESIZE || sb.nodesize > MAX_NODESIZE) {
    throw bad(`invalid nodesize ${sb.nodesize}`);
  }
  const incompatUnknown = sb.incompatFlags - (sb.incompatFlags & SUPPORTED_INCOMPAT) ;
  if (incompatUnknown !== 0) {
    throw new FsError('EINVAL', `superblock has unsupported incompat features 0x${incompatUnknown.toString(16)}`);
  }
  for (const [what, v] of [['root', sb.root], ['chunk_root', sb.chunkRoot]] as const) {
    if (v === 0 || v % sb.sectorsize !== 0) throw bad(`${what} ${v} is not sector aligned`);
  }
  if (sb.rootLevel >= MAX_LEVEL || sb.chunkRootLevel >= MAX_LEVEL || sb.logRootLevel >= MAX_LEVEL) throw bad('tree level too high');
  if (sb.sysChunkArraySize > SYSTEM_CHUNK_ARRAY_SIZE) throw bad(`sys_chunk_array_size ${sb.sysChunkArraySize} too large`);
  if (sb.numDevices === 0) throw bad('num_devices is 0');
  if (sb.generation === 0) throw bad('generation is 0');
  if (sb.totalBytes === 0) throw bad('total_bytes is 0');
  if (!sb.fsid.some((b) => b !== 0)) throw bad('fsid is zero');
}

/** The (key, chunk) pairs of sys_chunk_array (btrfs_read_sys_array). */
export function parseSysChunkArray(sb: SuperBlock): ChunkMapping[] {
  const arr = sb.sysChunkArray;
  const dv = viewOf(arr);
  const out: ChunkMapping[] = [];
  let off = 0;
  // Bounded by the array size: each entry consumes at least DISK_KEY_SIZE + 80 bytes.
  while (off < sb.sysChunkArraySize) {
    if (off + DISK_KEY_SIZE + Chunk.size > sb.sysChunkArraySize) throw new FsError('EUCLEAN', 'sys_chunk_array: truncated entry');
    const key = readDiskKey(dv, off);
    if (key.type !== ItemType.CHUNK_ITEM || key.objectid !== FIRST_CHUNK_TREE_OBJECTID) {
      throw new FsError('EUCLEAN', `sys_chunk_array: unexpected key ${key}`);
    }
    off += DISK_KEY_SIZE;
    const numStripes = dv.getUint16(off + Chunk.off.numStripes, true);
    const size = chunkItemSize(numStripes);
    if (numStripes === 0 || off + size > sb.sysChunkArraySize) throw new FsError('EUCLEAN', 'sys_chunk_array: bad stripe count');
    out.push(decodeChunk(key.offset, arr.subarray(off, off + size)));
    off += size;
  }
  return out;
}

/** Encodes SYSTEM chunks into sys_chunk_array; ENOSPC past 2048 bytes, as btrfs. */
export function buildSysChunkArray(chunks: ChunkMapping[]): { array: Uint8Array; size: number } {
  const array = new Uint8Array(SYSTEM_CHUNK_ARRAY_SIZE);
  const dv = viewOf(array);
  let off = 0;
  for (const c of chunks) {
    const item = encodeChunk(c);
    if (off + DISK_KEY_SIZE + item.length > SYSTEM_CHUNK_ARRAY_SIZE) throw new FsError('ENOSPC', 'sys_chunk_array is full');
    writeDiskKey(dv, off, Key.of(FIRST_CHUNK_TREE_OBJECTID, ItemType.CHUNK_ITEM, c.start));
    array.set(item, off + DISK_KEY_SIZE);
    off += DISK_KEY_SIZE + item.length;
  }
  return { array, size: off };
}

export function backupRoot(sb: SuperBlock, i: number): RootBackup {
  return [sb.superRoots0, sb.superRoots1, sb.superRoots2, sb.superRoots3][i]!;
}
export function setBackupRoot(sb: SuperBlock, i: number, b: RootBackup): void {
  if (i === 0) sb.superRoots0 = b;
  else if (i === 1) sb.superRoots1 = b;
  else if (i === 2) sb.superRoots2 = b;
  else sb.superRoots3 = b;
}
/** Slot of the newest backup (the one naming the superblock's generation), or -1. */
export function newestBackupSlot(sb: SuperBlock): number {
  for (let i = 0; i < NUM_BACKUP_ROOTS; i++) if (backupRoot(sb, i).treeRootGen === sb.generation) return i;
  return -1;
}

/** Serializes `sb` for copy `mirror` (bytenr set, checksum computed). */
export function encodeSuper(sb: SuperBlock, mirror: number): Uint8Array {
  const raw = new Uint8Array(SUPER_INFO_SIZE);
  const copy = { ...sb, bytenr: superblockOffset(mirror), magic: MAGIC };
  SuperBlock.encode(viewOf(raw), 0, copy);
  raw.fill(0, 0, 32);
  checksumInto(csumTypeById(sb.csumType).name, raw, 32, SUPER_INFO_SIZE - 32, raw, 0);
  return raw;
}

/** Writes every superblock copy that fits on `dev`. The caller flushes. */
export async function writeSuperCopies(dev: BlockDevice, sb: SuperBlock): Promise<void> {
  const n = superMirrorCount(dev.sizeBytes);
  for (let m = 0; m < n; m++) await dev.write(superblockOffset(m), encodeSuper(sb, m));
}

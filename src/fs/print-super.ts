// The superblock as text, line for line what btrfs-progs v6.2 prints (kernel-shared/print-tree.c
// btrfs_print_superblock, cmds/inspect-dump-super.c for the heading of each copy).
//
// Reads the raw 4096 bytes with BigInt u64s, so a corrupt or foreign superblock is shown as it is
// (unknown flags, unknown checksum type, bad magic) rather than refused.
import { SuperBlock, RootBackup, DevItem, Chunk, Stripe } from '../format/structs.js';
import { viewOf } from '../format/struct.js';
import { readDiskKey, DISK_KEY_SIZE } from '../format/key.js';
import {
  SUPER_INFO_SIZE, SUPER_MAGIC_STRING, SYSTEM_CHUNK_ARRAY_SIZE, NUM_BACKUP_ROOTS, LABEL_SIZE, ItemType, IncompatFlags,
  CompatRoFlags, HEADER_FLAG_WRITTEN, HEADER_FLAG_RELOC, SUPER_FLAG_SEEDING, SUPER_FLAG_METADUMP, SUPER_FLAG_CHANGING_FSID,
  superblockOffset,
} from '../format/constants.js';
import { CSUM_TYPES, checksumMatches, kernelsLoaded } from '../kernels/checksum.js';
import { FsError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import type { FsInfo } from './fs-info.js';
import { encodeSuper } from './super.js';
import { formatKey, formatUuid, printChunkItem } from './print-tree.js';

const SUPER_FLAG_METADUMP_V2 = 2 ** 34;

interface FlagName {
  bit: bigint;
  name: string;
}
const flag = (bit: number, name: string): FlagName => ({ bit: BigInt(bit), name });

const SUPER_FLAGS: FlagName[] = [
  flag(HEADER_FLAG_WRITTEN, 'WRITTEN'), flag(HEADER_FLAG_RELOC, 'RELOC'), flag(SUPER_FLAG_CHANGING_FSID, 'CHANGING_FSID'),
  flag(SUPER_FLAG_SEEDING, 'SEEDING'), flag(SUPER_FLAG_METADUMP, 'METADUMP'), flag(SUPER_FLAG_METADUMP_V2, 'METADUMP_V2'),
];
const SUPER_FLAGS_SUPP = SUPER_FLAGS.reduce((m, f) => m | f.bit, 0n);

const COMPAT_RO_FLAGS: FlagName[] = [
  flag(CompatRoFlags.FREE_SPACE_TREE, 'FREE_SPACE_TREE'), flag(CompatRoFlags.FREE_SPACE_TREE_VALID, 'FREE_SPACE_TREE_VALID'),
  flag(CompatRoFlags.BLOCK_GROUP_TREE, 'BLOCK_GROUP_TREE'),
];
/** BTRFS_FEATURE_COMPAT_RO_SUPP of progs v6.2 (VERITY is supported but has no name in the list). */
const COMPAT_RO_SUPP = BigInt(CompatRoFlags.FREE_SPACE_TREE | CompatRoFlags.FREE_SPACE_TREE_VALID | CompatRoFlags.VERITY |
  CompatRoFlags.BLOCK_GROUP_TREE);

const INCOMPAT_FLAGS: FlagName[] = [
  flag(IncompatFlags.MIXED_BACKREF, 'MIXED_BACKREF'), flag(IncompatFlags.DEFAULT_SUBVOL, 'DEFAULT_SUBVOL'),
  flag(IncompatFlags.MIXED_GROUPS, 'MIXED_GROUPS'), flag(IncompatFlags.COMPRESS_LZO, 'COMPRESS_LZO'),
  flag(IncompatFlags.COMPRESS_ZSTD, 'COMPRESS_ZSTD'), flag(IncompatFlags.BIG_METADATA, 'BIG_METADATA'),
  flag(IncompatFlags.EXTENDED_IREF, 'EXTENDED_IREF'), flag(IncompatFlags.RAID56, 'RAID56'),
  flag(IncompatFlags.SKINNY_METADATA, 'SKINNY_METADATA'), flag(IncompatFlags.NO_HOLES, 'NO_HOLES'),
  flag(IncompatFlags.METADATA_UUID, 'METADATA_UUID'), flag(IncompatFlags.RAID1C34, 'RAID1C34'),
  flag(IncompatFlags.ZONED, 'ZONED'), flag(IncompatFlags.EXTENT_TREE_V2, 'EXTENT_TREE_V2'),
];
/** BTRFS_FEATURE_INCOMPAT_SUPP of progs v6.2 as Debian builds it (no experimental features). */
const INCOMPAT_SUPP = BigInt(IncompatFlags.MIXED_BACKREF | IncompatFlags.DEFAULT_SUBVOL | IncompatFlags.MIXED_GROUPS |
  IncompatFlags.BIG_METADATA | IncompatFlags.COMPRESS_LZO | IncompatFlags.COMPRESS_ZSTD | IncompatFlags.RAID56 |
  IncompatFlags.EXTENDED_IREF | IncompatFlags.SKINNY_METADATA | IncompatFlags.NO_HOLES | IncompatFlags.RAID1C34 |
  IncompatFlags.METADATA_UUID | IncompatFlags.ZONED);

/**
 * __print_readable_flag: "\t\t\t( A |\n\t\t\t  B )". progs names a known bit only when the word
 * has some supported bit, and lists unsupported bits (named or not) once more as unknown.
 */
function readableFlags(out: string[], word: bigint, names: FlagName[], supported: bigint): void {
  if (!word) return;
  const parts: string[] = [];
  for (const f of names) if ((word & supported) && (word & f.bit)) parts.push(`${f.name} `);
  const unknown = word & ~supported;
  if (unknown) parts.push(`unknown flag: 0x${unknown.toString(16)} `);
  out.push(`\t\t\t( ${parts.join('|\n\t\t\t  ')})\n`);
}

/** isprint() over ASCII: anything else shows as '.'. */
function printable(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
  return s;
}

function hexBytes(b: Uint8Array, start: number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += b[start + i]!.toString(16).padStart(2, '0');
  return s;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** print_sys_chunk_array. */
function printSysChunkArray(out: string[], raw: Uint8Array, arraySize: number): void {
  // Errors go to stderr in progs; here they end the list.
  if (arraySize > SYSTEM_CHUNK_ARRAY_SIZE) return;
  const base = SuperBlock.off.sysChunkArray;
  const dv = viewOf(raw);
  let cur = 0;
  for (let item = 0; cur < arraySize; item++) {
    if (cur + DISK_KEY_SIZE > arraySize) return;
    const key = readDiskKey(dv, base + cur);
    cur += DISK_KEY_SIZE;
    out.push(`\titem ${item} ${formatKey(key)}\n`);
    if (key.type !== ItemType.CHUNK_ITEM) return;
    if (cur + Chunk.size + Stripe.size > arraySize) return;
    const numStripes = dv.getUint16(base + cur + Chunk.off.numStripes, true);
    if (numStripes === 0) return;
    const len = Chunk.size + numStripes * Stripe.size;
    if (cur + len > arraySize) return;
    printChunkItem(out, raw, base + cur);
    cur += len;
  }
}

/** print_root_backup for every used slot. */
function printBackupRoots(out: string[], dv: DataView, extentTreeV2: boolean): void {
  const o = RootBackup.off;
  const u64 = (off: number) => dv.getBigUint64(off, true);
  for (let i = 0; i < NUM_BACKUP_ROOTS; i++) {
    const b = SuperBlock.off.superRoots0 + i * RootBackup.size;
    if (u64(b + o.treeRoot) === 0n && u64(b + o.treeRootGen) === 0n) continue;
    const line = (name: string, root: number, gen: number, level: number) =>
      `\t\t${name}\t${u64(b + root)}\tgen: ${u64(b + gen)}\tlevel: ${dv.getUint8(b + level)}\n`;
    out.push(
      `\tbackup ${i}:\n`,
      line('backup_tree_root:', o.treeRoot, o.treeRootGen, o.treeRootLevel),
      line('backup_chunk_root:', o.chunkRoot, o.chunkRootGen, o.chunkRootLevel),
      line(extentTreeV2 ? 'backup_block_group_root:' : 'backup_extent_root:', o.extentRoot, o.extentRootGen, o.extentRootLevel),
      line('backup_fs_root:\t', o.fsRoot, o.fsRootGen, o.fsRootLevel),
      line('backup_dev_root:', o.devRoot, o.devRootGen, o.devRootLevel),
      line('csum_root:', o.csumRoot, o.csumRootGen, o.csumRootLevel),
      `\t\tbackup_total_bytes:\t${u64(b + o.totalBytes)}\n`,
      `\t\tbackup_bytes_used:\t${u64(b + o.bytesUsed)}\n`,
      `\t\tbackup_num_devices:\t${u64(b + o.numDevices)}\n`,
      '\n',
    );
  }
}

/** btrfs_print_superblock over the raw bytes of one superblock copy. Checksum kernels must be loaded. */
export function printSuperblock(raw: Uint8Array, full = false): string {
  if (raw.length < SUPER_INFO_SIZE) throw new FsError('EINVAL', `a superblock is ${SUPER_INFO_SIZE} bytes, got ${raw.length}`);
  assert(kernelsLoaded(), 'printSuperblock before loadKernels() resolved');
  const dv = viewOf(raw);
  const o = SuperBlock.off;
  const u64 = (off: number) => dv.getBigUint64(off, true);
  const u32 = (off: number) => dv.getUint32(off, true);
  const out: string[] = [];
  const incompat = u64(o.incompatFlags);
  const metadataUuid = (incompat & BigInt(IncompatFlags.METADATA_UUID)) !== 0n;

  const csumType = dv.getUint16(o.csumType, true);
  const type = CSUM_TYPES[csumType];
  const csumSize = type ? type.sizeBytes : 32;
  out.push(`csum_type\t\t${csumType} (${type ? type.displayName : 'INVALID'})\n`);
  out.push(`csum_size\t\t${csumSize}\n`);
  const match = type ? (checksumMatches(type.name, raw, 32, SUPER_INFO_SIZE - 32, raw, 0) ? ' [match]' : " [DON'T MATCH]") : ' [UNKNOWN CSUM TYPE OR SIZE]';
  out.push(`csum\t\t\t0x${hexBytes(raw, o.csum, csumSize)}${match}\n`);
  out.push(`bytenr\t\t\t${u64(o.bytenr)}\n`);
  const flags = u64(o.flags);
  out.push(`flags\t\t\t0x${flags.toString(16)}\n`);
  readableFlags(out, flags, SUPER_FLAGS, SUPER_FLAGS_SUPP);
  const magic = raw.subarray(o.magic, o.magic + 8);
  out.push(`magic\t\t\t${printable(magic)}${printable(magic) === SUPER_MAGIC_STRING ? ' [match]' : " [DON'T MATCH]"}\n`);
  const fsid = formatUuid(raw, o.fsid);
  out.push(`fsid\t\t\t${fsid}\n`);
  out.push(`metadata_uuid\t\t${metadataUuid ? formatUuid(raw, o.metadataUuid) : fsid}\n`);
  let labelEnd = o.label;
  while (labelEnd < o.label + LABEL_SIZE && raw[labelEnd] !== 0) labelEnd++;
  out.push(`label\t\t\t${printable(raw.subarray(o.label, labelEnd))}\n`);
  out.push(
    `generation\t\t${u64(o.generation)}\n`,
    `root\t\t\t${u64(o.root)}\n`,
    `sys_array_size\t\t${u32(o.sysChunkArraySize)}\n`,
    `chunk_root_generation\t${u64(o.chunkRootGeneration)}\n`,
    `root_level\t\t${dv.getUint8(o.rootLevel)}\n`,
    `chunk_root\t\t${u64(o.chunkRoot)}\n`,
    `chunk_root_level\t${dv.getUint8(o.chunkRootLevel)}\n`,
    `log_root\t\t${u64(o.logRoot)}\n`,
    `log_root_transid (deprecated)\t${u64(o.unusedLogRootTransid)}\n`,
    `log_root_level\t\t${dv.getUint8(o.logRootLevel)}\n`,
    `total_bytes\t\t${u64(o.totalBytes)}\n`,
    `bytes_used\t\t${u64(o.bytesUsed)}\n`,
    `sectorsize\t\t${u32(o.sectorsize)}\n`,
    `nodesize\t\t${u32(o.nodesize)}\n`,
    `leafsize (deprecated)\t${u32(o.unusedLeafsize)}\n`,
    `stripesize\t\t${u32(o.stripesize)}\n`,
    `root_dir\t\t${u64(o.rootDirObjectid)}\n`,
    `num_devices\t\t${u64(o.numDevices)}\n`,
    `compat_flags\t\t0x${u64(o.compatFlags).toString(16)}\n`,
  );
  const compatRo = u64(o.compatRoFlags);
  out.push(`compat_ro_flags\t\t0x${compatRo.toString(16)}\n`);
  readableFlags(out, compatRo, COMPAT_RO_FLAGS, COMPAT_RO_SUPP);
  out.push(`incompat_flags\t\t0x${incompat.toString(16)}\n`);
  readableFlags(out, incompat, INCOMPAT_FLAGS, INCOMPAT_SUPP);
  out.push(
    `cache_generation\t${u64(o.cacheGeneration)}\n`,
    `uuid_tree_generation\t${u64(o.uuidTreeGeneration)}\n`,
  );
  const d = o.devItem;
  const dev = (field: keyof typeof DevItem.off) => d + DevItem.off[field];
  out.push(`dev_item.uuid\t\t${formatUuid(raw, dev('uuid'))}\n`);
  const devFsid = raw.subarray(dev('fsid'), dev('fsid') + 16);
  const want = metadataUuid ? raw.subarray(o.metadataUuid, o.metadataUuid + 16) : raw.subarray(o.fsid, o.fsid + 16);
  out.push(`dev_item.fsid\t\t${formatUuid(devFsid)} ${equalBytes(devFsid, want) ? '[match]' : "[DON'T MATCH]"}\n`);
  out.push(
    `dev_item.type\t\t${u64(dev('type'))}\n`,
    `dev_item.total_bytes\t${u64(dev('totalBytes'))}\n`,
    `dev_item.bytes_used\t${u64(dev('bytesUsed'))}\n`,
    `dev_item.io_align\t${u32(dev('ioAlign'))}\n`,
    `dev_item.io_width\t${u32(dev('ioWidth'))}\n`,
    `dev_item.sector_size\t${u32(dev('sectorSize'))}\n`,
    `dev_item.devid\t\t${u64(dev('devid'))}\n`,
    `dev_item.dev_group\t${u32(dev('devGroup'))}\n`,
    `dev_item.seek_speed\t${dv.getUint8(dev('seekSpeed'))}\n`,
    `dev_item.bandwidth\t${dv.getUint8(dev('bandwidth'))}\n`,
    `dev_item.generation\t${u64(dev('generation'))}\n`,
  );
  if (full) {
    out.push(`sys_chunk_array[${SYSTEM_CHUNK_ARRAY_SIZE}]:\n`);
    printSysChunkArray(out, raw, u32(o.sysChunkArraySize));
    out.push(`backup_roots[${NUM_BACKUP_ROOTS}]:\n`);
    printBackupRoots(out, dv, (incompat & BigInt(IncompatFlags.EXTENT_TREE_V2)) !== 0n);
  }
  return out.join('');
}

export interface DumpSuperOptions {
  /** -f: the sys_chunk_array and the backup roots too. */
  full?: boolean;
  /** The device name for the heading line, as given to progs. */
  device?: string;
  /** Which copy the bytes are (0, 1, 2) for the heading's bytenr; 0 by default. */
  mirror?: number;
}

/**
 * One copy as `btrfs inspect-internal dump-super [-f] DEVICE` prints it (without progs' version
 * line): the heading, the superblock, and a blank line.
 *
 * From an FsInfo, the superblock in memory is encoded as the primary copy would be written now,
 * so its checksum always matches; give the raw bytes read from a device to check a copy on disk.
 */
export function dumpSuper(input: FsInfo | Uint8Array, opts: DumpSuperOptions = {}): string {
  const mirror = opts.mirror ?? 0;
  const raw = input instanceof Uint8Array ? input : encodeSuper(input.sb, mirror);
  const heading = `superblock: bytenr=${superblockOffset(mirror)}, device=${opts.device ?? ''}\n` +
    '---------------------------------------------------------\n';
  return heading + printSuperblock(raw, opts.full ?? false) + '\n';
}

// Tree blocks as text, line for line what btrfs-progs v6.2 prints (kernel-shared/print-tree.c:
// btrfs_print_leaf, btrfs_print_tree, btrfs_print_key; cmds/inspect-dump-tree.c for the order
// and headings of `btrfs inspect-internal dump-tree`), so a dump of a butterfs image and of the
// same image through btrfs-progs can be compared with diff.
//
// Reading is through fs.readBlock (the verifying choke point), so a dump never shows a block
// that failed its checksum or tree-checker; the block is reported instead (onError) or the dump
// stops with the error. Item bodies are read with BigInt u64s: a dump must show any 64-bit
// pattern a corrupt or foreign image holds, not refuse it as the number form (u64.ts) does.
// Names are bytes; they are shown as UTF-8 (what a terminal shows for progs' raw bytes), and,
// as printf("%.*s") does, end at the first NUL.
import { Key } from '../format/key.js';
import { struct, viewOf } from '../format/struct.js';
import {
  BlockGroupItem, Chunk, DevExtent, DevItem, DirItem, ExtentDataRef, ExtentInlineRef, ExtentItem, FileExtentItem,
  FreeSpaceInfo, Header, InodeExtref, InodeItem, InodeRef, QgroupInfo, QgroupLimit, QgroupStatus, RootItem, RootRef,
  SharedDataRef, Stripe, TreeBlockInfo, FILE_EXTENT_INLINE_DATA_START,
} from '../format/structs.js';
import {
  ItemType, BlockGroupFlags, BLOCK_GROUP_PROFILE_MASK, EXTENT_FLAG_DATA, EXTENT_FLAG_TREE_BLOCK, BLOCK_FLAG_FULL_BACKREF,
  HEADER_FLAG_WRITTEN, HEADER_FLAG_RELOC, FileExtentType, CompressionType, ROOT_SUBVOL_RDONLY, CHUNK_TREE_OBJECTID,
  ROOT_TREE_OBJECTID, TREE_LOG_OBJECTID, CSUM_SIZE,
} from '../format/constants.js';
import { csumTypeByName } from '../kernels/checksum.js';
import { ExtentBuffer, HEADER_SIZE, leafDataSize, nodePtrsPerBlock } from '../tree/extent-buffer.js';
import { iterItems } from '../tree/ctree.js';
import type { TreeRoot } from '../tree/tree-host.js';
import { FsError } from '../util/errors.js';
import type { FsInfo } from './fs-info.js';

// ---- structs btrfs-progs prints that structs.ts does not declare (yet)

/** btrfs_dir_log_item. */
const DirLogItem = struct('btrfs_dir_log_item', 8, { end: 'u64' });
/** btrfs_free_space_header (the v1 space cache's header, keyed (FREE_SPACE_OBJECTID, 0, offset)). */
const FreeSpaceHeader = struct('btrfs_free_space_header', 41, {
  location: 'key', generation: 'u64', numEntries: 'u64', numBitmaps: 'u64',
});
/** btrfs_disk_balance_args. */
const DiskBalanceArgs = struct('btrfs_disk_balance_args', 136, {
  profiles: 'u64', usageMin: 'u32', usageMax: 'u32', devid: 'u64', pstart: 'u64', pend: 'u64', vstart: 'u64',
  vend: 'u64', target: 'u64', flags: 'u64', limitMin: 'u32', limitMax: 'u32', stripesMin: 'u32', stripesMax: 'u32',
  unused: { bytes: 48 },
});
/** btrfs_balance_item. */
const BalanceItem = struct('btrfs_balance_item', 448, {
  flags: 'u64', data: DiskBalanceArgs, meta: DiskBalanceArgs, sys: DiskBalanceArgs, unused: { bytes: 32 },
});

/** BTRFS_CSUM_ITEM_KEY: the old csum item type, named by progs but never written. */
const CSUM_ITEM_KEY = 120;
/** Values of BTRFS_DEV_STAT_*: write, read, flush, corruption, generation errors. */
const DEV_STAT_VALUES_MAX = 5;
const BACKREF_REV_MASK_HI = 0xff00_0000;

// ---- u64 as BigInt

const U64_MINUS_1 = 0xffff_ffff_ffff_ffffn;
const u64 = (dv: DataView, off: number): bigint => dv.getBigUint64(off, true);
/** A number-form u64 (negative = near 2^64) as the unsigned BigInt it stands for. */
const big = (n: number): bigint => BigInt.asUintN(64, BigInt(n));
const keyObjectid = (k: Key): bigint => (BigInt(k.objHi) << 32n) | BigInt(k.objLo);
const keyOffset = (k: Key): bigint => (BigInt(k.offHi) << 32n) | BigInt(k.offLo);
const hex16 = (v: bigint): string => v.toString(16).padStart(16, '0');

// ---- names (print_objectid, print_key_type)

const KEY_TYPE_NAMES = new Map<number, string>([
  [ItemType.INODE_ITEM, 'INODE_ITEM'], [ItemType.INODE_REF, 'INODE_REF'], [ItemType.INODE_EXTREF, 'INODE_EXTREF'],
  [ItemType.DIR_ITEM, 'DIR_ITEM'], [ItemType.DIR_INDEX, 'DIR_INDEX'], [ItemType.DIR_LOG_ITEM, 'DIR_LOG_ITEM'],
  [ItemType.DIR_LOG_INDEX, 'DIR_LOG_INDEX'], [ItemType.XATTR_ITEM, 'XATTR_ITEM'],
  [ItemType.VERITY_DESC_ITEM, 'VERITY_DESC_ITEM'], [ItemType.VERITY_MERKLE_ITEM, 'VERITY_MERKLE_ITEM'],
  [ItemType.ORPHAN_ITEM, 'ORPHAN_ITEM'], [ItemType.ROOT_ITEM, 'ROOT_ITEM'], [ItemType.ROOT_REF, 'ROOT_REF'],
  [ItemType.ROOT_BACKREF, 'ROOT_BACKREF'], [ItemType.EXTENT_ITEM, 'EXTENT_ITEM'], [ItemType.METADATA_ITEM, 'METADATA_ITEM'],
  [ItemType.TREE_BLOCK_REF, 'TREE_BLOCK_REF'], [ItemType.SHARED_BLOCK_REF, 'SHARED_BLOCK_REF'],
  [ItemType.EXTENT_DATA_REF, 'EXTENT_DATA_REF'], [ItemType.SHARED_DATA_REF, 'SHARED_DATA_REF'],
  [ItemType.EXTENT_REF_V0, 'EXTENT_REF_V0'], [CSUM_ITEM_KEY, 'CSUM_ITEM'], [ItemType.EXTENT_CSUM, 'EXTENT_CSUM'],
  [ItemType.EXTENT_DATA, 'EXTENT_DATA'], [ItemType.BLOCK_GROUP_ITEM, 'BLOCK_GROUP_ITEM'],
  [ItemType.FREE_SPACE_INFO, 'FREE_SPACE_INFO'], [ItemType.FREE_SPACE_EXTENT, 'FREE_SPACE_EXTENT'],
  [ItemType.FREE_SPACE_BITMAP, 'FREE_SPACE_BITMAP'], [ItemType.CHUNK_ITEM, 'CHUNK_ITEM'], [ItemType.DEV_ITEM, 'DEV_ITEM'],
  [ItemType.DEV_EXTENT, 'DEV_EXTENT'], [ItemType.TEMPORARY_ITEM, 'TEMPORARY_ITEM'], [ItemType.DEV_REPLACE, 'DEV_REPLACE'],
  [ItemType.STRING_ITEM, 'STRING_ITEM'], [ItemType.QGROUP_STATUS, 'QGROUP_STATUS'],
  [ItemType.QGROUP_RELATION, 'QGROUP_RELATION'], [ItemType.QGROUP_INFO, 'QGROUP_INFO'],
  [ItemType.QGROUP_LIMIT, 'QGROUP_LIMIT'], [ItemType.PERSISTENT_ITEM, 'PERSISTENT_ITEM'],
  [ItemType.UUID_KEY_SUBVOL, 'UUID_KEY_SUBVOL'], [ItemType.UUID_KEY_RECEIVED_SUBVOL, 'UUID_KEY_RECEIVED_SUBVOL'],
]);

/** Objectids progs names whatever the key type, as unsigned u64. */
const OBJECTID_NAMES = new Map<bigint, string>([
  [2n, 'EXTENT_TREE'], [3n, 'CHUNK_TREE'], [4n, 'DEV_TREE'], [5n, 'FS_TREE'], [6n, 'ROOT_TREE_DIR'], [7n, 'CSUM_TREE'],
  [big(-4), 'BALANCE'], [big(-5), 'ORPHAN'], [big(-6), 'TREE_LOG'], [big(-7), 'LOG_FIXUP'], [big(-8), 'TREE_RELOC'],
  [big(-9), 'DATA_RELOC_TREE'], [big(-10), 'EXTENT_CSUM'], [big(-11), 'FREE_SPACE'], [big(-12), 'FREE_INO'],
  [8n, 'QUOTA_TREE'], [9n, 'UUID_TREE'], [10n, 'FREE_SPACE_TREE'], [big(-255), 'MULTIPLE'], [11n, 'BLOCK_GROUP_TREE'],
  [U64_MINUS_1, '-1'],
]);
const FREE_SPACE_OBJECTID_U = big(-11);
const TREE_RELOC_OBJECTID_U = big(-8);

const qgroupLevel = (v: bigint): bigint => v >> 48n;
const qgroupSubvolid = (v: bigint): bigint => v & ((1n << 48n) - 1n);

/** print_objectid: an objectid as progs names it; `type` disambiguates. */
export function objectidName(objectid: bigint, type: number): string {
  switch (type) {
    case ItemType.PERSISTENT_ITEM:
      return objectid === 0n ? 'DEV_STATS' : objectid.toString();
    case ItemType.DEV_EXTENT:
      return objectid.toString();
    case ItemType.QGROUP_RELATION:
      return `${qgroupLevel(objectid)}/${qgroupSubvolid(objectid)}`;
    case ItemType.UUID_KEY_SUBVOL:
    case ItemType.UUID_KEY_RECEIVED_SUBVOL:
      return `0x${hex16(objectid)}`;
  }
  if (objectid === 1n) return type === ItemType.DEV_ITEM ? 'DEV_ITEMS' : 'ROOT_TREE';
  const name = OBJECTID_NAMES.get(objectid);
  if (name !== undefined) return name;
  if (objectid === 256n && type === ItemType.CHUNK_ITEM) return 'FIRST_CHUNK_TREE';
  return objectid.toString();
}

/** print_key_type. */
export function keyTypeName(objectid: bigint, type: number): string {
  if (type === 0 && objectid === FREE_SPACE_OBJECTID_U) return 'UNTYPED';
  return KEY_TYPE_NAMES.get(type) ?? `UNKNOWN.${type}`;
}

/** btrfs_print_key: "key (OBJECTID TYPE OFFSET)". */
export function formatKey(k: Key): string {
  const objectid = keyObjectid(k);
  const offset = keyOffset(k);
  let off: string;
  switch (k.type) {
    case ItemType.QGROUP_RELATION:
    case ItemType.QGROUP_INFO:
    case ItemType.QGROUP_LIMIT:
      off = `${qgroupLevel(offset)}/${qgroupSubvolid(offset)}`;
      break;
    case ItemType.UUID_KEY_SUBVOL:
    case ItemType.UUID_KEY_RECEIVED_SUBVOL:
      off = `0x${hex16(offset)}`;
      break;
    case ItemType.ROOT_ITEM:
      // A reloc tree's offset is the subvolume it relocates; other root items' offsets print raw.
      off = objectid === TREE_RELOC_OBJECTID_U ? objectidName(offset, k.type) : offset.toString();
      break;
    default:
      off = offset === U64_MINUS_1 ? '-1' : offset.toString();
  }
  return `key (${objectidName(objectid, k.type)} ${keyTypeName(objectid, k.type)} ${off})`;
}

// ---- flag strings

/** upper_name of btrfs_raid_array, in btrfs_bg_flags_to_raid_index's order of tests. */
const RAID_UPPER_NAMES: [number, string][] = [
  [BlockGroupFlags.RAID10, 'RAID10'], [BlockGroupFlags.RAID1, 'RAID1'], [BlockGroupFlags.RAID1C3, 'RAID1C3'],
  [BlockGroupFlags.RAID1C4, 'RAID1C4'], [BlockGroupFlags.DUP, 'DUP'], [BlockGroupFlags.RAID0, 'RAID0'],
  [BlockGroupFlags.RAID5, 'RAID5'], [BlockGroupFlags.RAID6, 'RAID6'],
];

/** bg_flags_to_str: "DATA|single", "METADATA|DUP"... (progs' quirks kept: see the SYSTEM case). */
export function blockGroupFlagsString(flags: bigint): string {
  const f = Number(flags & 0xffff_ffffn);
  let s = '';
  let empty = true;
  if (f & BlockGroupFlags.DATA) {
    empty = false;
    s = 'DATA';
  }
  // progs never clears `empty` after METADATA, so METADATA|SYSTEM prints as "METADATASYSTEM".
  if (f & BlockGroupFlags.METADATA) s += (empty ? '' : '|') + 'METADATA';
  if (f & BlockGroupFlags.SYSTEM) s += (empty ? '' : '|') + 'SYSTEM';
  const profile = RAID_UPPER_NAMES.find(([bit]) => (f & BLOCK_GROUP_PROFILE_MASK & bit) !== 0)?.[1] ?? 'single';
  return `${s}|${profile}`;
}

function extentFlagsString(flags: bigint): string {
  let s = '';
  if (flags & BigInt(EXTENT_FLAG_DATA)) s = 'DATA';
  if (flags & BigInt(EXTENT_FLAG_TREE_BLOCK)) s += (s ? '|' : '') + 'TREE_BLOCK';
  if (flags & BigInt(BLOCK_FLAG_FULL_BACKREF)) s += '|FULL_BACKREF';
  return s;
}

const INODE_FLAG_NAMES = ['NODATASUM', 'NODATACOW', 'READONLY', 'NOCOMPRESS', 'PREALLOC', 'SYNC', 'IMMUTABLE', 'APPEND',
  'NODUMP', 'NOATIME', 'DIRSYNC', 'COMPRESS'];

function inodeFlagsString(flags: bigint): string {
  const names = INODE_FLAG_NAMES.filter((_, bit) => (flags >> BigInt(bit)) & 1n);
  return names.length ? names.join('|') : 'none';
}

const DIR_TYPE_NAMES = ['', 'FILE', 'DIR', 'CHRDEV', 'BLKDEV', 'FIFO', 'SOCK', 'SYMLINK', 'XATTR'];
const COMPRESSION_NAMES: Record<number, string> = {
  [CompressionType.NONE]: 'none', [CompressionType.ZLIB]: 'zlib', [CompressionType.LZO]: 'lzo', [CompressionType.ZSTD]: 'zstd',
};
const FILE_EXTENT_TYPE_NAMES: Record<number, string> = {
  [FileExtentType.INLINE]: 'inline', [FileExtentType.REG]: 'regular', [FileExtentType.PREALLOC]: 'prealloc',
};

// ---- small formatters

const utf8 = new TextDecoder('utf-8');

/** printf("%.*s", len, bytes): at most `len` bytes, ending at the first NUL. */
function cString(data: Uint8Array, start: number, len: number): string {
  const end = Math.min(start + len, data.length);
  let stop = start;
  while (stop < end && data[stop] !== 0) stop++;
  return utf8.decode(data.subarray(start, stop));
}

/** uuid_unparse (lower case). */
export function formatUuid(b: Uint8Array, off = 0): string {
  let h = '';
  for (let i = 0; i < 16; i++) h += (b[off + i] ?? 0).toString(16).padStart(2, '0');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** print_timespec: "SEC.NSEC (YYYY-MM-DD HH:MM:SS)" in local time, as localtime_r + strftime. */
function formatTimespec(dv: DataView, off: number): string {
  const sec = u64(dv, off);
  const nsec = dv.getUint32(off + 8, true);
  const d = new Date(Number(BigInt.asIntN(64, sec)) * 1000);
  const stamp = Number.isNaN(d.getTime())
    ? '' // beyond what localtime_r can express: progs prints an unspecified buffer here
    : `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  return `${sec}.${nsec} (${stamp})`;
}

// ---- item bodies

interface LeafContext {
  sectorsize: number;
  csumSize: number;
  hideNames: boolean;
  csumItems: boolean;
}

function printInodeItem(out: string[], dv: DataView, p: number): void {
  const o = InodeItem.off;
  const flags = u64(dv, p + o.flags);
  out.push(
    `\t\tgeneration ${u64(dv, p + o.generation)} transid ${u64(dv, p + o.transid)} size ${u64(dv, p + o.size)} nbytes ${u64(dv, p + o.nbytes)}\n`,
    `\t\tblock group ${u64(dv, p + o.blockGroup)} mode ${dv.getUint32(p + o.mode, true).toString(8)} links ${dv.getUint32(p + o.nlink, true)} uid ${dv.getUint32(p + o.uid, true)} gid ${dv.getUint32(p + o.gid, true)} rdev ${u64(dv, p + o.rdev)}\n`,
    `\t\tsequence ${u64(dv, p + o.sequence)} flags 0x${flags.toString(16)}(${inodeFlagsString(flags)})\n`,
    `\t\tatime ${formatTimespec(dv, p + o.atime)}\n`,
    `\t\tctime ${formatTimespec(dv, p + o.ctime)}\n`,
    `\t\tmtime ${formatTimespec(dv, p + o.mtime)}\n`,
    `\t\totime ${formatTimespec(dv, p + o.otime)}\n`,
  );
}

/** Walks packed variable-length entries of an item; each step must stay inside the block. */
function* packed(eb: ExtentBuffer, p: number, size: number, headSize: number, lenOf: (at: number) => number): Generator<number> {
  let cur = 0;
  while (cur < size) {
    const at = p + cur;
    if (at + headSize > eb.nodesize) return;
    yield at;
    cur += headSize + lenOf(at);
  }
}

function printDirItem(out: string[], eb: ExtentBuffer, p: number, size: number, ctx: LeafContext): void {
  const dv = eb.dv;
  const o = DirItem.off;
  for (const at of packed(eb, p, size, DirItem.size, (a) => dv.getUint16(a + o.nameLen, true) + dv.getUint16(a + o.dataLen, true))) {
    const type = dv.getUint8(at + o.type);
    const nameLen = dv.getUint16(at + o.nameLen, true);
    const dataLen = dv.getUint16(at + o.dataLen, true);
    out.push(`\t\tlocation ${formatKey(readKey(dv, at + o.location))} type ${DIR_TYPE_NAMES[type] || `DIR_ITEM.${type}`}\n`);
    out.push(`\t\ttransid ${u64(dv, at + o.transid)} data_len ${dataLen} name_len ${nameLen}\n`);
    const name = at + DirItem.size;
    out.push(ctx.hideNames ? '\t\tname: HIDDEN\n' : `\t\tname: ${cString(eb.data, name, Math.min(nameLen, 255))}\n`);
    if (dataLen) out.push(ctx.hideNames ? '\t\tdata HIDDEN\n' : `\t\tdata ${cString(eb.data, name + nameLen, Math.min(dataLen, 255))}\n`);
  }
}

function printInodeRef(out: string[], eb: ExtentBuffer, p: number, size: number, ctx: LeafContext): void {
  const dv = eb.dv;
  const o = InodeRef.off;
  for (const at of packed(eb, p, size, InodeRef.size, (a) => dv.getUint16(a + o.nameLen, true))) {
    const nameLen = dv.getUint16(at + o.nameLen, true);
    const name = ctx.hideNames ? 'HIDDEN' : cString(eb.data, at + InodeRef.size, Math.min(nameLen, 255));
    out.push(`\t\tindex ${u64(dv, at + o.index)} namelen ${nameLen} name: ${name}\n`);
  }
}

function printInodeExtref(out: string[], eb: ExtentBuffer, p: number, size: number, ctx: LeafContext): void {
  const dv = eb.dv;
  const o = InodeExtref.off;
  for (const at of packed(eb, p, size, InodeExtref.size, (a) => dv.getUint16(a + o.nameLen, true))) {
    const nameLen = dv.getUint16(at + o.nameLen, true);
    const name = ctx.hideNames ? 'HIDDEN' : cString(eb.data, at + InodeExtref.size, Math.min(nameLen, 255));
    out.push(`\t\tindex ${u64(dv, at + o.index)} parent ${u64(dv, at + o.parentObjectid)} namelen ${nameLen} name: ${name}\n`);
  }
}

function readKey(dv: DataView, off: number): Key {
  return new Key(dv.getUint32(off + 4, true), dv.getUint32(off, true), dv.getUint8(off + 8), dv.getUint32(off + 13, true), dv.getUint32(off + 9, true));
}

function printRootItem(out: string[], eb: ExtentBuffer, p: number, size: number): void {
  // A legacy (pre generation_v2) item is read into a zeroed full-size struct, as progs does.
  const item = new Uint8Array(RootItem.size);
  item.set(eb.data.subarray(p, p + Math.min(size, RootItem.size)));
  const dv = viewOf(item);
  const o = RootItem.off;
  const flags = u64(dv, o.flags);
  const generation = u64(dv, o.generation);
  const generationV2 = u64(dv, o.generationV2);
  out.push(
    `\t\tgeneration ${generation} root_dirid ${u64(dv, o.rootDirid)} bytenr ${u64(dv, o.bytenr)} byte_limit ${u64(dv, o.byteLimit)} bytes_used ${u64(dv, o.bytesUsed)}\n`,
    `\t\tlast_snapshot ${u64(dv, o.lastSnapshot)} flags 0x${flags.toString(16)}(${flags & BigInt(ROOT_SUBVOL_RDONLY) ? 'RDONLY' : 'none'}) refs ${dv.getUint32(o.refs, true)}\n`,
    `\t\tdrop_progress ${formatKey(readKey(dv, o.dropProgress))} drop_level ${dv.getUint8(o.dropLevel)}\n`,
    `\t\tlevel ${dv.getUint8(o.level)} generation_v2 ${generationV2}\n`,
  );
  if (generation === generationV2) {
    out.push(
      `\t\tuuid ${formatUuid(item, o.uuid)}\n`,
      `\t\tparent_uuid ${formatUuid(item, o.parentUuid)}\n`,
      `\t\treceived_uuid ${formatUuid(item, o.receivedUuid)}\n`,
      `\t\tctransid ${u64(dv, o.ctransid)} otransid ${u64(dv, o.otransid)} stransid ${u64(dv, o.stransid)} rtransid ${u64(dv, o.rtransid)}\n`,
      `\t\tctime ${formatTimespec(dv, o.ctime)}\n`,
      `\t\totime ${formatTimespec(dv, o.otime)}\n`,
      `\t\tstime ${formatTimespec(dv, o.stime)}\n`,
      `\t\trtime ${formatTimespec(dv, o.rtime)}\n`,
    );
  }
}

function printRootRef(out: string[], eb: ExtentBuffer, p: number, tag: string): void {
  const dv = eb.dv;
  const o = RootRef.off;
  const nameLen = dv.getUint16(p + o.nameLen, true);
  out.push(`\t\troot ${tag} key dirid ${u64(dv, p + o.dirid)} sequence ${u64(dv, p + o.sequence)} name ${cString(eb.data, p + RootRef.size, nameLen)}\n`);
}

/** Size of an inline ref of `type` (btrfs_extent_inline_ref_size), 0 for types progs stops at. */
function inlineRefSize(type: number): number {
  switch (type) {
    case ItemType.TREE_BLOCK_REF:
    case ItemType.SHARED_BLOCK_REF:
      return ExtentInlineRef.size;
    case ItemType.SHARED_DATA_REF:
      return ExtentInlineRef.size + SharedDataRef.size;
    case ItemType.EXTENT_DATA_REF:
      return ExtentInlineRef.off.offset + ExtentDataRef.size;
    default:
      return 0;
  }
}

function printExtentItem(out: string[], eb: ExtentBuffer, slot: number, p: number, size: number, metadata: boolean): void {
  if (size < ExtentItem.size) return;
  const dv = eb.dv;
  const flags = u64(dv, p + ExtentItem.off.flags);
  out.push(`\t\trefs ${u64(dv, p + ExtentItem.off.refs)} gen ${u64(dv, p + ExtentItem.off.generation)} flags ${extentFlagsString(flags)}\n`);
  let ptr = p + ExtentItem.size;
  if (flags & BigInt(EXTENT_FLAG_TREE_BLOCK) && !metadata) {
    out.push(`\t\ttree block ${formatKey(readKey(dv, ptr + TreeBlockInfo.off.key))} level ${dv.getUint8(ptr + TreeBlockInfo.off.level)}\n`);
    ptr += TreeBlockInfo.size;
  } else if (metadata) {
    out.push(`\t\ttree block skinny level ${eb.key(slot).offLo | 0}\n`);
  }
  const end = p + size;
  while (ptr < end) {
    const type = dv.getUint8(ptr + ExtentInlineRef.off.type);
    const step = inlineRefSize(type);
    if (step === 0 || ptr + step > eb.nodesize) return;
    const offset = u64(dv, ptr + ExtentInlineRef.off.offset);
    switch (type) {
      case ItemType.TREE_BLOCK_REF:
        out.push(`\t\ttree block backref root ${objectidName(offset, 0)}\n`);
        break;
      case ItemType.SHARED_BLOCK_REF:
        out.push(`\t\tshared block backref parent ${offset}\n`);
        break;
      case ItemType.EXTENT_DATA_REF:
        printExtentDataRefBody(out, dv, ptr + ExtentInlineRef.off.offset);
        break;
      case ItemType.SHARED_DATA_REF:
        out.push(`\t\tshared data backref parent ${offset} count ${dv.getUint32(ptr + ExtentInlineRef.size + SharedDataRef.off.count, true)}\n`);
        break;
    }
    ptr += step;
  }
}

function printExtentDataRefBody(out: string[], dv: DataView, p: number): void {
  const o = ExtentDataRef.off;
  out.push(`\t\textent data backref root ${objectidName(u64(dv, p + o.root), 0)} objectid ${u64(dv, p + o.objectid)} offset ${u64(dv, p + o.offset)} count ${dv.getUint32(p + o.count, true)}\n`);
}

function printFileExtentItem(out: string[], dv: DataView, p: number, size: number): void {
  const o = FileExtentItem.off;
  const type = dv.getUint8(p + o.type);
  const compression = dv.getUint8(p + o.compression);
  const compressName = COMPRESSION_NAMES[compression] ?? `UNKNOWN.${compression}`;
  out.push(`\t\tgeneration ${u64(dv, p + o.generation)} type ${type} (${FILE_EXTENT_TYPE_NAMES[type] ?? 'unknown'})\n`);
  if (type === FileExtentType.INLINE) {
    out.push(`\t\tinline extent data size ${size - FILE_EXTENT_INLINE_DATA_START} ram_bytes ${u64(dv, p + o.ramBytes)} compression ${compression} (${compressName})\n`);
    return;
  }
  if (type === FileExtentType.PREALLOC) {
    out.push(
      `\t\tprealloc data disk byte ${u64(dv, p + o.diskBytenr)} nr ${u64(dv, p + o.diskNumBytes)}\n`,
      `\t\tprealloc data offset ${u64(dv, p + o.offset)} nr ${u64(dv, p + o.numBytes)}\n`,
    );
    return;
  }
  out.push(
    `\t\textent data disk byte ${u64(dv, p + o.diskBytenr)} nr ${u64(dv, p + o.diskNumBytes)}\n`,
    `\t\textent data offset ${u64(dv, p + o.offset)} nr ${u64(dv, p + o.numBytes)} ram ${u64(dv, p + o.ramBytes)}\n`,
    `\t\textent compression ${compression} (${compressName})\n`,
  );
}

function printExtentCsum(out: string[], eb: ExtentBuffer, p: number, size: number, start: bigint, ctx: LeafContext): void {
  const sectors = Math.floor(size / ctx.csumSize);
  const length = sectors * ctx.sectorsize;
  out.push(`\t\trange start ${start} end ${start + BigInt(length)} length ${length}\n`);
  if (!ctx.csumItems) return;
  // One line holds 4 crc32c, 2 xxhash or 1 sha256/blake2: "[offset] 0xCSUM [offset] 0xCSUM".
  const perLine = Math.max(1, CSUM_SIZE / ctx.csumSize / 2);
  let line = '\t\t';
  for (let i = 0; i < sectors; i++) {
    if (i > 0) line += i % perLine === 0 ? '\n\t\t' : ' ';
    let hex = '';
    for (let j = 0; j < ctx.csumSize; j++) hex += eb.data[p + i * ctx.csumSize + j]!.toString(16).padStart(2, '0');
    line += `[${start + BigInt(i * ctx.sectorsize)}] 0x${hex}`;
  }
  out.push(line + '\n');
}

/** print_chunk_item, over the chunk at `p` in `data` (a leaf or the superblock's sys_chunk_array). */
export function printChunkItem(out: string[], data: Uint8Array, p: number): void {
  const dv = viewOf(data);
  const o = Chunk.off;
  const numStripes = dv.getUint16(p + o.numStripes, true);
  if (numStripes < 1) {
    out.push(`invalid num_stripes: ${numStripes}\n`);
    return;
  }
  if (p + Chunk.size + numStripes * Stripe.size > data.length) {
    out.push('\t\tchunk item invalid\n');
    return;
  }
  out.push(
    `\t\tlength ${u64(dv, p + o.length)} owner ${u64(dv, p + o.owner)} stripe_len ${u64(dv, p + o.stripeLen)} type ${blockGroupFlagsString(u64(dv, p + o.type))}\n`,
    `\t\tio_align ${dv.getUint32(p + o.ioAlign, true)} io_width ${dv.getUint32(p + o.ioWidth, true)} sector_size ${dv.getUint32(p + o.sectorSize, true)}\n`,
    `\t\tnum_stripes ${numStripes} sub_stripes ${dv.getUint16(p + o.subStripes, true)}\n`,
  );
  for (let i = 0; i < numStripes; i++) {
    const s = p + Chunk.size + i * Stripe.size;
    out.push(
      `\t\t\tstripe ${i} devid ${u64(dv, s + Stripe.off.devid)} offset ${u64(dv, s + Stripe.off.offset)}\n`,
      `\t\t\tdev_uuid ${formatUuid(data, s + Stripe.off.devUuid)}\n`,
    );
  }
}

function printDevItem(out: string[], data: Uint8Array, dv: DataView, p: number): void {
  const o = DevItem.off;
  out.push(
    `\t\tdevid ${u64(dv, p + o.devid)} total_bytes ${u64(dv, p + o.totalBytes)} bytes_used ${u64(dv, p + o.bytesUsed)}\n`,
    `\t\tio_align ${dv.getUint32(p + o.ioAlign, true)} io_width ${dv.getUint32(p + o.ioWidth, true)} sector_size ${dv.getUint32(p + o.sectorSize, true)} type ${u64(dv, p + o.type)}\n`,
    `\t\tgeneration ${u64(dv, p + o.generation)} start_offset ${u64(dv, p + o.startOffset)} dev_group ${dv.getUint32(p + o.devGroup, true)}\n`,
    `\t\tseek_speed ${dv.getUint8(p + o.seekSpeed)} bandwidth ${dv.getUint8(p + o.bandwidth)}\n`,
    `\t\tuuid ${formatUuid(data, p + o.uuid)}\n`,
    `\t\tfsid ${formatUuid(data, p + o.fsid)}\n`,
  );
}

function printDevExtent(out: string[], data: Uint8Array, dv: DataView, p: number): void {
  const o = DevExtent.off;
  out.push(
    `\t\tdev extent chunk_tree ${u64(dv, p + o.chunkTree)}\n`,
    `\t\tchunk_objectid ${u64(dv, p + o.chunkObjectid)} chunk_offset ${u64(dv, p + o.chunkOffset)} length ${u64(dv, p + o.length)}\n`,
    `\t\tchunk_tree_uuid ${formatUuid(data, p + o.chunkTreeUuid)}\n`,
  );
}

function qgroupStatusFlagsString(flags: bigint): string {
  let s = flags & 1n ? 'ON' : 'OFF';
  if (flags & 2n) s += '|SCANNING';
  if (flags & 4n) s += '|INCONSISTENT';
  return s;
}

function printQgroupStatus(out: string[], dv: DataView, p: number): void {
  const o = QgroupStatus.off;
  out.push(`\t\tversion ${u64(dv, p + o.version)} generation ${u64(dv, p + o.generation)} flags ${qgroupStatusFlagsString(u64(dv, p + o.flags))} scan ${u64(dv, p + o.rescan)}\n`);
}

function printQgroupInfo(out: string[], dv: DataView, p: number): void {
  const o = QgroupInfo.off;
  out.push(
    `\t\tgeneration ${u64(dv, p + o.generation)}\n`,
    `\t\treferenced ${u64(dv, p + o.rfer)} referenced_compressed ${u64(dv, p + o.rferCmpr)}\n`,
    `\t\texclusive ${u64(dv, p + o.excl)} exclusive_compressed ${u64(dv, p + o.exclCmpr)}\n`,
  );
}

function printQgroupLimit(out: string[], dv: DataView, p: number): void {
  const o = QgroupLimit.off;
  const s64 = (off: number) => dv.getBigInt64(p + off, true);
  out.push(
    `\t\tflags ${u64(dv, p + o.flags).toString(16)}\n`,
    `\t\tmax_referenced ${s64(o.maxRfer)} max_exclusive ${s64(o.maxExcl)}\n`,
    `\t\trsv_referenced ${s64(o.rsvRfer)} rsv_exclusive ${s64(o.rsvExcl)}\n`,
  );
}

function printDevStats(out: string[], eb: ExtentBuffer, p: number, size: number): void {
  const value = (i: number) => (p + i * 8 + 8 <= eb.nodesize ? u64(eb.dv, p + i * 8) : 0n);
  out.push('\t\tdevice stats\n');
  out.push(`\t\twrite_errs ${value(0)} read_errs ${value(1)} flush_errs ${value(2)} corruption_errs ${value(3)} generation ${value(4)}\n`);
  const known = DEV_STAT_VALUES_MAX * 8;
  if (known < size) {
    // progs ends this line with no newline; the first "unknown item" line follows on it.
    out.push(`\t\tunknown stats item bytes ${size - known}`);
    for (let i = DEV_STAT_VALUES_MAX; i * 8 < size; i++) out.push(`\t\tunknown item ${i} offset ${i * 8} value ${value(i)}\n`);
  }
}

function printBalanceArgs(out: string[], dv: DataView, p: number): void {
  const o = DiskBalanceArgs.off;
  const u32 = (off: number) => dv.getUint32(p + off, true);
  out.push(
    `\t\tprofiles ${u64(dv, p + o.profiles)} devid ${u64(dv, p + o.devid)} target ${u64(dv, p + o.target)} flags ${u64(dv, p + o.flags)}\n`,
    `\t\tusage_min ${u32(o.usageMin)} usage_max ${u32(o.usageMax)} pstart ${u64(dv, p + o.pstart)} pend ${u64(dv, p + o.pend)}\n`,
    `\t\tvstart ${u64(dv, p + o.vstart)} vend ${u64(dv, p + o.vend)} limit_min ${u32(o.limitMin)} limit_max ${u32(o.limitMax)}\n`,
    `\t\tstripes_min ${u32(o.stripesMin)} stripes_max ${u32(o.stripesMax)}\n`,
  );
}

function printBalanceItem(out: string[], eb: ExtentBuffer, p: number): void {
  if (p + BalanceItem.size > eb.nodesize) return;
  const o = BalanceItem.off;
  out.push(`\t\tbalance status flags ${u64(eb.dv, p + o.flags)}\n`);
  out.push('\t\tDATA\n');
  printBalanceArgs(out, eb.dv, p + o.data);
  out.push('\t\tMETADATA\n');
  printBalanceArgs(out, eb.dv, p + o.meta);
  out.push('\t\tSYSTEM\n');
  printBalanceArgs(out, eb.dv, p + o.sys);
}

// ---- blocks

function headerFlagsString(lo: number): string {
  const names: string[] = [];
  if (lo & HEADER_FLAG_WRITTEN) names.push('WRITTEN');
  if (lo & HEADER_FLAG_RELOC) names.push('RELOC');
  return names.join('|');
}

/** print_header_info: the two header lines and the uuids. */
function printHeader(out: string[], eb: ExtentBuffer, csumHeaders: boolean, csumSize: number): void {
  const dv = eb.dv;
  const nr = eb.nritems;
  const level = eb.level;
  const headerBytenr = u64(dv, Header.off.bytenr);
  const owner = objectidName(u64(dv, Header.off.owner), 0);
  const generation = u64(dv, Header.off.generation);
  if (level) out.push(`node ${eb.bytenr} level ${level} items ${nr} free space ${nodePtrsPerBlock(eb.nodesize) - nr} generation ${generation} owner ${owner}\n`);
  else out.push(`leaf ${headerBytenr} items ${nr} free space ${eb.leafFreeSpace()} generation ${generation} owner ${owner}\n`);
  const flagsLo = dv.getUint32(Header.off.flagsLo, true);
  const flagsHi = dv.getUint32(Header.off.flagsHi, true);
  const flags = (BigInt(flagsHi & ~BACKREF_REV_MASK_HI) << 32n) | BigInt(flagsLo);
  let csum = '';
  if (csumHeaders) {
    csum = ' csum 0x';
    for (let i = 0; i < csumSize; i++) csum += eb.data[Header.off.csum + i]!.toString(16).padStart(2, '0');
  }
  out.push(`${level ? 'node' : 'leaf'} ${headerBytenr} flags 0x${flags.toString(16)}(${headerFlagsString(flagsLo)}) backref revision ${flagsHi >>> 24}${csum}\n`);
  out.push(`fs uuid ${formatUuid(eb.data, Header.off.fsid)}\nchunk uuid ${formatUuid(eb.data, Header.off.chunkTreeUuid)}\n`);
}

export interface PrintOptions {
  /** Replace file names, xattr names and values by HIDDEN (--hide-names). */
  hideNames?: boolean;
  /** Print the checksum in each block header (--csum-headers). */
  csumHeaders?: boolean;
  /** Print each data checksum in EXTENT_CSUM items (--csum-items). */
  csumItems?: boolean;
}

/** btrfs_print_leaf: a leaf's header and every item. */
export function printLeaf(out: string[], eb: ExtentBuffer, fs: { sectorsize: number; csum: FsInfo['csum'] }, opts: PrintOptions = {}): void {
  const csumSize = csumTypeByName(fs.csum).sizeBytes;
  const ctx: LeafContext = { sectorsize: fs.sectorsize, csumSize, hideNames: opts.hideNames ?? false, csumItems: opts.csumItems ?? false };
  printHeader(out, eb, opts.csumHeaders ?? false, csumSize);
  const dataSize = leafDataSize(eb.nodesize);
  const dv = eb.dv;
  const nr = eb.nritems;
  for (let i = 0; i < nr; i++) {
    if (eb.keyOffset(i) + 25 > eb.nodesize) break;
    const itemOff = eb.itemDataOffset(i);
    const size = eb.itemSize(i);
    // progs reports a pointer outside the leaf on stderr and skips the remaining slots.
    if (itemOff > dataSize || itemOff + size > dataSize) break;
    const p = HEADER_SIZE + itemOff;
    const key = eb.key(i);
    const objectid = keyObjectid(key);
    out.push(`\titem ${i} ${formatKey(key)} itemoff ${itemOff} itemsize ${size}\n`);
    if (key.type === 0 && objectid === FREE_SPACE_OBJECTID_U) {
      const o = FreeSpaceHeader.off;
      out.push(`\t\tlocation ${formatKey(readKey(dv, p + o.location))}\n`);
      out.push(`\t\tcache generation ${u64(dv, p + o.generation)} entries ${u64(dv, p + o.numEntries)} bitmaps ${u64(dv, p + o.numBitmaps)}\n`);
    }
    printItemBody(out, eb, i, key, p, size, ctx);
  }
}

function printItemBody(out: string[], eb: ExtentBuffer, slot: number, key: Key, p: number, size: number, ctx: LeafContext): void {
  const dv = eb.dv;
  const data = eb.data;
  switch (key.type) {
    case ItemType.INODE_ITEM: return printInodeItem(out, dv, p);
    case ItemType.INODE_REF: return printInodeRef(out, eb, p, size, ctx);
    case ItemType.INODE_EXTREF: return printInodeExtref(out, eb, p, size, ctx);
    case ItemType.DIR_ITEM:
    case ItemType.DIR_INDEX:
    case ItemType.XATTR_ITEM: return printDirItem(out, eb, p, size, ctx);
    case ItemType.DIR_LOG_INDEX:
    case ItemType.DIR_LOG_ITEM: out.push(`\t\tdir log end ${u64(dv, p + DirLogItem.off.end)}\n`); return;
    case ItemType.ORPHAN_ITEM: out.push('\t\torphan item\n'); return;
    case ItemType.ROOT_ITEM: return printRootItem(out, eb, p, size);
    case ItemType.ROOT_REF: return printRootRef(out, eb, p, 'ref');
    case ItemType.ROOT_BACKREF: return printRootRef(out, eb, p, 'backref');
    case ItemType.EXTENT_ITEM: return printExtentItem(out, eb, slot, p, size, false);
    case ItemType.METADATA_ITEM: return printExtentItem(out, eb, slot, p, size, true);
    case ItemType.TREE_BLOCK_REF: out.push('\t\ttree block backref\n'); return;
    case ItemType.SHARED_BLOCK_REF: out.push('\t\tshared block backref\n'); return;
    case ItemType.EXTENT_DATA_REF: return printExtentDataRefBody(out, dv, p);
    case ItemType.SHARED_DATA_REF: out.push(`\t\tshared data backref count ${dv.getUint32(p + SharedDataRef.off.count, true)}\n`); return;
    case ItemType.EXTENT_REF_V0: out.push('\t\textent ref v0 (deprecated)\n'); return;
    case CSUM_ITEM_KEY: out.push('\t\tcsum item\n'); return;
    case ItemType.EXTENT_CSUM: return printExtentCsum(out, eb, p, size, keyOffset(key), ctx);
    case ItemType.EXTENT_DATA: return printFileExtentItem(out, dv, p, size);
    case ItemType.BLOCK_GROUP_ITEM: {
      const o = BlockGroupItem.off;
      out.push(`\t\tblock group used ${u64(dv, p + o.used)} chunk_objectid ${u64(dv, p + o.chunkObjectid)} flags ${blockGroupFlagsString(u64(dv, p + o.flags))}\n`);
      return;
    }
    case ItemType.FREE_SPACE_INFO: {
      const o = FreeSpaceInfo.off;
      out.push(`\t\tfree space info extent count ${dv.getUint32(p + o.extentCount, true)} flags ${dv.getUint32(p + o.flags, true)}\n`);
      return;
    }
    case ItemType.FREE_SPACE_EXTENT: out.push('\t\tfree space extent\n'); return;
    case ItemType.FREE_SPACE_BITMAP: out.push('\t\tfree space bitmap\n'); return;
    case ItemType.CHUNK_ITEM: return printChunkItem(out, data, p);
    case ItemType.DEV_ITEM: return printDevItem(out, data, dv, p);
    case ItemType.DEV_EXTENT: return printDevExtent(out, data, dv, p);
    case ItemType.QGROUP_STATUS: return printQgroupStatus(out, dv, p);
    case ItemType.QGROUP_RELATION: return;
    case ItemType.QGROUP_INFO: return printQgroupInfo(out, dv, p);
    case ItemType.QGROUP_LIMIT: return printQgroupLimit(out, dv, p);
    case ItemType.UUID_KEY_SUBVOL:
    case ItemType.UUID_KEY_RECEIVED_SUBVOL:
      if (size & 7) {
        out.push(`btrfs: uuid item with illegal size ${size}!\n`);
        return;
      }
      for (let at = 0; at < size; at += 8) out.push(`\t\tsubvol_id ${u64(dv, p + at)}\n`);
      return;
    case ItemType.STRING_ITEM: out.push(`\t\titem data ${cString(data, p, size)}\n`); return;
    case ItemType.PERSISTENT_ITEM: {
      const objectid = keyObjectid(key);
      out.push(`\t\tpersistent item objectid ${objectidName(objectid, ItemType.PERSISTENT_ITEM)} offset ${keyOffset(key)}\n`);
      if (objectid === 0n) printDevStats(out, eb, p, size);
      else out.push(`\t\tunknown persistent item objectid ${objectid}\n`);
      return;
    }
    case ItemType.TEMPORARY_ITEM: {
      const objectid = keyObjectid(key);
      out.push(`\t\ttemporary item objectid ${objectidName(objectid, ItemType.TEMPORARY_ITEM)} offset ${keyOffset(key)}\n`);
      if (objectid === big(-4)) printBalanceItem(out, eb, p);
      else out.push(`\t\tunknown temporary item objectid ${objectid}\n`);
      return;
    }
    default:
      // Types progs does not know (or prints nothing for) show only their item line.
      return;
  }
}

/** A node's header and key pointers (btrfs_print_tree without following children). */
export function printNode(out: string[], eb: ExtentBuffer, fs: { csum: FsInfo['csum'] }, opts: PrintOptions = {}): void {
  printHeader(out, eb, opts.csumHeaders ?? false, csumTypeByName(fs.csum).sizeBytes);
  const n = Math.min(eb.nritems, nodePtrsPerBlock(eb.nodesize));
  for (let i = 0; i < n; i++) {
    out.push(`\t${formatKey(eb.key(i))} block ${eb.blockptr(i)} gen ${eb.ptrGeneration(i)}\n`);
  }
}

export interface DumpTreeOptions extends PrintOptions {
  /** Only this tree (`dump-tree -t ID`); everything when absent or 'all'. */
  tree?: number | 'all';
  /** Order of blocks below a root: 'bfs' (progs' default: level by level) or 'dfs'. */
  traverse?: 'bfs' | 'dfs';
  /**
   * Called for a block that cannot be read, where progs reports on stderr and goes on. Without
   * it, the dump stops with that error.
   */
  onError?: (message: string, error: unknown) => void;
}

/**
 * Output sink: dumpTreeTo calls it with chunks of text (whole lines) as the dump proceeds and,
 * when it returns a promise, waits for it (back pressure from a slow stdout).
 */
export type DumpSink = (text: string) => void | Promise<void>;

const TREE_HEADINGS = new Map<bigint, string>([
  [1n, 'root'], [2n, 'extent'], [3n, 'chunk'], [4n, 'device'], [5n, 'fs'], [6n, 'directory'], [7n, 'checksum'],
  [big(-5), 'orphan'], [big(-6), 'log'], [big(-7), 'log fixup'], [big(-8), 'reloc'], [big(-9), 'data reloc'],
  [big(-10), 'extent checksum'], [8n, 'quota'], [9n, 'uuid'], [10n, 'free space'], [big(-255), 'multiple'],
]);

class Dumper {
  constructor(
    readonly fs: FsInfo,
    readonly opts: DumpTreeOptions,
    readonly sink: DumpSink,
  ) {}

  private async emit(out: string[]): Promise<void> {
    if (out.length) await this.sink(out.join(''));
  }

  private failed(what: string, e: unknown): void {
    if (!this.opts.onError) throw e;
    this.opts.onError(`${what}: ${e instanceof Error ? e.message : String(e)}`, e);
  }

  private async block(eb: ExtentBuffer): Promise<void> {
    const out: string[] = [];
    if (eb.level === 0) printLeaf(out, eb, this.fs, this.opts);
    else printNode(out, eb, this.fs, this.opts);
    await this.emit(out);
  }

  /** btrfs_print_tree with follow: the root, then every block below it. */
  async tree(root: ExtentBuffer): Promise<void> {
    await this.block(root);
    if (root.level === 0) return;
    if (this.opts.traverse === 'dfs') await this.dfs(root);
    else await this.bfs(root);
  }

  private async dfs(node: ExtentBuffer): Promise<void> {
    for (let i = 0; i < node.nritems; i++) {
      let child: ExtentBuffer;
      try {
        child = await this.fs.readBlock(node.blockptr(i), { generation: node.ptrGeneration(i), level: node.level - 1 });
      } catch (e) {
        if (!(e instanceof FsError)) throw e;
        this.failed(`failed to read ${node.blockptr(i)} in tree ${u64ToText(node.owner)}`, e);
        continue;
      }
      await this.block(child);
      if (child.level > 0) await this.dfs(child);
    }
  }

  /** Level by level, left to right (progs' bfs_print_children); only pointers are kept per level. */
  private async bfs(root: ExtentBuffer): Promise<void> {
    let level: { bytenr: number; generation: number }[] = [];
    for (let i = 0; i < root.nritems; i++) level.push({ bytenr: root.blockptr(i), generation: root.ptrGeneration(i) });
    for (let depth = root.level - 1; depth >= 0; depth--) {
      const next: { bytenr: number; generation: number }[] = [];
      for (const ptr of level) {
        let eb: ExtentBuffer;
        try {
          eb = await this.fs.readBlock(ptr.bytenr, { generation: ptr.generation, level: depth });
        } catch (e) {
          if (!(e instanceof FsError)) throw e;
          // progs gives up on the rest of the tree when a block of a level cannot be read.
          this.failed(`failed to read tree block ${ptr.bytenr}`, e);
          return;
        }
        await this.block(eb);
        for (let i = 0; i < eb.nritems && depth > 0; i++) next.push({ bytenr: eb.blockptr(i), generation: eb.ptrGeneration(i) });
      }
      level = next;
    }
  }

  /** The trees named by ROOT_ITEMs of `scan` (the root tree or the log root tree), in key order. */
  async rootItems(scan: TreeRoot, only: bigint | undefined): Promise<void> {
    const items: { key: Key; bytenr: number; generation: number; level: number }[] = [];
    for await (const it of iterItems(this.fs, scan, Key.of(0, ItemType.ROOT_ITEM, 0), Key.MAX)) {
      if (it.key.type !== ItemType.ROOT_ITEM || it.data.length < RootItem.off.generationV2) continue;
      if (only !== undefined && keyObjectid(it.key) !== only) continue;
      const dv = viewOf(it.data);
      items.push({
        key: it.key,
        bytenr: Number(u64(dv, RootItem.off.bytenr)),
        generation: Number(u64(dv, RootItem.off.generation)),
        level: dv.getUint8(RootItem.off.level),
      });
    }
    for (const it of items) {
      let eb: ExtentBuffer;
      try {
        eb = await this.fs.readBlock(it.bytenr, { generation: it.generation, level: it.level });
      } catch (e) {
        if (!(e instanceof FsError)) throw e;
        this.failed(`failed to read root of tree ${formatKey(it.key)}`, e);
        continue;
      }
      const heading = TREE_HEADINGS.get(keyObjectid(it.key)) ?? 'file';
      await this.sink(`${heading} tree ${formatKey(it.key)} \n`);
      await this.tree(eb);
    }
  }

  async logRoot(): Promise<TreeRoot | undefined> {
    const sb = this.fs.sb;
    if (!sb.logRoot) return undefined;
    // The log root's generation is not recorded anywhere a reader could check it against.
    const node = await this.fs.readBlock(sb.logRoot, { generation: 0, level: sb.logRootLevel });
    return { objectid: TREE_LOG_OBJECTID, node };
  }

  async totals(): Promise<void> {
    const sb = this.fs.sb;
    await this.sink(`total bytes ${big(sb.totalBytes)}\nbytes used ${big(sb.bytesUsed)}\nuuid ${formatUuid(sb.fsid)}\n`);
  }
}

function u64ToText(n: number): string {
  return big(n).toString();
}

/**
 * `btrfs inspect-internal dump-tree` into `sink`, without progs' first line (its version).
 * No tree (or 'all'): root tree, chunk tree, log root tree when there is one, then every tree a
 * ROOT_ITEM names in key order, then the totals. A tree id: that tree alone, as `-t ID`.
 */
export async function dumpTreeTo(fs: FsInfo, sink: DumpSink, opts: DumpTreeOptions = {}): Promise<void> {
  const d = new Dumper(fs, opts, sink);
  const tree = opts.tree === undefined || opts.tree === 'all' ? undefined : big(opts.tree);
  if (tree === 0n) throw new FsError('EINVAL', 'unrecognized tree id: 0');
  const log = await d.logRoot();
  if (tree === undefined) {
    await sink('root tree\n');
    await d.tree(fs.rootTree.node);
    await sink('chunk tree\n');
    await d.tree(fs.chunkTree.node);
    if (log) {
      await sink('log root tree\n');
      await d.tree(log.node);
    }
  } else if (tree === BigInt(ROOT_TREE_OBJECTID) || tree === BigInt(CHUNK_TREE_OBJECTID) || tree === big(TREE_LOG_OBJECTID)) {
    if (tree === big(TREE_LOG_OBJECTID) && !log) throw new FsError('ENOENT', 'cannot print log root tree, invalid pointer');
    await sink(tree === 1n ? 'root tree\n' : tree === 3n ? 'chunk tree\n' : 'log root tree\n');
    await d.tree(tree === 1n ? fs.rootTree.node : tree === 3n ? fs.chunkTree.node : log!.node);
    return;
  }
  await d.rootItems(fs.rootTree, tree);
  if (log) await d.rootItems(log, tree);
  await d.totals();
}

/** dumpTreeTo collected into one string. */
export async function dumpTree(fs: FsInfo, opts: DumpTreeOptions = {}): Promise<string> {
  const parts: string[] = [];
  await dumpTreeTo(fs, (s) => {
    parts.push(s);
  }, opts);
  return parts.join('');
}

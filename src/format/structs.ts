// Every btrfs on-disk struct, declared once (btrfs-progs kernel-shared/uapi/btrfs_tree.h).
// Sizes are btrfs's sizeof() and are checked when this module loads (struct.ts).
// docs/format.md lists the same layouts with offsets.
import { struct } from './struct.js';

const bytes = (n: number) => ({ bytes: n });

export const DevItem = struct('btrfs_dev_item', 98, {
  devid: 'u64',
  totalBytes: 'u64',
  bytesUsed: 'u64',
  ioAlign: 'u32',
  ioWidth: 'u32',
  sectorSize: 'u32',
  type: 'u64',
  generation: 'u64',
  startOffset: 'u64',
  devGroup: 'u32',
  seekSpeed: 'u8',
  bandwidth: 'u8',
  uuid: bytes(16),
  fsid: bytes(16),
});
export type DevItem = ReturnType<typeof DevItem.decode>;

export const RootBackup = struct('btrfs_root_backup', 168, {
  treeRoot: 'u64',
  treeRootGen: 'u64',
  chunkRoot: 'u64',
  chunkRootGen: 'u64',
  extentRoot: 'u64',
  extentRootGen: 'u64',
  fsRoot: 'u64',
  fsRootGen: 'u64',
  devRoot: 'u64',
  devRootGen: 'u64',
  csumRoot: 'u64',
  csumRootGen: 'u64',
  totalBytes: 'u64',
  bytesUsed: 'u64',
  numDevices: 'u64',
  unused64: bytes(32),
  treeRootLevel: 'u8',
  chunkRootLevel: 'u8',
  extentRootLevel: 'u8',
  fsRootLevel: 'u8',
  devRootLevel: 'u8',
  csumRootLevel: 'u8',
  unused8: bytes(10),
});
export type RootBackup = ReturnType<typeof RootBackup.decode>;

/**
 * The superblock. `flags` and the feature words are u64 in number form: every bit
 * btrfs defines is below 2^53. `magic` is checked as raw bytes by the reader.
 */
export const SuperBlock = struct('btrfs_super_block', 4096, {
  csum: bytes(32),
  fsid: bytes(16),
  bytenr: 'u64',
  flags: 'u64',
  magic: bytes(8),
  generation: 'u64',
  root: 'u64',
  chunkRoot: 'u64',
  logRoot: 'u64',
  unusedLogRootTransid: 'u64',
  totalBytes: 'u64',
  bytesUsed: 'u64',
  rootDirObjectid: 'u64',
  numDevices: 'u64',
  sectorsize: 'u32',
  nodesize: 'u32',
  unusedLeafsize: 'u32',
  stripesize: 'u32',
  sysChunkArraySize: 'u32',
  chunkRootGeneration: 'u64',
  compatFlags: 'u64',
  compatRoFlags: 'u64',
  incompatFlags: 'u64',
  csumType: 'u16',
  rootLevel: 'u8',
  chunkRootLevel: 'u8',
  logRootLevel: 'u8',
  devItem: DevItem,
  label: bytes(256),
  cacheGeneration: 'u64',
  uuidTreeGeneration: 'u64',
  metadataUuid: bytes(16),
  nrGlobalRoots: 'u64',
  reserved: bytes(216),
  sysChunkArray: bytes(2048),
  superRoots0: RootBackup,
  superRoots1: RootBackup,
  superRoots2: RootBackup,
  superRoots3: RootBackup,
  padding: bytes(565),
});
export type SuperBlock = ReturnType<typeof SuperBlock.decode>;

/**
 * Tree block header. `flags` is NOT in the field list as a u64 number: its top byte
 * (the backref revision) puts it above 2^53, so it is two u32 halves.
 */
export const Header = struct('btrfs_header', 101, {
  csum: bytes(32),
  fsid: bytes(16),
  bytenr: 'u64',
  flagsLo: 'u32',
  flagsHi: 'u32',
  chunkTreeUuid: bytes(16),
  generation: 'u64',
  owner: 'u64',
  nritems: 'u32',
  level: 'u8',
});
export type Header = ReturnType<typeof Header.decode>;

export const Item = struct('btrfs_item', 25, { key: 'key', offset: 'u32', size: 'u32' });
export const KeyPtr = struct('btrfs_key_ptr', 33, { key: 'key', blockptr: 'u64', generation: 'u64' });

export const InodeItem = struct('btrfs_inode_item', 160, {
  generation: 'u64',
  transid: 'u64',
  size: 'u64',
  nbytes: 'u64',
  blockGroup: 'u64',
  nlink: 'u32',
  uid: 'u32',
  gid: 'u32',
  mode: 'u32',
  rdev: 'u64',
  flags: 'u64',
  sequence: 'u64',
  reserved: bytes(32),
  atime: 'timespec',
  ctime: 'timespec',
  mtime: 'timespec',
  otime: 'timespec',
});
export type InodeItem = ReturnType<typeof InodeItem.decode>;

export const RootItem = struct('btrfs_root_item', 439, {
  inode: InodeItem,
  generation: 'u64',
  rootDirid: 'u64',
  bytenr: 'u64',
  byteLimit: 'u64',
  bytesUsed: 'u64',
  lastSnapshot: 'u64',
  flags: 'u64',
  refs: 'u32',
  dropProgress: 'key',
  dropLevel: 'u8',
  level: 'u8',
  generationV2: 'u64',
  uuid: bytes(16),
  parentUuid: bytes(16),
  receivedUuid: bytes(16),
  ctransid: 'u64',
  otransid: 'u64',
  stransid: 'u64',
  rtransid: 'u64',
  ctime: 'timespec',
  otime: 'timespec',
  stime: 'timespec',
  rtime: 'timespec',
  reserved: bytes(64),
});
export type RootItem = ReturnType<typeof RootItem.decode>;
/** Root items written before generation_v2 existed end here (btrfs accepts both sizes). */
export const ROOT_ITEM_LEGACY_SIZE = RootItem.off.generationV2;

/** Followed by name_len bytes of name. */
export const RootRef = struct('btrfs_root_ref', 18, { dirid: 'u64', sequence: 'u64', nameLen: 'u16' });
/** Followed by name_len bytes of name; several may be packed in one item. */
export const InodeRef = struct('btrfs_inode_ref', 10, { index: 'u64', nameLen: 'u16' });
export const InodeExtref = struct('btrfs_inode_extref', 18, { parentObjectid: 'u64', index: 'u64', nameLen: 'u16' });
/** Followed by name_len bytes of name and data_len bytes of data (xattr value). */
export const DirItem = struct('btrfs_dir_item', 30, {
  location: 'key',
  transid: 'u64',
  dataLen: 'u16',
  nameLen: 'u16',
  type: 'u8',
});

/** The first 21 bytes of every file extent item; inline data follows them. */
export const FileExtentHead = struct('btrfs_file_extent_item head', 21, {
  generation: 'u64',
  ramBytes: 'u64',
  compression: 'u8',
  encryption: 'u8',
  otherEncoding: 'u16',
  type: 'u8',
});
export const FileExtentItem = struct('btrfs_file_extent_item', 53, {
  generation: 'u64',
  ramBytes: 'u64',
  compression: 'u8',
  encryption: 'u8',
  otherEncoding: 'u16',
  type: 'u8',
  diskBytenr: 'u64',
  diskNumBytes: 'u64',
  offset: 'u64',
  numBytes: 'u64',
});
export type FileExtentItem = ReturnType<typeof FileExtentItem.decode>;
export const FILE_EXTENT_INLINE_DATA_START = FileExtentHead.size;

export const ExtentItem = struct('btrfs_extent_item', 24, { refs: 'u64', generation: 'u64', flags: 'u64' });
/** Follows the extent item of a tree block in non-skinny EXTENT_ITEMs. */
export const TreeBlockInfo = struct('btrfs_tree_block_info', 18, { key: 'key', level: 'u8' });
/** type u8 + offset u64; for EXTENT_DATA_REF the offset field is where extent_data_ref starts. */
export const ExtentInlineRef = struct('btrfs_extent_inline_ref', 9, { type: 'u8', offset: 'u64' });
export const ExtentDataRef = struct('btrfs_extent_data_ref', 28, { root: 'u64', objectid: 'u64', offset: 'u64', count: 'u32' });
export const SharedDataRef = struct('btrfs_shared_data_ref', 4, { count: 'u32' });
export const ExtentOwnerRef = struct('btrfs_extent_owner_ref', 8, { rootId: 'u64' });

export const BlockGroupItem = struct('btrfs_block_group_item', 24, { used: 'u64', chunkObjectid: 'u64', flags: 'u64' });
export const FreeSpaceInfo = struct('btrfs_free_space_info', 8, { extentCount: 'u32', flags: 'u32' });
export const FREE_SPACE_USING_BITMAPS = 1 << 0;

export const DevExtent = struct('btrfs_dev_extent', 48, {
  chunkTree: 'u64',
  chunkObjectid: 'u64',
  chunkOffset: 'u64',
  length: 'u64',
  chunkTreeUuid: bytes(16),
});
export const Stripe = struct('btrfs_stripe', 32, { devid: 'u64', offset: 'u64', devUuid: bytes(16) });
/** Followed by num_stripes btrfs_stripe (the first is counted in btrfs's sizeof: 80 with one stripe). */
export const Chunk = struct('btrfs_chunk head', 48, {
  length: 'u64',
  owner: 'u64',
  stripeLen: 'u64',
  type: 'u64',
  ioAlign: 'u32',
  ioWidth: 'u32',
  sectorSize: 'u32',
  numStripes: 'u16',
  subStripes: 'u16',
});
export function chunkItemSize(numStripes: number): number {
  return Chunk.size + numStripes * Stripe.size;
}

export const QgroupStatus = struct('btrfs_qgroup_status_item', 40, {
  version: 'u64',
  generation: 'u64',
  flags: 'u64',
  rescan: 'u64',
  enableGen: 'u64',
});
export const QgroupInfo = struct('btrfs_qgroup_info_item', 40, {
  generation: 'u64',
  rfer: 'u64',
  rferCmpr: 'u64',
  excl: 'u64',
  exclCmpr: 'u64',
});
export const QgroupLimit = struct('btrfs_qgroup_limit_item', 40, {
  flags: 'u64',
  maxRfer: 'u64',
  maxExcl: 'u64',
  rsvRfer: 'u64',
  rsvExcl: 'u64',
});
export const DevStats = struct('btrfs_dev_stats_item', 40, { values: bytes(40) });

// btrfs's numbers: objectids, item types, flags and feature bits, as in btrfs-progs
// kernel-shared/uapi/btrfs_tree.h and btrfs.h. u64 objectids near 2^64 are negative
// (see u64.ts): BTRFS_TREE_LOG_OBJECTID = (u64)-6 is -6 here.

// ---- tree and special objectids
export const ROOT_TREE_OBJECTID = 1;
export const EXTENT_TREE_OBJECTID = 2;
export const CHUNK_TREE_OBJECTID = 3;
export const DEV_TREE_OBJECTID = 4;
export const FS_TREE_OBJECTID = 5;
export const ROOT_TREE_DIR_OBJECTID = 6;
export const CSUM_TREE_OBJECTID = 7;
export const QUOTA_TREE_OBJECTID = 8;
export const UUID_TREE_OBJECTID = 9;
export const FREE_SPACE_TREE_OBJECTID = 10;
export const BLOCK_GROUP_TREE_OBJECTID = 11;
export const RAID_STRIPE_TREE_OBJECTID = 12;
export const DEV_STATS_OBJECTID = 0;
export const BALANCE_OBJECTID = -4;
export const ORPHAN_OBJECTID = -5;
export const TREE_LOG_OBJECTID = -6;
export const TREE_LOG_FIXUP_OBJECTID = -7;
export const TREE_RELOC_OBJECTID = -8;
export const DATA_RELOC_TREE_OBJECTID = -9;
export const EXTENT_CSUM_OBJECTID = -10;
export const FREE_SPACE_OBJECTID = -11;
export const FREE_INO_OBJECTID = -12;
export const MULTIPLE_OBJECTIDS = -255;
export const FIRST_FREE_OBJECTID = 256;
export const LAST_FREE_OBJECTID = -256;
export const FIRST_CHUNK_TREE_OBJECTID = 256;
export const DEV_ITEMS_OBJECTID = 1;
export const EMPTY_SUBVOL_DIR_OBJECTID = 2;
/** The root directory of every subvolume. */
export const FIRST_INODE_OBJECTID = 256;

// ---- item types (the key's type byte)
export const ItemType = {
  INODE_ITEM: 1,
  INODE_REF: 12,
  INODE_EXTREF: 13,
  XATTR_ITEM: 24,
  VERITY_DESC_ITEM: 36,
  VERITY_MERKLE_ITEM: 37,
  ORPHAN_ITEM: 48,
  DIR_LOG_ITEM: 60,
  DIR_LOG_INDEX: 72,
  DIR_ITEM: 84,
  DIR_INDEX: 96,
  EXTENT_DATA: 108,
  EXTENT_CSUM: 128,
  ROOT_ITEM: 132,
  ROOT_BACKREF: 144,
  ROOT_REF: 156,
  EXTENT_ITEM: 168,
  METADATA_ITEM: 169,
  EXTENT_OWNER_REF: 172,
  TREE_BLOCK_REF: 176,
  EXTENT_DATA_REF: 178,
  EXTENT_REF_V0: 180,
  SHARED_BLOCK_REF: 182,
  SHARED_DATA_REF: 184,
  BLOCK_GROUP_ITEM: 192,
  FREE_SPACE_INFO: 198,
  FREE_SPACE_EXTENT: 199,
  FREE_SPACE_BITMAP: 200,
  DEV_EXTENT: 204,
  DEV_ITEM: 216,
  CHUNK_ITEM: 228,
  RAID_STRIPE: 230,
  QGROUP_STATUS: 240,
  QGROUP_INFO: 242,
  QGROUP_LIMIT: 244,
  QGROUP_RELATION: 246,
  /** Also BALANCE_ITEM: (BALANCE_OBJECTID, 248, 0). */
  TEMPORARY_ITEM: 248,
  /** Also DEV_STATS: (DEV_STATS_OBJECTID, 249, devid). */
  PERSISTENT_ITEM: 249,
  DEV_REPLACE: 250,
  UUID_KEY_SUBVOL: 251,
  UUID_KEY_RECEIVED_SUBVOL: 252,
  STRING_ITEM: 253,
} as const;
export type ItemTypeName = keyof typeof ItemType;
export const ITEM_TYPE_NAMES: ReadonlyMap<number, ItemTypeName> = new Map(
  Object.entries(ItemType).map(([k, v]) => [v, k as ItemTypeName]),
);

// ---- block group / chunk type and profile bits
export const BlockGroupFlags = {
  DATA: 1 << 0,
  SYSTEM: 1 << 1,
  METADATA: 1 << 2,
  RAID0: 1 << 3,
  RAID1: 1 << 4,
  DUP: 1 << 5,
  RAID10: 1 << 6,
  RAID5: 1 << 7,
  RAID6: 1 << 8,
  RAID1C3: 1 << 9,
  RAID1C4: 1 << 10,
} as const;
export const BLOCK_GROUP_TYPE_MASK = BlockGroupFlags.DATA | BlockGroupFlags.SYSTEM | BlockGroupFlags.METADATA;
export const BLOCK_GROUP_PROFILE_MASK = BlockGroupFlags.RAID0 | BlockGroupFlags.RAID1 | BlockGroupFlags.DUP |
  BlockGroupFlags.RAID10 | BlockGroupFlags.RAID5 | BlockGroupFlags.RAID6 | BlockGroupFlags.RAID1C3 | BlockGroupFlags.RAID1C4;

// ---- extent item flags
export const EXTENT_FLAG_DATA = 1 << 0;
export const EXTENT_FLAG_TREE_BLOCK = 1 << 1;
export const BLOCK_FLAG_FULL_BACKREF = 1 << 8;

// ---- tree block header flags (u64; the top byte holds the backref revision)
export const HEADER_FLAG_WRITTEN = 1 << 0;
export const HEADER_FLAG_RELOC = 1 << 1;
export const MIXED_BACKREF_REV = 1;
/** Bit offset of the backref revision within the header flags. */
export const BACKREF_REV_SHIFT = 56;

// ---- superblock
export const SUPER_INFO_OFFSET = 0x10000;
export const SUPER_INFO_SIZE = 4096;
export const SUPER_MIRROR_MAX = 3;
export const SUPER_MIRROR_SHIFT = 12;
/** "_BHRfS_M" as a little-endian u64, in halves. */
export const SUPER_MAGIC_LO = 0x5248425f;
export const SUPER_MAGIC_HI = 0x4d5f5366;
export const SUPER_MAGIC_STRING = '_BHRfS_M';
export const SYSTEM_CHUNK_ARRAY_SIZE = 2048;
export const NUM_BACKUP_ROOTS = 4;
export const LABEL_SIZE = 256;
export const CSUM_SIZE = 32;
export const FSID_SIZE = 16;
export const UUID_SIZE = 16;
/** Superblock flags (u64; SEEDING is bit 32). */
export const SUPER_FLAG_ERROR = 1 << 2;
export const SUPER_FLAG_SEEDING = 2 ** 32;
export const SUPER_FLAG_METADUMP = 2 ** 33;
export const SUPER_FLAG_CHANGING_FSID = 2 ** 35;
export const SUPER_FLAG_CHANGING_FSID_V2 = 2 ** 36;

/** Offset of superblock copy `mirror` (0 = primary at 64 KiB, 1 = 64 MiB, 2 = 256 GiB). */
export function superblockOffset(mirror: number): number {
  const start = 16 * 1024;
  return mirror === 0 ? SUPER_INFO_OFFSET : start * 2 ** (SUPER_MIRROR_SHIFT * mirror);
}

// ---- feature bits
export const IncompatFlags = {
  MIXED_BACKREF: 1 << 0,
  DEFAULT_SUBVOL: 1 << 1,
  MIXED_GROUPS: 1 << 2,
  COMPRESS_LZO: 1 << 3,
  COMPRESS_ZSTD: 1 << 4,
  BIG_METADATA: 1 << 5,
  EXTENDED_IREF: 1 << 6,
  RAID56: 1 << 7,
  SKINNY_METADATA: 1 << 8,
  NO_HOLES: 1 << 9,
  METADATA_UUID: 1 << 10,
  RAID1C34: 1 << 11,
  ZONED: 1 << 12,
  EXTENT_TREE_V2: 1 << 13,
  RAID_STRIPE_TREE: 1 << 14,
  SIMPLE_QUOTA: 1 << 16,
} as const;
export const CompatRoFlags = {
  FREE_SPACE_TREE: 1 << 0,
  FREE_SPACE_TREE_VALID: 1 << 1,
  VERITY: 1 << 2,
  BLOCK_GROUP_TREE: 1 << 3,
} as const;

// ---- limits
export const MAX_LEVEL = 8;
export const STRIPE_LEN = 64 * 1024;
export const NAME_LEN = 255;
export const LINK_MAX = 65535;
export const MAX_EXTENT_SIZE = 128 * 1024 * 1024;
export const MIN_NODESIZE = 4096;
export const MAX_NODESIZE = 65536;

// ---- file extents, directory entry types, inode flags
export const FileExtentType = { INLINE: 0, REG: 1, PREALLOC: 2 } as const;
export const CompressionType = { NONE: 0, ZLIB: 1, LZO: 2, ZSTD: 3 } as const;
export const FileType = {
  UNKNOWN: 0, REG_FILE: 1, DIR: 2, CHRDEV: 3, BLKDEV: 4, FIFO: 5, SOCK: 6, SYMLINK: 7, XATTR: 8,
} as const;
export const InodeFlags = {
  NODATASUM: 1 << 0,
  NODATACOW: 1 << 1,
  READONLY: 1 << 2,
  NOCOMPRESS: 1 << 3,
  PREALLOC: 1 << 4,
  SYNC: 1 << 5,
  IMMUTABLE: 1 << 6,
  APPEND: 1 << 7,
  NODUMP: 1 << 8,
  NOATIME: 1 << 9,
  DIRSYNC: 1 << 10,
  COMPRESS: 1 << 11,
} as const;
export const ROOT_SUBVOL_RDONLY = 1 << 0;
export const ROOT_SUBVOL_DEAD = 2 ** 48;

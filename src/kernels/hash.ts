// The btrfs hashes built on raw CRC-32C, as btrfs's fs/btrfs/hash.h and inode-item.h.
//
// Owns: the key offsets of name-indexed items. DIR_ITEM and XATTR_ITEM keys carry
// btrfs_name_hash(name) as their offset; INODE_EXTREF keys carry
// btrfs_extref_hash(parent, name). Names are the raw bytes stored on disk (UTF-8 as the
// caller encoded them), never re-normalised here.

import { crc32c } from './crc32c.js';

/** btrfs_name_hash(): crc32c((u32)~1, name), the offset of a DIR_ITEM or XATTR_ITEM key. */
export function btrfsNameHash(name: Uint8Array): number {
  return crc32c(0xfffffffe, name);
}

/**
 * btrfs_extref_hash(): crc32c(parent_objectid, name), the offset of an INODE_EXTREF key.
 * btrfs passes the u64 objectid to a u32 seed, so only its low 32 bits count;
 * `>>> 0` takes them exactly for any integer objectid below 2^53.
 */
export function btrfsExtrefHash(parentObjectid: number, name: Uint8Array): number {
  return crc32c(parentObjectid >>> 0, name);
}

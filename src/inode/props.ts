// Inode properties inherited at creation (btrfs props.c btrfs_inode_inherit_props, called by
// btrfs_create_new_inode for every new inode but a subvolume's root, which inherits from its
// parent subvolume's root instead: subvol/subvolume.ts).
//
// The one inheritable property is btrfs.compression. A new regular file or directory gets the
// codec its directory's property names (prop_compression_extract: the codec's name alone,
// so 'zstd:5' passes on as 'zstd'; 'no' / 'none' are not passed on), stored as its own
// btrfs.compression xattr; the flags that go with it (COMPRESS) are already the ones
// btrfs_inherit_iflags gives (inode/attr.ts), since a directory whose property names a codec
// has COMPRESS (prop_compression_apply sets it, chattr -c / +m remove the property with it).
// Other file types get nothing (prop_compression_ignore).
//
// The kernel skips the lookup for directories without properties (BTRFS_INODE_HAS_PROPS, in
// memory); the COMPRESS flag plays that part here, so creating a file costs nothing more
// unless its directory compresses.
import type { FsInfo, Root } from '../fs/fs-info.js';
import { FileType, InodeFlags, ItemType } from '../format/constants.js';
import { Key } from '../format/key.js';
import { encodeDirItem, insertHashed, lookupHashed } from './dir-item.js';
import { isDir, isReg, type InodeItem } from './inode.js';

const COMPRESSION_XATTR = new TextEncoder().encode('btrfs.compression');
const CODECS = ['zlib', 'lzo', 'zstd'];

/** btrfs_inode_inherit_props for inode `ino` (of `mode`), just created in directory `dir` whose item is `parent`. */
export async function inheritProps(fs: FsInfo, root: Root, dir: number, parent: InodeItem, ino: number, mode: number): Promise<void> {
  if ((parent.flags & InodeFlags.COMPRESS) === 0) return;
  if (!isReg(mode) && !isDir(mode)) return;
  const prop = await lookupHashed(fs, root, dir, ItemType.XATTR_ITEM, COMPRESSION_XATTR);
  if (!prop) return;
  const codec = CODECS.find((c) => new TextDecoder().decode(prop.data).startsWith(c));
  if (codec === undefined) return;
  const value = new TextEncoder().encode(codec);
  await insertHashed(fs, root, ino, ItemType.XATTR_ITEM, encodeDirItem(Key.MIN, fs.transid, FileType.XATTR, COMPRESSION_XATTR, value), COMPRESSION_XATTR);
}

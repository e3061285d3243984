// File attributes (btrfs-man5 FILE ATTRIBUTES; the kernel's btrfs_fileattr_get/set, with
// check_fsflags and btrfs_inherit_iflags): chattr letters mapped onto btrfs inode flags,
// the rules for changing them, and what a new inode inherits from its directory and from the
// mount options.
import { InodeFlags } from '../format/constants.js';
import { FsError } from '../util/errors.js';
import { readInode, writeInode, nowTimespec, isReg, type InodeItem } from './inode.js';
import type { FsInfo, Root } from '../fs/fs-info.js';
import { setXattr, removeXattr } from './namei.js';

const COMPRESSION_XATTR = new TextEncoder().encode('btrfs.compression');

/** chattr letter -> btrfs inode flag, in lsattr's print order for the ones btrfs supports. */
export const ATTRIBUTES: readonly { letter: string; flag: number; meaning: string }[] = [
  { letter: 'S', flag: InodeFlags.SYNC, meaning: 'synchronous updates' },
  { letter: 'D', flag: InodeFlags.DIRSYNC, meaning: 'synchronous directory updates' },
  { letter: 'i', flag: InodeFlags.IMMUTABLE, meaning: 'immutable' },
  { letter: 'a', flag: InodeFlags.APPEND, meaning: 'append only' },
  { letter: 'd', flag: InodeFlags.NODUMP, meaning: 'no dump' },
  { letter: 'A', flag: InodeFlags.NOATIME, meaning: 'no atime updates' },
  { letter: 'c', flag: InodeFlags.COMPRESS, meaning: 'compress' },
  { letter: 'C', flag: InodeFlags.NODATACOW, meaning: 'no copy on write' },
  { letter: 'm', flag: InodeFlags.NOCOMPRESS, meaning: 'no compression' },
];

const ALL_ATTR_FLAGS = ATTRIBUTES.reduce((a, x) => a | x.flag, 0);

/** The attribute letters set on an inode, in lsattr's order. */
export function attributeLetters(flags: number): string {
  return ATTRIBUTES.filter((a) => flags & a.flag).map((a) => a.letter).join('');
}

/** Parses chattr's mode string ("+C", "-ai", "=AS"; several separated by spaces or commas). */
export function applyAttributeSpec(current: number, spec: string): number {
  let flags = current & ALL_ATTR_FLAGS;
  const parts = spec.split(/[\s,]+/).filter(Boolean);
  if (parts.length === 0) throw new FsError('EINVAL', `empty attribute spec`);
  for (const p of parts) {
    const op = p[0];
    if (op !== '+' && op !== '-' && op !== '=') throw new FsError('EINVAL', `attribute spec '${p}' must start with +, - or =`);
    let bits = 0;
    for (const ch of p.slice(1)) {
      const a = ATTRIBUTES.find((x) => x.letter === ch);
      if (!a) throw new FsError('EOPNOTSUPP', `attribute '${ch}' is not supported by btrfs`);
      bits |= a.flag;
    }
    if (op === '+') flags |= bits;
    else if (op === '-') flags &= ~bits;
    else flags = bits;
  }
  return flags;
}

/**
 * Sets the attribute flags of an inode as the kernel's btrfs_fileattr_set does: c and m
 * together are EINVAL; C on a regular file changes only while it is empty (silently kept
 * otherwise, as btrfs does) and brings NODATASUM along; c sets COMPRESS (clearing
 * NOCOMPRESS) and the btrfs.compression property to the mount's codec (zlib without one),
 * m sets NOCOMPRESS (clearing COMPRESS), neither clears both and the property; the
 * property changes only when c or m changes. Returns the inode's new flags.
 */
export async function setAttributes(fs: FsInfo, root: Root, ino: number, wanted: number): Promise<number> {
  const item = await readInode(fs, root, ino);
  const old = item.flags;
  if ((wanted & InodeFlags.COMPRESS) && (wanted & InodeFlags.NOCOMPRESS)) throw new FsError('EINVAL', "attributes 'c' and 'm' are mutually exclusive");
  // The immutable and append-only flags block every other change while set (the kernel
  // allows clearing them, and changing them, only with CAP_LINUX_IMMUTABLE: we run as root).
  let flags = (old & ~ALL_ATTR_FLAGS) | (wanted & ALL_ATTR_FLAGS & ~InodeFlags.NODATACOW);
  if (wanted & InodeFlags.NODATACOW) {
    if (isReg(item.mode)) {
      if (item.size === 0) flags |= InodeFlags.NODATACOW | InodeFlags.NODATASUM;
      else flags |= old & InodeFlags.NODATACOW;
    } else {
      flags |= InodeFlags.NODATACOW;
    }
  } else if (isReg(item.mode)) {
    if (item.size === 0) flags &= ~(InodeFlags.NODATACOW | InodeFlags.NODATASUM);
    else flags |= old & InodeFlags.NODATACOW;
  }
  const compressBits = InodeFlags.COMPRESS | InodeFlags.NOCOMPRESS;
  if ((flags & compressBits) !== (old & compressBits)) {
    // btrfs_fileattr_set: chattr +c stores the codec as the property; -c / +m remove it.
    if (flags & InodeFlags.COMPRESS) {
      await setXattr(fs, root, ino, COMPRESSION_XATTR, new TextEncoder().encode(fs.options.compress ?? 'zlib'));
    } else {
      try {
        await removeXattr(fs, root, ino, COMPRESSION_XATTR);
      } catch (e) {
        if (!(e instanceof FsError && e.code === 'ENODATA')) throw e;
      }
    }
    // The xattr calls wrote the inode (ctime): work on the item as it is now.
    const now = await readInode(fs, root, ino);
    item.ctime = now.ctime;
    item.sequence = now.sequence;
  }
  if (flags === old) return old;
  item.flags = flags;
  item.ctime = nowTimespec();
  item.sequence++;
  await writeInode(fs, root, ino, item);
  return flags;
}

/** Flags a new inode of `mode` gets from its directory and the mount (btrfs_new_inode, btrfs_inherit_iflags). */
export function inheritedFlags(fs: FsInfo, dir: InodeItem, mode: number): number {
  let flags = 0;
  if (dir.flags & InodeFlags.NOCOMPRESS) flags |= InodeFlags.NOCOMPRESS;
  else if (dir.flags & InodeFlags.COMPRESS) flags |= InodeFlags.COMPRESS;
  if (dir.flags & InodeFlags.NODATACOW) {
    flags |= InodeFlags.NODATACOW;
    if (isReg(mode)) flags |= InodeFlags.NODATASUM;
  }
  if (isReg(mode)) {
    if (!fs.options.dataSum) flags |= InodeFlags.NODATASUM;
    if (!fs.options.dataCow) flags |= InodeFlags.NODATACOW | InodeFlags.NODATASUM;
  }
  return flags;
}

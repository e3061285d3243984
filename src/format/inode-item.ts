// The INODE_ITEM encoder and decoder by hand (btrfs_inode_item, 160 bytes): every create and
// every delayed inode flush encodes one, every cold stat decodes one, and the generic struct
// code (a loop over field descriptors, a message string per field) showed in the profiles. Byte
// loads and stores, no DataView. Checked against InodeItem.encode / decode by a test.
import { InodeItem, type InodeItem as InodeItemT } from './structs.js';
import type { Timespec } from './struct.js';
import { getLe32, getU64, putLe32, putU64 } from './u64.js';
import { FsError } from '../util/errors.js';

const I = InodeItem.off;

/** InodeItem.encode(dv, at, item) into bytes. */
export function encodeInodeInto(b: Uint8Array, at: number, item: InodeItemT): void {
  putU64(b, at + I.generation, item.generation);
  putU64(b, at + I.transid, item.transid);
  putU64(b, at + I.size, item.size);
  putU64(b, at + I.nbytes, item.nbytes);
  putU64(b, at + I.blockGroup, item.blockGroup);
  putLe32(b, at + I.nlink, item.nlink);
  putLe32(b, at + I.uid, item.uid);
  putLe32(b, at + I.gid, item.gid);
  putLe32(b, at + I.mode, item.mode);
  putU64(b, at + I.rdev, item.rdev);
  putU64(b, at + I.flags, item.flags);
  putU64(b, at + I.sequence, item.sequence);
  if (item.reserved.length !== 32) throw new FsError('EINVAL', `inode reserved field of ${item.reserved.length} bytes`);
  b.set(item.reserved, at + I.reserved);
  putTimespec(b, at + I.atime, item.atime);
  putTimespec(b, at + I.ctime, item.ctime);
  putTimespec(b, at + I.mtime, item.mtime);
  putTimespec(b, at + I.otime, item.otime);
}

function putTimespec(b: Uint8Array, at: number, t: Timespec): void {
  putU64(b, at, t.sec);
  putLe32(b, at + 8, t.nsec);
}

/** An all-zero reserved area, shared by new items and those decoded with one (nobody changes `reserved`). */
export const ZERO_RESERVED = new Uint8Array(32);

/** InodeItem.decode(viewOf(b), at), the same value and the same EOVERFLOW for a u64 past 2^53. */
export function decodeInodeFrom(b: Uint8Array, at: number): InodeItemT {
  let zero = true;
  for (let i = at + I.reserved, end = i + 32; i < end; i++) if (b[i] !== 0) zero = false;
  return {
    generation: getU64(b, at + I.generation, 'btrfs_inode_item.generation'),
    transid: getU64(b, at + I.transid, 'btrfs_inode_item.transid'),
    size: getU64(b, at + I.size, 'btrfs_inode_item.size'),
    nbytes: getU64(b, at + I.nbytes, 'btrfs_inode_item.nbytes'),
    blockGroup: getU64(b, at + I.blockGroup, 'btrfs_inode_item.blockGroup'),
    nlink: getLe32(b, at + I.nlink),
    uid: getLe32(b, at + I.uid),
    gid: getLe32(b, at + I.gid),
    mode: getLe32(b, at + I.mode),
    rdev: getU64(b, at + I.rdev, 'btrfs_inode_item.rdev'),
    flags: getU64(b, at + I.flags, 'btrfs_inode_item.flags'),
    sequence: getU64(b, at + I.sequence, 'btrfs_inode_item.sequence'),
    reserved: zero ? ZERO_RESERVED : b.slice(at + I.reserved, at + I.reserved + 32),
    atime: getTimespec(b, at + I.atime, 'btrfs_inode_item.atime'),
    ctime: getTimespec(b, at + I.ctime, 'btrfs_inode_item.ctime'),
    mtime: getTimespec(b, at + I.mtime, 'btrfs_inode_item.mtime'),
    otime: getTimespec(b, at + I.otime, 'btrfs_inode_item.otime'),
  };
}

function getTimespec(b: Uint8Array, at: number, what: string): Timespec {
  return { sec: getU64(b, at, what), nsec: getLe32(b, at + 8) };
}

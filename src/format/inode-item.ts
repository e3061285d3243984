// The INODE_ITEM encoder by hand (btrfs_inode_item, 160 bytes): every create and every delayed
// inode flush encodes one, and the generic struct encoder (a loop over field descriptors) showed
// in the profile. Byte stores, no DataView. Checked against InodeItem.encode by a test.
import { InodeItem, type InodeItem as InodeItemT } from './structs.js';
import type { Timespec } from './struct.js';
import { putLe32, putU64 } from './u64.js';
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

// btrfs keys: (objectid u64, type u8, offset u64), sorted by that tuple as unsigned
// values. Kept as five u32-or-smaller numbers so that any 64-bit pattern round-trips
// (uuid-tree keys and extent data ref hashes use all 64 bits) and compare is integer
// math with no BigInt. The disk form is btrfs_disk_key: 17 bytes packed, little-endian.
import { getLe32, u64FromParts, u64Hi, u64Lo, u64PartsToString } from './u64.js';

export const DISK_KEY_SIZE = 17;

export class Key {
  constructor(
    readonly objHi: number,
    readonly objLo: number,
    readonly type: number,
    readonly offHi: number,
    readonly offLo: number,
  ) {}

  /** A key from u64s in number form (negative = near 2^64, see u64.ts). */
  static of(objectid: number, type: number, offset: number): Key {
    return new Key(u64Hi(objectid), u64Lo(objectid), type, u64Hi(offset), u64Lo(offset));
  }

  /** objectid in number form; throws EOVERFLOW for values with no number form. */
  get objectid(): number {
    return u64FromParts(this.objHi, this.objLo, 'key objectid');
  }

  /** offset in number form; throws EOVERFLOW for values with no number form. */
  get offset(): number {
    return u64FromParts(this.offHi, this.offLo, 'key offset');
  }

  withOffset(offset: number): Key {
    return new Key(this.objHi, this.objLo, this.type, u64Hi(offset), u64Lo(offset));
  }

  equals(o: Key): boolean {
    return this.objLo === o.objLo && this.objHi === o.objHi && this.type === o.type && this.offLo === o.offLo && this.offHi === o.offHi;
  }

  toString(): string {
    return `(${u64PartsToString(this.objHi, this.objLo)} ${this.type} ${u64PartsToString(this.offHi, this.offLo)})`;
  }

  static readonly MIN = new Key(0, 0, 0, 0, 0);
  static readonly MAX = new Key(0xffff_ffff, 0xffff_ffff, 0xff, 0xffff_ffff, 0xffff_ffff);
}

export function compareKeys(a: Key, b: Key): number {
  if (a.objHi !== b.objHi) return a.objHi < b.objHi ? -1 : 1;
  if (a.objLo !== b.objLo) return a.objLo < b.objLo ? -1 : 1;
  if (a.type !== b.type) return a.type < b.type ? -1 : 1;
  if (a.offHi !== b.offHi) return a.offHi < b.offHi ? -1 : 1;
  if (a.offLo !== b.offLo) return a.offLo < b.offLo ? -1 : 1;
  return 0;
}

/** Compares the disk key stored at `off` in `dv` with `k`, without allocating. */
export function compareDiskKey(dv: DataView, off: number, k: Key): number {
  let x = dv.getUint32(off + 4, true);
  if (x !== k.objHi) return x < k.objHi ? -1 : 1;
  x = dv.getUint32(off, true);
  if (x !== k.objLo) return x < k.objLo ? -1 : 1;
  x = dv.getUint8(off + 8);
  if (x !== k.type) return x < k.type ? -1 : 1;
  x = dv.getUint32(off + 13, true);
  if (x !== k.offHi) return x < k.offHi ? -1 : 1;
  x = dv.getUint32(off + 9, true);
  if (x !== k.offLo) return x < k.offLo ? -1 : 1;
  return 0;
}

export function readDiskKey(dv: DataView, off: number): Key {
  return new Key(
    dv.getUint32(off + 4, true),
    dv.getUint32(off, true),
    dv.getUint8(off + 8),
    dv.getUint32(off + 13, true),
    dv.getUint32(off + 9, true),
  );
}

/** readDiskKey from bytes (no DataView: small items are read without one). */
export function readDiskKeyAt(b: Uint8Array, off: number): Key {
  return new Key(getLe32(b, off + 4), getLe32(b, off), b[off + 8], getLe32(b, off + 13), getLe32(b, off + 9));
}

export function writeDiskKey(dv: DataView, off: number, k: Key): void {
  dv.setUint32(off, k.objLo, true);
  dv.setUint32(off + 4, k.objHi, true);
  dv.setUint8(off + 8, k.type);
  dv.setUint32(off + 9, k.offLo, true);
  dv.setUint32(off + 13, k.offHi, true);
}

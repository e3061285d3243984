// u64 in memory: a plain JS number (ARCHITECTURE.md §1).
//
// Values 0 .. 2^53-1 are themselves. btrfs's special objectids near 2^64 ((u64)-1 ..
// (u64)-255, the log tree, csum items, orphans, relocation) are kept as the negative
// numbers they are in two's complement: (u64)-1 is -1, BTRFS_EXTENT_CSUM_OBJECTID is
// -10. compareU64 sorts them as the unsigned values they are. Any other value (2^53 ..
// 2^64-2^53-1) has no number form and is refused with EOVERFLOW; fields that may hold
// any 64-bit pattern (uuid-tree keys, hashes) are read as hi/lo u32 halves instead.
import { FsError } from '../util/errors.js';

const TWO32 = 0x1_0000_0000;
/** Largest hi half of a value that is itself a safe integer. */
const SAFE_HI_MAX = 0x1f_ffff;
/** Smallest hi half of a value that is a safe negative number in two's complement. */
const NEG_HI_MIN = 0xffe0_0000;

/** Converts hi/lo halves to the number form, or throws EOVERFLOW naming `what`. */
export function u64FromParts(hi: number, lo: number, what = 'u64 value'): number {
  if (hi <= SAFE_HI_MAX) return hi * TWO32 + lo;
  if (hi >= NEG_HI_MIN) return -((0xffff_ffff - hi) * TWO32 + (TWO32 - lo));
  throw new FsError('EOVERFLOW', `${what} 0x${hex32(hi)}${hex32(lo)} is beyond what butterfs can address (2^53-1)`);
}

/** hi half of the u64 a number stands for. */
export function u64Hi(n: number): number {
  if (n >= 0) return Math.floor(n / TWO32) >>> 0;
  const m = -n; // 2^64 - value
  // value = 2^64 - m: hi = 0xffffffff - floor((m - 1) / 2^32)
  return (0xffff_ffff - Math.floor((m - 1) / TWO32)) >>> 0;
}

/** lo half of the u64 a number stands for. */
export function u64Lo(n: number): number {
  if (n >= 0) return n >>> 0; // n % 2^32 for safe integers (>>> takes ToUint32, i.e. modulo 2^32)
  return (TWO32 - ((-n) % TWO32)) % TWO32 >>> 0;
}

/** Unsigned comparison of two u64 in number form: negatives (near 2^64) sort last. */
export function compareU64(a: number, b: number): number {
  if (a === b) return 0;
  if ((a < 0) === (b < 0)) return a < b ? -1 : 1;
  return a < 0 ? 1 : -1;
}

/** Checks that `n` is an integer the number form can hold. */
export function isU64Number(n: number): boolean {
  return Number.isSafeInteger(n);
}

export function readU64(dv: DataView, off: number, what?: string): number {
  return u64FromParts(dv.getUint32(off + 4, true), dv.getUint32(off, true), what);
}

export function writeU64(dv: DataView, off: number, n: number): void {
  if (!Number.isSafeInteger(n)) throw new FsError('EOVERFLOW', `cannot store ${n} as u64`);
  dv.setUint32(off, u64Lo(n), true);
  dv.setUint32(off + 4, u64Hi(n), true);
}

/** Little-endian u32 into bytes (no DataView: small items are built without touching their buffer). */
export function putLe32(b: Uint8Array, off: number, v: number): void {
  b[off] = v;
  b[off + 1] = v >>> 8;
  b[off + 2] = v >>> 16;
  b[off + 3] = v >>> 24;
}

/** writeU64 into bytes (no DataView). */
export function putU64(b: Uint8Array, off: number, n: number): void {
  if (!Number.isSafeInteger(n)) throw new FsError('EOVERFLOW', `cannot store ${n} as u64`);
  putLe32(b, off, u64Lo(n));
  putLe32(b, off + 4, u64Hi(n));
}

/** Little-endian u32 from bytes (no DataView). */
export function getLe32(b: Uint8Array, off: number): number {
  return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
}

/** readU64 from bytes (no DataView). */
export function getU64(b: Uint8Array, off: number, what?: string): number {
  return u64FromParts(getLe32(b, off + 4), getLe32(b, off), what);
}

/** u64 as an unsigned decimal string, as btrfs-progs prints it. */
export function u64ToString(n: number): string {
  if (n >= 0) return String(n);
  return (18446744073709551616n + BigInt(n)).toString();
}

export function u64PartsToString(hi: number, lo: number): string {
  return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
}

export function hex32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

// A small declarative layer for btrfs's packed little-endian structs: each struct is
// declared once as an ordered field list; offsets and the total size are computed and
// checked against btrfs's sizeof() at module load, and decode/encode are derived from the
// same list. Hot fields (keys in nodes, item offsets) use the `off` table with direct
// DataView reads instead of decode().
import { Key, DISK_KEY_SIZE, readDiskKey, writeDiskKey } from './key.js';
import { readU64, writeU64 } from './u64.js';
import { assert } from '../util/assert.js';

export interface Timespec {
  sec: number;
  nsec: number;
}

export type FieldType = 'u8' | 'u16' | 'u32' | 'u64' | 'key' | 'timespec' | { bytes: number } | Struct<any>;

type FieldValue<T> = T extends 'u8' | 'u16' | 'u32' | 'u64'
  ? number
  : T extends 'key'
    ? Key
    : T extends 'timespec'
      ? Timespec
      : T extends { bytes: number }
        ? Uint8Array
        : T extends Struct<infer R>
          ? R
          : never;

export type StructValue<F extends Record<string, FieldType>> = { -readonly [K in keyof F]: FieldValue<F[K]> };

export interface Struct<T> {
  readonly name: string;
  readonly size: number;
  readonly off: { readonly [K in keyof T]: number };
  decode(dv: DataView, base: number): T;
  encode(dv: DataView, base: number, value: T): void;
  /** A value with every field zero (bytes fields zero-filled). */
  zero(): T;
}

function fieldSize(t: FieldType): number {
  switch (t) {
    case 'u8': return 1;
    case 'u16': return 2;
    case 'u32': return 4;
    case 'u64': return 8;
    case 'key': return DISK_KEY_SIZE;
    case 'timespec': return 12;
    default: return 'bytes' in t ? t.bytes : t.size;
  }
}

function readField(dv: DataView, off: number, t: FieldType, what: string): unknown {
  switch (t) {
    case 'u8': return dv.getUint8(off);
    case 'u16': return dv.getUint16(off, true);
    case 'u32': return dv.getUint32(off, true);
    case 'u64': return readU64(dv, off, what);
    case 'key': return readDiskKey(dv, off);
    case 'timespec': return { sec: readU64(dv, off, what), nsec: dv.getUint32(off + 8, true) };
    default:
      if ('bytes' in t) return new Uint8Array(dv.buffer, dv.byteOffset + off, t.bytes).slice();
      return t.decode(dv, off);
  }
}

function writeField(dv: DataView, off: number, t: FieldType, v: any): void {
  switch (t) {
    case 'u8': dv.setUint8(off, v); return;
    case 'u16': dv.setUint16(off, v, true); return;
    case 'u32': dv.setUint32(off, v, true); return;
    case 'u64': writeU64(dv, off, v); return;
    case 'key': writeDiskKey(dv, off, v); return;
    case 'timespec': writeU64(dv, off, v.sec); dv.setUint32(off + 8, v.nsec, true); return;
    default:
      if ('bytes' in t) {
        const b = v as Uint8Array;
        assert(b.length <= t.bytes, `bytes field too long: ${b.length} > ${t.bytes}`);
        const dst = new Uint8Array(dv.buffer, dv.byteOffset + off, t.bytes);
        dst.fill(0);
        dst.set(b);
        return;
      }
      t.encode(dv, off, v);
  }
}

function zeroField(t: FieldType): unknown {
  switch (t) {
    case 'u8': case 'u16': case 'u32': case 'u64': return 0;
    case 'key': return Key.MIN;
    case 'timespec': return { sec: 0, nsec: 0 };
    default: return 'bytes' in t ? new Uint8Array(t.bytes) : t.zero();
  }
}

/** Declares a packed struct; `expectedSize` is btrfs's sizeof(), checked here. */
export function struct<const F extends Record<string, FieldType>>(name: string, expectedSize: number, fields: F): Struct<StructValue<F>> {
  const entries = Object.entries(fields) as [string, FieldType][];
  const off: Record<string, number> = {};
  let size = 0;
  for (const [k, t] of entries) {
    off[k] = size;
    size += fieldSize(t);
  }
  assert(size === expectedSize, `struct ${name}: fields add up to ${size} bytes, btrfs has ${expectedSize}`);
  return {
    name,
    size,
    off: off as any,
    decode(dv, base) {
      const out: Record<string, unknown> = {};
      for (const [k, t] of entries) out[k] = readField(dv, base + off[k], t, `${name}.${k}`);
      return out as any;
    },
    encode(dv, base, value) {
      for (const [k, t] of entries) writeField(dv, base + off[k], t, (value as any)[k]);
    },
    zero() {
      const out: Record<string, unknown> = {};
      for (const [k, t] of entries) out[k] = zeroField(t);
      return out as any;
    },
  };
}

/** A DataView over the whole of `b`. */
export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

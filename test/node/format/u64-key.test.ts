import { describe, expect, it } from 'vitest';
import { compareU64, readU64, u64FromParts, u64Hi, u64Lo, u64ToString, writeU64 } from '../../../src/format/u64.js';
import { Key, compareKeys, compareDiskKey, readDiskKey, writeDiskKey } from '../../../src/format/key.js';
import { EXTENT_CSUM_OBJECTID, TREE_LOG_OBJECTID } from '../../../src/format/constants.js';

describe('u64 number form', () => {
  it('round-trips safe integers and the special objectids near 2^64', () => {
    const dv = new DataView(new ArrayBuffer(8));
    for (const n of [0, 1, 255, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, -6, -10, -255, -(2 ** 32), -(2 ** 53 - 1)]) {
      writeU64(dv, 0, n);
      expect(readU64(dv, 0)).toBe(n);
      expect(u64FromParts(u64Hi(n), u64Lo(n))).toBe(n);
    }
    writeU64(dv, 0, -1);
    expect([...new Uint8Array(dv.buffer)]).toEqual([255, 255, 255, 255, 255, 255, 255, 255]);
    writeU64(dv, 0, EXTENT_CSUM_OBJECTID);
    expect(u64ToString(readU64(dv, 0))).toBe('18446744073709551606');
  });

  it('refuses values with no number form, with EOVERFLOW', () => {
    expect(() => u64FromParts(0x0020_0000, 0)).toThrow(expect.objectContaining({ code: 'EOVERFLOW' }));
    expect(() => u64FromParts(0x8000_0000, 0)).toThrow(expect.objectContaining({ code: 'EOVERFLOW' }));
    const dv = new DataView(new ArrayBuffer(8));
    expect(() => writeU64(dv, 0, 2 ** 53)).toThrow(expect.objectContaining({ code: 'EOVERFLOW' }));
    expect(() => writeU64(dv, 0, 1.5)).toThrow(expect.objectContaining({ code: 'EOVERFLOW' }));
  });

  it('compares as unsigned: values near 2^64 sort after every positive', () => {
    const sorted = [0, 5, 2 ** 53 - 1, -(2 ** 53 - 1), -255, -10, -6, -1];
    const shuffled = [...sorted].reverse();
    expect(shuffled.sort(compareU64)).toEqual(sorted);
  });
});

describe('keys', () => {
  it('sort by (objectid, type, offset) as unsigned, on disk and in memory alike', () => {
    const keys = [
      Key.of(1, 1, 0),
      Key.of(1, 1, 2 ** 40),
      Key.of(1, 2, 0),
      Key.of(256, 84, 0xffff_fffe),
      new Key(0x1543fe9f, 0xb7d67733, 251, 0x9e940bba, 0xfce5db87), // a uuid-tree key, all 64 bits used
      Key.of(TREE_LOG_OBJECTID, 132, 5),
      Key.of(EXTENT_CSUM_OBJECTID, 128, 4096), // (u64)-10 sorts before (u64)-6
      Key.MAX,
    ].sort(compareKeys);
    expect(keys[keys.length - 1]).toBe(Key.MAX);
    expect(compareKeys(Key.of(EXTENT_CSUM_OBJECTID, 128, 0), Key.of(TREE_LOG_OBJECTID, 1, 0))).toBe(-1);
    const buf = new DataView(new ArrayBuffer(17));
    for (let i = 0; i < keys.length; i++) {
      writeDiskKey(buf, 0, keys[i]);
      expect(readDiskKey(buf, 0).equals(keys[i])).toBe(true);
      for (let j = 0; j < keys.length; j++) expect(compareDiskKey(buf, 0, keys[j])).toBe(Math.sign(i - j));
    }
  });

  it('exposes number forms and refuses the ones that have none', () => {
    expect(Key.of(-10, 128, 4096).objectid).toBe(-10);
    expect(() => new Key(0x1543fe9f, 0xb7d67733, 251, 0, 0).objectid).toThrow(expect.objectContaining({ code: 'EOVERFLOW' }));
    expect(Key.of(5, 132, -1).toString()).toBe('(5 132 18446744073709551615)');
  });
});

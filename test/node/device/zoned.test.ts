// Zoned emulation rules (btrfs-man5 ZONED MODE) and write-pointer persistence across reopen and
// crashes (through FaultDevice crash states).
import { describe, expect, it } from 'vitest';
import { FaultDevice, MemoryDevice, ZonedDevice } from '../../../src/device/index.js';
import { zoneTableSlotBytes } from '../../../src/device/zoned.js';
import { isFsError } from '../../../src/util/errors.js';
import { pattern } from '../../shared/device-conformance.js';
import { expectBytes } from '../../shared/device-bytes.js';

const KiB = 1024;
const ZONE = 64 * KiB;
const fsErr = (code: string) => (e: unknown) => isFsError(e) && e.code === code;

/** 16 zones of 64 KiB plus room for the table. */
function underlying(): MemoryDevice {
  return new MemoryDevice(17 * ZONE);
}

describe('ZonedDevice geometry', () => {
  it('exposes whole zones and keeps the table outside them', async () => {
    const zd = await ZonedDevice.open(underlying(), { zoneSizeBytes: ZONE, conventionalZones: 2 });
    expect(zd.zoneCount).toBe(16);
    expect(zd.sizeBytes).toBe(16 * ZONE);
    expect(zd.zoned.zoneSizeBytes).toBe(ZONE);
    expect(zd.zoned.conventionalZones).toBe(2);
    const r = zd.zoned.report();
    expect(r).toHaveLength(16);
    expect(r[0]).toMatchObject({ type: 'conventional', condition: 'not-wp', startBytes: 0 });
    expect(r[2]).toMatchObject({ type: 'sequential', condition: 'empty', startBytes: 2 * ZONE, writePointerBytes: 2 * ZONE });
    expect(zoneTableSlotBytes(16)).toBe(4096);
  });
  it('refuses bad zone sizes and counts', () => {
    expect(() => new ZonedDevice(underlying(), { zoneSizeBytes: 96 * KiB })).toThrow(/EINVAL/);
    expect(() => new ZonedDevice(underlying(), { zoneSizeBytes: 32 * KiB })).toThrow(/EINVAL/);
    expect(() => new ZonedDevice(underlying(), { zoneSizeBytes: ZONE, conventionalZones: 17 })).toThrow(/EINVAL/);
    expect(() => new ZonedDevice(new MemoryDevice(ZONE), { zoneSizeBytes: ZONE })).toThrow(/EINVAL/);
  });
});

describe('ZonedDevice sequential write rules', () => {
  it('accepts writes only at the write pointer and within the zone', async () => {
    const zd = await ZonedDevice.open(underlying(), { zoneSizeBytes: ZONE, conventionalZones: 1 });
    const z1 = ZONE;
    await expect(zd.write(z1 + 4 * KiB, pattern(4 * KiB, 1))).rejects.toSatisfy(fsErr('EIO'));
    await zd.write(z1, pattern(8 * KiB, 1));
    // In-order appends may be in flight together.
    await Promise.all([zd.write(z1 + 8 * KiB, pattern(4 * KiB, 2)), zd.write(z1 + 12 * KiB, pattern(4 * KiB, 3))]);
    expect(zd.zoned.report()[1]).toMatchObject({ condition: 'open', writePointerBytes: z1 + 16 * KiB });
    await expect(zd.write(z1, pattern(4 * KiB, 9))).rejects.toSatisfy(fsErr('EIO')); // rewrite behind wp
    await expect(zd.write(z1 + 16 * KiB, pattern(ZONE, 9))).rejects.toSatisfy(fsErr('EIO')); // crosses zone end
    await expect(zd.write(z1 + 16 * KiB, new Uint8Array(100))).rejects.toSatisfy(fsErr('EINVAL'));
    await zd.write(z1 + 16 * KiB, pattern(ZONE - 16 * KiB, 4));
    expect(zd.zoned.report()[1]).toMatchObject({ condition: 'full', writePointerBytes: 2 * ZONE });
    await expect(zd.write(2 * ZONE - 4 * KiB, pattern(4 * KiB, 9))).rejects.toSatisfy(fsErr('EIO'));
    expectBytes(await zd.read(z1 + 8 * KiB, 4 * KiB), pattern(4 * KiB, 2));
  });

  it('reads past the write pointer return zeros, even over stale data', async () => {
    const mem = underlying();
    await mem.write(3 * ZONE, pattern(ZONE, 77)); // junk left on the medium
    const zd = await ZonedDevice.open(mem, { zoneSizeBytes: ZONE });
    expectBytes(await zd.read(3 * ZONE, ZONE), new Uint8Array(ZONE));
    await zd.write(3 * ZONE, pattern(4 * KiB, 1));
    const r = await zd.read(3 * ZONE, 12 * KiB);
    expectBytes(r.subarray(0, 4 * KiB), pattern(4 * KiB, 1));
    expectBytes(r.subarray(4 * KiB), new Uint8Array(8 * KiB));
    // A read spanning zones: zone 3 partly written, zone 4 empty.
    const span = await zd.read(4 * ZONE - 4 * KiB, 8 * KiB);
    expectBytes(span, new Uint8Array(8 * KiB));
  });

  it('reset rewinds a zone (content reads as zeros), finish fills it', async () => {
    const zd = await ZonedDevice.open(underlying(), { zoneSizeBytes: ZONE, conventionalZones: 1 });
    await zd.write(2 * ZONE, pattern(16 * KiB, 1));
    await zd.zoned.reset(2);
    expect(zd.zoned.report()[2]).toMatchObject({ condition: 'empty', writePointerBytes: 2 * ZONE });
    expectBytes(await zd.read(2 * ZONE, 16 * KiB), new Uint8Array(16 * KiB));
    await zd.write(2 * ZONE, pattern(4 * KiB, 2));
    expectBytes(await zd.read(2 * ZONE, 8 * KiB), Uint8Array.from([...pattern(4 * KiB, 2), ...new Uint8Array(4 * KiB)]));
    await zd.zoned.finish(2);
    expect(zd.zoned.report()[2]).toMatchObject({ condition: 'full', writePointerBytes: 3 * ZONE });
    await expect(zd.write(2 * ZONE + 4 * KiB, pattern(4 * KiB, 3))).rejects.toSatisfy(fsErr('EIO'));
    expectBytes(await zd.read(2 * ZONE + 4 * KiB, 4 * KiB), new Uint8Array(4 * KiB));
    await expect(zd.zoned.reset(0)).rejects.toSatisfy(fsErr('EINVAL')); // conventional
    await expect(zd.zoned.finish(16)).rejects.toSatisfy(fsErr('EINVAL'));
  });

  it('conventional zones are randomly writable but a write may not run into a sequential zone', async () => {
    const zd = await ZonedDevice.open(underlying(), { zoneSizeBytes: ZONE, conventionalZones: 2 });
    await zd.write(40 * KiB, pattern(4 * KiB, 1));
    await zd.write(4 * KiB, pattern(4 * KiB, 2));
    await zd.write(40 * KiB, pattern(4 * KiB, 3));
    await zd.write(ZONE - 4 * KiB, pattern(8 * KiB, 4)); // across two conventional zones
    expectBytes(await zd.read(40 * KiB, 4 * KiB), pattern(4 * KiB, 3));
    expectBytes(await zd.read(ZONE - 4 * KiB, 8 * KiB), pattern(8 * KiB, 4));
    await expect(zd.write(2 * ZONE - 4 * KiB, pattern(8 * KiB, 5))).rejects.toSatisfy(fsErr('EIO'));
  });
});

describe('ZonedDevice write-pointer persistence', () => {
  it('survives close and reopen with the same options (no other step)', async () => {
    const mem = underlying();
    const zd = new ZonedDevice(mem, { zoneSizeBytes: ZONE, conventionalZones: 1 });
    await zd.write(ZONE, pattern(12 * KiB, 1));
    await zd.write(3 * ZONE, pattern(4 * KiB, 2));
    await zd.zoned.finish(5);
    await zd.close();
    const mem2 = mem.fork(); // the same bytes, as a fresh handle would see them
    const again = new ZonedDevice(mem2, { zoneSizeBytes: ZONE, conventionalZones: 1 });
    expectBytes(await again.read(ZONE, 12 * KiB), pattern(12 * KiB, 1));
    const r = again.zoned.report();
    expect(r[1].writePointerBytes).toBe(ZONE + 12 * KiB);
    expect(r[3].writePointerBytes).toBe(3 * ZONE + 4 * KiB);
    expect(r[5].condition).toBe('full');
    expectBytes(await again.read(5 * ZONE, 4 * KiB), new Uint8Array(4 * KiB));
    await again.write(ZONE + 12 * KiB, pattern(4 * KiB, 3));
  });

  it('refuses to reopen with another geometry', async () => {
    const mem = underlying();
    const zd = await ZonedDevice.open(mem, { zoneSizeBytes: ZONE, conventionalZones: 1 });
    await zd.write(ZONE, pattern(4 * KiB, 1));
    await zd.flush();
    await expect(ZonedDevice.open(mem.fork(), { zoneSizeBytes: ZONE, conventionalZones: 2 })).rejects.toSatisfy(fsErr('EINVAL'));
  });

  it('after a crash, write pointers match what was flushed', async () => {
    const fd = new FaultDevice(underlying());
    const zd = await ZonedDevice.open(fd, { zoneSizeBytes: ZONE });
    await zd.write(0, pattern(8 * KiB, 1));
    await zd.flush();
    await zd.write(8 * KiB, pattern(8 * KiB, 2)); // unflushed
    await zd.write(ZONE, pattern(4 * KiB, 3)); // unflushed
    for (const policy of ['none', 'all'] as const) {
      const img = fd.crashState(policy);
      const again = await ZonedDevice.open(img, { zoneSizeBytes: ZONE });
      const r = again.zoned.report();
      expect(r[0].writePointerBytes).toBe(8 * KiB);
      expect(r[1].condition).toBe('empty');
      expectBytes(await again.read(0, 16 * KiB), Uint8Array.from([...pattern(8 * KiB, 1), ...new Uint8Array(8 * KiB)]));
      // Appending at the recovered pointer works.
      await again.write(8 * KiB, pattern(4 * KiB, 4));
    }
  });

  it('at every crash point with torn and reordered writes, the pointer is a flushed one and data below it is intact', async () => {
    const fd = new FaultDevice(underlying());
    const zd = await ZonedDevice.open(fd, { zoneSizeBytes: ZONE, conventionalZones: 1 });
    // A model: per flush, the write pointers and content it made durable.
    const flushed: { wps: number[]; content: Map<number, Uint8Array> }[] = [{ wps: new Array(16).fill(0), content: new Map() }];
    const content = new Map<number, Uint8Array>(); // zone -> bytes written so far
    const wps = new Array<number>(16).fill(0);
    for (let step = 0; step < 24; step++) {
      const zone = 1 + (step % 5);
      const len = 4 * KiB * (1 + (step % 3));
      if (wps[zone] + len > ZONE) continue;
      const data = pattern(len, step + 1);
      await zd.write(zone * ZONE + wps[zone], data);
      const prev = content.get(zone) ?? new Uint8Array(0);
      content.set(zone, Uint8Array.from([...prev, ...data]));
      wps[zone] += len;
      if (step % 4 === 3) {
        await zd.flush();
        flushed.push({ wps: wps.slice(), content: new Map([...content].map(([k, v]) => [k, v.slice()])) });
      }
      if (step === 13) {
        await zd.zoned.reset(2);
        content.set(2, new Uint8Array(0));
        wps[2] = 0;
        flushed.push({ wps: wps.slice(), content: new Map([...content].map(([k, v]) => [k, v.slice()])) });
      }
    }
    let checked = 0;
    for (let k = 0; k <= fd.events.length; k++) {
      for (const seed of [1, 2, 3]) {
        const img = fd.stateAfter(k, { seed: seed * 1000 + k, tearProbability: 0.4 });
        const again = await ZonedDevice.open(img, { zoneSizeBytes: ZONE, conventionalZones: 1 });
        const report = again.zoned.report();
        const got = report.map((z, i) => (i === 0 ? 0 : z.writePointerBytes - z.startBytes));
        const match = flushed.find((f) => f.wps.every((wp, i) => wp === got[i]));
        expect(match, `crash point ${k} seed ${seed}: pointers ${got} are not a flushed state`).toBeDefined();
        for (let zone = 1; zone < 6; zone++) {
          const expected = (match!.content.get(zone) ?? new Uint8Array(0)).subarray(0, got[zone]);
          expectBytes(await again.read(zone * ZONE, got[zone]), expected, `crash point ${k} seed ${seed} zone ${zone}`);
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(60);
  });

  it('a torn table copy falls back to the other one; both corrupt is EIO', async () => {
    const mem = underlying();
    const zd = await ZonedDevice.open(mem, { zoneSizeBytes: ZONE });
    await zd.write(0, pattern(4 * KiB, 1));
    await zd.flush(); // seq 1 -> copy B
    await zd.write(4 * KiB, pattern(4 * KiB, 2));
    await zd.flush(); // seq 2 -> copy A
    const tableAt = zd.sizeBytes;
    const damaged = mem.fork();
    const a = await damaged.read(tableAt, 4096);
    a[60] ^= 0xff;
    await damaged.write(tableAt, a);
    const older = await ZonedDevice.open(damaged, { zoneSizeBytes: ZONE });
    expect(older.zoned.report()[0].writePointerBytes).toBe(4 * KiB);
    const b = await damaged.read(tableAt + 4096, 4096);
    b[60] ^= 0xff;
    await damaged.write(tableAt + 4096, b);
    await expect(ZonedDevice.open(damaged.fork(), { zoneSizeBytes: ZONE })).rejects.toSatisfy(fsErr('EIO'));
  });

  it('operations before the table is loaded wait for it; report before load is EAGAIN', async () => {
    const zd = new ZonedDevice(underlying(), { zoneSizeBytes: ZONE });
    expect(() => zd.zoned.report()).toThrow(/EAGAIN/);
    await zd.write(0, pattern(4 * KiB, 1));
    expect(zd.zoned.report()[0].writePointerBytes).toBe(4 * KiB);
  });
});

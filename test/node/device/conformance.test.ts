// The device conformance suite (test/shared/device-conformance.ts) against the Node devices.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultDevice, FileDevice, MemoryDevice, ZonedDevice, type BlockDevice } from '../../../src/device/index.js';
import { deviceConformanceChecks, type DeviceHarness } from '../../shared/device-conformance.js';
import { isFsError } from '../../../src/util/errors.js';

function suite(name: string, harness: () => DeviceHarness): void {
  describe(name, () => {
    for (const check of deviceConformanceChecks) {
      const h = harness();
      it.skipIf(check.needsReopen && !h.reopen)(check.name, () => check.run(h));
    }
  });
}

suite('MemoryDevice', () => ({
  create: async (n) => new MemoryDevice(n),
  // A closed MemoryDevice's content survives; fork() is how an image is "reopened".
  reopen: async (d: BlockDevice) => (d as MemoryDevice).fork(),
}));

suite('FaultDevice (no faults)', () => ({ create: async (n) => new FaultDevice(new MemoryDevice(n)) }));

// All zones conventional: a zoned device must then behave as a plain one.
const ZONE_BYTES = 1024 * 1024;
const zonedUnder = new WeakMap<BlockDevice, MemoryDevice>();
const zoned = async (mem: MemoryDevice, n: number): Promise<BlockDevice> => {
  const zd = await ZonedDevice.open(mem, { zoneSizeBytes: ZONE_BYTES, conventionalZones: n / ZONE_BYTES });
  zonedUnder.set(zd, mem);
  return zd;
};
suite('ZonedDevice (conventional zones)', () => ({
  create: (n) => zoned(new MemoryDevice(n + ZONE_BYTES), n),
  reopen: (d: BlockDevice) => zoned(zonedUnder.get(d)!.fork(), d.sizeBytes),
}));

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'butterfs-dev-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let fileSeq = 0;
suite('FileDevice', () => ({
  create: (n) => FileDevice.create(join(dir, `d${fileSeq++}.img`), n),
  reopen: (d: BlockDevice) => FileDevice.open((d as FileDevice).path),
}));

describe('FileDevice specifics', () => {
  it('open of a missing file is ENOENT, of a misaligned file EINVAL', async () => {
    await expect(FileDevice.open(join(dir, 'missing.img'))).rejects.toSatisfy((e) => isFsError(e, 'ENOENT'));
    const d = await FileDevice.create(join(dir, 'odd.img'), 8192);
    await d.close();
    const { truncate } = await import('node:fs/promises');
    await truncate(join(dir, 'odd.img'), 5000);
    await expect(FileDevice.open(join(dir, 'odd.img'))).rejects.toSatisfy((e) => isFsError(e, 'EINVAL'));
  });
});

describe('MemoryDevice specifics', () => {
  it('is sparse and forks copy-on-write', async () => {
    const d = new MemoryDevice(1024 * 1024 * 1024);
    expect(d.allocatedBytes).toBe(0);
    await d.write(0, new Uint8Array(4096).fill(1));
    expect(d.allocatedBytes).toBe(64 * 1024);
    const f = d.fork();
    await f.write(0, new Uint8Array(4096).fill(2));
    await d.write(4096, new Uint8Array(4096).fill(3));
    expect((await d.read(0, 4096))[0]).toBe(1);
    expect((await f.read(0, 4096))[0]).toBe(2);
    expect((await f.read(4096, 4096))[0]).toBe(0);
    expect((await d.read(4096, 4096))[0]).toBe(3);
  });
  it('refuses bad sizes', () => {
    expect(() => new MemoryDevice(1000)).toThrow(/EINVAL/);
    expect(() => new MemoryDevice(0)).toThrow(/EINVAL/);
  });
});

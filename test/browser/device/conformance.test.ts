// The device conformance suite in real Chromium: OpfsDevice inside a dedicated worker (relayed
// through comlink), IdbDevice in the page.
import * as Comlink from 'comlink';
import { afterAll, describe, expect, it } from 'vitest';
import { IdbDevice, ZonedDevice, type BlockDevice } from '../../../src/device/index.js';
import { IDB_PAGE_BYTES } from '../../../src/device/idb.js';
import { deviceConformanceChecks, pattern, type DeviceHarness } from '../../shared/device-conformance.js';
import { isFsError } from '../../../src/util/errors.js';
import type { OpfsWorkerApi } from './opfs.worker.js';

describe('OpfsDevice (in a worker)', () => {
  const worker = new Worker(new URL('./opfs.worker.ts', import.meta.url), { type: 'module' });
  const remote = Comlink.wrap<OpfsWorkerApi>(worker);
  afterAll(async () => {
    await remote.cleanup();
    remote[Comlink.releaseProxy]();
    worker.terminate();
  });
  for (const check of deviceConformanceChecks) {
    it(check.name, async () => {
      const failure = await remote.runCheck(check.name);
      if (failure !== null) expect.fail(failure);
    });
  }
  it('a handle held elsewhere is EBUSY after bounded retries', async () => {
    expect(await remote.busyOpen()).toBe('EBUSY');
  });
  it('a device beside an exclusive sync access handle held elsewhere is EBUSY', async () => {
    expect(await remote.busyOpenExclusive()).toBe('EBUSY');
  });
  it('offers a readSource that a second handle reads while the device holds its own', async () => {
    expect(await remote.readSourceSums()).toEqual(['opfs', true]);
  });
  it('a commit has a pool worker checksum its large extents from the device; the reads verify after a remount', async () => {
    expect(await remote.sumsInWorker()).toEqual({ inWorkers: 9 << 20, here: 0, written: 9 << 20, equal: true });
  });
  it('early writeback: a pool worker flushes the device with a handle of its own while a large write goes on; the commit shares the checksums', async () => {
    const r = await remote.earlyWriteback();
    // 24 MiB every 4 MiB: up to five asked for while the writes go on, at least two made.
    expect(r.flushes).toBeGreaterThanOrEqual(2);
    expect(r).toMatchObject({ flushJobs: r.flushes, flushOff: undefined, here: true, inWorkers: true, summed: 24 << 20, written: 24 << 20, equal: true, removed: true });
  });
  it('size rules: create needs sizeBytes, shrinking refused, growing allowed, existing size used', async () => {
    expect(await remote.sizeRules()).toEqual(['EINVAL', 'EINVAL', String(1 << 21), String(1 << 21), 'EINVAL']);
  });
});

const run = `t${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
let seq = 0;
const created: string[] = [];
const idbHarness: DeviceHarness = {
  create: (n) => {
    const name = `${run}/d${seq++}`;
    created.push(name);
    return IdbDevice.open(name, { sizeBytes: n });
  },
  reopen: (d: BlockDevice) => IdbDevice.open((d as IdbDevice).name),
};

describe('IdbDevice (in the page)', () => {
  afterAll(async () => {
    for (const name of created) await IdbDevice.remove(name);
  });
  for (const check of deviceConformanceChecks) it(check.name, () => check.run(idbHarness));

  it('buffers writes until flush, in one transaction, and a flushed state survives a reopen', async () => {
    const name = `${run}/buffer`;
    created.push(name);
    const d = await IdbDevice.open(name, { sizeBytes: 1 << 22 });
    await d.write(0, pattern(3 * IDB_PAGE_BYTES, 1));
    expect(d.dirtyBytes).toBe(3 * IDB_PAGE_BYTES);
    await d.flush();
    expect(d.dirtyBytes).toBe(0);
    // A partial write loads the page first: the rest of the page is preserved.
    await d.write(4096, pattern(4096, 2));
    expect(d.dirtyBytes).toBe(IDB_PAGE_BYTES);
    const r = await d.read(0, 3 * 4096);
    expect([...r.subarray(4096, 8192)]).toEqual([...pattern(4096, 2)]);
    expect([...r.subarray(8192)]).toEqual([...pattern(3 * IDB_PAGE_BYTES, 1).subarray(8192, 3 * 4096)]);
    await d.close();
  });

  it('past maxDirtyBytes a write flushes automatically', async () => {
    const name = `${run}/cap`;
    created.push(name);
    const d = await IdbDevice.open(name, { sizeBytes: 1 << 22, maxDirtyBytes: 2 * IDB_PAGE_BYTES });
    await d.write(0, pattern(2 * IDB_PAGE_BYTES, 1));
    expect(d.dirtyBytes).toBe(2 * IDB_PAGE_BYTES);
    await d.write(2 * IDB_PAGE_BYTES, pattern(IDB_PAGE_BYTES, 2));
    expect(d.dirtyBytes).toBe(0);
    await d.close();
  });

  it('opening a missing device without sizeBytes is EINVAL', async () => {
    await expect(IdbDevice.open(`${run}/missing`)).rejects.toSatisfy((e) => isFsError(e, 'EINVAL'));
    created.push(`${run}/missing`);
  });

  it('hosts a zoned device whose write pointers survive reopen', async () => {
    const name = `${run}/zoned`;
    created.push(name);
    const opts = { zoneSizeBytes: 1 << 20, conventionalZones: 1 };
    const zd = await ZonedDevice.open(await IdbDevice.open(name, { sizeBytes: 9 << 20 }), opts);
    await zd.write(1 << 20, pattern(8192, 5));
    await zd.close();
    const again = await ZonedDevice.open(await IdbDevice.open(name), opts);
    expect(again.zoned.report()[1].writePointerBytes).toBe((1 << 20) + 8192);
    await again.close();
  });
});

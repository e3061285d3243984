// Runs the device conformance suite and OPFS-specific checks inside a dedicated worker (the only
// place with OPFS sync access handles); the page test relays each check through comlink.
import * as Comlink from 'comlink';
import { OpfsDevice, type BlockDevice } from '../../../src/device/index.js';
import { mkfs, mount } from '../../../src/index.js';
import { checksum, loadKernels } from '../../../src/kernels/checksum.js';
import { setDefaultCompressWorkers } from '../../../src/kernels/compress-pool.js';
import { sumDeviceRanges } from '../../../src/kernels/device-sums.js';
import { setEarlyFlushBytes } from '../../../src/fs/writeback.js';
import { isFsError } from '../../../src/util/errors.js';
import { deviceConformanceChecks, type DeviceHarness } from '../../shared/device-conformance.js';

const root = `butterfs-test-${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
let seq = 0;
const harness: DeviceHarness = {
  create: (n) => OpfsDevice.open(`${root}/d${seq++}`, { sizeBytes: n }),
  reopen: (d: BlockDevice) => OpfsDevice.open((d as OpfsDevice).name),
};

/** Whether `path` on the filesystem of OPFS device `name`, opened and mounted again, reads back as `data` (its checksums verified). */
async function readsBack(name: string, path: string, data: Uint8Array): Promise<boolean> {
  const dev = await OpfsDevice.open(name);
  const fs = await mount([dev]);
  const back = await fs.promises.readFile(path);
  await fs.unmount();
  await dev.close();
  return back.length === data.length && back.every((x, i) => x === data[i]);
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e);
}

const api = {
  checkNames(): string[] {
    return deviceConformanceChecks.map((c) => c.name);
  },
  /** null on success, else the failure text (errors are flattened: comlink drops their fields). */
  async runCheck(name: string): Promise<string | null> {
    const check = deviceConformanceChecks.find((c) => c.name === name);
    if (!check) return `no check named ${name}`;
    try {
      await check.run(harness);
      return null;
    } catch (e) {
      return describeError(e);
    }
  },
  /** Opening a device whose handle is held: EBUSY after bounded retries. Returns the error code seen. */
  async busyOpen(): Promise<string> {
    const name = `${root}/busy`;
    const d = await OpfsDevice.open(name, { sizeBytes: 65536 });
    try {
      await OpfsDevice.open(name, { busyRetryMs: 200 });
      return 'opened twice';
    } catch (e) {
      return isFsError(e) ? e.code : describeError(e);
    } finally {
      await d.close();
    }
  },
  /** A device open here while an exclusive sync access handle (not ours) holds the file: EBUSY. */
  async busyOpenExclusive(): Promise<string> {
    const name = `${root}/busy-exclusive`;
    const d = await OpfsDevice.open(name, { sizeBytes: 65536 });
    await d.close();
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle(root);
    const file = await dir.getFileHandle('busy-exclusive');
    const h = await (file as unknown as { createSyncAccessHandle(): Promise<{ close(): void }> }).createSyncAccessHandle();
    try {
      await OpfsDevice.open(name, { busyRetryMs: 200 });
      return 'opened beside an exclusive handle';
    } catch (e) {
      return isFsError(e) ? e.code : describeError(e);
    } finally {
      h.close();
    }
  },
  /**
   * The device's readSource read by a second handle (opened by sumDeviceRanges) while the device
   * holds its own: the digests equal those of the bytes written. Returns [kind, equal].
   */
  async readSourceSums(): Promise<[string, boolean]> {
    await loadKernels();
    const d = await OpfsDevice.open(`${root}/source`, { sizeBytes: 8 << 20 });
    try {
      const data = new Uint8Array(3 << 20);
      for (let i = 0; i < data.length; i++) data[i] = (i * 131 + (i >> 12)) & 0xff;
      await d.write(1 << 20, data);
      const src = d.readSource;
      if (src === undefined) return ['none', false];
      // Two ranges, given out of order: the digests come back in the order given.
      const got = await sumDeviceRanges(src, [(1 << 20) + (2 << 20), 1 << 20, 1 << 20, 2 << 20], 'crc32c', 4096);
      const want = new Uint8Array(got.length);
      want.set(checksum('crc32c', data.subarray(2 << 20), 4096), 0);
      want.set(checksum('crc32c', data.subarray(0, 2 << 20), 4096), 256 * 4);
      return [src.kind, got.length === want.length && got.every((x, i) => x === want[i])];
    } finally {
      await d.close();
    }
  },
  /**
   * A filesystem on OPFS whose large extents' checksums a pool worker makes at the commit (it
   * reads the device through its own handle during the flush); after a remount every read
   * verifies. Returns the bytes whose sums the worker made, the bytes written, and whether the
   * file read back equal.
   */
  async sumsInWorker(): Promise<{ inWorkers: number; here: number; written: number; equal: boolean }> {
    setDefaultCompressWorkers(1);
    try {
      const name = `${root}/fs-sums`;
      const dev = await OpfsDevice.open(name, { sizeBytes: 256 << 20 });
      await mkfs([dev]);
      const fs = await mount([dev]);
      const data = new Uint8Array(9 << 20);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 13)) & 0xff;
      const fh = await fs.promises.open('/big', 'w');
      for (let off = 0; off < data.length; off += 1 << 20) await fh.write(data, off, 1 << 20, off);
      await fh.close();
      await fs.info.compressPool!.start();
      await fs.sync();
      const { sumsBytesInWorkers: inWorkers, sumsBytesHere: here } = fs.info.writeback;
      await fs.unmount();
      await dev.close();
      return { inWorkers, here, written: data.length, equal: await readsBack(name, '/big', data) };
    } finally {
      setDefaultCompressWorkers(undefined);
    }
  },
  /**
   * Early writeback on OPFS: a pool worker flushes the device through a readwrite-unsafe handle
   * of its own every 4 MiB while a 24 MiB file is written; the commit makes the checksums here
   * and in the workers. Returns the counts, whether the file read back equal after a remount,
   * and whether the device file could be removed once closed (no worker handle left on it).
   */
  async earlyWriteback(): Promise<{ flushes: number; flushJobs: number; flushOff: string | undefined; here: boolean; inWorkers: boolean; summed: number; written: number; equal: boolean; removed: boolean }> {
    setDefaultCompressWorkers(1);
    setEarlyFlushBytes(4 << 20);
    try {
      const name = `${root}/fs-early`;
      const dev = await OpfsDevice.open(name, { sizeBytes: 256 << 20 });
      await mkfs([dev]);
      const fs = await mount([dev]);
      await fs.promises.writeFile('/warm-up', new Uint8Array(1 << 20).fill(1));
      await fs.sync();
      const pool = fs.info.compressPool!;
      await pool.start();
      const wb = fs.info.writeback;
      const before = wb.sumsBytesHere + wb.sumsBytesInWorkers;
      const here0 = wb.sumsBytesHere;
      const data = new Uint8Array(24 << 20);
      for (let i = 0; i < data.length; i++) data[i] = (i * 13 + (i >> 12)) & 0xff;
      const fh = await fs.promises.open('/big', 'w');
      for (let off = 0; off < data.length; off += 1 << 20) await fh.write(data, off, 1 << 20, off);
      await fh.close();
      await fs.sync();
      const out = {
        flushes: wb.earlyFlushes, flushJobs: pool.status().flushJobsDone, flushOff: pool.status().flushOffReason,
        here: wb.sumsBytesHere > here0, inWorkers: wb.sumsBytesInWorkers > 0,
        summed: wb.sumsBytesHere + wb.sumsBytesInWorkers - before, written: data.length,
      };
      await fs.unmount();
      await dev.close();
      const equal = await readsBack(name, '/big', data);
      const removed = await OpfsDevice.remove(name).then(() => true, () => false);
      return { ...out, equal, removed };
    } finally {
      setDefaultCompressWorkers(undefined);
      setEarlyFlushBytes(undefined);
    }
  },
  /** Size rules: missing sizeBytes for a new device, shrink refused, grow allowed, existing size used. */
  async sizeRules(): Promise<string[]> {
    const out: string[] = [];
    const code = async (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (isFsError(e) ? e.code : describeError(e)));
    out.push(await code(OpfsDevice.open(`${root}/new-without-size`)));
    const d = await OpfsDevice.open(`${root}/sized`, { sizeBytes: 1 << 20 });
    await d.close();
    out.push(await code(OpfsDevice.open(`${root}/sized`, { sizeBytes: 1 << 19 })));
    const g = await OpfsDevice.open(`${root}/sized`, { sizeBytes: 1 << 21 });
    out.push(String(g.sizeBytes));
    await g.close();
    const e = await OpfsDevice.open(`${root}/sized`);
    out.push(String(e.sizeBytes));
    await e.close();
    out.push(await code(OpfsDevice.open(`${root}/../x`, { sizeBytes: 4096 })));
    return out;
  },
  async cleanup(): Promise<void> {
    const dir = await navigator.storage.getDirectory();
    await dir.removeEntry(root, { recursive: true });
  },
};

export type OpfsWorkerApi = typeof api;
Comlink.expose(api);

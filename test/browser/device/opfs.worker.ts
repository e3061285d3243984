// Runs the device conformance suite and OPFS-specific checks inside a dedicated worker (the only
// place with OPFS sync access handles); the page test relays each check through comlink.
import * as Comlink from 'comlink';
import { OpfsDevice, type BlockDevice } from '../../../src/device/index.js';
import { isFsError } from '../../../src/util/errors.js';
import { deviceConformanceChecks, type DeviceHarness } from '../../shared/device-conformance.js';

const root = `butterfs-test-${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
let seq = 0;
const harness: DeviceHarness = {
  create: (n) => OpfsDevice.open(`${root}/d${seq++}`, { sizeBytes: n }),
  reopen: (d: BlockDevice) => OpfsDevice.open((d as OpfsDevice).name),
};

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

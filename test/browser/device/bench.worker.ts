// Timed loops for test/bench/browser/device.bench.ts that need a dedicated worker (OPFS sync
// access handles): OpfsDevice against the raw FileSystemSyncAccessHandle on the same workload.
// Each call does one batch; the bench multiplies its rate by the batch size to get ops/s.
import * as Comlink from 'comlink';
import { OpfsDevice } from '../../../src/device/index.js';

const MiB = 1 << 20;
const SIZE = 64 * MiB;
const root = `butterfs-bench-${Date.now()}`;
let dev: OpfsDevice | undefined;
let raw: { handle: any; } | undefined;
const chunk = new Uint8Array(MiB).map((_, i) => i * 7);
const sector = new Uint8Array(4096).fill(3);
let seed = 1;
function nextSector(): number {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return (seed >>> 8) % (SIZE / 4096);
}

const api = {
  async setup(): Promise<void> {
    dev = await OpfsDevice.open(`${root}/dev`, { sizeBytes: SIZE });
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle(root, { create: true });
    const file = await dir.getFileHandle('raw', { create: true });
    const handle = await (file as any).createSyncAccessHandle();
    handle.truncate(SIZE);
    raw = { handle };
    for (let off = 0; off < SIZE; off += MiB) {
      await dev.write(off, chunk);
      handle.write(chunk, { at: off });
    }
    await dev.flush();
    handle.flush();
  },
  async teardown(): Promise<void> {
    await dev?.close();
    raw?.handle.close();
    await (await navigator.storage.getDirectory()).removeEntry(root, { recursive: true });
  },
  async deviceSeq(mib: number): Promise<void> {
    for (let i = 0; i < mib; i++) await dev!.write((i % 64) * MiB, chunk);
    await dev!.flush();
  },
  rawSeq(mib: number): void {
    const h = raw!.handle;
    for (let i = 0; i < mib; i++) h.write(chunk, { at: (i % 64) * MiB });
    h.flush();
  },
  async deviceRandWrite(n: number): Promise<void> {
    for (let i = 0; i < n; i++) await dev!.write(nextSector() * 4096, sector);
  },
  rawRandWrite(n: number): void {
    const h = raw!.handle;
    for (let i = 0; i < n; i++) h.write(sector, { at: nextSector() * 4096 });
  },
  async deviceRandRead(n: number): Promise<void> {
    for (let i = 0; i < n; i++) await dev!.read(nextSector() * 4096, 4096);
  },
  rawRandRead(n: number): void {
    const h = raw!.handle;
    for (let i = 0; i < n; i++) {
      const buf = new Uint8Array(4096);
      h.read(buf, { at: nextSector() * 4096 });
    }
  },
};
export type BenchWorkerApi = typeof api;
Comlink.expose(api);

// The demo's filesystem worker: opens a 256 MiB OPFS device, formats it the first time,
// mounts it, and answers the page over comlink.
import * as Comlink from 'comlink';
import { mkfs, mount, OpfsDevice, IdbDevice, FsError, type Filesystem, type BlockDevice } from '../src/index.js';
import { iterItems } from '../src/tree/ctree.js';
import { Key } from '../src/format/key.js';

const DEVICE = 'butterfs-demo/dev1';
const SIZE = 256 * 1024 * 1024;
let fs: Filesystem | undefined;
let dev: BlockDevice | undefined;
/** OPFS sync access handles exist only in dedicated workers, and not in every browser: fall back to IndexedDB. */
const backend: 'opfs' | 'idb' = 'FileSystemSyncAccessHandle' in globalThis && typeof navigator.storage?.getDirectory === 'function' ? 'opfs' : 'idb';

async function open(): Promise<void> {
  dev = backend === 'opfs' ? await OpfsDevice.open(DEVICE, { sizeBytes: SIZE }) : await IdbDevice.open(DEVICE, { sizeBytes: SIZE });
  try {
    fs = await mount([dev]);
  } catch (e) {
    if (!(e instanceof FsError) || e.code !== 'EINVAL') throw e;
    await mkfs([dev], { label: 'butterfs-demo' });
    fs = await mount([dev]);
  }
}

function info() {
  const sb = fs!.info.sb;
  const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  const u = hex(sb.fsid);
  return {
    label: new TextDecoder().decode(sb.label).replace(/\0+$/, ''),
    fsid: `${u.slice(0, 8)}-${u.slice(8, 12)}-${u.slice(12, 16)}-${u.slice(16, 20)}-${u.slice(20)}`,
    generation: sb.generation,
    totalBytes: sb.totalBytes,
    bytesUsed: sb.bytesUsed,
    nodesize: sb.nodesize,
    sectorsize: sb.sectorsize,
    csum: fs!.info.csum,
    backend: backend === 'opfs' ? 'OPFS (sync access handle)' : 'IndexedDB (this browser has no OPFS sync access handles)',
  };
}

const api = {
  async start() {
    if (!fs) await open();
    return info();
  },
  /** Reads every item of every tree through the verifying read path. */
  async verify() {
    return fs!.read(async (f) => {
      let items = 0;
      for (const r of f.roots.values()) {
        for await (const _ of iterItems(f, r, Key.MIN, Key.MAX)) items++;
      }
      return { trees: f.roots.size, items, blocksRead: f.stats.treeBlockReads, csumErrors: f.stats.csumErrors };
    });
  },
  async reset() {
    await fs?.unmount();
    await dev?.close();
    fs = undefined;
    if (backend === 'opfs') await OpfsDevice.remove(DEVICE);
    else await IdbDevice.remove(DEVICE);
    await open();
    return info();
  },
};
export type DemoApi = typeof api;
Comlink.expose(api);

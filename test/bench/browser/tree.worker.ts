// Timed engine workloads for test/bench/browser/tree.bench.ts, run in a dedicated worker (the
// only place with OPFS sync access handles), on OpfsDevice and, in the same worker for
// comparison, on MemoryDevice. Every call does one whole measurement and returns its figures;
// the page only prints them. The workloads are those of test/bench/node/tree.bench.ts.
import * as Comlink from 'comlink';
import type { BlockDevice } from '../../../src/device/block-device.js';
import { MemoryDevice, OpfsDevice } from '../../../src/device/index.js';
import { mulberry32 } from '../../../src/device/fault.js';
import { mkfs } from '../../../src/fs/mkfs.js';
import { openFs } from '../../../src/fs/open.js';
import type { FsInfo } from '../../../src/fs/fs-info.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { updateItem } from '../../../src/fs/items.js';
import { insertItem, lookup, searchSlot, nextLeaf } from '../../../src/tree/ctree.js';
import { Key } from '../../../src/format/key.js';

export type DeviceKind = 'memory' | 'opfs';

const MiB = 1024 * 1024;
const ITEM_BYTES = 100;
const FIRST_OBJECTID = 1000;
const INODE_ITEM = 1;
// Sparse on both devices. Room for the largest commit tree (1.4M items, ~180 MB of 16 KiB leaves,
// DUP) with old copies pinned across a commit.
const DEVICE_BYTES = 4096 * MiB;
const CACHE_BYTES = 4096 * MiB;
const root = `butterfs-tree-bench-${Date.now()}`;
let seq = 0;

const keyOf = (i: number) => Key.of(FIRST_OBJECTID + i, INODE_ITEM, 0);
const item = new Uint8Array(ITEM_BYTES).map((_, i) => i);

/** Counts what a commit writes and when the first and last write happened. */
class CountingDevice implements BlockDevice {
  bytesWritten = 0;
  writes = 0;
  firstWriteMs = -1;
  lastWriteMs = -1;
  flushMs = 0;
  constructor(readonly inner: BlockDevice) {}
  get sizeBytes(): number {
    return this.inner.sizeBytes;
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    return this.inner.read(offset, length);
  }
  async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.firstWriteMs < 0) this.firstWriteMs = performance.now();
    this.bytesWritten += data.length;
    this.writes++;
    await this.inner.write(offset, data);
    this.lastWriteMs = performance.now();
  }
  async flush(): Promise<void> {
    const t0 = performance.now();
    await this.inner.flush();
    this.flushMs += performance.now() - t0;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  reset(): void {
    this.bytesWritten = 0;
    this.writes = 0;
    this.firstWriteMs = -1;
    this.lastWriteMs = -1;
    this.flushMs = 0;
  }
}

async function newDevice(kind: DeviceKind): Promise<CountingDevice> {
  const inner = kind === 'memory' ? new MemoryDevice(DEVICE_BYTES) : await OpfsDevice.open(`${root}/d${seq++}`, { sizeBytes: DEVICE_BYTES });
  return new CountingDevice(inner);
}

async function dropDevice(dev: CountingDevice): Promise<void> {
  await dev.close();
  if (dev.inner instanceof OpfsDevice) {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle(root);
    await dir.removeEntry(dev.inner.name.split('/').pop()!);
  }
}

function permutation(n: number, seed: number): number[] {
  const rand = mulberry32(seed);
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

async function leavesOf(fs: FsInfo): Promise<Key[]> {
  const firstKeys: Key[] = [];
  const { path } = await searchSlot(fs, fs.fsTree, Key.of(0, 0, 0));
  // Bounded by the number of leaves.
  do firstKeys.push(path.leaf.key(0));
  while (await nextLeaf(fs, fs.fsTree, path));
  return firstKeys;
}

export interface InsertFigures { insertsPerSec: number; commitMs: number; commitMBWritten: number; leaves: number }
export interface CommitFigures {
  n: number; touchMs: number; dirtyBefore: number; commitMs: number; blocks: number; metadataMB: number;
  beforeWritesMs: number; writesMs: number; flushMs: number;
}

let commitState: { dev: CountingDevice; fs: FsInfo; leafKeys: Key[]; nodesize: number } | undefined;

const api = {
  /** `count` inserts into a fresh filesystem in one transaction, then its commit. */
  async insertRun(kind: DeviceKind, nodesize: number, order: 'sequential' | 'random', count: number): Promise<InsertFigures> {
    const dev = await newDevice(kind);
    try {
      await mkfs([dev], { nodesize });
      const fs = await openFs([dev], { cacheBytes: CACHE_BYTES });
      const keys = (order === 'random' ? permutation(count, 42) : Array.from({ length: count }, (_, i) => i)).map(keyOf);
      startTransaction(fs);
      const t0 = performance.now();
      for (const k of keys) await insertItem(fs, fs.fsTree, k, item);
      const t1 = performance.now();
      dev.reset();
      await commitTransaction(fs);
      const t2 = performance.now();
      return { insertsPerSec: (count * 1000) / (t1 - t0), commitMs: t2 - t1, commitMBWritten: dev.bytesWritten / 1e6, leaves: (await leavesOf(fs)).length };
    } finally {
      await dropDevice(dev);
    }
  },

  /** Builds the tree for commit runs: `items` ascending keys, committed per 100k. Returns ms and leaves. */
  async commitSetup(kind: DeviceKind, nodesize: number, items: number): Promise<{ buildMs: number; leaves: number }> {
    const t0 = performance.now();
    const dev = await newDevice(kind);
    await mkfs([dev], { nodesize });
    const fs = await openFs([dev], { cacheBytes: CACHE_BYTES });
    for (let i = 0; i < items;) {
      startTransaction(fs);
      for (const end = Math.min(items, i + 100_000); i < end; i++) await insertItem(fs, fs.fsTree, keyOf(i), item);
      await commitTransaction(fs);
    }
    const leafKeys = await leavesOf(fs);
    commitState = { dev, fs, leafKeys, nodesize };
    return { buildMs: performance.now() - t0, leaves: leafKeys.length };
  },

  /** Touches one item in each of `n` leaves spread across the tree, then times the commit. */
  async commitRun(n: number): Promise<CommitFigures> {
    const { dev, fs, leafKeys, nodesize } = commitState!;
    if (n > leafKeys.length) throw new Error(`tree has ${leafKeys.length} leaves, fewer than ${n}`);
    startTransaction(fs);
    const t0 = performance.now();
    for (let j = 0; j < n; j++) {
      const k = leafKeys[Math.floor((j * leafKeys.length) / n)]!;
      await updateItem(fs, fs.fsTree, k, (dv) => dv.setUint8(0, (dv.getUint8(0) + 1) & 0xff));
    }
    const t1 = performance.now();
    const dirtyBefore = fs.dirty.size;
    dev.reset();
    const c0 = performance.now();
    await commitTransaction(fs);
    const c1 = performance.now();
    // Superblock copies: 4 KiB each at 64 KiB and 64 MiB (the 256 GiB one is past the device).
    const blocks = (dev.bytesWritten - 2 * 4096) / 2 / nodesize;
    return {
      n, touchMs: t1 - t0, dirtyBefore, commitMs: c1 - c0, blocks, metadataMB: (blocks * nodesize) / 1e6,
      beforeWritesMs: dev.firstWriteMs - c0, writesMs: dev.lastWriteMs - dev.firstWriteMs, flushMs: dev.flushMs,
    };
  },

  /** Random lookups right after a fresh mount of the commit tree (empty cache). */
  async coldLookups(count: number, seed: number): Promise<{ lookupsPerSec: number; readsPerLookup: number }> {
    const { dev, leafKeys } = commitState!;
    const fs = await openFs([dev], { cacheBytes: CACHE_BYTES });
    const items = leafKeys.length; // any spread works: keys index leaves' first keys
    const rand = mulberry32(seed);
    const keys = Array.from({ length: count }, () => leafKeys[Math.floor(rand() * items)]!);
    const r0 = fs.stats.treeBlockReads;
    const t0 = performance.now();
    for (const k of keys) if (!(await lookup(fs, fs.fsTree, k))) throw new Error(`key ${k} missing`);
    return { lookupsPerSec: (count * 1000) / (performance.now() - t0), readsPerLookup: (fs.stats.treeBlockReads - r0) / count };
  },

  async commitTeardown(): Promise<void> {
    if (commitState) await dropDevice(commitState.dev);
    commitState = undefined;
  },

  async cleanup(): Promise<void> {
    await (await navigator.storage.getDirectory()).removeEntry(root, { recursive: true }).catch((e: unknown) => {
      if (!(e instanceof DOMException && e.name === 'NotFoundError')) throw e;
    });
  },
};
export type TreeBenchWorkerApi = typeof api;
Comlink.expose(api);

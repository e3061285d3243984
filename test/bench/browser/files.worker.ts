// Timed file workloads for test/bench/browser/files.bench.ts, in a dedicated worker (the only place
// with OPFS sync access handles): the engine in-process on OpfsDevice (test/bench/browser/
// files-workloads.ts over fs.promises), and raw OPFS doing the same work (one OPFS file and sync
// access handle per small file; one sync access handle for a big file). Each call is one whole
// measurement and returns its figures.
import * as Comlink from 'comlink';
import { OpfsDevice } from '../../../src/device/index.js';
import { mkfs, mount, type Filesystem } from '../../../src/api/filesystem.js';
import { setDeferredDataSums } from '../../../src/fs/writeback.js';
import {
  contentOf, MiB, pathOf, randomReadWrite, readSmallFiles, rng, sequentialRead, sequentialWrite, shuffled, smallFiles,
  type SmallFileFigures, type Target, type TreeShape,
} from './files-workloads.js';

const DEVICE_BYTES = 2048 * MiB;
/** Bound on one createSyncAccessHandle() (TOOLCHAIN.md: it sometimes never settles). */
const OPEN_TIMEOUT_MS = 5000;
let seq = 0;

function target(fs: Filesystem): Target {
  return { promises: fs.promises as unknown as Target['promises'], sync: () => fs.sync() };
}

async function withFs<T>(prefix: string, fn: (fs: Filesystem, remount: () => Promise<Filesystem>) => Promise<T>): Promise<T> {
  const name = `${prefix}/e${seq++}`;
  const dev = await OpfsDevice.open(name, { sizeBytes: DEVICE_BYTES, openTimeoutMs: OPEN_TIMEOUT_MS });
  let fs: Filesystem | undefined;
  try {
    await mkfs([dev]);
    fs = await mount([dev]);
    return await fn(fs, async () => {
      await fs!.unmount();
      fs = await mount([dev]);
      return fs;
    });
  } finally {
    if (fs?.isMounted) await fs.unmount();
    await dev.close();
    await OpfsDevice.remove(name);
  }
}

export interface EngineSmallRound {
  warm: SmallFileFigures;
  cold: { statsPerSec: number; readdirsPerSec: number; readFilesPerSec: number; remountMs: number };
}

// ---------------------------------------------------------------- raw OPFS

interface SyncHandle {
  read(b: Uint8Array, o?: { at?: number }): number;
  write(b: Uint8Array, o?: { at?: number }): number;
  truncate(n: number): void;
  getSize(): number;
  flush(): void;
  close(): void;
}

/** createSyncAccessHandle() bounded by a timeout; a late handle is closed. */
function openHandle(file: FileSystemFileHandle, what: string): Promise<SyncHandle> {
  const p = (file as unknown as { createSyncAccessHandle(): Promise<SyncHandle> }).createSyncAccessHandle();
  return new Promise((resolve, reject) => {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      reject(new Error(`createSyncAccessHandle(${what}) did not settle within ${OPEN_TIMEOUT_MS} ms`));
    }, OPEN_TIMEOUT_MS);
    p.then(
      (h) => {
        clearTimeout(timer);
        if (late) h.close();
        else resolve(h);
      },
      (e: unknown) => {
        clearTimeout(timer);
        if (!late) reject(e);
      },
    );
  });
}

async function dirHandle(path: string): Promise<FileSystemDirectoryHandle> {
  let d = await navigator.storage.getDirectory();
  for (const part of path.split('/')) d = await d.getDirectoryHandle(part, { create: true });
  return d;
}

const api = {
  /** The engine in this worker: 10k small files, warm (after create) and cold (after a remount). */
  /**
   * The small-file workload `rounds` times, each on a fresh filesystem in this worker: round 1
   * runs the engine's code for the first time (JIT warm-up included), later rounds show the
   * steady state a long-lived worker reaches.
   */
  async engineSmall(prefix: string, shape: TreeShape, rounds = 1): Promise<EngineSmallRound[]> {
    const contents = Array.from({ length: shape.files }, (_, i) => contentOf(i));
    const out: EngineSmallRound[] = [];
    for (let r = 0; r < rounds; r++) {
      out.push(await withFs(prefix, async (fs, remount) => {
        const warm = await smallFiles(target(fs), shape, contents, 11);
        const r0 = performance.now();
        const again = await remount();
        const remountMs = performance.now() - r0;
        const cold = await readSmallFiles(target(again), shape, 12);
        return { warm, cold: { ...cold, remountMs } };
      }));
    }
    return out;
  },

  /**
   * Sequential write (+ commit), then read after a remount (cold: every block from OPFS, checksums
   * verified), then again (warm). `sums`: where the data checksums are made: 'worker' (the default:
   * at the commit, by a pool worker reading the device during the flush), 'write' (on this thread
   * at each write, as before session 5).
   */
  async engineSequential(prefix: string, totalBytes: number, chunkBytes: number, sums: 'worker' | 'write' = 'worker') {
    setDeferredDataSums(sums !== 'write');
    return withFs(prefix, async (fs, remount) => {
      // A mounted filesystem's steady state: one large write and commit first, which starts the
      // pool's worker (at the first large write after the mount), and the worker ready.
      await fs.promises.writeFile('/warm-up', new Uint8Array(MiB));
      await fs.sync();
      await fs.info.compressPool?.start();
      const write = await sequentialWrite(target(fs), '/big', totalBytes, chunkBytes);
      const w = fs.info.writeback;
      const sumsIn = { worker: w.sumsBytesInWorkers, thread: w.sumsBytesHere };
      setDeferredDataSums(true);
      const again = await remount();
      const coldRead = await sequentialRead(target(again), '/big', totalBytes, chunkBytes);
      const warmRead = await sequentialRead(target(again), '/big', totalBytes, chunkBytes);
      return { write: { ...write, sumsIn }, coldRead, warmRead };
    });
  },

  /** Random 4 KiB 75/25 reads/overwrites in a file of `fileBytes` written and committed first. */
  async engineRandom(prefix: string, fileBytes: number, ops: number) {
    return withFs(prefix, async (fs) => {
      await sequentialWrite(target(fs), '/rand', fileBytes, MiB);
      return randomReadWrite(target(fs), '/rand', fileBytes, ops, 5);
    });
  },

  /** Raw OPFS, one file per small file: create (+ write + flush + close), stat (getFile), readdir (keys), read. */
  async rawSmall(prefix: string, shape: TreeShape) {
    const root = await dirHandle(`${prefix}/raw${seq++}`);
    const contents = Array.from({ length: shape.files }, (_, i) => contentOf(i));
    const dirs = Math.ceil(shape.files / shape.perDir);
    const dirHandles: FileSystemDirectoryHandle[] = [];
    const t0 = performance.now();
    for (let d = 0; d < dirs; d++) {
      const dh = await root.getDirectoryHandle(`d${d}`, { create: true });
      dirHandles.push(dh);
      for (let i = d * shape.perDir; i < Math.min(shape.files, (d + 1) * shape.perDir); i++) {
        const fh = await dh.getFileHandle(`f${i}`, { create: true });
        const h = await openHandle(fh, pathOf(i, shape));
        h.write(contents[i]!, { at: 0 });
        h.flush();
        h.close();
      }
    }
    const createFilesPerSec = (shape.files * 1000) / (performance.now() - t0);
    const order = shuffled(Array.from({ length: shape.files }, (_, i) => i), 11);
    const fileHandle = async (i: number) => {
      const dh = await root.getDirectoryHandle(`d${Math.floor(i / shape.perDir)}`);
      return dh.getFileHandle(`f${i}`);
    };
    let s0 = performance.now();
    for (const i of order) {
      const f = await (await fileHandle(i)).getFile();
      if (f.size < 1024) throw new Error('short file');
    }
    const statsPerSec = (shape.files * 1000) / (performance.now() - s0);
    s0 = performance.now();
    for (let d = 0; d < dirs; d++) {
      const dh = await root.getDirectoryHandle(`d${d}`);
      let n = 0;
      for await (const _ of (dh as unknown as { keys(): AsyncIterable<string> }).keys()) n++;
      if (n === 0) throw new Error('empty dir');
    }
    const readdirsPerSec = (dirs * 1000) / (performance.now() - s0);
    s0 = performance.now();
    for (const i of order) {
      const h = await openHandle(await fileHandle(i), pathOf(i, shape));
      const size = h.getSize();
      const b = new Uint8Array(size);
      h.read(b, { at: 0 });
      h.close();
    }
    const readFilesPerSec = (shape.files * 1000) / (performance.now() - s0);
    return { createFilesPerSec, statsPerSec, readdirsPerSec, readFilesPerSec };
  },

  /** Raw OPFS, one sync access handle: sequential writes + flush, then reads. */
  async rawSequential(prefix: string, totalBytes: number, chunkBytes: number) {
    const dir = await dirHandle(prefix);
    const name = `rawseq${seq++}`;
    const h = await openHandle(await dir.getFileHandle(name, { create: true }), name);
    try {
      const chunk = new Uint8Array(chunkBytes);
      const r = rng(7);
      for (let k = 0; k < chunk.length; k++) chunk[k] = (r() * 256) | 0;
      const t0 = performance.now();
      for (let off = 0; off < totalBytes; off += chunkBytes) {
        chunk[0] = off / chunkBytes;
        h.write(chunk, { at: off });
      }
      h.flush();
      const t1 = performance.now();
      const buf = new Uint8Array(chunkBytes);
      for (let off = 0; off < totalBytes; off += chunkBytes) h.read(buf, { at: off });
      const t2 = performance.now();
      return { writeMBps: totalBytes / 1e3 / (t1 - t0), readMBps: totalBytes / 1e3 / (t2 - t1) };
    } finally {
      h.close();
      await dir.removeEntry(name);
    }
  },

  /** Raw OPFS, one sync access handle on a written file: random 4 KiB 75/25 reads/writes, then flush. */
  async rawRandom(prefix: string, fileBytes: number, ops: number) {
    const dir = await dirHandle(prefix);
    const name = `rawrand${seq++}`;
    const h = await openHandle(await dir.getFileHandle(name, { create: true }), name);
    try {
      const fill = new Uint8Array(MiB).fill(1);
      for (let off = 0; off < fileBytes; off += MiB) h.write(fill, { at: off });
      h.flush();
      const r = rng(5);
      const buf = new Uint8Array(4096);
      const blocks = fileBytes / 4096;
      const t0 = performance.now();
      for (let k = 0; k < ops; k++) {
        const at = Math.floor(r() * blocks) * 4096;
        if (r() < 0.75) h.read(buf, { at });
        else {
          buf[0] = k & 0xff;
          h.write(buf, { at });
        }
      }
      h.flush();
      return { opsPerSec: (ops * 1000) / (performance.now() - t0) };
    } finally {
      h.close();
      await dir.removeEntry(name);
    }
  },

  /** A filesystem of `files` small files on `${name}/dev1`, left on OPFS (closed) for cold opens. */
  async buildFs(name: string, shape: TreeShape, fileBytes: number): Promise<{ buildMs: number }> {
    const t0 = performance.now();
    const dev = await OpfsDevice.open(`${name}/dev1`, { sizeBytes: DEVICE_BYTES, openTimeoutMs: OPEN_TIMEOUT_MS });
    try {
      await mkfs([dev]);
      const fs = await mount([dev]);
      const data = new Uint8Array(fileBytes).fill(0x61);
      const dirs = Math.ceil(shape.files / shape.perDir);
      for (let d = 0; d < dirs; d++) {
        await fs.promises.mkdir(`/d${d}`);
        for (let i = d * shape.perDir; i < Math.min(shape.files, (d + 1) * shape.perDir); i++) await fs.promises.writeFile(pathOf(i, shape), data);
        if (d % 100 === 99) await fs.sync();
      }
      await fs.unmount();
    } finally {
      await dev.close();
    }
    return { buildMs: performance.now() - t0 };
  },

  /** In this (fresh) worker: open the device, mount, first stat. */
  async coldMount(name: string, path: string): Promise<{ openMs: number; mountMs: number; statMs: number }> {
    const t0 = performance.now();
    const dev = await OpfsDevice.open(`${name}/dev1`, { openTimeoutMs: OPEN_TIMEOUT_MS });
    const t1 = performance.now();
    const fs = await mount([dev]);
    const t2 = performance.now();
    await fs.promises.stat(path);
    const t3 = performance.now();
    await fs.unmount();
    await dev.close();
    return { openMs: t1 - t0, mountMs: t2 - t1, statMs: t3 - t2 };
  },

  ping(): number {
    return performance.now();
  },

  async cleanup(prefix: string): Promise<void> {
    await (await navigator.storage.getDirectory()).removeEntry(prefix, { recursive: true }).catch((e: unknown) => {
      if (!(e instanceof DOMException && e.name === 'NotFoundError')) throw e;
    });
  },
};
export type FilesBenchWorkerApi = typeof api;
Comlink.expose(api);

// The file workloads of test/bench/browser/files.bench.ts, written once over a node-like
// fs.promises so that the same code times the engine in-process (inside the bench worker) and
// through the page client (connect(), one comlink call per fs call). Every function does one
// whole measurement and returns plain figures.
import { mulberry32 } from '../../shared/rng.js';

/** What a workload needs of a filesystem: fs.promises (in-process or the client's) and a commit. */
export interface Target {
  promises: Promises;
  /** Commit the running transaction and wait for it to be durable (fs.sync()). */
  sync(): Promise<void>;
}

type StatsLike = { size: number; isFile(): boolean };
interface HandleLike {
  read(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesRead: number }>;
  write(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesWritten: number }>;
  close(): Promise<void>;
}
interface Promises {
  mkdir(path: string, options?: object): Promise<unknown>;
  writeFile(path: string, data: Uint8Array): Promise<void>;
  readFile(path: string): Promise<Uint8Array>;
  stat(path: string): Promise<StatsLike>;
  readdir(path: string): Promise<string[]>;
  open(path: string, flags: string): Promise<HandleLike>;
}

export const MiB = 1024 * 1024;

/** mulberry32: the same stream in the worker and the page. */
export const rng = mulberry32;

export function shuffled<T>(a: readonly T[], seed: number): T[] {
  const r = rng(seed);
  const out = [...a];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The small-file tree: `files` files of 1-4 KiB in directories of `perDir` files. */
export interface TreeShape {
  files: number;
  perDir: number;
}
export function dirOf(i: number, shape: TreeShape): string {
  return `/d${Math.floor(i / shape.perDir)}`;
}
export function pathOf(i: number, shape: TreeShape): string {
  return `${dirOf(i, shape)}/f${i}`;
}
/** 1-4 KiB, incompressible-ish bytes, the same for a given i everywhere. */
export function contentOf(i: number): Uint8Array {
  const r = rng(i + 1);
  const n = 1024 + Math.floor(r() * 3073);
  const b = new Uint8Array(n);
  for (let k = 0; k < n; k++) b[k] = (r() * 256) | 0;
  return b;
}

export interface SmallFileFigures {
  files: number;
  dirs: number;
  bytes: number;
  /** Creates (mkdir of the directories, writeFile of every file) and the commit after them. */
  createMs: number;
  commitMs: number;
  createFilesPerSec: number;
  statsPerSec: number;
  readdirsPerSec: number;
  readFilesPerSec: number;
}

/** Create + commit, then stat, readdir and read of everything (warm: what create left cached). */
export async function smallFiles(t: Target, shape: TreeShape, contents: Uint8Array[], seed: number): Promise<SmallFileFigures> {
  const p = t.promises;
  const dirs = Math.ceil(shape.files / shape.perDir);
  let bytes = 0;
  const t0 = performance.now();
  for (let d = 0; d < dirs; d++) {
    await p.mkdir(`/d${d}`);
    for (let i = d * shape.perDir; i < Math.min(shape.files, (d + 1) * shape.perDir); i++) {
      await p.writeFile(pathOf(i, shape), contents[i]!);
      bytes += contents[i]!.length;
    }
  }
  const t1 = performance.now();
  await t.sync();
  const t2 = performance.now();
  const read = await readSmallFiles(t, shape, seed);
  return {
    files: shape.files, dirs, bytes, createMs: t1 - t0, commitMs: t2 - t1, createFilesPerSec: (shape.files * 1000) / (t2 - t0),
    ...read,
  };
}

/** stat every file, readdir every directory, read every file, each in a shuffled order. */
export async function readSmallFiles(t: Target, shape: TreeShape, seed: number): Promise<{ statsPerSec: number; readdirsPerSec: number; readFilesPerSec: number }> {
  const p = t.promises;
  const dirs = Math.ceil(shape.files / shape.perDir);
  const order = shuffled(Array.from({ length: shape.files }, (_, i) => i), seed);
  let s0 = performance.now();
  for (const i of order) {
    const st = await p.stat(pathOf(i, shape));
    if (!st.isFile()) throw new Error('not a file');
  }
  const statsPerSec = (shape.files * 1000) / (performance.now() - s0);
  const dirOrder = shuffled(Array.from({ length: dirs }, (_, d) => d), seed + 1);
  s0 = performance.now();
  for (const d of dirOrder) {
    const names = await p.readdir(`/d${d}`);
    if (names.length !== Math.min(shape.perDir, shape.files - d * shape.perDir)) throw new Error(`readdir /d${d}: ${names.length} names`);
  }
  const readdirsPerSec = (dirs * 1000) / (performance.now() - s0);
  s0 = performance.now();
  for (const i of order) {
    const data = await p.readFile(pathOf(i, shape));
    if (data.length < 1024) throw new Error('short read');
  }
  const readFilesPerSec = (shape.files * 1000) / (performance.now() - s0);
  return { statsPerSec, readdirsPerSec, readFilesPerSec };
}

/** Sequential write of `totalBytes` in `chunkBytes` writes through one handle, then the commit. */
export async function sequentialWrite(t: Target, path: string, totalBytes: number, chunkBytes: number): Promise<{ MBps: number; writeMs: number; commitMs: number }> {
  const chunk = new Uint8Array(chunkBytes);
  const r = rng(7);
  for (let k = 0; k < chunk.length; k++) chunk[k] = (r() * 256) | 0;
  const t0 = performance.now();
  const fh = await t.promises.open(path, 'w');
  for (let off = 0; off < totalBytes; off += chunkBytes) {
    chunk[0] = off / chunkBytes; // every chunk different (no dedupe anywhere, but be sure)
    await fh.write(chunk, 0, chunkBytes, off);
  }
  await fh.close();
  const t1 = performance.now();
  await t.sync();
  const t2 = performance.now();
  return { MBps: totalBytes / 1e3 / (t2 - t0), writeMs: t1 - t0, commitMs: t2 - t1 };
}

/** Sequential read of a whole file in `chunkBytes` reads through one handle (checksums verified). */
export async function sequentialRead(t: Target, path: string, totalBytes: number, chunkBytes: number): Promise<{ MBps: number }> {
  const buf = new Uint8Array(chunkBytes);
  const t0 = performance.now();
  const fh = await t.promises.open(path, 'r');
  let total = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, chunkBytes, null);
    if (bytesRead === 0) break;
    total += bytesRead;
  }
  await fh.close();
  const t1 = performance.now();
  if (total !== totalBytes) throw new Error(`read ${total} of ${totalBytes} bytes`);
  return { MBps: totalBytes / 1e3 / (t1 - t0) };
}

/** Random 4 KiB reads and overwrites (75/25 unless `readShare` says otherwise) at aligned offsets of an existing file, then the commit. */
export async function randomReadWrite(
  t: Target, path: string, fileBytes: number, ops: number, seed: number, readShare = 0.75,
): Promise<{ opsPerSec: number; commitMs: number }> {
  const r = rng(seed);
  const buf = new Uint8Array(4096);
  const blocks = fileBytes / 4096;
  const t0 = performance.now();
  const fh = await t.promises.open(path, 'r+');
  for (let k = 0; k < ops; k++) {
    const at = Math.floor(r() * blocks) * 4096;
    if (r() < readShare) {
      const { bytesRead } = await fh.read(buf, 0, 4096, at);
      if (bytesRead !== 4096) throw new Error('short read');
    } else {
      buf[0] = k & 0xff;
      await fh.write(buf, 0, 4096, at);
    }
  }
  await fh.close();
  const t1 = performance.now();
  await t.sync();
  const t2 = performance.now();
  return { opsPerSec: (ops * 1000) / (t2 - t0), commitMs: t2 - t1 };
}

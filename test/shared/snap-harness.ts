// Shared pieces of the snapshot tests: a filesystem of files made through the POSIX layer,
// their in-memory models, and the judges (our check, btrfs check --check-data-csum).
import { expect } from 'vitest';
import { join } from 'node:path';
import { MemoryDevice } from '../../src/device/memory.js';
import type { BlockDevice } from '../../src/device/block-device.js';
import { mkfs, type MkfsOptions } from '../../src/fs/mkfs.js';
import { openFs } from '../../src/fs/open.js';
import type { FsInfo, Root } from '../../src/fs/fs-info.js';
import { check } from '../../src/fs/check.js';
import { createNode, lookupName, unlink } from '../../src/inode/namei.js';
import { readFile, writeFile } from '../../src/inode/file.js';
import { readInode } from '../../src/inode/inode.js';
import { btrfsCheck, saveImage, tempDir } from './btrfs-progs.js';

export const enc = new TextEncoder();
export const DIR = 256;

export async function newFs(opts: MkfsOptions & { sizeBytes?: number } = {}): Promise<{ dev: MemoryDevice; fs: FsInfo }> {
  const { sizeBytes = 256 * 1024 * 1024, ...mk } = opts;
  const dev = new MemoryDevice(sizeBytes);
  await mkfs([dev], { nodesize: 4096, ...mk });
  return { dev, fs: await openFs([dev]) };
}

/** Creates a regular file `name` in directory 256 of `root` with `data`. */
export async function makeFile(fs: FsInfo, root: Root, name: string, data: Uint8Array): Promise<number> {
  const ino = await createNode(fs, root, DIR, enc.encode(name), { mode: 0o100644, uid: 0, gid: 0 });
  if (data.length) await writeFile(fs, root, ino, 0, data);
  return ino;
}

export async function inoOf(fs: FsInfo, root: Root, name: string): Promise<number | undefined> {
  return (await lookupName(fs, root, DIR, enc.encode(name)))?.ino;
}

export async function removeName(fs: FsInfo, root: Root, name: string): Promise<void> {
  await unlink(fs, root, DIR, enc.encode(name));
}

/** The content of every file named in `model` read back from `root`, compared with the model. */
export async function expectContent(fs: FsInfo, root: Root, model: Map<string, Uint8Array>, what: string): Promise<void> {
  for (const [name, want] of model) {
    const ino = await inoOf(fs, root, name);
    expect(ino, `${what}: ${name} exists`).toBeDefined();
    const size = (await readInode(fs, root, ino!)).size;
    expect(size, `${what}: ${name} size`).toBe(want.length);
    const got = await readFile(fs, root, ino!, 0, size);
    expect(Buffer.compare(Buffer.from(got), Buffer.from(want)), `${what}: ${name} content`).toBe(0);
  }
}

/** Our check and btrfs check --readonly --check-data-csum of the committed state. */
export async function judge(dev: BlockDevice, fs: FsInfo, what: string, progs = true): Promise<void> {
  const verdict = await check(fs);
  expect(verdict.errors, `${what}: our check`).toEqual([]);
  if (!progs) return;
  const { dir, cleanup } = await tempDir('butterfs-snap-');
  try {
    const img = join(dir, 'fs.img');
    await saveImage(dev, img);
    const r = await btrfsCheck(img, { dataCsum: true });
    expect(r.ok, `${what}: btrfs check\n${r.output}`).toBe(true);
  } finally {
    await cleanup();
  }
}

export function bytes(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

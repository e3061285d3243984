// The external judge: Debian's btrfs-progs run on image files (node project only).
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BlockDevice } from '../../src/device/block-device.js';

const run = promisify(execFile);

export interface ProgResult {
  ok: boolean;
  code: number;
  output: string;
}

export async function btrfsProg(args: string[]): Promise<ProgResult> {
  try {
    const { stdout, stderr } = await run('btrfs', args, { maxBuffer: 256 * 1024 * 1024 });
    return { ok: true, code: 0, output: stdout + stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { ok: false, code: err.code ?? -1, output: (err.stdout ?? '') + (err.stderr ?? '') };
  }
}

/** `btrfs check --readonly` (plus --check-data-csum when asked): ok only with exit 0 and no ERROR line. */
export async function btrfsCheck(image: string, opts: { dataCsum?: boolean } = {}): Promise<ProgResult> {
  const r = await btrfsProg(['check', '--readonly', ...(opts.dataCsum ? ['--check-data-csum'] : []), image]);
  const clean = r.ok && !/^ERROR|error\(s\) found|^WARNING/m.test(r.output);
  return { ...r, ok: clean };
}

export async function tempDir(prefix = 'butterfs-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Copies a whole device into an image file. */
export async function saveImage(dev: BlockDevice, path: string): Promise<void> {
  const chunk = 8 * 1024 * 1024;
  const out = new Uint8Array(dev.sizeBytes);
  for (let off = 0; off < dev.sizeBytes; off += chunk) {
    out.set(await dev.read(off, Math.min(chunk, dev.sizeBytes - off)), off);
  }
  await writeFile(path, out);
}

/** `btrfs check --readonly` (with --check-data-csum unless told otherwise) of a device, saved to a temporary image. */
export async function btrfsCheckDevice(dev: BlockDevice, opts: { dataCsum?: boolean } = { dataCsum: true }): Promise<ProgResult> {
  const { dir, cleanup } = await tempDir();
  try {
    const img = join(dir, 'fs.img');
    await saveImage(dev, img);
    return await btrfsCheck(img, opts);
  } finally {
    await cleanup();
  }
}

/**
 * Saves the device to a temporary image, runs `btrfs check --readonly --check-data-csum` and
 * `btrfs restore` (with `args`) into a directory beside it, and hands that directory to
 * `inspect`; throws with progs' output when check or restore fails.
 */
export async function checkAndRestore(dev: BlockDevice, args: string[], inspect: (out: string) => Promise<void>): Promise<void> {
  const { dir, cleanup } = await tempDir();
  try {
    const img = join(dir, 'fs.img');
    await saveImage(dev, img);
    const r = await btrfsCheck(img, { dataCsum: true });
    if (!r.ok) throw new Error(`btrfs check found errors:\n${r.output}`);
    const out = join(dir, 'restore');
    await mkdir(out);
    const rr = await btrfsProg(['restore', ...args, img, out]);
    if (!rr.ok) throw new Error(`btrfs restore failed:\n${rr.output}`);
    await inspect(out);
  } finally {
    await cleanup();
  }
}

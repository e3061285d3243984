// The model and the judges of the subvolume tests: what each subvolume holds (files,
// directories, subvolume entries), and how btrfs-progs and fs.promises must see it.
//
// Two views of a subvolume: the POSIX one (fs.promises, as the kernel shows it: an entry of a
// subvolume not linked from here, copied by a snapshot, is an empty directory), and the one
// `btrfs restore -r ID` writes, which follows every subvolume entry to its tree whether or not
// the root tree links it from there (restore does not look at ROOT_REFs).
import { expect } from 'vitest';
import { join } from 'node:path';
import { readdir, readFile, lstat, mkdir } from 'node:fs/promises';
import type { MemoryDevice } from '../../src/device/memory.js';
import type { Filesystem } from '../../src/api/filesystem.js';
import { btrfsCheck, btrfsProg, saveImage, tempDir } from './btrfs-progs.js';

export type Entry = { kind: 'file'; data: Uint8Array } | { kind: 'dir' } | { kind: 'sub'; id: number; linked: boolean };

export class SubvolModel {
  /** Per subvolume id: its entries by path relative to its root. */
  readonly subs = new Map<number, Map<string, Entry>>([[5, new Map()]]);

  tree(id: number): Map<string, Entry> {
    const t = this.subs.get(id);
    if (!t) throw new Error(`model has no subvolume ${id}`);
    return t;
  }

  file(id: number, path: string, data: Uint8Array | string): void {
    this.tree(id).set(path, { kind: 'file', data: typeof data === 'string' ? new TextEncoder().encode(data) : data });
  }

  dir(id: number, path: string): void {
    this.tree(id).set(path, { kind: 'dir' });
  }

  /** A new subvolume `child` at `path` of `parent`, with `entries` (a snapshot's copy) or empty. */
  sub(parent: number, path: string, child: number, entries?: Map<string, Entry>): void {
    const copy = new Map<string, Entry>();
    // A snapshot's copies of subvolume entries are not links: the kernel shows empty directories.
    // Copied first: a snapshot into its own source does not contain itself.
    for (const [k, v] of entries ?? []) copy.set(k, v.kind === 'sub' ? { ...v, linked: false } : v);
    this.tree(parent).set(path, { kind: 'sub', id: child, linked: true });
    this.subs.set(child, copy);
  }

  remove(id: number, path: string): void {
    const t = this.tree(id);
    for (const k of [...t.keys()]) if (k === path || k.startsWith(path + '/')) t.delete(k);
  }

  /** What fs.promises shows under subvolume `id`: files as bytes, directories as 'dir'. */
  posixView(id: number, prefix = '', out = new Map<string, Uint8Array | 'dir'>()): Map<string, Uint8Array | 'dir'> {
    for (const [k, v] of this.tree(id)) {
      const p = prefix + k;
      if (v.kind === 'file') out.set(p, v.data);
      else out.set(p, 'dir');
      if (v.kind === 'sub' && v.linked) this.posixView(v.id, p + '/', out);
    }
    return out;
  }

  /** What `btrfs restore -r id` writes: every subvolume entry followed to its (live) tree. */
  restoreView(id: number, prefix = '', out = new Map<string, Uint8Array | 'dir'>(), depth = 0): Map<string, Uint8Array | 'dir'> {
    if (depth > 32) throw new Error('model: subvolume loop');
    for (const [k, v] of this.tree(id)) {
      const p = prefix + k;
      if (v.kind === 'file') out.set(p, v.data);
      else out.set(p, 'dir');
      if (v.kind === 'sub' && this.subs.has(v.id)) this.restoreView(v.id, p + '/', out, depth + 1);
    }
    return out;
  }
}

/** Every file and directory below `dir` of the host, relative, as the views give them. */
async function hostTree(dir: string, prefix = '', out = new Map<string, Uint8Array | 'dir'>()): Promise<Map<string, Uint8Array | 'dir'>> {
  for (const name of await readdir(dir)) {
    const full = join(dir, name);
    const st = await lstat(full);
    if (st.isDirectory()) {
      out.set(prefix + name, 'dir');
      await hostTree(full, prefix + name + '/', out);
    } else {
      out.set(prefix + name, new Uint8Array(await readFile(full)));
    }
  }
  return out;
}

/** Every file and directory below `path` of fs.promises, relative. */
export async function butterTree(fs: Filesystem, path: string): Promise<Map<string, Uint8Array | 'dir'>> {
  const out = new Map<string, Uint8Array | 'dir'>();
  const base = path.endsWith('/') ? path : path + '/';
  for (const d of await fs.promises.readdir(path, { withFileTypes: true, recursive: true })) {
    const parent = String(d.parentPath ?? d.path);
    const rel = (parent === path ? '' : parent.slice(base.length) + '/') + String(d.name);
    if (d.isDirectory()) out.set(rel, 'dir');
    else out.set(rel, new Uint8Array(await fs.promises.readFile(base + rel)));
  }
  return out;
}

function show(m: Map<string, Uint8Array | 'dir'>): Record<string, string> {
  const o: Record<string, string> = {};
  for (const k of [...m.keys()].sort()) {
    const v = m.get(k)!;
    o[k] = v === 'dir' ? 'dir' : Buffer.from(v).toString('latin1');
  }
  return o;
}

export function expectSameTree(got: Map<string, Uint8Array | 'dir'>, want: Map<string, Uint8Array | 'dir'>, what: string): void {
  expect(show(got), what).toEqual(show(want));
}

/** Paths of the live subvolumes as the model knows them, from the top level. */
export function modelPaths(model: SubvolModel, id = 5, prefix = '', out = new Map<number, string>()): Map<number, string> {
  for (const [k, v] of model.tree(id)) {
    if (v.kind === 'sub' && v.linked) {
      out.set(v.id, prefix + k);
      modelPaths(model, v.id, prefix + k + '/', out);
    }
  }
  return out;
}

/**
 * The judges, after the cleaner finished and a commit: our check; btrfs check --readonly
 * --check-data-csum; `btrfs restore -l` lists exactly the model's subvolumes; `btrfs
 * restore -r ID` of each equals the model; fs.promises shows each subvolume (at `mountPath`
 * of 5, '/' by default) as the model says.
 */
export async function judgeSubvolumes(dev: MemoryDevice, fs: Filesystem, model: SubvolModel, what: string, o: { progs?: boolean; posix?: boolean } = {}): Promise<void> {
  await fs.subvolume.sync();
  const verdict = await fs.check();
  expect(verdict.errors, `${what}: our check`).toEqual([]);
  const paths = modelPaths(model);
  if (o.posix !== false && fs.subvolumeId === 5) {
    expectSameTree(await butterTree(fs, '/'), model.posixView(5), `${what}: fs.promises view of the top level`);
    for (const [id, p] of paths) expectSameTree(await butterTree(fs, '/' + p), model.posixView(id), `${what}: fs.promises view of subvolume ${id} at ${p}`);
    const listed = new Map((await fs.subvolume.list()).map((s) => [s.id, s.path]));
    expect(listed, `${what}: subvolume list`).toEqual(paths);
  }
  if (o.progs === false) return;
  const { dir, cleanup } = await tempDir('butterfs-subvol-');
  try {
    const img = join(dir, 'fs.img');
    await saveImage(dev, img);
    const c = await btrfsCheck(img, { dataCsum: true });
    expect(c.ok, `${what}: btrfs check\n${c.output}`).toBe(true);
    const l = await btrfsProg(['restore', '-l', img]);
    expect(l.ok, `${what}: btrfs restore -l\n${l.output}`).toBe(true);
    const ids = [...l.output.matchAll(/tree key \((\d+) ROOT_ITEM/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
    expect(ids, `${what}: btrfs restore -l subvolumes`).toEqual([...model.subs.keys()].filter((id) => id !== 5).sort((a, b) => a - b));
    for (const id of model.subs.keys()) {
      const out = join(dir, `r${id}`);
      await mkdir(out);
      // -s: restore descends into snapshots too (btrfs keys them with their transid and skips them otherwise).
      const r = await btrfsProg(['restore', '-s', '-r', String(id), img, out]);
      expect(r.ok, `${what}: btrfs restore -r ${id}\n${r.output}`).toBe(true);
      expectSameTree(await hostTree(out), model.restoreView(id), `${what}: btrfs restore -r ${id}`);
    }
  } finally {
    await cleanup();
  }
}

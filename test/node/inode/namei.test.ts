// The namespace layer against btrfs's rules and btrfs check: create, mkdir, symlink, link,
// unlink, rmdir, rename (noreplace, exchange, into own subtree), xattrs, orphans, limits.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { MemoryDevice } from '../../../src/device/memory.js';
import { mkfs } from '../../../src/fs/mkfs.js';
import { openFs } from '../../../src/fs/open.js';
import type { FsInfo } from '../../../src/fs/fs-info.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { check } from '../../../src/fs/check.js';
import { readInode } from '../../../src/inode/inode.js';
import * as N from '../../../src/inode/namei.js';
import { searchSlot } from '../../../src/tree/ctree.js';
import { Key } from '../../../src/format/key.js';
import { ItemType } from '../../../src/format/constants.js';
import { DirItem } from '../../../src/format/structs.js';
import { asciiName, nameString } from '../../../src/inode/dir-item.js';
import { btrfsNameHash } from '../../../src/kernels/checksum.js';
import { btrfsCheck, btrfsProg, saveImage, tempDir } from '../../shared/btrfs-progs.js';
import { mulberry32 } from '../../shared/rng.js';
import { mount } from '../../../src/api/filesystem.js';
import { mkdir as mkdirNode, readFile, readlink as readlinkNode, readdir, stat } from 'node:fs/promises';

const enc = new TextEncoder();
const b = (s: string) => enc.encode(s);
const ROOT = 256;
const cred = { uid: 0, gid: 0 };

async function fresh(nodesize = 4096): Promise<{ dev: MemoryDevice; fs: FsInfo }> {
  const dev = new MemoryDevice(128 * 1024 * 1024);
  await mkfs([dev], { nodesize });
  const fs = await openFs([dev]);
  startTransaction(fs);
  return { dev, fs };
}

async function names(fs: FsInfo, dir: number): Promise<string[]> {
  const out: string[] = [];
  for await (const e of N.readDir(fs, fs.fsTree, dir)) out.push(new TextDecoder().decode(e.name));
  return out.sort();
}

/** Commits, then our checker and btrfs check must both find the image clean. */
/** A fresh filesystem mounted through the API, with an empty directory /d. */
async function mountedWithDir() {
  const dev = new MemoryDevice(64 * 1024 * 1024);
  await mkfs([dev]);
  const fs = await mount([dev]);
  const p = fs.promises;
  await p.mkdir('/d');
  return { dev, fs, p };
}

async function judge(dev: MemoryDevice, fs: FsInfo): Promise<void> {
  if (fs.transid) await commitTransaction(fs);
  const verdict = await check(fs);
  expect(verdict.errors).toEqual([]);
  const { dir, cleanup } = await tempDir();
  try {
    const img = join(dir, 'fs.img');
    await saveImage(dev, img);
    const r = await btrfsCheck(img);
    expect(r.ok, r.output).toBe(true);
  } finally {
    await cleanup();
  }
}

describe('name decoding', () => {
  it('reads ASCII names of every length in place and leaves the rest to UTF-8', () => {
    const enc = new TextEncoder();
    for (let n = 0; n <= 40; n++) {
      const name = Array.from({ length: n }, (_, i) => String.fromCharCode(33 + ((i * 7) % 90))).join('');
      const buf = new Uint8Array(n + 6).fill(0x41);
      buf.set(enc.encode(name), 3);
      expect(asciiName(buf, 3, n)).toBe(name);
      expect(nameString(enc.encode(name))).toBe(name);
    }
    const utf8 = enc.encode('caf\u00e9-\u6587\u4ef6');
    expect(asciiName(utf8, 0, utf8.length)).toBeUndefined();
    expect(nameString(utf8)).toBe('caf\u00e9-\u6587\u4ef6');
    expect(nameString(new Uint8Array([0x61, 0xff, 0x62]))).toBe('a\ufffdb');
  });
});

describe('directory listings', () => {
  // readDirAll remembers a whole listing in the tree's cache; a link's new last entry is added
  // to it instead of dropping it. Every step compares the remembered listing with the tree's
  // (a limit makes readDirAll read the tree), checks that arrays handed out earlier never
  // change, and that creates keep the listing remembered (a mkdir starts it empty).
  it('follow creates, links, unlinks and renames (names too), and never change a listing a caller holds', async () => {
    const seed = 20261122;
    const { dev, fs } = await fresh();
    const root = fs.fsTree;
    const r = mulberry32(seed);
    const dirs = [ROOT];
    for (let i = 0; i < 3; i++) dirs.push(await N.mkdir(fs, root, ROOT, b(`d${i}`), { ...cred, mode: 0o755 }));
    // The names of a directory made in this mount are all known: a lookup of another needs no search.
    await N.createNode(fs, root, dirs[1], b('first'), { ...cred, mode: 0o100644 });
    expect(root.itemCache!.knownAbsent(dirs[1], btrfsNameHash(b('absent')))).toBe(true);
    expect(root.itemCache!.knownAbsent(dirs[1], btrfsNameHash(b('first')))).toBe(false);
    await N.unlink(fs, root, dirs[1], b('first'));
    const held: { list: readonly N.DirEntryInfo[]; copy: string[] }[] = [];
    const shape = (l: readonly N.DirEntryInfo[]) => l.map((e) => `${e.text}:${e.ino}:${e.type}:${e.index}`);
    const files: { dir: number; name: string; ino: number }[] = [];
    const removed: { dir: number; name: string }[] = [];
    let created = 0;
    for (let step = 0; step < 400; step++) {
      const op = r();
      const dir = dirs[Math.floor(r() * dirs.length)];
      const name = `f${created++}-${'\u00e9x'.repeat(Math.floor(r() * 3))}`;
      const before = root.itemCache!.hasListing(dir);
      if (op < 0.5 || files.length === 0) {
        const ino = await N.createNode(fs, root, dir, b(name), { ...cred, mode: 0o100644 });
        files.push({ dir, name, ino });
        // A new last entry keeps a remembered listing remembered.
        if (before) expect(root.itemCache!.hasListing(dir), `seed ${seed} step ${step}`).toBe(true);
      } else {
        const f = files[Math.floor(r() * files.length)];
        if (op < 0.65) {
          await N.link(fs, root, f.ino, dir, b(name));
          files.push({ dir, name, ino: f.ino });
        } else if (op < 0.75) {
          await N.unlink(fs, root, f.dir, b(f.name));
          files.splice(files.indexOf(f), 1);
          removed.push({ dir: f.dir, name: f.name });
        } else if (op < 0.8) {
          // A name added other than by a link (a subvolume's entry): found, then removed.
          await N.addSubvolumeEntry(fs, root, dir, b(name), 9999);
          expect(await N.lookupName(fs, root, dir, b(name)), `seed ${seed} step ${step}`).toMatchObject({ subvolume: 9999 });
          await N.removeSubvolumeEntry(fs, root, dir, b(name), 9999, undefined);
          removed.push({ dir, name });
        } else {
          await N.rename(fs, root, f.dir, b(f.name), dir, b(name));
          removed.push({ dir: f.dir, name: f.name });
          Object.assign(f, { dir, name });
        }
      }
      if (r() < 0.05) {
        await commitTransaction(fs);
        startTransaction(fs);
      }
      for (const d of dirs) {
        if (r() < 0.5) continue;
        const fromTree = await N.readDirAll(fs, root, d, 1, 1e9);
        // Half the time the names are read alone (nothing remembered) and remembered as names,
        // which the next steps' changes must drop or keep exact.
        if (r() < 0.5) root.itemCache!.takeListing(d);
        expect(await N.readDirNames(fs, root, d), `seed ${seed} step ${step} dir ${d}: names`).toEqual(fromTree.map((e) => e.text));
        expect(await N.readDirNames(fs, root, d), `seed ${seed} step ${step} dir ${d}: names again`).toEqual(fromTree.map((e) => e.text));
        // Half the time the held listing is the one read from the tree (a miss: dropped first),
        // the array the cache keeps from there on; nothing else asks for it before the next step.
        if (r() < 0.5) root.itemCache!.takeListing(d);
        const cached = await N.readDirAll(fs, root, d);
        expect(shape(cached), `seed ${seed} step ${step} dir ${d}`).toEqual(shape(fromTree));
        // Every name is found, and names not there are not (removed ones among them).
        for (const e of fromTree) expect((await N.lookupName(fs, root, d, e.name))?.ino, `seed ${seed} step ${step} dir ${d}: ${e.text}`).toBe(e.ino);
        for (const gone of removed.filter((x) => x.dir === d).slice(-5)) expect(await N.lookupName(fs, root, d, b(gone.name)), `seed ${seed} step ${step}: ${gone.name}`).toBeUndefined();
        expect(await N.lookupName(fs, root, d, b(`nope${step}`))).toBeUndefined();
        held.push({ list: cached, copy: shape(cached) });
        // Half the time the directory is left remembered by its names alone, which the next
        // steps' changes must drop (or the names checks above find them stale).
        if (r() < 0.5) {
          root.itemCache!.takeListing(d);
          await N.readDirNames(fs, root, d);
        }
      }
      if (step % 25 === 24) for (const h of held) expect(shape(h.list), `seed ${seed} step ${step}: a held listing changed`).toEqual(h.copy);
    }
    expect(files.length).toBeGreaterThan(50);
    await judge(dev, fs);
  });

  it('keep a name whose string does not spell its bytes (invalid UTF-8) out of the dcache', async () => {
    // Such names come from send streams and other images. Its string (U+FFFD for the bad byte)
    // is the UTF-8 of another name: a path spelt that way must not find this one.
    const { dev, fs, p } = await mountedWithDir();
    await p.writeFile('/d/plain', 'x');
    const dir = (await p.stat('/d')).ino;
    const ino = await fs.transaction((info) => N.createNode(info, info.fsTree, dir, new Uint8Array([0x66, 0xff]), { ...cred, mode: 0o100644 }));
    await expect(p.stat('/d/f\ufffd')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(p.writeFile('/d/f\ufffd', 'other', { flag: 'wx' })).resolves.toBeUndefined();
    expect((await p.stat('/d/f\ufffd')).ino).not.toBe(ino);
    expect((await p.readdir('/d')).length).toBe(3);
    await fs.unmount();
    await judge(dev, await openFs([dev]));
  });

  it('are EUCLEAN, not wrong names, when an index item does not hold one entry', async () => {
    const { fs, p } = await mountedWithDir();
    for (const n of ['a', 'bb', 'ccc']) await p.writeFile(`/d/${n}`, n);
    await fs.sync();
    const dir = (await p.stat('/d')).ino;
    const root = fs.info.fsTree;
    // The leaf as every later read sees it (cached): the second entry's data_len made 1.
    const { path } = await searchSlot(fs.info, root, Key.of(dir, ItemType.DIR_INDEX, 3));
    expect(path.leaf.key(path.slots[0]).toString()).toBe(Key.of(dir, ItemType.DIR_INDEX, 3).toString());
    path.leaf.data[path.leaf.itemPtr(path.slots[0]) + DirItem.off.dataLen] = 1;
    root.itemCache!.clear();
    // Names alone (readdir), then the entries (withFileTypes).
    await expect(p.readdir('/d')).rejects.toMatchObject({ code: 'EUCLEAN', syscall: 'scandir' });
    await expect(p.readdir('/d', { withFileTypes: true })).rejects.toMatchObject({ code: 'EUCLEAN', syscall: 'scandir' });
    await fs.unmount().catch(() => undefined);
  });
});

describe('namespace', () => {
  it('builds a tree of directories, files, symlinks and hard links that btrfs check and restore accept', async () => {
    const { dev, fs } = await fresh();
    const root = fs.fsTree;
    const a = await N.mkdir(fs, root, ROOT, b('a'), { ...cred, mode: 0o755 });
    const sub = await N.mkdir(fs, root, a, b('sub'), { ...cred, mode: 0o700 });
    const f = await N.createNode(fs, root, sub, b('file.txt'), { ...cred, mode: 0o100644 });
    await N.link(fs, root, f, ROOT, b('hardlink'));
    await N.symlink(fs, root, ROOT, b('link'), b('a/sub/file.txt'), cred);
    for (let i = 0; i < 300; i++) await N.createNode(fs, root, a, b(`many-${i}`), { ...cred, mode: 0o100600 });
    await N.setXattr(fs, root, f, b('user.color'), b('blue'));
    expect((await readInode(fs, root, f)).nlink).toBe(2);
    expect((await readInode(fs, root, a)).size).toBe(2 * 'sub'.length + 300 * 2 * 0 + [...Array(300).keys()].reduce((s, i) => s + 2 * `many-${i}`.length, 0));
    expect(await names(fs, ROOT)).toEqual(['a', 'hardlink', 'link']);
    expect(new TextDecoder().decode(await N.readlink(fs, root, (await N.lookupName(fs, root, ROOT, b('link')))!.ino))).toBe('a/sub/file.txt');
    await commitTransaction(fs);
    expect((await check(fs)).errors).toEqual([]);
    const { dir, cleanup } = await tempDir();
    try {
      const img = join(dir, 'fs.img');
      await saveImage(dev, img);
      expect((await btrfsCheck(img)).ok).toBe(true);
      const out = join(dir, 'out');
      await mkdirNode(out);
      const r = await btrfsProg(['restore', '-S', '-x', img, out]);
      expect(r.ok, r.output).toBe(true);
      expect((await readdir(out)).sort()).toEqual(['a', 'hardlink', 'link']);
      expect(await readlinkNode(join(out, 'link'))).toBe('a/sub/file.txt');
      expect((await readdir(join(out, 'a'))).length).toBe(301);
      expect((await stat(join(out, 'a', 'sub', 'file.txt'))).size).toBe(0);
      expect(await readFile(join(out, 'hardlink'))).toHaveLength(0);
    } finally {
      await cleanup();
    }
  });

  it('gives the POSIX errors', async () => {
    const { fs } = await fresh();
    const root = fs.fsTree;
    const d = await N.mkdir(fs, root, ROOT, b('d'), { ...cred, mode: 0o755 });
    const f = await N.createNode(fs, root, ROOT, b('f'), { ...cred, mode: 0o100644 });
    await N.createNode(fs, root, d, b('inner'), { ...cred, mode: 0o100644 });
    await expect(N.createNode(fs, root, ROOT, b('f'), { ...cred, mode: 0o100644 })).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(N.createNode(fs, root, ROOT, b('x'.repeat(256)), { ...cred, mode: 0o100644 })).rejects.toMatchObject({ code: 'ENAMETOOLONG' });
    await expect(N.createNode(fs, root, ROOT, b('a/b'), { ...cred, mode: 0o100644 })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(N.createNode(fs, root, f, b('under-a-file'), { ...cred, mode: 0o100644 })).rejects.toMatchObject({ code: 'ENOTDIR' });
    await expect(N.unlink(fs, root, ROOT, b('d'))).rejects.toMatchObject({ code: 'EISDIR' });
    await expect(N.unlink(fs, root, ROOT, b('nope'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(N.rmdir(fs, root, ROOT, b('d'))).rejects.toMatchObject({ code: 'ENOTEMPTY' });
    await expect(N.rmdir(fs, root, ROOT, b('f'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    await expect(N.link(fs, root, d, ROOT, b('dirlink'))).rejects.toMatchObject({ code: 'EPERM' });
    await expect(N.rename(fs, root, ROOT, b('d'), d, b('moved'))).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(N.rename(fs, root, ROOT, b('f'), ROOT, b('d'))).rejects.toMatchObject({ code: 'EISDIR' });
    await expect(N.rename(fs, root, ROOT, b('d'), ROOT, b('f'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    await expect(N.rename(fs, root, ROOT, b('f'), d, b('inner'), { noReplace: true })).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(N.rename(fs, root, ROOT, b('f'), ROOT, b('nope'), { exchange: true })).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(N.symlink(fs, root, ROOT, b('long'), b('x'.repeat(5000)), cred)).rejects.toMatchObject({ code: 'ENAMETOOLONG' });
    await expect(N.getXattr(fs, root, f, b('user.none'))).rejects.toMatchObject({ code: 'ENODATA' });
    await expect(N.setXattr(fs, root, f, b('bogus.ns'), b('v'))).rejects.toMatchObject({ code: 'EOPNOTSUPP' });
    await expect(N.setXattr(fs, root, f, b('user.big'), new Uint8Array(5000))).rejects.toMatchObject({ code: 'E2BIG' });
  });

  it('renames over files and empty directories, exchanges, and keeps sizes and links right', async () => {
    const { dev, fs } = await fresh();
    const root = fs.fsTree;
    const d1 = await N.mkdir(fs, root, ROOT, b('d1'), { ...cred, mode: 0o755 });
    const d2 = await N.mkdir(fs, root, ROOT, b('d2'), { ...cred, mode: 0o755 });
    const f1 = await N.createNode(fs, root, d1, b('f1'), { ...cred, mode: 0o100644 });
    const f2 = await N.createNode(fs, root, d2, b('f2'), { ...cred, mode: 0o100644 });
    await N.link(fs, root, f2, ROOT, b('f2-again'));
    await N.rename(fs, root, d1, b('f1'), d2, b('f2')); // replaces f2: f2 keeps its other name
    expect((await readInode(fs, root, f2)).nlink).toBe(1);
    expect((await N.lookupName(fs, root, d2, b('f2')))!.ino).toBe(f1);
    const e1 = await N.mkdir(fs, root, ROOT, b('e1'), { ...cred, mode: 0o755 });
    await N.mkdir(fs, root, ROOT, b('e2'), { ...cred, mode: 0o755 });
    await N.rename(fs, root, ROOT, b('e1'), ROOT, b('e2')); // over an empty dir
    expect((await N.lookupName(fs, root, ROOT, b('e2')))!.ino).toBe(e1);
    await N.rename(fs, root, ROOT, b('d2'), d1, b('d2-inside')); // a dir into a sibling
    await N.rename(fs, root, ROOT, b('f2-again'), d1, b('d2-inside'), { exchange: true });
    expect((await N.lookupName(fs, root, d1, b('d2-inside')))!.ino).toBe(f2);
    expect((await N.lookupName(fs, root, ROOT, b('f2-again')))!.ino).toBe(d2);
    await N.rename(fs, root, ROOT, b('f2-again'), ROOT, b('f2-again')); // same name: nothing
    await judge(dev, fs);
  });

  it('keeps an unlinked open file as an orphan and frees it at mount', async () => {
    const { dev, fs } = await fresh();
    const root = fs.fsTree;
    const f = await N.createNode(fs, root, ROOT, b('open'), { ...cred, mode: 0o100644 });
    await N.unlink(fs, root, ROOT, b('open'), { isOpen: (ino) => ino === f });
    expect((await readInode(fs, root, f)).nlink).toBe(0);
    await commitTransaction(fs);
    const again = await openFs([dev]);
    startTransaction(again);
    expect(await N.cleanupOrphans(again, again.fsTree)).toBe(1);
    await expect(readInode(again, again.fsTree, f)).rejects.toMatchObject({ code: 'ENOENT' });
    await judge(dev, again);
  });

  it('spills names into INODE_EXTREF when an inode has too many names in one directory', async () => {
    const { dev, fs } = await fresh(4096);
    const root = fs.fsTree;
    const f = await N.createNode(fs, root, ROOT, b('base'), { ...cred, mode: 0o100644 });
    for (let i = 0; i < 150; i++) await N.link(fs, root, f, ROOT, b(`link-with-a-long-name-${i}`));
    expect((await readInode(fs, root, f)).nlink).toBe(151);
    for (let i = 0; i < 150; i += 2) await N.unlink(fs, root, ROOT, b(`link-with-a-long-name-${i}`));
    expect((await readInode(fs, root, f)).nlink).toBe(76);
    await judge(dev, fs);
  });
});

// The checker (src/fs/check.ts) judged against btrfs-progs: clean images (ours after
// workloads, and real mkfs.btrfs ones) must pass both, and each crafted corruption must be
// reported by both, with our error naming the problem.
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { mkdir, symlink, truncate, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { MemoryDevice } from '../../../src/device/memory.js';
import { FileDevice } from '../../../src/device/file.js';
import { mkfs } from '../../../src/fs/mkfs.js';
import { openFs } from '../../../src/fs/open.js';
import { check, type CheckProgress, type CheckResult } from '../../../src/fs/check.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { Key } from '../../../src/format/key.js';
import { viewOf } from '../../../src/format/struct.js';
import { ExtentItem, ExtentDataRef, BlockGroupItem } from '../../../src/format/structs.js';
import { ItemType, BlockGroupFlags, FREE_SPACE_TREE_OBJECTID, EXTENT_FLAG_DATA } from '../../../src/format/constants.js';
import { iterItems } from '../../../src/tree/ctree.js';
import { mulberry32 } from '../../../src/device/fault.js';
import type { FsInfo } from '../../../src/fs/fs-info.js';
import { createFile, removeFile, type SimpleFile } from '../../shared/simple-files.js';
import { btrfsCheck, saveImage, tempDir } from '../../shared/btrfs-progs.js';
import { deleteItemRaw, editItem, editSuper, flipBlockByte, readRawBlock, writeRawBlock } from '../../shared/corrupt.js';

const MiB = 1024 * 1024;
const run = promisify(execFile);

/** Our check and btrfs check on the same image. */
async function bothChecks(dev: MemoryDevice): Promise<{ ours: CheckResult; progs: { ok: boolean; output: string } }> {
  const fs = await openFs([dev], { readonly: true });
  const ours = await check(fs);
  const { dir, cleanup } = await tempDir();
  try {
    const img = join(dir, 'fs.img');
    await saveImage(dev, img);
    return { ours, progs: await btrfsCheck(img) };
  } finally {
    await cleanup();
  }
}

function report(r: CheckResult): string {
  return r.errors.join('\n');
}

/** Creates `creates` files and removes every `removeEvery`-th, over `commits` commits. */
async function workload(dev: MemoryDevice, seed: number, commits: number, creates: number): Promise<void> {
  const rand = mulberry32(seed);
  const fs = await openFs([dev]);
  const model = new Map<string, SimpleFile>();
  let ino = 257;
  let index = 2;
  for (let c = 0; c < commits; c++) {
    startTransaction(fs);
    for (let i = 0; i < creates; i++) {
      const names = [...model.keys()];
      if (names.length > 0 && rand() < 0.25) {
        const name = names[Math.floor(rand() * names.length)];
        await removeFile(fs, fs.fsTree, name, model.get(name)!);
        model.delete(name);
        continue;
      }
      const name = `f-${ino}-${Math.floor(rand() * 1e9).toString(36)}`;
      const f = await createFile(fs, fs.fsTree, name, ino, index);
      if (f) {
        model.set(name, f);
        ino++;
        index++;
      }
    }
    await commitTransaction(fs);
  }
}

/** A tree for mkfs.btrfs --rootdir: files (inline, regular, empty), a directory, a symlink. */
async function makeRootdir(dir: string): Promise<string> {
  const root = join(dir, 'root');
  await mkdir(join(root, 'sub'), { recursive: true });
  await writeFile(join(root, 'small.txt'), 'hello\n');
  const rand = mulberry32(7);
  await writeFile(join(root, 'big.bin'), Uint8Array.from({ length: 300_000 }, () => Math.floor(rand() * 256)));
  await writeFile(join(root, 'sub', 'mid.bin'), Uint8Array.from({ length: 5000 }, (_, i) => i & 0xff));
  await writeFile(join(root, 'sub', 'empty'), '');
  await symlink('small.txt', join(root, 'link'));
  return root;
}

/** A 256 MiB image file made by mkfs.btrfs with `extra` arguments. */
async function mkfsBtrfs(img: string, extra: readonly string[]): Promise<void> {
  await writeFile(img, '');
  await truncate(img, 256 * MiB);
  await run('mkfs.btrfs', ['-q', '-f', ...extra, img]);
}

describe('check: clean images', () => {
  for (const [csum, nodesize] of [['crc32c', 4096], ['xxhash', 16384], ['sha256', 65536], ['blake2', 16384]] as const) {
    it(`passes a fresh mkfs image (${csum}, nodesize ${nodesize})`, async () => {
      const dev = new MemoryDevice(128 * MiB);
      await mkfs([dev], { csum, nodesize });
      const { ours, progs } = await bothChecks(dev);
      expect(ours.errors, report(ours)).toEqual([]);
      expect(ours.ok).toBe(true);
      expect(ours.stats.trees).toBe(9);
      expect(ours.stats.blockGroups).toBe(3);
      expect(progs.ok, progs.output).toBe(true);
    });
  }

  for (const nodesize of [4096, 16384]) {
    it(`passes an image after a create/remove workload over commits (nodesize ${nodesize})`, async () => {
      const dev = new MemoryDevice(128 * MiB);
      await mkfs([dev], { nodesize, csum: nodesize === 4096 ? 'crc32c' : 'xxhash' });
      await workload(dev, 0xc0ffee + nodesize, 3, 400);
      const { ours, progs } = await bothChecks(dev);
      expect(ours.errors, report(ours)).toEqual([]);
      expect(ours.stats.inodes).toBeGreaterThan(300);
      expect(ours.stats.treeBlocks).toBeGreaterThan(nodesize === 4096 ? 20 : 9);
      expect(progs.ok, progs.output).toBe(true);
    });
  }

  it('passes images made by mkfs.btrfs, plain and with --rootdir (files, a directory, a symlink)', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const root = await makeRootdir(dir);
      for (const [name, extra] of [['plain.img', []], ['rootdir.img', ['--rootdir', root]]] as const) {
        const img = join(dir, name);
        await mkfsBtrfs(img, extra);
        const dev = await FileDevice.open(img);
        try {
          const fs = await openFs([dev], { readonly: true });
          const r = await check(fs);
          expect(r.errors, `${name}\n${report(r)}`).toEqual([]);
          if (name === 'rootdir.img') {
            expect(r.stats.dataExtents).toBeGreaterThan(0);
            expect(r.stats.csumItems).toBeGreaterThan(0);
            expect(r.stats.inodes).toBe(8); // 7 from the directory, the data reloc tree's root directory
          }
        } finally {
          await dev.close();
        }
        const progs = await btrfsCheck(img);
        expect(progs.ok, progs.output).toBe(true);
      }
    } finally {
      await cleanup();
    }
  });

  it('reports progress and can be cancelled', async () => {
    const dev = new MemoryDevice(128 * MiB);
    await mkfs([dev], { nodesize: 4096 });
    await workload(dev, 3, 1, 300);
    const fs = await openFs([dev], { readonly: true });
    const phases = new Set<string>();
    const r = await check(fs, { onProgress: (p: CheckProgress) => phases.add(p.phase) });
    expect(r.ok, report(r)).toBe(true);
    for (const p of ['trees', 'extents', 'block groups', 'devices', 'free space', 'csums', 'fs trees']) expect(phases).toContain(p);
    const ac = new AbortController();
    let calls = 0;
    await expect(check(fs, { signal: ac.signal, onProgress: () => { if (++calls === 2) ac.abort(); } })).rejects.toMatchObject({ code: 'ECANCELED' });
  });
});

describe('check: corrupted images', () => {
  // One base image with multi-level fs and extent trees (nodesize 4096); each test forks it.
  let base: MemoryDevice;
  beforeAll(async () => {
    base = new MemoryDevice(128 * MiB);
    await mkfs([base], { nodesize: 4096 });
    await workload(base, 0xbad, 2, 400);
  });

  async function corrupt(fn: (fs: FsInfo, dev: MemoryDevice) => Promise<void>): Promise<{ ours: CheckResult; progs: { ok: boolean; output: string } }> {
    const dev = base.fork();
    const fs = await openFs([dev], { readonly: true });
    expect(fs.fsTree.node.level).toBeGreaterThan(0);
    await fn(fs, dev);
    const r = await bothChecks(dev);
    if (process.env.SHOW_CHECK) console.log(r.ours.errors, r.progs.output);
    return r;
  }

  it('the base image is clean', async () => {
    const { ours, progs } = await bothChecks(base.fork());
    expect(ours.errors, report(ours)).toEqual([]);
    expect(progs.ok, progs.output).toBe(true);
  });

  it('reports a leaf of the fs tree that is bad in both DUP copies', async () => {
    let leaf = 0;
    const { ours, progs } = await corrupt(async (fs, dev) => {
      leaf = fs.fsTree.node.level === 1 ? fs.fsTree.node.blockptr(1) : (await readRawBlock(fs, fs.fsTree.node.blockptr(1))).blockptr(0);
      await flipBlockByte(fs, dev, leaf, 300);
    });
    expect(ours.ok).toBe(false);
    expect(ours.errors.join('\n')).toMatch(new RegExp(`tree block ${leaf} \\(fs tree.*cannot be read.*checksum mismatch`));
    expect(progs.ok, progs.output).toBe(false);
  });

  it("reports a METADATA_ITEM whose refs do not match the tree's references", async () => {
    let bytenr = 0;
    const { ours, progs } = await corrupt(async (fs, dev) => {
      bytenr = fs.fsTree.node.bytenr;
      const key = Key.of(bytenr, ItemType.METADATA_ITEM, fs.fsTree.node.level);
      await editItem(fs, dev, fs.extentTree, key, (dv) => dv.setUint32(ExtentItem.off.refs, 2, true));
    });
    expect(ours.errors.join('\n')).toMatch(new RegExp(`tree block ${bytenr} .*has refs 2 but 1 backref`));
    expect(progs.ok, progs.output).toBe(false);
  });

  it('reports a FREE_SPACE_EXTENT deleted from the free space tree', async () => {
    let start = 0;
    const { ours, progs } = await corrupt(async (fs, dev) => {
      const data = fs.blockGroups.ofType(BlockGroupFlags.DATA)[0];
      const [[s, l]] = [...data.fstExtents!.ranges()];
      start = s;
      await deleteItemRaw(fs, dev, fs.root(FREE_SPACE_TREE_OBJECTID), Key.of(s, ItemType.FREE_SPACE_EXTENT, l));
    });
    const text = ours.errors.join('\n');
    expect(text).toMatch(new RegExp(`free but missing from the free space tree: \\[${start}, `));
    expect(text).toMatch(/FREE_SPACE_INFO extent_count 1, the tree holds 0/);
    expect(progs.ok, progs.output).toBe(false);
  });

  it('reports a block group whose used bytes are wrong', async () => {
    let bgStart = 0;
    const { ours, progs } = await corrupt(async (fs, dev) => {
      const bg = fs.blockGroups.ofType(BlockGroupFlags.METADATA)[0];
      bgStart = bg.start;
      await editItem(fs, dev, fs.extentTree, Key.of(bg.start, ItemType.BLOCK_GROUP_ITEM, bg.length), (dv) => {
        dv.setUint32(BlockGroupItem.off.used, dv.getUint32(BlockGroupItem.off.used, true) + 4096 * 3, true);
      });
    });
    expect(ours.errors.join('\n')).toMatch(new RegExp(`block group \\[${bgStart}, .*says used \\d+, its extents add up to \\d+`));
    expect(ours.errors).toHaveLength(1);
    expect(progs.ok, progs.output).toBe(false);
  });

  it('reports a superblock bytes_used that differs from the extents', async () => {
    const { ours, progs } = await corrupt(async (_fs, dev) => {
      await editSuper(dev, (sb) => { sb.bytesUsed += 65536; });
    });
    expect(ours.errors.join('\n')).toMatch(/superblock bytes_used \d+, but the extents add up to \d+/);
    expect(ours.errors).toHaveLength(1);
    expect(progs.ok, progs.output).toBe(false);
  });

  it('reports a DIR_INDEX missing from a directory', async () => {
    let ino = 0;
    const { ours, progs } = await corrupt(async (fs, dev) => {
      for await (const it of iterItems(fs, fs.fsTree, Key.of(256, ItemType.DIR_INDEX, 0), Key.of(256, ItemType.DIR_INDEX, -1))) {
        if (it.slot === 0) continue;
        ino = viewOf(it.data).getUint32(0, true);
        await deleteItemRaw(fs, dev, fs.fsTree, it.key);
        return;
      }
    });
    expect(ino).toBeGreaterThan(256);
    const text = ours.errors.join('\n');
    expect(text).toMatch(new RegExp(`fs tree inode ${ino}: INODE_REF ".*" in directory 256 index \\d+ has no matching DIR_INDEX`));
    expect(text).toMatch(/fs tree inode 256: directory i_size \d+, but its entries add up to \d+/);
    expect(progs.ok, progs.output).toBe(false);
  });

  it('reports a data extent whose EXTENT_DATA_REF count differs from the file extents (mkfs.btrfs --rootdir image)', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const img = join(dir, 'rootdir.img');
      await mkfsBtrfs(img, ['--rootdir', await makeRootdir(dir)]);
      const dev = await FileDevice.open(img);
      let bytenr = 0;
      let r: CheckResult;
      try {
        const fs = await openFs([dev], { readonly: true });
        for await (const it of iterItems(fs, fs.extentTree, Key.MIN, Key.MAX)) {
          const dv = viewOf(it.data);
          if (it.key.type !== ItemType.EXTENT_ITEM || (dv.getUint32(ExtentItem.off.flags, true) & EXTENT_FLAG_DATA) === 0) continue;
          if (it.data.length !== ExtentItem.size + 1 + ExtentDataRef.size || it.data[ExtentItem.size] !== ItemType.EXTENT_DATA_REF) continue;
          bytenr = it.key.objectid;
          await editItem(fs, dev, fs.extentTree, it.key, (edv) => {
            edv.setUint32(ExtentItem.off.refs, 2, true);
            edv.setUint32(ExtentItem.size + 1 + ExtentDataRef.off.count, 2, true);
          });
          break;
        }
        expect(bytenr).toBeGreaterThan(0);
        r = await check(await openFs([dev], { readonly: true }));
      } finally {
        await dev.close();
      }
      expect(r.errors.join('\n')).toMatch(new RegExp(`data extent \\(${bytenr} 168 \\d+\\): backref \\(root 5, inode \\d+, offset 0\\) counts 2, found 1 file extent`));
      expect(r.errors).toHaveLength(1);
      const progs = await btrfsCheck(img);
      expect(progs.ok, progs.output).toBe(false);
    } finally {
      await cleanup();
    }
  });

  it('reports a node that points at itself (a loop) and never recurses forever', async () => {
    let node = 0;
    const { ours, progs } = await corrupt(async (fs, dev) => {
      const eb = await readRawBlock(fs, fs.fsTree.node.bytenr);
      expect(eb.level).toBeGreaterThan(0);
      expect(eb.nritems).toBeGreaterThan(1);
      node = eb.bytenr;
      eb.setBlockptr(1, eb.bytenr);
      eb.setPtrGeneration(1, eb.generation);
      await writeRawBlock(fs, dev, eb);
    });
    const text = ours.errors.join('\n');
    expect(text).toMatch(new RegExp(`tree block ${node} \\(fs tree, level \\d, from slot 1 of node ${node}\\) is reached twice`));
    expect(progs.ok, progs.output).toBe(false);
  });
});

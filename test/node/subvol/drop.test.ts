// Deleting snapshots (src/subvol/drop-tree.ts): dropTree frees exactly what no other tree
// references, in chunks with commits in between, checkpointing its position in the dead
// tree's ROOT_ITEM; it can be cancelled and resumed (resumeDeadRoots), also after a remount.
import { describe, expect, it } from 'vitest';
import { newFs, makeFile, judge, bytes, expectContent, removeName, inoOf } from '../../shared/snap-harness.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { snapshotRoot, findRootItem } from '../../../src/subvol/snapshot.js';
import { dropTree, resumeDeadRoots, rootOrphanKey, type DropProgress } from '../../../src/subvol/drop-tree.js';
import { linkSubvolume, deleteSubvolume } from '../../shared/subvol-links.js';
import { writeFile, truncateFile, cloneRange } from '../../../src/inode/file.js';
import { openFs } from '../../../src/fs/open.js';
import { check } from '../../../src/fs/check.js';
import { iterItems, lookup } from '../../../src/tree/ctree.js';
import { Key } from '../../../src/format/key.js';
import { ItemType, BlockGroupFlags, FS_TREE_OBJECTID, FIRST_FREE_OBJECTID } from '../../../src/format/constants.js';
import type { FsInfo, Root } from '../../../src/fs/fs-info.js';

/** Every item of the extent tree but block group items: key -> item bytes. */
async function subvolExtents(fs: FsInfo): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const it of iterItems(fs, fs.extentTree, Key.MIN, Key.MAX)) {
    if (it.key.type === ItemType.BLOCK_GROUP_ITEM) continue;
    out.set(it.key.toString(), Buffer.from(it.data).toString('hex'));
  }
  return out;
}

function dataUsed(fs: FsInfo): number {
  let n = 0;
  for (const bg of fs.blockGroups.all()) if (bg.flags & BlockGroupFlags.DATA) n += bg.used;
  return n;
}

/** Blocks of the trees of a subvolume-free filesystem's own machinery (everything but subvolume trees). */
async function fsTreeBlocks(fs: FsInfo, root: Root): Promise<Set<number>> {
  const out = new Set<number>();
  const walk = async (bytenr: number, gen: number, level: number): Promise<void> => {
    out.add(bytenr);
    const eb = await fs.readBlock(bytenr, { generation: gen, level, owner: root.objectid });
    if (level > 0) for (let i = 0; i < eb.nritems; i++) await walk(eb.blockptr(i), eb.ptrGeneration(i), level - 1);
  };
  await walk(root.node.bytenr, root.node.generation, root.node.level);
  return out;
}

describe('dropping snapshots', () => {
  it('reclaims exactly what only the snapshots referenced', async () => {
    const { dev, fs } = await newFs();
    startTransaction(fs);
    const src = new Map<string, Uint8Array>();
    for (let i = 0; i < 150; i++) {
      const d = bytes(i, 2000 + (i % 5) * 4096);
      src.set(`f${i}`, d);
      await makeFile(fs, fs.fsTree, `f${i}`, d);
    }
    await commitTransaction(fs);
    const baseUsed = fs.sb.bytesUsed;
    const baseData = dataUsed(fs);
    const baseFsBlocks = await fsTreeBlocks(fs, fs.fsTree);
    const baseExtents = await subvolExtents(fs);

    // Three snapshots (one of a snapshot), each then changed; the source is left alone.
    startTransaction(fs);
    const s1 = await snapshotRoot(fs, fs.fsTree, 256);
    const i1 = await linkSubvolume(fs, s1, 's1');
    await commitTransaction(fs);
    startTransaction(fs);
    for (let i = 0; i < 150; i += 3) await writeFile(fs, s1, (await inoOf(fs, s1, `f${i}`))!, 0, bytes(500 + i, 3000));
    for (let i = 1; i < 150; i += 10) await removeName(fs, s1, `f${i}`);
    const s2 = await snapshotRoot(fs, s1, 257);
    const i2 = await linkSubvolume(fs, s2, 's2');
    const s3 = await snapshotRoot(fs, fs.fsTree, 258);
    const i3 = await linkSubvolume(fs, s3, 's3');
    await commitTransaction(fs);
    startTransaction(fs);
    for (let i = 2; i < 150; i += 4) await truncateFile(fs, s2, (await inoOf(fs, s2, `f${i}`))!, 100);
    await makeFile(fs, s3, 'extra', bytes(99, 50000));
    await makeFile(fs, s3, 'cloned', new Uint8Array(0));
    await cloneRange(fs, fs.fsTree, (await inoOf(fs, fs.fsTree, 'f7'))!, 0, 0, s3, (await inoOf(fs, s3, 'cloned'))!, 0);
    await commitTransaction(fs);
    await judge(dev, fs, 'three snapshots');
    expect(fs.sb.bytesUsed).toBeGreaterThan(baseUsed);

    // Delete them one by one, dropping in small chunks with commits in between.
    for (const [s, name, idx] of [[s2, 's2', i2], [s1, 's1', i1], [s3, 's3', i3]] as const) {
      startTransaction(fs);
      await deleteSubvolume(fs, s, name, idx);
      await commitTransaction(fs);
      await judge(dev, fs, `${name} deleted, not dropped`);
      startTransaction(fs);
      let commits = 0;
      const result = await dropTree(fs, s, {
        budget: 3,
        endTransaction: async (f) => {
          await commitTransaction(f);
          commits++;
          // Every intermediate state is consistent.
          const v = await check(f);
          expect(v.errors, `${name} mid-drop after ${commits} commits`).toEqual([]);
          if (commits === 2) await judge(dev, f, `${name} mid-drop`);
          startTransaction(f);
        },
      });
      expect(result).toBe('done');
      expect(commits).toBeGreaterThan(2);
      await commitTransaction(fs);
      expect(await findRootItem(fs, s.objectid)).toBeUndefined();
      expect(await lookup(fs, fs.rootTree, rootOrphanKey(s.objectid))).toBeUndefined();
      await judge(dev, fs, `${name} dropped`);
      await expectContent(fs, fs.fsTree, src, `source after dropping ${name}`);
    }
    // Back to the start: the same data extents with the same refs, metadata extents all
    // with one ref and no FULL_BACKREF, and bytes used back to where it was but for the
    // shape of the trees the links changed (fs tree dir entries, root refs, uuid items).
    expect(dataUsed(fs)).toBe(baseData);
    const now = await subvolExtents(fs);
    for (const [k, v] of baseExtents) if (k.includes(` ${ItemType.EXTENT_ITEM} `)) expect(now.get(k), `data extent ${k}`).toBe(v);
    for (const [k, v] of now) {
      if (k.includes(` ${ItemType.EXTENT_ITEM} `)) expect(baseExtents.has(k), `data extent ${k} left over`).toBe(true);
      if (k.includes(` ${ItemType.METADATA_ITEM} `)) {
        expect(v.slice(0, 16), `refs of ${k}`).toBe('0100000000000000');
        expect(v.slice(32, 48), `flags of ${k}`).toBe('0200000000000000');
      }
      expect(k.includes(` ${ItemType.SHARED_BLOCK_REF} `) || k.includes(` ${ItemType.SHARED_DATA_REF} `), `shared backref ${k} left`).toBe(false);
    }
    console.log(`drop: bytes used ${baseUsed} -> ${fs.sb.bytesUsed}`);
    expect(Math.abs(fs.sb.bytesUsed - baseUsed)).toBeLessThanOrEqual(4 * fs.nodesize);
    void baseFsBlocks;
  }, 300_000);

  it('cancels, and resumes from the root item after a remount', async () => {
    const { dev, fs } = await newFs();
    startTransaction(fs);
    const src = new Map<string, Uint8Array>();
    for (let i = 0; i < 300; i++) {
      const d = bytes(i, 1500);
      src.set(`f${i}`, d);
      await makeFile(fs, fs.fsTree, `f${i}`, d);
    }
    const s = await snapshotRoot(fs, fs.fsTree, FIRST_FREE_OBJECTID);
    const idx = await linkSubvolume(fs, s, 'snap');
    await commitTransaction(fs);
    startTransaction(fs);
    // The snapshot owns most of its blocks, so that the drop frees many.
    for (let i = 0; i < 300; i += 2) await writeFile(fs, s, (await inoOf(fs, s, `f${i}`))!, 0, bytes(1000 + i, 1500));
    await deleteSubvolume(fs, s, 'snap', idx);
    await commitTransaction(fs);

    startTransaction(fs);
    const ac = new AbortController();
    const seen: DropProgress[] = [];
    const r = await dropTree(fs, s, {
      budget: 4,
      signal: ac.signal,
      onProgress: (p) => {
        seen.push(p);
        if (p.transactions === 3) ac.abort();
      },
    });
    expect(r).toBe('cancelled');
    await commitTransaction(fs);
    const ri = (await findRootItem(fs, s.objectid))!.item;
    expect(ri.refs).toBe(0);
    expect(ri.dropLevel).toBeGreaterThan(0);
    expect(ri.dropProgress.objectid).toBeGreaterThan(0);
    expect(seen.at(-1)!.dropProgress.equals(ri.dropProgress)).toBe(true);
    await judge(dev, fs, 'cancelled drop');

    // Unmount and mount: the cleaner picks it up.
    const fs2 = await openFs([dev]);
    startTransaction(fs2);
    const dropped = await resumeDeadRoots(fs2, { budget: 8 });
    expect(dropped).toEqual([s.objectid]);
    await commitTransaction(fs2);
    expect(await findRootItem(fs2, s.objectid)).toBeUndefined();
    await judge(dev, fs2, 'resumed drop');
    await expectContent(fs2, fs2.fsTree, src, 'source');
    // Nothing left to do.
    startTransaction(fs2);
    expect(await resumeDeadRoots(fs2)).toEqual([]);
    await commitTransaction(fs2);
  }, 300_000);

  it('drops a snapshot made and deleted in the same transaction', async () => {
    const { dev, fs } = await newFs();
    startTransaction(fs);
    const src = new Map<string, Uint8Array>();
    for (let i = 0; i < 100; i++) {
      const d = bytes(i, 3000);
      src.set(`f${i}`, d);
      await makeFile(fs, fs.fsTree, `f${i}`, d);
    }
    await commitTransaction(fs);
    const used = fs.sb.bytesUsed;
    startTransaction(fs);
    const s = await snapshotRoot(fs, fs.fsTree, 300);
    const idx = await linkSubvolume(fs, s, 'tmp');
    for (let i = 0; i < 100; i += 7) await writeFile(fs, s, (await inoOf(fs, s, `f${i}`))!, 0, bytes(7 + i, 5000));
    await deleteSubvolume(fs, s, 'tmp', idx);
    expect(await dropTree(fs, s)).toBe('done');
    await commitTransaction(fs);
    await judge(dev, fs, 'made and dropped in one transaction');
    await expectContent(fs, fs.fsTree, src, 'source');
    expect(dataUsed(fs)).toBeLessThanOrEqual(used);
    expect(fs.roots.has(FS_TREE_OBJECTID)).toBe(true);
  }, 120_000);
});

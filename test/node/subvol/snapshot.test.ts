// Snapshots (src/subvol/snapshot.ts and the shared-ref engine under it): a snapshot keeps
// exactly the content its source had, both trees change independently afterwards (writes,
// deletes, truncates, clones across them), refs stay exact (our check and btrfs check
// --check-data-csum after every commit), creation costs the same for 10 files and 10 000.
import { describe, expect, it } from 'vitest';
import { newFs, makeFile, judge, bytes, expectContent, removeName, inoOf, enc, DIR } from '../../shared/snap-harness.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { snapshotRoot, readFsRoot, findRootItem } from '../../../src/subvol/snapshot.js';
import { linkSubvolume } from '../../shared/subvol-links.js';
import { writeFile, truncateFile, cloneRange, readFile } from '../../../src/inode/file.js';
import { createNode } from '../../../src/inode/namei.js';
import { openFs } from '../../../src/fs/open.js';
import { check } from '../../../src/fs/check.js';
import { iterItems } from '../../../src/tree/ctree.js';
import { Key } from '../../../src/format/key.js';
import { ItemType, InodeFlags, BLOCK_FLAG_FULL_BACKREF, ROOT_SUBVOL_RDONLY } from '../../../src/format/constants.js';
import { ExtentItem } from '../../../src/format/structs.js';
import { viewOf } from '../../../src/format/struct.js';
import type { FsInfo, Root } from '../../../src/fs/fs-info.js';

/** A model file's new content after writing `d` at `off`. */
function written(old: Uint8Array, off: number, d: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.max(old.length, off + d.length));
  out.set(old);
  out.set(d, off);
  return out;
}

async function extentItems(fs: FsInfo): Promise<{ key: Key; refs: number; flags: number; size: number }[]> {
  const out: { key: Key; refs: number; flags: number; size: number }[] = [];
  for await (const it of iterItems(fs, fs.extentTree, Key.MIN, Key.MAX)) {
    if (it.key.type !== ItemType.EXTENT_ITEM && it.key.type !== ItemType.METADATA_ITEM) continue;
    const ei = ExtentItem.decode(viewOf(it.data), 0);
    out.push({ key: it.key, refs: ei.refs, flags: ei.flags, size: it.data.length });
  }
  return out;
}

describe('snapshots', () => {
  it('source and snapshot change independently and keep their contents', async () => {
    const { dev, fs } = await newFs();
    startTransaction(fs);
    const src = new Map<string, Uint8Array>();
    for (let i = 0; i < 120; i++) {
      const d = bytes(i, (i % 7) * 3000 + (i % 3 === 0 ? 100 : 9000));
      src.set(`f${i}`, d);
      await makeFile(fs, fs.fsTree, `f${i}`, d);
    }
    await commitTransaction(fs);
    await judge(dev, fs, 'base');

    startTransaction(fs);
    const snap = await snapshotRoot(fs, fs.fsTree, 256);
    await linkSubvolume(fs, snap, 'snap');
    await commitTransaction(fs);
    const snapModel = new Map(src);
    await judge(dev, fs, 'after snapshot');
    await expectContent(fs, snap, snapModel, 'snapshot');

    // The source changes: overwrites, appends, truncates, deletes, new files.
    startTransaction(fs);
    for (let i = 0; i < 120; i += 4) {
      const name = `f${i}`;
      const d = bytes(1000 + i, 5000);
      await writeFile(fs, fs.fsTree, (await inoOf(fs, fs.fsTree, name))!, 2048, d);
      src.set(name, written(src.get(name)!, 2048, d));
    }
    for (let i = 1; i < 120; i += 9) {
      await truncateFile(fs, fs.fsTree, (await inoOf(fs, fs.fsTree, `f${i}`))!, 1000);
      src.set(`f${i}`, src.get(`f${i}`)!.slice(0, 1000));
    }
    for (let i = 2; i < 120; i += 11) {
      await removeName(fs, fs.fsTree, `f${i}`);
      src.delete(`f${i}`);
    }
    for (let i = 0; i < 20; i++) {
      const d = bytes(5000 + i, 7000);
      src.set(`new${i}`, d);
      await makeFile(fs, fs.fsTree, `new${i}`, d);
    }
    await commitTransaction(fs);
    await judge(dev, fs, 'source changed');
    // The source unshared its blocks: the old ones are FULL_BACKREF, held by the snapshot
    // (update_ref_for_cow's first case).
    expect((await extentItems(fs)).some((x) => x.flags & BLOCK_FLAG_FULL_BACKREF)).toBe(true);
    await expectContent(fs, fs.fsTree, src, 'source');
    await expectContent(fs, snap, snapModel, 'snapshot');

    // The snapshot changes too, and clones cross between them both ways.
    startTransaction(fs);
    for (let i = 3; i < 120; i += 5) {
      const name = `f${i}`;
      const ino = (await inoOf(fs, snap, name))!;
      const d = bytes(9000 + i, 3000);
      await writeFile(fs, snap, ino, 0, d);
      snapModel.set(name, written(snapModel.get(name)!, 0, d));
    }
    for (let i = 5; i < 120; i += 13) {
      await removeName(fs, snap, `f${i}`);
      snapModel.delete(`f${i}`);
    }
    // Clone from the snapshot into a new file of the source, and from the source into the snapshot.
    const a = await makeFile(fs, fs.fsTree, 'clone-from-snap', new Uint8Array(0));
    const sIno = (await inoOf(fs, snap, 'f6'))!;
    const sLen = snapModel.get('f6')!.length;
    await cloneRange(fs, snap, sIno, 0, 0, fs.fsTree, a, 0);
    src.set('clone-from-snap', snapModel.get('f6')!.slice(0, sLen));
    const b = await makeFile(fs, snap, 'clone-from-src', new Uint8Array(0));
    await cloneRange(fs, fs.fsTree, (await inoOf(fs, fs.fsTree, 'new3'))!, 0, 0, snap, b, 0);
    snapModel.set('clone-from-src', src.get('new3')!);
    await commitTransaction(fs);
    await judge(dev, fs, 'both changed');
    await expectContent(fs, fs.fsTree, src, 'source');
    await expectContent(fs, snap, snapModel, 'snapshot');


    // After a remount the snapshot is read from its root item.
    const fs2 = await openFs([dev]);
    const snap2 = await readFsRoot(fs2, 256);
    await expectContent(fs2, snap2, snapModel, 'snapshot after remount');
    await expectContent(fs2, fs2.fsTree, src, 'source after remount');
    const ri = (await findRootItem(fs2, 256))!.item;
    expect(ri.refs).toBe(1);
    expect(ri.parentUuid).toEqual(fs2.fsTree.item!.uuid);
    expect(ri.otransid).toBe(ri.lastSnapshot);
    expect(fs2.fsTree.item!.lastSnapshot).toBe(ri.otransid);
  }, 120_000);

  it('a snapshot sees the running transaction, and later changes in it stay out', async () => {
    const { dev, fs } = await newFs();
    startTransaction(fs);
    const src = new Map<string, Uint8Array>();
    for (let i = 0; i < 80; i++) {
      const d = bytes(i, 6000);
      src.set(`f${i}`, d);
      await makeFile(fs, fs.fsTree, `f${i}`, d);
    }
    // Uncommitted: taken by the snapshot.
    const s1 = await snapshotRoot(fs, fs.fsTree, 256);
    await linkSubvolume(fs, s1, 's1');
    const m1 = new Map(src);
    // Changes after the snapshot, same transaction: must COW the frozen blocks.
    for (let i = 0; i < 80; i += 3) {
      const d = bytes(100 + i, 2500);
      await writeFile(fs, fs.fsTree, (await inoOf(fs, fs.fsTree, `f${i}`))!, 1000, d);
      src.set(`f${i}`, written(src.get(`f${i}`)!, 1000, d));
    }
    for (let i = 1; i < 80; i += 7) {
      await removeName(fs, fs.fsTree, `f${i}`);
      src.delete(`f${i}`);
    }
    // The snapshot changes too, and is snapshotted again, all before the commit.
    for (let i = 2; i < 80; i += 5) {
      const d = bytes(200 + i, 3000);
      await writeFile(fs, s1, (await inoOf(fs, s1, `f${i}`))!, 0, d);
      m1.set(`f${i}`, written(m1.get(`f${i}`)!, 0, d));
    }
    const s2 = await snapshotRoot(fs, s1, 257, { readonly: true });
    await linkSubvolume(fs, s2, 's2');
    const m2 = new Map(m1);
    for (let i = 4; i < 80; i += 6) {
      await removeName(fs, s1, `f${i}`);
      m1.delete(`f${i}`);
    }
    await expectContent(fs, fs.fsTree, src, 'source before commit');
    await expectContent(fs, s1, m1, 's1 before commit');
    await expectContent(fs, s2, m2, 's2 before commit');
    await commitTransaction(fs);
    await judge(dev, fs, 'snapshots in one transaction');
    await expectContent(fs, fs.fsTree, src, 'source');
    await expectContent(fs, s1, m1, 's1');
    await expectContent(fs, s2, m2, 's2');
    expect((await findRootItem(fs, 257))!.item.flags).toBe(ROOT_SUBVOL_RDONLY);
  }, 120_000);

  it('NODATACOW files are written in place only where no snapshot shares the extent', async () => {
    const { dev, fs } = await newFs();
    startTransaction(fs);
    // Enough files that the file's leaf lies below the copied root.
    for (let i = 0; i < 200; i++) await createNode(fs, fs.fsTree, DIR, enc.encode(`pad${i}`), { mode: 0o100644, uid: 0, gid: 0 });
    const ino = await createNode(fs, fs.fsTree, DIR, enc.encode('nocow'), { mode: 0o100644, uid: 0, gid: 0, flags: InodeFlags.NODATACOW | InodeFlags.NODATASUM });
    const a = bytes(1, 16384);
    await writeFile(fs, fs.fsTree, ino, 0, a);
    const snap = await snapshotRoot(fs, fs.fsTree, 256);
    await linkSubvolume(fs, snap, 's');
    await writeFile(fs, fs.fsTree, ino, 0, bytes(2, 4096));
    await commitTransaction(fs);
    expect(Buffer.compare(Buffer.from(await readFile(fs, snap, ino, 0, 16384)), Buffer.from(a))).toBe(0);
    startTransaction(fs);
    await writeFile(fs, fs.fsTree, ino, 8192, bytes(3, 4096));
    await writeFile(fs, snap, ino, 12288, bytes(4, 4096));
    await commitTransaction(fs);
    expect(Buffer.compare(Buffer.from(await readFile(fs, snap, ino, 0, 12288)), Buffer.from(a.subarray(0, 12288)))).toBe(0);
    const want = written(written(a, 0, bytes(2, 4096)), 8192, bytes(3, 4096));
    expect(Buffer.compare(Buffer.from(await readFile(fs, fs.fsTree, ino, 0, 16384)), Buffer.from(want))).toBe(0);
    await judge(dev, fs, 'nocow');
  }, 60_000);

  it('costs the same for 10 files and 10 000: one root block copied, nothing walked', async () => {
    const costs: { allocated: number; dirty: number; reads: number; level: number }[] = [];
    for (const n of [10, 10_000]) {
      const { dev, fs } = await newFs({ sizeBytes: 512 * 1024 * 1024 });
      startTransaction(fs);
      for (let i = 0; i < n; i++) await createNode(fs, fs.fsTree, DIR, enc.encode(`file-${i}`), { mode: 0o100644, uid: 0, gid: 0 });
      await commitTransaction(fs);
      // A cold cache: reads count what the snapshot visits.
      fs.cache.clear();
      startTransaction(fs);
      const a0 = fs.stats.treeBlocksAllocated;
      const r0 = fs.stats.treeBlockReads;
      const d0 = fs.dirty.size;
      const snap = await snapshotRoot(fs, fs.fsTree, 256);
      costs.push({ allocated: fs.stats.treeBlocksAllocated - a0, dirty: fs.dirty.size - d0, reads: fs.stats.treeBlockReads - r0, level: fs.fsTree.node.level });
      await linkSubvolume(fs, snap, 'snap');
      await commitTransaction(fs);
      expect((await check(fs)).errors, `${n} files`).toEqual([]);
      if (n === 10_000) await judge(dev, fs, '10 000 files snapshot');
    }
    expect(costs[1].level).toBeGreaterThan(costs[0].level);
    // The fs tree's root COWed, its copy, the root tree's path for the new ROOT_ITEM.
    expect(costs[1].allocated).toBe(costs[0].allocated);
    expect(costs[1].dirty).toBe(costs[0].dirty);
    expect(costs[1].reads).toBe(costs[0].reads);
  }, 300_000);

  it('many snapshots of one tree: backrefs spill from the extent item into keyed items', async () => {
    const { dev, fs } = await newFs();
    startTransaction(fs);
    const src = new Map<string, Uint8Array>();
    for (let i = 0; i < 150; i++) {
      const d = bytes(i, 5000);
      src.set(`f${i}`, d);
      await makeFile(fs, fs.fsTree, `f${i}`, d);
    }
    await commitTransaction(fs);
    const snaps: Root[] = [];
    // 4 KiB nodes: 22 inline tree block refs fit a METADATA_ITEM; 30 snapshots need keyed ones.
    startTransaction(fs);
    for (let k = 0; k < 30; k++) snaps.push(await snapshotRoot(fs, fs.fsTree, 256 + k));
    // Linked after all are taken, so that no snapshot holds another's directory entry.
    for (const [k, s] of snaps.entries()) await linkSubvolume(fs, s, `snap${k}`);
    await commitTransaction(fs);
    let keyed = 0;
    for await (const it of iterItems(fs, fs.extentTree, Key.MIN, Key.MAX)) if (it.key.type === ItemType.TREE_BLOCK_REF) keyed++;
    expect(keyed).toBeGreaterThan(0);
    await judge(dev, fs, '30 snapshots');
    // Each snapshot unshares a different file.
    startTransaction(fs);
    const models = snaps.map(() => new Map(src));
    for (const [k, s] of snaps.entries()) {
      const name = `f${k * 5}`;
      const d = bytes(777 + k, 1234);
      await writeFile(fs, s, (await inoOf(fs, s, name))!, 100, d);
      models[k].set(name, written(src.get(name)!, 100, d));
    }
    await commitTransaction(fs);
    await judge(dev, fs, '30 snapshots changed');
    for (const [k, s] of snaps.entries()) await expectContent(fs, s, models[k], `snapshot ${k}`);
    await expectContent(fs, fs.fsTree, src, 'source');
  }, 300_000);
});

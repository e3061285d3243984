// Reflink and data refs: one extent shared by many file extent items (inline refs in btrfs's
// order, then keyed EXTENT_DATA_REF items once the extent item is full), both sides written
// after a clone, refs dropped from inline and keyed places, freeing one side.
import { describe, expect, it } from 'vitest';
import { readFile, writeFile, truncateFile, cloneRange, freeInodeData } from '../../../src/inode/file.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { iterItems } from '../../../src/tree/ctree.js';
import { Key } from '../../../src/format/key.js';
import { viewOf } from '../../../src/format/struct.js';
import { ExtentItem, ExtentDataRef } from '../../../src/format/structs.js';
import { ItemType, EXTENT_FLAG_DATA } from '../../../src/format/constants.js';
import { hashExtentDataRef } from '../../../src/fs/extent-tree.js';
import type { FsInfo } from '../../../src/fs/fs-info.js';
import { FileModel, freshFs, judgeImage, patternBytes } from '../../shared/file-model.js';

interface DataExtent {
  bytenr: number;
  refs: number;
  inline: { root: number; objectid: number; offset: number; count: number }[];
  keyed: number;
}

/** Every data extent item, its inline refs checked for the kernel tree-checker's order. */
async function dataExtents(fs: FsInfo): Promise<DataExtent[]> {
  const out: DataExtent[] = [];
  for await (const it of iterItems(fs, fs.extentTree, Key.MIN, Key.MAX)) {
    if (it.key.type === ItemType.EXTENT_ITEM) {
      const dv = viewOf(it.data);
      const ei = ExtentItem.decode(dv, 0);
      if (!(ei.flags & EXTENT_FLAG_DATA)) continue;
      const e: DataExtent = { bytenr: it.key.objectid, refs: ei.refs, inline: [], keyed: 0 };
      let lastType = 0;
      let lastHash: [number, number] = [0xffffffff, 0xffffffff];
      for (let p = ExtentItem.size; p < it.data.length; p += 1 + ExtentDataRef.size) {
        const type = it.data[p];
        expect(type).toBe(ItemType.EXTENT_DATA_REF);
        const r = ExtentDataRef.decode(dv, p + 1);
        const h = hashExtentDataRef(r.root, r.objectid, r.offset);
        // check_extent_item: types ascend; within a type the hashes do not ascend.
        expect(type).toBeGreaterThanOrEqual(lastType);
        expect(h[0] < lastHash[0] || (h[0] === lastHash[0] && h[1] <= lastHash[1]), `inline refs of ${e.bytenr} out of order`).toBe(true);
        lastType = type;
        lastHash = h;
        e.inline.push(r);
      }
      out.push(e);
    } else if (it.key.type === ItemType.EXTENT_DATA_REF) {
      const e = out[out.length - 1];
      expect(e.bytenr).toBe(it.key.objectid);
      const r = ExtentDataRef.decode(viewOf(it.data), 0);
      expect(hashExtentDataRef(r.root, r.objectid, r.offset)).toEqual([it.key.offHi, it.key.offLo]);
      e.keyed += r.count;
    }
  }
  return out;
}

describe('reflink and data refs', () => {
  for (const nodesize of [4096, 16384]) {
    it(`one extent shared by many items, inline then keyed refs (nodesize ${nodesize})`, async () => {
      const { dev, fs, files } = await freshFs(6, { nodesize });
      const models = files.map(() => new FileModel());
      const root = fs.fsTree;
      const ss = fs.sectorsize;
      startTransaction(fs);
      const base = patternBytes(7, 64 * 1024);
      await writeFile(fs, root, files[0].ino, 0, base);
      models[0].write(0, base);
      await commitTransaction(fs);
      // 40 clones of one sector to distinct (inode, offset) pairs: 40 distinct backrefs.
      startTransaction(fs);
      let n = 0;
      for (let f = 1; f < 6; f++) {
        for (let k = 0; k < 8; k++) {
          const dst = (k * 3 + f) * ss;
          await cloneRange(fs, root, files[0].ino, 4 * ss, ss, root, files[f].ino, dst);
          models[f].clone(models[0], 4 * ss, ss, dst);
          n++;
        }
      }
      await commitTransaction(fs);
      let exts = await dataExtents(fs);
      expect(exts.length).toBe(1);
      expect(exts[0].refs).toBe(1 + n);
      expect(exts[0].inline.length).toBeGreaterThan(0);
      expect(exts[0].keyed, 'refs beyond the inline room are keyed').toBeGreaterThan(0);
      expect(exts[0].inline.reduce((a, r) => a + r.count, 0) + exts[0].keyed).toBe(exts[0].refs);
      await judgeImage(dev, fs, files, models, `nodesize ${nodesize}, shared`);

      // Write both sides: only the written sectors are COWed; the rest stays shared.
      startTransaction(fs);
      const w = patternBytes(8, 100);
      await writeFile(fs, root, files[0].ino, 4 * ss + 10, w);
      models[0].write(4 * ss + 10, w);
      await writeFile(fs, root, files[3].ino, 3 * ss + 5, w);
      models[3].write(3 * ss + 5, w);
      // Drop refs from both places: overwrite every clone in files 1 and 2 (whole sectors).
      for (const f of [1, 2]) {
        for (let k = 0; k < 8; k++) {
          const dst = (k * 3 + f) * ss;
          const data = patternBytes(100 + k + f, ss);
          await writeFile(fs, root, files[f].ino, dst, data);
          models[f].write(dst, data);
        }
      }
      await commitTransaction(fs);
      for (const [i, f] of files.entries()) expect(await readFile(fs, root, f.ino, 0, 1 << 24)).toEqual(models[i].content());
      exts = await dataExtents(fs);
      const shared = exts.find((e) => e.refs > 10)!;
      // file0's pieces around its COWed sector hold 2 refs; file3 COWed one clone; files 1, 2 all 16.
      expect(shared.refs).toBe(2 + n - 1 - 16);
      await judgeImage(dev, fs, files, models, `nodesize ${nodesize}, after writes`);

      // Free file 0's data (its inode stays, emptied): the clones keep their bytes.
      startTransaction(fs);
      await truncateFile(fs, root, files[0].ino, 0);
      models[0].truncate(0);
      await freeInodeData(fs, root, files[4].ino);
      models[4].truncate(0);
      await commitTransaction(fs);
      for (const [i, f] of files.entries()) expect(await readFile(fs, root, f.ino, 0, 1 << 24)).toEqual(models[i].content());
      await judgeImage(dev, fs, files, models, `nodesize ${nodesize}, after frees`);
      // Every data extent left is referenced only by files 3 and 5 (and file 1/2's own writes).
      for (const e of await dataExtents(fs)) {
        for (const r of e.inline) expect([files[1].ino, files[2].ino, files[3].ino, files[5].ino]).toContain(r.objectid);
      }
    });
  }

  it('clone checks: alignment, EOF tail, overlap, length 0, NODATASUM mismatch', async () => {
    const { fs, files } = await freshFs(2);
    const root = fs.fsTree;
    startTransaction(fs);
    await writeFile(fs, root, files[0].ino, 0, patternBytes(1, 10000));
    await writeFile(fs, root, files[1].ino, 0, patternBytes(2, 30000));
    const clone = (so: number, len: number, di: number, doff: number) => cloneRange(fs, root, files[0].ino, so, len, root, files[di].ino, doff);
    await expect(clone(100, 4096, 1, 0)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(clone(0, 4096, 1, 100)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(clone(0, 5000, 1, 0)).rejects.toMatchObject({ code: 'EINVAL' }); // unaligned, not at EOF
    await expect(clone(8192, 0, 1, 0)).rejects.toMatchObject({ code: 'EINVAL' }); // EOF tail into the middle of dst
    await expect(clone(0, 8192, 0, 4096)).rejects.toMatchObject({ code: 'EINVAL' }); // overlap in one file
    await expect(clone(12288, 4096, 1, 0)).rejects.toMatchObject({ code: 'EINVAL' }); // past src EOF
    expect(await clone(8192, 0, 1, 40960)).toBe(10000 - 8192); // to EOF, past dst EOF
    expect((await readFile(fs, root, files[1].ino, 40960, 1 << 20))).toEqual(patternBytes(1, 10000).subarray(8192));
    expect(await clone(0, 1 << 20, 0, 16384)).toBe(10000); // length cut at src EOF
    expect(await readFile(fs, root, files[0].ino, 16384, 1 << 20)).toEqual(patternBytes(1, 10000));
    await commitTransaction(fs);
  });
});

// The extent map (src/inode/extent-map.ts) under random file operations, with every hit checked
// against a fresh search of the tree (setExtentMapVerify): writes small and large, overwrites,
// truncates down and up (inline extents too), fallocate with and without KEEP_SIZE, clones
// within and across files, defrag rewrites, NODATACOW overwrites in place, commits between
// rounds, and an inode freed and its number used again. Reads are compared with the model, and
// the map must actually answer (hits).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  readFile, writeFile, truncateFile, fallocateFile, cloneRange, defragRewrite, freeInodeData,
} from '../../../src/inode/file.js';
import { setExtentMapVerify, extentMapStats } from '../../../src/inode/extent-map.js';
import { readInode, writeInode } from '../../../src/inode/inode.js';
import { InodeFlags } from '../../../src/format/constants.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { FileModel, freshFs, judgeImage, patternBytes } from '../../shared/file-model.js';
import { mulberry32 } from '../../shared/rng.js';
import { MemoryDevice, mkfs, mount } from '../../../src/index.js';


beforeAll(() => setExtentMapVerify(true));
afterAll(() => setExtentMapVerify(false));

describe('extent map', () => {
  for (const seed of [1, 2, 3]) {
    it(`stays exact under random operations (seed ${seed})`, async () => {
      const { dev, fs, files } = await freshFs(3);
      const root = fs.fsTree;
      const models = files.map(() => new FileModel());
      const r = mulberry32(seed);
      const pick = (n: number) => Math.floor(r() * n);
      const hits0 = extentMapStats.hits;
      if (seed === 3) {
        // NODATACOW on file 2: overwrites go in place where the extent allows.
        startTransaction(fs);
        const item = await readInode(fs, root, files[2].ino);
        item.flags |= InodeFlags.NODATACOW | InodeFlags.NODATASUM;
        await writeInode(fs, root, files[2].ino, item);
        await commitTransaction(fs);
      }
      for (let round = 0; round < 6; round++) {
        startTransaction(fs);
        for (let op = 0; op < 40; op++) {
          const i = pick(3);
          const f = files[i];
          const m = models[i];
          const kind = r();
          if (kind < 0.45) {
            const len = r() < 0.2 ? 1 + pick(300_000) : 1 + pick(9000);
            const off = r() < 0.5 ? pick(600_000) & ~4095 : pick(600_000);
            const data = patternBytes(seed * 1000 + round * 100 + op, len);
            await writeFile(fs, root, f.ino, off, data);
            m.write(off, data);
          } else if (kind < 0.55) {
            const size = r() < 0.3 ? pick(3000) : pick(700_000);
            await truncateFile(fs, root, f.ino, size);
            m.truncate(size);
          } else if (kind < 0.62) {
            const off = pick(700_000);
            const len = 1 + pick(200_000);
            const keepSize = r() < 0.5;
            await fallocateFile(fs, root, f.ino, off, len, { keepSize });
            // The engine rounds the range out to sectors; the size follows the request.
            m.fallocate(off, len, keepSize);
          } else if (kind < 0.72) {
            const j = pick(3);
            const src = models[j];
            if (src.size < 8192 || i === 2 || j === 2) continue;
            const so = pick(src.size - 4096) & ~4095;
            const len = Math.min(src.size - so, (1 + pick(16)) * 4096) & ~4095;
            const dOff = pick(500_000) & ~4095;
            if (len === 0 || (i === j && dOff < so + len && so < dOff + len)) continue;
            await cloneRange(fs, root, files[j].ino, so, len, root, f.ino, dOff);
            m.clone(src, so, len, dOff);
          } else if (kind < 0.77) {
            if (m.size < 8192) continue;
            const start = pick(m.size - 4096) & ~4095;
            const len = Math.min(64 * 1024, (m.size - start) & ~4095) || 4096;
            await defragRewrite(fs, root, f.ino, start, len);
          } else {
            const off = pick(Math.max(1, m.size + 4096));
            const len = pick(70_000);
            const got = await readFile(fs, root, f.ino, off, len);
            expect(Buffer.compare(Buffer.from(got), Buffer.from(m.read(off, len))), `round ${round} op ${op}: read ${off}+${len}`).toBe(0);
          }
        }
        for (const [i, f] of files.entries()) expect(Buffer.compare(Buffer.from(await readFile(fs, root, f.ino, 0, 1 << 30)), Buffer.from(models[i].content()))).toBe(0);
        await commitTransaction(fs);
      }
      // An inode's data freed, then written again (as an inode number used again would be).
      startTransaction(fs);
      await freeInodeData(fs, root, files[0].ino);
      models[0].truncate(0);
      await writeFile(fs, root, files[0].ino, 4096, patternBytes(99, 5000));
      models[0].write(4096, patternBytes(99, 5000));
      await commitTransaction(fs);
      for (const [i, f] of files.entries()) expect(Buffer.compare(Buffer.from(await readFile(fs, root, f.ino, 0, 1 << 30)), Buffer.from(models[i].content()))).toBe(0);
      expect(extentMapStats.hits - hits0, 'the map answered lookups').toBeGreaterThan(100);
      await judgeImage(dev, fs, files, models, `extent map seed ${seed}`);
    });
  }

  it('knows a new file\'s first item from its write: the first read searches nothing, and the hit is what the tree holds', async () => {
    const dev = new MemoryDevice(256 * 1024 * 1024);
    await mkfs([dev]);
    const mounted = await mount([dev]);
    const p = mounted.promises;
    const cases = [[1, 0], [2048, 0], [2049, 0], [4096, 0], [10_000, 0], [300_000, 0], [5000, 8192], [4096, 1 << 20]] as const;
    for (const [i, [len, off]] of cases.entries()) {
      const data = patternBytes(i + 1, len);
      const fh = await p.open(`/n${i}`, 'w');
      await fh.write(data, 0, len, off);
      await fh.close();
    }
    // Before the commit (the items still wait in the deferred queue), then after it.
    for (const when of ['before the commit', 'after it']) {
      const hits0 = extentMapStats.hits;
      for (const [i, [len, off]] of cases.entries()) {
        const back = await p.readFile(`/n${i}`);
        const want = new Uint8Array(off + len);
        want.set(patternBytes(i + 1, len), off);
        expect(Buffer.from(back).equals(Buffer.from(want)), `file ${i} ${when}`).toBe(true);
      }
      // Every regular (not inline) file's read was answered by the map, and verified.
      expect(extentMapStats.hits - hits0, when).toBeGreaterThanOrEqual(cases.length - 2);
      await mounted.sync();
    }
    await mounted.unmount();
  });
});

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
import { cachedFileExtents, invalidateFileExtents, rememberFileExtents, setExtentMapVerify, setExtentMapChunkEntries, extentMapStats } from '../../../src/inode/extent-map.js';
import type { FileExtent } from '../../../src/inode/file-item.js';
import type { Root } from '../../../src/fs/fs-info.js';
import { readInode, writeInode } from '../../../src/inode/inode.js';
import { InodeFlags } from '../../../src/format/constants.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { FileModel, freshFs, judgeImage, patternBytes } from '../../shared/file-model.js';
import { mulberry32 } from '../../shared/rng.js';
import { MemoryDevice, mkfs, mount } from '../../../src/index.js';


beforeAll(() => setExtentMapVerify(true));
afterAll(() => setExtentMapVerify(false));

describe('extent map', () => {
  // Seeds 4 and 5 keep the map in chunks of two entries, so that every change crosses chunks.
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`stays exact under random operations (seed ${seed}${seed > 3 ? ', chunks of 2 entries' : ''})`, async () => {
      const oldChunk = setExtentMapChunkEntries(seed > 3 ? 2 : 128);
      try {
        await randomOps(seed);
      } finally {
        setExtentMapChunkEntries(oldChunk);
      }
    });
  }

  async function randomOps(seed: number): Promise<void> {
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

describe('extent map: its chunks against a plain model', () => {
  // The map alone, with items that stand for a tree's: random remembers and drops, and every
  // lookup compared with a sorted array that is changed entry by entry. Small chunks make every
  // change cross chunk boundaries, split chunks and empty them.
  for (const chunk of [2, 3, 5, 128]) {
    it(`chunks of ${chunk} entries`, () => {
      const old = setExtentMapChunkEntries(chunk);
      try {
        const root = {} as Root;
        const r = mulberry32(chunk);
        const pick = (n: number) => Math.floor(r() * n);
        type E = { start: number; end: number; fe: FileExtent | null };
        let model: E[] = [];
        const drop = (s: number, e: number) => { model = model.filter((x) => x.end <= s || x.start >= e); };
        const put = (x: E) => { drop(x.start, x.end); model.push(x); model.sort((a, b) => a.start - b.start); };
        const lookup = (s: number, e: number): FileExtent[] | undefined => {
          const out: FileExtent[] = [];
          let cur = s;
          for (const x of model) {
            if (x.end <= cur) continue;
            if (cur >= e) break;
            if (x.start > cur) return undefined;
            if (x.fe) out.push(x.fe);
            cur = x.end;
          }
          return cur >= e ? out : undefined;
        };
        const SPAN = 4000;
        for (let op = 0; op < 3000; op++) {
          const s = pick(SPAN);
          const e = s + 1 + pick(r() < 0.8 ? 40 : 400);
          if (r() < 0.6) {
            // Items overlapping [s, e), in order, the first and last possibly reaching past it.
            const items: FileExtent[] = [];
            let at = s - pick(20);
            while (at < e) {
              if (r() < 0.5) at += 1 + pick(8);
              const len = 1 + pick(30);
              if (at < e && at + len > s) items.push({ fileOffset: at, numBytes: len } as FileExtent);
              at += len;
            }
            rememberFileExtents(root, 7, 1, s, e, items);
            let cur = s;
            for (const fe of items) {
              if (fe.fileOffset > cur) put({ start: cur, end: Math.min(fe.fileOffset, e), fe: null });
              put({ start: fe.fileOffset, end: fe.fileOffset + fe.numBytes, fe });
              cur = Math.max(cur, fe.fileOffset + fe.numBytes);
            }
            if (cur < e) put({ start: cur, end: e, fe: null });
          } else {
            invalidateFileExtents(root, 7, s, e);
            drop(s, e);
          }
          for (let q = 0; q < 4; q++) {
            const qs = pick(SPAN);
            const qe = qs + 1 + pick(q === 0 ? 200 : 20);
            const got = cachedFileExtents(root, 7, 1, qs, qe);
            const want = lookup(qs, qe);
            if (got === undefined || want === undefined) expect(got, `op ${op}: [${qs}, ${qe})`).toBe(want);
            else expect(got.length === want.length && got.every((fe, k) => fe === want[k]), `op ${op}: [${qs}, ${qe})`).toBe(true);
          }
        }
        expect(model.length).toBeGreaterThan(20);
      } finally {
        setExtentMapChunkEntries(old);
      }
    });
  }
});

// DataWriteback's bookkeeping on its own (a recording fake for the volumes): the address index
// answers find / overlaps / readInto for extents added in any order, small extents' bytes sit
// in the arena and go out in runs that are views of it (no gathering copy) up to the chunk
// ends, extents that are not side by side in memory are gathered by copying, and the bytes
// written are exactly the bytes added.
import { describe, expect, it } from 'vitest';
import { DataWriteback } from '../../../src/fs/writeback.js';
import type { FsInfo } from '../../../src/fs/fs-info.js';

function fakeFs() {
  const writes: { logical: number; bytes: Uint8Array; view: boolean }[] = [];
  const disk = new Map<number, number>();
  const fs = {
    volumes: {
      async writeLogical(logical: number, data: Uint8Array) {
        // A view into an arena chunk (4 MiB), written without a copy.
        writes.push({ logical, bytes: data.slice(), view: data.byteOffset !== 0 || data.buffer.byteLength !== data.length || data.buffer.byteLength === 4 * 1024 * 1024 });
        for (let i = 0; i < data.length; i += 4096) disk.set(logical + i, data[i]);
      },
    },
  } as unknown as FsInfo;
  return { fs, writes, disk };
}

const block = (tag: number, len = 4096) => new Uint8Array(len).fill(tag & 0xff);

describe('writeback index and arena', () => {
  it('finds extents added in any order; overlaps; reads the newest bytes', async () => {
    const { fs } = fakeFs();
    const wb = new DataWriteback();
    const starts = [10, 3, 7, 0, 100, 50, 1, 2].map((n) => (1 << 30) + n * 4096);
    for (const [k, s] of starts.entries()) await wb.add(fs, s, block(k + 1), undefined);
    expect(wb.size).toBe(starts.length);
    for (const [k, s] of starts.entries()) {
      const out = new Uint8Array(4096);
      expect(wb.readInto(s, out)).toBe(true);
      expect(out[0]).toBe(k + 1);
      expect(wb.overlaps(s + 4095, 1)).toBe(true);
    }
    expect(wb.readInto((1 << 30) + 4 * 4096, new Uint8Array(4096))).toBe(false);
    expect(wb.overlaps((1 << 30) + 4 * 4096, 3 * 4096)).toBe(false);
    expect(wb.overlaps((1 << 30) + 4 * 4096, 4 * 4096)).toBe(true);
    // A range wider than everything held (the scan over the extents, not the granules).
    expect(wb.overlaps(0, 2 ** 40)).toBe(true);
    expect(wb.overlaps(2 ** 41, 2 ** 40)).toBe(false);
    // Straddling two extents is not one extent's bytes.
    expect(wb.readInto((1 << 30) + 2048, new Uint8Array(4096))).toBe(false);
    await expect(wb.add(fs, starts[0], block(9), undefined)).rejects.toThrow(/overlaps/);
  });

  it('writes runs of consecutive arena copies as views (spilled when the arena is full, and at the flush); others gathered', async () => {
    const { fs, writes, disk } = fakeFs();
    const wb = new DataWriteback();
    const base = 1 << 30;
    // 3,000 consecutive 4 KiB extents: the arena's one 4 MiB chunk holds 1,024, so it is written
    // out (spilled) twice before the flush.
    const n = 3000;
    for (let k = 0; k < n; k++) await wb.add(fs, base + k * 4096, block(k), undefined);
    // Adjacent on disk but added out of order: not side by side in the arena.
    const far = base + 64 * 1024 * 1024;
    await wb.add(fs, far + 4096, block(201), undefined);
    await wb.add(fs, far, block(200), undefined);
    // A large extent is written at once.
    await wb.add(fs, far + 1024 * 1024, block(77, 512 * 1024), undefined);
    expect(wb.spills).toBe(2);
    expect(writes).toHaveLength(3);
    expect(wb.bytes).toBe((n - 2048 + 2) * 4096);
    await wb.flush(fs);
    expect(wb.size).toBe(0);
    expect(wb.bytes).toBe(0);
    const runs = writes.filter((w) => w.bytes.length !== 512 * 1024);
    const main = runs.filter((w) => w.logical < far);
    expect(main.every((w) => w.view), 'consecutive arena copies go out as views').toBe(true);
    expect(main.every((w) => w.bytes.length <= 4 * 1024 * 1024)).toBe(true);
    expect(main.reduce((s, w) => s + w.bytes.length, 0)).toBe(n * 4096);
    const gathered = runs.find((w) => w.logical === far)!;
    expect(gathered.bytes.length).toBe(8192);
    expect([gathered.bytes[0], gathered.bytes[4096]]).toEqual([200, 201]);
    for (let k = 0; k < n; k++) expect(disk.get(base + k * 4096)).toBe(k & 0xff);
    // The arena is reused by the next transaction; the bytes held then are the new ones.
    await wb.add(fs, base, block(5), undefined);
    const out = new Uint8Array(4096);
    expect(wb.readInto(base, out)).toBe(true);
    expect(out[0]).toBe(5);
  });
});

import { writeFile, readFile } from '../../../src/inode/file.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { FileModel, freshFs, judgeImage, patternBytes } from '../../shared/file-model.js';

describe('extents freed in the transaction that made them', () => {
  it('are dropped from the writeback: not written, no checksums; the image stays clean', async () => {
    const { dev, fs, files } = await freshFs(2);
    const root = fs.fsTree;
    const models = [new FileModel(), new FileModel()];
    startTransaction(fs);
    for (const [i, f] of files.entries()) {
      await writeFile(fs, root, f.ino, 0, patternBytes(i + 1, 256 * 1024));
      models[i].write(0, patternBytes(i + 1, 256 * 1024));
    }
    await commitTransaction(fs);
    startTransaction(fs);
    const held = () => fs.writeback.size;
    await writeFile(fs, root, files[0].ino, 8192, patternBytes(10, 4096));
    expect(held()).toBe(1);
    // The same block again: the first new extent has no ref left and goes.
    await writeFile(fs, root, files[0].ino, 8192, patternBytes(11, 4096));
    expect(held()).toBe(1);
    models[0].write(8192, patternBytes(11, 4096));
    // A block of file 1 written, cloned into file 0, then overwritten in file 1: still
    // referenced by file 0's clone, so it stays.
    await writeFile(fs, root, files[1].ino, 4096 * 20, patternBytes(12, 4096));
    models[1].write(4096 * 20, patternBytes(12, 4096));
    const { cloneRange } = await import('../../../src/inode/file.js');
    await cloneRange(fs, root, files[1].ino, 4096 * 20, 4096, root, files[0].ino, 4096 * 30);
    models[0].clone(models[1], 4096 * 20, 4096, 4096 * 30);
    await writeFile(fs, root, files[1].ino, 4096 * 20, patternBytes(13, 4096));
    models[1].write(4096 * 20, patternBytes(13, 4096));
    expect(held()).toBe(3);
    for (const [i, f] of files.entries()) expect(await readFile(fs, root, f.ino, 0, 1 << 20)).toEqual(models[i].content());
    await commitTransaction(fs);
    for (const [i, f] of files.entries()) expect(await readFile(fs, root, f.ino, 0, 1 << 20)).toEqual(models[i].content());
    await judgeImage(dev, fs, files, models, 'dropped extents');
  });
});

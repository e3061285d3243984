// File data: targeted cases of read / write / truncate / fallocate / clone, each judged by
// our checker, btrfs check --check-data-csum and btrfs restore.
import { describe, expect, it } from 'vitest';
import { readFile, writeFile, truncateFile, fallocateFile, cloneRange } from '../../../src/inode/file.js';
import { readInode } from '../../../src/inode/inode.js';
import { check } from '../../../src/fs/check.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { FileModel, freshFs, judgeImage, patternBytes } from '../../shared/file-model.js';

describe('file data', () => {
  it('writes, reads back, survives a commit and is judged clean', async () => {
    const { dev, fs, files } = await freshFs(3);
    const models = files.map(() => new FileModel());
    startTransaction(fs);
    const root = fs.fsTree;
    const small = patternBytes(1, 100);
    await writeFile(fs, root, files[0].ino, 0, small);
    models[0].write(0, small);
    const big = patternBytes(2, 300_000);
    await writeFile(fs, root, files[1].ino, 5000, big);
    models[1].write(5000, big);
    await writeFile(fs, root, files[2].ino, 0, patternBytes(3, 10_000));
    models[2].write(0, patternBytes(3, 10_000));
    await truncateFile(fs, root, files[2].ino, 5000);
    models[2].truncate(5000);
    await fallocateFile(fs, root, files[2].ino, 8192, 20000, {});
    models[2].fallocate(8192, 20000, false);
    for (const [i, f] of files.entries()) expect(await readFile(fs, root, f.ino, 0, 1 << 30)).toEqual(models[i].content());
    await commitTransaction(fs);
    for (const [i, f] of files.entries()) expect(await readFile(fs, root, f.ino, 0, 1 << 30)).toEqual(models[i].content());
    startTransaction(fs);
    await cloneRange(fs, root, files[1].ino, 4096, 65536, root, files[0].ino, 8192);
    models[0].clone(models[1], 4096, 65536, 8192);
    await writeFile(fs, root, files[1].ino, 10000, patternBytes(4, 9000));
    models[1].write(10000, patternBytes(4, 9000));
    await commitTransaction(fs);
    for (const [i, f] of files.entries()) expect(await readFile(fs, root, f.ino, 0, 1 << 30)).toEqual(models[i].content());
    expect((await readInode(fs, root, files[0].ino)).size).toBe(models[0].size);
    await judgeImage(dev, fs, files, models, 'basic');
  });
});

import { findFileExtents } from '../../../src/inode/file-item.js';
import { lookupCsums } from '../../../src/fs/csum-tree.js';
import { openFs } from '../../../src/fs/open.js';
import { writeInode } from '../../../src/inode/inode.js';
import { FileExtentType, InodeFlags } from '../../../src/format/constants.js';
import type { FsInfo } from '../../../src/fs/fs-info.js';
import type { MemoryDevice } from '../../../src/device/memory.js';

/** Flips one bit of every copy (or only `copy`) of the data at `logical`. */
async function flipBit(fs: FsInfo, dev: MemoryDevice, logical: number, copy?: number): Promise<void> {
  const [seg] = fs.volumes.mapRange(logical, 1);
  for (const [i, c] of seg.copies.entries()) {
    if (copy !== undefined && i !== copy) continue;
    const at = Math.floor(c.physical / 4096) * 4096;
    const b = await dev.read(at, 4096);
    b[c.physical - at] ^= 0x10;
    await dev.write(at, b);
  }
}

async function extentsOf(fs: FsInfo, ino: number) {
  return findFileExtents(fs, fs.fsTree, ino, 0, Number.MAX_SAFE_INTEGER);
}

describe('data checksums', () => {
  it('a flipped bit in a data sector is EIO (single profile), never wrong bytes', async () => {
    const { dev, fs, files } = await freshFs(1);
    const root = fs.fsTree;
    const data = patternBytes(5, 64 * 1024);
    startTransaction(fs);
    await writeFile(fs, root, files[0].ino, 0, data);
    await commitTransaction(fs);
    const [fe] = await extentsOf(fs, files[0].ino);
    await flipBit(fs, dev, fe.diskBytenr + 5 * 4096 + 123);
    const before = fs.stats.csumErrors;
    await expect(readFile(fs, root, files[0].ino, 0, data.length)).rejects.toMatchObject({ code: 'EIO' });
    await expect(readFile(fs, root, files[0].ino, 5 * 4096 + 4000, 10)).rejects.toThrow(/file offset 20480/);
    expect(fs.stats.csumErrors).toBeGreaterThan(before);
    // The other sectors still read.
    expect(await readFile(fs, root, files[0].ino, 0, 5 * 4096)).toEqual(data.subarray(0, 5 * 4096));
    expect(await readFile(fs, root, files[0].ino, 6 * 4096, 1 << 20)).toEqual(data.subarray(6 * 4096));
    // A partial write over the bad sector must read it first: EIO, nothing changed.
    startTransaction(fs);
    await expect(writeFile(fs, root, files[0].ino, 5 * 4096 + 10, new Uint8Array(5))).rejects.toMatchObject({ code: 'EIO' });
    // A whole-sector overwrite replaces it without reading it.
    await writeFile(fs, root, files[0].ino, 5 * 4096, data.subarray(5 * 4096, 6 * 4096));
    await commitTransaction(fs);
    expect(await readFile(fs, root, files[0].ino, 0, 1 << 20)).toEqual(data);
  });

  it('with DUP data a bad copy is read from the other and repaired', async () => {
    const { dev, fs, files } = await freshFs(1, { data: 'dup' });
    const root = fs.fsTree;
    const data = patternBytes(6, 32 * 1024);
    startTransaction(fs);
    await writeFile(fs, root, files[0].ino, 0, data);
    await commitTransaction(fs);
    const [fe] = await extentsOf(fs, files[0].ino);
    expect(fs.volumes.numCopies(fe.diskBytenr)).toBe(2);
    await flipBit(fs, dev, fe.diskBytenr + 3 * 4096, 0);
    const before = fs.stats.csumErrors;
    expect(await readFile(fs, root, files[0].ino, 0, 1 << 20)).toEqual(data);
    expect(fs.stats.csumErrors).toBe(before + 1);
    expect(await readFile(fs, root, files[0].ino, 0, 1 << 20)).toEqual(data);
    expect(fs.stats.csumErrors, 'the bad copy was rewritten').toBe(before + 1);
    // Both copies bad: EIO.
    await flipBit(fs, dev, fe.diskBytenr + 4096);
    await expect(readFile(fs, root, files[0].ino, 0, 1 << 20)).rejects.toMatchObject({ code: 'EIO' });
  });
});

describe('file extent kinds', () => {
  it('inline extents: small whole files inline, converted when outgrown, truncated in place', async () => {
    const { dev, fs, files } = await freshFs(3);
    const root = fs.fsTree;
    const models = files.map(() => new FileModel());
    const step = async (i: number, off: number, len: number, seed: number) => {
      const d = patternBytes(seed, len);
      await writeFile(fs, root, files[i].ino, off, d);
      models[i].write(off, d);
    };
    startTransaction(fs);
    await step(0, 0, 2048, 1);
    expect((await extentsOf(fs, files[0].ino)).map((e) => e.type)).toEqual([FileExtentType.INLINE]);
    await step(0, 2048, 1, 2); // 2049 bytes: past max_inline
    expect((await extentsOf(fs, files[0].ino)).map((e) => e.type)).toEqual([FileExtentType.REG]);
    await step(1, 0, 100, 3);
    await step(1, 10000, 10, 4); // far write: the first sector becomes regular, a hole between
    let ext = await extentsOf(fs, files[1].ino);
    expect(ext.map((e) => [e.type, e.fileOffset])).toEqual([[FileExtentType.REG, 0], [FileExtentType.REG, 8192]]);
    await step(2, 0, 1000, 5);
    await truncateFile(fs, root, files[2].ino, 10);
    models[2].truncate(10);
    ext = await extentsOf(fs, files[2].ino);
    expect(ext.map((e) => [e.type, e.ramBytes])).toEqual([[FileExtentType.INLINE, 10]]);
    await truncateFile(fs, root, files[2].ino, 500); // grows inline with zeros
    models[2].truncate(500);
    expect((await extentsOf(fs, files[2].ino)).map((e) => [e.type, e.ramBytes])).toEqual([[FileExtentType.INLINE, 500]]);
    await commitTransaction(fs);
    for (const [i, f] of files.entries()) expect(await readFile(fs, root, f.ino, 0, 1 << 20)).toEqual(models[i].content());
    // max_inline=0: no inline extents.
    fs.options.maxInlineBytes = 0;
    startTransaction(fs);
    await truncateFile(fs, root, files[2].ino, 0);
    models[2].truncate(0);
    await step(2, 0, 10, 6);
    expect((await extentsOf(fs, files[2].ino)).map((e) => e.type)).toEqual([FileExtentType.REG]);
    await commitTransaction(fs);
    await judgeImage(dev, fs, files, models, 'inline');
  });

  it('truncate down zeroes the tail on disk: a later extend reads zeros', async () => {
    const { dev, fs, files } = await freshFs(1);
    const root = fs.fsTree;
    const m = new FileModel();
    startTransaction(fs);
    const d = patternBytes(9, 20000);
    await writeFile(fs, root, files[0].ino, 0, d);
    m.write(0, d);
    await commitTransaction(fs);
    startTransaction(fs);
    await truncateFile(fs, root, files[0].ino, 5000);
    m.truncate(5000);
    await truncateFile(fs, root, files[0].ino, 20000);
    m.truncate(20000);
    await commitTransaction(fs);
    const fs2 = await openFs([dev]);
    const got = await readFile(fs2, fs2.fsTree, files[0].ino, 0, 1 << 20);
    expect(got.subarray(0, 5000)).toEqual(d.subarray(0, 5000));
    expect(got.subarray(5000).every((b) => b === 0)).toBe(true);
    await judgeImage(dev, fs2, files, [m], 'truncate tail');
  });

  it('fallocate: PREALLOC reads zeros, a write in place splits it, KEEP_SIZE past EOF, truncate drops it', async () => {
    const { dev, fs, files } = await freshFs(1);
    const root = fs.fsTree;
    const ino = files[0].ino;
    const m = new FileModel();
    startTransaction(fs);
    await fallocateFile(fs, root, ino, 0, 64 * 1024, {});
    m.fallocate(0, 64 * 1024, false);
    await commitTransaction(fs);
    const [pre] = await extentsOf(fs, ino);
    expect(pre.type).toBe(FileExtentType.PREALLOC);
    expect(await readFile(fs, root, ino, 0, 1 << 20)).toEqual(new Uint8Array(64 * 1024));
    startTransaction(fs);
    const d = patternBytes(3, 8192);
    await writeFile(fs, root, ino, 16384, d);
    m.write(16384, d);
    const ext = await extentsOf(fs, ino);
    expect(ext.map((e) => [e.type, e.fileOffset, e.diskBytenr])).toEqual([
      [FileExtentType.PREALLOC, 0, pre.diskBytenr], [FileExtentType.REG, 16384, pre.diskBytenr], [FileExtentType.PREALLOC, 24576, pre.diskBytenr],
    ]);
    expect((await lookupCsums(fs, pre.diskBytenr + 16384, 8192)).count).toBe(2);
    // The next range written joins the REG item (extent_mergeable), no new item.
    const d2 = patternBytes(4, 8192);
    await writeFile(fs, root, ino, 24576, d2);
    m.write(24576, d2);
    expect((await extentsOf(fs, ino)).map((e) => [e.type, e.fileOffset, e.numBytes])).toEqual([
      [FileExtentType.PREALLOC, 0, 16384], [FileExtentType.REG, 16384, 16384], [FileExtentType.PREALLOC, 32768, 32768],
    ]);
    // Writing the rest of the tail merges it whole.
    const d3 = patternBytes(5, 32768);
    await writeFile(fs, root, ino, 32768, d3);
    m.write(32768, d3);
    expect((await extentsOf(fs, ino)).map((e) => [e.type, e.fileOffset, e.numBytes])).toEqual([
      [FileExtentType.PREALLOC, 0, 16384], [FileExtentType.REG, 16384, 49152],
    ]);
    await fallocateFile(fs, root, ino, 100 * 1024, 50 * 1024, { keepSize: true });
    await commitTransaction(fs);
    expect(await readFile(fs, root, ino, 0, 1 << 20)).toEqual(m.content());
    await judgeImage(dev, fs, files, [m], 'fallocate');
    startTransaction(fs);
    await truncateFile(fs, root, ino, m.size); // same size: drops the KEEP_SIZE extent past EOF
    expect((await extentsOf(fs, ino)).every((e) => e.fileOffset < m.size)).toBe(true);
    await commitTransaction(fs);
    await judgeImage(dev, fs, files, [m], 'fallocate truncate');
  });

  it('NODATACOW: overwrites in place without checksums unless the extent is shared', async () => {
    const { dev, fs, files } = await freshFs(2);
    const root = fs.fsTree;
    const models = files.map(() => new FileModel());
    startTransaction(fs);
    for (const f of files) {
      const item = await readInode(fs, root, f.ino);
      item.flags |= InodeFlags.NODATACOW | InodeFlags.NODATASUM;
      await writeInode(fs, root, f.ino, item);
    }
    const d = patternBytes(4, 32768);
    await writeFile(fs, root, files[0].ino, 0, d);
    models[0].write(0, d);
    await commitTransaction(fs);
    const [first] = await extentsOf(fs, files[0].ino);
    expect((await lookupCsums(fs, first.diskBytenr, 32768)).count).toBe(0);
    startTransaction(fs);
    const w = patternBytes(5, 5000);
    await writeFile(fs, root, files[0].ino, 3000, w);
    models[0].write(3000, w);
    const now = await extentsOf(fs, files[0].ino);
    expect(now.map((e) => [e.fileOffset, e.diskBytenr, e.numBytes])).toEqual([[0, first.diskBytenr, 32768]]);
    // Shared: the next overwrite must COW.
    await cloneRange(fs, root, files[0].ino, 0, 32768, root, files[1].ino, 0);
    models[1].clone(models[0], 0, 32768, 0);
    await writeFile(fs, root, files[0].ino, 0, w);
    models[0].write(0, w);
    expect((await extentsOf(fs, files[0].ino))[0].diskBytenr).not.toBe(first.diskBytenr);
    await commitTransaction(fs);
    for (const [i, f] of files.entries()) expect(await readFile(fs, root, f.ino, 0, 1 << 20)).toEqual(models[i].content());
    await judgeImage(dev, fs, files, models, 'nodatacow');
  });
});

describe('errors', () => {
  it('EFBIG, EINVAL, EISDIR, ENOSPC', async () => {
    const { fs, files } = await freshFs(1, { sizeBytes: 64 * 1024 * 1024 });
    const root = fs.fsTree;
    const ino = files[0].ino;
    startTransaction(fs);
    await expect(writeFile(fs, root, ino, 2 ** 53 - 2, new Uint8Array(10))).rejects.toMatchObject({ code: 'EFBIG' });
    await expect(truncateFile(fs, root, ino, -1)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(readFile(fs, root, ino, 0.5, 1)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(fallocateFile(fs, root, ino, 0, 0)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(writeFile(fs, root, 256, 0, new Uint8Array(1))).rejects.toMatchObject({ code: 'EISDIR' });
    await expect(readFile(fs, root, 999, 0, 1)).rejects.toMatchObject({ code: 'ENOENT' });
    // More than the device holds: a short write, then ENOSPC.
    const big = new Uint8Array(80 * 1024 * 1024);
    const n = await writeFile(fs, root, ino, 0, big);
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(big.length);
    await expect(writeFile(fs, root, ino, n, big)).rejects.toMatchObject({ code: 'ENOSPC' });
    expect((await readInode(fs, root, ino)).size).toBe(n);
    await commitTransaction(fs);
    expect((await check(fs)).errors).toEqual([]);
  });
});

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { mkdir, writeFile as writeHostFile, truncate as truncateHost, open as openHost } from 'node:fs/promises';
import { FileDevice } from '../../../src/device/file.js';
import { iterItems } from '../../../src/tree/ctree.js';
import { Key } from '../../../src/format/key.js';
import { ItemType, FIRST_INODE_OBJECTID } from '../../../src/format/constants.js';
import { tempDir } from '../../shared/btrfs-progs.js';

describe('mkfs.btrfs --rootdir images', () => {
  it('files written by btrfs-progs read back, take writes, truncates and clones, and stay clean', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const src = join(dir, 'src');
      await mkdir(src);
      const contents = new Map<string, Uint8Array>([
        ['tiny', patternBytes(1, 100)],
        ['edge', patternBytes(2, 2048)],
        ['mid', patternBytes(3, 5000)],
        ['big', patternBytes(4, 300_000)],
      ]);
      for (const [n, d] of contents) await writeHostFile(join(src, n), d);
      // A sparse file: 1 MiB with data in the middle.
      const sparse = new Uint8Array(1 << 20);
      sparse.set(patternBytes(5, 10000), 512 * 1024);
      const h = await openHost(join(src, 'sparse'), 'w');
      await h.write(sparse.subarray(512 * 1024, 512 * 1024 + 10000), 0, 10000, 512 * 1024);
      await h.close();
      await truncateHost(join(src, 'sparse'), 1 << 20);
      contents.set('sparse', sparse);
      const img = join(dir, 'fs.img');
      await writeHostFile(img, '');
      await truncateHost(img, 256 * 1024 * 1024);
      await promisify(execFile)('mkfs.btrfs', ['-q', '-f', '--rootdir', src, img]);

      const dev = await FileDevice.open(img);
      const fs = await openFs([dev]);
      const inos = new Map<string, number>();
      for await (const it of iterItems(fs, fs.fsTree, Key.of(FIRST_INODE_OBJECTID, ItemType.DIR_INDEX, 0), Key.of(FIRST_INODE_OBJECTID, ItemType.DIR_INDEX, -1))) {
        const nameLen = it.data[27] | (it.data[28] << 8);
        inos.set(new TextDecoder().decode(it.data.subarray(30, 30 + nameLen)), it.data[0] | (it.data[1] << 8) | (it.data[2] << 16));
      }
      const models = new Map<string, FileModel>();
      for (const [n, d] of contents) {
        expect(await readFile(fs, fs.fsTree, inos.get(n)!, 0, 1 << 24), n).toEqual(d);
        const m = new FileModel();
        m.write(0, d);
        models.set(n, m);
      }
      startTransaction(fs);
      const w = patternBytes(9, 3000);
      for (const n of ['tiny', 'edge', 'mid', 'big', 'sparse']) {
        await writeFile(fs, fs.fsTree, inos.get(n)!, 1000, w);
        models.get(n)!.write(1000, w);
      }
      await truncateFile(fs, fs.fsTree, inos.get('big')!, 100_001);
      models.get('big')!.truncate(100_001);
      await cloneRange(fs, fs.fsTree, inos.get('sparse')!, 512 * 1024, 8192, fs.fsTree, inos.get('big')!, 40960);
      models.get('big')!.clone(models.get('sparse')!, 512 * 1024, 8192, 40960);
      await fallocateFile(fs, fs.fsTree, inos.get('mid')!, 0, 100_000, {});
      models.get('mid')!.fallocate(0, 100_000, false);
      await commitTransaction(fs);
      for (const [n, m] of models) expect(await readFile(fs, fs.fsTree, inos.get(n)!, 0, 1 << 24), n).toEqual(m.content());
      const names = [...models.keys()];
      await judgeImage(dev, fs, names.map((name) => ({ name, ino: inos.get(name)! })), names.map((n) => models.get(n)!), 'mkfs.btrfs --rootdir');
      await dev.close();
    } finally {
      await cleanup();
    }
  });
});

// File data: targeted cases of read / write / truncate / fallocate / clone, each judged by
// our checker, btrfs check --check-data-csum and btrfs restore.
import { describe, expect, it } from 'vitest';
import { readFile, writeFile, truncateFile, fallocateFile, cloneRange } from '../../../src/inode/file.js';
import { readInode } from '../../../src/inode/inode.js';
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

// Images made by btrfs-progs' mkfs.btrfs open in butterfs read-write, keep their content,
// and stay clean under btrfs check after butterfs commits changes to them.
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { mkdir, symlink, writeFile, truncate } from 'node:fs/promises';
import { FileDevice } from '../../../src/device/file.js';
import { openFs } from '../../../src/fs/open.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { iterItems } from '../../../src/tree/ctree.js';
import { Key } from '../../../src/format/key.js';
import { ItemType, FIRST_INODE_OBJECTID } from '../../../src/format/constants.js';
import { createFile, removeFile } from '../../shared/simple-files.js';
import { btrfsCheck, tempDir } from '../../shared/btrfs-progs.js';

const run = promisify(execFile);

async function rootNames(fs: Awaited<ReturnType<typeof openFs>>): Promise<Map<string, { ino: number; index: number }>> {
  const out = new Map<string, { ino: number; index: number }>();
  for await (const it of iterItems(fs, fs.fsTree, Key.of(FIRST_INODE_OBJECTID, ItemType.DIR_INDEX, 0), Key.of(FIRST_INODE_OBJECTID, ItemType.DIR_INDEX, -1))) {
    const nameLen = it.data[27] | (it.data[28] << 8);
    const ino = it.data[0] | (it.data[1] << 8) | (it.data[2] << 16);
    out.set(new TextDecoder().decode(it.data.subarray(30, 30 + nameLen)), { ino, index: it.key.offset });
  }
  return out;
}

describe('mkfs.btrfs images', () => {
  for (const variant of ['empty', 'rootdir'] as const) {
    for (const nodesize of [4096, 16384]) {
      it(`${variant} image (nodesize ${nodesize}) mounts, takes commits and stays clean`, async () => {
        const { dir, cleanup } = await tempDir();
        try {
          const img = join(dir, 'fs.img');
          await writeFile(img, '');
          await truncate(img, 256 * 1024 * 1024);
          const args = ['-q', '-f', '-n', String(nodesize)];
          const expected = new Set<string>();
          if (variant === 'rootdir') {
            const src = join(dir, 'src');
            await mkdir(join(src, 'sub'), { recursive: true });
            await writeFile(join(src, 'hello.txt'), 'hello from btrfs-progs\n');
            await writeFile(join(src, 'big.bin'), new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff));
            await writeFile(join(src, 'sub', 'inner.txt'), 'inner\n');
            await symlink('hello.txt', join(src, 'link'));
            for (const n of ['hello.txt', 'big.bin', 'sub', 'link']) expected.add(n);
            args.push('--rootdir', src);
          }
          await run('mkfs.btrfs', [...args, img]);
          let dev = await FileDevice.open(img);
          let fs = await openFs([dev]);
          expect(new Set((await rootNames(fs)).keys())).toEqual(expected);
          startTransaction(fs);
          const base = 100_000;
          for (let i = 0; i < 300; i++) await createFile(fs, fs.fsTree, `added-${i}`, base + i, base + i);
          await commitTransaction(fs);
          startTransaction(fs);
          const names = await rootNames(fs);
          for (let i = 0; i < 300; i += 3) await removeFile(fs, fs.fsTree, `added-${i}`, names.get(`added-${i}`)!);
          await commitTransaction(fs);
          await dev.close();

          const r = await btrfsCheck(img);
          expect(r.ok, r.output).toBe(true);

          dev = await FileDevice.open(img);
          fs = await openFs([dev]);
          const after = await rootNames(fs);
          for (const n of expected) expect(after.has(n)).toBe(true);
          expect(after.size).toBe(expected.size + 200);
          await dev.close();
        } finally {
          await cleanup();
        }
      });
    }
  }
});

// Thousands of tree operations over several mounts and commits, judged by btrfs check and by
// reading everything back after a remount.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { MemoryDevice } from '../../../src/device/memory.js';
import { mkfs } from '../../../src/fs/mkfs.js';
import { openFs } from '../../../src/fs/open.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { iterItems } from '../../../src/tree/ctree.js';
import { Key } from '../../../src/format/key.js';
import { ItemType, FIRST_INODE_OBJECTID } from '../../../src/format/constants.js';
import { mulberry32 } from '../../../src/device/fault.js';
import { createFile, removeFile, type SimpleFile } from '../../shared/simple-files.js';
import { btrfsCheck, saveImage, tempDir } from '../../shared/btrfs-progs.js';
import { check } from '../../../src/fs/check.js';

const MiB = 1024 * 1024;

describe('engine workload', () => {
  for (const nodesize of [4096, 16384]) {
    it(`creates and deletes thousands of entries across commits and remounts (nodesize ${nodesize})`, async () => {
      const seed = 0x5eed + nodesize;
      const rand = mulberry32(seed);
      const dev = new MemoryDevice(256 * MiB);
      await mkfs([dev], { nodesize });
      const model = new Map<string, SimpleFile>();
      let nextIno = 257;
      let nextIndex = 2;
      for (let mount = 0; mount < 4; mount++) {
        const fs = await openFs([dev]);
        for (let t = 0; t < 3; t++) {
          startTransaction(fs);
          for (let op = 0; op < 500; op++) {
            const names = [...model.keys()];
            if (names.length > 0 && rand() < 0.3) {
              const name = names[Math.floor(rand() * names.length)];
              await removeFile(fs, fs.fsTree, name, model.get(name)!);
              model.delete(name);
            } else {
              const name = `file-${nextIno}-${Math.floor(rand() * 1e9).toString(36)}`;
              const f = await createFile(fs, fs.fsTree, name, nextIno, nextIndex);
              if (f) {
                model.set(name, f);
                nextIno++;
                nextIndex++;
              }
            }
          }
          await commitTransaction(fs);
          const verdict = await check(fs);
          expect(verdict.errors, `seed ${seed}, mount ${mount}, commit ${t}`).toEqual([]);
        }
      }
      const fs = await openFs([dev]);
      const seen = new Map<number, string>();
      for await (const it of iterItems(fs, fs.fsTree, Key.of(FIRST_INODE_OBJECTID, ItemType.DIR_INDEX, 0), Key.of(FIRST_INODE_OBJECTID, ItemType.DIR_INDEX, -1))) {
        const nameLen = it.data[27] | (it.data[28] << 8);
        seen.set(it.key.offset, new TextDecoder().decode(it.data.subarray(30, 30 + nameLen)));
      }
      expect(seen.size, `seed ${seed}`).toBe(model.size);
      for (const [name, f] of model) expect(seen.get(f.index), `seed ${seed}`).toBe(name);

      const { dir, cleanup } = await tempDir();
      try {
        const img = join(dir, 'fs.img');
        await saveImage(dev, img);
        const r = await btrfsCheck(img);
        expect(r.ok, `seed ${seed}\n${r.output}`).toBe(true);
      } finally {
        await cleanup();
      }
    });
  }
});

// Model-based test of the file data layer: seeded random writes, overwrites, truncates,
// fallocates, clones and reads on several files (one of them NODATACOW), with commits and
// remounts in between, against an in-memory byte model. Afterwards our checker, btrfs check
// --check-data-csum and btrfs restore must all agree with the model. The seed is in every
// failure message.
import { describe, expect, it } from 'vitest';
import { readFile, writeFile, truncateFile, fallocateFile, cloneRange } from '../../../src/inode/file.js';
import { readInode, writeInode } from '../../../src/inode/inode.js';
import { InodeFlags } from '../../../src/format/constants.js';
import { openFs } from '../../../src/fs/open.js';
import { check } from '../../../src/fs/check.js';
import type { FsInfo } from '../../../src/fs/fs-info.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { mulberry32 } from '../../../src/device/fault.js';
import { isFsError } from '../../../src/util/errors.js';
import { FileModel, freshFs, judgeImage, patternBytes } from '../../shared/file-model.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZES = [0, 1, 2047, 2048, 2049, 4095, 4096, 4097, 128 * KiB];

interface Config {
  seed: number;
  nodesize: number;
  csum: 'crc32c' | 'xxhash' | 'sha256';
  noHoles: boolean;
  mounts: number;
  commitsPerMount: number;
  opsPerCommit: number;
}

const CONFIGS: Config[] = [
  { seed: 1, nodesize: 16384, csum: 'crc32c', noHoles: true, mounts: 3, commitsPerMount: 4, opsPerCommit: 60 },
  { seed: 2, nodesize: 4096, csum: 'xxhash', noHoles: true, mounts: 3, commitsPerMount: 4, opsPerCommit: 60 },
  { seed: 3, nodesize: 4096, csum: 'sha256', noHoles: false, mounts: 3, commitsPerMount: 4, opsPerCommit: 60 },
];

// FILE_MODEL_SEEDS=a-b runs seeds a..b (all configs rotated) for a longer soak.
const soak = process.env.FILE_MODEL_SEEDS?.match(/^(\d+)-(\d+)$/);
if (soak) {
  CONFIGS.length = 0;
  for (let s = Number(soak[1]); s <= Number(soak[2]); s++) {
    CONFIGS.push({ seed: s, nodesize: s % 2 ? 4096 : 16384, csum: (['crc32c', 'xxhash', 'sha256'] as const)[s % 3], noHoles: s % 4 !== 3, mounts: 3, commitsPerMount: 4, opsPerCommit: 60 });
  }
}

const MAX_FILE = 6 * MiB;
/** FILE_MODEL_PARANOID=1: compare every file with the model after every operation. */
const paranoid = process.env.FILE_MODEL_PARANOID === '1';

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return Math.min(a.length, b.length);
}

describe('file data against a model', () => {
  for (const cfg of CONFIGS) {
    it(`seed ${cfg.seed}: nodesize ${cfg.nodesize}, ${cfg.csum}, ${cfg.noHoles ? 'no-holes' : 'holes'}`, async () => {
      const rand = mulberry32(cfg.seed);
      const pick = <T,>(a: readonly T[]): T => a[Math.floor(rand() * a.length)];
      const int = (n: number) => Math.floor(rand() * n);
      const { dev, fs: fs0, files } = await freshFs(4, { nodesize: cfg.nodesize, csum: cfg.csum, features: cfg.noHoles ? [] : ['^no-holes'] });
      let fs: FsInfo = fs0;
      const models = files.map(() => new FileModel());
      // File 3 is NODATACOW (chattr +C on an empty file: NODATASUM too).
      startTransaction(fs);
      const item = await readInode(fs, fs.fsTree, files[3].ino);
      item.flags |= InodeFlags.NODATACOW | InodeFlags.NODATASUM;
      await writeInode(fs, fs.fsTree, files[3].ino, item);
      await commitTransaction(fs);

      let seq = 0;
      const randSize = (): number => {
        const r = rand();
        if (r < 0.5) return Math.max(0, pick(SIZES) + (rand() < 0.3 ? int(3) - 1 : 0));
        if (r < 0.9) return int(64 * KiB);
        return int(3 * MiB);
      };
      const randOffset = (size: number): number => {
        const r = rand();
        if (r < 0.2) return 0;
        if (r < 0.4) return size;
        if (r < 0.55) return pick(SIZES);
        return int(size + 64 * KiB);
      };

      for (let mount = 0; mount < cfg.mounts; mount++) {
        if (mount > 0) fs = await openFs([dev]);
        for (let c = 0; c < cfg.commitsPerMount; c++) {
          startTransaction(fs);
          for (let op = 0; op < cfg.opsPerCommit; op++) {
            const i = int(files.length);
            const f = files[i];
            const m = models[i];
            const what = `seed ${cfg.seed}, mount ${mount}, commit ${c}, op ${op} (#${seq++}) on ${f.name}`;
            const r = rand();
            let desc = '';
            if (r < 0.4) {
              const offset = Math.max(0, Math.min(randOffset(m.size), MAX_FILE));
              const len = Math.min(Math.max(0, randSize()), MAX_FILE - offset);
              const data = patternBytes(seq, len);
              desc = `write [${offset}, +${len})`;
              const n = await writeFile(fs, fs.fsTree, f.ino, offset, data);
              expect(n, what).toBe(len);
              m.write(offset, data);
            } else if (r < 0.55) {
              const size = rand() < 0.5 ? Math.min(randSize(), MAX_FILE) : int(m.size + 1);
              desc = `truncate ${m.size} -> ${size}`;
              await truncateFile(fs, fs.fsTree, f.ino, size);
              m.truncate(size);
            } else if (r < 0.65) {
              const offset = Math.min(randOffset(m.size), MAX_FILE - 1);
              const len = Math.max(1, Math.min(randSize(), MAX_FILE - offset));
              const keepSize = rand() < 0.5;
              desc = `fallocate [${offset}, +${len}) keepSize ${keepSize} (size ${m.size})`;
              await fallocateFile(fs, fs.fsTree, f.ino, offset, len, { keepSize });
              m.fallocate(offset, len, keepSize);
            } else if (r < 0.8) {
              const j = int(files.length);
              const src = models[j];
              const ss = fs.sectorsize;
              const srcOffset = Math.floor(int(src.size + 1) / ss) * ss;
              const toEof = rand() < 0.3;
              const len = toEof ? 0 : Math.floor(randSize() / ss) * ss;
              const dstOffset = Math.min(Math.floor(randOffset(m.size) / ss) * ss, MAX_FILE - 4 * ss);
              // What FICLONERANGE must say, computed from the model.
              let expectErr: string | undefined;
              let eff = len === 0 ? src.size - srcOffset : Math.min(len, src.size - srcOffset);
              if ((i === 3) !== (j === 3)) expectErr = 'EINVAL';
              else if (len === 0 && srcOffset === src.size) eff = 0;
              else if (srcOffset >= src.size) expectErr = 'EINVAL';
              else if (eff % ss !== 0 && eff + dstOffset < m.size) expectErr = 'EINVAL';
              else if (j === i && dstOffset < srcOffset + Math.ceil(eff / ss) * ss && srcOffset < dstOffset + Math.ceil(eff / ss) * ss) expectErr = 'EINVAL';
              if (!expectErr && dstOffset + eff > MAX_FILE) continue;
              desc = `clone ${files[j].name} (size ${src.size}) [${srcOffset}, +${len}) -> ${dstOffset} (size ${m.size}), expect ${expectErr ?? 'ok'}`;
              try {
                const n = await cloneRange(fs, fs.fsTree, files[j].ino, srcOffset, len, fs.fsTree, f.ino, dstOffset);
                expect(expectErr, `${what}: clone from ${files[j].name} [${srcOffset}, +${len}) to ${dstOffset} succeeded`).toBeUndefined();
                expect(n, what).toBe(eff);
                m.clone(src, srcOffset, eff, dstOffset);
              } catch (e) {
                if (!expectErr || !isFsError(e, 'EINVAL')) throw new Error(`${what}: clone from ${files[j].name} [${srcOffset}, +${len}) to ${dstOffset}: ${String(e)}`, { cause: e });
              }
            } else if (paranoid) {
              // nothing: every op is verified below
            } else {
              const offset = randOffset(m.size);
              const len = randSize();
              const got = await readFile(fs, fs.fsTree, f.ino, offset, len);
              expect(Buffer.from(got).equals(Buffer.from(m.read(offset, len))), `${what}: read [${offset}, +${len})`).toBe(true);
            }
            if (paranoid) {
              for (const [k, g] of files.entries()) {
                const got = await readFile(fs, fs.fsTree, g.ino, 0, MAX_FILE * 2);
                if (!Buffer.from(got).equals(Buffer.from(models[k].content()))) {
                  throw new Error(`${what}: after ${desc}: ${g.name} differs (size ${got.length}, model ${models[k].size}, first diff at ${firstDiff(got, models[k].content())})`);
                }
              }
            }
          }
          await commitTransaction(fs);
          for (const [i, f] of files.entries()) {
            const got = await readFile(fs, fs.fsTree, f.ino, 0, MAX_FILE * 2);
            expect(got.length, `seed ${cfg.seed}, mount ${mount}, commit ${c}: ${f.name} size`).toBe(models[i].size);
            expect(Buffer.from(got).equals(Buffer.from(models[i].content())), `seed ${cfg.seed}, mount ${mount}, commit ${c}: ${f.name} content`).toBe(true);
            expect((await readInode(fs, fs.fsTree, f.ino)).size, `seed ${cfg.seed}: ${f.name} i_size`).toBe(models[i].size);
          }
        }
        const verdict = await check(fs);
        expect(verdict.errors, `seed ${cfg.seed}, mount ${mount}`).toEqual([]);
      }
      await judgeImage(dev, fs, files, models, `seed ${cfg.seed}`);
    });
  }
});

// Crash consistency of file data: a recorded workload of writes, overwrites, truncates,
// fallocates and clones over several commits is cut at every device write, with unflushed
// writes dropped, kept, or torn and reordered. Every crash state must mount to a committed
// generation (the last durable one, or the one whose superblock was being written) whose
// file contents are exactly what that generation committed, and pass our checker; a sample
// is also judged by btrfs check --check-data-csum.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { MemoryDevice } from '../../../src/device/memory.js';
import { FaultDevice, mulberry32, type UnflushedPolicy } from '../../../src/device/fault.js';
import { mkfs } from '../../../src/fs/mkfs.js';
import { openFs } from '../../../src/fs/open.js';
import { check } from '../../../src/fs/check.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { readFile, writeFile, truncateFile, fallocateFile, cloneRange } from '../../../src/inode/file.js';
import { createFile } from '../../shared/simple-files.js';
import { FileModel, patternBytes } from '../../shared/file-model.js';
import { btrfsCheck, saveImage, tempDir } from '../../shared/btrfs-progs.js';
import { allowedGenerations } from '../../shared/crash-generations.js';

const MiB = 1024 * 1024;
const SEED = 4242;

describe('file data crash consistency', () => {
  it('every crash point mounts to a committed generation with exactly its file contents', async () => {
    const base = new MemoryDevice(128 * MiB);
    await mkfs([base], { nodesize: 4096 });
    const setup = await openFs([base]);
    startTransaction(setup);
    const inos: number[] = [];
    for (let i = 0; i < 3; i++) {
      await createFile(setup, setup.fsTree, `f${i}`, 257 + i, 2 + i);
      inos.push(257 + i);
    }
    await commitTransaction(setup);

    const dev = new FaultDevice(base, { record: true });
    const fs = await openFs([dev]);
    const rand = mulberry32(SEED);
    const int = (n: number) => Math.floor(rand() * n);
    const models = inos.map(() => new FileModel());
    const gens = new Map<number, { contents: Uint8Array[]; commitStart: number; commitEnd: number }>();
    gens.set(fs.sb.generation, { contents: models.map((m) => m.content()), commitStart: 0, commitEnd: 0 });
    let seq = 0;
    for (let t = 0; t < 10; t++) {
      startTransaction(fs);
      for (let op = 0; op < 15; op++) {
        const i = int(inos.length);
        const m = models[i];
        const r = rand();
        seq++;
        if (r < 0.55) {
          const off = rand() < 0.3 ? m.size : int(m.size + 8192);
          const len = rand() < 0.2 ? int(3000) : int(40000) + 1;
          const d = patternBytes(SEED * 1000 + seq, len);
          await writeFile(fs, fs.fsTree, inos[i], off, d);
          m.write(off, d);
        } else if (r < 0.7) {
          const size = int(m.size + 4096);
          await truncateFile(fs, fs.fsTree, inos[i], size);
          m.truncate(size);
        } else if (r < 0.85) {
          const off = int(m.size + 8192);
          const len = int(30000) + 1;
          const keepSize = rand() < 0.5;
          await fallocateFile(fs, fs.fsTree, inos[i], off, len, { keepSize });
          m.fallocate(off, len, keepSize);
        } else {
          const j = (i + 1 + int(inos.length - 1)) % inos.length;
          const src = models[j];
          if (src.size < 4096) continue;
          const so = Math.floor(int(src.size) / 4096) * 4096;
          const len = Math.min(Math.floor(src.size / 4096) * 4096 - so, 4096 * (1 + int(4)));
          if (len <= 0) continue;
          const dOff = Math.floor(int(m.size + 4096) / 4096) * 4096;
          await cloneRange(fs, fs.fsTree, inos[j], so, len, fs.fsTree, inos[i], dOff);
          m.clone(src, so, len, dOff);
        }
      }
      const commitStart = dev.events.length;
      await commitTransaction(fs);
      gens.set(fs.sb.generation, { contents: models.map((m) => m.content()), commitStart, commitEnd: dev.events.length });
    }
    const total = dev.events.length;
    expect(total).toBeGreaterThan(50);
    console.log(`file crash suite: ${total} events, ${gens.size} generations`);

    const policies: [string, UnflushedPolicy][] = [['drop', 'none'], ['keep', 'all'], ['torn', { seed: 11, keepProbability: 0.5, tearProbability: 0.3 }]];
    const sampled: MemoryDevice[] = [];
    for (let k = 0; k <= total; k++) {
      for (const [pname, policy] of policies) {
        const state = dev.stateAfter(k, typeof policy === 'object' ? { ...policy, seed: policy.seed + k } : policy);
        const allowed = allowedGenerations(gens, k);
        const what = `seed ${SEED}, crash after event ${k} (${pname})`;
        const crashed = await openFs([state]);
        const g = crashed.sb.generation;
        expect(allowed, `${what}: mounted generation ${g}`).toContain(g);
        const want = gens.get(g)!.contents;
        for (const [i, ino] of inos.entries()) {
          const got = await readFile(crashed, crashed.fsTree, ino, 0, 1 << 30);
          expect(Buffer.from(got).equals(Buffer.from(want[i])), `${what}, generation ${g}: f${i} (${got.length} bytes, want ${want[i].length})`).toBe(true);
        }
        expect((await check(crashed)).errors, `${what}, generation ${g}`).toEqual([]);
        if (k % 61 === 0 && pname === 'torn') sampled.push(state);
      }
    }
    const { dir, cleanup } = await tempDir();
    try {
      for (const [i, s] of sampled.entries()) {
        const img = join(dir, `crash-${i}.img`);
        await saveImage(s, img);
        const r = await btrfsCheck(img, { dataCsum: true });
        expect(r.ok, `seed ${SEED}, sample ${i}\n${r.output}`).toBe(true);
      }
    } finally {
      await cleanup();
    }
  });
});

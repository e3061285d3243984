// Crash suite: a recorded workload (several commits of file creations and deletions) is cut
// at every write; writes since the last flush are dropped, kept, or torn and reordered by a
// seeded policy. Every crash state must mount, hold exactly the content of a committed
// generation (the last durable one, or the one whose superblock was being written), and pass
// the checker; samples are also judged by btrfs check.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { MemoryDevice } from '../../../src/device/memory.js';
import { FaultDevice, type UnflushedPolicy } from '../../../src/device/fault.js';
import { mkfs } from '../../../src/fs/mkfs.js';
import { openFs } from '../../../src/fs/open.js';
import type { FsInfo } from '../../../src/fs/fs-info.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { iterItems } from '../../../src/tree/ctree.js';
import { Key } from '../../../src/format/key.js';
import { ItemType, FIRST_INODE_OBJECTID } from '../../../src/format/constants.js';
import { mulberry32 } from '../../../src/device/fault.js';
import { createFile, removeFile, type SimpleFile } from '../../shared/simple-files.js';
import { btrfsCheck, saveImage, tempDir } from '../../shared/btrfs-progs.js';
import { check } from '../../../src/fs/check.js';
import { allowedGenerations } from '../../shared/crash-generations.js';

const MiB = 1024 * 1024;

async function listNames(fs: FsInfo): Promise<string[]> {
  const out: string[] = [];
  const lo = Key.of(FIRST_INODE_OBJECTID, ItemType.DIR_INDEX, 0);
  const hi = Key.of(FIRST_INODE_OBJECTID, ItemType.DIR_INDEX, -1);
  for await (const it of iterItems(fs, fs.fsTree, lo, hi)) {
    const nameLen = it.data[27] | (it.data[28] << 8);
    out.push(new TextDecoder().decode(it.data.subarray(30, 30 + nameLen)));
  }
  return out.sort();
}

describe('crash consistency', () => {
  it('every crash point mounts to a committed generation with its exact content', async () => {
    const base = new MemoryDevice(128 * MiB);
    await mkfs([base], { nodesize: 4096 });
    const dev = new FaultDevice(base, { record: true });
    const rand = mulberry32(42);
    const fs = await openFs([dev]);
    const model = new Map<string, SimpleFile>();
    // Per generation: its content and the event indexes bounding its commit.
    const gens = new Map<number, { names: string[]; commitStart: number; commitEnd: number }>();
    gens.set(fs.sb.generation, { names: [], commitStart: 0, commitEnd: 0 });
    let nextIno = 257;
    for (let t = 0; t < 10; t++) {
      startTransaction(fs);
      for (let op = 0; op < 80; op++) {
        const names = [...model.keys()];
        if (names.length > 5 && rand() < 0.35) {
          const name = names[Math.floor(rand() * names.length)];
          await removeFile(fs, fs.fsTree, name, model.get(name)!);
          model.delete(name);
        } else {
          const name = `f${nextIno}`;
          const f = await createFile(fs, fs.fsTree, name, nextIno, nextIno);
          if (f) model.set(name, f);
          nextIno++;
        }
      }
      const commitStart = dev.events.length;
      await commitTransaction(fs);
      gens.set(fs.sb.generation, { names: [...model.keys()].sort(), commitStart, commitEnd: dev.events.length });
    }
    const total = dev.events.length;
    expect(total).toBeGreaterThan(100);
    console.log(`crash suite: ${total} events, ${gens.size} generations`);

    const policies: [string, UnflushedPolicy][] = [['drop', 'none'], ['keep', 'all'], ['torn', { seed: 7, keepProbability: 0.5, tearProbability: 0.3 }]];
    const sampled: MemoryDevice[] = [];
    for (let k = 0; k <= total; k++) {
      for (const [pname, policy] of policies) {
        const state = dev.stateAfter(k, typeof policy === 'object' ? { ...policy, seed: policy.seed + k } : policy);
        const allowed = allowedGenerations(gens, k);
        const crashed = await openFs([state]);
        const g = crashed.sb.generation;
        expect(allowed, `crash after event ${k} (${pname}): mounted generation ${g}`).toContain(g);
        expect(await listNames(crashed), `crash after event ${k} (${pname}), generation ${g}`).toEqual(gens.get(g)!.names);
        const verdict = await check(crashed);
        expect(verdict.errors, `crash after event ${k} (${pname}), generation ${g}`).toEqual([]);
        if (k % 97 === 0 && pname === 'torn') sampled.push(state);
      }
    }
    // The external judge on a sample of crash states.
    const { dir, cleanup } = await tempDir();
    try {
      for (const [i, s] of sampled.entries()) {
        const img = join(dir, `crash-${i}.img`);
        await saveImage(s, img);
        const r = await btrfsCheck(img);
        expect(r.ok, r.output).toBe(true);
      }
    } finally {
      await cleanup();
    }
  });
});

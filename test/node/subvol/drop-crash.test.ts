// Crash consistency of snapshot creation and deletion: a recorded workload (files; a
// snapshot; changes to both trees; the snapshot deleted and dropped in chunks with a commit
// after each) is cut at every device write, unflushed writes dropped, kept or torn. Every
// crash state mounts to a committed generation, passes our check, keeps the source's and
// (while it exists) the snapshot's exact contents — nothing shared was freed — and a resumed
// drop (resumeDeadRoots) completes to a clean filesystem. Samples go to btrfs check.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { FaultDevice, type UnflushedPolicy } from '../../../src/device/fault.js';
import type { MemoryDevice } from '../../../src/device/memory.js';
import { openFs } from '../../../src/fs/open.js';
import { check } from '../../../src/fs/check.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { snapshotRoot, readFsRoot, findRootItem } from '../../../src/subvol/snapshot.js';
import { dropTree, resumeDeadRoots } from '../../../src/subvol/drop-tree.js';
import { writeFile } from '../../../src/inode/file.js';
import { linkSubvolume, deleteSubvolume } from '../../shared/subvol-links.js';
import { newFs, makeFile, bytes, expectContent, removeName, inoOf } from '../../shared/snap-harness.js';
import { btrfsCheck, saveImage, tempDir } from '../../shared/btrfs-progs.js';
import { allowedGenerations } from '../../shared/crash-generations.js';

const SNAP = 256;

describe('snapshot crash consistency', () => {
  it('every crash point during snapshot creation and deletion mounts clean and the drop completes', async () => {
    const { dev: base, fs: setup } = await newFs({ sizeBytes: 128 * 1024 * 1024 });
    startTransaction(setup);
    const src = new Map<string, Uint8Array>();
    for (let i = 0; i < 60; i++) {
      const d = bytes(i, 2500);
      src.set(`f${i}`, d);
      await makeFile(setup, setup.fsTree, `f${i}`, d);
    }
    await commitTransaction(setup);

    const dev = new FaultDevice(base, { record: true });
    const fs = await openFs([dev]);
    // Per generation: the expected contents (snapshot: undefined once deleted).
    const gens = new Map<number, { src: Map<string, Uint8Array>; snap: Map<string, Uint8Array> | undefined; commitStart: number; commitEnd: number }>();
    gens.set(fs.sb.generation, { src: new Map(src), snap: undefined, commitStart: 0, commitEnd: 0 });
    const commit = async (snapModel: Map<string, Uint8Array> | undefined) => {
      const commitStart = dev.events.length;
      await commitTransaction(fs);
      gens.set(fs.sb.generation, { src: new Map(src), snap: snapModel && new Map(snapModel), commitStart, commitEnd: dev.events.length });
    };

    startTransaction(fs);
    const snap = await snapshotRoot(fs, fs.fsTree, SNAP);
    const idx = await linkSubvolume(fs, snap, 'snap');
    const snapModel = new Map(src);
    await commit(snapModel);

    startTransaction(fs);
    for (let i = 0; i < 60; i += 4) {
      const d = bytes(100 + i, 2500);
      await writeFile(fs, fs.fsTree, (await inoOf(fs, fs.fsTree, `f${i}`))!, 0, d);
      src.set(`f${i}`, d);
    }
    for (let i = 1; i < 60; i += 6) {
      const d = bytes(200 + i, 2500);
      await writeFile(fs, snap, (await inoOf(fs, snap, `f${i}`))!, 0, d);
      snapModel.set(`f${i}`, d);
    }
    await removeName(fs, snap, 'f2');
    snapModel.delete('f2');
    await commit(snapModel);

    startTransaction(fs);
    await deleteSubvolume(fs, snap, 'snap', idx);
    await commit(undefined);
    startTransaction(fs);
    let chunks = 0;
    const r = await dropTree(fs, snap, {
      budget: 2,
      endTransaction: async () => {
        await commit(undefined);
        chunks++;
        startTransaction(fs);
      },
    });
    expect(r).toBe('done');
    await commit(undefined);
    expect(chunks).toBeGreaterThan(3);
    const total = dev.events.length;
    console.log(`snapshot crash suite: ${total} events, ${gens.size} generations, ${chunks} drop chunks`);

    const policies: [string, UnflushedPolicy][] = [['drop', 'none'], ['keep', 'all'], ['torn', { seed: 11, keepProbability: 0.5, tearProbability: 0.3 }]];
    const sampled: MemoryDevice[] = [];
    let resumed = 0;
    // Every crash point is explored, each with one of the three policies in turn (all three at
    // every point tripled the suite's longest test for little more coverage).
    for (let k = 0; k <= total; k++) {
      for (const [pname, policy] of [policies[k % policies.length]]) {
        const state = dev.stateAfter(k, typeof policy === 'object' ? { ...policy, seed: policy.seed + k } : policy);
        const allowed = allowedGenerations(gens, k);
        const what = `crash after event ${k} (${pname})`;
        const crashed = await openFs([state]);
        const g = crashed.sb.generation;
        expect(allowed, `${what}: mounted generation`).toContain(g);
        const want = gens.get(g)!;
        expect((await check(crashed)).errors, `${what}, generation ${g}`).toEqual([]);
        await expectContent(crashed, crashed.fsTree, want.src, `${what}: source`);
        const item = await findRootItem(crashed, SNAP);
        if (want.snap) await expectContent(crashed, await readFsRoot(crashed, SNAP), want.snap, `${what}: snapshot`);
        else if (item) {
          // Deleted, maybe partly dropped: the cleaner finishes it.
          expect(item.item.refs, `${what}: dead root refs`).toBe(0);
          startTransaction(crashed);
          expect(await resumeDeadRoots(crashed, { budget: 16 }), what).toEqual([SNAP]);
          await commitTransaction(crashed);
          expect((await check(crashed)).errors, `${what}: after the resumed drop`).toEqual([]);
          await expectContent(crashed, crashed.fsTree, want.src, `${what}: source after the resumed drop`);
          expect(await findRootItem(crashed, SNAP), what).toBeUndefined();
          resumed++;
        }
        if (k % 41 === 2 && pname === 'torn') sampled.push(state);
      }
    }
    expect(resumed).toBeGreaterThan(0);
    const { dir, cleanup } = await tempDir();
    try {
      for (const [i, s] of sampled.entries()) {
        const img = join(dir, `crash-${i}.img`);
        await saveImage(s, img);
        const res = await btrfsCheck(img, { dataCsum: true });
        expect(res.ok, res.output).toBe(true);
      }
    } finally {
      await cleanup();
    }
  }, 900_000);
});

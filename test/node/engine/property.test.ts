// Model-based property test of the whole engine: random inserts, deletes, updates and lookups
// in a tree against a sorted Map, with commits and remounts in between, then a full compare.
// The seed is in every failure message; BUTTERFS_SEED=<n> replays one.
import { describe, expect, it } from 'vitest';
import { MemoryDevice } from '../../../src/device/memory.js';
import { mulberry32 } from '../../../src/device/fault.js';
import { mkfs } from '../../../src/fs/mkfs.js';
import { openFs } from '../../../src/fs/open.js';
import type { FsInfo } from '../../../src/fs/fs-info.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { upsertItem } from '../../../src/fs/items.js';
import { deleteItem, insertItem, iterItems, lookup } from '../../../src/tree/ctree.js';
import { Key, compareKeys } from '../../../src/format/key.js';

const MiB = 1024 * 1024;
const TYPES = [1, 12, 84, 96, 108];

function keyId(k: Key): string {
  return `${k.objHi}:${k.objLo}:${k.type}:${k.offHi}:${k.offLo}`;
}

async function compareAll(fs: FsInfo, model: Map<string, { key: Key; data: Uint8Array }>, seed: number, when: string): Promise<void> {
  const want = [...model.values()].sort((a, b) => compareKeys(a.key, b.key));
  let i = 0;
  for await (const it of iterItems(fs, fs.fsTree, Key.MIN, Key.MAX)) {
    if (it.key.objectid < 1000) continue; // the root directory's items from mkfs
    const w = want[i++];
    expect(w, `seed ${seed} ${when}: extra item ${it.key}`).toBeDefined();
    expect(it.key.equals(w.key), `seed ${seed} ${when}: key ${it.key} where ${w.key} was expected`).toBe(true);
    expect(Buffer.from(it.data).equals(Buffer.from(w.data)), `seed ${seed} ${when}: data of ${it.key}`).toBe(true);
  }
  expect(i, `seed ${seed} ${when}: item count`).toBe(want.length);
}

async function runModel(seed: number, nodesize: number, ops: number): Promise<void> {
  const rand = mulberry32(seed);
  const dev = new MemoryDevice(256 * MiB);
  await mkfs([dev], { nodesize });
  let fs = await openFs([dev]);
  const model = new Map<string, { key: Key; data: Uint8Array }>();
  const randomData = () => {
    const n = rand() < 0.1 ? Math.floor(rand() * Math.min(1500, nodesize / 3)) : Math.floor(rand() * 80);
    const d = new Uint8Array(n);
    for (let i = 0; i < n; i++) d[i] = (rand() * 256) | 0;
    return d;
  };
  const randomKey = () => Key.of(1000 + Math.floor(rand() * 3000), TYPES[Math.floor(rand() * TYPES.length)], Math.floor(rand() * 64));
  startTransaction(fs);
  for (let op = 1; op <= ops; op++) {
    const r = rand();
    const keys = model.size > 0 && rand() < 0.6 ? [...model.values()] : undefined;
    const existing = keys ? keys[Math.floor(rand() * keys.length)].key : undefined;
    if (r < 0.45) {
      const k = randomKey();
      const d = randomData();
      if (model.has(keyId(k))) {
        await expect(insertItem(fs, fs.fsTree, k, d), `seed ${seed} op ${op}`).rejects.toMatchObject({ code: 'EEXIST' });
      } else {
        await insertItem(fs, fs.fsTree, k, d);
        model.set(keyId(k), { key: k, data: d });
      }
    } else if (r < 0.7) {
      const k = existing ?? randomKey();
      if (model.has(keyId(k))) {
        await deleteItem(fs, fs.fsTree, k);
        model.delete(keyId(k));
      } else {
        await expect(deleteItem(fs, fs.fsTree, k), `seed ${seed} op ${op}`).rejects.toMatchObject({ code: 'ENOENT' });
      }
    } else if (r < 0.85) {
      const k = existing ?? randomKey();
      const d = randomData();
      await upsertItem(fs, fs.fsTree, k, d);
      model.set(keyId(k), { key: k, data: d });
    } else {
      const k = existing ?? randomKey();
      const got = await lookup(fs, fs.fsTree, k);
      const want = model.get(keyId(k));
      if (!want) expect(got, `seed ${seed} op ${op}: ${k} should be absent`).toBeUndefined();
      else expect(got && Buffer.from(got).equals(Buffer.from(want.data)), `seed ${seed} op ${op}: lookup ${k}`).toBe(true);
    }
    if (op % 2500 === 0) {
      await commitTransaction(fs);
      if (op % 10000 === 0) {
        fs = await openFs([dev]);
        await compareAll(fs, model, seed, `after remount at op ${op}`);
      }
      startTransaction(fs);
    }
  }
  await commitTransaction(fs);
  fs = await openFs([dev]);
  await compareAll(fs, model, seed, 'at the end');
}

describe('engine model test', () => {
  const fixed = process.env.BUTTERFS_SEED ? Number(process.env.BUTTERFS_SEED) : undefined;
  it(`80k operations, nodesize 16384, seed ${fixed ?? 0xb7f5}`, async () => {
    await runModel(fixed ?? 0xb7f5, 16384, 80_000);
  }, 120_000);
  it(`25k operations, nodesize 4096, seed ${fixed ?? 0xa11ce}`, async () => {
    await runModel(fixed ?? 0xa11ce, 4096, 25_000);
  }, 120_000);
});

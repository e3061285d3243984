// Model-based test of the COW B-tree: random inserts (single, batched and deferred), deletes (single
// and several slots at once), extends, truncates from either end, lookups and range
// iterations, checked op by op against a Map model, with "commits" (transid bumps) in
// between after which the whole tree is verified (keys sorted across leaves, parent keys =
// child first keys, ptr generations = child generations, levels, no leaked blocks, no
// written block modified) and compared item by item with the model.
//
// Each run is one seed of a mulberry32 PRNG; the seed is in every failure message, and
// BUTTERFS_TREE_SEED=<n> replays one seed alone.
import { describe, expect, it } from 'vitest';
import { ItemType } from '../../../src/format/constants.js';
import { Key, compareKeys } from '../../../src/format/key.js';
import {
  deleteItem,
  deleteItems,
  extendItem,
  flushDeferred,
  insertDeferred,
  insertEmptyItems,
  insertItem,
  iterItems,
  lookup,
  searchSlot,
  truncateItem,
} from '../../../src/tree/ctree.js';
import { maxItemSize } from '../../../src/tree/extent-buffer.js';
import type { TreeRoot } from '../../../src/tree/tree-host.js';
import { FsError } from '../../../src/util/errors.js';
import { MemoryTreeHost, verifyTree } from '../../shared/memory-tree-host.js';
import { mulberry32 } from '../../shared/rng.js';


const id = (k: Key): string => `${k.objHi}.${k.objLo}.${k.type}.${k.offHi}.${k.offLo}`;

/** The model: key -> data, plus an array of keys for uniform random picks. */
class Model {
  readonly items = new Map<string, { key: Key; data: Uint8Array }>();
  private readonly list: string[] = [];
  private readonly index = new Map<string, number>();

  get size(): number {
    return this.items.size;
  }
  has(k: Key): boolean {
    return this.items.has(id(k));
  }
  get(k: Key): Uint8Array | undefined {
    return this.items.get(id(k))?.data;
  }
  set(k: Key, data: Uint8Array): void {
    const s = id(k);
    if (!this.items.has(s)) {
      this.index.set(s, this.list.length);
      this.list.push(s);
    }
    this.items.set(s, { key: k, data });
  }
  delete(k: Key): void {
    const s = id(k);
    const i = this.index.get(s);
    if (i === undefined) throw new Error(`model has no ${k}`);
    const last = this.list.pop()!;
    if (last !== s) {
      this.list[i] = last;
      this.index.set(last, i);
    }
    this.index.delete(s);
    this.items.delete(s);
  }
  pick(rand: () => number): Key | undefined {
    if (this.list.length === 0) return undefined;
    return this.items.get(this.list[Math.floor(rand() * this.list.length)])!.key;
  }
  /** Whether some key k' with a < k' <= b exists. */
  anyBetween(a: Key, b: Key): boolean {
    for (const { key } of this.items.values()) if (compareKeys(key, a) > 0 && compareKeys(key, b) <= 0) return true;
    return false;
  }
  range(min: Key, max: Key): { key: Key; data: Uint8Array }[] {
    const out = [...this.items.values()].filter(({ key }) => compareKeys(key, min) >= 0 && compareKeys(key, max) <= 0);
    return out.sort((x, y) => compareKeys(x.key, y.key));
  }
  sorted(): { key: Key; data: Uint8Array }[] {
    return [...this.items.values()].sort((x, y) => compareKeys(x.key, y.key));
  }
}

const TYPES = [ItemType.INODE_ITEM, ItemType.INODE_REF, ItemType.DIR_ITEM, ItemType.DIR_INDEX, ItemType.EXTENT_DATA, ItemType.EXTENT_CSUM, 0, 255];

interface RunConfig {
  seed: number;
  nodesize: number;
  ops: number;
  /** Upper bound on the number of items the workload aims for (grows, churns, shrinks). */
  targetItems: number;
  cache: boolean;
}

interface RunResult {
  maxLevels: number;
  commits: number;
  ops: number;
}

async function run(cfg: RunConfig): Promise<RunResult> {
  const { seed, nodesize } = cfg;
  const rand = mulberry32(seed);
  const int = (n: number): number => Math.floor(rand() * n);
  const u32 = (): number => Math.floor(rand() * 0x1_0000_0000) >>> 0;
  const host = new MemoryTreeHost(nodesize, { cache: cfg.cache });
  const root: TreeRoot = host.createTree(5);
  const model = new Model();
  const maxItem = maxItemSize(nodesize);
  const ctx = (op: number, what: string): string => `seed ${seed} nodesize ${nodesize} op ${op}: ${what}`;
  let maxLevels = 1;
  let commits = 0;

  const randomKey = (): Key => {
    const r = rand();
    const type = TYPES[int(TYPES.length)];
    if (r < 0.55) return Key.of(256 + int(4000), type, int(64) * 4096 + int(3));
    if (r < 0.7) return Key.of(-10, ItemType.EXTENT_CSUM, int(1 << 30) * 4096); // csum items near 2^64
    if (r < 0.8) return Key.of(-1 - int(12), type, -1 - int(1000)); // both halves near 2^64
    return new Key(u32(), u32(), type, u32(), u32()); // any 64-bit pattern
  };
  const randomSize = (): number => {
    const r = rand();
    if (r < 0.6) return int(40);
    if (r < 0.9) return int(400);
    if (r < 0.98) return int(Math.floor(maxItem / 3));
    return maxItem - int(50);
  };
  const randomData = (n: number): Uint8Array => {
    const d = new Uint8Array(n);
    for (let i = 0; i < n; i++) d[i] = int(256);
    return d;
  };
  const expectErr = async (p: Promise<unknown> | (() => unknown), code: string, what: string): Promise<void> => {
    let err: unknown;
    try {
      await (typeof p === 'function' ? p() : p);
    } catch (e) {
      err = e;
    }
    if (!(err instanceof FsError) || err.code !== code) throw new Error(ctx(-1, `${what}: expected ${code}, got ${String(err)}`));
  };

  const verifyAll = async (op: number): Promise<void> => {
    let stats;
    try {
      stats = verifyTree(host, root, { collectKeys: true });
      host.checkWrittenImages();
    } catch (e) {
      throw new Error(ctx(op, (e as Error).message));
    }
    maxLevels = Math.max(maxLevels, stats.levels);
    const want = model.sorted();
    if (stats.items !== want.length) throw new Error(ctx(op, `tree has ${stats.items} items, model ${want.length}`));
    let i = 0;
    for await (const it of iterItems(host, root, Key.MIN, Key.MAX)) {
      const w = want[i++];
      if (!it.key.equals(w.key)) throw new Error(ctx(op, `item ${i - 1}: tree key ${it.key}, model ${w.key}`));
      if (!Buffer.from(it.data).equals(w.data)) throw new Error(ctx(op, `item ${it.key}: data differs`));
    }
    if (i !== want.length) throw new Error(ctx(op, `iteration gave ${i} items, model ${want.length}`));
  };

  let nextCommit = 50 + int(800);
  for (let op = 0; op < cfg.ops; op++) {
    // Phases: grow to the target, churn around it, shrink to nothing at the end.
    const phase = op / cfg.ops;
    const shrinking = phase > 0.8;
    const full = model.size >= cfg.targetItems;
    const pInsert = shrinking ? 0.15 : full ? 0.3 : 0.55;
    const r = rand();
    try {
      if (r < pInsert) {
        if (rand() < 0.08) {
          // Batch of consecutive offsets for one (objectid, type).
          const base = Key.of(256 + int(4000), TYPES[int(TYPES.length)], int(1 << 20) * 8);
          const n = 2 + int(4);
          const keys = Array.from({ length: n }, (_, i) => base.withOffset(base.offset + i));
          const sizes = keys.map(() => int(60));
          const clash = keys.some((k) => model.has(k)) || model.anyBetween(keys[0], keys[n - 1]);
          if (clash) {
            await expectErr(insertEmptyItems(host, root, keys, sizes), 'EEXIST', `batch at ${keys[0]}`);
          } else {
            const path = await insertEmptyItems(host, root, keys, sizes);
            for (let i = 0; i < n; i++) {
              const data = randomData(sizes[i]);
              // All of a batch lands in one leaf, in order, from the returned slot.
              const leaf = path.leaf;
              const slot = path.slots[0] + i;
              if (!leaf.key(slot).equals(keys[i])) throw new Error(ctx(op, `batch item ${i} not at slot ${slot}`));
              leaf.data.set(data, leaf.itemPtr(slot));
              model.set(keys[i], data);
            }
          }
        } else if (rand() < 0.1) {
          // Deferred inserts of new keys (btrfs delayed items): a burst, often of neighbours in
          // one objectid with existing keys between them, that the next search (any op below)
          // or the commit puts into the tree a leaf at a time.
          const obj = 256 + int(4000);
          const n = 1 + int(rand() < 0.3 ? 60 : 6);
          for (let i = 0; i < n; i++) {
            const key = rand() < 0.7 ? Key.of(obj, TYPES[int(TYPES.length)], int(64) * 4096 + int(3)) : randomKey();
            const data = randomData(randomSize());
            if (model.has(key)) {
              // Callers defer only keys new for certain; a key still queued is caught at once.
              const queued = [...(root.deferred?.values() ?? [])].some((d) => d.key.equals(key));
              if (queued) await expectErr(() => insertDeferred(host, root, key, data.slice()), 'EEXIST', `second deferred insert of ${key}`);
              continue;
            }
            insertDeferred(host, root, key, data.slice());
            model.set(key, data);
            // An exact lookup answers from the queue, without putting it into the tree.
            if (rand() < 0.2) {
              const got = await lookup(host, root, key);
              if (!got || !Buffer.from(got).equals(data)) throw new Error(ctx(op, `lookup of deferred ${key}`));
              if ((root.deferred?.size ?? 0) === 0) throw new Error(ctx(op, `lookup of deferred ${key} flushed the queue`));
            }
          }
        } else {
          const dup = rand() < 0.05 ? model.pick(rand) : undefined;
          const key = dup ?? randomKey();
          const data = randomData(randomSize());
          if (model.has(key)) {
            await expectErr(insertItem(host, root, key, data), 'EEXIST', `insert ${key}`);
          } else {
            await insertItem(host, root, key, data);
            model.set(key, data);
          }
        }
      } else if (r < pInsert + 0.25) {
        if (rand() < 0.1) {
          // deleteItems over several slots of one leaf.
          const key = model.pick(rand) ?? randomKey();
          const { found, path } = await searchSlot(host, root, key, { insLen: -1, cow: true });
          const leaf = path.leaf;
          const slot = path.slots[0];
          if (found !== model.has(key)) throw new Error(ctx(op, `search ${key} found=${found}`));
          if (slot < leaf.nritems) {
            const nr = 1 + int(Math.min(6, leaf.nritems - slot));
            const gone: Key[] = [];
            for (let i = 0; i < nr; i++) gone.push(leaf.key(slot + i));
            await deleteItems(host, path, slot, nr);
            for (const k of gone) model.delete(k);
          }
        } else if (rand() < 0.05 || model.size === 0) {
          const key = randomKey();
          if (!model.has(key)) await expectErr(deleteItem(host, root, key), 'ENOENT', `delete ${key}`);
        } else {
          const key = model.pick(rand)!;
          await deleteItem(host, root, key);
          model.delete(key);
        }
      } else if (r < pInsert + 0.35) {
        // Extend an item.
        const key = model.pick(rand);
        if (key) {
          const old = model.get(key)!;
          const extra = rand() < 0.1 ? Math.max(1, maxItem - old.length + 1 - int(3)) : 1 + int(300);
          if (old.length + extra > maxItem) {
            await expectErr(async () => {
              const { path } = await searchSlot(host, root, key, { insLen: extra, cow: true });
              extendItem(host, path, extra);
            }, 'EOVERFLOW', `extend ${key} by ${extra}`);
          } else {
            const { found, path } = await searchSlot(host, root, key, { insLen: extra, cow: true });
            if (!found) throw new Error(ctx(op, `extend: ${key} not found`));
            extendItem(host, path, extra);
            const tail = randomData(extra);
            const leaf = path.leaf;
            leaf.data.set(tail, leaf.itemPtr(path.slots[0]) + old.length);
            const data = new Uint8Array(old.length + extra);
            data.set(old);
            data.set(tail, old.length);
            model.set(key, data);
          }
        }
      } else if (r < pInsert + 0.45) {
        // Truncate an item from the end or from the front.
        const key = model.pick(rand);
        const old = key && model.get(key)!;
        if (key && old && old.length > 0) {
          const newSize = int(old.length);
          const diff = old.length - newSize;
          const fromEnd = rand() < 0.5;
          if (fromEnd) {
            const { path } = await searchSlot(host, root, key, { insLen: -1, cow: true });
            truncateItem(host, path, newSize, true);
            model.set(key, old.slice(0, newSize));
          } else {
            // Keep the end: the key offset grows by the cut, and must stay below the next key.
            const lo = key.offLo + diff;
            const hi = key.offHi + (lo >= 0x1_0000_0000 ? 1 : 0);
            if (hi <= 0xffff_ffff) {
              const newKey = new Key(key.objHi, key.objLo, key.type, hi, lo >>> 0);
              if (!model.anyBetween(key, newKey)) {
                const { path } = await searchSlot(host, root, key, { insLen: -1, cow: true });
                truncateItem(host, path, newSize, false);
                const data = old.slice(diff);
                if (key.type === ItemType.EXTENT_DATA && newSize >= 21 && old[20] === 0) data.set(old.subarray(0, 21));
                model.delete(key);
                model.set(newKey, data);
              }
            }
          }
        }
      } else if (r < pInsert + 0.58) {
        // Lookup of an existing or a random key.
        const key = rand() < 0.7 ? model.pick(rand) ?? randomKey() : randomKey();
        const got = await lookup(host, root, key);
        const want = model.get(key);
        if ((got === undefined) !== (want === undefined) || (got && !Buffer.from(got).equals(want!))) {
          throw new Error(ctx(op, `lookup ${key}: tree ${got?.length ?? 'none'} bytes, model ${want?.length ?? 'none'}`));
        }
      } else if (r < pInsert + 0.6) {
        // Range iteration around an existing key.
        const a = model.pick(rand) ?? randomKey();
        const b = rand() < 0.5 ? new Key(a.objHi, a.objLo, 255, 0xffff_ffff, 0xffff_ffff) : (model.pick(rand) ?? a);
        const [min, max] = compareKeys(a, b) <= 0 ? [a, b] : [b, a];
        const want = model.range(min, max);
        let i = 0;
        for await (const it of iterItems(host, root, min, max)) {
          const w = want[i++];
          if (!w || !it.key.equals(w.key) || !Buffer.from(it.data).equals(w.data)) {
            throw new Error(ctx(op, `range ${min}..${max}: item ${i - 1} tree ${it.key}, model ${w?.key}`));
          }
        }
        if (i !== want.length) throw new Error(ctx(op, `range ${min}..${max}: ${i} items, model ${want.length}`));
      }
    } catch (e) {
      if (e instanceof Error && e.message.startsWith('seed ')) throw e;
      throw new Error(ctx(op, `unexpected error: ${(e as Error).stack ?? String(e)}`));
    }

    if (op === nextCommit || op === cfg.ops - 1) {
      await flushDeferred(host, root);
      host.commit();
      commits++;
      await verifyAll(op);
      nextCommit = op + 1 + int(1200);
    }
  }

  // Empty the tree completely: it must end as one empty leaf with nothing leaked.
  for (const { key } of model.sorted().reverse()) {
    await deleteItem(host, root, key);
    model.delete(key);
  }
  host.commit();
  await verifyAll(cfg.ops);
  if (root.node.level !== 0 || root.node.nritems !== 0 || host.live.size !== 1) {
    throw new Error(ctx(cfg.ops, `emptied tree is level ${root.node.level} with ${root.node.nritems} items, ${host.live.size} live blocks`));
  }
  return { maxLevels, commits, ops: cfg.ops };
}

const ONE = process.env.BUTTERFS_TREE_SEED;

describe('ctree model-based', () => {
  const runs: RunConfig[] = ONE
    ? [
      { seed: Number(ONE), nodesize: 4096, ops: 40_000, targetItems: 6000, cache: false },
      { seed: Number(ONE), nodesize: 16384, ops: 40_000, targetItems: 6000, cache: false },
    ]
    : [
      // Small blocks: deep trees. Every read is verified (no cache) in half of the runs.
      { seed: 0x5eed0001, nodesize: 4096, ops: 30_000, targetItems: 7000, cache: true },
      { seed: 0x5eed0002, nodesize: 4096, ops: 20_000, targetItems: 2500, cache: false },
      { seed: 0x5eed0003, nodesize: 4096, ops: 15_000, targetItems: 400, cache: false },
      { seed: 0x5eed0004, nodesize: 16384, ops: 25_000, targetItems: 8000, cache: true },
      { seed: 0x5eed0005, nodesize: 16384, ops: 15_000, targetItems: 1500, cache: false },
    ];
  let total = 0;
  for (const cfg of runs) {
    it(`seed ${cfg.seed.toString(16)} nodesize ${cfg.nodesize}: ${cfg.ops} ops against a Map model`, async () => {
      const res = await run(cfg);
      total += res.ops;
      expect(res.commits, `seed ${cfg.seed}`).toBeGreaterThan(5);
      if (cfg.nodesize === 4096 && cfg.targetItems >= 2500) expect(res.maxLevels, `seed ${cfg.seed}: depth`).toBeGreaterThanOrEqual(3);
    });
  }
  it('ran at least 100k operations in total', () => {
    if (!ONE) expect(total).toBeGreaterThanOrEqual(100_000);
  });
});

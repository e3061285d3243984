// Targeted tests of the COW B-tree (src/tree/ctree.ts): splits at every position, pushes to
// both sides, growth and shrinking, deleting everything, item resize at leaf-full
// boundaries, EEXIST / ENOENT / EOVERFLOW, maximum item size, walking leaves both ways.
import { describe, expect, it } from 'vitest';
import { ItemType, MAX_LEVEL } from '../../../src/format/constants.js';
import { Key, compareKeys } from '../../../src/format/key.js';
import {
  deleteItem,
  deleteItems,
  duplicateItem,
  extendItem,
  insertEmptyItems,
  insertItem,
  iterItems,
  lookup,
  nextLeaf,
  nextLeafKey,
  prevLeaf,
  replaceLeafItems,
  searchSlot,
  setItemKeySafe,
  truncateItem,
} from '../../../src/tree/ctree.js';
import { ExtentBuffer, ITEM_SIZE, leafDataSize, maxItemSize, nodePtrsPerBlock } from '../../../src/tree/extent-buffer.js';
import type { TreeRoot } from '../../../src/tree/tree-host.js';
import { FsError } from '../../../src/util/errors.js';
import { MemoryTreeHost, verifyTree } from '../../shared/memory-tree-host.js';

const TREE = 5;

function fill(n: number, seed: number): Uint8Array {
  const d = new Uint8Array(n);
  for (let i = 0; i < n; i++) d[i] = (seed * 31 + i * 7) & 0xff;
  return d;
}

function k(obj: number, off = 0, type: number = ItemType.INODE_ITEM): Key {
  return Key.of(obj, type, off);
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${code}`).toBeInstanceOf(FsError);
  expect((err as FsError).code).toBe(code);
}

async function allItems(host: MemoryTreeHost, root: TreeRoot): Promise<[Key, Uint8Array][]> {
  const out: [Key, Uint8Array][] = [];
  for await (const it of iterItems(host, root, Key.MIN, Key.MAX)) out.push([it.key, it.data.slice()]);
  return out;
}

/** Inserts items into a leaf root until it is exactly full (free space 0) or nearly. */
async function fillRootLeaf(host: MemoryTreeHost, root: TreeRoot, itemData: number, startObj = 1000, step = 10): Promise<Key[]> {
  const keys: Key[] = [];
  let obj = startObj;
  while (root.node.level === 0 && root.node.leafFreeSpace() >= itemData + ITEM_SIZE) {
    const key = k(obj);
    await insertItem(host, root, key, fill(itemData, obj));
    keys.push(key);
    obj += step;
  }
  return keys;
}

describe('ctree basics', () => {
  it('inserts, looks up, and refuses duplicates with EEXIST', async () => {
    const host = new MemoryTreeHost(4096);
    const root = host.createTree(TREE);
    await insertItem(host, root, k(5), fill(10, 5));
    await insertItem(host, root, k(3), fill(3, 3));
    await insertItem(host, root, k(9), new Uint8Array(0));
    expect(await lookup(host, root, k(5))).toEqual(fill(10, 5));
    expect(await lookup(host, root, k(9))).toEqual(new Uint8Array(0));
    expect(await lookup(host, root, k(4))).toBeUndefined();
    await expectCode(insertItem(host, root, k(3), fill(1, 1)), 'EEXIST');
    // A duplicate whose size could never be added to the existing item still says EEXIST.
    await expectCode(insertItem(host, root, k(3), fill(maxItemSize(4096), 1)), 'EEXIST');
    expect((await allItems(host, root)).map(([key]) => key.objectid)).toEqual([3, 5, 9]);
    verifyTree(host, root);
  });

  it('refuses items above the maximum item size and accepts exactly the maximum', async () => {
    for (const nodesize of [4096, 16384]) {
      const host = new MemoryTreeHost(nodesize);
      const root = host.createTree(TREE);
      const max = maxItemSize(nodesize);
      await expectCode(insertItem(host, root, k(1), new Uint8Array(max + 1)), 'EOVERFLOW');
      // Neighbours on both sides force the max-size item into a leaf of its own.
      await insertItem(host, root, k(0), fill(100, 0));
      await insertItem(host, root, k(2), fill(100, 2));
      await insertItem(host, root, k(1), fill(max, 1));
      expect(await lookup(host, root, k(1))).toEqual(fill(max, 1));
      verifyTree(host, root);
      await expectCode(insertEmptyItems(host, root, [k(10), k(11)], [max, 1]), 'EOVERFLOW');
      await expectCode(insertEmptyItems(host, root, [k(11), k(10)], [1, 1]), 'EINVAL');
      // Growing the max-size item by one byte is refused before anything changes.
      const { path } = await searchSlot(host, root, k(1), { insLen: 0, cow: true });
      expect(() => extendItem(host, path, 1)).toThrow(/EOVERFLOW/);
      await expectCode(searchSlot(host, root, k(1), { insLen: 1, cow: true }).then((r) => r.found && extendItem(host, r.path, 1)), 'EOVERFLOW');
      verifyTree(host, root);
    }
  });

  it('keeps u64 keys near 2^64 and full 64-bit halves in unsigned order', async () => {
    const host = new MemoryTreeHost(4096);
    const root = host.createTree(TREE);
    const keys = [
      Key.of(-10, 128, 4096),
      Key.of(-1, 255, -1),
      new Key(0x8000_0000, 0, 1, 0xffff_ffff, 0xffff_fffe),
      new Key(0x7fff_ffff, 0xffff_ffff, 1, 0, 0),
      Key.of(0, 0, 0),
      Key.of(256, 1, 0),
      new Key(0xffff_fff5, 0xffff_ffff, 0, 0, 1),
    ];
    for (const [i, key] of keys.entries()) await insertItem(host, root, key, fill(i + 1, i));
    const got = (await allItems(host, root)).map(([key]) => key);
    const want = [...keys].sort(compareKeys);
    expect(got.map(String)).toEqual(want.map(String));
    for (const [i, key] of keys.entries()) expect(await lookup(host, root, key)).toEqual(fill(i + 1, i));
    verifyTree(host, root);
  });

  it('batch inserts fill consecutive slots and refuse a batch straddling an existing key', async () => {
    const host = new MemoryTreeHost(4096);
    const root = host.createTree(TREE);
    await insertItem(host, root, k(10), fill(4, 10));
    await insertItem(host, root, k(20), fill(4, 20));
    const path = await insertEmptyItems(host, root, [k(12), k(13), k(14)], [1, 2, 3]);
    expect(path.leaf.key(path.slots[0]).objectid).toBe(12);
    expect(path.leaf.itemSize(path.slots[0] + 2)).toBe(3);
    expect(path.leaf.itemData(path.slots[0] + 1)).toEqual(new Uint8Array(2)); // zeroed
    await expectCode(insertEmptyItems(host, root, [k(15), k(20), k(25)], [1, 1, 1]), 'EEXIST');
    await expectCode(insertEmptyItems(host, root, [k(15), k(25)], [1, 1]), 'EEXIST');
    expect((await allItems(host, root)).map(([key]) => key.objectid)).toEqual([10, 12, 13, 14, 20]);
    verifyTree(host, root);
  });

  it('deleteItem says ENOENT for a missing key and COW needs a transaction', async () => {
    const host = new MemoryTreeHost(4096);
    const root = host.createTree(TREE);
    await insertItem(host, root, k(1), fill(4, 1));
    await expectCode(deleteItem(host, root, k(2)), 'ENOENT');
    host.commit();
    host.transid = 0; // read-only
    expect(await lookup(host, root, k(1))).toEqual(fill(4, 1));
    await expectCode(insertItem(host, root, k(3), fill(1, 1)), 'EROFS');
  });
});

describe('leaf splits', () => {
  // A full leaf root of equal items, then one insert at every position: each split must
  // land the new item where it belongs and keep everything else.
  for (const nodesize of [4096, 16384]) {
    for (const itemData of [0, 40, 300]) {
      it(`splits a full leaf at every position (nodesize ${nodesize}, items of ${itemData} bytes)`, async () => {
        const probe = new MemoryTreeHost(nodesize);
        const probeRoot = probe.createTree(TREE);
        const n = (await fillRootLeaf(probe, probeRoot, itemData)).length;
        for (let pos = 0; pos <= n; pos++) {
          const host = new MemoryTreeHost(nodesize);
          const root = host.createTree(TREE);
          const keys = await fillRootLeaf(host, root, itemData);
          expect(root.node.level).toBe(0);
          host.commit();
          const obj = 1000 + pos * 10 - 5; // before item pos (or after the last one)
          const bigger = itemData + 17;
          await insertItem(host, root, k(obj), fill(bigger, obj));
          const stats = verifyTree(host, root, { collectKeys: true });
          expect(stats.items).toBe(keys.length + 1);
          expect(root.node.level).toBe(1);
          expect(await lookup(host, root, k(obj))).toEqual(fill(bigger, obj));
          expect(await lookup(host, root, keys[0])).toEqual(fill(itemData, 1000));
          expect(await lookup(host, root, keys[keys.length - 1])).toEqual(fill(itemData, 1000 + (keys.length - 1) * 10));
          host.commit();
          host.checkWrittenImages();
        }
      });
    }
  }

  it('makes a leaf of its own for a large item at either end (split 0) and double splits in the middle', async () => {
    for (const nodesize of [4096, 16384]) {
      const max = maxItemSize(nodesize);
      for (const where of ['first', 'last', 'middle']) {
        const host = new MemoryTreeHost(nodesize);
        const root = host.createTree(TREE);
        const keys = await fillRootLeaf(host, root, 60);
        host.commit();
        const obj = where === 'first' ? 1 : where === 'last' ? 1_000_000 : 1000 + Math.floor(keys.length / 2) * 10 + 5;
        await insertItem(host, root, k(obj), fill(max, obj));
        verifyTree(host, root);
        expect(await lookup(host, root, k(obj))).toEqual(fill(max, obj));
        // The big item sits alone in its leaf.
        const { path } = await searchSlot(host, root, k(obj));
        expect(path.leaf.nritems).toBe(1);
        expect(path.leaf.leafFreeSpace()).toBe(0);
      }
    }
  });
});

describe('pushes', () => {
  /** Builds a level-1 tree with leaves of known content and returns it. */
  async function twoLeaves(nodesize: number): Promise<{ host: MemoryTreeHost; root: TreeRoot; keys: Key[] }> {
    const host = new MemoryTreeHost(nodesize);
    const root = host.createTree(TREE);
    const keys: Key[] = [];
    for (let i = 0; root.node.level === 0 || keys.length < 200; i++) {
      const key = k(1000 + i * 10);
      await insertItem(host, root, key, fill(50, i));
      keys.push(key);
    }
    host.commit();
    return { host, root, keys };
  }

  it('pushes items left and right instead of splitting when siblings have room', async () => {
    const { host, root } = await twoLeaves(4096);
    const before = verifyTree(host, root);
    // Empty some room in every leaf by deleting from the middle of each one.
    const items = await allItems(host, root);
    for (let i = 0; i < items.length; i += 3) await deleteItem(host, root, items[i][0]);
    host.commit();
    const mid = verifyTree(host, root);
    expect(mid.leaves).toBeLessThanOrEqual(before.leaves);
    // Now fill back between existing keys: pushes must absorb a good part of it.
    const allocatedBefore = host.allocated;
    for (let i = 0; i < items.length; i += 3) await insertItem(host, root, items[i][0], items[i][1]);
    verifyTree(host, root);
    expect(await allItems(host, root)).toEqual(items);
    // Without pushes every refill would cost new leaves; COW of each touched block is all we pay.
    expect(host.allocated - allocatedBefore).toBeLessThan(before.leaves * 3 + 10);
  });

  it('merges a leaf into its left neighbour when deletes leave it under a third full', async () => {
    const { host, root } = await twoLeaves(4096);
    const before = verifyTree(host, root);
    expect(before.leaves).toBeGreaterThanOrEqual(3);
    // Sequential appends leave left leaves full (split_leaf pushes left first): make room in
    // the second leaf, then empty most of the third one.
    const leafKeys = async (n: number): Promise<{ bytenr: number; keys: Key[] }> => {
      const { path } = await searchSlot(host, root, Key.MIN);
      for (let i = 0; i < n; i++) expect(await nextLeaf(host, root, path)).toBe(true);
      const keys: Key[] = [];
      for (let i = 0; i < path.leaf.nritems; i++) keys.push(path.leaf.key(i));
      return { bytenr: path.leaf.bytenr, keys };
    };
    const second = await leafKeys(1);
    for (const key of second.keys.slice(1, Math.floor(second.keys.length / 2) + 1)) await deleteItem(host, root, key);
    host.commit();
    const third = await leafKeys(2);
    const mid = verifyTree(host, root);
    for (const key of third.keys.slice(0, Math.floor(third.keys.length * 0.75))) await deleteItem(host, root, key);
    const after = verifyTree(host, root);
    expect(after.leaves).toBe(mid.leaves - 1);
    expect(host.live.has(third.bytenr)).toBe(false);
    expect(after.items).toBe(mid.items - Math.floor(third.keys.length * 0.75));
  });
});

describe('growth and shrinking', () => {
  it('grows to several levels with a small nodesize, then shrinks back to one empty leaf', async () => {
    // Items of half a leaf or more sit one per leaf: level 3 comes quickly with 4 KiB blocks.
    const host = new MemoryTreeHost(4096, { cache: true });
    const root = host.createTree(TREE);
    const size = 2000;
    const keys: Key[] = [];
    let i = 0;
    while (root.node.level < 3) {
      // Interleaved order: appends and inserts in the middle.
      const obj = (i * 7919) % 1_000_003;
      const key = k(obj, i);
      await insertItem(host, root, key, fill(size, i));
      keys.push(key);
      i++;
      if (i % 1000 === 0) {
        host.commit();
        verifyTree(host, root);
      }
      expect(i).toBeLessThan(100_000);
    }
    host.commit();
    const grown = verifyTree(host, root);
    expect(grown.levels).toBe(4);
    expect(grown.levels).toBeLessThanOrEqual(MAX_LEVEL);
    // Delete all, in an order unrelated to insertion.
    keys.sort((a, b) => (a.offset * 2654435761) % 1013 - (b.offset * 2654435761) % 1013 || compareKeys(a, b));
    for (const [j, key] of keys.entries()) {
      await deleteItem(host, root, key);
      if (j % 1000 === 0) {
        host.commit();
        verifyTree(host, root);
      }
    }
    host.commit();
    const end = verifyTree(host, root);
    expect(end.items).toBe(0);
    expect(root.node.level).toBe(0);
    expect(root.node.nritems).toBe(0);
    expect(host.live.size).toBe(1);
    // The empty tree still works.
    await insertItem(host, root, k(1), fill(5, 1));
    expect(await lookup(host, root, k(1))).toEqual(fill(5, 1));
  });

  it('deleteItems of whole leaves and of everything leaves an empty leaf root', async () => {
    for (const nodesize of [4096, 16384]) {
      const host = new MemoryTreeHost(nodesize);
      const root = host.createTree(TREE);
      for (let i = 0; i < 2000; i++) await insertItem(host, root, k(i), fill(i % 90, i));
      host.commit();
      expect(root.node.level).toBeGreaterThan(0);
      // Delete leaf by leaf from the front with one deleteItems call each.
      for (let guard = 0; guard < 10_000; guard++) {
        const { path } = await searchSlot(host, root, Key.MIN, { insLen: -1, cow: true });
        const n = path.leaf.nritems;
        if (n === 0) break;
        await deleteItems(host, path, 0, n);
        if (guard % 7 === 0) verifyTree(host, root);
      }
      host.commit();
      const end = verifyTree(host, root);
      expect(end.items).toBe(0);
      expect(root.node.level).toBe(0);
      expect(host.live.size).toBe(1);
    }
  });
});

describe('item resize', () => {
  it('extends items up to the exact leaf-full boundary, then splits to extend further', async () => {
    for (const nodesize of [4096, 16384]) {
      const host = new MemoryTreeHost(nodesize);
      const root = host.createTree(TREE);
      const keys = await fillRootLeaf(host, root, 20);
      host.commit();
      // Grow the middle item by exactly the free space: no split.
      const target = keys[Math.floor(keys.length / 2)];
      const free = root.node.leafFreeSpace();
      let r = await searchSlot(host, root, target, { insLen: free, cow: true });
      expect(r.found).toBe(true);
      expect(root.node.level).toBe(0);
      extendItem(host, r.path, free);
      expect(root.node.leafFreeSpace()).toBe(0);
      verifyTree(host, root);
      const expected = new Uint8Array(20 + free);
      expected.set(fill(20, 1000 + Math.floor(keys.length / 2) * 10));
      expect(await lookup(host, root, target)).toEqual(expected);
      // One more byte needs a split.
      r = await searchSlot(host, root, target, { insLen: 1, cow: true });
      extendItem(host, r.path, 1);
      expect(root.node.level).toBe(1);
      verifyTree(host, root);
      const grown = new Uint8Array(21 + free);
      grown.set(expected);
      expect(await lookup(host, root, target)).toEqual(grown);
      // Grow it to the maximum item size, then truncate back from both ends.
      const max = maxItemSize(nodesize);
      r = await searchSlot(host, root, target, { insLen: max - grown.length, cow: true });
      extendItem(host, r.path, max - grown.length);
      verifyTree(host, root);
      expect((await lookup(host, root, target))!.length).toBe(max);
      r = await searchSlot(host, root, target, { insLen: -1, cow: true });
      truncateItem(host, r.path, 10, true);
      expect(await lookup(host, root, target)).toEqual(grown.subarray(0, 10));
      verifyTree(host, root);
    }
  });

  it('truncates from the front, adding the cut to the key offset and fixing parent keys', async () => {
    const host = new MemoryTreeHost(4096);
    const root = host.createTree(TREE);
    const csum = (off: number): Key => Key.of(-10, ItemType.EXTENT_CSUM, off);
    for (let i = 0; i < 400; i++) await insertItem(host, root, csum(i * 1_000_000), fill(64, i));
    host.commit();
    expect(root.node.level).toBe(1);
    // The first item of the second leaf: its key is also the parent's key.
    const { path } = await searchSlot(host, root, Key.MIN);
    await nextLeaf(host, root, path);
    const first = path.leaf.key(0);
    const r = await searchSlot(host, root, first, { insLen: -1, cow: true });
    expect(r.path.slots[0]).toBe(0);
    const data = r.path.itemData().slice();
    truncateItem(host, r.path, 24, false);
    const moved = first.withOffset(first.offset + 40);
    expect(await lookup(host, root, first)).toBeUndefined();
    expect(await lookup(host, root, moved)).toEqual(data.subarray(40));
    verifyTree(host, root);
    // Offset overflow is refused before anything changes.
    await insertItem(host, root, Key.of(-1, 1, -3), fill(8, 1));
    const r2 = await searchSlot(host, root, Key.of(-1, 1, -3), { insLen: -1, cow: true });
    expect(() => truncateItem(host, r2.path, 2, false)).toThrow(/EOVERFLOW/);
    verifyTree(host, root);
  });

  it('keeps an inline file extent header when truncating from the front', async () => {
    const host = new MemoryTreeHost(4096);
    const root = host.createTree(TREE);
    const key = Key.of(257, ItemType.EXTENT_DATA, 0);
    const data = fill(21 + 100, 3);
    data[20] = 0; // type inline
    await insertItem(host, root, key, data);
    const r = await searchSlot(host, root, key, { insLen: -1, cow: true });
    truncateItem(host, r.path, 21 + 60, false);
    const got = await lookup(host, root, key.withOffset(40));
    const want = data.slice(40);
    want.set(data.subarray(0, 21));
    expect(got).toEqual(want);
  });
});

describe('walking and keys', () => {
  it('nextLeaf and prevLeaf visit every leaf in both directions', async () => {
    const host = new MemoryTreeHost(4096);
    const root = host.createTree(TREE);
    for (let i = 0; i < 3000; i++) await insertItem(host, root, k(i * 3), fill(30, i));
    const stats = verifyTree(host, root);
    const { path } = await searchSlot(host, root, Key.MIN);
    const forward: number[] = [path.leaf.bytenr];
    while (await nextLeaf(host, root, path)) forward.push(path.leaf.bytenr);
    expect(forward.length).toBe(stats.leaves);
    expect(path.slots[0]).toBe(0);
    const backward: number[] = [path.leaf.bytenr];
    while (await prevLeaf(host, root, path)) {
      expect(path.slots[0]).toBe(path.leaf.nritems - 1);
      backward.push(path.leaf.bytenr);
    }
    expect(backward.reverse()).toEqual(forward);
    // Ranges.
    const got: number[] = [];
    for await (const it of iterItems(host, root, k(300), k(3000))) got.push(it.key.objectid);
    expect(got).toEqual(Array.from({ length: 901 }, (_, i) => 300 + i * 3));
    const none: number[] = [];
    for await (const it of iterItems(host, root, k(1), k(2))) none.push(it.key.objectid);
    expect(none).toEqual([]);
  });

  it('setItemKeySafe and duplicateItem keep order and fix parent keys', async () => {
    const host = new MemoryTreeHost(4096);
    const root = host.createTree(TREE);
    for (let i = 0; i < 1000; i++) await insertItem(host, root, k(i * 10), fill(20, i));
    host.commit();
    // Move every leaf's first key down by one (a slot-0 change reaches the parents).
    const firsts: Key[] = [];
    const { path } = await searchSlot(host, root, Key.MIN);
    do firsts.push(path.leaf.key(0));
    while (await nextLeaf(host, root, path));
    for (const f of firsts.slice(1)) {
      const r = await searchSlot(host, root, f, { cow: true });
      setItemKeySafe(host, r.path, k(f.objectid - 1));
      verifyTree(host, root);
    }
    const r = await searchSlot(host, root, k(20), { cow: true });
    expect(() => setItemKeySafe(host, r.path, k(30))).toThrow(/EINVAL/);
    expect(() => setItemKeySafe(host, r.path, k(10))).toThrow(/EINVAL/);
    // Duplicate an item, including the last item of a leaf.
    const r2 = await searchSlot(host, root, k(50), { cow: true });
    const p2 = await duplicateItem(host, root, r2.path, k(55));
    expect(p2.itemKey().objectid).toBe(55);
    expect(await lookup(host, root, k(55))).toEqual(fill(20, 5));
    const { path: lp } = await searchSlot(host, root, Key.MIN);
    const lastKey = lp.leaf.key(lp.leaf.nritems - 1);
    const r3 = await searchSlot(host, root, lastKey, { cow: true });
    await duplicateItem(host, root, r3.path, k(lastKey.objectid, 1));
    const r4 = await searchSlot(host, root, k(60), { cow: true });
    await expect(duplicateItem(host, root, r4.path, k(80))).rejects.toThrow(/EINVAL/);
    verifyTree(host, root);
  });
});

describe('replaceLeafItems', () => {
  it('swaps a leaf\'s items for others in place (middle, slot 0, none removed, all removed) and keeps the tree valid', async () => {
    const host = new MemoryTreeHost(4096);
    const root = host.createTree(TREE);
    const model = new Map<number, Uint8Array>();
    for (let i = 0; i < 600; i++) {
      await insertItem(host, root, k(i * 10), fill(20, i));
      model.set(i * 10, fill(20, i));
    }
    host.commit();
    // Room in every leaf: a quarter of the items go.
    for (let i = 0; i < 600; i += 4) {
      await deleteItem(host, root, k(i * 10));
      model.delete(i * 10);
    }
    const replace = async (at: number, nr: number, objs: number[], size: number) => {
      const { path } = await searchSlot(host, root, k(at), { cow: true });
      const slot = path.slots[0];
      for (let i = slot; i < slot + nr; i++) model.delete(path.leaf.key(i).objectid);
      replaceLeafItems(host, path, slot, nr, objs.map((o) => k(o)), objs.map(() => size));
      for (let i = 0; i < objs.length; i++) {
        const d = fill(size, objs[i]);
        path.leaf.data.set(d, path.leaf.itemPtr(slot + i));
        model.set(objs[i], d);
      }
      verifyTree(host, root);
      expect((await allItems(host, root)).map(([key, d]) => [key.objectid, [...d].join()])).toEqual(
        [...model].sort((a, b) => a[0] - b[0]).map(([o, d]) => [o, [...d].join()]));
    };
    // Three items in the middle of a leaf for five of another size between the same neighbours.
    await replace(1010, 3, [1005, 1011, 1012, 1013, 1034], 33);
    // The first items of a later leaf: its new first key reaches the parents.
    const { path } = await searchSlot(host, root, k(3000));
    expect(await nextLeaf(host, root, path)).toBe(true);
    const first = path.leaf.key(0).objectid;
    expect(nextLeafKey(path)).toBeDefined();
    await replace(first, 2, [first - 5, first + 3], 8);
    // None removed (an insert at the slot), and items removed for nothing but one small one.
    await replace(2031, 0, [2031, 2032], 20);
    await replace(4010, 4, [4011], 0);
    // Out of order, or past a neighbour: refused before anything changes.
    const r = await searchSlot(host, root, k(5010), { cow: true });
    const leaf = r.path.leaf;
    const before = leaf.key(0).objectid;
    const after = leaf.key(2).objectid;
    const bad = (keys: number[], sizes: number[]) => () => replaceLeafItems(host, r.path, 1, 1, keys.map((o) => k(o)), sizes);
    expect(bad([before], [4])).toThrow(/not above/);
    expect(bad([after], [4])).toThrow(/not below/);
    expect(bad([before + 2, before + 1], [4, 4])).toThrow(/not ascending/);
    expect(bad([before + 1, before + 2], [1500, 1500])).toThrow(/do not fit/);
    expect(await allItems(host, root)).toHaveLength(model.size);
    verifyTree(host, root);
  });
});

describe('tree depth bound', () => {
  it('never builds a tree deeper than MAX_LEVEL and node fan-out stays within bounds', async () => {
    const host = new MemoryTreeHost(4096);
    const root = host.createTree(TREE);
    for (let i = 0; i < 4000; i++) await insertItem(host, root, k(i), fill(800, i));
    const stats = verifyTree(host, root);
    expect(stats.levels).toBeLessThanOrEqual(MAX_LEVEL);
    expect(root.node.nritems).toBeLessThanOrEqual(nodePtrsPerBlock(4096));
    expect(leafDataSize(4096)).toBe(4096 - 101);
    expect(root.node).toBeInstanceOf(ExtentBuffer);
  });
});

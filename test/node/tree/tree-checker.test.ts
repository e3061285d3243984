// Tests of the structural tree-checker (src/tree/tree-checker.ts): valid blocks pass, each
// kind of structural corruption is named, and a corrupt block read during a search ends
// the search with EUCLEAN instead of a wrong answer.
import { describe, expect, it } from 'vitest';
import { MAX_LEVEL } from '../../../src/format/constants.js';
import { Key } from '../../../src/format/key.js';
import { insertItem, searchSlot } from '../../../src/tree/ctree.js';
import { ExtentBuffer, ITEM_SIZE, maxLeafItems, nodePtrsPerBlock } from '../../../src/tree/extent-buffer.js';
import { checkLeaf, checkNode, checkTreeBlock } from '../../../src/tree/tree-checker.js';
import { MemoryTreeHost } from '../../shared/memory-tree-host.js';

const NS = 4096;

async function smallTree(): Promise<{ host: MemoryTreeHost; leaf: ExtentBuffer; node: ExtentBuffer; root: ReturnType<MemoryTreeHost['createTree']> }> {
  const host = new MemoryTreeHost(NS);
  const root = host.createTree(5);
  for (let i = 0; i < 300; i++) await insertItem(host, root, Key.of(256 + i, 1, i), new Uint8Array(20).fill(i));
  expect(root.node.level).toBe(1);
  const { path } = await searchSlot(host, root, Key.of(300, 1, 0));
  return { host, root, leaf: path.leaf, node: root.node };
}

describe('checkLeaf', () => {
  it('accepts valid and empty leaves, including key (0 0 0)', async () => {
    const { leaf } = await smallTree();
    expect(checkLeaf(leaf, NS)).toBeNull();
    expect(checkTreeBlock(leaf, NS)).toBeNull();
    const empty = new ExtentBuffer(4096, new Uint8Array(NS));
    expect(checkLeaf(empty, NS)).toBeNull();
  });

  it('names each structural corruption', async () => {
    const cases: [string, (l: ExtentBuffer) => void, RegExp][] = [
      ['level', (l) => { l.level = 1; }, /invalid level for leaf/],
      ['nritems', (l) => { l.nritems = maxLeafItems(NS) + 1; }, /nritems too large/],
      ['key order', (l) => { l.setKey(3, l.key(2)); }, /slot=3, bad key order/],
      ['key order desc', (l) => { l.setKey(5, Key.of(1, 1, 1)); }, /slot=5, bad key order/],
      ['gap', (l) => { l.setItemDataOffset(4, l.itemDataOffset(4) - 1); }, /slot=[45], unexpected item end/],
      ['size', (l) => { l.setItemSize(0, l.itemSize(0) + 1); }, /slot=0, unexpected item end/],
      ['outside', (l) => { l.setItemDataOffset(0, l.itemDataOffset(0) + 8); l.setItemSize(0, l.itemSize(0)); }, /unexpected item end|outside/],
      ['overlap', (l) => {
        // A single item whose data reaches down into the item array.
        l.nritems = 1;
        l.setItemSize(0, NS - 101);
        l.setItemDataOffset(0, 0);
      }, /overlaps with its data/],
      ['nodesize', () => {}, /block size/],
    ];
    for (const [name, corrupt, msg] of cases) {
      const { leaf } = await smallTree();
      corrupt(leaf);
      const got = name === 'nodesize' ? checkLeaf(leaf, 16384) : checkLeaf(leaf, NS);
      expect(got, name).toMatch(msg);
      expect(got, name).toMatch(/corrupt leaf|corrupt node/);
    }
  });
});

describe('checkNode', () => {
  it('accepts a valid node', async () => {
    const { node } = await smallTree();
    expect(checkNode(node, NS)).toBeNull();
    expect(checkTreeBlock(node, NS)).toBeNull();
  });

  it('names each structural corruption', async () => {
    const cases: [string, (n: ExtentBuffer) => void, RegExp][] = [
      ['level 0', (n) => { n.level = 0; }, /invalid level for node/],
      ['level max', (n) => { n.level = MAX_LEVEL; }, /invalid level for node/],
      ['empty', (n) => { n.nritems = 0; }, /nritems too small/],
      ['full', (n) => { n.nritems = nodePtrsPerBlock(NS) + 1; }, /nritems too large/],
      ['null ptr', (n) => { n.setBlockptr(1, 0); }, /NULL node pointer/],
      ['unaligned', (n) => { n.setBlockptr(1, n.blockptr(1) + 512); }, /unaligned pointer/],
      ['gen 0', (n) => { n.setPtrGeneration(0, 0); }, /ptr generation 0/],
      ['key order', (n) => { n.setKey(1, n.key(0)); }, /bad key order/],
    ];
    for (const [name, corrupt, msg] of cases) {
      const { node } = await smallTree();
      corrupt(node);
      expect(checkNode(node, NS), name).toMatch(msg);
    }
  });
});

describe('corrupt blocks on the read path', () => {
  it('a search through a corrupt leaf fails with EUCLEAN naming the block', async () => {
    const { host, root, leaf } = await smallTree();
    leaf.setItemSize(2, leaf.itemSize(2) + ITEM_SIZE);
    await expect(searchSlot(host, root, Key.of(300, 1, 0))).rejects.toThrow(new RegExp(`EUCLEAN.*block=${leaf.bytenr}`));
  });

  it('a child whose generation or first key disagrees with its parent is refused', async () => {
    const { host, root, leaf } = await smallTree();
    leaf.generation = leaf.generation + 1;
    await expect(searchSlot(host, root, Key.of(300, 1, 0))).rejects.toThrow(/EUCLEAN.*generation/);
    leaf.generation = leaf.generation - 1;
    // Parent's key for the leaf no longer matches the leaf's first key.
    const { path } = await searchSlot(host, root, Key.of(300, 1, 0));
    const pslot = path.slots[1];
    root.node.setKey(pslot, Key.of(path.leaf.key(0).objectid, 0, 0));
    await expect(searchSlot(host, root, Key.of(300, 1, 0))).rejects.toThrow(/EUCLEAN.*first key/);
  });
});

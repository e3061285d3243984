// Fault suite: a flipped bit, a torn write, a misdirected write or a stale copy in any tree
// block is detected when the block is read (EIO naming the block, never wrong data); with
// DUP metadata the read is served from the other copy and the bad copy is rewritten.
import { describe, expect, it } from 'vitest';
import { MemoryDevice } from '../../../src/device/memory.js';
import { FaultDevice } from '../../../src/device/fault.js';
import { mkfs } from '../../../src/fs/mkfs.js';
import { openFs } from '../../../src/fs/open.js';
import type { FsInfo } from '../../../src/fs/fs-info.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { iterItems } from '../../../src/tree/ctree.js';
import { Key } from '../../../src/format/key.js';
import { ItemType } from '../../../src/format/constants.js';
import { mulberry32 } from '../../../src/device/fault.js';
import { createFile } from '../../shared/simple-files.js';

const MiB = 1024 * 1024;

/** Reads every item of every tree; returns a digest of what was read. */
async function readEverything(fs: FsInfo): Promise<string> {
  let h = 0;
  for (const r of fs.roots.values()) {
    for await (const it of iterItems(fs, r, Key.MIN, Key.MAX)) {
      h = (Math.imul(h, 31) + it.key.objLo + it.key.offLo + it.data.length) | 0;
      for (const b of it.data) h = (Math.imul(h, 31) + b) | 0;
    }
  }
  return h.toString(16);
}

async function treeBlocks(fs: FsInfo): Promise<{ bytenr: number; level: number }[]> {
  const out: { bytenr: number; level: number }[] = [];
  for await (const it of iterItems(fs, fs.extentTree, Key.MIN, Key.MAX)) {
    if (it.key.type === ItemType.METADATA_ITEM) out.push({ bytenr: it.key.objectid, level: it.key.offset });
  }
  return out;
}

async function makeImage(): Promise<MemoryDevice> {
  const dev = new MemoryDevice(128 * MiB);
  await mkfs([dev], { nodesize: 4096 });
  const fs = await openFs([dev]);
  startTransaction(fs);
  for (let i = 0; i < 400; i++) await createFile(fs, fs.fsTree, `file-${i}`, 257 + i, 2 + i);
  await commitTransaction(fs);
  return dev;
}

describe('tree block faults', () => {
  it('a bit flip in one DUP copy of any tree block is detected and repaired', async () => {
    const image = await makeImage();
    const ref = await readEverything(await openFs([image.fork()]));
    const blocks = await treeBlocks(await openFs([image.fork()]));
    expect(blocks.length).toBeGreaterThan(20);
    const rand = mulberry32(1);
    for (const b of blocks) {
      const dev = image.fork();
      const fs0 = await openFs([dev.fork()], { readonly: true });
      const copies = fs0.volumes.mapRange(b.bytenr, fs0.nodesize)[0].copies;
      expect(copies.length).toBe(2);
      // Normal reads use the first copy while it is good; rot in the second copy is scrub's to find.
      const victim = copies[0];
      const fault = new FaultDevice(dev);
      const off = victim.physical + Math.floor(rand() * fs0.nodesize);
      fault.flipBit(off, Math.floor(rand() * 8));
      const fs = await openFs([fault]);
      expect(await readEverything(fs), `block ${b.bytenr}`).toBe(ref);
      expect(fs.stats.treeBlockRepairs, `block ${b.bytenr} repaired`).toBe(1);
      // The bad copy was rewritten: both copies are equal again on the device.
      const [c1, c2] = copies;
      expect(await dev.read(c1.physical, fs.nodesize)).toEqual(await dev.read(c2.physical, fs.nodesize));
    }
  });

  it('damage to both copies is EIO naming the block, never wrong data', async () => {
    const image = await makeImage();
    const fsr = await openFs([image.fork()], { readonly: true });
    const blocks = await treeBlocks(fsr);
    const fsTreeLeaf = blocks.find((b) => b.level === 0 && b.bytenr !== fsr.rootTree.node.bytenr && b.bytenr !== fsr.chunkTree.node.bytenr)!;
    const kinds = ['bitflip', 'torn', 'misdirected', 'zeroed'] as const;
    for (const b of blocks) {
      for (const kind of kinds) {
        const dev = image.fork();
        const copies = fsr.volumes.mapRange(b.bytenr, fsr.nodesize)[0].copies;
        const other = blocks.find((x) => x.bytenr !== b.bytenr)!;
        const otherCopy = fsr.volumes.mapRange(other.bytenr, fsr.nodesize)[0].copies[0];
        for (const c of copies) {
          const cur = (await dev.read(c.physical, fsr.nodesize)).slice();
          if (kind === 'bitflip') cur[200] ^= 0x10;
          else if (kind === 'torn') cur.set((await dev.read(otherCopy.physical, fsr.nodesize)).subarray(2048), 2048); // half old, half new
          else if (kind === 'zeroed') cur.fill(0);
          if (kind === 'misdirected') await dev.write(c.physical, await dev.read(otherCopy.physical, fsr.nodesize));
          else await dev.write(c.physical, cur);
        }
        let err: unknown;
        try {
          const fs = await openFs([dev]);
          await readEverything(fs);
        } catch (e) {
          err = e;
        }
        expect(err, `${kind} in block ${b.bytenr} went unnoticed`).toMatchObject({ code: 'EIO' });
        expect((err as Error).message).toContain(String(b.bytenr));
      }
    }
    void fsTreeLeaf;
  });

  it('a stale copy (an older generation of the block) fails the parent transid check', async () => {
    const image = await makeImage();
    const before = image.fork();
    const fs = await openFs([image]);
    startTransaction(fs);
    for (let i = 0; i < 50; i++) await createFile(fs, fs.fsTree, `later-${i}`, 1000 + i, 1000 + i);
    await commitTransaction(fs);
    const leaf = fs.fsTree.node;
    // Put back the block that was at this address before, in both copies: a lost write.
    for (const c of fs.volumes.mapRange(leaf.bytenr, fs.nodesize)[0].copies) {
      await image.write(c.physical, await before.read(c.physical, fs.nodesize));
    }
    await expect(openFs([image]).then(readEverything)).rejects.toMatchObject({ code: 'EIO' });
  });
});

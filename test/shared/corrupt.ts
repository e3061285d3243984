// Test-only helpers that write crafted corruptions into an image through its device: raw
// tree block edits (with or without a fresh checksum) on every copy of the block, item edits
// and deletions inside a leaf, and superblock edits. They locate things with a filesystem
// opened on the same device, then write behind its back: open a fresh FsInfo afterwards.
import type { BlockDevice } from '../../src/device/block-device.js';
import type { Key } from '../../src/format/key.js';
import { viewOf } from '../../src/format/struct.js';
import { ExtentBuffer, HEADER_SIZE, ITEM_SIZE } from '../../src/tree/extent-buffer.js';
import { searchSlot } from '../../src/tree/ctree.js';
import { checksumInto } from '../../src/kernels/checksum.js';
import { readSuper, writeSuperCopies } from '../../src/fs/super.js';
import type { SuperBlock } from '../../src/format/structs.js';
import type { FsInfo, Root } from '../../src/fs/fs-info.js';

/** Physical offsets (device 1) of every copy of [logical, logical + length); one segment expected. */
export function physicalCopies(fs: FsInfo, logical: number, length: number): number[] {
  const segs = fs.volumes.mapRange(logical, length);
  if (segs.length !== 1) throw new Error(`range ${logical}+${length} spans ${segs.length} stripes`);
  return segs[0].copies.map((c) => {
    if (c.devid !== 1) throw new Error('corrupt.ts handles single-device images only');
    return c.physical;
  });
}

/** A private copy of tree block `bytenr` as it is on disk (first copy). */
export async function readRawBlock(fs: FsInfo, bytenr: number): Promise<ExtentBuffer> {
  const data = await fs.volumes.readLogical(bytenr, fs.nodesize, 1);
  return new ExtentBuffer(bytenr, data.slice());
}

/** Writes `eb` over every copy of its block; `recsum` recomputes the header checksum first. */
export async function writeRawBlock(fs: FsInfo, dev: BlockDevice, eb: ExtentBuffer, recsum = true): Promise<void> {
  if (recsum) {
    eb.data.fill(0, 0, 32);
    checksumInto(fs.csum, eb.data, 32, fs.nodesize - 32, eb.data, 0);
  }
  for (const phys of physicalCopies(fs, eb.bytenr, fs.nodesize)) await dev.write(phys, eb.data);
}

/** Flips one byte of block `bytenr` at `offset` in every copy, leaving the checksum stale. */
export async function flipBlockByte(fs: FsInfo, dev: BlockDevice, bytenr: number, offset: number): Promise<void> {
  // Whole blocks: devices take sector-aligned I/O only.
  for (const phys of physicalCopies(fs, bytenr, fs.nodesize)) {
    const b = await dev.read(phys, fs.nodesize);
    b[offset] ^= 0xff;
    await dev.write(phys, b);
  }
}

/** The leaf and slot holding `key` in `root` (throws when absent). */
export async function findItem(fs: FsInfo, root: Root, key: Key): Promise<{ leaf: number; slot: number }> {
  const { found, path } = await searchSlot(fs, root, key);
  if (!found) throw new Error(`item ${key} not found in tree ${root.objectid}`);
  return { leaf: path.leaf.bytenr, slot: path.slot };
}

/** Edits item `key`'s data in place on disk (every copy), with a fresh checksum. Returns the leaf. */
export async function editItem(fs: FsInfo, dev: BlockDevice, root: Root, key: Key, edit: (dv: DataView, data: Uint8Array) => void): Promise<number> {
  const { leaf, slot } = await findItem(fs, root, key);
  const eb = await readRawBlock(fs, leaf);
  const data = eb.itemData(slot);
  edit(viewOf(data), data);
  await writeRawBlock(fs, dev, eb);
  return leaf;
}

/**
 * Deletes item `key` from its leaf on disk (btrfs del_items on the raw block), with a fresh
 * checksum. Refuses slot 0, whose removal would change the parent's key.
 */
export async function deleteItemRaw(fs: FsInfo, dev: BlockDevice, root: Root, key: Key): Promise<number> {
  const { leaf, slot } = await findItem(fs, root, key);
  if (slot === 0 && root.node.level > 0) throw new Error('deleteItemRaw: slot 0 of a non-root leaf');
  const eb = await readRawBlock(fs, leaf);
  const nr = eb.nritems;
  const size = eb.itemSize(slot);
  const dataEnd = eb.leafDataEnd();
  const off = eb.itemDataOffset(slot);
  // Data of the later items moves up by `size`; their offsets follow.
  eb.move(HEADER_SIZE + dataEnd + size, HEADER_SIZE + dataEnd, off - dataEnd);
  for (let i = slot + 1; i < nr; i++) eb.setItemDataOffset(i, eb.itemDataOffset(i) + size);
  eb.move(HEADER_SIZE + slot * ITEM_SIZE, HEADER_SIZE + (slot + 1) * ITEM_SIZE, (nr - slot - 1) * ITEM_SIZE);
  eb.nritems = nr - 1;
  await writeRawBlock(fs, dev, eb);
  return leaf;
}

/** Rewrites every superblock copy after `mutate` (checksums recomputed). */
export async function editSuper(dev: BlockDevice, mutate: (sb: SuperBlock) => void): Promise<void> {
  const { sb } = await readSuper(dev);
  mutate(sb);
  await writeSuperCopies(dev, sb);
}

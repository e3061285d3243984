// Data writeback (src/fs/writeback.ts) and the subvolume item cache (src/tree/item-cache.ts):
// what waits in memory is read back exact before the commit, the commit writes it in few large
// device writes and few csum items, in-place writes into waiting extents stay correct, and the
// cache never answers with an entry the tree no longer holds. Judged by our check and by
// btrfs check --check-data-csum.
import { describe, expect, it } from 'vitest';
import { MemoryDevice, mkfs, mount } from '../../../src/index.js';
import { Key } from '../../../src/format/key.js';
import { ItemType, CSUM_TREE_OBJECTID } from '../../../src/format/constants.js';
import { forEachItem, MAX_DEFERRED_ITEMS } from '../../../src/tree/ctree.js';
import { btrfsCheckDevice } from '../../shared/btrfs-progs.js';
import { MAX_DELAYED_INODES } from '../../../src/inode/inode.js';

/** The memory device, counting the writes that reach it. */
class CountingDevice extends MemoryDevice {
  writes = 0;
  override async write(offset: number, data: Uint8Array): Promise<void> {
    this.writes++;
    return super.write(offset, data);
  }
}

function content(i: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let k = 0; k < n; k++) b[k] = (i * 31 + k * 7 + (k >> 8)) & 0xff;
  return b;
}

async function judge(dev: MemoryDevice): Promise<void> {
  const r = await btrfsCheckDevice(dev);
  expect(r.ok, r.output).toBe(true);
}

describe('data writeback', () => {
  it('keeps small files in memory until the commit, then writes them in few writes and few csum items', async () => {
    const dev = new CountingDevice(256 * 1024 * 1024);
    await mkfs([dev]);
    const fs = await mount([dev]);
    const p = fs.promises;
    await p.mkdir('/d');
    await fs.sync();
    const files = 300;
    const before = dev.writes;
    for (let i = 0; i < files; i++) await p.writeFile(`/d/f${i}`, content(i, 3000 + (i % 5) * 1000));
    // Nothing of it has reached the device yet, and every byte reads back from memory.
    expect(dev.writes).toBe(before);
    expect(fs.info.writeback.size).toBe(files);
    for (let i = 0; i < files; i += 7) expect(Buffer.from(await p.readFile(`/d/f${i}`)).equals(Buffer.from(content(i, 3000 + (i % 5) * 1000)))).toBe(true);
    await fs.sync();
    expect(fs.info.writeback.size).toBe(0);
    // The commit wrote the data in a handful of coalesced writes (plus the metadata blocks),
    // not one per file; the 300 files' checksums live in a few csum items.
    const dataWrites = dev.writes - before;
    expect(dataWrites).toBeLessThan(files / 2);
    let csumItems = 0;
    await forEachItem(fs.info, fs.info.csumTree, Key.of(-10, 0, 0), Key.of(-10, 255, -1), (k) => {
      if (k.type === ItemType.EXTENT_CSUM) csumItems++;
    });
    expect(fs.info.csumTree.objectid).toBe(CSUM_TREE_OBJECTID);
    expect(csumItems).toBeGreaterThan(0);
    expect(csumItems).toBeLessThan(10);
    await fs.unmount();
    const again = await mount([dev]);
    for (let i = 0; i < files; i++) expect(Buffer.from(await again.promises.readFile(`/d/f${i}`)).equals(Buffer.from(content(i, 3000 + (i % 5) * 1000)))).toBe(true);
    expect((await again.check()).errors).toEqual([]);
    await again.unmount();
    await judge(dev);
  });

  it('writes large extents at once and keeps only their checksums waiting; reads verify against them', async () => {
    const dev = new CountingDevice(256 * 1024 * 1024);
    await mkfs([dev]);
    const fs = await mount([dev]);
    const big = content(5, 1024 * 1024);
    const before = dev.writes;
    await fs.promises.writeFile('/big', big);
    expect(dev.writes).toBeGreaterThan(before);
    expect(fs.info.writeback.bytes).toBe(0);
    expect(fs.info.writeback.size).toBe(1);
    expect(Buffer.from(await fs.promises.readFile('/big')).equals(Buffer.from(big))).toBe(true);
    // A flipped bit on the device is caught by the waiting checksums, before any commit.
    const phys = await physicalOfFirstExtent(fs, '/big');
    const sector = await dev.read(phys, 4096);
    const bad = sector.slice();
    bad[100] ^= 1;
    await dev.write(phys, bad);
    await expect(fs.promises.readFile('/big')).rejects.toMatchObject({ code: 'EIO' });
    await dev.write(phys, sector);
    expect(Buffer.from(await fs.promises.readFile('/big')).equals(Buffer.from(big))).toBe(true);
    await fs.unmount();
    await judge(dev);
  });

  it('writes the arena\'s extents early when it would outgrow its kept chunks; they read back exact, their checksums wait for the commit', async () => {
    const dev = new CountingDevice(256 * 1024 * 1024);
    await mkfs([dev]);
    let fs = await mount([dev]);
    const p = fs.promises;
    await p.mkdir('/d');
    await fs.sync();
    // 24 MiB of small extents: several times what the arena keeps (one chunk of 4 MiB).
    const files = 6000;
    const size = (i: number) => 2100 + (i % 7) * 280;
    const before = dev.writes;
    for (let i = 0; i < files; i++) await p.writeFile(`/d/f${i}`, content(i, size(i)));
    const w = fs.info.writeback;
    expect(w.spills).toBeGreaterThan(0);
    // Data went out before the commit, but no checksum did: every extent is still held.
    expect(dev.writes).toBeGreaterThan(before);
    expect(w.size).toBe(files);
    // Written early (read from the device), in the arena (from memory), dropped after a spill
    // (unlinked, overwritten): all exact.
    for (let i = 0; i < files; i += 97) expect(Buffer.from(await p.readFile(`/d/f${i}`)).equals(Buffer.from(content(i, size(i)))), `f${i}`).toBe(true);
    await p.unlink('/d/f1');
    await p.writeFile('/d/f2', content(99999, 5000));
    await fs.sync();
    expect(w.size).toBe(0);
    await fs.unmount();
    await judge(dev);
    fs = await mount([dev]);
    for (let i = 0; i < files; i += 13) {
      if (i === 1) continue;
      const want = i === 2 ? content(99999, 5000) : content(i, size(i));
      expect(Buffer.from(await fs.promises.readFile(`/d/f${i}`)).equals(Buffer.from(want)), `f${i} after a remount`).toBe(true);
    }
    await expect(fs.promises.stat('/d/f1')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(Buffer.from(await fs.promises.readFile('/d/f2')).equals(Buffer.from(content(99999, 5000)))).toBe(true);
    await fs.unmount();
  });

  it('an in-place (nodatacow) write into an extent still waiting lands correctly', async () => {
    const dev = new MemoryDevice(128 * 1024 * 1024);
    await mkfs([dev]);
    const fs = await mount([dev], 'nodatacow');
    const p = fs.promises;
    await p.writeFile('/n', content(1, 16384));
    const fh = await p.open('/n', 'r+');
    await fh.write(new Uint8Array(4096).fill(0xab), 0, 4096, 4096);
    await fh.close();
    const want = content(1, 16384);
    want.fill(0xab, 4096, 8192);
    expect(Buffer.from(await p.readFile('/n')).equals(Buffer.from(want))).toBe(true);
    await fs.sync();
    expect(Buffer.from(await p.readFile('/n')).equals(Buffer.from(want))).toBe(true);
    await fs.unmount();
    const again = await mount([dev]);
    expect(Buffer.from(await again.promises.readFile('/n')).equals(Buffer.from(want))).toBe(true);
    await again.unmount();
    await judge(dev);
  });
});

describe('subvolume item cache', () => {
  it('answers repeated lookups from memory and never with an entry the tree dropped', async () => {
    const dev = new MemoryDevice(128 * 1024 * 1024);
    await mkfs([dev]);
    const fs = await mount([dev]);
    const p = fs.promises;
    await p.mkdir('/a');
    for (let i = 0; i < 50; i++) await p.writeFile(`/a/f${i}`, `file ${i}`);
    const cache = fs.info.fsTree.itemCache!;
    const hits = cache.hits + cache.nameHits;
    for (let i = 0; i < 50; i++) expect((await p.stat(`/a/f${i}`)).size).toBe(`file ${i}`.length);
    // Both components of each path come from the names (the walk's dcache), no tree search.
    expect(cache.hits + cache.nameHits - hits).toBeGreaterThanOrEqual(100);
    // Every kind of change is seen at once, before and after a commit.
    await p.rename('/a/f1', '/a/g1');
    await expect(p.stat('/a/f1')).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await p.stat('/a/g1')).size).toBe(6);
    await p.unlink('/a/f2');
    await expect(p.stat('/a/f2')).rejects.toMatchObject({ code: 'ENOENT' });
    await p.writeFile('/a/f2', 'again!!');
    expect((await p.stat('/a/f2')).size).toBe(7);
    await p.link('/a/f3', '/a/h3');
    expect((await p.stat('/a/f3')).nlink).toBe(2);
    await p.chmod('/a/f4', 0o600);
    expect((await p.stat('/a/f4')).mode & 0o777).toBe(0o600);
    await fs.sync();
    await p.truncate('/a/f5', 2);
    expect((await p.stat('/a/f5')).size).toBe(2);
    // A directory on the path replaced: the walk through it sees the new one.
    await p.mkdir('/x/y', { recursive: true });
    await p.writeFile('/x/y/f', 'old');
    await p.mkdir('/x/z');
    await p.writeFile('/x/z/f', 'newer');
    expect((await p.stat('/x/y/f')).size).toBe(3);
    await p.rm('/x/y', { recursive: true });
    await p.rename('/x/z', '/x/y');
    expect((await p.stat('/x/y/f')).size).toBe(5);
    await p.symlink('/x/y', '/l');
    expect((await p.stat('/l/f')).size).toBe(5);
    await p.unlink('/l');
    await p.symlink('/a', '/l');
    expect((await p.lstat('/l')).isSymbolicLink()).toBe(true);
    expect((await p.stat('/l/f3')).size).toBe(6);
    await p.rm('/a', { recursive: true });
    await expect(p.stat('/a/f6')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(p.stat('/a')).rejects.toMatchObject({ code: 'ENOENT' });
    // A snapshot sees the source as it was, its own changes stay its own.
    await p.writeFile('/s', 'source');
    await fs.subvolume.snapshot('/', '/snap');
    await p.writeFile('/s', 'changed');
    expect(await p.readFile('/snap/s', 'utf8')).toBe('source');
    expect(await p.readFile('/s', 'utf8')).toBe('changed');
    expect((await fs.check()).errors).toEqual([]);
    await fs.unmount();
    await judge(dev);
  });
});

describe('directory listing cache', () => {
  it('answers a repeated readdir from memory and sees every change of the directory at once', async () => {
    const dev = new MemoryDevice(128 * 1024 * 1024);
    await mkfs([dev]);
    const fs = await mount([dev]);
    const p = fs.promises;
    await p.mkdir('/d');
    await p.mkdir('/e');
    const names = ['b', 'a', 'c'];
    for (const n of names) await p.writeFile(`/d/${n}`, n);
    const list = async (dir: string) => p.readdir(dir);
    expect(await list('/d')).toEqual(names);
    // The second listing is the cache's (the same entries, no leaf walk) and must stay exact.
    const root = fs.info.fsTree;
    const dirIno = (await p.stat('/d')).ino;
    expect(root.itemCache!.getListing(dirIno)).toBeDefined();
    expect(await list('/d')).toEqual(names);
    const expectList = async (want: string[]) => {
      expect(await list('/d')).toEqual(want);
      // The same answer as the tree gives with nothing cached.
      root.itemCache!.clear();
      expect(await list('/d')).toEqual(want);
    };
    await p.writeFile('/d/new', 'n');
    await expectList(['b', 'a', 'c', 'new']);
    await p.unlink('/d/a');
    await expectList(['b', 'c', 'new']);
    await p.rename('/d/b', '/d/b2');
    await expectList(['c', 'new', 'b2']);
    await p.rename('/d/c', '/e/c');
    await expectList(['new', 'b2']);
    expect(await list('/e')).toEqual(['c']);
    await p.rename('/e/c', '/d/new'); // over an existing name
    await expectList(['b2', 'new']);
    expect(await list('/e')).toEqual([]);
    await p.link('/d/b2', '/d/hard');
    await p.symlink('b2', '/d/sym');
    await p.mkdir('/d/sub');
    await expectList(['b2', 'new', 'hard', 'sym', 'sub']);
    await fs.sync();
    expect(await list('/d')).toEqual(['b2', 'new', 'hard', 'sym', 'sub']);
    await p.rmdir('/d/sub');
    await fs.subvolume.create('/d/vol');
    await expectList(['b2', 'new', 'hard', 'sym', 'vol']);
    await fs.subvolume.delete('/d/vol');
    await expectList(['b2', 'new', 'hard', 'sym']);
    // Typed entries and buffer names from the same cached listing are copies, not shared state.
    const typed = await p.readdir('/d', { withFileTypes: true });
    expect(typed.map((e) => [e.name, e.isSymbolicLink()])).toEqual([['b2', false], ['new', false], ['hard', false], ['sym', true]]);
    const bufs = await p.readdir('/d', 'buffer');
    bufs[0][0] = 0x7a;
    expect(await list('/d')).toEqual(['b2', 'new', 'hard', 'sym']);
    await p.rm('/d', { recursive: true });
    await expect(list('/d')).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await fs.check()).errors).toEqual([]);
    await fs.unmount();
    await judge(dev);
  });
});

describe('deferred inserts', () => {
  it('keep a long run of creates in a bounded queue, answer lookups from it, and reach the tree at the commit', async () => {
    const dev = new MemoryDevice(256 * 1024 * 1024);
    await mkfs([dev]);
    const fs = await mount([dev]);
    const p = fs.promises;
    const root = fs.info.fsTree;
    await p.mkdir('/d');
    let most = 0;
    // ~5 deferred items a file: well past the bound, with no search in between to flush them.
    for (let i = 0; i < 2500; i++) {
      await p.writeFile(`/d/f${i}`, i % 2 ? 'x'.repeat(100) : new Uint8Array(3000).fill(i & 0xff));
      most = Math.max(most, root.deferred?.size ?? 0);
    }
    expect(most).toBeGreaterThan(MAX_DEFERRED_ITEMS / 2);
    expect(most).toBeLessThanOrEqual(MAX_DEFERRED_ITEMS);
    // Still waiting items answer every read as if they were in the tree.
    expect((root.deferred?.size ?? 0)).toBeGreaterThan(0);
    expect(await p.readFile('/d/f2499', 'utf8')).toBe('x'.repeat(100));
    expect((await p.readdir('/d')).length).toBe(2500);
    expect(root.deferred?.size ?? 0).toBe(0); // the readdir's leaf walk flushed them
    await p.writeFile('/d/late', 'late');
    expect(root.deferred?.size ?? 0).toBeGreaterThan(0);
    await fs.sync();
    expect(root.deferred?.size ?? 0).toBe(0);
    expect((await fs.check()).errors).toEqual([]);
    await fs.unmount();
    const again = await mount([dev]);
    expect(await again.promises.readFile('/d/late', 'utf8')).toBe('late');
    expect([...(await again.promises.readFile('/d/f1000'))].every((b) => b === (1000 & 0xff))).toBe(true);
    await again.unmount();
    await judge(dev);
  });
});

describe('delayed inode updates', () => {
  it('are bounded: a transaction that touches more inodes than the bound writes them out in batches', async () => {
    const dev = new MemoryDevice(256 * 1024 * 1024);
    await mkfs([dev]);
    const fs = await mount([dev]);
    const p = fs.promises;
    const cache = fs.info.fsTree.itemCache!;
    let most = 0;
    for (let d = 0; d < 20; d++) {
      await p.mkdir(`/d${d}`);
      for (let i = 0; i < 900; i++) await p.writeFile(`/d${d}/f${i}`, 'x');
    }
    // A new inode's changes go into its waiting insert while it waits; the deferred inserts are
    // flushed in batches, after which the inodes are in the tree and their changes wait as
    // delayed updates: the second write of each file.
    for (let d = 0; d < 20; d++) {
      for (let i = 0; i < 900; i++) {
        await p.appendFile(`/d${d}/f${i}`, 'y');
        most = Math.max(most, cache.delayedCount);
      }
    }
    expect(most).toBeGreaterThan(MAX_DELAYED_INODES / 2);
    expect(most).toBeLessThanOrEqual(MAX_DELAYED_INODES);
    await p.chmod('/d7/f7', 0o600);
    expect((await p.stat('/d7/f7')).mode & 0o777).toBe(0o600);
    await fs.sync();
    expect(cache.delayedCount).toBe(0);
    expect((await fs.check()).errors).toEqual([]);
    await fs.unmount();
    await judge(dev);
  });

  it('wait in memory, are what every read sees, reach the tree before a snapshot and at the commit, and die with their inode', async () => {
    const dev = new MemoryDevice(128 * 1024 * 1024);
    await mkfs([dev]);
    const fs = await mount([dev]);
    const p = fs.promises;
    const cache = fs.info.fsTree.itemCache!;
    await p.mkdir('/d');
    for (let i = 0; i < 40; i++) await p.writeFile(`/d/f${i}`, 'x'.repeat(i));
    // Inodes made in this transaction whose items have not gone in yet: their changes (the
    // writes' sizes, the directory's) go into the waiting inserts; only '/' waits as an update.
    expect(cache.delayedCount).toBeLessThanOrEqual(1);
    expect((await p.stat('/d/f39')).size).toBe(39);
    await fs.sync();
    for (let i = 0; i < 40; i++) await p.appendFile(`/d/f${i}`, 'x');
    // The directory and the files were changed after their items went in: updates wait.
    expect(cache.delayedCount).toBeGreaterThanOrEqual(40);
    expect((await p.stat('/d/f39')).size).toBe(40);
    expect((await p.stat('/d')).size).toBe(2 * (10 * 'f0'.length + 30 * 'f10'.length));
    // A snapshot takes the tree as every read sees it.
    await p.writeFile('/d/f0', 'grown!');
    expect(cache.delayedCount).toBeGreaterThan(0);
    await fs.subvolume.snapshot('/', '/snap');
    expect((await p.stat('/snap/d/f0')).size).toBe(6);
    // An unlinked inode's delayed update goes with it.
    await p.writeFile('/d/f1', 'changed');
    await p.unlink('/d/f1');
    await fs.sync();
    expect((await fs.check()).errors).toEqual([]);
    await fs.unmount();
    const again = await mount([dev]);
    expect((await again.promises.stat('/d/f39')).size).toBe(40);
    expect((await again.promises.stat('/snap/d/f0')).size).toBe(6);
    await expect(again.promises.stat('/d/f1')).rejects.toMatchObject({ code: 'ENOENT' });
    await again.unmount();
    await judge(dev);
  });
});

async function physicalOfFirstExtent(fs: Awaited<ReturnType<typeof mount>>, path: string): Promise<number> {
  const ino = (await fs.promises.stat(path)).ino;
  let disk = 0;
  await forEachItem(fs.info, fs.info.fsTree, Key.of(ino, ItemType.EXTENT_DATA, 0), Key.of(ino, ItemType.EXTENT_DATA, -1), (_k, data) => {
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    disk = dv.getUint32(21, true) + dv.getUint32(25, true) * 2 ** 32;
    return false;
  });
  expect(disk).toBeGreaterThan(0);
  return fs.info.volumes.mapRange(disk, 1)[0].copies[0].physical;
}

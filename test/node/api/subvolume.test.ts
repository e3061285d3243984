// fs.subvolume, fs.property and the subvolume rules of fs.promises: mount subvol= / subvolid=,
// st_dev per subvolume, EXDEV across subvolumes, renames of subvolumes, read-only subvolumes
// (EROFS), errors as btrfs gives them, list fields against btrfs-progs' dump of the root tree,
// and the cleaner resuming after a remount.
import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { MemoryDevice } from '../../../src/device/memory.js';
import { mkfs, mount, type Filesystem } from '../../../src/api/filesystem.js';
import { constants } from '../../../src/api/promises.js';
import { btrfsCheck, btrfsProg, saveImage, tempDir } from '../../shared/btrfs-progs.js';
import { SubvolModel, judgeSubvolumes } from '../../shared/subvol-oracle.js';
import { updateRootItem } from '../../../src/subvol/snapshot.js';
import { uuidTreeAdd, uuidTreeLookup } from '../../../src/subvol/uuid-tree.js';
import { ItemType } from '../../../src/format/constants.js';

async function fresh(): Promise<{ dev: MemoryDevice; fs: Filesystem }> {
  const dev = new MemoryDevice(256 * 1024 * 1024);
  await mkfs([dev], { nodesize: 4096 });
  return { dev, fs: await mount([dev]) };
}

describe('fs.subvolume', () => {
  it('mount subvol= and subvolid=: both must agree; st_dev is the subvolume id', async () => {
    const { dev, fs } = await fresh();
    const p = fs.promises;
    await p.mkdir('/dir');
    const a = await fs.subvolume.create('/dir/a');
    await p.writeFile('/dir/a/in-a', 'a');
    await p.writeFile('/top', 't');
    const sa = await p.stat('/dir/a');
    expect([sa.dev, sa.ino]).toEqual([a.id, 256]);
    expect((await p.stat('/dir/a/in-a')).dev).toBe(a.id);
    expect((await p.stat('/dir/a/in-a')).ino).toBe(257);
    expect((await p.stat('/top')).dev).toBe(5);
    const dirents = await p.readdir('/dir', { withFileTypes: true });
    expect(dirents.map((d) => [d.name, d.isDirectory()])).toEqual([['a', true]]);
    await fs.unmount();

    for (const opts of [`subvol=/dir/a`, `subvol=dir/a`, `subvolid=${a.id}`, `subvol=/dir/a,subvolid=${a.id}`]) {
      const m = await mount([dev], opts);
      expect(m.subvolumeId, opts).toBe(a.id);
      expect(await m.promises.readdir('/'), opts).toEqual(['in-a']);
      expect((await m.promises.stat('/')).ino).toBe(256);
      await m.unmount();
    }
    await expect(mount([dev], `subvol=/dir/a,subvolid=5`)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(mount([dev], `subvol=/dir`)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(mount([dev], `subvol=/nope`)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(mount([dev], `subvolid=999`)).rejects.toMatchObject({ code: 'ENOENT' });
    const top = await mount([dev], 'subvol=/');
    expect(top.subvolumeId).toBe(5);
    // The mounted subvolume cannot be deleted from its own mount.
    const inA = await mount([dev], `subvolid=${a.id}`);
    await expect(inA.subvolume.delete(a.id)).rejects.toMatchObject({ code: 'EBUSY' });
    await expect(inA.subvolume.delete('/')).rejects.toMatchObject({ code: 'EBUSY' });
    await inA.unmount();
    await top.unmount();
  });

  it('names across subvolumes: rename and link EXDEV, reflink copies allowed; subvolumes rename as links', async () => {
    const { dev, fs } = await fresh();
    const p = fs.promises;
    const m = new SubvolModel();
    const a = await fs.subvolume.create('/a');
    const b = await fs.subvolume.create('/b');
    await p.mkdir('/b/dir');
    await p.writeFile('/a/f', 'x'.repeat(20000));
    await expect(p.rename('/a/f', '/b/f')).rejects.toMatchObject({ code: 'EXDEV' });
    await expect(p.link('/a/f', '/b/f')).rejects.toMatchObject({ code: 'EXDEV' });
    await p.copyFile('/a/f', '/b/clone', constants.COPYFILE_FICLONE_FORCE);
    expect(await p.readFile('/b/clone', 'utf8')).toBe('x'.repeat(20000));
    await p.mkdir('/a/d');
    await expect(p.rename('/a/d', '/b/d')).rejects.toMatchObject({ code: 'EXDEV' });

    // A subvolume is a link: it moves within its parent and into another subvolume.
    const c = await fs.subvolume.create('/a/c');
    await p.writeFile('/a/c/inside', 'c');
    await p.rename('/a/c', '/a/d/c2');
    expect((await fs.subvolume.show('/a/d/c2')).path).toBe('a/d/c2');
    await p.rename('/a/d/c2', '/b/dir/c3');
    const moved = await fs.subvolume.show('/b/dir/c3');
    expect([moved.id, moved.topLevel, moved.path]).toEqual([c.id, b.id, 'b/dir/c3']);
    expect(await p.readFile('/b/dir/c3/inside', 'utf8')).toBe('c');
    // Onto a subvolume: ENOTEMPTY; into itself: EINVAL; over an empty directory: replaced.
    await expect(p.rename('/b/dir/c3', '/a')).rejects.toMatchObject({ code: 'ENOTEMPTY' });
    await expect(p.rename('/b', '/b/dir/c3/x')).rejects.toMatchObject({ code: 'EINVAL' });
    await p.mkdir('/empty');
    await p.rename('/b/dir/c3', '/empty');
    expect((await fs.subvolume.show('/empty')).id).toBe(c.id);

    m.sub(5, 'a', a.id);
    m.file(a.id, 'f', 'x'.repeat(20000));
    m.dir(a.id, 'd');
    m.sub(5, 'b', b.id);
    m.dir(b.id, 'dir');
    m.file(b.id, 'clone', 'x'.repeat(20000));
    m.sub(5, 'empty', c.id);
    m.file(c.id, 'inside', 'c');
    await judgeSubvolumes(dev, fs, m, 'after renames');

    // A snapshot's placeholder cannot be renamed (ENOTEMPTY) but a directory may replace it.
    const s = await fs.subvolume.snapshot('/', '/snap');
    await expect(p.rename('/snap/a', '/snap/a2')).rejects.toMatchObject({ code: 'ENOTEMPTY' });
    await p.mkdir('/snap/newdir');
    await p.rename('/snap/newdir', '/snap/a');
    expect((await p.stat('/snap/a')).ino).toBeGreaterThan(256);
    expect((await p.stat('/snap/b')).ino).toBe(2);
    void s;
    await fs.unmount();
  });

  it('read-only subvolumes: EROFS for every change, property ro on and off', async () => {
    const { dev, fs } = await fresh();
    const p = fs.promises;
    await fs.subvolume.create('/sv');
    await p.writeFile('/sv/f', 'data');
    await p.mkdir('/sv/d');
    expect(await fs.property.get('/sv', 'ro')).toBe('false');
    await fs.property.set('/sv', 'ro', 'true');
    expect(await fs.property.get('/sv', 'ro')).toBe('true');
    expect((await fs.subvolume.show('/sv')).readonly).toBe(true);
    const attempts: [string, () => Promise<unknown>][] = [
      ['writeFile', () => p.writeFile('/sv/f', 'x')],
      ['create', () => p.writeFile('/sv/new', 'x')],
      ['open r+', () => p.open('/sv/f', 'r+')],
      ['truncate', () => p.truncate('/sv/f', 1)],
      ['unlink', () => p.unlink('/sv/f')],
      ['mkdir', () => p.mkdir('/sv/d2')],
      ['rmdir', () => p.rmdir('/sv/d')],
      ['rename', () => p.rename('/sv/f', '/sv/g')],
      ['link', () => p.link('/sv/f', '/sv/h')],
      ['symlink', () => p.symlink('f', '/sv/l')],
      ['chmod', () => p.chmod('/sv/f', 0o600)],
      ['chown', () => p.chown('/sv/f', 1, 1)],
      ['utimes', () => p.utimes('/sv/f', 1, 1)],
      ['setxattr', () => p.setxattr('/sv/f', 'user.a', 'b')],
      ['chattr', () => fs.attributes.set('/sv/f', '+A')],
      ['access W_OK', () => p.access('/sv/f', constants.W_OK)],
      ['compression', () => fs.property.set('/sv/f', 'compression', 'none')],
    ];
    for (const [what, f] of attempts) await expect(f(), what).rejects.toMatchObject({ code: 'EROFS' });
    // Reads work and leave atime alone; a read-only subvolume can be snapshotted, and the
    // snapshot is writable unless asked otherwise.
    expect(await p.readFile('/sv/f', 'utf8')).toBe('data');
    await p.access('/sv/f', constants.R_OK);
    const snap = await fs.subvolume.snapshot('/sv', '/snap');
    expect(snap.readonly).toBe(false);
    await p.writeFile('/snap/f', 'changed');
    expect(await p.readFile('/sv/f', 'utf8')).toBe('data');
    // A read-only subvolume can be deleted, and its entry in a writable parent goes.
    const ro2 = await fs.subvolume.snapshot('/snap', '/ro2', { readonly: true });
    await fs.subvolume.delete('/ro2');
    expect((await fs.subvolume.list()).map((s) => s.id)).not.toContain(ro2.id);
    await fs.property.set('/sv', 'ro', 'false');
    await p.writeFile('/sv/f', 'writable again');
    await expect(fs.property.set('/sv', 'ro', 'yes')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(fs.property.get('/sv/d', 'ro')).rejects.toMatchObject({ code: 'EINVAL' });
    const m = new SubvolModel();
    m.sub(5, 'sv', (await fs.subvolume.show('/sv')).id);
    m.file((await fs.subvolume.show('/sv')).id, 'f', 'writable again');
    m.dir((await fs.subvolume.show('/sv')).id, 'd');
    m.sub(5, 'snap', snap.id);
    m.file(snap.id, 'f', 'changed');
    m.dir(snap.id, 'd');
    await judgeSubvolumes(dev, fs, m, 'read-only on and off');
    await fs.unmount();
    // The flag is on disk: a remount keeps it.
    const again = await mount([dev]);
    await again.property.set('/snap', 'ro', 'true');
    await again.unmount();
    const third = await mount([dev]);
    await expect(third.promises.writeFile('/snap/f', 'no')).rejects.toMatchObject({ code: 'EROFS' });
    await third.unmount();
  });

  it('property ro on a received subvolume: EPERM unless forced, which clears received_uuid', async () => {
    const { dev, fs } = await fresh();
    const sv = await fs.subvolume.create('/recv');
    // What btrfs receive leaves: a read-only subvolume with a received uuid listed in the uuid tree.
    const received = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
    await fs.transaction(async (info) => {
      const root = info.root(sv.id);
      root.item!.receivedUuid = received.slice();
      root.item!.stransid = 7;
      await updateRootItem(info, root);
      await uuidTreeAdd(info, received, ItemType.UUID_KEY_RECEIVED_SUBVOL, sv.id);
    });
    await fs.property.set('/recv', 'ro', 'true');
    // A read-only snapshot keeps the received uuid: the uuid tree item lists both subvolumes.
    const snap = await fs.subvolume.snapshot('/recv', '/snap', { readonly: true });
    expect(snap.receivedUuid).toBe((await fs.subvolume.show('/recv')).receivedUuid);
    expect(await fs.read((info) => uuidTreeLookup(info, received, ItemType.UUID_KEY_RECEIVED_SUBVOL))).toEqual([sv.id, snap.id]);
    const m0 = new SubvolModel();
    m0.sub(5, 'recv', sv.id);
    m0.sub(5, 'snap', snap.id);
    await judgeSubvolumes(dev, fs, m0, 'received and its snapshot');
    await fs.subvolume.delete('/snap');
    expect(await fs.read((info) => uuidTreeLookup(info, received, ItemType.UUID_KEY_RECEIVED_SUBVOL))).toEqual([sv.id]);
    await expect(fs.property.set('/recv', 'ro', 'false')).rejects.toMatchObject({ code: 'EPERM' });
    expect((await fs.subvolume.show('/recv')).receivedUuid).not.toBe('-');
    await fs.property.set('/recv', 'ro', 'false', { force: true });
    const after = await fs.subvolume.show('/recv');
    expect([after.readonly, after.receivedUuid, after.stransid]).toEqual([false, '-', 0]);
    expect(await fs.read((info) => uuidTreeLookup(info, received, ItemType.UUID_KEY_RECEIVED_SUBVOL))).toEqual([]);
    const m = new SubvolModel();
    m.sub(5, 'recv', sv.id);
    await judgeSubvolumes(dev, fs, m, 'received flag cleared');
    await fs.unmount();
  });

  it('properties: compression (the btrfs.compression xattr), label, list', async () => {
    const { fs } = await fresh();
    const p = fs.promises;
    await p.writeFile('/f', 'x');
    expect(await fs.property.get('/f', 'compression')).toBe('');
    await fs.property.set('/f', 'compression', 'none');
    expect(await fs.property.get('/f', 'compression')).toBe('none');
    expect(await fs.attributes.get('/f')).toContain('m');
    expect(new TextDecoder().decode(await p.getxattr('/f', 'btrfs.compression') as Uint8Array)).toBe('none');
    await fs.property.set('/f', 'compression', '');
    expect(await fs.property.get('/f', 'compression')).toBe('');
    expect(await fs.attributes.get('/f')).not.toContain('m');
    // A codec sets the xattr and the COMPRESS flag (chattr c), as prop_compression_apply.
    await fs.property.set('/f', 'compression', 'zstd');
    expect(await fs.property.get('/f', 'compression')).toBe('zstd');
    expect(await fs.attributes.get('/f')).toContain('c');
    await fs.property.set('/f', 'compression', '');
    await expect(fs.property.set('/f', 'compression', 'bogus')).rejects.toMatchObject({ code: 'EINVAL' });
    // A new subvolume inherits its parent subvolume's compression property.
    await fs.property.set('/', 'compression', 'no');
    await fs.subvolume.create('/sv');
    expect(await fs.property.get('/sv', 'compression')).toBe('no');

    await fs.property.set('/', 'label', 'my-label');
    expect(await fs.property.get('/', 'label')).toBe('my-label');
    expect(await fs.filesystem.getLabel()).toBe('my-label');
    await expect(fs.property.get('/f', 'label')).rejects.toMatchObject({ code: 'EINVAL' });
    expect((await fs.property.list('/')).map((e) => [e.name, e.value])).toEqual([['ro', 'false'], ['label', 'my-label'], ['compression', 'no']]);
    expect((await fs.property.list('/sv')).map((e) => e.name)).toEqual(['ro', 'compression']);
    expect((await fs.property.list('/f')).map((e) => e.name)).toEqual(['compression']);
    await fs.unmount();
  });

  it('errors as btrfs gives them', async () => {
    const { fs } = await fresh();
    const p = fs.promises;
    await p.mkdir('/plain');
    await fs.subvolume.create('/sv');
    await expect(fs.subvolume.create('/sv')).rejects.toMatchObject({ code: 'EEXIST', syscall: 'ioctl', path: '/sv' });
    await expect(fs.subvolume.create('/nope/sv')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fs.subvolume.snapshot('/plain', '/s')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(fs.subvolume.snapshot('/sv', '/plain')).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(fs.subvolume.delete('/plain')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(fs.subvolume.delete(5)).rejects.toMatchObject({ code: 'EPERM' });
    await expect(fs.subvolume.delete(12345)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fs.subvolume.show('/plain')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(fs.subvolume.setDefault(12345)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await fs.subvolume.isSubvolume('/sv')).toBe(true);
    expect(await fs.subvolume.isSubvolume('/plain')).toBe(false);
    expect(await fs.subvolume.isSubvolume('/')).toBe(true);
    // An open file keeps its subvolume from being deleted (butterfs: EBUSY, see docs/api.md).
    await p.writeFile('/sv/f', 'x');
    const h = await p.open('/sv/f', 'r');
    await expect(fs.subvolume.delete('/sv')).rejects.toMatchObject({ code: 'EBUSY' });
    await h.close();
    await fs.subvolume.delete('/sv');
    await expect(p.stat('/sv')).rejects.toMatchObject({ code: 'ENOENT' });
    await fs.unmount();
  });

  it('list and show agree with btrfs-progs dump-tree of the root tree', async () => {
    const { dev, fs } = await fresh();
    const p = fs.promises;
    await p.mkdir('/x/y', { recursive: true });
    const a = await fs.subvolume.create('/x/y/a');
    await p.writeFile('/x/y/a/f', 'f');
    const n = await fs.subvolume.create('/x/y/a/n');
    await fs.sync();
    const s = await fs.subvolume.snapshot('/x/y/a', '/s', { readonly: true });
    await p.writeFile('/x/y/a/g', 'g');
    await fs.sync();
    const show = await fs.subvolume.show('/x/y/a');
    expect(show.snapshots).toEqual(['s']);
    const list = await fs.subvolume.list();
    expect(list.map((l) => [l.id, l.topLevel, l.path])).toEqual([[a.id, 5, 'x/y/a'], [n.id, a.id, 'x/y/a/n'], [s.id, 5, 's']]);
    const { dir, cleanup } = await tempDir('butterfs-subvol-list-');
    try {
      const img = join(dir, 'fs.img');
      await saveImage(dev, img);
      const dump = (await btrfsProg(['inspect-internal', 'dump-tree', '-t', '1', img])).output;
      for (const l of list) {
        const block = new RegExp(`key \\(${l.id} ROOT_ITEM \\d+\\)[^\\n]*\\n\\s*generation (\\d+)[^\\n]*\\n\\s*last_snapshot \\d+ flags (0x[0-9a-f]+)[^\\n]*\\n[^\\n]*\\n[^\\n]*\\n\\s*uuid (\\S+)\\n\\s*parent_uuid (\\S+)\\n\\s*received_uuid (\\S+)\\n\\s*ctransid (\\d+) otransid (\\d+)`).exec(dump);
        expect(block, `root item ${l.id} in dump-tree`).not.toBeNull();
        const [, gen, flags, uuid, parentUuid, , ctransid, otransid] = block!;
        const none = (u: string) => (/^0{8}-/.test(u) ? '-' : u);
        expect({ gen: l.gen, flags: l.flags, uuid: l.uuid, parentUuid: l.parentUuid, ctransid: l.ctransid, cgen: l.cgen }, `subvolume ${l.id}`).toEqual({
          gen: Number(gen), flags: Number(flags), uuid, parentUuid: none(parentUuid), ctransid: Number(ctransid), cgen: Number(otransid),
        });
        const back = new RegExp(`key \\(${l.id} ROOT_BACKREF (\\d+)\\)[^\\n]*\\n\\s*root backref key dirid (\\d+) sequence \\d+ name (\\S+)`).exec(dump);
        expect(back && [Number(back[1]), Number(back[2]), back[3]], `backref of ${l.id}`).toEqual([l.topLevel, l.dirId, l.name]);
      }
    } finally {
      await cleanup();
    }
    await fs.unmount();
  });

  it('the cleaner: a deletion interrupted by unmount resumes at the next mount', async () => {
    const { dev, fs } = await fresh();
    const p = fs.promises;
    const before = fs.info.sb.bytesUsed;
    await fs.subvolume.create('/big');
    for (let i = 0; i < 300; i++) await p.writeFile(`/big/f${i}`, `file ${i} `.repeat(50 + (i % 7) * 100));
    await fs.sync();
    // Small chunks: the first cleaner turn (queued before the unmount) leaves the drop half done.
    fs.cleanerBudget = 4;
    await fs.subvolume.delete('/big');
    await fs.unmount();
    const { dir, cleanup } = await tempDir('butterfs-subvol-drop-');
    try {
      const img = join(dir, 'fs.img');
      await saveImage(dev, img);
      const dump = (await btrfsProg(['inspect-internal', 'dump-tree', '-t', '1', img])).output;
      expect(dump, 'a half-dropped tree with its drop progress').toMatch(/drop_progress key \(\d+ [A-Z_]+ \d+\) drop_level [1-9]/);
      const c = await btrfsCheck(img, { dataCsum: true });
      expect(c.ok, c.output).toBe(true);
    } finally {
      await cleanup();
    }
    const again = await mount([dev]);
    await again.subvolume.sync();
    expect(await again.subvolume.list()).toEqual([]);
    expect((await again.check()).errors).toEqual([]);
    // Every data extent and tree block of the subvolume is back (trees that grew a level on
    // the way, the extent tree for one, may keep a block or two).
    expect(again.info.sb.bytesUsed - before).toBeLessThanOrEqual(4 * 4096);
    await again.unmount();
  });
});

// Subvolumes and snapshots end to end (fstests btrfs/001 is the model): create, snapshot (rw
// and ro), independent changes, nested subvolumes and their placeholders in snapshots,
// deletion with the cleaner, default subvolume. After each step: our check, btrfs check
// --readonly --check-data-csum, `btrfs restore -l` and `btrfs restore -r ID` of every
// subvolume against the model, and fs.promises against the model.
import { describe, it, expect } from 'vitest';
import { MemoryDevice } from '../../../src/device/memory.js';
import { mkfs, mount, type Filesystem } from '../../../src/api/filesystem.js';
import { SubvolModel, judgeSubvolumes } from '../../shared/subvol-oracle.js';

async function fresh(): Promise<{ dev: MemoryDevice; fs: Filesystem }> {
  const dev = new MemoryDevice(256 * 1024 * 1024);
  await mkfs([dev], { nodesize: 4096 });
  return { dev, fs: await mount([dev]) };
}

function bytes(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = 0x61 + (x % 26);
  }
  return out;
}

describe('subvolumes (btrfs/001)', () => {
  it('create, snapshot rw and ro, change source and snapshot independently, delete', async () => {
    const { dev, fs } = await fresh();
    const p = fs.promises;
    const m = new SubvolModel();
    await p.writeFile('/foo', 'top level');
    m.file(5, 'foo', 'top level');

    // A snapshot of the top level, as btrfs/001 starts.
    const snap = await fs.subvolume.snapshot('/', '/snap');
    expect(snap.parentUuid).toBe((await fs.subvolume.show('/')).uuid);
    m.sub(5, 'snap', snap.id, m.tree(5));
    await judgeSubvolumes(dev, fs, m, 'snapshot of the top level');

    // A new subvolume with a tree of files, then rw and ro snapshots of it.
    const sv = await fs.subvolume.create('/sv');
    expect(sv.topLevel).toBe(5);
    expect((await p.stat('/sv')).ino).toBe(256);
    m.sub(5, 'sv', sv.id);
    await p.mkdir('/sv/dir');
    m.dir(sv.id, 'dir');
    for (let i = 0; i < 40; i++) {
      const d = bytes(i, 100 + i * 997);
      await p.writeFile(`/sv/dir/f${i}`, d);
      m.file(sv.id, `dir/f${i}`, d);
    }
    const rw = await fs.subvolume.snapshot('/sv', '/sv-rw');
    m.sub(5, 'sv-rw', rw.id, m.tree(sv.id));
    const ro = await fs.subvolume.snapshot('/sv', '/sv-ro', { readonly: true });
    expect(ro.readonly).toBe(true);
    m.sub(5, 'sv-ro', ro.id, m.tree(sv.id));
    await judgeSubvolumes(dev, fs, m, 'subvolume and two snapshots');

    // Changes in the source and in the rw snapshot stay apart.
    for (let i = 0; i < 40; i += 3) {
      const d = bytes(1000 + i, 3000);
      await p.writeFile(`/sv/dir/f${i}`, d);
      m.file(sv.id, `dir/f${i}`, d);
    }
    for (let i = 1; i < 40; i += 4) {
      await p.unlink(`/sv-rw/dir/f${i}`);
      m.remove(rw.id, `dir/f${i}`);
    }
    await p.appendFile('/sv-rw/dir/f0', 'more');
    m.file(rw.id, 'dir/f0', Buffer.concat([m.tree(rw.id).get('dir/f0')!.kind === 'file' ? (m.tree(rw.id).get('dir/f0') as { data: Uint8Array }).data : new Uint8Array(), Buffer.from('more')]));
    await p.rename('/sv-rw/dir/f2', '/sv-rw/moved');
    m.file(rw.id, 'moved', (m.tree(rw.id).get('dir/f2') as { data: Uint8Array }).data);
    m.remove(rw.id, 'dir/f2');
    // The read-only snapshot refuses every change.
    await expect(p.writeFile('/sv-ro/dir/f0', 'x')).rejects.toMatchObject({ code: 'EROFS' });
    await expect(p.unlink('/sv-ro/dir/f1')).rejects.toMatchObject({ code: 'EROFS' });
    await expect(p.mkdir('/sv-ro/new')).rejects.toMatchObject({ code: 'EROFS' });
    await judgeSubvolumes(dev, fs, m, 'independent changes');

    // Delete the rw snapshot and the original snapshot of the top level; the cleaner drops them.
    await fs.subvolume.delete('/sv-rw');
    m.remove(5, 'sv-rw');
    m.subs.delete(rw.id);
    await fs.subvolume.delete('/snap');
    m.remove(5, 'snap');
    m.subs.delete(snap.id);
    await judgeSubvolumes(dev, fs, m, 'after deletes');
    expect((await fs.subvolume.list()).map((s) => s.id)).toEqual([sv.id, ro.id]);

    // Everything survives a remount.
    await fs.unmount();
    const again = await mount([dev]);
    await judgeSubvolumes(dev, again, m, 'after remount');
    await again.unmount();
  }, 120_000);

  it('nested subvolumes: snapshots show them as empty directories; restore follows them', async () => {
    const { dev, fs } = await fresh();
    const p = fs.promises;
    const m = new SubvolModel();
    const a = await fs.subvolume.create('/a');
    m.sub(5, 'a', a.id);
    await p.mkdir('/a/d');
    m.dir(a.id, 'd');
    await p.writeFile('/a/d/file', 'a file');
    m.file(a.id, 'd/file', 'a file');
    const n = await fs.subvolume.create('/a/d/nested');
    expect(n.topLevel).toBe(a.id);
    expect(n.path).toBe('a/d/nested');
    m.sub(a.id, 'd/nested', n.id);
    await p.writeFile('/a/d/nested/inner', 'inner');
    m.file(n.id, 'inner', 'inner');
    const deeper = await fs.subvolume.create('/a/d/nested/deeper');
    m.sub(n.id, 'deeper', deeper.id);

    const s = await fs.subvolume.snapshot('/a', '/s');
    m.sub(5, 's', s.id, m.tree(a.id));
    // The placeholder: an empty directory, inode 2, of the snapshot's device.
    const st = await p.stat('/s/d/nested');
    expect(st.isDirectory()).toBe(true);
    expect(st.ino).toBe(2);
    expect(st.dev).toBe(s.id);
    expect(await p.readdir('/s/d/nested')).toEqual([]);
    await expect(p.writeFile('/s/d/nested/x', 'x')).rejects.toMatchObject({ code: 'EPERM' });
    await expect(p.mkdir('/s/d/nested/x')).rejects.toMatchObject({ code: 'EPERM' });
    await judgeSubvolumes(dev, fs, m, 'snapshot with a nested subvolume');

    // A subvolume holding another cannot be deleted; rmdir of a placeholder removes the entry.
    await expect(fs.subvolume.delete('/a')).rejects.toMatchObject({ code: 'ENOTEMPTY' });
    await expect(fs.subvolume.delete('/a/d/nested')).rejects.toMatchObject({ code: 'ENOTEMPTY' });
    await expect(fs.subvolume.delete('/s/d/nested')).rejects.toMatchObject({ code: 'EINVAL' });
    await p.rmdir('/s/d/nested');
    m.remove(s.id, 'd/nested');
    await judgeSubvolumes(dev, fs, m, 'placeholder removed');

    // Innermost first, then the rest goes.
    await fs.subvolume.delete('/a/d/nested/deeper');
    m.remove(n.id, 'deeper');
    m.subs.delete(deeper.id);
    await fs.subvolume.delete('/a/d/nested');
    m.remove(a.id, 'd/nested');
    m.subs.delete(n.id);
    await fs.subvolume.delete('/a');
    m.remove(5, 'a');
    m.subs.delete(a.id);
    await judgeSubvolumes(dev, fs, m, 'nested deleted');
    await fs.unmount();
  }, 120_000);

  it('rm -r deletes subvolumes inside the tree it removes; rmdir deletes an empty subvolume', async () => {
    const { dev, fs } = await fresh();
    const p = fs.promises;
    const m = new SubvolModel();
    await p.mkdir('/tree/deep', { recursive: true });
    await fs.subvolume.create('/tree/deep/sv');
    await p.writeFile('/tree/deep/sv/f', 'f');
    await fs.subvolume.create('/tree/deep/sv/inner');
    await p.writeFile('/tree/deep/sv/inner/g', 'g');
    await fs.subvolume.snapshot('/tree/deep/sv', '/tree/snap');
    await p.rm('/tree', { recursive: true });
    const e = await fs.subvolume.create('/empty');
    await expect(p.rmdir('/empty/..')).rejects.toBeDefined();
    await p.writeFile('/empty/x', 'x');
    await expect(p.rmdir('/empty')).rejects.toMatchObject({ code: 'ENOTEMPTY' });
    await p.unlink('/empty/x');
    await p.rmdir('/empty');
    expect((await fs.subvolume.list()).map((s) => s.id)).not.toContain(e.id);
    await judgeSubvolumes(dev, fs, m, 'all removed');
    // Every tree block and data extent of the deleted subvolumes is back.
    const used = (await fs.check()).errors;
    expect(used).toEqual([]);
    await fs.unmount();
  }, 120_000);

  it('the default subvolume: set-default, mount without options, EPERM on delete', async () => {
    const { dev, fs } = await fresh();
    const p = fs.promises;
    const m = new SubvolModel();
    const sv = await fs.subvolume.create('/sv');
    m.sub(5, 'sv', sv.id);
    await p.writeFile('/sv/inside', 'inside');
    m.file(sv.id, 'inside', 'inside');
    expect((await fs.subvolume.getDefault()).id).toBe(5);
    await fs.subvolume.setDefault('/sv');
    expect((await fs.subvolume.getDefault()).id).toBe(sv.id);
    expect(fs.info.sb.incompatFlags & 2).toBe(2);
    await expect(fs.subvolume.delete('/sv')).rejects.toMatchObject({ code: 'EPERM' });
    await judgeSubvolumes(dev, fs, m, 'default set');
    await fs.unmount();

    const def = await mount([dev]);
    expect(def.subvolumeId).toBe(sv.id);
    expect(await def.promises.readdir('/')).toEqual(['inside']);
    expect((await def.promises.stat('/')).dev).toBe(sv.id);
    await def.unmount();
    const top = await mount([dev], 'subvolid=5');
    expect(await top.promises.readdir('/')).toEqual(['sv']);
    await top.subvolume.setDefault(0);
    await top.subvolume.delete('/sv');
    m.remove(5, 'sv');
    m.subs.delete(sv.id);
    await judgeSubvolumes(dev, top, m, 'default back to 5, deleted');
    await top.unmount();
  }, 120_000);
});

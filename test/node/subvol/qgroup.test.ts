// Quotas (qgroups) end to end, modelled on fstests: btrfs/017 (shared extents: a file and a
// snapshot), btrfs/091 (extents cloned between subvolumes), btrfs/022 (limits: EDQUOT and
// nothing changed), btrfs/104 (accounting across a snapshot delete). After every step the
// image must pass `btrfs check --readonly --qgroup-report` with no difference, and our
// check must agree (judgeQgroups).
import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { mkdir, readFile, writeFile, truncate } from 'node:fs/promises';
import { MemoryDevice } from '../../../src/device/memory.js';
import { mkfs, mount, type Filesystem } from '../../../src/api/filesystem.js';
import { FsError } from '../../../src/util/errors.js';
import { judgeQgroups, progsQgroupReport } from '../../shared/qgroup-oracle.js';
import { qgroupState } from '../../../src/subvol/qgroup.js';
import { tempDir } from '../../shared/btrfs-progs.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

async function fresh(nodesize = 16384): Promise<{ dev: MemoryDevice; fs: Filesystem }> {
  const dev = new MemoryDevice(256 * MiB);
  await mkfs([dev], { nodesize });
  return { dev, fs: await mount([dev]) };
}

function bytes(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const COPYFILE_FICLONE = 2;

describe('qgroups', () => {
  it('enable on a filesystem with data: numbers from the rescan; writes accounted at commit; remount keeps them', async () => {
    const { dev, fs } = await fresh();
    await fs.promises.writeFile('/a', bytes(1, 300_000));
    await fs.qgroup.enable();
    expect(await fs.qgroup.status()).toEqual({ enabled: true, inconsistent: false, rescanRunning: false });
    const shown = await judgeQgroups(dev, fs, 'enabled');
    const top = shown.get('0/5')!;
    expect(top.referenced).toBe(top.exclusive);
    expect(top.referenced).toBeGreaterThanOrEqual(303_104);
    await fs.promises.writeFile('/b', bytes(2, 100_000));
    const after = await judgeQgroups(dev, fs, 'write');
    expect(after.get('0/5')!.referenced - top.referenced).toBeGreaterThanOrEqual(102_400);
    await fs.unmount();
    const again = await mount([dev]);
    expect((await again.qgroup.show()).find((g) => g.qgroupid === '0/5')!.referenced).toBe(after.get('0/5')!.referenced);
    await again.promises.unlink('/a');
    const gone = await judgeQgroups(dev, again, 'unlink');
    expect(after.get('0/5')!.referenced - gone.get('0/5')!.referenced).toBeGreaterThanOrEqual(303_104);
    await again.unmount();
  });

  it('btrfs/017: a file, a reflink in the same subvolume, a snapshot, the source files removed', async () => {
    const { dev, fs } = await fresh();
    const p = fs.promises;
    await fs.qgroup.enable();
    await fs.subvolume.create('/sv');
    await p.writeFile('/sv/foo', bytes(3, 65536));
    await p.copyFile('/sv/foo', '/sv/foo-reflink', COPYFILE_FICLONE);
    let n = await judgeQgroups(dev, fs, 'file + reflink');
    const sv = (await fs.subvolume.show('/sv')).id;
    const before = n.get(`0/${sv}`)!;
    expect(before.referenced).toBe(before.exclusive);

    const snap = await fs.subvolume.snapshot('/sv', '/snap');
    n = await judgeQgroups(dev, fs, 'snapshot');
    // A fresh snapshot and its source each have one node of exclusive.
    expect(n.get(`0/${sv}`)).toEqual({ referenced: before.referenced, exclusive: 16384 });
    expect(n.get(`0/${snap.id}`)).toEqual({ referenced: before.referenced, exclusive: 16384 });

    await p.unlink('/sv/foo');
    await p.unlink('/sv/foo-reflink');
    n = await judgeQgroups(dev, fs, 'source files removed');
    // The data is now the snapshot's alone.
    expect(n.get(`0/${snap.id}`)!.exclusive).toBeGreaterThanOrEqual(65536);
    expect(n.get(`0/${sv}`)!.referenced).toBeLessThan(before.referenced - 65536 + 16384 * 2);
    await fs.unmount();
  });

  it('btrfs/091: extents cloned between subvolumes are referenced by both and exclusive to neither', async () => {
    const { dev, fs } = await fresh();
    const p = fs.promises;
    await fs.qgroup.enable();
    const a = await fs.subvolume.create('/a');
    const b = await fs.subvolume.create('/b');
    await p.writeFile('/a/f', bytes(4, 256 * 1024));
    let n = await judgeQgroups(dev, fs, 'written');
    const aBefore = n.get(`0/${a.id}`)!;
    await p.copyFile('/a/f', '/b/f', COPYFILE_FICLONE);
    n = await judgeQgroups(dev, fs, 'cloned');
    expect(n.get(`0/${a.id}`)!.referenced).toBe(aBefore.referenced);
    expect(n.get(`0/${a.id}`)!.exclusive).toBe(aBefore.exclusive - 256 * 1024);
    expect(n.get(`0/${b.id}`)!.referenced).toBeGreaterThanOrEqual(256 * 1024);
    // Overwrite half in b: that half is b's own, the other half still shared.
    const h = await p.open('/b/f', 'r+');
    await h.write(bytes(5, 128 * 1024), 0, 128 * 1024, 0);
    await h.close();
    n = await judgeQgroups(dev, fs, 'half overwritten in b');
    // Also a clone inside a (a second ref from the same subvolume) and one into the top level.
    await p.copyFile('/a/f', '/a/g', COPYFILE_FICLONE);
    await p.copyFile('/b/f', '/top', COPYFILE_FICLONE);
    await judgeQgroups(dev, fs, 'more clones');
    await p.unlink('/a/f');
    await p.unlink('/a/g');
    n = await judgeQgroups(dev, fs, 'a unlinked');
    await fs.unmount();
  });

  it('btrfs/022: limits: EDQUOT before anything changes; raising the limit lets the write through; exclusive limits after a snapshot', async () => {
    const { dev, fs } = await fresh();
    const p = fs.promises;
    await fs.qgroup.enable();
    const sv = await fs.subvolume.create('/sv');
    await fs.qgroup.limit(`0/${sv.id}`, { maxReferenced: 1 * MiB });
    expect((await fs.qgroup.show()).find((g) => g.qgroupid === `0/${sv.id}`)!.maxReferenced).toBe(MiB);
    await p.writeFile('/sv/small', bytes(6, 200 * 1024));
    const gen = fs.generation;
    const before = await judgeQgroups(dev, fs, 'under the limit');
    // A write that would pass the limit fails and changes nothing.
    await expect(p.writeFile('/sv/small', bytes(7, 2 * MiB), { flag: 'a' })).rejects.toMatchObject({ code: 'EDQUOT' });
    expect((await p.stat('/sv/small')).size).toBe(200 * 1024);
    expect(new Uint8Array(await p.readFile('/sv/small'))).toEqual(bytes(6, 200 * 1024));
    await fs.sync();
    const after = await judgeQgroups(dev, fs, 'after EDQUOT');
    expect(after.get(`0/${sv.id}`)).toEqual(before.get(`0/${sv.id}`));
    expect(fs.generation).toBeGreaterThanOrEqual(gen);
    // Writes fill up to the limit, then fail.
    let written = 0;
    for (let i = 0; i < 20; i++) {
      try {
        await p.writeFile(`/sv/f${i}`, bytes(10 + i, 128 * 1024));
        written++;
      } catch (e) {
        expect((e as FsError).code).toBe('EDQUOT');
        break;
      }
    }
    expect(written).toBeGreaterThan(2);
    expect(written).toBeLessThan(8);
    const full = await judgeQgroups(dev, fs, 'full');
    expect(full.get(`0/${sv.id}`)!.referenced).toBeLessThanOrEqual(MiB);
    // The limit by path; cleared (null) lets anything through.
    await fs.qgroup.limit('/sv/small', { maxReferenced: null });
    await p.writeFile('/sv/big', bytes(30, 2 * MiB));
    // An exclusive limit counts only what the snapshot does not share.
    await fs.subvolume.snapshot('/sv', '/snap');
    const snapShown = await judgeQgroups(dev, fs, 'snapshot');
    expect(snapShown.get(`0/${sv.id}`)!.exclusive).toBe(16384);
    await fs.qgroup.limit(`0/${sv.id}`, { maxExclusive: 512 * 1024 });
    await p.writeFile('/sv/x', bytes(31, 256 * 1024));
    await expect(p.writeFile('/sv/y', bytes(32, 512 * 1024))).rejects.toMatchObject({ code: 'EDQUOT' });
    // As on Linux: open(O_CREAT) made the file, the write failed: it is empty.
    expect((await p.stat('/sv/y')).size).toBe(0);
    await judgeQgroups(dev, fs, 'exclusive limit');
    await fs.unmount();
  });

  it('btrfs/104: numbers across a snapshot delete return when the drop completes (small nodes, chunked drop)', async () => {
    const { dev, fs } = await fresh(4096);
    const p = fs.promises;
    await fs.qgroup.enable();
    const sv = await fs.subvolume.create('/sv');
    await p.mkdir('/sv/d');
    for (let i = 0; i < 120; i++) await p.writeFile(`/sv/d/f${i}`, bytes(100 + i, 3000 + i * 131));
    const base = await judgeQgroups(dev, fs, 'files');
    const svBase = base.get(`0/${sv.id}`)!;
    expect(svBase.referenced).toBe(svBase.exclusive);
    const snap = await fs.subvolume.snapshot('/sv', '/snap');
    const nested = await fs.subvolume.snapshot('/snap', '/snap2');
    for (let i = 0; i < 120; i += 7) await p.writeFile(`/snap/d/f${i}`, bytes(999 + i, 5000));
    for (let i = 3; i < 120; i += 11) await p.unlink(`/sv/d/f${i}`);
    await judgeQgroups(dev, fs, 'changes on both sides');
    fs.cleanerBudget = 6;
    await fs.subvolume.delete('/snap');
    // Judge a few times while the cleaner drops in small chunks, then at the end.
    for (let k = 0; k < 3; k++) {
      await new Promise((r) => setTimeout(r, 5));
      await judgeQgroups(dev, fs, `drop in progress ${k}`);
    }
    await fs.subvolume.sync();
    let n = await judgeQgroups(dev, fs, 'snapshot dropped');
    await fs.subvolume.delete('/snap2');
    await fs.subvolume.sync();
    n = await judgeQgroups(dev, fs, 'both dropped');
    // With every snapshot gone, everything sv references is its own again.
    expect(n.get(`0/${sv.id}`)!.exclusive).toBe(n.get(`0/${sv.id}`)!.referenced);
    expect(n.get(`0/${snap.id}`)).toEqual({ referenced: 0, exclusive: 0 });
    expect(n.get(`0/${nested.id}`)).toEqual({ referenced: 0, exclusive: 0 });
    await fs.unmount();
  });

  it('higher-level qgroups: create, assign (quick accounting and rescan), remove, destroy', async () => {
    const { dev, fs } = await fresh();
    const p = fs.promises;
    await fs.qgroup.enable();
    const a = await fs.subvolume.create('/a');
    const b = await fs.subvolume.create('/b');
    await p.writeFile('/a/f', bytes(40, 100_000));
    await p.writeFile('/b/f', bytes(41, 50_000));
    await fs.qgroup.create('1/100');
    await fs.qgroup.assign(`0/${a.id}`, '1/100');
    await fs.qgroup.assign(`0/${b.id}`, '1/100');
    let n = await judgeQgroups(dev, fs, 'assigned');
    expect(n.get('1/100')!.referenced).toBe(n.get(`0/${a.id}`)!.referenced + n.get(`0/${b.id}`)!.referenced);
    // Shared between members: exclusive to the parent, not to either member.
    await p.copyFile('/a/f', '/b/g', COPYFILE_FICLONE);
    n = await judgeQgroups(dev, fs, 'clone within the parent');
    expect(n.get('1/100')!.exclusive).toBe(n.get('1/100')!.referenced);
    // A snapshot of a member (the parent's numbers need a rescan, as btrfs marks them).
    await fs.subvolume.snapshot('/a', '/a-snap');
    await fs.qgroup.rescan();
    n = await judgeQgroups(dev, fs, 'snapshot of a member, rescanned');
    const show = await fs.qgroup.show();
    expect(show.find((g) => g.qgroupid === '1/100')!.children).toEqual([`0/${a.id}`, `0/${b.id}`]);
    await expect(fs.qgroup.destroy('1/100')).rejects.toMatchObject({ code: 'EBUSY' });
    await fs.qgroup.remove(`0/${a.id}`, '1/100');
    await judgeQgroups(dev, fs, 'removed (rescan)');
    await fs.qgroup.remove(`0/${b.id}`, '1/100');
    await fs.qgroup.destroy('1/100');
    n = await judgeQgroups(dev, fs, 'destroyed');
    expect(n.has('1/100')).toBe(false);
    await expect(fs.qgroup.assign('0/5', '0/5')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(fs.qgroup.destroy('1/7')).rejects.toMatchObject({ code: 'ENOENT' });
    await fs.unmount();
  });

  it('disable removes the quota tree; enable again recomputes; commands without quotas are ENOTCONN', async () => {
    const { dev, fs } = await fresh();
    await expect(fs.qgroup.show()).rejects.toMatchObject({ code: 'ENOTCONN' });
    await fs.qgroup.enable();
    await fs.promises.writeFile('/a', bytes(50, 70_000));
    await judgeQgroups(dev, fs, 'enabled');
    await fs.qgroup.disable();
    expect(await fs.qgroup.status()).toMatchObject({ enabled: false });
    expect(await fs.dumpTree({ tree: 1 })).not.toContain('QUOTA_TREE');
    const r = await progsQgroupReport(dev);
    expect(r.output).not.toContain('Counts for qgroup');
    await fs.promises.writeFile('/b', bytes(51, 70_000));
    await fs.qgroup.enable();
    await fs.qgroup.enable();
    const n = await judgeQgroups(dev, fs, 'enabled again');
    expect(n.get('0/5')!.referenced).toBeGreaterThanOrEqual(2 * 73_728);
    await fs.unmount();
  });

  it('an image made by mkfs.btrfs -R quota mounts and accounts our changes', async () => {
    const t = await tempDir('butterfs-qg-mkfs-');
    try {
      const root = join(t.dir, 'root');
      await mkdir(join(root, 'd'), { recursive: true });
      await writeFile(join(root, 'd', 'big'), bytes(60, 300_000));
      await writeFile(join(root, 'small'), 'hi\n');
      const img = join(t.dir, 'img');
      await writeFile(img, '');
      await truncate(img, 256 * MiB);
      await run('mkfs.btrfs', ['-q', '-f', '-R', 'quota', '-r', root, img]);
      const dev = new MemoryDevice(256 * MiB);
      await dev.write(0, new Uint8Array(await readFile(img)));
      const fs = await mount([dev]);
      expect(await fs.qgroup.status()).toMatchObject({ enabled: true });
      const before = (await fs.qgroup.show()).find((g) => g.qgroupid === '0/5')!;
      expect(before.maxReferenced).toBe(null);
      await fs.promises.writeFile('/d/new', bytes(61, 100_000));
      await fs.subvolume.snapshot('/', '/snap');
      await fs.promises.unlink('/d/big');
      const n = await judgeQgroups(dev, fs, 'mkfs.btrfs -R quota image');
      expect(n.get('0/5')!.exclusive).toBe(16384);
      await fs.unmount();
    } finally {
      await t.cleanup();
    }
  });

  it('a wrong number is caught by our check and by btrfs check alike', async () => {
    const { dev, fs } = await fresh();
    await fs.qgroup.enable();
    await fs.promises.writeFile('/a', bytes(70, 50_000));
    await judgeQgroups(dev, fs, 'clean');
    await fs.transaction(async (info) => {
      const st = qgroupState(info)!;
      st.get(5)!.excl -= 4096;
      st.markDirty(5);
    });
    await fs.sync();
    const ours = await fs.check();
    expect(ours.errors.join('\n')).toMatch(/qgroup 0\/5: .*exclusive/);
    expect((await progsQgroupReport(dev)).different).toEqual(['0/5']);
    await fs.qgroup.rescan();
    await judgeQgroups(dev, fs, 'rescanned');
    await fs.unmount();
  });
});

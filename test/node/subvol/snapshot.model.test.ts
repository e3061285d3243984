// Snapshots against a model: seeded random writes, truncates, unlinks, reflinks across
// subvolumes, snapshots (of snapshots too) and deletions, with commits in between; every
// subvolume's files must equal the model after each commit, and the filesystem pass our
// check (btrfs check --check-data-csum on a sample). At the end every snapshot and file is
// deleted and the cleaner (resumeDeadRoots) runs: data space returns to zero and bytes
// used to where it started, but for the shape of the trees.
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../src/device/fault.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { snapshotRoot } from '../../../src/subvol/snapshot.js';
import { resumeDeadRoots } from '../../../src/subvol/drop-tree.js';
import { writeFile, truncateFile, cloneRange } from '../../../src/inode/file.js';
import { BlockGroupFlags } from '../../../src/format/constants.js';
import type { FsInfo, Root } from '../../../src/fs/fs-info.js';
import { linkSubvolume, deleteSubvolume } from '../../shared/subvol-links.js';
import { newFs, makeFile, bytes, expectContent, removeName, inoOf, judge } from '../../shared/snap-harness.js';

interface Sub {
  root: Root;
  files: Map<string, Uint8Array>;
  /** Name and dir index of its link in the fs tree (undefined for the fs tree). */
  link?: { name: string; index: number };
  readonly: boolean;
}

function dataUsed(fs: FsInfo): number {
  let n = 0;
  for (const bg of fs.blockGroups.all()) if (bg.flags & BlockGroupFlags.DATA) n += bg.used;
  return n;
}

function written(old: Uint8Array, off: number, d: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.max(old.length, off + d.length));
  out.set(old);
  out.set(d, off);
  return out;
}

const OPS = Number(process.env.SNAP_MODEL_OPS ?? 160);

describe('snapshots against a model', () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: ${OPS} operations`, async () => {
      const { dev, fs } = await newFs();
      const startUsed = fs.sb.bytesUsed;
      const rand = mulberry32(seed);
      const int = (n: number) => Math.floor(rand() * n);
      const pick = <T>(a: T[]): T => a[int(a.length)];
      const subs: Sub[] = [{ root: fs.fsTree, files: new Map(), readonly: false }];
      let nextId = 256;
      let nextFile = 0;
      let snapshots = 0;
      let seq = 0;
      startTransaction(fs);
      for (let op = 1; op <= OPS; op++) {
        let r = rand();
        const s = pick(subs);
        const names = [...s.files.keys()];
        // Read-only snapshots are only sources of clones and snapshots, or deleted.
        if (s.readonly && r < 0.55) r = 0.55 + rand() * 0.45;
        seq++;
        if (r < 0.35 || (names.length === 0 && !s.readonly)) {
          // Write into an existing or a new file.
          const name = names.length && rand() < 0.7 ? pick(names) : `f${nextFile++}`;
          const old = s.files.get(name);
          const off = old ? int(old.length + 8192) : 0;
          const d = bytes(seed * 100000 + seq, rand() < 0.2 ? int(3000) + 1 : int(30000) + 1);
          if (old) await writeFile(fs, s.root, (await inoOf(fs, s.root, name))!, off, d);
          else await makeFile(fs, s.root, name, d);
          s.files.set(name, old ? written(old, off, d) : d);
        } else if (r < 0.45) {
          const name = pick(names);
          const size = int(s.files.get(name)!.length + 4096);
          await truncateFile(fs, s.root, (await inoOf(fs, s.root, name))!, size);
          const old = s.files.get(name)!;
          const t = new Uint8Array(size);
          t.set(old.subarray(0, Math.min(size, old.length)));
          s.files.set(name, t);
        } else if (r < 0.55) {
          const name = pick(names);
          await removeName(fs, s.root, name);
          s.files.delete(name);
        } else if (r < 0.7) {
          // Reflink a whole file into a new file of any writable subvolume.
          if (names.length > 0) {
            const name = pick(names);
            const dst = pick(subs.filter((x) => !x.readonly));
            const dname = `f${nextFile++}`;
            const dIno = await makeFile(fs, dst.root, dname, new Uint8Array(0));
            await cloneRange(fs, s.root, (await inoOf(fs, s.root, name))!, 0, 0, dst.root, dIno, 0);
            dst.files.set(dname, s.files.get(name)!.slice());
          }
        } else if (r < 0.82 && snapshots < 6) {
          const id = nextId++;
          const readonly = rand() < 0.2;
          const root = await snapshotRoot(fs, s.root, id, { readonly });
          const name = `snap${id}`;
          const index = await linkSubvolume(fs, root, name);
          subs.push({ root, files: new Map(s.files), link: { name, index }, readonly });
          snapshots++;
        } else if (r < 0.9 && subs.length > 1) {
          const k = 1 + int(subs.length - 1);
          const victim = subs[k];
          await deleteSubvolume(fs, victim.root, victim.link!.name, victim.link!.index);
          subs.splice(k, 1);
          snapshots--;
          // The cleaner runs now and then, in small chunks.
          if (rand() < 0.5) await resumeDeadRoots(fs, { budget: 1 + int(6) });
        }
        if (op % 16 === 0 || op === OPS) {
          await commitTransaction(fs);
          for (const x of subs) await expectContent(fs, x.root, x.files, `seed ${seed} op ${op} tree ${x.root.objectid}`);
          await judge(dev, fs, `seed ${seed} op ${op}`, op % 64 === 0);
          startTransaction(fs);
        }
      }
      // Everything goes; the cleaner finishes.
      for (const x of subs.slice(1)) await deleteSubvolume(fs, x.root, x.link!.name, x.link!.index);
      for (const name of subs[0].files.keys()) await removeName(fs, fs.fsTree, name);
      await commitTransaction(fs);
      startTransaction(fs);
      await resumeDeadRoots(fs, { budget: 4 });
      await commitTransaction(fs);
      await judge(dev, fs, `seed ${seed} all deleted`);
      console.log(`seed ${seed}: bytes used ${startUsed} at the start, ${fs.sb.bytesUsed} at the end`);
      expect(dataUsed(fs)).toBe(0);
      expect(Math.abs(fs.sb.bytesUsed - startUsed)).toBeLessThanOrEqual(4 * fs.nodesize);
    }, 600_000);
  }
});

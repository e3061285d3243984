// Many new extents of one file placed leaf by leaf (src/inode/file.ts placeExtents, the dirty
// sectors' settle): judged against placing each alone (setBatchedPlacement(false)) on a twin
// filesystem given the same calls. The twins must end with the same file extent items, the
// same nbytes, the same data extent items and refs and the same checksums, and the batched one
// must pass btrfs check --check-data-csum. The file mixes what an overwrite can cut: large
// extents, runs of one-sector extents across several leaves, holes (with and without NO_HOLES),
// a compressed extent, a range shared with another file, extents of the running transaction.
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryDevice, mkfs, mount } from '../../../src/index.js';
import type { Filesystem } from '../../../src/api/filesystem.js';
import { placementStats, setBatchedPlacement } from '../../../src/inode/file.js';
import { findFileExtents } from '../../../src/inode/file-item.js';
import { readInode } from '../../../src/inode/inode.js';
import { iterItems } from '../../../src/tree/ctree.js';
import { Key } from '../../../src/format/key.js';
import { viewOf } from '../../../src/format/struct.js';
import { ExtentItem } from '../../../src/format/structs.js';
import { EXTENT_FLAG_DATA, ItemType } from '../../../src/format/constants.js';
import { setExtentMapVerify } from '../../../src/inode/extent-map.js';
import { btrfsCheckDevice } from '../../shared/btrfs-progs.js';
import { mulberry32 } from '../../shared/rng.js';

const MiB = 1024 * 1024;
const SS = 4096;

const mounted: Filesystem[] = [];
afterEach(async () => {
  setBatchedPlacement(true);
  setExtentMapVerify(false);
  for (const f of mounted.splice(0)) if (f.isMounted) await f.unmount().catch(() => undefined);
});

function bytes(n: number, seed: number): Uint8Array {
  const r = mulberry32(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}

/** Compressible bytes (for the compressed extent). */
function text(n: number): Uint8Array {
  const line = new TextEncoder().encode('the quick brown fox jumps over the lazy dog 0123456789\n');
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = line[i % line.length]!;
  return b;
}

/**
 * What the twins are compared by: the file's items and counters, the data extents and their
 * refs, the checksums. With a snapshot, the snapshot's file too, and each data extent's ref
 * count only: leaves shared with a snapshot are COWed with refs naming their parent leaf, whose
 * address differs between twins that split leaves differently.
 */
async function state(fs: Filesystem, snapshot: boolean): Promise<unknown> {
  return fs.read(async (info) => {
    const fileOf = async (path: string) => {
      const loc = await fs.promises.locate(info, path);
      const item = await readInode(info, loc.root, loc.ino);
      const extents = await findFileExtents(info, loc.root, loc.ino, 0, Number.MAX_SAFE_INTEGER);
      return {
        size: item.size, nbytes: item.nbytes,
        extents: extents.map((e) => [e.fileOffset, e.type, e.compression, e.diskBytenr, e.diskNumBytes, e.offset, e.numBytes, e.ramBytes, e.generation]),
      };
    };
    const data: unknown[] = [];
    for await (const it of iterItems(info, info.extentTree, Key.MIN, Key.MAX)) {
      if (it.key.type === ItemType.EXTENT_ITEM) {
        const ei = ExtentItem.decode(viewOf(it.data), 0);
        if (!(ei.flags & EXTENT_FLAG_DATA)) continue;
        data.push(snapshot ? [it.key.objectid, it.key.offset, ei.refs] : [it.key.objectid, it.key.offset, [...it.data].join(',')]);
      } else if (!snapshot && (it.key.type === ItemType.EXTENT_DATA_REF || it.key.type === ItemType.SHARED_DATA_REF)) {
        data.push([it.key.objectid, it.key.type, it.key.offset, [...it.data].join(',')]);
      }
    }
    const csums: unknown[] = [];
    for await (const it of iterItems(info, info.csumTree, Key.MIN, Key.MAX)) csums.push([it.key.offset, [...it.data].join(',')]);
    return { f: await fileOf('/f'), snap: snapshot ? await fileOf('/snap/f') : undefined, data, csums };
  });
}

/** The calls both twins get: a file with every kind of item, then overwrites of 1-16 sectors that wait as dirty sectors. */
async function script(fs: Filesystem, noHoles: boolean, snapshot: boolean): Promise<void> {
  const p = fs.promises;
  const fh = await p.open('/f', 'w+');
  // Two large extents, [0, 2 MiB).
  await fh.write(bytes(MiB, 1), 0, MiB, 0);
  await fh.write(bytes(MiB, 2), 0, MiB, MiB);
  await fs.sync();
  // One-sector extents over every other sector of [2, 6) MiB: 512 items, a few leaves of them.
  const one = bytes(SS, 3);
  for (let off = 2 * MiB; off < 6 * MiB; off += 2 * SS) {
    one[0] = off / SS;
    await fh.write(one, 0, SS, off);
    if (off % (64 * SS) === 0) await fs.sync();
  }
  // A hole [6, 8) MiB (an item without NO_HOLES), then 1 MiB more.
  await fh.write(bytes(MiB, 4), 0, MiB, 8 * MiB);
  // A compressed extent at [9, 9.25) MiB.
  await fs.property.set('/f', 'compression', 'zstd');
  await fh.write(text(256 * 1024), 0, 256 * 1024, 9 * MiB);
  await fs.property.set('/f', 'compression', '');
  // 1 MiB shared with /g at [10, 11) MiB, and [11, 12) MiB of its own.
  await p.writeFile('/g', bytes(MiB, 5));
  await fh.write(bytes(MiB, 6), 0, MiB, 11 * MiB);
  await fs.cloneRange('/g', 0, MiB, '/f', 10 * MiB);
  await fs.sync();
  expect((await fh.stat()).size).toBe(12 * MiB);
  // Overwrites: a few aimed at edges, then random ones. A stat settles them without a commit
  // (the next settle then cuts extents of the running transaction); a sync commits.
  const aimed: [number, number][] = [
    [0, 1], [MiB - SS, 3], [2 * MiB, 1], [2 * MiB + 2 * SS, 1], [2 * MiB + SS, 3], [6 * MiB - SS, 2],
    [7 * MiB, 16], [9 * MiB + SS, 2], [10 * MiB - SS, 2], [11 * MiB - SS, 2], [12 * MiB - 4 * SS, 4],
  ];
  const r = mulberry32(noHoles ? 7 : 8);
  for (let round = 0; round < 4; round++) {
    const writes = round === 0 ? aimed : Array.from({ length: 300 }, (): [number, number] => {
      const n = 1 + Math.floor(r() * (r() < 0.8 ? 1 : 16));
      return [Math.floor(r() * (12 * MiB / SS - n)) * SS, n];
    });
    for (const [at, n] of writes) {
      const b = bytes(n * SS, at + round);
      await fh.write(b, 0, b.length, at);
      expect(fs.info.writeTail?.dirty, `the write of ${n} sectors at ${at} waits`).toBeDefined();
    }
    if (round % 2 === 0) await fh.stat();
    else await fs.sync();
    // A snapshot shares every leaf: the next overwrites cut items in leaves COWed from it.
    if (snapshot && round === 1) await fs.subvolume.snapshot('/', '/snap');
  }
  await fh.close();
  await fs.sync();
}

describe('placing many new extents leaf by leaf', () => {
  for (const [noHoles, nodesize, snapshot] of [[true, 16384, false], [false, 16384, false], [true, 4096, false], [true, 16384, true]] as const) {
    it(`ends as placing each alone does (${noHoles ? 'NO_HOLES' : 'hole items'}, nodesize ${nodesize}${snapshot ? ', a snapshot between' : ''}), and checks clean`, async () => {
      setExtentMapVerify(true);
      const states: unknown[] = [];
      let batchedDev: MemoryDevice | undefined;
      for (const batched of [true, false]) {
        setBatchedPlacement(batched);
        const dev = new MemoryDevice(256 * MiB);
        await mkfs([dev], { nodesize, features: noHoles ? [] : ['^no-holes'], uuid: new Uint8Array(16).fill(1), nowMs: 1e12 });
        const fs = await mount([dev]);
        mounted.push(fs);
        const before = { ...placementStats };
        await script(fs, noHoles, snapshot);
        states.push(await state(fs, snapshot));
        await fs.unmount();
        if (batched) {
          batchedDev = dev;
          // Most extents went in by the leaf, and some alone (a full leaf: the single insert
          // splits it; an extent whose items may start in the leaf before).
          expect(placementStats.batched - before.batched).toBeGreaterThan(500);
          // Several extents a leaf (a 4 KiB leaf holds ~45 items, fewer of them new).
          expect(placementStats.batches - before.batches).toBeLessThan((placementStats.batched - before.batched) / (nodesize >= 16384 ? 4 : 2));
          expect(placementStats.single - before.single).toBeGreaterThan(0);
        } else {
          expect(placementStats.batched).toBe(before.batched);
        }
      }
      expect(states[0]).toEqual(states[1]);
      const r = await btrfsCheckDevice(batchedDev!);
      expect(r.ok, r.output).toBe(true);
    }, 120_000);
  }
});

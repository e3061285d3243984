// Small overwrites waiting as dirty sectors (src/inode/file.ts DirtySectors, FsInfo.writeTail):
// a FileHandle write of whole sectors inside a plain copy-on-write file returns once its bytes
// are copied; later such writes join, the file's handle reads read through them, and anything
// else settles them into extents, each run of adjacent sectors one extent. Judged against a
// model of the file's bytes after every read, by the extents and times the settle makes, and by
// btrfs check --check-data-csum.
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryDevice, mkfs, mount } from '../../../src/index.js';
import type { Filesystem } from '../../../src/api/filesystem.js';
import { findFileExtents } from '../../../src/inode/file-item.js';
import { btrfsCheckDevice } from '../../shared/btrfs-progs.js';
import { mulberry32 } from '../../shared/rng.js';

const MiB = 1024 * 1024;
const SS = 4096;

const mounted: Filesystem[] = [];
afterEach(async () => {
  for (const f of mounted.splice(0)) if (f.isMounted) await f.unmount().catch(() => undefined);
});

async function fresh(options?: string): Promise<{ dev: MemoryDevice; fs: Filesystem }> {
  const dev = new MemoryDevice(256 * MiB);
  await mkfs([dev]);
  const fs = await mount([dev], options);
  mounted.push(fs);
  return { dev, fs };
}

function randomBytes(n: number, r: () => number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}

/** The file extent items of `path` as [file offset, length, disk bytenr]. */
async function extentsOf(fs: Filesystem, path: string): Promise<[number, number, number][]> {
  return fs.read(async (info) => {
    const loc = await fs.promises.locate(info, path);
    const extents = await findFileExtents(info, loc.root, loc.ino, 0, Number.MAX_SAFE_INTEGER);
    return extents.map((e) => [e.fileOffset, e.numBytes, e.diskBytenr] as [number, number, number]);
  });
}

const pending = (fs: Filesystem) => fs.info.writeTail?.dirty !== undefined;

describe('small overwrites as dirty sectors', () => {
  it('match a model through handle reads, truncates, other files and commits, and the image checks clean', async () => {
    const { dev, fs } = await fresh();
    const p = fs.promises;
    const r = mulberry32(7);
    let model = randomBytes(MiB, r);
    await p.writeFile('/f', model);
    await fs.sync();
    const h = await p.open('/f', 'r+');
    const h2 = await p.open('/f', 'r');
    let waited = 0;
    let lastMtime = (await h.stat()).mtimeMs;
    const grow = (n: number) => {
      if (n <= model.length) return;
      const m = new Uint8Array(n);
      m.set(model);
      model = m;
    };
    for (let step = 0; step < 3000; step++) {
      const roll = r();
      if (roll < 0.45) {
        // 1-4 whole sectors, mostly inside the file, sometimes across its end (not joined).
        const n = 1 + Math.floor(r() * 4);
        const sector = Math.floor(r() * (model.length / SS + 2));
        const data = randomBytes(n * SS, r);
        await h.write(data, 0, data.length, sector * SS);
        grow(sector * SS + data.length);
        model.set(data, sector * SS);
        if (pending(fs)) waited++;
      } else if (roll < 0.8) {
        // Reads of either handle, aligned or not, across waiting sectors and the end of the file.
        const aligned = r() < 0.5;
        const at = aligned ? Math.floor(r() * (model.length / SS)) * SS : Math.floor(r() * model.length);
        const len = aligned ? (1 + Math.floor(r() * 3)) * SS : 1 + Math.floor(r() * 3 * SS);
        const buf = new Uint8Array(len);
        const { bytesRead } = await (r() < 0.7 ? h : h2).read(buf, 0, len, at);
        const want = model.subarray(at, Math.min(model.length, at + len));
        expect(bytesRead, `step ${step}`).toBe(want.length);
        expect(Buffer.compare(buf.subarray(0, bytesRead), want), `step ${step}: read ${len} at ${at}`).toBe(0);
      } else if (roll < 0.86) {
        // Anything else settles them: the stat sees the times of the last write.
        const st = await h.stat();
        expect(pending(fs)).toBe(false);
        expect(st.size).toBe(model.length);
        expect(st.mtimeMs).toBeGreaterThanOrEqual(lastMtime);
        lastMtime = st.mtimeMs;
      } else if (roll < 0.9) {
        const got = await p.readFile('/f');
        expect(Buffer.compare(got, model), `step ${step}: readFile`).toBe(0);
      } else if (roll < 0.93) {
        await fs.sync();
        expect(pending(fs)).toBe(false);
      } else if (roll < 0.96) {
        await p.writeFile('/g', randomBytes(SS, r));
        expect(pending(fs)).toBe(false);
      } else {
        const n = Math.floor(MiB / 2 + r() * MiB);
        await h.truncate(n);
        const m = new Uint8Array(n);
        m.set(model.subarray(0, Math.min(n, model.length)));
        model = m;
      }
    }
    expect(waited).toBeGreaterThan(500);
    expect(fs.info.stats.dirtyTails).toBeGreaterThan(10);
    await h.close();
    await h2.close();
    expect(Buffer.compare(await p.readFile('/f'), model)).toBe(0);
    expect((await fs.check()).errors).toEqual([]);
    await fs.unmount();
    const again = await mount([dev]);
    mounted.push(again);
    expect(Buffer.compare(await again.promises.readFile('/f'), model)).toBe(0);
    await again.unmount();
    const verdict = await btrfsCheckDevice(dev);
    expect(verdict.ok, verdict.output).toBe(true);
  });

  it('make one extent of each run of adjacent sectors, and a sector written twice keeps the last bytes', async () => {
    const { fs } = await fresh();
    const p = fs.promises;
    await p.writeFile('/f', new Uint8Array(64 * SS).fill(1));
    await fs.sync();
    const h = await p.open('/f', 'r+');
    // Sectors 10-13 one at a time, out of order, 11 twice; 20 alone.
    for (const [sector, fill] of [[12, 2], [10, 3], [11, 4], [13, 5], [11, 6], [20, 7]] as const) {
      await h.write(new Uint8Array(SS).fill(fill), 0, SS, sector * SS);
      expect(pending(fs)).toBe(true);
    }
    await h.stat();
    expect(pending(fs)).toBe(false);
    const extents = await extentsOf(fs, '/f');
    const at = (off: number) => extents.find((e) => e[0] === off);
    expect(at(10 * SS)?.[1]).toBe(4 * SS);
    expect(at(20 * SS)?.[1]).toBe(SS);
    const got = await p.readFile('/f');
    expect([10, 11, 12, 13, 20].map((s) => got[s * SS])).toEqual([3, 6, 2, 5, 7]);
    expect(got[9 * SS]).toBe(1);
    expect(got[14 * SS]).toBe(1);
    await h.close();
  });

  it('go the usual way where they cannot wait: across the end, unaligned, nodatacow, compressed, quotas', async () => {
    const { fs } = await fresh();
    const p = fs.promises;
    await p.writeFile('/f', new Uint8Array(16 * SS));
    await p.writeFile('/c', new Uint8Array(0));
    await p.writeFile('/z', new Uint8Array(0));
    // chattr +C on the empty file, then data; +c likewise.
    await fs.attributes.set('/c', '+C');
    await p.writeFile('/c', new Uint8Array(16 * SS));
    await fs.attributes.set('/z', '+c');
    await p.writeFile('/z', new Uint8Array(16 * SS));
    await fs.sync();
    const h = await p.open('/f', 'r+');
    await h.write(new Uint8Array(SS), 0, SS, 16 * SS); // at the end: the file grows
    expect(pending(fs)).toBe(false);
    await h.write(new Uint8Array(100), 0, 100, SS); // not whole sectors
    expect(pending(fs)).toBe(false);
    await h.write(new Uint8Array(SS), 0, SS, 2 * SS);
    expect(pending(fs)).toBe(true);
    await h.close();
    expect(pending(fs)).toBe(false);
    for (const path of ['/c', '/z']) {
      const hc = await p.open(path, 'r+');
      await hc.write(new Uint8Array(SS).fill(9), 0, SS, SS);
      expect(pending(fs), path).toBe(false);
      await hc.close();
    }
  });

  it('make the next read move atime under relatime, as a write that moved mtime would', async () => {
    const { fs } = await fresh();
    const p = fs.promises;
    const tick = () => new Promise((res) => setTimeout(res, 5));
    await p.writeFile('/f', new Uint8Array(16 * SS));
    const h = await p.open('/f', 'r+');
    await tick();
    // The first read moves atime past mtime; a second one leaves it.
    await h.read(new Uint8Array(SS), 0, SS, 0);
    await fs.sync();
    const atime0 = (await h.stat()).atimeMs;
    await tick();
    await h.read(new Uint8Array(SS), 0, SS, 0);
    expect((await h.stat()).atimeMs).toBe(atime0);
    await tick();
    await h.write(new Uint8Array(SS).fill(1), 0, SS, SS);
    expect(pending(fs)).toBe(true);
    await tick();
    await h.read(new Uint8Array(SS), 0, SS, SS);
    expect(pending(fs)).toBe(true);
    await tick();
    // The settle (this stat) stamps the time of the write, before the read's atime.
    const st = await h.stat();
    expect(st.atimeMs).toBeGreaterThan(atime0);
    expect(st.mtimeMs).toBeLessThan(st.atimeMs);
    expect(st.mtimeMs).toBeGreaterThan(atime0);
    await h.close();
  });
});

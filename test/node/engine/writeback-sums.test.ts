// The data checksums of large extents made at the commit from the device's bytes (fs/writeback.ts
// DEFER_SUMS, kernels/device-sums.ts): by a pool worker reading a FileDevice through its own file
// descriptor while the engine flushes, or on the engine thread when no worker can. Judged by
// btrfs check --check-data-csum, by reads that verify after a remount, and by a corruption that
// the checksums must catch.
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { FileDevice, MemoryDevice, mkfs, mount, type BlockDevice, type Filesystem } from '../../../src/index.js';
import { findFileExtents } from '../../../src/inode/file-item.js';
import type { FsInfo } from '../../../src/fs/fs-info.js';
import { setDefaultCompressWorkers } from '../../../src/kernels/compress-pool.js';
import { setEarlyFlushBytes } from '../../../src/fs/writeback.js';
import { btrfsCheck, tempDir } from '../../shared/btrfs-progs.js';
import { isFsError } from '../../../src/util/errors.js';

const MiB = 1024 * 1024;

function content(seed: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed * 2654435761 >>> 0;
  for (let k = 0; k < n; k++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[k] = x >>> 24;
  }
  return b;
}

/** A FileDevice whose readSource names another file: a worker's job fails, the engine makes the sums. */
function withBadSource(dev: FileDevice, path: string): BlockDevice {
  return {
    sizeBytes: dev.sizeBytes,
    read: (o, l) => dev.read(o, l),
    readInto: (o, d) => dev.readInto(o, d),
    write: (o, d) => dev.write(o, d),
    flush: () => dev.flush(),
    close: () => dev.close(),
    readSource: { ...(dev.readSource as { kind: 'path'; path: string; dev: string; ino: string }), path },
  };
}

/** A FileDevice whose next `fail.writes` writes and `fail.flushes` flushes fail with EIO. */
function failing(file: FileDevice): { dev: BlockDevice; fail: { writes: number; flushes: number } } {
  const fail = { writes: 0, flushes: 0 };
  const dev: BlockDevice = {
    sizeBytes: file.sizeBytes,
    read: (o, l) => file.read(o, l),
    readInto: (o, d) => file.readInto(o, d),
    write: async (o, d) => {
      if (fail.writes > 0) {
        fail.writes--;
        throw Object.assign(new Error('write failed'), { code: 'EIO' });
      }
      return file.write(o, d);
    },
    flush: async () => {
      if (fail.flushes > 0) {
        fail.flushes--;
        throw Object.assign(new Error('flush failed'), { code: 'EIO' });
      }
      return file.flush();
    },
    close: () => file.close(),
    readSource: file.readSource,
  };
  return { dev, fail };
}

/** btrfs check --check-data-csum of the image, then each file read back (verified) after a mount. */
async function checkAndReadBack(image: string, files: Record<string, Uint8Array>): Promise<void> {
  const r = await btrfsCheck(image, { dataCsum: true });
  expect(r.ok, r.output).toBe(true);
  const fs = await mount([await FileDevice.open(image)]);
  for (const [path, data] of Object.entries(files)) expect(Buffer.from(await fs.promises.readFile(path)).equals(Buffer.from(data)), path).toBe(true);
  await fs.unmount();
}

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('butterfs-sums-'));
  setDefaultCompressWorkers(1);
});
afterAll(async () => {
  setDefaultCompressWorkers(undefined);
  await cleanup();
});

describe('checksums of large extents made at the commit', () => {
  it('are made by a worker reading the device during the flush; reads before the commit make their own', async () => {
    const image = join(dir, 'a.img');
    await mkfs([await FileDevice.create(image, 512 * MiB)]);
    const fs = await mount([await FileDevice.open(image)]);
    const p = fs.promises;
    const a = content(1, 6 * MiB + 300 * 1024);
    const b = content(2, 5 * MiB);
    const fa = await p.open('/a', 'w');
    for (let off = 0; off < a.length; off += MiB) await fa.write(a, off, Math.min(MiB, a.length - off), off);
    await fa.close();
    await p.writeFile('/b', b);
    // A read of /a before the commit makes /a's checksums on this thread, and verifies with them.
    expect(Buffer.from(await p.readFile('/a')).equals(Buffer.from(a))).toBe(true);
    const wb = fs.info.writeback;
    expect(wb.sumsBytesHere).toBe(a.length);
    expect(wb.pendingBytes).toBe(b.length);
    // Overwritten before the commit: the first extent of /b is freed with its pending checksums.
    await p.writeFile('/b', b);
    expect(wb.pendingBytes).toBe(b.length);
    await fs.info.compressPool!.start();
    await fs.sync();
    expect(wb.pendingBytes).toBe(0);
    expect(wb.sumsBytesInWorkers).toBe(b.length);
    expect(fs.info.compressPool!.status().sumsJobsDone).toBe(1);
    await fs.unmount();
    const r = await btrfsCheck(image, { dataCsum: true });
    expect(r.ok, r.output).toBe(true);

    // The worker's checksums are real: after a remount the reads verify, and a flipped byte is EIO.
    const fs2 = await mount([await FileDevice.open(image)]);
    expect(Buffer.from(await fs2.promises.readFile('/b')).equals(Buffer.from(b))).toBe(true);
    await fs2.unmount();
    const bytes = await readFile(image);
    // Every copy of a sector of /b's data (the freed first extent's bytes are still there too).
    const needle = Buffer.from(b.subarray(3 * 4096, 3 * 4096 + 64));
    let hits = 0;
    for (let at = bytes.indexOf(needle); at >= 0; at = bytes.indexOf(needle, at + 1)) {
      bytes[at] ^= 0x5a;
      hits++;
    }
    expect(hits).toBeGreaterThan(0);
    await writeFile(image, bytes);
    const fs3 = await mount([await FileDevice.open(image)]);
    const err = await fs3.promises.readFile('/b').catch((e: unknown) => e);
    expect(isFsError(err, 'EIO')).toBe(true);
    await fs3.unmount();
  });

  it.each([
    ['a missing file', 'missing', /ENOENT|no such file/],
    ['another file at the path (a copy)', 'copy', /no longer the device's file/],
  ])('are made on the engine thread when the worker cannot read the device (%s), and the image stays clean', async (_, kind, reason) => {
    const image = join(dir, `b-${kind}.img`);
    await mkfs([await FileDevice.create(image, 256 * MiB)]);
    const other = join(dir, `other-${kind}.img`);
    if (kind === 'copy') await writeFile(other, await readFile(image));
    const fs = await mount([withBadSource(await FileDevice.open(image), other)]);
    const data = content(3, 3 * MiB);
    await fs.promises.writeFile('/f', data);
    await fs.info.compressPool!.start();
    const warn = console.warn;
    const warnings: string[] = [];
    console.warn = (m: string) => warnings.push(m);
    try {
      await fs.sync();
    } finally {
      console.warn = warn;
    }
    const wb = fs.info.writeback;
    expect(wb.sumsBytesInWorkers).toBe(0);
    expect(wb.sumsBytesHere).toBe(data.length);
    expect(fs.info.compressPool!.status().sumsOffReason).toMatch(reason);
    expect(warnings.some((w) => w.includes('data checksums on the engine thread'))).toBe(true);
    // Compression is not turned off by it; later large writes make their checksums at once.
    expect(fs.info.compressPool!.active).toBe(true);
    await fs.promises.writeFile('/g', content(6, MiB));
    expect(wb.pendingBytes).toBe(0);
    await fs.unmount();
    const r = await btrfsCheck(image, { dataCsum: true });
    expect(r.ok, r.output).toBe(true);
  });

  it('a commit whose data flush fails holds everything again: the next commit writes every checksum', async () => {
    const image = join(dir, 'c.img');
    await mkfs([await FileDevice.create(image, 256 * MiB)]);
    const { dev, fail } = failing(await FileDevice.open(image));
    const fs = await mount([dev]);
    const big = content(4, 3 * MiB);
    const small = content(5, 3000);
    await fs.promises.writeFile('/big', big);
    await fs.promises.writeFile('/small', small);
    fail.flushes = 1;
    await expect(fs.sync()).rejects.toThrow(/flush failed/);
    // Still held: readable, with their checksums pending or made.
    expect(Buffer.from(await fs.promises.readFile('/big')).equals(Buffer.from(big))).toBe(true);
    await fs.sync();
    expect(fs.info.writeback.pendingBytes).toBe(0);
    await fs.unmount();
    await checkAndReadBack(image, { '/big': big, '/small': small });
  });

  it('of a large commit are split among the workers ready, one of them checksum-only; reads and overwrites before the commit, and a failed data write at the commit, still end with every digest right', async () => {
    const image = join(dir, 'e.img');
    await mkfs([await FileDevice.create(image, 512 * MiB)]);
    const { dev, fail } = failing(await FileDevice.open(image));
    // Without early writeback, which would keep the checksum-only worker in a flush and give
    // this thread a share (tested below).
    setEarlyFlushBytes(0);
    onTestFinished(() => setEarlyFlushBytes(undefined));
    const fs = await mount([dev]);
    const p = fs.promises;
    await p.writeFile('/warm-up', content(9, MiB));
    await fs.sync();
    const pool = fs.info.compressPool!;
    await pool.start();
    // The filesystem's pool: a compression worker and a checksum-only one, both ready for sums.
    expect(pool.status()).toMatchObject({ workers: 1, sumsWorkers: 1, sumsReady: 1 });
    expect(pool.sumsSlots).toBe(2);
    const wb = fs.info.writeback;
    const writeBig = async (path: string, data: Uint8Array) => {
      const fh = await p.open(path, 'w');
      for (let off = 0; off < data.length; off += MiB) await fh.write(data, off, MiB, off);
      await fh.close();
    };
    let jobs = pool.status().sumsJobsDone;
    const hereBefore = wb.sumsBytesHere;
    const workersBefore = wb.sumsBytesInWorkers;
    const big = content(10, 40 * MiB);
    await writeBig('/big', big);
    expect(wb.pendingBytes).toBe(big.length);
    // A read of one MiB makes its digests here; an overwrite of another drops its extent and
    // pending digests (its new extent's are pending instead).
    const piece = new Uint8Array(MiB);
    const rf = await p.open('/big', 'r+');
    await rf.read(piece, 0, MiB, 5 * MiB);
    expect(Buffer.from(piece).equals(Buffer.from(big.subarray(5 * MiB, 6 * MiB)))).toBe(true);
    const other = content(11, MiB);
    await rf.write(other, 0, MiB, 30 * MiB);
    big.set(other, 30 * MiB);
    await rf.close();
    expect(wb.sumsBytesHere - hereBefore).toBe(MiB);
    await fs.sync();
    expect(wb.pendingBytes).toBe(0);
    // Two jobs, one per worker, for the 39 MiB left.
    expect(pool.status().sumsJobsDone - jobs).toBe(2);
    expect(wb.sumsBytesInWorkers - workersBefore).toBe(big.length - MiB);
    // Under SPLIT_SUMS_BYTES: one job.
    jobs = pool.status().sumsJobsDone;
    await writeBig('/mid', content(12, 8 * MiB));
    await fs.sync();
    expect(pool.status().sumsJobsDone - jobs).toBe(1);
    // A commit whose first data write fails (a small file's, held in memory) holds everything
    // again; the next one makes every digest.
    const big2 = content(13, 20 * MiB);
    await writeBig('/big2', big2);
    await p.writeFile('/small', content(14, 5000));
    fail.writes = 1;
    await expect(fs.sync()).rejects.toThrow(/write failed/);
    await fs.sync();
    expect(wb.pendingBytes).toBe(0);
    await fs.unmount();
    await checkAndReadBack(image, { '/big': big, '/big2': big2 });
  });

  it('are made at the write when the pool has no workers (no read-back at the commit for nothing)', async () => {
    const image = join(dir, 'd.img');
    await mkfs([await FileDevice.create(image, 128 * MiB)]);
    setDefaultCompressWorkers(0);
    try {
      const fs = await mount([await FileDevice.open(image)]);
      const data = content(7, 2 * MiB);
      await fs.promises.writeFile('/f', data);
      const wb = fs.info.writeback;
      expect(wb.pendingBytes).toBe(0);
      await fs.unmount();
      expect(wb.sumsBytesHere + wb.sumsBytesInWorkers).toBe(0);
    } finally {
      setDefaultCompressWorkers(1);
    }
    const r = await btrfsCheck(image, { dataCsum: true });
    expect(r.ok, r.output).toBe(true);
  });
});

describe('early writeback (fs/writeback.ts wrote): a worker flushes the device while a large write goes on', () => {
  /** A mounted filesystem on a FileDevice (options: mount's), its pool started as a mounted one is after its first large write. */
  async function started(name: string, device: (file: FileDevice) => BlockDevice = (f) => f, options?: string) {
    const image = join(dir, name);
    await mkfs([await FileDevice.create(image, 512 * MiB)]);
    const fs = await mount([device(await FileDevice.open(image))], options);
    await fs.promises.writeFile('/warm-up', content(20, MiB));
    await fs.sync();
    const pool = fs.info.compressPool!;
    await pool.start();
    return { image, fs, pool, wb: fs.info.writeback };
  }
  async function writeBig(fs: Filesystem, path: string, data: Uint8Array): Promise<void> {
    const fh = await fs.promises.open(path, 'w');
    for (let off = 0; off < data.length; off += MiB) await fh.write(data, off, MiB, off);
    await fh.close();
  }
  beforeAll(() => setEarlyFlushBytes(8 * MiB));
  afterAll(() => setEarlyFlushBytes(undefined));

  it('flushes every few MiB written; the commit makes a share of the checksums on this thread, and every digest is right', async () => {
    const { image, fs, pool, wb } = await started('early-a.img');
    const hereBefore = wb.sumsBytesHere;
    const workersBefore = wb.sumsBytesInWorkers;
    const big = content(21, 40 * MiB);
    await writeBig(fs, '/big', big);
    // Small files too: the arena's spills count as written.
    const smalls: Record<string, Uint8Array> = {};
    for (let i = 0; i < 3000; i++) smalls[`/s${i}`] = content(100 + i, 4000 + (i % 7) * 13);
    for (const [path, data] of Object.entries(smalls)) await fs.promises.writeFile(path, data);
    expect(wb.spills).toBeGreaterThan(0);
    await fs.sync();
    // 40 MiB of large extents and ~12 MiB of spills, every 8 MiB: several flushes, made by the
    // worker (answered by the commit's end) and none running after it.
    expect(wb.earlyFlushes).toBeGreaterThanOrEqual(4);
    expect(pool.status().flushJobsDone).toBe(wb.earlyFlushes);
    expect(pool.status().flushOffReason).toBeUndefined();
    // This thread made a share of the checksums, the workers the rest.
    expect(wb.sumsBytesHere - hereBefore).toBeGreaterThan(0);
    expect(wb.sumsBytesInWorkers - workersBefore).toBeGreaterThan(0);
    expect(wb.sumsBytesHere - hereBefore + wb.sumsBytesInWorkers - workersBefore).toBe(big.length);
    // The next commit starts over: a small one asks for no early flush.
    const flushes = wb.earlyFlushes;
    await writeBig(fs, '/small-big', content(22, 4 * MiB));
    await fs.sync();
    expect(wb.earlyFlushes).toBe(flushes);
    await fs.unmount();
    await checkAndReadBack(image, { '/big': big, ...smalls });
  });

  it('is off with nobarrier (no flush at all was asked for)', async () => {
    const { image, fs, pool, wb } = await started('early-b.img', undefined, 'nobarrier');
    const big = content(23, 24 * MiB);
    await writeBig(fs, '/big', big);
    await fs.sync();
    expect(wb.earlyFlushes).toBe(0);
    expect(pool.status().flushJobsDone).toBe(0);
    expect(wb.sumsBytesInWorkers).toBeGreaterThan(0);
    await fs.unmount();
    await checkAndReadBack(image, { '/big': big });
  });

  it('a worker that cannot open the device fails its flush: early writeback stops with a warning, the commits go on', async () => {
    const warn = console.warn;
    const warnings: string[] = [];
    console.warn = (m: string) => warnings.push(m);
    try {
      const { image, fs, pool, wb } = await started('early-c.img', (f) => withBadSource(f, join(dir, 'early-missing.img')));
      const big = content(24, 24 * MiB);
      await writeBig(fs, '/big', big);
      await fs.sync();
      expect(wb.earlyFlushes).toBe(0);
      expect(pool.status().flushOffReason).toMatch(/ENOENT|no such file/);
      expect(warnings.some((w) => w.includes('no early writeback from now on'))).toBe(true);
      // Compression is not turned off by it, and no more flushes are asked for.
      expect(pool.active).toBe(true);
      const big2 = content(25, 24 * MiB);
      await writeBig(fs, '/big2', big2);
      await fs.sync();
      expect(pool.status().flushJobsDone).toBe(0);
      await fs.unmount();
      await checkAndReadBack(image, { '/big': big, '/big2': big2 });
    } finally {
      console.warn = warn;
    }
  });
});

/** The file extent items of `path` (fs.read's callback: the filesystem is held). */
async function extentsOf(fs: Filesystem, info: FsInfo, path: string) {
  const loc = await fs.promises.locate(info, path);
  return findFileExtents(info, loc.root, loc.ino, 0, Number.MAX_SAFE_INTEGER);
}

describe('digests kept for reads (fs/csum-tree.ts csum windows)', () => {
  it('are dropped when the csum tree changes: space freed and written again reads back with its new digests', async () => {
    const dev = new MemoryDevice(128 * 1024 * 1024);
    await mkfs([dev]);
    const fs = await mount([dev]);
    const p = fs.promises;
    const a = new Uint8Array(64 * 1024).fill(0xaa);
    await p.writeFile('/a', a);
    await fs.sync();
    // Reads of /a keep the digests of its disk range.
    expect(Buffer.from(await p.readFile('/a')).equals(Buffer.from(a))).toBe(true);
    const [extent] = await fs.read((info) => extentsOf(fs, info, '/a'));
    // Freed (its digests deleted at that commit), then the same addresses hold other bytes.
    await p.unlink('/a');
    await fs.sync();
    await fs.sync();
    const b = new Uint8Array(64 * 1024).fill(0xbb);
    let reused = false;
    for (let i = 0; i < 8 && !reused; i++) {
      await p.writeFile(`/b${i}`, b);
      await fs.sync();
      reused = (await fs.read((info) => extentsOf(fs, info, `/b${i}`)))[0]!.diskBytenr === extent!.diskBytenr;
      // A kept digest of /a's bytes would make this read EIO.
      expect(Buffer.from(await p.readFile(`/b${i}`)).equals(Buffer.from(b))).toBe(true);
    }
    expect(reused, 'the freed extent was allocated again').toBe(true);
    await fs.unmount();
  });
});

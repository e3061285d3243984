// readFileInto: reads straight into the caller's buffer. Every byte of the view is written
// (zeros for holes, PREALLOC and gaps), no byte outside it is touched, unaligned and large reads
// agree with the model across every extent kind, and a checksum failure leaves no bad bytes in
// the buffer (the view is zeroed) while DUP read repair still fills it with the good copy.
import { describe, expect, it } from 'vitest';
import { readFileInto, writeFile, truncateFile, fallocateFile, cloneRange } from '../../../src/inode/file.js';
import { findFileExtents } from '../../../src/inode/file-item.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { effectiveLevel } from '../../../src/kernels/compression.js';
import type { FsInfo } from '../../../src/fs/fs-info.js';
import type { MemoryDevice } from '../../../src/device/memory.js';
import { FileModel, freshFs, judgeImage, patternBytes } from '../../shared/file-model.js';
import { mulberry32 } from '../../shared/rng.js';

const GUARD = 64;
const JUNK = 0xa5;

/** readFileInto through a view with guard bytes on both sides; returns the bytes read and checks the guards. */
async function readVia(fs: FsInfo, ino: number, offset: number, length: number): Promise<Uint8Array> {
  const big = new Uint8Array(length + 2 * GUARD).fill(JUNK);
  const n = await readFileInto(fs, fs.fsTree, ino, offset, big.subarray(GUARD, GUARD + length));
  for (let i = 0; i < GUARD; i++) {
    expect(big[i], `guard before, byte ${i}`).toBe(JUNK);
    expect(big[GUARD + length + i], `guard after, byte ${i}`).toBe(JUNK);
  }
  // Past the bytes read (EOF), the view is left as it was.
  for (let i = n; i < length; i++) if (big[GUARD + i] !== JUNK) expect.fail(`byte ${i} past EOF (read ${n}) was written`);
  return big.slice(GUARD, GUARD + n);
}


async function checkReads(fs: FsInfo, ino: number, model: FileModel, seed: number, what: string): Promise<void> {
  const want = model.content();
  const r = mulberry32(seed);
  const cases: [number, number][] = [[0, want.length], [0, want.length + 9000], [1, 200_000], [4095, 4098], [want.length - 10, 100], [want.length + 5, 10]];
  for (let k = 0; k < 60; k++) {
    const off = Math.floor(r() * (want.length + 4096));
    const len = r() < 0.3 ? Math.floor(r() * 400_000) : Math.floor(r() * 9000);
    cases.push([r() < 0.3 ? off & ~4095 : off, r() < 0.3 ? (len & ~4095) || 4096 : len]);
  }
  for (const [off, len] of cases) {
    const got = await readVia(fs, ino, off, len);
    const exp = want.subarray(Math.min(off, want.length), Math.min(off + len, want.length));
    expect(got.length, `${what}: read ${off}+${len} length`).toBe(exp.length);
    if (Buffer.compare(Buffer.from(got), Buffer.from(exp)) !== 0) expect.fail(`${what}: read ${off}+${len} differs from the model`);
  }
}

describe('readFileInto', () => {
  it('matches the model over REG, holes, PREALLOC, clones and compressed extents, before and after the commit', async () => {
    const { dev, fs, files } = await freshFs(2);
    const root = fs.fsTree;
    const model = new FileModel();
    const other = new FileModel();
    startTransaction(fs);
    // Large (written at once) and small (held in the writeback) extents, a hole, PREALLOC.
    for (const [off, len, seed] of [[0, 700_000, 1], [900_000, 5000, 2], [910_000, 300_000, 3], [3000, 10, 4], [1_300_000, 4096, 5]]) {
      const data = patternBytes(seed, len);
      await writeFile(fs, root, files[0].ino, off, data);
      model.write(off, data);
    }
    await fallocateFile(fs, root, files[0].ino, 1_400_000 & ~4095, 64 * 1024, {});
    model.fallocate(1_400_000 & ~4095, 64 * 1024, false);
    await writeFile(fs, root, files[1].ino, 0, patternBytes(9, 200_000));
    other.write(0, patternBytes(9, 200_000));
    await cloneRange(fs, root, files[1].ino, 8192, 65536, root, files[0].ino, 1_200_000 & ~4095);
    model.clone(other, 8192, 65536, 1_200_000 & ~4095);
    await checkReads(fs, files[0].ino, model, 1, 'in the transaction');
    await commitTransaction(fs);
    await checkReads(fs, files[0].ino, model, 2, 'after the commit');
    // Compressed extents (zstd), then a truncate to an unaligned size.
    fs.options = { ...fs.options, compress: 'zstd', compressLevel: effectiveLevel('zstd', 3), compressForce: true };
    startTransaction(fs);
    const text = new TextEncoder().encode('butterfs reads into the caller buffer. '.repeat(8000));
    await writeFile(fs, root, files[0].ino, 500_000, text);
    model.write(500_000, text);
    await truncateFile(fs, root, files[0].ino, 1_350_123);
    model.truncate(1_350_123);
    await commitTransaction(fs);
    expect((await findFileExtents(fs, root, files[0].ino, 0, 2_000_000)).some((fe) => fe.compression !== 0)).toBe(true);
    await checkReads(fs, files[0].ino, model, 3, 'compressed');
    await judgeImage(dev, fs, files, [model, other], 'readFileInto');
  });

  it('a checksum failure is EIO and leaves zeros in the buffer, never the bad bytes', async () => {
    const { dev, fs, files } = await freshFs(1);
    const root = fs.fsTree;
    const data = patternBytes(5, 1024 * 1024);
    startTransaction(fs);
    await writeFile(fs, root, files[0].ino, 0, data);
    await commitTransaction(fs);
    const [fe] = await findFileExtents(fs, root, files[0].ino, 0, 1 << 30);
    await flipBit(fs, dev, fe.diskBytenr + 100 * 4096 + 7);
    for (const [off, len] of [[0, 1024 * 1024], [100 * 4096 + 3, 10], [1, 500_000]]) {
      const buf = new Uint8Array(len).fill(JUNK);
      await expect(readFileInto(fs, root, files[0].ino, off, buf)).rejects.toMatchObject({ code: 'EIO' });
      expect(buf.every((b) => b === 0), `${off}+${len}: the view is zeroed`).toBe(true);
    }
    // Reads that avoid the bad sector still work.
    const ok = new Uint8Array(100 * 4096);
    expect(await readFileInto(fs, root, files[0].ino, 0, ok)).toBe(ok.length);
    expect(ok).toEqual(data.subarray(0, ok.length));
  });

  it('with DUP data a bad copy is repaired and the buffer gets the good bytes', async () => {
    const { dev, fs, files } = await freshFs(1, { data: 'dup' });
    const root = fs.fsTree;
    const data = patternBytes(6, 512 * 1024);
    startTransaction(fs);
    await writeFile(fs, root, files[0].ino, 0, data);
    await commitTransaction(fs);
    const [fe] = await findFileExtents(fs, root, files[0].ino, 0, 1 << 30);
    await flipBit(fs, dev, fe.diskBytenr + 3 * 4096, 0);
    await flipBit(fs, dev, fe.diskBytenr + 77 * 4096 + 4000, 0);
    const before = fs.stats.csumErrors;
    const buf = new Uint8Array(data.length).fill(JUNK);
    expect(await readFileInto(fs, root, files[0].ino, 0, buf)).toBe(data.length);
    expect(Buffer.compare(Buffer.from(buf), Buffer.from(data))).toBe(0);
    expect(fs.stats.csumErrors).toBe(before + 2);
    buf.fill(JUNK);
    expect(await readFileInto(fs, root, files[0].ino, 0, buf)).toBe(data.length);
    expect(fs.stats.csumErrors, 'both bad copies were rewritten').toBe(before + 2);
  });
});

/** Flips one bit of every copy (or only `copy`) of the data at `logical`. */
async function flipBit(fs: FsInfo, dev: MemoryDevice, logical: number, copy?: number): Promise<void> {
  const [seg] = fs.volumes.mapRange(logical, 1);
  for (const [i, c] of seg.copies.entries()) {
    if (copy !== undefined && i !== copy) continue;
    const at = Math.floor(c.physical / 4096) * 4096;
    const b = await dev.read(at, 4096);
    b[c.physical - at] ^= 0x10;
    await dev.write(at, b);
  }
}

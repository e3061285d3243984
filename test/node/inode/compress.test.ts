// Transparent compression (btrfs-man5 COMPRESSION): compressed extents written by the file
// layer, read back, judged by our check, btrfs check --check-data-csum and btrfs restore
// (which decompresses zlib, lzo and zstd extents itself: it proves real btrfs reads ours).
import { describe, expect, it } from 'vitest';
import { readFile, writeFile, truncateFile } from '../../../src/inode/file.js';
import { findFileExtents, type FileExtent } from '../../../src/inode/file-item.js';
import { readInode } from '../../../src/inode/inode.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { CompressionType, FileExtentType, IncompatFlags, InodeFlags } from '../../../src/format/constants.js';
import { effectiveLevel, type CompressionName } from '../../../src/kernels/compression.js';
import type { FsInfo } from '../../../src/fs/fs-info.js';
import { FileModel, freshFs, judgeImage, patternBytes } from '../../shared/file-model.js';
import { MemoryDevice, mkfs, mount } from '../../../src/index.js';
import { parseMountOptions } from '../../../src/api/mount-options.js';
import { checkAndRestore } from '../../shared/btrfs-progs.js';
import { join } from 'node:path';
import { readFile as readHostFile } from 'node:fs/promises';

/** Text-like bytes: words from a small vocabulary, seeded. */
function textBytes(seed: number, length: number): Uint8Array {
  const words = ['btrfs', 'extent', 'tree', 'the', 'of', 'compression', 'sector', 'inode', 'checksum', 'a', 'and', 'zstd', 'lzo'];
  const r = patternBytes(seed, length);
  const out = new Uint8Array(length);
  let i = 0;
  let k = 0;
  while (i < length) {
    const w = new TextEncoder().encode(words[r[k++ % length] % words.length] + (r[k % length] % 7 === 0 ? '.\n' : ' '));
    out.set(w.subarray(0, length - i), i);
    i += w.length;
  }
  return out;
}

function setCompress(fs: FsInfo, codec: CompressionName | undefined, level = 0, force = false): void {
  fs.options = { ...fs.options, compress: codec, compressLevel: codec ? effectiveLevel(codec, level) : 0, compressForce: force };
}

async function extentsOf(fs: FsInfo, ino: number): Promise<FileExtent[]> {
  return findFileExtents(fs, fs.fsTree, ino, 0, Number.MAX_SAFE_INTEGER);
}

async function flipDataByte(fs: FsInfo, dev: MemoryDevice, logical: number): Promise<void> {
  const [seg] = fs.volumes.mapRange(logical, 1);
  for (const c of seg.copies) {
    const at = Math.floor(c.physical / 4096) * 4096;
    const b = await dev.read(at, 4096);
    b[c.physical - at] ^= 0x40;
    await dev.write(at, b);
  }
}

const CODECS: [CompressionName, number, number][] = [['zlib', 1, CompressionType.ZLIB], ['zlib', 9, CompressionType.ZLIB], ['lzo', 0, CompressionType.LZO], ['zstd', 1, CompressionType.ZSTD], ['zstd', 15, CompressionType.ZSTD]];

describe('compression', () => {
  for (const [codec, level, id] of CODECS) {
    it(`${codec}:${level}: text, zeros and a small file round trip as compressed extents; btrfs check and restore agree`, async () => {
      const { dev, fs, files } = await freshFs(4);
      const root = fs.fsTree;
      setCompress(fs, codec, level);
      const models = files.map(() => new FileModel());
      const text = textBytes(1, 300_000 + 123);
      const zeros = new Uint8Array(200_000);
      const small = textBytes(2, 3000);
      startTransaction(fs);
      await writeFile(fs, root, files[0].ino, 0, text);
      models[0].write(0, text);
      await writeFile(fs, root, files[1].ino, 4096, zeros);
      models[1].write(4096, zeros);
      await writeFile(fs, root, files[2].ino, 0, small);
      models[2].write(0, small);
      // Sizes around the 128 KiB chunk boundary.
      const edge = textBytes(3, 128 * 1024 + 1);
      await writeFile(fs, root, files[3].ino, 0, edge);
      models[3].write(0, edge);
      await commitTransaction(fs);
      for (const [i, f] of files.entries()) expect(await readFile(fs, root, f.ino, 0, 1 << 30)).toEqual(models[i].content());
      const ext = await extentsOf(fs, files[0].ino);
      expect(ext.length).toBe(3);
      for (const fe of ext) {
        expect(fe.compression).toBe(id);
        expect(fe.diskNumBytes).toBeLessThan(fe.numBytes);
        expect(fe.ramBytes).toBe(fe.numBytes);
        expect(fe.numBytes).toBeLessThanOrEqual(128 * 1024);
      }
      expect((await extentsOf(fs, files[1].ino)).every((fe) => fe.compression === id)).toBe(true);
      const [inl] = await extentsOf(fs, files[2].ino);
      expect(inl.type).toBe(FileExtentType.INLINE);
      expect(inl.compression).toBe(id);
      expect(inl.ramBytes).toBe(3000);
      expect(inl.inline!.length).toBeLessThan(3000);
      expect((await readInode(fs, root, files[0].ino)).nbytes).toBe(Math.ceil(text.length / 4096) * 4096);
      const bit = codec === 'lzo' ? IncompatFlags.COMPRESS_LZO : codec === 'zstd' ? IncompatFlags.COMPRESS_ZSTD : 0;
      if (bit) expect(fs.sb.incompatFlags & bit).toBe(bit);
      // Partial overwrite of a compressed extent (COW), a truncate into one, an append.
      startTransaction(fs);
      const mid = textBytes(4, 10_000);
      await writeFile(fs, root, files[0].ino, 50_000, mid);
      models[0].write(50_000, mid);
      await truncateFile(fs, root, files[3].ino, 70_001);
      models[3].truncate(70_001);
      await truncateFile(fs, root, files[2].ino, 1000);
      models[2].truncate(1000);
      await writeFile(fs, root, files[1].ino, 204_096, zeros.subarray(0, 5000));
      models[1].write(204_096, zeros.subarray(0, 5000));
      await commitTransaction(fs);
      for (const [i, f] of files.entries()) expect(await readFile(fs, root, f.ino, 0, 1 << 30)).toEqual(models[i].content());
      await judgeImage(dev, fs, files, models, `${codec}:${level}`);
    });
  }

  it('random data stays uncompressed under compress (the heuristic says no); compress-force tries and keeps it plain', async () => {
    const { dev, fs, files } = await freshFs(2);
    const root = fs.fsTree;
    const models = files.map(() => new FileModel());
    const rnd = patternBytes(9, 300_000);
    setCompress(fs, 'zstd', 3);
    startTransaction(fs);
    await writeFile(fs, root, files[0].ino, 0, rnd);
    models[0].write(0, rnd);
    setCompress(fs, 'zlib', 3, true);
    await writeFile(fs, root, files[1].ino, 0, rnd);
    models[1].write(0, rnd);
    await commitTransaction(fs);
    for (const f of files) {
      const ext = await extentsOf(fs, f.ino);
      expect(ext.every((fe) => fe.compression === 0)).toBe(true);
      expect((await readInode(fs, root, f.ino)).flags & InodeFlags.NOCOMPRESS).toBe(0);
    }
    // Under compress the uncompressed chunks are one extent, as plain cow_file_range writes them.
    expect((await extentsOf(fs, files[0].ino)).length).toBe(1);
    await judgeImage(dev, fs, files, models, 'random');
  });

  it('data the heuristic passes but that saves no sector sets the sticky NOCOMPRESS flag (not under compress-force)', async () => {
    const { fs, files } = await freshFs(2);
    const root = fs.fsTree;
    // 2 sectors of random bytes over 32 symbols: a small byte set (the heuristic says
    // compress), about 5 bits a byte (never saves a whole sector of 8 KiB).
    const d = patternBytes(11, 8192).map((x) => 0x40 + (x & 31));
    setCompress(fs, 'zlib', 3);
    startTransaction(fs);
    await writeFile(fs, root, files[0].ino, 0, d);
    expect((await readInode(fs, root, files[0].ino)).flags & InodeFlags.NOCOMPRESS).toBe(InodeFlags.NOCOMPRESS);
    // Later compressible writes stay plain.
    await writeFile(fs, root, files[0].ino, 8192, new Uint8Array(65536));
    expect((await extentsOf(fs, files[0].ino)).every((fe) => fe.compression === 0)).toBe(true);
    setCompress(fs, 'zlib', 3, true);
    await writeFile(fs, root, files[1].ino, 0, d);
    expect((await readInode(fs, root, files[1].ino)).flags & InodeFlags.NOCOMPRESS).toBe(0);
    await commitTransaction(fs);
  });

  it('mixed codecs in one file read fine and pass btrfs check and restore', async () => {
    const { dev, fs, files } = await freshFs(1);
    const root = fs.fsTree;
    const m = new FileModel();
    const ino = files[0].ino;
    startTransaction(fs);
    setCompress(fs, 'zlib', 6);
    const a = textBytes(20, 400_000);
    await writeFile(fs, root, ino, 0, a);
    m.write(0, a);
    await commitTransaction(fs);
    startTransaction(fs);
    setCompress(fs, 'lzo');
    const b = textBytes(21, 150_000);
    await writeFile(fs, root, ino, 100_000, b);
    m.write(100_000, b);
    setCompress(fs, 'zstd', 9);
    const c = textBytes(22, 20_000);
    await writeFile(fs, root, ino, 390_000, c);
    m.write(390_000, c);
    setCompress(fs, undefined);
    const d = textBytes(23, 9000);
    await writeFile(fs, root, ino, 7, d);
    m.write(7, d);
    await commitTransaction(fs);
    const ids = new Set((await extentsOf(fs, ino)).map((fe) => fe.compression));
    expect([...ids].sort()).toEqual([0, 1, 2, 3]);
    expect(await readFile(fs, root, ino, 0, 1 << 30)).toEqual(m.content());
    await judgeImage(dev, fs, files, [m], 'mixed');
  });

  it('a corrupted compressed extent reads as EIO, never wrong bytes', async () => {
    const { dev, fs, files } = await freshFs(1);
    const root = fs.fsTree;
    setCompress(fs, 'zstd', 3);
    startTransaction(fs);
    await writeFile(fs, root, files[0].ino, 0, textBytes(30, 200_000));
    await commitTransaction(fs);
    const [fe] = await extentsOf(fs, files[0].ino);
    expect(fe.compression).toBe(CompressionType.ZSTD);
    await flipDataByte(fs, dev, fe.diskBytenr + 100);
    fs.cache.clear?.();
    await expect(readFile(fs, root, files[0].ino, 0, 10)).rejects.toMatchObject({ code: 'EIO' });
    await expect(readFile(fs, root, files[0].ino, 131072 + 5, 10)).resolves.toHaveLength(10);
  });
});

describe('compression through the API', () => {
  it('parses compress / compress-force as btrfs_parse_options', () => {
    expect(parseMountOptions('compress')).toMatchObject({ compress: 'zlib', compressLevel: 3, compressForce: false });
    expect(parseMountOptions('compress=zstd:15')).toMatchObject({ compress: 'zstd', compressLevel: 15 });
    expect(parseMountOptions('compress=zstd:99')).toMatchObject({ compress: 'zstd', compressLevel: 15 });
    expect(parseMountOptions('compress=zlib:0')).toMatchObject({ compress: 'zlib', compressLevel: 3 });
    expect(parseMountOptions('compress-force=lzo')).toMatchObject({ compress: 'lzo', compressForce: true });
    expect(parseMountOptions('compress-force=lzo,compress=zlib')).toMatchObject({ compress: 'zlib', compressForce: false });
    expect(parseMountOptions('compress=zstd,compress=no')).toMatchObject({ compress: undefined, compressForce: false });
    expect(parseMountOptions('compress,nodatacow')).toMatchObject({ compress: undefined, dataCow: false, dataSum: false });
    expect(parseMountOptions('nodatacow,compress=lzo')).toMatchObject({ compress: 'lzo', dataCow: true, dataSum: true });
    expect(() => parseMountOptions('compress=lz4')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('compress=, remount with another codec, chattr +c / +m, property; btrfs check and restore agree', async () => {
    const dev = new MemoryDevice(128 * 1024 * 1024);
    await mkfs([dev]);
    let fs = await mount([dev], 'compress=lzo');
    const p = fs.promises;
    const text = textBytes(40, 200_000);
    await p.writeFile('/a', text);
    await fs.unmount();
    fs = await mount([dev], 'compress-force=zstd:2');
    const part = textBytes(41, 50_000);
    await fs.promises.writeFile('/b', part);
    const h = await fs.promises.open('/a', 'r+');
    await h.write(part, 0, part.length, 60_000);
    await h.close();
    await fs.unmount();
    fs = await mount([dev]);
    const q = fs.promises;
    await q.writeFile('/c', '');
    await fs.attributes.set('/c', '+c');
    expect(await fs.property.get('/c', 'compression')).toBe('zlib');
    await q.writeFile('/c', text);
    await q.writeFile('/d', '');
    await fs.property.set('/d', 'compression', 'zstd');
    await q.writeFile('/d', text);
    await q.writeFile('/e', '');
    await fs.attributes.set('/e', '+m');
    await q.writeFile('/e', text);
    const a = new Uint8Array(text);
    a.set(part, 60_000);
    expect(new Uint8Array(await q.readFile('/a'))).toEqual(a);
    const comps = async (path: string) => fs.read(async (f) => {
      const loc = await q.locate(f, path);
      return [...new Set((await findFileExtents(f, loc.root, loc.ino, 0, 1 << 30)).map((fe) => fe.compression))].sort();
    });
    expect(await comps('/a')).toEqual([2, 3]);
    expect(await comps('/b')).toEqual([3]);
    expect(await comps('/c')).toEqual([1]);
    expect(await comps('/d')).toEqual([3]);
    expect(await comps('/e')).toEqual([0]);
    const verdict = await fs.check();
    expect(verdict.errors).toEqual([]);
    await fs.unmount();
    const want: Record<string, Uint8Array> = { a, b: part, c: text, d: text, e: text };
    await checkAndRestore(dev, [], async (out) => {
      for (const [name, bytes] of Object.entries(want)) expect(new Uint8Array(await readHostFile(join(out, name))), name).toEqual(bytes);
    });
  });
});

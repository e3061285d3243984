// fs.filesystem.defragment (BTRFS_IOC_DEFRAG_RANGE), fs.filesystem.compsize and the
// inheritance of the compression property: extents read back from the tree, data compared,
// images judged by btrfs check --check-data-csum and btrfs restore.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFile as readHostFile } from 'node:fs/promises';
import { MemoryDevice, mkfs, mount } from '../../../src/index.js';
import type { Filesystem } from '../../../src/api/filesystem.js';
import { findFileExtents, type FileExtent } from '../../../src/inode/file-item.js';
import { readInode, S_IFIFO } from '../../../src/inode/inode.js';
import { createNode, listXattrs } from '../../../src/inode/namei.js';
import { CompressionType, FileExtentType, InodeFlags } from '../../../src/format/constants.js';
import { patternBytes } from '../../shared/file-model.js';
import { checkAndRestore } from '../../shared/btrfs-progs.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Text-like bytes (compressible, not trivially): words from a small vocabulary, seeded. */
function textBytes(seed: number, length: number): Uint8Array {
  const enc = new TextEncoder();
  const words = ['btrfs', 'extent', 'tree', 'the', 'of', 'defrag', 'sector', 'inode', 'checksum', 'a', 'and', 'zstd', 'lzo', '{"k":', '},']
    .flatMap((w) => [enc.encode(`${w} `), enc.encode(`${w}\n`)]);
  const r = patternBytes(seed, length);
  const out = new Uint8Array(length);
  let i = 0;
  for (let k = 0; i < length; k++) {
    const w = words[(r[k % length] % 15) * 2 + (r[(k + 1) % length] % 7 === 0 ? 1 : 0)];
    out.set(w.subarray(0, length - i), i);
    i += w.length;
  }
  return out;
}

/** Byte equality without vitest's element-by-element diff (slow on megabytes). */
function expectSame(got: Uint8Array, want: Uint8Array, what = ''): void {
  expect(got.length, what).toBe(want.length);
  expect(Buffer.from(got.buffer, got.byteOffset, got.length).equals(Buffer.from(want.buffer, want.byteOffset, want.length)), what).toBe(true);
}

async function fresh(options?: string, sizeBytes = 256 * MiB): Promise<{ dev: MemoryDevice; fs: Filesystem }> {
  const dev = new MemoryDevice(sizeBytes);
  await mkfs([dev]);
  return { dev, fs: await mount([dev], options) };
}

async function extents(fs: Filesystem, path: string): Promise<FileExtent[]> {
  return fs.read(async (f) => {
    const loc = await fs.promises.locate(f, path);
    return findFileExtents(f, loc.root, loc.ino, 0, Number.MAX_SAFE_INTEGER);
  });
}

async function inodeOf(fs: Filesystem, path: string) {
  return fs.read(async (f) => {
    const loc = await fs.promises.locate(f, path);
    return readInode(f, loc.root, loc.ino);
  });
}

const bytes = async (fs: Filesystem, path: string) => new Uint8Array(await fs.promises.readFile(path));

/** Writes `data` in `pieces` separate writes, each committed: as many extents. */
async function writeFragmented(fs: Filesystem, path: string, data: Uint8Array, pieceBytes: number): Promise<void> {
  const h = await fs.promises.open(path, 'w');
  for (let off = 0; off < data.length; off += pieceBytes) {
    await h.write(data, off, Math.min(pieceBytes, data.length - off), off);
    await fs.sync();
  }
  await h.close();
}

/** Unmounts, then btrfs check --check-data-csum and btrfs restore of the image (files compared). */
async function judge(dev: MemoryDevice, fs: Filesystem, want: Record<string, Uint8Array>, restoreArgs: string[] = []): Promise<void> {
  expect((await fs.check()).errors).toEqual([]);
  await fs.unmount();
  await checkAndRestore(dev, restoreArgs, async (out) => {
    for (const [name, data] of Object.entries(want)) expectSame(new Uint8Array(await readHostFile(join(out, name))), data, name);
  });
}

describe('fs.filesystem.defragment', () => {
  it('with compress recompresses every extent with the codec (zlib and plain to zstd, then lzo); data, mtime unchanged; btrfs check and restore agree', async () => {
    const { dev, fs } = await fresh('compress=zlib');
    const text = textBytes(1, 700 * KiB + 123);
    await fs.promises.writeFile('/z', text);
    const plain = textBytes(2, 300 * KiB);
    await fs.attributes.set('/', '+m');
    await writeFragmented(fs, '/p', plain, 64 * KiB);
    await fs.sync();
    expect(new Set((await extents(fs, '/z')).map((fe) => fe.compression))).toEqual(new Set([CompressionType.ZLIB]));
    expect((await extents(fs, '/p')).every((fe) => fe.compression === CompressionType.NONE)).toBe(true);
    const mtime = (await fs.promises.stat('/z')).mtimeMs;
    const seen: number[] = [];
    const r = await fs.filesystem.defragment('/z', { compress: 'zstd', level: 9, onProgress: (p) => seen.push(p.rewrittenBytes) });
    expect(r.files).toBe(1);
    expect(r.rewrittenBytes).toBe(Math.ceil(text.length / 4096) * 4096);
    expect(seen.at(-1)).toBe(r.rewrittenBytes);
    const rp = await fs.filesystem.defragment('/p', { compress: 'zstd' });
    expect(rp.rewrittenBytes).toBe(plain.length);
    for (const [path, data] of [['/z', text], ['/p', plain]] as const) {
      const ext = await extents(fs, path);
      for (const fe of ext) {
        expect(fe.compression, path).toBe(CompressionType.ZSTD);
        expect(fe.numBytes).toBeLessThanOrEqual(128 * KiB);
        expect(fe.diskNumBytes).toBeLessThan(fe.numBytes);
      }
      expectSame(await bytes(fs, path), data, path);
    }
    expect((await fs.promises.stat('/z')).mtimeMs).toBe(mtime);
    // The inode's own flags do not matter (/p is NOCOMPRESS from its directory) and stay.
    expect((await inodeOf(fs, '/p')).flags & InodeFlags.NOCOMPRESS).toBe(InodeFlags.NOCOMPRESS);
    // A partial range: only [128 KiB, 384 KiB) becomes lzo.
    await fs.filesystem.defragment('/z', { compress: 'lzo', start: 128 * KiB, length: 256 * KiB });
    const mixed = await extents(fs, '/z');
    expect(mixed.filter((fe) => fe.compression === CompressionType.LZO).map((fe) => fe.fileOffset)).toEqual([128 * KiB, 256 * KiB]);
    expect(mixed.filter((fe) => fe.compression === CompressionType.ZSTD).length).toBe(mixed.length - 2);
    expectSame(await bytes(fs, '/z'), text, '/z');
    await judge(dev, fs, { z: text, p: plain });
  });

  it('without compress rewrites runs of small extents into one and leaves large ones (threshold, next-extent rule)', async () => {
    const { dev, fs } = await fresh();
    const data = patternBytes(3, 1 * MiB);
    await writeFragmented(fs, '/frag', data, 16 * KiB);
    expect((await extents(fs, '/frag')).length).toBe(64);
    const big = patternBytes(4, 2 * MiB);
    await fs.promises.writeFile('/big', big);
    const r = await fs.filesystem.defragment('/frag');
    expect(r.rewrittenBytes).toBe(1 * MiB);
    const after = await extents(fs, '/frag');
    expect(after.length).toBe(1);
    expect(after[0]).toMatchObject({ fileOffset: 0, numBytes: 1 * MiB, compression: 0 });
    expectSame(await bytes(fs, '/frag'), data, '/frag');
    // One 2 MiB extent: at or over a 1 MiB threshold, and alone (no next extent) under the default.
    expect((await fs.filesystem.defragment('/big', { extentThresholdBytes: 1 * MiB })).rewrittenBytes).toBe(0);
    expect((await fs.filesystem.defragment('/big')).rewrittenBytes).toBe(0);
    // Two small extents then a large one: the small run is rewritten, the large one is not.
    const h = await fs.promises.open('/big', 'r+');
    await h.write(patternBytes(5, 8 * KiB), 0, 8 * KiB, 0);
    await fs.sync();
    await h.write(patternBytes(6, 8 * KiB), 0, 8 * KiB, 8 * KiB);
    await h.close();
    await fs.sync();
    const want = new Uint8Array(big);
    want.set(patternBytes(5, 8 * KiB), 0);
    want.set(patternBytes(6, 8 * KiB), 8 * KiB);
    expect((await extents(fs, '/big')).map((fe) => fe.numBytes)).toEqual([8 * KiB, 8 * KiB, 2 * MiB - 16 * KiB]);
    // A threshold of 4 KiB makes none of them small.
    expect((await fs.filesystem.defragment('/big', { extentThresholdBytes: 4 * KiB })).rewrittenBytes).toBe(0);
    expect((await fs.filesystem.defragment('/big', { extentThresholdBytes: 1 * MiB })).rewrittenBytes).toBe(16 * KiB);
    expect((await extents(fs, '/big')).map((fe) => fe.numBytes)).toEqual([16 * KiB, 2 * MiB - 16 * KiB]);
    expectSame(await bytes(fs, '/big'), want, '/big');
    await judge(dev, fs, { frag: data, big: want });
  });

  it('unshares extents of a snapshot and a reflink (they keep theirs); a read-only snapshot is EROFS; btrfs check and restore agree', async () => {
    const { dev, fs } = await fresh();
    await fs.subvolume.create('/sv');
    const text = textBytes(7, 512 * KiB);
    await fs.promises.writeFile('/sv/f', text);
    await fs.promises.copyFile('/sv/f', '/sv/clone', fs.promises.constants.COPYFILE_FICLONE);
    await fs.subvolume.snapshot('/sv', '/snap', { readonly: true });
    const before = await extents(fs, '/snap/f');
    await fs.filesystem.defragment('/sv/f', { compress: 'zstd' });
    const after = await extents(fs, '/sv/f');
    expect(after.every((fe) => fe.compression === CompressionType.ZSTD)).toBe(true);
    const shared = new Set(before.map((fe) => fe.diskBytenr));
    expect(after.some((fe) => shared.has(fe.diskBytenr))).toBe(false);
    expect(await extents(fs, '/snap/f')).toEqual(before);
    expect((await extents(fs, '/sv/clone')).map((fe) => fe.diskBytenr)).toEqual(before.map((fe) => fe.diskBytenr));
    await expect(fs.filesystem.defragment('/snap/f', { compress: 'zstd' })).rejects.toMatchObject({ code: 'EROFS', syscall: 'ioctl', path: '/snap/f' });
    await expect(fs.filesystem.defragment('/snap', { recursive: true })).rejects.toMatchObject({ code: 'EROFS' });
    const cs = await fs.filesystem.compsize(['/sv', '/snap']);
    // Four files (the snapshot has the clone too); three of them share the old plain extent.
    expect(cs.files).toBe(4);
    expect(cs.byType.map((r) => r.type)).toEqual(['none', 'zstd']);
    expect(cs.byType[0]).toMatchObject({ diskBytes: 512 * KiB, uncompressedBytes: 512 * KiB, referencedBytes: 3 * 512 * KiB });
    expect(cs.byType[1].uncompressedBytes).toBe(512 * KiB);
    await judge(dev, fs, { 'sv/f': text, 'sv/clone': text, 'snap/f': text }, ['-s']);
  });

  it('recursive walks regular files of one subvolume (not nested ones, each inode once); symlinks followed only at the top', async () => {
    const { dev, fs } = await fresh('compress=zlib');
    const p = fs.promises;
    await p.mkdir('/d/e', { recursive: true });
    const a = textBytes(8, 200 * KiB);
    const b = textBytes(9, 300 * KiB);
    await p.writeFile('/d/a', a);
    await p.writeFile('/d/e/b', b);
    await p.link('/d/a', '/d/e/a-link');
    await p.symlink('/d/a', '/d/e/sym');
    await p.writeFile('/d/empty', '');
    await fs.subvolume.create('/d/nested');
    await p.writeFile('/d/nested/n', b);
    await p.writeFile('/top', a);
    await p.symlink('/top', '/top-link');
    const progress: string[] = [];
    const r = await fs.filesystem.defragment('/d', { recursive: true, compress: 'zstd', onProgress: (x) => progress.push(x.path) });
    expect(r.files).toBe(3);
    expect(r.failures).toEqual([]);
    expect(new Set(progress)).toEqual(new Set(['/d/a', '/d/e/b', '/d/empty']));
    for (const f of ['/d/a', '/d/e/b']) expect((await extents(fs, f)).every((fe) => fe.compression === CompressionType.ZSTD), f).toBe(true);
    expect((await extents(fs, '/d/nested/n')).every((fe) => fe.compression === CompressionType.ZLIB)).toBe(true);
    // A directory without -r: Linux defragments the metadata tree there; here nothing happens.
    expect(await fs.filesystem.defragment('/d', { compress: 'lzo' })).toEqual({ files: 0, rewrittenBytes: 0, failures: [] });
    await fs.filesystem.defragment('/top-link', { compress: 'lzo' });
    expect((await extents(fs, '/top')).every((fe) => fe.compression === CompressionType.LZO)).toBe(true);
    // Recursive with a start past some files: those are reported, the rest done.
    const r2 = await fs.filesystem.defragment('/d', { recursive: true, start: 250 * KiB, compress: 'lzo' });
    expect(r2.files).toBe(2);
    expect(r2.failures.map((f) => [f.path, f.code])).toEqual([['/d/a', 'EINVAL']]);
    // The start is rounded down to a sector (248 KiB), as btrfs_defrag_file does.
    expect((await extents(fs, '/d/e/b')).filter((fe) => fe.compression === CompressionType.LZO).map((fe) => fe.fileOffset)).toEqual([248 * KiB]);
    expectSame(await bytes(fs, '/d/a'), a, '/d/a');
    expectSame(await bytes(fs, '/d/e/b'), b, '/d/e/b');
    await judge(dev, fs, { 'd/a': a, 'd/e/b': b, top: a });
  });

  it('cancels between steps with ECANCELED, leaving a consistent file; a signal aborted before the call does nothing', async () => {
    const { dev, fs } = await fresh();
    const text = textBytes(10, 8 * MiB);
    await fs.promises.writeFile('/f', text);
    const ac = new AbortController();
    let steps = 0;
    const run = fs.filesystem.defragment('/f', {
      compress: 'zstd', level: 1, signal: ac.signal,
      onProgress: () => {
        if (++steps === 2) ac.abort(new Error('enough'));
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'ECANCELED', syscall: 'ioctl', path: '/f' });
    expect(steps).toBe(2);
    const ext = await extents(fs, '/f');
    const z = ext.filter((fe) => fe.compression === CompressionType.ZSTD);
    expect(z.length).toBe(2 * 2 * MiB / (128 * KiB));
    expect(ext.length).toBeGreaterThan(z.length);
    expectSame(await bytes(fs, '/f'), text, '/f');
    const pre = new AbortController();
    pre.abort();
    await expect(fs.filesystem.defragment('/f', { compress: 'zstd', signal: pre.signal })).rejects.toMatchObject({ code: 'ECANCELED' });
    expect(await extents(fs, '/f')).toEqual(ext);
    await judge(dev, fs, { f: text });
  });

  it('errors carry codes: EINVAL for options and ranges, ENOENT, EINVAL for a fifo, EROFS on a read-only mount', async () => {
    const { dev, fs } = await fresh();
    await fs.promises.writeFile('/f', textBytes(11, 10 * KiB));
    await fs.promises.writeFile('/empty', '');
    // fs.promises has no mknod: a fifo made by the namespace layer.
    await fs.transaction(async (f) => createNode(f, f.fsTree, 256, new TextEncoder().encode('fifo'), { mode: S_IFIFO | 0o644, uid: 0, gid: 0 }));
    await expect(fs.filesystem.defragment('/fifo')).rejects.toMatchObject({ code: 'EINVAL', path: '/fifo' });
    const bad: [string, Parameters<Filesystem['filesystem']['defragment']>[1]][] = [
      ['/f', { compress: 'lz4' as never }],
      ['/f', { compress: 'zlib', level: 10 }],
      ['/f', { compress: 'lzo', level: 2 }],
      ['/f', { compress: 'zstd', level: 16 }],
      ['/f', { level: 3 }],
      ['/f', { start: -1 }],
      ['/f', { start: 1.5 }],
      ['/f', { extentThresholdBytes: -4096 }],
      ['/f', { start: 10 * KiB }],
    ];
    for (const [path, o] of bad) await expect(fs.filesystem.defragment(path, o), JSON.stringify(o)).rejects.toMatchObject({ code: 'EINVAL', syscall: 'ioctl' });
    // An empty file is done at once whatever the start (btrfs_defrag_file returns before the check).
    expect((await fs.filesystem.defragment('/empty', { start: 1 * MiB })).files).toBe(1);
    expect((await fs.filesystem.defragment('/f', { compress: 'zstd', level: -5 })).rewrittenBytes).toBe(12 * KiB);
    await expect(fs.filesystem.defragment('/nope')).rejects.toMatchObject({ code: 'ENOENT', path: '/nope' });
    await fs.unmount();
    const ro = await mount([dev], 'ro');
    await expect(ro.filesystem.defragment('/f')).rejects.toMatchObject({ code: 'EROFS' });
    await ro.unmount();
  });
});

describe('compression property inheritance (btrfs_inode_inherit_props)', () => {
  it('new files and directories under a directory with compression=zstd get the property and are written compressed; btrfs check and restore agree', async () => {
    const { dev, fs } = await fresh();
    const p = fs.promises;
    await p.mkdir('/d');
    await fs.property.set('/d', 'compression', 'zstd:5');
    const text = textBytes(12, 400 * KiB);
    await p.writeFile('/d/f', text);
    await p.mkdir('/d/sub');
    await p.writeFile('/d/sub/g', text);
    await p.symlink('f', '/d/link');
    await p.mkdir('/n');
    await fs.property.set('/n', 'compression', 'none');
    await p.writeFile('/n/h', text);
    await p.writeFile('/plain', text);
    expect(await fs.property.get('/d/f', 'compression')).toBe('zstd');
    expect(await fs.property.get('/d/sub', 'compression')).toBe('zstd');
    expect(await fs.property.get('/d/sub/g', 'compression')).toBe('zstd');
    expect(await fs.property.get('/n/h', 'compression')).toBe('');
    expect((await inodeOf(fs, '/n/h')).flags & InodeFlags.NOCOMPRESS).toBe(InodeFlags.NOCOMPRESS);
    // A symlink gets no property (prop_compression_ignore).
    expect(await fs.read(async (f) => {
      const loc = await p.locate(f, '/d/link', false);
      return listXattrs(f, loc.root, loc.ino);
    })).toEqual([]);
    await fs.sync();
    for (const path of ['/d/f', '/d/sub/g']) {
      const ext = await extents(fs, path);
      expect(ext.length).toBe(4);
      expect(ext.every((fe) => fe.type === FileExtentType.REG && fe.compression === CompressionType.ZSTD), path).toBe(true);
    }
    expect((await extents(fs, '/n/h')).every((fe) => fe.compression === CompressionType.NONE)).toBe(true);
    expect((await extents(fs, '/plain')).every((fe) => fe.compression === CompressionType.NONE)).toBe(true);
    const dump = await fs.dumpTree({ tree: 5 });
    expect(dump).toMatch(/compression 3/);
    const cs = await fs.filesystem.compsize('/d');
    expect(cs.files).toBe(2);
    expect(cs.byType.map((r) => r.type)).toEqual(['zstd']);
    expect(cs.total.uncompressedBytes).toBe(2 * 400 * KiB);
    expect(cs.total.referencedBytes).toBe(2 * 400 * KiB);
    expect(cs.total.diskBytes).toBeLessThan(cs.total.uncompressedBytes / 2);
    await judge(dev, fs, { 'd/f': text, 'd/sub/g': text, 'n/h': text, plain: text });
  });
});

describe('fs.filesystem.compsize', () => {
  it('counts as compsize: each extent once by disk bytenr, every reference, inline extents by their stored bytes; symlinks skipped', async () => {
    const { fs } = await fresh('compress=zstd');
    const p = fs.promises;
    const text = textBytes(13, 256 * KiB);
    await p.writeFile('/a', text);
    await p.copyFile('/a', '/b', p.constants.COPYFILE_FICLONE);
    await p.writeFile('/small', textBytes(14, 3000));
    await p.writeFile('/rnd', patternBytes(15, 64 * KiB));
    await p.symlink('/a', '/s');
    // Overwrite the middle of /a: its first extent stays whole on disk, referenced in part.
    const h = await p.open('/a', 'r+');
    await h.write(patternBytes(16, 8 * KiB), 0, 8 * KiB, 16 * KiB);
    await h.close();
    await fs.sync();
    const z = (await extents(fs, '/b'));
    const zDisk = z.reduce((n, fe) => n + fe.diskNumBytes, 0);
    const [inl] = await extents(fs, '/small');
    expect(inl.type).toBe(FileExtentType.INLINE);
    const cs = await fs.filesystem.compsize('/');
    expect(cs.files).toBe(4);
    expect(cs.inlineExtents).toBe(1);
    // /a: 2 zstd extents (shared with /b) + 1 plain 8 KiB; /rnd: 1 plain.
    expect(cs.regularExtents).toBe(4);
    expect(cs.refs).toBe(2 + 3 + 1 + 1);
    const zstd = cs.byType.find((r) => r.type === 'zstd')!;
    expect(zstd.diskBytes).toBe(zDisk + inl.inline!.length);
    expect(zstd.uncompressedBytes).toBe(256 * KiB + 3000);
    expect(zstd.referencedBytes).toBe(256 * KiB + 248 * KiB + 3000);
    const none = cs.byType.find((r) => r.type === 'none')!;
    expect(none).toEqual({ type: 'none', diskBytes: 72 * KiB, uncompressedBytes: 72 * KiB, referencedBytes: 72 * KiB });
    expect(cs.total.diskBytes).toBe(zstd.diskBytes + none.diskBytes);
    // stat keeps btrfs's logical nbytes: 256 KiB of blocks for the compressed file.
    expect((await p.stat('/b')).blocks).toBe(256 * KiB / 512);
    expect((await fs.filesystem.compsize('/s')).files).toBe(0);
    await expect(fs.filesystem.compsize('/missing')).rejects.toMatchObject({ code: 'ENOENT' });
    await fs.unmount();
  });
});

// fs.promises: targeted tests of node semantics that the differential suite (differential.test.ts)
// cannot reach: open-but-unlinked files and orphans, reflink copies, handles, streams, BigInt
// stats, times, argument forms, read-only mounts, atime, the callback API, durability of sync().
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { MemoryDevice, mkfs, mount, FsError, constants, type Filesystem } from '../../../src/index.js';
import { btrfsCheck, saveImage, tempDir } from '../../shared/btrfs-progs.js';

async function fresh(options?: string): Promise<{ fs: Filesystem; dev: MemoryDevice }> {
  const dev = new MemoryDevice(256 * 1024 * 1024);
  await mkfs([dev]);
  return { fs: await mount([dev], options), dev };
}

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7 + (i >> 9)) & 0xff);

async function expectBtrfsCheck(dev: MemoryDevice): Promise<void> {
  const tmp = await tempDir();
  try {
    const image = join(tmp.dir, 'image');
    await saveImage(dev, image);
    const r = await btrfsCheck(image, { dataCsum: true });
    expect(r.ok, r.output).toBe(true);
  } finally {
    await tmp.cleanup();
  }
}

describe('fs.promises', () => {
  it('writes, reads, lists and stats files', async () => {
    const { fs } = await fresh();
    const p = fs.promises;
    expect(await p.mkdir('/a/b/c', { recursive: true })).toBe('/a');
    await p.writeFile('/a/b/c/hello.txt', 'hello world');
    expect(await p.readFile('/a/b/c/hello.txt', 'utf8')).toBe('hello world');
    expect(await p.readFile('/a/b/c/hello.txt', { encoding: 'base64' })).toBe(Buffer.from('hello world').toString('base64'));
    expect(await p.readdir('/a/b')).toEqual(['c']);
    const st = await p.stat('/a/b/c/hello.txt');
    expect(st.isFile()).toBe(true);
    expect(st.size).toBe(11);
    expect(st.mode & 0o777).toBe(0o644);
    expect(st.dev).toBe(5);
    expect(st.blksize).toBe(4096);
    expect(st.uid).toBe(0);
    await expect(p.readFile('/nope')).rejects.toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'open', path: '/nope', message: "ENOENT: no such file or directory, open '/nope'" });
    await expect(p.mkdir('/a')).rejects.toMatchObject({ code: 'EEXIST', syscall: 'mkdir', path: '/a' });
    await expect(p.rename('/a', '/a/b/x')).rejects.toMatchObject({ code: 'EINVAL', syscall: 'rename', path: '/a', dest: '/a/b/x' });
    await expect(p.readFile('/a')).rejects.toMatchObject({ code: 'EISDIR', syscall: 'read' });
    await p.appendFile('/a/b/c/hello.txt', '!');
    expect(await p.readFile('/a/b/c/hello.txt', 'utf8')).toBe('hello world!');
    await p.symlink('b/c', '/a/link');
    expect(await p.readFile('/a/link/hello.txt', 'utf8')).toBe('hello world!');
    expect(await p.realpath('/a/link/hello.txt')).toBe('/a/b/c/hello.txt');
    expect(await p.readlink('/a/link')).toBe('b/c');
    expect((await p.lstat('/a/link')).isSymbolicLink()).toBe(true);
    const dirents = await p.readdir('/a', { withFileTypes: true });
    expect(dirents.map((d) => [d.name, d.isDirectory(), d.isSymbolicLink(), d.parentPath])).toEqual([['b', true, false, '/a'], ['link', false, true, '/a']]);
    expect(await p.readdir('/a', { withFileTypes: true, recursive: true }).then((l) => l.map((d) => `${d.parentPath}/${String(d.name)}`))).toEqual(['/a/b', '/a/link', '/a/b/c', '/a/b/c/hello.txt']);
    await p.rm('/a', { recursive: true });
    expect(await p.readdir('/')).toEqual([]);
    await expect(p.rm('/a')).rejects.toMatchObject({ code: 'ENOENT', syscall: 'rm' });
    await p.rm('/a', { force: true });
    expect((await fs.check()).errors).toEqual([]);
    await fs.unmount();
  });

  it('accepts string, Uint8Array and file: URL paths; rejects NUL and bad arguments with EINVAL', async () => {
    const { fs } = await fresh();
    const p = fs.promises;
    await p.writeFile(new URL('file:///caf%C3%A9.txt'), 'x');
    expect(await p.readFile(new TextEncoder().encode('/café.txt'), 'utf8')).toBe('x');
    expect(await p.readdir('/')).toEqual(['café.txt']);
    expect(await p.readdir('/', { encoding: 'buffer' })).toEqual([Buffer.from('café.txt')]);
    await expect(p.stat('/a\0b')).rejects.toMatchObject({ code: 'EINVAL', syscall: 'stat' });
    await expect(p.stat(new URL('http://x/y'))).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(p.open('/café.txt', 'zz')).rejects.toMatchObject({ code: 'EINVAL', syscall: 'open' });
    await expect(p.mkdir(`/${'n'.repeat(256)}`)).rejects.toMatchObject({ code: 'ENAMETOOLONG', syscall: 'mkdir' });
    await p.mkdir(`/${'n'.repeat(255)}`);
    // Functions work detached, as node's do.
    const { readFile, stat } = p;
    expect(await readFile('café.txt', 'utf8')).toBe('x');
    expect((await stat('.')).isDirectory()).toBe(true);
    await fs.unmount();
  });

  it('follows at most 40 symlinks (ELOOP beyond), and trailing slashes mean a directory', async () => {
    const { fs } = await fresh();
    const p = fs.promises;
    await p.writeFile('/target', 'end');
    await p.symlink('target', '/l0');
    for (let i = 1; i <= 40; i++) await p.symlink(`l${i - 1}`, `/l${i}`);
    expect(await p.readFile('/l39', 'utf8')).toBe('end'); // 40 links followed
    await expect(p.readFile('/l40')).rejects.toMatchObject({ code: 'ELOOP', syscall: 'open' });
    await expect(p.stat('/target/')).rejects.toMatchObject({ code: 'ENOTDIR' });
    await expect(p.writeFile('/new/', 'x')).rejects.toMatchObject({ code: 'EISDIR' });
    await expect(p.unlink('/target/')).rejects.toMatchObject({ code: 'ENOTDIR' });
    await p.mkdir('/dir/');
    await expect(p.unlink('/dir/')).rejects.toMatchObject({ code: 'EISDIR' });
    await expect(p.rmdir('/dir/.')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(p.rename('/dir/.', '/x')).rejects.toMatchObject({ code: 'EBUSY' });
    await fs.unmount();
  });

  it('open flags: string and numeric, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY, O_NOFOLLOW, EISDIR, EBADF', async () => {
    const { fs } = await fresh();
    const p = fs.promises;
    const { O_CREAT, O_EXCL, O_WRONLY, O_RDWR, O_TRUNC, O_APPEND, O_DIRECTORY, O_NOFOLLOW, O_RDONLY } = constants;
    const h = await p.open('/f', O_CREAT | O_EXCL | O_RDWR, 0o600);
    expect(h.fd).toBeGreaterThanOrEqual(3);
    expect((await h.stat()).mode & 0o777).toBe(0o600);
    await h.write('abcdef');
    await h.close();
    expect(h.fd).toBe(-1);
    await h.close(); // a second close is a no-op, as node
    await expect(h.stat()).rejects.toMatchObject({ code: 'EBADF' });
    await expect(p.open('/f', 'wx')).rejects.toMatchObject({ code: 'EEXIST' });
    const a = await p.open('/f', O_WRONLY | O_APPEND);
    await a.write('gh', 0); // O_APPEND: at the end whatever the position
    await expect(a.read(new Uint8Array(1), 0, 1, 0)).rejects.toMatchObject({ code: 'EBADF', syscall: 'read' });
    await a.close();
    expect(await p.readFile('/f', 'utf8')).toBe('abcdefgh');
    const r = await p.open('/f', 'r');
    await expect(r.write('x')).rejects.toMatchObject({ code: 'EBADF', syscall: 'write' });
    await expect(r.truncate(1)).rejects.toMatchObject({ code: 'EINVAL', syscall: 'ftruncate' });
    await r.close();
    await (await p.open('/f', O_WRONLY | O_TRUNC)).close();
    expect((await p.stat('/f')).size).toBe(0);
    await p.mkdir('/d');
    await expect(p.open('/d', 'w')).rejects.toMatchObject({ code: 'EISDIR', syscall: 'open' });
    await expect(p.open('/f', O_RDONLY | O_DIRECTORY)).rejects.toMatchObject({ code: 'ENOTDIR' });
    const d = await p.open('/d', O_RDONLY | O_DIRECTORY);
    await expect(d.read(new Uint8Array(4), 0, 4, 0)).rejects.toMatchObject({ code: 'EISDIR' });
    await d.close();
    await p.symlink('f', '/lnk');
    await expect(p.open('/lnk', O_RDONLY | O_NOFOLLOW)).rejects.toMatchObject({ code: 'ELOOP' });
    await fs.unmount();
  });

  it('FileHandle: positioned and sequential I/O, readv/writev, readFile/writeFile, web stream', async () => {
    const { fs } = await fresh();
    const p = fs.promises;
    const data = bytes(300_000);
    const h = await p.open('/big', 'w+');
    expect((await h.write(data, 0, data.length, null)).bytesWritten).toBe(data.length);
    const probe = new Uint8Array(10_000);
    expect((await h.read(probe, 0, probe.length, 123_456)).bytesRead).toBe(10_000);
    expect(probe).toEqual(data.subarray(123_456, 133_456));
    // Sequential reads start where the position is (at the end after the write).
    expect((await h.read({ buffer: probe })).bytesRead).toBe(0);
    const { bytesRead, buffer } = await h.read({ position: 0 });
    expect(bytesRead).toBe(16384);
    expect([...buffer.subarray(0, 4)]).toEqual([...data.subarray(0, 4)]);
    const parts = [new Uint8Array(3), new Uint8Array(5)];
    expect((await h.readv(parts, 10)).bytesRead).toBe(8);
    expect([...parts[0], ...parts[1]]).toEqual([...data.subarray(10, 18)]);
    expect((await h.writev([Uint8Array.of(1, 2), Uint8Array.of(3)], 299_999)).bytesWritten).toBe(3);
    expect((await h.stat()).size).toBe(300_002);
    await h.truncate(100_000);
    const chunks: Uint8Array[] = [];
    const h2 = await p.open('/big', 'r');
    for await (const c of h2.readableWebStream() as unknown as AsyncIterable<Uint8Array>) chunks.push(c);
    expect(Buffer.concat(chunks).equals(Buffer.from(data.subarray(0, 100_000)))).toBe(true);
    await h2.close();
    await h.close();
    const w = await p.open('/seq', 'w+');
    await w.writeFile('hello ');
    await w.appendFile('world');
    expect(await w.readFile('utf8')).toBe(''); // at the end: readFile reads from the position
    expect((await w.read(Buffer.alloc(5), 0, 5, 6)).buffer.toString()).toBe('world');
    await w.close();
    expect(await p.readFile('/seq', 'utf8')).toBe('hello world');
    expect((await fs.check()).errors).toEqual([]);
    await fs.unmount();
  });

  it('an unlinked open file lives until its last close; an unmount leaves an orphan that the next mount frees', async () => {
    const { fs, dev } = await fresh();
    const p = fs.promises;
    await p.writeFile('/keep', bytes(50_000, 2));
    const h1 = await p.open('/keep', 'r+');
    const h2 = await p.open('/keep', 'r');
    const ino = (await h1.stat()).ino;
    await p.unlink('/keep');
    await expect(p.stat('/keep')).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await h1.stat()).nlink).toBe(0);
    await h1.write('still here', 0);
    await h1.close();
    const buf = Buffer.alloc(10);
    await h2.read(buf, 0, 10, 0);
    expect(buf.toString()).toBe('still here');
    await h2.close();
    // The last close evicted it: no item of the inode is left (dumpTree shows what is committed).
    await fs.sync();
    expect(await fs.dumpTree({ tree: 5 })).not.toMatch(new RegExp(`key \\(${ino} INODE_ITEM`));
    expect(await fs.dumpTree({ tree: 5 })).not.toMatch(/ORPHAN/);

    // A rename over an open file orphans the replaced inode the same way.
    await p.writeFile('/victim', 'old');
    await p.writeFile('/new', 'new');
    const v = await p.open('/victim', 'r');
    await p.rename('/new', '/victim');
    expect(await v.readFile('utf8')).toBe('old');
    await v.close();

    // Unmount with an unlinked file still open: the orphan item is on disk.
    await p.writeFile('/ghost', bytes(20_000, 3));
    const g = await p.open('/ghost', 'r');
    const ghostIno = (await g.stat()).ino;
    await p.unlink('/ghost');
    await fs.unmount();
    await expect(g.stat()).rejects.toMatchObject({ code: 'EIO' });
    const ro = await mount([dev.fork()], 'ro');
    expect(await ro.dumpTree({ tree: 5 })).toMatch(new RegExp(`key \\(ORPHAN ORPHAN_ITEM ${ghostIno}\\)`));
    await ro.unmount();
    const again = await mount([dev]);
    await again.sync();
    const dump = await again.dumpTree({ tree: 5 });
    expect(dump).not.toMatch(/ORPHAN_ITEM/);
    expect(dump).not.toMatch(new RegExp(`key \\(${ghostIno} INODE_ITEM`));
    expect((await again.check()).errors).toEqual([]);
    await again.unmount();
    await expectBtrfsCheck(dev);
  });

  it('a power cut with an unlinked file open: the next mount frees the orphan', async () => {
    const { fs, dev } = await fresh();
    const p = fs.promises;
    await p.writeFile('/victim', bytes(300_000, 5));
    const h = await p.open('/victim', 'r');
    await p.unlink('/victim');
    await fs.sync(); // the orphan item is committed
    const crashed = dev.fork();
    const after = await mount([crashed]);
    await after.sync();
    expect(await after.dumpTree({ tree: 5 })).not.toMatch(/ORPHAN_ITEM/);
    expect((await after.check()).errors).toEqual([]);
    await after.unmount();
    await expectBtrfsCheck(crashed);
    await h.close();
    await fs.unmount();
  });

  it('concurrent calls run one at a time and all land', async () => {
    const { fs } = await fresh();
    const p = fs.promises;
    await p.mkdir('/c');
    await Promise.all(Array.from({ length: 200 }, (_, i) => p.writeFile(`/c/f${i}`, `${i}`.repeat(i))));
    const handles = await Promise.all(Array.from({ length: 20 }, (_, i) => p.open(`/c/f${i + 100}`, 'r+')));
    await Promise.all(handles.map((h, i) => h.write(`H${i}`, 0)));
    await Promise.all(handles.map((h) => h.close()));
    const names = await p.readdir('/c');
    expect(names).toHaveLength(200);
    const contents = await Promise.all(names.map((n) => p.readFile(`/c/${n}`, 'utf8')));
    for (const [k, n] of names.entries()) {
      const i = Number(n.slice(1));
      const want = `${i}`.repeat(i);
      expect(contents[k]).toBe(i >= 100 && i < 120 ? `H${i - 100}` + want.slice(`H${i - 100}`.length) : want);
    }
    expect((await fs.check()).errors).toEqual([]);
    await fs.unmount();
  });

  it('copyFile: COPYFILE_EXCL, reflink with COPYFILE_FICLONE(_FORCE), same file, mode of the source', async () => {
    const { fs, dev } = await fresh();
    const p = fs.promises;
    const data = bytes(1_000_000, 4);
    await p.writeFile('/src', data, { mode: 0o640 });
    await p.copyFile('/src', '/plain');
    await p.copyFile('/src', '/clone', constants.COPYFILE_FICLONE_FORCE);
    await p.copyFile('/src', '/clone2', constants.COPYFILE_FICLONE);
    await expect(p.copyFile('/src', '/plain', constants.COPYFILE_EXCL)).rejects.toMatchObject({ code: 'EEXIST', syscall: 'copyfile', path: '/src', dest: '/plain' });
    await p.copyFile('/src', '/src');
    for (const name of ['/plain', '/clone', '/clone2', '/src']) {
      expect(Buffer.from(await p.readFile(name)).equals(Buffer.from(data))).toBe(true);
      expect((await p.stat(name)).mode & 0o777).toBe(0o640);
    }
    // The reflinks share the source's data extents (one extent item with backrefs from both
    // files); the plain copy has extents of its own.
    const srcIno = (await p.stat('/src')).ino;
    const cloneIno = (await p.stat('/clone')).ino;
    await fs.sync();
    const extents = await fs.dumpTree({ tree: 2 });
    const items = extents.split(/\n\titem \d+ key /).filter((b) => b.includes('EXTENT_ITEM'));
    const owners = (b: string) => [...b.matchAll(/extent data backref root FS_TREE objectid (\d+)/g)].map((m) => Number(m[1]));
    const sharedBy = items.filter((b) => owners(b).includes(srcIno) && owners(b).includes(cloneIno));
    expect(sharedBy.length).toBeGreaterThan(0);
    const plainIno = (await p.stat('/plain')).ino;
    expect(items.filter((b) => owners(b).includes(srcIno) && owners(b).includes(plainIno))).toEqual([]);
    await expect(p.copyFile('/', '/x')).rejects.toMatchObject({ code: 'EISDIR' });
    await fs.unmount();
    await expectBtrfsCheck(dev);
  });

  it('stats: BigInt form, times from utimes (numbers, strings, Dates), birthtime, chmod/chown', async () => {
    const { fs } = await fresh();
    const p = fs.promises;
    const before = Date.now();
    await p.writeFile('/t', 'x');
    const s = await p.stat('/t', { bigint: true });
    expect(typeof s.size).toBe('bigint');
    expect(s.size).toBe(1n);
    expect(s.mtimeNs / 1_000_000n).toBe(s.mtimeMs);
    expect(Number(s.birthtimeMs)).toBeGreaterThanOrEqual(before - 1000);
    await p.utimes('/t', 1.5, new Date(2000));
    let st = await p.stat('/t');
    expect(st.atimeMs).toBe(1500);
    expect(st.mtimeMs).toBe(2000);
    expect(st.mtime).toEqual(new Date(2000));
    // The Dates are made on first use, stay the same object, and can be replaced, as node's.
    expect(st.atime).toBe(st.atime);
    expect(st.atime.getTime()).toBe(1500);
    expect(st.birthtime.getTime()).toBe(st.birthtimeMs);
    st.ctime = new Date(7);
    expect(st.ctime.getTime()).toBe(7);
    expect(Object.keys({ ...st })).toContain('atime');
    await p.utimes('/t', '12.25', 1_234_567_890.123456789);
    st = await p.stat('/t');
    expect(st.atimeMs).toBe(12250);
    expect((await p.stat('/t', { bigint: true })).mtimeNs).toBe(1_234_567_890_123_456_000n); // libuv keeps microseconds
    await p.chmod('/t', '4755');
    expect((await p.stat('/t')).mode).toBe(0o104755);
    await p.chown('/t', 1000, 100);
    st = await p.stat('/t');
    expect([st.uid, st.gid]).toEqual([1000, 100]);
    expect(st.mode).toBe(0o100755); // chown clears set-user-ID, as Linux
    await p.symlink('t', '/l');
    await p.lchown('/l', 7, 7);
    expect((await p.lstat('/l')).uid).toBe(7);
    expect((await p.stat('/l')).uid).toBe(1000);
    await p.lutimes('/l', 5, 6);
    expect((await p.lstat('/l')).mtimeMs).toBe(6000);
    await fs.unmount();
  });

  it('access as root; mkdtemp; opendir in batches; statfs', async () => {
    const { fs } = await fresh();
    const p = fs.promises;
    await p.writeFile('/f', 'x', { mode: 0o000 });
    await p.access('/f', constants.R_OK | constants.W_OK);
    await expect(p.access('/f', constants.X_OK)).rejects.toMatchObject({ code: 'EACCES', syscall: 'access' });
    await p.chmod('/f', 0o010);
    await p.access('/f', constants.X_OK);
    await expect(p.access('/none')).rejects.toMatchObject({ code: 'ENOENT' });
    const tmp = (await p.mkdtemp('/tmp-')) as string;
    expect(tmp).toMatch(/^\/tmp-[A-Za-z0-9]{6}$/);
    expect((await p.stat(tmp)).mode & 0o777).toBe(0o700);
    for (let i = 0; i < 100; i++) await p.writeFile(`${tmp}/e${i}`, '');
    const dir = await p.opendir(tmp, { bufferSize: 7 });
    const names: string[] = [];
    for await (const e of dir) names.push(String(e.name));
    expect(names).toEqual(Array.from({ length: 100 }, (_, i) => `e${i}`));
    await expect(dir.read()).rejects.toMatchObject({ code: 'EBADF' });
    const sf = await p.statfs('/');
    expect(sf.type).toBe(0x9123683e);
    expect(sf.bsize).toBe(4096);
    expect(Number(sf.blocks)).toBeGreaterThan(Number(sf.bfree));
    await fs.unmount();
  });

  it('read-only mounts refuse changes with EROFS; reads do not touch atime there', async () => {
    const { fs, dev } = await fresh();
    await fs.promises.writeFile('/f', 'data');
    await fs.unmount();
    const ro = await mount([dev], 'ro');
    const p = ro.promises;
    expect(await p.readFile('/f', 'utf8')).toBe('data');
    await expect(p.writeFile('/f', 'x')).rejects.toMatchObject({ code: 'EROFS', syscall: 'open', path: '/f' });
    await expect(p.open('/f', 'r+')).rejects.toMatchObject({ code: 'EROFS' });
    await expect(p.mkdir('/d')).rejects.toMatchObject({ code: 'EROFS', syscall: 'mkdir' });
    await expect(p.access('/f', constants.W_OK)).rejects.toMatchObject({ code: 'EROFS' });
    const h = await p.open('/f');
    expect(await h.readFile('utf8')).toBe('data');
    await h.close();
    await ro.unmount();
  });

  it('atime: relatime by default (a read after a write moves it, the next does not); noatime never', async () => {
    const { fs, dev } = await fresh();
    const p = fs.promises;
    await p.writeFile('/f', 'data');
    await p.utimes('/f', 100, 200); // atime <= mtime: the next read updates atime
    await p.readFile('/f');
    const first = (await p.stat('/f')).atimeMs;
    expect(first).toBeGreaterThan(200_000);
    // atime newer than mtime and ctime, and not a day old: reads leave it alone.
    await p.utimes('/f', 4_000_000_000, 200);
    await p.readFile('/f');
    await (await p.open('/f')).close();
    expect((await p.stat('/f')).atimeMs).toBe(4_000_000_000_000);
    await fs.unmount();
    const na = await mount([dev], 'noatime');
    await na.promises.utimes('/f', 100, 200);
    await na.promises.readFile('/f');
    expect((await na.promises.stat('/f')).atimeMs).toBe(100_000);
    await na.unmount();
  });

  it('sync() makes writes durable without an unmount (a crash right after keeps them)', async () => {
    const { fs, dev } = await fresh();
    const h = await fs.promises.open('/durable', 'w');
    await h.write('committed');
    await h.sync();
    await h.write(' and lost');
    const crashed = dev.fork(); // the device as a power cut would leave it now
    const after = await mount([crashed]);
    expect(await after.promises.readFile('/durable', 'utf8')).toBe('committed');
    await after.unmount();
    await h.close();
    await fs.unmount();
  });

  it('the callback-style fs: path calls, fds, errors in the callback', async () => {
    const { fs } = await fresh();
    const cfs = fs.fsCallback as unknown as Record<string, (...a: unknown[]) => void>;
    const call = (name: string, ...args: unknown[]) =>
      new Promise<unknown[]>((resolve, reject) => cfs[name](...args, (err: unknown, ...r: unknown[]) => (err ? reject(err) : resolve(r))));
    await call('writeFile', '/c', 'callback');
    expect((await call('readFile', '/c', 'utf8'))[0]).toBe('callback');
    const [fd] = (await call('open', '/c', 'r+')) as [number];
    expect(typeof fd).toBe('number');
    const buf = Buffer.alloc(4);
    const [n, same] = await call('read', fd, buf, 0, 4, 4);
    expect(n).toBe(4);
    expect(same).toBe(buf);
    expect(buf.toString()).toBe('back');
    expect((await call('write', fd, 'CALL', 0))[0]).toBe(4);
    expect(((await call('fstat', fd))[0] as { size: number }).size).toBe(8);
    await call('close', fd);
    await expect(call('close', fd)).rejects.toMatchObject({ code: 'EBADF' });
    await expect(call('stat', '/missing')).rejects.toBeInstanceOf(FsError);
    expect((await call('readFile', '/c', 'utf8'))[0]).toBe('CALLback');
    const exists = await new Promise((resolve) => cfs.exists('/c', resolve));
    expect(exists).toBe(true);
    await fs.unmount();
  });
});

// fs.promises: targeted tests of node semantics (the differential suite covers breadth).
import { describe, expect, it } from 'vitest';
import { MemoryDevice, mkfs, mount, type Filesystem } from '../../../src/index.js';

async function fresh(): Promise<{ fs: Filesystem; dev: MemoryDevice }> {
  const dev = new MemoryDevice(256 * 1024 * 1024);
  await mkfs([dev]);
  return { fs: await mount([dev]), dev };
}

describe('fs.promises', () => {
  it('writes, reads, lists and stats files', async () => {
    const { fs } = await fresh();
    const p = fs.promises;
    await p.mkdir('/a/b/c', { recursive: true });
    await p.writeFile('/a/b/c/hello.txt', 'hello world');
    expect(await p.readFile('/a/b/c/hello.txt', 'utf8')).toBe('hello world');
    expect(await p.readdir('/a/b')).toEqual(['c']);
    const st = await p.stat('/a/b/c/hello.txt');
    expect(st.isFile()).toBe(true);
    expect(st.size).toBe(11);
    expect(st.mode & 0o777).toBe(0o644);
    await expect(p.readFile('/nope')).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open', path: '/nope' });
    await expect(p.mkdir('/a')).rejects.toMatchObject({ code: 'EEXIST', syscall: 'mkdir', path: '/a' });
    await p.appendFile('/a/b/c/hello.txt', '!');
    expect(await p.readFile('/a/b/c/hello.txt', 'utf8')).toBe('hello world!');
    await p.symlink('b/c', '/a/link');
    expect(await p.readFile('/a/link/hello.txt', 'utf8')).toBe('hello world!');
    expect(await p.realpath('/a/link/hello.txt')).toBe('/a/b/c/hello.txt');
    const h = await p.open('/a/b/c/hello.txt', 'r+');
    await h.write('HELLO', 0);
    const buf = new Uint8Array(5);
    const r = await h.read(buf, 0, 5, 6);
    expect(r.bytesRead).toBe(5);
    expect(new TextDecoder().decode(buf)).toBe('world');
    await h.close();
    await expect(h.read(buf, 0, 1, 0)).rejects.toMatchObject({ code: 'EBADF' });
    expect(await p.readFile('/a/b/c/hello.txt', 'utf8')).toBe('HELLO world!');
    await p.rm('/a', { recursive: true });
    expect(await p.readdir('/')).toEqual([]);
    expect((await fs.check()).errors).toEqual([]);
    await fs.unmount();
  });
});

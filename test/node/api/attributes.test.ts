// chattr / lsattr: the btrfs attributes of btrfs-man5 FILE ATTRIBUTES, their rules and their
// effects, through the public API.
import { describe, expect, it } from 'vitest';
import { MemoryDevice, mkfs, mount } from '../../../src/index.js';
import { readSuper } from '../../../src/fs/super.js';
import { InodeFlags } from '../../../src/format/constants.js';
import { readInode } from '../../../src/inode/inode.js';

async function fresh(options?: string) {
  const dev = new MemoryDevice(128 * 1024 * 1024);
  await mkfs([dev]);
  return { dev, fs: await mount([dev], options) };
}

describe('file attributes', () => {
  it('sets and lists attributes with chattr syntax', async () => {
    const { fs } = await fresh();
    const p = fs.promises;
    await p.writeFile('/f', '');
    expect(await fs.attributes.get('/f')).toBe('');
    expect(await fs.attributes.set('/f', '+dA')).toBe('dA');
    expect(await fs.attributes.set('/f', '-d +S')).toBe('SA');
    expect(await fs.attributes.set('/f', '=C')).toBe('C');
    await expect(fs.attributes.set('/f', '+cm')).rejects.toMatchObject({ code: 'EINVAL', syscall: 'ioctl', path: '/f' });
    await expect(fs.attributes.set('/f', '+x')).rejects.toMatchObject({ code: 'EOPNOTSUPP' });
    await expect(fs.attributes.set('/f', 'C')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(fs.attributes.get('/nope')).rejects.toMatchObject({ code: 'ENOENT', path: '/nope' });
    await fs.unmount();
  });

  it('C changes only on empty files and brings NODATASUM, as btrfs', async () => {
    const { fs } = await fresh();
    const p = fs.promises;
    await p.writeFile('/empty', '');
    await fs.attributes.set('/empty', '+C');
    const flagsOf = (path: string) => fs.read(async (f) => {
      const loc = await p.locate(f, path);
      return (await readInode(f, loc.root, loc.ino)).flags;
    });
    expect((await flagsOf('/empty')) & (InodeFlags.NODATACOW | InodeFlags.NODATASUM)).toBe(InodeFlags.NODATACOW | InodeFlags.NODATASUM);
    await p.writeFile('/full', 'data');
    expect(await fs.attributes.set('/full', '+C')).toBe(''); // kept as it was
    await fs.unmount();
  });

  it('i and a are enforced with EPERM', async () => {
    const { fs } = await fresh();
    const p = fs.promises;
    await p.writeFile('/imm', 'keep');
    await fs.attributes.set('/imm', '+i');
    await expect(p.writeFile('/imm', 'x')).rejects.toMatchObject({ code: 'EPERM' });
    await expect(p.appendFile('/imm', 'x')).rejects.toMatchObject({ code: 'EPERM' });
    await expect(p.unlink('/imm')).rejects.toMatchObject({ code: 'EPERM' });
    await expect(p.rename('/imm', '/moved')).rejects.toMatchObject({ code: 'EPERM' });
    await expect(p.chmod('/imm', 0o600)).rejects.toMatchObject({ code: 'EPERM' });
    await expect(p.truncate('/imm', 0)).rejects.toMatchObject({ code: 'EPERM' });
    await expect(p.setxattr?.('/imm', 'user.x', 'y')).rejects.toMatchObject({ code: 'EPERM' });
    expect(await p.readFile('/imm', 'utf8')).toBe('keep');
    await fs.attributes.set('/imm', '-i');
    await p.unlink('/imm');

    await p.writeFile('/log', 'line1\n');
    await fs.attributes.set('/log', '+a');
    await p.appendFile('/log', 'line2\n');
    expect(await p.readFile('/log', 'utf8')).toBe('line1\nline2\n');
    await expect(p.writeFile('/log', 'over')).rejects.toMatchObject({ code: 'EPERM' });
    const h = await p.open('/log', 'a');
    await h.write('line3\n');
    await h.close();
    await expect(p.open('/log', 'r+')).rejects.toMatchObject({ code: 'EPERM' });
    await expect(p.unlink('/log')).rejects.toMatchObject({ code: 'EPERM' });
    expect(await p.readFile('/log', 'utf8')).toBe('line1\nline2\nline3\n');

    await p.mkdir('/locked');
    await fs.attributes.set('/locked', '+i');
    await expect(p.writeFile('/locked/new', 'x')).rejects.toMatchObject({ code: 'EPERM' });
    await fs.unmount();
  });

  it('new files inherit C, c and m from their directory, and nodatacow / nodatasum from the mount', async () => {
    const { dev, fs } = await fresh();
    const p = fs.promises;
    await p.mkdir('/nocow');
    await fs.attributes.set('/nocow', '+C');
    await p.writeFile('/nocow/f', 'x');
    expect(await fs.attributes.get('/nocow/f')).toBe('C');
    await p.mkdir('/nocow/sub');
    expect(await fs.attributes.get('/nocow/sub')).toBe('C');
    await p.mkdir('/nocomp');
    await fs.attributes.set('/nocomp', '+m');
    await p.writeFile('/nocomp/f', 'x');
    expect(await fs.attributes.get('/nocomp/f')).toBe('m');
    await fs.unmount();
    const again = await mount([dev], 'nodatacow');
    await again.promises.writeFile('/m', 'x');
    expect(await again.attributes.get('/m')).toBe('C');
    await again.promises.mkdir('/d');
    expect(await again.attributes.get('/d')).toBe(''); // directories do not take the mount's C
    expect((await again.check()).errors).toEqual([]);
    await again.unmount();
  });

  it('S makes every write durable when it returns', async () => {
    const { dev, fs } = await fresh();
    const p = fs.promises;
    await p.writeFile('/s', '');
    await fs.attributes.set('/s', '+S');
    await fs.sync();
    const before = (await readSuper(dev)).sb.generation;
    await p.writeFile('/s', 'now');
    expect((await readSuper(dev)).sb.generation).toBe(before + 1);
    await p.mkdir('/dirsync');
    await fs.attributes.set('/dirsync', '+D');
    await fs.sync();
    const g = (await readSuper(dev)).sb.generation;
    await p.writeFile('/dirsync/entry', '');
    expect((await readSuper(dev)).sb.generation).toBe(g + 1);
    await fs.unmount();
  });
});

// isomorphic-git runs unchanged on butterfs's fs.promises: init, add a few hundred files,
// commit, branch, checkout, status, log; the repository survives a remount and the image
// passes btrfs check.
import { describe, expect, it } from 'vitest';
import git from 'isomorphic-git';
import { MemoryDevice, mkfs, mount } from '../../../src/index.js';
import { btrfsCheck, saveImage, tempDir } from '../../shared/btrfs-progs.js';
import { join } from 'node:path';

const FILES = 300;
const author = { name: 'butterfs', email: 'butterfs@example.org', timestamp: 1_700_000_000, timezoneOffset: 0 };

describe('isomorphic-git on fs.promises', () => {
  it('init, add, commit, branch, checkout, status, log', async () => {
    const dev = new MemoryDevice(256 * 1024 * 1024);
    await mkfs([dev]);
    let bfs = await mount([dev]);
    const dir = '/repo';
    // The Filesystem itself is a node-like fs for isomorphic-git (its `promises` is an own enumerable property).
    let fs = bfs;
    await bfs.promises.mkdir(dir);
    await git.init({ fs, dir, defaultBranch: 'main' });
    const paths: string[] = [];
    for (let i = 0; i < FILES; i++) {
      const sub = `src/m${i % 12}`;
      await bfs.promises.mkdir(`${dir}/${sub}`, { recursive: true });
      const p = `${sub}/file${i}.txt`;
      await bfs.promises.writeFile(`${dir}/${p}`, `file ${i}\n${'x'.repeat(i * 37)}\n`);
      paths.push(p);
    }
    await git.add({ fs, dir, filepath: '.' });
    const first = await git.commit({ fs, dir, message: 'first', author });
    let matrix = await git.statusMatrix({ fs, dir });
    expect(matrix).toHaveLength(FILES);
    expect(matrix.every(([, h, w, s]) => h === 1 && w === 1 && s === 1)).toBe(true);

    await git.branch({ fs, dir, ref: 'feature', checkout: true });
    await bfs.promises.writeFile(`${dir}/${paths[0]}`, 'changed on feature\n');
    await bfs.promises.unlink(`${dir}/${paths[1]}`);
    await bfs.promises.writeFile(`${dir}/NEW.md`, '# new\n');
    expect(await git.status({ fs, dir, filepath: paths[0] })).toBe('*modified');
    expect(await git.status({ fs, dir, filepath: paths[1] })).toBe('*deleted');
    expect(await git.status({ fs, dir, filepath: 'NEW.md' })).toBe('*added');
    await git.add({ fs, dir, filepath: paths[0] });
    await git.remove({ fs, dir, filepath: paths[1] });
    await git.add({ fs, dir, filepath: 'NEW.md' });
    const second = await git.commit({ fs, dir, message: 'second', author });
    expect((await git.log({ fs, dir })).map((c) => c.oid)).toEqual([second, first]);

    // Commit to disk, remount, and carry on from the same repository.
    await bfs.unmount();
    bfs = await mount([dev]);
    fs = bfs;
    await git.checkout({ fs, dir, ref: 'main' });
    expect(await bfs.promises.readFile(`${dir}/${paths[0]}`, 'utf8')).toBe(`file 0\n\n`);
    expect(await bfs.promises.readFile(`${dir}/${paths[1]}`, 'utf8')).toMatch(/^file 1\n/);
    await expect(bfs.promises.stat(`${dir}/NEW.md`)).rejects.toMatchObject({ code: 'ENOENT' });
    matrix = await git.statusMatrix({ fs, dir });
    expect(matrix.every(([, h, w, s]) => h === 1 && w === 1 && s === 1)).toBe(true);
    expect(await git.currentBranch({ fs, dir })).toBe('main');
    expect(await git.listBranches({ fs, dir })).toEqual(['feature', 'main']);
    expect(await git.log({ fs, dir })).toHaveLength(1);
    await git.checkout({ fs, dir, ref: 'feature' });
    expect(await git.log({ fs, dir })).toHaveLength(2);
    expect(await bfs.promises.readFile(`${dir}/NEW.md`, 'utf8')).toBe('# new\n');
    matrix = await git.statusMatrix({ fs, dir });
    expect(matrix).toHaveLength(FILES);
    expect(matrix.every(([, h, w, s]) => h === 1 && w === 1 && s === 1)).toBe(true);

    // The callback-style fs works too.
    expect(await git.resolveRef({ fs: bfs.fsCallback, dir, ref: 'main' })).toBe(first);

    expect((await bfs.check()).errors).toEqual([]);
    await bfs.unmount();
    const tmp = await tempDir();
    try {
      const image = join(tmp.dir, 'image');
      await saveImage(dev, image);
      const r = await btrfsCheck(image, { dataCsum: true });
      expect(r.ok, r.output).toBe(true);
    } finally {
      await tmp.cleanup();
    }
  }, 300_000);
});

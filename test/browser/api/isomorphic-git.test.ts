// isomorphic-git, unchanged, in Chromium, on a butterfs worker over OPFS: init, add a few hundred
// files, commit, branch, checkout, status, log; the repository is still there after the worker is
// restarted, and our checker finds the filesystem clean.
//
// isomorphic-git takes a node-like `fs`; the client from connect() cannot be one (it answers to
// every property name), so the library's `nodeFs(client)` (src/worker/node-fs.ts) gives it one.
// isomorphic-git itself needs a global `Buffer` in browsers (its documentation says to install the
// `buffer` package as one); that is isomorphic-git's requirement, not butterfs's.
import { Buffer } from 'buffer';
import { afterAll, describe, expect, it } from 'vitest';
import git from 'isomorphic-git';
import { connect, nodeFs, type FilesystemClient } from '../../../src/worker/client.js';
import { removeRun } from '../worker/cleanup.js';

(globalThis as unknown as { Buffer: typeof Buffer }).Buffer ??= Buffer;

const run = `wgit${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
const FILES = 300;
const author = { name: 'butterfs', email: 'butterfs@example.org', timestamp: 1_700_000_000, timezoneOffset: 0 };

afterAll(async () => {
  await removeRun(run, []);
});

describe('isomorphic-git in Chromium on nodeFs(client)', () => {
  it('init, add, commit, branch, checkout, status, log; survives a worker restart', async () => {
    const name = `${run}-repo`;
    const open = () => connect({ name, backend: 'opfs', deviceSizeBytes: 128 << 20, mkfs: true });
    let client: FilesystemClient = await open();
    try {
      let fs = nodeFs(client);
      const dir = '/repo';
      await fs.promises.mkdir(dir);
      await git.init({ fs, dir, defaultBranch: 'main' });
      const paths: string[] = [];
      for (let i = 0; i < FILES; i++) {
        const sub = `src/m${i % 12}`;
        await fs.promises.mkdir(`${dir}/${sub}`, { recursive: true });
        const p = `${sub}/file${i}.txt`;
        await fs.promises.writeFile(`${dir}/${p}`, `file ${i}\n${'x'.repeat(i * 37)}\n`);
        paths.push(p);
      }
      await git.add({ fs, dir, filepath: '.' });
      const first = await git.commit({ fs, dir, message: 'first', author });
      let matrix = await git.statusMatrix({ fs, dir });
      expect(matrix).toHaveLength(FILES);
      expect(matrix.every(([, h, w, s]) => h === 1 && w === 1 && s === 1)).toBe(true);

      await git.branch({ fs, dir, ref: 'feature', checkout: true });
      await fs.promises.writeFile(`${dir}/${paths[0]}`, 'changed on feature\n');
      await fs.promises.unlink(`${dir}/${paths[1]}`);
      await fs.promises.writeFile(`${dir}/NEW.md`, '# new\n');
      expect(await git.status({ fs, dir, filepath: paths[0]! })).toBe('*modified');
      expect(await git.status({ fs, dir, filepath: paths[1]! })).toBe('*deleted');
      expect(await git.status({ fs, dir, filepath: 'NEW.md' })).toBe('*added');
      await git.add({ fs, dir, filepath: paths[0]! });
      await git.remove({ fs, dir, filepath: paths[1]! });
      await git.add({ fs, dir, filepath: 'NEW.md' });
      const second = await git.commit({ fs, dir, message: 'second', author });
      expect((await git.log({ fs, dir })).map((c) => c.oid)).toEqual([second, first]);

      // A new worker on the same OPFS device: the repository is there, and work goes on.
      await client.close();
      client = await open();
      fs = nodeFs(client);
      expect((await git.log({ fs, dir })).map((c) => c.oid)).toEqual([second, first]);
      await git.checkout({ fs, dir, ref: 'main' });
      expect(await fs.promises.readFile(`${dir}/${paths[0]}`, 'utf8')).toBe('file 0\n\n');
      expect(await fs.promises.readFile(`${dir}/${paths[1]}`, 'utf8')).toMatch(/^file 1\n/);
      await expect(fs.promises.stat(`${dir}/NEW.md`)).rejects.toMatchObject({ code: 'ENOENT', syscall: 'stat' });
      matrix = await git.statusMatrix({ fs, dir });
      expect(matrix.every(([, h, w, s]) => h === 1 && w === 1 && s === 1)).toBe(true);
      expect(await git.currentBranch({ fs, dir })).toBe('main');
      expect(await git.listBranches({ fs, dir })).toEqual(['feature', 'main']);
      expect(await git.log({ fs, dir })).toHaveLength(1);
      await git.checkout({ fs, dir, ref: 'feature' });
      expect(await git.log({ fs, dir })).toHaveLength(2);
      expect(await fs.promises.readFile(`${dir}/NEW.md`, 'utf8')).toBe('# new\n');
      matrix = await git.statusMatrix({ fs, dir });
      expect(matrix).toHaveLength(FILES);
      expect(matrix.every(([, h, w, s]) => h === 1 && w === 1 && s === 1)).toBe(true);

      expect((await client.check()).errors).toEqual([]);
    } finally {
      await client.close();
    }
  }, 300_000);
});

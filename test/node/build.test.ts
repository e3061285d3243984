// `npm run build` emits a library that plain Node 20 imports with no bundler and no flags:
// build into a temp dir, then mkfs + mount + unmount in a child process that imports it.
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { rm } from 'node:fs/promises';

const run = promisify(execFile);

describe('the built library', () => {
  it('imports in plain Node and formats and mounts a filesystem', async () => {
    // Inside the repository, so the built files resolve their dependencies from node_modules
    // as an installed package would.
    const dir = join(process.cwd(), '.cache', 'dist-test');
    try {
      await run('node', ['scripts/build-lib.mjs'], { env: { ...process.env, BUTTERFS_DIST_DIR: dir } });
      const entry = pathToFileURL(join(dir, 'index.js')).href;
      const script = `const m = await import(${JSON.stringify(entry)});
        const d = new m.MemoryDevice(128 * 1024 * 1024);
        await m.mkfs([d], { label: 'dist', csum: 'blake2' });
        const fs = await m.mount([d]);
        console.log(JSON.stringify({ generation: fs.generation, csum: fs.info.csum }));
        await fs.unmount();`;
      const { stdout } = await run('node', ['--input-type=module', '-e', script]);
      expect(JSON.parse(stdout)).toEqual({ generation: 1, csum: 'blake2' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

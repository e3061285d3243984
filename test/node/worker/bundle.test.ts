// The worker as `npm run build` ships it (scripts/build-worker.mjs): one ES module file with no
// imports left, its .wasm kernels beside it under assets/ and addressed relative to the bundle,
// so the directory works from any path (docs/benchmarks.md, "Cold open": one file starts several
// times faster than the module graph).
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs build script without types
import { buildWorker } from '../../../scripts/build-worker.mjs';

describe('the bundled worker', () => {
  it('is one file with no imports, and its kernels are relative assets', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'butterfs-worker-bundle-'));
    try {
      await (buildWorker as (out: string) => Promise<void>)(dir);
      const code = await readFile(join(dir, 'worker.js'), 'utf8');
      // No static or dynamic import of another module (bare or relative) is left.
      expect(code).not.toMatch(/(^|[;\s}])import\s*[\w{*][^;]*?from\s*["'`]/);
      expect(code).not.toMatch(/import\(\s*["'`]\.{0,2}\//);
      expect(code).toContain('Comlink.proxy'); // comlink is inside
      const assets = await readdir(join(dir, 'assets'));
      // Our kernels and no other .wasm: one zstd build only (@bokuweb/zstd-wasm, a devDependency
      // since session 8, is not in it).
      const kernels = ['crc32c', 'heuristic', 'libzstd', 'lzo'];
      for (const kernel of kernels) {
        const file = assets.find((a) => a.startsWith(`${kernel}-`) && a.endsWith('.wasm'));
        expect(file, kernel).toBeDefined();
        expect(code).toContain(`new URL(\`assets/${file}\`,import.meta.url)`);
      }
      const wasm = assets.filter((a) => a.endsWith('.wasm')).map((a) => kernels.find((k) => a.startsWith(`${k}-`)) ?? a);
      expect(wasm.sort()).toEqual(kernels);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

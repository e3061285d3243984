// Emits the library to dist/ with tsc (ESM + .d.ts, one file per source file, so plain
// Node 20 imports it with no bundler) and copies the .wasm kernels beside the modules that
// load them (they use new URL('./wasm/x.wasm', import.meta.url)). The worker entry,
// dist/worker/worker.js, is then replaced by a single bundled file (scripts/build-worker.mjs):
// a page's worker starts several times faster from one file than from a hundred and fifty.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, rmSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWorker } from './build-worker.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// BUTTERFS_DIST_DIR lets the build test emit somewhere else than dist/.
const out = process.env.BUTTERFS_DIST_DIR ?? join(root, 'dist');
rmSync(out, { recursive: true, force: true });
execFileSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(root, 'tsconfig.build.json'), '--outDir', out], { stdio: 'inherit' });
const wasm = join(root, 'src', 'kernels', 'wasm');
if (!existsSync(wasm)) throw new Error('build: src/kernels/wasm is missing; run scripts/build-asm.mjs first');
cpSync(wasm, join(out, 'kernels', 'wasm'), { recursive: true });
chmodSync(join(out, 'cli.js'), 0o755);
await buildWorker(join(out, 'worker'));
console.log(`build: ${out} written`);

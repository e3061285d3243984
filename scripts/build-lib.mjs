// Emits the library to dist/ with tsc (ESM + .d.ts, one file per source file, so plain
// Node 20 imports it with no bundler) and copies the .wasm kernels beside the modules that
// load them (they use new URL('./wasm/x.wasm', import.meta.url)).
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
rmSync(join(root, 'dist'), { recursive: true, force: true });
execFileSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
const wasm = join(root, 'src', 'kernels', 'wasm');
if (existsSync(wasm)) cpSync(wasm, join(root, 'dist', 'kernels', 'wasm'), { recursive: true });
console.log('build: dist/ written');

// Builds every AssemblyScript kernel in asm/ to src/kernels/wasm/<name>.wasm.
// The .wasm files are build products, never committed. A kernel is rebuilt only
// when its source is newer than its output, so `npm test` stays quick.
// Also copies libzstd's compressor (src/kernels/zstd.ts) there from its package, so that it
// loads like the kernels do (`new URL('./wasm/libzstd.wasm', import.meta.url)`) in Node, in
// Vite and from dist/.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const asmDir = join(root, 'asm');
const outDir = join(root, 'src', 'kernels', 'wasm');
mkdirSync(outDir, { recursive: true });
const asc = join(root, 'node_modules', '.bin', 'asc');

for (const file of readdirSync(asmDir)) {
  if (!file.endsWith('.ts') || file.startsWith('_')) continue;
  const name = file.slice(0, -3);
  const src = join(asmDir, file);
  const out = join(outDir, `${name}.wasm`);
  const shared = join(asmDir, 'asconfig.json');
  if (existsSync(out) && statSync(out).mtimeMs > Math.max(statSync(src).mtimeMs, statSync(shared).mtimeMs)) continue;
  execFileSync(asc, [src, '--config', shared, '--target', 'release', '--outFile', out], { cwd: asmDir, stdio: 'inherit' });
  console.log(`asm: built ${name}.wasm (${statSync(out).size} bytes)`);
}

const libzstd = join(root, 'node_modules', '@foxglove', 'wasm-zstd', 'dist', 'wasm-zstd.wasm');
const libzstdOut = join(outDir, 'libzstd.wasm');
if (!existsSync(libzstdOut) || statSync(libzstdOut).mtimeMs < statSync(libzstd).mtimeMs) {
  copyFileSync(libzstd, libzstdOut);
  console.log(`asm: copied libzstd.wasm (${statSync(libzstdOut).size} bytes)`);
}

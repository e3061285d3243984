// Bundles the worker entry (src/worker/worker.ts) into one ES module file, dist/worker/worker.js,
// replacing the file tsc emitted there (scripts/build-lib.mjs runs this after tsc).
//
// Why: a worker loads its module graph before it can answer anything, one request per module.
// Unbundled (tsc's output, or Vite's dev server) that is some 150 modules, hundreds of
// milliseconds before connect() can even start opening devices; one file is one request and one
// compile (docs/benchmarks.md, "Cold open"). The page client (dist/worker/client.js) starts
// `new URL('./worker.js', import.meta.url)`, so it gets the bundle with no change, and so does an
// application whose bundler follows that URL (Vite, webpack 5: they bundle it again, harmlessly).
//
// The .wasm kernels are emitted beside the bundle (dist/worker/assets/) and loaded from there only
// when a kernel is first used (crc32c at mount, zstd and lzo only for compressed extents). The
// compression workers' script is emitted there too (assets/compress.worker-*.js, one file).
import { build } from 'vite';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export async function buildWorker(outDir, { minify = true, sourcemap = true } = {}) {
  await build({
    configFile: false,
    root,
    publicDir: false,
    // Asset URLs relative to the bundle (new URL('./assets/x.wasm', import.meta.url)), so the
    // directory works wherever it is served from.
    base: './',
    logLevel: 'warn',
    // The compression workers (src/kernels/compress.worker.ts), which the engine's worker starts
    // itself: bundled as their own ES module file under assets/ (the engine's `new Worker(new
    // URL(...))` literal is rewritten to it), with the kernels they load beside it.
    worker: { format: 'es', rollupOptions: { output: { codeSplitting: false } } },
    build: {
      outDir,
      emptyOutDir: false,
      target: 'es2022',
      minify,
      sourcemap,
      // Kernels stay separate files (fetched when first used), not base64 inside the bundle.
      assetsInlineLimit: 0,
      assetsDir: 'assets',
      // Not Vite's library mode, which inlines every asset: an application build with the worker
      // entry as its one input.
      rollupOptions: {
        input: join(root, 'src', 'worker', 'worker.ts'),
        preserveEntrySignatures: 'strict',
        output: { format: 'es', entryFileNames: 'worker.js', codeSplitting: false },
      },
    },
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = process.argv[2] ?? join(root, 'dist', 'worker');
  const flags = process.argv.slice(3);
  await buildWorker(out, { minify: !flags.includes('--no-minify'), sourcemap: !flags.includes('--no-sourcemap') });
  console.log(`build: ${out}/worker.js bundled`);
}

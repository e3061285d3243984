/// <reference types="vitest/config" />
// One config for the three things Vite does here:
//  * the demo (`npm run demo`: dev server rooted at demo/, `vite build`: static site in dist-demo/),
//  * the test suite (`vitest run`: a `node` project and a `browser` project in real Debian Chromium),
//  * the benchmarks (`vitest bench`).
// The library itself (dist/) is emitted by tsc (scripts/build-lib.mjs): plain ESM files that Node
// imports with no bundler, next to the .wasm kernels they load.
import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
// Benchmarks need OPFS and IndexedDB on disk (the default incognito-like context keeps them in RAM
// and makes sync-handle calls ~100x slower); vitest honours a persistent profile only without file
// parallelism.
const BENCH = process.env.BUTTERFS_BENCH === '1';

export default defineConfig({
  root: process.env.VITEST ? undefined : 'demo',
  publicDir: process.env.VITEST ? false : '../public',
  // Relative asset URLs: the built demo (dist-demo/) works from any static host and any path.
  base: process.env.VITEST ? undefined : './',
  build: {
    outDir: '../dist-demo',
    emptyOutDir: true,
    target: 'es2022',
    // The demo and its self-test page (demo/selftest.html).
    rollupOptions: { input: { main: 'index.html', selftest: 'selftest.html' } },
  },
  worker: { format: 'es' },
  server: { headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } },
  test: {
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'node',
          environment: 'node',
          include: ['test/node/**/*.test.ts'],
          setupFiles: ['test/shared/byte-equality.ts'],
          benchmark: { include: ['test/bench/node/**/*.bench.ts'] },
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        optimizeDeps: { include: ['comlink', 'idb', 'hash-wasm', 'fflate', 'isomorphic-git', 'buffer'] },
        worker: { format: 'es' },
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          setupFiles: ['test/shared/byte-equality.ts'],
          benchmark: { include: ['test/bench/browser/**/*.bench.ts'] },
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: !BENCH,
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            instances: [{ browser: 'chromium' }],
            provider: playwright({
              launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS },
              persistentContext: BENCH ? 'node_modules/.cache/chromium-profile' : false,
            }),
          },
        },
      },
    ],
  },
});

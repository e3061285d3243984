// Persistence across a page reload, and two real tabs: vitest's browser mode runs tests inside an
// iframe it must not reload, so this test drives Chromium itself (playwright-core, Debian's
// /usr/bin/chromium) against a Vite dev server it starts on a free port, serving
// test/browser/worker/reload/index.html.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { ViteDevServer } from 'vite';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const root = fileURLToPath(new URL('../../../', import.meta.url));

type PageApi = {
  connect(name: string, backend: 'opfs' | 'idb', whenBusy: 'wait' | 'share' | 'fail'): Promise<{ state: string; formatted: boolean | null; label: string | null; generation: number }>;
  write(path: string, text: string): Promise<void>;
  read(path: string): Promise<string>;
  sync(): Promise<number>;
  check(): Promise<boolean>;
  state(): string;
  close(): Promise<void>;
};

/** Calls window.butterfs[method](...args) in the page. */
function call<K extends keyof PageApi>(page: Page, method: K, ...args: Parameters<PageApi[K]>): Promise<Awaited<ReturnType<PageApi[K]>>> {
  return page.evaluate(
    ([m, a]) => (window as unknown as { butterfs: Record<string, (...x: unknown[]) => unknown> }).butterfs[m as string](...(a as unknown[])),
    [method, args] as const,
  ) as Promise<Awaited<ReturnType<PageApi[K]>>>;
}

describe('in a real browser driven from Node', () => {
  let server: ViteDevServer;
  let browser: Browser;
  let context: BrowserContext;
  let url: string;

  beforeAll(async () => {
    const { createServer } = await import('vite');
    server = await createServer({
      configFile: false,
      root,
      logLevel: 'error',
      server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false },
      // Pre-bundled up front: a re-optimization mid-test would reload the page under us.
      optimizeDeps: { include: ['comlink', 'idb', 'hash-wasm'], entries: ['test/browser/worker/reload/main.ts'] },
      worker: { format: 'es' },
    });
    await server.listen();
    const address = server.httpServer!.address();
    if (address === null || typeof address === 'string') throw new Error('vite did not listen on a port');
    url = `http://127.0.0.1:${address.port}/test/browser/worker/reload/index.html`;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    context = await browser.newContext();
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.close();
  });

  async function openPage(): Promise<Page> {
    const page = await context.newPage();
    await page.goto(url);
    await page.waitForFunction(() => document.title === 'ready');
    return page;
  }

  for (const backend of ['opfs', 'idb'] as const) {
    it(`${backend}: what was committed survives a reload that never called close()`, async () => {
      const name = `reload-${backend}-${Date.now()}`;
      const page = await openPage();
      const first = await call(page, 'connect', name, backend, 'fail');
      expect(first.formatted).toBe(true);
      await call(page, 'write', '/kept', 'committed before the reload');
      const generation = await call(page, 'sync');
      await call(page, 'write', '/lost', 'never committed');
      await page.reload();
      await page.waitForFunction(() => document.title === 'ready');
      // The old page's worker is gone with it, and with it the lock: 'fail' gets the filesystem.
      const again = await call(page, 'connect', name, backend, 'wait');
      expect(again.state).toBe('holder');
      expect(again.formatted).toBe(false);
      expect(again.label).toBe('reload');
      expect(again.generation).toBe(generation);
      expect(await call(page, 'read', '/kept')).toBe('committed before the reload');
      await expect(call(page, 'read', '/lost')).rejects.toThrow(/ENOENT/);
      expect(await call(page, 'check')).toBe(true);
      await call(page, 'close');
      await page.close();
    });
  }

  it('two tabs: the second shares through the first, and takes over when the first tab closes', async () => {
    const name = `tabs-${Date.now()}`;
    const tab1 = await openPage();
    const tab2 = await openPage();
    expect((await call(tab1, 'connect', name, 'opfs', 'fail')).state).toBe('holder');
    expect((await call(tab2, 'connect', name, 'opfs', 'share')).state).toBe('sharer');
    await call(tab2, 'write', '/from-tab2', 'hello from tab 2');
    expect(await call(tab1, 'read', '/from-tab2')).toBe('hello from tab 2');
    await call(tab1, 'sync');
    // The first tab goes away without close(): its worker dies, the lock passes to tab 2.
    await tab1.close();
    await tab2.waitForFunction(() => (window as unknown as { butterfs: PageApi }).butterfs.state() === 'holder', undefined, { timeout: 15_000 });
    expect(await call(tab2, 'read', '/from-tab2')).toBe('hello from tab 2');
    expect(await call(tab2, 'check')).toBe(true);
    await call(tab2, 'close');
    await tab2.close();
  });
});

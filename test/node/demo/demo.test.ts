// The demo, end to end, in real Chromium (playwright-core, Debian's /usr/bin/chromium) against a
// Vite dev server started here on a free port: shell commands typed into the terminal and their
// output, the panels, persistence across a reload, the exported image judged by btrfs-progs
// (check --check-data-csum, restore: the files made in the shell come back), and an image made by
// mkfs.btrfs --rootdir imported and read in the shell. Screenshots go to test-results/demo/.
import { execFile } from 'node:child_process';
import { createServer as createHttpServer, type Server } from 'node:http';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { extname, normalize } from 'node:path';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { ViteDevServer } from 'vite';
import { btrfsCheck, btrfsProg, tempDir } from '../../shared/btrfs-progs.js';

const run = promisify(execFile);
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const root = fileURLToPath(new URL('../../../', import.meta.url));
const SHOTS = join(root, 'test-results', 'demo');

type Demo = { run(line: string): Promise<number>; settled(): Promise<void> };

describe('the demo in a real browser', () => {
  let server: ViteDevServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let url: string;
  let work: { dir: string; cleanup: () => Promise<void> };

  beforeAll(async () => {
    work = await tempDir('butterfs-demo-');
    await mkdir(SHOTS, { recursive: true });
    const { createServer } = await import('vite');
    server = await createServer({
      configFile: false,
      root: join(root, 'demo'),
      publicDir: join(root, 'public'),
      logLevel: 'error',
      server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false },
      // Pre-bundled up front: a re-optimization mid-test would reload the page under us.
      optimizeDeps: { include: ['comlink', 'idb', 'hash-wasm', 'fflate'], entries: ['index.html', 'selftest.html'] },
      worker: { format: 'es' },
    });
    await server.listen();
    const address = server.httpServer!.address();
    if (address === null || typeof address === 'string') throw new Error('vite did not listen on a port');
    url = `http://127.0.0.1:${address.port}/?notour`;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    context = await browser.newContext({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
    page = await context.newPage();
    page.on('dialog', (d) => void d.accept());
    page.on('pageerror', (e) => console.error('page error:', e.message));
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.close();
    await work?.cleanup();
  });

  async function ready(): Promise<void> {
    await page.waitForFunction(() => document.body.classList.contains('ready'), undefined, { timeout: 30_000 });
  }

  async function settled(): Promise<void> {
    await page.evaluate(() => (window as unknown as { demo: Demo }).demo.settled());
  }

  /** Types a line into the terminal, presses Enter, and returns what it printed and its status. */
  async function sh(line: string): Promise<{ out: string; status: number }> {
    const output = page.locator('.term-out');
    const before = (await output.innerText()).length;
    const input = page.locator('.term-input');
    await input.fill(line);
    await input.press('Enter');
    await settled();
    const text = await output.innerText();
    const status = Number(await page.locator('#terminal').getAttribute('data-last-status'));
    // Drop the echoed command line itself.
    const out = text.slice(before).split('\n').slice(1).join('\n').replace(/\n+$/, '');
    return { out, status };
  }

  async function ok(line: string): Promise<string> {
    const r = await sh(line);
    expect(r.status, `${line}\n${r.out}`).toBe(0);
    return r.out;
  }

  it('runs a session in the shell, shows it in the panels, keeps it across a reload, exports a btrfs image and imports one', async () => {
    await page.goto(url);
    await ready();
    expect(await page.locator('.st-backend').innerText()).toBe('OPFS · sync access handle');

    // ---- files and directories
    expect(await ok('mkdir -p /docs/notes')).toBe('');
    expect(await sh('mkdir /docs')).toEqual({ out: "mkdir: cannot create directory '/docs': File exists", status: 1 });
    await ok('echo "hello btrfs" > /docs/hello.txt');
    await ok('echo "second line" >> /docs/hello.txt');
    expect(await ok('cat /docs/hello.txt')).toBe('hello btrfs\nsecond line');
    await ok('head -c 300K /dev/urandom > /docs/blob.bin');
    await ok('cp --reflink /docs/blob.bin /docs/blob-copy.bin');
    const listing = await ok('ls -l /docs');
    expect(listing).toMatch(/^-rw-r--r-- 1 root root 307200 .* blob-copy\.bin$/m);
    expect(listing).toMatch(/^drwxr-xr-x 1 root root +\d+ .* notes$/m);
    expect((await sh('cat /docs/nope')).out).toBe('cat: /docs/nope: No such file or directory');
    await ok('touch /docs/nocow && chattr +C /docs/nocow');
    expect(await ok('lsattr /docs/nocow')).toBe('---------------C------ /docs/nocow');
    await ok('ln -s hello.txt /docs/link');
    expect(await ok('cat /docs/link')).toBe('hello btrfs\nsecond line');

    // ---- Tab completion
    const input = page.locator('.term-input');
    await input.fill('cat /docs/hel');
    await input.press('Tab');
    // Completion asks the worker for the directory: it lands asynchronously.
    await expect.poll(() => input.inputValue()).toBe('cat /docs/hello.txt ');
    await input.fill('btrfs subv');
    await input.press('Tab');
    await expect.poll(() => input.inputValue()).toBe('btrfs subvolume ');
    await input.fill('');

    // ---- subvolumes and snapshots
    await ok('btrfs subvolume create /vol');
    await ok('echo v1 > /vol/f');
    expect(await ok('btrfs subvolume snapshot -r /vol /vol-snap')).toBe("Create a readonly snapshot of '/vol' in '/vol-snap'");
    await ok('echo v2 > /vol/f');
    expect(await ok('cat /vol/f /vol-snap/f')).toBe('v2\nv1');
    expect((await sh('echo nope > /vol-snap/f')).out).toMatch(/^sh: \/vol-snap\/f: Read-only file system/);
    const list = await ok('btrfs subvolume list /');
    expect(list).toMatch(/^ID 256 gen \d+ top level 5 path vol$/m);
    expect(list).toMatch(/^ID 257 gen \d+ top level 5 path vol-snap$/m);

    // ---- space, trees, check
    await ok('sync');
    expect(await ok('df -h')).toMatch(/^opfs:butterfs-demo\/dev1 +256M +\S+ +\S+ +\d+% \/$/m);
    const fsdf = await ok('btrfs filesystem df /');
    expect(fsdf).toMatch(/^Data, single: total=[\d.]+MiB, used=[\d.]+[KM]iB$/m);
    expect(fsdf).toMatch(/^Metadata, DUP: total=/m);
    const dump = await ok('btrfs inspect-internal dump-tree -t fs');
    expect(dump).toContain('fs tree key (FS_TREE ROOT_ITEM 0)');
    expect(dump).toMatch(/INODE_ITEM/);
    expect(await ok('btrfs check')).toMatch(/no error found/);
    // Recompression through the worker (progress and the signal cross by reference) and its ratio.
    await ok('head -c 512K /dev/zero > /docs/zeros.bin');
    expect(await ok('btrfs filesystem defragment -czstd /docs/zeros.bin')).toBe('');
    expect(await ok('compsize /docs/zeros.bin')).toMatch(/^zstd +\d%\s+\d+K\s+512K\s+512K\s*$/m);
    expect((await sh('btrfs scrub start /')).out).toMatch(/not available yet/);

    // ---- panels
    await ok('cd /docs');
    await expect.poll(() => page.locator('.panel-files').innerText()).toMatch(/hello\.txt/);
    expect(await page.locator('.panel-files').innerText()).toMatch(/blob-copy\.bin/);
    expect(await page.locator('.panel-subvolumes').innerText()).toMatch(/\/vol-snap/);
    expect(await page.locator('.panel-subvolumes').innerText()).toMatch(/snapshot of \/vol/);
    expect(await page.locator('.space-row[data-kind="DATA"]').innerText()).toMatch(/KiB|MiB/);
    expect(await page.locator('.map-cell[data-kind="METADATA"]').count()).toBeGreaterThan(0);
    const generation = Number((await page.locator('.st-gen').innerText()).replace(/\D+/g, ''));
    expect(generation).toBeGreaterThanOrEqual(2);
    await page.screenshot({ path: join(SHOTS, 'demo-light.png') });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: join(SHOTS, 'demo-dark.png'), fullPage: true });
    await page.emulateMedia({ colorScheme: 'light' });

    // Files in from the desktop (the Upload button; a drop takes the same path), into the cwd.
    await page.setInputFiles('.files-picker', [{ name: 'dropped.txt', mimeType: 'text/plain', buffer: Buffer.from('from the desktop\n') }]);
    await expect.poll(() => page.locator('.term-out').innerText()).toMatch(/copied 1 file\(s\), 17B, into \/docs/);
    expect(await ok('cat /docs/dropped.txt')).toBe('from the desktop');

    // Remount read-only and back (mount -o remount: the connection is reopened with the options).
    await ok('mount -o remount,ro,noatime');
    expect(await ok('mount')).toMatch(/ on \/ type btrfs \(ro,noatime,/);
    expect((await sh('touch /docs/x')).out).toBe("touch: cannot touch '/docs/x': Read-only file system (filesystem is mounted read-only)");
    expect((await sh('mount -o remount,bogus')).out).toMatch(/unknown mount option 'bogus'/);
    await ok('mount -o remount,rw');
    await ok('sync');

    // The bytes the shell wrote, to compare with what btrfs restore gives back.
    const blob = Buffer.from(await page.evaluate(async () => {
      const fs = (window as unknown as { demo: { session: { fs: { promises: { readFile(p: string): Promise<Uint8Array> } } } } }).demo.session.fs;
      return [...(await fs.promises.readFile('/docs/blob.bin'))];
    }));
    expect(blob.length).toBe(307200);

    // ---- persistence across a reload (the last command is committed by sync above)
    await page.reload();
    await ready();
    expect(await ok('pwd')).toBe('/docs');
    expect(await ok('cat hello.txt')).toBe('hello btrfs\nsecond line');
    expect(await ok('cat /vol-snap/f')).toBe('v1');

    // ---- export: the device is a btrfs image; btrfs-progs checks it and restores the files
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
    const image = join(work.dir, 'export.img');
    await download.saveAs(image);
    await settled();
    await expect.poll(() => page.locator('.term-out').innerText()).toMatch(/exported butterfs-demo-.*\.img/);
    const check = await btrfsCheck(image, { dataCsum: true });
    expect(check.ok, check.output).toBe(true);
    const restored = join(work.dir, 'restored');
    await mkdir(restored);
    const restore = await btrfsProg(['restore', image, restored]);
    expect(restore.ok, restore.output).toBe(true);
    expect(await readFile(join(restored, 'docs', 'hello.txt'), 'utf8')).toBe('hello btrfs\nsecond line\n');
    expect(await readFile(join(restored, 'docs', 'blob.bin'))).toEqual(blob);
    expect(await readFile(join(restored, 'docs', 'blob-copy.bin'))).toEqual(blob);
    expect(await readFile(join(restored, 'docs', 'dropped.txt'), 'utf8')).toBe('from the desktop\n');
    // The subvolumes restore from their own trees (-r ID).
    const vol = join(work.dir, 'vol');
    await mkdir(vol);
    expect((await btrfsProg(['restore', '-r', '257', image, vol])).ok).toBe(true);
    expect(await readFile(join(vol, 'f'), 'utf8')).toBe('v1\n');
    // And the filesystem is still there after the export.
    expect(await ok('cat /docs/hello.txt')).toBe('hello btrfs\nsecond line');

    // ---- import an image made by mkfs.btrfs --rootdir
    const rootdir = join(work.dir, 'rootdir');
    await mkdir(join(rootdir, 'from-linux'), { recursive: true });
    await writeFile(join(rootdir, 'from-linux', 'readme.txt'), 'made by mkfs.btrfs --rootdir\n');
    const big = Buffer.alloc(200_000, 0);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
    await writeFile(join(rootdir, 'from-linux', 'data.bin'), big);
    const made = join(work.dir, 'made.img');
    await writeFile(made, '');
    await run('truncate', ['-s', '128M', made]);
    await run('mkfs.btrfs', ['-q', '-L', 'from-linux', '--rootdir', rootdir, made]);
    await page.setInputFiles('#import-file', made);
    await expect.poll(() => page.locator('.term-out').innerText(), { timeout: 30_000 }).toMatch(/imported made\.img: label 'from-linux'/);
    await settled();
    expect(await ok('pwd')).toBe('/');
    expect(await ok('cat /from-linux/readme.txt')).toBe('made by mkfs.btrfs --rootdir');
    expect(await ok('ls /from-linux')).toMatch(/data\.bin\s+readme\.txt/);
    expect(await ok('btrfs filesystem label /')).toBe('from-linux');
    await ok('echo "written in the browser" > /from-linux/new.txt && sync');
    expect(await ok('btrfs check')).toMatch(/no error found/);
    await ok('cd /from-linux');
    await expect.poll(() => page.locator('.panel-files').innerText()).toMatch(/readme\.txt/);
    await page.screenshot({ path: join(SHOTS, 'demo-imported.png') });

    // The tour starts and can be skipped.
    await page.click('#tour-start');
    await expect.poll(() => page.locator('#tour').isVisible()).toBe(true);
    await page.screenshot({ path: join(SHOTS, 'demo-tour.png') });
    await page.click('.tour-skip');
    expect(await page.locator('#tour').isVisible()).toBe(false);
  }, 120_000);

  it('the self-test page runs the core scenarios in the browser and reports them', async () => {
    const selftest = await context.newPage();
    selftest.on('pageerror', (e) => console.error('self-test page error:', e.message));
    await selftest.goto(url.replace('/?notour', '/selftest.html?run&ops=300'));
    await selftest.waitForFunction(() => document.body.dataset.done, undefined, { timeout: 60_000 });
    const report = await selftest.locator('#report').innerText();
    expect(report, report).toMatch(/6 passed, 0 failed, 0 skipped/);
    expect(report).toMatch(/\[PASSED\] Power cut at any write/);
    await selftest.screenshot({ path: join(SHOTS, 'selftest.png'), fullPage: true });
    await selftest.close();
  }, 90_000);

  it('the static site that `vite build` makes (dist-demo/) works from a plain static server under a sub-path', async () => {
    // The real config (as `npm run build` runs it), into a temporary directory.
    const out = join(work.dir, 'site');
    const env = { ...process.env };
    delete env.VITEST;
    delete env.VITEST_MODE;
    await run(join(root, 'node_modules', '.bin', 'vite'), ['build', '--outDir', out, '--emptyOutDir', '--logLevel', 'error'], { cwd: root, env });
    const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.wasm': 'application/wasm' };
    const server: Server = createHttpServer((req, res) => {
      const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
      if (!path.startsWith('/some/where/')) {
        res.writeHead(404).end();
        return;
      }
      readFile(join(out, path.slice('/some/where/'.length) || 'index.html')).then(
        (body) => res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' }).end(body),
        () => res.writeHead(404).end(),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const site = await browser.newContext();
    try {
      const p = await site.newPage();
      const errors: string[] = [];
      p.on('pageerror', (e) => errors.push(e.message));
      await p.goto(`http://127.0.0.1:${port}/some/where/index.html?notour`);
      await p.waitForFunction(() => document.body.classList.contains('ready'), undefined, { timeout: 30_000 });
      await p.evaluate(async () => {
        const demo = (window as unknown as { demo: Demo }).demo;
        await demo.run('echo "from the static site" > /s.txt && cat /s.txt && btrfs check');
        await demo.settled();
      });
      const text = await p.locator('.term-out').innerText();
      expect(text).toMatch(/^from the static site$/m);
      expect(text).toMatch(/no error found/);
      expect(errors).toEqual([]);
    } finally {
      await site.close();
      await new Promise((resolve) => server.close(resolve));
    }
  }, 60_000);
});

// Starting a compression worker (compress.worker) in Node, as a worker_threads Worker.
//
// Owns: finding the worker script and adapting worker_threads to the pool's port.
//  * Built library (tsc's dist/): compress.worker.js sits beside compress-pool.js; started as is.
//  * TypeScript sources (vitest's node project, which runs src/ through Vite's module runner):
//    there is no .js, and Node 20 cannot run .ts. The worker is then started with a module
//    loader (node:module register) that strips the types of each .ts module with rolldown's
//    transformSync (rolldown comes with Vite, a development dependency; only this case needs it)
//    and maps the sources' `./x.js` imports to `./x.ts`, as tsc's NodeNext resolution does.
//
// Node built-ins are imported through variable specifiers so that a browser bundle, which
// includes this module but never calls it, neither resolves nor includes them.

import type { CompressWorkerPort } from './compress-pool.js';
import { failureLatch, SUMS_WORKER_NAME, type WorkerReply } from './compress-chunk.js';

/**
 * The loader hooks, as the source of an ES module (a data: URL); ROLLDOWN is replaced by
 * rolldown/experimental's file URL. Dynamic imports only: this text also lands in the browser
 * bundle of the engine's worker (as dead code), which must hold no import statements.
 */
const TS_HOOKS = `
const { readFileSync } = await import('node:fs');
const { fileURLToPath } = await import('node:url');
const { transformSync } = await import(ROLLDOWN);
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (e) {
    const relative = specifier.startsWith('./') || specifier.startsWith('../') || specifier.startsWith('file:');
    if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !relative || !specifier.endsWith('.js')) throw e;
    return next(specifier.slice(0, -3) + '.ts', context);
  }
}
export async function load(url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return next(url, context);
  const path = fileURLToPath(url);
  const out = transformSync(path, readFileSync(path, 'utf8'), { lang: 'ts', sourcemap: false });
  if (out.errors && out.errors.length > 0) throw new Error(path + ': ' + out.errors.map((x) => x.message).join('; '));
  return { format: 'module', source: out.code, shortCircuit: true };
}
`;

/** The CommonJS bootstrap of a worker running the .ts sources: register the hooks, then import the entry. */
const TS_BOOTSTRAP = `
const { register, createRequire } = require('node:module');
const { pathToFileURL } = require('node:url');
const { workerData } = require('node:worker_threads');
const rolldown = pathToFileURL(createRequire(workerData.entry).resolve('rolldown/experimental')).href;
register('data:text/javascript,' + encodeURIComponent(workerData.hooks.replace('ROLLDOWN', JSON.stringify(rolldown))));
import(workerData.entry).catch((e) => { setImmediate(() => { throw e; }); });
`;

async function nodeImport<T>(specifier: string): Promise<T> {
  return (await import(/* @vite-ignore */ specifier)) as T;
}

/** A compression worker next to `poolUrl` (the pool module's import.meta.url). */
export async function spawnNodeCompressWorker(poolUrl: string, role?: 'sums'): Promise<CompressWorkerPort> {
  const wt = await nodeImport<typeof import('node:worker_threads')>('node:worker_threads');
  const fs = await nodeImport<typeof import('node:fs')>('node:fs');
  const js = new URL('./compress.worker.js', poolUrl);
  const ts = new URL('./compress.worker.ts', poolUrl);
  let worker: import('node:worker_threads').Worker;
  // The parent's flags, less --input-type (a process started with `node --input-type=module -e`
  // passes it on, and a worker from a file refuses it).
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
  const options = { name: role === 'sums' ? SUMS_WORKER_NAME : 'butterfs-compress', execArgv };
  if (fs.existsSync(js)) {
    worker = new wt.Worker(js, { ...options, workerData: { role } });
  } else if (fs.existsSync(ts)) {
    worker = new wt.Worker(TS_BOOTSTRAP, { ...options, eval: true, workerData: { entry: ts.href, hooks: TS_HOOKS, role } });
  } else {
    throw new Error(`no compression worker script beside ${poolUrl}`);
  }
  // Idle workers never keep the process alive; the pool refs one while it holds chunks.
  worker.unref();
  const { fail, onFailure, close } = failureLatch();
  worker.on('error', (e: unknown) => fail(`compression worker error: ${e instanceof Error ? e.message : String(e)}`));
  worker.on('messageerror', () => fail('compression worker: a message could not be read'));
  worker.on('exit', (code) => fail(`compression worker exited (code ${code})`));
  return {
    post: (request, transfer) => worker.postMessage(request, transfer),
    onMessage: (handler) => worker.on('message', (reply: WorkerReply) => handler(reply)),
    onFailure,
    setBusy: (busy) => { if (busy) worker.ref(); else worker.unref(); },
    terminate: async () => {
      close();
      await worker.terminate();
    },
  };
}

// A compression worker of the pool (compress-pool.ts): loads the compression and checksum
// kernels, says `ready` (or `load-failed`), then answers each chunk request with
// compressChunk's result, one chunk at a time in the order they arrive, and each sums request
// (a commit's data checksums read from a device, device-sums.ts) when its reads are done, and
// each flush request (early writeback of a device, device-sums.ts) when its flush is done.
//
// Runs as a dedicated module Worker in a browser (started by the engine's own worker) and as a
// worker_threads Worker in Node. Started as a checksum-only worker (named SUMS_WORKER_NAME in a
// browser, workerData.role 'sums' in Node), it loads no codecs and never says compress-ready.
// No state but the kernels: a request's answer depends on the request alone.

import { loadKernels } from './checksum.js';
import { answerChunk, errorMessage, SUMS_WORKER_NAME, type ChunkRequest, type WorkerReply, type WorkerRequest } from './compress-chunk.js';
import { loadCompressionKernels } from './compression.js';
import { flushDevice, sumDeviceRanges } from './device-sums.js';

interface Endpoint {
  post(reply: WorkerReply, transfer: ArrayBuffer[]): void;
  listen(handler: (request: WorkerRequest) => void): void;
}

/** Whether this worker was started for checksum jobs only (its name in a browser, workerData in Node). */
async function isSumsOnly(): Promise<boolean> {
  if ('WorkerGlobalScope' in globalThis) return (globalThis as { name?: string }).name === SUMS_WORKER_NAME;
  const specifier = 'node:worker_threads';
  const { workerData } = (await import(/* @vite-ignore */ specifier)) as typeof import('node:worker_threads');
  return (workerData as { role?: string } | null | undefined)?.role === 'sums';
}

async function endpoint(): Promise<Endpoint> {
  if ('WorkerGlobalScope' in globalThis) {
    const scope = globalThis as unknown as {
      postMessage(message: unknown, transfer: Transferable[]): void;
      addEventListener(type: 'message', listener: (e: MessageEvent<WorkerRequest>) => void): void;
    };
    return {
      post: (reply, transfer) => scope.postMessage(reply, transfer),
      listen: (handler) => scope.addEventListener('message', (e) => handler(e.data)),
    };
  }
  // Node: a variable specifier, so that a browser bundle neither resolves nor includes it.
  const specifier = 'node:worker_threads';
  const { parentPort } = (await import(/* @vite-ignore */ specifier)) as typeof import('node:worker_threads');
  if (parentPort === null) throw new Error('compress.worker: not started as a worker');
  return {
    post: (reply, transfer) => parentPort.postMessage(reply, transfer),
    listen: (handler) => parentPort.on('message', handler),
  };
}

const port = await endpoint();
// A checksum-only worker (the pool's `sumsWorkers`) loads no codecs: it is never sent a chunk.
const sumsOnly = await isSumsOnly();
// The checksum kernels are small and are all a sums request needs: the worker says `ready` once
// they are, and `compress-ready` once the compression kernels (zstd's is large), loading
// meanwhile, are too; the pool sends chunks only after that (a chunk that comes earlier waits
// for them, in the order chunks came). A failure of either is load-failed (the pool turns off).
let loadFailed = false;
const failLoad = (e: unknown) => {
  if (loadFailed) return;
  loadFailed = true;
  port.post({ type: 'load-failed', error: errorMessage(e) }, []);
};
const compression = sumsOnly ? new Promise<void>(() => undefined) : loadCompressionKernels();
compression.catch(failLoad);
try {
  await loadKernels();
} catch (e) {
  failLoad(e);
  throw e;
}

function compressRequest(request: ChunkRequest): void {
  const { reply, transfer } = answerChunk(request);
  port.post(reply, transfer);
}

let compressionLoaded = false;
void compression.then(() => {
  compressionLoaded = true;
  port.post({ type: 'compress-ready' }, []);
}, () => undefined);
port.listen((request) => {
  if (request.type === 'sums') {
    // Device checksums for a commit (device-sums.ts): async (the worker opens its own handle).
    sumDeviceRanges(request.source, request.ranges, request.csum, request.sectorSize).then(
      (sums) => port.post({ type: 'sums-done', id: request.id, sums: sums.buffer as ArrayBuffer }, [sums.buffer as ArrayBuffer]),
      (e: unknown) => port.post({ type: 'sums-failed', id: request.id, error: errorMessage(e) }, []),
    );
    return;
  }
  if (request.type === 'flush') {
    // Early writeback of a device (fs/writeback.ts) through a handle of this worker's own.
    flushDevice(request.source).then(
      () => port.post({ type: 'flush-done', id: request.id }, []),
      (e: unknown) => port.post({ type: 'flush-failed', id: request.id, error: errorMessage(e) }, []),
    );
    return;
  }
  if (compressionLoaded) compressRequest(request);
  // Not loaded yet: after the load, in arrival order (a failed load has said load-failed).
  else void compression.then(() => compressRequest(request), () => undefined);
});
// Always before compress-ready: that is posted from a promise callback registered above, which
// runs after this module's synchronous rest.
port.post({ type: 'ready', compression: false }, []);

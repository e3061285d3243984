// A compression worker of the pool (compress-pool.ts): loads the compression and checksum
// kernels, says `ready` (or `load-failed`), then answers each chunk request with
// compressChunk's result. One chunk at a time, in the order they arrive.
//
// Runs as a dedicated module Worker in a browser (started by the engine's own worker) and as a
// worker_threads Worker in Node. No state but the kernels: a request's answer depends on the
// request alone.

import { loadKernels } from './checksum.js';
import { compressChunk, toWire, type WorkerReply, type WorkerRequest } from './compress-chunk.js';
import { loadCompressionKernels } from './compression.js';

interface Endpoint {
  post(reply: WorkerReply, transfer: ArrayBuffer[]): void;
  listen(handler: (request: WorkerRequest) => void): void;
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

function message(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

const port = await endpoint();
try {
  await Promise.all([loadCompressionKernels(), loadKernels()]);
} catch (e) {
  port.post({ type: 'load-failed', error: message(e) }, []);
  throw e;
}
port.listen((request) => {
  const input = new Uint8Array(request.input, 0, request.length);
  let reply: WorkerReply;
  let transfer: ArrayBuffer[];
  try {
    const { wire, transfer: out } = toWire(compressChunk(request.job, input));
    reply = { type: 'done', id: request.id, result: wire, input: request.input };
    transfer = [...out, request.input];
  } catch (e) {
    // The pool runs the chunk again on its own thread, where the same error surfaces to the writer.
    reply = { type: 'failed', id: request.id, error: message(e), input: request.input };
    transfer = [request.input];
  }
  port.post(reply, transfer);
});
port.post({ type: 'ready' }, []);

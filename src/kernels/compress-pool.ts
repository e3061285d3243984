// The compression workers (btrfs compresses on every CPU through its async workqueue,
// compress_file_range queued per 512 KiB of delalloc): a write's 128 KiB chunks go to a few
// workers at once, and the engine thread takes their results in file order, inserting the
// extent of chunk i while later chunks compress.
//
// Owns: the workers (started lazily on the first write that has two chunks to compress,
// terminated by terminate(): unmount), the queue of chunk jobs, and the fallback. A chunk's
// result is compressChunk's (compress-chunk.ts) whichever thread runs it, so the extents are
// byte for byte the ones the engine thread would write alone.
//
//  * Work sharing, in file order: a worker with room is handed the queue's first chunk, at each
//    submit and at each of its results; the engine thread compresses the chunk it needs next
//    when no worker has it, and while that chunk is on a worker it compresses the first queued
//    one meanwhile and lets the event loop turn after each, which takes the workers' results
//    and hands them more (the write path itself never waits for a task). So a worker always
//    holds chunks the writer needs soon, and the writer waits for a worker only at the end of
//    a write. Workers that are still starting, or busy, never make a write wait for them, and
//    the engine thread is one more compressor.
//    (Until session 8 a worker was handed the queue's last chunk. The engine thread then
//    compressed the front of a write without turning the event loop, since the chunk it needed
//    was never on a worker, and the worker, done with its two, waited: with one worker, zstd:1
//    in Chromium, the pool alone ran 167-211 MB/s on 4 MiB writes and 134-227 on 32 MiB writes,
//    the worker doing 9% of an 8 MiB write's chunks; handed the first chunks, 313-355 and
//    351-418. docs/benchmarks.md, "Compressed writes".)
//  * Failure: a worker that cannot start (no Worker in this environment, a script that does not
//    load, kernels that fail), that dies, that reports an error or that does not answer a chunk
//    within JOB_TIMEOUT_MS disables the pool for good: its chunks, and every later chunk, are
//    compressed on the engine thread (where a codec error, if that was the cause, surfaces to the
//    writer as it would without a pool). `disabledReason` says why; a warning is printed once.
//  * Node: workers are unref'd while idle, so a pool never keeps a process alive.
//  * Sums jobs: the same workers also make a commit's data checksums from a device's bytes
//    (sumDeviceRanges; fs/writeback.ts, kernels/device-sums.ts). A worker takes them as soon as
//    its checksum kernels are loaded (`ready`), before its codecs are (`compress-ready`).
//  * Flush jobs: an idle worker (the checksum-only one first) flushes a device through a handle
//    of its own while a large write goes on (flushDevice; early writeback, fs/writeback.ts), so
//    that the commit's flush, which blocks the engine thread, finds little left to write.
//
// Sizing: one worker per CPU but one for chunks (defaultCompressWorkers); see docs/benchmarks.md
// ("Compressed writes") for what it measured on a shared 2-core machine. A filesystem's pool
// (defaultPoolOptions) has one more that takes checksum jobs only: those run while the engine
// thread waits in the commit's data flush, so every CPU can work on them (docs/benchmarks.md,
// "Files", session 12).
//
// Where the worker script is: beside this module as compress.worker.js (tsc's dist/), or, in a
// browser, wherever Vite emitted it (the `new Worker(new URL(...))` literal below is what Vite
// follows). Running from the TypeScript sources in Node (vitest's node project), there is no .js:
// the worker is started with a loader that strips the types of src/ (compress-worker-node.ts).

import { assert } from '../util/assert.js';
import { compressChunk, failureLatch, fromWire, releaseChunkBuffer, SUMS_WORKER_NAME, takeChunkBuffer, type ChunkJob, type ChunkResult, type WorkerReply, type WorkerRequest } from './compress-chunk.js';
import { BTRFS_MAX_UNCOMPRESSED } from './compression.js';
import { spawnNodeCompressWorker } from './compress-worker-node.js';
import type { CsumName } from './checksum.js';
import type { DeviceReadSource } from './device-sums.js';

/** A chunk a worker has not answered by then is taken back (a worker that hangs must not hang a write). */
const JOB_TIMEOUT_MS = 30_000;
/** Chunks one worker holds at once: one compressing, one waiting in its message queue. */
const PER_WORKER_INFLIGHT = 2;
/** At most this many chunks of a write are submitted ahead of the one being written (memory bound). */
const MAX_LOOKAHEAD_CHUNKS = 32;
/** Input buffers kept for reuse. */
const MAX_SPARE_BUFFERS = 64;
/** While the chunk the writer needs is on a worker, the engine thread compresses queued ones. */
const STEAL_WHILE_WAITING = true;

let channel: { port: MessagePort; waiting: (() => void)[] } | undefined;

/** Resolves after the event loop has turned once (tasks queued before, such as worker messages, ran). */
function yieldToEventLoop(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  if (channel === undefined) {
    const mc = new MessageChannel();
    const waiting: (() => void)[] = [];
    mc.port1.onmessage = () => waiting.shift()?.();
    channel = { port: mc.port2, waiting };
  }
  const c = channel;
  return new Promise((resolve) => {
    c.waiting.push(resolve);
    c.port.postMessage(0);
  });
}

/** One worker as the pool sees it, whatever kind of Worker is behind it. */
export interface CompressWorkerPort {
  post(request: WorkerRequest, transfer: ArrayBuffer[]): void;
  onMessage(handler: (reply: WorkerReply) => void): void;
  /** Called once if the worker fails to load, throws outside a request, or exits. */
  onFailure(handler: (reason: string) => void): void;
  /** Node: whether the worker may keep the process alive (while it holds chunks). */
  setBusy(busy: boolean): void;
  terminate(): Promise<void>;
}

export type SpawnCompressWorker = (role?: 'sums') => Promise<CompressWorkerPort>;

export interface CompressPoolOptions {
  /** Workers to start (0: everything on the engine thread). */
  workers: number;
  /**
   * More workers that take checksum jobs (sumDeviceRanges) only, never chunks (default 0; none
   * without `workers`). A commit's checksums of large extents are made while the engine thread
   * waits in the data flush, when its CPU is idle: defaultPoolOptions gives one per CPU in all.
   */
  sumsWorkers?: number;
  /** Starts one worker; defaults to the platform's (spawnCompressWorker). For tests. */
  spawn?: SpawnCompressWorker;
  /** How long a worker may take over one chunk before the pool gives up on it (default JOB_TIMEOUT_MS). */
  jobTimeoutMs?: number;
}

let defaultWorkers: number | undefined;

/** The CPUs this environment reports (navigator.hardwareConcurrency, os.availableParallelism), at least 1. */
export async function hardwareThreads(): Promise<number> {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  if (nav?.hardwareConcurrency !== undefined && nav.hardwareConcurrency > 0) return nav.hardwareConcurrency;
  if (isNode()) {
    const specifier = 'node:os';
    const os = (await import(/* @vite-ignore */ specifier)) as typeof import('node:os');
    return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  }
  return 1;
}

/**
 * Workers a new filesystem's pool starts: setDefaultCompressWorkers's, else one per CPU but one,
 * at least one. The engine thread is the other compressor (it takes chunks no worker has
 * taken), and it has the write path to run: one thread per CPU in all.
 */
export async function defaultCompressWorkers(): Promise<number> {
  return defaultWorkers ?? Math.max(1, (await hardwareThreads()) - 1);
}

/**
 * The pool a filesystem makes: defaultCompressWorkers() workers, and checksum-only ones to make
 * one worker per CPU for a commit's checksums (at least one more when there are workers: the
 * engine thread, waiting in the flush, leaves its CPU to them).
 */
export async function defaultPoolOptions(): Promise<CompressPoolOptions> {
  const workers = await defaultCompressWorkers();
  return { workers, sumsWorkers: workers > 0 ? Math.max(1, (await hardwareThreads()) - workers) : 0 };
}

/** Sets the workers of pools created from now on (undefined: the default above; 0: none). Benchmarks and tests. */
export function setDefaultCompressWorkers(workers: number | undefined): void {
  assert(workers === undefined || (Number.isInteger(workers) && workers >= 0 && workers <= 256), `compress workers ${workers}`);
  defaultWorkers = workers;
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string' && !('WorkerGlobalScope' in globalThis) && !('document' in globalThis);
}

/**
 * A pool whose workers start loading now, without waiting for them (mount with compress=: the
 * first write then finds them ready). Failures to start turn the pool off, as at any time.
 */
export function startCompressPool(options: CompressPoolOptions): CompressPool {
  const pool = new CompressPool(options);
  pool.prestart();
  return pool;
}

/** Starts a compression worker the way this platform can. */
export async function spawnCompressWorker(role?: 'sums'): Promise<CompressWorkerPort> {
  if (typeof Worker === 'function') return browserPort(new Worker(new URL('./compress.worker.js', import.meta.url), { type: 'module', name: role === 'sums' ? SUMS_WORKER_NAME : 'butterfs-compress' }));
  if (isNode()) {
    return spawnNodeCompressWorker(import.meta.url, role);
  }
  throw new Error('no Worker in this environment');
}

function browserPort(worker: Worker): CompressWorkerPort {
  const { fail, onFailure, close } = failureLatch();
  worker.addEventListener('error', (e) => {
    e.preventDefault();
    fail(`compression worker error: ${e.message || 'the script failed to load'}`);
  });
  worker.addEventListener('messageerror', () => fail('compression worker: a message could not be read'));
  return {
    post: (request, transfer) => worker.postMessage(request, transfer),
    onMessage: (handler) => worker.addEventListener('message', (e: MessageEvent<WorkerReply>) => handler(e.data)),
    onFailure,
    setBusy: () => undefined,
    terminate: async () => {
      close();
      worker.terminate();
    },
  };
}

interface Job {
  readonly id: number;
  readonly job: ChunkJob;
  /** The caller's bytes: run from here on the engine thread (stolen, or after a failure). ChunkStream.rebase moves them. */
  input: Uint8Array;
  state: 'queued' | 'running' | 'settled' | 'cancelled';
  slot: Slot | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The outcome once settled. Kept here, not in a promise, so that an error nobody asks for is no unhandled rejection. */
  outcome: { readonly ok: true; readonly result: ChunkResult } | { readonly ok: false; readonly error: unknown } | undefined;
  /** The stream waiting for the outcome. */
  waiter: { resolve: (r: ChunkResult) => void; reject: (e: unknown) => void } | undefined;
}

interface Slot {
  port: CompressWorkerPort | undefined;
  /** Takes checksum jobs only (CompressPoolOptions.sumsWorkers), never chunks. */
  readonly sumsOnly: boolean;
  /** Its checksum kernels are loaded: it takes sums jobs. */
  ready: boolean;
  /** Its compression kernels are loaded too: it takes chunks. */
  compressReady: boolean;
  readonly running: Map<number, Job>;
  /** Device jobs (sumDeviceRanges, flushDevice) the worker holds, and how many of them are flushes. */
  deviceJobs: number;
  flushes: number;
}

/** A device job on a worker: a commit's checksums (sumDeviceRanges) or an early flush (flushDevice). */
interface DeviceJob {
  readonly slot: Slot;
  readonly flush: boolean;
  readonly timer: ReturnType<typeof setTimeout>;
  /** The checksums of a sums job; undefined for a flush. */
  readonly resolve: (sums: Uint8Array | undefined) => void;
  readonly reject: (e: Error) => void;
}

export interface CompressPoolStatus {
  readonly workers: number;
  /** Compression workers started / ready for chunks. */
  readonly started: number;
  readonly ready: number;
  /** Checksum-only workers, and those ready. */
  readonly sumsWorkers: number;
  readonly sumsReady: number;
  /** Chunks the workers compressed / the engine thread compressed (stolen or fallback). */
  readonly chunksInWorkers: number;
  readonly chunksInThread: number;
  /** Sums jobs (sumDeviceRanges) the workers answered. */
  readonly sumsJobsDone: number;
  /** Early flushes (flushDevice) the workers made. */
  readonly flushJobsDone: number;
  /** Why early flushes are no longer offered to workers (one failed), if so. */
  readonly flushOffReason: string | undefined;
  /** Why sums jobs are no longer offered to workers (one failed), if so. */
  readonly sumsOffReason: string | undefined;
  readonly disabledReason: string | undefined;
}

export class CompressPool {
  readonly workers: number;
  readonly sumsWorkers: number;
  private readonly spawn: SpawnCompressWorker;
  private readonly jobTimeoutMs: number;
  /** Called when a worker becomes ready or the pool turns off (start()). */
  private readonly waiters: (() => void)[] = [];
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private readonly spares: ArrayBuffer[] = [];
  private nextId = 1;
  private terminated = false;
  private reason: string | undefined;
  private inWorkers = 0;
  private inThread = 0;
  private readonly deviceJobs = new Map<number, DeviceJob>();
  private sumsDone = 0;
  private sumsOff: string | undefined;
  private flushesDone = 0;
  private flushOff: string | undefined;

  constructor(options: CompressPoolOptions) {
    assert(Number.isInteger(options.workers) && options.workers >= 0, `compress pool of ${options.workers} workers`);
    this.workers = options.workers;
    this.sumsWorkers = options.workers > 0 ? (options.sumsWorkers ?? 0) : 0;
    assert(Number.isInteger(this.sumsWorkers) && this.sumsWorkers >= 0, `compress pool of ${options.sumsWorkers} checksum workers`);
    this.spawn = options.spawn ?? spawnCompressWorker;
    this.jobTimeoutMs = options.jobTimeoutMs ?? JOB_TIMEOUT_MS;
    assert(this.jobTimeoutMs > 0, `job timeout ${this.jobTimeoutMs} ms`);
  }

  /**
   * Starts the workers now rather than at the first write, and resolves once every one is
   * ready or the pool is off (then `disabledReason` says why). Benchmarks and tests.
   */
  async start(): Promise<void> {
    this.startWorkers();
    while (this.active && (this.slots.filter((s) => !s.sumsOnly && s.compressReady).length < this.workers || this.slots.filter((s) => s.sumsOnly && s.ready).length < this.sumsWorkers)) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Whether a worker is still starting (spawning, or loading its kernels). */
  get starting(): boolean {
    return this.active && this.slots.some((s) => (s.sumsOnly ? !s.ready : !s.compressReady));
  }

  /** Compresses the first queued chunk (the one the writer needs soonest) on this thread; false when none is queued. */
  stealFirst(): boolean {
    const j = this.queue.shift();
    if (j === undefined) return false;
    this.runHere(j);
    return true;
  }

  /** Starts the workers now rather than at the first write, without waiting for them. */
  prestart(): void {
    this.startWorkers();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Whether chunks go to workers (false: none configured, disabled after a failure, or terminated). */
  get active(): boolean {
    return this.workers > 0 && this.reason === undefined && !this.terminated;
  }

  /** Whether device jobs (sumDeviceRanges) may go to workers: the pool is on and none was refused. */
  get takesDeviceJobs(): boolean {
    return this.active && this.sumsOff === undefined;
  }

  get disabledReason(): string | undefined {
    return this.reason;
  }

  status(): CompressPoolStatus {
    return {
      workers: this.workers, started: this.slots.filter((s) => !s.sumsOnly && s.port !== undefined).length,
      ready: this.slots.filter((s) => !s.sumsOnly && s.compressReady).length,
      sumsWorkers: this.sumsWorkers, sumsReady: this.slots.filter((s) => s.sumsOnly && s.ready).length,
      chunksInWorkers: this.inWorkers, chunksInThread: this.inThread, sumsJobsDone: this.sumsDone, sumsOffReason: this.sumsOff,
      flushJobsDone: this.flushesDone, flushOffReason: this.flushOff,
      disabledReason: this.reason,
    };
  }

  /**
   * Workers that would take a checksum job now (sumDeviceRanges) without waiting behind early
   * flushes: a caller splits a large one among them.
   */
  get sumsSlots(): number {
    return this.takesDeviceJobs ? this.slots.filter((s) => s.ready && s.port !== undefined && s.flushes === 0).length : 0;
  }

  /**
   * The data checksums of device ranges (offset, length pairs, whole sectors), made on a ready
   * worker that reads `source` through a handle of its own (device-sums.ts), end to end in the
   * order given. Undefined when no worker is ready now (still starting, none, the pool off) or
   * a sums job failed before (sumsOffReason): the caller makes them itself. Rejects when the
   * worker fails the job (sums jobs are then not offered again; compression goes on), dies, or
   * does not answer within the job timeout (the pool then turns off, as for a chunk: a worker
   * that does not answer is hung, and would hang chunks too); the caller then makes them itself.
   */
  sumDeviceRanges(source: DeviceReadSource, ranges: readonly number[], csum: CsumName, sectorSize: number): Promise<Uint8Array> | undefined {
    if (!this.takesDeviceJobs) return undefined;
    let best: Slot | undefined;
    for (const s of this.slots) {
      if (s.ready && s.port && (!best || s.running.size + s.deviceJobs < best.running.size + best.deviceJobs)) best = s;
    }
    if (!best) return undefined;
    const id = this.nextId++;
    return this.postDeviceJob(best, id, 'a checksum job', { type: 'sums', id, source, ranges, csum, sectorSize }) as Promise<Uint8Array>;
  }

  /**
   * Flushes the device `source` names on a worker that holds nothing but flushes, through a
   * handle of the worker's own (early writeback: fs/writeback.ts); the worker makes its flushes
   * in the order asked. Undefined when no ready worker is that free (one compressing chunks or
   * making checksums is not made to wait for it: the flush is only a head start on the commit's
   * own), or device jobs are off, or an early flush failed before (flushOffReason). Rejects as a
   * sums job does; a failure turns early flushes off, nothing else.
   */
  flushDevice(source: DeviceReadSource): Promise<void> | undefined {
    if (!this.takesDeviceJobs || this.flushOff !== undefined) return undefined;
    // A checksum-only worker first: it has nothing else to do while the writes go on.
    let best: Slot | undefined;
    for (const s of this.slots) {
      if (s.ready && s.port && s.running.size === 0 && s.deviceJobs === s.flushes && (!best || (s.sumsOnly && !best.sumsOnly))) best = s;
    }
    if (!best) return undefined;
    const id = this.nextId++;
    return this.postDeviceJob(best, id, 'a flush', { type: 'flush', id, source }).then(() => undefined);
  }

  private postDeviceJob(slot: Slot, id: number, what: string, request: WorkerRequest): Promise<Uint8Array | undefined> {
    return new Promise<Uint8Array | undefined>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.finishDeviceJob(id)?.reject(new Error(`compression worker did not answer ${what} within ${this.jobTimeoutMs} ms`));
        this.disable(`compression worker did not answer ${what} within ${this.jobTimeoutMs} ms`);
      }, this.jobTimeoutMs);
      this.deviceJobs.set(id, { slot, flush: request.type === 'flush', timer, resolve, reject });
      slot.deviceJobs++;
      if (request.type === 'flush') slot.flushes++;
      slot.port!.setBusy(true);
      slot.port!.post(request, []);
    });
  }

  /**
   * Lets the workers' messages in (one turn of the event loop) when a worker is still starting or
   * holds early flushes: the write path runs in microtasks, so a worker that became ready, or
   * finished its flushes, meanwhile is seen only after a turn. Call before sumDeviceRanges.
   */
  async takeMessages(): Promise<void> {
    if (this.active && this.slots.some((s) => !s.ready || s.flushes > 0)) await yieldToEventLoop();
  }

  /** Forgets device job `id` (its timer, its slot's count) and returns it, if still held. */
  private finishDeviceJob(id: number): DeviceJob | undefined {
    const j = this.deviceJobs.get(id);
    if (j === undefined) return undefined;
    this.deviceJobs.delete(id);
    clearTimeout(j.timer);
    j.slot.deviceJobs--;
    if (j.flush) j.slot.flushes--;
    if (j.slot.deviceJobs === 0 && j.slot.running.size === 0) j.slot.port?.setBusy(false);
    return j;
  }

  /**
   * The chunks of one write, compressed in the pool with results in order (or all on the engine
   * thread when the pool is not active). `chunks` are views of the write's buffer, which must
   * not change until the stream is closed.
   */
  stream(job: ChunkJob, chunks: readonly (Uint8Array | undefined)[]): ChunkStream {
    return new ChunkStream(this, job, chunks);
  }

  /** Stops every worker. Chunks still held are compressed on the engine thread. */
  async terminate(): Promise<void> {
    if (this.terminated) return;
    this.terminated = true;
    this.wake();
    await this.stopWorkers();
  }

  // ---- used by ChunkStream

  submit(job: ChunkJob, input: Uint8Array): Job {
    assert(!this.terminated, 'compress pool used after terminate()');
    const j: Job = { id: this.nextId++, job, input, state: 'queued', slot: undefined, timer: undefined, outcome: undefined, waiter: undefined };
    this.queue.push(j);
    this.startWorkers();
    this.dispatch();
    return j;
  }

  /** The job's result: taken from the queue and run here when no worker has it. */
  result(j: Job): Promise<ChunkResult> {
    if (j.state === 'queued') {
      this.queue.splice(this.queue.indexOf(j), 1);
      this.runHere(j);
    }
    const o = j.outcome;
    if (o !== undefined) return o.ok ? Promise.resolve(o.result) : Promise.reject(o.error);
    assert(j.state === 'running' && j.waiter === undefined, () => `chunk job ${j.id} asked for twice, or in state ${j.state}`);
    return new Promise<ChunkResult>((resolve, reject) => { j.waiter = { resolve, reject }; });
  }

  cancel(j: Job): void {
    if (j.state === 'queued') this.queue.splice(this.queue.indexOf(j), 1);
    if (j.state === 'queued' || j.state === 'running') j.state = 'cancelled';
  }

  // ---- internals

  private runHere(j: Job): void {
    this.clearJob(j);
    this.inThread++;
    let outcome: Job['outcome'];
    try {
      outcome = { ok: true, result: compressChunk(j.job, j.input) };
    } catch (e) {
      outcome = { ok: false, error: e };
    }
    this.settle(j, outcome);
  }

  private settle(j: Job, outcome: NonNullable<Job['outcome']>): void {
    j.state = 'settled';
    j.outcome = outcome;
    const w = j.waiter;
    j.waiter = undefined;
    if (w === undefined) return;
    if (outcome.ok) w.resolve(outcome.result);
    else w.reject(outcome.error);
  }

  private clearJob(j: Job): void {
    if (j.timer !== undefined) clearTimeout(j.timer);
    j.timer = undefined;
    if (j.slot) {
      j.slot.running.delete(j.id);
      if (j.slot.running.size === 0 && j.slot.deviceJobs === 0) j.slot.port?.setBusy(false);
    }
    j.slot = undefined;
  }

  private startWorkers(): void {
    if (!this.active) return;
    while (this.slots.length < this.workers + this.sumsWorkers) {
      const slot: Slot = { port: undefined, sumsOnly: this.slots.length >= this.workers, ready: false, compressReady: false, running: new Map(), deviceJobs: 0, flushes: 0 };
      this.slots.push(slot);
      this.spawn(slot.sumsOnly ? 'sums' : undefined).then((port) => {
        if (!this.active) {
          void port.terminate();
          return;
        }
        slot.port = port;
        port.onMessage((reply) => this.onReply(slot, reply));
        port.onFailure((reason) => this.disable(reason));
      }, (e: unknown) => this.disable(`compression worker could not start: ${e instanceof Error ? e.message : String(e)}`));
    }
  }

  /**
   * A worker that has loaded (and holds no job) is idle: in Node it then no longer keeps the
   * process alive (while it loads, it does, so that awaiting start() works). A checksum-only
   * worker may never be handed a job, whose end would say so.
   */
  private idleIfFree(slot: Slot): void {
    if (slot.running.size === 0 && slot.deviceJobs === 0) slot.port?.setBusy(false);
  }

  private onReply(slot: Slot, reply: WorkerReply): void {
    if (!this.active) return;
    switch (reply.type) {
      case 'ready':
        slot.ready = true;
        // A worker that says nothing of its codecs has them (compress-ready is a later message).
        if (reply.compression !== false) slot.compressReady = true;
        // Loaded for what it is for (a compression worker may still be loading its codecs).
        if (slot.sumsOnly || slot.compressReady) this.idleIfFree(slot);
        this.wake();
        this.dispatch();
        return;
      case 'compress-ready':
        slot.compressReady = true;
        this.idleIfFree(slot);
        this.wake();
        this.dispatch();
        return;
      case 'load-failed':
        this.disable(`compression worker could not load its kernels: ${reply.error}`);
        return;
      case 'sums-done':
        this.sumsDone++;
        this.finishDeviceJob(reply.id)?.resolve(new Uint8Array(reply.sums));
        return;
      case 'sums-failed': {
        // Not a reason to stop compressing on workers (the device may not allow a second handle
        // here); sums jobs are not offered again.
        if (this.sumsOff === undefined) {
          this.sumsOff = reply.error;
          console.warn(`butterfs: data checksums on the engine thread from now on: ${reply.error}`);
        }
        this.finishDeviceJob(reply.id)?.reject(new Error(`compression worker failed a checksum job: ${reply.error}`));
        return;
      }
      case 'flush-done':
        this.flushesDone++;
        this.finishDeviceJob(reply.id)?.resolve(undefined);
        return;
      case 'flush-failed':
        // Early flushes are a head start only (the commit flushes anyway): not offered again.
        if (this.flushOff === undefined) {
          this.flushOff = reply.error;
          console.warn(`butterfs: no early writeback from now on: ${reply.error}`);
        }
        this.finishDeviceJob(reply.id)?.reject(new Error(`compression worker failed a flush: ${reply.error}`));
        return;
      case 'failed':
      case 'done': {
        const j = slot.running.get(reply.id);
        assert(j !== undefined, () => `compression worker answered chunk ${reply.id}, which it does not hold`);
        this.recycle(reply.input);
        if (reply.type === 'done' && reply.output !== undefined) releaseChunkBuffer(reply.output);
        this.clearJob(j);
        if (reply.type === 'failed') {
          // Run again here, where a deterministic error reaches the writer; the pool is off.
          this.disable(`compression worker failed a chunk: ${reply.error}`);
          if (j.state === 'running') this.runHere(j);
          return;
        }
        if (j.state === 'running') {
          this.inWorkers++;
          this.settle(j, { ok: true, result: fromWire(reply.result) });
        }
        this.dispatch();
        return;
      }
    }
  }

  private dispatch(): void {
    if (!this.active) return;
    while (this.queue.length > 0) {
      let best: Slot | undefined;
      for (const s of this.slots) {
        if (s.compressReady && !s.sumsOnly && s.port && s.running.size < PER_WORKER_INFLIGHT && (!best || s.running.size < best.running.size)) best = s;
      }
      if (!best) return;
      // The first queued chunk: the one the writer needs soonest (see the header).
      const j = this.queue.shift()!;
      const buf = this.spares.pop() ?? new ArrayBuffer(BTRFS_MAX_UNCOMPRESSED);
      new Uint8Array(buf, 0, j.input.length).set(j.input);
      j.state = 'running';
      j.slot = best;
      best.running.set(j.id, j);
      best.port!.setBusy(true);
      j.timer = setTimeout(() => this.disable(`compression worker did not answer a chunk within ${this.jobTimeoutMs} ms`), this.jobTimeoutMs);
      // And a chunk buffer for the result, which comes back with it (compress-chunk.ts).
      const output = takeChunkBuffer();
      best.port!.post({ type: 'chunk', id: j.id, job: j.job, input: buf, length: j.input.length, output }, [buf, output]);
    }
  }

  private recycle(buf: ArrayBuffer): void {
    if (buf.byteLength === BTRFS_MAX_UNCOMPRESSED && this.spares.length < MAX_SPARE_BUFFERS) this.spares.push(buf);
  }

  /** Turns the pool off for good: workers stopped, every chunk from now on on the engine thread. */
  private disable(reason: string): void {
    if (this.reason !== undefined || this.terminated) return;
    this.reason = reason;
    this.wake();
    console.warn(`butterfs: compressing on the engine thread from now on: ${reason}`);
    void this.stopWorkers();
  }

  private async stopWorkers(): Promise<void> {
    const slots = this.slots.splice(0);
    // Sums jobs are made by their callers instead; flushes are left to the commit's.
    for (const [id, j] of [...this.deviceJobs]) {
      if (slots.includes(j.slot)) this.finishDeviceJob(id)?.reject(new Error('compression workers stopped'));
    }
    // Chunks the workers held are compressed here (their writer may be waiting for them); queued
    // ones when their stream asks.
    for (const s of slots) {
      for (const j of [...s.running.values()]) {
        if (j.state === 'running') this.runHere(j);
        else this.clearJob(j);
      }
    }
    await Promise.all(slots.map((s) => s.port?.terminate()));
  }
}

/**
 * The chunks of one write, in order. Chunks that are undefined are not compressed (tiny); the
 * others are submitted up to MAX_LOOKAHEAD_CHUNKS ahead of the one asked for. An inactive pool
 * (or a write with fewer than two chunks to compress) compresses each on the engine thread when
 * asked, as the write would without a pool.
 */
export class ChunkStream {
  private readonly jobs: (Job | undefined)[] = [];
  private submitted = 0;
  private nextIndex = 0;
  private closed = false;
  private readonly pooled: boolean;
  private readonly chunks: (Uint8Array | undefined)[];

  constructor(private readonly pool: CompressPool, private readonly job: ChunkJob, chunks: readonly (Uint8Array | undefined)[]) {
    this.chunks = chunks.slice();
    this.pooled = pool.active && chunks.filter((c) => c !== undefined).length >= 2;
    this.fill();
  }

  /**
   * Whether every chunk not yet asked for is on a worker or done: none is queued or still to be
   * submitted, so none would be compressed on this thread from the caller's bytes. What a write
   * that returns before its last results (write-behind, inode/file.ts) needs.
   */
  get restOnWorkers(): boolean {
    if (!this.pooled || this.closed || !this.pool.active) return false;
    for (let i = this.nextIndex; i < this.chunks.length; i++) {
      if (this.chunks[i] === undefined) continue;
      const j = this.jobs[i];
      if (j === undefined || !(j.state === 'running' || (j.state === 'settled' && j.outcome?.ok === true))) return false;
    }
    return true;
  }

  /**
   * The chunks not yet asked for now read from `copy`, which holds the write's bytes from offset
   * `from` on (chunk i starts at i * BTRFS_MAX_UNCOMPRESSED): the caller's buffer may change
   * from here on. A worker that fails makes its chunk here from the copy.
   */
  rebase(copy: Uint8Array, from: number): void {
    for (let i = this.nextIndex; i < this.chunks.length; i++) {
      const c = this.chunks[i];
      if (c === undefined) continue;
      const at = i * BTRFS_MAX_UNCOMPRESSED - from;
      assert(at >= 0 && at + c.length <= copy.length, () => `rebase: chunk ${i} is not in the copy`);
      const view = copy.subarray(at, at + c.length);
      this.chunks[i] = view;
      const j = this.jobs[i];
      if (j !== undefined) j.input = view;
    }
  }

  /** The next chunk's result (undefined chunk: `plain`). */
  async next(): Promise<ChunkResult> {
    assert(!this.closed && this.nextIndex < this.chunks.length, 'ChunkStream.next past its end');
    const i = this.nextIndex++;
    const input = this.chunks[i];
    if (input === undefined) return { kind: 'plain' };
    if (!this.pooled || (!this.pool.active && this.jobs[i] === undefined)) {
      // Not pooled (or the pool went off before this chunk was submitted): here, now.
      return compressChunk(this.job, input);
    }
    this.fill();
    const j = this.jobs[i];
    assert(j !== undefined, () => `chunk ${i} was not submitted`);
    this.jobs[i] = undefined;
    try {
      // The write path runs in microtasks (a sync access handle, a memory device: no await ever
      // waits for a task), so worker messages (ready, results) are taken only when this thread
      // lets the event loop turn. Let it before taking a chunk a starting worker may soon take,
      // and, while chunk i is on a worker, compress the first queued chunk here meanwhile.
      let yielded = false;
      for (let turns = 0; turns < MAX_LOOKAHEAD_CHUNKS + 1; turns++) {
        if (j.state === 'queued' && !yielded && this.pool.starting) {
          yielded = true;
        } else if (!(j.state === 'running' && STEAL_WHILE_WAITING && this.pool.stealFirst())) {
          break;
        }
        await yieldToEventLoop();
      }
      return await this.pool.result(j);
    } finally {
      this.fill();
    }
  }

  /** Drops what is not needed any more (results of chunks not asked for are discarded). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const j of this.jobs) if (j) this.pool.cancel(j);
    this.jobs.length = 0;
  }

  private fill(): void {
    if (!this.pooled || this.closed || !this.pool.active) return;
    const limit = Math.min(this.chunks.length, this.nextIndex + MAX_LOOKAHEAD_CHUNKS);
    for (; this.submitted < limit; this.submitted++) {
      const input = this.chunks[this.submitted];
      if (input !== undefined) this.jobs[this.submitted] = this.pool.submit(this.job, input);
    }
  }
}

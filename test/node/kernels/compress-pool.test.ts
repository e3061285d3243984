// The compression workers (src/kernels/compress-pool.ts): chunks compressed on worker_threads
// workers come back byte for byte as the engine thread makes them, for every codec; a write
// through the pool makes the same extents as one without, and passes our check and btrfs
// check --check-data-csum; a worker that cannot start, dies, fails or hangs turns the pool off
// and the chunks are compressed on the engine thread; unmount stops the workers; early flushes
// go to the checksum-only worker and a failed one turns only flushes off.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Worker as NodeWorker } from 'node:worker_threads';
import { answerChunk, compressChunk, releaseChunkBuffer, takeChunkBuffer, type ChunkJob, type ChunkResult } from '../../../src/kernels/compress-chunk.js';
import { CompressPool, spawnCompressWorker, type CompressWorkerPort } from '../../../src/kernels/compress-pool.js';
import { BTRFS_MAX_COMPRESSED, compress, effectiveLevel, loadCompressionKernels, type CompressionName } from '../../../src/kernels/compression.js';
import { loadKernels, type CsumName } from '../../../src/kernels/checksum.js';
import { readFile, writeFile } from '../../../src/inode/file.js';
import { findFileExtents } from '../../../src/inode/file-item.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import type { FsInfo } from '../../../src/fs/fs-info.js';
import type { WorkerReply } from '../../../src/kernels/compress-chunk.js';
import { FileModel, freshFs, judgeImage } from '../../shared/file-model.js';
import { MemoryDevice, mkfs, mount } from '../../../src/index.js';
import { EXTENT_BYTES, KINDS, pseudoRandom } from './compress-corpus.js';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../shared/btrfs-progs.js';
import { checksum } from '../../../src/kernels/checksum.js';
import type { DeviceReadSource } from '../../../src/kernels/device-sums.js';

await Promise.all([loadCompressionKernels(), loadKernels()]);

const CODECS: [CompressionName, number][] = [['zlib', 1], ['zlib', 9], ['lzo', 1], ['zstd', 1], ['zstd', 15], ['zstd', -5]];

/** Chunks where each outcome happens: compressed, heuristic no, codec gives up, short tails. */
function chunks(): Uint8Array[] {
  const out = ['text', 'json', 'source', 'zeros', 'random', 'compressed'].map((k) => KINDS[k]!(EXTENT_BYTES));
  out.push(KINDS.text!(EXTENT_BYTES - 4096 * 3 - 17));
  out.push(KINDS.json!(8192));
  out.push(KINDS.zeros!(4096 * 2));
  // Half text, half random: the heuristic says yes, the codec saves too little or nothing.
  const mixed = pseudoRandom(EXTENT_BYTES, 7);
  mixed.set(KINDS.text!(EXTENT_BYTES / 8));
  out.push(mixed);
  return out;
}

function same(a: ChunkResult, b: ChunkResult): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind !== 'compressed' || b.kind !== 'compressed') return true;
  return a.compressedBytes === b.compressedBytes && Buffer.compare(a.disk, b.disk) === 0 && Buffer.compare(a.sums, b.sums) === 0;
}

const pools: CompressPool[] = [];
function pool(options: ConstructorParameters<typeof CompressPool>[0]): CompressPool {
  const p = new CompressPool(options);
  pools.push(p);
  return p;
}

afterEach(async () => {
  for (const p of pools.splice(0)) await p.terminate();
  vi.restoreAllMocks();
});

/** Every chunk through a stream of `p`, results in order. */
async function run(p: CompressPool, job: ChunkJob, inputs: Uint8Array[]): Promise<ChunkResult[]> {
  const s = p.stream(job, inputs);
  const out: ChunkResult[] = [];
  try {
    for (let i = 0; i < inputs.length; i++) out.push(await s.next());
  } finally {
    s.close();
  }
  return out;
}

describe('compression pool: chunks', () => {
  for (const [codec, level] of CODECS) {
    for (const csum of ['crc32c', 'xxhash'] as CsumName[]) {
      it(`${codec}:${level}, ${csum}: worker results equal the engine thread's, with and without the heuristic`, async () => {
        const p = pool({ workers: 2 });
        await p.start();
        expect(p.disabledReason).toBeUndefined();
        expect(p.status().ready).toBe(2);
        const inputs = chunks();
        for (const heuristic of [true, false]) {
          const job: ChunkJob = { codec, level: effectiveLevel(codec, level), sectorSize: 4096, heuristic, csum };
          const before = p.status().chunksInWorkers;
          const got = await run(p, job, inputs);
          const want = inputs.map((c) => compressChunk(job, c));
          for (const [i, w] of want.entries()) expect(same(got[i]!, w), `chunk ${i}: ${got[i]!.kind} vs ${w.kind}`).toBe(true);
          // Not all stolen by the engine thread: the workers did compress.
          expect(p.status().chunksInWorkers).toBeGreaterThan(before);
          if (heuristic) expect(want.map((w) => w.kind)).toContain('plain');
          expect(want.map((w) => w.kind)).toContain('compressed');
        }
        expect(p.disabledReason).toBeUndefined();
      });
    }
  }

  it('a chunk buffer used again holds exactly the codec\'s output and zero padding, whatever it held before', () => {
    for (const [codec, level] of CODECS) {
      const job: ChunkJob = { codec, level: effectiveLevel(codec, level), sectorSize: 4096, heuristic: false, csum: 'crc32c' };
      for (const input of chunks()) {
        const z = compress(codec, input, job.level, 4096);
        const used = new ArrayBuffer(BTRFS_MAX_COMPRESSED);
        new Uint8Array(used).fill(0xa5);
        const r = compressChunk(job, input, used);
        if (z === null) {
          expect(r.kind).toBe('incompressible');
          continue;
        }
        expect(r.kind).toBe('compressed');
        if (r.kind !== 'compressed') continue;
        expect(r.disk.buffer).toBe(used);
        const want = new Uint8Array(Math.ceil(z.length / 4096) * 4096);
        want.set(z);
        expect(Buffer.compare(r.disk, want), `${codec}:${level}, ${input.length} bytes`).toBe(0);
        // And the spare list hands such a buffer out again.
        releaseChunkBuffer(used);
        expect(takeChunkBuffer()).toBe(used);
      }
    }
  });

  it('a pool of 0 workers compresses on the engine thread and starts nothing', async () => {
    const spawn = vi.fn(spawnCompressWorker);
    const p = pool({ workers: 0, spawn });
    const job: ChunkJob = { codec: 'zstd', level: 3, sectorSize: 4096, heuristic: true, csum: 'crc32c' };
    const inputs = chunks();
    const got = await run(p, job, inputs);
    for (const [i, c] of inputs.entries()) expect(same(got[i]!, compressChunk(job, c))).toBe(true);
    expect(spawn).not.toHaveBeenCalled();
    expect(p.status()).toMatchObject({ chunksInWorkers: 0, chunksInThread: 0 });
  });

  it('chunks past the look-ahead and chunks left undefined (tiny) come back in order', async () => {
    const p = pool({ workers: 2 });
    const job: ChunkJob = { codec: 'lzo', level: 1, sectorSize: 4096, heuristic: false, csum: 'crc32c' };
    const inputs: (Uint8Array | undefined)[] = [];
    for (let i = 0; i < 80; i++) inputs.push(i % 9 === 4 ? undefined : KINDS.text!(EXTENT_BYTES - (i % 5) * 4096));
    const s = p.stream(job, inputs);
    for (const [i, c] of inputs.entries()) {
      const r = await s.next();
      if (c === undefined) expect(r.kind).toBe('plain');
      else expect(same(r, compressChunk(job, c)), `chunk ${i}`).toBe(true);
    }
    s.close();
    expect(p.disabledReason).toBeUndefined();
  });
});

/**
 * A worker on this thread: it says ready, and answers each chunk as the worker does (answerChunk) one
 * task later (setImmediate), as a worker whose result waits for the engine's event loop to turn.
 * `received`: the ids of the chunks it was handed, in order.
 */
function sameThreadPort(received: number[]): CompressWorkerPort {
  let handler: (reply: WorkerReply) => void = () => undefined;
  return {
    post: (request) => {
      if (request.type !== 'chunk') return;
      received.push(request.id);
      setImmediate(() => handler(answerChunk(request).reply));
    },
    onMessage: (h) => {
      handler = h;
      setImmediate(() => h({ type: 'ready' }));
    },
    onFailure: () => undefined,
    setBusy: () => undefined,
    terminate: async () => undefined,
  };
}

describe('compression pool: sharing', () => {
  it('a worker is handed a long write\'s chunks in file order and takes a share of them all along', async () => {
    // Handed the queue's last chunks instead, a worker got two chunks while the engine thread
    // compressed the front of the write without turning the event loop: 9% of the chunks of an
    // 8 MiB write in Chromium (docs/benchmarks.md, "Compressed writes", session 8).
    const received: number[] = [];
    const p = pool({ workers: 1, spawn: async () => sameThreadPort(received) });
    await p.start();
    const job: ChunkJob = { codec: 'lzo', level: 1, sectorSize: 4096, heuristic: false, csum: 'crc32c' };
    const inputs = Array.from({ length: 24 }, (_, i) => KINDS.text!(EXTENT_BYTES - (i % 3) * 4096));
    const results = await run(p, job, inputs);
    for (const [i, r] of results.entries()) expect(same(r, compressChunk(job, inputs[i]!)), `chunk ${i}`).toBe(true);
    expect(received.length).toBe(p.status().chunksInWorkers);
    expect(received, 'handed in file order').toEqual([...received].sort((a, b) => a - b));
    // Chunk ids are consecutive within the write: the worker's last chunk is near the write's end.
    const first = Math.min(...received);
    expect(received.length).toBeGreaterThanOrEqual(8);
    expect(received[received.length - 1]! - first).toBeGreaterThanOrEqual(16);
    expect(p.disabledReason).toBeUndefined();
  });
});

describe('compression pool: checksum-only workers', () => {
  it('take no chunks, count apart from the compression workers, and stop with the pool', async () => {
    const received: number[][] = [];
    const p = pool({ workers: 1, sumsWorkers: 1, spawn: async () => sameThreadPort(received[received.push([]) - 1]!) });
    await p.start();
    expect(p.status()).toMatchObject({ workers: 1, started: 1, ready: 1, sumsWorkers: 1, sumsReady: 1 });
    expect(p.sumsSlots).toBe(2);
    const job: ChunkJob = { codec: 'lzo', level: 1, sectorSize: 4096, heuristic: false, csum: 'crc32c' };
    const inputs = Array.from({ length: 24 }, () => KINDS.text!(EXTENT_BYTES));
    const results = await run(p, job, inputs);
    for (const [i, r] of results.entries()) expect(same(r, compressChunk(job, inputs[i]!)), `chunk ${i}`).toBe(true);
    expect(received).toHaveLength(2);
    expect(received[0]!.length).toBeGreaterThan(0);
    expect(received[1], 'the checksum-only worker was handed no chunk').toEqual([]);
    await p.terminate();
    expect(p.status()).toMatchObject({ started: 0, ready: 0, sumsReady: 0 });
    // Without compression workers there are none of either kind.
    expect(new CompressPool({ workers: 0, sumsWorkers: 3 }).sumsWorkers).toBe(0);
  });

  it('a real one says ready and never loads the codecs (no compress-ready), where a compression worker does', async () => {
    const seen = async (role?: 'sums') => {
      const port = await spawnCompressWorker(role);
      const got: string[] = [];
      port.onMessage((m) => got.push(m.type));
      for (let i = 0; i < 200 && !got.includes(role === 'sums' ? 'ready' : 'compress-ready'); i++) await new Promise((r) => setTimeout(r, 25));
      // Time for the codecs to load, had they been asked for.
      await new Promise((r) => setTimeout(r, role === 'sums' ? 1500 : 0));
      await port.terminate();
      return got;
    };
    expect(await seen()).toEqual(['ready', 'compress-ready']);
    expect(await seen('sums')).toEqual(['ready']);
  });
});

describe('compression pool: flush jobs (early writeback)', () => {
  it('go to the checksum-only worker first, keep it out of checksum splits while held, and a failed one turns flushes off, not checksums', async () => {
    const { dir, cleanup } = await tempDir('butterfs-pool-flush-');
    try {
      const path = join(dir, 'dev.img');
      const data = pseudoRandom(1 << 20, 3);
      writeFileSync(path, data);
      const st = statSync(path, { bigint: true });
      const source: DeviceReadSource = { kind: 'path', path, dev: String(st.dev), ino: String(st.ino) };
      // Real workers; what each is asked is recorded by its role.
      const asked: Record<string, string[]> = { compress: [], sums: [] };
      const p = pool({
        workers: 1, sumsWorkers: 1,
        spawn: async (role) => {
          const port = await spawnCompressWorker(role);
          const post = port.post.bind(port);
          return { ...port, post: (request, transfer) => { asked[role ?? 'compress']!.push(request.type); post(request, transfer); } };
        },
      });
      await p.start();
      expect(p.sumsSlots).toBe(2);
      const first = p.flushDevice(source);
      const second = p.flushDevice(source);
      expect(first).toBeDefined();
      expect(second).toBeDefined();
      // Both on the checksum-only worker, which a checksum split now leaves out.
      expect(asked).toEqual({ compress: [], sums: ['flush', 'flush'] });
      expect(p.sumsSlots).toBe(1);
      await Promise.all([first, second]);
      expect(p.status()).toMatchObject({ flushJobsDone: 2, flushOffReason: undefined });
      expect(p.sumsSlots).toBe(2);

      // A worker that cannot open the device fails the flush: no more flushes, checksums go on.
      const missing: DeviceReadSource = { ...source, path: join(dir, 'missing.img') };
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
      await expect(p.flushDevice(missing)).rejects.toThrow(/failed a flush/);
      expect(p.status().flushOffReason).toMatch(/ENOENT|no such file/);
      expect(warn.mock.calls.some(([m]) => String(m).includes('no early writeback from now on'))).toBe(true);
      expect(p.flushDevice(source)).toBeUndefined();
      const sums = await p.sumDeviceRanges(source, [0, 1 << 20], 'crc32c', 4096);
      expect(Buffer.from(sums!).equals(Buffer.from(checksum('crc32c', data, 4096)))).toBe(true);
      expect(p.status()).toMatchObject({ sumsOffReason: undefined, disabledReason: undefined });
    } finally {
      await cleanup();
    }
  });
});

/** A worker_threads worker running `source` (CommonJS), as a pool port. */
function evalPort(source: string): CompressWorkerPort {
  const w = new NodeWorker(source, { eval: true });
  w.unref();
  let failed: ((reason: string) => void) | undefined;
  let done = false;
  const fail = (r: string) => {
    if (!done) failed?.(r);
    done = true;
  };
  w.on('error', (e) => fail(`error: ${e.message}`));
  w.on('exit', (code) => fail(`exited (code ${code})`));
  return {
    post: (req, transfer) => w.postMessage(req, transfer),
    onMessage: (h) => w.on('message', (m: WorkerReply) => h(m)),
    onFailure: (h) => { failed = h; },
    setBusy: (busy) => { if (busy) w.ref(); else w.unref(); },
    terminate: async () => { done = true; await w.terminate(); },
  };
}

const READY = `const { parentPort } = require('node:worker_threads'); parentPort.postMessage({ type: 'ready' });`;

describe('compression pool: failures fall back to the engine thread', () => {
  const job: ChunkJob = { codec: 'zstd', level: 1, sectorSize: 4096, heuristic: true, csum: 'crc32c' };
  const cases: [string, string, RegExp, number?][] = [
    ['a worker script that throws on load', `throw new Error('no kernels here');`, /could not start|error: no kernels here/],
    ['kernels that fail to load', `require('node:worker_threads').parentPort.postMessage({ type: 'load-failed', error: 'wasm refused' });`, /could not load its kernels: wasm refused/],
    ['a worker that dies on its first chunk', `${READY} parentPort.on('message', () => process.exit(3));`, /exited \(code 3\)/],
    ['a worker that reports a failed chunk',
      `${READY} parentPort.on('message', (m) => parentPort.postMessage({ type: 'failed', id: m.id, error: 'codec exploded', input: m.input }, [m.input]));`,
      /failed a chunk: codec exploded/],
    ['a worker that never answers', `${READY} parentPort.on('message', () => {});`, /did not answer a chunk within 300 ms/, 300],
  ];
  for (const [what, source, reason, jobTimeoutMs] of cases) {
    it(`${what}: the write's chunks come out right, the pool is off and says why`, async () => {
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
      const p = pool({ workers: 2, spawn: async () => evalPort(source), jobTimeoutMs });
      // Workers up (or failed) first, so that the chunks go to them rather than being taken here.
      await p.start();
      const inputs = chunks();
      const got = await run(p, job, inputs);
      for (const [i, c] of inputs.entries()) expect(same(got[i]!, compressChunk(job, c)), `chunk ${i}`).toBe(true);
      expect(p.active).toBe(false);
      expect(p.disabledReason).toMatch(reason);
      expect(warn).toHaveBeenCalledTimes(1);
      // Later writes compress here.
      const again = await run(p, job, inputs.slice(0, 3));
      for (const [i, c] of inputs.slice(0, 3).entries()) expect(same(again[i]!, compressChunk(job, c))).toBe(true);
    });
  }

  it('a worker that cannot be spawned at all', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const p = pool({ workers: 1, spawn: async () => { throw new Error('Worker is not defined'); } });
    const inputs = chunks();
    const got = await run(p, job, inputs);
    for (const [i, c] of inputs.entries()) expect(same(got[i]!, compressChunk(job, c))).toBe(true);
    await p.start();
    expect(p.disabledReason).toMatch(/could not start: Worker is not defined/);
  });

  it('write-behind: a stream says when its rest is all on workers; rebased, a hung worker\'s chunks are made here from the copy, not the caller\'s bytes', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const hung = () => pool({ workers: 1, spawn: async () => evalPort(`${READY} parentPort.on('message', () => {});`), jobTimeoutMs: 300 });
    const buf = new Uint8Array(3 * EXTENT_BYTES);
    buf.set(KINDS.text!(EXTENT_BYTES));
    buf.set(KINDS.json!(EXTENT_BYTES), EXTENT_BYTES);
    buf.set(KINDS.source!(EXTENT_BYTES), 2 * EXTENT_BYTES);
    const views = [0, 1, 2].map((i) => buf.subarray(i * EXTENT_BYTES, (i + 1) * EXTENT_BYTES));
    const want = views.map((v) => compressChunk(job, v.slice()));
    // Three chunks: the worker holds two, the third is queued (it would be made here, from the
    // caller's bytes), so the rest is not all on workers.
    const p = hung();
    await p.start();
    const s = p.stream(job, views);
    expect(s.restOnWorkers).toBe(false);
    s.close();
    // Two: both on the worker.
    const q = hung();
    await q.start();
    const t = q.stream(job, views.slice(0, 2));
    expect(t.restOnWorkers).toBe(true);
    const copy = buf.slice(0, 2 * EXTENT_BYTES);
    expect(() => t.rebase(copy.subarray(1), 0)).toThrow(/not in the copy/);
    t.rebase(copy, 0);
    buf.fill(0xee);
    // The worker never answers: after the timeout the pool is off and both are made here.
    for (const i of [0, 1]) expect(same(await t.next(), want[i]!), `chunk ${i}`).toBe(true);
    expect(q.disabledReason).toMatch(/did not answer a chunk within 300 ms/);
    t.close();
  });

  it('a codec error in the worker reaches the writer from the engine thread, as without a pool', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const p = pool({ workers: 1, spawn: async () => evalPort(`${READY} parentPort.on('message', (m) => parentPort.postMessage({ type: 'failed', id: m.id, error: 'bad', input: m.input }, [m.input]));`) });
    await p.start();
    const bad: ChunkJob = { ...job, sectorSize: 1000 }; // an assertion in the codec wrapper, on either thread
    const s = p.stream(bad, [KINDS.text!(EXTENT_BYTES), KINDS.text!(EXTENT_BYTES)]);
    await expect(s.next()).rejects.toThrow(/bad sector size 1000/);
    expect(p.disabledReason).toMatch(/failed a chunk: bad/);
    s.close();
  });
});

describe('compression pool: writes', () => {
  async function writeWith(workers: number, codec: CompressionName, level: number): Promise<{ fs: FsInfo; dev: MemoryDevice; models: FileModel[]; files: { name: string; ino: number }[]; pool: CompressPool }> {
    const { dev, fs, files } = await freshFs(3);
    fs.options = { ...fs.options, compress: codec, compressLevel: effectiveLevel(codec, level) };
    const p = pool({ workers });
    await p.start();
    fs.compressPool = p;
    const models = files.map(() => new FileModel());
    const text = KINDS.text!(3 * 1024 * 1024 + 5000);
    const mixed = new Uint8Array(1024 * 1024);
    mixed.set(KINDS.json!(512 * 1024));
    mixed.set(pseudoRandom(256 * 1024, 3), 512 * 1024);
    startTransaction(fs);
    await writeFile(fs, fs.fsTree, files[0]!.ino, 0, text);
    models[0]!.write(0, text);
    await writeFile(fs, fs.fsTree, files[1]!.ino, 8192, mixed);
    models[1]!.write(8192, mixed);
    // An overwrite in the middle of a compressed file.
    await writeFile(fs, fs.fsTree, files[0]!.ino, 300_000, mixed.subarray(0, 700_000));
    models[0]!.write(300_000, mixed.subarray(0, 700_000));
    await writeFile(fs, fs.fsTree, files[2]!.ino, 0, KINDS.source!(600_000));
    models[2]!.write(0, KINDS.source!(600_000));
    await commitTransaction(fs);
    return { fs, dev, models, files, pool: p };
  }

  async function extentsBytes(fs: FsInfo, ino: number): Promise<string[]> {
    const out: string[] = [];
    for (const fe of await findFileExtents(fs, fs.fsTree, ino, 0, Number.MAX_SAFE_INTEGER)) {
      const raw = fe.diskBytenr === 0 ? new Uint8Array(0) : await fs.volumes.readLogical(fe.diskBytenr, fe.diskNumBytes);
      out.push(`${fe.fileOffset} ${fe.type} ${fe.compression} ${fe.diskBytenr} ${fe.diskNumBytes} ${fe.offset} ${fe.numBytes} ${fe.ramBytes} ${Buffer.from(raw).toString('base64')}`);
    }
    return out;
  }

  for (const [codec, level] of [['zstd', 1], ['lzo', 1], ['zlib', 1]] as [CompressionName, number][]) {
    it(`${codec}:${level}: the same extents with 2 workers as with none; our check and btrfs check --check-data-csum agree`, async () => {
      const pooled = await writeWith(2, codec, level);
      const alone = await writeWith(0, codec, level);
      expect(pooled.pool.status().chunksInWorkers).toBeGreaterThan(0);
      expect(pooled.pool.disabledReason).toBeUndefined();
      for (const f of pooled.files) {
        expect(await extentsBytes(pooled.fs, f.ino)).toEqual(await extentsBytes(alone.fs, f.ino));
        expect(await readFile(pooled.fs, pooled.fs.fsTree, f.ino, 0, 1 << 30)).toEqual(pooled.models[pooled.files.indexOf(f)]!.content());
      }
      await judgeImage(pooled.dev, pooled.fs, pooled.files, pooled.models, `${codec} through the pool`);
    }, 120_000);
  }
});

describe('compression pool: lifetime', () => {
  it('starts loading at a mount with compress= (none without), stops at unmount', async () => {
    const dev = new MemoryDevice(128 * 1024 * 1024);
    await mkfs([dev]);
    const plain = await mount([dev]);
    await plain.promises.writeFile('/plain', KINDS.text!(1024 * 1024));
    expect(plain.info.compressPool).toBeUndefined();
    await plain.unmount();
    const fs = await mount([dev], 'compress=zstd:1');
    const p = fs.info.compressPool!;
    expect(p).toBeDefined();
    expect(p.active).toBe(true);
    await fs.promises.writeFile('/big', KINDS.text!(2 * 1024 * 1024));
    expect(fs.info.compressPool).toBe(p);
    await p.start();
    expect(p.status().ready).toBe(p.workers);
    await fs.unmount();
    expect(p.active).toBe(false);
    expect(p.status()).toMatchObject({ started: 0, ready: 0 });
    const again = await mount([dev]);
    expect(Buffer.compare(await again.promises.readFile('/big'), KINDS.text!(2 * 1024 * 1024))).toBe(0);
    await again.unmount();
  });

  it('a pool is made by the first compressed write when the mount has none (chattr +c, property, defrag)', async () => {
    const { fs, files } = await freshFs(1);
    fs.options = { ...fs.options, compress: 'lzo', compressLevel: 1 };
    expect(fs.compressPool).toBeUndefined();
    startTransaction(fs);
    await writeFile(fs, fs.fsTree, files[0]!.ino, 0, KINDS.text!(1024 * 1024));
    await commitTransaction(fs);
    expect(fs.compressPool).toBeDefined();
    await fs.compressPool!.terminate();
  });

  it('terminate() waits for every worker thread to exit', async () => {
    const spawned: number[] = [];
    const exited: number[] = [];
    const p = pool({
      workers: 2,
      spawn: async () => {
        const port = await spawnCompressWorker();
        const n = spawned.push(spawned.length) - 1;
        // The real port's terminate() resolves with worker_threads' exit, once the thread is gone.
        return { ...port, terminate: async () => { await port.terminate(); exited.push(n); } };
      },
    });
    await p.start();
    expect(p.status().ready).toBe(2);
    await run(p, { codec: 'lzo', level: 1, sectorSize: 4096, heuristic: true, csum: 'crc32c' }, chunks());
    await p.terminate();
    expect(spawned).toHaveLength(2);
    expect(exited.sort()).toEqual([0, 1]);
    expect(p.status()).toMatchObject({ started: 0, ready: 0 });
  });
});

describe('compression pool: the built library in plain Node', () => {
  it('compresses on worker_threads from dist/ (compress.worker.js beside the pool), and a process that never unmounts still exits', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const { join } = await import('node:path');
    const { pathToFileURL } = await import('node:url');
    const { rm } = await import('node:fs/promises');
    const run = promisify(execFile);
    const dir = join(process.cwd(), '.cache', 'dist-pool-test');
    try {
      await run('node', ['scripts/build-lib.mjs'], { env: { ...process.env, BUTTERFS_DIST_DIR: dir } });
      const entry = pathToFileURL(join(dir, 'index.js')).href;
      // No unmount: idle workers must not keep the process alive.
      const script = `const m = await import(${JSON.stringify(entry)});
        const d = new m.MemoryDevice(128 * 1024 * 1024);
        await m.mkfs([d]);
        const fs = await m.mount([d], 'compress=zstd:1');
        await fs.info.compressPool.start();
        const text = new TextEncoder().encode('the copy on write filesystem keeps every block checksummed '.repeat(40000));
        await fs.promises.writeFile('/t', text);
        await fs.sync();
        const back = await fs.promises.readFile('/t');
        console.log(JSON.stringify({ same: Buffer.compare(back, text) === 0, pool: fs.info.compressPool.status() }));`;
      const { stdout } = await run('node', ['--input-type=module', '-e', script], { timeout: 30_000 });
      const out = JSON.parse(stdout) as { same: boolean; pool: { workers: number; ready: number; chunksInWorkers: number; disabledReason?: string } };
      expect(out.same).toBe(true);
      expect(out.pool.disabledReason).toBeUndefined();
      expect(out.pool.ready).toBe(out.pool.workers);
      expect(out.pool.chunksInWorkers).toBeGreaterThan(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

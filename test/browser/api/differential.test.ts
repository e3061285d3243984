// The differential suite (test/shared/differential.ts) in real Chromium, through the page client.
//
// The subject is butterfs as a web page uses it: connect() (a worker, comlink, the wire's
// handlers for errors, Stats/Dirent, buffers and FileHandle references) over OPFS, and over
// IndexedDB. "Remounts" close the connection and connect again: a new worker opens the same
// devices, so every remount is also a persistence check.
//
// The oracle is the same engine in-process in the page, on a MemoryDevice, under a two-level
// sandbox directory. Why that and not something else:
//  * node:fs does not exist here, and a fixture recorded from node:fs would go stale with every
//    change to the generator or the seeds;
//  * an independent in-memory POSIX model would be a second implementation of everything the
//    suite exercises (symlink walks, ELOOP, rename rules, hard links, error precedence): a large
//    new piece of code with its own bugs;
//  * POSIX semantics are already held to node:fs by the node project's differential (same
//    generator, same seeds, 24 seeds x 3000 ops pass). What the browser can break on top is the
//    boundary and the backends: values and errors crossing the worker, OPFS and IndexedDB
//    devices, the worker restart. In-process butterfs on memory is the reference for exactly
//    that, and any semantic bug shared by both sides is the node suite's to catch.
// Both sides are also checked by our checker at the end.
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type FilesystemClient } from '../../../src/worker/client.js';
import { MemoryDevice, mkfs, mount, type Filesystem } from '../../../src/index.js';
import { runDifferential, xattrExtra, type PromisesLike } from '../../shared/differential.js';
import { removeRun } from '../worker/cleanup.js';

const run = `wdiff${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
const SIZE = 128 << 20;
const idbDevices: string[] = [];
const OPS = Number((import.meta as unknown as { env: Record<string, string | undefined> }).env.VITE_BUTTERFS_DIFF_OPS ?? 1500);

afterAll(async () => {
  await removeRun(run, idbDevices);
});

const CASES: { backend: 'opfs' | 'idb'; seed: number }[] = [
  { backend: 'opfs', seed: 1 },
  { backend: 'opfs', seed: 2 },
  { backend: 'idb', seed: 3 },
];

describe('fs.promises differential: the client (worker) against the engine in-process', () => {
  for (const { backend, seed } of CASES) {
    const nodesize = seed % 2 === 1 ? 4096 : 16384;
    const mountOptions = seed % 3 === 0 ? 'max_inline=0' : '';
    it(`${backend}, seed ${seed}: ${OPS} ops, commits, worker restarts (nodesize ${nodesize}${mountOptions ? `, ${mountOptions}` : ''})`, async () => {
      const name = `${run}-${backend}-${seed}`;
      if (backend === 'idb') idbDevices.push(`${name}/dev1`);
      const open = () => connect({ name, backend, deviceSizeBytes: SIZE, mkfs: { nodesize }, mountOptions });
      let client: FilesystemClient = await open();
      const oracleDev = new MemoryDevice(SIZE);
      await mkfs([oracleDev], { nodesize });
      const oracle: Filesystem = await mount([oracleDev], mountOptions);
      const prefix = '/sandbox/root';
      await oracle.promises.mkdir(prefix, { recursive: true });
      try {
        const started = performance.now();
        const stats = await runDifferential({
          seed,
          ops: OPS,
          subject: () => ({ fs: client.promises as unknown as PromisesLike, prefix: '' }),
          oracle: { fs: oracle.promises as unknown as PromisesLike, prefix },
          commit: () => client.sync(),
          remount: async () => {
            await client.close();
            client = await open();
          },
          commitEvery: 100,
          remountEvery: 250,
          extra: xattrExtra,
        });
        console.log(`browser differential ${backend} seed ${seed}: ${stats.ops} ops (${stats.errors} expected errors, ${stats.commits} commits, ${stats.remounts} worker restarts) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
        expect(stats.remounts).toBeGreaterThan(0);
        expect((await client.check()).errors).toEqual([]);
        expect((await oracle.check()).errors).toEqual([]);
      } finally {
        await client.close();
        await oracle.unmount();
      }
    }, 300_000);
  }
});

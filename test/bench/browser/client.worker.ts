// The reference points of test/bench/browser/client.bench.ts, in a dedicated worker started the
// same way as the butterfs worker (module Worker, comlink, the butterfs wire installed):
//  * a bare MessagePort echo (postMessage ping-pong, the floor of any round trip);
//  * comlink calls that do nothing, return a Stats value or throw an FsError (comlink and the
//    wire's transfer handlers, without the engine);
//  * the engine in-process on a MemoryDevice, timed here (what one stat or small read costs the
//    engine itself, mutex included, with no boundary).
import * as Comlink from 'comlink';
import { mkfs, mount, type Filesystem } from '../../../src/api/filesystem.js';
import type { Stats } from '../../../src/api/stats.js';
import { MemoryDevice } from '../../../src/device/index.js';
import { FsError } from '../../../src/util/errors.js';
import { installWire } from '../../../src/worker/wire.js';
import '../../../src/worker/value-classes.js';

installWire('worker');

let fs: Filesystem | undefined;
let stats: Stats | undefined;
let plainStats: Record<string, unknown> | undefined;

async function engine(): Promise<Filesystem> {
  if (fs) return fs;
  const dev = new MemoryDevice(256 << 20);
  await mkfs([dev]);
  fs = await mount([dev]);
  await fs.promises.mkdir('/d');
  await fs.promises.writeFile('/d/f', new Uint8Array(1024).fill(7));
  stats = await fs.promises.stat('/d/f');
  plainStats = { ...stats };
  return fs;
}

const api = {
  /**
   * Serves a bare echo on `port` and on this worker's own port: a message `{ echo, n, stat }` is
   * posted back as is, or with a stat-shaped reply (a Stats as plain data) when `stat` is set.
   */
  echoOn(port: MessagePort): void {
    const answer = (to: MessagePort | typeof self) => (ev: MessageEvent<{ echo?: true; n: number; stat?: boolean }>) => {
      if (!ev.data?.echo) return;
      to.postMessage(ev.data.stat ? { echo: true, n: ev.data.n, r: plainStats } : ev.data);
    };
    port.onmessage = answer(port);
    self.addEventListener('message', answer(self));
  },
  async prepare(): Promise<void> {
    await engine();
  },
  noop(): undefined {
    return undefined;
  },
  stats(): Stats {
    return stats!;
  },
  fail(): never {
    throw new FsError('ENOENT', undefined, { syscall: 'stat', path: '/no/such' });
  },
  /** µs per call of the engine in-process (one at a time), median of `rounds` rounds of `calls`. */
  async engineMicros(what: 'stat' | 'readFile' | 'statMissing', calls: number, rounds: number): Promise<number> {
    const f = await engine();
    const one = what === 'stat'
      ? () => f.promises.stat('/d/f')
      : what === 'readFile'
        ? () => f.promises.readFile('/d/f')
        : () => f.promises.stat('/d/none').catch((e: unknown) => e);
    for (let i = 0; i < 200; i++) await one();
    const out: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      for (let i = 0; i < calls; i++) await one();
      out.push(((performance.now() - t0) * 1000) / calls);
    }
    return out.sort((a, b) => a - b)[Math.floor(rounds / 2)]!;
  },
};
export type ClientBenchWorkerApi = typeof api;
Comlink.expose(api);

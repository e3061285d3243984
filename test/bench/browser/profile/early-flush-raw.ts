// A workload for scripts/profile-in-chromium.mjs: raw OPFS, no engine. 256 MiB in 1 MiB writes
// into a sparse 1 GiB file, then one flush, alone ('plain') or with a second worker flushing its
// own 'readwrite-unsafe' handle of the same file every `every` MiB while the writes go on
// ('early'): what the engine's early writeback (fs/writeback.ts) rests on. The two alternate,
// `rounds` times. The writer's loop is synchronous, as a bench's raw side is, so the flusher's
// answers are read after it: a flush is asked for every `every` MiB whatever the flusher is doing
// (it makes them one after the other). Reports MB/s (writes + the final flush), the write and
// flush times, and each early flush as "start ms after the first write + duration ms".
// Args: { mb = 256, every = 32, rounds = 3 }.
const MiB = 1024 * 1024;

interface Handle {
  write(b: Uint8Array, o: { at: number }): number;
  truncate(n: number): void;
  flush(): void;
  close(): void;
}

const flusherSource = `
let h;
onmessage = async (e) => {
  if (e.data.file) {
    h = await e.data.file.createSyncAccessHandle({ mode: 'readwrite-unsafe' });
    postMessage({ ready: true });
    return;
  }
  if (e.data.close) {
    h.close();
    postMessage({ closed: true });
    return;
  }
  const t = performance.timeOrigin + performance.now();
  h.flush();
  postMessage({ start: t, ms: performance.timeOrigin + performance.now() - t });
};`;

/** Posts `message` to `w` and resolves with its next answer. */
function ask(w: Worker, message: unknown): Promise<unknown> {
  return new Promise((resolve) => {
    w.onmessage = (e) => resolve(e.data);
    w.postMessage(message);
  });
}

export async function run(args: { mb?: number; every?: number; rounds?: number }): Promise<Record<string, unknown>> {
  const bytes = (args.mb ?? 256) * MiB;
  const every = (args.every ?? 32) * MiB;
  const root = await navigator.storage.getDirectory();
  const chunk = new Uint8Array(MiB).map((_, i) => (i * 7) & 0xff);
  const out: Record<string, unknown[]> = { plain: [], early: [] };
  for (let round = 0; round < (args.rounds ?? 3); round++) {
    for (const mode of round % 2 ? ['early', 'plain'] : ['plain', 'early']) {
      const name = `early-flush-${Date.now()}-${mode}`;
      const fh = await root.getFileHandle(name, { create: true });
      const h = await (fh as unknown as { createSyncAccessHandle(o: object): Promise<Handle> }).createSyncAccessHandle({ mode: 'readwrite-unsafe' });
      h.truncate(1024 * MiB);
      h.flush();
      let flusher: Worker | undefined;
      const early: string[] = [];
      let asked = 0;
      if (mode === 'early') {
        flusher = new Worker(URL.createObjectURL(new Blob([flusherSource], { type: 'text/javascript' })));
        await ask(flusher, { file: fh });
      }
      const t0 = performance.now();
      const base = performance.timeOrigin + t0;
      const answered = new Promise<void>((resolve) => {
        if (!flusher) return resolve();
        flusher.onmessage = (e: MessageEvent<{ start: number; ms: number }>) => {
          early.push(`${Math.round(e.data.start - base)}+${Math.round(e.data.ms)}`);
          if (early.length === asked) resolve();
        };
      });
      let since = 0;
      for (let off = 0; off < bytes; off += MiB) {
        chunk[0] = off / MiB;
        h.write(chunk, { at: 128 * MiB + off });
        since += MiB;
        if (flusher && since >= every && off + MiB < bytes) {
          since = 0;
          asked++;
          flusher.postMessage({ flush: true });
        }
      }
      const t1 = performance.now();
      h.flush();
      const t2 = performance.now();
      if (flusher) {
        if (asked > 0) await answered;
        await ask(flusher, { close: true });
        flusher.terminate();
      }
      h.close();
      await root.removeEntry(name);
      out[mode]!.push({ MBps: Math.round(bytes / 1e3 / (t2 - t0)), writeMs: Math.round(t1 - t0), flushMs: Math.round(t2 - t1), early: early.join(' ') });
    }
  }
  return out;
}

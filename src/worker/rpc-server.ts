// The worker's half of the fast calls (protocol.ts, "fast calls"; the page's half is rpc.ts):
// fs.promises and FileHandle calls from this worker's own page, one message each way (or one
// for all the calls the page made in one turn of its event loop, and one for their answers).
//
// Why not comlink for these: a comlink call costs its generic machinery on both sides (a proxy per
// property on the page, each registered for finalization, a random string id, every argument
// and result offered to a dozen transfer handlers), and its rules for buffers copy the caller's
// buffer of a FileHandle.read out and back. These calls are the hot ones (a page that stats or
// reads thousands of files makes nothing else), so they get a message shaped for them; every
// other call (admin, check, scrub, streams of send/receive, opendir's Dir) stays on comlink.
//
// What crosses, and how, is what wire.ts states for comlink, with these differences:
//  * the buffer of FileHandle.read/readv is not sent: the engine reads into a scratch buffer of
//    the same length that the page lends (or a fresh array), which is moved back, and the page
//    copies the bytes read into the caller's buffer (one copy of what was read, where comlink
//    copied the whole buffer out and back) and keeps the scratch buffer for the next read;
//  * an argument array coming back in the result (FileHandle.write's { buffer }) is not sent
//    back: the page puts the caller's array in its place;
//  * a result array that views part of a larger buffer is copied (comlink moved the whole
//    underlying buffer);
//  * an object with methods in a result (the FileHandle of open()) is kept here in a table, under
//    a number the page calls it by; the page's object for it going away releases the entry.
import { PROMISES_METHODS } from '../api/promises-surface.js';
import { FsError } from '../util/errors.js';
import { parentOf, type ArgPatch, type FastBatch, type FastReplies, type FastReply, type FastRequest, type ResultPatch, type WirePath } from './protocol.js';
import {
  crossesByReference, errorToWire, isCloneableBuiltin, isPlain, isStream, isTransferableBytes, signalHandler, thrownToWire, valueClassOf,
} from './wire.js';

/** How deep arguments and results are walked ({ bytesRead, buffer }, readv's { buffers: [...] }). */
export const MAX_WALK_DEPTH = 3;

const PROMISES = new Set<string>(PROMISES_METHODS);

/** The answers to the requests of one FastBatch, sent together when the last one is ready. */
interface Batch {
  /** Calls of the batch not answered yet. */
  waiting: number;
  answers: Answer[];
}

interface Answer {
  reply: FastReply;
  transfer: Transferable[];
}

/** An argument array the worker received, by its patch number, and whether the engine fills it. */
interface Echo {
  index: number;
  out: boolean;
}

interface MessageEndpoint {
  postMessage(message: unknown, transfer: Transferable[]): void;
  addEventListener(type: 'message', listener: (ev: MessageEvent) => void): void;
}

type Views = Record<string, { new (buffer: ArrayBuffer, byteOffset?: number, length?: number): ArrayBufferView; BYTES_PER_ELEMENT?: number }>;
function viewConstructors(): Views {
  const g = globalThis as unknown as Record<string, unknown>;
  const out: Views = {};
  for (const name of ['Int8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'Float16Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array', 'DataView']) {
    if (typeof g[name] === 'function') out[name] = g[name] as Views[string];
  }
  return out;
}
const VIEWS = viewConstructors();

function viewAs(type: string, bytes: Uint8Array): ArrayBufferView {
  const C = VIEWS[type];
  if (!C) return bytes;
  const buffer = bytes.buffer as ArrayBuffer;
  return C.BYTES_PER_ELEMENT === undefined ? new C(buffer) : new C(buffer, 0, bytes.byteLength / C.BYTES_PER_ELEMENT);
}

export class FastCallServer {
  /** Objects with methods handed to the page (FileHandles), by the number the page knows them by. */
  private readonly handles = new Map<number, object>();
  private nextHandle = 1;

  /**
   * @param promises the mounted filesystem's fs.promises; throws when none is mounted.
   */
  constructor(private readonly endpoint: MessageEndpoint, private readonly promises: () => object) {
    endpoint.addEventListener('message', (ev: MessageEvent) => {
      const q = ev.data as FastRequest | FastBatch | null;
      if (q === null || typeof q !== 'object' || !('bfq' in q)) return;
      if (q.bfq === 'batch') {
        const batch: Batch = { waiting: 0, answers: [] };
        for (const one of q.q) this.receive(one, batch);
      } else {
        this.receive(q, undefined);
      }
    });
  }

  /** Forgets every handle (the filesystem was unmounted: they are closed by then). */
  clear(): void {
    this.handles.clear();
  }

  private receive(q: FastRequest, batch: Batch | undefined): void {
    if (q.bfq === 'release') {
      this.handles.delete(q.h);
      return;
    }
    const echoes = new Map<object, Echo>();
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(this.run(q, echoes));
    } catch (e) {
      result = Promise.reject(e);
    }
    if (batch) batch.waiting++;
    const failed = (e: unknown): Answer => ({ reply: { bfr: q.i, e: thrownToWire(e) }, transfer: [] });
    result.then(
      (value) => {
        let answer: Answer;
        try {
          answer = this.encodeReply(q.i, value, echoes);
        } catch (e) {
          answer = failed(e);
        }
        this.answer(answer, batch);
      },
      (e: unknown) => this.answer(failed(e), batch),
    );
  }

  /** Sends an answer now, or keeps it for its batch's message (sent when the batch's last call is done). */
  private answer(answer: Answer, batch: Batch | undefined): void {
    if (!batch) {
      this.post(answer.reply, answer.transfer, [answer]);
      return;
    }
    batch.answers.push(answer);
    batch.waiting--;
    if (batch.waiting === 0) this.flush(batch);
  }

  private flush(batch: Batch): void {
    const answers = batch.answers.splice(0);
    if (answers.length === 1) {
      this.post(answers[0]!.reply, answers[0]!.transfer, answers);
      return;
    }
    const transfer: Transferable[] = [];
    for (const a of answers) for (const t of a.transfer) if (!transfer.includes(t)) transfer.push(t);
    this.post({ bfb: answers.map((a) => a.reply) } satisfies FastReplies, transfer, answers);
  }

  /**
   * postMessage; when structured clone refuses the message (a function deep in a result), each
   * answer is sent alone and the ones it refuses fail as comlink reports it.
   */
  private post(message: FastReply | FastReplies, transfer: Transferable[], answers: Answer[]): void {
    try {
      this.endpoint.postMessage(message, transfer);
      return;
    } catch (e) {
      if (answers.length > 1) {
        for (const a of answers) this.post(a.reply, a.transfer, [a]);
        return;
      }
      const id = answers[0]!.reply.bfr;
      this.endpoint.postMessage({ bfr: id, e: thrownToWire(new TypeError('Unserializable return value', { cause: e })) } satisfies FastReply, []);
    }
  }

  private run(q: Extract<FastRequest, { i: number }>, echoes: Map<object, Echo>): unknown {
    let target: Record<string, unknown>;
    if (q.h === 0) {
      // Only the functions of node's fs.promises (the page sends no other name).
      if (q.bfq !== 'call' || !PROMISES.has(q.m)) throw new FsError('EINVAL', `fs.promises.${q.m} is not a fast call`);
      target = this.promises() as Record<string, unknown>;
    } else {
      const handle = this.handles.get(q.h);
      if (!handle) throw new FsError('EBADF', 'the handle was released');
      target = handle as Record<string, unknown>;
    }
    if (q.m === 'constructor') throw new FsError('EINVAL', 'constructor is not a member to call');
    const member = target[q.m];
    if (q.bfq === 'get') return member;
    if (typeof member !== 'function') throw new TypeError(`${q.m} is not a function`);
    const args = q.s ? this.patchArgs(q.a, q.s, echoes) : q.a;
    return (member as (...a: unknown[]) => unknown).apply(target, args);
  }

  /** Puts back what the page replaced in the arguments (protocol.ts ArgPatch). */
  private patchArgs(args: unknown[], patches: ArgPatch[], echoes: Map<object, Echo>): unknown[] {
    patches.forEach((patch, index) => {
      const { parent, key } = parentOf(args, patch.p);
      switch (patch.k) {
        case 'bytes':
          echoes.set(parent[key] as Uint8Array, { index, out: false });
          break;
        case 'out': {
          // The page's scratch buffer when it lent one (reused from read to read: see rpc.ts
          // ScratchPool), else a new array.
          const target = patch.b ? new Uint8Array(patch.b, 0, patch.n) : new Uint8Array(patch.n);
          parent[key] = target;
          echoes.set(target, { index, out: true });
          break;
        }
        case 'view': {
          const view = viewAs(patch.t, parent[key] as Uint8Array);
          parent[key] = view;
          echoes.set(view, { index, out: false });
          break;
        }
        case 'handle': {
          const handle = this.handles.get(patch.h);
          if (!handle) throw new FsError('EBADF', 'the handle was released');
          parent[key] = handle;
          break;
        }
        case 'signal':
          parent[key] = signalHandler.deserialize(patch.w);
          break;
      }
    });
    return args;
  }

  /** The answer for a result: the value to clone, with its patches and what moves with it. */
  private encodeReply(id: number, value: unknown, echoes: Map<object, Echo>): Answer {
    const patches: ResultPatch[] = [];
    const transfer: Transferable[] = [];
    const reply: FastReply = { bfr: id, r: this.walk(value, [], 0, patches, transfer, echoes) };
    if (patches.length > 0) reply.s = patches;
    return { reply, transfer };
  }

  /** The value to clone for `v`, with what the page must put back recorded in `patches`. */
  private walk(v: unknown, path: WirePath, depth: number, patches: ResultPatch[], transfer: Transferable[], echoes: Map<object, Echo>): unknown {
    if (v === null || typeof v !== 'object') return v;
    const echo = echoes.get(v);
    if (echo) {
      const patch: ResultPatch = { p: path, k: 'echo', a: echo.index };
      if (echo.out) {
        patch.b = v as Uint8Array;
        transfer.push((v as Uint8Array).buffer as ArrayBuffer);
      }
      patches.push(patch);
      return undefined;
    }
    if (isTransferableBytes(v)) {
      const buffer = v.buffer as ArrayBuffer;
      if (v.byteOffset === 0 && v.byteLength === buffer.byteLength) {
        if (!transfer.includes(buffer)) transfer.push(buffer);
        return v;
      }
      // A view of part of a larger buffer: a copy of exactly the view moves.
      const copy = new Uint8Array(v);
      transfer.push(copy.buffer);
      return copy;
    }
    const c = valueClassOf(v);
    if (c !== undefined) {
      patches.push({ p: path, k: 'class', c });
      return v;
    }
    if (v instanceof Error) {
      patches.push({ p: path, k: 'error', w: errorToWire(v) });
      return undefined;
    }
    if (isStream(v)) {
      transfer.push(v as unknown as Transferable);
      return v;
    }
    if (Array.isArray(v)) {
      const first = v.length > 0 ? valueClassOf(v[0]) : undefined;
      if (first !== undefined && v.every((m) => valueClassOf(m) === first)) {
        patches.push({ p: path, k: 'class', c: first, each: true });
        return v;
      }
      if (depth >= MAX_WALK_DEPTH) return v;
      let out: unknown[] | undefined;
      for (let i = 0; i < v.length; i++) {
        const m: unknown = v[i];
        if (m === null || typeof m !== 'object') continue;
        const w = this.walk(m, [...path, i], depth + 1, patches, transfer, echoes);
        if (w !== m) (out ??= v.slice())[i] = w;
      }
      return out ?? v;
    }
    if (isPlain(v)) {
      if (depth >= MAX_WALK_DEPTH) return v;
      let out: Record<string, unknown> | undefined;
      for (const key of Object.keys(v)) {
        const m = (v as Record<string, unknown>)[key];
        if (m === null || typeof m !== 'object') continue;
        const w = this.walk(m, [...path, key], depth + 1, patches, transfer, echoes);
        if (w !== m) (out ??= { ...(v as Record<string, unknown>) })[key] = w;
      }
      return out ?? v;
    }
    if (isCloneableBuiltin(v)) return v;
    if (crossesByReference(v)) {
      const h = this.nextHandle++;
      this.handles.set(h, v);
      patches.push({ p: path, k: 'handle', h });
      return undefined;
    }
    return v;
  }
}

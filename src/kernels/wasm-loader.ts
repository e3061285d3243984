// Instantiates a WebAssembly kernel from src/kernels/wasm/ (built from asm/ by
// scripts/build-asm.mjs) the same way in every place butterfs runs.
//
// Owns: turning a kernel's URL into an instance. The caller writes
// `new URL('./wasm/<name>.wasm', import.meta.url)` itself, in its own module, because
// that literal is the pattern Vite recognises and rewrites to the served or emitted
// asset; a URL built here from a variable name would not be bundled.
//
//  * Node (vitest's node project, and plain Node importing the tsc-emitted dist/):
//    the URL is file:, and fetch() cannot read file: URLs, so the bytes come from
//    node:fs/promises. The specifier is a variable so that Vite, bundling for the
//    browser, neither resolves nor bundles a node: module it could not use.
//  * Browser and worker: fetch, then instantiate from the bytes (not
//    instantiateStreaming, which insists on an application/wasm content type that not
//    every static server sends; data: URLs that Vite inlines for small assets work too).
//
// Kernels have no imports (asm/asconfig.json: runtime stub, abort=), so the import
// object is empty; a module that has some (libzstd's, in zstd.ts) passes them.

export async function instantiateKernel(url: URL, imports: WebAssembly.Imports = {}): Promise<WebAssembly.Instance> {
  let bytes: ArrayBuffer;
  if (url.protocol === 'file:') {
    const specifier = 'node:fs/promises';
    const fs = (await import(/* @vite-ignore */ specifier)) as typeof import('node:fs/promises');
    // A copy into a plain ArrayBuffer: a Buffer may be a view into node's shared pool.
    bytes = new Uint8Array(await fs.readFile(url)).buffer;
  } else {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`kernel ${url.href}: HTTP ${response.status} ${response.statusText}`);
    bytes = await response.arrayBuffer();
  }
  const { instance } = await WebAssembly.instantiate(bytes, imports);
  return instance;
}

export const WASM_PAGE_BYTES = 65536;

/** What every butterfs kernel exports: its memory and where its scratch area starts. */
export interface KernelExports {
  memory: WebAssembly.Memory;
  inputBase(): number;
}

/**
 * One kernel instance with its scratch memory: loaded once (concurrent and later loads share
 * the promise; a failed load may be retried), then used synchronously. `scratch(bytes)` makes
 * [scratchBase, scratchBase + bytes) addressable, growing memory within the caller's bound,
 * and keeps `heap` (a view of memory, replaced when memory grows) current.
 */
export class WasmKernel<E extends KernelExports> {
  private exports: E | undefined;
  private loading: Promise<void> | undefined;
  /** Start of the scratch area in wasm memory, fixed by the module's static data. */
  scratchBase = 0;
  /** View of the kernel's memory; replaced when memory grows (the old buffer detaches). */
  heap = new Uint8Array(0);

  constructor(
    readonly name: string,
    /** Passed as a thunk so the `new URL('./wasm/x.wasm', import.meta.url)` literal stays in the caller's module for Vite. */
    private readonly url: () => URL,
    /** Exported functions the kernel must have. */
    private readonly required: readonly (keyof E & string)[],
    /** Scratch bytes to make addressable at load. */
    private readonly initialScratchBytes = 0,
  ) {}

  load(): Promise<void> {
    this.loading ??= (async () => {
      const instance = await instantiateKernel(this.url());
      const exports = instance.exports as unknown as E;
      if (!(exports.memory instanceof WebAssembly.Memory)) throw new Error(`${this.name} kernel exports no memory`);
      for (const fn of this.required) {
        if (typeof exports[fn] !== 'function') throw new Error(`${this.name} kernel lacks ${fn}`);
      }
      const base = exports.inputBase();
      if (!(base > 0 && base % 64 === 0)) throw new Error(`${this.name} kernel scratch base ${base} misaligned`);
      this.scratchBase = base;
      this.exports = exports;
      this.scratch(this.initialScratchBytes);
    })().catch((e: unknown) => {
      // Let a later call try again (a transient fetch failure must not poison the module),
      // and hand the error to this caller.
      this.loading = undefined;
      this.exports = undefined;
      throw e;
    });
    return this.loading;
  }

  get loaded(): boolean {
    return this.exports !== undefined;
  }

  /** The loaded kernel; an assertion failure when used before load() resolved. */
  get kernel(): E {
    if (this.exports === undefined) throw new Error(`${this.name} kernel used before the kernels were loaded`);
    return this.exports;
  }

  /** The kernel, with [scratchBase, scratchBase + bytes) addressable and `heap` current. */
  scratch(bytes: number): E {
    const k = this.kernel;
    const needBytes = this.scratchBase + bytes;
    const haveBytes = k.memory.buffer.byteLength;
    if (needBytes > haveBytes) k.memory.grow(Math.ceil((needBytes - haveBytes) / WASM_PAGE_BYTES));
    if (this.heap.buffer !== k.memory.buffer) this.heap = new Uint8Array(k.memory.buffer);
    return k;
  }
}

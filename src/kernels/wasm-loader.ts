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
// object is empty.

export async function instantiateKernel(url: URL): Promise<WebAssembly.Instance> {
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
  const { instance } = await WebAssembly.instantiate(bytes, {});
  return instance;
}

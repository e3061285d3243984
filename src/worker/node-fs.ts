// A node-like `fs` object over a page client, for libraries written for node's fs that take one
// (isomorphic-git's `{ fs }`, and any library that duck-types `fs.promises`).
//
// Why the client itself cannot be passed: it is a Proxy that turns every property path into a
// remote call (client.ts), so it answers to any name. Duck typing asks questions it cannot answer
// truthfully: isomorphic-git looks for `fs._original_unwrapped_fs` (the client says "yes, a
// function"), reads own property descriptors (a Proxy over a function has none), and calls
// `fs.readFile.bind(fs)` (on the client, `bind` is one more remote name). This object has exactly
// the members node's fs has, as plain functions and data: `promises` (an own enumerable property,
// holding every fs.promises function, each a plain async function that forwards to the client, and
// `constants`) and `constants`. Results are what the client returns: Stats and Dirent with their
// methods, FsError with node's code, errno, syscall and path, FileHandle as a remote reference.
import { constants, PROMISES_METHODS, type PromisesMethod } from '../api/promises-surface.js';
import type { FilesystemClient } from './types.js';

/** The functions of `client.promises`, as plain functions, plus node's constants. */
export type NodeFsPromises = Pick<FilesystemClient['promises'], PromisesMethod> & { readonly constants: typeof constants };

/** What `nodeFs()` returns: `{ promises, constants }`, as node's `fs` module has them. */
export interface NodeFs {
  readonly promises: NodeFsPromises;
  readonly constants: typeof constants;
}

/**
 * A node-like fs over a client from `connect()`: `git.init({ fs: nodeFs(client), dir })`.
 * The functions call the client at call time, so they follow it (a takeover by this tab, a
 * closed connection rejecting with EIO) as the client does.
 */
export function nodeFs(client: FilesystemClient): NodeFs {
  const remote = client.promises as unknown as Record<PromisesMethod, (...args: unknown[]) => Promise<unknown>>;
  const promises: Record<string, unknown> = {};
  for (const name of PROMISES_METHODS) {
    // A named function expression per method: plain `bind`, `call`, `name` and `length` behave as
    // on node's functions (detached use works: `const { readFile } = fs.promises`).
    const forward = { [name]: (...args: unknown[]) => remote[name](...args) }[name]!;
    Object.defineProperty(promises, name, { value: forward, enumerable: true });
  }
  Object.defineProperty(promises, 'constants', { value: constants, enumerable: true });
  return Object.freeze({ promises: Object.freeze(promises) as unknown as NodeFsPromises, constants });
}

// Assertions are for programmer errors: states the code must never reach. They throw
// an AssertionError that nobody catches. Operating errors (bad input, I/O, corruption)
// are FsErrors instead (util/errors.ts).

export class AssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AssertionError';
  }
}

/** `message` may be a function: hot paths then build their message only when it is needed. */
export function assert(condition: unknown, message: string | (() => string) = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionError(typeof message === 'function' ? message() : message);
}

export function unreachable(what: never | string): never {
  throw new AssertionError(`unreachable: ${String(what)}`);
}

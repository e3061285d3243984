// Assertions are for programmer errors: states the code must never reach. They throw
// an AssertionError that nobody catches. Operating errors (bad input, I/O, corruption)
// are FsErrors instead (util/errors.ts).

export class AssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AssertionError';
  }
}

export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function unreachable(what: never | string): never {
  throw new AssertionError(`unreachable: ${String(what)}`);
}

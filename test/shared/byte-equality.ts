// Setup file of both test projects (vite.config.ts): toEqual on two byte arrays of the same
// kind compares their bytes in one loop. vitest's generic deep equality walks a typed array
// element by element through its full comparison machinery, about six seconds per MiB on the CI
// machine: it had made a few file-content comparisons the slowest tests of the suite.
// Different kinds (a Buffer against a Uint8Array) still go through the generic walk, so what
// toEqual accepts does not change.
import { expect } from 'vitest';

function sameBytes(a: unknown, b: unknown): boolean | undefined {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array)) return undefined;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return undefined;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

expect.addEqualityTesters([sameBytes]);

// Fast byte comparison for device tests: vitest's deep equality walks typed arrays element by
// element with heavy machinery, which made a crash-point sweep take seconds per MiB.
import { expect } from 'vitest';

/** Index of the first differing byte, or -1 (lengths must match). */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

export function expectBytes(actual: Uint8Array, expected: Uint8Array, what = 'bytes'): void {
  const at = firstDifference(actual, expected);
  if (at >= 0) {
    expect.fail(`${what}: differ at byte ${at} (lengths ${actual.length} / ${expected.length}; ${actual[at]} != ${expected[at]})`);
  }
}

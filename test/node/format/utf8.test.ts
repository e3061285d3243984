import { describe, expect, it } from 'vitest';
import { utf8Encode } from '../../../src/util/utf8.js';

describe('utf8Encode', () => {
  const encoder = new TextEncoder();
  const cases = [
    '', 'a', 'f1234', '.', '..', 'x'.repeat(254), 'y'.repeat(255), 'z'.repeat(256), 'q'.repeat(5000),
    '\u007f', '\u0080', 'é', 'caf\u00e9', '日本語', 'a\u{1f600}b', 'lone\ud800', '\udc00x', 'x'.repeat(254) + 'é',
    '\0nul', 'tab\tnew\nline',
  ];
  it('makes the bytes TextEncoder makes, short ASCII in JS and the rest through it', () => {
    for (const s of cases) expect([...utf8Encode(s)], JSON.stringify(s)).toEqual([...encoder.encode(s)]);
  });
  it('returns a fresh array each call (callers keep and change them)', () => {
    const a = utf8Encode('name');
    const b = utf8Encode('name');
    a[0] = 0;
    expect(b[0]).toBe(0x6e);
  });
});

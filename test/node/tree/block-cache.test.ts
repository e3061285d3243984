import { describe, expect, it } from 'vitest';
import { BlockCache } from '../../../src/tree/block-cache.js';
import { ExtentBuffer } from '../../../src/tree/extent-buffer.js';

const block = (bytenr: number) => new ExtentBuffer(bytenr, new Uint8Array(4096));

describe('block cache', () => {
  it('never holds more than its cap, and keeps recently used blocks (second chance)', () => {
    const cache = new BlockCache(10 * 4096);
    for (let i = 0; i < 10; i++) cache.put(block(i * 4096));
    expect(cache.sizeBytes).toBe(10 * 4096);
    // Touch block 0 and 1: they survive the next insertions, the untouched oldest go.
    cache.get(0);
    cache.get(4096);
    cache.put(block(100 * 4096));
    cache.put(block(101 * 4096));
    expect(cache.sizeBytes).toBe(10 * 4096);
    expect(cache.get(0)).toBeDefined();
    expect(cache.get(4096)).toBeDefined();
    expect(cache.get(2 * 4096)).toBeUndefined();
    expect(cache.get(3 * 4096)).toBeUndefined();
    for (let i = 0; i < 1000; i++) cache.put(block((200 + i) * 4096));
    expect(cache.size).toBe(10);
    expect(cache.hits).toBe(4);
  });

  it('replaces a block put twice and forgets deleted ones', () => {
    const cache = new BlockCache(4 * 4096);
    const a = block(0);
    const b = block(0);
    cache.put(a);
    cache.put(b);
    expect(cache.get(0)).toBe(b);
    expect(cache.sizeBytes).toBe(4096);
    cache.delete(0);
    expect(cache.get(0)).toBeUndefined();
    expect(cache.sizeBytes).toBe(0);
  });
});

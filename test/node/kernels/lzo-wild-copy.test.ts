// The LZO kernel copies literals and matches 16 bytes at a time (asm/lzo.ts wildCopy),
// overshooting the exact length by up to 15 bytes. These tests drive the wasm exports
// directly, with sentinel bytes around every buffer, to pin down where the overshoot may
// land: never on the input, never past the output room the kernel asks for
// (lzoCompressBound, lzo1xCompressBound), and, when decompressing, never past outCap.
// Every output must still decode to its input, over lengths 0 .. 128 KiB + 1 and inputs
// from incompressible to all-matches.
import { describe, expect, it } from 'vitest';
import { instantiateKernel } from '../../../src/kernels/wasm-loader.js';
import { lzo1xCompressRaw, lzo1xDecompressRaw, lzo1xWorstCompress } from '../../../src/kernels/lzo.js';
import { compressRaw, decompress, loadCompressionKernels } from '../../../src/kernels/compression.js';
import { mulberry32 } from '../../shared/rng.js';
import { KINDS, bytesEqual } from './compress-corpus.js';

interface Lzo {
  memory: WebAssembly.Memory;
  inputBase(): number;
  lzo1xCompress(src: number, n: number, dst: number): number;
  lzo1xCompressBound(n: number): number;
  lzo1xDecompress(src: number, n: number, dst: number, outCap: number): number;
  lzoCompressBound(n: number, sectorSize: number): number;
  lzoCompressExtent(src: number, n: number, dst: number, sectorSize: number): number;
  lzoDecompressExtent(src: number, n: number, dst: number, ramBytes: number, sectorSize: number): number;
}

const SENTINEL = 0xa5;
/** The kernel's copies overshoot by at most 15 bytes (asm/lzo.ts WILD_COPY_SLACK is 16). */
const OVERSHOOT = 15;
const GUARD = 256;
const MAX_EXTENT = 128 * 1024;
const BTRFS_E2BIG = -7;

async function kernel(): Promise<Lzo> {
  const instance = await instantiateKernel(new URL('../../../src/kernels/wasm/lzo.wasm', import.meta.url));
  const k = instance.exports as unknown as Lzo;
  k.memory.grow(16); // room for input, output, a decompression target and guards
  return k;
}

const align64 = (n: number): number => (n + 63) & ~63;

/** Inputs that exercise literal runs of every length, short and long distances, and none. */
function makeInput(kind: number, len: number, rand: () => number): Uint8Array {
  const out = new Uint8Array(len);
  const byte = (): number => (rand() * 256) | 0;
  switch (kind) {
    case 0: // incompressible
      for (let i = 0; i < len; i++) out[i] = byte();
      break;
    case 1: { // literal-heavy: random bytes, now and then a short copy from close behind
      for (let i = 0; i < len;) {
        if (i > 64 && rand() < 0.08) {
          const dist = 1 + ((rand() * Math.min(i, 3000)) | 0);
          const n = Math.min(len - i, 4 + ((rand() * 12) | 0));
          for (let j = 0; j < n; j++, i++) out[i] = out[i - dist]!;
        } else {
          out[i++] = byte();
        }
      }
      break;
    }
    case 2: { // a short period (overlapping match copies, distances 1..40)
      const period = 1 + ((rand() * 40) | 0);
      for (let i = 0; i < len; i++) out[i] = i < period ? byte() : out[i - period]!;
      break;
    }
    case 3: // text
      out.set(KINDS.text!(len));
      break;
    default: { // text with random bytes sprinkled in, so literal runs of every length meet matches
      out.set(KINDS.source!(len));
      const rate = rand() * 0.3;
      for (let i = 0; i < len; i++) if (rand() < rate) out[i] = byte();
    }
  }
  return out;
}

/** Fills [from, to) with the sentinel. */
function poison(heap: Uint8Array, from: number, to: number): void {
  heap.fill(SENTINEL, from, to);
}

function untouched(heap: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (heap[i] !== SENTINEL) return false;
  return true;
}

function sameBytes(heap: Uint8Array, at: number, want: Uint8Array): boolean {
  for (let i = 0; i < want.length; i++) if (heap[at + i] !== want[i]) return false;
  return true;
}

function lengths(rand: () => number, max: number, count: number): number[] {
  const edge = [1, 2, 3, 4, 5, 15, 16, 17, 20, 21, 22, 31, 32, 33, 255, 256, 4095, 4096, 4097, 8191, 8192, 65535, 65536, max - 1, max];
  const out = [...edge];
  for (let i = 0; i < count; i++) out.push(1 + ((rand() * max) | 0));
  return out.filter((n) => n >= 1 && n <= max);
}

describe('lzo kernel: 16-byte copies stay inside their buffers', () => {
  it('extent compression: input unchanged, nothing written past lzoCompressBound, round trip exact', async () => {
    const k = await kernel();
    const heap = new Uint8Array(k.memory.buffer);
    const base = k.inputBase();
    const rand = mulberry32(0x1a70);
    let cases = 0;
    for (const sectorSize of [4096, 65536]) {
      for (const len of lengths(rand, MAX_EXTENT, sectorSize === 4096 ? 120 : 30)) {
        const kind = cases % 5;
        const input = makeInput(kind, len, rand);
        const what = `sector ${sectorSize}, kind ${kind}, ${len} bytes (case ${cases})`;
        cases++;
        const dst = base + align64(len);
        const bound = k.lzoCompressBound(len, sectorSize);
        poison(heap, base, dst + bound + GUARD);
        heap.set(input, base);
        const got = k.lzoCompressExtent(base, len, dst, sectorSize);
        expect(sameBytes(heap, base, input), `input changed: ${what}`).toBe(true);
        expect(untouched(heap, base + len, dst), `padding after the input written: ${what}`).toBe(true);
        expect(untouched(heap, dst + bound, dst + bound + GUARD), `write past the bound: ${what}`).toBe(true);
        if (got === BTRFS_E2BIG) {
          expect(kind === 0 || kind === 1 || kind === 4, `gave up on ${what}`).toBe(true);
          continue;
        }
        expect(got, what).toBeGreaterThan(4);
        expect(got, what).toBeLessThanOrEqual(bound);
        expect(untouched(heap, dst + got + OVERSHOOT, dst + bound), `overshoot past ${OVERSHOOT} bytes: ${what}`).toBe(true);
        // Decompress from a copy with exact room (ramBytes + one segment's worst case).
        const framed = heap.slice(dst, dst + got);
        const out = dst + align64(bound);
        const room = len + lzo1xWorstCompress(sectorSize);
        poison(heap, base, out + room + GUARD);
        heap.set(framed, base);
        const back = k.lzoDecompressExtent(base, got, out, len, sectorSize);
        expect(back, what).toBe(len);
        expect(sameBytes(heap, base, framed), `compressed input changed: ${what}`).toBe(true);
        expect(sameBytes(heap, out, input), `round trip: ${what}`).toBe(true);
        expect(untouched(heap, out + room, out + room + GUARD), `decompression wrote past its room: ${what}`).toBe(true);
      }
    }
    expect(cases).toBeGreaterThan(150);
  });

  it('raw LZO1X: lengths 0 .. 128 KiB + 1, nothing written past lzo1xCompressBound or outCap', async () => {
    const k = await kernel();
    const heap = new Uint8Array(k.memory.buffer);
    const base = k.inputBase();
    const rand = mulberry32(0x1a71);
    const all = [0, ...lengths(rand, MAX_EXTENT + 1, 100)];
    all.forEach((len, i) => {
      const kind = i % 5;
      const input = makeInput(kind, len, rand);
      const what = `kind ${kind}, ${len} bytes (case ${i})`;
      const dst = base + align64(len);
      const bound = k.lzo1xCompressBound(len);
      expect(bound, what).toBeGreaterThanOrEqual(lzo1xWorstCompress(len));
      poison(heap, base, dst + bound + GUARD);
      heap.set(input, base);
      const got = k.lzo1xCompress(base, len, dst);
      expect(sameBytes(heap, base, input), `input changed: ${what}`).toBe(true);
      expect(untouched(heap, dst + bound, dst + bound + GUARD), `write past the bound: ${what}`).toBe(true);
      expect(got, what).toBeLessThanOrEqual(lzo1xWorstCompress(len));
      expect(untouched(heap, dst + got + OVERSHOOT, dst + bound), `overshoot past ${OVERSHOOT} bytes: ${what}`).toBe(true);
      // Only the empty stream (just the end marker 17 0 0) starts with 17; Linux reads a
      // leading 17 in a longer stream as an LZO-RLE version marker.
      if (len > 0) expect(heap[dst], `a stream never starts with 17: ${what}`).not.toBe(17);
      expect([...heap.subarray(dst + got - 3, dst + got)], what).toEqual([0x11, 0, 0]);
      // Decompress with outCap exactly the length: the overshoot must stop at outCap.
      const stream = heap.slice(dst, dst + got);
      const out = base + align64(got);
      poison(heap, base, out + len + GUARD);
      heap.set(stream, base);
      const back = k.lzo1xDecompress(base, got, out, len);
      expect(back, what).toBe(len);
      expect(sameBytes(heap, out, input), `round trip: ${what}`).toBe(true);
      expect(untouched(heap, out + len, out + len + GUARD), `decompression wrote past outCap: ${what}`).toBe(true);
    });
  });

  it('the JS glue round-trips the same inputs (extent and raw)', async () => {
    await loadCompressionKernels();
    const rand = mulberry32(0x1a72);
    for (const len of lengths(rand, MAX_EXTENT, 40)) {
      const input = makeInput(len % 5, len, rand);
      const framed = compressRaw('lzo', input, 1);
      if (framed !== null) expect(bytesEqual(decompress('lzo', framed, len), input), `extent, ${len} bytes`).toBe(true);
      expect(bytesEqual(lzo1xDecompressRaw(lzo1xCompressRaw(input), len), input), `raw, ${len} bytes`).toBe(true);
    }
  });
});

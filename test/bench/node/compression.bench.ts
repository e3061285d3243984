// Compression throughput per codec and level on 128 KiB extents (one btrfs extent per
// call), butterfs's implementation against the libraries it was chosen over, in one run.
// MB/s = hz * corpus bytes / 10^6, corpus bytes being the uncompressed input of one
// iteration (the same for compress and decompress). Ratios are printed once at start.
// docs/benchmarks.md ("Compression kernels") has the figures and the command.
import { deflateSync, inflateSync } from 'node:zlib';
import { compress as bokuwebCompress, decompress as bokuwebDecompress } from '@bokuweb/zstd-wasm';
import foxglove from '@foxglove/wasm-zstd';
import { unzlibSync, zlibSync } from 'fflate';
import * as pako from 'pako';
import { bench, describe } from 'vitest';
import { compressRaw, decompress, heuristic, loadCompressionKernels, type CompressionName } from '../../../src/kernels/compression.js';
import { lzo1xCompressRaw, lzo1xDecompressRaw } from '../../../src/kernels/lzo.js';
import { EXTENT_BYTES, KINDS } from '../../node/kernels/compress-corpus.js';

await loadCompressionKernels();
await foxglove.isLoaded;

/** Compressible kinds only: random and already-compressed data never reach a codec (heuristic). */
const EXTENTS = ['text', 'json', 'source', 'zeros'].map((k) => KINDS[k]!(EXTENT_BYTES));
const CORPUS_BYTES = EXTENTS.length * EXTENT_BYTES;
const OPTIONS = { time: 1500, warmupTime: 200 };
let sink = 0;

function ratio(codec: CompressionName, level: number): string {
  let out = 0;
  for (const e of EXTENTS) out += compressRaw(codec, e, level)?.length ?? EXTENT_BYTES;
  return (CORPUS_BYTES / out).toFixed(2);
}
const ratios: string[] = [];
for (const level of [1, 3, 6, 9]) ratios.push(`zlib:${level} ${ratio('zlib', level)}`);
ratios.push(`lzo ${ratio('lzo', 1)}`);
for (const level of [-5, 1, 3, 9, 15]) ratios.push(`zstd:${level} ${ratio('zstd', level)}`);
console.log(`compression ratios on ${CORPUS_BYTES} bytes (text, json, source, zeros; 128 KiB extents): ${ratios.join(', ')}`);

describe('heuristic, 4 x 128 KiB', () => {
  const all = [...EXTENTS, KINDS.random!(EXTENT_BYTES), KINDS.compressed!(EXTENT_BYTES)];
  bench('butterfs heuristic() (AS kernel)', () => {
    for (const e of all) sink ^= heuristic(e) ? 1 : 0;
  }, OPTIONS);
});

describe('lzo compress, 4 x 128 KiB', () => {
  bench('butterfs lzo (AS kernel, btrfs framing, one call per extent)', () => {
    for (const e of EXTENTS) sink ^= compressRaw('lzo', e, 1)!.length;
  }, OPTIONS);
  bench('butterfs raw LZO1X (AS kernel, no framing)', () => {
    for (const e of EXTENTS) sink ^= lzo1xCompressRaw(e).length;
  }, OPTIONS);
});

describe('lzo decompress, 4 x 128 KiB', () => {
  const framed = EXTENTS.map((e) => compressRaw('lzo', e, 1)!);
  const raw = EXTENTS.map((e) => lzo1xCompressRaw(e));
  bench('butterfs lzo (AS kernel, btrfs framing)', () => {
    for (const f of framed) sink ^= decompress('lzo', f, EXTENT_BYTES)[7]!;
  }, OPTIONS);
  bench('butterfs raw LZO1X (AS kernel, no framing)', () => {
    for (const r of raw) sink ^= lzo1xDecompressRaw(r, EXTENT_BYTES)[7]!;
  }, OPTIONS);
});

for (const level of [1, 3, 6, 9]) {
  describe(`zlib:${level} compress, 4 x 128 KiB`, () => {
    bench('butterfs (fflate)', () => {
      for (const e of EXTENTS) sink ^= compressRaw('zlib', e, level)!.length;
    }, OPTIONS);
    bench('fflate zlibSync', () => {
      for (const e of EXTENTS) sink ^= zlibSync(e, { level: level as 1 }).length;
    }, OPTIONS);
    bench('pako deflate', () => {
      for (const e of EXTENTS) sink ^= pako.deflate(e, { level: level as 1 }).length;
    }, OPTIONS);
    bench('node:zlib deflateSync (native; not in browsers)', () => {
      for (const e of EXTENTS) sink ^= deflateSync(e, { level }).length;
    }, OPTIONS);
  });
}

describe('zlib decompress (level 3 streams), 4 x 128 KiB', () => {
  const streams = EXTENTS.map((e) => compressRaw('zlib', e, 3)!);
  bench('butterfs (fflate into a ram_bytes buffer)', () => {
    for (const s of streams) sink ^= decompress('zlib', s, EXTENT_BYTES)[7]!;
  }, OPTIONS);
  bench('fflate unzlibSync', () => {
    for (const s of streams) sink ^= unzlibSync(s)[7]!;
  }, OPTIONS);
  bench('pako inflate', () => {
    for (const s of streams) sink ^= pako.inflate(s)[7]!;
  }, OPTIONS);
  bench('node:zlib inflateSync (native; not in browsers)', () => {
    for (const s of streams) sink ^= inflateSync(s)[7]!;
  }, OPTIONS);
});

for (const level of [-5, 1, 3, 9, 15]) {
  describe(`zstd:${level} compress, 4 x 128 KiB`, () => {
    bench('butterfs (libzstd wasm of @foxglove/wasm-zstd, our glue)', () => {
      for (const e of EXTENTS) sink ^= compressRaw('zstd', e, level)!.length;
    }, OPTIONS);
    bench('@foxglove/wasm-zstd compress direct (its CommonJS glue, Node Buffer)', () => {
      for (const e of EXTENTS) sink ^= foxglove.compress(e, level).length;
    }, OPTIONS);
    bench('@bokuweb/zstd-wasm compress direct', () => {
      for (const e of EXTENTS) sink ^= bokuwebCompress(e, level).length;
    }, OPTIONS);
  });
}

describe('zstd decompress (level 3 frames), 4 x 128 KiB', () => {
  const frames = EXTENTS.map((e) => compressRaw('zstd', e, 3)!);
  bench('butterfs (frame walk + libzstd wasm, bounded)', () => {
    for (const f of frames) sink ^= decompress('zstd', f, EXTENT_BYTES)[7]!;
  }, OPTIONS);
  bench('@bokuweb/zstd-wasm decompress direct', () => {
    for (const f of frames) sink ^= bokuwebDecompress(f)[7]!;
  }, OPTIONS);
});

export { sink };

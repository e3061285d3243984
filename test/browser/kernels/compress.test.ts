// The compression kernels in real Chromium: the lzo and heuristic .wasm load through
// Vite's `new URL('./wasm/x.wasm', import.meta.url)`, libzstd's .wasm through its package,
// fflate as bundled. Same corpus and round trips as the node tests.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  compress, compressRaw, compressionKernelsLoaded, decompress, heuristicDetail, loadCompressionKernels,
  type CompressionName,
} from '../../../src/kernels/compression.js';
import { zstdFrameInfo } from '../../../src/kernels/zstd.js';
import { FsError } from '../../../src/util/errors.js';
import { EXTENT_BYTES, KINDS, bytesEqual, corpus } from '../../node/kernels/compress-corpus.js';

beforeAll(async () => {
  await Promise.all([loadCompressionKernels(), loadCompressionKernels()]);
});

const CODEC_LEVELS: [CompressionName, number[]][] = [['lzo', [1]], ['zlib', [1, 3, 9]], ['zstd', [-5, 1, 3, 15]]];

describe('compression kernels in Chromium', () => {
  it('runs in a browser, not in node', () => {
    expect(typeof window).toBe('object');
    expect(compressionKernelsLoaded()).toBe(true);
  });

  it('round-trips every codec on the corpus', () => {
    for (const [codec, levels] of CODEC_LEVELS) {
      for (const level of levels) {
        for (const { name, data } of corpus().filter((e) => e.data.length > 0)) {
          const raw = compressRaw(codec, data, level);
          if (raw === null) continue;
          expect(bytesEqual(decompress(codec, raw, data.length), data), `${codec}:${level} ${name}`).toBe(true);
        }
      }
      expect(compress(codec, KINDS.text!(EXTENT_BYTES), 0)).not.toBeNull();
      expect(compress(codec, KINDS.random!(EXTENT_BYTES), 0)).toBeNull();
    }
  });

  it('writes zstd frames within the btrfs window', () => {
    const info = zstdFrameInfo(compressRaw('zstd', KINDS.source!(EXTENT_BYTES), 3)!);
    expect(info.contentSize).toBe(EXTENT_BYTES);
    expect(info.windowBytes).toBeLessThanOrEqual(1 << 17);
  });

  it('corrupt input is EIO', () => {
    for (const [codec] of CODEC_LEVELS) {
      const raw = compressRaw(codec, KINDS.json!(20000), 0)!;
      expect(() => decompress(codec, raw.subarray(0, 5), 20000), codec).toThrow(FsError);
    }
  });

  it('runs the heuristic', () => {
    expect(heuristicDetail(KINDS.text!(EXTENT_BYTES)).compress).toBe(true);
    expect(heuristicDetail(KINDS.random!(EXTENT_BYTES)).reason).toBe('core-set-high');
  });
});

describe('compression kernels in a module worker', () => {
  it('load and round-trip there', async () => {
    const worker = new Worker(new URL('./compress.worker.ts', import.meta.url), { type: 'module' });
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('worker did not answer in 30 s')), 30_000);
        worker.onmessage = (e: MessageEvent<string>) => { clearTimeout(timer); resolve(e.data); };
        worker.onerror = (e) => { clearTimeout(timer); reject(new Error(e.message)); };
        worker.postMessage('go');
      });
      expect(answer).toBe('lzo:ok zlib:ok zstd:ok heuristic:ok');
    } finally {
      worker.terminate();
    }
  });
});

// The compress bench's text (test/bench/browser/compress.bench.ts), also the profiling
// workload's (test/bench/browser/profile/compressed-write.ts).
import { rng } from './files-workloads.js';

const WORDS = ['btrfs', 'extent', 'inode', 'subvolume', 'snapshot', 'checksum', 'compression', 'transaction', 'commit', 'leaf',
  'node', 'chunk', 'device', 'mirror', 'scrub', 'balance', 'quota', 'generation', 'offset', 'length', 'buffer', 'stream', 'worker',
  'page', 'client', 'promise', 'error', 'value', 'result', 'options', 'path', 'name', 'size', 'bytes', 'index', 'count'];

/**
 * Text a web app stores: JSON records and source-like lines, seeded, varied enough that zstd:1 gets
 * about 3-4x on it (not a repeated string).
 */
export function textCorpus(bytes: number, seed: number): Uint8Array {
  const r = rng(seed);
  const w = () => WORDS[(r() * WORDS.length) | 0]!;
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const line = i % 3 === 2
      ? `  function ${w()}_${w()}(${w()}, ${w()}) { return ${w()}.${w()}(${(r() * 1000) | 0}) + ${w()}; } // ${w()} ${w()}\n`
      : `{"id": ${(r() * 1e9) | 0}, "${w()}": "${w()} ${w()} ${w()}", "${w()}": ${(r() * 1e6).toFixed(3)}, "tags": ["${w()}", "${w()}"], "ok": ${r() < 0.5}},\n`;
    parts.push(line);
    n += line.length;
  }
  return new TextEncoder().encode(parts.join('')).subarray(0, bytes);
}

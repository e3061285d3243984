// Round trips of every codec inside a dedicated module worker, where the engine runs:
// the kernels' .wasm and libzstd must load there too (no window, no document).
import { compressRaw, decompress, heuristic, loadCompressionKernels, type CompressionName } from '../../../src/kernels/compression.js';
import { EXTENT_BYTES, KINDS, bytesEqual } from '../../node/kernels/compress-corpus.js';

self.onmessage = async () => {
  try {
    await loadCompressionKernels();
    const results: string[] = [];
    for (const codec of ['lzo', 'zlib', 'zstd'] as CompressionName[]) {
      const data = KINDS.source!(EXTENT_BYTES);
      const raw = compressRaw(codec, data, 0);
      const ok = raw !== null && bytesEqual(decompress(codec, raw, data.length), data);
      results.push(`${codec}:${ok ? 'ok' : 'bad'}`);
    }
    results.push(`heuristic:${heuristic(KINDS.text!(EXTENT_BYTES)) ? 'ok' : 'bad'}`);
    postMessage(results.join(' '));
  } catch (e) {
    postMessage(`error: ${e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e)}`);
  }
};

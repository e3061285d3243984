// btrfs zlib extents (fs/btrfs/zlib.c): a plain zlib stream (RFC 1950: 2-byte header,
// deflate, adler32) of up to 128 KiB of input, levels 1-9.
//
// Owns: the choice of implementation and the btrfs read/write rules around it.
// Implementation: fflate, chosen over pako on the benchmark (docs/benchmarks.md,
// "Compression kernels": faster at every level, both ways). node:zlib is faster still but
// does not exist in a browser worker, and one implementation everywhere keeps images the
// same whichever side wrote them.
//
// Reading follows zlib_decompress_bio: output stops at ram_bytes (fflate writes into a
// buffer of exactly that size and drops the rest), a stream that ends early leaves zeros
// (btrfs zero-fills the read), trailing bytes after the stream (the sector padding) are
// ignored, and the adler32 trailer is not verified: Linux skips the zlib header and
// inflates raw deflate precisely so that it does not, and data checksums cover the
// on-disk bytes anyway. A stream that is corrupt or truncated before ram_bytes: EIO.

import { unzlibSync, zlibSync } from 'fflate';
import { assert } from '../util/assert.js';
import { FsError } from '../util/errors.js';

const MAX_EXTENT_BYTES = 128 * 1024;

/** A zlib stream of input at level (1..9), as fflate writes it (window 32 KiB). */
export function zlibCompress(input: Uint8Array, level: number): Uint8Array {
  assert(Number.isInteger(level) && level >= 1 && level <= 9, `zlib: level ${level}`);
  assert(input.length <= MAX_EXTENT_BYTES, `zlib: extent input of ${input.length} bytes`);
  return zlibSync(input, { level: level as 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 });
}

/** A zlib extent (padding included) to exactly ramBytes bytes; corrupt: FsError EIO. */
export function zlibDecompress(input: Uint8Array, ramBytes: number): Uint8Array {
  assert(Number.isInteger(ramBytes) && ramBytes >= 0 && ramBytes <= MAX_EXTENT_BYTES, `zlib: ram_bytes ${ramBytes}`);
  if (input.length > MAX_EXTENT_BYTES) throw new FsError('EIO', `zlib extent of ${input.length} bytes exceeds 128 KiB`);
  // fflate treats the last 4 bytes as the adler32 trailer and returns an empty result,
  // without error, when nothing is left between header and trailer; the shortest real
  // stream is 8 bytes (header, an empty fixed block, adler32).
  if (input.length < 8) throw new FsError('EIO', `zlib extent of ${input.length} bytes is truncated`);
  const out = new Uint8Array(ramBytes);
  try {
    // Bounded: fflate never grows a buffer it was given, and its work is bounded by the
    // input (each deflate symbol costs at least a bit and yields at most 258 bytes).
    unzlibSync(input, { out });
  } catch (e) {
    throw new FsError('EIO', `zlib extent: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  return out;
}

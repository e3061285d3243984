// Compression kernels: round trips for every codec and level, btrfs's framing and keep
// rules, interop with implementations nobody here wrote (node:zlib, Debian's zstd tool,
// liblzo2 through python3-lzo), and fuzzed input that must end in FsError EIO or the
// exact length, never a hang.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync, inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init as bokuwebInit } from '@bokuweb/zstd-wasm';
import {
  BTRFS_MAX_UNCOMPRESSED, COMPRESSION_TYPES, compress, compressRaw, compressionKernelsLoaded, compressionSavesSector,
  compressionTypeById, compressionTypeByName, decompress, decompressInline, effectiveLevel, loadCompressionKernels,
  type CompressionName,
} from '../../../src/kernels/compression.js';
import { lzo1xCompressRaw, lzo1xDecompressRaw, lzo1xWorstCompress } from '../../../src/kernels/lzo.js';
import { zstdFrameInfo } from '../../../src/kernels/zstd.js';
import { AssertionError } from '../../../src/util/assert.js';
import { FsError } from '../../../src/util/errors.js';
import { EXTENT_BYTES, KINDS, SIZES, bytesEqual, corpus, pseudoRandom } from './compress-corpus.js';

const CODECS: readonly CompressionName[] = ['lzo', 'zlib', 'zstd'];
const LEVELS: Record<CompressionName, readonly number[]> = {
  lzo: [1],
  zlib: [1, 2, 3, 4, 5, 6, 7, 8, 9],
  zstd: [-15, -5, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
};
const roundUp = (n: number, to = 4096): number => Math.ceil(n / to) * to;

let work: string;
beforeAll(async () => {
  await Promise.all([loadCompressionKernels(), loadCompressionKernels()]);
  work = mkdtempSync(join(tmpdir(), 'butterfs-compress-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('codec table', () => {
  it('has btrfs ids, levels and defaults', () => {
    expect(COMPRESSION_TYPES.map((t) => [t.name, t.id, t.minLevel, t.maxLevel, t.defaultLevel])).toEqual([
      ['zlib', 1, 1, 9, 3], ['lzo', 2, 1, 1, 1], ['zstd', 3, -15, 15, 3],
    ]);
    expect(compressionTypeById(3).name).toBe('zstd');
    expect(compressionTypeByName('lzo').id).toBe(2);
    expect(() => compressionTypeByName('lz4')).toThrow(FsError);
    expect(() => compressionTypeById(4)).toThrow(FsError);
    expect(compressionKernelsLoaded()).toBe(true);
  });

  it('maps levels as btrfs_compress_set_level does', () => {
    expect(effectiveLevel('zlib', 0)).toBe(3);
    expect(effectiveLevel('zlib', 12)).toBe(9);
    expect(effectiveLevel('zstd', 0)).toBe(3);
    expect(effectiveLevel('zstd', 22)).toBe(15);
    expect(effectiveLevel('zstd', -20)).toBe(-15);
    expect(effectiveLevel('lzo', 5)).toBe(1);
  });

  it('keeps a result only when it saves a whole sector', () => {
    // ALIGN(out, sectorsize) + sectorsize <= round_up(in, sectorsize)
    expect(compressionSavesSector(4096, 8192)).toBe(true);
    expect(compressionSavesSector(4097, 8192)).toBe(false);
    expect(compressionSavesSector(1, 4097)).toBe(true);
    expect(compressionSavesSector(1, 4096)).toBe(false);
    expect(compressionSavesSector(60000, 65536 + 1, 4096)).toBe(true);
    expect(compressionSavesSector(1, 65536, 65536)).toBe(false);
  });
});

describe('round trips', () => {
  const entries = corpus().filter((e) => e.data.length > 0);
  for (const codec of CODECS) {
    it(`${codec}: every level, every corpus entry`, () => {
      for (const level of LEVELS[codec]) {
        for (const { name, data } of entries) {
          const raw = compressRaw(codec, data, level);
          const kept = compress(codec, data, level);
          if (raw !== null) {
            expect(bytesEqual(decompress(codec, raw, data.length), data), `${codec}:${level} ${name}`).toBe(true);
            // ram_bytes is sector-aligned on disk: the tail past the data reads as zeros.
            const aligned = decompress(codec, raw, roundUp(data.length));
            expect(bytesEqual(aligned.subarray(0, data.length), data)).toBe(true);
            expect(aligned.subarray(data.length).every((b) => b === 0)).toBe(true);
            // As read from disk: padded with zeros to a whole sector.
            const onDisk = new Uint8Array(roundUp(raw.length));
            onDisk.set(raw);
            expect(bytesEqual(decompress(codec, onDisk, data.length), data), `${codec}:${level} ${name} padded`).toBe(true);
          }
          if (kept !== null) {
            expect(raw).not.toBeNull();
            expect(compressionSavesSector(kept.length, data.length)).toBe(true);
          } else if (raw !== null) {
            expect(compressionSavesSector(raw.length, data.length)).toBe(false);
          }
        }
      }
    });
  }

  it('compresses what compresses and refuses what does not', () => {
    for (const codec of CODECS) {
      expect(compress(codec, KINDS.text!(EXTENT_BYTES), 0), codec).not.toBeNull();
      expect(compress(codec, KINDS.zeros!(EXTENT_BYTES), 0), codec).not.toBeNull();
      expect(compress(codec, KINDS.random!(EXTENT_BYTES), 0), codec).toBeNull();
      expect(compress(codec, KINDS.compressed!(EXTENT_BYTES), 0), codec).toBeNull();
      // One sector can never save a sector.
      expect(compress(codec, KINDS.zeros!(4096), 0), codec).toBeNull();
      expect(compressRaw(codec, KINDS.zeros!(4096), 0), codec).not.toBeNull();
    }
  });

  it('refuses inputs btrfs never compresses', () => {
    expect(() => compress('zstd', new Uint8Array(0), 3)).toThrow(AssertionError);
    expect(() => compress('lzo', new Uint8Array(BTRFS_MAX_UNCOMPRESSED + 1), 1)).toThrow(AssertionError);
  });
});

describe('lzo framing (fs/btrfs/lzo.c)', () => {
  /** Walks the framing independently of the kernel: segments, padding, lengths. */
  function segments(framed: Uint8Array, sectorSize = 4096): Uint8Array[] {
    const view = new DataView(framed.buffer, framed.byteOffset, framed.length);
    const total = view.getUint32(0, true);
    expect(total).toBe(framed.length);
    const segs: Uint8Array[] = [];
    let at = 4;
    while (at < total) {
      // A segment header never crosses a sector boundary.
      expect(Math.floor(at / sectorSize)).toBe(Math.floor((at + 3) / sectorSize));
      const len = view.getUint32(at, true);
      expect(len).toBeLessThanOrEqual(lzo1xWorstCompress(sectorSize));
      segs.push(framed.subarray(at + 4, at + 4 + len));
      at += 4 + len;
      const left = sectorSize - (at % sectorSize);
      if (left < 4) {
        expect([...framed.subarray(at, at + left)].every((b) => b === 0)).toBe(true);
        at += left;
      }
    }
    expect(at).toBe(total);
    return segs;
  }

  it('one LZO1X segment per sector of input, each decoding to that sector', () => {
    for (const kind of ['text', 'json', 'source', 'zeros'] as const) {
      for (const size of [4097, 10000, EXTENT_BYTES - 1, EXTENT_BYTES]) {
        const data = KINDS[kind]!(size);
        const framed = compressRaw('lzo', data, 1)!;
        const segs = segments(framed);
        expect(segs.length, `${kind}/${size}`).toBe(Math.ceil(size / 4096));
        segs.forEach((seg, i) => {
          const want = data.subarray(i * 4096, Math.min(size, (i + 1) * 4096));
          expect(bytesEqual(lzo1xDecompressRaw(seg, 4096), want)).toBe(true);
        });
      }
    }
  });

  it('pads so that segment headers never straddle a sector', () => {
    // Search inputs until some segment ends 1-3 bytes before a sector boundary.
    let padded = 0;
    for (let seed = 1; seed < 400 && padded < 3; seed++) {
      const noise = pseudoRandom(EXTENT_BYTES, seed);
      const data = KINDS.text!(EXTENT_BYTES).map((b, i) => (noise[i]! % (2 + (seed % 50)) === 0 ? noise[i]! : b));
      const framed = compressRaw('lzo', data, 1);
      if (framed === null) continue;
      const before = padded;
      const view = new DataView(framed.buffer, framed.byteOffset);
      for (let at = 4; at < framed.length;) {
        at += 4 + view.getUint32(at, true);
        const left = 4096 - (at % 4096);
        if (left < 4) { padded++; at += left; }
      }
      if (padded > before) {
        segments(framed);
        expect(bytesEqual(decompress('lzo', framed, data.length), data)).toBe(true);
      }
    }
    expect(padded).toBeGreaterThan(0);
  });

  it('gives up where the kernel gives up', () => {
    // Random data: after two sectors the output is longer than the input.
    expect(compressRaw('lzo', KINDS.random!(3 * 4096), 1)).toBeNull();
    // Two random sectors only: not yet past two sectors, but the output needs a third page.
    expect(compressRaw('lzo', KINDS.random!(2 * 4096), 1)).toBeNull();
    // A random sector then zeros: the output stays within the input's pages.
    const mixed = new Uint8Array(8 * 4096);
    mixed.set(pseudoRandom(4096, 3));
    expect(compressRaw('lzo', mixed, 1)).not.toBeNull();
  });

  it('reads an inline extent (one segment, exact lengths)', () => {
    const data = KINDS.text!(3000);
    const framed = compressRaw('lzo', data, 1)!;
    expect(bytesEqual(decompressInline('lzo', framed, 3000), data)).toBe(true);
    expect(() => decompressInline('lzo', framed, 3001)).toThrow(FsError);
    const longer = new Uint8Array(framed.length + 1);
    longer.set(framed);
    expect(() => decompressInline('lzo', longer, 3000)).toThrow(FsError);
  });

  it('works with 64 KiB sectors', () => {
    const data = KINDS.source!(EXTENT_BYTES);
    const framed = compressRaw('lzo', data, 1, 65536)!;
    expect(segments(framed, 65536).length).toBe(2);
    expect(bytesEqual(decompress('lzo', framed, EXTENT_BYTES, 65536), data)).toBe(true);
  });
});

// Debian's python3-lzo binds liblzo2, the reference LZO implementation.
const PYTHON = '/usr/bin/python3';
const hasPythonLzo = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import lzo'], { stdio: 'ignore' }).status === 0;

describe('interop: raw LZO1X with liblzo2 (python3-lzo)', () => {
  it('liblzo2 decodes our streams and we decode its LZO1X-1 and LZO1X-999 streams', () => {
    // scripts/setup-system.mjs (run by npm test) installs python3-lzo: never skip silently.
    expect(hasPythonLzo, 'python3-lzo is missing: run node scripts/setup-system.mjs').toBe(true);
    const inputs = corpus([1, 17, 4095, 4096, 65536, EXTENT_BYTES]).map((e) => e.data).filter((d) => d.length > 0);
    const ours = inputs.map((d) => lzo1xCompressRaw(d));
    const dir = mkdtempSync(join(work, 'lzo-'));
    inputs.forEach((d, i) => {
      writeFileSync(join(dir, `in${i}`), d);
      writeFileSync(join(dir, `ours${i}`), ours[i]!);
    });
    const script = `
import lzo, sys, os
d = sys.argv[1]
n = int(sys.argv[2])
for i in range(n):
    data = open(os.path.join(d, 'in%d' % i), 'rb').read()
    ours = open(os.path.join(d, 'ours%d' % i), 'rb').read()
    back = lzo.decompress(ours, False, len(data))
    assert back == data, 'liblzo2 decoded stream %d differently' % i
    open(os.path.join(d, 'lzo1_%d' % i), 'wb').write(lzo.compress(data, 1, False))
    open(os.path.join(d, 'lzo9_%d' % i), 'wb').write(lzo.compress(data, 9, False))
print('ok')
`;
    expect(execFileSync(PYTHON, ['-c', script, dir, String(inputs.length)]).toString().trim()).toBe('ok');
    inputs.forEach((d, i) => {
      for (const name of [`lzo1_${i}`, `lzo9_${i}`]) {
        const theirs = new Uint8Array(readFileSync(join(dir, name)));
        expect(bytesEqual(lzo1xDecompressRaw(theirs, d.length), d), `${name} (${d.length} bytes)`).toBe(true);
      }
    });
  });
});

describe('interop: zlib with node:zlib', () => {
  it('node inflates our streams (adler32 checked) and we inflate node deflate at every level', () => {
    for (const { name, data } of corpus().filter((e) => e.data.length > 0)) {
      for (const level of LEVELS.zlib) {
        const ours = compressRaw('zlib', data, level);
        if (ours !== null) expect(bytesEqual(new Uint8Array(inflateSync(ours)), data), `${name}:${level}`).toBe(true);
        const theirs = new Uint8Array(deflateSync(data, { level }));
        // Incompressible data grows past what one btrfs extent can hold.
        if (theirs.length > EXTENT_BYTES) continue;
        expect(bytesEqual(decompress('zlib', theirs, data.length), data), `node ${name}:${level}`).toBe(true);
      }
    }
  });

  it('does not check the adler32 trailer, as Linux does not', () => {
    const data = KINDS.text!(20000);
    const z = compressRaw('zlib', data, 3)!;
    z[z.length - 1]! ^= 0xff;
    expect(bytesEqual(decompress('zlib', z, data.length), data)).toBe(true);
  });
});

const hasZstdTool = spawnSync('zstd', ['--version'], { stdio: 'ignore' }).status === 0;

describe('interop: zstd with the zstd tool', () => {
  it('writes single frames within btrfs window limits', () => {
    for (const level of LEVELS.zstd) {
      const data = KINDS.source!(EXTENT_BYTES);
      const frame = compressRaw('zstd', data, level)!;
      const info = zstdFrameInfo(frame);
      expect(info.frameBytes).toBe(frame.length);
      expect(info.contentSize).toBe(EXTENT_BYTES);
      expect(info.windowBytes).toBeLessThanOrEqual(1 << 17);
    }
  });

  it('zstd -d decodes our frames; we decode zstd tool frames', () => {
    expect(hasZstdTool, 'the zstd tool is missing: run node scripts/setup-system.mjs').toBe(true);
    const dir = mkdtempSync(join(work, 'zstd-'));
    const entries = corpus().filter((e) => e.data.length > 0);
    for (const [i, { name, data }] of entries.entries()) {
      for (const level of [-5, 1, 3, 9, 15]) {
        const ours = compressRaw('zstd', data, level);
        if (ours !== null) {
          const file = join(dir, `o${i}_${level}.zst`);
          writeFileSync(file, ours);
          const back = execFileSync('zstd', ['-d', '-q', '-c', file], { maxBuffer: 1 << 24 });
          expect(bytesEqual(new Uint8Array(back), data), `zstd -d of ${name}:${level}`).toBe(true);
        }
        // The tool, given a file, also knows the size and writes the content size.
        const src = join(dir, `in${i}`);
        writeFileSync(src, data);
        const theirs = new Uint8Array(execFileSync('zstd', [`-${Math.max(1, level)}`, '-q', '-c', src], { maxBuffer: 1 << 24 }));
        if (theirs.length > EXTENT_BYTES) continue;
        expect(bytesEqual(decompress('zstd', theirs, data.length), data), `ours of zstd -${level} ${name}`).toBe(true);
      }
    }
    // A frame with a checksum and no content size (streamed from stdin, window as btrfs
    // allows) also reads.
    const data = KINDS.json!(50000);
    const streamed = new Uint8Array(execFileSync('zstd', ['-3', '-q', '-c', '--check', '--zstd=wlog=17', '-'], { input: data }));
    const info = zstdFrameInfo(streamed);
    expect(info.checksum).toBe(true);
    expect(info.contentSize).toBe(-1);
    expect(bytesEqual(decompress('zstd', streamed, data.length), data)).toBe(true);
    // A window over 128 KiB is refused, as Linux's decoder refuses it.
    const big = KINDS.text!(1 << 20);
    const wide = new Uint8Array(execFileSync('zstd', ['-19', '-q', '-c', '-'], { input: big, maxBuffer: 1 << 24 }));
    expect(() => decompress('zstd', wide.subarray(0, 131072), EXTENT_BYTES)).toThrow(FsError);
  });
});

describe('zstd: the codec is ours alone', () => {
  it('another library\'s zstd module initialised again in this realm changes nothing we decode', async () => {
    // @bokuweb/zstd-wasm keeps one module per realm, and each init() makes a new instance of it;
    // after a few, two at once, it fails frames or decodes wrong bytes without an error.
    // butterfs decoded with it until session 8: it now decodes with its own libzstd instance
    // (zstd.ts), so what another user of that package does in the same realm cannot reach our
    // reads.
    const entries = corpus().filter((e) => e.data.length > 0 && e.data.length <= EXTENT_BYTES);
    const frames = entries.map(({ data }) => compressRaw('zstd', data, 3));
    await bokuwebInit();
    await Promise.all([bokuwebInit(), bokuwebInit()]);
    for (const [i, { name, data }] of entries.entries()) {
      const f = frames[i];
      if (f === null) continue;
      expect(bytesEqual(decompress('zstd', f, data.length), data), name).toBe(true);
    }
  });
});

describe('corrupt input', () => {
  /** Runs decompress and checks the outcome is the exact length or FsError EIO. */
  function mustBeExactOrEio(codec: CompressionName, input: Uint8Array, ramBytes: number, what: string): 'ok' | 'eio' {
    try {
      const out = decompress(codec, input, ramBytes);
      expect(out.length, what).toBe(ramBytes);
      return 'ok';
    } catch (e) {
      if (!(e instanceof FsError) || e.code !== 'EIO') throw new Error(`${what}: ${String(e)}`, { cause: e });
      return 'eio';
    }
  }

  it('random bytes, truncations and bit flips end in EIO or the exact length, quickly', () => {
    const started = performance.now();
    let eio = 0;
    let cases = 0;
    const noise = pseudoRandom(1 << 20, 1234);
    let n = 0;
    const rand = (k: number): number => {
      n = (n + 4) % (noise.length - 4);
      return ((noise[n]! | (noise[n + 1]! << 8) | (noise[n + 2]! << 16)) >>> 0) % k;
    };
    for (const codec of CODECS) {
      const sources = [KINDS.text!(EXTENT_BYTES), KINDS.source!(30000), KINDS.json!(5000), KINDS.zeros!(EXTENT_BYTES)];
      for (const data of sources) {
        const valid = compressRaw(codec, data, 0)!;
        for (let t = 0; t < 150; t++) {
          const ramBytes = data.length;
          // Truncation.
          const cut = valid.subarray(0, rand(valid.length));
          if (mustBeExactOrEio(codec, cut, ramBytes, `${codec} cut ${cut.length}`) === 'eio') eio++;
          // Bit flips (1-8 of them).
          const flipped = valid.slice();
          const flips = 1 + rand(8);
          for (let f = 0; f < flips; f++) flipped[rand(flipped.length)]! ^= 1 << rand(8);
          if (mustBeExactOrEio(codec, flipped, ramBytes, `${codec} flipped`) === 'eio') eio++;
          // A valid header followed by garbage.
          const garbage = noise.slice(rand(1000), 1000 + rand(EXTENT_BYTES - 1000));
          garbage.set(valid.subarray(0, Math.min(valid.length, 4 + rand(8))));
          if (mustBeExactOrEio(codec, garbage, ramBytes, `${codec} garbage`) === 'eio') eio++;
          cases += 3;
        }
      }
      // Pure random input of every small size.
      for (let len = 0; len < 64; len++) {
        if (mustBeExactOrEio(codec, noise.subarray(len * 7, len * 8), 4096, `${codec} random ${len}`) === 'eio') eio++;
        cases++;
      }
    }
    // Most corruptions are caught by the formats themselves; the rest decode to some
    // bytes of the right length (data checksums catch those above this layer).
    expect(eio).toBeGreaterThan(cases / 2);
    expect(performance.now() - started).toBeLessThan(30_000);
  });

  it('an LZO segment that claims more than the worst case, or runs past the end, is EIO', () => {
    const framed = compressRaw('lzo', KINDS.text!(20000), 1)!;
    const big = framed.slice();
    new DataView(big.buffer).setUint32(4, lzo1xWorstCompress(4096) + 1, true);
    expect(() => decompress('lzo', big, 20000)).toThrow(FsError);
    const total = framed.slice();
    new DataView(total.buffer).setUint32(0, 0x7fffffff, true);
    expect(() => decompress('lzo', total, 20000)).toThrow(FsError);
  });

  it('a zstd header that claims a huge content size is refused before decoding', () => {
    const frame = compressRaw('zstd', KINDS.text!(EXTENT_BYTES), 3)!;
    // Rewrite the 4-byte content size to 1 GiB.
    const info = zstdFrameInfo(frame);
    expect(info.singleSegment).toBe(true);
    const forged = frame.slice();
    new DataView(forged.buffer).setUint32(5, 1 << 30, true);
    expect(() => decompress('zstd', forged, EXTENT_BYTES)).toThrow(FsError);
  });
});

describe('sizes', () => {
  it('decompress returns exactly ram_bytes for every size, zero-filled past the data', () => {
    for (const codec of CODECS) {
      for (const size of SIZES.filter((s) => s > 0)) {
        const data = KINDS.json!(size);
        const raw = compressRaw(codec, data, 0);
        if (raw === null) continue;
        for (const ram of [size, roundUp(size), Math.max(0, size - 1)]) {
          const out = decompress(codec, raw, ram);
          expect(out.length).toBe(ram);
          expect(bytesEqual(out.subarray(0, Math.min(ram, size)), data.subarray(0, Math.min(ram, size)))).toBe(true);
        }
      }
    }
  });
});

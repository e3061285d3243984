// The JS face of the CRC-32C kernel (asm/crc32c.ts).
//
// Owns: the kernel instance, its scratch memory (bounded) and the copies in and out of
// it. Two operations:
//  * crc32c(seed, data): the Linux/btrfs raw `crc32c()` (no inversion), which btrfs
//    uses for name hashes (hash.ts) and send stream checksums; inputs of at most 64 bytes
//    (names) are hashed in JS from a table instead of being copied into the kernel;
//  * crc32cSectorsInto(...): the standard CRC-32C (init ~0, final xor ~0) of each
//    sector of a batch, written little-endian as btrfs stores data and metadata csums.
//
// Everything here is synchronous once loadCrc32cKernel() has resolved: the checksum of
// a batch must not cost an await (STYLE.md: run to completion).

import { assert } from '../util/assert.js';
import { WasmKernel, WASM_PAGE_BYTES } from './wasm-loader.js';

interface Crc32cExports {
  readonly memory: WebAssembly.Memory;
  crc32cUpdate(crc: number, ptr: number, lengthBytes: number): number;
  crc32cSectors(ptr: number, sectorBytes: number, count: number, outPtr: number): void;
  inputBase(): number;
}

/**
 * Most input copied into wasm memory per kernel call. Bigger inputs are processed in
 * pieces of at most this size, so the kernel's memory stays below ~4 MiB + 4 KiB of
 * results whatever the caller hands in. 4 MiB is far past the size where the per-call
 * cost stops mattering (a call costs well under a microsecond, 4 MiB takes ~2 ms).
 */
const SCRATCH_INPUT_BYTES = 4 * 1024 * 1024;

const KERNEL = new WasmKernel<Crc32cExports>('crc32c', () => new URL('./wasm/crc32c.wasm', import.meta.url), ['crc32cSectors', 'crc32cUpdate']);

/** Instantiates the kernel once; later and concurrent calls share the same promise. */
export function loadCrc32cKernel(): Promise<void> {
  return KERNEL.load();
}

export function crc32cKernelLoaded(): boolean {
  return KERNEL.loaded;
}

/**
 * Inputs up to this long are hashed in JS, a byte at a time from a table: name hashes (a few
 * per create and per uncached lookup) cost less than the copy into the kernel's memory and the
 * call. Checked against the kernel byte for byte by test/node/kernels/checksum.test.ts.
 */
const SMALL_INPUT_BYTES = 64;

/** The reflected CRC-32C (Castagnoli, 0x82f63b78) table, one entry per byte value. */
const SMALL_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c;
  }
  return t;
})();

function crc32cSmall(seed: number, data: Uint8Array, from: number, to: number): number {
  let crc = seed | 0;
  for (let i = from; i < to; i++) crc = SMALL_TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return crc >>> 0;
}

/** Makes [scratchBase, scratchBase + bytes) addressable (bounded) and returns the current view. */
function scratch(bytes: number): Uint8Array {
  assert(bytes <= SCRATCH_INPUT_BYTES + WASM_PAGE_BYTES, `crc32c scratch request ${bytes} exceeds bound`);
  KERNEL.scratch(bytes);
  return KERNEL.heap;
}

/**
 * Raw CRC-32C of data[offset, offset + lengthBytes), continuing from seed, with no
 * inversion: Linux's `crc32c(seed, data, len)`. The standard CRC-32C of a buffer is
 * `~crc32cRange(~0, ...)`. Returns an unsigned 32-bit number.
 */
export function crc32cRange(seed: number, data: Uint8Array, offset: number, lengthBytes: number): number {
  assert(Number.isInteger(offset) && offset >= 0, 'crc32c: bad offset');
  assert(Number.isInteger(lengthBytes) && lengthBytes >= 0, 'crc32c: bad length');
  assert(offset + lengthBytes <= data.length, 'crc32c: range past the end of data');
  if (lengthBytes <= SMALL_INPUT_BYTES) return crc32cSmall(seed, data, offset, offset + lengthBytes);
  const k = KERNEL.kernel;
  const scratchBase = KERNEL.scratchBase;
  let crc = seed >>> 0;
  let done = 0;
  while (done < lengthBytes) {
    const pieceBytes = Math.min(lengthBytes - done, SCRATCH_INPUT_BYTES);
    const mem = scratch(pieceBytes);
    mem.set(data.subarray(offset + done, offset + done + pieceBytes), scratchBase);
    crc = k.crc32cUpdate(crc, scratchBase, pieceBytes) >>> 0;
    done += pieceBytes;
  }
  return crc;
}

/** Raw CRC-32C of all of data from seed (no inversion), as Linux `crc32c(seed, data, len)`. */
export function crc32c(seed: number, data: Uint8Array): number {
  return crc32cRange(seed, data, 0, data.length);
}

/**
 * Standard CRC-32C of each sectorBytes-long sector of data[offset, offset + lengthBytes),
 * written to out at outOffset as consecutive little-endian u32 (4 bytes per sector).
 * One kernel call per 4 MiB of input.
 */
export function crc32cSectorsInto(
  data: Uint8Array, offset: number, lengthBytes: number, sectorBytes: number,
  out: Uint8Array, outOffset: number,
): void {
  assert(Number.isInteger(sectorBytes) && sectorBytes > 0, `crc32c: bad sector size ${sectorBytes}`);
  assert(lengthBytes % sectorBytes === 0, `crc32c: ${lengthBytes} bytes is not a whole number of ${sectorBytes}-byte sectors`);
  assert(offset >= 0 && offset + lengthBytes <= data.length, 'crc32c: range past the end of data');
  const sectorCount = lengthBytes / sectorBytes;
  assert(outOffset >= 0 && outOffset + sectorCount * 4 <= out.length, 'crc32c: output too small');
  if (sectorBytes > SCRATCH_INPUT_BYTES) {
    // Not a btrfs sector size (at most 64 KiB); kept correct rather than fast.
    for (let i = 0; i < sectorCount; i++) {
      writeLe32(out, outOffset + i * 4, ~crc32cRange(~0, data, offset + i * sectorBytes, sectorBytes));
    }
    return;
  }
  const sectorsPerCall = Math.floor(SCRATCH_INPUT_BYTES / sectorBytes);
  for (let first = 0; first < sectorCount; first += sectorsPerCall) {
    const count = Math.min(sectorsPerCall, sectorCount - first);
    const inputBytes = count * sectorBytes;
    const from = offset + first * sectorBytes;
    sectorsInScratch(inputBytes, sectorBytes, (dest) => dest.set(data.subarray(from, from + inputBytes)), out, outOffset + first * 4);
  }
}

/**
 * One kernel call: `fill` writes `lengthBytes` (<= SCRATCH_INPUT_BYTES, whole sectors) into the
 * scratch area, the kernel checksums them, and the digests go to out at outOffset.
 */
function sectorsInScratch(lengthBytes: number, sectorBytes: number, fill: (dest: Uint8Array) => void, out: Uint8Array, outOffset: number): void {
  const scratchBase = KERNEL.scratchBase;
  const count = lengthBytes / sectorBytes;
  // Results go right after the input, 8-aligned.
  const resultsAt = scratchBase + ((lengthBytes + 7) & ~7);
  const mem = scratch(resultsAt - scratchBase + count * 4);
  fill(mem.subarray(scratchBase, scratchBase + lengthBytes));
  KERNEL.kernel.crc32cSectors(scratchBase, sectorBytes, count, resultsAt);
  // The kernel stored little-endian u32s: already the on-disk bytes.
  out.set(mem.subarray(resultsAt, resultsAt + count * 4), outOffset);
}

/** Most bytes crc32cSectorsFilled takes per call. */
export const CRC32C_FILL_MAX_BYTES = SCRATCH_INPUT_BYTES;

/**
 * crc32cSectorsInto of `lengthBytes` (<= CRC32C_FILL_MAX_BYTES) bytes that `fill` writes
 * straight into the kernel's memory (the view it is handed, which it must fill entirely): a
 * reader that can read into any view (a sync access handle, a file descriptor) saves the copy.
 */
export function crc32cSectorsFilled(
  lengthBytes: number, sectorBytes: number, fill: (dest: Uint8Array) => void, out: Uint8Array, outOffset: number,
): void {
  assert(Number.isInteger(sectorBytes) && sectorBytes > 0 && lengthBytes % sectorBytes === 0, `crc32c: ${lengthBytes} bytes in ${sectorBytes}-byte sectors`);
  assert(lengthBytes <= SCRATCH_INPUT_BYTES, `crc32c: ${lengthBytes} bytes to fill exceeds ${SCRATCH_INPUT_BYTES}`);
  assert(outOffset >= 0 && outOffset + (lengthBytes / sectorBytes) * 4 <= out.length, 'crc32c: output too small');
  sectorsInScratch(lengthBytes, sectorBytes, fill, out, outOffset);
}

function writeLe32(out: Uint8Array, at: number, value: number): void {
  out[at] = value & 0xff;
  out[at + 1] = (value >>> 8) & 0xff;
  out[at + 2] = (value >>> 16) & 0xff;
  out[at + 3] = (value >>> 24) & 0xff;
}

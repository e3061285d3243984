// Checksum throughput: 1 MiB of 4 KiB sectors (256 sectors) per iteration, per algorithm.
// "butterfs" is what the engine calls (checksum(alg, data, 4096)); the other lines are the
// alternatives it was chosen against. MB/s = hz * 1 MiB / 10^6; docs/benchmarks.md has the
// figures and the command.
import { createHash } from 'node:crypto';
import { createBLAKE2b, createCRC32, createSHA256, createXXHash64, type IHasher } from 'hash-wasm';
import { bench, describe } from 'vitest';
import { checksum, checksumInto, loadKernels } from '../../../src/kernels/checksum.js';

const SECTOR_BYTES = 4096;
const BATCH_BYTES = 1024 * 1024;
const SECTORS = BATCH_BYTES / SECTOR_BYTES;

await loadKernels();
const data = new Uint8Array(BATCH_BYTES);
for (let i = 0, x = 1; i < data.length; i++) {
  x = (x * 1103515245 + 12345) >>> 0;
  data[i] = x >>> 24;
}
const hashWasm: Record<string, IHasher> = {
  crc32c: await createCRC32(0x82f63b78),
  xxhash: await createXXHash64(),
  sha256: await createSHA256(),
  blake2: await createBLAKE2b(256),
};
// Keeps results alive so no engine can drop the work.
let sink = 0;

function hashWasmPerSector(h: IHasher): void {
  for (let i = 0; i < SECTORS; i++) {
    h.init();
    h.update(data.subarray(i * SECTOR_BYTES, (i + 1) * SECTOR_BYTES));
    sink ^= h.digest('binary')[0]!;
  }
}

const OPTIONS = { time: 2000, warmupTime: 300 };

describe('crc32c, 1 MiB of 4 KiB sectors', () => {
  bench('butterfs checksum() (AS kernel, one call per batch)', () => {
    sink ^= checksum('crc32c', data, SECTOR_BYTES)[0]!;
  }, OPTIONS);
  const one = new Uint8Array(4);
  bench('butterfs checksumInto() per sector (AS kernel, one call per sector)', () => {
    for (let i = 0; i < SECTORS; i++) checksumInto('crc32c', data, i * SECTOR_BYTES, SECTOR_BYTES, one, 0);
    sink ^= one[0]!;
  }, OPTIONS);
  bench('hash-wasm createCRC32(0x82F63B78) per sector', () => hashWasmPerSector(hashWasm.crc32c!), OPTIONS);
});

describe('xxhash64, 1 MiB of 4 KiB sectors', () => {
  bench('butterfs checksum() (hash-wasm + le64)', () => {
    sink ^= checksum('xxhash', data, SECTOR_BYTES)[0]!;
  }, OPTIONS);
  bench('hash-wasm createXXHash64 per sector', () => hashWasmPerSector(hashWasm.xxhash!), OPTIONS);
});

describe('sha256, 1 MiB of 4 KiB sectors', () => {
  bench('butterfs checksum() (hash-wasm)', () => {
    sink ^= checksum('sha256', data, SECTOR_BYTES)[0]!;
  }, OPTIONS);
  bench('hash-wasm createSHA256 per sector', () => hashWasmPerSector(hashWasm.sha256!), OPTIONS);
  bench('node:crypto sha256 per sector (reference; not in browsers)', () => {
    for (let i = 0; i < SECTORS; i++) {
      sink ^= createHash('sha256').update(data.subarray(i * SECTOR_BYTES, (i + 1) * SECTOR_BYTES)).digest()[0]!;
    }
  }, OPTIONS);
});

describe('blake2b-256, 1 MiB of 4 KiB sectors', () => {
  bench('butterfs checksum() (hash-wasm)', () => {
    sink ^= checksum('blake2', data, SECTOR_BYTES)[0]!;
  }, OPTIONS);
  bench('hash-wasm createBLAKE2b(256) per sector', () => hashWasmPerSector(hashWasm.blake2!), OPTIONS);
});

// Read once so sink is observably used.
if (sink === 0x1_0000_0000) throw new Error('unreachable');

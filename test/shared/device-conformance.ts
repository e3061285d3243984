// One conformance suite for every BlockDevice backend (ZenFS tests/setup style). It does not
// import vitest, so it runs the same in a vitest test, in a page and inside a dedicated worker
// (where OPFS sync access handles live): each check is a plain async function that throws on
// failure; the caller wraps each in `it()` or relays it from a worker.

import { readDeviceInto, type BlockDevice } from '../../src/device/block-device.js';
import { isFsError } from '../../src/util/errors.js';

export interface DeviceHarness {
  /** A fresh, empty device of `sizeBytes`, unique per call. */
  create(sizeBytes: number): Promise<BlockDevice>;
  /** Reopen a device that was created by this harness and closed. Absent: no persistence checks. */
  reopen?(closed: BlockDevice): Promise<BlockDevice>;
}

export interface ConformanceCheck {
  name: string;
  needsReopen?: boolean;
  run(h: DeviceHarness): Promise<void>;
}

const KiB = 1024;
const MiB = 1024 * KiB;
export const CONFORMANCE_DEVICE_BYTES = 16 * MiB;

function fail(message: string): never {
  throw new Error(message);
}

/** Deterministic non-zero-heavy bytes for (length, seed). */
export function pattern(lengthBytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(lengthBytes);
  let x = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < lengthBytes; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function assertBytesEqual(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (actual.length !== expected.length) fail(`${what}: length ${actual.length}, expected ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) fail(`${what}: first difference at byte ${i}: ${actual[i]} != ${expected[i]}`);
  }
}

function assertZeros(actual: Uint8Array, what: string): void {
  for (let i = 0; i < actual.length; i++) if (actual[i] !== 0) fail(`${what}: byte ${i} is ${actual[i]}, expected 0`);
}

async function expectFsError(p: Promise<unknown> | (() => Promise<unknown>), code: string, what: string): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (isFsError(e) && e.code === code) return;
    fail(`${what}: expected FsError ${code}, got ${e instanceof Error ? `${e.name} ${(e as { code?: string }).code ?? ''} ${e.message}` : String(e)}`);
  }
  fail(`${what}: expected FsError ${code}, but it succeeded`);
}

async function withDevice(h: DeviceHarness, fn: (d: BlockDevice) => Promise<void>, sizeBytes = CONFORMANCE_DEVICE_BYTES): Promise<void> {
  const d = await h.create(sizeBytes);
  try {
    await fn(d);
  } finally {
    await d.close();
  }
}

export const deviceConformanceChecks: ConformanceCheck[] = [
  {
    name: 'reports its size',
    run: (h) => withDevice(h, async (d) => {
      if (d.sizeBytes !== CONFORMANCE_DEVICE_BYTES) fail(`sizeBytes ${d.sizeBytes}`);
    }),
  },
  {
    name: 'read after write, including across 64 KiB page boundaries',
    run: (h) => withDevice(h, async (d) => {
      const cases = [[0, 4 * KiB], [60 * KiB, 8 * KiB], [68 * KiB, 64 * KiB], [188 * KiB, 200 * KiB], [d.sizeBytes - 4 * KiB, 4 * KiB]];
      for (const [i, [off, len]] of cases.entries()) await d.write(off, pattern(len, i + 1));
      for (const [i, [off, len]] of cases.entries()) assertBytesEqual(await d.read(off, len), pattern(len, i + 1), `read ${off}+${len}`);
      // A read that straddles written and unwritten sectors.
      const mixed = await d.read(56 * KiB, 8 * KiB);
      assertZeros(mixed.subarray(0, 4 * KiB), 'unwritten half');
      assertBytesEqual(mixed.subarray(4 * KiB), pattern(8 * KiB, 2).subarray(0, 4 * KiB), 'written half');
    }),
  },
  {
    name: 'overwrite replaces data; unwritten sectors read as zeros',
    run: (h) => withDevice(h, async (d) => {
      assertZeros(await d.read(0, 256 * KiB), 'fresh device');
      assertZeros(await d.read(d.sizeBytes - 64 * KiB, 64 * KiB), 'fresh device end');
      await d.write(8 * KiB, pattern(16 * KiB, 1));
      await d.write(12 * KiB, pattern(4 * KiB, 2));
      const r = await d.read(8 * KiB, 16 * KiB);
      assertBytesEqual(r.subarray(0, 4 * KiB), pattern(16 * KiB, 1).subarray(0, 4 * KiB), 'before overwrite');
      assertBytesEqual(r.subarray(4 * KiB, 8 * KiB), pattern(4 * KiB, 2), 'overwritten');
      assertBytesEqual(r.subarray(8 * KiB), pattern(16 * KiB, 1).subarray(8 * KiB), 'after overwrite');
      assertZeros(await d.read(0, 8 * KiB), 'untouched neighbour');
    }),
  },
  {
    name: 'out-of-range and misaligned I/O is EINVAL',
    run: (h) => withDevice(h, async (d) => {
      const s = d.sizeBytes;
      const four = new Uint8Array(4 * KiB);
      await expectFsError(() => d.read(s, 4 * KiB), 'EINVAL', 'read at end');
      await expectFsError(() => d.read(s - 4 * KiB, 8 * KiB), 'EINVAL', 'read across end');
      await expectFsError(() => d.read(-4 * KiB, 4 * KiB), 'EINVAL', 'negative read');
      await expectFsError(() => d.read(512, 4 * KiB), 'EINVAL', 'misaligned read offset');
      await expectFsError(() => d.read(0, 100), 'EINVAL', 'misaligned read length');
      await expectFsError(() => d.read(0.5, 4 * KiB), 'EINVAL', 'fractional offset');
      await expectFsError(() => d.write(s, four), 'EINVAL', 'write at end');
      await expectFsError(() => d.write(s - 4 * KiB, new Uint8Array(8 * KiB)), 'EINVAL', 'write across end');
      await expectFsError(() => d.write(2048, four), 'EINVAL', 'misaligned write offset');
      await expectFsError(() => d.write(0, new Uint8Array(1000)), 'EINVAL', 'misaligned write length');
      // Nothing was written by the refused requests.
      assertZeros(await d.read(s - 8 * KiB, 8 * KiB), 'end after refused writes');
      assertZeros(await d.read(0, 8 * KiB), 'start after refused writes');
    }),
  },
  {
    name: 'write copies the caller buffer; read returns a private buffer',
    run: (h) => withDevice(h, async (d) => {
      const buf = pattern(8 * KiB, 7);
      await d.write(0, buf);
      buf.fill(0xee);
      assertBytesEqual(await d.read(0, 8 * KiB), pattern(8 * KiB, 7), 'after caller reused buffer');
      const r = await d.read(0, 8 * KiB);
      r.fill(0x11);
      assertBytesEqual(await d.read(0, 8 * KiB), pattern(8 * KiB, 7), 'after caller changed a read buffer');
      // A view into a larger buffer writes only its own bytes.
      const big = pattern(16 * KiB, 8);
      await d.write(64 * KiB, big.subarray(4 * KiB, 8 * KiB));
      assertBytesEqual(await d.read(64 * KiB, 4 * KiB), big.subarray(4 * KiB, 8 * KiB), 'subarray write');
      assertZeros(await d.read(68 * KiB, 4 * KiB), 'after subarray write');
    }),
  },
  {
    name: 'readInto (or readDeviceInto) fills exactly the given view, zeros where unwritten',
    run: (h) => withDevice(h, async (d) => {
      await d.write(60 * KiB, pattern(72 * KiB, 31));
      // A view into the middle of a larger buffer full of garbage: only its bytes change.
      const big = new Uint8Array(160 * KiB).fill(0xa5);
      const view = big.subarray(8 * KiB, 8 * KiB + 136 * KiB);
      await readDeviceInto(d, 56 * KiB, view);
      assertZeros(view.subarray(0, 4 * KiB), 'unwritten head');
      assertBytesEqual(view.subarray(4 * KiB, 76 * KiB), pattern(72 * KiB, 31), 'written part across a page boundary');
      assertZeros(view.subarray(76 * KiB), 'unwritten tail');
      for (const [from, to] of [[0, 8 * KiB], [144 * KiB, 160 * KiB]]) {
        for (let i = from; i < to; i++) if (big[i] !== 0xa5) fail(`byte ${i} outside the view changed`);
      }
      await expectFsError(() => readDeviceInto(d, 512, new Uint8Array(4 * KiB)), 'EINVAL', 'misaligned readInto offset');
      await expectFsError(() => readDeviceInto(d, d.sizeBytes - 4 * KiB, new Uint8Array(8 * KiB)), 'EINVAL', 'readInto across end');
    }),
  },
  {
    name: 'flush keeps data readable and can be repeated',
    run: (h) => withDevice(h, async (d) => {
      await d.flush();
      await d.write(4 * KiB, pattern(4 * KiB, 3));
      await d.flush();
      await d.flush();
      assertBytesEqual(await d.read(4 * KiB, 4 * KiB), pattern(4 * KiB, 3), 'after flush');
      await d.write(4 * KiB, pattern(4 * KiB, 4));
      assertBytesEqual(await d.read(4 * KiB, 4 * KiB), pattern(4 * KiB, 4), 'unflushed overwrite visible');
      await d.flush();
    }),
  },
  {
    name: 'large multi-MiB I/O',
    run: (h) => withDevice(h, async (d) => {
      const big = pattern(6 * MiB, 11);
      await d.write(1 * MiB + 4 * KiB, big);
      await d.flush();
      assertBytesEqual(await d.read(1 * MiB + 4 * KiB, 6 * MiB), big, '6 MiB read');
      assertBytesEqual(await d.read(3 * MiB, 1 * MiB), big.subarray(2 * MiB - 4 * KiB, 3 * MiB - 4 * KiB), 'slice of it');
    }),
  },
  {
    name: 'concurrent promises: parallel writes and reads, call order wins on overlap',
    run: (h) => withDevice(h, async (d) => {
      await Promise.all(Array.from({ length: 64 }, (_, i) => d.write(i * 12 * KiB, pattern(4 * KiB, 100 + i))));
      const reads = await Promise.all(Array.from({ length: 64 }, (_, i) => d.read(i * 12 * KiB, 4 * KiB)));
      reads.forEach((r, i) => assertBytesEqual(r, pattern(4 * KiB, 100 + i), `parallel read ${i}`));
      // Overlapping writes issued without waiting: the later call is what remains.
      const a = d.write(2 * MiB, pattern(128 * KiB, 1));
      const b = d.write(2 * MiB + 60 * KiB, pattern(8 * KiB, 2));
      const c = d.flush();
      await Promise.all([a, b, c]);
      const r = await d.read(2 * MiB, 128 * KiB);
      assertBytesEqual(r.subarray(60 * KiB, 68 * KiB), pattern(8 * KiB, 2), 'later write wins');
      assertBytesEqual(r.subarray(0, 60 * KiB), pattern(128 * KiB, 1).subarray(0, 60 * KiB), 'earlier write elsewhere');
    }),
  },
  {
    name: 'use after close is a clear FsError (EBADF); close twice is harmless',
    run: async (h) => {
      const d = await h.create(CONFORMANCE_DEVICE_BYTES);
      await d.close();
      await expectFsError(() => d.read(0, 4 * KiB), 'EBADF', 'read after close');
      await expectFsError(() => d.write(0, new Uint8Array(4 * KiB)), 'EBADF', 'write after close');
      await expectFsError(() => d.flush(), 'EBADF', 'flush after close');
      await d.close();
    },
  },
  {
    name: 'persists across close and reopen',
    needsReopen: true,
    run: async (h) => {
      const d = await h.create(CONFORMANCE_DEVICE_BYTES);
      await d.write(0, pattern(64 * KiB, 21));
      await d.write(9 * MiB, pattern(1 * MiB + 12 * KiB, 22));
      await d.flush();
      await d.write(12 * MiB, pattern(4 * KiB, 23)); // unflushed, but close keeps it
      await d.close();
      const again = await h.reopen!(d);
      try {
        if (again.sizeBytes !== CONFORMANCE_DEVICE_BYTES) fail(`reopened size ${again.sizeBytes}`);
        assertBytesEqual(await again.read(0, 64 * KiB), pattern(64 * KiB, 21), 'first write');
        assertBytesEqual(await again.read(9 * MiB, 1 * MiB + 12 * KiB), pattern(1 * MiB + 12 * KiB, 22), 'second write');
        assertBytesEqual(await again.read(12 * MiB, 4 * KiB), pattern(4 * KiB, 23), 'written before close');
        assertZeros(await again.read(5 * MiB, 64 * KiB), 'never written');
        await again.write(64 * KiB, pattern(4 * KiB, 24));
        await again.flush();
      } finally {
        await again.close();
      }
    },
  },
];

// sumDeviceRanges (src/kernels/device-sums.ts), the worker's side of a commit's deferred data
// checksums, run here on a file by path: every checksum type against checksum() of the same
// bytes, ranges longer than one read piece and given out of order, and the identity check that
// refuses another file at the device's path.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSUM_TYPES, checksum, loadKernels } from '../../../src/kernels/checksum.js';
import { crc32cSectorsFilled } from '../../../src/kernels/crc32c.js';
import { sumDeviceRanges, type DeviceReadSource } from '../../../src/kernels/device-sums.js';
import { pseudoRandomBytes } from './vectors.js';

const MiB = 1024 * 1024;
let dir: string;
let path: string;
let data: Uint8Array;
let source: Extract<DeviceReadSource, { kind: 'path' }>;

beforeAll(async () => {
  await loadKernels();
  dir = mkdtempSync(join(tmpdir(), 'butterfs-device-sums-'));
  path = join(dir, 'dev.img');
  data = pseudoRandomBytes(12 * MiB, 7);
  writeFileSync(path, data);
  const st = statSync(path, { bigint: true });
  source = { kind: 'path', path, dev: String(st.dev), ino: String(st.ino) };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sumDeviceRanges', () => {
  // 9 MiB from 1 MiB (three read pieces, the last short), then 8 KiB at 0: out of order.
  const ranges = [MiB, 9 * MiB, 0, 8192];
  const want = (alg: (typeof CSUM_TYPES)[number]['name']) => {
    const a = checksum(alg, data.subarray(MiB, 10 * MiB), 4096);
    const b = checksum(alg, data.subarray(0, 8192), 4096);
    const out = new Uint8Array(a.length + b.length);
    out.set(a);
    out.set(b, a.length);
    return out;
  };
  for (const t of CSUM_TYPES) {
    it(`gives ${t.name} digests equal to checksum() of the same bytes, in the order of the ranges`, async () => {
      expect(await sumDeviceRanges(source, ranges, t.name, 4096)).toEqual(want(t.name));
    });
  }

  it('refuses a file at the path that is not the device (other inode)', async () => {
    const copy = join(dir, 'copy.img');
    writeFileSync(copy, data);
    await expect(sumDeviceRanges({ ...source, path: copy }, ranges, 'crc32c', 4096)).rejects.toThrow(/no longer the device's file/);
  });

  it('crc32cSectorsFilled: the bytes written by fill are checksummed, the digests land at outOffset', () => {
    const bytes = data.subarray(0, 64 * 1024);
    const out = new Uint8Array(4 + 16 * 4);
    crc32cSectorsFilled(bytes.length, 4096, (dest) => dest.set(bytes), out, 4);
    expect(out.subarray(4)).toEqual(checksum('crc32c', bytes, 4096));
    expect(out.subarray(0, 4)).toEqual(new Uint8Array(4));
  });
});

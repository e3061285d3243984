// Data checksums made from a device's bytes by a thread other than the engine's (btrfs makes a
// data extent's checksums at writeback, btrfs_csum_one_bio, on its own workqueue).
//
// Why: the checksums of a large write used to be made on the engine thread as the write went
// out, ~0.4 ms per MiB of crc32c in Chromium, in series with the device writes. A commit flushes
// the devices anyway, and a flush of an OPFS sync access handle blocks the engine thread while
// the OS writes the data back: the CPU is idle then. So large extents are written without their
// checksums (fs/writeback.ts keeps them "pending"); at the commit the engine posts their device
// ranges to the pool's workers (compress-pool.ts; a large job split among those ready) and
// flushes the data devices; each worker reads its ranges back through a handle of its own and
// checksums them meanwhile.
//
// Owns: the description of where a worker can read a device (DeviceReadSource, which a device
// offers as BlockDevice.readSource) and the worker's side of the jobs: checksums
// (sumDeviceRanges) and early writeback (flushDevice).
//  * OPFS: the device's FileSystemFileHandle; the worker opens its own sync access handle in
//    'readwrite-unsafe' mode (only possible because the engine's handle is in that mode too:
//    device/opfs.ts), reads, and closes it before answering. Opening is bounded
//    (OPEN_TIMEOUT_MS): it sometimes never settles in Chromium (TOOLCHAIN.md).
//  * Node: the device file's absolute path, read with node:fs after checking that the file
//    opened is the device's own (device and inode numbers).
// The digests are over what the device holds, which is what was written: the same bytes btrfs
// checksums from its page cache.

import { assert } from '../util/assert.js';
import { checksumSectorsInto, csumSizeBytes, type CsumName } from './checksum.js';
import { CRC32C_FILL_MAX_BYTES, crc32cSectorsFilled } from './crc32c.js';
import { createHandleWithTimeout } from '../device/opfs.js';

/** Where another thread can read a device's bytes with a handle of its own. */
export type DeviceReadSource =
  | { readonly kind: 'opfs'; readonly file: FileSystemFileHandle; readonly name: string }
  /** A file by absolute path, with the device and inode numbers (decimal) the opener must find. */
  | { readonly kind: 'path'; readonly path: string; readonly dev: string; readonly ino: string };

/** Bytes read and checksummed per step (one reusable buffer). */
const PIECE_BYTES = 4 * 1024 * 1024;
/** Bound on opening the worker's own sync access handle. */
const OPEN_TIMEOUT_MS = 3000;

interface Reader {
  /** Fills `dest` from `offset`; a short read is an error. */
  read(dest: Uint8Array, offset: number): void;
  /** Makes everything written to the file so far, through any handle, durable (fdatasync). */
  flush(): void;
  close(): void;
}

async function openReader(source: DeviceReadSource): Promise<Reader> {
  if (source.kind === 'opfs') {
    const h = await createHandleWithTimeout(source.file, OPEN_TIMEOUT_MS, source.name, 'readwrite-unsafe');
    const at = { at: 0 };
    return {
      read: (dest, offset) => {
        at.at = offset;
        const n = h.read(dest, at);
        if (n !== dest.length) throw new Error(`short read of ${source.name}: ${n} of ${dest.length} bytes at ${offset}`);
      },
      flush: () => h.flush(),
      close: () => h.close(),
    };
  }
  const specifier = 'node:fs';
  const fs = (await import(/* @vite-ignore */ specifier)) as typeof import('node:fs');
  const fd = fs.openSync(source.path, 'r');
  // The very file the device has open, not another one at that path since.
  const st = fs.fstatSync(fd, { bigint: true });
  if (String(st.dev) !== source.dev || String(st.ino) !== source.ino) {
    fs.closeSync(fd);
    throw new Error(`${source.path} is no longer the device's file (device ${st.dev}, inode ${st.ino}; expected ${source.dev}, ${source.ino})`);
  }
  return {
    read: (dest, offset) => {
      let done = 0;
      while (done < dest.length) {
        const n = fs.readSync(fd, dest, done, dest.length - done, offset + done);
        if (n === 0) throw new Error(`short read of ${source.path}: end of file at ${offset + done}`);
        done += n;
      }
    },
    flush: () => fs.fdatasyncSync(fd),
    close: () => fs.closeSync(fd),
  };
}

/**
 * The digests of every sector of the ranges (`ranges` is offset, length pairs, whole sectors),
 * end to end in the order given, read from `source` by this thread. The checksum kernels must
 * be loaded (loadKernels).
 */
export async function sumDeviceRanges(source: DeviceReadSource, ranges: readonly number[], csum: CsumName, sectorSize: number): Promise<Uint8Array> {
  assert(ranges.length % 2 === 0, 'sumDeviceRanges: ranges are offset, length pairs');
  const size = csumSizeBytes(csum);
  let total = 0;
  let longest = 0;
  for (let i = 0; i < ranges.length; i += 2) {
    const len = ranges[i + 1];
    assert(Number.isInteger(ranges[i]) && ranges[i] >= 0 && Number.isInteger(len) && len > 0 && len % sectorSize === 0,
      () => `sumDeviceRanges: bad range ${ranges[i]} + ${len}`);
    total += len;
    longest = Math.max(longest, len);
  }
  const out = new Uint8Array((total / sectorSize) * size);
  if (total === 0) return out;
  const reader = await openReader(source);
  try {
    // crc32c: each piece is read straight into the kernel's memory (no copy in).
    const direct = csum === 'crc32c';
    const pieceMax = direct ? Math.min(PIECE_BYTES, CRC32C_FILL_MAX_BYTES) : PIECE_BYTES;
    const buf = direct ? undefined : new Uint8Array(Math.min(pieceMax, longest));
    let at = 0;
    for (let i = 0; i < ranges.length; i += 2) {
      for (let done = 0; done < ranges[i + 1]; ) {
        const n = Math.min(pieceMax, ranges[i + 1] - done);
        const from = ranges[i] + done;
        if (buf === undefined) {
          crc32cSectorsFilled(n, sectorSize, (dest) => reader.read(dest, from), out, at);
        } else {
          const piece = n === buf.length ? buf : buf.subarray(0, n);
          reader.read(piece, from);
          checksumSectorsInto(csum, piece, 0, n, sectorSize, out, at);
        }
        at += (n / sectorSize) * size;
        done += n;
      }
    }
  } finally {
    reader.close();
  }
  return out;
}

/**
 * Flushes `source`'s file through a handle of this thread's own: the OS writes back what any
 * handle wrote to it (an OPFS flush, fdatasync(2) in Node). Early writeback (fs/writeback.ts):
 * the engine asks for it while a large write goes on, so that its commit's own flush, which
 * blocks the engine thread, finds little left to write.
 */
export async function flushDevice(source: DeviceReadSource): Promise<void> {
  const reader = await openReader(source);
  try {
    reader.flush();
  } finally {
    reader.close();
  }
}

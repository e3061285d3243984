// Argument checks shared by every device: the alignment and range rules of the BlockDevice
// contract (block-device.ts), and the "closed device" error. Kept in one place so that every
// backend refuses the same inputs with the same FsError, which the conformance suite checks.
//
// Fault model: none; these are pure checks on caller input.

import { FsError } from '../util/errors.js';
import { DEVICE_ALIGN_BYTES } from './block-device.js';

/** True when `n` is a non-negative safe integer multiple of DEVICE_ALIGN_BYTES. */
export function isAligned(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0 && n % DEVICE_ALIGN_BYTES === 0;
}

/** EINVAL unless `sizeBytes` is a positive aligned size. */
export function checkDeviceSize(sizeBytes: number, syscall: string, path?: string): void {
  if (!isAligned(sizeBytes) || sizeBytes === 0) {
    throw new FsError('EINVAL', `device size ${sizeBytes} is not a positive multiple of ${DEVICE_ALIGN_BYTES}`, { syscall, path });
  }
}

/**
 * EINVAL unless [offset, offset + length) is aligned and inside [0, sizeBytes). A zero-length
 * request is allowed (it is aligned and in range) and does nothing.
 */
export function checkRange(offsetBytes: number, lengthBytes: number, sizeBytes: number, syscall: string, path?: string): void {
  if (!isAligned(offsetBytes) || !isAligned(lengthBytes)) {
    throw new FsError('EINVAL', `misaligned I/O: offset ${offsetBytes}, length ${lengthBytes} (must be multiples of ${DEVICE_ALIGN_BYTES})`, { syscall, path });
  }
  if (offsetBytes + lengthBytes > sizeBytes) {
    throw new FsError('EINVAL', `I/O out of range: offset ${offsetBytes} + length ${lengthBytes} > device size ${sizeBytes}`, { syscall, path });
  }
}

/** The error for any use of a device after close(). */
export function closedError(syscall: string, path?: string): FsError {
  return new FsError('EBADF', 'device is closed', { syscall, path });
}

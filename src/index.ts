// butterfs: the public entry point (`import ... from 'butterfs'`).
export { FsError, isFsError, ERRNO } from './util/errors.js';
export type { ErrorCode } from './util/errors.js';
export { MemoryDevice, FileDevice, OpfsDevice, IdbDevice, ZonedDevice, DEVICE_ALIGN_BYTES } from './device/index.js';
export type { BlockDevice, ZoneInfo, ZoneReport, OpfsOpenOptions, IdbOpenOptions, ZonedOptions } from './device/index.js';
export { mkfs, mount, Filesystem } from './api/filesystem.js';
export type { MkfsOptions, MkfsResult } from './fs/mkfs.js';
export type { MountOptions } from './api/mount-options.js';
export { checksum, loadKernels, CSUM_TYPES } from './kernels/checksum.js';
export type { CsumName } from './kernels/checksum.js';
export { FsPromises, Dir, constants } from './api/promises.js';
export type { PromisesOptions } from './api/promises.js';
export { FileHandle } from './api/file-handle.js';
export { Stats, BigIntStats, Dirent } from './api/stats.js';
export type { StatFs } from './api/stats.js';
export type { PathLike } from './api/path.js';
export type { CallbackFs } from './api/callback-fs.js';

// butterfs: the public entry point (`import ... from 'butterfs'`).
export { FsError, isFsError, ERRNO } from './util/errors.js';
export type { ErrorCode } from './util/errors.js';

// FsError: the one error type for operating errors (bad input, missing files, I/O
// failures, corruption). It carries node's fields (code, errno, syscall, path) so
// libraries written for node:fs can act on it, and it survives the worker boundary
// (src/worker registers a comlink transfer handler for it).
//
// Programmer errors are not FsErrors: they are assertions (util/assert.ts).

/** errno values as Linux numbers them, with node's description of each. */
export const ERRNO = {
  EPERM: [1, 'operation not permitted'],
  ENOENT: [2, 'no such file or directory'],
  EIO: [5, 'i/o error'],
  EBADF: [9, 'bad file descriptor'],
  EAGAIN: [11, 'resource temporarily unavailable'],
  ENOMEM: [12, 'not enough memory'],
  EACCES: [13, 'permission denied'],
  EBUSY: [16, 'resource busy or locked'],
  EEXIST: [17, 'file already exists'],
  EXDEV: [18, 'cross-device link not permitted'],
  ENODEV: [19, 'no such device'],
  ENOTDIR: [20, 'not a directory'],
  EISDIR: [21, 'illegal operation on a directory'],
  EINVAL: [22, 'invalid argument'],
  EMFILE: [24, 'too many open files'],
  ETXTBSY: [26, 'text file is busy'],
  EFBIG: [27, 'file too large'],
  ENOSPC: [28, 'no space left on device'],
  ESPIPE: [29, 'invalid seek'],
  EROFS: [30, 'read-only file system'],
  E2BIG: [7, 'argument list too long'],
  EMLINK: [31, 'too many links'],
  ERANGE: [34, 'result out of range'],
  ENAMETOOLONG: [36, 'name too long'],
  ENOSYS: [38, 'function not implemented'],
  ENOTEMPTY: [39, 'directory not empty'],
  ELOOP: [40, 'too many symbolic links encountered'],
  ENODATA: [61, 'no data available'],
  EOVERFLOW: [75, 'value too large for defined data type'],
  EOPNOTSUPP: [95, 'operation not supported on socket'],
  ENOTCONN: [107, 'socket is not connected'],
  ETIMEDOUT: [110, 'connection timed out'],
  ECANCELED: [125, 'operation canceled'],
  EDQUOT: [122, 'disk quota exceeded'],
  EUCLEAN: [117, 'structure needs cleaning'],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof ERRNO;

export interface FsErrorFields {
  syscall?: string;
  path?: string;
  dest?: string;
  cause?: unknown;
}

export class FsError extends Error {
  readonly code: ErrorCode;
  /** Negative, as node reports it (`-2` for ENOENT). */
  readonly errno: number;
  readonly syscall?: string;
  readonly path?: string;
  readonly dest?: string;

  /**
   * @param code   node's error code
   * @param detail a sentence saying what went wrong and where; node's message format
   *               (`ENOENT: no such file or directory, open '/a'`) is built around it.
   */
  constructor(code: ErrorCode, detail?: string, fields: FsErrorFields = {}) {
    const [num, desc] = ERRNO[code];
    let message = `${code}: ${desc}`;
    if (fields.syscall) message += `, ${fields.syscall}`;
    if (fields.path !== undefined) message += ` '${fields.path}'`;
    if (fields.dest !== undefined) message += ` -> '${fields.dest}'`;
    if (detail) message += ` (${detail})`;
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = 'FsError';
    this.code = code;
    this.errno = -num;
    if (fields.syscall !== undefined) this.syscall = fields.syscall;
    if (fields.path !== undefined) this.path = fields.path;
    if (fields.dest !== undefined) this.dest = fields.dest;
  }
}

export function isFsError(e: unknown, code?: ErrorCode): e is FsError {
  return e instanceof FsError && (code === undefined || e.code === code);
}

// The surface of fs.promises as data: the names of its functions and node's fs.constants (Linux
// values). Data only, with no engine imports, so that the page client (src/worker/node-fs.ts) can
// build a node-like fs object without bundling the engine.

/** Open flags (Linux values, node's fs.constants.O_*). */
export const O = {
  RDONLY: 0, WRONLY: 1, RDWR: 2, ACCMODE: 3, CREAT: 0o100, EXCL: 0o200, NOCTTY: 0o400, TRUNC: 0o1000, APPEND: 0o2000,
  NONBLOCK: 0o4000, DSYNC: 0o10000, DIRECT: 0o40000, DIRECTORY: 0o200000, NOFOLLOW: 0o400000, NOATIME: 0o1000000,
  SYNC: 0o4010000,
} as const;

/** node's fs.constants (Linux values). */
export const constants = Object.freeze({
  UV_FS_SYMLINK_DIR: 1, UV_FS_SYMLINK_JUNCTION: 2,
  O_RDONLY: O.RDONLY, O_WRONLY: O.WRONLY, O_RDWR: O.RDWR,
  UV_DIRENT_UNKNOWN: 0, UV_DIRENT_FILE: 1, UV_DIRENT_DIR: 2, UV_DIRENT_LINK: 3, UV_DIRENT_FIFO: 4, UV_DIRENT_SOCKET: 5, UV_DIRENT_CHAR: 6, UV_DIRENT_BLOCK: 7,
  S_IFMT: 0o170000, S_IFREG: 0o100000, S_IFDIR: 0o040000, S_IFCHR: 0o020000, S_IFBLK: 0o060000, S_IFIFO: 0o010000, S_IFLNK: 0o120000, S_IFSOCK: 0o140000,
  O_CREAT: O.CREAT, O_EXCL: O.EXCL, UV_FS_O_FILEMAP: 0, O_NOCTTY: O.NOCTTY, O_TRUNC: O.TRUNC, O_APPEND: O.APPEND, O_DIRECTORY: O.DIRECTORY,
  O_NOATIME: O.NOATIME, O_NOFOLLOW: O.NOFOLLOW, O_SYNC: O.SYNC, O_DSYNC: O.DSYNC, O_DIRECT: O.DIRECT, O_NONBLOCK: O.NONBLOCK,
  S_IRWXU: 0o700, S_IRUSR: 0o400, S_IWUSR: 0o200, S_IXUSR: 0o100, S_IRWXG: 0o070, S_IRGRP: 0o040, S_IWGRP: 0o020, S_IXGRP: 0o010,
  S_IRWXO: 0o007, S_IROTH: 0o004, S_IWOTH: 0o002, S_IXOTH: 0o001,
  F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1,
  UV_FS_COPYFILE_EXCL: 1, COPYFILE_EXCL: 1, UV_FS_COPYFILE_FICLONE: 2, COPYFILE_FICLONE: 2, UV_FS_COPYFILE_FICLONE_FORCE: 4, COPYFILE_FICLONE_FORCE: 4,
});

/** The node:fs/promises functions fs.promises has (plus the xattr helpers node lacks). */
export const PROMISES_METHODS = [
  'access', 'appendFile', 'chmod', 'chown', 'copyFile', 'getxattr', 'lchown', 'link', 'listxattr', 'lstat', 'lutimes',
  'mkdir', 'mkdtemp', 'open', 'opendir', 'readdir', 'readFile', 'readlink', 'realpath', 'removexattr', 'rename', 'rm',
  'rmdir', 'setxattr', 'stat', 'statfs', 'symlink', 'truncate', 'unlink', 'utimes', 'writeFile',
] as const;

export type PromisesMethod = (typeof PROMISES_METHODS)[number];

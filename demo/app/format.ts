// Formatting helpers shared by the shell and the panels: sizes as df -h and ls -lh print them,
// modes as ls prints them, dates as GNU coreutils print them, and node error codes as the words
// of strerror(3), so that errors read as a Linux shell's would.

const UNITS = ['', 'K', 'M', 'G', 'T', 'P'];

/** GNU's human-readable size (ls -lh, df -h, du -h): powers of 1024, one decimal below 10, rounded up. */
export function humanSize(bytes: number): string {
  if (bytes < 1024) return String(bytes);
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown = value < 10 ? Math.ceil(value * 10) / 10 : Math.ceil(value);
  if (shown >= 1024 && unit < UNITS.length - 1) return `1.0${UNITS[unit + 1]}`;
  return `${value < 10 ? shown.toFixed(1) : shown}${UNITS[unit]}`;
}

/** btrfs-progs' size style (btrfs filesystem df/usage): 1.25MiB, 256.00MiB. */
export function progsSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value}.00B` : `${value.toFixed(2)}${units[unit]}`;
}

const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

/** The 10-character mode string of ls -l (drwxr-xr-x). */
export function modeString(mode: number): string {
  const type = mode & S_IFMT;
  const t = type === S_IFDIR ? 'd' : type === S_IFLNK ? 'l' : type === 0o020000 ? 'c' : type === 0o060000 ? 'b' : type === 0o010000 ? 'p' : type === 0o140000 ? 's' : '-';
  const rwx = (bits: number, special: boolean, specialChar: string) =>
    `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${special ? (bits & 1 ? specialChar : specialChar.toUpperCase()) : bits & 1 ? 'x' : '-'}`;
  return t + rwx((mode >> 6) & 7, (mode & 0o4000) !== 0, 's') + rwx((mode >> 3) & 7, (mode & 0o2000) !== 0, 's') + rwx(mode & 7, (mode & 0o1000) !== 0, 't');
}

/** stat's file type words. */
export function fileTypeWords(mode: number, size: number): string {
  switch (mode & S_IFMT) {
    case S_IFDIR: return 'directory';
    case S_IFLNK: return 'symbolic link';
    case S_IFREG: return size === 0 ? 'regular empty file' : 'regular file';
    case 0o010000: return 'fifo';
    case 0o020000: return 'character special file';
    case 0o060000: return 'block special file';
    case 0o140000: return 'socket';
    default: return 'weird file';
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** ls -l's date: "Nov 22 02:19" within six months, "Nov 22  2023" otherwise. */
export function lsDate(d: Date, now = new Date()): string {
  const day = String(d.getDate()).padStart(2, ' ');
  const recent = Math.abs(now.getTime() - d.getTime()) < 182.5 * 24 * 3600 * 1000;
  const tail = recent ? `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}` : ` ${d.getFullYear()}`;
  return `${MONTHS[d.getMonth()]} ${day} ${tail}`;
}

/** stat's full timestamp: 2024-11-22 02:19:33.123456789 +0100. */
export function statDate(d: Date, ns?: number): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const frac = ns !== undefined ? p(ns % 1e9, 9) : p(d.getMilliseconds(), 3) + '000000';
  const off = -d.getTimezoneOffset();
  const tz = `${off >= 0 ? '+' : '-'}${p(Math.floor(Math.abs(off) / 60))}${p(Math.abs(off) % 60)}`;
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${frac} ${tz}`;
}

/** strerror(3) for the codes butterfs raises. */
const STRERROR: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EIO: 'Input/output error',
  E2BIG: 'Argument list too long',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  EXDEV: 'Invalid cross-device link',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  EFBIG: 'File too large',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  EMLINK: 'Too many links',
  ENAMETOOLONG: 'File name too long',
  ENOSYS: 'Function not implemented',
  ENOTEMPTY: 'Directory not empty',
  ELOOP: 'Too many levels of symbolic links',
  ENODATA: 'No data available',
  EOPNOTSUPP: 'Operation not supported',
  ENOTSUP: 'Operation not supported',
  ECANCELED: 'Operation canceled',
  EDQUOT: 'Disk quota exceeded',
  EOVERFLOW: 'Value too large for defined data type',
  ERANGE: 'Numerical result out of range',
  EUCLEAN: 'Structure needs cleaning',
  ENOTCONN: 'Transport endpoint is not connected',
};

export function errorCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The words a shell prints for an error: strerror for a known code, else the message. */
export function strerror(e: unknown): string {
  const code = errorCode(e);
  if (code && STRERROR[code]) return STRERROR[code];
  return e instanceof Error ? e.message : String(e);
}

/**
 * The engine's explanation beyond the code, when there is one (EINVAL for an option, say):
 * node's message is "CODE: description, syscall 'path' (detail)"; the detail is what we show.
 */
export function errorDetail(e: unknown): string | undefined {
  const message = e instanceof Error ? e.message : String(e);
  const m = /\(([^()]*(?:\([^()]*\)[^()]*)*)\)\s*$/.exec(message);
  if (m) return m[1];
  const code = errorCode(e);
  if (code && message.startsWith(`${code}: `)) {
    const rest = message.slice(code.length + 2);
    if (STRERROR[code] && rest.toLowerCase().startsWith(STRERROR[code].toLowerCase())) return undefined;
    return rest;
  }
  return undefined;
}

export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

/** Parses sizes as coreutils do: 10, 4K, 1.5M, 2MiB, 1G. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(i?[bB])?$/.exec(text.trim());
  if (!m) return undefined;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * mult);
}

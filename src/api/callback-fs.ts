// node's callback-style `fs` (fs.readFile(path, options, callback), fs.open -> fd, fs.read(fd,
// ...)) as a thin layer over fs.promises, for libraries written against it. Descriptors are the
// fds of FileHandles in the open file table. `promises` is an own enumerable property, so
// libraries that prefer it (isomorphic-git) take it.
import type { FsPromises } from './promises.js';
import { constants } from './promises.js';
import type { FileHandle } from './file-handle.js';
import { fsError } from './inode-ops.js';

type Callback = (err: unknown, ...results: unknown[]) => void;
export type CallbackFs = Record<string, unknown> & { promises: FsPromises; constants: typeof constants };

/** Methods whose result is passed to the callback as is (callback(err, result)). */
const PATH_METHODS = [
  'access', 'appendFile', 'chmod', 'chown', 'copyFile', 'lchown', 'link', 'lstat', 'lutimes', 'mkdir', 'mkdtemp',
  'opendir', 'readdir', 'readFile', 'readlink', 'realpath', 'rename', 'rm', 'rmdir', 'stat', 'statfs', 'symlink',
  'truncate', 'unlink', 'utimes', 'writeFile',
] as const;

function splitCallback(args: unknown[], name: string): [unknown[], Callback] {
  const cb = args[args.length - 1];
  if (typeof cb !== 'function') throw new TypeError(`The "cb" argument of fs.${name} must be of type function (ERR_INVALID_ARG_TYPE)`);
  return [args.slice(0, -1), cb as Callback];
}

/** Runs `p` and reports to the callback on a later turn, as node does. */
function settle(p: Promise<unknown[]>, cb: Callback): void {
  p.then(
    (results) => queueMicrotask(() => cb(null, ...results)),
    (err: unknown) => queueMicrotask(() => cb(err)),
  );
}

export function createCallbackFs(promises: FsPromises): CallbackFs {
  const fsObj: CallbackFs = { promises, constants } as CallbackFs;
  const handleOf = (fd: unknown, syscall: string): FileHandle => {
    const h = typeof fd === 'number' ? promises.openFiles.handle(fd) : undefined;
    if (!h) throw fsError('EBADF', syscall, undefined, `fd ${String(fd)} is not open`);
    return h as FileHandle;
  };
  /** A path argument that may be an fd (readFile(fd), writeFile(fd), ...). */
  const pathOrHandle = (p: unknown, syscall: string) => (typeof p === 'number' ? handleOf(p, syscall) : p);

  for (const name of PATH_METHODS) {
    const method = (promises as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[name];
    fsObj[name] = (...all: unknown[]) => {
      const [args, cb] = splitCallback(all, name);
      if (name === 'readFile' || name === 'writeFile' || name === 'appendFile') args[0] = pathOrHandle(args[0], name === 'readFile' ? 'read' : 'write');
      settle(Promise.resolve().then(() => method(...args)).then((r) => [r]), cb);
    };
  }

  fsObj.exists = (path: unknown, cb: (exists: boolean) => void) => {
    promises.access(path as string).then(() => cb(true), () => cb(false));
  };

  fsObj.open = (...all: unknown[]) => {
    const [args, cb] = splitCallback(all, 'open');
    settle(promises.open(args[0] as string, args[1] as string, args[2] as number).then((h) => [h.fd]), cb);
  };

  const withHandle = (name: string, syscall: string, fn: (h: FileHandle, args: unknown[]) => Promise<unknown[]>) => {
    fsObj[name] = (...all: unknown[]) => {
      const [args, cb] = splitCallback(all, name);
      settle(Promise.resolve().then(() => fn(handleOf(args[0], syscall), args.slice(1))), cb);
    };
  };
  withHandle('close', 'close', async (h) => {
    await h.close();
    return [];
  });
  withHandle('read', 'read', async (h, a) => {
    const r = await h.read(a[0] as Uint8Array, a[1] as number, a[2] as number, a[3] as number | null);
    return [r.bytesRead, r.buffer];
  });
  withHandle('write', 'write', async (h, a) => {
    const r = typeof a[0] === 'string'
      ? await h.write(a[0], a[1] as number | null, a[2] as string)
      : await h.write(a[0] as Uint8Array, a[1] as number, a[2] as number, a[3] as number | null);
    return [r.bytesWritten, r.buffer];
  });
  withHandle('readv', 'read', async (h, a) => {
    const r = await h.readv(a[0] as Uint8Array[], a[1] as number | null);
    return [r.bytesRead, r.buffers];
  });
  withHandle('writev', 'write', async (h, a) => {
    const r = await h.writev(a[0] as Uint8Array[], a[1] as number | null);
    return [r.bytesWritten, r.buffers];
  });
  withHandle('fstat', 'fstat', async (h, a) => [await h.stat(a[0] as { bigint?: boolean })]);
  withHandle('ftruncate', 'ftruncate', async (h, a) => {
    await h.truncate(a[0] as number);
    return [];
  });
  withHandle('fsync', 'fsync', async (h) => {
    await h.sync();
    return [];
  });
  withHandle('fdatasync', 'fdatasync', async (h) => {
    await h.datasync();
    return [];
  });
  withHandle('fchmod', 'fchmod', async (h, a) => {
    await h.chmod(a[0] as number);
    return [];
  });
  withHandle('fchown', 'fchown', async (h, a) => {
    await h.chown(a[0] as number, a[1] as number);
    return [];
  });
  withHandle('futimes', 'futime', async (h, a) => {
    await h.utimes(a[0] as number, a[1] as number);
    return [];
  });

  // realpath.native is the same walk here.
  (fsObj.realpath as { native?: unknown }).native = fsObj.realpath;
  return fsObj;
}

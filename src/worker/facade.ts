// The object the worker exposes for a mounted filesystem: the Filesystem itself, seen through a
// Proxy, so that every member the engine has (and every one it gains: fs.promises, fs.subvolume,
// ...) is reachable by comlink's path access without being listed here. The Proxy only refuses:
//  * the in-process members (types.ts LOCAL_ONLY): they hand out the engine's in-memory state;
//  * assignment: a page must not replace engine members;
//  * unmount, for sharing tabs: only the holder unmounts (its close() does), a sharer detaches.
import type { Filesystem } from '../api/filesystem.js';
import { FsError } from '../util/errors.js';
import { LOCAL_ONLY } from './types.js';

const localOnly = new Set<PropertyKey>(LOCAL_ONLY);

export function makeFacade(fs: Filesystem, who: 'holder' | 'sharer'): object {
  return new Proxy(fs, {
    get(target, prop) {
      if (localOnly.has(prop)) {
        throw new FsError('EOPNOTSUPP', `Filesystem.${String(prop)} exists only in-process (it works on the engine's in-memory state); it cannot be used through the worker`);
      }
      if (who === 'sharer' && prop === 'unmount') {
        throw new FsError('EPERM', 'a sharing tab cannot unmount the filesystem; close() detaches it, the holder unmounts');
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
    set(_target, prop) {
      throw new FsError('EPERM', `Filesystem.${String(prop)} cannot be assigned through the worker`);
    },
    has(target, prop) {
      return !localOnly.has(prop) && Reflect.has(target, prop);
    },
  });
}

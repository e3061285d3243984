// The open file table: how many handles each inode has open, per subvolume. It decides what
// unlink does with a file's last name (btrfs_orphan_add while open, evict otherwise: the
// namespace layer asks `isOpen`), and what the last close does (evict an inode whose names are
// all gone). An orphan item is on disk from the unlink on, so a crash or an unmount with the file
// still open leaves an orphan that cleanupOrphans frees at the next mount.
//
// File descriptors (the `fd` of a FileHandle, the numbers of the callback API) come from here
// too: small integers, lowest free first, as POSIX hands them out.
import type { Root } from '../fs/fs-info.js';
import type { UnlinkHooks } from '../inode/namei.js';
import { assert } from '../util/assert.js';

/** A bound on open handles, as RLIMIT_NOFILE is (EMFILE beyond it). */
export const MAX_OPEN_FILES = 65536;
/** fds 0-2 are stdin, stdout and stderr in node; ours start after them so that they never collide in logs. */
const FIRST_FD = 3;

export class OpenFiles {
  private readonly counts = new Map<string, number>();
  private readonly fds = new Map<number, unknown>();
  private nextFd = FIRST_FD;

  private static key(root: Root, ino: number): string {
    return `${root.objectid}:${ino}`;
  }

  get openCount(): number {
    return this.fds.size;
  }

  isOpen(root: Root, ino: number): boolean {
    return (this.counts.get(OpenFiles.key(root, ino)) ?? 0) > 0;
  }

  /** Whether any inode of subvolume `rootId` is open. */
  hasOpenIn(rootId: number): boolean {
    const prefix = `${rootId}:`;
    for (const k of this.counts.keys()) if (k.startsWith(prefix)) return true;
    return false;
  }

  /** The hooks the namespace layer takes for one subvolume. */
  hooks(root: Root): UnlinkHooks {
    return { isOpen: (ino) => this.isOpen(root, ino) };
  }

  /** Registers an open handle made by `make` with its fd; undefined when the table is full. */
  open<H>(root: Root, ino: number, make: (fd: number) => H): H | undefined {
    if (this.fds.size >= MAX_OPEN_FILES) return undefined;
    const k = OpenFiles.key(root, ino);
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
    // Lowest free fd: scan from the hint (bounded by the table size).
    let fd = this.nextFd;
    while (this.fds.has(fd)) fd++;
    const handle = make(fd);
    this.fds.set(fd, handle);
    this.nextFd = fd + 1;
    return handle;
  }

  /** Unregisters a handle; returns whether it was the inode's last one. */
  close(root: Root, ino: number, fd: number): boolean {
    const k = OpenFiles.key(root, ino);
    const n = this.counts.get(k) ?? 0;
    assert(n > 0, `close of inode ${k} that has no open handle`);
    assert(this.fds.has(fd), `close of fd ${fd} that is not open`);
    this.fds.delete(fd);
    if (fd < this.nextFd) this.nextFd = fd;
    if (n === 1) {
      this.counts.delete(k);
      return true;
    }
    this.counts.set(k, n - 1);
    return false;
  }

  /** The handle registered under `fd`. */
  handle(fd: number): unknown {
    return this.fds.get(fd);
  }
}

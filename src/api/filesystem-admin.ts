// `fs.filesystem`: the `btrfs filesystem` commands that make sense here: df, usage, label,
// sync, defragment, and the block group map (what `btrfs inspect-internal dump-tree -t chunk`
// shows, as data) for tools and the demo; and compsize (the separate `compsize` tool), which
// is how the compression ratio is seen. resize is not implemented yet and is absent.
import type { Filesystem } from './filesystem.js';
import { BlockGroupFlags, FileType, LABEL_SIZE } from '../format/constants.js';
import { profileOfFlags } from '../volume/raid.js';
import { stripeSize } from '../volume/volumes.js';
import { FsError } from '../util/errors.js';
import { pathString, type PathLike } from './path.js';
import { withPath } from './inode-ops.js';
import {
  defragment as defragmentEngine, KERNEL_DEFAULT_THRESH_BYTES, PROGS_DEFAULT_THRESH_BYTES, MAX_THRESH_BYTES,
  type DefragProgress, type DefragResult, type DefragSettings,
} from '../inode/defrag.js';
import { CompsizeCounter, type CompsizeResult } from '../inode/compsize.js';
import { walkTree, type TreeEntry } from '../inode/walk.js';
import { COMPRESSION_TYPES, type CompressionName } from '../kernels/compression.js';
import { readInode } from '../inode/inode.js';
import { fileTypeOfMode } from '../inode/namei.js';

export type { DefragProgress, DefragResult } from '../inode/defrag.js';
export type { CompsizeResult, CompsizeRow } from '../inode/compsize.js';

export interface DefragmentOptions {
  /**
   * -c[algo]: recompress every extent with this codec (true: zlib, as progs' bare -c). Without
   * it, only extents shorter than extentThresholdBytes are rewritten.
   */
  compress?: CompressionName | true;
  /**
   * -L: the codec's level (zlib 1..9, zstd -15..15; 0 or absent: the codec's default, as
   * Linux 6.15). Only with compress; outside the codec's range: EINVAL.
   */
  level?: number;
  /** -s: first byte of each file (rounded down to a sector). Default 0. */
  start?: number;
  /** -l: bytes from start; 0 or absent: to the end of each file. */
  length?: number;
  /**
   * -t: extents at least this long are not rewritten. Default 32 MiB (progs' default); 0
   * means the kernel's default, 256 KiB; more than 2^32 - 1 is trimmed to it, as progs.
   */
  extentThresholdBytes?: number;
  /** -r: a directory's regular files, recursively (not entering other subvolumes). */
  recursive?: boolean;
  /** Checked between steps: cancelling ends the call with ECANCELED; what was rewritten stays. */
  signal?: AbortSignal;
  /** Called after each step (at most 32 MiB of a file, 2 MiB when compressing) and after each file. */
  onProgress?: (p: DefragProgress) => void;
}

function checkInteger(what: string, n: unknown, min: number): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min) throw new FsError('EINVAL', `defragment: ${what} must be an integer of at least ${min}`);
  return n;
}

/** The options as btrfs_ioctl_defrag_range_args (and progs) would carry them. */
function defragSettings(o: DefragmentOptions): DefragSettings {
  const start = o.start === undefined ? 0 : checkInteger('start', o.start, 0);
  const length = o.length === undefined || o.length === 0 ? Infinity : checkInteger('length', o.length, 0);
  let thresh = o.extentThresholdBytes === undefined ? PROGS_DEFAULT_THRESH_BYTES : checkInteger('extentThresholdBytes', o.extentThresholdBytes, 0);
  if (thresh === 0) thresh = KERNEL_DEFAULT_THRESH_BYTES;
  thresh = Math.min(thresh, MAX_THRESH_BYTES);
  const s: DefragSettings = { start, length, extentThresholdBytes: thresh };
  if (o.compress !== undefined) {
    const codec = o.compress === true ? 'zlib' : o.compress;
    const t = COMPRESSION_TYPES.find((x) => x.name === codec);
    if (!t) throw new FsError('EINVAL', `defragment: unknown compression ${JSON.stringify(codec)} (zlib, lzo or zstd)`);
    const level = o.level === undefined ? 0 : checkInteger('level', o.level, Number.MIN_SAFE_INTEGER);
    // btrfs_compress_level_valid (0 is the default and never reaches it: progs sends no level).
    if (level !== 0 && (level < t.minLevel || level > t.maxLevel)) {
      throw new FsError('EINVAL', `defragment: ${codec} level ${level} (${t.minLevel}..${t.maxLevel}, or 0 for the default)`);
    }
    s.compress = { codec: t.name, level };
  } else if (o.level !== undefined) {
    throw new FsError('EINVAL', 'defragment: a level needs compress');
  }
  return s;
}

export type SpaceType = 'data' | 'metadata' | 'system';

export interface SpaceInfo {
  type: SpaceType;
  /** Profile name as btrfs prints it: 'single', 'DUP', 'RAID1', ... */
  profile: string;
  /** Bytes allocated to chunks of this type (logical, as `btrfs filesystem df` "total"). */
  totalBytes: number;
  usedBytes: number;
}

export interface DeviceUsage {
  devid: number;
  sizeBytes: number;
  /** Bytes of the device allocated to chunk stripes. */
  allocatedBytes: number;
}

export interface Usage {
  deviceSizeBytes: number;
  deviceAllocatedBytes: number;
  deviceUnallocatedBytes: number;
  /** Sum of used bytes of all block groups (superblock bytes_used). */
  usedBytes: number;
  /** Free bytes estimated as `btrfs filesystem usage` does: data free + unallocated / data ratio. */
  freeEstimatedBytes: number;
  dataRatio: number;
  metadataRatio: number;
  spaces: SpaceInfo[];
  devices: DeviceUsage[];
}

export interface BlockGroupInfo {
  start: number;
  lengthBytes: number;
  usedBytes: number;
  type: SpaceType;
  profile: string;
  stripes: { devid: number; physical: number; lengthBytes: number }[];
}

function typeOf(flags: number): SpaceType {
  if (flags & BlockGroupFlags.DATA) return 'data';
  if (flags & BlockGroupFlags.SYSTEM) return 'system';
  return 'metadata';
}

function profileName(flags: number): string {
  const p = profileOfFlags(flags).name;
  return p === 'single' ? 'single' : p.toUpperCase();
}

export class FilesystemAdmin {
  constructor(private readonly filesystem: Filesystem) {}

  /** `btrfs filesystem df`: per type and profile, allocated (total) and used bytes. */
  df(): Promise<SpaceInfo[]> {
    return this.filesystem.read(async (fs) => {
      const rows = new Map<string, SpaceInfo>();
      for (const bg of fs.blockGroups.all()) {
        const type = typeOf(bg.flags);
        const profile = profileName(bg.flags);
        const key = `${type}/${profile}`;
        const row = rows.get(key) ?? { type, profile, totalBytes: 0, usedBytes: 0 };
        row.totalBytes += bg.length;
        row.usedBytes += bg.used;
        rows.set(key, row);
      }
      const order: SpaceType[] = ['data', 'system', 'metadata'];
      return [...rows.values()].sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type));
    });
  }

  /** `btrfs filesystem usage`: device allocation and a free space estimate. */
  async usage(): Promise<Usage> {
    const spaces = await this.df();
    return this.filesystem.read(async (fs) => {
      const devices: DeviceUsage[] = [...fs.volumes.devices.values()].map((d) => ({ devid: d.devid, sizeBytes: d.item.totalBytes, allocatedBytes: d.item.bytesUsed }));
      const deviceSizeBytes = devices.reduce((a, d) => a + d.sizeBytes, 0);
      const deviceAllocatedBytes = devices.reduce((a, d) => a + d.allocatedBytes, 0);
      const ratio = (type: SpaceType) => {
        const bg = fs.blockGroups.all().find((g) => typeOf(g.flags) === type);
        return bg ? profileOfFlags(bg.flags).ncopies : 1;
      };
      const dataRatio = ratio('data');
      const metadataRatio = ratio('metadata');
      const data = spaces.filter((s) => s.type === 'data');
      const dataFree = data.reduce((a, s) => a + s.totalBytes - s.usedBytes, 0);
      const unallocated = deviceSizeBytes - deviceAllocatedBytes;
      return {
        deviceSizeBytes, deviceAllocatedBytes, deviceUnallocatedBytes: unallocated, usedBytes: fs.sb.bytesUsed,
        freeEstimatedBytes: dataFree + Math.floor(unallocated / dataRatio), dataRatio, metadataRatio, spaces, devices,
      };
    });
  }

  /** Every block group with its placement on the devices (the chunk map). */
  blockGroups(): Promise<BlockGroupInfo[]> {
    return this.filesystem.read(async (fs) => fs.blockGroups.all().map((bg) => {
      const chunk = fs.volumes.chunkAt(bg.start)!;
      const len = stripeSize(chunk);
      return {
        start: bg.start, lengthBytes: bg.length, usedBytes: bg.used, type: typeOf(bg.flags), profile: profileName(bg.flags),
        stripes: chunk.stripes.map((s) => ({ devid: s.devid, physical: s.physical, lengthBytes: len })),
      };
    }));
  }

  /** The filesystem label (`btrfs filesystem label`). */
  getLabel(): Promise<string> {
    return this.filesystem.read(async (fs) => new TextDecoder().decode(fs.sb.label).replace(/\0.*$/s, ''));
  }

  /** Sets the label; it is written with the next commit (made now). */
  async setLabel(label: string): Promise<void> {
    const bytes = new TextEncoder().encode(label);
    if (bytes.length >= LABEL_SIZE) throw new FsError('EINVAL', `label is ${bytes.length} bytes; at most ${LABEL_SIZE - 1}`);
    if (bytes.includes(0)) throw new FsError('EINVAL', 'label contains NUL');
    await this.filesystem.transaction(async (fs) => {
      const padded = new Uint8Array(LABEL_SIZE);
      padded.set(bytes);
      fs.sb.label = padded;
      fs.superDirty = true;
    });
    await this.filesystem.sync();
  }

  /**
   * `btrfs filesystem defragment [-r] [-c[algo]] [-L level] [-s start] [-l len] [-t size]
   * path` (BTRFS_IOC_DEFRAG_RANGE, see src/inode/defrag.ts for which extents are rewritten):
   * the extents are rewritten through the ordinary COW write path in the running
   * transaction (durable at the next commit), so the data is unchanged and its checksums
   * are new. With `compress` every extent is recompressed with that codec (the inode's
   * flags, property and the mount's compress= do not matter; data that does not compress
   * stays plain, and sets the sticky NOCOMPRESS flag unless compress-force or the property).
   * Extents shared with snapshots or reflinks are unshared: the file gets its own copy and
   * the shared copy stays for the others, so free space goes down, as on Linux. mtime and
   * ctime do not change. Symlinks are followed at the top (open(2) follows them) and never
   * below it. A directory without `recursive` succeeds doing nothing (Linux defragments the
   * subvolume's metadata tree there; butterfs has no tree defragmenter).
   *
   * Errors: EROFS (read-only mount or read-only subvolume, snapshots made with readonly),
   * EINVAL (bad options; start at or past the end of a non-empty file; not a regular file
   * or directory), ECANCELED (the signal), ENOSPC / EDQUOT (the rewrite needs space first),
   * ENOENT. With `recursive`, failures of single files are listed in the result and the
   * walk goes on, as progs reports them.
   */
  async defragment(path: PathLike, options: DefragmentOptions = {}): Promise<DefragResult> {
    const p = pathString(path, 'ioctl');
    try {
      const settings = defragSettings(options);
      if (options.signal?.aborted) throw new FsError('ECANCELED', 'defragment cancelled', { cause: options.signal.reason });
      const top = await this.filesystem.read(async (fs): Promise<TreeEntry> => {
        const loc = await this.filesystem.promises.locate(fs, p);
        return { path: p, root: loc.root, ino: loc.ino, type: fileTypeOfMode((await readInode(fs, loc.root, loc.ino)).mode) };
      });
      if (this.filesystem.info.readonly) throw new FsError('EROFS', 'filesystem is mounted read-only');
      return await defragmentEngine(
        { write: (fn) => this.filesystem.transaction(fn), read: (fn) => this.filesystem.read(fn) },
        top, settings, { recursive: options.recursive === true, signal: options.signal, onProgress: options.onProgress },
      );
    } catch (e) {
      throw withPath(e, 'ioctl', p);
    }
  }

  /**
   * What the `compsize` tool reports for files and directories (recursively, into nested
   * subvolumes unless `oneFileSystem`, -x): per compression type, the disk bytes of the
   * extents they use (each extent once), those extents uncompressed, and the bytes the files
   * reference. Symlinks and special files are skipped, as compsize skips them. This is how
   * the compression ratio is seen (stat's blocks count logical bytes, as on btrfs). The
   * running transaction's writes are counted as they are now (compsize on Linux sees them
   * once written back).
   */
  async compsize(paths: PathLike | PathLike[], options: { oneFileSystem?: boolean } = {}): Promise<CompsizeResult> {
    const list = (Array.isArray(paths) ? paths : [paths]).map((x) => pathString(x, 'open'));
    const counter = new CompsizeCounter();
    for (const p of list) {
      try {
        const top = await this.filesystem.read(async (fs): Promise<TreeEntry> => {
          const loc = await this.filesystem.promises.locate(fs, p, false);
          return { path: p, root: loc.root, ino: loc.ino, type: fileTypeOfMode((await readInode(fs, loc.root, loc.ino)).mode) };
        });
        const count = (e: TreeEntry) => this.filesystem.read((fs) => counter.addFile(fs, e.root, e.ino));
        if (top.type === FileType.REG_FILE) await count(top);
        if (top.type !== FileType.DIR) continue;
        for await (const e of walkTree((fn) => this.filesystem.read(fn), top, { crossSubvolumes: options.oneFileSystem !== true })) {
          if (e.type === FileType.REG_FILE) await count(e);
        }
      } catch (e) {
        throw withPath(e, 'open', p);
      }
    }
    return counter.result();
  }

  /** Commits and waits (`btrfs filesystem sync`). */
  sync(): Promise<void> {
    return this.filesystem.sync();
  }
}

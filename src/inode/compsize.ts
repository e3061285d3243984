// What compression saves, counted as the `compsize` tool counts it (kilobyte/compsize,
// compsize.c parse_file_extent_item): the file extent items of regular files, walked from
// files and directories. This is how the compression ratio is seen on btrfs: stat's
// st_blocks counts the inode's nbytes, which btrfs keeps in uncompressed (logical) bytes, and
// `btrfs filesystem df` / `usage` show the space of block groups, not what it holds.
//
// Definitions (per compression type, and their sum):
//  * diskBytes: for every distinct regular or PREALLOC extent (by disk_bytenr, each counted
//    once however many items or files refer to it), disk_num_bytes: the space it takes on
//    disk, compressed and padded to a sector; for an inline extent, the bytes the item
//    stores;
//  * uncompressedBytes: the same extents' ram_bytes (the whole extent, even where only part
//    of it is still referenced: that part cannot be freed until it all is);
//  * referencedBytes: num_bytes of every item (each reference counted), ram_bytes for inline
//    ones: the apparent size of the files less holes.
// Holes count nowhere. PREALLOC extents count under their compression type (none), as in
// compsize. Profiles (DUP, RAID1) do not multiply anything: these are logical bytes.
import type { FsInfo, Root } from '../fs/fs-info.js';
import { FileExtentType } from '../format/constants.js';
import { findFileExtents, isHole } from './file-item.js';
import { COMPRESSION_TYPES } from '../kernels/compression.js';
import { MAX_FILE_SIZE } from './file.js';

export interface CompsizeRow {
  /** 'none', 'zlib', 'lzo', 'zstd', or '?N' for a type btrfs does not define. */
  type: string;
  diskBytes: number;
  uncompressedBytes: number;
  referencedBytes: number;
}

export interface CompsizeResult {
  /** Regular files processed. */
  files: number;
  /** Distinct regular (and PREALLOC) extents, the items referring to them, inline extents. */
  regularExtents: number;
  refs: number;
  inlineExtents: number;
  total: CompsizeRow;
  /** One row per compression type met, by type id (none first). */
  byType: CompsizeRow[];
}

function typeName(id: number): string {
  if (id === 0) return 'none';
  return COMPRESSION_TYPES.find((t) => t.id === id)?.name ?? `?${id}`;
}

/** compsize's workspace: the sums, and the extents already counted. */
export class CompsizeCounter {
  private readonly rows = new Map<number, CompsizeRow>();
  private readonly seen = new Set<number>();
  private files = 0;
  private regularExtents = 0;
  private refs = 0;
  private inlineExtents = 0;

  private row(id: number): CompsizeRow {
    let r = this.rows.get(id);
    if (!r) {
      r = { type: typeName(id), diskBytes: 0, uncompressedBytes: 0, referencedBytes: 0 };
      this.rows.set(id, r);
    }
    return r;
  }

  /** do_file: every file extent item of a regular file. */
  async addFile(fs: FsInfo, root: Root, ino: number): Promise<void> {
    this.files++;
    for (const fe of await findFileExtents(fs, root, ino, 0, MAX_FILE_SIZE)) {
      const r = this.row(fe.compression);
      if (fe.type === FileExtentType.INLINE) {
        r.diskBytes += fe.inline!.length;
        r.uncompressedBytes += fe.ramBytes;
        r.referencedBytes += fe.ramBytes;
        this.inlineExtents++;
        continue;
      }
      if (isHole(fe)) continue;
      if (!this.seen.has(fe.diskBytenr)) {
        this.seen.add(fe.diskBytenr);
        r.diskBytes += fe.diskNumBytes;
        r.uncompressedBytes += fe.ramBytes;
        this.regularExtents++;
      }
      r.referencedBytes += fe.numBytes;
      this.refs++;
    }
  }

  result(): CompsizeResult {
    const all = [...this.rows.entries()].sort((a, b) => a[0] - b[0]).map(([, r]) => ({ ...r }));
    const total: CompsizeRow = { type: 'TOTAL', diskBytes: 0, uncompressedBytes: 0, referencedBytes: 0 };
    // compsize sums every type and prints only the types with uncompressed bytes.
    const byType = all.filter((r) => r.uncompressedBytes > 0);
    for (const r of all) {
      total.diskBytes += r.diskBytes;
      total.uncompressedBytes += r.uncompressedBytes;
      total.referencedBytes += r.referencedBytes;
    }
    return { files: this.files, regularExtents: this.regularExtents, refs: this.refs, inlineExtents: this.inlineExtents, total, byType };
  }
}

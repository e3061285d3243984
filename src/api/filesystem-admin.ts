// `fs.filesystem`: the `btrfs filesystem` commands that make sense here: df, usage, label,
// sync, and the block group map (what `btrfs inspect-internal dump-tree -t chunk` shows,
// as data) for tools and the demo. resize and defragment are not implemented yet and are
// absent.
import type { Filesystem } from './filesystem.js';
import { BlockGroupFlags, LABEL_SIZE } from '../format/constants.js';
import { profileOfFlags } from '../volume/raid.js';
import { stripeSize } from '../volume/volumes.js';
import { FsError } from '../util/errors.js';

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

  /** Commits and waits (`btrfs filesystem sync`). */
  sync(): Promise<void> {
    return this.filesystem.sync();
  }
}

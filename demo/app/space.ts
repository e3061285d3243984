// Space and layout of the mounted filesystem, for `btrfs filesystem df|usage|show` and the space
// and block-group panels: from the engine's `fs.filesystem.blockGroups()` / `usage()`, or, on an
// engine without them, from the chunk tree and the block group items in dump-tree text
// (btrfs-dump.ts). Block group usage changes when delayed refs run, at commit.
import type { FilesystemClient } from '../../src/worker/client.js';
import { parseBlockGroups, parseChunkTree, type ChunkInfo, type ChunkKind } from './btrfs-dump.js';

/** Copies of each byte per profile (btrfs_raid_array's ncopies; parity profiles count one). */
const COPIES: Record<string, number> = { single: 1, dup: 2, raid0: 1, raid1: 2, raid1c3: 3, raid1c4: 4, raid10: 2, raid5: 1, raid6: 1 };

export interface KindTotals {
  kind: ChunkKind;
  profile: string;
  /** Logical bytes allocated to block groups of this kind. */
  totalBytes: number;
  usedBytes: number;
  /** Raw device bytes those block groups take (x2 for DUP). */
  rawBytes: number;
}

export interface DeviceInfo {
  devid: number;
  totalBytes: number;
  /** Bytes allocated to chunks (dev extents). */
  bytesUsed: number;
}

export interface SpaceReport {
  chunks: ChunkInfo[];
  kinds: KindTotals[];
  devices: DeviceInfo[];
  /** Superblock totals. */
  totalBytes: number;
  bytesUsed: number;
  label: string;
  generation: number;
  nodesize: number;
  sectorsize: number;
  csumType: string;
  fsid: string;
}

export function copiesOf(profile: string): number {
  return COPIES[profile.toLowerCase()] ?? 1;
}

function parseDevices(chunkDump: string): DeviceInfo[] {
  const out: DeviceInfo[] = [];
  for (const m of chunkDump.matchAll(/devid (\d+) total_bytes (\d+) bytes_used (\d+)/g)) {
    out.push({ devid: Number(m[1]), totalBytes: Number(m[2]), bytesUsed: Number(m[3]) });
  }
  return out;
}

function superField(dump: string, name: string): string {
  const m = new RegExp(`^${name}\\s+(.*)$`, 'm').exec(dump);
  return m ? m[1].trim() : '';
}

interface BlockGroupApi {
  start: number;
  lengthBytes: number;
  usedBytes: number;
  type: 'data' | 'metadata' | 'system';
  profile: string;
  stripes: { devid: number; physical: number; lengthBytes: number }[];
}
interface UsageApi {
  devices: { devid: number; sizeBytes: number; allocatedBytes: number }[];
}
interface AdminApi {
  blockGroups(): Promise<BlockGroupApi[]>;
  usage(): Promise<UsageApi>;
}

function isMissing(e: unknown): boolean {
  return /is not a function|Cannot read properties of undefined|undefined is not an object/.test(e instanceof Error ? e.message : String(e));
}

/** From `fs.filesystem.blockGroups()` and `usage()` (the engine's own numbers), when it has them. */
async function fromApi(fs: FilesystemClient): Promise<Pick<SpaceReport, 'chunks' | 'devices'> | undefined> {
  const admin = (fs as unknown as { filesystem: AdminApi }).filesystem;
  try {
    const [groups, usage] = await Promise.all([admin.blockGroups(), admin.usage()]);
    const chunks: ChunkInfo[] = groups.map((g) => ({
      logical: g.start, length: g.lengthBytes, used: g.usedBytes,
      kind: g.type.toUpperCase() as ChunkKind, profile: g.profile.toLowerCase(), type: `${g.type.toUpperCase()}|${g.profile}`,
      stripes: g.stripes.map((st) => ({ devid: st.devid, offset: st.physical })),
    }));
    return { chunks, devices: usage.devices.map((d) => ({ devid: d.devid, totalBytes: d.sizeBytes, bytesUsed: d.allocatedBytes })) };
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
}

/** From dump-tree text (engines before fs.filesystem.blockGroups). */
async function fromDump(fs: FilesystemClient): Promise<Pick<SpaceReport, 'chunks' | 'devices'>> {
  const [chunkDump, extentDump] = await Promise.all([fs.dumpTree({ tree: 3 }), fs.dumpTree({ tree: 2 })]);
  const chunks = parseChunkTree(chunkDump);
  // Block group items live in the extent tree, or in the block group tree (tree 11) with that feature.
  let groups = parseBlockGroups(extentDump);
  if (groups.size === 0 && chunks.length > 0) groups = parseBlockGroups(await fs.dumpTree({ tree: 11 }).catch(() => ''));
  for (const c of chunks) c.used = groups.get(c.logical)?.used ?? 0;
  return { chunks, devices: parseDevices(chunkDump) };
}

export async function loadSpace(fs: FilesystemClient): Promise<SpaceReport> {
  const [layout, superDump] = await Promise.all([fromApi(fs).then(async (r) => r ?? fromDump(fs)), fs.dumpSuper()]);
  const { chunks, devices } = layout;
  const kinds = new Map<string, KindTotals>();
  for (const c of chunks) {
    const key = `${c.kind}|${c.profile}`;
    const k = kinds.get(key) ?? { kind: c.kind, profile: c.profile, totalBytes: 0, usedBytes: 0, rawBytes: 0 };
    k.totalBytes += c.length;
    k.usedBytes += c.used ?? 0;
    k.rawBytes += c.length * copiesOf(c.profile);
    kinds.set(key, k);
  }
  const order: ChunkKind[] = ['DATA', 'METADATA', 'SYSTEM', 'MIXED'];
  return {
    chunks,
    kinds: [...kinds.values()].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind)),
    devices,
    totalBytes: Number(superField(superDump, 'total_bytes')),
    bytesUsed: Number(superField(superDump, 'bytes_used')),
    label: superField(superDump, 'label'),
    generation: Number(superField(superDump, 'generation')),
    nodesize: Number(superField(superDump, 'nodesize')),
    sectorsize: Number(superField(superDump, 'sectorsize')),
    csumType: /\((\w+)\)/.exec(superField(superDump, 'csum_type'))?.[1] ?? '',
    fsid: superField(superDump, 'fsid'),
  };
}

export function kindTitle(kind: ChunkKind): string {
  return { DATA: 'Data', METADATA: 'Metadata', SYSTEM: 'System', MIXED: 'Data+Metadata' }[kind];
}

// Reads what the demo's panels need out of `dump-tree` text (the layout of btrfs-progs'
// `btrfs inspect-internal dump-tree`), because the library has no structured API for it yet:
//  * chunks (chunk tree, tree 3): logical start, length, type and profile, stripes on devices;
//  * block group usage (BLOCK_GROUP_ITEM in the extent tree, tree 2): used bytes per chunk;
//  * subvolumes (ROOT_ITEM with id 5 or >= 256 and ROOT_BACKREF in the root tree, tree 1).
// When `fs.filesystem.df()` / `usage()` and `fs.subvolume.list()` land, the panels read those and
// this file only stays as the fallback for older engines.

export type ChunkKind = 'DATA' | 'METADATA' | 'SYSTEM' | 'MIXED';

export interface Stripe {
  devid: number;
  /** Physical byte offset on the device. */
  offset: number;
}

export interface ChunkInfo {
  logical: number;
  length: number;
  /** The type string as printed, e.g. 'METADATA|DUP'. */
  type: string;
  kind: ChunkKind;
  profile: string;
  stripes: Stripe[];
  /** Bytes used in the block group (undefined when the extent tree was not read). */
  used?: number;
}

export interface SubvolumeInfo {
  id: number;
  /** Path from the top level, as `btrfs subvolume list` prints it ('' for the top level). */
  path: string;
  name: string;
  parentId: number | undefined;
  generation: number;
  otransid: number;
  ctransid: number;
  uuid: string;
  parentUuid: string;
  readonly: boolean;
  otime: string;
}

function kindOf(type: string): ChunkKind {
  const parts = type.toUpperCase().split('|');
  if (parts.includes('DATA') && parts.includes('METADATA')) return 'MIXED';
  if (parts.includes('METADATA')) return 'METADATA';
  if (parts.includes('SYSTEM')) return 'SYSTEM';
  return 'DATA';
}

function profileOf(type: string): string {
  const parts = type.split('|').map((s) => s.trim().toLowerCase());
  const p = parts.find((s) => !['data', 'metadata', 'system'].includes(s));
  return p ?? 'single';
}

/** Chunks from `dumpTree({ tree: 3 })`. */
export function parseChunkTree(text: string): ChunkInfo[] {
  const chunks: ChunkInfo[] = [];
  let current: ChunkInfo | undefined;
  for (const line of text.split('\n')) {
    const key = /key \(FIRST_CHUNK_TREE CHUNK_ITEM (\d+)\)/.exec(line);
    if (key) {
      current = { logical: Number(key[1]), length: 0, type: '', kind: 'DATA', profile: 'single', stripes: [] };
      chunks.push(current);
      continue;
    }
    if (/^\titem \d+ key/.test(line)) {
      current = undefined;
      continue;
    }
    if (!current) continue;
    const len = /^\s+length (\d+) owner \d+ stripe_len \d+ type (\S+)/.exec(line);
    if (len) {
      current.length = Number(len[1]);
      current.type = len[2];
      current.kind = kindOf(len[2]);
      current.profile = profileOf(len[2]);
      continue;
    }
    const stripe = /^\s+stripe \d+ devid (\d+) offset (\d+)/.exec(line);
    if (stripe) current.stripes.push({ devid: Number(stripe[1]), offset: Number(stripe[2]) });
  }
  return chunks;
}

/** Used bytes per block group (keyed by logical start) from `dumpTree({ tree: 2 })` (or tree 11). */
export function parseBlockGroups(text: string): Map<number, { length: number; used: number; flags: string }> {
  const groups = new Map<number, { length: number; used: number; flags: string }>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const key = /key \((\d+) BLOCK_GROUP_ITEM (\d+)\)/.exec(lines[i]);
    if (!key) continue;
    const body = /block group used (\d+) chunk_objectid \d+ flags (\S+)/.exec(lines[i + 1] ?? '');
    if (body) groups.set(Number(key[1]), { length: Number(key[2]), used: Number(body[1]), flags: body[2] });
  }
  return groups;
}

const ROOT_NAMES: Record<string, number> = { FS_TREE: 5 };

/** Subvolumes and snapshots from `dumpTree({ tree: 1 })`. */
export function parseSubvolumes(text: string): SubvolumeInfo[] {
  const byId = new Map<number, SubvolumeInfo>();
  const backrefs = new Map<number, { parent: number; name: string; dirid: number }>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const rootItem = /^\titem \d+ key \((\w+) ROOT_ITEM (\d+)\)/.exec(lines[i]);
    if (rootItem) {
      const id = ROOT_NAMES[rootItem[1]] ?? Number(rootItem[1]);
      if (!(id === 5 || (Number.isFinite(id) && id >= 256))) continue;
      const block: string[] = [];
      for (let j = i + 1; j < lines.length && !/^\titem \d+ key/.test(lines[j]); j++) block.push(lines[j]);
      const body = block.join('\n');
      const num = (re: RegExp) => Number(re.exec(body)?.[1] ?? 0);
      const str = (re: RegExp) => re.exec(body)?.[1] ?? '';
      const flags = str(/flags (0x[0-9a-f]+\([^)]*\))/);
      byId.set(id, {
        id,
        path: '',
        name: id === 5 ? '<FS_TREE>' : '',
        parentId: undefined,
        generation: num(/^\s+generation (\d+) root_dirid/m),
        otransid: num(/otransid (\d+)/),
        ctransid: num(/ctransid (\d+)/),
        uuid: str(/^\s+uuid (\S+)/m),
        parentUuid: str(/parent_uuid (\S+)/),
        readonly: /RDONLY/.test(flags),
        otime: str(/otime \S+ \(([^)]*)\)/),
      });
      continue;
    }
    const backref = /^\titem \d+ key \((\d+) ROOT_BACKREF (\d+)\)/.exec(lines[i]);
    if (backref) {
      const body = /root backref key dirid (\d+) sequence \d+ name (.*)$/.exec(lines[i + 1] ?? '');
      if (body) backrefs.set(Number(backref[1]), { parent: Number(backref[2]), name: body[2], dirid: Number(body[1]) });
    }
  }
  for (const [id, ref] of backrefs) {
    const s = byId.get(id);
    if (!s) continue;
    s.name = ref.name;
    s.parentId = ref.parent;
  }
  // Paths from the top level. Directory names between a parent's root and the subvolume (dirid
  // other than 256) are not in the root tree; the fallback shows the subvolume's own name there.
  const pathOf = (s: SubvolumeInfo, depth = 0): string => {
    if (s.id === 5 || s.parentId === undefined || depth > 64) return s.id === 5 ? '' : s.name;
    const parent = byId.get(s.parentId);
    const base = parent ? pathOf(parent, depth + 1) : '';
    return base ? `${base}/${s.name}` : s.name;
  };
  for (const s of byId.values()) s.path = pathOf(s);
  // Deleted subvolumes (no backref, not the top level) are being cleaned up: not listed.
  return [...byId.values()].filter((s) => s.id === 5 || s.parentId !== undefined).sort((a, b) => a.id - b.id);
}

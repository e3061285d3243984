// btrfs mount options (btrfs-man5 MOUNT OPTIONS, plus the generic ones of mount(8) that
// matter to btrfs), as one table: every option btrfs documents is either implemented or
// refused by name with EINVAL and the reason it has no meaning here (yet). Parsing follows
// mount: comma separated, processed in order, the last occurrence wins, `no` prefixes.
import { FsError } from '../util/errors.js';
import { compressionTypeByName, effectiveLevel, type CompressionName } from '../kernels/compression.js';

export type AtimePolicy = 'relatime' | 'noatime' | 'strictatime';

export interface MountOptions {
  readonly: boolean;
  /** commit=<seconds>: interval of the periodic commit (btrfs default 30 s). */
  commitIntervalMs: number;
  /** nobarrier skips device flushes at commit (unsafe, as in btrfs). */
  barrier: boolean;
  /** New files get NODATACOW (and NODATASUM). */
  dataCow: boolean;
  /** New files get NODATASUM when false. */
  dataSum: boolean;
  /** Largest file (in bytes) stored inline in its EXTENT_DATA item. */
  maxInlineBytes: number;
  atime: AtimePolicy;
  /** nodiratime: never update atime of directories. */
  dirAtime: boolean;
  /** POSIX ACL xattrs (system.posix_acl_*) accepted. */
  acl: boolean;
  useBackupRoot: boolean;
  /** nologreplay / norecovery / rescue=nologreplay: do not replay a tree-log (needs ro). */
  noLogReplay: boolean;
  /** rescue=ignoredatacsums: reads skip data checksum verification (needs ro). */
  ignoreDataCsums: boolean;
  degraded: boolean;
  /** subvolid=, subvol=: the subvolume to mount (undefined: the default subvolume). */
  subvolId: number | undefined;
  subvolPath: string | undefined;
  /** compress / compress-force: the codec new writes try (undefined: no compression). */
  compress: CompressionName | undefined;
  /** The codec's level (effectiveLevel: 0 already mapped to the codec's default). */
  compressLevel: number;
  /** compress-force: every write is compressed, no heuristic, no sticky NOCOMPRESS. */
  compressForce: boolean;
}

export const DEFAULT_COMMIT_INTERVAL_MS = 30_000;
export const DEFAULT_MAX_INLINE_BYTES = 2048;
/** btrfs warns above 300 s; we refuse absurd values outright. */
const MAX_COMMIT_SECONDS = 24 * 3600;

export function defaultMountOptions(): MountOptions {
  return {
    readonly: false, commitIntervalMs: DEFAULT_COMMIT_INTERVAL_MS, barrier: true, dataCow: true, dataSum: true,
    maxInlineBytes: DEFAULT_MAX_INLINE_BYTES, atime: 'relatime', dirAtime: true, acl: true, useBackupRoot: false,
    noLogReplay: false, ignoreDataCsums: false, degraded: false, subvolId: undefined, subvolPath: undefined,
    compress: undefined, compressLevel: 0, compressForce: false,
  };
}

type Apply = (o: MountOptions, value: string | undefined, name: string) => void;

interface OptionRow {
  /** Names this row answers to (a `no` form is its own name). */
  names: string[];
  /** 'flag': no value allowed; 'value': value required; 'optional': either. */
  kind: 'flag' | 'value' | 'optional';
  /** What btrfs-man5 says the default is. */
  btrfsDefault: string;
  /** Implemented: how it applies. */
  apply?: Apply;
  /** Refused: why it has no meaning here (the EINVAL message). */
  refused?: string;
}

const noValue = (name: string, value: string | undefined) => {
  if (value !== undefined) throw new FsError('EINVAL', `mount option '${name}' takes no value`);
};

function parseBytes(name: string, v: string): number {
  const m = /^(\d+)([kK]?)$/.exec(v);
  if (!m) throw new FsError('EINVAL', `${name}=${v}: expected bytes, optionally with a K suffix`);
  return Number(m[1]) * (m[2] ? 1024 : 1);
}

function applyRescue(o: MountOptions, value: string | undefined): void {
  for (const mode of (value ?? '').split(':')) {
    switch (mode) {
      case 'usebackuproot': o.useBackupRoot = true; break;
      case 'nologreplay': o.noLogReplay = true; break;
      case 'ignoredatacsums':
      case 'idatacsums': o.ignoreDataCsums = true; break;
      case 'ignorebadroots':
      case 'ibadroots': throw new FsError('EINVAL', `rescue=${mode}: not supported: butterfs needs every global tree to mount`);
      case 'all': throw new FsError('EINVAL', 'rescue=all: not supported (ignorebadroots is not); name the modes: usebackuproot:nologreplay:ignoredatacsums');
      default: throw new FsError('EINVAL', `rescue=${mode}: unknown rescue mode`);
    }
  }
}

/**
 * compress[=type[:level]] and compress-force[=type[:level]] as btrfs_parse_options reads
 * them: no value means zlib; zlib and zstd take a level (0 or none: the default; above the
 * maximum: clamped, as btrfs_compress_set_level does); lzo has none; 'no' / 'none' turn
 * compression (and forcing) off. A codec turns datacow and datasum back on, since
 * compression needs both. The last compress option decides whether it is forced.
 */
function applyCompress(o: MountOptions, value: string | undefined, name: string): void {
  const v = value ?? '';
  if (v === 'no' || v === 'none') {
    o.compress = undefined;
    o.compressLevel = 0;
    o.compressForce = false;
    return;
  }
  const m = /^(zlib|lzo|zstd)?(?::(\d+))?$/.exec(v);
  if (!m || (m[1] === undefined && v !== '')) throw new FsError('EINVAL', `${name}=${v}: expected zlib, lzo or zstd, optionally with :level, or no`);
  const codec = (m[1] ?? 'zlib') as CompressionName;
  const t = compressionTypeByName(codec);
  const level = m[2] === undefined ? 0 : Number(m[2]);
  if (codec === 'lzo' && m[2] !== undefined && level !== 0 && level !== 1) throw new FsError('EINVAL', `${name}=${v}: lzo has no levels`);
  o.compress = codec;
  o.compressLevel = codec === 'lzo' ? t.defaultLevel : effectiveLevel(codec, Math.min(level, t.maxLevel));
  o.compressForce = name === 'compress-force';
  o.dataCow = true;
  o.dataSum = true;
}

/** The table. Order follows btrfs-man5; generic mount(8) options last. */
export const MOUNT_OPTIONS: readonly OptionRow[] = [
  { names: ['acl'], kind: 'flag', btrfsDefault: 'on', apply: (o) => { o.acl = true; } },
  { names: ['noacl'], kind: 'flag', btrfsDefault: 'on', apply: (o) => { o.acl = false; } },
  { names: ['autodefrag'], kind: 'flag', btrfsDefault: 'off', refused: 'automatic defragmentation is not implemented yet' },
  { names: ['noautodefrag'], kind: 'flag', btrfsDefault: 'off', apply: () => undefined },
  { names: ['barrier'], kind: 'flag', btrfsDefault: 'on', apply: (o) => { o.barrier = true; } },
  { names: ['nobarrier'], kind: 'flag', btrfsDefault: 'on', apply: (o) => { o.barrier = false; } },
  { names: ['check_int', 'check_int_data', 'check_int_print_mask'], kind: 'optional', btrfsDefault: 'off', refused: 'the integrity checker is a kernel debugging module; butterfs verifies every block it reads and writes instead' },
  { names: ['clear_cache'], kind: 'flag', btrfsDefault: 'off', refused: 'rebuilding the free space tree is not implemented; butterfs keeps no v1 space cache to clear' },
  { names: ['commit'], kind: 'optional', btrfsDefault: '30', apply: (o, v) => {
    const s = v === undefined || v === '' ? 0 : Number(v);
    if (!Number.isInteger(s) || s < 0 || s > MAX_COMMIT_SECONDS) throw new FsError('EINVAL', `commit=${v}: expected whole seconds from 0 to ${MAX_COMMIT_SECONDS}`);
    o.commitIntervalMs = s === 0 ? DEFAULT_COMMIT_INTERVAL_MS : s * 1000;
  } },
  { names: ['compress', 'compress-force'], kind: 'optional', btrfsDefault: 'off', apply: applyCompress },
  { names: ['datacow'], kind: 'flag', btrfsDefault: 'on', apply: (o) => { o.dataCow = true; } },
  // nodatacow switches compression off (btrfs_parse_options: clears COMPRESS and FORCE_COMPRESS).
  { names: ['nodatacow'], kind: 'flag', btrfsDefault: 'on', apply: (o) => { o.dataCow = false; o.dataSum = false; o.compress = undefined; o.compressForce = false; } },
  { names: ['datasum'], kind: 'flag', btrfsDefault: 'on', apply: (o) => { o.dataSum = true; o.dataCow = true; } },
  { names: ['nodatasum'], kind: 'flag', btrfsDefault: 'on', apply: (o) => { o.dataSum = false; } },
  { names: ['degraded'], kind: 'flag', btrfsDefault: 'off', apply: (o) => { o.degraded = true; } },
  { names: ['device'], kind: 'value', btrfsDefault: '-', refused: 'devices are given to mount() as BlockDevice objects, not paths' },
  { names: ['discard'], kind: 'optional', btrfsDefault: 'off', refused: 'discarding freed blocks (freeing OPFS/IndexedDB storage) is not implemented yet' },
  { names: ['nodiscard'], kind: 'flag', btrfsDefault: 'off', apply: () => undefined },
  { names: ['enospc_debug'], kind: 'flag', btrfsDefault: 'off', refused: 'there is no kernel log; ENOSPC errors already name the space that ran out' },
  { names: ['noenospc_debug'], kind: 'flag', btrfsDefault: 'off', apply: () => undefined },
  { names: ['fatal_errors'], kind: 'value', btrfsDefault: 'bug', refused: 'there is no kernel to BUG() or panic(); fatal errors make the filesystem read-only and surface as errors' },
  { names: ['flushoncommit', 'noflushoncommit'], kind: 'flag', btrfsDefault: 'off', apply: () => undefined },
  { names: ['fragment'], kind: 'value', btrfsDefault: 'off', refused: 'a kernel debugging helper (BTRFS_DEBUG)' },
  { names: ['nologreplay', 'norecovery'], kind: 'flag', btrfsDefault: 'off', apply: (o) => { o.noLogReplay = true; } },
  { names: ['max_inline'], kind: 'value', btrfsDefault: 'min(2048, page size)', apply: (o, v, name) => { o.maxInlineBytes = parseBytes(name, v!); } },
  { names: ['metadata_ratio'], kind: 'value', btrfsDefault: '0', refused: 'forcing a metadata chunk every N data chunks is not implemented' },
  { names: ['rescan_uuid_tree'], kind: 'flag', btrfsDefault: 'off', refused: 'rebuilding the uuid tree is not implemented yet' },
  { names: ['rescue'], kind: 'value', btrfsDefault: '-', apply: (o, v) => applyRescue(o, v) },
  { names: ['skip_balance'], kind: 'flag', btrfsDefault: 'off', refused: 'balance is not implemented yet, so there is no interrupted balance to skip' },
  { names: ['space_cache'], kind: 'optional', btrfsDefault: 'v2 (free space tree)', apply: (_o, v) => {
    if (v === 'v2') return;
    throw new FsError('EINVAL', `space_cache${v ? `=${v}` : ''}: butterfs keeps free space only in the free space tree (space_cache=v2)`);
  } },
  { names: ['nospace_cache'], kind: 'flag', btrfsDefault: 'v2', refused: 'butterfs needs the free space tree (space_cache=v2)' },
  { names: ['ssd', 'nossd'], kind: 'flag', btrfsDefault: 'autodetected', apply: () => undefined },
  { names: ['ssd_spread'], kind: 'flag', btrfsDefault: 'off', refused: 'the ssd_spread allocation scheme is not implemented' },
  { names: ['nossd_spread'], kind: 'flag', btrfsDefault: 'off', apply: () => undefined },
  { names: ['subvol'], kind: 'value', btrfsDefault: 'the default subvolume', apply: (o, v) => { o.subvolPath = v; } },
  { names: ['subvolid'], kind: 'value', btrfsDefault: 'the default subvolume', apply: (o, v, name) => {
    const id = Number(v);
    if (!Number.isSafeInteger(id) || id <= 0) throw new FsError('EINVAL', `${name}=${v}: expected a subvolume id`);
    o.subvolId = id;
  } },
  { names: ['thread_pool'], kind: 'value', btrfsDefault: 'min(NRCPUS + 2, 8)', refused: 'butterfs runs on one thread (its worker); there is no pool to size' },
  { names: ['treelog'], kind: 'flag', btrfsDefault: 'on', refused: 'the tree-log is not implemented yet: fsync does a full commit (what notreelog does)' },
  { names: ['notreelog'], kind: 'flag', btrfsDefault: 'on', apply: () => undefined },
  { names: ['usebackuproot', 'recovery'], kind: 'flag', btrfsDefault: 'off', apply: (o) => { o.useBackupRoot = true; } },
  { names: ['user_subvol_rm_allowed'], kind: 'flag', btrfsDefault: 'off', refused: 'butterfs has no users: whoever holds the filesystem may delete subvolumes' },
  { names: ['inode_cache'], kind: 'flag', btrfsDefault: 'off', refused: 'removed from btrfs in 5.11' },
  { names: ['noinode_cache'], kind: 'flag', btrfsDefault: 'off', apply: () => undefined },
  // generic mount(8) options that matter to btrfs
  { names: ['defaults'], kind: 'flag', btrfsDefault: '-', apply: () => undefined },
  { names: ['ro'], kind: 'flag', btrfsDefault: 'rw', apply: (o) => { o.readonly = true; } },
  { names: ['rw'], kind: 'flag', btrfsDefault: 'rw', apply: (o) => { o.readonly = false; } },
  { names: ['relatime'], kind: 'flag', btrfsDefault: 'relatime', apply: (o) => { o.atime = 'relatime'; } },
  { names: ['norelatime', 'strictatime'], kind: 'flag', btrfsDefault: 'relatime', apply: (o) => { o.atime = 'strictatime'; } },
  { names: ['noatime'], kind: 'flag', btrfsDefault: 'relatime', apply: (o) => { o.atime = 'noatime'; } },
  { names: ['atime'], kind: 'flag', btrfsDefault: 'relatime', apply: (o) => { if (o.atime === 'noatime') o.atime = 'relatime'; } },
  { names: ['nodiratime'], kind: 'flag', btrfsDefault: 'diratime', apply: (o) => { o.dirAtime = false; } },
  { names: ['diratime'], kind: 'flag', btrfsDefault: 'diratime', apply: (o) => { o.dirAtime = true; } },
  { names: ['lazytime', 'nolazytime'], kind: 'flag', btrfsDefault: 'nolazytime', refused: 'lazytime is not implemented: timestamps are written with the next commit as any change' },
];

const BY_NAME = new Map<string, OptionRow>(MOUNT_OPTIONS.flatMap((r) => r.names.map((n) => [n, r] as const)));

export function parseMountOptions(input: string | undefined): MountOptions {
  const o = defaultMountOptions();
  if (!input) return o;
  for (const raw of input.split(',')) {
    const opt = raw.trim();
    if (opt === '') continue;
    const eq = opt.indexOf('=');
    const name = eq < 0 ? opt : opt.slice(0, eq);
    const value = eq < 0 ? undefined : opt.slice(eq + 1);
    const row = BY_NAME.get(name);
    if (!row) throw new FsError('EINVAL', `unknown mount option '${name}'`);
    if (row.refused) throw new FsError('EINVAL', `mount option '${name}': ${row.refused}`);
    if (row.kind === 'flag') noValue(name, value);
    if (row.kind === 'value' && (value === undefined || value === '')) throw new FsError('EINVAL', `mount option '${name}' needs a value`);
    row.apply!(o, value, name);
  }
  if (o.noLogReplay && !o.readonly) throw new FsError('EINVAL', 'nologreplay must be used with ro');
  if (o.ignoreDataCsums && !o.readonly) throw new FsError('EINVAL', 'rescue=ignoredatacsums must be used with ro');
  if (o.maxInlineBytes < 0) throw new FsError('EINVAL', 'max_inline below 0');
  return o;
}

/** A point in time as btrfs keeps it. */
export interface TimeSpec {
  sec: number;
  nsec: number;
}

function before(a: TimeSpec, b: TimeSpec): boolean {
  return a.sec < b.sec || (a.sec === b.sec && a.nsec <= b.nsec);
}

/**
 * btrfs's atime rules (touch_atime / relatime_need_update with relatime, strictatime,
 * noatime, nodiratime, and the inode's A attribute). Full timestamps are compared, as Linux
 * does: in the second of a write, a read after it does not update atime again.
 */
export function shouldUpdateAtime(o: MountOptions, isDirectory: boolean, atime: TimeSpec, mtime: TimeSpec, ctime: TimeSpec, now: TimeSpec, inodeNoAtime: boolean): boolean {
  if (o.readonly || o.atime === 'noatime' || inodeNoAtime) return false;
  if (isDirectory && !o.dirAtime) return false;
  if (o.atime === 'strictatime') return true;
  // relatime: when atime is not newer than mtime or ctime, or a day old.
  return before(atime, mtime) || before(atime, ctime) || now.sec - atime.sec >= 24 * 3600;
}

// Differential testing of fs.promises: seeded random operation sequences run side by side on
// butterfs and on an oracle (node:fs/promises in a temp directory in the node project; another
// implementation in the browser later), results, contents, directory listings, the stat fields
// that must agree, and error codes compared after every operation. Free of node imports, so the
// browser project can reuse it with its own oracle.
//
// Paths never climb out of the oracle's directory: '..' only follows a real component, and
// symlink targets are relative and never contain '..' (so a path's physical depth is at least
// its lexical depth). Destructive operations never get '/', '.' or '..' as their whole path.
//
// Known, deliberate differences normalised here: node's TypeErrors for bad arguments
// (ERR_INVALID_ARG_VALUE, ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE) are EINVAL in butterfs; rm of
// a directory without recursive is ERR_FS_EISDIR in node and EISDIR here. Fields that differ by
// filesystem design are not compared: directory sizes and nlink (btrfs counts name bytes and
// keeps nlink 1), st_blocks, st_dev, st_ino, timestamps other than those set by utimes.

/** The subset of node:fs/promises the suite drives (node's module and ours both satisfy it). */
export interface PromisesLike {
  readFile(path: string, options?: unknown): Promise<unknown>;
  writeFile(path: string, data: unknown, options?: unknown): Promise<void>;
  appendFile(path: string, data: unknown, options?: unknown): Promise<void>;
  open(path: string, flags?: string | number, mode?: number): Promise<HandleLike>;
  readdir(path: string, options?: unknown): Promise<unknown[]>;
  stat(path: string, options?: unknown): Promise<StatsLike>;
  lstat(path: string, options?: unknown): Promise<StatsLike>;
  mkdir(path: string, options?: unknown): Promise<string | undefined>;
  rm(path: string, options?: unknown): Promise<void>;
  rmdir(path: string, options?: unknown): Promise<void>;
  unlink(path: string): Promise<void>;
  rename(a: string, b: string): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  readlink(path: string, options?: unknown): Promise<unknown>;
  link(a: string, b: string): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  lchown(path: string, uid: number, gid: number): Promise<void>;
  utimes(path: string, a: number | Date, m: number | Date): Promise<void>;
  truncate(path: string, len?: number): Promise<void>;
  copyFile(a: string, b: string, mode?: number): Promise<void>;
  access(path: string, mode?: number): Promise<void>;
  realpath(path: string, options?: unknown): Promise<unknown>;
}

export interface HandleLike {
  read(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesRead: number }>;
  write(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesWritten: number }>;
  truncate(len?: number): Promise<void>;
  stat(): Promise<StatsLike>;
  readFile(options?: unknown): Promise<unknown>;
  close(): Promise<void>;
}

export interface StatsLike {
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  isDirectory(): boolean;
  isFile(): boolean;
  isSymbolicLink(): boolean;
}

/** One side of the comparison: an fs.promises and the prefix that maps '/x' to its paths. */
export interface Side {
  readonly fs: PromisesLike;
  readonly prefix: string;
}

export interface DifferentialOptions {
  seed: number;
  ops: number;
  /** butterfs (may change after a remount: read it each time). */
  subject: () => Side;
  oracle: Side;
  /** Commit butterfs (fs.sync()). */
  commit?: () => Promise<void>;
  /** Unmount and mount butterfs again (all handles are closed first). */
  remount?: () => Promise<void>;
  /** Operations between commits / remounts (0: never). */
  commitEvery?: number;
  remountEvery?: number;
  /** Compare the whole trees every this many operations (1 to find the first divergence of a seed). */
  compareEvery?: number;
  /** Operations kept for the failure message (default 15). */
  logLines?: number;
  /** butterfs-only extras run now and then (xattrs), given the subject's fs and a path. */
  extra?: (fs: PromisesLike, path: string, rng: Rng) => Promise<void>;
  /**
   * Handle writes are now and then 128-768 KiB at sector-aligned positions (several 128 KiB
   * compression chunks: what a compressed write sends to the workers and may leave behind).
   */
  bigWrites?: boolean;
  /**
   * Handle writes are often whole sectors (1-4) at sector-aligned positions, and handle reads
   * often small and near them: overwrites that wait as dirty sectors (inode/file.ts) and reads
   * through them.
   */
  sectorWrites?: boolean;
}

export interface DifferentialStats {
  ops: number;
  errors: number;
  byOp: Record<string, number>;
  byError: Record<string, number>;
  commits: number;
  remounts: number;
}

// ---------------------------------------------------------------- randomness

export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  /** mulberry32 */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    // Runs of a repeated byte and random stretches: compressible and not.
    for (let i = 0; i < n; ) {
      const run = 1 + this.int(512);
      const v = this.int(256);
      const random = this.chance(0.5);
      for (let j = 0; j < run && i < n; j++, i++) b[i] = random ? this.int(256) : v;
    }
    return b;
  }
}

// ---------------------------------------------------------------- paths

const NAMES = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'dir', 'file', 'x.txt', 'ü', 'sp ace'];
const LONG = 'L'.repeat(256);
const MAX_LONG_OK = 'M'.repeat(255);

/** A random path: 1-4 components from a small name pool (collisions on purpose). */
function randomPath(rng: Rng, opts: { destructive?: boolean } = {}): string {
  const n = 1 + rng.int(rng.chance(0.7) ? 2 : 4);
  const parts: string[] = [];
  let depth = 0;
  for (let i = 0; i < n; i++) {
    const roll = rng.next();
    if (roll < 0.04 && depth > 0 && i < n - 1) {
      parts.push('..');
      depth--;
    } else if (roll < 0.07 && i < n - 1) {
      parts.push('.');
    } else if (roll < 0.075) {
      parts.push(LONG);
      depth++;
    } else if (roll < 0.08) {
      parts.push(MAX_LONG_OK);
      depth++;
    } else {
      parts.push(rng.pick(NAMES));
      depth++;
    }
  }
  let p = '/' + parts.join('/');
  if (!opts.destructive && rng.chance(0.05)) p += '/';
  if (opts.destructive && depth === 0) p = '/' + rng.pick(NAMES);
  if (!p.startsWith('/') || rng.chance(0.0)) p = '/' + p;
  // Relative paths (to '/') now and then.
  if (rng.chance(0.1)) p = p.slice(1);
  return p;
}

/**
 * A symlink target: relative names only, never '.' or '..' (see the header: each component of a
 * target descends, so a link never resolves above its own position), sometimes dangling,
 * sometimes a loop.
 */
function randomTarget(rng: Rng): string {
  const n = 1 + rng.int(2);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(rng.pick(NAMES));
  return parts.join('/') + (rng.chance(0.05) ? '/' : '');
}

// ---------------------------------------------------------------- comparison

type Outcome = { ok: true; value: unknown } | { ok: false; code: string };

const NORMALISED_CODES: Record<string, string> = {
  ERR_INVALID_ARG_VALUE: 'EINVAL', ERR_INVALID_ARG_TYPE: 'EINVAL', ERR_OUT_OF_RANGE: 'EINVAL', ERR_FS_EISDIR: 'EISDIR',
  ENOTSUP: 'EOPNOTSUPP',
};

async function outcome(f: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, value: await f() };
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (typeof code !== 'string') throw e;
    return { ok: false, code: NORMALISED_CODES[code] ?? code };
  }
}

function statSummary(s: StatsLike): Record<string, unknown> {
  const type = s.isDirectory() ? 'dir' : s.isFile() ? 'file' : s.isSymbolicLink() ? 'symlink' : 'other';
  const out: Record<string, unknown> = { type, mode: s.mode, uid: s.uid, gid: s.gid };
  if (type !== 'dir') {
    out.size = s.size;
    out.nlink = s.nlink;
  }
  return out;
}

function bytesOf(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  throw new Error(`expected bytes, got ${typeof v}`);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function describe(v: unknown): string {
  if (v instanceof Uint8Array) return `<${v.length} bytes>`;
  return JSON.stringify(v);
}

// ---------------------------------------------------------------- the run

interface OpenPair {
  a: HandleLike;
  b: HandleLike;
  path: string;
}

export async function runDifferential(o: DifferentialOptions): Promise<DifferentialStats> {
  const rng = new Rng(o.seed);
  const stats: DifferentialStats = { ops: 0, errors: 0, byOp: {}, byError: {}, commits: 0, remounts: 0 };
  const handles: OpenPair[] = [];
  const log: string[] = [];
  const fail = (i: number, what: string): never => {
    throw new Error(`differential seed ${o.seed}, op ${i}: ${what}\nlast ops:\n  ${log.slice(-(o.logLines ?? 15)).join('\n  ')}`);
  };
  /** Normalises a side's successful value for comparison (paths lose their prefix). */
  const norm = (side: Side, v: unknown): unknown => {
    if (typeof v === 'string' && side.prefix !== '' && v.startsWith(side.prefix)) return v.slice(side.prefix.length) || '/';
    return v;
  };
  const both = async (i: number, name: string, call: (s: Side) => Promise<unknown>, compare: (a: unknown, b: unknown) => string | undefined = defaultCompare): Promise<Outcome> => {
    const A = o.subject();
    const ra = await outcome(() => call(A));
    const rb = await outcome(() => call(o.oracle));
    stats.byOp[name] = (stats.byOp[name] ?? 0) + 1;
    if (!ra.ok || !rb.ok) {
      if (ra.ok !== rb.ok || (!ra.ok && !rb.ok && ra.code !== rb.code)) {
        fail(i, `${name}: butterfs ${ra.ok ? `ok ${describe(ra.value)}` : ra.code}, oracle ${rb.ok ? `ok ${describe(rb.value)}` : rb.code}`);
      }
      if (!ra.ok) {
        stats.errors++;
        stats.byError[ra.code] = (stats.byError[ra.code] ?? 0) + 1;
      }
      return ra;
    }
    const diff = compare(norm(A, ra.value), norm(o.oracle, rb.value));
    if (diff) fail(i, `${name}: ${diff}`);
    return ra;
  };
  const P = (s: Side, p: string) => (p.startsWith('/') ? s.prefix + p : s.prefix === '' ? p : `${s.prefix}/${p}`);

  const closeAll = async () => {
    for (const h of handles.splice(0)) {
      await h.a.close();
      await h.b.close();
    }
  };

  // Paths that were created, so that about half of the operations hit something that exists
  // (random paths alone make two thirds of the calls fail early).
  const known: string[] = [];
  const remember = (path: string, r: Outcome) => {
    if (!r.ok) return;
    if (known.length < 64) known.push(path);
    else known[rng.int(known.length)] = path;
  };
  const pick = (destructive: boolean): string => {
    if (known.length === 0 || !rng.chance(0.45)) return randomPath(rng, { destructive });
    const k = rng.pick(known);
    return rng.chance(0.2) ? `${k.replace(/\/+$/, '')}/${rng.pick(NAMES)}` : k;
  };
  for (let i = 0; i < o.ops; i++) {
    if (o.commit && o.commitEvery && i > 0 && i % o.commitEvery === 0) {
      await o.commit();
      stats.commits++;
    }
    if (o.remount && o.remountEvery && i > 0 && i % o.remountEvery === 0) {
      await closeAll();
      await o.remount();
      stats.remounts++;
      log.push('-- remount');
    }
    if (o.compareEvery && i % o.compareEvery === 0) await compareTrees(o.subject(), o.oracle).catch((e: Error) => fail(i, e.message));
    stats.ops++;
    const roll = rng.int(100);
    const p = pick(false);
    if (roll < 12) {
      const data = rng.bytes(rng.chance(0.1) ? rng.int(300_000) : rng.int(9000));
      const flag = rng.pick<string | number>(['w', 'w', 'w', 'a', 'wx', 'r+', 'a+', 'ax', 'w+', 0o1 | 0o100 | 0o2000, 0o2 | 0o100 | 0o1000]);
      log.push(`writeFile ${p} ${data.length} ${flag}`);
      remember(p, await both(i, 'writeFile', (s) => s.fs.writeFile(P(s, p), data, { flag })));
    } else if (roll < 15) {
      const data = rng.bytes(rng.int(5000));
      log.push(`appendFile ${p} ${data.length}`);
      remember(p, await both(i, 'appendFile', (s) => s.fs.appendFile(P(s, p), data)));
    } else if (roll < 25) {
      const flag = rng.pick(['r', 'r', 'r', 'r+', 'a+']);
      log.push(`readFile ${p} ${flag}`);
      await both(i, 'readFile', (s) => s.fs.readFile(P(s, p), { flag }), compareBytes);
    } else if (roll < 32) {
      const recursive = rng.chance(0.3);
      const mode = rng.pick([0o755, 0o777, 0o700, 0o1777, 0o2755]);
      log.push(`mkdir ${p} ${recursive ? '-p' : ''} ${mode.toString(8)}`);
      // mkdir -p returns the first directory it made, in the form given: compare without prefix or leading '/'.
      remember(p, await both(i, 'mkdir', (s) => s.fs.mkdir(P(s, p), { recursive, mode }).then((r) => (r === undefined ? 'none' : String(r).slice(s.prefix.length).replace(/^\/+/, '')))));
    } else if (roll < 35) {
      const q = pick(true);
      log.push(`rmdir ${q}`);
      await both(i, 'rmdir', (s) => s.fs.rmdir(P(s, q)));
    } else if (roll < 39) {
      const q = pick(true);
      log.push(`unlink ${q}`);
      await both(i, 'unlink', (s) => s.fs.unlink(P(s, q)));
    } else if (roll < 41) {
      const q = pick(true).replace(/\/+$/, '');
      const force = rng.chance(0.5);
      const recursive = rng.chance(0.6);
      log.push(`rm ${q} force=${force} recursive=${recursive}`);
      await both(i, 'rm', (s) => s.fs.rm(P(s, q), { force, recursive }));
    } else if (roll < 47) {
      const a = pick(true);
      const b = rng.chance(0.2) ? `${a}/${rng.pick(NAMES)}` : pick(true);
      log.push(`rename ${a} ${b}`);
      remember(b, await both(i, 'rename', (s) => s.fs.rename(P(s, a), P(s, b))));
    } else if (roll < 49) {
      const a = pick(true);
      const b = pick(true);
      log.push(`link ${a} ${b}`);
      remember(b, await both(i, 'link', (s) => s.fs.link(P(s, a), P(s, b))));
    } else if (roll < 52) {
      const t = randomTarget(rng);
      const q = pick(true);
      log.push(`symlink ${t} ${q}`);
      remember(q, await both(i, 'symlink', (s) => s.fs.symlink(t, P(s, q))));
    } else if (roll < 54) {
      log.push(`readlink ${p}`);
      await both(i, 'readlink', (s) => s.fs.readlink(P(s, p)));
    } else if (roll < 61) {
      const l = rng.chance(0.4);
      log.push(`${l ? 'lstat' : 'stat'} ${p}`);
      await both(i, l ? 'lstat' : 'stat', (s) => (l ? s.fs.lstat(P(s, p)) : s.fs.stat(P(s, p))).then(statSummary));
    } else if (roll < 66) {
      const withFileTypes = rng.chance(0.4);
      // Node 20's recursive readdir follows symlinks to directories when it returns names (not
      // with withFileTypes, and not in later node versions): butterfs never follows them, so
      // recursive listings are compared with withFileTypes only.
      const recursive = withFileTypes && rng.chance(0.4);
      log.push(`readdir ${p} types=${withFileTypes} recursive=${recursive}`);
      await both(i, 'readdir', async (s) => {
        const list = await s.fs.readdir(P(s, p), { withFileTypes, recursive });
        return list
          .map((e) => (typeof e === 'string' ? e : `${(e as { name: string }).name}:${direntType(e)}`))
          .sort();
      });
    } else if (roll < 68) {
      const len = rng.pick([0, 1, 100, 4095, 4096, 4097, 10000, 70000, rng.int(200000)]);
      log.push(`truncate ${p} ${len}`);
      await both(i, 'truncate', (s) => s.fs.truncate(P(s, p), len));
    } else if (roll < 70) {
      const mode = rng.pick([0o644, 0o600, 0o755, 0o000, 0o4755, 0o2711, 0o1777, 0o777]);
      log.push(`chmod ${p} ${mode.toString(8)}`);
      await both(i, 'chmod', (s) => s.fs.chmod(P(s, p), mode));
    } else if (roll < 71) {
      const l = rng.chance(0.5);
      const uid = rng.pick([0, 1000, -1]);
      const gid = rng.pick([0, 1000, -1]);
      log.push(`${l ? 'lchown' : 'chown'} ${p} ${uid} ${gid}`);
      await both(i, l ? 'lchown' : 'chown', (s) => (l ? s.fs.lchown(P(s, p), uid, gid) : s.fs.chown(P(s, p), uid, gid)));
    } else if (roll < 73) {
      const t = rng.pick([0, 1, 1.5, 1234567890.125, 2_000_000_000]);
      const m = rng.chance(0.5) ? new Date(rng.int(2 ** 40)) : rng.int(2 ** 31);
      log.push(`utimes ${p} ${t} ${m instanceof Date ? m.toISOString() : m}`);
      await both(i, 'utimes', (s) => s.fs.utimes(P(s, p), t, m).then(() => s.fs.stat(P(s, p))).then((st) => Math.round(st.mtimeMs)));
    } else if (roll < 76) {
      const b = pick(true);
      const mode = rng.pick([0, 0, 1, 2, 3]);
      // libuv unlinks the destination when copying a directory fails (EISDIR at the first read),
      // even a destination that existed before: a quirk butterfs does not copy, so the suite
      // does not copy directories onto existing files.
      const srcIsDir = await o.oracle.fs.stat(P(o.oracle, p)).then((st) => st.isDirectory(), () => false);
      const dstExists = await o.oracle.fs.lstat(P(o.oracle, b)).then(() => true, () => false);
      if (srcIsDir && dstExists) continue;
      log.push(`copyFile ${p} ${b} ${mode}`);
      remember(b, await both(i, 'copyFile', (s) => s.fs.copyFile(P(s, p), P(s, b), mode)));
    } else if (roll < 78) {
      const mode = rng.pick([0, 1, 2, 4, 7]);
      log.push(`access ${p} ${mode}`);
      await both(i, 'access', (s) => s.fs.access(P(s, p), mode));
    } else if (roll < 80) {
      log.push(`realpath ${p}`);
      await both(i, 'realpath', (s) => s.fs.realpath(P(s, p)));
    } else if (roll < 88) {
      await handleOp(i, rng, p, handles, both, P, log, o.bigWrites === true, o.sectorWrites === true);
    } else if (roll < 90) {
      // Deliberate argument errors.
      const which = rng.int(4);
      log.push(`bad-arg ${which}`);
      if (which === 0) await both(i, 'open-badflag', (s) => s.fs.open(P(s, p), 'zz').then((h) => h.close()));
      else if (which === 1) await both(i, 'stat-nul', (s) => s.fs.stat(P(s, p) + '\0x').then(statSummary));
      else if (which === 2) await both(i, 'mkdir-long', (s) => s.fs.mkdir(P(s, `/${LONG}`)));
      else await both(i, 'symlink-loop', async (s) => {
        await s.fs.symlink('loop-b', P(s, '/loop-a')).catch(ignoreExists);
        await s.fs.symlink('loop-a', P(s, '/loop-b')).catch(ignoreExists);
        return s.fs.stat(P(s, '/loop-a/x')).then(statSummary);
      });
    } else if (roll < 92) {
      // Directory moves into their own subtree.
      const a = `/${rng.pick(NAMES)}`;
      const b = `${a}/${rng.pick(NAMES)}${rng.chance(0.5) ? `/${rng.pick(NAMES)}` : ''}`;
      log.push(`rename-into-self ${a} ${b}`);
      await both(i, 'rename', (s) => s.fs.rename(P(s, a), P(s, b)));
    } else if (roll < 94 && o.extra) {
      log.push(`extra ${p}`);
      await o.extra(o.subject().fs, p, rng);
    } else {
      log.push(`compare-tree`);
      await compareTrees(o.subject(), o.oracle).catch((e: Error) => fail(i, e.message));
    }
  }
  await closeAll();
  await compareTrees(o.subject(), o.oracle).catch((e: Error) => fail(o.ops, e.message));
  return stats;
}

function ignoreExists(e: { code?: string }): void {
  if (e.code !== 'EEXIST') throw e;
}

function direntType(e: unknown): string {
  const d = e as { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean };
  return d.isDirectory() ? 'dir' : d.isFile() ? 'file' : d.isSymbolicLink() ? 'symlink' : 'other';
}

function defaultCompare(a: unknown, b: unknown): string | undefined {
  const ja = JSON.stringify(a);
  const jb = JSON.stringify(b);
  return ja === jb ? undefined : `butterfs ${ja} != oracle ${jb}`;
}

function compareBytes(a: unknown, b: unknown): string | undefined {
  const x = bytesOf(a);
  const y = bytesOf(b);
  if (equalBytes(x, y)) return undefined;
  let at = 0;
  while (at < Math.min(x.length, y.length) && x[at] === y[at]) at++;
  return `contents differ: butterfs ${x.length} bytes, oracle ${y.length} bytes, first difference at ${at}`;
}

type Both = (i: number, name: string, call: (s: Side) => Promise<unknown>, compare?: (a: unknown, b: unknown) => string | undefined) => Promise<Outcome>;

/** Operations on open handles: open, read/write at positions, truncate, stat, readFile, close. */
async function handleOp(i: number, rng: Rng, p: string, handles: OpenPair[], both: Both, P: (s: Side, p: string) => string, log: string[], bigWrites: boolean, sectorWrites: boolean): Promise<void> {
  if (handles.length === 0 || rng.chance(0.25)) {
    if (handles.length >= 8) {
      const h = handles.shift()!;
      log.push(`close ${h.path}`);
      await h.a.close();
      await h.b.close();
    }
    // String flags and numeric O_* combinations (Linux values, node's fs.constants).
    const flag = rng.pick<string | number>(['r', 'r+', 'w', 'w+', 'a', 'a+', 'wx', 'r', 'r+', 'rs+', 'ax+',
      0o2 | 0o100, 0o1 | 0o100 | 0o200 | 0o1000, 0o0 | 0o400000, 0o0 | 0o200000, 0o2 | 0o2000, 0o2 | 0o1000 | 0o400000]);
    log.push(`open ${p} ${flag}`);
    const opened: HandleLike[] = [];
    const r = await both(i, 'open', async (s) => {
      const h = await s.fs.open(P(s, p), flag);
      opened.push(h);
      return 'handle';
    });
    // Handles on directories are closed at once: butterfs's rmdir frees a directory inode even
    // while it is open (namei.rmdir takes no isOpen hook yet), where Linux keeps it until the
    // last close.
    if (r.ok && !(await opened[1].stat()).isDirectory()) handles.push({ a: opened[0], b: opened[1], path: p });
    else for (const h of opened) await h.close();
    return;
  }
  const k = rng.int(handles.length);
  const h = handles[k];
  const pick = (s: Side) => (s.prefix === '' ? h.a : h.b);
  const op = rng.int(7);
  if (op === 0) {
    // (Without sectorWrites the generator draws exactly what it always did: seeds replay.)
    const near = sectorWrites && rng.chance(0.6);
    const len = near ? rng.int(3 * 4096) : rng.int(20000);
    const pos = near ? (rng.chance(0.5) ? rng.int(24) * 4096 : rng.int(24 * 4096)) : rng.chance(0.4) ? null : rng.int(100000);
    log.push(`fh.read ${h.path} ${len} @${pos}`);
    await both(i, 'fh.read', async (s) => {
      const buf = new Uint8Array(len);
      const r = await pick(s).read(buf, 0, len, pos);
      return buf.subarray(0, r.bytesRead);
    }, compareBytes);
  } else if (op === 1 || op === 2) {
    // (Without bigWrites the generator draws exactly what it always did: seeds replay.)
    const big = bigWrites && rng.chance(0.5);
    const sectors = !big && sectorWrites && rng.chance(0.6);
    const data = big ? rng.bytes((32 + rng.int(160)) * 4096) : sectors ? rng.bytes((1 + rng.int(4)) * 4096) : rng.bytes(rng.int(20000));
    // Big writes mostly compress (16 byte values: the heuristic passes them), now and then not.
    if (big && rng.chance(0.8)) for (let b = 0; b < data.length; b++) data[b]! &= 0x0f;
    const pos = sectors ? rng.int(24) * 4096 : rng.chance(0.4) ? null : big ? rng.int(64) * 4096 : rng.int(100000);
    log.push(`fh.write ${h.path} ${data.length} @${pos}`);
    await both(i, 'fh.write', (s) => pick(s).write(data, 0, data.length, pos).then((r) => r.bytesWritten));
  } else if (op === 3) {
    const len = rng.int(50000);
    log.push(`fh.truncate ${h.path} ${len}`);
    await both(i, 'fh.truncate', (s) => pick(s).truncate(len));
  } else if (op === 4) {
    log.push(`fh.stat ${h.path}`);
    await both(i, 'fh.stat', (s) => pick(s).stat().then(statSummary));
  } else if (op === 5) {
    log.push(`fh.readFile ${h.path}`);
    await both(i, 'fh.readFile', (s) => pick(s).readFile(), compareBytes);
  } else {
    handles.splice(k, 1);
    log.push(`close ${h.path}`);
    await h.a.close();
    await h.b.close();
  }
}

/**
 * Every entry of both trees: same names, types, modes, owners, file contents and symlink
 * targets, and the same hard link structure (nlink of non-directories).
 */
export async function compareTrees(a: Side, b: Side, options: { nlink?: boolean; emptyDirModes?: boolean } = {}): Promise<number> {
  let n = 0;
  const queue = ['/'];
  const P = (s: Side, p: string) => s.prefix + p;
  // Bounded: each directory is visited once (no symlinks are followed).
  while (queue.length > 0) {
    const dir = queue.shift()!;
    const la = ((await a.fs.readdir(P(a, dir))) as string[]).map(String).sort();
    const lb = ((await b.fs.readdir(P(b, dir))) as string[]).map(String).sort();
    if (JSON.stringify(la) !== JSON.stringify(lb)) throw new Error(`tree: ${dir} lists ${JSON.stringify(la)} in butterfs, ${JSON.stringify(lb)} in the oracle`);
    for (const name of la) {
      const p = dir === '/' ? `/${name}` : `${dir}/${name}`;
      n++;
      const sa = statSummary(await a.fs.lstat(P(a, p)));
      const sb = statSummary(await b.fs.lstat(P(b, p)));
      if (options.nlink === false) {
        delete sa.nlink;
        delete sb.nlink;
      }
      if (options.emptyDirModes === false && sa.type === 'dir' && (await a.fs.readdir(P(a, p))).length === 0) {
        delete sa.mode;
        delete sb.mode;
      }
      if (JSON.stringify(sa) !== JSON.stringify(sb)) throw new Error(`tree: ${p}: butterfs ${JSON.stringify(sa)} != oracle ${JSON.stringify(sb)}`);
      if (sa.type === 'dir') queue.push(p);
      else if (sa.type === 'symlink') {
        const ta = String(await a.fs.readlink(P(a, p)));
        const tb = String(await b.fs.readlink(P(b, p)));
        if (ta !== tb) throw new Error(`tree: symlink ${p}: ${ta} != ${tb}`);
      } else if (sa.type === 'file') {
        const diff = compareBytes(await a.fs.readFile(P(a, p)), await b.fs.readFile(P(b, p)));
        if (diff) throw new Error(`tree: ${p}: ${diff}`);
      }
    }
  }
  return n;
}

/** xattr operations for the `extra` hook: butterfs only (node has no xattr API); btrfs restore -x checks them. */
export async function xattrExtra(fs: PromisesLike, path: string, rng: Rng): Promise<void> {
  const p = fs as unknown as {
    setxattr(p: string, n: string, v: Uint8Array, o: object): Promise<void>;
    removexattr(p: string, n: string, o: object): Promise<void>;
    listxattr(p: string, o: object): Promise<string[]>;
  };
  const name = `user.${rng.pick(['a', 'b', 'long'.repeat(10)])}`;
  const expected = ['ENOENT', 'ENOTDIR', 'ENODATA', 'ELOOP', 'ENAMETOOLONG', 'EEXIST', 'EINVAL', 'E2BIG'];
  try {
    const roll = rng.int(4);
    if (roll === 0 || roll === 1) await p.setxattr(path, name, rng.bytes(rng.int(roll === 0 ? 40 : 3000)), { noFollow: true });
    else if (roll === 2) await p.removexattr(path, name, { noFollow: true });
    else await p.listxattr(path, { noFollow: true });
  } catch (e) {
    if (!expected.includes((e as { code?: string }).code ?? '')) throw e;
  }
}

// `btrfs`: btrfs-progs' command line over the mounted filesystem. One table of subcommands
// (group, command, summary, usage, run); btrfs-progs' unique-prefix abbreviations work
// (`btrfs fi df`, `btrfs sub snap`). A subcommand whose engine API has not landed yet is still a
// row: it says so plainly, and starts working the day the API appears on the client (the call
// is made; a missing namespace is caught and reported).
import { parseSize, progsSize, statDate } from '../../app/format.js';
import { loadSpace, kindTitle, copiesOf, type SpaceReport } from '../../app/space.js';
import type { SubvolumeInfo } from '../../app/btrfs-dump.js';
import { loadSubvolumes } from '../../panels/panel.js';
import { parseOptions, describeError, isMissingApi, UsageError, type Command, type Context, type Output } from '../command.js';
import { deviceName } from './files.js';

interface Sub {
  group: string;
  name: string;
  summary: string;
  usage: string;
  run(ctx: Context, args: string[], io: Output): Promise<number>;
}

/** What the visitor is told when an engine API is missing. */
function notYet(io: Output, what: string, api: string): number {
  io.err(`btrfs ${what}: not available yet: the engine has no ${api} in this build (it is being built; this command works as soon as it lands)`);
  return 1;
}

/** The loosely typed client surface for APIs that are being built (their shapes are not final). */
type Loose = Record<string, Record<string, (...args: unknown[]) => Promise<unknown>>>;
function loose(ctx: Context): Loose {
  return ctx.fs as unknown as Loose;
}

/** Calls an API that may not exist yet; undefined (and a message) when it does not. */
async function tryApi<T>(io: Output, what: string, api: string, call: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; status: number }> {
  try {
    return { ok: true, value: await call() };
  } catch (e) {
    if (isMissingApi(e)) return { ok: false, status: notYet(io, what, api) };
    io.err(`ERROR: ${describeError(e)}`);
    return { ok: false, status: 1 };
  }
}

/** Prints whatever an API returned: tables for arrays of records, key: value for a record. */
function printValue(io: Output, v: unknown): void {
  if (v === undefined || v === null) return;
  if (typeof v !== 'object') {
    io.out(`${String(v)}\n`);
    return;
  }
  if (Array.isArray(v)) {
    for (const row of v) io.out(typeof row === 'object' && row ? Object.entries(row).map(([k, x]) => `${k} ${String(x)}`).join(' ') + '\n' : `${String(row)}\n`);
    return;
  }
  for (const [k, x] of Object.entries(v)) io.out(`${k}=${typeof x === 'object' ? JSON.stringify(x) : String(x)}\n`);
}

export async function listSubvolumes(ctx: Context): Promise<SubvolumeInfo[]> {
  return loadSubvolumes(ctx.fs);
}

/** `btrfs subvolume show`'s layout. */
function showSubvolume(io: Output, shownPath: string, s: Record<string, unknown>): void {
  const date = (v: unknown) => {
    const d = v instanceof Date ? v : new Date(String(v));
    return d.getTime() === 0 ? '-' : statDate(d).replace(/\.\d+ /, ' ');
  };
  const rows: [string, string][] = [
    ['Name', String(s.id === 5 ? '<FS_TREE>' : s.name)],
    ['UUID', String(s.uuid)],
    ['Parent UUID', String(s.parentUuid)],
    ['Received UUID', String(s.receivedUuid)],
    ['Creation time', date(s.otime)],
    ['Subvolume ID', String(s.id)],
    ['Generation', String(s.gen)],
    ['Gen at creation', String(s.cgen)],
    ['Parent ID', String(s.topLevel)],
    ['Top level ID', String(s.topLevel)],
    ['Flags', s.readonly ? 'readonly' : '-'],
    ['Send transid', String(s.stransid)],
    ['Send time', date(s.stime)],
    ['Receive transid', String(s.rtransid)],
    ['Receive time', date(s.rtime)],
  ];
  io.out(`${shownPath}\n`);
  for (const [k, v] of rows) io.out(`\t${(k + ':').padEnd(24)}${v}\n`);
  io.out('\tSnapshot(s):\n');
  for (const p of (s.snapshots as string[] | undefined) ?? []) io.out(`\t\t\t\t${p}\n`);
}

const TREE_NAMES: Record<string, number> = {
  root: 1, extent: 2, chunk: 3, dev: 4, fs: 5, csum: 7, quota: 8, uuid: 9, 'free-space': 10, free_space: 10,
  'block-group': 11, block_group: 11, 'data-reloc': -9, data_reloc: -9, 'tree-log': -6, log: -6,
};

function parseTreeId(text: string): number | undefined {
  const t = text.toLowerCase().replace(/_tree$|-tree$/, '');
  if (TREE_NAMES[t] !== undefined) return TREE_NAMES[t];
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Prints long text, capped on the terminal (a redirect gets all of it). */
function printLong(io: Output, text: string, hint: string): void {
  const MAX_LINES = 4000;
  if (io.redirected) {
    io.out(text);
    return;
  }
  const lines = text.split('\n');
  if (lines.length <= MAX_LINES) {
    io.out(text);
    return;
  }
  io.out(lines.slice(0, MAX_LINES).join('\n') + '\n');
  io.out(`[... ${lines.length - MAX_LINES} more lines: ${hint}]\n`, 'c-dim');
}

function profileTitle(profile: string): string {
  return profile === 'single' ? 'single' : profile.toUpperCase();
}

function fsDf(space: SpaceReport, io: Output): void {
  for (const k of space.kinds) io.out(`${kindTitle(k.kind)}, ${profileTitle(k.profile)}: total=${progsSize(k.totalBytes)}, used=${progsSize(k.usedBytes)}\n`);
}

function fsUsage(ctx: Context, space: SpaceReport, io: Output): void {
  const dev = space.devices[0];
  const deviceSize = space.devices.reduce((s, d) => s + d.totalBytes, 0);
  const allocated = space.devices.reduce((s, d) => s + d.bytesUsed, 0);
  const usedRaw = space.kinds.reduce((s, k) => s + k.usedBytes * copiesOf(k.profile), 0);
  const data = space.kinds.filter((k) => k.kind === 'DATA');
  const meta = space.kinds.filter((k) => k.kind === 'METADATA');
  const dataRatio = data.length ? copiesOf(data[0].profile) : 1;
  const metaRatio = meta.length ? copiesOf(meta[0].profile) : 1;
  const unallocated = deviceSize - allocated;
  const dataFree = data.reduce((s, k) => s + k.totalBytes - k.usedBytes, 0);
  const free = dataFree + unallocated / dataRatio;
  const row = (label: string, value: string) => io.out(`    ${(label + ':').padEnd(27)}${value.padStart(12)}\n`);
  io.out('Overall:\n');
  row('Device size', progsSize(deviceSize));
  row('Device allocated', progsSize(allocated));
  row('Device unallocated', progsSize(unallocated));
  row('Device missing', progsSize(0));
  row('Device slack', progsSize(0));
  row('Used', progsSize(usedRaw));
  io.out(`    ${'Free (estimated):'.padEnd(27)}${progsSize(free).padStart(12)}\t(min: ${progsSize(dataFree + unallocated / Math.max(dataRatio, 2))})\n`);
  row('Data ratio', dataRatio.toFixed(2));
  row('Metadata ratio', metaRatio.toFixed(2));
  row('Multiple profiles', new Set(space.kinds.map((k) => `${k.kind}${k.profile}`)).size > new Set(space.kinds.map((k) => k.kind)).size ? 'yes' : 'no');
  const name = deviceName(ctx);
  for (const k of space.kinds) {
    const pct = k.totalBytes ? ((k.usedBytes / k.totalBytes) * 100).toFixed(2) : '0.00';
    io.out(`\n${kindTitle(k.kind)},${profileTitle(k.profile)}: Size:${progsSize(k.totalBytes)}, Used:${progsSize(k.usedBytes)} (${pct}%)\n`);
    io.out(`   ${name.padEnd(24)}${progsSize(k.rawBytes).padStart(12)}\n`);
  }
  io.out(`\nUnallocated:\n   ${name.padEnd(24)}${progsSize(dev ? dev.totalBytes - dev.bytesUsed : 0).padStart(12)}\n`);
}

const SUBS: Sub[] = [
  // ---------------------------------------------------------------- subvolume
  {
    group: 'subvolume', name: 'create', summary: 'create a subvolume', usage: 'btrfs subvolume create <dest>',
    async run(ctx, args, io) {
      const dest = args[0];
      if (!dest) throw new UsageError('btrfs subvolume create: not enough arguments: 0 but at least 1 expected');
      const r = await tryApi(io, 'subvolume create', 'fs.subvolume', () => loose(ctx).subvolume.create(ctx.resolve(dest)));
      if (!r.ok) return r.status;
      io.out(`Create subvolume '${ctx.resolve(dest)}'\n`);
      ctx.changed();
      return 0;
    },
  },
  {
    group: 'subvolume', name: 'snapshot', summary: 'snapshot a subvolume (-r: read-only)', usage: 'btrfs subvolume snapshot [-r] <source> <dest>',
    async run(ctx, args, io) {
      const o = parseOptions('snapshot', args, { short: 'r' });
      if (o.operands.length < 2) throw new UsageError(`btrfs subvolume snapshot: not enough arguments: ${o.operands.length} but 2 expected`);
      const [src, dest] = o.operands.map((p) => ctx.resolve(p));
      const r = await tryApi(io, 'subvolume snapshot', 'fs.subvolume', () => loose(ctx).subvolume.snapshot(src, dest, { readonly: o.flags.has('r') }));
      if (!r.ok) return r.status;
      io.out(`Create ${o.flags.has('r') ? 'a readonly' : 'a'} snapshot of '${src}' in '${dest}'\n`);
      ctx.changed();
      return 0;
    },
  },
  {
    group: 'subvolume', name: 'delete', summary: 'delete subvolumes', usage: 'btrfs subvolume delete <subvolume>...',
    async run(ctx, args, io) {
      if (!args.length) throw new UsageError('btrfs subvolume delete: not enough arguments: 0 but at least 1 expected');
      for (const a of args) {
        const p = ctx.resolve(a);
        const id = /^\d+$/.test(a) ? Number(a) : undefined;
        const r = await tryApi(io, 'subvolume delete', 'fs.subvolume', () => loose(ctx).subvolume.delete(id ?? p));
        if (!r.ok) return r.status;
        io.out(id === undefined ? `Delete subvolume (no-commit): '${p}'\n` : `Delete subvolume ${id} (no-commit)\n`);
      }
      ctx.changed();
      return 0;
    },
  },
  {
    group: 'subvolume', name: 'list', summary: 'list subvolumes and snapshots', usage: 'btrfs subvolume list [-s] [-u] [-q] <path>',
    async run(ctx, args, io) {
      const o = parseOptions('list', args, { short: 'sqoaputcgrdR' });
      const subs = (await listSubvolumes(ctx)).filter((s) => s.id !== 5 && (!o.flags.has('s') || s.parentUuid !== '00000000-0000-0000-0000-000000000000'));
      for (const s of subs) {
        const extra = (o.flags.has('q') ? ` parent_uuid ${s.parentUuid === '00000000-0000-0000-0000-000000000000' ? '-' : s.parentUuid}` : '') + (o.flags.has('u') ? ` uuid ${s.uuid}` : '');
        io.out(o.flags.has('s')
          ? `ID ${s.id} gen ${s.generation} cgen ${s.otransid} top level ${s.parentId ?? 5} otime ${s.otime}${extra} path ${s.path}\n`
          : `ID ${s.id} gen ${s.generation} top level ${s.parentId ?? 5}${extra} path ${s.path}\n`);
      }
      return 0;
    },
  },
  {
    group: 'subvolume', name: 'show', summary: 'show a subvolume', usage: 'btrfs subvolume show <path>',
    async run(ctx, args, io) {
      const target = args[0] ?? '.';
      const r = await tryApi(io, 'subvolume show', 'fs.subvolume', () => loose(ctx).subvolume.show(/^\d+$/.test(target) ? Number(target) : ctx.resolve(target)));
      if (!r.ok) return r.status;
      const s = r.value as Record<string, unknown>;
      showSubvolume(io, s.id === 5 ? '/' : String(s.path), s);
      return 0;
    },
  },
  {
    group: 'subvolume', name: 'get-default', summary: 'the subvolume mounted by default', usage: 'btrfs subvolume get-default <path>',
    async run(ctx, _args, io) {
      try {
        const v = (await loose(ctx).subvolume.getDefault()) as { id: number; gen: number; topLevel: number; path: string };
        io.out(v.id === 5 ? 'ID 5 (FS_TREE)\n' : `ID ${v.id} gen ${v.gen} top level ${v.topLevel} path ${v.path}\n`);
        return 0;
      } catch (e) {
        if (!isMissingApi(e)) throw e;
      }
      // Fallback: the root tree's "default" dir item (FS_TREE unless set otherwise).
      const dump = await ctx.fs.dumpTree({ tree: 1 });
      const m = /location key \((\w+) ROOT_ITEM [^)]*\) type DIR[^\n]*\n[^\n]*\n\s+name: default/.exec(dump);
      const id = !m || m[1] === 'FS_TREE' ? 5 : Number(m[1]);
      const sub = (await listSubvolumes(ctx)).find((s) => s.id === id);
      io.out(id === 5 ? 'ID 5 (FS_TREE)\n' : `ID ${id} gen ${sub?.generation ?? '?'} top level ${sub?.parentId ?? 5} path ${sub?.path ?? '?'}\n`);
      return 0;
    },
  },
  {
    group: 'subvolume', name: 'set-default', summary: 'set the subvolume mounted by default', usage: 'btrfs subvolume set-default <subvolid> <path> | <subvolume>',
    async run(ctx, args, io) {
      if (!args.length) throw new UsageError('btrfs subvolume set-default: not enough arguments');
      const target = /^\d+$/.test(args[0]) ? Number(args[0]) : ctx.resolve(args[0]);
      const r = await tryApi(io, 'subvolume set-default', 'fs.subvolume', () => loose(ctx).subvolume.setDefault(target));
      if (!r.ok) return r.status;
      ctx.changed();
      return 0;
    },
  },
  // ---------------------------------------------------------------- filesystem
  {
    group: 'filesystem', name: 'df', summary: 'space by block group type and profile', usage: 'btrfs filesystem df <path>',
    async run(ctx, _args, io) {
      fsDf(await loadSpace(ctx.fs), io);
      return 0;
    },
  },
  {
    group: 'filesystem', name: 'usage', summary: 'detailed space usage', usage: 'btrfs filesystem usage <path>',
    async run(ctx, _args, io) {
      fsUsage(ctx, await loadSpace(ctx.fs), io);
      return 0;
    },
  },
  {
    group: 'filesystem', name: 'show', summary: 'the filesystem and its devices', usage: 'btrfs filesystem show',
    async run(ctx, _args, io) {
      const s = await loadSpace(ctx.fs);
      io.out(`Label: '${s.label}'  uuid: ${s.fsid}\n\tTotal devices ${s.devices.length} FS bytes used ${progsSize(s.bytesUsed)}\n`);
      for (const d of s.devices) io.out(`\tdevid ${String(d.devid).padStart(4)} size ${progsSize(d.totalBytes)} used ${progsSize(d.bytesUsed)} path ${deviceName(ctx)}\n`);
      return 0;
    },
  },
  {
    group: 'filesystem', name: 'label', summary: 'show (or set) the label', usage: 'btrfs filesystem label [<path>] [<newlabel>]',
    async run(ctx, args, io) {
      if (args.length >= 2) {
        const r = await tryApi(io, 'filesystem label', 'fs.filesystem.setLabel', () => loose(ctx).filesystem.setLabel(args[1]));
        if (!r.ok) return r.status;
        ctx.changed();
        return 0;
      }
      const label = await loose(ctx).filesystem.getLabel().catch(async (e: unknown) => {
        if (!isMissingApi(e)) throw e;
        return (await loadSpace(ctx.fs)).label;
      });
      io.out(`${String(label)}\n`);
      return 0;
    },
  },
  {
    group: 'filesystem', name: 'sync', summary: 'commit now', usage: 'btrfs filesystem sync <path>',
    async run(ctx) {
      await ctx.fs.sync();
      await ctx.session.poll();
      return 0;
    },
  },
  {
    group: 'filesystem', name: 'defragment', summary: 'defragment files, or recompress them with -c (progress; Ctrl+C cancels)',
    usage: 'btrfs filesystem defragment [-r] [-v] [-c[zlib|lzo|zstd]] [-L level] [-s start] [-l len] [-t size] <file>|<dir>...',
    async run(ctx, args, io) {
      // getopt's "c::": the codec is an optional argument glued to -c (-czstd, -rczstd).
      let compress: string | true | undefined;
      const rest = args.map((a) => {
        const m = /^-([rvf]*)c(.*)$/.exec(a);
        if (!m) return a;
        compress = m[2] === '' ? true : m[2];
        return m[1] ? `-${m[1]}` : '';
      }).filter((a) => a !== '');
      const o = parseOptions('defragment', rest, { short: 'rvf', withValue: ['L', 't', 's', 'l'], long: { level: 'L' } });
      if (o.operands.length === 0) throw new UsageError('btrfs filesystem defragment: not enough arguments: 0 but at least 1 expected');
      if (typeof compress === 'string' && !['zlib', 'lzo', 'zstd'].includes(compress)) {
        io.err(`ERROR: unknown compression type: ${compress}`);
        return 1;
      }
      const size = (flag: string) => {
        if (!o.values.has(flag)) return undefined;
        const n = parseSize(o.values.get(flag)!);
        if (n === undefined) throw new UsageError(`invalid size argument: ${o.values.get(flag)}`);
        return n;
      };
      const level = o.values.has('L') ? Number(o.values.get('L')) : undefined;
      const options: Record<string, unknown> = {
        recursive: o.flags.has('r'), start: size('s'), length: size('l'), extentThresholdBytes: size('t'),
        ...(compress !== undefined ? { compress, level: level === 0 ? undefined : level } : {}),
      };
      if (ctx.session.isHolder) {
        options.signal = ctx.signal;
        options.onProgress = (p: { path: string; fileOffset: number; fileBytes: number; filesDone: number }) =>
          ctx.progress.update(p.fileBytes ? p.fileOffset / p.fileBytes : undefined, `${p.path} (${p.filesDone} file${p.filesDone === 1 ? '' : 's'} done)`);
      }
      let status = 0;
      for (const f of o.operands) {
        if (o.flags.has('v')) io.out(`${f}\n`);
        const r = await tryApi(io, 'filesystem defragment', 'fs.filesystem.defragment', () => loose(ctx).filesystem.defragment(ctx.resolve(f), options));
        if (!r.ok) {
          status = r.status;
          continue;
        }
        // progs prints each file that failed under -r, then a count.
        const failures = (r.value as { failures: { path: string; code: string; message: string }[] }).failures;
        for (const x of failures) io.err(`ERROR: defrag failed on ${x.path}: ${describeError(Object.assign(new Error(x.message), { code: x.code }))}`);
        if (failures.length > 0) {
          io.err(`WARNING: total ${failures.length} failures`);
          status = 1;
        }
      }
      ctx.changed();
      return status;
    },
  },
  {
    group: 'filesystem', name: 'resize', summary: 'grow or shrink the filesystem', usage: 'btrfs filesystem resize [+/-]<size>[kKmMgG]|max <path>',
    async run(ctx, args, io) {
      const r = await tryApi(io, 'filesystem resize', 'fs.filesystem.resize', () => loose(ctx).filesystem.resize(args[0]));
      if (!r.ok) return r.status;
      ctx.changed();
      return 0;
    },
  },
  // ---------------------------------------------------------------- property
  {
    group: 'property', name: 'get', summary: 'get a property (ro, compression, label)', usage: 'btrfs property get <path> [<name>]',
    async run(ctx, args, io) {
      const path = ctx.resolve(args[0] ?? '.');
      if (!args[1]) {
        // No name: every property that applies, with its value (as progs does).
        const r = await tryApi(io, 'property get', 'fs.property', () => loose(ctx).property.list(path));
        if (!r.ok) return r.status;
        for (const p of r.value as { name: string; value: string }[]) if (p.value !== '') io.out(`${p.name}=${p.value}\n`);
        return 0;
      }
      const r = await tryApi(io, 'property get', 'fs.property', () => loose(ctx).property.get(path, args[1]));
      if (!r.ok) return r.status;
      if (r.value !== '') io.out(`${args[1]}=${String(r.value)}\n`);
      return 0;
    },
  },
  {
    group: 'property', name: 'set', summary: 'set a property', usage: 'btrfs property set [-f] <path> <name> <value>',
    async run(ctx, args, io) {
      const o = parseOptions('set', args, { short: 'f', withValue: ['t'] });
      if (o.operands.length < 3) throw new UsageError(`btrfs property set: not enough arguments: ${o.operands.length} but 3 expected`);
      const [path, name, value] = o.operands;
      const r = await tryApi(io, 'property set', 'fs.property', () => loose(ctx).property.set(ctx.resolve(path), name, value, { force: o.flags.has('f') }));
      if (!r.ok) return r.status;
      ctx.changed();
      return 0;
    },
  },
  {
    group: 'property', name: 'list', summary: 'list the properties of an object', usage: 'btrfs property list <path>',
    async run(ctx, args, io) {
      const r = await tryApi(io, 'property list', 'fs.property', () => loose(ctx).property.list(ctx.resolve(args[0] ?? '.')));
      if (!r.ok) return r.status;
      for (const p of r.value as { name: string; description: string }[]) io.out(`${p.name.padEnd(16)}${p.description}\n`);
      return 0;
    },
  },
  // ---------------------------------------------------------------- check, inspect
  {
    group: '', name: 'check', summary: 'check the filesystem (read-only), with progress; Ctrl+C cancels', usage: 'btrfs check [--readonly] [--check-data-csum] <device>',
    async run(ctx, args, io) {
      const o = parseOptions('check', args, { long: { readonly: 'readonly', 'check-data-csum': 'csum', force: 'force', progress: 'progress' } });
      if (o.flags.has('csum')) io.out('note: this check does not read file data against its checksums yet (--check-data-csum is not implemented by the engine); every read of a file verifies them\n', 'c-dim');
      const phases = ['trees', 'extents', 'block groups', 'devices', 'free space', 'csums', 'fs trees'];
      io.out(`Opening filesystem to check...\nChecking filesystem on ${deviceName(ctx)}\nUUID: ${ctx.session.fsid}\n`);
      // Progress shows in the bar as it comes; the phase lines are printed in order at the end
      // (progress messages and the result travel on different ports: their order is not kept).
      const onProgress = (p: { phase: string; done: number; total: number }) => {
        ctx.progress.update(p.total ? p.done / p.total : undefined, `checking ${p.phase}`);
      };
      const options = ctx.session.isHolder ? { onProgress, signal: ctx.signal } : {};
      let result;
      try {
        result = await ctx.fs.check(options);
      } catch (e) {
        if ((e as { code?: string }).code === 'ECANCELED') {
          io.err('check cancelled');
          return 130;
        }
        throw e;
      }
      phases.forEach((phase, i) => io.out(`[${i + 1}/${phases.length}] checking ${phase}\n`));
      for (const e of result.errors) io.err(`ERROR: ${e}`);
      const s = result.stats;
      if (result.ok) io.out(`found ${s.bytesUsed} bytes used, no error found\n`, 'c-ok');
      else io.out(`found ${s.bytesUsed} bytes used, error(s) found\n`, 'c-err');
      io.out(`total csum bytes: ${s.csumBytes}\ntotal tree bytes: ${s.treeBlocks * (await loadSpace(ctx.fs)).nodesize}\ntotal fs tree blocks: ${s.treeBlocks}\n` +
        `trees: ${s.trees}, inodes: ${s.inodes}, dir entries: ${s.dirEntries}, data extents: ${s.dataExtents}, block groups: ${s.blockGroups}\n`);
      await ctx.session.poll();
      return result.ok ? 0 : 1;
    },
  },
  {
    group: 'inspect-internal', name: 'dump-tree', summary: 'print trees (-t root|extent|chunk|dev|fs|csum|uuid|free-space|ID)', usage: 'btrfs inspect-internal dump-tree [-t <tree>] <device>',
    async run(ctx, args, io) {
      const o = parseOptions('dump-tree', args, { short: 'edurR', withValue: ['t', 'b'], long: { 'tree': 't', 'block': 'b', bfs: 'bfs', dfs: 'dfs', extents: 'e', 'device': 'd', roots: 'r' } });
      let tree: number | 'all' | undefined;
      if (o.values.has('t')) {
        tree = parseTreeId(o.values.get('t')!);
        if (tree === undefined) throw new UsageError(`unrecognized tree id: ${o.values.get('t')}`);
      } else if (o.flags.has('r')) tree = 1;
      else if (o.flags.has('d')) tree = 3;
      else if (o.flags.has('e')) tree = 2;
      ctx.progress.update(undefined, 'reading trees');
      const text = await ctx.fs.dumpTree({ tree, traverse: o.flags.has('dfs') ? 'dfs' : 'bfs' });
      printLong(io, `btrfs-progs v6.2 (butterfs)\n${text}`, 'redirect it to keep it all: btrfs inspect-internal dump-tree > /dump.txt');
      return 0;
    },
  },
  {
    group: 'inspect-internal', name: 'dump-super', summary: 'print the superblock (-f: everything)', usage: 'btrfs inspect-internal dump-super [-f] <device>',
    async run(ctx, args, io) {
      const o = parseOptions('dump-super', args, { short: 'fas', long: { full: 'f', all: 'a' } });
      io.out((await ctx.fs.dumpSuper({ full: o.flags.has('f') })).replace(/device=\s*$/m, `device=${deviceName(ctx)}`));
      return 0;
    },
  },
  // ---------------------------------------------------------------- quotas
  ...(['enable', 'disable'] as const).map((name): Sub => ({
    group: 'quota', name, summary: `${name} quota groups`, usage: `btrfs quota ${name} <path>`,
    async run(ctx, _args, io) {
      const r = await tryApi(io, `quota ${name}`, 'fs.qgroup', () => loose(ctx).qgroup[name]());
      if (!r.ok) return r.status;
      ctx.changed();
      return 0;
    },
  })),
  {
    group: 'quota', name: 'rescan', summary: 'recount every qgroup (progress; Ctrl+C cancels)', usage: 'btrfs quota rescan <path>',
    async run(ctx, _args, io) {
      const onProgress = (p: { extents: number }) => ctx.progress.update(undefined, `rescanning: ${p.extents} extents`);
      const r = await tryApi(io, 'quota rescan', 'fs.qgroup', () => loose(ctx).qgroup.rescan(ctx.session.isHolder ? { onProgress, signal: ctx.signal } : {}));
      if (!r.ok) return r.status;
      io.out('quota rescan started\n');
      return 0;
    },
  },
  {
    group: 'qgroup', name: 'show', summary: 'quota groups: referenced and exclusive bytes, limits', usage: 'btrfs qgroup show [-r] [-e] <path>',
    async run(ctx, args, io) {
      const o = parseOptions('show', args, { short: 'reFfcpP', long: { raw: 'raw', sync: 'sync' } });
      const r = await tryApi(io, 'qgroup show', 'fs.qgroup', () => loose(ctx).qgroup.show({ sync: true }));
      if (!r.ok) return r.status;
      const rows = r.value as { qgroupid: string; referenced: number; exclusive: number; maxReferenced: number | null; maxExclusive: number | null }[];
      const size = (n: number | null) => (n === null ? 'none' : o.flags.has('raw') ? String(n) : progsSize(n));
      const cols = [['Qgroupid', 'Referenced', 'Exclusive', ...(o.flags.has('r') ? ['Max referenced'] : []), ...(o.flags.has('e') ? ['Max exclusive'] : [])]];
      for (const q of rows) cols.push([q.qgroupid, size(q.referenced), size(q.exclusive), ...(o.flags.has('r') ? [size(q.maxReferenced)] : []), ...(o.flags.has('e') ? [size(q.maxExclusive)] : [])]);
      const widths = cols[0].map((_, i) => Math.max(...cols.map((c) => c[i].length)));
      cols.splice(1, 0, widths.map((w) => '-'.repeat(w)));
      for (const c of cols) io.out(c.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join(' ') + '\n');
      return 0;
    },
  },
  {
    group: 'qgroup', name: 'limit', summary: 'limit the referenced (or -e exclusive) bytes of a qgroup or a path', usage: 'btrfs qgroup limit [-e] <size>|none [<qgroupid>] <path>',
    async run(ctx, args, io) {
      const o = parseOptions('limit', args, { short: 'ec' });
      if (o.operands.length < 2) throw new UsageError(`btrfs qgroup limit: not enough arguments: ${o.operands.length} but at least 2 expected`);
      const [sizeText, target] = o.operands.length >= 3 ? [o.operands[0], o.operands[1]] : [o.operands[0], ctx.resolve(o.operands[1])];
      const bytes = sizeText === 'none' ? null : parseSize(sizeText);
      if (bytes === undefined) throw new UsageError(`invalid size argument: ${sizeText}`);
      const limits = o.flags.has('e') ? { maxExclusive: bytes } : { maxReferenced: bytes };
      const r = await tryApi(io, 'qgroup limit', 'fs.qgroup', () => loose(ctx).qgroup.limit(target, limits));
      if (!r.ok) return r.status;
      ctx.changed();
      return 0;
    },
  },
  // ---------------------------------------------------------------- later features: rows that say so
  ...([
    ['scrub', 'start', 'read and verify every copy of every block, repair from good copies', 'btrfs scrub start <path>', 'fs.scrub'],
    ['scrub', 'status', 'progress of a scrub', 'btrfs scrub status <path>', 'fs.scrub'],
    ['balance', 'start', 'rewrite block groups (convert profiles, compact)', 'btrfs balance start [-dusage=N] <path>', 'fs.balance'],
    ['device', 'add', 'add a device', 'btrfs device add <device> <path>', 'fs.device'],
    ['device', 'remove', 'remove a device', 'btrfs device remove <device> <path>', 'fs.device'],
    ['device', 'stats', 'per-device error counters', 'btrfs device stats <path>', 'fs.device'],
    ['', 'send', 'a send stream of a read-only snapshot', 'btrfs send [-p <parent>] <subvol> > file', 'fs.send'],
    ['', 'receive', 'apply a send stream', 'btrfs receive <path> < file', 'fs.receive'],
  ] as const).map(([group, name, summary, usage, api]): Sub => ({
    group, name, summary, usage,
    async run(ctx, args, io) {
      const ns = api.replace(/^fs\./, '');
      const target = (ctx.fs as unknown as Record<string, unknown>)[ns] as Record<string, (...a: unknown[]) => Promise<unknown>>;
      const method = group === '' ? undefined : name;
      const r = await tryApi(io, `${group ? group + ' ' : ''}${name}`, api, () => {
        const onProgress = (p: unknown) => ctx.progress.update(undefined, JSON.stringify(p));
        const opts = ctx.session.isHolder ? { onProgress, signal: ctx.signal } : {};
        return method ? target[method](...args.filter((a) => !a.startsWith('-')).map((a) => (a.startsWith('/') || a === '.' ? ctx.resolve(a) : a)), opts) : (target as unknown as (...a: unknown[]) => Promise<unknown>)(...args);
      });
      if (!r.ok) return r.status;
      printValue(io, r.value);
      ctx.changed();
      return 0;
    },
  })),
];

const GROUPS = ['subvolume', 'filesystem', 'property', 'quota', 'qgroup', 'inspect-internal', 'scrub', 'balance', 'device'];

/** btrfs-progs' prefix matching: an exact name, or the one name that starts with the prefix. */
function matchPrefix(word: string, names: string[]): string | undefined | 'ambiguous' {
  if (names.includes(word)) return word;
  const hits = names.filter((n) => n.startsWith(word));
  if (hits.length === 1) return hits[0];
  return hits.length > 1 ? 'ambiguous' : undefined;
}

function groupUsage(group: string): string {
  return SUBS.filter((s) => s.group === group).map((s) => `    ${s.usage.padEnd(58)} ${s.summary}`).join('\n');
}

export const btrfs: Command = {
  name: 'btrfs',
  summary: 'btrfs-progs: subvolume, filesystem, property, check, inspect-internal, ...',
  usage: ['btrfs <group> <command> [<args>]', '', ...GROUPS.map((g) => groupUsage(g)), groupUsage('')].join('\n'),
  complete: (_ctx, words, index) => {
    if (index === 1) return [...GROUPS, ...SUBS.filter((s) => s.group === '').map((s) => s.name), 'help'];
    if (index === 2) {
      const g = matchPrefix(words[1] ?? '', GROUPS);
      if (g && g !== 'ambiguous') return SUBS.filter((s) => s.group === g).map((s) => s.name);
    }
    return [];
  },
  async run(ctx, args, io) {
    if (args.length === 0 || args[0] === 'help' || args[0] === '--help') {
      io.out(`usage: ${btrfs.usage}\n`);
      return args.length === 0 ? 1 : 0;
    }
    if (args[0] === '--version' || args[0] === 'version') {
      io.out('btrfs-progs v6.2 (the butterfs demo shell: these commands run on butterfs in your browser)\n');
      return 0;
    }
    let sub: Sub | undefined;
    let rest: string[];
    const top = matchPrefix(args[0], [...GROUPS, ...SUBS.filter((s) => s.group === '').map((s) => s.name)]);
    if (top === 'ambiguous' || top === undefined) {
      io.err(`btrfs: ${top === 'ambiguous' ? 'ambiguous' : 'unknown'} token '${args[0]}'\nusage: btrfs [--help] [--version] <group> [<group>...] <command> [<args>]`);
      return 1;
    }
    if (GROUPS.includes(top)) {
      const names = SUBS.filter((s) => s.group === top).map((s) => s.name);
      if (!args[1] || args[1] === '--help') {
        io.out(`usage: btrfs ${top} <command> <args>\n\n${groupUsage(top)}\n`);
        return args[1] ? 0 : 1;
      }
      const name = matchPrefix(args[1], names);
      if (name === undefined || name === 'ambiguous') {
        io.err(`btrfs ${top}: ${name === 'ambiguous' ? 'ambiguous' : 'unknown'} token '${args[1]}'\nusage: btrfs ${top} <command> <args>\n\n${groupUsage(top)}`);
        return 1;
      }
      sub = SUBS.find((s) => s.group === top && s.name === name)!;
      rest = args.slice(2);
    } else {
      sub = SUBS.find((s) => s.group === '' && s.name === top)!;
      rest = args.slice(1);
    }
    if (rest.includes('--help')) {
      io.out(`usage: ${sub.usage}\n\n    ${sub.summary}\n`);
      return 0;
    }
    // Paths the user gives to commands that act on the whole filesystem (df /, check <device>)
    // name the one mounted filesystem; they are accepted and ignored.
    try {
      return await sub.run(ctx, rest, io);
    } catch (e) {
      if (e instanceof UsageError) {
        io.err(`${e.message}\nusage: ${sub.usage}`);
        return 1;
      }
      throw e;
    }
  },
};

/** compsize's human_bytes: 1024-based, one decimal from 10 KiB on ("1.1G"), or raw bytes with -b. */
function compsizeBytes(n: number, raw: boolean): string {
  if (raw) return String(n);
  const units = 'BKMGTPE';
  let u = 0;
  let x = n;
  while (x >= 10240) {
    u++;
    x = Math.floor(x / 1024);
  }
  if (x >= 1024) return ` ${Math.floor(x / 1024)}.${Math.floor((x * 10) / 1024) % 10}${units[u + 1]}`;
  return `${String(x).padStart(4)}${units[u]}`;
}

/** `compsize [-b] [-x] <file-or-dir>...`: the compression ratio, as the compsize tool prints it. */
const compsize: Command = {
  name: 'compsize',
  summary: 'compression ratio of files and directories (the compsize tool)',
  usage: 'compsize [-b|--bytes] [-x|--one-file-system] <file-or-dir>...',
  complete: 'path',
  async run(ctx, args, io) {
    const o = parseOptions('compsize', args, { short: 'bx', long: { bytes: 'b', 'one-file-system': 'x' } });
    if (o.operands.length === 0) {
      io.err('Usage: compsize file-or-dir1 [file-or-dir2 ...]');
      return 1;
    }
    let r: { files: number; regularExtents: number; refs: number; inlineExtents: number; total: Row; byType: Row[] };
    type Row = { type: string; diskBytes: number; uncompressedBytes: number; referencedBytes: number };
    try {
      r = (await loose(ctx).filesystem.compsize(o.operands.map((x) => ctx.resolve(x)), { oneFileSystem: o.flags.has('x') })) as typeof r;
    } catch (e) {
      if (isMissingApi(e)) {
        io.err('compsize: not available yet: the engine has no fs.filesystem.compsize in this build');
        return 1;
      }
      io.err(`compsize: ${describeError(e)}`);
      return 1;
    }
    if (r.total.uncompressedBytes === 0) {
      io.err(r.files === 0 ? 'No files.' : 'All empty or still-delalloced files.');
      return 1;
    }
    const raw = o.flags.has('b');
    const line = (a: string, b: string, c: string, d: string, e: string) => io.out(`${a.padEnd(10)} ${b.padEnd(8)} ${c.padEnd(12)} ${d.padEnd(12)} ${e.padEnd(12)}\n`);
    if (r.files > 1) io.out(`Processed ${r.files} files, ${r.regularExtents} regular extents (${r.refs} refs), ${r.inlineExtents} inline.\n`);
    line('Type', 'Perc', 'Disk Usage', 'Uncompressed', 'Referenced');
    for (const row of [r.total, ...r.byType]) {
      const perc = `${String(Math.floor((row.diskBytes * 100) / row.uncompressedBytes)).padStart(3)}%`;
      line(row.type, perc, compsizeBytes(row.diskBytes, raw), compsizeBytes(row.uncompressedBytes, raw), compsizeBytes(row.referencedBytes, raw));
    }
    return 0;
  },
};

export const btrfsCommands: Command[] = [btrfs, compsize];


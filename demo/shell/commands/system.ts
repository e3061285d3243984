// Shell built-ins and system commands: help, clear, history, mount, sync, chattr, lsattr,
// download.
import { errorCode } from '../../app/format.js';
import { parseOptions, describeError, type Command, type Context } from '../command.js';
import { deviceName } from './files.js';
import { basename, join } from '../paths.js';

const help: Command = {
  name: 'help',
  summary: 'list commands, or show how to use one',
  usage: 'help [COMMAND]',
  complete: (ctx) => ctx.commands.all.filter((c) => !c.hidden).map((c) => c.name),
  async run(ctx, args, io) {
    if (args[0]) {
      const c = ctx.commands.get(args[0]);
      if (!c) {
        io.err(`help: no help topics match '${args[0]}'`);
        return 1;
      }
      io.out(`${c.name}: ${c.summary}\nusage: ${c.usage}\n`);
      return 0;
    }
    io.out('Commands (help NAME, or NAME --help, for more; Tab completes commands and paths):\n\n', 'c-dim');
    const all = ctx.commands.all.filter((c) => !c.hidden);
    const width = Math.max(...all.map((c) => c.name.length)) + 2;
    for (const c of all) {
      if (io.spans && !io.redirected) io.spans([{ text: '  ' }, { text: c.name.padEnd(width), cls: 'c-cmd' }, { text: c.summary }]);
      else io.out(`  ${c.name.padEnd(width)}${c.summary}\n`);
    }
    io.out('\nKeys: ↑/↓ history, Tab completion, Ctrl+C cancel, Ctrl+L clear. Redirect with > and >>, chain with ; and &&.\n', 'c-dim');
    return 0;
  },
};

const clear: Command = {
  name: 'clear',
  summary: 'clear the terminal',
  usage: 'clear',
  async run(ctx) {
    ctx.clear();
    return 0;
  },
};

const history: Command = {
  name: 'history',
  summary: 'list the commands typed before',
  usage: 'history',
  async run(ctx, _args, io) {
    ctx.history.forEach((line, i) => io.out(`${String(i + 1).padStart(5)}  ${line}\n`));
    return 0;
  },
};

/**
 * Merges mount option strings as mount(8) does for a remount: later options win, and an option
 * replaces its opposite (ro/rw, the atime policies, X/noX).
 */
export function mergeOptions(current: string, added: string): string {
  const groups: Record<string, string> = { ro: 'rw', rw: 'rw', relatime: 'atime', noatime: 'atime', strictatime: 'atime', norelatime: 'atime' };
  const keyOf = (opt: string) => {
    const name = opt.split('=')[0];
    if (groups[name]) return groups[name];
    if (name === 'compress-force') return 'compress';
    return name.replace(/^no/, '');
  };
  const map = new Map<string, string>();
  for (const opt of [...current.split(','), ...added.split(',')]) {
    const o = opt.trim();
    if (!o || o === 'remount' || o === 'defaults') continue;
    map.delete(keyOf(o));
    map.set(keyOf(o), o);
  }
  return [...map.values()].join(',');
}

/** The option list `mount` prints: what was asked, plus the defaults btrfs shows. */
function shownOptions(options: string): string {
  const list = options ? options.split(',') : [];
  const has = (re: RegExp) => list.some((o) => re.test(o));
  const out = [has(/^ro$/) ? 'ro' : 'rw'];
  if (!has(/^(no|strict|rel)atime$/)) out.push('relatime');
  for (const o of list) if (o !== 'ro' && o !== 'rw') out.push(o);
  if (!has(/^space_cache/)) out.push('space_cache=v2');
  out.push('subvolid=5', 'subvol=/');
  return out.join(',');
}

const mount: Command = {
  name: 'mount',
  summary: 'show the mount, or remount with other options (mount -o remount,noatime,commit=5)',
  usage: 'mount\nmount -o remount,OPTIONS [/]\n  options as btrfs(5) has them: ro, rw, commit=N, noatime, max_inline=N, nodatacow, nodatasum, compress=... (when it lands)',
  complete: () => ['-o'],
  async run(ctx, args, io) {
    const o = parseOptions('mount', args, { short: 'v', withValue: ['o'], long: { options: 'o' } });
    if (!o.values.has('o')) {
      if (o.operands.length) {
        io.err('mount: only `mount -o remount,...` is possible here: the filesystem is already mounted on /');
        return 1;
      }
      io.out(`${deviceName(ctx)} on / type btrfs (${shownOptions(ctx.session.mountOptions)})\n`);
      return 0;
    }
    const opts = o.values.get('o')!;
    if (!opts.split(',').includes('remount')) {
      io.err('mount: / is already mounted; use -o remount,OPTIONS to change its options');
      return 32;
    }
    if (o.operands.length && o.operands[0] !== '/') {
      io.err(`mount: ${o.operands[0]}: mount point not mounted or bad option (only / is mounted here)`);
      return 32;
    }
    const next = mergeOptions(ctx.session.mountOptions, opts);
    ctx.progress.update(undefined, 'remounting');
    try {
      await ctx.session.remount(next);
    } catch (e) {
      io.err(`mount: /: mount point not mounted or bad option.\n       ${errorCode(e) ?? 'error'}: ${describeError(e)}`);
      return 32;
    }
    if (o.flags.has('v')) io.out(`${deviceName(ctx)} on / type btrfs (${shownOptions(next)})\n`);
    ctx.changed();
    return 0;
  },
};

const sync: Command = {
  name: 'sync',
  summary: 'commit the running transaction (a new generation, durable on disk)',
  usage: 'sync',
  async run(ctx) {
    await ctx.fs.sync();
    await ctx.session.poll();
    return 0;
  },
};

/** e2fsprogs' lsattr column order; btrfs supports a subset of the letters. */
const LSATTR_ORDER = 'suSDiadAcEjItTeCxFNPVm';

function lsattrString(letters: string): string {
  return [...LSATTR_ORDER].map((c) => (letters.includes(c) ? c : '-')).join('');
}

const chattr: Command = {
  name: 'chattr',
  summary: 'change file attributes (+C nodatacow, +i immutable, +a append only, ...)',
  usage: 'chattr [-R] [-V] [+-=][aAcCdimSDx...] FILE...\n  btrfs: a append only, A no atime, c compress, C no copy-on-write (empty files), d no dump,\n         i immutable, m no compress, S sync, D dirsync, x DAX (refused)',
  complete: 'path',
  async run(ctx, args, io) {
    const specs: string[] = [];
    const files: string[] = [];
    let recursive = false;
    let verbose = false;
    for (const a of args) {
      if (a === '-R') recursive = true;
      else if (a === '-V') verbose = true;
      else if (/^[+=-][a-zA-Z]+$/.test(a) && files.length === 0) specs.push(a);
      else files.push(a);
    }
    if (specs.length === 0 || files.length === 0) {
      io.err('Usage: chattr [-RVf] [-+=aAcCdDeijPsStTuFx] [-p project] [-v version] files...');
      return 1;
    }
    let status = 0;
    const apply = async (shown: string, p: string) => {
      try {
        const now = await ctx.fs.attributes.set(p, specs.join(' '));
        if (verbose) io.out(`Flags of ${shown} set as ${lsattrString(now)}\n`);
      } catch (e) {
        io.err(`chattr: ${describeError(e)} while setting flags on ${shown}`);
        status = 1;
      }
      if (recursive) {
        const st = await ctx.fs.promises.lstat(p).catch(() => undefined);
        if (st?.isDirectory()) for (const name of (await ctx.fs.promises.readdir(p)) as string[]) await apply(join(shown, name), join(p, name));
      }
    };
    for (const f of files) await apply(f, ctx.resolve(f));
    ctx.changed();
    return status;
  },
};

const lsattr: Command = {
  name: 'lsattr',
  summary: 'list file attributes',
  usage: 'lsattr [-d] [-a] [FILE]...',
  complete: 'path',
  async run(ctx, args, io) {
    const o = parseOptions('lsattr', args, { short: 'daR' });
    let status = 0;
    const show = async (shown: string, p: string) => {
      try {
        io.out(`${lsattrString(await ctx.fs.attributes.get(p))} ${shown}\n`);
      } catch (e) {
        io.err(`lsattr: ${describeError(e)} While reading flags on ${shown}`);
        status = 1;
      }
    };
    for (const name of o.operands.length ? o.operands : ['.']) {
      const p = ctx.resolve(name);
      const st = await ctx.fs.promises.stat(p).catch((e: unknown) => e as Error);
      if (st instanceof Error) {
        io.err(`lsattr: ${describeError(st)} while trying to stat ${name}`);
        status = 1;
        continue;
      }
      if (st.isDirectory() && !o.flags.has('d')) {
        const entries = ((await ctx.fs.promises.readdir(p)) as string[]).filter((n) => o.flags.has('a') || !n.startsWith('.')).sort();
        for (const e of entries) await show(name === '.' ? `./${e}` : join(name, e), join(p, e));
      } else {
        await show(name, p);
      }
    }
    return status;
  },
};

const download: Command = {
  name: 'download',
  summary: 'save a file from the filesystem to your computer',
  usage: 'download FILE',
  complete: 'path',
  async run(ctx: Context, args, io) {
    if (!args[0]) {
      io.err('download: missing file operand');
      return 1;
    }
    try {
      const data = (await ctx.fs.promises.readFile(ctx.resolve(args[0]))) as Uint8Array;
      ctx.download(basename(args[0]), new Blob([data as Uint8Array<ArrayBuffer>]));
      io.out(`downloading '${basename(args[0])}' (${data.length} bytes)\n`, 'c-dim');
      return 0;
    } catch (e) {
      io.err(`download: ${args[0]}: ${describeError(e)}`);
      return 1;
    }
  },
};

export const systemCommands: Command[] = [help, clear, history, mount, sync, chattr, lsattr, download];

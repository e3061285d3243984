// File and directory commands, as coreutils has them (GNU's options and messages where it
// matters): ls, cd, pwd, cat, echo, touch, mkdir, rm, rmdir, mv, cp, ln, readlink, stat, du, df,
// tree, truncate, head. Each one is a row: name, summary, usage, completion, run.
import type { Dirent, Stats, StatFs } from '../../../src/index.js';
import { fileTypeWords, humanSize, lsDate, modeString, parseSize, statDate, errorCode } from '../../app/format.js';
import { DEVICE } from '../../app/session.js';
import { parseOptions, describeError, type Command, type Context, type Output } from '../command.js';
import { basename, join } from '../paths.js';

/** node's fs.constants for copyFile (Linux values). */
const COPYFILE_EXCL = 1;
const COPYFILE_FICLONE = 2;
const COPYFILE_FICLONE_FORCE = 4;

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

/** Where device names point when a command prints the "device" (df, mount). */
export function deviceName(ctx: Context): string {
  return `${ctx.session.backend.backend}:${DEVICE}`;
}

function isDir(s: Stats): boolean {
  return (s.mode & S_IFMT) === S_IFDIR;
}

export function nameClass(mode: number): string | undefined {
  const t = mode & S_IFMT;
  if (t === S_IFDIR) return 'c-dir';
  if (t === S_IFLNK) return 'c-link';
  if (mode & 0o111) return 'c-exec';
  return undefined;
}

async function lstatOrNull(ctx: Context, path: string): Promise<Stats | null> {
  try {
    return await ctx.fs.promises.lstat(path);
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return null;
    throw e;
  }
}

async function statOrNull(ctx: Context, path: string): Promise<Stats | null> {
  try {
    return await ctx.fs.promises.stat(path);
  } catch (e) {
    if (errorCode(e) === 'ENOENT' || errorCode(e) === 'ELOOP') return null;
    throw e;
  }
}

type Piece = { text: string; cls?: string };

/** Lays names out in columns as ls does on a terminal (column-major). */
function columns(names: Piece[], width = 96): Piece[][] {
  if (names.length === 0) return [];
  const longest = Math.max(...names.map((n) => n.text.length)) + 2;
  const perRow = Math.max(1, Math.floor(width / longest));
  const rows = Math.ceil(names.length / perRow);
  const out: Piece[][] = [];
  for (let r = 0; r < rows; r++) {
    const line: Piece[] = [];
    for (let c = 0; c < perRow; c++) {
      const n = names[c * rows + r];
      if (!n) continue;
      const last = c === perRow - 1 || !names[(c + 1) * rows + r];
      line.push({ text: n.text, cls: n.cls });
      if (!last) line.push({ text: ' '.repeat(longest - n.text.length) });
    }
    out.push(line);
  }
  return out;
}

export function emit(io: Output, pieces: Piece[]): void {
  if (io.spans && !io.redirected) io.spans(pieces);
  else io.out(pieces.map((p) => p.text).join('') + '\n');
}

const ls: Command = {
  name: 'ls',
  summary: 'list directory contents',
  usage: 'ls [-laAhiRd1] [FILE]...\n  -l long listing   -a all (. and ..)   -A almost all   -h human sizes\n  -i inode numbers   -R recursive   -d directories themselves   -1 one per line',
  complete: 'path',
  async run(ctx, args, io) {
    const o = parseOptions('ls', args, { short: 'laAhiRd1F', long: { all: 'a', 'almost-all': 'A', 'human-readable': 'h', inode: 'i', recursive: 'R', directory: 'd' } });
    const long = o.flags.has('l');
    const operands = o.operands.length ? o.operands : ['.'];
    let status = 0;
    const files: { name: string; path: string; st: Stats }[] = [];
    const dirs: { name: string; path: string }[] = [];
    for (const op of operands) {
      const p = ctx.resolve(op);
      try {
        const st = await ctx.fs.promises.lstat(p);
        let target = st;
        if ((st.mode & S_IFMT) === S_IFLNK && !long && !o.flags.has('d')) target = (await statOrNull(ctx, p)) ?? st;
        if (isDir(target) && !o.flags.has('d')) dirs.push({ name: op, path: p });
        else files.push({ name: op, path: p, st });
      } catch (e) {
        io.err(`ls: cannot access '${op}': ${describeError(e)}`);
        status = 2;
      }
    }
    const render = async (entries: { name: string; path: string; st: Stats }[], showTotal: boolean) => {
      if (!long) {
        const names = entries.map((e) => ({ text: (o.flags.has('i') ? `${e.st.ino} ` : '') + e.name, cls: nameClass(e.st.mode) }));
        if (o.flags.has('1') || io.redirected) for (const n of names) emit(io, [n]);
        else for (const row of columns(names)) emit(io, row);
        return;
      }
      if (showTotal) io.out(`total ${entries.reduce((s, e) => s + Math.ceil((e.st.blocks * 512) / 1024), 0)}\n`);
      const rows = await Promise.all(entries.map(async (e) => {
        const size = o.flags.has('h') ? humanSize(e.st.size) : String(e.st.size);
        const link = (e.st.mode & S_IFMT) === S_IFLNK ? String(await ctx.fs.promises.readlink(e.path).catch(() => '?')) : undefined;
        const cols = [o.flags.has('i') ? String(e.st.ino) : '', modeString(e.st.mode), String(e.st.nlink), e.st.uid === 0 ? 'root' : String(e.st.uid), e.st.gid === 0 ? 'root' : String(e.st.gid), size, lsDate(e.st.mtime)];
        return { e, cols, link };
      }));
      const widths = [0, 0, 0, 0, 0, 0, 0];
      for (const r of rows) r.cols.forEach((c, i) => (widths[i] = Math.max(widths[i], c.length)));
      for (const r of rows) {
        const c = r.cols;
        const head = [o.flags.has('i') ? c[0].padStart(widths[0]) + ' ' : '', c[1], ' ', c[2].padStart(widths[2]), ' ', c[3].padEnd(widths[3]), ' ', c[4].padEnd(widths[4]), ' ', c[5].padStart(widths[5]), ' ', c[6], ' '].join('');
        const pieces: Piece[] = [{ text: head }, { text: r.e.name, cls: nameClass(r.e.st.mode) }];
        if (r.link !== undefined) pieces.push({ text: ` -> ${r.link}` });
        emit(io, pieces);
      }
    };
    files.sort((a, b) => (a.name < b.name ? -1 : 1));
    if (files.length) await render(files, false);
    const queue = [...dirs];
    let first = files.length === 0;
    const many = operands.length > 1 || o.flags.has('R');
    while (queue.length) {
      const d = queue.shift()!;
      if (ctx.signal.aborted) break;
      let entries: Dirent[];
      try {
        entries = await ctx.fs.promises.readdir(d.path, { withFileTypes: true });
      } catch (e) {
        io.err(`ls: cannot open directory '${d.name}': ${describeError(e)}`);
        status = 2;
        continue;
      }
      const all = o.flags.has('a');
      const shown = entries.filter((e) => all || o.flags.has('A') || !e.name.startsWith('.')).map((e) => e.name).sort();
      if (all) shown.unshift('.', '..');
      const withStats = await Promise.all(shown.map(async (name) => {
        const path = name === '.' ? d.path : name === '..' ? ctx.resolve(`${d.path}/..`) : join(d.path, name);
        return { name, path, st: await ctx.fs.promises.lstat(path) };
      }));
      if (many) io.out(`${first ? '' : '\n'}${d.name}:\n`);
      first = false;
      await render(withStats, true);
      if (o.flags.has('R')) {
        const subs = withStats.filter((e) => isDir(e.st) && e.name !== '.' && e.name !== '..').map((e) => ({ name: d.name === '.' ? `./${e.name}` : join(d.name, e.name), path: e.path }));
        queue.unshift(...subs);
      }
    }
    return status;
  },
};

const previousDir = new WeakMap<object, string>();

const cd: Command = {
  name: 'cd',
  summary: 'change the working directory',
  usage: 'cd [DIR]   (no DIR, or ~: the top of the filesystem; -: the previous directory)',
  complete: 'dir',
  async run(ctx, args, io) {
    const target = args[0] ?? '/';
    const p = target === '-' ? (previousDir.get(ctx.session) ?? ctx.cwd) : ctx.resolve(target);
    try {
      const st = await ctx.fs.promises.stat(p);
      if (!isDir(st)) {
        io.err(`cd: ${target}: Not a directory`);
        return 1;
      }
    } catch (e) {
      io.err(`cd: ${target}: ${describeError(e)}`);
      return 1;
    }
    previousDir.set(ctx.session, ctx.cwd);
    ctx.cwd = p;
    if (target === '-') io.out(`${p}\n`);
    return 0;
  },
};

const pwd: Command = {
  name: 'pwd',
  summary: 'print the working directory',
  usage: 'pwd',
  async run(ctx, _args, io) {
    io.out(`${ctx.cwd}\n`);
    return 0;
  },
};

/** Whether bytes look like text (no NUL in the first 8 KiB, valid UTF-8). */
function isText(data: Uint8Array): boolean {
  const head = data.subarray(0, 8192);
  if (head.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(data.length > 65536 ? data.subarray(0, 65536 - 4) : data);
    return true;
  } catch {
    return data.length > 65536;
  }
}

/** Writes file bytes to standard output: raw into a redirect, as text (or a note) on the terminal. */
export function writeBytes(io: Output, data: Uint8Array, name: string): void {
  if (io.redirected && io.bytes) {
    io.bytes(data);
    return;
  }
  if (!isText(data)) {
    io.out(`[${name}: binary data, ${humanSize(data.length)}B; \`download ${name}\` saves it]\n`, 'c-dim');
    return;
  }
  const LIMIT = 256 * 1024;
  const text = new TextDecoder().decode(data.length > LIMIT ? data.subarray(0, LIMIT) : data);
  io.out(text);
  if (data.length > LIMIT) io.out(`\n[... ${humanSize(data.length - LIMIT)}B more; \`download ${name}\` saves the whole file]\n`, 'c-dim');
}

const cat: Command = {
  name: 'cat',
  summary: 'print files',
  usage: 'cat FILE...',
  complete: 'path',
  async run(ctx, args, io) {
    const o = parseOptions('cat', args, {});
    let status = 0;
    for (const name of o.operands) {
      try {
        const data = await ctx.fs.promises.readFile(ctx.resolve(name));
        writeBytes(io, data as Uint8Array, name);
      } catch (e) {
        io.err(`cat: ${name}: ${describeError(e)}`);
        status = 1;
      }
    }
    return status;
  },
};

function unescape(s: string): string {
  return s.replace(/\\(n|t|\\|0[0-7]{0,3}|e|r|a|b|f|v)/g, (_, c: string) => {
    switch (c[0]) {
      case 'n': return '\n';
      case 't': return '\t';
      case 'r': return '\r';
      case '\\': return '\\';
      case 'e': return '\x1b';
      case 'a': return '\x07';
      case 'b': return '\b';
      case 'f': return '\f';
      case 'v': return '\v';
      default: return String.fromCharCode(parseInt(c.slice(1) || '0', 8));
    }
  });
}

const echo: Command = {
  name: 'echo',
  summary: 'print its arguments (echo text > file writes a file)',
  usage: 'echo [-n] [-e] [TEXT]...   (-n: no newline, -e: backslash escapes)',
  complete: 'path',
  async run(_ctx, args, io) {
    let newline = true;
    let escapes = false;
    let i = 0;
    for (; i < args.length && /^-[neE]+$/.test(args[i]); i++) {
      if (args[i].includes('n')) newline = false;
      if (args[i].includes('e')) escapes = true;
    }
    const text = args.slice(i).join(' ');
    io.out((escapes ? unescape(text) : text) + (newline ? '\n' : ''));
    return 0;
  },
};

const touch: Command = {
  name: 'touch',
  summary: 'create empty files or update their times',
  usage: 'touch FILE...',
  complete: 'path',
  async run(ctx, args, io) {
    let status = 0;
    for (const name of parseOptions('touch', args, { short: 'c' }).operands) {
      const p = ctx.resolve(name);
      try {
        if (await statOrNull(ctx, p)) {
          const now = new Date();
          await ctx.fs.promises.utimes(p, now, now);
        } else {
          await ctx.fs.promises.writeFile(p, '', { flag: 'a' });
        }
      } catch (e) {
        io.err(`touch: cannot touch '${name}': ${describeError(e)}`);
        status = 1;
      }
    }
    ctx.changed();
    return status;
  },
};

const mkdir: Command = {
  name: 'mkdir',
  summary: 'make directories',
  usage: 'mkdir [-p] [-v] [-m MODE] DIRECTORY...\n  -p no error if existing, make parents as needed',
  complete: 'dir',
  async run(ctx, args, io) {
    const o = parseOptions('mkdir', args, { short: 'pv', withValue: ['m'], long: { parents: 'p', verbose: 'v', mode: 'm' } });
    if (o.operands.length === 0) {
      io.err("mkdir: missing operand\nTry 'mkdir --help' for more information.");
      return 1;
    }
    const mode = o.values.has('m') ? parseInt(o.values.get('m')!, 8) : 0o777;
    let status = 0;
    for (const name of o.operands) {
      try {
        const made = await ctx.fs.promises.mkdir(ctx.resolve(name), { recursive: o.flags.has('p'), mode });
        if (o.flags.has('v') && (made !== undefined || !o.flags.has('p'))) io.out(`mkdir: created directory '${name}'\n`);
      } catch (e) {
        io.err(`mkdir: cannot create directory '${name}': ${describeError(e)}`);
        status = 1;
      }
    }
    ctx.changed();
    return status;
  },
};

const rm: Command = {
  name: 'rm',
  summary: 'remove files or directories',
  usage: 'rm [-r] [-f] [-d] [-v] FILE...\n  -r remove directories and their contents   -f ignore missing files   -d remove empty directories',
  complete: 'path',
  async run(ctx, args, io) {
    const o = parseOptions('rm', args, { short: 'rRfdvi', long: { recursive: 'r', force: 'f', dir: 'd', verbose: 'v' } });
    const recursive = o.flags.has('r') || o.flags.has('R');
    if (o.operands.length === 0 && !o.flags.has('f')) {
      io.err("rm: missing operand\nTry 'rm --help' for more information.");
      return 1;
    }
    let status = 0;
    for (const name of o.operands) {
      const p = ctx.resolve(name);
      if (p === '/' && recursive) {
        io.err("rm: it is dangerous to operate recursively on '/'\nrm: use the Reset button to start over");
        status = 1;
        continue;
      }
      if (/(^|\/)\.\.?\/?$/.test(name)) {
        io.err(`rm: refusing to remove '.' or '..' directory: skipping '${name}'`);
        status = 1;
        continue;
      }
      try {
        const st = await ctx.fs.promises.lstat(p);
        if (isDir(st) && !recursive) {
          if (o.flags.has('d')) await ctx.fs.promises.rmdir(p);
          else {
            io.err(`rm: cannot remove '${name}': Is a directory`);
            status = 1;
            continue;
          }
        } else {
          await ctx.fs.promises.rm(p, { recursive, force: false });
        }
        if (o.flags.has('v')) io.out(`removed ${isDir(st) ? 'directory ' : ''}'${name}'\n`);
      } catch (e) {
        if (o.flags.has('f') && errorCode(e) === 'ENOENT') continue;
        io.err(`rm: cannot remove '${name}': ${describeError(e)}`);
        status = 1;
      }
    }
    ctx.changed();
    return status;
  },
};

const rmdir: Command = {
  name: 'rmdir',
  summary: 'remove empty directories',
  usage: 'rmdir DIRECTORY...',
  complete: 'dir',
  async run(ctx, args, io) {
    let status = 0;
    for (const name of parseOptions('rmdir', args, { short: 'pv' }).operands) {
      try {
        await ctx.fs.promises.rmdir(ctx.resolve(name));
      } catch (e) {
        io.err(`rmdir: failed to remove '${name}': ${describeError(e)}`);
        status = 1;
      }
    }
    ctx.changed();
    return status;
  },
};

/** The destination of a copy or move of `src` to `dest` (into `dest` when it is a directory). */
async function intoTarget(ctx: Context, src: string, dest: string, many: boolean): Promise<string | Error> {
  const d = ctx.resolve(dest);
  const st = await statOrNull(ctx, d);
  if (st && isDir(st)) return join(d, basename(src));
  if (many) return new Error(`target '${dest}' is not a directory`);
  return d;
}

const mv: Command = {
  name: 'mv',
  summary: 'move or rename files',
  usage: 'mv [-n] [-v] SOURCE... DEST',
  complete: 'path',
  async run(ctx, args, io) {
    const o = parseOptions('mv', args, { short: 'fnvi', long: { force: 'f', 'no-clobber': 'n', verbose: 'v' } });
    if (o.operands.length < 2) {
      io.err(o.operands.length === 0 ? "mv: missing file operand\nTry 'mv --help' for more information." : `mv: missing destination file operand after '${o.operands[0]}'\nTry 'mv --help' for more information.`);
      return 1;
    }
    const dest = o.operands.pop()!;
    let status = 0;
    for (const src of o.operands) {
      const s = ctx.resolve(src);
      if (!(await lstatOrNull(ctx, s))) {
        io.err(`mv: cannot stat '${src}': No such file or directory`);
        status = 1;
        continue;
      }
      const target = await intoTarget(ctx, src, dest, o.operands.length > 1);
      if (target instanceof Error) {
        io.err(`mv: ${target.message}`);
        return 1;
      }
      try {
        if (o.flags.has('n') && (await lstatOrNull(ctx, target))) continue;
        await ctx.fs.promises.rename(s, target);
        if (o.flags.has('v')) io.out(`renamed '${src}' -> '${target}'\n`);
      } catch (e) {
        io.err(`mv: cannot move '${src}' to '${target}': ${describeError(e)}`);
        status = 1;
      }
    }
    ctx.changed();
    return status;
  },
};

const cp: Command = {
  name: 'cp',
  summary: 'copy files (reflink copies share extents: instant, no extra space)',
  usage: 'cp [-r] [-n] [-v] [--reflink[=always|auto|never]] SOURCE... DEST\n  --reflink, --reflink=always  share the data extents (btrfs clone); fail if it cannot\n  --reflink=auto (the default, as in GNU cp 9)  share when possible, else copy\n  --reflink=never  copy the bytes',
  complete: 'path',
  async run(ctx, args, io) {
    const o = parseOptions('cp', args, { short: 'rRanvfp', long: { recursive: 'r', reflink: 'reflink', 'no-clobber': 'n', verbose: 'v', archive: 'a', force: 'f' } });
    const when = o.flags.has('reflink') ? (o.values.get('reflink') ?? 'always') : 'auto';
    if (!['always', 'auto', 'never'].includes(when)) {
      io.err(`cp: invalid argument '${when}' for '--reflink'\nValid arguments are:\n  - 'auto'\n  - 'always'\n  - 'never'`);
      return 1;
    }
    const mode = (when === 'always' ? COPYFILE_FICLONE_FORCE : when === 'auto' ? COPYFILE_FICLONE : 0) | (o.flags.has('n') ? COPYFILE_EXCL : 0);
    const recursive = o.flags.has('r') || o.flags.has('R') || o.flags.has('a');
    if (o.operands.length < 2) {
      io.err(o.operands.length === 0 ? "cp: missing file operand\nTry 'cp --help' for more information." : `cp: missing destination file operand after '${o.operands[0]}'\nTry 'cp --help' for more information.`);
      return 1;
    }
    const dest = o.operands.pop()!;
    let status = 0;
    const copyOne = async (src: string, dst: string, shown: string): Promise<void> => {
      const st = await ctx.fs.promises.lstat(src);
      if (ctx.signal.aborted) throw Object.assign(new Error('interrupted'), { code: 'ECANCELED' });
      if (isDir(st)) {
        await ctx.fs.promises.mkdir(dst).catch((e: unknown) => {
          if (errorCode(e) !== 'EEXIST') throw e;
        });
        for (const name of (await ctx.fs.promises.readdir(src)) as string[]) await copyOne(join(src, name), join(dst, name), join(shown, name));
      } else if ((st.mode & S_IFMT) === S_IFLNK) {
        await ctx.fs.promises.symlink(String(await ctx.fs.promises.readlink(src)), dst);
      } else {
        try {
          await ctx.fs.promises.copyFile(src, dst, mode);
        } catch (e) {
          if (when === 'always' && ['EOPNOTSUPP', 'EXDEV', 'EINVAL'].includes(errorCode(e) ?? '')) {
            throw Object.assign(new Error(`failed to clone '${dst}' from '${src}': ${describeError(e)}`), { cloneFailure: true });
          }
          throw e;
        }
      }
      if (o.flags.has('v')) io.out(`'${shown}' -> '${dst}'\n`);
    };
    for (const src of o.operands) {
      const s = ctx.resolve(src);
      const st = await lstatOrNull(ctx, s);
      if (!st) {
        io.err(`cp: cannot stat '${src}': No such file or directory`);
        status = 1;
        continue;
      }
      if (isDir(st) && !recursive) {
        io.err(`cp: -r not specified; omitting directory '${src}'`);
        status = 1;
        continue;
      }
      const target = await intoTarget(ctx, src, dest, o.operands.length > 1);
      if (target instanceof Error) {
        io.err(`cp: ${target.message}`);
        return 1;
      }
      try {
        await copyOne(s, target, src);
      } catch (e) {
        if ((e as { cloneFailure?: boolean }).cloneFailure) io.err(`cp: ${(e as Error).message}`);
        else io.err(`cp: cannot create ${isDir(st) ? 'directory' : 'regular file'} '${dest}': ${describeError(e)}`);
        status = 1;
      }
    }
    ctx.changed();
    return status;
  },
};

const ln: Command = {
  name: 'ln',
  summary: 'make hard links or symbolic links',
  usage: 'ln [-s] [-f] [-v] TARGET [LINK_NAME]',
  complete: 'path',
  async run(ctx, args, io) {
    const o = parseOptions('ln', args, { short: 'sfvn', long: { symbolic: 's', force: 'f', verbose: 'v' } });
    if (o.operands.length === 0) {
      io.err("ln: missing file operand\nTry 'ln --help' for more information.");
      return 1;
    }
    const target = o.operands[0];
    let linkName = o.operands[1] ?? basename(target);
    const existing = await statOrNull(ctx, ctx.resolve(linkName));
    if (existing && isDir(existing) && o.operands[1] !== undefined) linkName = join(linkName, basename(target));
    const lp = ctx.resolve(linkName);
    const symbolic = o.flags.has('s');
    try {
      if (o.flags.has('f') && (await lstatOrNull(ctx, lp))) await ctx.fs.promises.unlink(lp);
      if (symbolic) await ctx.fs.promises.symlink(target, lp);
      else await ctx.fs.promises.link(ctx.resolve(target), lp);
      if (o.flags.has('v')) io.out(`'${linkName}' -> '${target}'\n`);
    } catch (e) {
      if (!symbolic && errorCode(e) === 'ENOENT' && !(await lstatOrNull(ctx, ctx.resolve(target)))) io.err(`ln: failed to access '${target}': No such file or directory`);
      else if (symbolic) io.err(`ln: failed to create symbolic link '${linkName}': ${describeError(e)}`);
      else io.err(`ln: failed to create hard link '${linkName}' => '${target}': ${describeError(e)}`);
      return 1;
    }
    ctx.changed();
    return 0;
  },
};

const readlink: Command = {
  name: 'readlink',
  summary: 'print the target of a symbolic link',
  usage: 'readlink [-f] FILE',
  complete: 'path',
  async run(ctx, args, io) {
    const o = parseOptions('readlink', args, { short: 'fe' });
    let status = 0;
    for (const name of o.operands) {
      try {
        const p = ctx.resolve(name);
        io.out(`${String(o.flags.has('f') || o.flags.has('e') ? await ctx.fs.promises.realpath(p) : await ctx.fs.promises.readlink(p))}\n`);
      } catch {
        status = 1;
      }
    }
    return status;
  },
};

const stat: Command = {
  name: 'stat',
  summary: 'show an inode: size, blocks, links, times (Birth is btrfs otime)',
  usage: 'stat [-L] FILE...',
  complete: 'path',
  async run(ctx, args, io) {
    const o = parseOptions('stat', args, { short: 'L', long: { dereference: 'L' } });
    let status = 0;
    for (const name of o.operands) {
      try {
        const p = ctx.resolve(name);
        const s = o.flags.has('L') ? await ctx.fs.promises.stat(p) : await ctx.fs.promises.lstat(p);
        const shownName = (s.mode & S_IFMT) === S_IFLNK ? `${name} -> ${String(await ctx.fs.promises.readlink(p))}` : name;
        const user = (id: number) => (id === 0 ? 'root' : String(id));
        io.out(
          `  File: ${shownName}\n` +
          `  Size: ${String(s.size).padEnd(15)} Blocks: ${String(s.blocks).padEnd(10)} IO Block: ${s.blksize}   ${fileTypeWords(s.mode, s.size)}\n` +
          `Device: ${s.dev}   Inode: ${String(s.ino).padEnd(11)} Links: ${s.nlink}\n` +
          `Access: (${(s.mode & 0o7777).toString(8).padStart(4, '0')}/${modeString(s.mode)})  Uid: (${String(s.uid).padStart(5)}/${user(s.uid).padStart(8)})   Gid: (${String(s.gid).padStart(5)}/${user(s.gid).padStart(8)})\n` +
          `Access: ${statDate(s.atime)}\nModify: ${statDate(s.mtime)}\nChange: ${statDate(s.ctime)}\n Birth: ${statDate(s.birthtime)}\n`,
        );
      } catch (e) {
        io.err(`stat: cannot statx '${name}': ${describeError(e)}`);
        status = 1;
      }
    }
    return status;
  },
};

const du: Command = {
  name: 'du',
  summary: 'estimate file space usage (reflinked extents count once per file, as on Linux)',
  usage: 'du [-s] [-h] [-a] [-c] [FILE]...',
  complete: 'path',
  async run(ctx, args, io) {
    const o = parseOptions('du', args, { short: 'shacx', long: { summarize: 's', 'human-readable': 'h', all: 'a', total: 'c' } });
    const show = (bytes: number, name: string) => io.out(`${o.flags.has('h') ? humanSize(bytes) : String(Math.ceil(bytes / 1024))}\t${name}\n`);
    let total = 0;
    let status = 0;
    const walk = async (p: string, shown: string, depth: number): Promise<number> => {
      if (ctx.signal.aborted) throw Object.assign(new Error('interrupted'), { code: 'ECANCELED' });
      const st = await ctx.fs.promises.lstat(p);
      let bytes = st.blocks * 512;
      if (isDir(st)) {
        for (const name of (await ctx.fs.promises.readdir(p)) as string[]) bytes += await walk(join(p, name), shown === '.' ? `./${name}` : join(shown, name), depth + 1);
        if (!o.flags.has('s') || depth === 0) show(bytes, shown);
      } else if ((o.flags.has('a') && !o.flags.has('s')) || depth === 0) {
        show(bytes, shown);
      }
      return bytes;
    };
    for (const name of o.operands.length ? o.operands : ['.']) {
      try {
        total += await walk(ctx.resolve(name), name, 0);
      } catch (e) {
        io.err(`du: cannot access '${name}': ${describeError(e)}`);
        status = 1;
      }
    }
    if (o.flags.has('c')) show(total, 'total');
    return status;
  },
};

const df: Command = {
  name: 'df',
  summary: 'report filesystem space usage (statfs)',
  usage: 'df [-h] [-T]',
  complete: 'none',
  async run(ctx, args, io) {
    const o = parseOptions('df', args, { short: 'hTk', long: { 'human-readable': 'h', 'print-type': 'T' } });
    const s = (await ctx.fs.promises.statfs('/')) as StatFs;
    const size = s.blocks * s.bsize;
    const avail = s.bavail * s.bsize;
    const used = (s.blocks - s.bfree) * s.bsize;
    const pct = size === 0 ? '-' : `${Math.ceil((used / (used + avail)) * 100)}%`;
    const fmt = (n: number) => (o.flags.has('h') ? humanSize(n) : String(Math.ceil(n / 1024)));
    const typed = o.flags.has('T');
    const rows = [
      ['Filesystem', ...(typed ? ['Type'] : []), o.flags.has('h') ? 'Size' : '1K-blocks', 'Used', o.flags.has('h') ? 'Avail' : 'Available', 'Use%', 'Mounted on'],
      [deviceName(ctx), ...(typed ? ['btrfs'] : []), fmt(size), fmt(used), fmt(avail), pct, '/'],
    ];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    const left = (i: number, n: number) => i === 0 || i === n - 1 || (typed && i === 1);
    for (const r of rows) io.out(r.map((c, i) => (left(i, r.length) ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' ').trimEnd() + '\n');
    return 0;
  },
};

const tree: Command = {
  name: 'tree',
  summary: 'list a directory as a tree',
  usage: 'tree [-a] [DIR]',
  complete: 'dir',
  async run(ctx, args, io) {
    const o = parseOptions('tree', args, { short: 'a' });
    const root = o.operands[0] ?? '.';
    let dirs = 0;
    let files = 0;
    const walk = async (p: string, prefix: string, depth: number) => {
      if (depth > 32 || ctx.signal.aborted) return;
      const entries = (await ctx.fs.promises.readdir(p, { withFileTypes: true })).filter((e) => o.flags.has('a') || !e.name.startsWith('.')).sort((a, b) => (a.name < b.name ? -1 : 1));
      for (const [i, e] of entries.entries()) {
        const last = i === entries.length - 1;
        const cls = e.isDirectory() ? 'c-dir' : e.isSymbolicLink() ? 'c-link' : undefined;
        const extra = e.isSymbolicLink() ? ` -> ${String(await ctx.fs.promises.readlink(join(p, e.name)))}` : '';
        emit(io, [{ text: `${prefix}${last ? '└── ' : '├── '}` }, { text: e.name, cls }, { text: extra }]);
        if (e.isDirectory()) {
          dirs++;
          await walk(join(p, e.name), prefix + (last ? '    ' : '│   '), depth + 1);
        } else files++;
      }
    };
    try {
      emit(io, [{ text: root, cls: 'c-dir' }]);
      await walk(ctx.resolve(root), '', 0);
    } catch (e) {
      io.err(`tree: ${root}: ${describeError(e)}`);
      return 1;
    }
    io.out(`\n${dirs} director${dirs === 1 ? 'y' : 'ies'}, ${files} file${files === 1 ? '' : 's'}\n`);
    return 0;
  },
};

const truncate: Command = {
  name: 'truncate',
  summary: 'shrink or extend a file (extending makes a hole)',
  usage: 'truncate -s SIZE FILE...   (SIZE like 10M, 4K)',
  complete: 'path',
  async run(ctx, args, io) {
    const o = parseOptions('truncate', args, { short: 'c', withValue: ['s'], long: { size: 's' } });
    const size = o.values.has('s') ? parseSize(o.values.get('s')!) : undefined;
    if (size === undefined) {
      io.err("truncate: you must specify either '--size' or '--reference'\nTry 'truncate --help' for more information.");
      return 1;
    }
    let status = 0;
    for (const name of o.operands) {
      const p = ctx.resolve(name);
      try {
        if (!(await statOrNull(ctx, p))) await ctx.fs.promises.writeFile(p, '');
        await ctx.fs.promises.truncate(p, size);
      } catch (e) {
        io.err(`truncate: cannot open '${name}' for writing: ${describeError(e)}`);
        status = 1;
      }
    }
    ctx.changed();
    return status;
  },
};

/** Virtual character devices for `head -c N /dev/urandom > file`. */
function virtualDevice(path: string, length: number): Uint8Array | undefined {
  if (path === '/dev/zero') return new Uint8Array(length);
  if (path === '/dev/urandom' || path === '/dev/random') {
    const out = new Uint8Array(length);
    for (let at = 0; at < length; at += 65536) crypto.getRandomValues(out.subarray(at, Math.min(at + 65536, length)));
    return out;
  }
  return undefined;
}

const head: Command = {
  name: 'head',
  summary: 'first lines or bytes of a file (head -c 10M /dev/urandom > f makes data)',
  usage: 'head [-n LINES | -c BYTES] FILE   (/dev/zero and /dev/urandom are there to make data)',
  complete: 'path',
  async run(ctx, args, io) {
    const o = parseOptions('head', args, { withValue: ['n', 'c'], long: { lines: 'n', bytes: 'c' } });
    const name = o.operands[0];
    if (!name) {
      io.err('head: reading standard input is not supported here; name a file');
      return 1;
    }
    const bytes = o.values.has('c') ? parseSize(o.values.get('c')!) : undefined;
    if (o.values.has('c') && (bytes === undefined || bytes > 64 * 1024 * 1024)) {
      io.err(`head: invalid number of bytes: '${o.values.get('c')}'${bytes !== undefined ? ' (at most 64M at once here)' : ''}`);
      return 1;
    }
    if (name.startsWith('/dev/')) {
      const dev = virtualDevice(name, bytes ?? 0);
      if (!dev || bytes === undefined) {
        io.err(dev ? `head: ${name}: give -c BYTES` : `head: cannot open '${name}' for reading: No such file or directory`);
        return 1;
      }
      writeBytes(io, dev, name);
      return 0;
    }
    try {
      const data = (await ctx.fs.promises.readFile(ctx.resolve(name))) as Uint8Array;
      if (bytes !== undefined) {
        writeBytes(io, data.subarray(0, bytes), name);
      } else {
        const n = Number(o.values.get('n') ?? 10);
        const lines = new TextDecoder().decode(data).split('\n');
        io.out(lines.slice(0, n).join('\n') + (lines.length > n ? '\n' : ''));
      }
      return 0;
    } catch (e) {
      io.err(`head: cannot open '${name}' for reading: ${describeError(e)}`);
      return 1;
    }
  },
};

export const fileCommands: Command[] = [ls, cd, pwd, cat, echo, touch, mkdir, rm, rmdir, mv, cp, ln, readlink, stat, du, df, tree, truncate, head];

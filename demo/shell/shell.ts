// The shell: runs a typed line (parse, glob, redirect, run each command from the table), keeps
// the working directory and history (both persist in localStorage), and completes commands and
// paths. It knows nothing of the DOM: the terminal (terminal.ts) gives it an output sink.
import type { Session } from '../app/session.js';
import { errorCode } from '../app/format.js';
import { CommandTable, UsageError, describeError, type Command, type Context, type Output, type Progress } from './command.js';
import { parseLine, ParseError, currentWord, quoteWord, type Word } from './parse.js';
import { basename, dirname, globToRegExp, join, resolvePath } from './paths.js';
import { fileCommands } from './commands/files.js';
import { systemCommands } from './commands/system.js';
import { btrfsCommands } from './commands/btrfs.js';

const CWD_KEY = 'butterfs-demo:cwd';
const HISTORY_KEY = 'butterfs-demo:history';
const HISTORY_MAX = 500;
/** What the shell calls itself in its own errors (`sh: foo: command not found`). */
const SHELL = 'sh';

export interface Sink {
  out(text: string, cls?: string): void;
  spans(pieces: { text: string; cls?: string }[]): void;
  clear(): void;
}

export interface ShellHooks {
  changed(): void;
  download(name: string, data: Blob): void;
  progress: Progress;
  cwdChanged(cwd: string): void;
}

export function defaultCommands(): CommandTable {
  return new CommandTable().add(...fileCommands, ...btrfsCommands, ...systemCommands);
}

export class Shell {
  readonly commands: CommandTable;
  readonly history: string[];
  private cwdValue: string;
  private controller: AbortController | undefined;

  constructor(readonly session: Session, private readonly sink: Sink, private readonly hooks: ShellHooks, commands = defaultCommands()) {
    this.commands = commands;
    this.cwdValue = localStorage.getItem(CWD_KEY) ?? '/';
    this.history = JSON.parse(localStorage.getItem(HISTORY_KEY) ?? '[]') as string[];
  }

  get cwd(): string {
    return this.cwdValue;
  }

  set cwd(p: string) {
    this.cwdValue = p;
    localStorage.setItem(CWD_KEY, p);
    this.hooks.cwdChanged(p);
  }

  get busy(): boolean {
    return this.controller !== undefined;
  }

  /** Ctrl+C: aborts the running command's signal (commands that take long check it). */
  interrupt(): void {
    this.controller?.abort(new DOMException('interrupted', 'AbortError'));
  }

  /** The working directory may have gone (rm -r of it, an import): fall back to the nearest parent. */
  async revalidateCwd(): Promise<void> {
    let p = this.cwdValue;
    for (;;) {
      try {
        if ((await this.session.fs.promises.stat(p)).isDirectory()) break;
      } catch {
        // gone: try the parent
      }
      if (p === '/') break;
      p = dirname(p);
    }
    if (p !== this.cwdValue) this.cwd = p;
  }

  private remember(line: string): void {
    if (line.trim() === '' || this.history[this.history.length - 1] === line) return;
    this.history.push(line);
    if (this.history.length > HISTORY_MAX) this.history.splice(0, this.history.length - HISTORY_MAX);
    localStorage.setItem(HISTORY_KEY, JSON.stringify(this.history));
  }

  private context(controller: AbortController): Context {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const shell = this;
    return {
      session: this.session,
      get fs() {
        return shell.session.fs;
      },
      get cwd() {
        return shell.cwd;
      },
      set cwd(p: string) {
        shell.cwd = p;
      },
      resolve: (p) => resolvePath(this.cwd, p),
      signal: controller.signal,
      progress: this.hooks.progress,
      download: (name, data) => this.hooks.download(name, data),
      changed: () => this.hooks.changed(),
      commands: this.commands,
      history: this.history,
      clear: () => this.sink.clear(),
    };
  }

  /** Expands a word with unquoted * or ? against the filesystem (bash: no match keeps the word). */
  private async expand(word: Word): Promise<string[]> {
    if (!word.glob) return [word.text];
    const absolute = word.text.startsWith('/');
    const parts = word.text.split('/').filter((p, i) => p !== '' || i === 0);
    let found: string[] = [absolute ? '/' : ''];
    for (const part of parts) {
      if (part === '') continue;
      const next: string[] = [];
      for (const base of found) {
        if (!/[*?]/.test(part)) {
          next.push(base === '' ? part : base === '/' ? `/${part}` : `${base}/${part}`);
          continue;
        }
        const dir = resolvePath(this.cwd, base || '.');
        let names: string[];
        try {
          names = (await this.session.fs.promises.readdir(dir)) as string[];
        } catch {
          continue;
        }
        const re = globToRegExp(part);
        for (const n of names.sort()) if (re.test(n) && (part.startsWith('.') || !n.startsWith('.'))) next.push(base === '' ? n : base === '/' ? `/${n}` : `${base}/${n}`);
      }
      found = next;
    }
    return found.length ? found : [word.text];
  }

  /** Runs one typed line; resolves with the last exit status. */
  async execute(line: string): Promise<number> {
    this.remember(line);
    let pipelines;
    try {
      pipelines = parseLine(line);
    } catch (e) {
      if (e instanceof ParseError) {
        this.sink.out(`${SHELL}: ${e.message}\n`, 'c-err');
        return 2;
      }
      throw e;
    }
    let status = 0;
    for (let i = 0; i < pipelines.length; i++) {
      const prev = pipelines[i - 1];
      if (prev?.then === '&&' && status !== 0) break;
      status = await this.runCommand(pipelines[i].command.words, pipelines[i].command.redirect, pipelines[i].command.quietErrors ?? false);
    }
    return status;
  }

  private async runCommand(words: Word[], redirect: { path: string; append: boolean } | undefined, quietErrors: boolean): Promise<number> {
    const argv: string[] = [];
    for (const w of words) argv.push(...(await this.expand(w)));
    const [name, ...args] = argv;
    const command: Command | undefined = this.commands.get(name);
    if (!command) {
      if (!quietErrors) this.sink.out(`${SHELL}: ${name}: command not found\n`, 'c-err');
      return 127;
    }
    const chunks: Uint8Array[] = [];
    const encoder = new TextEncoder();
    const io: Output = redirect
      ? {
          redirected: true,
          out: (text) => chunks.push(encoder.encode(text)),
          bytes: (data) => chunks.push(data),
          err: (text) => {
            if (!quietErrors) this.sink.out(`${text}\n`, 'c-err');
          },
        }
      : {
          redirected: false,
          out: (text, cls) => this.sink.out(text, cls),
          spans: (pieces) => this.sink.spans(pieces),
          err: (text) => {
            if (!quietErrors) this.sink.out(`${text}\n`, 'c-err');
          },
        };
    if (args.includes('--help') && name !== 'btrfs' && name !== 'echo') {
      io.out(`usage: ${command.usage}\n\n  ${command.summary}\n`);
      return 0;
    }
    const controller = new AbortController();
    this.controller = controller;
    let status: number;
    try {
      if (redirect) {
        // bash opens (and truncates) the target before running the command.
        const target = resolvePath(this.cwd, redirect.path);
        try {
          if (!redirect.append) await this.session.fs.promises.writeFile(target, '');
        } catch (e) {
          this.sink.out(`${SHELL}: ${redirect.path}: ${describeError(e)}\n`, 'c-err');
          return 1;
        }
      }
      status = await command.run(this.context(controller), args, io);
    } catch (e) {
      if (e instanceof UsageError) {
        io.err(`${name}: ${e.message}\nTry '${name} --help' for more information.`);
        status = 1;
      } else if (controller.signal.aborted || errorCode(e) === 'ECANCELED') {
        io.err('^C');
        status = 130;
      } else {
        io.err(`${name}: ${describeError(e)}`);
        status = 1;
      }
    } finally {
      this.controller = undefined;
    }
    if (redirect) {
      const total = chunks.reduce((s, c) => s + c.length, 0);
      const data = new Uint8Array(total);
      let at = 0;
      for (const c of chunks) {
        data.set(c, at);
        at += c.length;
      }
      try {
        const target = resolvePath(this.cwd, redirect.path);
        if (redirect.append) await this.session.fs.promises.appendFile(target, data);
        else await this.session.fs.promises.writeFile(target, data);
        this.hooks.changed();
      } catch (e) {
        this.sink.out(`${SHELL}: ${redirect.path}: ${describeError(e)}\n`, 'c-err');
        return 1;
      }
    }
    return status;
  }

  /**
   * Tab completion at `cursor`: the new line and cursor when there is one unique completion or a
   * longer common prefix; the candidates otherwise (the terminal lists them on a second Tab).
   */
  async complete(line: string, cursor: number): Promise<{ line: string; cursor: number; candidates: string[] }> {
    const { start, text, index } = currentWord(line, cursor);
    const words = line.slice(0, start).split(/;|&&/).pop()!.trim().split(/\s+/).filter(Boolean);
    let candidates: string[] = [];
    let isPath = false;
    if (index === 0) {
      candidates = this.commands.all.filter((c) => !c.hidden).map((c) => c.name).filter((n) => n.startsWith(text));
    } else {
      const command = this.commands.get(words[0]);
      const how = command?.complete ?? 'path';
      if (typeof how === 'function') {
        const ctx = this.context(new AbortController());
        const list = await how(ctx, [...words, text], index);
        if (list.length) candidates = list.filter((n) => n.startsWith(text)).map((n) => n);
        else if (!(command?.name === 'btrfs' && index <= 2)) isPath = true;
      } else if (how !== 'none') {
        isPath = true;
      }
      if (isPath) candidates = await this.completePath(text, how === 'dir');
    }
    if (candidates.length === 0) return { line, cursor, candidates };
    const common = candidates.reduce((a, b) => {
      let i = 0;
      while (i < a.length && i < b.length && a[i] === b[i]) i++;
      return a.slice(0, i);
    });
    let replacement = common;
    if (candidates.length === 1) replacement = candidates[0].endsWith('/') ? candidates[0] : `${candidates[0]} `;
    if (replacement.length <= text.length && candidates.length > 1) return { line, cursor, candidates: candidates.map((c) => (isPath ? basename(c.replace(/\/$/, '')) + (c.endsWith('/') ? '/' : '') : c)) };
    const quoted = replacement.endsWith(' ') ? `${quoteWord(replacement.slice(0, -1))} ` : replacement.split('/').map((p) => (p ? quoteWord(p) : p)).join('/');
    const next = line.slice(0, start) + quoted + line.slice(cursor);
    return { line: next, cursor: start + quoted.length, candidates: candidates.length > 1 ? candidates : [] };
  }

  private async completePath(text: string, dirsOnly: boolean): Promise<string[]> {
    const slash = text.lastIndexOf('/');
    const dirPart = slash >= 0 ? text.slice(0, slash + 1) : '';
    const prefix = slash >= 0 ? text.slice(slash + 1) : text;
    const dir = resolvePath(this.cwd, dirPart || '.');
    try {
      const entries = await this.session.fs.promises.readdir(dir, { withFileTypes: true });
      const out: string[] = [];
      for (const e of entries) {
        if (!e.name.startsWith(prefix) || (e.name.startsWith('.') && !prefix.startsWith('.'))) continue;
        let isDir = e.isDirectory();
        if (e.isSymbolicLink()) isDir = await this.session.fs.promises.stat(join(dir, e.name)).then((s) => s.isDirectory(), () => false);
        if (dirsOnly && !isDir) continue;
        out.push(dirPart + e.name + (isDir ? '/' : ''));
      }
      return out.sort();
    } catch {
      return [];
    }
  }
}

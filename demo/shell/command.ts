// What a shell command is: one row of a table. A command has a name, a one-line summary, a usage
// text (what `help NAME` and `NAME --help` print), how its arguments complete, and `run`.
// Adding a command is adding a row to one of the tables in shell/commands/; nothing else in the
// shell knows the commands by name.
import type { FilesystemClient } from '../../src/worker/client.js';
import type { Session } from '../app/session.js';
import { errorCode, errorDetail, strerror } from '../app/format.js';

/** Where a command writes. Rich output (elements) is dropped when standard output is a file. */
export interface Output {
  out(text: string, cls?: string): void;
  err(text: string): void;
  /** A finished line made of styled pieces (ls colours). */
  spans?(pieces: { text: string; cls?: string }[]): void;
  /** Raw bytes (cat, head into a redirect); absent on the terminal, which shows text. */
  bytes?(data: Uint8Array): void;
  readonly redirected: boolean;
}

export interface Progress {
  /** fraction in [0, 1], or undefined for "working". */
  update(fraction: number | undefined, label: string): void;
}

export interface Context {
  readonly session: Session;
  readonly fs: FilesystemClient;
  cwd: string;
  /** An absolute path with '.' and '..' folded lexically (as the shell does for cd). */
  resolve(path: string): string;
  /** Ctrl+C or the Cancel button aborts it. */
  readonly signal: AbortSignal;
  readonly progress: Progress;
  /** Offers bytes to the visitor as a download. */
  download(name: string, data: Blob): void;
  /** Something on the filesystem changed: panels refresh. */
  changed(): void;
  readonly commands: CommandTable;
  /** Lines typed before (for `history`). */
  readonly history: readonly string[];
  clear(): void;
}

export type Completion = 'path' | 'dir' | 'none' | ((ctx: Context, words: string[], index: number) => Promise<string[]> | string[]);

export interface Command {
  name: string;
  summary: string;
  usage: string;
  complete?: Completion;
  /** Hidden from `help`'s list (aliases). */
  hidden?: boolean;
  run(ctx: Context, args: string[], io: Output): Promise<number>;
}

export class CommandTable {
  private readonly rows = new Map<string, Command>();

  add(...commands: Command[]): this {
    for (const c of commands) this.rows.set(c.name, c);
    return this;
  }

  get(name: string): Command | undefined {
    return this.rows.get(name);
  }

  get all(): Command[] {
    return [...this.rows.values()];
  }
}

/** A usage error: the shell prints it as `cmd: message` and "Try 'cmd --help'". */
export class UsageError extends Error {}

export interface ParsedOptions {
  flags: Set<string>;
  values: Map<string, string>;
  operands: string[];
}

/**
 * getopt-style parsing: short flags grouped (-rf), `--long`, `--long=value`, `--` ends options.
 * `short` lists the single-letter flags; `withValue` the short/long ones taking a value; `long`
 * the long names (mapped to a flag name).
 */
export function parseOptions(cmd: string, args: string[], spec: { short?: string; withValue?: string[]; long?: Record<string, string> }): ParsedOptions {
  const flags = new Set<string>();
  const values = new Map<string, string>();
  const operands: string[] = [];
  const withValue = new Set(spec.withValue ?? []);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith('--') && a.length > 2) {
      const [name, value] = a.slice(2).split(/=(.*)/s, 2);
      const mapped = spec.long?.[name];
      if (mapped === undefined) throw new UsageError(`unrecognized option '${a}'`);
      if (withValue.has(mapped)) {
        const v = value ?? args[++i];
        if (v === undefined) throw new UsageError(`option '--${name}' requires an argument`);
        values.set(mapped, v);
      } else if (value !== undefined) {
        values.set(mapped, value);
        flags.add(mapped);
      } else {
        flags.add(mapped);
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1 && !/^-\d/.test(a)) {
      for (let j = 1; j < a.length; j++) {
        const f = a[j];
        if (withValue.has(f)) {
          const v = a.slice(j + 1) || args[++i];
          if (v === undefined) throw new UsageError(`option requires an argument -- '${f}'`);
          values.set(f, v);
          break;
        }
        if (!(spec.short ?? '').includes(f)) throw new UsageError(`invalid option -- '${f}'`);
        flags.add(f);
      }
      continue;
    }
    operands.push(a);
  }
  return { flags, values, operands };
}

/** "cannot stat 'x': No such file or directory", with the engine's detail when it adds one. */
export function describeError(e: unknown): string {
  const words = strerror(e);
  const detail = errorDetail(e);
  const code = errorCode(e);
  // Details worth showing: the engine saying why (EINVAL for an option, EOPNOTSUPP, EROFS).
  if (detail && code && !['ENOENT', 'EEXIST', 'ENOTDIR', 'EISDIR', 'ENOTEMPTY'].includes(code)) return `${words} (${detail})`;
  return words;
}

export function isMissingApi(e: unknown): boolean {
  const m = e instanceof Error ? e.message : String(e);
  return e instanceof TypeError || /is not a function|Cannot read properties of undefined|undefined is not an object|not a function/.test(m);
}

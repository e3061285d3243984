// The shell's grammar, a small part of POSIX sh: words with '...' and "..." quoting and
// backslash escapes, `;` and `&&` between commands, `>` and `>>` redirection of standard output,
// `2>/dev/null`, and `*`/`?` globs (expanded by the shell against the filesystem). No pipes,
// variables or subshells: the commands here write files or print, and that is what people type.

export interface Word {
  text: string;
  /** Unquoted glob characters present (expand against the filesystem). */
  glob: boolean;
}

export interface SimpleCommand {
  words: Word[];
  /** Standard output to a file: '>' truncates, '>>' appends. */
  redirect?: { path: string; append: boolean };
  /** 2>/dev/null */
  quietErrors?: boolean;
}

export interface Pipeline {
  command: SimpleCommand;
  /** How the next one runs: ';' always, '&&' only when this one succeeded. */
  then?: ';' | '&&';
}

export class ParseError extends Error {}

interface Token {
  kind: 'word' | 'op';
  text: string;
  glob: boolean;
}

function tokenize(line: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i];
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c === '#') break;
    if (c === ';') {
      tokens.push({ kind: 'op', text: ';', glob: false });
      i++;
      continue;
    }
    if (c === '&' && line[i + 1] === '&') {
      tokens.push({ kind: 'op', text: '&&', glob: false });
      i += 2;
      continue;
    }
    if (c === '|') throw new ParseError('pipes are not supported in this shell');
    if (c === '>' || (c === '2' && line[i + 1] === '>' && (i === 0 || line[i - 1] === ' '))) {
      let op = '';
      if (c === '2') {
        op = '2';
        i++;
      }
      op += '>';
      i++;
      if (line[i] === '>') {
        op += '>';
        i++;
      }
      tokens.push({ kind: 'op', text: op, glob: false });
      continue;
    }
    let text = '';
    let glob = false;
    while (i < line.length && !' \t;>|'.includes(line[i]) && !(line[i] === '&' && line[i + 1] === '&')) {
      const ch = line[i];
      if (ch === "'") {
        const end = line.indexOf("'", i + 1);
        if (end < 0) throw new ParseError("unexpected EOF while looking for matching `''");
        text += line.slice(i + 1, end);
        i = end + 1;
      } else if (ch === '"') {
        i++;
        while (i < line.length && line[i] !== '"') {
          if (line[i] === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) i++;
          text += line[i++];
        }
        if (i >= line.length) throw new ParseError('unexpected EOF while looking for matching `"\'');
        i++;
      } else if (ch === '\\') {
        if (i + 1 < line.length) text += line[i + 1];
        i += 2;
      } else {
        if (ch === '*' || ch === '?') glob = true;
        text += ch;
        i++;
      }
    }
    tokens.push({ kind: 'word', text, glob });
  }
  return tokens;
}

export function parseLine(line: string): Pipeline[] {
  const tokens = tokenize(line);
  const out: Pipeline[] = [];
  let current: SimpleCommand = { words: [] };
  const finish = (then?: ';' | '&&') => {
    if (current.words.length === 0) {
      if (then || current.redirect) throw new ParseError(`syntax error near unexpected token \`${then ?? '>'}'`);
      return;
    }
    out.push({ command: current, then });
    current = { words: [] };
  };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.kind === 'word') {
      current.words.push({ text: t.text, glob: t.glob });
    } else if (t.text === ';' || t.text === '&&') {
      finish(t.text);
    } else {
      const target = tokens[++i];
      if (!target || target.kind !== 'word') throw new ParseError("syntax error near unexpected token `newline'");
      if (t.text.startsWith('2')) {
        if (target.text !== '/dev/null') throw new ParseError('only 2>/dev/null is supported');
        current.quietErrors = true;
      } else {
        current.redirect = { path: target.text, append: t.text === '>>' };
      }
    }
  }
  finish();
  return out;
}

/** The word under the cursor for completion: its start offset and text (quotes not handled). */
export function currentWord(line: string, cursor: number): { start: number; text: string; index: number } {
  const before = line.slice(0, cursor);
  const m = /(?:^|[\s;>&])([^\s;>&]*)$/.exec(before);
  const text = m ? m[1] : '';
  const start = cursor - text.length;
  // Index of the word within its command (0: the command name).
  const segment = before.slice(0, start).split(/;|&&/).pop() ?? '';
  const index = segment.trim() === '' ? 0 : segment.trim().split(/\s+/).length;
  return { start, text, index };
}

/** Quotes a word for the command line when it needs it. */
export function quoteWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

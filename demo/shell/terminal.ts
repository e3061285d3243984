// The terminal pane: scrollback, a prompt line with an input, history on ↑/↓, Tab completion
// (a second Tab lists the candidates), Ctrl+C (cancel the running command, or drop the line),
// Ctrl+L (clear), and a progress bar with a Cancel button while a command runs.
import type { Shell, Sink } from './shell.js';
import type { Progress } from './command.js';

const MAX_SCROLLBACK_NODES = 6000;

export class Terminal implements Sink, Progress {
  readonly element: HTMLElement;
  private readonly output: HTMLElement;
  private readonly line: HTMLElement;
  private readonly prompt: HTMLElement;
  private readonly input: HTMLInputElement;
  private readonly busyBar: HTMLElement;
  private readonly busyFill: HTMLElement;
  private readonly busyLabel: HTMLElement;
  private shell!: Shell;
  private historyIndex = -1;
  private draft = '';
  private lastTabLine: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** Resolves when the command being run (typed or scripted) is done. */
  idle: Promise<unknown> = Promise.resolve();

  constructor(host: HTMLElement) {
    this.element = host;
    host.classList.add('term');
    host.innerHTML = `
      <div class="term-out" role="log" aria-live="polite"></div>
      <div class="term-line"><span class="term-prompt"></span><input class="term-input" spellcheck="false" autocomplete="off" autocapitalize="off" aria-label="shell input"></div>
      <div class="term-busy" hidden><div class="term-busy-track"><div class="term-busy-fill"></div></div><span class="term-busy-label"></span><button type="button" class="term-cancel">Cancel (Ctrl+C)</button></div>`;
    this.output = host.querySelector('.term-out')!;
    this.line = host.querySelector('.term-line')!;
    this.prompt = host.querySelector('.term-prompt')!;
    this.input = host.querySelector('.term-input')!;
    this.busyBar = host.querySelector('.term-busy')!;
    this.busyFill = host.querySelector('.term-busy-fill')!;
    this.busyLabel = host.querySelector('.term-busy-label')!;
    host.querySelector('.term-cancel')!.addEventListener('click', () => this.shell.interrupt());
    host.addEventListener('click', (e) => {
      if (!window.getSelection()?.toString() && !(e.target as HTMLElement).closest('button')) this.input.focus();
    });
    this.input.addEventListener('keydown', (e) => void this.onKey(e));
  }

  attach(shell: Shell): void {
    this.shell = shell;
    this.updatePrompt();
  }

  focus(): void {
    this.input.focus({ preventScroll: true });
  }

  updatePrompt(): void {
    const cwd = this.shell?.cwd ?? '/';
    this.prompt.innerHTML = '';
    const user = document.createElement('span');
    user.className = 'p-user';
    user.textContent = 'root@butterfs';
    const path = document.createElement('span');
    path.className = 'p-path';
    path.textContent = cwd;
    this.prompt.append(user, ':', path, '# ');
  }

  private scrollDown(): void {
    this.output.scrollTop = this.output.scrollHeight;
    this.element.querySelector('.term-out')!.scrollTop = this.output.scrollHeight;
  }

  private trim(): void {
    while (this.output.childNodes.length > MAX_SCROLLBACK_NODES) this.output.firstChild!.remove();
  }

  out(text: string, cls?: string): void {
    if (!text) return;
    const span = document.createElement('span');
    if (cls) span.className = cls;
    span.textContent = text;
    this.output.append(span);
    this.trim();
    this.scrollDown();
  }

  spans(pieces: { text: string; cls?: string }[]): void {
    const frag = document.createDocumentFragment();
    for (const p of pieces) {
      const s = document.createElement('span');
      if (p.cls) s.className = p.cls;
      s.textContent = p.text;
      frag.append(s);
    }
    frag.append('\n');
    this.output.append(frag);
    this.trim();
    this.scrollDown();
  }

  clear(): void {
    this.output.textContent = '';
  }

  /** Progress of the running command (undefined fraction: indeterminate). */
  update(fraction: number | undefined, label: string): void {
    this.busyBar.hidden = false;
    this.busyBar.classList.toggle('indeterminate', fraction === undefined);
    this.busyFill.style.width = fraction === undefined ? '' : `${Math.round(fraction * 100)}%`;
    this.busyLabel.textContent = fraction === undefined ? label : `${label} ${Math.round(fraction * 100)}%`;
  }

  private echo(line: string): void {
    const row = document.createElement('span');
    row.className = 'term-echo';
    row.append(this.prompt.cloneNode(true), document.createTextNode(line));
    // A command's output ends with a newline; output that does not (echo -n) gets one first.
    const last = this.output.lastChild?.textContent ?? '\n';
    if (!last.endsWith('\n')) this.output.append('\n');
    this.output.append(row, '\n');
    this.scrollDown();
  }

  /** Runs a line as if typed (the tour uses this); lines queue behind each other. */
  run(line: string): Promise<number> {
    const p = this.queue.then(() => this.execute(line));
    this.queue = p.catch(() => undefined);
    this.idle = this.queue;
    return p;
  }

  private async execute(line: string): Promise<number> {
    this.echo(line);
    this.line.hidden = true;
    let status = 0;
    try {
      status = await this.shell.execute(line);
    } catch (e) {
      this.out(`sh: ${(e as Error).message}\n`, 'c-err');
      status = 1;
    } finally {
      this.busyBar.hidden = true;
      this.line.hidden = false;
      this.updatePrompt();
      this.element.dataset.lastStatus = String(status);
      this.scrollDown();
      this.focus();
    }
    return status;
  }

  private async onKey(e: KeyboardEvent): Promise<void> {
    const history = this.shell.history;
    if (e.key === 'Enter') {
      e.preventDefault();
      const line = this.input.value;
      this.input.value = '';
      this.historyIndex = -1;
      this.lastTabLine = undefined;
      if (line.trim() === '') {
        this.echo('');
        return;
      }
      await this.run(line);
    } else if (e.key === 'ArrowUp' || (e.key === 'p' && e.ctrlKey)) {
      e.preventDefault();
      if (history.length === 0) return;
      if (this.historyIndex === -1) {
        this.draft = this.input.value;
        this.historyIndex = history.length;
      }
      this.historyIndex = Math.max(0, this.historyIndex - 1);
      this.setInput(history[this.historyIndex]);
    } else if (e.key === 'ArrowDown' || (e.key === 'n' && e.ctrlKey)) {
      e.preventDefault();
      if (this.historyIndex === -1) return;
      this.historyIndex++;
      if (this.historyIndex >= history.length) {
        this.historyIndex = -1;
        this.setInput(this.draft);
      } else this.setInput(history[this.historyIndex]);
    } else if (e.key === 'Tab') {
      e.preventDefault();
      const before = this.input.value;
      const r = await this.shell.complete(before, this.input.selectionStart ?? before.length);
      if (r.line !== before) {
        this.setInput(r.line, r.cursor);
        this.lastTabLine = undefined;
      } else if (r.candidates.length > 1) {
        if (this.lastTabLine === before) {
          this.echo(before);
          this.out(r.candidates.join('  ') + '\n', 'c-dim');
        }
        this.lastTabLine = before;
      }
    } else if (e.key === 'c' && e.ctrlKey) {
      // Ctrl+C with no selection: drop the line, as a shell does (with a selection: copy).
      if (this.input.selectionStart !== this.input.selectionEnd || window.getSelection()?.toString()) return;
      e.preventDefault();
      this.echo(`${this.input.value}^C`);
      this.input.value = '';
    } else if (e.key === 'l' && e.ctrlKey) {
      e.preventDefault();
      this.clear();
    } else if (e.key === 'u' && e.ctrlKey) {
      e.preventDefault();
      this.input.value = '';
    }
  }

  private setInput(value: string, cursor = value.length): void {
    this.input.value = value;
    this.input.setSelectionRange(cursor, cursor);
  }

  /** Ctrl+C anywhere on the page while a command runs cancels it. */
  installGlobalInterrupt(): void {
    window.addEventListener('keydown', (e) => {
      if (e.key === 'c' && e.ctrlKey && this.shell.busy && !window.getSelection()?.toString()) {
        e.preventDefault();
        this.shell.interrupt();
      }
    });
  }
}

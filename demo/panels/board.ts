// The board: lays out the panels and refreshes them. Refreshes are coalesced (a burst of shell
// commands makes one refresh) and never overlap; a panel that fails shows its error in place and
// the others go on.
import type { Session } from '../app/session.js';
import { FsView, el, type Panel, type RefreshReason } from './panel.js';

const DEBOUNCE_MS = 120;

export class Board {
  private pending = new Set<RefreshReason>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;
  private readonly bodies = new Map<Panel, HTMLElement>();
  /** Resolves when no refresh is queued or running (the e2e test waits on it). */
  settled: Promise<void> = Promise.resolve();
  private settle: (() => void) | undefined;

  constructor(host: HTMLElement, private readonly panels: Panel[], private readonly session: Session, private readonly cwd: () => string) {
    for (const p of panels) {
      const body = el('div', { class: 'panel-body' });
      const section = el('section', { class: `panel panel-${p.id}`, 'data-panel': p.id },
        el('header', { class: 'panel-head' }, el('h2', { text: p.title }), ...(p.subtitle ? [el('p', { class: 'panel-sub', text: p.subtitle })] : [])),
        body);
      host.append(section);
      p.mount(body);
      this.bodies.set(p, body);
    }
  }

  request(reason: RefreshReason): void {
    this.pending.add(reason);
    if (!this.settle) this.settled = new Promise((r) => (this.settle = r));
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush(), DEBOUNCE_MS);
  }

  private async flush(): Promise<void> {
    if (this.running) {
      await this.running;
      if (this.timer === undefined && this.pending.size) this.timer = setTimeout(() => void this.flush(), 0);
      return;
    }
    this.timer = undefined;
    const reasons = new Set(this.pending);
    this.pending.clear();
    if (this.session.state !== 'holder' && this.session.state !== 'sharer') {
      this.finish();
      return;
    }
    this.running = (async () => {
      const primary: RefreshReason = reasons.has('mounted') ? 'mounted' : reasons.has('commit') ? 'commit' : reasons.has('data') ? 'data' : 'cwd';
      const view = new FsView(this.session, this.cwd(), primary);
      await Promise.all(this.panels.filter((p) => p.refreshOn.some((r) => reasons.has(r))).map(async (p) => {
        const body = this.bodies.get(p)!;
        try {
          await p.refresh(view);
          body.classList.remove('panel-error');
          body.parentElement!.querySelector('.panel-fail')?.remove();
        } catch (e) {
          // The connection may be being replaced (remount, export); the next refresh shows the truth.
          if (this.session.state !== 'holder' && this.session.state !== 'sharer') return;
          body.parentElement!.querySelector('.panel-fail')?.remove();
          body.parentElement!.append(el('p', { class: 'panel-fail', text: `Could not refresh: ${(e as Error).message}` }));
        }
      }));
    })();
    try {
      await this.running;
    } finally {
      this.running = undefined;
    }
    if (this.pending.size) this.timer = setTimeout(() => void this.flush(), 0);
    else this.finish();
  }

  private finish(): void {
    const s = this.settle;
    this.settle = undefined;
    s?.();
  }
}

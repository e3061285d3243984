// The status strip: where the filesystem lives (OPFS or IndexedDB, and why), the generation, when
// the last commit happened and whether changes wait for the next one (btrfs commits every
// commit= seconds, 30 by default: until then a change is in memory only).
import { ago } from './format.js';
import type { Session } from './session.js';

function commitSeconds(options: string): number {
  const m = /(?:^|,)commit=(\d+)/.exec(options);
  return m && Number(m[1]) > 0 ? Number(m[1]) : 30;
}

export class StatusStrip {
  private readonly backend: HTMLElement;
  private readonly generation: HTMLElement;
  private readonly commit: HTMLElement;
  private readonly pending: HTMLElement;
  private readonly mount: HTMLElement;

  constructor(host: HTMLElement, private readonly session: Session, onCommitNow: () => void) {
    host.innerHTML = `
      <span class="st st-backend"></span>
      <span class="st st-gen" data-testid="generation"></span>
      <span class="st st-commit"></span>
      <span class="st st-pending"></span>
      <span class="st st-mount"></span>
      <button type="button" class="btn btn-small st-sync" title="commit the running transaction now (sync)">Commit now</button>`;
    this.backend = host.querySelector('.st-backend')!;
    this.generation = host.querySelector('.st-gen')!;
    this.commit = host.querySelector('.st-commit')!;
    this.pending = host.querySelector('.st-pending')!;
    this.mount = host.querySelector('.st-mount')!;
    host.querySelector('.st-sync')!.addEventListener('click', onCommitNow);
    setInterval(() => this.render(), 1000);
    session.onChange(() => this.render());
  }

  render(): void {
    const s = this.session;
    const b = s.backend;
    if (b) {
      this.backend.textContent = b.backend === 'opfs' ? 'OPFS · sync access handle' : 'IndexedDB';
      this.backend.title = b.backend === 'opfs' ? 'The device is one file in this origin\'s private file system, written through a FileSystemSyncAccessHandle in a worker.' : `Fallback: ${b.reason ?? ''}`;
      this.backend.classList.toggle('warn', b.backend === 'idb');
    }
    if (s.state !== 'holder' && s.state !== 'sharer') {
      this.generation.textContent = s.state === 'closed' ? 'unmounted' : 'mounting…';
      this.commit.textContent = '';
      this.pending.textContent = '';
      return;
    }
    this.generation.textContent = `generation ${s.generation}`;
    this.commit.textContent = s.lastCommitAt ? `last commit ${ago(Date.now() - s.lastCommitAt)}` : 'no commit since mount';
    const interval = commitSeconds(s.mountOptions);
    if (s.dirtySince !== undefined) {
      const left = Math.max(0, interval - Math.floor((Date.now() - s.dirtySince) / 1000));
      this.pending.textContent = `changes in memory · commit within ${left} s`;
      this.pending.classList.add('dirty');
    } else {
      this.pending.textContent = 'everything committed';
      this.pending.classList.remove('dirty');
    }
    const options = s.mountOptions.split(',').filter((o) => o && !/^(commit=|rw$|ro$)/.test(o));
    const ro = /(^|,)ro(,|$)/.test(s.mountOptions);
    this.mount.textContent = [s.state === 'sharer' ? 'shared from another tab' : '', ro ? 'read-only' : 'rw', `commit=${interval}s`, ...options].filter(Boolean).join(' · ');
  }
}

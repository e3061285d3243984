// Long operations started from the page (export, import, uploads): one at a time, shown in a bar
// with a progress fill, a label and a Cancel button.

export interface JobHandle {
  progress(done: number, total: number, label?: string): void;
  readonly cancelled: boolean;
}

export class Jobs {
  private readonly fill: HTMLElement;
  private readonly label: HTMLElement;
  private readonly cancelButton: HTMLButtonElement;
  private current: { cancel: () => void; cancelled: boolean } | undefined;

  constructor(private readonly host: HTMLElement) {
    host.innerHTML = `<div class="job-track"><div class="job-fill"></div></div><span class="job-label"></span><button type="button" class="btn btn-small job-cancel">Cancel</button>`;
    this.fill = host.querySelector('.job-fill')!;
    this.label = host.querySelector('.job-label')!;
    this.cancelButton = host.querySelector('.job-cancel')!;
    this.cancelButton.addEventListener('click', () => {
      if (!this.current) return;
      this.current.cancelled = true;
      this.current.cancel();
    });
    host.hidden = true;
  }

  get busy(): boolean {
    return this.current !== undefined;
  }

  async run<T>(title: string, cancel: (() => void) | undefined, fn: (job: JobHandle) => Promise<T>): Promise<T> {
    if (this.current) throw new Error('another operation is running; wait for it or cancel it');
    const state = { cancel: cancel ?? (() => undefined), cancelled: false };
    this.current = state;
    this.host.hidden = false;
    this.host.classList.remove('failed');
    this.cancelButton.hidden = cancel === undefined;
    this.fill.style.width = '0%';
    this.label.textContent = title;
    const handle: JobHandle = {
      progress: (done, total, label) => {
        const pct = total ? Math.round((done / total) * 100) : 0;
        this.fill.style.width = `${pct}%`;
        this.label.textContent = `${label ?? title} · ${pct}%`;
      },
      get cancelled() {
        return state.cancelled;
      },
    };
    try {
      return await fn(handle);
    } finally {
      this.current = undefined;
      this.host.hidden = true;
    }
  }
}

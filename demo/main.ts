// The demo page: starts the filesystem worker and shows what it reports.
import * as Comlink from 'comlink';
import type { DemoApi } from './demo.worker.js';

const status = document.querySelector<HTMLElement>('#status')!;
const superPre = document.querySelector<HTMLElement>('#super')!;
const verifyBtn = document.querySelector<HTMLButtonElement>('#verify')!;
const resetBtn = document.querySelector<HTMLButtonElement>('#reset')!;

function showError(e: unknown): void {
  status.textContent = `Error: ${(e as Error).message}`;
  status.classList.add('error');
}

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function show(info: Awaited<ReturnType<DemoApi['start']>>): void {
  status.classList.remove('error');
  status.textContent = `Mounted "${info.label}" from ${info.backend} — generation ${info.generation}, ${mib(info.bytesUsed)} used of ${mib(info.totalBytes)}.`;
  superPre.textContent = Object.entries(info).map(([k, v]) => `${k.padEnd(12)} ${v}`).join('\n');
  verifyBtn.disabled = false;
  resetBtn.disabled = false;
}

if (typeof Worker === 'undefined') {
  showError(new Error('this browser has no module workers; butterfs runs its engine in one'));
} else {
  const worker = new Worker(new URL('./demo.worker.ts', import.meta.url), { type: 'module' });
  const api = Comlink.wrap<DemoApi>(worker);
  api.start().then(show, showError);
  verifyBtn.onclick = () => {
    verifyBtn.disabled = true;
    api.verify().then((r) => {
      status.textContent = `Verified ${r.items} items in ${r.trees} trees: ${r.blocksRead} blocks read from OPFS, ${r.csumErrors} checksum errors.`;
      verifyBtn.disabled = false;
    }, showError);
  };
  resetBtn.onclick = () => {
    resetBtn.disabled = true;
    api.reset().then(show, showError);
  };
}

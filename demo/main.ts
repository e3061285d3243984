// The demo page: connects to the filesystem (OPFS, or IndexedDB where this browser has no OPFS
// sync access handles), and wires the shell, the panels, the status strip, files in and out, the
// tour, reset and the theme.
import { Session, LABEL } from './app/session.js';
import { Jobs } from './app/jobs.js';
import { StatusStrip } from './app/status.js';
import { Tour } from './app/tour.js';
import { humanSize, progsSize } from './app/format.js';
import { Terminal } from './shell/terminal.js';
import { Shell } from './shell/shell.js';
import { isMissingApi, describeError } from './shell/command.js';
import { join, dirname } from './shell/paths.js';
import { Board } from './panels/board.js';
import { FileTreePanel } from './panels/files.js';
import { SpacePanel } from './panels/space.js';
import { BlockGroupPanel } from './panels/blockgroups.js';
import { SubvolumePanel } from './panels/subvolumes.js';

const $ = <T extends HTMLElement>(sel: string) => document.querySelector<T>(sel)!;

// ---------------------------------------------------------------- theme
const THEME_KEY = 'butterfs-demo:theme';
function applyTheme(theme: string): void {
  if (theme === 'auto') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  $('#theme').textContent = theme === 'dark' ? '☾' : theme === 'light' ? '☀' : '◐';
  $('#theme').title = `theme: ${theme} (click to change)`;
}
applyTheme(localStorage.getItem(THEME_KEY) ?? 'auto');
$('#theme').addEventListener('click', () => {
  const order = ['auto', 'light', 'dark'];
  const next = order[(order.indexOf(localStorage.getItem(THEME_KEY) ?? 'auto') + 1) % order.length];
  localStorage.setItem(THEME_KEY, next);
  applyTheme(next);
});

// ---------------------------------------------------------------- pieces
const session = new Session();
const terminal = new Terminal($('#terminal'));
const jobs = new Jobs($('#jobs'));
const notice = $('#notice');

function download(name: string, data: Blob): void {
  const url = URL.createObjectURL(data);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function showNotice(text: string, kind: 'info' | 'warn' | 'error', action?: { label: string; run: () => void }): void {
  notice.hidden = false;
  notice.className = `notice notice-${kind}`;
  notice.textContent = text;
  if (action) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'btn btn-small';
    b.textContent = action.label;
    b.addEventListener('click', action.run);
    notice.append(' ', b);
  }
}

let subvolumeApi: Promise<boolean> | undefined;
function hasSubvolumeApi(): Promise<boolean> {
  subvolumeApi ??= (async () => {
    try {
      await (session.fs as unknown as { subvolume: { list(): Promise<unknown> } }).subvolume.list();
      return true;
    } catch (e) {
      return !isMissingApi(e);
    }
  })();
  return subvolumeApi;
}

let board: Board;
const shell = new Shell(session, terminal, {
  changed: () => {
    session.emit('data');
  },
  download,
  progress: terminal,
  cwdChanged: () => {
    terminal.updatePrompt();
    board?.request('cwd');
  },
});
terminal.attach(shell);
terminal.installGlobalInterrupt();

async function upload(files: { path: string; file: File }[], into: string): Promise<void> {
  const total = files.reduce((s, f) => s + f.file.size, 0);
  let done = 0;
  let cancelled = false;
  let count = 0;
  try {
    await jobs.run(`Copying ${files.length} item(s) into ${into}`, () => (cancelled = true), async (job) => {
      for (const { path, file } of files) {
        if (cancelled) throw Object.assign(new Error('cancelled'), { code: 'ECANCELED' });
        const target = join(into, path.replace(/\/$/, ''));
        if (path.endsWith('/')) {
          await session.fs.promises.mkdir(target, { recursive: true });
          continue;
        }
        await session.fs.promises.mkdir(dirname(target), { recursive: true });
        await session.fs.promises.writeFile(target, new Uint8Array(await file.arrayBuffer()));
        done += file.size;
        count++;
        job.progress(done, total, `Copying ${path}`);
      }
    });
    terminal.out(`copied ${count} file(s), ${humanSize(total)}B, into ${into}\n`, 'c-dim');
  } catch (e) {
    terminal.out(`upload: ${describeError(e)} (after ${count} file(s))\n`, 'c-err');
  }
  session.emit('data');
}

const filesPanel = new FileTreePanel(session, {
  cd: (path) => void terminal.run(`cd ${path.includes(' ') ? `'${path}'` : path}`),
  download: (path) => void terminal.run(`download ${path.includes(' ') ? `'${path}'` : path}`),
  upload,
});
const panels = [filesPanel, new SubvolumePanel(hasSubvolumeApi), new SpacePanel(), new BlockGroupPanel()];
board = new Board($('#panels'), panels, session, () => shell.cwd);
session.onChange((kind) => {
  if (kind === 'mounted') subvolumeApi = undefined;
  if (kind !== 'closed') board.request(kind === 'mounted' ? 'mounted' : kind === 'commit' ? 'commit' : 'data');
});
new StatusStrip($('#status'), session, () => void terminal.run('sync'));

const tour = new Tour($('#tour'), (line) => terminal.run(line), hasSubvolumeApi);
$('#tour-start').addEventListener('click', () => void tour.start());

// ---------------------------------------------------------------- image export / import / reset
function imageName(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${LABEL}-${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}.img`;
}

$('#export').addEventListener('click', () => {
  void (async () => {
    try {
      const blob = await jobs.run('Exporting the disk image', () => session.cancelImage(), (job) => session.exportImage((d, t) => job.progress(d, t, 'Exporting the disk image')));
      const name = imageName();
      download(name, blob);
      terminal.out(`exported ${name} (${humanSize(blob.size)}B): a btrfs filesystem image. On Linux: btrfs check ${name}, or sudo mount -o loop ${name} /mnt\n`, 'c-ok');
    } catch (e) {
      terminal.out(`export: ${describeError(e)}\n`, 'c-err');
    }
  })();
});

const importInput = $<HTMLInputElement>('#import-file');
$('#import').addEventListener('click', () => importInput.click());
importInput.addEventListener('change', () => {
  const file = importInput.files?.[0];
  importInput.value = '';
  if (!file) return;
  if (!confirm(`Replace the filesystem in this browser with "${file.name}" (${humanSize(file.size)}B)?\nThe current one is lost: export it first to keep it.`)) return;
  void (async () => {
    try {
      await jobs.run(`Importing ${file.name}`, () => session.cancelImage(), (job) => session.importImage(file, (d, t) => job.progress(d, t, `Importing ${file.name}`)));
      await shell.revalidateCwd();
      notice.hidden = true;
      terminal.out(`imported ${file.name}: label '${session.label}', ${progsSize(session.totalBytes)}, generation ${session.generation}\n`, 'c-ok');
    } catch (e) {
      reportMountFailure(`import of ${file.name}`, e);
    }
  })();
});

function reportMountFailure(what: string, e: unknown): void {
  terminal.out(`${what}: ${describeError(e)}\n`, 'c-err');
  if (session.state !== 'holder' && session.state !== 'sharer') {
    showNotice(`The filesystem could not be mounted after the ${what}: ${describeError(e)}`, 'error', { label: 'Reset (new filesystem)', run: () => void reset(false) });
  }
}

async function reset(ask = true): Promise<void> {
  if (ask && !confirm('Start over with a new, empty filesystem? Everything in this one is lost (Export image keeps a copy).')) return;
  try {
    await jobs.run('Resetting', undefined, () => session.reset());
    notice.hidden = true;
    shell.cwd = '/';
    terminal.clear();
    terminal.out(`A new filesystem: label '${session.label}', ${progsSize(session.totalBytes)}. Type help to see the commands.\n`, 'c-dim');
  } catch (e) {
    reportMountFailure('reset', e);
  }
}
$('#reset').addEventListener('click', () => void reset());

// ---------------------------------------------------------------- start
async function start(): Promise<void> {
  terminal.out('Starting the filesystem worker…\n', 'c-dim');
  try {
    await session.start();
  } catch (e) {
    terminal.out(`mount: ${describeError(e)}\n`, 'c-err');
    showNotice(`The filesystem could not be mounted: ${describeError(e)}`, 'error', { label: 'Reset (new filesystem)', run: () => void reset(false) });
    return;
  }
  if (session.backend.backend === 'idb') {
    showNotice(`This browser stores the filesystem in IndexedDB: ${session.backend.reason ?? ''}. OPFS sync access handles (Chromium 108+, Firefox 111+, Safari 17+) are faster.`, 'warn');
  }
  await shell.revalidateCwd();
  terminal.clear();
  const fresh = session.generation <= 2;
  terminal.out(`butterfs: btrfs ${fresh ? 'formatted and ' : ''}mounted from ${session.backend.backend === 'opfs' ? 'OPFS' : 'IndexedDB'}: label '${session.label}', ${progsSize(session.totalBytes)}, generation ${session.generation}.\n`, 'c-dim');
  terminal.out(`Type help for the commands, or take the tour. Tab completes, ↑ recalls.\n\n`, 'c-dim');
  terminal.updatePrompt();
  terminal.focus();
  document.body.classList.add('ready');
  if (!localStorage.getItem('butterfs-demo:toured') && !new URLSearchParams(location.search).has('notour')) void tour.start();
}

// For the end-to-end test and the curious: the live objects.
(window as unknown as { demo: unknown }).demo = {
  session,
  shell,
  terminal,
  run: (line: string) => terminal.run(line),
  /** Resolves when the terminal is idle and the panels have refreshed. */
  settled: async () => {
    await terminal.idle;
    await board.settled;
  },
};

void start();

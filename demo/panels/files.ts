// The file tree of the current subvolume (the one holding the shell's working directory: a
// file's st_dev is its subvolume id). Directories expand and collapse; files download; files and
// folders dropped from the desktop (or picked with the Upload button) are written into the
// directory they are dropped on, or into the working directory.
import { humanSize } from '../app/format.js';
import type { Session } from '../app/session.js';
import { dirname, join } from '../shell/paths.js';
import { el, type FsView, type Panel, type RefreshReason } from './panel.js';

const MAX_NODES = 600;

export interface FileTreeHooks {
  cd(path: string): void;
  download(path: string): void;
  /** Writes dropped files; resolves when done. */
  upload(files: { path: string; file: File }[], into: string): Promise<void>;
}

interface Entry {
  name: string;
  path: string;
  kind: 'dir' | 'file' | 'link';
  size: number;
}

/** Walks a dropped directory entry (webkitGetAsEntry, in every browser with drag and drop). */
async function collectEntry(entry: FileSystemEntry, prefix: string, out: { path: string; file: File }[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push({ path: prefix + entry.name, file });
  } else if (entry.isDirectory) {
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    out.push({ path: `${prefix}${entry.name}/`, file: new File([], '') });
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      for (const child of batch) await collectEntry(child, `${prefix}${entry.name}/`, out);
    }
  }
}

export class FileTreePanel implements Panel {
  readonly id = 'files';
  readonly title = 'Files';
  subtitle = 'the current subvolume; drop files or folders here';
  readonly refreshOn: readonly RefreshReason[] = ['mounted', 'data', 'cwd', 'commit'];
  private list!: HTMLElement;
  private caption!: HTMLElement;
  private readonly expanded = new Set<string>(JSON.parse(sessionStorage.getItem('butterfs-demo:expanded') ?? '["/"]') as string[]);
  private cwd = '/';

  constructor(private readonly session: Session, private readonly hooks: FileTreeHooks) {}

  mount(body: HTMLElement): void {
    this.caption = el('div', { class: 'files-caption' });
    this.list = el('ul', { class: 'files-tree', role: 'tree' });
    const picker = el('input', { type: 'file', multiple: '', class: 'files-picker', 'aria-label': 'upload files' });
    const upload = el('button', { type: 'button', class: 'btn btn-small', text: 'Upload files…' });
    upload.addEventListener('click', () => picker.click());
    picker.addEventListener('change', () => {
      const files = [...(picker.files ?? [])].map((file) => ({ path: file.name, file }));
      picker.value = '';
      if (files.length) void this.hooks.upload(files, this.cwd);
    });
    const drop = el('div', { class: 'files-drop' }, el('span', { text: 'Drop files or folders here, or ' }), upload, picker);
    body.append(this.caption, this.list, drop);
    body.addEventListener('dragover', (e) => {
      if (!e.dataTransfer?.types.includes('Files')) return;
      e.preventDefault();
      body.classList.add('dragging');
      const row = (e.target as HTMLElement).closest<HTMLElement>('[data-dir]');
      for (const r of this.list.querySelectorAll('.drop-target')) r.classList.remove('drop-target');
      row?.classList.add('drop-target');
    });
    body.addEventListener('dragleave', (e) => {
      if (!body.contains(e.relatedTarget as Node)) body.classList.remove('dragging');
    });
    body.addEventListener('drop', (e) => {
      e.preventDefault();
      body.classList.remove('dragging');
      const row = (e.target as HTMLElement).closest<HTMLElement>('[data-dir]');
      const into = row?.dataset.dir ?? this.cwd;
      for (const r of this.list.querySelectorAll('.drop-target')) r.classList.remove('drop-target');
      const items = [...(e.dataTransfer?.items ?? [])].map((i) => i.webkitGetAsEntry?.()).filter((x): x is FileSystemEntry => !!x);
      void (async () => {
        const files: { path: string; file: File }[] = [];
        if (items.length) for (const entry of items) await collectEntry(entry, '', files);
        else for (const file of e.dataTransfer?.files ?? []) files.push({ path: file.name, file });
        if (files.length) await this.hooks.upload(files, into);
      })();
    });
  }

  /** The root of the subvolume holding `path`: walk up while st_dev (the subvolume id) stays. */
  private async subvolumeRoot(view: FsView, path: string): Promise<{ root: string; id: number }> {
    const fs = view.fs.promises;
    const id = (await fs.stat(path)).dev;
    let root = path;
    while (root !== '/') {
      const parent = dirname(root);
      if ((await fs.stat(parent)).dev !== id) break;
      root = parent;
    }
    return { root, id };
  }

  async refresh(view: FsView): Promise<void> {
    this.cwd = view.cwd;
    const { root, id } = await this.subvolumeRoot(view, view.cwd).catch(() => ({ root: '/', id: 5 }));
    // The path to the working directory is always open.
    for (let p = view.cwd; ; p = dirname(p)) {
      this.expanded.add(p);
      if (p === '/' || p === root) break;
    }
    this.expanded.add(root);
    this.caption.textContent = '';
    this.caption.append(
      el('span', { class: 'files-subvol', text: id === 5 ? 'top level (id 5)' : `subvolume ${root} (id ${id})` }),
      el('span', { class: 'files-cwd', text: `cwd ${view.cwd}` }),
    );
    let budget = MAX_NODES;
    const build = async (dir: string, depth: number): Promise<HTMLElement[]> => {
      let entries: Entry[];
      try {
        const dirents = await view.fs.promises.readdir(dir, { withFileTypes: true });
        entries = await Promise.all(dirents.map(async (d): Promise<Entry> => {
          const path = join(dir, d.name);
          const kind = d.isDirectory() ? 'dir' : d.isSymbolicLink() ? 'link' : 'file';
          const size = kind === 'file' ? (await view.fs.promises.lstat(path)).size : 0;
          return { name: d.name, path, kind, size };
        }));
      } catch {
        return [];
      }
      entries.sort((a, b) => (a.kind === 'dir') !== (b.kind === 'dir') ? (a.kind === 'dir' ? -1 : 1) : a.name < b.name ? -1 : 1);
      const rows: HTMLElement[] = [];
      for (const e of entries) {
        if (budget-- <= 0) {
          rows.push(el('li', { class: 'files-more', text: '… more entries (use ls)' }));
          break;
        }
        const open = e.kind === 'dir' && this.expanded.has(e.path);
        const row = el('div', { class: `files-row kind-${e.kind}${e.path === view.cwd ? ' is-cwd' : ''}`, style: `--depth:${depth}`, title: e.path });
        if (e.kind === 'dir') row.dataset.dir = e.path;
        const twisty = el('span', { class: 'twisty', text: e.kind === 'dir' ? (open ? '▾' : '▸') : '' });
        const name = el('span', { class: 'files-name', text: e.name });
        row.append(twisty, el('span', { class: `files-icon icon-${e.kind}` }), name);
        if (e.kind === 'file') {
          const dl = el('button', { type: 'button', class: 'files-dl', title: `download ${e.path}`, 'aria-label': `download ${e.name}`, text: '↓' });
          dl.addEventListener('click', (ev) => {
            ev.stopPropagation();
            this.hooks.download(e.path);
          });
          row.append(el('span', { class: 'files-size', text: humanSize(e.size) }), dl);
        }
        if (e.kind === 'dir') {
          row.addEventListener('click', () => {
            if (this.expanded.has(e.path)) this.expanded.delete(e.path);
            else this.expanded.add(e.path);
            sessionStorage.setItem('butterfs-demo:expanded', JSON.stringify([...this.expanded]));
            void this.refresh(view);
          });
          row.addEventListener('dblclick', () => this.hooks.cd(e.path));
        }
        const li = el('li', { role: 'treeitem' }, row);
        if (open) {
          const children = await build(e.path, depth + 1);
          if (children.length) li.append(el('ul', { role: 'group' }, ...children));
        }
        rows.push(li);
      }
      return rows;
    };
    const top = el('div', { class: `files-row kind-dir${root === view.cwd ? ' is-cwd' : ''}`, style: '--depth:0', 'data-dir': root, title: root },
      el('span', { class: 'twisty', text: '▾' }), el('span', { class: 'files-icon icon-dir' }), el('span', { class: 'files-name', text: root }));
    top.addEventListener('dblclick', () => this.hooks.cd(root));
    const children = await build(root, 1);
    const li = el('li', { role: 'treeitem' }, top);
    if (children.length) li.append(el('ul', { role: 'group' }, ...children));
    else li.append(el('p', { class: 'files-empty', text: 'empty: try  echo hello > hello.txt  in the shell, or drop files here' }));
    this.list.replaceChildren(li);
    void this.session;
  }
}

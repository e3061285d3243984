// The demo's filesystem session: which backend this browser gets, the connection (connect() from
// butterfs/client), and what changes it as a whole: remount with other options, reset, export
// and import of the device as a btrfs image. Everyone else (shell, panels, tour) holds the
// session and reads `session.fs`, which is replaced on every reconnect; they learn of changes
// through `onChange`.
import * as Comlink from 'comlink';
import { connect, connectionInfo, type FilesystemClient, type ConnectionState } from '../../src/worker/client.js';
import type { ImageWorkerApi, Backend } from '../workers/image.worker.js';

export const FS_NAME = 'butterfs-demo';
export const DEVICE = `${FS_NAME}/dev1`;
export const DEVICE_SIZE_BYTES = 256 * 1024 * 1024;
export const LABEL = 'butterfs-demo';
const OPTIONS_KEY = 'butterfs-demo:mount-options';

export type ChangeKind = 'mounted' | 'data' | 'commit' | 'closed';

export interface BackendChoice {
  backend: Backend;
  /** Why IndexedDB, when it is: the words shown on the page. */
  reason?: string;
  forced?: boolean;
}

export class Session {
  fs!: FilesystemClient;
  backend!: BackendChoice;
  state: ConnectionState | 'starting' = 'starting';
  /** The mount option string in effect (what `mount` shows and a reload mounts with). */
  mountOptions = localStorage.getItem(OPTIONS_KEY) ?? '';
  generation = 0;
  /** When this page saw the generation change (the engine does not report commit times yet). */
  lastCommitAt: number | undefined;
  /** Set when the shell changed something since the last commit. */
  dirtySince: number | undefined;
  label = '';
  fsid = '';
  totalBytes = 0;
  private listeners = new Set<(kind: ChangeKind) => void>();
  private imageWorker: Comlink.Remote<ImageWorkerApi> | undefined;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private polling = false;

  onChange(fn: (kind: ChangeKind) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(kind: ChangeKind): void {
    if (kind === 'data' && this.dirtySince === undefined) this.dirtySince = Date.now();
    for (const fn of this.listeners) fn(kind);
  }

  get images(): Comlink.Remote<ImageWorkerApi> {
    if (!this.imageWorker) {
      const w = new Worker(new URL('../workers/image.worker.ts', import.meta.url), { type: 'module', name: 'butterfs-demo-images' });
      this.imageWorker = Comlink.wrap<ImageWorkerApi>(w);
    }
    return this.imageWorker;
  }

  /** OPFS with sync access handles when this browser has them, else IndexedDB; ?backend= forces one. */
  async chooseBackend(): Promise<BackendChoice> {
    const forced = new URLSearchParams(location.search).get('backend');
    if (forced === 'idb') return { backend: 'idb', reason: 'IndexedDB was asked for in the address (?backend=idb)', forced: true };
    const probe = await this.images.probeOpfs();
    if (probe.ok) return { backend: 'opfs' };
    return { backend: 'idb', reason: probe.reason };
  }

  async start(): Promise<void> {
    this.backend ??= await this.chooseBackend();
    this.pollTimer ??= setInterval(() => void this.poll(), 1000);
    await this.open(this.mountOptions);
  }

  private async open(mountOptions: string): Promise<void> {
    this.state = 'starting';
    const existing = await this.images.deviceSize(FS_NAME, this.backend.backend, DEVICE);
    this.fs = await connect({
      name: FS_NAME,
      backend: this.backend.backend,
      // A device that exists keeps its size (an imported image may be smaller or larger).
      deviceSizeBytes: existing === 0 ? DEVICE_SIZE_BYTES : existing,
      mkfs: { label: LABEL },
      mountOptions,
      whenBusy: 'share',
      onStateChange: (s) => {
        this.state = s;
        this.emit('mounted');
      },
    });
    const info = connectionInfo(this.fs);
    this.state = info.state;
    const summary = info.summary;
    this.label = summary?.label ?? '';
    this.fsid = summary?.fsid ?? '';
    this.totalBytes = summary?.totalBytes ?? 0;
    this.generation = await this.fs.generation;
    this.lastCommitAt = undefined;
    this.dirtySince = undefined;
    this.emit('mounted');
  }

  /** Notices commits (sync, the commit= timer, check) by the generation moving. */
  async poll(): Promise<void> {
    if (this.polling || this.state !== 'holder' && this.state !== 'sharer') return;
    this.polling = true;
    try {
      const g = await this.fs.generation;
      if (g !== this.generation) {
        this.generation = g;
        this.lastCommitAt = Date.now();
        this.dirtySince = undefined;
        this.emit('commit');
      }
    } catch {
      // The connection is being replaced (remount, export): the next poll reads the new one.
    } finally {
      this.polling = false;
    }
  }

  get isHolder(): boolean {
    return this.state === 'holder';
  }

  private requireHolder(what: string): void {
    if (this.state === 'sharer' || this.state === 'waiting-for-lock') throw Object.assign(new Error(`${what}: another tab holds the filesystem; do it there (this tab shares it)`), { code: 'EBUSY' });
  }

  /** Closes (commits) and runs `fn` with the devices free, then mounts again. */
  private async offline<T>(fn: () => Promise<T>, mountOptions = this.mountOptions): Promise<T> {
    const fs = this.fs as FilesystemClient | undefined;
    this.state = 'closed';
    this.emit('closed');
    await fs?.close();
    try {
      return await fn();
    } finally {
      await this.open(mountOptions);
    }
  }

  /** mount -o remount,...: close and connect with the new option string; the old one stays on failure. */
  async remount(options: string): Promise<void> {
    this.requireHolder('mount');
    const previous = this.mountOptions;
    const fs = this.fs;
    this.state = 'closed';
    this.emit('closed');
    await fs.close();
    try {
      await this.open(options);
      this.mountOptions = options;
      localStorage.setItem(OPTIONS_KEY, options);
    } catch (e) {
      await this.open(previous);
      throw e;
    }
  }

  async reset(): Promise<void> {
    this.requireHolder('reset');
    this.backend ??= await this.chooseBackend();
    this.mountOptions = '';
    localStorage.removeItem(OPTIONS_KEY);
    await this.offline(() => this.images.remove(FS_NAME, this.backend.backend, DEVICE), '');
  }

  async exportImage(onProgress: (done: number, total: number) => void): Promise<Blob> {
    this.requireHolder('export');
    return this.offline(() => this.images.exportImage(FS_NAME, this.backend.backend, DEVICE, Comlink.proxy(onProgress)));
  }

  async importImage(image: Blob, onProgress: (done: number, total: number) => void): Promise<void> {
    this.requireHolder('import');
    // An imported filesystem is mounted with default options: the old ones were for the old one.
    this.mountOptions = '';
    localStorage.removeItem(OPTIONS_KEY);
    await this.offline(() => this.images.importImage(FS_NAME, this.backend.backend, DEVICE, image, 0, Comlink.proxy(onProgress)), '');
  }

  cancelImage(): void {
    void this.images.cancel();
  }
}

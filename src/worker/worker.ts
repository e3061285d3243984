// The butterfs worker (`butterfs/worker`): a dedicated module Worker that holds one filesystem.
// Started by `connect()` (client.ts); one worker per connection.
//
// It owns, in this order of acquisition and the reverse order of release:
//   1. the filesystem's Web Lock (`butterfs:${name}`), taken per `whenBusy`;
//   2. one Web Lock per device (`butterfs-device:${backend}:${device}`), taken if free, else EBUSY;
//   3. the devices (an OPFS sync access handle or an IndexedDB connection each);
//   4. the mounted Filesystem, exposed to its page (path `fs` of the control object, and the fast
//      calls of fs.promises and FileHandles, rpc-server.ts) and to sharing tabs (share.ts).
// The lock is held by this worker, not by the page, so the lock and the device handles live and
// die together: when the worker ends (close(), the tab closes, a crash), the lock is released only
// as its context goes away, and the next holder cannot open the devices early. That is how two
// writers on one device set are made impossible. (OPFS handles are opened in 'readwrite-unsafe'
// mode, so that a pool worker can read the device during a commit, device/opfs.ts; it is these
// locks, and OpfsDevice's own per-device lock, that keep writers out, not the handle. A context
// that is going away runs no more JavaScript, and sync access handle writes complete before
// they return, so a handle it still has open writes nothing after its locks are gone.)
//
// A worker that is terminated without close() loses the running transaction (changes since the
// last commit), as a power cut does; what was committed stays (btrfs's storage model).
import * as Comlink from 'comlink';
import { mkfs, mount, type Filesystem } from '../api/filesystem.js';
import { parseMountOptions } from '../api/mount-options.js';
import type { BlockDevice } from '../device/block-device.js';
import { IdbDevice } from '../device/idb.js';
import { OpfsDevice } from '../device/opfs.js';
import { SUPER_INFO_OFFSET, SUPER_MAGIC_STRING } from '../format/constants.js';
import { FsError } from '../util/errors.js';
import { makeFacade } from './facade.js';
import { deviceLockName, filesystemLockName, type ConnectionState, type MountSummary, type OpenRequest, type StartResult, type WorkerControl } from './protocol.js';
import { FastCallServer } from './rpc-server.js';
import { ShareServer } from './share.js';
import { installWire } from './wire.js';
import './value-classes.js';

installWire('worker');

/** Offset of the magic inside the superblock (btrfs_super_block.magic). */
const SUPER_MAGIC_OFFSET = 0x40;

interface Session {
  request: OpenRequest;
  fs: Filesystem;
  devices: BlockDevice[];
  facade: object;
  server: ShareServer;
  summary: MountSummary;
  releaseLocks: () => void;
}

let session: Session | undefined;
let starting = false;
let closed = false;
/** Aborts a lock request still waiting (close() while waiting for the lock). */
const waitAbort = new AbortController();

/** fs.promises and FileHandle calls from this worker's page (rpc.ts), on comlink's port. */
const fastCalls = new FastCallServer(self as unknown as ConstructorParameters<typeof FastCallServer>[0], () => {
  if (!session) throw new FsError('EIO', 'no filesystem is mounted in this worker');
  return session.fs.promises;
});

/**
 * Requests a Web Lock and keeps it until the returned function is called. null: not available
 * (ifAvailable). Rejects with ECANCELED when close() aborts the wait.
 */
async function takeLock(name: string, ifAvailable: boolean): Promise<(() => void) | null> {
  if (typeof navigator === 'undefined' || !navigator.locks) {
    throw new FsError('ENOSYS', 'the Web Locks API is missing: butterfs cannot guarantee one writer per filesystem');
  }
  return new Promise((resolve, reject) => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const options: LockOptions = ifAvailable ? { ifAvailable: true } : { signal: waitAbort.signal };
    navigator.locks
      .request(name, options, async (lock) => {
        if (!lock) {
          resolve(null);
          return;
        }
        resolve(release);
        await held;
      })
      .catch((e: unknown) => {
        reject(waitAbort.signal.aborted ? new FsError('ECANCELED', `closed while waiting for the lock '${name}'`, { cause: e }) : e);
      });
  });
}

/** The filesystem lock is taken; take the device locks (all free, or none: EBUSY). */
async function takeDeviceLocks(request: OpenRequest): Promise<() => void> {
  const releases: (() => void)[] = [];
  const releaseAll = () => {
    for (const r of releases.splice(0).reverse()) r();
  };
  for (const device of [...request.devices].sort()) {
    const release = await takeLock(deviceLockName(request.backend, device), true);
    if (!release) {
      releaseAll();
      throw new FsError('EBUSY', `device '${device}' is held by another filesystem name`, { syscall: 'open', path: device });
    }
    releases.push(release);
  }
  return releaseAll;
}

async function openDevice(request: OpenRequest, name: string): Promise<BlockDevice> {
  if (request.backend === 'opfs') {
    const o: { sizeBytes?: number; openTimeoutMs?: number; busyRetryMs?: number } = {};
    if (request.deviceSizeBytes !== undefined) o.sizeBytes = request.deviceSizeBytes;
    if (request.openTimeoutMs !== undefined) o.openTimeoutMs = request.openTimeoutMs;
    if (request.busyRetryMs !== undefined) o.busyRetryMs = request.busyRetryMs;
    return OpfsDevice.open(name, o);
  }
  return IdbDevice.open(name, request.deviceSizeBytes === undefined ? {} : { sizeBytes: request.deviceSizeBytes });
}

/** Whether a device carries a btrfs primary superblock (its magic; mount checks the rest). */
async function hasSuperblock(device: BlockDevice): Promise<boolean> {
  if (device.sizeBytes < SUPER_INFO_OFFSET + 4096) return false;
  const block = await device.read(SUPER_INFO_OFFSET, 4096);
  const magic = new TextDecoder().decode(block.subarray(SUPER_MAGIC_OFFSET, SUPER_MAGIC_OFFSET + SUPER_MAGIC_STRING.length));
  return magic === SUPER_MAGIC_STRING;
}

function summarize(request: OpenRequest, fs: Filesystem, formatted: boolean): MountSummary {
  const sb = fs.info.sb;
  const hex = [...sb.fsid].map((b) => b.toString(16).padStart(2, '0')).join('');
  return {
    name: request.name,
    backend: request.backend,
    devices: [...request.devices],
    formatted,
    label: new TextDecoder().decode(sb.label).replace(/\0+$/, ''),
    fsid: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
    generation: sb.generation,
    nodesize: sb.nodesize,
    sectorsize: sb.sectorsize,
    totalBytes: sb.totalBytes,
    bytesUsed: sb.bytesUsed,
  };
}

/** With the filesystem lock held: device locks, devices, mkfs if blank and asked, mount, serve. */
async function openHeld(request: OpenRequest, releaseFsLock: () => void, onState: (s: ConnectionState) => void): Promise<MountSummary> {
  const devices: BlockDevice[] = [];
  let releaseDeviceLocks: (() => void) | undefined;
  try {
    if (closed) throw new FsError('ECANCELED', 'closed while waiting for the lock');
    onState('opening');
    releaseDeviceLocks = await takeDeviceLocks(request);
    for (const name of request.devices) devices.push(await openDevice(request, name));
    let formatted = false;
    if (request.mkfs !== false) {
      const marked = await Promise.all(devices.map(hasSuperblock));
      if (!marked.some(Boolean)) {
        await mkfs(devices, request.mkfs);
        formatted = true;
      }
    }
    const fs = await mount(devices, request.mountOptions);
    if (closed) {
      await fs.unmount();
      throw new FsError('ECANCELED', 'closed while opening');
    }
    const releaseDevices = releaseDeviceLocks;
    session = {
      request,
      fs,
      devices,
      facade: makeFacade(fs, 'holder'),
      server: new ShareServer(request.name, () => makeFacade(fs, 'sharer')),
      summary: summarize(request, fs, formatted),
      releaseLocks: () => {
        releaseDevices();
        releaseFsLock();
      },
    };
    onState('holder');
    return session.summary;
  } catch (e) {
    for (const d of devices) {
      // The open error is the one to report; a failure to close on top of it is logged, not lost.
      await d.close().catch((closeError: unknown) => console.error('butterfs: closing a device after a failed open', closeError));
    }
    releaseDeviceLocks?.();
    releaseFsLock();
    throw e;
  }
}

const control: WorkerControl & { readonly fs: object } = {
  async start(request, onState, onTakeover, onTakeoverError): Promise<StartResult> {
    if (starting || session) throw new FsError('EINVAL', 'this worker already serves a filesystem (one connect() per worker)');
    starting = true;
    // Refuse a bad option string before any device is touched (and before anything is formatted).
    parseMountOptions(request.mountOptions);
    if (request.devices.length === 0) throw new FsError('EINVAL', 'no devices');
    const lockName = filesystemLockName(request.name);
    if (request.whenBusy === 'wait') {
      const now = await takeLock(lockName, true);
      if (now) return { role: 'holder', summary: await openHeld(request, now, onState) };
      onState('waiting-for-lock');
      const release = await takeLock(lockName, false);
      return { role: 'holder', summary: await openHeld(request, release!, onState) };
    }
    const now = await takeLock(lockName, true);
    if (now) return { role: 'holder', summary: await openHeld(request, now, onState) };
    if (request.whenBusy === 'fail') {
      throw new FsError('EBUSY', `filesystem '${request.name}' is held by another tab or connection`, { syscall: 'mount', path: request.name });
    }
    // 'share': the page reaches the holder over the share channel; this worker waits to take over.
    takeLock(lockName, false).then(
      (release) => openHeld(request, release!, onState).then(onTakeover, onTakeoverError),
      (e: unknown) => {
        if (!closed) onTakeoverError(e);
      },
    );
    return { role: 'busy' };
  },

  async close(): Promise<void> {
    if (closed) return;
    closed = true;
    waitAbort.abort();
    const s = session;
    if (!s) return;
    try {
      // Unmount first: requests already queued (ours and sharers') finish and are answered.
      await s.fs.unmount();
    } finally {
      s.server.close();
      fastCalls.clear();
      try {
        for (const d of s.devices) await d.close();
      } finally {
        s.releaseLocks();
        session = undefined;
      }
    }
  },

  devicesOpen(): boolean {
    return session !== undefined;
  },

  get fs(): object {
    if (!session) throw new FsError('EIO', 'no filesystem is mounted in this worker');
    return session.facade;
  },
};

Comlink.expose(control);

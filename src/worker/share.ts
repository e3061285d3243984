// Sharing a mounted filesystem with other tabs over a BroadcastChannel.
//
// Tabs cannot hand each other MessagePorts (only a SharedWorker or a service worker could broker
// them), so the holder's worker listens on a BroadcastChannel named after the filesystem and
// runs one comlink `expose` per sharing tab over a virtual endpoint: messages are addressed
// (`from`, `to`) and each side ignores what is not for it.
//
// Handover: a sharer's own worker waits for the filesystem's Web Lock. When the holder goes away
// (close(), tab closed, crash) the lock passes to one waiting worker, which opens the devices and
// announces itself; every other sharer re-attaches to the new holder. Requests sent to a holder
// that went away fail with EIO (they may or may not have been applied, as with any lost
// connection); requests made while no holder is known are queued and sent to the next one.
//
// Limits: a BroadcastChannel copies (it cannot transfer), so buffers are copied between tabs and
// values that cross by reference (MessagePorts: a FileHandle, a callback) cannot cross to a
// sharer: such a call fails ("Unserializable return value"). Calls that move data by value
// (readFile, writeFile, stat, check, ...) work.
import * as Comlink from 'comlink';
import { FsError } from '../util/errors.js';
import { shareChannelName, type ShareMessage } from './protocol.js';
import { thrownToWire } from './wire.js';

type Listener = (ev: MessageEvent) => void;

function randomId(): string {
  return crypto.randomUUID();
}

/** A comlink Endpoint whose messages are delivered by hand. */
class VirtualEndpoint implements Comlink.Endpoint {
  private readonly listeners = new Set<Listener>();
  constructor(private readonly send: (msg: unknown, transfer: Transferable[]) => void) {}
  postMessage(message: unknown, transfer: Transferable[] = []): void {
    this.send(message, transfer);
  }
  addEventListener(_type: string, listener: EventListenerOrEventListenerObject): void {
    this.listeners.add(listener as Listener);
  }
  removeEventListener(_type: string, listener: EventListenerOrEventListenerObject): void {
    this.listeners.delete(listener as Listener);
  }
  deliver(data: unknown): void {
    const ev = new MessageEvent('message', { data });
    for (const l of [...this.listeners]) l(ev);
  }
}

function refuseTransfer(transfer: Transferable[]): void {
  // Buffers are fine (the channel copies them); a port cannot cross between tabs.
  if (transfer.some((t) => typeof MessagePort !== 'undefined' && t instanceof MessagePort)) {
    throw new FsError('EOPNOTSUPP', 'a value that crosses by reference (FileHandle, callback) cannot reach a sharing tab');
  }
}

/** The holder's side: serves every tab that attaches. */
export class ShareServer {
  readonly holderId = randomId();
  private readonly channel: BroadcastChannel;
  private readonly sharers = new Map<string, VirtualEndpoint>();
  private closed = false;

  constructor(name: string, private readonly makeApi: () => object) {
    this.channel = new BroadcastChannel(shareChannelName(name));
    this.channel.onmessage = (ev: MessageEvent<ShareMessage>) => this.receive(ev.data);
    this.post({ t: 'holder', holderId: this.holderId });
  }

  get sharerCount(): number {
    return this.sharers.size;
  }

  private post(m: ShareMessage): void {
    this.channel.postMessage(m);
  }

  private receive(m: ShareMessage): void {
    if (this.closed) return;
    switch (m.t) {
      case 'attach': {
        if (!this.sharers.has(m.from)) {
          const from = m.from;
          const ep = new VirtualEndpoint((msg, transfer) => {
            refuseTransfer(transfer);
            // An answer finished after close() has no one to go to: the sharer already failed it.
            if (!this.closed) this.post({ t: 'rpc', from: this.holderId, to: from, msg });
          });
          Comlink.expose(this.makeApi(), ep);
          this.sharers.set(from, ep);
        }
        this.post({ t: 'holder', holderId: this.holderId, to: m.from });
        break;
      }
      case 'rpc':
        if (m.to === this.holderId) {
          this.sharers.get(m.from)?.deliver(m.msg);
          // comlink's RELEASE ends that sharer's endpoint (expose stops listening after answering).
          if ((m.msg as { type?: unknown } | null)?.type === 'RELEASE') this.sharers.delete(m.from);
        }
        break;
      case 'detach':
        if (m.to === this.holderId) this.sharers.delete(m.from);
        break;
      case 'holder':
      case 'gone':
        // Another holder cannot exist while we hold the lock; a stale message from one that just
        // left is harmless.
        break;
    }
  }

  /** Tell the sharers we are leaving (their unanswered requests fail now), then stop. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.post({ t: 'gone', holderId: this.holderId });
    this.sharers.clear();
    this.channel.close();
  }
}

/**
 * The sharer's side: a comlink Endpoint that reaches whichever worker holds the filesystem.
 * `attached` resolves when a holder has accepted us the first time.
 */
export class ShareLink implements Comlink.Endpoint {
  readonly clientId = randomId();
  private readonly channel: BroadcastChannel;
  private readonly listeners = new Set<Listener>();
  private holderId: string | undefined;
  private isAttached = false;
  /** Requests sent to the current holder and not answered (comlink message ids). */
  private readonly inFlight = new Set<string>();
  /** Requests made while no holder was attached. */
  private readonly queue: unknown[] = [];
  private closed = false;
  readonly attached: Promise<void>;
  private resolveAttached!: () => void;

  constructor(name: string) {
    this.attached = new Promise((resolve) => (this.resolveAttached = resolve));
    this.channel = new BroadcastChannel(shareChannelName(name));
    this.channel.onmessage = (ev: MessageEvent<ShareMessage>) => this.receive(ev.data);
    this.post({ t: 'attach', from: this.clientId });
  }

  private post(m: ShareMessage): void {
    this.channel.postMessage(m);
  }

  private receive(m: ShareMessage): void {
    if (this.closed) return;
    switch (m.t) {
      case 'holder':
        if (m.to === this.clientId) {
          if (this.holderId !== m.holderId) this.failInFlight();
          this.holderId = m.holderId;
          this.isAttached = true;
          for (const msg of this.queue.splice(0)) this.send(msg);
          this.resolveAttached();
        } else if (m.to === undefined && m.holderId !== this.holderId) {
          // A new holder: whatever the old one had not answered is lost.
          this.failInFlight();
          this.isAttached = false;
          this.holderId = undefined;
          this.post({ t: 'attach', from: this.clientId });
        }
        break;
      case 'gone':
        if (m.holderId === this.holderId) {
          this.failInFlight();
          this.isAttached = false;
          this.holderId = undefined;
        }
        break;
      case 'rpc':
        if (m.to === this.clientId && m.from === this.holderId) {
          const id = (m.msg as { id?: unknown } | null)?.id;
          if (typeof id === 'string') this.inFlight.delete(id);
          const ev = new MessageEvent('message', { data: m.msg });
          for (const l of [...this.listeners]) l(ev);
        }
        break;
      case 'attach':
      case 'detach':
        break;
    }
  }

  private send(msg: unknown): void {
    const id = (msg as { id?: unknown } | null)?.id;
    if (typeof id === 'string') this.inFlight.add(id);
    this.post({ t: 'rpc', from: this.clientId, to: this.holderId!, msg });
  }

  /** Answers every unanswered request with an EIO (comlink wire format of a thrown value). */
  private failInFlight(reason = 'the tab holding the filesystem went away before answering; the request may or may not have been applied'): void {
    const error = new FsError('EIO', reason);
    for (const id of this.inFlight) {
      const ev = new MessageEvent('message', { data: { id, type: 'HANDLER', name: 'throw', value: thrownToWire(error) } });
      for (const l of [...this.listeners]) l(ev);
    }
    this.inFlight.clear();
  }

  postMessage(message: unknown, transfer: Transferable[] = []): void {
    if (this.closed) {
      // Answered here, never thrown: comlink also posts on its own (a RELEASE when the last proxy
      // of this endpoint is garbage-collected) with no one to catch a throw.
      const { id, type } = (message ?? {}) as { id?: unknown; type?: unknown };
      const error = new FsError('EIO', 'the butterfs connection is closed');
      const data = type === 'RELEASE' ? { id, type: 'RAW', value: undefined } : { id, type: 'HANDLER', name: 'throw', value: thrownToWire(error) };
      queueMicrotask(() => {
        const ev = new MessageEvent('message', { data });
        for (const l of [...this.listeners]) l(ev);
      });
      return;
    }
    refuseTransfer(transfer);
    if (this.isAttached) this.send(message);
    else this.queue.push(message);
  }
  addEventListener(_type: string, listener: EventListenerOrEventListenerObject): void {
    this.listeners.add(listener as Listener);
  }
  removeEventListener(_type: string, listener: EventListenerOrEventListenerObject): void {
    this.listeners.delete(listener as Listener);
  }

  /** Stop: unanswered and queued requests fail. */
  close(reason?: string): void {
    if (this.closed) return;
    this.failInFlight(reason);
    const queued = this.queue.splice(0);
    const error = new FsError('EIO', reason ?? 'connection closed');
    for (const msg of queued) {
      const id = (msg as { id?: unknown } | null)?.id;
      const ev = new MessageEvent('message', { data: { id, type: 'HANDLER', name: 'throw', value: thrownToWire(error) } });
      for (const l of [...this.listeners]) l(ev);
    }
    if (this.holderId !== undefined) this.post({ t: 'detach', from: this.clientId, to: this.holderId });
    this.closed = true;
    this.channel.close();
  }
}

// The tree-block cache: verified clean blocks by logical address, evicted past a byte cap
// (memory does not grow with the filesystem) with the CLOCK / second-chance policy: a hit only
// sets a referenced bit, so the hot path costs one Map lookup and no reordering. Dirty blocks
// (changed in the running transaction) are held by the transaction, not here, and are never
// evicted before they are written.
import type { ExtentBuffer } from './extent-buffer.js';

export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;

interface Entry {
  eb: ExtentBuffer;
  referenced: boolean;
}

export class BlockCache {
  /** Insertion order is the clock: eviction scans from the oldest entry. */
  private readonly blocks = new Map<number, Entry>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(readonly capBytes: number = DEFAULT_CACHE_BYTES) {}

  get(bytenr: number): ExtentBuffer | undefined {
    const e = this.blocks.get(bytenr);
    if (e === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    e.referenced = true;
    return e.eb;
  }

  put(eb: ExtentBuffer): void {
    const old = this.blocks.get(eb.bytenr);
    if (old) {
      this.blocks.delete(eb.bytenr);
      this.bytes -= old.eb.nodesize;
    }
    this.blocks.set(eb.bytenr, { eb, referenced: false });
    this.bytes += eb.nodesize;
    this.evict();
  }

  private evict(): void {
    // Each round either evicts the oldest entry or gives it a second chance (clearing its bit
    // and moving it to the end); every entry is passed over at most once, so a full scan
    // bounds the loop at 2 x size rounds.
    let rounds = 2 * this.blocks.size;
    while (this.bytes > this.capBytes && this.blocks.size > 1 && rounds-- > 0) {
      const [k, e] = this.blocks.entries().next().value as [number, Entry];
      this.blocks.delete(k);
      if (e.referenced) {
        e.referenced = false;
        this.blocks.set(k, e);
      } else {
        this.bytes -= e.eb.nodesize;
      }
    }
  }

  delete(bytenr: number): void {
    const e = this.blocks.get(bytenr);
    if (e) {
      this.blocks.delete(bytenr);
      this.bytes -= e.eb.nodesize;
    }
  }

  clear(): void {
    this.blocks.clear();
    this.bytes = 0;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  get size(): number {
    return this.blocks.size;
  }
}

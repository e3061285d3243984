// The tree-block cache: verified clean blocks by logical address, least recently used
// evicted past a byte cap, so memory does not grow with the filesystem. Dirty blocks (changed
// in the running transaction) are held by the transaction, not here, and are never evicted
// before they are written.
import type { ExtentBuffer } from './extent-buffer.js';

export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;

export class BlockCache {
  /** Map iteration order is recency: the first entry is the least recently used. */
  private readonly blocks = new Map<number, ExtentBuffer>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(readonly capBytes: number = DEFAULT_CACHE_BYTES) {}

  get(bytenr: number): ExtentBuffer | undefined {
    const eb = this.blocks.get(bytenr);
    if (eb === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // Move to the most recent end.
    this.blocks.delete(bytenr);
    this.blocks.set(bytenr, eb);
    return eb;
  }

  put(eb: ExtentBuffer): void {
    const old = this.blocks.get(eb.bytenr);
    if (old) {
      this.blocks.delete(eb.bytenr);
      this.bytes -= old.nodesize;
    }
    this.blocks.set(eb.bytenr, eb);
    this.bytes += eb.nodesize;
    // Bounded: each round removes one entry.
    while (this.bytes > this.capBytes && this.blocks.size > 1) {
      const [k, v] = this.blocks.entries().next().value as [number, ExtentBuffer];
      this.blocks.delete(k);
      this.bytes -= v.nodesize;
    }
  }

  delete(bytenr: number): void {
    const eb = this.blocks.get(bytenr);
    if (eb) {
      this.blocks.delete(bytenr);
      this.bytes -= eb.nodesize;
    }
  }

  clear(): void {
    this.blocks.clear();
    this.bytes = 0;
  }

  get sizeBytes(): number {
    return this.bytes;
  }
}

// A TreeHost over a Map<bytenr, ExtentBuffer>, for tests of the COW B-tree (ctree.ts).
//
// It plays the parts the filesystem plays for real, strictly enough to catch tree bugs:
//  * allocation: a counter, bytenrs never reused, so a stale pointer can never alias;
//  * reads: every readBlock checks the parent's expectations (generation, level, owner,
//    first key) and runs checkLeaf / checkNode; reading a freed block is an error;
//  * transactions: `commit()` marks every live block WRITTEN (header flag bit 0), records a
//    copy of each newly written block, and bumps transid, so the next transaction must COW;
//    it also verifies that no written block changed since it was written (a modification
//    without COW) and that freed blocks were not touched after they were freed;
//  * accounting: live and freed sets, so tests assert no leaks: every reachable block is
//    live, every live block reachable, and allocated = live + freed.
// `verifyTree` walks a whole tree and checks the cross-block invariants of ctree.ts.
import { HEADER_FLAG_WRITTEN, MAX_LEVEL } from '../../src/format/constants.js';
import { Key, compareKeys } from '../../src/format/key.js';
import { ExtentBuffer, initHeader } from '../../src/tree/extent-buffer.js';
import { checkLeaf, checkNode } from '../../src/tree/tree-checker.js';
import type { BlockExpectation, TreeHost, TreeRoot } from '../../src/tree/tree-host.js';
import { FsError } from '../../src/util/errors.js';

export interface MemoryTreeHostOptions {
  /** Return blocks from cachedBlock (unverified fast path) instead of always verifying. */
  cache?: boolean;
  /** First bytenr handed out; must be a multiple of 4096. */
  firstBytenr?: number;
}

export class MemoryTreeHost implements TreeHost {
  transid = 1;
  readonly blocks = new Map<number, ExtentBuffer>();
  readonly live = new Set<number>();
  readonly freed = new Set<number>();
  allocated = 0;
  reads = 0;
  cows = 0;
  readonly fsid = new Uint8Array(16).fill(0xab);
  readonly chunkTreeUuid = new Uint8Array(16).fill(0xcd);
  /** Copies of blocks as they were when written (committed), by bytenr. */
  private readonly writtenImage = new Map<number, Uint8Array>();
  private nextBytenr: number;
  private readonly cache: boolean;

  constructor(readonly nodesize: number, opts: MemoryTreeHostOptions = {}) {
    this.cache = opts.cache ?? false;
    this.nextBytenr = opts.firstBytenr ?? 1 << 20;
  }

  /** A new tree with an empty leaf as root. */
  createTree(objectid: number): TreeRoot {
    return { objectid, node: this.allocBlock(objectid, 0) };
  }

  private verify(bytenr: number, expect: BlockExpectation): ExtentBuffer {
    const eb = this.blocks.get(bytenr);
    if (!eb) throw new FsError('EIO', `read of unknown block ${bytenr}`);
    if (!this.live.has(bytenr)) throw new FsError('EIO', `read of freed block ${bytenr}`);
    if (eb.headerBytenr !== bytenr) throw new FsError('EUCLEAN', `block ${bytenr} header names ${eb.headerBytenr}`);
    if (eb.generation !== expect.generation) {
      throw new FsError('EUCLEAN', `block ${bytenr} generation ${eb.generation}, parent expects ${expect.generation}`);
    }
    if (eb.level !== expect.level) throw new FsError('EUCLEAN', `block ${bytenr} level ${eb.level}, parent expects ${expect.level}`);
    if (expect.owner !== undefined && eb.owner !== expect.owner) {
      throw new FsError('EUCLEAN', `block ${bytenr} owner ${eb.owner}, expected ${expect.owner}`);
    }
    const msg = eb.level === 0 ? checkLeaf(eb, this.nodesize) : checkNode(eb, this.nodesize);
    if (msg) throw new FsError('EUCLEAN', msg);
    if (expect.firstKey) {
      if (eb.nritems === 0) throw new FsError('EUCLEAN', `block ${bytenr} is empty, parent expects first key ${expect.firstKey}`);
      if (!eb.key(0).equals(expect.firstKey)) {
        throw new FsError('EUCLEAN', `block ${bytenr} first key ${eb.key(0)}, parent expects ${expect.firstKey}`);
      }
    }
    return eb;
  }

  async readBlock(bytenr: number, expect: BlockExpectation): Promise<ExtentBuffer> {
    this.reads++;
    return this.verify(bytenr, expect);
  }

  cachedBlock(bytenr: number, _expect: BlockExpectation): ExtentBuffer | undefined {
    if (!this.cache) return undefined;
    const eb = this.blocks.get(bytenr);
    return eb && this.live.has(bytenr) ? eb : undefined;
  }

  allocBlock(owner: number, level: number): ExtentBuffer {
    if (this.transid <= 0) throw new Error('allocBlock outside a transaction');
    if (level < 0 || level >= MAX_LEVEL) throw new Error(`allocBlock level ${level}`);
    const bytenr = this.nextBytenr;
    this.nextBytenr += this.nodesize;
    const eb = new ExtentBuffer(bytenr, new Uint8Array(this.nodesize));
    initHeader(eb, { level, generation: this.transid, owner, fsid: this.fsid, chunkTreeUuid: this.chunkTreeUuid });
    this.blocks.set(bytenr, eb);
    this.live.add(bytenr);
    this.allocated++;
    return eb;
  }

  freeBlock(eb: ExtentBuffer, owner: number): void {
    if (!this.live.has(eb.bytenr)) throw new Error(`double free of block ${eb.bytenr}`);
    if (this.blocks.get(eb.bytenr) !== eb) throw new Error(`free of a stale copy of block ${eb.bytenr}`);
    if (eb.owner !== owner) throw new Error(`free of block ${eb.bytenr} owned by ${eb.owner} as ${owner}`);
    this.live.delete(eb.bytenr);
    this.freed.add(eb.bytenr);
  }

  markDirty(eb: ExtentBuffer): void {
    if (!this.live.has(eb.bytenr)) throw new Error(`markDirty of freed block ${eb.bytenr}`);
    if (eb.written) throw new Error(`markDirty of written block ${eb.bytenr}`);
    if (eb.generation !== this.transid) throw new Error(`markDirty of block ${eb.bytenr} from generation ${eb.generation}`);
  }

  shouldCow(eb: ExtentBuffer, _owner: number): boolean {
    return eb.generation !== this.transid || eb.written;
  }

  onCow(_eb: ExtentBuffer, _cow: ExtentBuffer, _owner: number): void {
    this.cows++;
  }

  /**
   * Ends the transaction: checks written blocks were never modified, forgets blocks freed
   * (their space would be reused now), writes every live block and opens the next one.
   */
  commit(): void {
    this.checkWrittenImages();
    for (const bytenr of [...this.writtenImage.keys()]) {
      if (!this.live.has(bytenr)) {
        this.writtenImage.delete(bytenr);
        this.blocks.delete(bytenr);
      }
    }
    for (const bytenr of this.blocks.keys()) {
      if (!this.live.has(bytenr)) this.blocks.delete(bytenr); // freed in the same transaction
    }
    for (const bytenr of this.live) {
      const eb = this.blocks.get(bytenr)!;
      if (!eb.written) {
        eb.flagsLo = eb.flagsLo | HEADER_FLAG_WRITTEN;
        this.writtenImage.set(bytenr, eb.data.slice());
      }
    }
    this.transid++;
  }

  /** Throws when a block changed after it was written (a modification without COW). */
  checkWrittenImages(): void {
    for (const [bytenr, image] of this.writtenImage) {
      const eb = this.blocks.get(bytenr)!;
      if (!bytesEqual(eb.data, image)) throw new Error(`written block ${bytenr} was modified without COW`);
    }
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

export interface TreeStats {
  items: number;
  leaves: number;
  nodes: number;
  levels: number;
  keys: Key[];
}

/**
 * Walks the whole tree and checks the cross-block invariants (see ctree.ts): keys ascend
 * across leaves, parent keys equal child first keys, ptr generations equal child
 * generations, levels step by one, only the root may be empty, blocks pass the checker;
 * and, when `host` owns only this tree, that reachable blocks are exactly the live ones
 * and allocated = live + freed. Throws with a message naming the problem.
 */
export function verifyTree(host: MemoryTreeHost, root: TreeRoot, opts: { soleTree?: boolean; collectKeys?: boolean } = {}): TreeStats {
  const soleTree = opts.soleTree ?? true;
  const stats: TreeStats = { items: 0, leaves: 0, nodes: 0, levels: root.node.level + 1, keys: [] };
  const reachable = new Set<number>();
  let prev: Key | undefined;
  const fail = (m: string): never => {
    throw new Error(`tree ${root.objectid}: ${m}`);
  };
  const visit = (eb: ExtentBuffer, isRoot: boolean): void => {
    if (reachable.has(eb.bytenr)) fail(`block ${eb.bytenr} reached twice`);
    reachable.add(eb.bytenr);
    if (host.blocks.get(eb.bytenr) !== eb) fail(`block ${eb.bytenr} is not the host's copy`);
    if (!host.live.has(eb.bytenr)) fail(`reachable block ${eb.bytenr} was freed`);
    if (eb.owner !== root.objectid) fail(`block ${eb.bytenr} owner ${eb.owner}`);
    if (eb.generation > host.transid) fail(`block ${eb.bytenr} generation ${eb.generation} > transid ${host.transid}`);
    const msg = eb.level === 0 ? checkLeaf(eb, host.nodesize) : checkNode(eb, host.nodesize);
    if (msg) fail(msg);
    if (eb.level === 0) {
      stats.leaves++;
      if (eb.nritems === 0 && !isRoot) fail(`empty non-root leaf ${eb.bytenr}`);
      for (let i = 0; i < eb.nritems; i++) {
        const k = eb.key(i);
        if (prev && compareKeys(prev, k) >= 0) fail(`key ${k} after ${prev} (leaf ${eb.bytenr} slot ${i})`);
        prev = k;
        stats.items++;
        if (opts.collectKeys) stats.keys.push(k);
      }
      return;
    }
    stats.nodes++;
    for (let i = 0; i < eb.nritems; i++) {
      const child = host.blocks.get(eb.blockptr(i));
      if (!child) fail(`node ${eb.bytenr} slot ${i} points to missing block ${eb.blockptr(i)}`);
      if (child!.level !== eb.level - 1) fail(`child ${child!.bytenr} level ${child!.level} under level ${eb.level}`);
      if (eb.ptrGeneration(i) !== child!.generation) {
        fail(`node ${eb.bytenr} slot ${i} ptr generation ${eb.ptrGeneration(i)} != child generation ${child!.generation}`);
      }
      if (child!.nritems === 0) fail(`node ${eb.bytenr} slot ${i} points to empty block ${child!.bytenr}`);
      if (!eb.key(i).equals(child!.key(0))) fail(`node ${eb.bytenr} slot ${i} key ${eb.key(i)} != child first key ${child!.key(0)}`);
      visit(child!, false);
    }
  };
  if (root.node.level >= MAX_LEVEL) fail(`root level ${root.node.level}`);
  visit(root.node, true);
  if (soleTree) {
    for (const b of host.live) if (!reachable.has(b)) fail(`leaked block ${b} (live, unreachable)`);
    if (host.allocated !== host.live.size + host.freed.size) {
      fail(`allocated ${host.allocated} != live ${host.live.size} + freed ${host.freed.size}`);
    }
  }
  return stats;
}

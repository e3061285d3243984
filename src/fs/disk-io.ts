// Tree block I/O (btrfs disk-io.c): the one read choke point and the writer of dirty blocks.
//
// Every tree block read goes through readTreeBlock: checksum, then the header must name
// itself (bytenr = the address read, fsid), then the generation and level the parent
// expects (and owner / first key when known), then the tree-checker; on any mismatch the
// next copy is tried, and a good copy is written back over the bad ones (read repair).
// When no copy is good the error names the block and every copy's problem: EIO, never a
// wrong answer.
import { ExtentBuffer } from '../tree/extent-buffer.js';
import type { BlockExpectation } from '../tree/tree-host.js';
import { checkLeaf, checkNode } from '../tree/tree-checker.js';
import { checksumInto, checksumMatches } from '../kernels/checksum.js';
import { HEADER_FLAG_WRITTEN, MAX_LEVEL } from '../format/constants.js';
import { FsError } from '../util/errors.js';
import { ownerMatches, type FsInfo } from './fs-info.js';

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Why the copy in `eb` is not the block the parent asked for, or null when it is. */
export function treeBlockProblem(fs: FsInfo, eb: ExtentBuffer, expect: BlockExpectation): string | null {
  const nodesize = fs.nodesize;
  if (!checksumMatches(fs.csum, eb.data, 32, nodesize - 32, eb.data, 0)) return 'checksum mismatch';
  if (eb.headerBytenr !== eb.bytenr) return `header bytenr ${eb.headerBytenr} is not the address read`;
  if (!equalBytes(eb.fsid, fs.metadataFsid)) return 'fsid does not match the filesystem';
  if (eb.level >= MAX_LEVEL) return `level ${eb.level} is too high`;
  if (expect.generation > 0 && eb.generation !== expect.generation) {
    return `parent transid verify failed: wanted ${expect.generation} found ${eb.generation}`;
  }
  if (eb.level !== expect.level) return `level ${eb.level}, expected ${expect.level}`;
  if (expect.owner !== undefined && !ownerMatches(expect.owner, eb.owner)) return `owner ${eb.owner}, expected ${expect.owner}`;
  const structural = eb.level === 0 ? checkLeaf(eb, nodesize) : checkNode(eb, nodesize);
  if (structural) return structural;
  if (expect.firstKey && eb.nritems > 0 && eb.compareKey(0, expect.firstKey) !== 0) {
    return `first key ${eb.key(0)} does not match parent key ${expect.firstKey}`;
  }
  return null;
}

export async function readTreeBlock(fs: FsInfo, bytenr: number, expect: BlockExpectation): Promise<ExtentBuffer> {
  if (bytenr <= 0 || bytenr % fs.sectorsize !== 0) {
    throw new FsError('EUCLEAN', `tree block pointer ${bytenr} is not sector aligned`);
  }
  const copies = fs.volumes.numCopies(bytenr);
  const problems: string[] = [];
  const bad: number[] = [];
  for (let mirror = 1; mirror <= copies; mirror++) {
    let data: Uint8Array;
    try {
      data = await fs.volumes.readLogical(bytenr, fs.nodesize, mirror);
    } catch (e) {
      if (!(e instanceof FsError)) throw e;
      problems.push(`copy ${mirror}: ${e.message}`);
      bad.push(mirror);
      continue;
    }
    fs.stats.treeBlockReads++;
    const eb = new ExtentBuffer(bytenr, data);
    const p = treeBlockProblem(fs, eb, expect);
    if (p) {
      if (p === 'checksum mismatch') fs.stats.csumErrors++;
      problems.push(`copy ${mirror}: ${p}`);
      bad.push(mirror);
      continue;
    }
    if (bad.length > 0 && !fs.readonly) {
      // Read repair: rewrite the copies that failed with the good one (btrfs repair_eb_io_failure).
      for (const m of bad) await fs.volumes.writeLogicalCopy(bytenr, eb.data, m);
      fs.stats.treeBlockRepairs += bad.length;
    }
    return eb;
  }
  throw new FsError('EIO', `tree block ${bytenr} (level ${expect.level}, generation ${expect.generation}) is bad in every copy: ${problems.join('; ')}`);
}

/** Most tree blocks one device write of a commit carries (512 blocks of 16 KiB: 8 MiB). */
const MAX_RUN_BLOCKS = 512;

/** Finalizes and writes every dirty block of the running transaction (btrfs_write_and_wait_transaction). */
export async function writeDirtyBlocks(fs: FsInfo): Promise<number> {
  const blocks = [...fs.dirty.values()].sort((a, b) => a.bytenr - b.bytenr);
  for (const eb of blocks) {
    eb.flagsLo = eb.flagsLo | HEADER_FLAG_WRITTEN;
    const structural = eb.level === 0 ? checkLeaf(eb, fs.nodesize) : checkNode(eb, fs.nodesize);
    if (structural) throw new FsError('EUCLEAN', `refusing to write corrupt tree block ${eb.bytenr}: ${structural}`);
    eb.data.fill(0, 0, 32);
    checksumInto(fs.csum, eb.data, 32, fs.nodesize - 32, eb.data, 0);
  }
  // Blocks at consecutive addresses (the allocator hands them out in order) go to the devices
  // in one write each run, as btrfs's writeback submits contiguous pages in one bio: a commit
  // of a thousand leaves is a few device writes, not a thousand (each an OPFS call).
  const runs: { start: number; data: Uint8Array }[] = [];
  for (let i = 0; i < blocks.length; ) {
    let j = i + 1;
    while (j < blocks.length && j - i < MAX_RUN_BLOCKS && blocks[j].bytenr === blocks[j - 1].bytenr + fs.nodesize) j++;
    if (j === i + 1) {
      runs.push({ start: blocks[i].bytenr, data: blocks[i].data });
    } else {
      const data = new Uint8Array((j - i) * fs.nodesize);
      for (let k = i; k < j; k++) data.set(blocks[k].data, (k - i) * fs.nodesize);
      runs.push({ start: blocks[i].bytenr, data });
    }
    i = j;
  }
  // Bounded concurrency keeps memory and device queues in check.
  const INFLIGHT = 16;
  for (let i = 0; i < runs.length; i += INFLIGHT) {
    await Promise.all(runs.slice(i, i + INFLIGHT).map((r) => fs.volumes.writeLogical(r.start, r.data)));
  }
  for (const eb of blocks) fs.cache.put(eb);
  fs.dirty.clear();
  return blocks.length;
}

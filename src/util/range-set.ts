// A set of disjoint half-open integer ranges [start, end), kept sorted and merged. Used for
// free space and pinned extents. Operations are O(log n) search plus an array splice.
import { assert } from './assert.js';

export class RangeSet {
  /** Flat sorted pairs: starts[i] < ends[i] <= starts[i+1]. Adjacent ranges are merged. */
  private starts: number[] = [];
  private ends: number[] = [];

  get count(): number {
    return this.starts.length;
  }

  /** Total bytes covered. */
  total(): number {
    let t = 0;
    for (let i = 0; i < this.starts.length; i++) t += this.ends[i] - this.starts[i];
    return t;
  }

  /** Index of the first range whose end is > pos. */
  private firstEndingAfter(pos: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid] <= pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Adds [start, start+len); it must not overlap what is there (assertion). */
  add(start: number, len: number): void {
    if (len <= 0) return;
    const end = start + len;
    const i = this.firstEndingAfter(start - 1); // first range with end >= start (may touch)
    if (i < this.starts.length) assert(this.starts[i] >= end || this.ends[i] <= start, `range [${start},${end}) overlaps [${this.starts[i]},${this.ends[i]})`);
    const mergeLeft = i < this.starts.length && this.ends[i] === start;
    const j = mergeLeft ? i + 1 : i;
    const mergeRight = j < this.starts.length && this.starts[j] === end;
    if (j < this.starts.length) assert(this.starts[j] >= end, `range [${start},${end}) overlaps [${this.starts[j]},${this.ends[j]})`);
    if (mergeLeft && mergeRight) {
      this.ends[i] = this.ends[j];
      this.starts.splice(j, 1);
      this.ends.splice(j, 1);
    } else if (mergeLeft) {
      this.ends[i] = end;
    } else if (mergeRight) {
      this.starts[j] = start;
    } else {
      this.starts.splice(j, 0, start);
      this.ends.splice(j, 0, end);
    }
  }

  /** Removes [start, start+len), which must be wholly inside one range (assertion). */
  remove(start: number, len: number): void {
    if (len <= 0) return;
    const end = start + len;
    const i = this.firstEndingAfter(start);
    assert(i < this.starts.length && this.starts[i] <= start && this.ends[i] >= end, `range [${start},${end}) is not in the set`);
    const s = this.starts[i];
    const e = this.ends[i];
    if (s === start && e === end) {
      this.starts.splice(i, 1);
      this.ends.splice(i, 1);
    } else if (s === start) {
      this.starts[i] = end;
    } else if (e === end) {
      this.ends[i] = start;
    } else {
      this.ends[i] = start;
      this.starts.splice(i + 1, 0, end);
      this.ends.splice(i + 1, 0, e);
    }
  }

  /** Removes whatever part of [start, start+len) is in the set. */
  removeAny(start: number, len: number): void {
    const end = start + len;
    // Bounded: each round removes or trims one range.
    for (;;) {
      const i = this.firstEndingAfter(start);
      if (i >= this.starts.length || this.starts[i] >= end) return;
      const s = Math.max(this.starts[i], start);
      const e = Math.min(this.ends[i], end);
      this.remove(s, e - s);
    }
  }

  contains(start: number, len: number): boolean {
    const i = this.firstEndingAfter(start);
    return i < this.starts.length && this.starts[i] <= start && this.ends[i] >= start + len;
  }

  /** Whether any byte of [start, start+len) is in the set. */
  intersects(start: number, len: number): boolean {
    const i = this.firstEndingAfter(start);
    return i < this.starts.length && this.starts[i] < start + len;
  }

  /** First start >= from, aligned to `align`, with len bytes free; -1 when none. */
  findFree(len: number, align: number, from = 0): number {
    for (let i = this.firstEndingAfter(from); i < this.starts.length; i++) {
      const s = Math.ceil(Math.max(this.starts[i], from) / align) * align;
      if (s + len <= this.ends[i]) return s;
    }
    return -1;
  }

  /** The range containing `pos`, as [start, length], or undefined. */
  containing(pos: number): [number, number] | undefined {
    const i = this.firstEndingAfter(pos);
    if (i < this.starts.length && this.starts[i] <= pos) return [this.starts[i], this.ends[i] - this.starts[i]];
    return undefined;
  }

  /** The range ending exactly at `pos`, as [start, length], or undefined. */
  endingAt(pos: number): [number, number] | undefined {
    const i = this.firstEndingAfter(pos - 1);
    if (i < this.starts.length && this.ends[i] === pos) return [this.starts[i], this.ends[i] - this.starts[i]];
    return undefined;
  }

  /** The range starting exactly at `pos`, as [start, length], or undefined. */
  startingAt(pos: number): [number, number] | undefined {
    const i = this.firstEndingAfter(pos);
    if (i < this.starts.length && this.starts[i] === pos) return [this.starts[i], this.ends[i] - this.starts[i]];
    return undefined;
  }

  *ranges(): Generator<[number, number]> {
    for (let i = 0; i < this.starts.length; i++) yield [this.starts[i], this.ends[i] - this.starts[i]];
  }

  clear(): void {
    this.starts = [];
    this.ends = [];
  }
}

// A compression corpus made in the test, the same in Node and the browser: text, JSON,
// source code, already-compressed bytes, zeros and random bytes, at the sizes where
// the btrfs rules change (empty, one byte, around a sector, around the 128 KiB extent).
import { zlibSync } from 'fflate';

export const EXTENT_BYTES = 128 * 1024;
export const SIZES = [0, 1, 4095, 4096, 4097, EXTENT_BYTES - 1, EXTENT_BYTES] as const;

export function pseudoRandom(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

function repeatTo(len: number, unit: Uint8Array): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i += unit.length) out.set(unit.subarray(0, Math.min(unit.length, len - i)), i);
  return out;
}

const WORDS = ('the copy on write filesystem keeps every block checksummed and writes new trees ' +
  'before the superblock names them so a crash leaves either the old or the new generation ' +
  'extent inode subvolume snapshot chunk stripe device balance scrub').split(' ');

function text(len: number): Uint8Array {
  const next = pseudoRandom(len + 16, 11);
  let s = '';
  for (let i = 0; s.length < len; i++) s += WORDS[next[i % next.length]! % WORDS.length] + (i % 13 === 12 ? '.\n' : ' ');
  return new TextEncoder().encode(s.slice(0, len));
}

function json(len: number): Uint8Array {
  const rows = [];
  for (let i = 0; rows.length * 60 < len + 60; i++) {
    rows.push({ ino: 256 + i, size: (i * 7919) % 100000, mode: '0100644', name: `file-${i}.txt`, flags: i % 3 ? [] : ['nocow'] });
  }
  return new TextEncoder().encode(JSON.stringify(rows, null, 1)).slice(0, len);
}

const SOURCE_UNIT = new TextEncoder().encode(`
export function searchSlot(leaf: Leaf, key: Key): { slot: number; found: boolean } {
  let lo = 0;
  let hi = leaf.nritems;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareKeys(leaf.keyAt(mid), key);
    if (c === 0) return { slot: mid, found: true };
    if (c < 0) lo = mid + 1; else hi = mid;
  }
  return { slot: lo, found: false };
}
`);

function source(len: number): Uint8Array {
  // Source with small variations so it is not one repeated unit.
  const out = repeatTo(len, SOURCE_UNIT);
  const noise = pseudoRandom(len, 5);
  for (let i = 0; i < len; i += 97) out[i] = 0x61 + (noise[i]! % 26);
  return out;
}

function compressed(len: number): Uint8Array {
  // Deflate output of random-ish text: high entropy, like a .gz or .jpg.
  const z = zlibSync(pseudoRandom(len * 2 + 64, 3).map((b) => 0x20 + (b % 90)), { level: 9 });
  return repeatTo(len, z.length ? z : new Uint8Array(1));
}

export interface CorpusEntry { readonly name: string; readonly data: Uint8Array }

export const KINDS: Record<string, (len: number) => Uint8Array> = {
  text,
  json,
  source,
  compressed,
  zeros: (len) => new Uint8Array(len),
  random: (len) => pseudoRandom(len, 99),
};

/** Every kind at every size. */
export function corpus(sizes: readonly number[] = SIZES): CorpusEntry[] {
  const out: CorpusEntry[] = [];
  for (const [kind, make] of Object.entries(KINDS)) {
    for (const size of sizes) out.push({ name: `${kind}/${size}`, data: make(size) });
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

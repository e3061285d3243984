// The seeded PRNG the randomized tests share (mulberry32): a seed in every failure message
// replays the run.
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A u64 in butterfs's number form with the edges well represented: 0, values just below 2^53,
 * the negative form of values near 2^64, and ordinary ones (the encoder tests).
 */
export function edgyU64(r: () => number): number {
  const k = r();
  if (k < 0.2) return 0;
  if (k < 0.4) return Number.MAX_SAFE_INTEGER - Math.floor(r() * 1000);
  if (k < 0.5) return -1 - Math.floor(r() * 1e12); // number form of u64 near 2^64
  return Math.floor(r() * 2 ** 40);
}

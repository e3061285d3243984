// LZO1X compression and btrfs's LZO extent framing (fs/btrfs/lzo.c) for butterfs.
//
// Owns: an LZO1X-1-style compressor (greedy, one 4-byte hash probe per position), a
// bounds-checked LZO1X decompressor, and the btrfs framing around both, one call per
// extent (up to 128 KiB of input), so JS crosses into wasm once per extent.
//
// The LZO1X stream format (as Linux's Documentation/staging/lzo.rst describes it),
// written here from that description. Instructions, with `state` the number of literals
// the previous instruction copied (0, 1-3, or 4 after a literal run):
//   0000LLLL  state 0: literal run of 3+L bytes (L = 0: 18 + 255 * zero bytes + next)
//             state 1-3: 2-byte match, distance 1 + (next << 2) + (LLLL >> 2)
//             state 4:   3-byte match, distance 2049 + (next << 2) + (LLLL >> 2)
//   0001HLLL  match of 2+L (L = 0: 9 + 255 * zeros + next), then le16 DDDD..SS:
//             distance 16384 + (H << 14) + D; distance exactly 16384 ends the stream
//   001LLLLL  match of 2+L (L = 0: 33 + 255 * zeros + next), then le16: distance 1 + D
//   01LDDDSS  match of 3+L, distance 1 + DDD + (next << 3)
//   1LLDDDSS  match of 5+LL, distance 1 + DDD + (next << 3)
// SS (low bits of the last instruction byte) is a count of 0-3 literals that follow.
// A first byte above 17 is a literal run of byte - 17. Streams end with 0x11 0x00 0x00.
// The compressor never emits the 2- and 3-byte matches, never starts a stream with 17
// (Linux reads that as the LZO-RLE version marker) and uses only distances < 49152.
//
// btrfs framing, per lzo.c: le32 total length (including itself), then one segment per
// sector of input: le32 compressed length + LZO1X data. A segment header never crosses
// a sector boundary: when fewer than 4 bytes are left in a sector after a segment, they
// are zero padding. The kernel gives up (E2BIG) when output would not fit in as many
// pages as the input has (at most 128 KiB), or when after more than two sectors the
// output is longer than the input read so far. PAGE_SIZE is taken equal to the sector
// size, as it is on every machine where Linux mounts that sector size natively.
//
// Memory layout: the hash table is static; input and output live from inputBase() up,
// placed by the JS side (src/kernels/lzo.ts). No imports, no allocator.

/** Return codes, Linux's LZO_E_* plus the btrfs-level ones. */
const LZO_E_OK: i32 = 0;
const LZO_E_ERROR: i32 = -1;
const LZO_E_INPUT_OVERRUN: i32 = -4;
const LZO_E_OUTPUT_OVERRUN: i32 = -5;
const LZO_E_LOOKBEHIND_OVERRUN: i32 = -6;
const LZO_E_INPUT_NOT_CONSUMED: i32 = -8;
/** Compression would not pay (btrfs's -E2BIG). */
export const BTRFS_E2BIG: i32 = -7;
/** The btrfs framing is corrupt (header length, segment length, truncation). */
export const BTRFS_EUCLEAN: i32 = -117;

const LZO_LEN: u32 = 4;
const BTRFS_MAX_COMPRESSED: u32 = 128 * 1024;

const M2_MAX_LEN: u32 = 8;
const M2_MAX_OFFSET: u32 = 0x0800;
const M3_MAX_LEN: u32 = 33;
const M3_MAX_OFFSET: u32 = 0x4000;
const M4_MAX_LEN: u32 = 9;
const M4_MAX_OFFSET: u32 = 0xbfff;
const MIN_MATCH: u32 = 4;

/**
 * The hash table: 2^D_BITS u32 entries, each the address where the 4 bytes hashing there
 * last occurred in this call (0 after the reset: never a candidate, as input lies above
 * the static data). An entry names a candidate only: it counts when it lies inside the
 * current segment and at most M4_MAX_OFFSET back, and then the 4 bytes there are
 * compared, so an entry from an earlier segment is ignored and a collision can only cost
 * a match, never make a wrong one. The reset per call keeps output deterministic.
 *
 * Linux's lzo1x_1 keeps u16 offsets in an 8192-entry table (16 KiB); addresses take
 * twice that but put the candidate one load away instead of three ALU steps behind it,
 * on the chain every match waits for: ~8% faster on the text corpus, same output.
 */
const D_BITS: u32 = 13;
const D_SIZE: u32 = 1 << D_BITS;
const DICT: usize = memory.data(<i32>(D_SIZE * 4), 64);

/**
 * Literals are copied 16 bytes at a time (v128), so a copy may write up to this many
 * bytes past its end, into output that is written later or lies past the returned
 * length, and read as many past the end of the input (the output area follows it, so
 * they are addressable). The JS side gives the output this much room on top of the
 * format's bound.
 */
const WILD_COPY_SLACK: u32 = 16;

/** lzo1x_worst_compress(x): x + x/16 + 64 + 3. */
@inline function worstCompress(x: u32): u32 {
  return x + (x >> 4) + 64 + 3;
}

@inline function hash4(v: u32): u32 {
  return (v * 0x1824429d) >>> (32 - D_BITS);
}

/** Copies t (> 0) bytes from s to d in 16-byte steps: overshoots both by up to 15. */
@inline function wildCopy(d: usize, s: usize, t: u32): void {
  const e = d + t;
  do {
    v128.store(d, v128.load(s));
    d += 16;
    s += 16;
  } while (d < e);
}

/**
 * Emits t literals from src at op; returns the new op. `first` is op == segment start.
 * The common cases (after a match, t <= 18) take no loop and no call to memory.copy
 * (which V8 makes out of line): t = 0 ORs 0 into the match and copies 16 bytes that
 * later output overwrites.
 */
@inline function emitLiterals(op: usize, first: bool, src: usize, t: u32): usize {
  if (!first) {
    if (t <= 3) {
      // Into the SS bits of the previous match instruction.
      store<u8>(op - 2, load<u8>(op - 2) | <u8>t);
      v128.store(op, v128.load(src));
      return op + t;
    }
    if (t <= 18) {
      store<u8>(op, <u8>(t - 3));
      wildCopy(op + 1, src, t);
      return op + 1 + t;
    }
  }
  return emitLiteralsSlow(op, first, src, t);
}

/** emitLiterals for a stream's first run and for runs over 18 bytes. */
@inline function emitLiteralsSlow(op: usize, first: bool, src: usize, t: u32): usize {
  if (t == 0) return op;
  if (first && t <= 238) {
    store<u8>(op++, <u8>(17 + t));
  } else {
    // t > 18 here: a first run over 238 bytes, or a later run over 18.
    let tt = t - 18;
    store<u8>(op++, 0);
    while (tt > 255) {
      tt -= 255;
      store<u8>(op++, 0);
    }
    store<u8>(op++, <u8>tt);
  }
  wildCopy(op, src, t);
  return op + t;
}

@inline function emitZerosAndLength(op: usize, rest: u32): usize {
  while (rest > 255) {
    rest -= 255;
    store<u8>(op++, 0);
  }
  store<u8>(op++, <u8>rest);
  return op;
}

/**
 * Emits a match of mLen (>= 4) at distance mOff (1..M4_MAX_OFFSET); returns the new op.
 * The common M2 and M3 forms (every match of a 4 KiB segment up to 33 bytes) are one
 * 4-byte store picked without a branch; the 1-2 bytes past them are overwritten later.
 */
@inline function emitMatch(op: usize, mLen: u32, mOff: u32): usize {
  if (mLen <= M3_MAX_LEN && mOff <= M3_MAX_OFFSET) {
    const d = mOff - 1;
    // M2: 1LLDDDSS or 01LDDDSS, then HHHHHHHH. M3: 001LLLLL, then le16 DDDDDDDDDDDDDDSS.
    const m2 = ((mLen - 1) << 5) | ((d & 7) << 2) | ((d >> 3) << 8);
    const m3 = (32 | (mLen - 2)) | (d << 10);
    const isM2 = <u32>(mLen <= M2_MAX_LEN) & <u32>(mOff <= M2_MAX_OFFSET);
    store<u32>(op, select<u32>(m2, m3, isM2 != 0));
    return op + 3 - isM2;
  }
  return emitMatchSlow(op, mLen, mOff);
}

/** emitMatch for matches over 33 bytes or farther than 16 KiB. */
function emitMatchSlow(op: usize, mLen: u32, mOff: u32): usize {
  if (mLen <= M2_MAX_LEN && mOff <= M2_MAX_OFFSET) {
    const d = mOff - 1;
    store<u16>(op, <u16>((((mLen - 1) << 5) | ((d & 7) << 2)) | ((d >> 3) << 8)));
    return op + 2;
  }
  let d: u32;
  if (mOff <= M3_MAX_OFFSET) {
    d = mOff - 1;
    if (mLen <= M3_MAX_LEN) {
      store<u8>(op++, <u8>(32 | (mLen - 2)));
    } else {
      store<u8>(op++, 32);
      op = emitZerosAndLength(op, mLen - M3_MAX_LEN);
    }
  } else {
    d = mOff - 0x4000;
    if (mLen <= M4_MAX_LEN) {
      store<u8>(op++, <u8>(16 | ((d >> 11) & 8) | (mLen - 2)));
    } else {
      store<u8>(op++, <u8>(16 | ((d >> 11) & 8)));
      op = emitZerosAndLength(op, mLen - M4_MAX_LEN);
    }
  }
  store<u16>(op, <u16>(d << 2));
  return op + 2;
}

/**
 * LZO1X-compresses n bytes at src to dst (room for worstCompress(n) + WILD_COPY_SLACK
 * bytes) and returns the compressed length. DICT entries below src (earlier segments of
 * the extent) are ignored.
 */
function compressBlock(src: usize, n: u32, dst: usize): u32 {
  let op = dst;
  let ii = src; // first pending literal
  const end = src + n;
  if (n > 20) {
    // The last match may not start past end - MIN_MATCH, so the 4-byte loads stay
    // inside the block.
    const ipLimit = end - MIN_MATCH;
    let ip = src;
    while (ip < ipLimit) {
      const v = load<u32>(ip);
      const slot = DICT + (<usize>hash4(v) << 2);
      const m = <usize>load<u32>(slot);
      store<u32>(slot, <u32>ip);
      const mOff = <u32>(ip - m);
      // A candidate: inside this segment (every entry lies below ip) and within reach.
      if ((<u32>(m >= src) & <u32>(mOff <= M4_MAX_OFFSET)) != 0) {
        if (load<u32>(m) == v) {
          // The first difference is the lowest set bit of an 8-byte xor (little-endian).
          // Bytes 4-19 are two independent compares merged by a select: most matches end
          // in the first 8, but not predictably enough for a branch. Longer matches go on
          // 8 bytes at a time, and the last < 8 bytes of the block byte by byte.
          let mLen = MIN_MATCH;
          const maxLen = <u32>(end - ip);
          if (maxLen >= 20) {
            const x1 = load<u64>(m + 4) ^ load<u64>(ip + 4);
            const x2 = load<u64>(m + 12) ^ load<u64>(ip + 12);
            mLen = select<u32>(4 + (<u32>ctz(x1) >> 3), 12 + (<u32>ctz(x2) >> 3), x1 != 0);
          }
          if (mLen == 20 || maxLen < 20) {
            for (;;) {
              if (mLen + 8 > maxLen) {
                mLen = matchTail(m, ip, mLen, maxLen);
                break;
              }
              const x = load<u64>(m + mLen) ^ load<u64>(ip + mLen);
              if (x != 0) {
                mLen += <u32>ctz(x) >> 3;
                break;
              }
              mLen += 8;
            }
          }
          op = emitLiterals(op, op == dst, ii, <u32>(ip - ii));
          op = emitMatch(op, mLen, mOff);
          ip += mLen;
          ii = ip;
          continue;
        }
      }
      // Skip faster through data that does not match, as LZO1X-1 does.
      ip += 1 + ((ip - ii) >> 5);
    }
  }
  op = emitLiterals(op, op == dst, ii, <u32>(end - ii));
  // End of stream: M4 with distance 16384 (D = 0), length 3.
  store<u8>(op++, 0x11);
  store<u16>(op, 0);
  op += 2;
  return <u32>(op - dst);
}

/** The match at m for ip extended byte by byte from mLen up to maxLen. */
function matchTail(m: usize, ip: usize, mLen: u32, maxLen: u32): u32 {
  while (mLen < maxLen && load<u8>(m + mLen) == load<u8>(ip + mLen)) mLen++;
  return mLen;
}

/** Raw LZO1X compression of n bytes at src into dst (worstCompress(n) + WILD_COPY_SLACK bytes of room). */
export function lzo1xCompress(src: usize, n: u32, dst: usize): u32 {
  memory.fill(DICT, 0, D_SIZE * 4);
  return compressBlock(src, n, dst);
}

/**
 * Bounds-checked LZO1X decompression of inLen bytes at src into at most outCap bytes at
 * dst (Linux lzo1x_decompress_safe semantics, including its return codes). Returns the
 * decompressed length, or a negative LZO_E_* code.
 */
export function lzo1xDecompress(src: usize, inLen: u32, dst: usize, outCap: u32): i32 {
  const ipEnd = src + inLen;
  const opEnd = dst + outCap;
  let ip = src;
  let op = dst;
  let t: u32 = 0;
  let next: u32 = 0;
  let state: u32 = 0;
  if (inLen < 3) return LZO_E_INPUT_OVERRUN;
  if (inLen >= 5 && load<u8>(ip) == 17) {
    // Linux reads a leading 17 as a bitstream version marker (1 is zram's LZO-RLE,
    // which btrfs never writes). Version 0 is plain LZO1X and decodes on; anything
    // else is refused, where Linux would decode RLE runs we do not implement.
    if (load<u8>(ip, 1) != 0) return LZO_E_ERROR;
    ip += 2;
  }
  const b = <u32>load<u8>(ip);
  if (b > 17) {
    ip++;
    t = b - 17;
    if (t < 4) {
      next = t;
      // Copy the literals of match_next below.
      if (<usize>t > opEnd - op) return LZO_E_OUTPUT_OVERRUN;
      if (<usize>(t + 1) > ipEnd - ip) return LZO_E_INPUT_OVERRUN;
      memory.copy(op, ip, t);
      op += t;
      ip += t;
      state = next;
    } else {
      if (<usize>t > opEnd - op) return LZO_E_OUTPUT_OVERRUN;
      if (<usize>(t + 3) > ipEnd - ip) return LZO_E_INPUT_OVERRUN;
      memory.copy(op, ip, t);
      op += t;
      ip += t;
      state = 4;
    }
  }
  for (;;) {
    if (ip >= ipEnd) return LZO_E_INPUT_OVERRUN;
    t = <u32>load<u8>(ip++);
    let mPos: usize;
    if (t < 16) {
      if (state == 0) {
        // Literal run.
        if (t == 0) {
          const ipLast = ip;
          while (ip < ipEnd && load<u8>(ip) == 0) ip++;
          if (ip >= ipEnd) return LZO_E_INPUT_OVERRUN;
          const zeros = <u32>(ip - ipLast);
          t = 15 + zeros * 255 + <u32>load<u8>(ip++);
        }
        t += 3;
        if (<usize>t > opEnd - op) return LZO_E_OUTPUT_OVERRUN;
        if (<usize>(t + 3) > ipEnd - ip) return LZO_E_INPUT_OVERRUN;
        copyLiterals(op, ip, t, opEnd, ipEnd);
        op += t;
        ip += t;
        state = 4;
        continue;
      }
      if (ip >= ipEnd) return LZO_E_INPUT_OVERRUN;
      next = t & 3;
      if (state != 4) {
        // 2-byte match, distance 1..1024.
        const dist: usize = 1 + (<usize>t >> 2) + (<usize>load<u8>(ip++) << 2);
        if (dist > op - dst) return LZO_E_LOOKBEHIND_OVERRUN;
        mPos = op - dist;
        t = 2;
      } else {
        // 3-byte match, distance 2049..3072.
        const dist: usize = 1 + <usize>M2_MAX_OFFSET + (<usize>t >> 2) + (<usize>load<u8>(ip++) << 2);
        if (dist > op - dst) return LZO_E_LOOKBEHIND_OVERRUN;
        mPos = op - dist;
        t = 3;
      }
    } else if (t >= 64) {
      if (ip >= ipEnd) return LZO_E_INPUT_OVERRUN;
      next = t & 3;
      const dist: usize = 1 + ((<usize>t >> 2) & 7) + (<usize>load<u8>(ip++) << 3);
      if (dist > op - dst) return LZO_E_LOOKBEHIND_OVERRUN;
      mPos = op - dist;
      t = (t >> 5) + 1;
    } else if (t >= 32) {
      t = (t & 31) + 2;
      if (t == 2) {
        const ipLast = ip;
        while (ip < ipEnd && load<u8>(ip) == 0) ip++;
        if (ip >= ipEnd) return LZO_E_INPUT_OVERRUN;
        const zeros = <u32>(ip - ipLast);
        t += 31 + zeros * 255 + <u32>load<u8>(ip++);
      }
      if (<usize>2 > ipEnd - ip) return LZO_E_INPUT_OVERRUN;
      const word = <u32>load<u16>(ip);
      ip += 2;
      next = word & 3;
      const dist: usize = 1 + (<usize>word >> 2);
      if (dist > op - dst) return LZO_E_LOOKBEHIND_OVERRUN;
      mPos = op - dist;
    } else {
      // 16..31: M4, or the end of the stream.
      const high = (<usize>(t & 8)) << 11;
      t = (t & 7) + 2;
      if (t == 2) {
        const ipLast = ip;
        while (ip < ipEnd && load<u8>(ip) == 0) ip++;
        if (ip >= ipEnd) return LZO_E_INPUT_OVERRUN;
        const zeros = <u32>(ip - ipLast);
        t += 7 + zeros * 255 + <u32>load<u8>(ip++);
      }
      if (<usize>2 > ipEnd - ip) return LZO_E_INPUT_OVERRUN;
      const word = <u32>load<u16>(ip);
      ip += 2;
      next = word & 3;
      const dist = high + (<usize>word >> 2);
      if (dist == 0) {
        // End of stream; Linux's final checks.
        if (t != 3) return LZO_E_ERROR;
        if (ip == ipEnd) return <i32>(op - dst);
        return ip < ipEnd ? LZO_E_INPUT_NOT_CONSUMED : LZO_E_INPUT_OVERRUN;
      }
      const full = dist + 0x4000;
      if (full > op - dst) return LZO_E_LOOKBEHIND_OVERRUN;
      mPos = op - full;
    }
    // Copy the match (may overlap its own output when the distance is short).
    if (<usize>t > opEnd - op) return LZO_E_OUTPUT_OVERRUN;
    if (op - mPos >= 16 && opEnd - op >= <usize>(t + 15)) {
      // Each 16-byte step reads bytes written before it; the overshoot stays below opEnd.
      wildCopy(op, mPos, t);
      op += t;
    } else {
      // The bytes from mPos on repeat with period op - mPos, so the span that is already
      // written can be copied whole, doubling each time (runs of one byte are common).
      while (t > 0) {
        let n = <u32>(op - mPos);
        if (n > t) n = t;
        memory.copy(op, mPos, n);
        op += n;
        t -= n;
      }
    }
    // match_next: 0-3 trailing literals.
    state = next;
    if (next > 0) {
      if (<usize>next > opEnd - op) return LZO_E_OUTPUT_OVERRUN;
      if (<usize>(next + 3) > ipEnd - ip) return LZO_E_INPUT_OVERRUN;
      if (opEnd - op >= 4) {
        // The 4-byte copy stays inside both buffers (next + 3 bytes of input are left).
        store<u32>(op, load<u32>(ip));
      } else {
        memory.copy(op, ip, next);
      }
      op += next;
      ip += next;
    }
  }
  return LZO_E_OK; // not reached
}

/**
 * The decompressor's literal copy, t bytes from ip to op, both already checked to fit:
 * 16 bytes at a time where both buffers have room for the overshoot, else exactly.
 */
@inline function copyLiterals(op: usize, ip: usize, t: u32, opEnd: usize, ipEnd: usize): void {
  if (opEnd - op >= <usize>(t + 15) && ipEnd - ip >= <usize>(t + 15)) {
    wildCopy(op, ip, t);
  } else {
    memory.copy(op, ip, t);
  }
}

@inline function readLe32(p: usize): u32 {
  return <u32>load<u8>(p) | (<u32>load<u8>(p, 1) << 8) | (<u32>load<u8>(p, 2) << 16) | (<u32>load<u8>(p, 3) << 24);
}

@inline function writeLe32(p: usize, v: u32): void {
  store<u8>(p, <u8>v);
  store<u8>(p, <u8>(v >> 8), 1);
  store<u8>(p, <u8>(v >> 16), 2);
  store<u8>(p, <u8>(v >> 24), 3);
}

/** Output room the JS side must give lzo1xCompress for n bytes of input. */
export function lzo1xCompressBound(n: u32): u32 {
  return worstCompress(n) + WILD_COPY_SLACK;
}

/** Output room the JS side must give lzoCompressExtent for inLen bytes of input. */
export function lzoCompressBound(inLen: u32, sectorSize: u32): u32 {
  return outputCap(inLen, sectorSize) + LZO_LEN + worstCompress(sectorSize) + LZO_LEN + WILD_COPY_SLACK;
}

/** min(pages of input, BTRFS_MAX_COMPRESSED_PAGES) pages: the most the kernel writes. */
@inline function outputCap(inLen: u32, sectorSize: u32): u32 {
  const pages = (inLen + sectorSize - 1) / sectorSize;
  const maxPages = BTRFS_MAX_COMPRESSED / sectorSize;
  return (pages < maxPages ? pages : maxPages) * sectorSize;
}

/**
 * btrfs lzo_compress_folios: inLen (1..128 KiB) bytes at src into the framed format at
 * dst (lzoCompressBound bytes of room). Returns the framed length, or BTRFS_E2BIG when
 * the kernel would give up.
 */
export function lzoCompressExtent(src: usize, inLen: u32, dst: usize, sectorSize: u32): i32 {
  const cap = outputCap(inLen, sectorSize);
  memory.fill(DICT, 0, D_SIZE * 4);
  let curOut: u32 = LZO_LEN;
  let curIn: u32 = 0;
  while (curIn < inLen) {
    const sectorOff = curIn & (sectorSize - 1);
    const remaining = inLen - curIn;
    const inLenSeg = remaining < sectorSize - sectorOff ? remaining : sectorSize - sectorOff;
    // copy_compressed_data_to_page: the header and every byte must land below cap.
    if (curOut >= cap) return BTRFS_E2BIG;
    // Compressed in place after the segment header: the framing's bytes are contiguous,
    // the kernel's copy loop only splits them across pages.
    const outLen = compressBlock(src + curIn, inLenSeg, dst + curOut + LZO_LEN);
    writeLe32(dst + curOut, outLen);
    curOut += LZO_LEN + outLen;
    if (curOut > cap) return BTRFS_E2BIG;
    const sectorBytesLeft = ((curOut + sectorSize - 1) & ~(sectorSize - 1)) - curOut;
    if (sectorBytesLeft > 0 && sectorBytesLeft < LZO_LEN) {
      memory.fill(dst + curOut, 0, sectorBytesLeft);
      curOut += sectorBytesLeft;
    }
    curIn += inLenSeg;
    if (curIn > sectorSize * 2 && curIn < curOut) return BTRFS_E2BIG;
  }
  writeLe32(dst, curOut);
  return <i32>curOut;
}

/**
 * btrfs lzo_decompress_bio: the framed extent of inLen bytes at src (as read from disk,
 * so possibly padded to a sector) decompressed to dst, stopping once ramBytes are out.
 * dst must have ramBytes + worstCompress(sectorSize) bytes of room: a segment is
 * decompressed whole before the copy stops. Returns the bytes produced (at most
 * ramBytes; fewer when the segments end first, which btrfs zero-fills), or a negative
 * code: BTRFS_EUCLEAN for bad framing, an LZO_E_* code for a bad segment.
 */
export function lzoDecompressExtent(src: usize, inLen: u32, dst: usize, ramBytes: u32, sectorSize: u32): i32 {
  if (inLen < LZO_LEN) return BTRFS_EUCLEAN;
  const lenIn = readLe32(src);
  const maxLen = inLen < BTRFS_MAX_COMPRESSED ? inLen : BTRFS_MAX_COMPRESSED;
  if (lenIn > maxLen) return BTRFS_EUCLEAN;
  if (((lenIn + sectorSize - 1) & ~(sectorSize - 1)) < inLen) return BTRFS_EUCLEAN;
  const segMax = worstCompress(sectorSize);
  let curIn: u32 = LZO_LEN;
  let curOut: u32 = 0;
  // Each pass consumes at least LZO_LEN bytes of a bounded input: the loop ends.
  while (curIn < lenIn) {
    if (curIn + LZO_LEN > inLen) return BTRFS_EUCLEAN;
    const segLen = readLe32(src + curIn);
    curIn += LZO_LEN;
    if (segLen > segMax) return BTRFS_EUCLEAN;
    if (segLen > inLen - curIn) return BTRFS_EUCLEAN;
    const got = lzo1xDecompress(src + curIn, segLen, dst + curOut, segMax);
    if (got < 0) return got;
    curIn += segLen;
    curOut += <u32>got;
    if (curOut >= ramBytes) return <i32>ramBytes;
    const sectorBytesLeft = sectorSize - (curIn & (sectorSize - 1));
    if (sectorBytesLeft < LZO_LEN) curIn += sectorBytesLeft;
  }
  return <i32>curOut;
}

/** First byte the JS side may use as scratch: past the static data, 64-byte aligned. */
export function inputBase(): usize {
  return (__heap_base + 63) & ~<usize>63;
}

// Text encodings of node's Buffer (utf8, ascii, latin1, base64, base64url, hex, utf16le) for the
// fs.promises surface, which takes and returns them (readFile(path, 'utf8'), write(string,
// position, 'hex')...). Where a Buffer exists (Node, or a page that polyfills it) it does the
// work and bytes come back as Buffers, as node's fs returns them; elsewhere these small codecs
// do, and bytes come back as plain Uint8Arrays.
import { FsError } from '../util/errors.js';
import { utf8Encode } from '../util/utf8.js';

export type Encoding = 'utf8' | 'utf-8' | 'ascii' | 'latin1' | 'binary' | 'base64' | 'base64url' | 'hex' | 'ucs2' | 'ucs-2' | 'utf16le' | 'utf-16le';

interface BufferLike extends Uint8Array {
  toString(encoding?: string): string;
}
interface BufferCtor {
  from(data: ArrayBufferLike, byteOffset?: number, length?: number): BufferLike;
  from(data: string, encoding?: string): BufferLike;
  isEncoding(e: string): boolean;
}

/** Node's Buffer when the host has one. */
const NodeBuffer = (globalThis as { Buffer?: BufferCtor }).Buffer;

const CANONICAL: Record<string, string> = {
  utf8: 'utf8', 'utf-8': 'utf8', ascii: 'ascii', latin1: 'latin1', binary: 'latin1', base64: 'base64',
  base64url: 'base64url', hex: 'hex', ucs2: 'utf16le', 'ucs-2': 'utf16le', utf16le: 'utf16le', 'utf-16le': 'utf16le',
};

/** The canonical name of a Buffer encoding; EINVAL (node: ERR_INVALID_ARG_VALUE) for others. */
export function checkEncoding(encoding: string): string {
  const c = CANONICAL[encoding.toLowerCase()];
  if (c === undefined) throw new FsError('EINVAL', `unknown encoding '${encoding}'`);
  return c;
}

/** Bytes as node returns them: a Buffer view of the same memory where Buffer exists. */
export function asNodeBytes(b: Uint8Array): Uint8Array {
  return NodeBuffer ? NodeBuffer.from(b.buffer, b.byteOffset, b.byteLength) : b;
}

const utf8Decoder = new TextDecoder();

export function encodeString(s: string, encoding: string = 'utf8'): Uint8Array {
  const enc = checkEncoding(encoding);
  if (enc === 'utf8') return utf8Encode(s);
  if (NodeBuffer) {
    const b = NodeBuffer.from(s, enc);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  switch (enc) {
    case 'ascii':
    case 'latin1': {
      const out = new Uint8Array(s.length);
      for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
      return out;
    }
    case 'utf16le': {
      const out = new Uint8Array(s.length * 2);
      for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        out[2 * i] = c & 0xff;
        out[2 * i + 1] = c >> 8;
      }
      return out;
    }
    case 'hex': {
      // Node stops at the first pair that is not hex.
      const n = s.length >> 1;
      const out = new Uint8Array(n);
      let i = 0;
      for (; i < n; i++) {
        const v = Number.parseInt(s.slice(2 * i, 2 * i + 2), 16);
        if (!/^[0-9a-fA-F]{2}$/.test(s.slice(2 * i, 2 * i + 2)) || Number.isNaN(v)) break;
        out[i] = v;
      }
      return out.subarray(0, i);
    }
    case 'base64':
    case 'base64url': {
      const clean = s.replace(/[^A-Za-z0-9+/\-_]/g, '').replace(/-/g, '+').replace(/_/g, '/');
      const padded = clean + '='.repeat((4 - (clean.length % 4)) % 4);
      const bin = atob(clean.length % 4 === 1 ? clean.slice(0, -1) : padded);
      const out = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
      return out;
    }
  }
  throw new FsError('EINVAL', `unknown encoding '${encoding}'`);
}

export function decodeBytes(b: Uint8Array, encoding: string = 'utf8'): string {
  const enc = checkEncoding(encoding);
  if (NodeBuffer) return NodeBuffer.from(b.buffer, b.byteOffset, b.byteLength).toString(enc);
  switch (enc) {
    case 'utf8': return utf8Decoder.decode(b);
    case 'ascii': {
      let s = '';
      for (const c of b) s += String.fromCharCode(c & 0x7f);
      return s;
    }
    case 'latin1': {
      let s = '';
      for (const c of b) s += String.fromCharCode(c);
      return s;
    }
    case 'utf16le': {
      let s = '';
      for (let i = 0; i + 1 < b.length; i += 2) s += String.fromCharCode(b[i] | (b[i + 1] << 8));
      return s;
    }
    case 'hex': {
      let s = '';
      for (const c of b) s += c.toString(16).padStart(2, '0');
      return s;
    }
    case 'base64':
    case 'base64url': {
      let bin = '';
      for (const c of b) bin += String.fromCharCode(c);
      const s = btoa(bin);
      return enc === 'base64' ? s : s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    }
  }
  throw new FsError('EINVAL', `unknown encoding '${encoding}'`);
}

/** Bytes of a string or any ArrayBufferView (TypedArray, DataView), as node's fs accepts them. */
export function toBytes(data: unknown, encoding: string = 'utf8', what = 'data'): Uint8Array {
  if (typeof data === 'string') return encodeString(data, encoding);
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new FsError('EINVAL', `the "${what}" argument must be a string, Buffer, TypedArray or DataView`);
}

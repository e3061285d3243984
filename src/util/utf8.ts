// UTF-8 encoding of the short strings the hot paths encode (path components, names).
//
// TextEncoder.encode is a call into the host and a fresh ArrayBuffer per call: in Chromium's
// worker it cost ~3 µs for a 5-character name, 5% of the files bench's create (its profile,
// session 11). A short ASCII string is encoded here instead, into a small Uint8Array (which V8
// keeps on its heap); anything else goes to TextEncoder.
const encoder = new TextEncoder();

/** Strings up to this many UTF-16 units are tried as ASCII in JS (a name is at most 255 bytes). */
const SHORT = 255;

/** The UTF-8 bytes of `s` (lone surrogates as U+FFFD, as TextEncoder makes them). */
export function utf8Encode(s: string): Uint8Array {
  const n = s.length;
  if (n > SHORT) return encoder.encode(s);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return encoder.encode(s);
    b[i] = c;
  }
  return b;
}

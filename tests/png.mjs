// A minimal PNG encoder for the tests (8-bit grayscale, or grayscale + alpha), so bad and odd
// images can be made without a browser: `png(w, h, (x, y) => value | [value, alpha])`.
import { deflateSync } from 'node:zlib';

const CRC = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** PNG bytes of a w×h image; `pixel(x, y)` gives a gray value, or [gray, alpha] with `alpha`. */
export function png(w, h, pixel, { alpha = false } = {}) {
  const bpp = alpha ? 2 : 1;
  const raw = Buffer.alloc(h * (1 + w * bpp));
  for (let y = 0; y < h; y++) {
    const row = y * (1 + w * bpp); // filter byte 0
    for (let x = 0; x < w; x++) {
      const v = pixel(x, y);
      if (alpha) { raw[row + 1 + 2 * x] = v[0]; raw[row + 2 + 2 * x] = v[1]; } else raw[row + 1 + x] = v;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;               // bit depth
  ihdr[9] = alpha ? 4 : 0;   // grayscale (+ alpha)
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 1 })), chunk('IEND', Buffer.alloc(0))]);
}

/** A "7" drawn dark on white in a w×h image with the digit's box at (x0, y0) of size s. */
export function seven(w, h, x0, y0, s) {
  const t = Math.max(1, Math.round(s / 8));
  return (x, y) => {
    const u = (x - x0) / s, v = (y - y0) / s;
    if (u < 0 || u > 1 || v < 0 || v > 1) return 255;
    const bar = v * s < t && u > 0.1;                          // the top stroke
    const diag = Math.abs((x - x0) - (s * 0.9 - (y - y0) * 0.5)) < t && v > 0; // the slant
    return bar || diag ? 0 : 255;
  };
}

/** An animated GIF (grayscale, uncompressed LZW: a clear code every 254 pixels keeps the codes
 *  9 bits wide); `frames` are functions (x, y) → gray 0..255. */
export function gif(w, h, frames) {
  const u16 = (v) => [v & 255, v >> 8];
  const out = [...Buffer.from('GIF89a'), ...u16(w), ...u16(h), 0xf7, 0, 0];
  for (let i = 0; i < 256; i++) out.push(i, i, i); // gray palette
  out.push(0x21, 0xff, 11, ...Buffer.from('NETSCAPE2.0'), 3, 1, 0, 0, 0); // loop forever
  for (const f of frames) {
    out.push(0x21, 0xf9, 4, 0x04, ...u16(50), 0, 0); // 0.5 s per frame, keep the frame
    out.push(0x2c, 0, 0, 0, 0, ...u16(w), ...u16(h), 0, 8);
    const bytes = [];
    let acc = 0, nbits = 0;
    const code = (c) => { acc |= c << nbits; nbits += 9; while (nbits >= 8) { bytes.push(acc & 255); acc >>>= 8; nbits -= 8; } };
    let run = 0;
    code(256);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      if (run === 254) { code(256); run = 0; }
      code(f(x, y));
      run++;
    }
    code(257);
    if (nbits > 0) bytes.push(acc & 255);
    for (let i = 0; i < bytes.length; i += 255) out.push(Math.min(255, bytes.length - i), ...bytes.slice(i, i + 255));
    out.push(0);
  }
  out.push(0x3b);
  return Buffer.from(out);
}

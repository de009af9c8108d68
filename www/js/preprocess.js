// Any image → a 28×28 digit made the way MNIST's were. LeCun et al.: "the digits were
// size-normalized to fit in a 20×20 pixel box while preserving their aspect ratio"
// (anti-aliased, hence grey levels), "then centered in a 28×28 image by computing the center of
// mass of the pixels, and translating the image so as to position this point at the center".
// MNIST polarity: 0 = background, 255 = ink (a white digit on black).
// toInkGray and centerLikeMnist are pure and run in Node (tests); imageToDigit and canvasToDigit
// need a browser (createImageBitmap, canvases).

const BOX = 20; // the longer side of the ink's box after scaling
const SIZE = 28; // the output field
const MAX_SIDE = 512; // larger images are decoded scaled down, never drawn at full size
const MIN_RANGE = 8; // an image whose intensities span less than this (of 255) is blank

/**
 * RGBA bytes (w×h) → Float32Array(w*h) of ink intensity, 0..255, larger = more ink.
 * Each pixel is composited on white paper by its alpha (transparent = paper), then its
 * luminance is 0.299 R + 0.587 G + 0.114 B. Polarity comes from the outermost 1-px ring: a
 * light border (mean luminance > 127: dark ink on paper, the usual scan or photo) gives
 * ink = 255 − luminance; a dark one (a white digit on black, like MNIST) gives ink = luminance.
 */
export function toInkGray(rgba, w, h) {
  const n = w * h;
  if (!(n > 0) || rgba.length < 4 * n) throw new Error(`toInkGray: need ${4 * n} RGBA bytes for ${w}×${h}, got ${rgba.length}`);
  const lum = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const a = rgba[4 * i + 3] / 255;
    const y = 0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2];
    lum[i] = a * y + (1 - a) * 255;
  }
  let border = 0, count = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (y === 0 || y === h - 1 || x === 0 || x === w - 1) { border += lum[y * w + x]; count++; }
    }
  }
  if (border / count > 127) for (let i = 0; i < n; i++) lum[i] = 255 - lum[i];
  return lum;
}

/**
 * Ink intensities (w×h, larger = ink, 0..255) → Uint8Array(784), 28×28 row-major, like MNIST:
 * the box of the pixels above 10 % of the ink range is cropped, scaled so its longer side is
 * 20 px (aspect kept; area averaging when shrinking, bilinear when enlarging), and placed so
 * its intensity-weighted centre of mass is at the field's centre (14, 14), in coordinates where
 * pixel (x, y) covers [x, x+1) × [y, y+1). The shift is rounded to whole pixels; what falls
 * outside is clipped; the brightest pixel becomes 255. Throws when there is no ink.
 */
export function centerLikeMnist(gray, w, h) {
  if (!(w > 0 && h > 0) || gray.length !== w * h) throw new Error(`centerLikeMnist: expected ${w}×${h} values, got ${gray.length}`);
  let min = Infinity, max = -Infinity;
  for (const v of gray) { if (v < min) min = v; if (v > max) max = v; }
  if (!(max - min >= MIN_RANGE)) throw new Error('no digit found: the image is blank');
  // the background level (min) and faint noise up to 10 % of the range become 0
  const floor = min + 0.1 * (max - min);
  const ink = Float32Array.from(gray, (v) => Math.max(0, (v - floor) / (max - floor)));
  let top = h, left = w, bottom = -1, right = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (ink[y * w + x] > 0) {
        if (y < top) top = y;
        if (y > bottom) bottom = y;
        if (x < left) left = x;
        if (x > right) right = x;
      }
    }
  }
  const bw = right - left + 1, bh = bottom - top + 1;
  const scale = BOX / Math.max(bw, bh);
  const tw = Math.max(1, Math.round(bw * scale)), th = Math.max(1, Math.round(bh * scale));
  const crop = new Float32Array(bw * bh);
  for (let y = 0; y < bh; y++) crop.set(ink.subarray((top + y) * w + left, (top + y) * w + left + bw), y * bw);
  const small = resize(crop, bw, bh, tw, th);

  let m = 0, mx = 0, my = 0;
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) { const v = small[y * tw + x]; m += v; mx += v * (x + 0.5); my += v * (y + 0.5); }
  }
  const ox = Math.round(SIZE / 2 - mx / m), oy = Math.round(SIZE / 2 - my / m);
  const out = new Float32Array(SIZE * SIZE);
  let peak = 0;
  for (let y = 0; y < th; y++) {
    const Y = y + oy;
    if (Y < 0 || Y >= SIZE) continue;
    for (let x = 0; x < tw; x++) {
      const X = x + ox;
      if (X < 0 || X >= SIZE) continue;
      const v = small[y * tw + x];
      out[Y * SIZE + X] = v;
      if (v > peak) peak = v;
    }
  }
  if (!(peak > 0)) throw new Error('no digit found: the image is blank');
  return Uint8Array.from(out, (v) => Math.min(255, Math.max(0, Math.round((255 * v) / peak))));
}

// Separable resize of a w×h plane to tw×th, one axis after the other (see weights1d).
function resize(src, w, h, tw, th) {
  const wx = weights1d(w, tw), wy = weights1d(h, th);
  const rows = axis(tw, h, (y, x) => wx[x], (y, x, i) => src[y * w + i]);
  return axis(tw, th, (y) => wy[y], (y, x, i) => rows[i * tw + x]);
}

// One pass: out[y, x] = Σ f · read(y, x, i) over the taps (i, f) of (y, x).
function axis(W, H, taps, read) {
  const out = new Float32Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let s = 0;
      for (const [i, f] of taps(y, x)) s += f * read(y, x, i);
      out[y * W + x] = s;
    }
  }
  return out;
}

// For each of the m target pixels along an axis of n source pixels: [source index, weight]
// pairs summing to 1. Shrinking (m < n): the mean over the source span the target pixel covers,
// partial pixels at its ends weighted by their overlap (a box filter), so a 1-px stroke in a
// large image still adds its share of grey. Enlarging (m ≥ n): bilinear between the two nearest
// source centres, clamped at the edges, so edges stay put and slopes stay smooth.
function weights1d(n, m) {
  const s = n / m, table = [];
  for (let t = 0; t < m; t++) {
    const pairs = [];
    if (m < n) {
      const a = t * s, b = a + s;
      for (let i = Math.floor(a); i < Math.min(n, Math.ceil(b)); i++) {
        const f = (Math.min(i + 1, b) - Math.max(i, a)) / s;
        if (f > 0) pairs.push([i, f]);
      }
    } else {
      const c = Math.min(n - 1, Math.max(0, (t + 0.5) * s - 0.5));
      const i = Math.floor(c), f = c - i;
      pairs.push([i, 1 - f]);
      if (f > 0) pairs.push([i + 1, f]);
    }
    table.push(pairs);
  }
  return table;
}

/**
 * A Blob or File (PNG, JPEG, GIF, WebP, BMP, SVG, … whatever the browser decodes) →
 * {pixels: Uint8Array(784), width, height}, width and height being the image's own size.
 * Browser main thread only (SVG goes through an <img>). Rejects with a readable Error when the
 * file is not an image, is empty, or shows no digit. An animated GIF gives its first frame.
 */
export async function imageToDigit(blob) {
  const type = String(blob?.type || 'unknown type').slice(0, 80);
  const { rgba, w, h, width, height } = type === 'image/svg+xml' ? await rasterSvg(blob, type) : await raster(blob, type);
  return { pixels: centerLikeMnist(toInkGray(rgba, w, h), w, h), width, height };
}

/** A canvas (the draw pad's) → {pixels: Uint8Array(784), width, height}, as imageToDigit. */
export async function canvasToDigit(canvas) {
  const { width: w, height: h } = canvas;
  const rgba = canvas.getContext('2d').getImageData(0, 0, w, h).data;
  return { pixels: centerLikeMnist(toInkGray(rgba, w, h), w, h), width: w, height: h };
}

// Fits width×height into MAX_SIDE×MAX_SIDE (never enlarges).
function fit(width, height) {
  const s = Math.min(1, MAX_SIDE / Math.max(width, height));
  return [Math.max(1, Math.round(width * s)), Math.max(1, Math.round(height * s))];
}

// A raster image → its RGBA at most MAX_SIDE on a side. A first decode tells the size; a larger
// image is decoded again, scaled down by the browser, so no full-size canvas is ever made.
// createImageBitmap gives an animated GIF's first frame.
async function raster(blob, type) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob);
  } catch {
    throw new Error(`could not read this file as an image (${type})`);
  }
  const { width, height } = bitmap;
  if (!width || !height) {
    bitmap.close();
    throw new Error(`the image is ${width}×${height} pixels: there is nothing in it`);
  }
  const [w, h] = fit(width, height);
  if (w !== width || h !== height) {
    bitmap.close();
    try {
      bitmap = await createImageBitmap(blob, { resizeWidth: w, resizeHeight: h, resizeQuality: 'high' });
    } catch {
      throw new Error(`could not scale this ${width}×${height} image down (${type})`);
    }
  }
  try {
    return { rgba: readPixels(bitmap, w, h), w, h, width, height };
  } finally {
    bitmap.close();
  }
}

// An SVG → its RGBA. Decoded through an <img> and drawn straight onto the canvas at the target
// size: createImageBitmap refuses SVG blobs, and from an <img> of an SVG without a natural size
// Chromium returns an empty bitmap. The size is the one the browser reports (Chromium: 300×150
// for an SVG with neither size nor viewBox), else 280×280.
async function rasterSvg(blob, type) {
  const url = URL.createObjectURL(blob);
  try {
    const img = new Image();
    img.src = url;
    try {
      await img.decode();
    } catch {
      throw new Error(`could not read this file as an image (${type})`);
    }
    const known = img.naturalWidth > 0 && img.naturalHeight > 0;
    const width = known ? img.naturalWidth : 280, height = known ? img.naturalHeight : 280;
    const [w, h] = fit(width, height);
    return { rgba: readPixels(img, w, h), w, h, width, height };
  } finally {
    URL.revokeObjectURL(url);
  }
}

// The RGBA bytes of `source` drawn at w×h (an OffscreenCanvas where there is one).
function readPixels(source, w, h) {
  let c;
  if (typeof OffscreenCanvas === 'function') c = new OffscreenCanvas(w, h);
  else { c = document.createElement('canvas'); c.width = w; c.height = h; }
  const g = c.getContext('2d', { willReadFrequently: true });
  g.drawImage(source, 0, 0, w, h); // transparent stays transparent: toInkGray treats it as paper
  return g.getImageData(0, 0, w, h).data;
}

// MNIST-style preprocessing (www/js/preprocess.js) on synthetic images: the ink's box is
// scaled to 20 px on its longer side with the aspect ratio kept, thin strokes survive the
// reduction, the centre of mass (not the box centre) lands at (14, 14), a blank image is
// refused, and toInkGray reads polarity and transparency right.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { centerLikeMnist, toInkGray } from '../www/js/preprocess.js';

// a w×h Float32Array with ink(x, y) at each pixel
function image(w, h, ink, Type = Float32Array) {
  const g = new Type(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) g[y * w + x] = ink(x, y);
  return g;
}

// box of the pixels > 0 and intensity-weighted centre of mass (pixel x covers [x, x+1))
function stats(px) {
  assert.ok(px instanceof Uint8Array && px.length === 784, 'a Uint8Array(784)');
  let top = 28, bottom = -1, left = 28, right = -1, m = 0, my = 0, mx = 0;
  px.forEach((v, i) => {
    const y = Math.floor(i / 28), x = i % 28;
    if (v > 0) { top = Math.min(top, y); bottom = Math.max(bottom, y); left = Math.min(left, x); right = Math.max(right, x); }
    m += v; my += v * (y + 0.5); mx += v * (x + 0.5);
  });
  return { top, left, h: bottom - top + 1, w: right - left + 1, cy: my / m, cx: mx / m, max: Math.max(...px) };
}

const near = (a, b, tol, what) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a}, expected ${b} ± ${tol}`);

test('a tall 30×60 box in the corner of a 200×100 image becomes 20 tall, ~10 wide, centred by mass', () => {
  const s = stats(centerLikeMnist(image(200, 100, (x, y) => (x < 30 && y >= 40 ? 255 : 0)), 200, 100));
  assert.equal(s.h, 20);
  near(s.w, 10, 1, 'width');
  near(s.cy, 14, 0.5, 'centre of mass y');
  near(s.cx, 14, 0.5, 'centre of mass x');
  assert.equal(s.max, 255);
});

test('a wide 60×20 shape becomes 20 wide, ~7 tall; Uint8Array input and a grey background work', () => {
  const s = stats(centerLikeMnist(image(100, 100, (x, y) => (x >= 20 && x < 80 && y >= 70 && y < 90 ? 200 : 30), Uint8Array), 100, 100));
  assert.equal(s.w, 20);
  near(s.h, 7, 1, 'height');
  near(s.cy, 14, 0.5, 'centre of mass y');
  near(s.cx, 14, 0.5, 'centre of mass x');
  assert.equal(s.max, 255);
});

test('a single dot is scaled up to the 20×20 box and centred', () => {
  const s = stats(centerLikeMnist(image(50, 50, (x, y) => (x === 3 && y === 40 ? 255 : 0)), 50, 50));
  assert.equal(s.w, 20);
  assert.equal(s.h, 20);
  near(s.cy, 14, 0.5, 'centre of mass y');
  near(s.cx, 14, 0.5, 'centre of mass x');
});

test('the centre of mass, not the box, is centred', () => {
  // a "Γ" of two 10-px thick bars: its mass sits up and left of its box's centre, so it moves
  // right and down of where centring the box would put it (columns and rows 4..23)
  const px = centerLikeMnist(image(100, 100, (x, y) => (x < 10 || y < 10 ? 255 : 0)), 100, 100);
  const s = stats(px);
  assert.equal(s.w, 20);
  assert.equal(s.h, 20);
  near(s.cx, 14, 0.5, 'centre of mass x');
  near(s.cy, 14, 0.5, 'centre of mass y');
  assert.ok(s.left >= 7 && s.top >= 7, `box at (${s.left}, ${s.top}), not (4, 4)`);
});

test('a 1-px stroke survives a 10× reduction (area averaging, not point sampling)', () => {
  // the outline of a 200×200 square, 1 px thick: every side must still show after scaling to 20×20
  const px = centerLikeMnist(image(200, 200, (x, y) => (x === 0 || y === 0 || x === 199 || y === 199 ? 255 : 0)), 200, 200);
  const s = stats(px);
  assert.equal(s.w, 20);
  assert.equal(s.h, 20);
  for (let i = 0; i < 20; i++) {
    assert.ok(px[(s.top + i) * 28 + s.left] > 100, `left side, row ${i}`);
    assert.ok(px[(s.top + i) * 28 + s.left + 19] > 100, `right side, row ${i}`);
    assert.ok(px[s.top * 28 + s.left + i] > 100, `top side, column ${i}`);
    assert.ok(px[(s.top + 19) * 28 + s.left + i] > 100, `bottom side, column ${i}`);
  }
  assert.equal(px[(s.top + 10) * 28 + s.left + 10], 0, 'the inside stays empty');
});

test('enlarging is smooth: a 2×1 ink box gives intermediate greys', () => {
  const px = centerLikeMnist(Float32Array.of(255, 180, 0), 3, 1);
  const s = stats(px);
  assert.equal(s.w, 20);
  assert.equal(s.h, 10);
  const row = [...px.subarray((s.top + 5) * 28 + s.left, (s.top + 5) * 28 + s.left + 20)];
  assert.ok(row.every((v, i) => i === 0 || v <= row[i - 1]), `falls off monotonically: ${row}`);
  assert.ok(new Set(row).size > 4, `more than nearest-neighbour's two levels: ${row}`);
});

test('a blank image is refused', () => {
  assert.throws(() => centerLikeMnist(image(10, 10, () => 0), 10, 10), /blank/);
  assert.throws(() => centerLikeMnist(image(10, 10, () => 255), 10, 10), /blank/);
  assert.throws(() => centerLikeMnist(image(10, 10, (x) => 100 + (x % 3)), 10, 10), /blank/, 'faint noise is not ink');
  assert.throws(() => centerLikeMnist(new Float32Array(10), 5, 5), /expected 5×5/);
});

// RGBA bytes for a w×h image, f(x, y) → [r, g, b, a]
function rgba(w, h, f) {
  const a = new Uint8ClampedArray(4 * w * h);
  for (let i = 0; i < w * h; i++) a.set(f(i % w, Math.floor(i / w)), 4 * i);
  return a;
}

test('toInkGray: dark ink on white paper', () => {
  const g = toInkGray(rgba(5, 5, (x, y) => (x === 2 && y === 2 ? [0, 0, 0, 255] : x === 1 && y === 1 ? [255, 0, 0, 255] : [255, 255, 255, 255])), 5, 5);
  assert.ok(g instanceof Float32Array && g.length === 25);
  near(g[12], 255, 0.01, 'black stroke');
  near(g[6], 255 - 0.299 * 255, 0.01, 'red stroke by its luminance');
  near(g[0], 0, 0.01, 'paper');
});

test('toInkGray: white ink on black (MNIST polarity) stays as it is', () => {
  const g = toInkGray(rgba(5, 5, (x, y) => (x === 2 && y === 2 ? [250, 250, 250, 255] : [0, 0, 0, 255])), 5, 5);
  near(g[12], 250, 0.01, 'stroke');
  near(g[0], 0, 0.01, 'background');
});

test('toInkGray: a transparent pixel is paper, a half-transparent black one half ink', () => {
  const g = toInkGray(rgba(5, 5, (x, y) => (x === 2 && y === 2 ? [0, 0, 0, 255] : x === 1 && y === 1 ? [0, 0, 0, 128] : [0, 0, 0, 0])), 5, 5);
  near(g[0], 0, 0.01, 'transparent black is paper');
  near(g[12], 255, 0.01, 'opaque black is ink');
  near(g[6], 128, 0.01, 'half-transparent black');
});

test('toInkGray feeds centerLikeMnist: a dark bar on paper becomes a centred white bar', () => {
  const w = 40, h = 40;
  const ink = toInkGray(rgba(w, h, (x, y) => (x >= 30 && x < 34 && y >= 5 && y < 35 ? [20, 20, 20, 255] : [240, 240, 240, 255])), w, h);
  const s = stats(centerLikeMnist(ink, w, h));
  assert.equal(s.h, 20);
  near(s.w, 3, 1, 'width');
  near(s.cx, 14, 0.5, 'centre of mass x');
  assert.equal(s.max, 255);
});

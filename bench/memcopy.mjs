// How long wasm takes to copy 1.6 MB (the first stage's tensors at batch 32: 32×16×28×28
// floats) by `memory.copy` and by a simd128 loop of 16-byte loads and stores (32 bytes a step), for destinations
// at several offsets past the source modulo 4096 — in Node, and with `--chromium` in Debian's
// headless Chromium too. This is why `layers::copy` is a loop: on the AMD EPYC of the README,
// `memory.copy` (V8 calls the C library's `memmove`) took 10–15× as long when the destination
// lay 1–31 bytes past the source modulo 4096, which is where the allocator puts consecutive
// tensors of a size that is a multiple of 4 KB. Prints one JSON line per runtime: per offset,
// the medians (ms) of `--rounds` rounds of 20 copies, each copy in 64-KB pieces as
// `activation::copy` makes them.
//
//   node bench/memcopy.mjs [--rounds 7] [--chromium]
//
// The module (assembled from this text with binaryen's `wasm-as --enable-bulk-memory
// --enable-simd`):
//   (module (memory (export "mem") 128)
//     (func (export "copy") (param $d i32) (param $s i32) (param $n i32)
//       (memory.copy (local.get $d) (local.get $s) (local.get $n)))
//     (func (export "vcopy") (param $d i32) (param $s i32) (param $n i32) (local $i i32)
//       (loop $l
//         (v128.store (i32.add (local.get $d) (local.get $i)) (v128.load (i32.add (local.get $s) (local.get $i))))
//         (v128.store offset=16 (i32.add (local.get $d) (local.get $i)) (v128.load offset=16 (i32.add (local.get $s) (local.get $i))))
//         (local.set $i (i32.add (local.get $i) (i32.const 32)))
//         (br_if $l (i32.lt_u (local.get $i) (local.get $n))))))
import { arg } from './args.mjs';

const WASM = '0061736d0100000001070160037f7f7f000303020000050401008001071603036d656d020004636f707900000576636f707900010a48020c00200020012002fc0a00000b3901017f0340200020036a200120036afd000400fd0b0400200020036a200120036afd000410fd0b0410200341206a210320032002490d000b0b';
const rounds = Number(arg('rounds', 7));
if (!(Number.isInteger(rounds) && rounds > 0)) throw new Error('usage: node bench/memcopy.mjs [--rounds N] [--chromium]');

// Runs in Node or in the page: returns {offset: {memory_copy_ms, simd_loop_ms}}.
async function measure(hex, rounds) {
  const bytes = new Uint8Array(hex.match(/../g).map((h) => parseInt(h, 16)));
  const { instance } = await WebAssembly.instantiate(bytes);
  const { copy, vcopy, mem } = instance.exports;
  new Float32Array(mem.buffer).forEach((_, i, a) => { a[i] = (i % 1000) * 1e-3; });
  const N = 32 * 16 * 28 * 28 * 4, PIECE = 65536, SRC = 4096;
  const time = (f, dst) => {
    const t = performance.now();
    for (let r = 0; r < 20; r++) for (let o = 0; o < N; o += PIECE) f(dst + o, SRC + o, Math.min(PIECE, N - o));
    return (performance.now() - t) / 20;
  };
  const med = (v) => [...v].sort((x, y) => x - y)[v.length >> 1];
  const offsets = [0, 4, 8, 16, 24, 32, 64, 2048, 4088];
  const out = {};
  for (const d of offsets) {
    const dst = SRC + N + 4096 + d; // (N is a multiple of 4096: dst − src ≡ d)
    const m = [], v = [];
    time(copy, dst); time(vcopy, dst);
    for (let r = 0; r < rounds; r++) { m.push(time(copy, dst)); v.push(time(vcopy, dst)); }
    out[d] = { memory_copy_ms: +med(m).toFixed(3), simd_loop_ms: +med(v).toFixed(3) };
  }
  return out;
}

console.log(JSON.stringify({ runtime: `node ${process.version}`, bytes: 32 * 16 * 28 * 28 * 4, by_offset: await measure(WASM, rounds) }));
if (process.argv.includes('--chromium')) {
  const { launch } = await import('../tests/browser.mjs');
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto('about:blank');
    const ua = await page.evaluate(() => navigator.userAgent);
    const res = await page.evaluate(`(${measure.toString()})(${JSON.stringify(WASM)}, ${rounds})`);
    console.log(JSON.stringify({ runtime: ua.match(/Chrome\/[\d.]+/)?.[0] ?? ua, bytes: 32 * 16 * 28 * 28 * 4, by_offset: res }));
  } finally {
    await browser.close();
  }
}

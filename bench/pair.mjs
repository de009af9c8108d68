// Two SIMD-only builds of the engine in one Node process, their passes alternated step by step
// (a, b, b, a, …), so that a shared machine's swings — this session's host changed a build's
// speed by 1.6× from one minute to the next — fall on both alike: per step the ratio of b's
// time to a's, then their median and how many steps b was faster in. Each build is its own
// module instance (also when both name the same directory: an a/a run), and which of the two
// is instantiated first is set with `--first` (run both orders). A build against itself read
// 0.985–1.011 (2026-12-07, `bench/results/winograd-blocks-2026-12-07/pair.jsonl`), so
// differences under ≈ 1.5 % are not resolved. ResNet-8, batch 32, the engine's default
// config, no worker and no page.
//
//   node --experimental-wasm-relaxed-simd bench/pair.mjs --a DIST_A --b DIST_B [--pass train|infer] [--steps 30] [--first a|b]
//
// (DIST_* are built pages, `trunk build --release`'s dist/; only their pkg/simd/ is used.)
import { arg, median, simdEngine } from './args.mjs';

const dirs = { a: arg('a'), b: arg('b') };
const pass = arg('pass', 'infer');
const steps = Number(arg('steps', 30));
const first = arg('first', 'a');
if (!dirs.a || !dirs.b || !['train', 'infer'].includes(pass) || !(Number.isInteger(steps) && steps > 0) || !['a', 'b'].includes(first)) {
  throw new Error('usage: node --experimental-wasm-relaxed-simd bench/pair.mjs --a DIST_A --b DIST_B [--pass train|infer] [--steps N] [--first a|b]');
}
const engines = {};
for (const k of first === 'a' ? ['a', 'b'] : ['b', 'a']) engines[k] = await simdEngine(dirs[k], k);
const B = 32;
const images = new Float32Array(B * 784).map((_, i) => Math.sin(i * 0.37) * 0.5 + 0.5);
const labels = Uint32Array.from({ length: B }, (_, i) => i % 10);
const run = Object.fromEntries(Object.entries(engines).map(([k, e]) => [k, pass === 'train' ? () => e.trainBatch(images, labels) : () => e.forward(images, B, 'eval')]));
for (let i = 0; i < 4; i++) {
  run.a();
  run.b();
}
const time = (f) => {
  const s = performance.now();
  f();
  return performance.now() - s;
};
const t = { a: [], b: [] };
for (let i = 0; i < steps; i++) {
  for (const k of i % 2 ? ['b', 'a'] : ['a', 'b']) t[k].push(time(run[k]));
}
const ratios = t.a.map((a, i) => t.b[i] / a);
console.log(JSON.stringify({
  pass, steps, first, a: dirs.a, b: dirs.b,
  a_min: +Math.min(...t.a).toFixed(2), b_min: +Math.min(...t.b).toFixed(2), a_median: +median(t.a).toFixed(2), b_median: +median(t.b).toFixed(2),
  b_over_a_time_median: +median(ratios).toFixed(3), b_faster_in: `${ratios.filter((r) => r < 1).length}/${ratios.length}`,
}));

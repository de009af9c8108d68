// The GEMM alone (`benchGemm`: the packed simd128 product, one thread) in two SIMD-only builds,
// one Node process, as `pair.mjs` does for whole steps: each build its own module instance
// (`--first` sets which is instantiated first: run both orders), three warm-up rounds, then
// the builds alternated round by round (a, b, b, a, …), each round every shape for `--reps`
// products. Per shape: each build's median and best GFLOP/s, and the median of the per-round
// ratios b/a. `gemm-ab.mjs` measures the same in Chromium, a page per round, where this
// host's swings between pages hide a few per cent; here the two builds share every minute.
//
//   node --experimental-wasm-relaxed-simd bench/pair-gemm.mjs --a DIST_A --b DIST_B [--rounds 40] [--reps 30] [--first a|b]
import { arg, median, simdModule } from './args.mjs';

const dirs = { a: arg('a'), b: arg('b') };
const rounds = Number(arg('rounds', 40)), reps = Number(arg('reps', 30));
const first = arg('first', 'a');
if (!dirs.a || !dirs.b || !(Number.isInteger(rounds) && rounds > 0) || !(Number.isInteger(reps) && reps > 0) || !['a', 'b'].includes(first)) {
  throw new Error('usage: node --experimental-wasm-relaxed-simd bench/pair-gemm.mjs --a DIST_A --b DIST_B [--rounds N] [--reps N] [--first a|b]');
}
// [m, n, k] as gemm-ab.mjs: layer1's forward (16×784×144), the 14×14 and 7×7 stages', a large one
const shapes = [[16, 784, 144], [32, 196, 288], [64, 49, 576], [64, 784, 576]];
const mods = {};
for (const k of first === 'a' ? ['a', 'b'] : ['b', 'a']) mods[k] = await simdModule(dirs[k], k);
const g = { a: shapes.map(() => []), b: shapes.map(() => []) };
for (let r = -3; r < rounds; r++) {
  for (const k of r % 2 ? ['b', 'a'] : ['a', 'b']) {
    shapes.forEach(([m, n, kk], i) => {
      const gflops = mods[k].benchGemm(m, n, kk, reps);
      if (r >= 0) g[k][i].push(gflops);
    });
  }
}
const f = (v) => +v.toFixed(3);
shapes.forEach((shape, i) => {
  const [a, b] = [g.a[i], g.b[i]];
  console.log(JSON.stringify({
    shape: shape.join('×'), rounds, reps, first, a: dirs.a, b: dirs.b, a_median: f(median(a)), b_median: f(median(b)), a_best: f(Math.max(...a)), b_best: f(Math.max(...b)),
    b_over_a_median_of_rounds: f(median(a.map((x, j) => b[j] / x))),
  }));
});

// Each conv's backward (or forward) in two SIMD-only builds, one Node process, as `pair.mjs`
// does for whole steps: each build its own module instance (`--first` sets which is
// instantiated first: run both orders), two warm-up rounds, then the builds' `profileConvs`
// calls (every conv timed, 3 repetitions a call) alternated round by round. Per conv: each
// build's median and minimum over the rounds, and the median of the per-round ratios b/a.
// ResNet-8, batch 32 of the held-out digits (`DIST_A/data/`). On a host whose speed swings,
// convs that a change does not touch show how far the two sides drift apart.
//
//   node --experimental-wasm-relaxed-simd bench/pair-convs.mjs --a DIST_A --b DIST_B [--rounds 30] [--first a|b] [--dir backward|forward]
import fs from 'fs';
import path from 'path';
import zlib from 'zlib';
import { arg, median, simdEngine } from './args.mjs';

const dirs = { a: arg('a'), b: arg('b') };
const rounds = Number(arg('rounds', 30));
const first = arg('first', 'a');
const dir = arg('dir', 'backward');
if (!dirs.a || !dirs.b || !(Number.isInteger(rounds) && rounds > 0) || !['a', 'b'].includes(first) || !['backward', 'forward'].includes(dir)) {
  throw new Error('usage: node --experimental-wasm-relaxed-simd bench/pair-convs.mjs --a DIST_A --b DIST_B [--rounds N] [--first a|b] [--dir backward|forward]');
}
const digits = zlib.gunzipSync(fs.readFileSync(path.resolve(dirs.a, 'data/mnist-heldout.bin.gz')));
const engines = {};
for (const k of first === 'a' ? ['a', 'b'] : ['b', 'a']) {
  engines[k] = await simdEngine(dirs[k], k);
  engines[k].setDataset(new Uint8Array(digits));
}
const ms = { a: {}, b: {} };
for (let r = -2; r < rounds; r++) {
  for (const k of r % 2 ? ['b', 'a'] : ['a', 'b']) {
    const convs = engines[k].profileConvs(32, 3);
    if (r >= 0) for (const l of convs) (ms[k][l.layer] ??= []).push(l[`${dir}_ms`]);
  }
}
const f = (v) => +v.toFixed(3);
for (const layer of Object.keys(ms.a)) {
  const [a, b] = [ms.a[layer], ms.b[layer]];
  console.log(JSON.stringify({
    layer, dir, rounds, first, a: dirs.a, b: dirs.b, a_median: f(median(a)), b_median: f(median(b)), a_min: f(Math.min(...a)), b_min: f(Math.min(...b)),
    b_over_a_median_of_rounds: f(median(a.map((t, i) => b[i] / t))), b_over_a_min: f(Math.min(...b) / Math.min(...a)),
  }));
}

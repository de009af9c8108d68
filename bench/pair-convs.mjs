// Each conv's backward (or forward) in two SIMD-only builds, one Node process, the builds'
// `profileConvs` calls alternated round by round (as `pair.mjs` alternates whole steps): per
// conv the median and the minimum over the rounds of each build, and b's over a's. ResNet-8,
// batch 32 of the held-out digits (`DIST_A/data/`), 3 repetitions a call. On a host whose speed
// swings, convs that a change does not touch show how far the two sides drift apart (2026-12-07,
// `bench/results/implicit-wgrad-2026-12-07/convs-backward.jsonl`: 0.943–1.007 for the medians,
// 0.973–1.013 for the minima, the second build mostly the faster).
//
//   node --experimental-wasm-relaxed-simd bench/pair-convs.mjs --a DIST_A --b DIST_B [--rounds 30] [--dir backward|forward]
import fs from 'fs';
import path from 'path';
import zlib from 'zlib';
import { pathToFileURL } from 'url';
import { arg, median } from './args.mjs';

const dirs = { a: arg('a'), b: arg('b') };
const rounds = Number(arg('rounds', 30));
const dir = arg('dir', 'backward');
if (!dirs.a || !dirs.b || !(Number.isInteger(rounds) && rounds > 0) || !['backward', 'forward'].includes(dir)) {
  throw new Error('usage: node --experimental-wasm-relaxed-simd bench/pair-convs.mjs --a DIST_A --b DIST_B [--rounds N] [--dir backward|forward]');
}
const digits = zlib.gunzipSync(fs.readFileSync(path.resolve(dirs.a, 'data/mnist-heldout.bin.gz')));
const load = async (k) => {
  const pkg = path.resolve(dirs[k], 'pkg/simd');
  // (a query of its own, so that a/a gets two instances with two memories)
  const mod = await import(`${pathToFileURL(path.join(pkg, 'resnet_wasm.js')).href}?${k}`);
  await mod.default({ module_or_path: fs.readFileSync(path.join(pkg, 'resnet_wasm_bg.wasm')) });
  const engine = new mod.Engine(undefined, 1, undefined);
  engine.setDataset(new Uint8Array(digits));
  return engine;
};
const engines = { a: await load('a'), b: await load('b') };
const ms = { a: {}, b: {} };
for (let r = 0; r < rounds; r++) {
  for (const k of r % 2 ? ['b', 'a'] : ['a', 'b']) {
    for (const l of engines[k].profileConvs(32, 3)) (ms[k][l.layer] ??= []).push(l[`${dir}_ms`]);
  }
}
const f = (v) => +v.toFixed(3);
for (const layer of Object.keys(ms.a)) {
  const [a, b] = [ms.a[layer], ms.b[layer]];
  console.log(JSON.stringify({ layer, dir, rounds, a_median: f(median(a)), b_median: f(median(b)), b_over_a_median: f(median(b) / median(a)), a_min: f(Math.min(...a)), b_min: f(Math.min(...b)), b_over_a_min: f(Math.min(...b) / Math.min(...a)) }));
}

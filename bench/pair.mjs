// Two SIMD-only builds of the engine in one Node process, their passes alternated step by step
// (a, b, b, a, …), so that a shared machine's swings — this session's host changed a build's
// speed by 1.6× from one minute to the next — fall on both alike: per step the ratio of b's
// time to a's, then their median and how many steps b was faster in. Two a/a runs read 0.989
// (b faster in 25 of 40 steps) and 0.983 (18 of 20): the second engine of the process runs
// slightly faster, so differences under 2 % are not resolved. ResNet-8, batch 32, the
// engine's default config, no worker and no page.
//
//   node --experimental-wasm-relaxed-simd bench/pair.mjs DIST_A DIST_B [train|infer] [steps]
//
// (DIST_* are built pages, `trunk build --release`'s dist/; only their pkg/simd/ is used.)
import fs from 'fs';
import path from 'path';

const [da, db, what = 'infer', steps = '30'] = process.argv.slice(2);
if (!da || !db || !['train', 'infer'].includes(what)) {
  throw new Error('usage: node --experimental-wasm-relaxed-simd bench/pair.mjs DIST_A DIST_B [train|infer] [steps]');
}
const load = async (dist) => {
  const dir = path.resolve(dist, 'pkg/simd');
  const mod = await import(path.join(dir, 'resnet_wasm.js'));
  await mod.default({ module_or_path: fs.readFileSync(path.join(dir, 'resnet_wasm_bg.wasm')) });
  return new mod.Engine(undefined, 1, undefined);
};
const engines = [await load(da), await load(db)];
const B = 32;
const images = new Float32Array(B * 784).map((_, i) => Math.sin(i * 0.37) * 0.5 + 0.5);
const labels = Uint32Array.from({ length: B }, (_, i) => i % 10);
const [runA, runB] = engines.map((e) => (what === 'train' ? () => e.trainBatch(images, labels) : () => e.forward(images, B, 'eval')));
for (let i = 0; i < 4; i++) {
  runA();
  runB();
}
const time = (f) => {
  const s = performance.now();
  f();
  return performance.now() - s;
};
const [ta, tb] = [[], []];
for (let i = 0; i < Number(steps); i++) {
  if (i % 2) {
    tb.push(time(runB));
    ta.push(time(runA));
  } else {
    ta.push(time(runA));
    tb.push(time(runB));
  }
}
const median = (x) => [...x].sort((p, q) => p - q)[x.length >> 1];
const ratios = ta.map((a, i) => tb[i] / a);
console.log(JSON.stringify({
  what, a_min: +Math.min(...ta).toFixed(2), b_min: +Math.min(...tb).toFixed(2), a_med: +median(ta).toFixed(2), b_med: +median(tb).toFixed(2),
  b_over_a_time_median: +median(ratios).toFixed(3), b_faster_in: `${ratios.filter((r) => r < 1).length}/${ratios.length}`,
}));

// Two builds of the bench page (e.g. before and after a kernel change), alternated over rounds
// in one invocation, so a shared machine's drift falls on both: per round, each build's
// training and inference images/s and its fraction of the peak; then the medians and the
// median of the paired ratios b/a.
//
//   node bench/ab.mjs --a /tmp/dist-before --b dist [--build threads|simd] [--rounds 3] [--arch resnet8] [--steps 20] [--batch 32]
import { serve } from '../tests/server.mjs';
import { launch } from '../tests/browser.mjs';
import { arg, median } from './args.mjs';

const dirs = { a: arg('a'), b: arg('b') };
const build = arg('build', 'threads');
const rounds = Number(arg('rounds', 3));
const query = `build=${build}&arch=${arg('arch', 'resnet8')}&steps=${arg('steps', 20)}&batches=${arg('batch', 32)}`;
if (!dirs.a || !dirs.b) throw new Error('usage: node bench/ab.mjs --a DIST_A --b DIST_B [--build threads|simd] [--rounds N]');

const browser = await launch();
const runs = { a: [], b: [] };
const once = async (dir) => {
  const srv = await serve({ root: dir, isolated: build === 'threads' });
  try {
    const page = await browser.newPage();
    await page.goto(`${srv.url}bench.html?${query}`);
    await page.waitForFunction(() => window.benchResult, null, { timeout: 600_000 });
    const r = await page.evaluate(() => window.benchResult);
    await page.close();
    const x = r.results[0];
    // the profiled step by module kind, forward + backward (ms; the engine's sums)
    const kinds = Object.fromEntries((x.step_profile?.kinds ?? []).map(([k, ms]) => [k, +ms.toFixed(2)]));
    // and module by module: [module, forward ms, backward ms, of which serial code (forward,
    // backward), of which the leader's waits at loop ends (forward, backward)]
    const modules = (x.step_profile?.modules ?? []).map((m) => [m.module, ...['forward_ms', 'backward_ms', 'forward_serial_ms', 'backward_serial_ms', 'forward_wait_ms', 'backward_wait_ms'].map((k) => +(m[k] ?? 0).toFixed(3))]);
    const p = x.step_profile ?? {};
    return { train: x.train_images_per_s, infer: x.infer_images_per_s, predict: x.predict_images_per_s, of_peak: x.train_fraction_of_peak, peak: r.peak, step_ms: p.step_ms, empty_pass_ms: p.empty_pass_ms, serial_ms: p.serial_ms, leader_wait_ms: p.leader_wait_ms, helper_idle_ms: p.helper_idle_ms, kinds, modules, convs: x.conv_layers.map((c) => [c.layer, +c.forward_ms.toFixed(2), +c.backward_ms.toFixed(2)]) };
  } finally {
    await srv.close();
  }
};
for (let r = 0; r < rounds; r++) {
  for (const k of r % 2 ? ['b', 'a'] : ['a', 'b']) {
    runs[k].push(await once(dirs[k]));
    console.error(`round ${r} ${k}: ${runs[k].at(-1).train.toFixed(0)} img/s train, ${runs[k].at(-1).infer.toFixed(0)} infer, ${runs[k].at(-1).predict?.toFixed(0)} predict, ${(100 * runs[k].at(-1).of_peak).toFixed(1)} % of peak`);
  }
}
await browser.close();
const ratio = (f) => median(runs.a.map((x, i) => f(runs.b[i]) / f(x)));
console.log(JSON.stringify({
  date: new Date().toISOString(), build, query, dirs,
  median: Object.fromEntries(['a', 'b'].map((k) => [k, { train: median(runs[k].map((x) => x.train)), infer: median(runs[k].map((x) => x.infer)), predict: median(runs[k].map((x) => x.predict)), of_peak: median(runs[k].map((x) => x.of_peak)) }])),
  paired_ratio_b_over_a: { train: ratio((x) => x.train), infer: ratio((x) => x.infer), predict: ratio((x) => x.predict) },
  // each module's forward and backward ms, their serial code's and the leader's waits (the
  // columns of `modules`), medians over the rounds (a change to one kind of work shows here
  // when whole steps are too noisy to tell)
  module_medians: Object.fromEntries(['a', 'b'].map((k) => [k, Object.fromEntries((runs[k][0]?.modules ?? []).map(([name], i) => [name, [1, 2, 3, 4, 5, 6].map((j) => median(runs[k].map((x) => x.modules[i][j])))]))])),
  // the step's serial code, its leader's waits and its helpers' idle time (ms), medians
  waits_median: Object.fromEntries(['a', 'b'].map((k) => [k, Object.fromEntries(['serial_ms', 'leader_wait_ms', 'helper_idle_ms'].map((f) => [f, median(runs[k].map((x) => x[f] ?? 0))]))])),
  runs,
}, null, 2));

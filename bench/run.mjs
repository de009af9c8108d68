// Runs the in-browser benchmark page (dist/bench.html) in headless Chromium for the threaded
// build (cross-origin isolated) and the SIMD-only build (not isolated), and the native CLI's
// `bench` in the same invocation; prints one JSON document with the ratios.
//
// Each build's training step is also given as a fraction of this machine's wasm peak, measured
// by the page in the same run (`peak`, `train_fraction_of_peak`).
//
//   trunk build --release && node bench/run.mjs [--steps 20] [--batches 32,64] [--arch resnet20]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { serve } from '../tests/server.mjs';
import { launch } from '../tests/browser.mjs';
import { arg } from './args.mjs';

const steps = Number(arg('steps', 20));
const batches = arg('batches', '32,64');
const arch = arg('arch', 'resnet8');
const root = new URL('..', import.meta.url).pathname;

const load0 = readFileSync('/proc/loadavg', 'utf8').trim();
const native = JSON.parse(execFileSync(`${root}target/release/resnet-playground`, ['bench', '--json', '--arch', arch, '--steps', String(steps), '--batches', batches], { encoding: 'utf8' }));

const browser = await launch();
const wasm = {};
for (const [build, isolated] of [['threads', true], ['simd', false]]) {
  const srv = await serve({ root: `${root}dist`, isolated });
  try {
    const page = await browser.newPage();
    await page.goto(`${srv.url}bench.html?build=${build}&arch=${arch}&steps=${steps}&batches=${batches}`);
    await page.waitForFunction(() => window.benchResult, null, { timeout: 600_000 });
    wasm[build] = await page.evaluate(() => window.benchResult);
    await page.close();
  } finally {
    await srv.close();
  }
}
await browser.close();

// A step's (or an inference pass's) time by module kind (conv, bn, relu, add, …; forward +
// backward, or the forward alone; ms; the engine's sums, `step_profile.kinds`) in each build, and what the threads gain on each: which kinds of
// work scale and which do not.
function byKind(t, s) {
  const [tk, sk] = [Object.fromEntries(t.kinds), Object.fromEntries(s.kinds)];
  const rest = (p, k) => p.step_ms - Object.values(k).reduce((a, v) => a + v, 0);
  const rows = Object.keys(tk).map((k) => [k, tk[k], sk[k]]).concat([['other', rest(t, tk), rest(s, sk)], ['step', t.step_ms, s.step_ms]]);
  return Object.fromEntries(rows.map(([k, a, b]) => [k, { threads_ms: +a.toFixed(2), simd_ms: +b.toFixed(2), threads_over_simd: a > 0 ? +(b / a).toFixed(2) : null }]));
}

const at = (r, b) => r.results?.find((x) => x.batch === b);
const ratios = {};
for (const b of batches.split(',').map(Number)) {
  const t = at(wasm.threads, b), s = at(wasm.simd, b), n = at(native, b);
  if (t && s && n) {
    ratios[`b${b}`] = {
      threads_over_simd_train: t.train_images_per_s / s.train_images_per_s,
      threads_fraction_of_peak: t.train_fraction_of_peak,
      simd_fraction_of_one_thread_peak: s.train_fraction_of_peak,
      native_over_threads_train: n.train_images_per_s / t.train_images_per_s,
      step_by_kind: byKind(t.step_profile, s.step_profile),
      infer_by_kind: byKind(t.infer_profile, s.infer_profile),
    };
  }
}
console.log(JSON.stringify({ date: new Date().toISOString(), loadavg_before: load0, loadavg_after: readFileSync('/proc/loadavg', 'utf8').trim(), native, wasm, ratios }, null, 2));

// The bench page runs and reports what the README's speed figures come from: training and
// inference images/s, the machine's peak measured in the same run, each step as a fraction of
// it with the member's FLOP from the module graph. (Correctness of the report only: speed
// itself is measured by bench/run.mjs, never asserted here.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve } from './server.mjs';
import { launch } from './browser.mjs';

const DIST = process.env.DIST || new URL('../dist', import.meta.url).pathname;
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

for (const [build, arch, mflop] of [['simd', 'resnet8', 56.08], ['threads', 'resnet20', null]]) {
  test(`bench page, ${build} build, ${arch}: a report with the peak and each step's fraction of it`, async () => {
    const srv = await serve({ root: DIST, isolated: build === 'threads' });
    try {
      const page = await browser.newPage();
      await page.goto(`${srv.url}bench.html?build=${build}&arch=${arch}&batches=2,4&steps=2&warmup=1`);
      await page.waitForFunction(() => window.benchResult, null, { timeout: 300_000 });
      const r = await page.evaluate(() => window.benchResult);
      assert.equal(r.error, undefined, r.error);
      assert.equal(r.engine, `wasm-${build}`);
      assert.equal(r.arch, arch);
      if (mflop) assert.equal(r.train_mflop_per_image.toFixed(2), String(mflop));
      else assert.ok(r.train_mflop_per_image > 100, `${arch}: ${r.train_mflop_per_image} MFLOP`); // (deeper than ResNet-8)
      assert.equal(r.peak.threads, r.threads);
      assert.equal(r.peak.relaxed, true);
      // (a real ceiling: above zero, below what any CPU core does in 128-bit lanes, and above
      // every step's rate)
      assert.ok(r.peak.gflops > 0 && r.peak_after.gflops > 0);
      assert.ok(r.peak.perThreadGflops < 200, `${r.peak.perThreadGflops} GFLOP/s a thread`);
      assert.deepEqual(r.results.map((x) => x.batch), [2, 4]);
      for (const x of r.results) {
        assert.ok(x.train_images_per_s > 0 && x.train_gflops > 0, JSON.stringify(x));
        // every timed step and pass (steps=2: the median is the larger of the two; each time
        // rounded to 0.1 ms)
        assert.equal(x.train_ms.length, 2);
        assert.equal(x.infer_ms.length, 2);
        assert.equal(x.predict_ms.length, 2);
        assert.ok([...x.train_ms, ...x.infer_ms, ...x.predict_ms].every((t) => t > 0), `${x.train_ms} / ${x.infer_ms} / ${x.predict_ms} ms`);
        assert.ok(Math.abs(Math.max(...x.train_ms) - x.train_step_ms) <= 0.05 + 1e-9, `${x.train_ms} ms against a median of ${x.train_step_ms}`);
        assert.ok(Math.abs(Math.max(...x.infer_ms) - x.batch / x.infer_images_per_s * 1000) <= 0.05 + 1e-9, `${x.infer_ms} ms against ${x.infer_images_per_s} images/s`);
        assert.ok(Math.abs(Math.max(...x.predict_ms) - x.batch / x.predict_images_per_s * 1000) <= 0.05 + 1e-9, `${x.predict_ms} ms against ${x.predict_images_per_s} images/s`);
        assert.equal(x.train_fraction_of_peak.toFixed(6), (x.train_gflops / r.peak.gflops).toFixed(6));
        assert.ok(x.train_fraction_of_peak > 0 && x.train_fraction_of_peak < 1, `${x.train_fraction_of_peak} of the peak`);
        assert.ok(x.conv_layers.length > 0);
        // the step module by module: every module of the member's graph once, in order, the
        // convs' work timed, and the laps inside the step they were measured in
        const p = x.step_profile;
        const graph = await page.evaluate(async (a) => {
          const { EngineClient } = await import('./js/engine-client.js');
          const e = await EngineClient.start({ build: 'simd', arch: a });
          const g = await e.modules();
          e.terminate();
          return g;
        }, arch);
        assert.deepEqual(p.modules.map((m) => m.module), graph.modules.map((m) => m.name));
        assert.deepEqual(p.modules.map((m) => m.kind), graph.modules.map((m) => m.kind));
        // (the SIMD build's page is not isolated: its clock counts in 0.1 ms, so a conv of a
        // two-image batch may read 0; their sum does not)
        const convs = p.modules.filter((m) => m.kind === 'conv');
        assert.ok(convs.length >= 7 && convs.reduce((s, m) => s + m.forward_ms + m.backward_ms, 0) > 0, JSON.stringify(convs));
        const laps = p.modules.reduce((s, m) => s + m.forward_ms + m.backward_ms, 0);
        assert.ok(laps > 0 && laps <= p.step_ms * 1.05 + 0.5, `laps ${laps} ms in a step of ${p.step_ms} ms`);
        // the engine's sums by kind: each kind once, in the order it first appears
        assert.deepEqual(p.kinds.map(([k]) => k), [...new Set(p.modules.map((m) => m.kind))]);
        assert.ok(Math.abs(p.kinds.reduce((s, [, ms]) => s + ms, 0) - laps) < 1e-6);
        // where the pool's threads waited: in the threaded build the step's loops counted and
        // their waits at most twice what its threads could wait in a step; the SIMD-only
        // build has no pool
        // and its serial code (the leader outside its loops): in the threaded build more than
        // none, the modules' shares each within its lap and together within the pass's, the
        // pass's within the step; none in the SIMD-only build
        const serial = p.modules.reduce((s, m) => s + m.forward_serial_ms + m.backward_serial_ms, 0);
        if (build === 'threads') {
          assert.ok(p.loops >= 7 && p.leader_wait_ms >= 0 && p.helper_idle_ms >= 0 && p.leader_wait_ms + p.helper_idle_ms <= 2 * p.step_ms * r.threads, JSON.stringify(p));
          // (within the engine's rounding: each stretch is counted in whole ns)
          assert.ok(p.modules.every((m) => m.forward_serial_ms >= -1e-3 && m.forward_serial_ms <= m.forward_ms + 0.2 && m.backward_serial_ms >= -1e-3 && m.backward_serial_ms <= m.backward_ms + 0.2), JSON.stringify(p.modules));
          assert.ok(serial > 0 && serial <= p.serial_ms + 1e-6 && p.serial_ms <= p.step_ms, `modules ${serial} ms of serial code, the pass ${p.serial_ms}, the step ${p.step_ms}`);
          // the leader's waits at the modules' loop ends: each within its lap, together within the pass's
          const waited = p.modules.reduce((s, m) => s + m.forward_wait_ms + m.backward_wait_ms, 0);
          assert.ok(p.modules.every((m) => m.forward_wait_ms >= -1e-3 && m.forward_wait_ms <= m.forward_ms + 0.2 && m.backward_wait_ms >= -1e-3 && m.backward_wait_ms <= m.backward_ms + 0.2), JSON.stringify(p.modules));
          assert.ok(waited <= p.leader_wait_ms + 1e-6, `modules ${waited} ms of the leader's waits, the pass ${p.leader_wait_ms}`);
        } else {
          const waited = p.modules.reduce((s, m) => s + m.forward_wait_ms + m.backward_wait_ms, 0);
          assert.deepEqual([p.loops, p.leader_wait_ms, p.helper_idle_ms, p.serial_ms, serial, waited], [0, 0, 0, 0, 0, 0]);
        }
        // and an inference pass: every module's forward, no backward
        const q = x.infer_profile;
        assert.deepEqual(q.modules.map((m) => m.module), graph.modules.map((m) => m.name));
        assert.ok(q.modules.every((m) => m.backward_ms === 0), JSON.stringify(q.modules));
        const fwd = q.modules.reduce((s, m) => s + m.forward_ms, 0);
        assert.ok(fwd > 0 && fwd <= q.step_ms * 1.05 + 0.5, `laps ${fwd} ms in a pass of ${q.step_ms} ms`);
      }
      assert.match(await page.locator('#state').textContent(), /done/);
      await page.close();
    } finally {
      await srv.close();
    }
  });
}

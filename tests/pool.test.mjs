// The threaded build's pool must never hang (the native side: `layers::team`'s stress tests).
// In a cross-origin isolated page, a second worker keeps a core busy and the page's main thread
// blocks now and then, while the engine runs hundreds of short training steps (batches of 2:
// short parallel loops, many hand-offs), one call at a time and in long runs. Each call is
// bounded by a watchdog here, with the engine client's own restart-on-silence turned off, so a
// hang fails the test instead of being papered over by a restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve } from './server.mjs';
import { launch, open } from './browser.mjs';

const DIST = process.env.DIST || new URL('../dist', import.meta.url).pathname;
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('threaded build: short training steps beside a busy worker and a busy main thread never hang', async () => {
  const srv = await serve({ root: DIST, isolated: true });
  try {
    // a quiet same-origin page (no engine of its own); Chromium asks it for a favicon
    const { page, errors } = await open(browser, `${srv.url}style.css`, {
      setup: (context) => context.route('**/favicon.ico', (route) => route.fulfill({ status: 204 })),
    });
    const result = await page.evaluate(async () => {
      const { EngineClient, MNIST } = await import('/js/engine-client.js');
      // (a gentle learning rate: the subject is the pool, and at batches of 2 the default
      // 0.05 with momentum can make the run's loss grow until the engine stops it, rightly)
      const optimizer = { kind: 'sgd', momentum: 0.9, lr: 0.01, weight_decay: 0 };
      const e = await EngineClient.start({ build: 'threads', ...MNIST, optimizer, hangMs: 3_600_000 });
      const busy = new Worker(URL.createObjectURL(new Blob(['for (;;) { Math.sqrt(Math.random()); }'], { type: 'text/javascript' })));
      // The main thread blocks for 30 ms every 50 ms.
      const blocker = setInterval(() => { const t = performance.now(); while (performance.now() - t < 30); }, 50);
      const bounded = (p, what) => Promise.race([p, new Promise((_, no) => setTimeout(() => no(new Error(`hung: ${what} did not finish in 30 s`)), 30_000))]);
      const out = { info: e.info, single: 0, long: null, error: null };
      try {
        await e.call('resetModel', 3);
        for (const batch of [2, 3, 5]) {
          await e.call('setBatch', batch, 1);
          for (let i = 0; i < 100; i++) {
            await bounded(e.train(1), `single step ${out.single + 1}`);
            out.single += 1;
          }
        }
        await e.call('setBatch', 2, 1);
        out.long = await bounded(e.train(300), 'a run of 300 steps');
      } catch (err) {
        out.error = String(err.message || err);
      } finally {
        clearInterval(blocker);
        busy.terminate();
        out.restarts = e.restarts;
        e.terminate();
      }
      return out;
    });
    assert.equal(result.error, null, `${result.error} (after ${result.single} single steps)`);
    assert.equal(result.info.build, 'threads');
    assert.ok(result.info.threads >= 2, `a pool of ${result.info.threads}`);
    assert.equal(result.single, 300);
    assert.ok(Number.isFinite(result.long.loss), 'the long run reports a loss');
    assert.equal(result.restarts, 0, 'the engine was never restarted');
    assert.deepEqual(errors, []);
  } finally {
    await srv.close();
  }
});

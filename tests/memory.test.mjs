// Long runs do not grow the engine's memory: the wasm memory (which only ever grows) is the same,
// within one 64 KiB page, after 5,000 training steps as after 100 — with a held-out evaluation
// every 500 steps and a layer view now and then, as the page does — in the SIMD-only build and
// in the threaded one. (Small batches, so that 5,000 steps take seconds; every step allocates
// and frees its tape, which is what could leak or fragment.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve } from './server.mjs';
import { launch, open } from './browser.mjs';

const DIST = process.env.DIST || new URL('../dist', import.meta.url).pathname;
const PAGE = 65536;
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

for (const build of ['simd', 'threads']) {
  test(`${build} build: the wasm memory after 5,000 training steps is what it was after 100`, async () => {
    const srv = await serve({ root: DIST, isolated: build === 'threads' });
    try {
      // a quiet same-origin page (no engine of its own); Chromium asks it for a favicon
      const { page, errors } = await open(browser, `${srv.url}style.css`, {
        setup: (context) => context.route('**/favicon.ico', (route) => route.fulfill({ status: 204 })),
      });
      const got = await page.evaluate(async (build) => {
        const { EngineClient, MNIST } = await import('/js/engine-client.js');
        const e = await EngineClient.start({ build, ...MNIST, modelUrl: '/models/resnet8-mnist.safetensors' });
        try {
          await e.setBatch(4, 1);
          await e.setOptimizer({ kind: 'sgd', lr: 0.01, momentum: 0.9, weight_decay: 0 });
          const look = async (k) => {
            for (const layer of ['conv1', 'layer2.0.conv1', 'fc']) await e.inspect({ heldOut: k, layer, target: null });
          };
          const at = {};
          let last = null;
          const train = async (steps) => { last = await e.train(steps, null, { evalEvery: 500, evalLimit: 100, progressMs: 1000 }); };
          await train(100);
          await look(0);
          at[100] = await e.memoryBytes();
          for (let k = 1; k <= 49; k++) {
            await train(100);
            if (k % 10 === 0) await look(k);
          }
          at[5000] = await e.memoryBytes();
          return { info: e.info, at, step: last.step, loss: last.loss, heldout: last.heldout };
        } finally {
          e.terminate();
        }
      }, build);
      assert.equal(got.info.build, build === 'threads' ? 'threads' : 'simd');
      assert.equal(got.step, 5000);
      assert.ok(Number.isFinite(got.loss) && got.heldout.accuracy > 0.8, JSON.stringify(got));
      const grew = got.at[5000] - got.at[100];
      assert.ok(grew <= PAGE, `the wasm memory grew by ${grew} bytes (${got.at[100]} → ${got.at[5000]}) between steps 100 and 5,000`);
      console.log(`# ${build}: wasm memory ${(got.at[100] / 2 ** 20).toFixed(1)} MiB after 100 steps, ${(got.at[5000] / 2 ** 20).toFixed(1)} MiB after 5,000`);
      assert.deepEqual(errors, []);
    } finally {
      await srv.close();
    }
  });
}

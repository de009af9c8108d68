// The browser engine, end to end in headless Chromium: the built site (dist/, from
// `trunk build --release`) served twice, cross-origin isolated and not. The right build is
// picked, a short training run lowers the loss, bad input gives readable errors and leaves
// the engine usable, and nothing reaches the console or a third-party host.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve } from './server.mjs';
import { launch, open } from './browser.mjs';

const DIST = process.env.DIST || new URL('../dist', import.meta.url).pathname;
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function ready(page) {
  await page.waitForFunction(() => window.playground?.engine?.info, null, { timeout: 60_000 });
  return page.evaluate(() => window.playground.engine.info);
}

for (const isolated of [true, false]) {
  test(`${isolated ? 'cross-origin isolated: threads' : 'not isolated: SIMD only'} — trains, lowers the loss`, async () => {
    const srv = await serve({ root: DIST, isolated });
    try {
      const { page, errors } = await open(browser, srv.url);
      const info = await ready(page);
      assert.equal(await page.evaluate(() => self.crossOriginIsolated), isolated);
      assert.equal(info.build, isolated ? 'threads' : 'simd');
      const cores = await page.evaluate(() => Math.min(navigator.hardwareConcurrency || 1, 8));
      assert.equal(info.threads, isolated ? cores : 1, 'one thread per core when isolated');
      const badge = await page.textContent('#build');
      assert.match(badge, isolated ? new RegExp(`threads ×${cores}`) : /single thread/);

      // Train from scratch (a fresh model: the pretrained one has nothing left to learn).
      const losses = await page.evaluate(async () => {
        const e = window.playground.engine;
        const w = await e.call('saveWeights');
        await e.call('setBatch', 32, 7);
        const fresh = [];
        await e.call('resetModel', 7);
        const first = await e.train(5);
        fresh.push(first.loss);
        const last = await e.train(75);
        fresh.push(last.loss);
        await e.call('loadWeights', w);
        return fresh;
      });
      assert.ok(losses[1] < 0.6 * losses[0], `loss fell: ${losses}`);
      // The page's own controls: 20 steps through the Start button update the stats.
      await page.fill('#steps', '20');
      const before = await page.evaluate(() => window.playground.engine.call('step'));
      await page.click('#start');
      await page.waitForFunction(() => /^Step \d+: loss/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
      assert.equal(Number(await page.textContent('#stat-step')), before + 20);
      assert.deepEqual(errors, []);
    } finally {
      await srv.close();
    }
  });
}

test('a browser without relaxed SIMD gets the compat build, which predicts the same digits', async () => {
  const srv = await serve({ root: DIST, isolated: false });
  try {
    const { page, errors } = await open(browser, `${srv.url}?engine=compat`);
    const info = await ready(page);
    assert.equal(info.variant, 'compat');
    assert.match(await page.textContent('#build'), /no relaxed SIMD/);
    const { logits, labels } = await page.evaluate(async () => {
      const e = window.playground.engine;
      const idx = Uint32Array.from({ length: 32 }, (_, i) => 8000 + i);
      return { logits: Array.from(await e.call('forwardDigits', idx.slice(), 'eval')), labels: Array.from(await e.call('labels', idx)) };
    });
    const argmax = (v) => v.indexOf(Math.max(...v));
    const correct = labels.filter((l, i) => argmax(logits.slice(10 * i, 10 * i + 10)) === l).length;
    assert.ok(correct >= 30, `${correct}/32 held-out digits right`);
    assert.deepEqual(errors, []);
  } finally {
    await srv.close();
  }
});

test('bad input gives readable errors and the engine keeps working', async () => {
  const srv = await serve({ root: DIST, isolated: false });
  try {
    const { page, errors } = await open(browser, srv.url);
    await ready(page);
    const out = await page.evaluate(async () => {
      const e = window.playground.engine;
      const msg = async (p) => { try { await p; return 'no error'; } catch (err) { return err.message; } };
      const junk = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      return {
        weights: await msg(e.call('loadWeights', junk)),
        name: await msg(e.call('tensor', 'act.nonexistent')),
        shape: await msg(e.call('forward', new Float32Array(10), 1, 'eval')),
        pixels: await msg(e.call('forwardPixels', new Uint8Array(5), 1, 'eval')),
        label: await msg((async () => { await e.call('forwardDigits', new Uint32Array([0]), 'eval'); return e.call('backward', new Uint32Array([12])); })()),
        mode: await msg(e.call('forwardDigits', new Uint32Array([0]), 'sideways')),
        method: await msg(e.call('noSuchMethod')),
        logits: Array.from(await e.call('forwardDigits', new Uint32Array([8000, 8001]), 'eval')),
        labels: Array.from(await e.call('labels', new Uint32Array([8000, 8001]))),
      };
    });
    assert.match(out.weights, /safetensors|header|too short|bytes/i);
    assert.match(out.name, /no tensor 'act\.nonexistent'/);
    assert.match(out.shape, /holds 784 values, but 10 were given|shape/);
    assert.match(out.pixels, /expected 784 pixels for 1 image\(s\) of 1×28×28, got 5/);
    assert.match(out.label, /label 12 is out of range/);
    assert.match(out.mode, /mode must be "train" or "eval"/);
    assert.match(out.method, /no engine method 'noSuchMethod'/);
    // still answering, and the pretrained model classifies the two held-out digits
    const argmax = (v) => v.indexOf(Math.max(...v));
    assert.equal(argmax(out.logits.slice(0, 10)), out.labels[0]);
    assert.equal(argmax(out.logits.slice(10, 20)), out.labels[1]);
    assert.deepEqual(errors, []);
  } finally {
    await srv.close();
  }
});

// Poking at the playground: a learning rate that makes training diverge is caught before the
// update, explained, and the last good weights come back; the engine keeps answering.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve } from './server.mjs';
import { launch, open } from './browser.mjs';

const DIST = process.env.DIST || new URL('../dist', import.meta.url).pathname;
let browser, srv;
before(async () => { browser = await launch(); srv = await serve({ root: DIST, isolated: true }); });
after(async () => { await browser?.close(); await srv?.close(); });

const ready = (page) => page.waitForFunction(() => window.playground?.inspect && document.querySelector('#formula')?.dataset.kind, null, { timeout: 90_000 });

test('learning rate 100: divergence is caught, explained, and the last good weights restored', async () => {
  const { page, errors } = await open(browser, `${srv.url}?lr=100&steps=1000`);
  await ready(page);
  await page.click('#reset');
  await page.waitForFunction(() => /Random weights/.test(document.getElementById('status').textContent));
  await page.click('#start');
  await page.waitForFunction(() => /^Training stopped: /.test(document.getElementById('status').textContent), null, { timeout: 240_000 });
  const msg = await page.textContent('#status');
  assert.match(msg, /is not finite; the weights were not updated \(learning rate too high\?\)\. Training stopped at step \d+; the weights of step \d+ are restored\. Lower the learning rate and train on\./);
  const [, at, back] = msg.match(/stopped at step (\d+); the weights of step (\d+)/).map(Number);
  assert.ok(back < at && at - back <= 30, msg);
  assert.equal(await page.evaluate(() => window.playground.engine.call('step')), back, 'the step counter went back too');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'lr', 'the learning rate field has the focus');
  // the restored model is finite everywhere, in eval mode too (running statistics restored)
  const finite = await page.evaluate(async () => {
    const e = window.playground.engine;
    const logits = await e.call('forwardDigits', Uint32Array.from({ length: 16 }, (_, i) => 8000 + i), 'eval');
    const w = await e.call('parameter', 'layer3.0.bn2.running_var');
    return [...logits, ...w].every(Number.isFinite);
  });
  assert.ok(finite);
  // and it trains on at a sane learning rate
  await page.fill('#lr', '0.05');
  await page.dispatchEvent('#lr', 'change');
  await page.fill('#steps', '5');
  await page.dispatchEvent('#steps', 'change');
  await page.click('#start');
  await page.waitForFunction(() => /^(Step \d+: loss|Training stopped)/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
  assert.match(await page.textContent('#status'), /^Step \d+: loss/);
  assert.deepEqual(errors, []);
});

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

const ready = (page) => page.waitForFunction(() => window.playground?.ready && document.querySelector('#formula')?.dataset.kind, null, { timeout: 90_000 });

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

/** A safetensors file as {meta, tensors: {name: {dtype, shape, bytes (hex of its data)}}}. */
function parseSafetensors(bytes) {
  const b = Buffer.from(bytes);
  const n = Number(b.readBigUInt64LE(0));
  const header = JSON.parse(b.subarray(8, 8 + n).toString());
  const data = b.subarray(8 + n);
  const { __metadata__: meta = {}, ...rest } = header;
  const tensors = Object.fromEntries(Object.entries(rest).map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, bytes: data.subarray(...t.data_offsets).toString('hex') }]));
  return { meta, tensors };
}

const snapshot = (page) => page.evaluate(async () => {
  const e = window.playground.engine;
  return { step: await e.call('step'), weights: Array.from(await e.call('saveWeights')), optimizer: Array.from(await e.call('saveOptimizer')) };
});

test('a reload resumes where training stopped: weights, optimizer state, step, curves and settings', async () => {
  const { page, errors, context } = await open(browser, `${srv.url}?steps=12&opt=adam&lr=0.002`);
  await ready(page);
  await page.click('#reset');
  await page.waitForFunction(() => /Random weights/.test(document.getElementById('status').textContent));
  await page.click('#start');
  await page.waitForFunction(() => /^Step 12: loss/.test(document.getElementById('status').textContent), null, { timeout: 120_000 });
  await page.evaluate(() => window.playground.saveSession());
  const before = await snapshot(page);
  const statLoss = await page.textContent('#stat-loss');
  assert.equal(before.step, 12);

  // the same browser profile opens the page again, without the settings in the link
  const again = await open(browser, srv.url, { context });
  await again.page.waitForFunction(() => /^Welcome back: your session from .* is restored, at step 12\./.test(document.getElementById('status').textContent), null, { timeout: 90_000 });
  const after = await snapshot(again.page);
  assert.equal(after.step, 12);
  assert.deepEqual(parseSafetensors(after.weights), parseSafetensors(before.weights), 'weights and BN statistics');
  const [o1, o2] = [parseSafetensors(before.optimizer), parseSafetensors(after.optimizer)];
  assert.deepEqual(o2, o1, 'Adam moments, step and settings');
  assert.ok(Object.keys(o1.tensors).some((k) => k.startsWith('v.')), 'Adam has second moments');
  assert.equal(await again.page.textContent('#stat-step'), '12');
  assert.equal(await again.page.textContent('#stat-loss'), statLoss);
  assert.equal(await again.page.inputValue('#opt'), 'adam');
  assert.equal(await again.page.inputValue('#lr'), '0.002');
  assert.equal(await again.page.inputValue('#steps'), '12');

  // the session as a file, opened in a fresh profile
  const [download] = await Promise.all([again.page.waitForEvent('download'), again.page.click('#session-save')]);
  const file = Buffer.concat(await (await download.createReadStream()).toArray());
  const fresh = await open(browser, srv.url);
  await ready(fresh.page);
  await fresh.page.setInputFiles('#session-open', { name: 'mine.json', mimeType: 'application/json', buffer: file });
  await fresh.page.waitForFunction(() => /Session "mine.json" opened, at step 12/.test(document.getElementById('status').textContent));
  assert.deepEqual(parseSafetensors((await snapshot(fresh.page)).weights), parseSafetensors(before.weights));
  await fresh.page.setInputFiles('#session-open', { name: 'bad.json', mimeType: 'application/json', buffer: Buffer.from('{"format": "something else"}') });
  await fresh.page.waitForFunction(() => /Could not open "bad.json": this is not a resnet-playground-session\/1 file/.test(document.getElementById('status').textContent));
  assert.deepEqual([...errors, ...again.errors, ...fresh.errors], []);
});

test('no IndexedDB (private mode): a notice, and training still works', async () => {
  const { page, errors } = await open(browser, `${srv.url}?steps=3`, {
    setup: (context) => context.addInitScript(() => Object.defineProperty(window, 'indexedDB', { get() { throw new Error('storage is disabled'); } })),
  });
  await ready(page);
  assert.match(await page.textContent('#session-note'), /Your work is not kept in this browser: this browser gives the page no storage \(storage is disabled\)\. Training still works/);
  await page.click('#start');
  await page.waitForFunction(() => /^Step \d+: loss/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
  assert.deepEqual(errors, []);
});

// Poking at the playground: a learning rate that makes training diverge is caught before the
// update, explained, and the last good weights come back; the engine keeps answering.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve } from './server.mjs';
import { chooseFile, launch, open } from './browser.mjs';

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
  // (the loss explodes before it overflows: either guard may stop it first)
  assert.match(msg, /(is not finite; the weights were not updated|the loss has grown from [\d.]+ to [\d.e+]+ since the run began, with every number finite) \(learning rate too high\?\)\. Training stopped at step \d+; the weights of step \d+ are restored\. Lower the learning rate and train on\./);
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

test('Adam at learning rate 100: a divergence that stays finite is stopped, and the pretrained weights come back', async () => {
  const { page, errors } = await open(browser, `${srv.url}?opt=adam&lr=100&steps=300`);
  await ready(page);
  const before = await snapshot(page);
  await page.click('#start');
  await page.waitForFunction(() => /^Training stopped: /.test(document.getElementById('status').textContent), null, { timeout: 240_000 });
  const msg = await page.textContent('#status');
  assert.match(msg, /the loss has grown from [\d.]+ to [\d.e+]+ since the run began, with every number finite \(learning rate too high\?\)\. Training stopped at step \d+; the weights of step 0 are restored\./);
  const after = await snapshot(page);
  assert.deepEqual(parseSafetensors(after.weights).tensors, parseSafetensors(before.weights).tensors, 'the pretrained weights, bit for bit');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'lr');
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
  // saved by itself at the end of the run
  await page.waitForFunction(() => window.playground.savedStep === 12);
  const before = await snapshot(page);
  const statLoss = await page.textContent('#stat-loss');
  assert.equal(before.step, 12);

  // the same browser profile opens the page again, without the settings in the link
  const again = await open(browser, srv.url, { context });
  await again.page.waitForFunction(() => /^Welcome back: your session from .* is restored, at step 12\./.test(document.getElementById('status').textContent), null, { timeout: 90_000 });
  await ready(again.page); // (the welcome comes before the session's buttons are set up)
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
  await chooseFile(fresh.page, '#session-open', { name: 'mine.json', mimeType: 'application/json', buffer: file });
  await fresh.page.waitForFunction(() => /Session "mine.json" opened, at step 12/.test(document.getElementById('status').textContent));
  assert.deepEqual(parseSafetensors((await snapshot(fresh.page)).weights), parseSafetensors(before.weights));
  await chooseFile(fresh.page, '#session-open', { name: 'bad.json', mimeType: 'application/json', buffer: Buffer.from('{"format": "something else"}') });
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

// ---- bad files ---------------------------------------------------------------------------

import { readFileSync } from 'node:fs';
import { png, gif, seven } from './png.mjs';

const MODEL = readFileSync(new URL('../models/resnet8-mnist.safetensors', import.meta.url));

/** The pretrained file with its header changed by `edit(header)` (data kept). */
function rewrite(edit, dataEdit = null) {
  const n = Number(MODEL.readBigUInt64LE(0));
  const header = JSON.parse(MODEL.subarray(8, 8 + n).toString());
  const data = Buffer.from(MODEL.subarray(8 + n));
  edit(header);
  dataEdit?.(header, data);
  let json = JSON.stringify(header);
  if (json.length < n) json = json.padEnd(n, ' ');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([len, Buffer.from(json), data]);
}

const BAD_WEIGHTS = [
  ['not-safetensors.safetensors', Buffer.from('PK\x03\x04 this is a zip file, not weights'), /header|safetensors/i],
  ['truncated.safetensors', MODEL.subarray(0, MODEL.length >> 1), /bytes|truncated|short|end/i],
  ['wrong-shape.safetensors', rewrite((h) => { h['conv1.weight'].shape = [16, 3, 3, 1]; }), /conv1\.weight: shape \[16, 3, 3, 1\] in the file, the model needs \[16, 1, 3, 3\]/],
  ['wrong-dtype.safetensors', rewrite((h) => { h['fc.bias'].dtype = 'I32'; }), /fc\.bias: dtype I32/],
  ['renamed.safetensors', rewrite((h) => { h['fc.beta'] = h['fc.bias']; delete h['fc.bias']; }), /fc\.bias|fc\.beta/],
  ['nan.safetensors', rewrite(() => {}, (h, d) => d.writeFloatLE(NaN, h['fc.bias'].data_offsets[0])), /fc\.bias: 1 NaN values out of 10; every value must be finite/],
  ['times-1e30.safetensors', rewrite(() => {}, (h, d) => {
    for (const [name, t] of Object.entries(h)) {
      if (!name.endsWith('.weight')) continue;
      for (let o = t.data_offsets[0]; o < t.data_offsets[1]; o += 4) d.writeFloatLE(d.readFloatLE(o) * 1e30, o);
    }
  }), /the weights are finite but the model's output is not: on a test image the activations overflow .*unusable/],
  ['negative-variance.safetensors', rewrite(() => {}, (h, d) => d.writeFloatLE(-1, h['layer2.0.bn1.running_var'].data_offsets[0])), /layer2\.0\.bn1\.running_var: 1 negative values out of 32; a variance must be ≥ 0/],
  ['huge-header.safetensors', Buffer.concat([(() => { const b = Buffer.alloc(8); b.writeBigUInt64LE(1_000_000_000n); return b; })(), Buffer.from('{}')]), /header/i],
];

test('bad weights files: each gets its reason in the page, and the model is unchanged', async () => {
  const { page, errors } = await open(browser, srv.url);
  await ready(page);
  const before = await page.evaluate(async () => Array.from(await window.playground.engine.call('saveWeights')));
  for (const [name, bytes, why] of BAD_WEIGHTS) {
    await chooseFile(page, '#weights-open', { name, mimeType: 'application/octet-stream', buffer: bytes });
    // (each file takes well under a second here; 60 s, as the page's other waits, for a 2-core
    // CI machine whose host is busy: one run there waited more than 20 s for one of them)
    const h = await page.waitForFunction((n) => {
      const t = document.getElementById('status').textContent;
      return t.startsWith(`Could not use "${n}": `) && t;
    }, name, { timeout: 60_000 }).catch(async (e) => {
      throw new Error(`no answer for "${name}"; the status says: ${await page.textContent('#status')}`, { cause: e });
    });
    const msg = await h.jsonValue();
    assert.match(msg, why, msg);
    assert.match(msg, /The model is unchanged\.$/);
  }
  const after = await page.evaluate(async () => Array.from(await window.playground.engine.call('saveWeights')));
  assert.deepEqual(parseSafetensors(after), parseSafetensors(before)); // (header key order may differ)
  // and the real file loads
  await chooseFile(page, '#weights-open', { name: 'resnet8.safetensors', mimeType: 'application/octet-stream', buffer: MODEL });
  await page.waitForFunction(() => /^Weights "resnet8.safetensors" loaded\./.test(document.getElementById('status').textContent));
  assert.deepEqual(errors, []);
});

test('odd images: truncated, 0×0, blank, 10,000×10,000, SVG, animated GIF, transparent; each gets an answer', async () => {
  const { page, errors } = await open(browser, srv.url);
  await ready(page);
  const use = async (name, mimeType, buffer) => {
    await page.evaluate(() => { document.getElementById('status').textContent = ''; document.getElementById('prediction').textContent = ''; });
    await page.setInputFiles('#file', { name, mimeType, buffer });
    const h = await page.waitForFunction(() => {
      const s = document.getElementById('status').textContent, p = document.getElementById('prediction').textContent;
      return (/^Could not use/.test(s) || /your image · predicted/.test(p)) && { s, p };
    }, null, { timeout: 120_000 });
    return h.jsonValue();
  };
  const whole = png(200, 200, seven(200, 200, 40, 30, 120));
  let r = await use('cut.png', 'image/png', whole.subarray(0, 60));
  assert.match(r.s, /Could not use "cut.png": could not read this file as an image \(image\/png\)/);
  const empty = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="0" height="0"></svg>');
  r = await use('empty.svg', 'image/svg+xml', empty);
  assert.match(r.s, /Could not use "empty.svg": /);
  r = await use('blank.png', 'image/png', png(50, 50, () => 255));
  assert.match(r.s, /no digit found: the image is blank/);
  // a 10,000 × 10,000 scan with a small 7 in it: scaled down while decoding, then read
  r = await use('scan.png', 'image/png', png(10_000, 10_000, seven(10_000, 10_000, 3000, 2000, 4000)));
  assert.match(r.p, /your image · predicted \d/);
  assert.match(await page.textContent('#status'), /Showing "scan.png"/);
  r = await use('seven.svg', 'image/svg+xml', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100"><rect width="100" height="100" fill="white"/><path d="M25 20 H75 L45 85" stroke="black" stroke-width="9" fill="none"/></svg>'));
  assert.match(r.p, /your image · predicted 7/);
  // an animated GIF: a 1, then an empty frame; the first frame counts
  const one = (x, y) => (x >= 26 && x < 34 && y >= 10 && y < 54 ? 0 : 255);
  r = await use('blink.gif', 'image/gif', gif(64, 64, [one, () => 255]));
  assert.match(r.p, /your image · predicted 1/);
  // a photo of something that is not a digit (a noisy, shaded scene): predicted, and labelled as such
  r = await use('cat.png', 'image/png', png(300, 200, (x, y) => Math.round(90 + 60 * Math.sin(x / 17) * Math.cos(y / 23) + ((x * 7919 + y * 104729) % 41))));
  assert.match(r.p, /your image · predicted \d .*this does not look like a handwritten digit \(\d+ % of the field is ink/);
  // a file name is text, never markup
  r = await use('<img src=x onerror=alert(1)>.png', 'image/png', Buffer.from('nope'));
  assert.match(r.s, /^Could not use "<img src=x onerror=alert\(1\)>.png"/);
  assert.equal(await page.locator('#status img').count(), 0);
  // dark ink on a transparent background: transparency is paper
  r = await use('ink.png', 'image/png', png(120, 120, (x, y) => (seven(120, 120, 20, 15, 80)(x, y) === 0 ? [0, 255] : [0, 0]), { alpha: true }));
  assert.match(r.p, /your image · predicted \d/);
  const ink = await page.evaluate(async () => {
    const x = await window.playground.engine.call('tensor', 'act.input');
    return x.filter((v) => v > 0).length;
  });
  assert.ok(ink > 20 && ink < 300, `the 7 is ink, the transparent rest is background: ${ink} ink pixels`);
  assert.deepEqual(errors, []);
});

test('a crashed engine is restarted and the saved session comes back, with one message', async () => {
  const { page, errors } = await open(browser, `${srv.url}?steps=7`);
  await ready(page);
  await page.click('#reset');
  await page.waitForFunction(() => /Random weights/.test(document.getElementById('status').textContent));
  await page.click('#start');
  await page.waitForFunction(() => /^Step 7: loss/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
  await page.evaluate(() => window.playground.saveSession());
  const before = await snapshot(page);
  const msg = await page.evaluate(async () => {
    try { await window.playground.engine.simulateTrap(); return 'no error'; } catch (e) { return e.message; }
  });
  assert.match(msg, /simulated trap/);
  await page.waitForFunction(() => /restarted; your session is restored at step 7\./.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
  const after = await snapshot(page);
  assert.equal(after.step, 7);
  assert.deepEqual(parseSafetensors(after.weights), parseSafetensors(before.weights));
  // the views work again on the restored model
  await page.click('#next-digit');
  await page.waitForFunction(() => /held-out digit 1 ·/.test(document.getElementById('prediction').textContent));
  assert.deepEqual(errors.filter((e) => !/simulated trap/.test(e)), []);
});

test('storage full: a notice, and training still works', async () => {
  const { page, errors } = await open(browser, `${srv.url}?steps=3`);
  await ready(page);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(srv.url).origin, quotaSize: 10_000 });
  await page.click('#start');
  await page.waitForFunction(() => /^Step \d+: loss/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
  await page.evaluate(() => window.playground.saveSession());
  await page.waitForFunction(() => /Your work could not be saved: .*Training still works\./.test(document.getElementById('session-note').textContent));
  assert.match(await page.textContent('#session-note'), /storage is full|saving failed|aborted/);
  await page.click('#start');
  await page.waitForFunction(() => /^Step 6: loss/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
  assert.deepEqual(errors, []);
});

test('an engine that stops answering (a trap on a pool thread) is restarted by the watchdog', async () => {
  const { page, errors } = await open(browser, srv.url);
  await ready(page);
  const msg = await page.evaluate(async () => {
    window.playground.engine.hangMs = 2000; // the page's default is 60 s
    try { await window.playground.engine.simulateHang(); return 'no error'; } catch (e) { return e.message; }
  });
  assert.match(msg, /stopped answering for 2 s and was restarted/);
  await page.waitForFunction(() => /The engine stopped unexpectedly and was restarted/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
  // the restarted engine answers
  await page.click('#next-digit');
  await page.waitForFunction(() => /held-out digit 1 ·/.test(document.getElementById('prediction').textContent), null, { timeout: 30_000 });
  assert.deepEqual(errors, []);
});

test('pausing saves: a reload right after a pause resumes at the paused step', async () => {
  const { page, errors, context } = await open(browser, `${srv.url}?steps=2000`);
  await ready(page);
  await page.click('#start');
  await page.waitForFunction(() => Number(document.getElementById('stat-step').textContent) > 3, null, { timeout: 60_000 });
  await page.click('#pause');
  // the engine stops between steps; the save that pausing starts holds that step
  let paused = 0;
  for (const until = Date.now() + 30_000; !paused && Date.now() < until; await page.waitForTimeout(200)) {
    paused = await page.evaluate(async () => {
      const step = await window.playground.engine.call('step');
      return window.playground.savedStep === step ? step : 0;
    });
  }
  assert.ok(paused > 3, `the session was saved at the paused step (${paused})`);
  const again = await open(browser, srv.url, { context });
  await again.page.waitForFunction((s) => new RegExp(`^Welcome back: your session from .* is restored, at step ${s}\\.`).test(document.getElementById('status').textContent), paused, { timeout: 90_000 });
  await page.click('#stop');
  assert.deepEqual([...errors, ...again.errors], []);
});

test('a right-to-left override in a link value is written out, not obeyed', async () => {
  const { page, errors } = await open(browser, `${srv.url}?lr=${encodeURIComponent('1\u202Eabc')}`);
  await ready(page);
  await page.waitForFunction(() => /^Ignored from the link: /.test(document.getElementById('status').textContent), null, { timeout: 30_000 });
  const msg = await page.textContent('#status');
  assert.match(msg, /lr "1\\u\{202E\}abc" is not a learning rate/);
  assert.ok(!msg.includes('\u202E'), 'no override character reaches the page');
  assert.deepEqual(errors, []);
});

test('a paused training run is not taken for a hung engine', async () => {
  const { page, errors } = await open(browser, `${srv.url}?steps=2000`);
  await ready(page);
  await page.evaluate(() => { window.playground.engine.hangMs = 2000; });
  const step = () => page.evaluate(() => Number(document.getElementById('stat-step').textContent) || 0);
  await page.click('#start');
  await page.waitForFunction(() => Number(document.getElementById('stat-step').textContent) > 0, null, { timeout: 60_000 });
  await page.click('#pause');
  await page.waitForTimeout(5000); // paused for 2.5 × the watchdog's limit
  assert.match(await page.textContent('#status'), /^Paused/);
  const paused = await step();
  await page.click('#pause'); // resume: the same run goes on
  await page.waitForFunction((s) => Number(document.getElementById('stat-step').textContent) > s, paused, { timeout: 30_000 });
  assert.doesNotMatch(await page.textContent('#status'), /restarted/);
  await page.click('#stop');
  await page.waitForFunction(() => /^Stopped at step/.test(document.getElementById('status').textContent), null, { timeout: 30_000 });
  assert.deepEqual(errors, []);
});

test('two tabs of one network: the first keeps the saved session, the second says so and saves nothing over it until asked', async () => {
  const a = await open(browser, `${srv.url}?steps=10`);
  await ready(a.page);
  await a.page.click('#start');
  await a.page.waitForFunction(() => /^Step 10: loss/.test(document.getElementById('status').textContent), null, { timeout: 120_000 });
  await a.page.waitForFunction(() => window.playground.savedStep === 10);
  // tab B, same browser profile: restores A's session, and is told it does not keep it
  const b = await open(browser, `${srv.url}?steps=5`, { context: a.context });
  await ready(b.page);
  await b.page.waitForFunction(() => /open in another tab, which keeps its saved session/.test(document.getElementById('session-note').textContent));
  await b.page.click('#reset');
  await b.page.waitForFunction(() => /Random weights/.test(document.getElementById('status').textContent));
  await b.page.click('#start');
  await b.page.waitForFunction(() => /^Step 5: loss/.test(document.getElementById('status').textContent), null, { timeout: 120_000 });
  await b.page.evaluate(() => window.playground.saveSession());
  // A's session is still A's: a third tab restores step 10
  const c = await open(browser, srv.url, { context: a.context });
  await c.page.waitForFunction(() => /restored, at step 10\./.test(document.getElementById('status').textContent), null, { timeout: 90_000 });
  await c.page.close();
  // B takes over: A is told, B's work is now what is kept
  await b.page.click('#session-keep');
  await b.page.waitForFunction(() => /now keeps the saved session/.test(document.getElementById('status').textContent));
  await a.page.waitForFunction(() => /Another tab took over keeping/.test(document.getElementById('session-note').textContent));
  await b.page.waitForFunction(() => window.playground.savedStep === 5);
  await a.page.evaluate(() => window.playground.saveSession()); // A saves nothing now
  const d = await open(browser, srv.url, { context: a.context });
  await d.page.waitForFunction(() => /restored, at step 5\./.test(document.getElementById('status').textContent), null, { timeout: 90_000 });
  assert.deepEqual([...a.errors, ...b.errors, ...c.errors, ...d.errors], []);
  await a.context.close();
});

test('"Train from scratch" and Start clicked together: one runs, the other is refused, and a later run trains every step asked', async () => {
  const { page, errors } = await open(browser, `${srv.url}?steps=20`);
  await ready(page);
  await page.evaluate(() => { document.getElementById('reset').click(); document.getElementById('start').click(); });
  await page.waitForFunction(() => /^Random weights/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
  assert.equal(await page.evaluate(() => window.playground.engine.call('step')), 0, 'no step trained the weights being replaced');
  await page.waitForFunction(() => !document.getElementById('start').disabled);
  await page.click('#start');
  await page.waitForFunction(() => /^Step \d+: loss/.test(document.getElementById('status').textContent), null, { timeout: 120_000 });
  assert.match(await page.textContent('#status'), /^Step 20: loss/);
  // while a run goes, the operations that would replace its weights are disabled
  await page.fill('#steps', '200');
  await page.dispatchEvent('#steps', 'change');
  await page.click('#start');
  await page.waitForFunction(() => document.getElementById('stat-step').textContent !== '20');
  // (and the compare panel's Start and "Single step": a click there would only be refused)
  const disabled = () => page.evaluate(() => [...['reset', 'pretrained', 'arch-build', 'weights-open', 'session-open', 'step'].map((id) => document.getElementById(id)),
    ...document.querySelectorAll('#compare .cmp-start, #compare .cmp-step')].map((e) => e.disabled));
  assert.deepEqual(await disabled(), [true, true, true, true, true, true, true, true]);
  await page.click('#stop');
  await page.waitForFunction(() => /^Stopped at step/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
  await page.waitForFunction(() => !document.getElementById('start').disabled);
  assert.deepEqual((await disabled()).slice(-2), [false, false], 'the compare panel can start again');
  assert.deepEqual(errors, []);
});

test('a session file with 200,000 curve points and values of 1e308 opens, its curves checked and thinned', async () => {
  const { page, errors } = await open(browser, `${srv.url}?steps=5`);
  await ready(page);
  await page.click('#start');
  await page.waitForFunction(() => /^Step 5: loss/.test(document.getElementById('status').textContent), null, { timeout: 120_000 });
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#session-save')]);
  const s = JSON.parse(Buffer.concat(await (await download.createReadStream()).toArray()).toString());
  s.curves.loss.train = Array.from({ length: 200_000 }, (_, i) => [i, i === 7 ? 1e308 : 1 / (1 + i)]);
  s.curves.loss.heldout = [[0, 'x'], [1, null], [2, 1e300], [3, 0.5]];
  await chooseFile(page, '#session-open', { name: 'huge.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(s)) });
  await page.waitForFunction(() => /Session "huge.json" opened/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
  // what the page now keeps (and would save again): checked and thinned
  const [again] = await Promise.all([page.waitForEvent('download'), page.click('#session-save')]);
  const back = JSON.parse(Buffer.concat(await (await again.createReadStream()).toArray()).toString());
  assert.ok(back.curves.loss.train.length <= 4000, `${back.curves.loss.train.length} points kept`);
  assert.ok(back.curves.loss.train.every(([, v]) => Math.abs(v) <= 1e6));
  assert.deepEqual(back.curves.loss.heldout, [[3, 0.5]]);
  assert.deepEqual(errors, []);
});

// A loss of any size keeps its axis labels whole: the left margin widens to the widest tick
// label (1.2e+7 when a run explodes), nothing is drawn past the canvas's left edge, and the
// tick labels keep a gap from the rotated axis name. (Pixels of the chart's canvas: no ink in
// its first column, and a clear column between the axis name and the labels.)
test('the loss axis fits its labels, from 0.5 to 10 million', async () => {
  // (a quiet same-origin page; Chromium asks it for a favicon)
  const { page, errors } = await open(browser, `${srv.url}style.css`, {
    setup: (context) => context.route('**/favicon.ico', (route) => route.fulfill({ status: 204 })),
  });
  const got = await page.evaluate(async () => {
    const { Chart } = await import('/js/views/curves.js');
    const out = [];
    for (const top of [0.4, 3.7, 123.4, 45678, 1.23e7]) {
      const canvas = Object.assign(document.createElement('canvas'), { width: 300, height: 180 });
      canvas.style.cssText = 'width: 300px; height: 180px; display: block';
      document.body.append(canvas);
      const chart = new Chart(canvas, { yLabel: 'loss', series: [{ key: 'loss', label: 'training batch', colour: '#2563eb' }] });
      for (let s = 0; s < 50; s++) chart.add('loss', s, (top * (s + 1)) / 50);
      chart.draw();
      const { width: w, height: h } = canvas;
      const px = canvas.getContext('2d').getImageData(0, 0, w, h).data;
      const dpr = window.devicePixelRatio || 1;
      const ink = (col) => { for (let y = 0; y < h; y++) if (px[(y * w + col) * 4 + 3] > 40) return true; return false; };
      // columns with ink, left of the plot's first vertical pixel
      const cols = [];
      for (let x = 0; x < Math.round(120 * dpr); x++) cols.push(ink(x));
      const runs = []; // [start, end) of each run of inked columns
      cols.forEach((v, x) => { if (v && !cols[x - 1]) runs.push([x, x + 1]); else if (v) runs.at(-1)[1] = x + 1; });
      out.push({ top, firstColumn: cols[0], runs: runs.map(([a, b]) => [a / dpr, b / dpr]) });
      canvas.remove();
    }
    return out;
  });
  for (const { top, firstColumn, runs } of got) {
    assert.equal(firstColumn, false, `loss up to ${top}: ink in the canvas's first column (a clipped label): ${JSON.stringify(runs)}`);
    // the rotated axis name alone (it ends by x = 18: labels merged into it would widen it),
    // then at least 2 px of nothing, then the tick labels, then the plot
    assert.ok(runs.length >= 3 && runs[0][1] <= 18 && runs[1][0] - runs[0][1] >= 2, `loss up to ${top}: the axis name and the tick labels touch: ${JSON.stringify(runs)}`);
  }
  assert.deepEqual(errors, []);
});

// Single steps clicked in a burst while the digit and the layer change under them (the case
// once seen to leave "no tensor 'delta.layer2.0.conv1' on the tape" in the status line): every
// status the page shows meanwhile is recorded, none names a missing tensor or a failure, and
// the views end on the last digit and layer chosen, on the engine's pass of them.
test('single steps in a burst while the digit and the layer change: no missing tensor, the views end consistent', async () => {
  const { page, errors } = await open(browser, srv.url);
  await ready(page);
  await page.evaluate(() => {
    const s = document.getElementById('status');
    window.statuses = [];
    new MutationObserver(() => window.statuses.push(s.textContent)).observe(s, { childList: true, characterData: true, subtree: true });
  });
  const layers = await page.$$eval('#layer option', (os) => os.map((o) => o.value));
  assert.ok(layers.length >= 8, layers.join());
  const chosen = await page.evaluate(async (layers) => {
    const pause = (ms) => new Promise((ok) => setTimeout(ok, ms));
    let steps = 0, layer = null;
    for (let i = 0; i < 16; i++) {
      const step = document.getElementById('step');
      if (!step.disabled) { step.click(); steps += 1; }
      document.getElementById('next-digit').click();
      const select = document.getElementById('layer');
      layer = layers[(i * 5) % layers.length];
      select.value = layer;
      select.dispatchEvent(new Event('change', { bubbles: true }));
      await pause(i % 3 === 0 ? 0 : 40);
    }
    return { steps, layer };
  }, layers);
  assert.ok(chosen.steps >= 1);
  // settled: no step running, the pane explains a cell of the last layer chosen
  await page.waitForFunction((layer) => !document.getElementById('step').disabled && window.playground.state.layer === layer
    && document.getElementById('layer-name').textContent === layer, chosen.layer, { timeout: 60_000 });
  await page.waitForTimeout(1500);
  const { statuses, digit, step, act } = await page.evaluate(async (layer) => ({
    statuses: window.statuses,
    digit: window.playground.state.digit,
    step: await window.playground.engine.call('step'),
    act: (await window.playground.engine.tensor(`act.${layer}`)).length,
  }), chosen.layer);
  assert.ok(statuses.some((t) => /^Step \d+/.test(t)), `the steps' statuses were seen: ${statuses.join(' | ')}`);
  assert.deepEqual(statuses.filter((t) => /no tensor|not on the tape|failed|error/i.test(t)), [], statuses.join(' | '));
  assert.equal(digit, 16, 'every "next digit" click counted');
  assert.ok(step >= 1, `${step} steps ran`);
  assert.ok(act > 0);
  assert.deepEqual(errors, []);
});

// Compare mode, the residual lesson, as a student meets it: the link ?compare=plain20,resnet20
// opens the panel with both models; Start trains them 50 steps side by side while the page
// stays responsive; two curves, a legend with images/s, the gradient-flow map drawn; its
// numbers are the norms of the weights the engine exports for that step; rewinding and
// continuing repeats the run bit for bit, and so does a second run. The widget's compare and
// flow views share one engine. Screenshots (1280 px and 390 px) go to test-artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { serve } from './server.mjs';
import { launch, open, addWidget } from './browser.mjs';

const DIST = process.env.DIST || new URL('../dist', import.meta.url).pathname;
const ARTIFACTS = new URL('../test-artifacts/', import.meta.url).pathname;
mkdirSync(ARTIFACTS, { recursive: true });
let browser, srv;
before(async () => { browser = await launch(); srv = await serve({ root: DIST, isolated: false }); });
after(async () => { await browser?.close(); await srv?.close(); });

const ready = (page) => page.waitForFunction(() => window.playground?.ready && document.querySelector('#compare .cmp-start'), null, { timeout: 90_000 });
const noteIs = (page, re, timeout = 240_000) => page.waitForFunction((src) => new RegExp(src).test(document.querySelector('#compare .cmp-status').textContent), re.source, { timeout });
const state = (page) => page.evaluate(() => window.playground.engine.compareState());
const bits = (curve) => curve.map((p) => `${p.step}:${p.loss}:${p.accuracy}`);
const norm = (a) => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0));

test('?compare=plain20,resnet20 trains 50 steps side by side: two curves, the flow, rewind, reproducible', async () => {
  const { page, errors } = await open(browser, `${srv.url}?compare=plain20,resnet20`);
  await ready(page);
  const picked = await page.$$eval('#compare .cmp-member', (s) => s.map((x) => x.value));
  assert.deepEqual(picked, ['plain20', 'resnet20', '']);
  assert.equal(await page.inputValue('#compare .cmp-lesson'), 'plain-vs-resnet');
  await page.fill('#compare .cmp-steps', '50');
  // the main thread's lateness while the models train, sampled every 20 ms
  await page.evaluate(() => {
    window.lag = { max: 0, n: 0 };
    let last = performance.now();
    window.lagTimer = setInterval(() => { const t = performance.now(); window.lag.max = Math.max(window.lag.max, t - last - 20); window.lag.n++; last = t; }, 20);
  });
  await page.click('#compare .cmp-start');
  await page.waitForFunction(() => document.querySelector('#compare .cmp-legend')?.textContent.includes('images/s'), null, { timeout: 120_000 });
  // a click during the run is handled at once: Pause turns into Resume
  const clicked = page.evaluate(() => new Promise((resolve) => {
    const b = document.querySelector('#compare .cmp-pause');
    b.addEventListener('click', (e) => queueMicrotask(() => resolve({ ms: performance.now() - e.timeStamp, text: b.textContent })), { once: true });
  }));
  await page.click('#compare .cmp-pause');
  const handled = await clicked;
  assert.ok(handled.ms < 100, `the click took ${handled.ms.toFixed(0)} ms to handle`);
  assert.equal(handled.text, 'Resume');
  await page.click('#compare .cmp-pause'); // resume
  await noteIs(page, /^Done at step 50\b/);
  const lag = await page.evaluate(() => { clearInterval(window.lagTimer); return window.lag; });
  assert.ok(lag.n > 20 && lag.max < 250, `main thread late by up to ${lag.max.toFixed(0)} ms over ${lag.n} samples`);

  const s = await state(page);
  assert.equal(s.step, 50);
  assert.deepEqual(s.members.map((m) => m.label), ['Plain-20', 'ResNet-20']);
  for (const m of s.members) {
    assert.equal(m.curve.length, 50);
    assert.ok(m.heldout.length >= 5, 'held-out dots every tenth of the run');
    assert.ok(m.imagesPerSec > 0);
    assert.equal(m.flow.steps.length, 50, 'a record every step of a short run');
    assert.equal(m.flow.grad.length, 50 * m.layers.length);
  }
  assert.equal(s.members[0].blocks.length, 0, 'a plain net has no shortcut to split δ');
  assert.equal(s.members[1].blocks.length, 9);
  // the legend: both models with their images/s; the charts carry a line each
  const legend = await page.$$eval('#compare .cmp-legend li', (li) => li.map((x) => x.textContent));
  assert.equal(legend.length, 2);
  assert.match(legend[0], /^Plain-20 · \d+ images\/s · loss \d\.\d{3}/);
  assert.match(legend[1], /^ResNet-20 · \d+ images\/s · loss \d\.\d{3}/);
  // the flow map is drawn: the centre of the canvas is coloured, not blank
  const painted = await page.$eval('#compare canvas.flow-map', (c) => {
    const g = c.getContext('2d');
    const p = g.getImageData(Math.round(c.width * 0.5), Math.round(c.height * 0.4), 1, 1).data;
    return p[3] > 0 && !(p[0] === p[1] && p[1] === p[2]);
  });
  assert.ok(painted, 'the flow map has colour');
  await page.screenshot({ path: `${ARTIFACTS}compare-1280.png`, fullPage: true });
  await page.locator('#compare-panel').screenshot({ path: `${ARTIFACTS}compare-panel-1280.png` });

  // the flow's numbers are the norms of the tensors: ‖w‖ recorded at step 41 (before its
  // update) is the norm of the weights of snapshot 40, which the engine exports once shown
  assert.ok(s.snapshots.includes(40), `snapshots ${s.snapshots}`);
  const k = s.snapshots.indexOf(40);
  await page.$eval('#compare input.rewind', (r, v) => { r.value = String(v); r.dispatchEvent(new Event('input')); }, k);
  assert.equal(await page.textContent('#compare .rewind-at'), 'step 40');
  await page.selectOption('#compare .flow-member', '1');
  await page.click('#compare .rewind-show');
  // (the note shows first; the operation ends with the status, once the views are rebuilt)
  await page.waitForFunction(() => /^The views show ResNet-20 at step 40 of the comparison\./.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
  assert.equal(await page.isHidden('#shown-note'), false);
  assert.match(await page.textContent('#shown-what'), /^ResNet-20 at step 40$/);
  assert.ok(await page.isDisabled('#start'), 'the own model waits: nothing trains in its place');
  const res = s.members[1];
  const at41 = res.flow.steps.indexOf(41);
  for (const [i, layer] of res.layers.entries()) {
    const w = await page.evaluate((n) => window.playground.engine.parameter(n), `${layer}.weight`);
    const want = norm(w), got = res.flow.weight[at41 * res.layers.length + i];
    assert.ok(Math.abs(got - want) <= 1e-6 * want, `${layer}: flow ‖w‖ ${got} vs exported ${want}`);
  }
  // the readout a student hovers says the same number (3 significant digits)
  await page.selectOption('#compare .flow-metric', 'weight');
  await page.locator('#compare canvas.flow-map').scrollIntoViewIfNeeded();
  const box = await page.$eval('#compare canvas.flow-map', (c) => { const r = c.getBoundingClientRect(); return { x: r.left, y: r.top, w: r.width, h: r.height, left: Number(c.dataset.left), right: Number(c.dataset.right) }; });
  const [L, R, T, B] = [box.left, box.right, 6, 30];
  await page.mouse.move(box.x + L + ((at41 + 0.5) / 50) * (box.w - L - R), box.y + T + 0.5 * ((box.h - T - B) / res.layers.length));
  const readout = await page.textContent('#compare .flow-readout');
  const w0 = norm(await page.evaluate(() => window.playground.engine.parameter('conv1.weight')));
  assert.match(readout, new RegExp(`^ResNet-20, conv1 after step 41: .*‖w‖ = ${w0.toPrecision(3).replace('.', '\\.')},`));
  await page.click('#show-own');
  await page.waitForFunction(() => document.getElementById('status').textContent === 'Your own model is back in the views.', null, { timeout: 60_000 });
  assert.equal(await page.isHidden('#shown-note'), true);
  assert.equal(await page.textContent('#arch-name'), 'ResNet-8');

  // continue from step 40: the ten steps after it repeat bit for bit
  await page.click('#compare .rewind-fork');
  await noteIs(page, /^The comparison continues from step 40/);
  // (disabled while it ran, the button has the focus back for a keyboard user)
  await page.waitForFunction(() => document.activeElement?.classList.contains('rewind-fork') && !document.activeElement.disabled, null, { timeout: 10_000 });
  assert.equal((await state(page)).members[0].curve.length, 40);
  await page.fill('#compare .cmp-steps', '10');
  await page.click('#compare .cmp-start');
  await noteIs(page, /^Done at step 50\b/);
  const again = await state(page);
  for (const i of [0, 1]) assert.deepEqual(bits(again.members[i].curve), bits(s.members[i].curve), `member ${i} continued from 40`);
  assert.deepEqual(again.members[1].flow.grad, s.members[1].flow.grad);
  // a second run with the same settings: the same curves
  const second = await page.evaluate(async () => {
    const e = window.playground.engine;
    await e.compareStart(['plain20', 'resnet20'], 1);
    await e.compare(50, () => {}, { evalEvery: 0 });
    return e.compareState();
  });
  for (const i of [0, 1]) assert.deepEqual(bits(second.members[i].curve), bits(s.members[i].curve), `member ${i}, second run`);

  await page.setViewportSize({ width: 390, height: 800 });
  await page.waitForTimeout(300);
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(wide <= 390, `the page is ${wide} px wide at 390`);
  await page.locator('#compare-panel').screenshot({ path: `${ARTIFACTS}compare-390.png` });
  assert.deepEqual(errors, []);
});

test('the widget: view="compare" and view="flow" share one engine; step events carry every model', async () => {
  const { page, errors } = await open(browser, `${srv.url}embed.html`);
  await page.waitForFunction(() => customElements.get('resnet-playground'), null, { timeout: 60_000 });
  await addWidget(page, 'cmp', { view: 'compare', compare: 'plain20,resnet20', steps: '12' });
  await addWidget(page, 'flow', { view: 'flow', compare: 'plain20,resnet20', steps: '12' });
  const inside = (id, sel) => page.waitForFunction(([i, s]) => document.getElementById(i)?.shadowRoot?.querySelector(s), [id, sel], { timeout: 90_000 });
  await inside('cmp', '.cmp-start');
  await inside('flow', 'canvas.flow-map');
  await page.evaluate(() => {
    window.events = [];
    document.getElementById('cmp').addEventListener('step', (e) => window.events.push(e.detail));
  });
  await page.evaluate(() => document.getElementById('cmp').shadowRoot.querySelector('.cmp-start').click());
  await page.waitForFunction(() => /^Done at step 12\b/.test(document.getElementById('cmp').shadowRoot.querySelector('.cmp-status').textContent), null, { timeout: 120_000 });
  const events = await page.evaluate(() => window.events);
  assert.ok(events.length >= 1);
  const last = events.at(-1);
  assert.equal(last.step, 12);
  assert.deepEqual(last.models.map((m) => m.id), ['plain20', 'resnet20']);
  assert.ok(last.models.every((m) => Number.isFinite(m.loss)));
  // the flow widget trains its own comparison on the same engine (the first one's was replaced)
  await page.evaluate(() => document.getElementById('flow').shadowRoot.querySelector('.cmp-start').click());
  await page.waitForFunction(() => /^Done at step 12\b/.test(document.getElementById('flow').shadowRoot.querySelector('.cmp-status').textContent), null, { timeout: 120_000 });
  const same = await page.evaluate(() => document.getElementById('cmp').dataset.build === document.getElementById('flow').dataset.build);
  assert.ok(same);
  await page.locator('#flow').screenshot({ path: `${ARTIFACTS}widget-flow.png` });
  assert.deepEqual(errors, []);
});

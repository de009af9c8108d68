// The "Look inside" views in headless Chromium: the pretrained model's prediction for a
// held-out digit, feature-map and δ grids for a chosen layer with their legends, and a cursor
// (mouse and keyboard) whose readout shows exactly the engine's value at its indices.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve } from './server.mjs';
import { launch, open } from './browser.mjs';

const DIST = process.env.DIST || new URL('../dist', import.meta.url).pathname;
let browser, srv;
before(async () => { browser = await launch(); srv = await serve({ root: DIST, isolated: false }); });
after(async () => { await browser?.close(); await srv?.close(); });

const readout = (page, grid) => page.evaluate((g) => {
  const r = document.querySelector(`#${g} .readout`);
  return { index: JSON.parse(r.dataset.index), value: Number(r.dataset.value), text: r.textContent };
}, grid);

/** The engine's own value of `name` at [n, c, x, y]. */
const engineValue = (page, name, [n, c, x, y]) => page.evaluate(async ({ name, n, c, x, y }) => {
  const e = window.playground.engine;
  const [t, s] = await Promise.all([e.call('tensor', name), e.call('tensorShape', name)]);
  return t[((n * s[1] + c) * s[2] + x) * s[3] + y];
}, { name, n, c, x, y });

test('a held-out digit, its feature maps and δ maps, and a cursor that reads the engine', async () => {
  const { page, errors } = await open(browser, srv.url);
  await page.waitForFunction(() => window.playground?.inspect, null, { timeout: 60_000 });
  // the pretrained model classifies the default held-out digit correctly
  const pred = await page.textContent('#prediction');
  const [, label, predicted] = pred.match(/label (\d) · predicted (\d)/);
  assert.equal(predicted, label, pred);

  // default layer: layer1.0.conv1, 16 channels of 28×28 in both grids, each with a legend
  assert.equal(await page.locator('#acts canvas[data-channel]').count(), 16);
  assert.equal(await page.locator('#deltas canvas[data-channel]').count(), 16);
  assert.match(await page.getAttribute('#acts .legend', 'aria-label'), /colour scale from -?[\d.e-]+ to [\d.e-]+/);
  const deltaScale = await page.getAttribute('#deltas .legend', 'aria-label');
  const [, lo, hi] = deltaScale.match(/from (\S+) to (\S+)/);
  assert.equal(Number(lo), -Number(hi), `δ scale is symmetric: ${deltaScale}`);

  // hover a cell of channel 5: the readout is the engine's act value at those indices
  const box = await page.locator('#acts canvas[data-channel="5"]').boundingBox();
  await page.mouse.move(box.x + box.width * (10.5 / 28), box.y + box.height * (7.5 / 28));
  let r = await readout(page, 'acts');
  assert.deepEqual(r.index, [0, 5, 7, 10]);
  assert.equal(r.value, await engineValue(page, 'act.layer1.0.conv1', r.index));

  // another layer; the keyboard moves the δ cursor
  await page.selectOption('#layer', 'layer2.0.conv1');
  await page.waitForFunction(() => document.querySelectorAll('#deltas canvas[data-channel]').length === 32);
  await page.focus('#deltas .heatmaps-grid');
  for (const k of ['ArrowDown', 'ArrowDown', 'ArrowDown', 'ArrowRight', 'PageDown', 'PageDown']) await page.keyboard.press(k);
  r = await readout(page, 'deltas');
  assert.deepEqual(r.index, [0, 2, 3, 1]);
  assert.equal(r.value, await engineValue(page, 'delta.layer2.0.conv1', r.index));
  assert.match(r.text, /^delta\.layer2\.0\.conv1\[n=0, c=2, x=3, y=1\] = /);

  // a bad digit number is refused with a message
  await page.fill('#sample', '5000');
  await page.dispatchEvent('#sample', 'change');
  await page.waitForFunction(() => /from 0 to 1999/.test(document.getElementById('status').textContent));
  assert.deepEqual(errors, []);
});

test('the URL keeps the layer and digit, and garbage in it falls back to defaults with a notice', async () => {
  const { page, errors } = await open(browser, `${srv.url}?layer=layer3.0.conv2&digit=7`);
  await page.waitForFunction(() => window.playground?.inspect, null, { timeout: 60_000 });
  assert.equal(await page.inputValue('#layer'), 'layer3.0.conv2');
  assert.equal(await page.inputValue('#sample'), '7');
  assert.equal(await page.locator('#acts canvas[data-channel]').count(), 64);
  await page.selectOption('#layer', 'bn1');
  await page.waitForFunction(() => new URLSearchParams(location.search).get('layer') === 'bn1');

  const bad = await open(browser, `${srv.url}?layer=%3Cimg%20src%3Dx%3E&digit=-3`);
  await bad.page.waitForFunction(() => window.playground?.inspect, null, { timeout: 60_000 });
  assert.equal(await bad.page.inputValue('#layer'), 'layer1.0.conv1');
  assert.equal(await bad.page.inputValue('#sample'), '0');
  const msg = await bad.page.textContent('#status');
  assert.match(msg, /Ignored from the link: digit "-3" .*; layer "<img src=x>" is not a layer/);
  assert.equal(await bad.page.locator('#status img').count(), 0, 'URL text goes into the page as text');
  assert.deepEqual([...errors, ...bad.errors], []);
});

// The playground page in headless Chromium, as a student uses it: the pretrained model's
// prediction, training from scratch with live curves while the page stays responsive, the
// feature-map and δ grids with a cursor that reads the engine, the formula pane (indices,
// terms that sum to the shown value, the δ^{l+1} cells it highlights), a dropped PNG and a
// drawn digit, and the URL that reproduces a view. Screenshots of the main states go to
// test-artifacts/ for a reviewer to look at.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { serve } from './server.mjs';
import { launch, open } from './browser.mjs';

const DIST = process.env.DIST || new URL('../dist', import.meta.url).pathname;
const ARTIFACTS = new URL('../test-artifacts/', import.meta.url).pathname;
mkdirSync(ARTIFACTS, { recursive: true });
let browser, srv;
before(async () => { browser = await launch(); srv = await serve({ root: DIST, isolated: false }); });
after(async () => { await browser?.close(); await srv?.close(); });

const ready = (page) => page.waitForFunction(() => window.playground?.ready && document.querySelector('#formula')?.dataset.kind, null, { timeout: 90_000 });
const shot = (page, name) => page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });

const readout = (page, root) => page.evaluate((r) => {
  const el = document.querySelector(`#${r} .readout`);
  return { index: JSON.parse(el.dataset.index), value: Number(el.dataset.value), text: el.textContent };
}, root);

/** The engine's own value of tape tensor `name` at a full index. */
const engineValue = (page, name, idx) => page.evaluate(async ({ name, idx }) => {
  const e = window.playground.engine;
  const [t, s] = await Promise.all([e.call('tensor', name), e.call('tensorShape', name)]);
  return t[idx.reduce((o, v, k) => o * s[k] + v, 0)];
}, { name, idx });

/** What the formula pane shows: kind, target, index, value, and its table rows. */
const pane = (page) => page.evaluate(() => {
  const f = document.getElementById('formula');
  const rows = [...f.querySelectorAll('table.terms tr.term, table.terms tr.rest')].map((r) => Number(r.dataset.value));
  const parts = [...f.querySelectorAll('table.parts tr.part.adds')].map((r) => Number(r.dataset.value));
  return { kind: f.dataset.kind, target: f.dataset.target, index: JSON.parse(f.dataset.index ?? 'null'), value: Number(f.dataset.value), rows, parts, text: f.textContent };
});

/** Waits until the pane explains `kind` at `index`. */
const paneAt = (page, kind, index) => page.waitForFunction(({ kind, index }) => {
  const f = document.getElementById('formula');
  return f.dataset.kind === kind && f.dataset.index === JSON.stringify(index);
}, { kind, index }, { timeout: 20_000 });

/** Moves the mouse to cell (x, y) of an H×W canvas. */
async function hover(page, selector, x, y, H, W) {
  await page.locator(selector).scrollIntoViewIfNeeded();
  const box = await page.locator(selector).boundingBox();
  await page.mouse.move(box.x + box.width * ((y + 0.5) / W), box.y + box.height * ((x + 0.5) / H));
}

const close = (a, b, what) => assert.ok(Math.abs(a - b) <= 1e-4 * Math.max(1e-7, Math.abs(a), Math.abs(b)), `${what}: ${a} vs ${b}`);

test('at load: the pretrained model predicts the digit, every view is alive, the pane explains a cell', async () => {
  const { page, errors } = await open(browser, srv.url);
  await ready(page);
  const pred = await page.textContent('#prediction');
  const [, label, predicted] = pred.match(/label (\d) · predicted (\d)/);
  assert.equal(predicted, label, pred);
  assert.equal(await page.getAttribute('#probs', 'data-predicted'), label);
  // default layer layer2.0.conv1: 32 maps of 14×14 for z and δ, 16 of 28×28 for δ at its input
  assert.equal(await page.inputValue('#layer'), 'layer2.0.conv1');
  assert.equal(await page.locator('#acts canvas[data-channel]').count(), 32);
  assert.equal(await page.locator('#deltas canvas[data-channel]').count(), 32);
  assert.equal(await page.locator('#input-deltas canvas[data-channel]').count(), 16);
  const scale = await page.getAttribute('#deltas .legend', 'aria-label');
  const [, lo, hi] = scale.match(/from (\S+) to (\S+)/);
  assert.equal(Number(lo), -Number(hi), `δ scale is symmetric: ${scale}`);
  // the pane already explains the largest δ at the conv's input
  const p = await pane(page);
  assert.equal(p.kind, 'conv_input_delta');
  assert.equal(p.target, 'delta.layer1.0.add');
  close(p.value, await engineValue(page, 'delta.layer1.0.add', p.index), 'pane value is the tape value');
  assert.notEqual(p.value, 0);
  assert.match(p.text, /✓ equals the engine's value/);
  assert.equal(await page.locator('#formula .katex').count() >= 2, true, 'KaTeX typeset the formulas');
  assert.equal(await page.locator('#network [role=option]').count() > 20, true, 'the network strip lists the modules');
  await shot(page, 'page-load');
  assert.deepEqual(errors, []);
  await page.close();
});

test('hover a δ cell at layer2.0.conv1\'s input: indices, terms that sum to it, highlighted δ^{l+1} cells', async () => {
  const { page, errors } = await open(browser, `${srv.url}?layer=layer2.0.conv1&digit=3`);
  await ready(page);
  await hover(page, '#input-deltas canvas[data-channel="3"]', 9, 12, 28, 28);
  await paneAt(page, 'conv_input_delta', [0, 3, 9, 12]);
  const r = await readout(page, 'input-deltas');
  assert.deepEqual(r.index, [0, 3, 9, 12]);
  const p = await pane(page);
  assert.deepEqual(p.index, r.index, 'the pane explains the hovered cell');
  close(p.value, r.value, 'the pane shows the hovered value');
  // σ'(z) · (listed terms + the rest + the shortcut) = the value
  const sigma = await engineValue(page, 'act.layer1.0.add', r.index) > 0 ? 1 : 0;
  const sum = p.rows.reduce((a, b) => a + b, 0) + p.parts.reduce((a, b) => a + b, 0);
  close(sigma * sum, r.value, 'terms sum to the cell');
  assert.equal(p.parts.length, 1, 'the other branch reading layer1.0: the 1×1 downsample shortcut');
  // the outlined cells of δ^{l+1} are exactly the (x', y') the engine lists for that channel
  const pic = await page.evaluate(() => {
    const c = document.querySelector('#formula .picture-map');
    const k = document.querySelector('#formula .picture-kernel');
    return { hl: JSON.parse(c.dataset.highlight), outline: JSON.parse(c.dataset.outline), grid: JSON.parse(c.dataset.grid), o: Number(c.dataset.channel), window: JSON.parse(c.dataset.window), used: JSON.parse(k.dataset.used) };
  });
  const listed = await page.evaluate(async (o) => {
    const f = await window.playground.engine.call('formula', { kind: 'conv_input_delta', conv: 'layer2.0.conv1', n: 0, i: 3, x: 9, y: 12 }, 100000);
    return f.terms.map((t) => Object.fromEntries(t.index)).filter((t) => t.o === o);
  }, pic.o);
  const key = (v) => JSON.stringify([...new Set(v.map(String))].sort());
  assert.equal(key(pic.hl), key(listed.map((t) => [t["x'"], t["y'"]])));
  // stride 2, K = 3, p = 1: x = 9 is reached from x' = 4 and 5, y = 12 from y' = 6 only
  assert.deepEqual(listed.map((t) => [t["x'"], t["y'"]]).sort(), [[4, 6], [5, 6]]);
  // on the dilated, padded grid (28 + K − 1 = 30 wide, K − 1 − p = 1 zero around) every
  // outlined δ^{l+1} cell lies in the 3×3 window at the hovered cell, and the ROT180 kernel
  // entries it meets are (K−1−a, K−1−b) of the engine's terms
  assert.deepEqual(pic.grid, [30, 30, 1]);
  assert.deepEqual(pic.window, [9, 12]);
  for (const [r, c] of pic.outline) assert.ok(r >= 9 && r < 12 && c >= 12 && c < 15, `outline ${r},${c} in the window`);
  assert.deepEqual(pic.outline.map(([r, c]) => [r - 9, c - 12]).map(String).sort(), listed.map((t) => [2 - t.a, 2 - t.b]).map(String).sort());
  assert.deepEqual(pic.used.sort(), listed.map((t) => `${2 - t.a},${2 - t.b}`).sort());
  await shot(page, 'formula-input-delta');

  // the keyboard moves the cursor and the pane follows
  await page.focus('#input-deltas .heatmaps-grid');
  await page.keyboard.press('ArrowRight');
  await paneAt(page, 'conv_input_delta', [0, 3, 9, 13]);
  // (Home and End mean nothing on a map: no move, and no error)
  await page.keyboard.press('Home');
  await page.keyboard.press('End');
  await page.waitForTimeout(200);
  assert.deepEqual(JSON.parse(await page.getAttribute('#formula', 'data-index')), [0, 3, 9, 13]);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a weight-gradient cell and the residual junction', async () => {
  const { page, errors } = await open(browser, `${srv.url}?layer=layer1.0.conv2`);
  await ready(page);
  // kernels of o = 0: 16 tiles of 3×3 (9 px cells, 4 px gaps) in one row; hover tile i = 2, (a, b) = (1, 2)
  await page.locator('#weights canvas.weights-map').nth(1).scrollIntoViewIfNeeded();
  const box = await page.locator('#weights canvas.weights-map').nth(1).boundingBox();
  const sx = box.width / (16 * 27 + 15 * 4);
  await page.mouse.move(box.x + sx * (2 * 31 + 2 * 9 + 4), box.y + sx * (1 * 9 + 4));
  await paneAt(page, 'conv_weight_grad', [0, 2, 1, 2]);
  let p = await pane(page);
  const g = await engineValue(page, 'grad.layer1.0.conv2.weight', [0, 2, 1, 2]);
  close(p.value, g, 'pane value = engine gradient');
  close(p.rows.reduce((a, b) => a + b, 0), g, 'listed terms + rest = gradient');
  // Σ over one image's 28×28 outputs (n = 1) but for b = 2 the last column of outputs reads
  // the zero padding: 28 × 27 terms
  assert.match(p.text, /largest of 756 terms/);
  assert.match(p.text, /28 window positions in the zero padding/);

  // the junction: δ of layer1.0's output = main branch (layer2.0.conv1) + shortcut (downsample)
  await page.selectOption('#layer', 'layer1.0');
  await page.waitForFunction(() => document.querySelectorAll('#deltas canvas[data-channel]').length === 16);
  await hover(page, '#deltas canvas[data-channel="5"]', 14, 7, 28, 28);
  await paneAt(page, 'residual_fork', [0, 5, 14, 7]);
  p = await pane(page);
  const d = await engineValue(page, 'delta.layer1.0', [0, 5, 14, 7]);
  close(p.value, d, 'pane value = δ of the block output');
  assert.equal(p.parts.length, 1);
  close(p.rows.reduce((a, b) => a + b, 0) + p.parts[0], d, 'main branch + shortcut');
  assert.match(p.text, /shortcut/);
  await shot(page, 'formula-residual');
  // a cell no formula explains (the block's ReLU output): the engine's value and its note
  await hover(page, '#acts canvas[data-channel="5"]', 14, 7, 28, 28);
  await paneAt(page, 'note', [0, 5, 14, 7]);
  p = await pane(page);
  close(p.value, await engineValue(page, 'act.layer1.0', [0, 5, 14, 7]), 'note value = engine activation');
  assert.equal(p.target, 'act.layer1.0');
  assert.match(p.text, /max\(0, z\)/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('train 30 steps from scratch: loss falls, curves and images/s update, clicks stay fast', async () => {
  const { page, errors } = await open(browser, srv.url);
  await ready(page);
  await page.click('#reset');
  await page.waitForFunction(() => /Random weights/.test(document.getElementById('status').textContent));
  await page.fill('#steps', '30');
  await page.dispatchEvent('#steps', 'change');
  // a click handler during training: time from the click event to its handler
  await page.evaluate(() => {
    window.latencies = [];
    document.getElementById('next-digit').addEventListener('click', (e) => window.latencies.push(performance.now() - e.timeStamp), { capture: true });
  });
  await page.click('#start');
  const firstLoss = Number(await page.waitForFunction(() => {
    const t = document.getElementById('stat-loss').textContent;
    return t !== '–' && t;
  }, null, { timeout: 60_000 }).then((h) => h.jsonValue()));
  for (let k = 0; k < 3 && await page.isDisabled('#start'); k++) await page.click('#next-digit');
  await page.waitForFunction(() => /^Step 30/.test(document.getElementById('status').textContent), null, { timeout: 120_000 });
  const lastLoss = Number(await page.textContent('#stat-loss'));
  assert.ok(lastLoss < firstLoss, `loss fell: ${firstLoss} → ${lastLoss}`);
  assert.ok(Number(await page.textContent('#stat-ips')) > 0);
  assert.match(await page.textContent('#stat-heldout'), /%/);
  const lat = await page.evaluate(() => window.latencies);
  assert.ok(lat.length > 0, 'clicked during training');
  assert.ok(Math.max(...lat) < 100, `click handled within 100 ms: ${lat}`);
  await shot(page, 'trained-30-steps');
  assert.deepEqual(errors, []);
  await page.close();
});

test('a dropped PNG, a pasted image and a drawn digit are preprocessed like MNIST and predicted', async () => {
  const { page, errors } = await open(browser, srv.url);
  await ready(page);
  // a PNG made from held-out digit 0 (its label is the expected answer): black ink on white,
  // 4× larger and off-centre, as a photo of a written digit might be
  const label = await page.evaluate(async () => (await window.playground.engine.call('labels', Uint32Array.of(8000)))[0]);
  await page.evaluate(async () => {
    const e = window.playground.engine;
    await e.call('forwardDigits', Uint32Array.of(8000), 'eval');
    const x = await e.call('tensor', 'act.input');
    const c = new OffscreenCanvas(200, 160);
    const g = c.getContext('2d');
    g.fillStyle = '#fff';
    g.fillRect(0, 0, 200, 160);
    let lo = Math.min(...x), hi = Math.max(...x);
    for (let i = 0; i < 784; i++) {
      const v = Math.round(255 * (1 - (x[i] - lo) / (hi - lo)));
      g.fillStyle = `rgb(${v},${v},${v})`;
      g.fillRect(90 + 4 * (i % 28), 20 + 4 * Math.floor(i / 28), 4, 4);
    }
    const blob = await c.convertToBlob({ type: 'image/png' });
    const dt = new DataTransfer();
    dt.items.add(new File([blob], 'my digit.png', { type: 'image/png' }));
    document.getElementById('input-panel').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await page.waitForFunction(() => /your image · predicted/.test(document.getElementById('prediction').textContent), null, { timeout: 20_000 });
  const got = await page.textContent('#prediction');
  assert.match(got, new RegExp(`predicted ${label}`), got);
  assert.doesNotMatch(got, /does not look like a handwritten digit|not sure/, 'a real digit is not flagged');
  await shot(page, 'dropped-png');

  // paste an image (as from the clipboard): a thick vertical bar, read as a 1 (each input's
  // pass is counted in the prediction's data-seq: the waits below wait for the next pass, as
  // the dropped digit may have been a 1 too)
  const passes = () => page.evaluate(() => Number(document.getElementById('prediction').dataset.seq ?? 0));
  const nextPass = (s) => page.waitForFunction((s) => Number(document.getElementById('prediction').dataset.seq ?? 0) > s, s, { timeout: 20_000 });
  await page.evaluate(() => window.playground.inspect()); // (any pass still queued ends first)
  let s = await passes();
  await page.evaluate(async () => {
    const c = new OffscreenCanvas(90, 120);
    const g = c.getContext('2d');
    g.fillStyle = '#fff'; g.fillRect(0, 0, 90, 120);
    g.fillStyle = '#222'; g.fillRect(40, 15, 11, 90);
    const dt = new DataTransfer();
    dt.items.add(new File([await c.convertToBlob()], 'pasted.png', { type: 'image/png' }));
    document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  });
  await page.waitForFunction(() => /Showing "pasted.png"/.test(document.getElementById('status').textContent), null, { timeout: 20_000 });
  await nextPass(s);
  await page.waitForFunction(() => /your image · predicted 1/.test(document.getElementById('prediction').textContent), null, { timeout: 20_000 });
  s = await passes();

  // draw a "1": one vertical stroke with the mouse
  const pad = await page.locator('canvas.drawpad').boundingBox();
  await page.mouse.move(pad.x + pad.width * 0.5, pad.y + pad.height * 0.15);
  await page.mouse.down();
  for (let t = 0; t <= 1; t += 0.1) await page.mouse.move(pad.x + pad.width * (0.5 - 0.04 * t), pad.y + pad.height * (0.15 + 0.7 * t));
  await page.mouse.up();
  await nextPass(s);
  assert.match(await page.textContent('#prediction'), /your image · predicted 1/);
  // the network's input is the centred, scaled drawing: its ink's centre of mass is near (14, 14)
  const com = await page.evaluate(async () => {
    const x = await window.playground.engine.call('tensor', 'act.input');
    const lo = Math.min(...x);
    let s = 0, r = 0, c = 0;
    x.forEach((v, i) => { const w = v - lo; s += w; r += w * Math.floor(i / 28); c += w * (i % 28); });
    return [r / s, c / s];
  });
  assert.ok(Math.abs(com[0] - 14) < 1.5 && Math.abs(com[1] - 14) < 1.5, `centre of mass ${com}`);
  await shot(page, 'drawn-digit');
  assert.deepEqual(errors, []);
  await page.close();
});

test('the URL restores layer, digit, hovered cell and settings; garbage falls back with a notice', async () => {
  const { page, errors } = await open(browser, `${srv.url}?layer=layer3.0.conv2&digit=7`);
  await ready(page);
  assert.equal(await page.locator('#acts canvas[data-channel]').count(), 64);
  await page.fill('#lr', '0.01');
  await page.dispatchEvent('#lr', 'change');
  await page.selectOption('#opt', 'adam');
  await page.dispatchEvent('#opt', 'change');
  await page.fill('#seed', '42');
  await page.dispatchEvent('#seed', 'change');
  await hover(page, '#deltas canvas[data-channel="6"]', 2, 5, 7, 7);
  await paneAt(page, 'bn_input_delta', [0, 6, 2, 5]);
  await page.waitForFunction(() => /cell=deltas:6,2,5/.test(location.search));
  const url = await page.evaluate(() => location.href);
  assert.match(url, /lr=0\.01/);
  assert.match(url, /opt=adam/);

  const again = await open(browser, url);
  await ready(again.page);
  assert.equal(await again.page.inputValue('#layer'), 'layer3.0.conv2');
  assert.equal(await again.page.inputValue('#sample'), '7');
  assert.equal(await again.page.inputValue('#lr'), '0.01');
  assert.equal(await again.page.inputValue('#opt'), 'adam');
  assert.equal(await again.page.inputValue('#seed'), '42');
  await paneAt(again.page, 'bn_input_delta', [0, 6, 2, 5]);
  assert.deepEqual((await readout(again.page, 'deltas')).index, [0, 6, 2, 5]);

  const bad = await open(browser, `${srv.url}?layer=%3Cimg%20src%3Dx%3E&digit=-3&lr=abc&cell=deltas:999,0,0`);
  await ready(bad.page);
  assert.equal(await bad.page.inputValue('#layer'), 'layer2.0.conv1');
  assert.equal(await bad.page.inputValue('#sample'), '0');
  const msg = await bad.page.textContent('#status');
  for (const part of [/^Ignored from the link: /, /digit "-3" is not a held-out digit/, /lr "abc" is not a learning rate/, /layer "<img src=x>" is not a layer/, /cell "deltas:999,0,0" is outside the deltas maps/]) assert.match(msg, part);
  assert.equal(await bad.page.locator('#status img').count(), 0, 'URL text goes into the page as text');

  // a lesson's link: the widget's names for digit and optimizer, and parts hidden
  const lesson = await open(browser, `${srv.url}?sample=4&optimizer=adam&hide=compare,export,bogus`);
  await ready(lesson.page);
  assert.equal(await lesson.page.inputValue('#sample'), '4');
  assert.equal(await lesson.page.inputValue('#opt'), 'adam');
  assert.equal(await lesson.page.isVisible('#compare-panel'), false, 'compare hidden');
  assert.equal(await lesson.page.isVisible('#export-st'), false, 'export hidden');
  assert.equal(await lesson.page.isVisible('#train-panel'), true);
  assert.match(await lesson.page.textContent('#status'), /hide "bogus" names no part of the page \(network, train, arch, sessions, input, draw, mydata, inspect, export, formula, compare\)/);
  assert.deepEqual([...errors, ...again.errors, ...bad.errors, ...lesson.errors], []);
});

test('strip, class choice, file picker and export: what a student clicks', async () => {
  const { page, errors } = await open(browser, srv.url);
  await ready(page);
  // the strip: click layer3.0's downsample conv, then → with the keyboard
  await page.click('#network [data-name="layer3.0.downsample.0"]');
  await page.waitForFunction(() => document.getElementById('layer').value === 'layer3.0.downsample.0');
  assert.equal(await page.getAttribute('#network [data-name="layer3.0.downsample.0"]', 'aria-selected'), 'true');
  await page.focus('#network svg');
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction(() => document.getElementById('layer').value !== 'layer3.0.downsample.0');
  assert.match(await page.inputValue('#layer'), /^layer3\.0\./);
  // choose class 4 in the bar chart: δ now comes from class 4 (the fc δ is softmax − onehot(4))
  await page.selectOption('#layer', 'fc');
  await page.click('#probs button[data-class="4"]');
  await page.waitForFunction(() => /from class 4/.test(document.getElementById('deltas-title').textContent));
  const fc = await page.evaluate(async () => {
    const e = window.playground.engine;
    return { d: Array.from(await e.call('tensor', 'delta.fc')), p: Array.from(await e.call('tensor', 'act.softmax')) };
  });
  fc.d.forEach((v, j) => assert.ok(Math.abs(v - (fc.p[j] - (j === 4 ? 1 : 0))) < 1e-5, `δ_fc[${j}]`));
  assert.equal(await page.getAttribute('#probs button[data-class="4"]', 'aria-pressed'), 'true');
  await page.waitForFunction(() => /target=4/.test(location.search) && /layer=fc/.test(location.search));
  // fc weights: a gradient cell of the fc layer, with the trace-form derivation
  await page.locator('#weights canvas.weights-map').nth(1).scrollIntoViewIfNeeded();
  const box = await page.locator('#weights canvas.weights-map').nth(1).boundingBox();
  // [10, 64] shown as 64 tiles of 1×1 (16 px, 4 px gaps) per output j: tile k = 1
  const s = box.width / (16 * 20 - 4);
  await page.mouse.move(box.x + s * 26, box.y + s * 5);
  await paneAt(page, 'fc_weight_grad', [0, 1]);
  assert.match(await page.textContent('#formula'), /tr\(a δᵀ dW\)/);

  // a file that is not an image, through the file picker: a message, and the engine still answers
  await page.setInputFiles('#file', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('this is not a PNG') });
  await page.waitForFunction(() => /Could not use "notes.png": could not read this file as an image/.test(document.getElementById('status').textContent));
  // a real PNG through the picker
  const png = Buffer.from(await page.evaluate(async () => {
    const c = new OffscreenCanvas(64, 64);
    const g = c.getContext('2d');
    g.fillStyle = '#fff'; g.fillRect(0, 0, 64, 64);
    g.fillStyle = '#000'; g.fillRect(28, 8, 7, 48); // a "1"
    return btoa(String.fromCharCode(...new Uint8Array(await (await c.convertToBlob()).arrayBuffer())));
  }), 'base64');
  await page.setInputFiles('#file', { name: 'one.png', mimeType: 'image/png', buffer: png });
  await page.waitForFunction(() => /your image · predicted 1/.test(document.getElementById('prediction').textContent), null, { timeout: 20_000 });

  // export: the δ shown, as .npy, opens as a float32 array of its shape
  await page.selectOption('#layer', 'layer2.0.conv1');
  await page.waitForFunction(() => [...document.querySelectorAll('#export-name option')].some((o) => o.value === 'delta.layer2.0.conv1'));
  await page.selectOption('#export-name', 'delta.layer2.0.conv1');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-npy')]);
  assert.equal(download.suggestedFilename(), 'delta.layer2.0.conv1.npy');
  const npy = await (await download.createReadStream()).toArray().then(Buffer.concat);
  assert.equal(npy.subarray(0, 6).toString('latin1'), '\x93NUMPY');
  const header = npy.subarray(10, 10 + npy.readUInt16LE(8)).toString('latin1');
  assert.match(header, /'descr': '<f4'/);
  assert.match(header, /'shape': \(1, 32, 14, 14\)/);
  assert.equal(npy.length - 10 - npy.readUInt16LE(8), 4 * 32 * 14 * 14);
  const [model] = await Promise.all([page.waitForEvent('download'), page.click('#export-model')]);
  const st = await (await model.createReadStream()).toArray().then(Buffer.concat);
  const json = JSON.parse(st.subarray(8, 8 + Number(st.readBigUInt64LE(0))).toString());
  assert.deepEqual(json['layer2.0.conv1.weight'].shape, [32, 16, 3, 3]);
  assert.deepEqual(errors, []);
  await page.close();
});

// The page does not jump while it starts: the strip, the drawing pad, the status line and the
// prediction keep their places while the engine loads (Lighthouse's cumulative layout shift,
// measured by the browser's own layout-shift entries until a second after the first prediction).
test('starting the page shifts its layout by less than 0.05 (CLS), at 1280 and 390 px', async () => {
  for (const width of [1280, 390]) {
    const context = await browser.newContext({ viewport: { width, height: 900 } });
    await context.addInitScript(() => {
      window.shifts = [];
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) if (!e.hadRecentInput) window.shifts.push({ value: e.value, sources: e.sources.map((s) => s.node?.id || s.node?.className || s.node?.nodeName) });
      }).observe({ type: 'layout-shift', buffered: true });
    });
    const page = await context.newPage();
    await page.goto(srv.url);
    await ready(page);
    await page.waitForTimeout(1000);
    const shifts = await page.evaluate(() => window.shifts);
    const cls = shifts.reduce((a, s) => a + s.value, 0);
    assert.ok(cls < 0.05, `${width} px: layout shift ${cls.toFixed(3)} while starting: ${JSON.stringify(shifts)}`);
    await context.close();
  }
});

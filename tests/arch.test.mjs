// The family in the page: a student picks Plain-20, trains it from scratch, and the strip, the
// URL and a reload follow; then a ResNet-20 with option-A shortcuts, whose shortcut cells the
// formula pane explains; a weights file that could be either asks which. Screenshots of each
// network go to test-artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { serve } from './server.mjs';
import { chooseFile, launch, open } from './browser.mjs';

const DIST = process.env.DIST || new URL('../dist', import.meta.url).pathname;
const ARTIFACTS = new URL('../test-artifacts/', import.meta.url).pathname;
mkdirSync(ARTIFACTS, { recursive: true });
let browser, srv;
before(async () => { browser = await launch(); srv = await serve({ root: DIST, isolated: false }); });
after(async () => { await browser?.close(); await srv?.close(); });

const ready = (page) => page.waitForFunction(() => window.playground?.ready && document.querySelector('#formula')?.dataset.kind, null, { timeout: 90_000 });
const statusIs = (page, re) => page.waitForFunction((src) => new RegExp(src).test(document.getElementById('status').textContent), re.source, { timeout: 90_000 });
const shot = (page, name) => page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });

/** Weighted layers the strip stands for: the main-branch convs it draws, two per folded block
 *  (folded stages list their blocks), and the fc. */
const stripLayers = (page) => page.evaluate(() => {
  const s = document.querySelector('#network svg');
  const convs = [...s.querySelectorAll('g.net-conv')].filter((g) => !/downsample|shortcut/.test(g.dataset.name)).length;
  const folded = [...s.querySelectorAll('g.net-fold')].reduce((n, g) => n + g.dataset.fold.split(' ').length, 0);
  return convs + 2 * folded + s.querySelectorAll('g.net-fc').length;
});

/** No box of the strip overlaps another, and every label fits its box. */
const stripTidy = (page) => page.evaluate(() => {
  const boxes = [...document.querySelectorAll('#network g.net-box')].map((g) => ({ name: g.dataset.name, r: g.querySelector('rect').getBBox(), t: [...g.querySelectorAll('text.net-kind')].map((t) => t.getBBox()) }));
  const bad = [];
  for (const a of boxes) {
    for (const t of a.t) if (t.width > a.r.width + 0.5) bad.push(`${a.name}: label wider than its box`);
    for (const b of boxes) {
      if (a === b) continue;
      const o = a.r.x < b.r.x + b.r.width && b.r.x < a.r.x + a.r.width && a.r.y < b.r.y + b.r.height && b.r.y < a.r.y + a.r.height;
      if (o) bad.push(`${a.name} overlaps ${b.name}`);
    }
  }
  return bad;
});

test('Plain-20: built from the panel, trained 30 steps from scratch, kept by the URL and a reload', async () => {
  const { page, errors, context } = await open(browser, srv.url);
  await ready(page);
  await page.selectOption('#arch-preset', 'plain20');
  // (the summary follows the engine's answer, a round trip to its worker)
  await page.waitForFunction(() => /makes Plain-20, 20 weighted layers/.test(document.getElementById('arch-summary').textContent));
  await page.click('#arch-build');
  await statusIs(page, /^Built Plain-20 with random weights from seed 1/);
  assert.equal(await page.textContent('#arch-name'), 'Plain-20');
  assert.equal(await stripLayers(page), 20);
  assert.deepEqual(await stripTidy(page), []);
  assert.ok(await page.isDisabled('#pretrained'), 'no pretrained Plain-20 is shipped');
  // a plain net: no junction, no shortcut anywhere
  const kinds = await page.evaluate(async () => (await window.playground.engine.call('modules')).modules.map((m) => m.kind));
  assert.ok(!kinds.includes('add') && !kinds.includes('shortcut'));
  assert.equal(await page.locator('#network text', { hasText: 'no shortcut' }).count(), 1);
  await page.waitForFunction(() => /arch=plain20/.test(location.search));

  await page.fill('#steps', '30');
  await page.dispatchEvent('#steps', 'change');
  await page.click('#start');
  const firstLoss = Number(await page.waitForFunction(() => {
    const t = document.getElementById('stat-loss').textContent;
    return t !== '–' && t;
  }, null, { timeout: 60_000 }).then((h) => h.jsonValue()));
  await statusIs(page, /^Step 30/);
  const lastLoss = Number(await page.textContent('#stat-loss'));
  assert.ok(lastLoss < firstLoss, `loss fell: ${firstLoss} → ${lastLoss}`);
  await shot(page, 'plain20-trained');
  const link = page.url();
  assert.match(link, /arch=plain20/);

  // a reload (same browser storage) comes back as Plain-20 at step 30 (once the run's last
  // save, which follows its status line, is stored)
  await page.waitForFunction(() => window.playground.savedStep === 30);
  await page.reload();
  await ready(page);
  assert.equal(await page.textContent('#arch-name'), 'Plain-20');
  assert.match(await page.textContent('#status'), /restored, at step 30/);
  assert.equal(await page.evaluate(() => window.playground.engine.call('step')), 30);
  // the link alone, in a fresh browser, builds Plain-20 (from its seed)
  const fresh = await open(browser, link);
  await ready(fresh.page);
  assert.equal(await fresh.page.textContent('#arch-name'), 'Plain-20');
  assert.equal(await stripLayers(fresh.page), 20);
  assert.deepEqual([...errors, ...fresh.errors], []);
  await fresh.context.close();
  await context.close();
});

test('ResNet-20 with option-A shortcuts: the strip draws them, the pane explains a shortcut cell and the fork', async () => {
  const { page, errors, context } = await open(browser, `${srv.url}?arch=resnet20-a`);
  await ready(page);
  assert.equal(await page.textContent('#arch-name'), 'ResNet-20 (identity shortcuts)');
  assert.equal(await page.inputValue('#arch-shortcut'), 'identity');
  // the shortcut sits on the arc of the selected (expanded) block layer2.0
  await page.selectOption('#layer', 'layer2.0.shortcut');
  await page.waitForSelector('#network g.net-shortcut[data-name="layer2.0.shortcut"]');
  assert.deepEqual(await stripTidy(page), []);
  // an activation cell of the shortcut: channel 20 is input channel 12 at (2·3, 2·5)
  // (layer2.0.conv1, shown before, has 32 channels too: wait for the shortcut's own maps)
  await page.waitForFunction(() => document.getElementById('layer-name').textContent === 'layer2.0.shortcut'
    && document.querySelectorAll('#acts canvas[data-channel]').length === 32);
  const cell = async (c, x, y) => {
    const sel = `#acts canvas[data-channel="${c}"]`;
    await page.locator(sel).scrollIntoViewIfNeeded();
    const box = await page.locator(sel).boundingBox();
    await page.mouse.move(box.x + box.width * ((y + 0.5) / 14), box.y + box.height * ((x + 0.5) / 14));
    await page.waitForFunction(({ c, x, y }) => {
      const f = document.getElementById('formula');
      return f.dataset.kind === 'shortcut_forward' && f.dataset.index === JSON.stringify([0, c, x, y]);
    }, { c, x, y }, { timeout: 20_000 });
    return page.evaluate(() => ({ text: document.getElementById('formula').textContent, value: Number(document.getElementById('formula').dataset.value) }));
  };
  let f = await cell(20, 3, 5);
  const input = await page.evaluate(async () => {
    const e = window.playground.engine;
    const [t, s] = await Promise.all([e.call('tensor', 'act.layer1.2'), e.call('tensorShape', 'act.layer1.2')]);
    return t[((0 * s[1] + 12) * s[2] + 6) * s[3] + 10];
  });
  assert.equal(f.value, input);
  assert.match(f.text, /channel 20 − 8, row 2·3, column 2·5/);
  f = await cell(3, 3, 5);
  assert.equal(f.value, 0);
  assert.match(f.text, /channel 3 is zero padding/);
  await shot(page, 'resnet20a-shortcut');
  // the fork into layer2.0: an odd row gets no δ through the shortcut, an even one gets the
  // shortcut's δ at the mapped cell
  const fork = await page.evaluate(async () => {
    const e = window.playground.engine;
    const q = (x) => e.call('formula', { kind: 'residual_fork', block: 'layer2.0', n: 0, c: 4, x, y: 6 }, 3);
    return [await q(5), await q(6)];
  });
  assert.equal(fork[0].parts[0].value, 0);
  assert.match(fork[0].parts[0].note, /skips \(5, 6\)/);
  assert.equal(fork[1].parts[0].tensor, 'delta.layer2.0.shortcut');
  assert.deepEqual(fork[1].parts[0].index, [0, 12, 3, 3]);
  assert.deepEqual(errors, []);
  await context.close();
});

test('ResNet-56 folds into a strip that fits; a weights file that could be option A or plain asks which', async () => {
  const { page, errors, context } = await open(browser, `${srv.url}?arch=resnet56`);
  await ready(page);
  assert.equal(await stripLayers(page), 56);
  assert.deepEqual(await stripTidy(page), []);
  const width = await page.evaluate(() => document.querySelector('#network svg').getBoundingClientRect().width);
  assert.ok(width <= 1280, `the folded strip fits 1280 px: ${width}`);
  // a folded block opens when chosen
  await page.click('#network g.net-fold[data-name="layer3.8"]');
  await page.waitForSelector('#network g.net-box[data-name="layer3.8.conv2"]');
  assert.equal(await stripLayers(page), 56);
  await shot(page, 'resnet56-strip');
  await page.setViewportSize({ width: 390, height: 900 });
  await shot(page, 'resnet56-390');

  // the current Plain-20-shaped weights without metadata: the page asks, and builds the answer
  const bytes = await page.evaluate(async () => {
    const e = window.playground.engine;
    await e.call('setArchitecture', 'plain20', 7);
    return Array.from(await e.call('saveWeights'));
  });
  // strip the metadata: re-write the header without __metadata__
  const buf = Buffer.from(bytes);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString());
  delete header.__metadata__;
  let h = Buffer.from(JSON.stringify(header));
  h = Buffer.concat([h, Buffer.alloc((8 - (h.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  const bare = Buffer.concat([len, h, buf.subarray(8 + n)]);
  await chooseFile(page, '#weights-open', { name: 'bare.safetensors', mimeType: 'application/octet-stream', buffer: bare });
  await page.waitForSelector('#arch-ask:not([hidden])');
  assert.match(await page.textContent('#arch-ask-text'), /fit ResNet-20 \(identity shortcuts\) and Plain-20: names and shapes cannot tell them apart/);
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'ResNet-20 (identity shortcuts)', 'the first answer has the focus');
  await page.click('#arch-ask-buttons button:has-text("Plain-20")');
  await statusIs(page, /Weights "bare.safetensors" loaded\. The page runs Plain-20\./);
  assert.equal(await page.textContent('#arch-name'), 'Plain-20');
  await page.waitForFunction(() => /arch=plain20/.test(location.search));
  assert.deepEqual(errors, []);
  await context.close();
});

test('a 320-px phone: the page does not scroll sideways (the strip scrolls in its own box)', async () => {
  const context = await browser.newContext({ viewport: { width: 320, height: 800 } });
  const { page, errors } = await open(browser, `${srv.url}?arch=resnet20`, { context });
  await ready(page);
  const wide = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  assert.ok(wide[0] <= wide[1], `the page is ${wide[0]} px wide in a ${wide[1]} px window`);
  await shot(page, 'phone-320');
  assert.deepEqual(errors, []);
  await context.close();
});

test('check numerically: the pane puts (C(+ε) − C(−ε))/2ε beside backprop for a δ cell and a weight gradient', async () => {
  for (const link of ['', '?layer=fc&cell=weights:3,10,0,0']) {
    const { page, errors, context } = await open(browser, `${srv.url}${link}`);
    await ready(page);
    await page.waitForSelector('#formula .formula-numeric button');
    const kind = await page.getAttribute('#formula', 'data-kind');
    assert.ok(['conv_input_delta', 'fc_weight_grad'].includes(kind), kind);
    await page.click('#formula .formula-numeric button');
    const r = await page.waitForFunction(() => {
      const o = document.querySelector('#formula .numeric-result');
      return o?.dataset.rel && { rel: Number(o.dataset.rel), numeric: Number(o.dataset.numeric), backprop: Number(o.dataset.backprop), text: o.textContent };
    }, null, { timeout: 60_000 }).then((h) => h.jsonValue());
    assert.ok(r.rel < 1e-6 || /kink/.test(r.text) || Math.abs(r.numeric - r.backprop) < 1e-9, JSON.stringify(r));
    // backprop in float64 is the tape's (float32) value, to float precision
    const value = Number(await page.getAttribute('#formula', 'data-value'));
    assert.ok(Math.abs(value - r.backprop) <= 1e-4 * Math.abs(r.backprop) + 1e-9, `${value} vs ${r.backprop}`);
    assert.match(r.text, /moved by ε = 0.00001 on the same input \(float64\)\. Backprop in float64: /);
    if (!link) await shot(page, 'numeric-check');
    assert.deepEqual(errors, []);
    await context.close();
  }
});

test('after a drawing, choosing a held-out digit does not leave "Showing your drawing" in the status line', async () => {
  const { page, errors, context } = await open(browser, srv.url);
  await ready(page);
  const pad = page.locator('#drawpad canvas');
  await pad.scrollIntoViewIfNeeded();
  const b = await pad.boundingBox();
  await page.mouse.move(b.x + b.width / 2, b.y + b.height * 0.2);
  await page.mouse.down();
  await page.mouse.move(b.x + b.width / 2, b.y + b.height * 0.8, { steps: 8 });
  await page.mouse.up();
  await statusIs(page, /^Showing your drawing/);
  await page.click('#next-digit');
  await statusIs(page, /^Showing held-out digit 1\./);
  await page.waitForFunction(() => /^held-out digit 1 ·/.test(document.getElementById('prediction').textContent));
  assert.deepEqual(errors, []);
  await context.close();
});

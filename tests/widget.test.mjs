// The <resnet-playground> element on a plain host page (dist/embed.html) and in the mdBook
// course notes (examples/course-notes/book, built by scripts/build-book.sh), both served
// without COOP/COEP (so the single-threaded build): every widget renders; the formula widget explains the hovered cell;
// the draw widget predicts a drawn 1; the train widget trains from scratch and the loss falls;
// one engine worker serves them all; hostile host CSS does not change a widget's pixels; and
// the page works inside an iframe from another origin.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve } from './server.mjs';
import { launch, open, addWidget } from './browser.mjs';

const DIST = process.env.DIST || new URL('../dist', import.meta.url).pathname;
const BOOK = process.env.BOOK || new URL('../examples/course-notes/book', import.meta.url).pathname;
let browser, srv, book, other;
before(async () => {
  browser = await launch();
  srv = await serve({ root: DIST, isolated: false });
  book = await serve({ root: BOOK, isolated: false });
  other = await serve({ root: new URL('./fixtures', import.meta.url).pathname, isolated: false });
});
after(async () => { await browser?.close(); await srv?.close(); await book?.close(); await other?.close(); });

const rendered = (page) => page.waitForFunction(() => {
  const w = (id) => document.getElementById(id)?.shadowRoot;
  return w('formula')?.querySelector('[data-kind="conv_input_delta"]') && w('maps')?.querySelectorAll('canvas[data-channel]').length === 16
    && w('draw')?.querySelector('canvas.drawpad') && w('train')?.querySelector('button');
}, null, { timeout: 90_000 });

for (const [where, url] of [['a plain host page', () => `${srv.url}embed.html`], ['the mdBook course notes', () => `${book.url}backprop.html`]]) test(`widgets in ${where}: formula, feature maps, draw, train; one engine worker`, async () => {
  const { page, errors } = await open(browser, url());
  await rendered(page);
  assert.equal(page.workers().filter((w) => /worker\.js$/.test(w.url())).length, 1, 'one engine worker for four widgets');
  // formula: hover δ at layer2.0.conv1's input, channel 5, row 20, column 7 (playwright's CSS pierces shadow roots)
  const events = [];
  await page.exposeFunction('recordEvent', (e) => events.push(e));
  await page.evaluate(() => ['cellchange', 'prediction', 'step'].forEach((t) => document.addEventListener(t, (e) => window.recordEvent({ type: t, detail: e.detail }))));
  const map = page.locator('#formula canvas[data-channel="5"]');
  await map.scrollIntoViewIfNeeded();
  const box = await map.boundingBox();
  await page.mouse.move(box.x + box.width * (7.5 / 28), box.y + box.height * (20.5 / 28));
  await page.waitForFunction(() => document.getElementById('formula').shadowRoot.querySelector('.rp-pane')?.dataset.index === '[0,5,20,7]', null, { timeout: 20_000 });
  const pane = await page.evaluate(() => {
    const p = document.getElementById('formula').shadowRoot.querySelector('.rp-pane');
    return { value: Number(p.dataset.value), result: Number(p.dataset.result), text: p.textContent };
  });
  assert.ok(Math.abs(pane.value - pane.result) <= 1e-4 * Math.max(1e-6, Math.abs(pane.value)), JSON.stringify(pane));
  assert.ok(events.some((e) => e.type === 'cellchange' && e.detail.name === 'delta.layer1.0.add' && JSON.stringify(e.detail.index) === '[0,5,20,7]'));
  // draw: a vertical stroke → 1, with a `prediction` event
  const pad = page.locator('#draw canvas.drawpad');
  await pad.scrollIntoViewIfNeeded();
  const p = await pad.boundingBox();
  await page.mouse.move(p.x + p.width * 0.5, p.y + p.height * 0.15);
  await page.mouse.down();
  for (let t = 0; t <= 1; t += 0.1) await page.mouse.move(p.x + p.width * (0.5 - 0.04 * t), p.y + p.height * (0.15 + 0.7 * t));
  await page.mouse.up();
  await page.waitForFunction(() => /predicted 1/.test(document.getElementById('draw').shadowRoot.querySelector('.rp-prediction').textContent), null, { timeout: 20_000 });
  assert.ok(events.some((e) => e.type === 'prediction' && e.detail.predicted === 1));
  // train from scratch: the loss falls over 50 steps, with `step` events
  await page.click('#train button:has-text("From scratch")');
  await page.waitForFunction(() => /random weights/.test(document.getElementById('train').shadowRoot.querySelector('.rp-stat').textContent));
  await page.click('#train button:has-text("Train 50 steps")');
  await page.waitForFunction(() => /step 50 · loss/.test(document.getElementById('train').shadowRoot.querySelector('.rp-stat').textContent), null, { timeout: 120_000 });
  const steps = events.filter((e) => e.type === 'step');
  assert.ok(steps.length >= 2 && steps.at(-1).detail.loss < steps[0].detail.loss, `loss fell: ${steps[0]?.detail.loss} → ${steps.at(-1)?.detail.loss}`);
  assert.deepEqual(errors, []);
});

test('hostile host CSS does not change a widget, and the widget works in a cross-origin iframe', async () => {
  const plain = await open(browser, `${srv.url}embed.html`);
  await rendered(plain.page);
  const shotOf = (page) => page.locator('#maps .rp-widget').screenshot();
  const hostile = await open(browser, `${srv.url}embed.html`);
  await hostile.page.addStyleTag({ content: 'html { font-size: 10px !important; } * { all: unset; } body { font-size: 40px; color: red; } div, canvas, span, p { font-size: 40px !important; color: red !important; background: yellow !important; border: 5px solid lime !important; }' });
  await rendered(hostile.page);
  // the host decides where the box goes and how wide it is (the same in both pages); the rest is the widget's
  for (const p of [plain.page, hostile.page]) await p.evaluate(() => { const w = document.getElementById('maps'); w.style.cssText = 'display: block; width: 1200px; position: absolute; left: 0; top: 3000px'; });
  const [x, y] = [await shotOf(plain.page), await shotOf(hostile.page)];
  // pixels that differ visibly (anti-aliasing may move a channel by a few levels)
  const differing = await plain.page.evaluate(async ([a, b]) => {
    const pixels = async (u) => {
      const img = new Image();
      img.src = u;
      await img.decode();
      const c = new OffscreenCanvas(img.width, img.height);
      c.getContext('2d').drawImage(img, 0, 0);
      return { w: img.width, h: img.height, d: c.getContext('2d').getImageData(0, 0, img.width, img.height).data };
    };
    const [p, q] = [await pixels(a), await pixels(b)];
    if (p.w !== q.w || p.h !== q.h) return `size ${p.w}×${p.h} vs ${q.w}×${q.h}`;
    let n = 0;
    for (let k = 0; k < p.d.length; k += 4) if (Math.abs(p.d[k] - q.d[k]) + Math.abs(p.d[k + 1] - q.d[k + 1]) + Math.abs(p.d[k + 2] - q.d[k + 2]) > 30) n++;
    return n;
  }, [x, y].map((b) => `data:image/png;base64,${b.toString('base64')}`));
  assert.equal(differing, 0, 'the widget looks the same under hostile CSS');

  // the page inside an iframe served from another port (another origin)
  const frame = await open(browser, `${other.url}iframe.html?src=${encodeURIComponent(`${srv.url}embed.html`)}`);
  const f = frame.page.frameLocator('iframe');
  await f.locator('#maps canvas[data-channel="15"]').waitFor({ timeout: 90_000 });
  await f.locator('#formula .rp-pane [data-kind], #formula .rp-pane').first().waitFor();
  assert.deepEqual([...plain.errors, ...hostile.errors, ...frame.errors], []);
});

test('on a cross-origin isolated host the widgets use threads; the delta and full views', async () => {
  const iso = await serve({ root: DIST, isolated: true });
  try {
    const { page, errors } = await open(browser, `${iso.url}embed.html`);
    await rendered(page);
    assert.equal(await page.getAttribute('#maps', 'data-build'), 'threads');
    assert.equal(await page.getAttribute('#maps', 'data-threads'), '2');
    await page.evaluate(() => {
      for (const v of ['delta', 'full']) {
        const w = document.createElement('resnet-playground');
        w.id = `added-${v}`;
        w.setAttribute('view', v);
        w.setAttribute('layer', 'layer3.0.conv2');
        w.setAttribute('height', '500px');
        document.body.append(w);
      }
    });
    await page.waitForFunction(() => document.getElementById('added-delta').shadowRoot.querySelectorAll('canvas[data-channel]').length === 64, null, { timeout: 30_000 });
    // a layer the model does not have: ignored with a console warning that names it and the
    // layers it has, and the model's own first view shown (never a broken widget)
    const warnings = [];
    page.on('console', (m) => { if (m.type() === 'warning') warnings.push(m.text()); });
    await addWidget(page, 'added-bad', { view: 'featuremaps', layer: '<b>x</b>' });
    await page.waitForFunction(() => document.getElementById('added-bad').shadowRoot.querySelectorAll('canvas[data-channel]').length === 32, null, { timeout: 30_000 });
    assert.match(warnings.find((w) => w.includes('id="added-bad"')) ?? '', /ignored layer="<b>x<\/b>": the model has no such layer \(its layers: conv1, bn1, relu, .*layer2\.0\.conv1, .*fc, softmax\)/);
    assert.equal(await page.evaluate(() => document.getElementById('added-bad').shadowRoot.querySelector('b')), null);
    assert.equal(await page.getAttribute('#added-delta', 'view'), 'delta');
    // another network of the family: arch="plain20" (its own engine, random weights), and a
    // network that is not one, said so in the engine's words
    await page.evaluate(() => {
      for (const [id, arch] of [['added-plain', 'plain20'], ['added-nonet', 'resnet9']]) {
        const w = document.createElement('resnet-playground');
        w.id = id;
        w.setAttribute('view', 'featuremaps');
        w.setAttribute('arch', arch);
        w.setAttribute('layer', 'layer3.2');
        document.body.append(w);
      }
    });
    await page.waitForFunction(() => document.getElementById('added-plain').shadowRoot.querySelectorAll('canvas[data-channel]').length === 64, null, { timeout: 60_000 });
    // (a network the family does not have: ignored with the engine's reason, the default shown)
    await page.waitForFunction(() => document.getElementById('added-nonet').shadowRoot.querySelectorAll('canvas[data-channel]').length === 32, null, { timeout: 60_000 });
    assert.match(warnings.find((w) => w.includes('id="added-nonet"')) ?? '', /ignored arch="resnet9" \(.*depth 9 is not in the family/);
    // Plain-20 runs beside the pretrained ResNet-8, which the other widgets still show
    assert.equal(await page.evaluate(() => document.getElementById('maps').shadowRoot.querySelectorAll('canvas[data-channel]').length), 16);
    await page.frameLocator('#added-full iframe').locator('#formula[data-kind]').waitFor({ timeout: 90_000 });
    assert.deepEqual(errors, []);
  } finally {
    await iso.close();
  }
});

test('author controls: lesson settings as attributes, hidden parts, warnings for bad values, "open in the playground", the fallback', async () => {
  const { page, errors } = await open(browser, `${srv.url}embed.html`);
  const warnings = [];
  page.on('console', (m) => { if (m.type() === 'warning') warnings.push(m.text()); });
  await rendered(page);
  // a train widget with a lesson's settings and two parts hidden: it trains 7 steps with them
  await addWidget(page, 'lesson', { view: 'train', steps: '7', lr: '0.02', batch: '16', optimizer: 'adam', seed: '3', hide: 'reset,curve' });
  const start = page.locator('#lesson button:has-text("Train 7 steps")');
  await start.waitFor({ timeout: 60_000 });
  assert.equal(await page.locator('#lesson button:has-text("From scratch")').isVisible(), false, 'reset hidden');
  assert.equal(await page.locator('#lesson canvas.rp-curve').isVisible(), false, 'curve hidden');
  assert.match(await page.locator('#lesson .rp-settings').textContent(), /^Adam, learning rate 0\.02, batch 16, seed 3$/);
  await start.click();
  const stat = await page.waitForFunction(() => /^step 7 · loss \d/.test(document.getElementById('lesson').shadowRoot.querySelector('.rp-stat').textContent)
    && document.getElementById('lesson').shadowRoot.querySelector('.rp-stat').textContent, null, { timeout: 60_000 }).then((h) => h.jsonValue());
  const widgetLoss = Number(stat.split('loss ')[1]);
  // its link opens the page with the same settings, and 7 steps there give the same loss
  const lessonUrl = await page.getAttribute('#lesson a.rp-open', 'href');
  assert.match(lessonUrl, /index\.html\?.*lr=0\.02&batch=16&opt=adam&seed=3&steps=7/);
  const full = await open(browser, lessonUrl);
  await full.page.waitForFunction(() => window.playground?.ready && document.querySelector('#formula')?.dataset.kind, null, { timeout: 90_000 });
  assert.deepEqual(await full.page.evaluate(() => ['lr', 'batch', 'opt', 'seed', 'steps'].map((id) => document.getElementById(id).value)), ['0.02', '16', 'adam', '3', '7']);
  await full.page.click('#start');
  await full.page.waitForFunction(() => /^Step 7: loss/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
  // (the widget writes 3 decimals, the page 4: equal within their rounding)
  const pageLoss = Number(await full.page.textContent('#stat-loss'));
  assert.ok(Math.abs(pageLoss - widgetLoss) <= 0.00055, `the same 7 steps in the widget and the page: ${widgetLoss} vs ${pageLoss}`);

  // bad values are ignored with a warning that names them; the widget still works
  await addWidget(page, 'warned', { view: 'formula', layer: 'layer2.0.conv1', sample: '5', target: '3', lr: 'abc', hide: 'numeric,bogus' });
  await page.waitForFunction(() => document.getElementById('warned').shadowRoot.querySelector('.rp-pane')?.dataset.kind === 'conv_input_delta', null, { timeout: 60_000 });
  const said = warnings.find((w) => w.includes('id="warned"')) ?? '';
  assert.match(said, /lr="abc" is not a learning rate/);
  assert.match(said, /hide="bogus": the formula view has no such part/);
  assert.ok(await page.locator('#warned .formula-numeric').count() === 1 && !(await page.locator('#warned .formula-numeric').isVisible()), '"Check numerically" hidden');
  const index = JSON.parse(await page.evaluate(() => document.getElementById('warned').shadowRoot.querySelector('.rp-pane').dataset.index));
  const cellUrl = await page.getAttribute('#warned a.rp-open', 'href');
  assert.match(cellUrl, new RegExp(`layer=layer2\\.0\\.conv1&digit=5&target=3&cell=input:${index.slice(1).join(',')}`));
  assert.doesNotMatch(cellUrl, /lr=/, 'the ignored value is not passed on');
  const there = await open(browser, cellUrl);
  await there.page.waitForFunction((i) => document.querySelector('#formula')?.dataset.index === i, JSON.stringify(index), { timeout: 90_000 });
  assert.equal(await there.page.getAttribute('#formula', 'data-kind'), 'conv_input_delta');
  assert.match(await there.page.textContent('#prediction'), /^held-out digit 5 /);
  assert.match(await there.page.textContent('#deltas-title'), /from class 3/);

  // the element's children are its fallback: before the upgrade, and in print instead of the widget
  const bare = await open(browser, 'about:blank');
  await bare.page.setContent('<resnet-playground view="formula"><p id="fb">a static picture of the formula</p></resnet-playground>');
  assert.equal(await bare.page.isVisible('#fb'), true, 'shown before the element upgrades');
  await page.evaluate(() => {
    const w = document.createElement('resnet-playground');
    w.id = 'printed';
    w.setAttribute('view', 'featuremaps');
    w.innerHTML = '<p id="fb2">a static picture of the maps</p>';
    document.body.append(w);
  });
  await page.waitForFunction(() => document.getElementById('printed').shadowRoot.querySelectorAll('canvas[data-channel]').length > 0, null, { timeout: 60_000 });
  assert.equal(await page.isVisible('#fb2'), false, 'the live widget replaces it on screen');
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.isVisible('#fb2'), true, 'printed: the fallback');
  assert.equal(await page.locator('#printed .rp-widget').isVisible(), false, 'printed: not the live widget');
  await page.emulateMedia({ media: 'screen' });
  assert.deepEqual([...errors, ...full.errors, ...there.errors], []);
});

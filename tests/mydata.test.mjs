// Your own data, as a student uses it in headless Chromium: shapes drawn with scripted mouse
// paths become a task of three classes of one's own that the network learns; the gallery's
// images are deleted, saved to a file and read back bit for bit, and kept across a reload;
// fine-tuning on one digit drawn in a style the pretrained model misreads (a seven-segment
// "8", which it reads as 0) raises the accuracy on that set's held-out drawings. Screenshots
// go to test-artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { serve } from './server.mjs';
import { chooseFile, launch, open } from './browser.mjs';

const DIST = process.env.DIST || new URL('../dist', import.meta.url).pathname;
const ARTIFACTS = new URL('../test-artifacts/', import.meta.url).pathname;
mkdirSync(ARTIFACTS, { recursive: true });
let browser, srv;
before(async () => { browser = await launch(); srv = await serve({ root: DIST, isolated: true }); });
after(async () => { await browser?.close(); await srv?.close(); });

const ready = (page) => page.waitForFunction(() => window.playground?.ready && document.querySelector('#formula')?.dataset.kind, null, { timeout: 90_000 });
const shot = (page, name) => page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
const text = (page, id) => page.locator(`#${id}`).innerText();
const seq = (page) => page.evaluate(() => Number(document.getElementById('prediction').dataset.seq ?? 0));

/** Draws strokes (lists of [x, y] in fractions of the pad) on a cleared pad; resolves once the
 *  network has seen the drawing (one pass per stroke). */
async function draw(page, strokes) {
  await page.click('#drawpad button');
  await page.locator('canvas.drawpad').scrollIntoViewIfNeeded();
  const pad = await page.locator('canvas.drawpad').boundingBox();
  for (const points of strokes) {
    // (every pass queued before the stroke ends first — a restart's or a restored session's
    // refresh of the last input — so the next pass counted is the stroke's)
    await page.evaluate(() => window.playground.inspect());
    const s = await seq(page);
    await page.mouse.move(pad.x + pad.width * points[0][0], pad.y + pad.height * points[0][1]);
    await page.mouse.down();
    for (const [x, y] of points.slice(1)) await page.mouse.move(pad.x + pad.width * x, pad.y + pad.height * y, { steps: 4 });
    await page.mouse.up();
    await page.waitForFunction((s) => Number(document.getElementById('prediction').dataset.seq ?? 0) > s, s, { timeout: 20_000 })
      .catch(async (e) => { throw new Error(`the drawing was not shown (status: ${await text(page, 'status')}): ${e.message}`); });
  }
}

// the shapes, varied by `v` (0, 1, …): position, size and slant as a hand would vary them
const jitter = (v) => [((v * 37) % 7 - 3) * 0.02, ((v * 53) % 5 - 2) * 0.02, 1 - ((v * 29) % 4) * 0.06];
const SHAPES = {
  circle: (v) => {
    const [dx, dy, s] = jitter(v);
    return [Array.from({ length: 25 }, (_, i) => [0.5 + dx + 0.3 * s * Math.cos((2 * Math.PI * i) / 24), 0.5 + dy + 0.32 * s * Math.sin((2 * Math.PI * i) / 24)])];
  },
  line: (v) => { const [dx, dy, s] = jitter(v); return [[[0.5 + dx, 0.5 + dy - 0.35 * s], [0.5 + dx + 0.02 * (v % 3 - 1), 0.5 + dy + 0.35 * s]]]; },
  cross: (v) => {
    const [dx, dy, s] = jitter(v), r = 0.3 * s;
    return [[[0.5 + dx - r, 0.5 + dy - r], [0.5 + dx + r, 0.5 + dy + r]], [[0.5 + dx + r, 0.5 + dy - r], [0.5 + dx - r, 0.5 + dy + r]]];
  },
  // a seven-segment "8": a box with a bar across the middle
  eight: (v) => {
    const [dx, dy, s] = jitter(v), w = 0.2 * s, h = 0.35 * s;
    const [l, r, t, b, m] = [0.5 + dx - w, 0.5 + dx + w, 0.5 + dy - h, 0.5 + dy + h, 0.5 + dy + 0.02 * (v % 3 - 1)];
    return [[[l, t], [r, t], [r, b], [l, b], [l, t]], [[l, m], [r, m]]];
  },
};

/** Adds the input shown to the set as class `label` (its index); resolves when the gallery has `n`. */
async function add(page, label, n) {
  await page.selectOption('#add-label', String(label));
  await page.click('#add-image');
  await page.waitForFunction((n) => document.querySelectorAll('#gallery .gallery-item').length === Math.min(n, 96), n, { timeout: 20_000 });
}

/** Trains `steps` steps with the Train panel's settings; resolves when the run and its measuring are done. */
async function train(page, steps) {
  await page.fill('#steps', String(steps));
  await page.dispatchEvent('#steps', 'change');
  await page.click('#start');
  await page.waitForFunction(() => /→ \d/.test(document.getElementById('mydata-acc').textContent) && !document.getElementById('start').disabled, null, { timeout: 240_000 });
}

/** A set file of n images (stripes, labels 0–9), written as safetensors here. */
function setFile(n) {
  const header = JSON.stringify({ images: { dtype: 'U8', shape: [n, 28, 28], data_offsets: [0, n * 784] }, labels: { dtype: 'I64', shape: [n], data_offsets: [n * 784, n * 784 + 8 * n] } });
  const pad = ' '.repeat((8 - (header.length % 8)) % 8);
  const h = Buffer.from(header + pad);
  const out = Buffer.alloc(8 + h.length + n * 784 + 8 * n);
  out.writeBigUInt64LE(BigInt(h.length), 0);
  h.copy(out, 8);
  const at = 8 + h.length;
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < 784; p++) out[at + i * 784 + p] = (p + i) % 28 < 4 ? 255 : 0;
    out.writeBigInt64LE(BigInt(i % 10), at + n * 784 + 8 * i);
  }
  return out;
}

const predicted = (page) => page.evaluate(() => Number(document.getElementById('probs').dataset.predicted));

test('a task of three drawn shapes: the network learns them, and new drawings are predicted as their class', async () => {
  const { page, errors } = await open(browser, srv.url, { setup: (c) => c.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(srv.url).origin }) });
  await ready(page);
  // a new task: names, the digits network with a new final layer
  await page.click('#task-new');
  await page.fill('#task-classes', 'circle, line, cross');
  await page.click('#task-start');
  await page.waitForFunction(() => /circle, line, cross/.test(document.getElementById('task-name').textContent)
    && document.querySelectorAll('#probs button.prob').length === 3, null, { timeout: 30_000 });
  assert.deepEqual(await page.locator('#probs .prob-class').allInnerTexts(), ['circle', 'line', 'cross']);
  assert.equal(await page.evaluate(async () => (await window.playground.engine.architecture()).config.num_classes), 3);
  // the source is the set alone: MNIST's digits are not classes of this task
  assert.equal(await page.locator('#source').inputValue(), 'mine');
  assert.ok(await page.locator('#source option[value=mnist]').isDisabled());

  // a class with no example and one with a single example are named before training
  await draw(page, SHAPES.circle(0));
  await add(page, 0, 1);
  assert.match(await text(page, 'set-problem'), /No images yet of: line, cross/);
  await page.click('#start');
  await page.waitForFunction(() => document.getElementById('status').classList.contains('error'));
  assert.match(await text(page, 'status'), /No images yet of: line, cross/);

  let n = 1;
  for (const [k, name] of ['circle', 'line', 'cross'].entries()) {
    for (let v = k === 0 ? 1 : 0; v < 6; v++) {
      await draw(page, SHAPES[name](v));
      await add(page, k, ++n);
      if (k === 1 && v === 0) assert.match(await text(page, 'set-problem'), /Only one image of: line/);
    }
  }
  assert.equal(n, 18);
  const counted = (await text(page, 'set-count')).match(/^18 images \(circle: 6 · line: 6 · cross: 6\); (\d+) held out/);
  assert.ok(counted, await text(page, 'set-count'));
  const held = Number(counted[1]);
  assert.ok(held >= 3 && held <= 9, `at least one of each class held out, about one in five: ${held}`);
  assert.equal(await text(page, 'set-problem'), '');
  assert.deepEqual(await page.locator('#gallery .gallery-item').evaluateAll((e) => e.slice(0, 3).map((x) => x.dataset.label)), ['2', '2', '2'], 'newest first');

  await page.selectOption('#opt', 'adam');
  await page.dispatchEvent('#opt', 'change');
  await page.fill('#lr', '0.003');
  await page.dispatchEvent('#lr', 'change');
  await train(page, 60);
  const acc = await text(page, 'mydata-acc');
  assert.match(acc, new RegExp(`Your held-out images: .* before → ${held} of ${held} \\(100\\.0 %\\) after`), acc);
  assert.doesNotMatch(acc, /MNIST/, 'no MNIST digits in this task');
  await shot(page, 'mydata-shapes');
  await page.locator('#input-panel').screenshot({ path: `${ARTIFACTS}mydata-shapes-input.png` });
  await page.locator('#mydata-panel').screenshot({ path: `${ARTIFACTS}mydata-shapes-panel.png` });

  // new drawings, varied otherwise than the training ones
  for (const [k, name] of ['circle', 'line', 'cross'].entries()) {
    await draw(page, SHAPES[name](9 + k));
    assert.equal(await predicted(page), k, `a new ${name} is predicted as ${name}: ${await text(page, 'prediction')}`);
    assert.match(await text(page, 'prediction'), new RegExp(`predicted “${name}”`));
  }
  // δ from another class: the fc's δ is softmax − onehot over the task's three classes
  await page.selectOption('#layer', 'fc');
  await page.click('#probs button[data-class="1"]');
  await page.waitForFunction(() => /from class line/.test(document.getElementById('deltas-title').textContent));
  const fc = await page.evaluate(async () => {
    const e = window.playground.engine;
    return { d: Array.from(await e.call('tensor', 'delta.fc')), p: Array.from(await e.call('tensor', 'act.softmax')) };
  });
  assert.equal(fc.d.length, 3);
  fc.d.forEach((v, j) => assert.ok(Math.abs(v - (fc.p[j] - (j === 1 ? 1 : 0))) < 1e-5, `δ_fc[${j}]`));
  // the formula pane explains a logit of the task: z_2 = Σ_k W[2,k] a_k + b_2, equal to the engine's
  const map = page.locator('#acts canvas[data-channel]').first();
  await map.scrollIntoViewIfNeeded();
  const logits = await map.boundingBox();
  await page.mouse.move(logits.x + logits.width * (2.5 / 3), logits.y + logits.height / 2);
  await page.waitForFunction(() => document.getElementById('formula').dataset.kind === 'fc_forward', null, { timeout: 20_000 })
    .catch(async (e) => { throw new Error(`${JSON.stringify(logits)} ${await page.locator('#acts').innerHTML()} ${e.message}`.slice(0, 1500)); });
  assert.match(await page.textContent('#formula'), /✓ equals the engine's value/);

  // the task and its model come back after a reload (IndexedDB)
  await page.evaluate(() => window.playground.saveSession());
  await page.reload();
  await ready(page);
  await page.waitForFunction(() => /circle, line, cross/.test(document.getElementById('task-name').textContent), null, { timeout: 30_000 });
  assert.equal(await page.locator('#gallery .gallery-item').count(), 18);
  await draw(page, SHAPES.cross(12));
  assert.equal(await predicted(page), 2, 'the trained model came back with the task');
  // and trains on (the training digits arrived after the task's model: no matter)
  await page.click('#step');
  await page.waitForFunction(() => /^Step \d+: loss/.test(document.getElementById('status').textContent) || document.getElementById('status').classList.contains('error'), null, { timeout: 30_000 });
  assert.ok(!(await page.evaluate(() => document.getElementById('status').classList.contains('error'))), await text(page, 'status'));
  // an engine that traps comes back with the task's model and set
  await page.evaluate(() => window.playground.engine.simulateTrap().catch(() => {}));
  await page.waitForFunction(() => /restarted; your session is restored/.test(document.getElementById('status').textContent), null, { timeout: 90_000 });
  await draw(page, SHAPES.line(14));
  assert.equal(await predicted(page), 1, `after the restart: ${await text(page, 'prediction')}`);
  assert.equal(await page.locator('#probs button.prob').count(), 3);

  // the task in a session file: opened in another browser, the classes, images and model come back
  const saving = page.waitForEvent('download');
  await page.click('#session-save');
  const sessionFile = `${ARTIFACTS}mydata-session.json`;
  await (await saving).saveAs(sessionFile);
  const other = await open(browser, srv.url);
  await ready(other.page);
  await chooseFile(other.page, '#session-open', sessionFile);
  await other.page.waitForFunction(() => /circle, line, cross/.test(document.getElementById('task-name').textContent)
    && document.querySelectorAll('#gallery .gallery-item').length === 18 && document.querySelectorAll('#probs button.prob').length === 3, null, { timeout: 30_000 });
  await draw(other.page, SHAPES.circle(13));
  assert.equal(await predicted(other.page), 0, 'the trained model came in the file');
  assert.deepEqual(other.errors, []);
  await other.context.close();

  // a link cannot carry the images: the page says so
  await page.click('#copy-link');
  await page.waitForFunction(() => /^Link copied/.test(document.getElementById('status').textContent));
  assert.match(await text(page, 'status'), /not your images or your task/);
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), await page.evaluate(() => location.href));

  // back to the digits: ten classes, the pretrained model
  await page.click('#task-digits');
  await page.waitForFunction(() => /0–9/.test(document.getElementById('task-name').textContent)
    && document.querySelectorAll('#probs button.prob').length === 10 && /your session at step 0/.test(document.getElementById('status').textContent), null, { timeout: 30_000 });
  // the digits' session (saved when the task began) is back: the pretrained model reads a drawn 1
  await draw(page, [[[0.5, 0.15], [0.48, 0.85]]]);
  assert.equal(await predicted(page), 1);

  // another task, on a fresh network (it replaces the first, once confirmed), then another member
  // of the family: the task's two classes stay
  await page.click('#task-new');
  await page.fill('#task-classes', 'yes, no');
  await page.check('#task-fresh');
  page.once('dialog', (d) => d.accept());
  await page.click('#task-start');
  await page.waitForFunction(() => /yes, no/.test(document.getElementById('task-name').textContent) && document.querySelectorAll('#probs button.prob').length === 2, null, { timeout: 30_000 });
  assert.equal(await page.locator('#gallery .gallery-item').count(), 0, 'a new task starts with no images');
  await page.selectOption('#arch-depth', '14');
  await page.dispatchEvent('#arch-depth', 'change');
  await page.click('#arch-build');
  await page.waitForFunction(() => /ResNet-14/.test(document.getElementById('arch-name').textContent) && document.querySelectorAll('#probs button.prob').length === 2
    && /^(Built ResNet-14|ResNet-14: your last session)/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
  assert.equal(await page.evaluate(async () => (await window.playground.engine.architecture()).config.num_classes), 2);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the gallery: deleting, saving to a file and reading it back bit for bit, kept across a reload; bad files are refused', async () => {
  const { page, errors } = await open(browser, srv.url);
  await ready(page);
  // four held-out digits (as the network sees them) and one drawing, with chosen labels
  for (const [d, label] of [[0, 7], [1, 2], [2, 1], [3, 0]]) {
    await page.fill('#sample', String(d));
    const s = await seq(page);
    await page.dispatchEvent('#sample', 'change');
    await page.waitForFunction((s) => Number(document.getElementById('prediction').dataset.seq) > s, s);
    await add(page, label, d + 1);
    assert.equal(await page.locator('#add-label').inputValue(), String(label), 'the label chosen stays chosen');
  }
  await draw(page, SHAPES.line(0));
  await page.selectOption('#add-label', 'auto'); // the default: the prediction
  await page.click('#add-image');
  await page.waitForFunction(() => document.querySelectorAll('#gallery .gallery-item').length === 5);
  // (the gallery is drawn before the set is stored; the status line speaks after)
  await page.waitForFunction(() => /^Added/.test(document.getElementById('status').textContent));
  assert.match(await text(page, 'status'), /as “1”/, 'a drawn line goes in as the predicted 1');
  // the thumbnail is the network's input, pixel for pixel
  const same = await page.evaluate(async () => {
    const c = document.querySelector('#gallery .gallery-item canvas');
    const shown = c.getContext('2d').getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 === 0);
    const x = await window.playground.engine.call('tensor', 'act.input');
    const lo = Math.min(...x), hi = Math.max(...x);
    return shown.every((p, i) => Math.abs(p - 255 * (x[i] - lo) / (hi - lo)) < 1.01);
  });
  assert.ok(same, 'the thumbnail shows the 28×28 input');

  // delete the second-newest (the digit 3, label 0) by keyboard
  await page.locator('#gallery .gallery-item').nth(1).locator('.gallery-delete').focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('#gallery .gallery-item').length === 4);
  assert.deepEqual(await page.locator('#gallery .gallery-item').evaluateAll((e) => e.map((x) => x.dataset.label)), ['1', '1', '2', '7']);
  await page.waitForFunction(() => /Deleted image 4/.test(document.getElementById('status').textContent));
  assert.equal(await page.evaluate(() => document.activeElement?.closest('.gallery-item')?.dataset.index), '2', 'the focus goes to the next image\'s delete button');

  // save the set to a file
  const saved = page.waitForEvent('download');
  await page.click('#set-export');
  const file = `${ARTIFACTS}my-set.safetensors`;
  await (await saved).saveAs(file);
  const bytes = readFileSync(file);
  const headerLen = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString());
  assert.deepEqual(header.images.shape, [4, 28, 28]);
  assert.equal(header.images.dtype, 'U8');
  assert.deepEqual(header.labels.shape, [4]);
  const labels = new BigInt64Array(bytes.buffer.slice(bytes.byteOffset + 8 + headerLen + header.labels.data_offsets[0], bytes.byteOffset + 8 + headerLen + header.labels.data_offsets[1]));
  assert.deepEqual([...labels].map(Number), [7, 2, 1, 1], 'in the order added');

  // delete all, read the file back: the same set, bit for bit
  page.once('dialog', (d) => d.accept());
  await page.click('#set-clear');
  await page.waitForFunction(() => document.querySelectorAll('#gallery .gallery-item').length === 0);
  await page.setInputFiles('#set-import', file);
  await page.waitForFunction(() => document.querySelectorAll('#gallery .gallery-item').length === 4);
  const again = page.waitForEvent('download');
  await page.click('#set-export');
  const file2 = `${ARTIFACTS}my-set-again.safetensors`;
  await (await again).saveAs(file2);
  assert.ok(readFileSync(file2).equals(bytes), 'saved, read back and saved again: the same bytes');

  // a few thousand images: the gallery shows a page of them, the rest on request; past the
  // limit a file is refused with the reason
  const big = `${ARTIFACTS}big-set.safetensors`, more = `${ARTIFACTS}more-set.safetensors`, tooBig = `${ARTIFACTS}too-big-set.safetensors`;
  writeFileSync(big, setFile(3000));
  writeFileSync(more, setFile(2000));
  writeFileSync(tooBig, setFile(5001));
  await page.setInputFiles('#set-import', big);
  await page.waitForFunction(() => /3004 images/.test(document.getElementById('set-count').textContent), null, { timeout: 30_000 });
  assert.equal(await page.locator('#gallery .gallery-item').count(), 96);
  await page.click('#gallery button.secondary');
  await page.waitForFunction(() => document.querySelectorAll('#gallery .gallery-item').length === 192);
  await page.setInputFiles('#set-import', more); // (3,004 + 2,000: the page's own count says no)
  await page.waitForFunction(() => /A set holds at most 5000 images/.test(document.getElementById('status').textContent));
  assert.match(await text(page, 'set-count'), /^3004 images/);
  await page.setInputFiles('#set-import', tooBig); // (the engine reads the file and says no)
  await page.waitForFunction(() => /the file holds 5001 images; a set holds at most 5000 images/.test(document.getElementById('status').textContent));
  page.once('dialog', (d) => d.accept());
  await page.click('#set-clear');
  await page.waitForFunction(() => document.querySelectorAll('#gallery .gallery-item').length === 0);
  await page.setInputFiles('#set-import', file);
  await page.waitForFunction(() => document.querySelectorAll('#gallery .gallery-item').length === 4);
  // (the gallery is drawn before the set is stored; the status line speaks once it is stored)
  await page.waitForFunction(() => /Added 4 images from my-set\.safetensors: the set has 4/.test(document.getElementById('status').textContent));

  // kept across a reload
  await page.reload();
  await ready(page);
  await page.waitForFunction(() => document.querySelectorAll('#gallery .gallery-item').length === 4, null, { timeout: 30_000 });
  assert.match(await text(page, 'set-problem'), /Only one image of: 2, 7/);

  // files that are not sets, or of another task, are refused with the reason; the set stays
  const bad = `${ARTIFACTS}not-a-set.safetensors`;
  writeFileSync(bad, 'this is not safetensors');
  await page.setInputFiles('#set-import', bad);
  await page.waitForFunction(() => document.getElementById('status').classList.contains('error'));
  assert.match(await text(page, 'status'), /not-a-set\.safetensors/);
  assert.equal(await page.locator('#gallery .gallery-item').count(), 4);
  const model = new URL('../models/resnet8-mnist.safetensors', import.meta.url).pathname;
  await page.setInputFiles('#set-import', model);
  await page.waitForFunction(() => /images/.test(document.getElementById('status').textContent) && document.getElementById('status').classList.contains('error'));
  assert.equal(await page.locator('#gallery .gallery-item').count(), 4);
  assert.deepEqual(errors, []);
  await page.close();
});

test('fine-tuning on one digit in a style the model misreads raises the accuracy on that set\'s held-out drawings', async () => {
  const { page, errors } = await open(browser, srv.url);
  await ready(page);
  // ten seven-segment eights: the pretrained model reads them as 0
  for (let v = 0; v < 10; v++) {
    await draw(page, SHAPES.eight(v));
    await add(page, 8, v + 1);
  }
  const held = Number((await text(page, 'set-count')).match(/^10 images \(8: 10\); (\d+) held out/)?.[1]);
  assert.ok(held >= 1 && held <= 5, await text(page, 'set-count'));
  // batches half MNIST, half the set (augmented): adaptation without forgetting the rest
  await page.selectOption('#source', 'mix');
  await page.fill('#steps', '40');
  await page.dispatchEvent('#steps', 'change');
  await train(page, 40);
  const acc = await text(page, 'mydata-acc');
  const m = acc.match(new RegExp(`Your held-out images: (\\d+) of ${held} .* before → (\\d+) of ${held} .* after · MNIST held-out: ([\\d.]+) % → ([\\d.]+) %`));
  assert.ok(m, acc);
  const [beforeMine, afterMine, beforeMnist, afterMnist] = m.slice(1).map(Number);
  assert.ok(afterMine > beforeMine, `held-out eights: ${beforeMine} of ${held} before, ${afterMine} after`);
  // (the rest is partly forgotten — that is what the page shows — but not lost)
  assert.ok(beforeMnist > 95 && afterMnist > 80, `MNIST held-out ${beforeMnist} → ${afterMnist}`);
  // the curves have the set's held-out series beside MNIST's
  await shot(page, 'mydata-finetune');
  await page.locator('#train-panel').screenshot({ path: `${ARTIFACTS}mydata-finetune-train.png` });
  await page.locator('#mydata-panel').screenshot({ path: `${ARTIFACTS}mydata-finetune-panel.png` });
  await draw(page, SHAPES.eight(11));
  assert.equal(await predicted(page), 8, `a new seven-segment eight: ${await text(page, 'prediction')}`);
  assert.deepEqual(errors, []);
  await page.close();
});

// The widgets in Simplified Chinese: the Chinese chapter of the course notes (its widgets
// carry lang="zh-CN") shows every widget view without English words — no message of the
// English table and no run of three English words outside the formulas — and a browser whose
// language is Chinese gets the widgets in Chinese without the attribute. The tables
// (www/js/i18n/) have the same keys. Screenshots of the Chinese widgets go to test-artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve } from './server.mjs';
import { launch, open } from './browser.mjs';
import { TABLES } from '../www/js/i18n.js';

const DIST = process.env.DIST || new URL('../dist', import.meta.url).pathname;
const BOOK = process.env.BOOK || new URL('../examples/course-notes/book', import.meta.url).pathname;
const ARTIFACTS = new URL('../test-artifacts/', import.meta.url).pathname;
let browser, book, srv;
before(async () => {
  browser = await launch();
  book = await serve({ root: BOOK, isolated: false });
  srv = await serve({ root: DIST, isolated: false });
});
after(async () => { await browser?.close(); await book?.close(); await srv?.close(); });

// the English table's fixed sentences and words (its functions give sentences with values)
const ENGLISH = Object.values(TABLES.en).filter((m) => typeof m === 'string' && m.length >= 4);

/** The text a reader sees in widget `id`, formulas (KaTeX) left out. */
const seen = (page, id) => page.evaluate((i) => {
  const box = document.getElementById(i).shadowRoot.querySelector('.rp-widget').cloneNode(true);
  box.querySelectorAll('.katex').forEach((k) => k.remove());
  const labels = [...box.querySelectorAll('[aria-label]')].map((e) => e.getAttribute('aria-label'));
  return [box.textContent, ...labels].join('\n');
}, id);

// a message as it would stand in the text (not a part of a name: layer2.0.downsample.0)
const standing = ENGLISH.map((m) => [m, new RegExp(`(?<![\\w.])${m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w.])`)]);
const hasEnglish = (text) => standing.find(([, re]) => re.test(text))?.[0];

function noEnglish(text, where) {
  const m = hasEnglish(text);
  assert.ok(!m, `${where}: English "${m}" in\n${text.slice(0, 400)}`);
  const words = text.match(/\b[A-Za-z]{2,}(?:[ ,]+[A-Za-z]{2,}){2,}\b/g) ?? [];
  assert.deepEqual(words, [], `${where}: English words`);
}

test('the tables have the same keys, and every message of each is filled (or runs)', () => {
  assert.deepEqual(Object.keys(TABLES['zh-CN']).sort(), Object.keys(TABLES.en).sort());
  for (const [lang, table] of Object.entries(TABLES)) {
    for (const [k, m] of Object.entries(table)) {
      // (a value that serves as a number, a list of names and a graph module alike)
      const any = Object.assign(['a', 'b'], { about: 'about', kind: 'conv', name: 'c', k: 3, stride: 2, pad: 1, c_in: 1, c_out: 2, inputs: ['a', 'b'], shape: [2], replace: () => 'a' });
      if (typeof m === 'function') m(...Array.from({ length: m.length }, (_, i) => (i % 2 ? 2 : any))); // (it runs)
      else assert.ok(typeof m === 'string' && m.length > 0, `${lang}.${k}`);
    }
  }
});

test('the Chinese chapter: every widget view in Chinese, the formula pane, its picture and its numerical check included', async () => {
  const { page, errors } = await open(browser, `${book.url}backprop.zh.html`);
  await page.waitForFunction(() => ['formula', 'maps', 'train', 'draw'].every((id) => document.getElementById(id)?.shadowRoot?.querySelector('a.rp-open')), null, { timeout: 90_000 });
  await page.waitForFunction(() => document.getElementById('formula').shadowRoot.querySelector('.rp-pane')?.dataset.kind === 'conv_input_delta', null, { timeout: 60_000 });
  // the pane's picture on another channel, and the numerical check
  await page.locator('#formula .picture-head button').last().click();
  await page.locator('#formula .formula-numeric button').click();
  await page.waitForFunction(() => document.getElementById('formula').shadowRoot.querySelector('.numeric-result')?.dataset.rel, null, { timeout: 60_000 });
  // a drawing, and a few training steps
  const pad = page.locator('#draw canvas.drawpad');
  await pad.scrollIntoViewIfNeeded();
  const p = await pad.boundingBox();
  await page.mouse.move(p.x + p.width * 0.5, p.y + p.height * 0.15);
  await page.mouse.down();
  for (let s = 0; s <= 1; s += 0.1) await page.mouse.move(p.x + p.width * 0.5, p.y + p.height * (0.15 + 0.7 * s));
  await page.mouse.up();
  await page.waitForFunction(() => /^预测为 \d/.test(document.getElementById('draw').shadowRoot.querySelector('.rp-prediction').textContent), null, { timeout: 30_000 });
  await page.locator('#train button[data-part="start"]').click();
  await page.waitForFunction(() => /^第 \d+ 步 · 损失/.test(document.getElementById('train').shadowRoot.querySelector('.rp-stat').textContent), null, { timeout: 60_000 });
  await page.locator('#train button[data-part="stop"]').click();
  for (const id of ['formula', 'maps', 'train', 'draw']) noEnglish(await seen(page, id), id);
  assert.match(await seen(page, 'formula'), /旋转180度/);
  await page.locator('#formula').screenshot({ path: `${ARTIFACTS}zh-formula-widget.png` });
  await page.screenshot({ path: `${ARTIFACTS}zh-chapter.png` });
  assert.deepEqual(errors, []);
});

test('a reader whose browser speaks Chinese gets the widgets in Chinese; lang="en" keeps English', async () => {
  const context = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1280, height: 900 } });
  const { page, errors } = await open(browser, `${srv.url}embed.html`, { context });
  await page.waitForFunction(() => document.getElementById('train')?.shadowRoot?.querySelector('button[data-part="start"]'), null, { timeout: 90_000 });
  assert.equal(await page.textContent('#train button[data-part="start"]'), '训练 50 步');
  await page.evaluate(() => document.getElementById('train').setAttribute('lang', 'en'));
  await page.waitForFunction(() => document.getElementById('train').shadowRoot.querySelector('button[data-part="start"]')?.textContent === 'Train 50 steps', null, { timeout: 30_000 });
  assert.deepEqual(errors, []);
  await context.close();
});

test('the page in Chinese (?lang=zh-CN): every panel, a training run, a comparison and the kernels, without English', async () => {
  const { page, errors } = await open(browser, `${srv.url}?lang=zh-CN&layer=layer1.0.conv2`);
  await page.waitForFunction(() => window.playground?.ready && document.querySelector('#formula')?.dataset.kind, null, { timeout: 90_000 });
  assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
  // a kernel's gradient in the pane, three training steps, and two steps of a comparison
  await page.locator('#weights canvas.weights-map').nth(1).hover({ position: { x: 45, y: 5 } });
  await page.waitForFunction(() => document.getElementById('formula').dataset.kind === 'conv_weight_grad', null, { timeout: 30_000 });
  await page.fill('#steps', '3');
  await page.dispatchEvent('#steps', 'change');
  await page.click('#start');
  await page.waitForFunction(() => /^第 3 步：损失/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
  await page.fill('#compare .cmp-steps', '2');
  // (the status comes before the run's last refresh: the panel's Start is enabled once that
  // is done, and Playwright's click waits for it)
  await page.click('#compare .cmp-start');
  await page.waitForFunction(() => /^完成于第 2 步/.test(document.querySelector('#compare .cmp-status').textContent), null, { timeout: 120_000 });
  await page.locator('#compare canvas.flow-map').hover();
  const text = await page.evaluate(() => {
    const b = document.body.cloneNode(true);
    b.querySelectorAll('.katex').forEach((k) => k.remove());
    return { shown: document.body.innerText.replace(/[^\n]*\.katex[^\n]*/g, ''), all: b.textContent, labels: [...document.querySelectorAll('[aria-label]')].map((e) => e.getAttribute('aria-label')).join('\n') };
  });
  // (innerText has KaTeX's text too: its TeX is the same in every language; it has no spaces between words)
  assert.equal(hasEnglish(text.all) ?? hasEnglish(text.labels), undefined, 'English on the page');
  noEnglish(text.labels, 'aria-labels');
  const words = (text.shown.match(/\b[A-Za-z]{2,}(?:[ ,]+[A-Za-z]{2,}){2,}\b/g) ?? []).filter((w) => !/^(No file chosen|Choose File)/.test(w));
  assert.deepEqual(words, [], 'English words on the page (the file inputs\' own words are the browser\'s)');
  await page.screenshot({ path: `${ARTIFACTS}zh-page.png` });
  assert.deepEqual(errors, []);
});

// Accessibility, audited with axe-core (npm) in headless Chromium: the playground page, the
// widgets' example page and the mdBook chapters (English and Chinese), in light and dark themes, have no serious or
// critical violations (colour contrast of legends and labels included; axe reads into the
// widgets' open shadow roots). Every view is also usable from the keyboard: the maps, the
// kernels, the strip and the flow map take focus and move with the arrow keys.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { serve } from './server.mjs';
import { launch, open } from './browser.mjs';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const DIST = process.env.DIST || new URL('../dist', import.meta.url).pathname;
const BOOK = process.env.BOOK || new URL('../examples/course-notes/book', import.meta.url).pathname;
let browser, srv, book;
before(async () => {
  browser = await launch();
  srv = await serve({ root: DIST, isolated: false });
  book = await serve({ root: BOOK, isolated: false });
});
after(async () => { await browser?.close(); await srv?.close(); await book?.close(); });

/** axe's serious and critical violations on the page as it is now: "rule: target (summary)". */
async function audit(page) {
  await page.addScriptTag({ path: AXE });
  const found = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .flatMap((v) => v.nodes.map((n) => `${v.id}: ${JSON.stringify(n.target)} (${n.failureSummary?.split('\n')[1]?.trim() ?? v.help})`)));
  return found;
}

const pageReady = (page) => page.waitForFunction(() => window.playground?.ready && document.querySelector('#formula')?.dataset.kind, null, { timeout: 90_000 });
const widgetsReady = (page, n) => page.waitForFunction((k) => [...document.querySelectorAll('resnet-playground')].filter((w) => w.shadowRoot?.querySelector('a.rp-open')).length >= k, n, { timeout: 90_000 });

for (const [lang, scheme] of [['en', 'light'], ['zh-CN', 'light'], ['en', 'dark'], ['zh-CN', 'dark']]) test(`the playground page (${lang}, ${scheme}): no serious or critical axe violations`, async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: scheme });
  const { page, errors } = await open(browser, `${srv.url}?lang=${lang}`, { context });
  await pageReady(page);
  assert.deepEqual(await audit(page), []);
  assert.deepEqual(errors, []);
});

for (const [theme, lang] of [['light', 'en'], ['dark', 'en'], ['dark', 'zh-CN']]) {
  test(`the widgets' example page, ${theme} theme, ${lang}: no serious or critical axe violations`, async () => {
    const { page, errors } = await open(browser, `${srv.url}embed.html`);
    await page.evaluate(([t, l]) => document.querySelectorAll('resnet-playground').forEach((w) => { w.setAttribute('theme', t); w.setAttribute('lang', l); }), [theme, lang]);
    if (theme === 'dark') await page.addStyleTag({ content: 'body { background: #15181c; color: #e7eaee; }' });
    await widgetsReady(page, 4);
    assert.deepEqual(await audit(page), []);
    assert.deepEqual(errors, []);
  });
}

for (const [chapter, theme] of [['backprop.html', 'light'], ['backprop.html', 'coal'], ['backprop.zh.html', 'light'], ['backprop.zh.html', 'coal']]) {
  test(`the mdBook chapter ${chapter}, mdBook's ${theme} theme: no serious or critical axe violations`, async () => {
    const { page, errors } = await open(browser, `${book.url}${chapter}`, {
      setup: (context) => context.addInitScript((t) => localStorage.setItem('mdbook-theme', t), theme),
    });
    await widgetsReady(page, 4);
    assert.deepEqual(await audit(page), []);
    assert.deepEqual(errors, []);
  });
}

test('the widgets from the keyboard alone: Tab reaches the formula map, the arrow keys move the explained cell, Enter trains, the arrows and Space draw a digit', async () => {
  const { page, errors } = await open(browser, `${srv.url}embed.html`);
  await widgetsReady(page, 4);
  await page.waitForFunction(() => document.getElementById('formula').shadowRoot.querySelector('.rp-pane')?.dataset.index);
  // Tab from the top of the page until the formula widget's map has the focus
  const focused = () => page.evaluate(() => {
    const host = document.activeElement;
    const inner = host?.shadowRoot?.activeElement;
    return host?.id && inner ? `${host.id} ${inner.className || inner.tagName}` : host?.tagName;
  });
  let at = '';
  for (let k = 0; k < 40 && !/^formula heatmaps-grid/.test(at); k++) { await page.keyboard.press('Tab'); at = await focused(); }
  assert.match(at, /^formula heatmaps-grid/, 'Tab reaches the map');
  const index = () => page.evaluate(() => document.getElementById('formula').shadowRoot.querySelector('.rp-pane').dataset.index);
  const before = JSON.parse(await index());
  await page.keyboard.press(before[3] > 0 ? 'ArrowLeft' : 'ArrowRight');
  await page.waitForFunction((b) => document.getElementById('formula').shadowRoot.querySelector('.rp-pane').dataset.index !== b, JSON.stringify(before));
  const after = JSON.parse(await index());
  assert.deepEqual(after.slice(0, 3), before.slice(0, 3));
  assert.equal(Math.abs(after[3] - before[3]), 1, 'one column over');
  // on to the train widget's first button, and Enter
  for (let k = 0; k < 80 && !/^train BUTTON/.test(at); k++) { await page.keyboard.press('Tab'); at = await focused(); }
  assert.match(at, /^train BUTTON/);
  assert.match(await page.evaluate(() => document.getElementById('train').shadowRoot.activeElement.textContent), /^Train 50 steps$/);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /^step \d+ · loss/.test(document.getElementById('train').shadowRoot.querySelector('.rp-stat').textContent), null, { timeout: 60_000 });
  await page.evaluate(() => document.getElementById('train').shadowRoot.querySelector('button[data-part="stop"]').click());
  // the draw widget: Tab to its pad, Space puts the pen down, the arrows draw a stroke, Space
  // lifts it and the network predicts
  for (let k = 0; k < 80 && !/^draw drawpad/.test(at); k++) { await page.keyboard.press('Shift+Tab'); at = await focused(); }
  assert.match(at, /^draw drawpad/, 'Tab reaches the drawing pad');
  for (let k = 0; k < 3; k++) await page.keyboard.press('Shift+ArrowUp');
  await page.keyboard.press('Space');
  for (let k = 0; k < 20; k++) await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Space');
  await page.waitForFunction(() => /^predicted \d/.test(document.getElementById('draw').shadowRoot.querySelector('.rp-prediction').textContent), null, { timeout: 30_000 });
  assert.deepEqual(errors, []);
});

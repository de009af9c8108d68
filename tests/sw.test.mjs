// The opt-in service worker (www/sw.js), as an author uses it: copied to the site's root with
// one script tag added. On the built mdBook served with no headers it makes the page
// cross-origin isolated after one reload, and the widgets run the threaded build on 2 threads
// (without it, the single-threaded build: widget.test.mjs); after one visit the playground
// page works with the server gone: it reloads, trains a step and predicts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from './server.mjs';
import { launch, open } from './browser.mjs';

const DIST = process.env.DIST || new URL('../dist', import.meta.url).pathname;
const BOOK = process.env.BOOK || new URL('../examples/course-notes/book', import.meta.url).pathname;
let browser, dir;
before(async () => { browser = await launch(); dir = mkdtempSync(join(tmpdir(), 'rp-sw-')); });
after(async () => { await browser?.close(); rmSync(dir, { recursive: true, force: true }); });

/** A copy of `site` with sw.js at its root and `<script src="sw.js"…>` in `pages`. */
function withWorker(site, name, pages, attrs = '') {
  const root = join(dir, name);
  cpSync(site, root, { recursive: true });
  cpSync(join(DIST, 'sw.js'), join(root, 'sw.js'));
  for (const p of pages) {
    const f = join(root, p);
    writeFileSync(f, readFileSync(f, 'utf8').replace('</head>', `<script src="sw.js"${attrs}></script>\n</head>`));
  }
  return root;
}

test('the mdBook chapter, no headers, sw.js at its root: isolated after one reload, widgets on 2 threads', async () => {
  const srv = await serve({ root: withWorker(BOOK, 'book', ['backprop.html']), isolated: false });
  try {
    const { page, errors } = await open(browser, `${srv.url}backprop.html`);
    await page.waitForFunction(() => window.crossOriginIsolated === true, null, { timeout: 60_000 });
    await page.waitForFunction(() => document.getElementById('maps')?.shadowRoot?.querySelectorAll('canvas[data-channel]').length === 16, null, { timeout: 90_000 });
    assert.equal(await page.getAttribute('#maps', 'data-build'), 'threads');
    assert.equal(await page.getAttribute('#maps', 'data-threads'), '2');
    // the rest of the page works as before: the formula widget explains a cell, the strip of mdBook's menu is there
    await page.waitForFunction(() => document.getElementById('formula')?.shadowRoot?.querySelector('.rp-pane')?.dataset.kind === 'conv_input_delta', null, { timeout: 60_000 });
    assert.equal(await page.isVisible('#mdbook-sidebar-toggle'), true);
    assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation')[0].type), 'reload', 'the script reloaded the page once');
    await page.reload();
    await page.waitForFunction(() => window.crossOriginIsolated === true);
    // (the reload cancels the first load's downloads: those are the only failures)
    assert.deepEqual(errors.filter((e) => !/^request failed: .* net::ERR_ABORTED$/.test(e)), []);
  } finally {
    await srv.close();
  }
});

test('after one visit the playground works offline: reload with the server gone, train a step, predict', async () => {
  const root = withWorker(DIST, 'dist', ['index.html']);
  const srv = await serve({ root, isolated: false });
  const { page, errors } = await open(browser, `${srv.url}index.html?layer=layer2.0.conv1`);
  const ready = () => page.waitForFunction(() => window.playground?.ready && document.querySelector('#formula')?.dataset.kind, null, { timeout: 90_000 });
  await page.waitForFunction(() => window.crossOriginIsolated === true, null, { timeout: 60_000 });
  await ready();
  // the build's files are all kept (sw-files.json, copied at install)
  const { version, files } = JSON.parse(readFileSync(join(root, 'sw-files.json'), 'utf8'));
  await page.waitForFunction(async ([v, n]) => (await (await caches.open(`resnet-playground-${v}`)).keys()).length >= n, [version, files.length], { timeout: 60_000, polling: 500 });
  assert.equal(await page.textContent('#build').then((t) => /threads/.test(t)), true, 'threads once isolated');
  await srv.close();
  await assert.rejects(fetch(`${srv.url}index.html`), 'the server is gone');
  await page.reload();
  await ready();
  assert.match(await page.textContent('#prediction'), /^held-out digit 0 · label (\d) · predicted \1 /);
  await page.click('#step');
  await page.waitForFunction(() => /^Step \d+: loss/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
  assert.match(await page.textContent('#prediction'), /predicted \d/);
  // (the worker tries the network first: with the server gone those requests fail, and the
  // kept copies answer; and the first visit's reload cancels its downloads)
  assert.deepEqual(errors.filter((e) => !/^request failed: /.test(e)), []);
});

test('a new build replaces the old copies: its worker installs and drops the old cache', async () => {
  const root = withWorker(DIST, 'next', ['index.html'], ' data-offline-only');
  const srv = await serve({ root, isolated: false });
  try {
    const { page, errors } = await open(browser, `${srv.url}index.html`);
    const { version, files } = JSON.parse(readFileSync(join(root, 'sw-files.json'), 'utf8'));
    const keys = () => page.evaluate(() => caches.keys());
    await page.waitForFunction(async ([v, n]) => (await (await caches.open(`resnet-playground-${v}`)).keys()).length >= n, [version, files.length], { timeout: 60_000, polling: 500 });
    await page.waitForFunction(() => navigator.serviceWorker.controller, null, { timeout: 30_000 });
    assert.equal(await page.evaluate(() => window.crossOriginIsolated), false, 'data-offline-only: no isolation');
    // "the next build": another version stamped in sw.js
    const sw = join(root, 'sw.js');
    writeFileSync(sw, readFileSync(sw, 'utf8').replace(`const VERSION = '${version}';`, "const VERSION = 'next-build';"));
    await page.evaluate(async () => (await navigator.serviceWorker.getRegistration()).update());
    // (the caches settle once the old worker's last downloads are done: the same answer 3 times)
    let same = 0;
    for (let k = 0; k < 120 && same < 3; k++) {
      same = JSON.stringify(await keys()) === '["resnet-playground-next-build"]' ? same + 1 : 0;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.deepEqual(await keys(), ['resnet-playground-next-build']);
    // (a download the old worker was serving may be cut off by the switch; the engine asks
    // again when it needs the file)
    assert.deepEqual(errors.filter((e) => !/^request failed: .* net::ERR_ABORTED$/.test(e)), []);
  } finally {
    await srv.close();
  }
});

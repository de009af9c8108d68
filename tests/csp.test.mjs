// The built site under the strict Content-Security-Policy of the reliability issue: the engine
// starts, the views and the KaTeX formula pane render, and the browser reports no violation
// (a violation is a console error, which `open` collects).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve } from './server.mjs';
import { launch, open } from './browser.mjs';

const DIST = process.env.DIST || new URL('../dist', import.meta.url).pathname;
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' blob: data:";
let browser, srv;
before(async () => { browser = await launch(); srv = await serve({ root: DIST, isolated: true, headers: { 'Content-Security-Policy': CSP } }); });
after(async () => { await browser?.close(); await srv?.close(); });

test('the page runs under a strict CSP, threads included', async () => {
  // listen from the first script on (violations in workers show as console errors)
  const violations = [];
  const { page, errors } = await open(browser, srv.url, {
    setup: async (context) => {
      await context.exposeBinding('reportViolation', (_, v) => violations.push(v));
      await context.addInitScript(() => document.addEventListener('securitypolicyviolation', (e) => window.reportViolation(`${e.violatedDirective} ${e.blockedURI}`)));
    },
  });
  await page.waitForFunction(() => document.querySelector('#formula')?.dataset.kind === 'conv_input_delta', null, { timeout: 90_000 });
  assert.equal(await page.getAttribute('#build', 'data-build'), 'threads');
  assert.ok(await page.locator('#formula .katex').count() >= 2);
  // KaTeX's fonts load from the site
  const fonts = await page.evaluate(() => document.fonts.check('16px KaTeX_Main'));
  assert.ok(fonts, 'KaTeX_Main font available');
  assert.deepEqual([...errors, ...violations], []);
});

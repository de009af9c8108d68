// Latency of the page as a student feels it, in headless Chromium: from a hover over a δ cell to
// the formula pane showing that cell, and from a click on ▶ (next held-out digit) to the views
// and the pane showing the new digit. Medians of `--reps` (default 20) after 3 untimed ones;
// the page's SIMD build, not isolated. `--dist DIR` picks the built site (default dist/).
//
//   node bench/latency.mjs [--dist dist] [--reps 20]
import { serve } from '../tests/server.mjs';
import { launch, open } from '../tests/browser.mjs';
import { arg } from './args.mjs';

const root = arg('dist', new URL('../dist', import.meta.url).pathname);
const reps = Number(arg('reps', 20));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };

const browser = await launch();
const srv = await serve({ root, isolated: false });
try {
  const { page } = await open(browser, `${srv.url}?engine=simd`);
  await page.waitForFunction(() => window.playground?.ready && document.querySelector('#formula')?.dataset.kind, null, { timeout: 90_000 });
  // hover: alternate between two cells of δ at layer2.0.conv1's input, channel 3
  const map = page.locator('#input-deltas canvas[data-channel="3"]');
  await map.scrollIntoViewIfNeeded();
  const box = await map.boundingBox();
  const hover = [];
  for (let k = 0; k < reps + 3; k++) {
    const [x, y] = k % 2 ? [10, 12] : [17, 5];
    const t0 = await page.evaluate(() => performance.now());
    await page.mouse.move(box.x + box.width * ((y + 0.5) / 28), box.y + box.height * ((x + 0.5) / 28));
    const t1 = await page.waitForFunction((want) => document.getElementById('formula').dataset.index === want && performance.now(), JSON.stringify([0, 3, x, y]), { polling: 'raf' }).then((h) => h.jsonValue());
    if (k >= 3) hover.push(t1 - t0);
  }
  // digit change: ▶, then wait for the prediction line and the pane's value (same cell) to change
  const digit = [];
  for (let k = 0; k < reps + 3; k++) {
    const before = await page.evaluate(() => [document.getElementById('prediction').textContent, document.getElementById('formula').dataset.value]);
    const t0 = await page.evaluate(() => { const t = performance.now(); document.getElementById('next-digit').click(); return t; });
    const t1 = await page.waitForFunction(([p, v]) => {
      const f = document.getElementById('formula').dataset;
      return document.getElementById('prediction').textContent !== p && f.value !== v && performance.now();
    }, before, { polling: 'raf' }).then((h) => h.jsonValue());
    if (k >= 3) digit.push(t1 - t0);
  }
  console.log(JSON.stringify({ dist: root, reps, hover_to_formula_ms: median(hover), digit_to_redraw_ms: median(digit), hover, digit }, null, 1));
} finally {
  await browser.close();
  await srv.close();
}

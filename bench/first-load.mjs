// The first visit, as a student on a school network meets it: a fresh browser profile opens
// index.html and the script waits until the first prediction is drawn (the probability bars and
// the sentence for the first held-out digit), then reports the bytes the server sent until then
// (by file; the page, the worker's wasm, model and digits) and the time from navigation. Once on
// the local server as it is, once through a link of 10 Mbit/s with 40 ms before each
// response's first byte (tests/server.mjs `throttle`: every response shares the one link).
// Single-threaded build (a school's host sends no isolation headers) unless --isolated.
//
//   trunk build --release && node bench/first-load.mjs [--isolated]
import { serve } from '../tests/server.mjs';
import { launch } from '../tests/browser.mjs';

const isolated = process.argv.includes('--isolated');
const root = new URL('..', import.meta.url).pathname;
const browser = await launch();
const runs = [];
for (const throttle of [null, { bitsPerSec: 10e6, latencyMs: 40 }]) {
  const sent = [];
  const srv = await serve({ root: `${root}dist`, isolated, throttle, onsent: (f) => sent.push(f) });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const t0 = performance.now();
    await page.goto(srv.url);
    await page.waitForFunction(() => document.querySelectorAll('#probs .prob').length > 0 && /predicted/.test(document.getElementById('prediction').textContent), null, { timeout: 300_000, polling: 20 });
    const ms = performance.now() - t0;
    const before = sent.filter((f) => f.at <= t0 + ms);
    const total = before.reduce((a, f) => a + f.bytes, 0);
    const largest = [...before].sort((a, b) => b.bytes - a.bytes).slice(0, 6).map((f) => `${f.path} ${(f.bytes / 1e6).toFixed(2)} MB`);
    runs.push({ network: throttle ? '10 Mbit/s, 40 ms' : 'local', ms: Math.round(ms), megabytes: +(total / 1e6).toFixed(2), files: before.length, largest });
    await context.close();
  } finally {
    await srv.close();
  }
}
await browser.close();
console.log(JSON.stringify({ date: new Date().toISOString().slice(0, 10), isolated, runs }, null, 2));

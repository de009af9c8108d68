// The first visit, as a student on a school network meets it: a fresh browser profile opens
// index.html and the script waits until the first prediction is drawn (the probability bars of
// the first held-out digit), then reports the bytes transferred until then (every response's
// encoded body, as the network carried it) by file, and the time from navigation. Runs once on
// the local server as it is, and once with Chromium's network throttled to 10 Mbit/s down,
// 5 Mbit/s up, 40 ms round trip (CDP Network.emulateNetworkConditions). Single-threaded build
// (a school's host sends no isolation headers) unless --isolated.
//
//   trunk build --release && node bench/first-load.mjs [--isolated]
import { serve } from '../tests/server.mjs';
import { launch } from '../tests/browser.mjs';

const isolated = process.argv.includes('--isolated');
const root = new URL('..', import.meta.url).pathname;
const browser = await launch();
const srv = await serve({ root: `${root}dist`, isolated });
const runs = [];
try {
  for (const throttle of [null, { downloadThroughput: 10e6 / 8, uploadThroughput: 5e6 / 8, latency: 40 }]) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    if (throttle) await cdp.send('Network.emulateNetworkConditions', { offline: false, ...throttle });
    const files = new Map();
    cdp.on('Network.responseReceived', (e) => files.set(e.requestId, { url: e.response.url, bytes: 0, at: null }));
    cdp.on('Network.loadingFinished', (e) => { const f = files.get(e.requestId); if (f) { f.bytes = e.encodedDataLength; f.at = performance.now(); } });
    const t0 = performance.now();
    await page.goto(srv.url);
    // the first prediction drawn: the bars and the sentence of held-out digit 0
    await page.waitForFunction(() => document.querySelectorAll('#probs .prob').length > 0 && /\S/.test(document.getElementById('prediction').textContent), null, { timeout: 300_000, polling: 20 });
    const ms = performance.now() - t0;
    const before = [...files.values()].filter((f) => f.at !== null && f.at <= t0 + ms);
    const total = before.reduce((a, f) => a + f.bytes, 0);
    const top = before.sort((a, b) => b.bytes - a.bytes).slice(0, 8).map((f) => `${new URL(f.url).pathname} ${(f.bytes / 1e6).toFixed(2)} MB`);
    runs.push({ network: throttle ? '10 Mbit/s, 40 ms' : 'local', ms: Math.round(ms), megabytes: +(total / 1e6).toFixed(2), files: before.length, largest: top });
    await context.close();
  }
} finally {
  await browser.close();
  await srv.close();
}
console.log(JSON.stringify({ date: new Date().toISOString().slice(0, 10), isolated, runs }, null, 2));

import { serve } from '/work/main/tests/server.mjs';
import { launch } from '/work/main/tests/browser.mjs';
const browser = await launch();
const srv = await serve({ root: process.env.DIST || '/work/main/dist', isolated: false });
const page = await browser.newPage();
await page.goto(`${srv.url}bench.html?build=simd&steps=1&batches=8&warmup=1`);
await page.waitForFunction(() => window.benchResult, null, { timeout: 600_000 });
for (const v of process.argv.slice(2)) {
  const out = await page.evaluate((v) => new Promise((res) => { const w = new Worker('./probe-worker.js', { type: 'module' }); w.onmessage = (e) => { res(e.data); w.terminate(); }; w.onerror = (e) => res(['error ' + e.message]); w.postMessage(v); }), v);
  console.log(out.join('\n'));
}
await browser.close(); await srv.close();

import { serve } from '/work/main/tests/server.mjs';
import { launch } from '/work/main/tests/browser.mjs';
const browser = await launch();
const srv = await serve({ root: '/work/main/dist', isolated: false });
const page = await browser.newPage();
await page.goto(`${srv.url}bench.html?build=simd&steps=1&batches=8&warmup=1`);
await page.waitForFunction(() => window.benchResult, null, { timeout: 600_000 });
const out = await page.evaluate(async () => {
  const mod = await import('./pkg/simd/resnet_wasm.js');
  await mod.default();
  const B = 32;
  const images = new Float32Array(B * 784).map((_, i) => Math.sin(i * 0.37) * 0.5 + 0.5);
  const labels = Uint32Array.from({ length: B }, (_, i) => i % 10);
  const rows = [];
  for (let k = 0; k < 4; k++) {
    const e = new mod.Engine(undefined, 1, undefined);
    for (let i = 0; i < 3; i++) e.forward(images, B, 'eval');
    const t = [];
    for (let i = 0; i < 20; i++) { const s = performance.now(); e.forward(images, B, 'eval'); t.push(performance.now() - s); }
    const tt = [];
    for (let i = 0; i < 5; i++) e.trainBatch(images, labels);
    for (let i = 0; i < 10; i++) { const s = performance.now(); e.trainBatch(images, labels); tt.push(performance.now() - s); }
    t.sort((a, b) => a - b); tt.sort((a, b) => a - b);
    rows.push(`infer median ${t[10].toFixed(1)} min ${t[0].toFixed(1)} | train median ${tt[5].toFixed(1)} min ${tt[0].toFixed(1)}`);
  }
  return rows;
});
console.log(out.join('\n'));
await browser.close(); await srv.close();

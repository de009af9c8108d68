import { serve } from '/work/main/tests/server.mjs';
import { launch } from '/work/main/tests/browser.mjs';
const srv = await serve({ root: '/work/main/dist', isolated: true });
const browser = await launch();
const page = await browser.newPage();
await page.goto(`${srv.url}style.css`);
for (const v of (process.argv[2] || 'simd,threads').split(',')) {
  const out = await page.evaluate(async (v) => {
    const m = await import(`./pkg/${v}/resnet_wasm.js`); await m.default();
    const shapes = [[16, 784, 144], [32, 196, 288], [64, 49, 576], [64, 784, 576]];
    const g = { shuffle: shapes.map(() => []), load: shapes.map(() => []) };
    for (let r = -3; r < 30; r++) for (const k of r % 2 ? ['load', 'shuffle'] : ['shuffle', 'load']) { m.setGemmBroadcast(k); shapes.forEach(([mm, n, kk], i) => { const x = m.benchGemm(mm, n, kk, 30); if (r >= 0) g[k][i].push(x); }); }
    const med = (x) => { const s = [...x].sort((a, b) => a - b); return s[s.length >> 1]; };
    return shapes.map((s, i) => `${v} ${s.join('×')} shuffle ${med(g.shuffle[i]).toFixed(1)} load ${med(g.load[i]).toFixed(1)} paired load/shuffle ${med(g.shuffle[i].map((x, j) => g.load[i][j] / x)).toFixed(3)}`);
  }, v);
  console.log(out.join('\n'));
}
await browser.close(); await srv.close();

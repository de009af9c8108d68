import { serve } from '/work/main/tests/server.mjs';
import { launch } from '/work/main/tests/browser.mjs';
const build = process.argv[2] || 'simd', steps = process.argv[3] || 120;
const browser = await launch();
for (let rep = 0; rep < Number(process.argv[4] || 2); rep++) {
  const srv = await serve({ root: '/work/main/dist', isolated: build === 'threads' });
  const page = await browser.newPage();
  await page.goto(`${srv.url}bench.html?build=${build}&steps=${steps}&batches=32`);
  await page.waitForFunction(() => window.benchResult, null, { timeout: 600_000 });
  const r = await page.evaluate(() => window.benchResult);
  const x = r.results[0];
  const g = [];
  for (let i = 0; i < x.train_ms.length; i += 10) { const s = x.train_ms.slice(i, i + 10).sort((a, b) => a - b); g.push(s[5]); }
  console.log(build, 'rep', rep, 'train medians per 10 steps:', g.join(' '), '| warmup', JSON.stringify(r.warmup.rounds));
  await page.close(); await srv.close();
}
await browser.close();

// Compare mode's lessons in the page, as a student runs them: opens ?compare=<models> in
// headless Chromium (the threaded build, cross-origin isolated, unless --simd), sets the steps,
// presses Start, and when the run is done prints each model's training loss (mean of the last
// 10 steps) and held-out accuracy at every evaluation, and its images/s; the compare panel is
// saved as a screenshot. What the README reports about the lessons comes from here.
//
//   trunk build --release && node bench/compare.mjs plain20,resnet20 [--steps 300] [--simd] [--out docs/img/compare.png]
import { serve } from '../tests/server.mjs';
import { launch, open } from '../tests/browser.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };
const models = args.find((a) => !a.startsWith('--') && args[args.indexOf(a) - 1]?.startsWith('--') !== true) ?? 'plain20,resnet20';
const steps = Number(opt('steps', 300)), simd = args.includes('--simd');
const out = opt('out', `test-artifacts/compare-${models.replace(/,/g, '-')}-${steps}.png`);
const root = new URL('..', import.meta.url).pathname;
const browser = await launch();
const srv = await serve({ root: `${root}dist`, isolated: !simd });
try {
  const { page, errors } = await open(browser, `${srv.url}?compare=${models}${simd ? '&engine=simd' : ''}`);
  await page.waitForFunction(() => window.playground?.ready && document.querySelector('#compare .cmp-start'), null, { timeout: 120_000 });
  await page.fill('#compare .cmp-steps', String(steps));
  const t0 = Date.now();
  await page.click('#compare .cmp-start');
  await page.waitForFunction(() => /^(Done|Stopped) at step|stopped:/.test(document.querySelector('#compare .cmp-status').textContent), null, { timeout: 3_600_000 });
  const said = await page.textContent('#compare .cmp-status');
  const s = await page.evaluate(() => window.playground.engine.compareState());
  if (!s) throw new Error(`no comparison: ${said} ${errors.join('; ')}`);
  const info = await page.evaluate(() => window.playground.engine.info);
  console.log(`${models}, ${steps} steps, seed ${s.seed}, batch ${s.batch}, ${info.build} ×${info.threads}, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  for (const m of s.members) {
    const tail = m.curve.slice(-10);
    const loss = tail.reduce((a, p) => a + p.loss, 0) / tail.length;
    const held = m.heldout.map((h) => `${h.step}: ${(100 * h.accuracy).toFixed(1)} %`).join(', ');
    console.log(`  ${m.label}: loss ${loss.toFixed(3)} (last 10 steps), ${Math.round(m.imagesPerSec)} images/s; held-out accuracy ${held}`);
  }
  await page.locator('#compare-panel').screenshot({ path: out });
  console.log(`screenshot: ${out}${errors.length ? `\nerrors: ${errors.join('; ')}` : ''}`);
} finally {
  await browser.close();
  await srv.close();
}

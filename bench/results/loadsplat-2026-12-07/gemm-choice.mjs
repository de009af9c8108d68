import { serve } from '/work/main/tests/server.mjs';
import { launch } from '/work/main/tests/browser.mjs';
const srv = await serve({ root: '/work/main/dist', isolated: true });
const browser = await launch();
for (const build of ['simd', 'threads', 'simd', 'threads', 'simd', 'threads', 'simd', 'threads']) {
  const page = await browser.newPage();
  await page.goto(`${srv.url}style.css`);
  const r = await page.evaluate(async (build) => {
    const { EngineClient, MNIST } = await import('./js/engine-client.js');
    const t = performance.now();
    const e = await EngineClient.start({ build, ...MNIST });
    const ms = performance.now() - t;
    const info = e.info; e.terminate();
    return { build, startMs: Math.round(ms), gemm: info.gemm, warmupMs: info.warmup.ms };
  }, build);
  console.log(JSON.stringify(r));
  await page.close();
}
await browser.close(); await srv.close();

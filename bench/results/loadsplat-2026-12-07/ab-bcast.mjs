import { serve } from '/work/main/tests/server.mjs';
import { launch } from '/work/main/tests/browser.mjs';
const srv = await serve({ root: '/work/main/dist', isolated: true });
const browser = await launch();
const rounds = Number(process.argv[3] || 12);
for (const build of (process.argv[2] || 'simd,threads').split(',')) {
  const page = await browser.newPage();
  await page.goto(`${srv.url}style.css`);
  const r = await page.evaluate(async ({ build, rounds }) => {
    const { EngineClient, MNIST } = await import('./js/engine-client.js');
    const e = await EngineClient.start({ build, ...MNIST, optimizer: { kind: 'sgd', momentum: 0.9, lr: 0.05, weight_decay: 0 } });
    await e.setBatch(32, 1);
    const idx = Uint32Array.from({ length: 32 }, (_, i) => i);
    const med = (x) => { const s = [...x].sort((a, b) => a - b); return s[s.length >> 1]; };
    const time = async (n, f) => { const t = []; for (let i = 0; i < n; i++) { const t0 = performance.now(); await f(); t.push(performance.now() - t0); } return med(t); };
    const res = { shuffle: { train: [], infer: [] }, load: { train: [], infer: [] } };
    for (let r = -2; r < rounds; r++) {
      for (const k of r % 2 ? ['load', 'shuffle'] : ['shuffle', 'load']) {
        await e.static('setGemmBroadcast', k);
        const tr = await time(5, () => e.trainSteps(1));
        const inf = await time(9, () => e.forwardDigits(idx.slice(), 'eval'));
        if (r >= 0) { res[k].train.push(tr); res[k].infer.push(inf); }
      }
    }
    e.terminate();
    const out = {};
    for (const p of ['train', 'infer']) out[p] = { shuffle_ms: +med(res.shuffle[p]).toFixed(2), load_ms: +med(res.load[p]).toFixed(2), load_over_shuffle_time: +med(res.shuffle[p].map((s, i) => res.load[p][i] / s)).toFixed(3), load_faster_in: `${res.shuffle[p].filter((s, i) => res.load[p][i] < s).length}/${rounds}` };
    return { build, chosen: e.info.gemm, ...out };
  }, { build, rounds });
  console.log(JSON.stringify(r));
  await page.close();
}
await browser.close(); await srv.close();

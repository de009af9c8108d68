// The GEMM alone (`benchGemm`, one thread, the SIMD-only build) in two builds of the page,
// alternated over rounds in one invocation: GFLOP/s on the convs' shapes, and the page's peak.
//
//   node bench/gemm-ab.mjs --a /tmp/dist-before --b dist [--rounds 4]
import { serve } from '../tests/server.mjs';
import { launch } from '../tests/browser.mjs';
import { arg, median } from './args.mjs';

const dirs = { a: arg('a'), b: arg('b') };
const rounds = Number(arg('rounds', 4));
if (!dirs.a || !dirs.b) throw new Error('usage: node bench/gemm-ab.mjs --a DIST_A --b DIST_B [--rounds N]');
// [m, n, k]: layer1's forward (16×784×144), the 14×14 and 7×7 stages', a large square-ish one
const shapes = [[16, 784, 144], [32, 196, 288], [64, 49, 576], [64, 784, 576]];

const browser = await launch();
const runs = { a: [], b: [] };
const once = async (dir) => {
  const srv = await serve({ root: dir, isolated: false });
  try {
    const page = await browser.newPage();
    await page.goto(`${srv.url}style.css`);
    const r = await page.evaluate(async (shapes) => {
      const { EngineClient, MNIST } = await import('./js/engine-client.js');
      const engine = await EngineClient.start({ build: 'simd', ...MNIST });
      await engine.static('benchPeak', 1 << 20, 1);
      const peak = (await engine.static('benchPeak', 1 << 22, 5)).perThreadGflops;
      const gemm = [];
      for (const [m, n, k] of shapes) {
        await engine.static('benchGemm', m, n, k, 20); // (its first call may run in V8's baseline tier)
        gemm.push(await engine.static('benchGemm', m, n, k, 200));
      }
      engine.terminate();
      return { peak, gemm };
    }, shapes);
    await page.close();
    return r;
  } finally {
    await srv.close();
  }
};
try {
  for (let r = 0; r < rounds; r++) {
    for (const k of r % 2 ? ['b', 'a'] : ['a', 'b']) {
      runs[k].push(await once(dirs[k]));
      console.error(`round ${r} ${k}: peak ${runs[k].at(-1).peak.toFixed(1)}, gemm ${runs[k].at(-1).gemm.map((g) => g.toFixed(1)).join(' ')} GFLOP/s`);
    }
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({
  date: new Date().toISOString(), dirs, shapes,
  median: Object.fromEntries(['a', 'b'].map((k) => [k, { peak: median(runs[k].map((x) => x.peak)), gemm: shapes.map((_, i) => median(runs[k].map((x) => x.gemm[i]))) }])),
  paired_ratio_b_over_a: shapes.map((_, i) => median(runs.a.map((x, j) => runs.b[j].gemm[i] / x.gemm[i]))),
  runs,
}, null, 2));

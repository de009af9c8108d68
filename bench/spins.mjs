// How long an idle pool thread should spin between a pass's loops before it sleeps (the
// threaded build's `HELPER_SPINS`, `layers::team`): the bench page in the threaded build with
// each value in turn, alternated over rounds in one invocation (this machine varies ±20 % from
// minute to minute, so only values measured side by side compare). Medians of each value's
// rounds, training and inference images/s at batch 32.
//
//   trunk build --release && node bench/spins.mjs [--values 4096,262144,4194304] [--rounds 3]
import { serve } from '../tests/server.mjs';
import { launch } from '../tests/browser.mjs';
import { arg } from './args.mjs';

const values = arg('values', '4096,262144,4194304').split(',').map(Number);
const rounds = Number(arg('rounds', 3));
const root = new URL('..', import.meta.url).pathname;
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const browser = await launch();
const srv = await serve({ root: `${root}dist`, isolated: true });
const seen = Object.fromEntries(values.map((v) => [v, { train: [], infer: [] }]));
try {
  for (let r = 0; r < rounds; r++) {
    for (const v of values) {
      const page = await browser.newPage();
      await page.goto(`${srv.url}bench.html?build=threads&batches=32&steps=20&spins=${v}`);
      await page.waitForFunction(() => window.benchResult, null, { timeout: 600_000 });
      const res = await page.evaluate(() => window.benchResult);
      await page.close();
      if (res.error || res.helperSpins !== v) throw new Error(`spins ${v}: ${res.error ?? `the engine took ${res.helperSpins}`}`);
      seen[v].train.push(res.results[0].train_images_per_s);
      seen[v].infer.push(res.results[0].infer_images_per_s);
      console.error(`round ${r + 1}, spins ${v}: train ${res.results[0].train_images_per_s.toFixed(0)}, inference ${res.results[0].infer_images_per_s.toFixed(0)} images/s`);
    }
  }
} finally {
  await srv.close();
  await browser.close();
}
const out = values.map((v) => ({ spins: v, train: Math.round(median(seen[v].train)), infer: Math.round(median(seen[v].infer)), trainRuns: seen[v].train.map(Math.round) }));
console.log(JSON.stringify({ date: new Date().toISOString().slice(0, 10), rounds, results: out }, null, 2));

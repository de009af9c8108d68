// Training images/s of each preset of the family in the page's own engine, in headless
// Chromium: the threaded build (cross-origin isolated, one thread per core) and the SIMD-only
// build. For each network: build it (engine.setArchitecture), train `warmup` steps, then
// `steps` steps three times; the median of the three runs' images/s. Prints a JSON document on
// stdout (a results file) and the README's table rows on stderr.
//
//   trunk build --release && node bench/family.mjs [--steps 30] [--warmup 5] [--batch 32]
import { readFileSync } from 'node:fs';
import { serve } from '../tests/server.mjs';
import { launch, open } from '../tests/browser.mjs';

const arg = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? Number(process.argv[i + 1]) : dflt; };
const steps = arg('steps', 30), warmup = arg('warmup', 5), batch = arg('batch', 32);
const root = new URL('..', import.meta.url).pathname;
const load0 = readFileSync('/proc/loadavg', 'utf8').trim();
const browser = await launch();
const out = {};
let presets = [];
for (const [build, isolated] of [['threads', true], ['simd', false]]) {
  const srv = await serve({ root: `${root}dist`, isolated });
  try {
    const { page } = await open(browser, `${srv.url}?engine=${build}`);
    await page.waitForFunction(() => window.playground?.ready, null, { timeout: 120_000 });
    out[build] = await page.evaluate(async ({ steps, warmup, batch }) => {
      const e = window.playground.engine;
      const fam = await e.static('family');
      const res = [];
      for (const p of fam.presets) {
        await e.call('setArchitecture', p.config, 1);
        await e.call('setBatch', batch, 1);
        await e.train(warmup, () => {});
        const runs = [];
        for (let k = 0; k < 3; k++) runs.push((await e.train(steps, () => {})).imagesPerSec);
        runs.sort((a, b) => a - b);
        const a = await e.call('architecture');
        res.push({ id: p.id, label: p.label, depth: a.depth, parameters: a.parameters, images_per_s: runs[1], runs });
      }
      return { threads: (await e.info)?.threads, presets: res };
    }, { steps, warmup, batch });
    presets = out[build].presets;
  } finally {
    await srv.close();
  }
}
await browser.close();
console.log(JSON.stringify({ date: new Date().toISOString(), batch, steps, loadavg_before: load0, loadavg_after: readFileSync('/proc/loadavg', 'utf8').trim(), ...out }, null, 2));
for (const p of presets) {
  const t = out.threads.presets.find((x) => x.id === p.id), s = out.simd.presets.find((x) => x.id === p.id);
  console.error(`| ${p.label} | \`${p.id}\` | ${p.depth} | ${p.parameters.toLocaleString('en')} | ${Math.round(t.images_per_s)} | ${Math.round(s.images_per_s)} |`);
}

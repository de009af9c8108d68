// Lighthouse (npm `lighthouse`, pinned) on the built site's index.html, with Debian's Chromium:
// the performance and accessibility scores, with Lighthouse's mobile defaults (simulated slow
// 4G and a 4× slower CPU) and its desktop preset, and the metrics behind the performance score.
// The site is served as a host without isolation headers serves it (the SIMD-only build), or
// with them (--isolated). The full reports go to test-artifacts/lighthouse-*.json.
//
//   trunk build --release && node bench/lighthouse.mjs [--isolated]
import lighthouse from 'lighthouse';
import desktop from 'lighthouse/core/config/desktop-config.js';
import * as chromeLauncher from 'chrome-launcher';
import { mkdirSync, writeFileSync } from 'node:fs';
import { serve } from '../tests/server.mjs';

const isolated = process.argv.includes('--isolated');
const root = new URL('..', import.meta.url).pathname;
const srv = await serve({ root: `${root}dist`, isolated });
const chrome = await chromeLauncher.launch({
  chromePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // (the machine's network is closed: no background networking, no component updates)
  chromeFlags: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const out = { date: new Date().toISOString().slice(0, 10), isolated, runs: [] };
try {
  mkdirSync(`${root}test-artifacts`, { recursive: true });
  for (const [name, config] of [['mobile', undefined], ['desktop', desktop]]) {
    const r = await lighthouse(`${srv.url}index.html`, { port: chrome.port, output: 'json', logLevel: 'error', onlyCategories: ['performance', 'accessibility'] }, config);
    const lhr = r.lhr;
    writeFileSync(`${root}test-artifacts/lighthouse-${name}.json`, r.report);
    const ms = (id) => Math.round(lhr.audits[id]?.numericValue ?? NaN);
    out.runs.push({
      preset: name,
      performance: Math.round(lhr.categories.performance.score * 100),
      accessibility: Math.round(lhr.categories.accessibility.score * 100),
      fcpMs: ms('first-contentful-paint'), lcpMs: ms('largest-contentful-paint'), tbtMs: ms('total-blocking-time'),
      cls: +(lhr.audits['cumulative-layout-shift']?.numericValue ?? NaN).toFixed(3), siMs: ms('speed-index'),
      failedAccessibility: lhr.categories.accessibility.auditRefs
        .filter((a) => a.weight > 0 && lhr.audits[a.id].score !== null && lhr.audits[a.id].score < 1).map((a) => a.id),
    });
    if (lhr.runtimeError) out.runs.at(-1).error = lhr.runtimeError.message;
  }
} finally {
  await chrome.kill();
  await srv.close();
}
console.log(JSON.stringify(out, null, 2));

// The engine's peak memory in the browser: for each member and batch, a fresh engine worker
// (the wasm memory only grows, so its size after the work is the peak) trains 5 steps at that
// batch, evaluates 512 held-out digits and inspects a layer; the script reports the wasm memory
// then, or the engine's reason for refusing the batch. SIMD-only and threaded builds.
//
//   trunk build --release && node bench/memory.mjs [--members resnet8,resnet56] [--batches 32,256]
import { serve } from '../tests/server.mjs';
import { launch, open } from '../tests/browser.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return (i > 0 ? process.argv[i + 1] : dflt).split(',');
};
const members = arg('members', 'resnet8,resnet56');
const batches = arg('batches', '32,256').map(Number);
const root = new URL('..', import.meta.url).pathname;
const browser = await launch();
const rows = [];
for (const build of ['simd', 'threads']) {
  const srv = await serve({ root: `${root}dist`, isolated: build === 'threads' });
  try {
    const { page } = await open(browser, `${srv.url}style.css`, {
      setup: (context) => context.route('**/favicon.ico', (route) => route.fulfill({ status: 204 })),
    });
    for (const arch of members) {
      for (const batch of batches) {
        const r = await page.evaluate(async ([build, arch, batch]) => {
          const { EngineClient, MNIST } = await import('/js/engine-client.js');
          const e = await EngineClient.start({ build, ...MNIST, arch });
          try {
            const start = await e.memoryBytes();
            try {
              await e.setBatch(batch, 1);
            } catch (err) {
              return { start, refused: String(err.message || err) };
            }
            await e.train(5);
            await e.call('evaluate', 'test', 512);
            await e.inspect({ heldOut: 0, layer: 'conv1', target: null });
            return { start, peak: await e.memoryBytes() };
          } finally {
            e.terminate();
          }
        }, [build, arch, batch]);
        const mib = (b) => +(b / 2 ** 20).toFixed(1);
        rows.push({ build, arch, batch, startMiB: mib(r.start), ...(r.refused ? { refused: r.refused } : { peakMiB: mib(r.peak) }) });
        console.error(JSON.stringify(rows.at(-1)));
      }
    }
  } finally {
    await srv.close();
  }
}
await browser.close();
console.log(JSON.stringify({ date: new Date().toISOString().slice(0, 10), rows }, null, 2));

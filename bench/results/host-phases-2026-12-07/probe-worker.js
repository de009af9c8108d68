// A module worker of its own (copied into dist/ to run): the SIMD-only engine without the
// page's worker, client or warm-up unless asked ('data': the held-out digits loaded, 'warm':
// the worker's warm-up first); medians of 15 inference passes and 8 training steps on a
// fixed synthetic batch of 32.
import init, * as mod from './pkg/simd/resnet_wasm.js';
import { warmUp } from './js/warmup.js';
import { fetchData } from './js/fetching.js';
self.onmessage = async (ev) => {
  const variant = ev.data;
  await init();
  const B = 32;
  const images = new Float32Array(B * 784).map((_, i) => Math.sin(i * 0.37) * 0.5 + 0.5);
  const labels = Uint32Array.from({ length: B }, (_, i) => i % 10);
  const med = (f, n) => { const t = []; for (let i = 0; i < n; i++) { const s = performance.now(); f(); t.push(performance.now() - s); } t.sort((a, b) => a - b); return t[n >> 1].toFixed(1); };
  const rows = [];
  const e = new mod.Engine(undefined, 1, undefined);
  if (variant.includes('data')) e.setDataset(await fetchData('./data/mnist-heldout.bin.gz', 'd'));
  if (variant.includes('warm')) rows.push(JSON.stringify(await warmUp(mod, e.config())));
  for (let k = 0; k < 3; k++) {
    for (let i = 0; i < 3; i++) e.forward(images, B, 'eval');
    rows.push(`${variant}: infer ${med(() => e.forward(images, B, 'eval'), 15)} | train ${med(() => e.trainBatch(images, labels), 8)} | infer ${med(() => e.forward(images, B, 'eval'), 15)}`);
  }
  self.postMessage(rows);
};

// The in-browser benchmark (bench.html): the engine in its worker, as the playground runs it.
// Times whole training steps (forward + backward + SGD update, including the worker round
// trip) and eval-mode inference on real digits, then each conv layer on its own.
import { EngineClient } from './engine-client.js';

const params = new URLSearchParams(location.search);
const build = params.get('build') || 'auto';
const batches = (params.get('batches') || '32,64').split(',').map(Number);
const steps = Number(params.get('steps') || 20);
const warmup = Number(params.get('warmup') || 3);
const poolSize = Number(params.get('threads')) || undefined; // the threaded build's pool (default: one per core)

const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

async function timeCalls(n, f) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f();
    times.push(performance.now() - t);
  }
  return times;
}

async function run() {
  const engine = await EngineClient.start({
    build, poolSize, dataUrl: 'data/mnist-10k.bin.gz', optimizer: { kind: 'sgd', momentum: 0.9, lr: 0.05, weight_decay: 0 },
  });
  const results = [];
  for (const b of batches) {
    await engine.call('resetModel', 1);
    await engine.call('setBatch', b, 1);
    await timeCalls(warmup, () => engine.call('train', 1));
    const train = await timeCalls(steps, () => engine.call('train', 1));
    const idx = Uint32Array.from({ length: b }, (_, i) => i);
    await timeCalls(warmup, () => engine.call('forwardDigits', idx.slice(), 'eval'));
    const infer = await timeCalls(steps, () => engine.call('forwardDigits', idx.slice(), 'eval'));
    const convs = await engine.call('profileConvs', b, Math.max(3, Math.floor(steps / 2)));
    results.push({
      batch: b,
      train_images_per_s: b / median(train) * 1000,
      infer_images_per_s: b / median(infer) * 1000,
      train_step_ms: median(train),
      conv_layers: convs,
    });
  }
  engine.terminate();
  return { engine: `wasm-${engine.info.build}`, threads: engine.info.threads, warmup: engine.info.warmup, steps, userAgent: navigator.userAgent, results };
}

run().then((r) => {
  window.benchResult = r;
  document.getElementById('state').textContent = 'done';
  document.getElementById('out').textContent = JSON.stringify(r, null, 2);
}, (e) => {
  window.benchResult = { error: e.message };
  document.getElementById('state').textContent = `failed: ${e.message}`;
});

// The in-browser benchmark (bench.html): the engine in its worker, as the playground runs it.
// Times whole training steps (forward + backward + SGD update, including the worker round
// trip), eval-mode inference on real digits (the page's forward, every tensor kept, and the
// logits alone, `predictDigits`), then each conv layer on its own; and this
// machine's wasm peak in the same run (a register-resident multiply-add loop on every pool
// thread: `benchPeak`), so each training step is also a fraction of what the machine can do
// (its FLOP from the module graph: 56 MFLOP an image for ResNet-8); and where a step's time goes,
// module by module, and where inference's goes (`profileStep`).
//   bench.html?build=threads|simd&batches=32,64&steps=20&arch=resnet20&threads=2&spins=262144
import { EngineClient, MNIST } from './engine-client.js';

const params = new URLSearchParams(location.search);
const build = params.get('build') || 'auto';
const batches = (params.get('batches') || '32,64').split(',').map(Number);
const steps = Number(params.get('steps') || 20);
const warmup = Number(params.get('warmup') || 3);
const poolSize = Number(params.get('threads')) || undefined; // the threaded build's pool (default: one per core)
const arch = params.get('arch') || undefined; // a member of the family (default: ResNet-8)
const spins = Number(params.get('spins')) || undefined; // the pool's helpers' patience (bench/spins.mjs)

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
    build, poolSize, arch, ...MNIST, optimizer: { kind: 'sgd', momentum: 0.9, lr: 0.05, weight_decay: 0 },
  });
  const helperSpins = spins ? await engine.static('setHelperSpins', spins) : undefined;
  // A first call can run whole in V8's baseline tier (wasm has no on-stack replacement): 24
  // instead of 41 GFLOP/s in one build. So one untimed call first, then the measured one.
  await engine.static('benchPeak', 1 << 20, 1);
  const peak = await engine.static('benchPeak', 1 << 22, 5);
  const flops = await engine.trainFlopsPerImage();
  const results = [];
  for (const b of batches) {
    await engine.resetModel(1);
    await engine.setBatch(b, 1);
    await timeCalls(warmup, () => engine.trainSteps(1));
    const train = await timeCalls(steps, () => engine.trainSteps(1));
    const idx = Uint32Array.from({ length: b }, (_, i) => i);
    await timeCalls(warmup, () => engine.forwardDigits(idx.slice(), 'eval'));
    const infer = await timeCalls(steps, () => engine.forwardDigits(idx.slice(), 'eval'));
    // the logits alone (`predict`: BatchNorm folded into the convs, nothing kept to inspect)
    await timeCalls(warmup, () => engine.predictDigits(idx.slice()));
    const predict = await timeCalls(steps, () => engine.predictDigits(idx.slice()));
    const convs = await engine.profileConvs(b, Math.max(3, Math.floor(steps / 2)));
    const profile = await engine.profileStep(b, Math.max(3, Math.floor(steps / 2)), 'step');
    const inferProfile = await engine.profileStep(b, Math.max(3, Math.floor(steps / 2)), 'inference');
    results.push({
      batch: b,
      train_images_per_s: b / median(train) * 1000,
      infer_images_per_s: b / median(infer) * 1000,
      predict_images_per_s: b / median(predict) * 1000,
      train_ms: train.map((t) => Math.round(t * 10) / 10), // every step, in order (a median hides a slow stretch)
      infer_ms: infer.map((t) => Math.round(t * 10) / 10),
      predict_ms: predict.map((t) => Math.round(t * 10) / 10),
      train_step_ms: median(train),
      train_gflops: flops * b / median(train) / 1e6,
      train_fraction_of_peak: flops * b / median(train) / 1e6 / peak.gflops,
      conv_layers: convs,
      step_profile: profile,
      infer_profile: inferProfile,
    });
  }
  const peakAfter = await engine.static('benchPeak', 1 << 22, 5);
  engine.terminate();
  return {
    engine: `wasm-${engine.info.build}`, arch: arch ?? 'resnet8', threads: engine.info.threads, helperSpins, warmup: engine.info.warmup, steps,
    train_mflop_per_image: flops / 1e6, peak, peak_after: peakAfter, userAgent: navigator.userAgent, results,
  };
}

run().then((r) => {
  window.benchResult = r;
  document.getElementById('state').textContent = 'done';
  document.getElementById('out').textContent = JSON.stringify(r, null, 2);
}, (e) => {
  window.benchResult = { error: e.message };
  document.getElementById('state').textContent = `failed: ${e.message}`;
});

// The worker's warm-up of a freshly loaded wasm module, called once before the first real call.
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// V8 runs new wasm code from its baseline compiler first and recompiles the functions that
// turn out hot with its optimising compiler, in the background. With both cores busy training,
// that recompilation can wait through seconds of steps at a fraction of the speed (seen in the
// threaded build: medians of 20 steps 20 % low). So before the first real call, a scratch
// engine trains small batches, pausing between rounds so the compiler gets a core, until a
// round's time stops falling (measured: 6–12 rounds, about half a second) or `maxMs` passes.
// The scratch engine has the loaded model's shape (`config`), so the same kernels warm up.
export async function warmUp(wasm, config, { maxMs = 1500, n = 8, minRounds = 8 } = {}) {
  const t0 = performance.now();
  const scratch = new wasm.Engine(config, 1, undefined);
  const { in_channels: c, image_size: s, num_classes: k } = config;
  const images = Float32Array.from({ length: n * c * s * s }, (_, i) => ((i * 7919) % 255) / 255 - 0.5);
  const labels = Uint32Array.from({ length: n }, (_, i) => i % k);
  const rounds = [];
  const settled = () => {
    const best = Math.min(...rounds);
    return rounds.length >= minRounds && rounds.slice(-4).every((t) => t <= 1.15 * best);
  };
  try {
    while (!settled() && performance.now() - t0 < maxMs) {
      const t = performance.now();
      scratch.trainBatch(images, labels);
      scratch.forward(images, n, 'eval');
      rounds.push(Math.round((performance.now() - t) * 10) / 10);
      await sleep(20);
    }
  } finally {
    scratch.free();
  }
  return { ms: Math.round(performance.now() - t0), rounds };
}

// The junction's backward across fresh trainers: `profileStep` builds a new trainer (a new tape,
// so new places for its tensors) each call; 8 calls of 10 profiled steps each, SIMD-only, in
// Node. Prints each call's step time and layer1.0's BN, add and ReLU laps (forward/backward ms).
//   node --experimental-wasm-relaxed-simd profile-adds.mjs DIST
import fs from 'fs';
import zlib from 'zlib';
import { simdEngine } from '../../args.mjs';
const dist = process.argv[2];
const e = await simdEngine(dist, 'a');
e.setDataset(zlib.gunzipSync(fs.readFileSync(new URL('../../../dist/data/mnist-heldout.bin.gz', import.meta.url))));
const n = 32;
const images = Float32Array.from({ length: n * 784 }, (_, i) => ((i * 7919) % 255) / 255 - 0.5);
const labels = Uint32Array.from({ length: n }, (_, i) => i % 10);
for (let i = 0; i < 10; i++) e.trainBatch(images, labels);
for (let r = 0; r < 8; r++) {
  const p = e.profileStep(n, 10, 'step');
  const show = p.modules.filter((m) => ['add', 'relu', 'bn'].includes(m.kind) && m.module.startsWith('layer1'));
  console.log(JSON.stringify({ dist, step_ms: +p.step_ms.toFixed(1), ...Object.fromEntries(show.map((m) => [m.module, [+m.forward_ms.toFixed(2), +m.backward_ms.toFixed(2)]])) }));
}

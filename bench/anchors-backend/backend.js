// The resnet-playground engine as a backend of the anchors benchmark harness
// (../shared/bench-anchors, contract in its page/backends/README.md). The engine runs in its
// own worker, exactly as on the playground page: `js/` links to www/js, `pkg/` to the built
// wasm (target/wasm-pkg, from scripts/build-wasm.sh). Same model and optimiser as the anchors:
// ResNet-8, SGD momentum 0.9, lr 0.05, no weight decay.
import { EngineClient } from './js/engine-client.js';

let engine;
let batch;

export async function init(ctx) {
  batch = ctx.batchSize;
  engine = await EngineClient.start({
    build: ctx.variant === 'threads' ? 'threads' : 'simd',
    optimizer: { kind: 'sgd', momentum: 0.9, lr: 0.05, weight_decay: 0 },
  });
  return { ...engine.info, crossOriginIsolated: self.crossOriginIsolated, hardwareConcurrency: navigator.hardwareConcurrency };
}

// Resolves after the worker has done forward + backward + update and replied with the loss.
export async function trainStep(images, labels) {
  return engine.call('trainBatch', images.slice(), Uint32Array.from(labels));
}

// Inference as an application runs it: the logits alone (`predict`: BatchNorm folded into the
// convs, no tensors kept for the page to show).
export async function forward(images) {
  return engine.predict(images.slice(), batch);
}

export async function dispose() {
  engine?.terminate();
}

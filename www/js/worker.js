// The engine's home: a dedicated module worker that loads the threaded or the SIMD-only wasm
// build, owns the one Engine, and answers the client (engine-client.js). The UI thread never
// runs engine code.
//
// Messages in:  {id, op: 'init', args: {modelUrl, dataUrl, trainUrl?, arch?, build: 'auto'|'simd'|'threads', poolSize?}}
//                 (dataUrl: the digits, or the held-out digits alone; trainUrl: then the
//                 training digits, fetched once init has answered; what needs them waits)
//               {id, op: 'call', method, args}     a method of Engine (see crate/wasm/src/lib.rs)
//               {id, op: 'train', args: {steps, progressMs, evalEvery, evalLimit}}
//                 (every evalEvery steps and at the end, a held-out evaluation of evalLimit
//                 digits rides along in the progress report as `heldout: {loss, accuracy}`,
//                 and of the student's held-out images as `mine`; either may be null)
//               {id, op: 'compare', args: {steps, progressMs, evalEvery, evalLimit}}
//                 (steps of the comparison compareStart began: each member one step on the
//                 same batch; progress as compareStep reports it, `heldout` per member)
//               {op: 'pause' | 'resume' | 'cancel'}   (between training steps)
//               {id, op: 'simulate-trap' | 'simulate-hang'}   (tests: a trap; no answer ever)
// Messages out: {id, result} | {id, error, fatal} | {id, progress: {...}} | {id, alive} (paused)
// Typed arrays in results are transferred, not copied.

import { fetchBytes, fetchData } from './fetching.js';
import { warmUp } from './warmup.js';

let wasm = null;      // the loaded glue module
let engine = null;    // the Engine
let info = null;      // {build, threads, simd}
const control = { running: false, paused: false, cancelled: false, wake: null };

function isolated() {
  return self.crossOriginIsolated === true && typeof SharedArrayBuffer === 'function';
}

// A module using f32x4.relaxed_madd: browsers without relaxed SIMD get the compat build.
const RELAXED_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 19, 1, 17, 0,
  65, 0, 253, 15, 65, 0, 253, 15, 65, 0, 253, 15, 253, 133, 2, 11]);
function relaxedSimd() {
  try { return WebAssembly.validate(RELAXED_PROBE); } catch { return false; }
}

// The training digits, when init was given them apart (trainUrl): fetched after the first
// view's files, so they do not share the link with them; whatever needs them waits for them
// (`needsTraining`), and a failed fetch is tried again by the next call that needs them.
let training = { url: null, loaded: true, pending: null };
function trainingDigits() {
  if (training.loaded) return null;
  training.pending ??= fetchData(training.url, 'training digits').then((bytes) => {
    engine.addTrainingDigits(bytes);
    training.loaded = true;
  }).finally(() => { training.pending = null; });
  return training.pending;
}
// Waits for the training digits when they are still coming, with a word to the client every
// second meanwhile (a slow link is not a hung engine: the client restarts a silent one).
async function withTrainingDigits(id) {
  const pending = trainingDigits();
  if (!pending) return;
  const beat = setInterval(() => self.postMessage({ id, alive: true }), 1000);
  try {
    await pending;
  } finally {
    clearInterval(beat);
  }
}
const needsTraining = (method, args) => ['train', 'compareStart', 'profileConvs', 'profileStep', 'forwardDigits', 'predictDigits', 'labels'].includes(method)
  || (method === 'evaluate' && args?.[0] === 'train');

async function init({ modelUrl, dataUrl, trainUrl, arch, build = 'auto', optimizer, poolSize } = {}) {
  const relaxed = relaxedSimd();
  const threads = build === 'threads' || (build === 'auto' && isolated() && relaxed);
  if (threads && !isolated()) throw new Error('the threaded build needs a cross-origin isolated page (COOP/COEP headers)');
  const variant = threads ? 'threads' : (build === 'compat' || !relaxed ? 'compat' : 'simd');
  const base = new URL('../pkg/', import.meta.url);
  wasm = await import(new URL(`${variant}/resnet_wasm.js`, base).href);
  await wasm.default();
  if (threads) {
    // the pool's workers are started from this origin; if the page's policy forbids them the
    // pool never answers, so give up after a while (the page then falls back to one thread)
    const cores = Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 8));
    const pool = wasm.initThreadPool(Number.isInteger(poolSize) && poolSize >= 1 ? Math.min(poolSize, cores) : cores);
    const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('the thread pool did not start within 30 s')), 30_000));
    await Promise.race([pool, timeout]);
  }
  info = { ...wasm.buildInfo(), variant };
  const [model, data] = await Promise.all([
    modelUrl ? fetchBytes(modelUrl, 'pretrained model') : null,
    dataUrl ? fetchData(dataUrl, 'MNIST digits') : null,
  ]);
  // the pretrained file, or a fresh model of the member `arch` names (e.g. 'plain20')
  const loaded = model ? wasm.Engine.fromSafetensors(model, optimizer) : new wasm.Engine(arch ? wasm.archFromId(arch).config : undefined, 1, optimizer);
  if (data) loaded.setDataset(data);
  // (`engine` is set only after the warm-up: calls that arrive meanwhile are refused as
  // "not initialised" rather than run between its rounds.)
  try {
    info.warmup = await warmUp(wasm, loaded.config());
  } catch (e) {
    info.warmup = { error: String(e?.message ?? e) }; // only speed is at stake
  }
  engine = loaded;
  training = { url: trainUrl ?? null, loaded: !trainUrl, pending: null };
  if (trainUrl) setTimeout(() => trainingDigits()?.catch(() => {}), 0); // (said when needed)
  return { ...info, step: engine.step };
}

const yieldToEvents = () => new Promise((resolve) => {
  const ch = new MessageChannel();
  ch.port1.onmessage = () => resolve();
  ch.port2.postMessage(null);
});

async function train(id, { steps = 1, progressMs = 100, evalEvery = 0, evalLimit = 500 } = {}) {
  const batch = engine.batchSize;
  let images = 0, activeMs = 0;
  return run(id, { steps, progressMs, evalEvery }, {
    begin: () => engine.beginRun(), // the engine keeps the run's checkpoints and falls back on them
    idle: () => ({ step: engine.step }), // (stopped before its first step)
    step: () => {
      const t0 = performance.now();
      // (a diverging step throws with kind 'diverged': the engine has restored the run's
      // oldest checkpoint, and its message says which step)
      const r = engine.train(1);
      activeMs += performance.now() - t0;
      images += batch;
      return { ...r, imagesPerSec: images / (activeMs / 1000) };
    },
    // MNIST's held-out digits (when they are classes of this task) and the held-out part of
    // the student's own images (when there is one); not counted in images/s
    evaluate: () => {
      const { mnist, mine } = engine.evaluateHeldOut(evalLimit);
      return { heldout: mnist, mine };
    },
  });
}

// Compare mode: every member takes one step on the same batch, in turn (compareStep); the
// held-out evaluation of each rides along as `heldout: [{step, loss, accuracy} | null]`.
async function compare(id, { steps = 1, progressMs = 100, evalEvery = 0, evalLimit = 500 } = {}) {
  try {
    return await run(id, { steps, progressMs, evalEvery }, {
      begin: () => {},
      step: () => engine.compareStep(),
      evaluate: () => ({ heldout: engine.compareEvaluate(evalLimit) }),
    });
  } finally {
    engine.compareKeep(); // the run's last step can be shown and continued from
  }
}

// A run of `steps` steps with pause, resume and cancel between them; progress reports at
// most every `progressMs` (and with every evaluation, every `evalEvery` steps and at the end).
async function run(id, { steps, progressMs, evalEvery }, { begin, step, evaluate, idle = () => ({}) }) {
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`steps must be a positive integer, got ${steps}`);
  if (control.running) throw new Error('a training run is already going: stop it first');
  control.running = true;
  control.paused = false;
  control.cancelled = false;
  try {
    await withTrainingDigits(id); // (Pause and Stop reach a run that waits for its digits)
    if (control.cancelled) return { ...idle(), cancelled: true, done: 0, steps, elapsedMs: 0 };
    const start = performance.now();
    let last = null, lastPost = 0, done = 0;
    begin();
    while (done < steps && !control.cancelled) {
      if (control.paused) {
        self.postMessage({ id, progress: { ...last, paused: true } });
        // (a word now and then, so the client's watchdog knows a paused run is not a hung one)
        await new Promise((resolve) => {
          const beat = setInterval(() => self.postMessage({ id, alive: true }), 1000);
          control.wake = () => { clearInterval(beat); resolve(); };
        });
        continue;
      }
      last = step();
      done += 1;
      last = { ...last, done, steps };
      const evaluating = evalEvery > 0 && (done % evalEvery === 0 || done === steps || control.cancelled);
      if (evaluating) Object.assign(last, evaluate());
      const now = performance.now();
      if (evaluating || now - lastPost >= progressMs || done === steps) {
        self.postMessage({ id, progress: last });
        lastPost = now;
      }
      await yieldToEvents(); // lets pause/cancel and other calls in between steps
    }
    return { ...last, cancelled: control.cancelled, elapsedMs: performance.now() - start };
  } finally {
    control.running = false;
  }
}

// What the page may ask of the engine, by name: one explicit table each (the named methods of
// EngineClient post these names; nothing is looked up by reflection). The wasm side is
// crate/wasm/src/lib.rs, where each method says what it takes and returns.
const CALLS = {
  inspect: (e, request) => e.inspect(request),
  formula: (e, query, topK) => e.formula(query, topK),
  formulaPicture: (e, query, channel) => e.formulaPicture(query, channel ?? undefined),
  cellNote: (e, target, index) => e.cellNote(target, Uint32Array.from(index)),
  numericalCheck: (e, query, eps) => e.numericalCheck(query, eps),
  modules: (e) => e.modules(),
  convSites: (e) => e.convSites(),
  architecture: (e) => e.architecture(),
  config: (e) => e.config(),
  setArchitecture: (e, config, seed) => e.setArchitecture(config, seed),
  loadModel: (e, bytes, shortcut) => e.loadModel(bytes, shortcut),
  loadWeights: (e, bytes) => e.loadWeights(bytes),
  restoreCheckpoint: (e, bytes, step) => e.restoreCheckpoint(bytes, step),
  saveWeights: (e) => e.saveWeights(),
  saveOptimizer: (e) => e.saveOptimizer(),
  loadOptimizer: (e, bytes) => e.loadOptimizer(bytes),
  resetModel: (e, seed) => e.resetModel(seed),
  setOptimizer: (e, opt) => e.setOptimizer(opt),
  setBatch: (e, batch, seed) => e.setBatch(batch, seed),
  step: (e) => e.step,
  batchSize: (e) => e.batchSize,
  trainFlopsPerImage: (e) => e.trainFlopsPerImage,
  forward: (e, images, n, mode) => e.forward(images, n, mode),
  predict: (e, images, n) => e.predict(images, n),
  forwardDigits: (e, indices, mode) => e.forwardDigits(indices, mode),
  predictDigits: (e, indices) => e.predictDigits(indices),
  forwardPixels: (e, pixels, n, mode) => e.forwardPixels(pixels, n, mode),
  labels: (e, indices) => e.labels(indices),
  backward: (e, labels) => e.backward(labels),
  trainBatch: (e, images, labels) => e.trainBatch(images, labels),
  train: (e, steps) => e.train(steps), // steps of the current run, without the worker's loop (the bench page)
  evaluate: (e, split, limit) => e.evaluate(split, limit),
  tensorNames: (e) => e.tensorNames(),
  tensor: (e, name) => e.tensor(name),
  tensorShape: (e, name) => e.tensorShape(name),
  parameter: (e, name) => e.parameter(name),
  exportTensors: (e, names) => e.exportTensors(names),
  tensorNpy: (e, name) => e.tensorNpy(name),
  profileConvs: (e, n, reps) => e.profileConvs(n, reps),
  profileStep: (e, n, reps, pass) => e.profileStep(n, reps, pass),
  compareStart: (e, ids, seed) => e.compareStart(ids, seed),
  compareState: (e) => e.compareState(),
  compareShow: (e, i, step) => e.compareShow(i, step),
  compareShowOwn: (e) => e.compareShowOwn(),
  compareFork: (e, step) => e.compareFork(step),
  setImageSet: (e, pixels, labels, classes, own) => e.setImageSet(pixels, labels, classes, own),
  imageSetFile: (e) => e.imageSetFile(),
  setTrainingSource: (e, share, augment) => e.setTrainingSource(share, augment),
  newHead: (e, classes, seed) => e.newHead(classes, seed),
  evaluateHeldOut: (e, limit) => e.evaluateHeldOut(limit),
};
const STATICS = {
  family: () => wasm.family(),
  settings: () => wasm.settings(),
  archFromId: (id) => wasm.archFromId(id),
  archOf: (depth, width, shortcut, bn) => wasm.archOf(depth, width, shortcut, bn),
  fileArch: (bytes) => wasm.fileArch(bytes),
  benchGemm: (m, n, k, reps) => wasm.benchGemm(m, n, k, reps),
  benchPeak: (iters, rounds) => wasm.benchPeak(iters, rounds),
  setHelperSpins: (n) => wasm.setHelperSpins(n),
  compareLessons: () => wasm.compareLessons(),
  memoryBytes: () => wasm.memoryBytes(),
  readImageSet: (bytes, classes) => wasm.readImageSet(bytes, classes),
  ownLimits: () => wasm.ownLimits(),
  augmentPreview: (pixels, count, seed) => wasm.augmentPreview(pixels, count, seed),
};
const pick = (table, name) => {
  if (typeof name !== 'string' || !Object.hasOwn(table, name)) throw new Error(`no engine method '${name}'`);
  return table[name];
};

function transferables(value) {
  if (ArrayBuffer.isView(value)) return [value.buffer];
  return [];
}

self.onmessage = async (ev) => {
  const { id, op, method, args } = ev.data;
  if (op === 'pause') { control.paused = true; return; }
  if (op === 'resume') { control.paused = false; control.wake?.(); control.wake = null; return; }
  if (op === 'cancel') { control.cancelled = true; control.paused = false; control.wake?.(); control.wake = null; return; }
  try {
    let result;
    // (a run waits inside `run`, where Pause and Stop already reach it)
    if (op === 'call' && engine && needsTraining(method, args)) await withTrainingDigits(id);
    if (op === 'init') result = await init(args);
    else if (!engine) throw new Error('the engine is not initialised');
    else if (op === 'train') result = await train(id, args);
    else if (op === 'compare') result = await compare(id, args);
    // the engine's static functions: the family, an id's member, what a weights file holds
    else if (op === 'static') result = pick(STATICS, method)(...(args || []));
    else if (op === 'call') result = pick(CALLS, method)(engine, ...(args || []));
    // what a wasm trap looks like to the client, so the tests can check the recovery path
    else if (op === 'simulate-trap') throw new WebAssembly.RuntimeError('unreachable (a simulated trap)');
    // ...and what a trap on a pool thread looks like: no answer at all
    else if (op === 'simulate-hang') for (;;) { /* spin */ }
    else throw new Error(`unknown operation '${op}'`);
    self.postMessage({ id, result }, transferables(result));
  } catch (e) {
    // A wasm trap (a Rust panic) leaves the instance unusable: tell the client to restart.
    const fatal = e instanceof WebAssembly.RuntimeError;
    self.postMessage({ id, error: String(e?.message ?? e), fatal, kind: typeof e?.kind === 'string' ? e.kind : undefined });
  }
};

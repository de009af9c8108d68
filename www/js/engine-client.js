// The only module that talks to the engine worker: a promise API over postMessage.
//
//   const engine = await EngineClient.start({ modelUrl, ...MNIST, arch?, build?, optimizer?, poolSize?, hangMs? });
//     (dataUrl: a digits file, or the held-out digits alone with trainUrl the training ones)
//   engine.info                         -> {build: 'threads'|'simd', threads, simd}
//   await engine.inspect({heldOut: 7, layer: 'layer2.0.conv1'})   -> a layer's tensors, one call
//   await engine.formula(query, 12)                 -> the terms behind one cell
//   await engine.tensor('act.conv1')                -> Float32Array (transferred)
//   const run = engine.train(100, p => ...)         -> promise of the last report
// Each named method below is one entry of the worker's table (worker.js CALLS), which calls
// the wasm Engine method of the same name (crate/wasm/src/lib.rs documents what it returns).
//   engine.pause(); engine.resume(); engine.cancel();
//
// Errors from the engine reject with an Error carrying its readable message (and `kind`, when
// the engine gives one: 'diverged' for a run it stopped and set back). If the wasm
// module traps (a bug), or the worker owes an answer for `hangMs` (60 s) without a word, the
// worker is restarted and `onrestart` is told once.

// The site's digits (tools/convert-mnist.mjs writes them): the held-out ones, which the first
// view needs (0.33 MB), and the training ones, which the worker fetches after them (1.3 MB).
export const MNIST = Object.freeze({
  dataUrl: new URL('../data/mnist-heldout.bin.gz', import.meta.url).href,
  trainUrl: new URL('../data/mnist-train.bin.gz', import.meta.url).href,
});

export class EngineClient {
  constructor(options) {
    this.options = options;
    this.nextId = 1;
    this.pending = new Map();
    this.info = null;
    this.onrestart = null;
    this.worker = null;
    this.ready = null;     // settles when the current worker has initialised
    this.restarts = 0;
    // A worker that has owed an answer for `hangMs` without a word (not even a progress
    // report) is taken for hung and restarted like a trapped one. (In the threaded build a
    // trap on a pool thread leaves the engine worker waiting for the pool forever.)
    this.hangMs = options.hangMs ?? 60_000;
    this.lastHeard = 0;
    this.watchdog = setInterval(() => {
      if (this.pending.size > 0 && performance.now() - this.lastHeard > this.hangMs) this.#hung();
    }, 1000);
  }

  static async start(options = {}) {
    const client = new EngineClient(options);
    client.ready = client.#spawn();
    try {
      await client.ready;
    } catch (e) {
      clearInterval(client.watchdog);
      client.worker?.terminate(); // with its thread pool, if any
      throw e;
    }
    return client;
  }

  async #spawn() {
    this.worker?.terminate();
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'resnet-engine' });
    this.worker.onmessage = (ev) => this.#receive(ev.data);
    this.worker.onerror = (ev) => {
      const err = new Error(`the engine worker failed: ${ev.message || 'could not start'}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    const { build, optimizer, poolSize, arch } = this.options;
    // URLs are the page's; the worker lives elsewhere (js/), so resolve them here.
    const abs = (u) => (u ? new URL(u, globalThis.location.href).href : u);
    const [modelUrl, dataUrl, trainUrl] = [this.options.modelUrl, this.options.dataUrl, this.options.trainUrl].map(abs);
    this.info = await this.#post('init', { args: { modelUrl, dataUrl, trainUrl, arch, build, optimizer, poolSize } });
    return this.info;
  }

  /** Sends once the worker is ready (calls made during a restart wait for it). */
  async #send(op, fields = {}, onProgress = null, transfer = []) {
    await this.ready;
    return this.#post(op, fields, onProgress, transfer);
  }

  #post(op, fields = {}, onProgress = null, transfer = []) {
    const id = this.nextId++;
    if (this.pending.size === 0) this.lastHeard = performance.now();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      try {
        this.worker.postMessage({ id, op, ...fields }, transfer);
      } catch (e) {
        this.pending.delete(id);
        reject(e);
      }
    });
  }

  #receive(msg) {
    this.lastHeard = performance.now();
    if (msg.alive) return; // a heartbeat: a paused run, or a call waiting for the training digits
    const p = this.pending.get(msg.id);
    if (!p) return;
    if (msg.progress) { p.onProgress?.(msg.progress); return; }
    this.pending.delete(msg.id);
    if (msg.error !== undefined) {
      const err = new Error(msg.error);
      err.fatal = !!msg.fatal;
      if (msg.kind) err.kind = msg.kind; // the engine's own word for the failure ('diverged', …)
      p.reject(err);
      if (msg.fatal) this.#restart();
    } else p.resolve(msg.result);
  }

  #hung() {
    const secs = Math.round(this.hangMs / 1000);
    for (const p of this.pending.values()) p.reject(Object.assign(new Error(`the engine stopped answering for ${secs} s and was restarted`), { fatal: true }));
    this.pending.clear();
    this.#restart(); // (a new worker replaces, and terminates, the hung one)
  }

  #restart() {
    for (const p of this.pending.values()) p.reject(new Error('the engine restarted'));
    this.pending.clear();
    this.restarts += 1;
    if (this.restarts > 3) {
      this.worker.terminate();
      this.ready = Promise.reject(new Error('the engine stopped unexpectedly several times; reload the page'));
      this.ready.catch(() => {});
      return;
    }
    this.ready = this.#spawn();
    this.ready.then(() => this.onrestart?.(), () => {});
  }

  // ---- the engine's methods, by name ---------------------------------------------------------
  /** A layer's view for one input, in one call: {probs, label, pred, target, input, act, delta, inputDelta?, weights?}. */
  inspect(request) { return this.call('inspect', request); }
  /** The terms of the formula behind one cell (a resnet_engine::formula::Query). */
  formula(query, topK) { return this.call('formula', query, topK); }
  /** The notes' picture of a conv formula on one channel (null: the largest term's):
   *  grid, zeros, window, outlined cells, kernel entries (resnet_engine::formula::Picture). */
  formulaPicture(query, channel = null) { return this.call('formulaPicture', query, channel); }
  /** A cell no formula explains (`act.<m>` or `delta.<m>`, index of the tensor's rank): its value and note kind. */
  cellNote(target, index) { return this.call('cellNote', target, index); }
  /** The same cell's derivative by its definition, (C(+ε) − C(−ε))/2ε in float64, beside backprop. */
  numericalCheck(query, eps) { return this.call('numericalCheck', query, eps); }
  /** The module graph: {modules, blocks, focus}. */
  modules() { return this.call('modules'); }
  /** Every conv's place: geometry, input, the ReLU pre-activation behind it, its BN. */
  convSites() { return this.call('convSites'); }
  /** The network: {config, id, label, depth, parameters}. */
  architecture() { return this.call('architecture'); }
  /** A fresh network of the family (a config or an id), random weights from `seed`. */
  setArchitecture(config, seed) { return this.call('setArchitecture', config, seed); }
  /** The network in a weights file, whichever member (`shortcut` settles option A or plain). */
  loadModel(bytes, shortcut) { return this.call('loadModel', bytes, shortcut); }
  /** Weights of `step` back, with fresh optimizer moments. */
  restoreCheckpoint(bytes, step) { return this.call('restoreCheckpoint', bytes, step); }
  saveWeights() { return this.call('saveWeights'); }
  saveOptimizer() { return this.call('saveOptimizer'); }
  loadOptimizer(bytes) { return this.call('loadOptimizer', bytes); }
  /** Random weights from `seed`, a fresh optimizer: train from scratch. */
  resetModel(seed) { return this.call('resetModel', seed); }
  setOptimizer(opt) { return this.call('setOptimizer', opt); }
  setBatch(batch, seed) { return this.call('setBatch', batch, seed); }
  /** Steps taken so far. */
  step() { return this.call('step'); }
  tensor(name) { return this.call('tensor', name); }
  // the bench page's (bench.js)
  /** FLOP of one training step per image, from the module graph. */
  trainFlopsPerImage() { return this.call('trainFlopsPerImage'); }
  /** `steps` steps of the current run in one call, without progress reports. */
  trainSteps(steps) { return this.call('train', steps); }
  /** The held-out digits `indices` forward in `mode` ('eval' | 'train'). */
  forwardDigits(indices, mode) { return this.call('forwardDigits', indices, mode); }
  // Their logits alone (BatchNorm folded into the convs; the tape is left as it was)
  predictDigits(indices) { return this.call('predictDigits', indices); }
  // ...and of n normalised images (Float32Array n·C·S·S)
  predict(images, n) { return this.call('predict', images, n); }
  /** Each conv timed on its own at batch `n`, `reps` times. */
  profileConvs(n, reps) { return this.call('profileConvs', n, reps); }
  /** A training step (`pass` 'step') or an eval-mode inference pass ('inference') at batch
   * `n`, module by module, over `reps` passes. */
  profileStep(n, reps, pass = 'step') { return this.call('profileStep', n, reps, pass); }
  tensorShape(name) { return this.call('tensorShape', name); }
  /** A parameter or buffer by its PyTorch name (`layer1.0.conv1.weight`). */
  parameter(name) { return this.call('parameter', name); }
  /** Tape tensors as one safetensors file; one as .npy. */
  exportTensors(names) { return this.call('exportTensors', names); }
  tensorNpy(name) { return this.call('tensorNpy', name); }
  // compare mode (resnet_engine::compare): members side by side on the same batches
  /** Starts a comparison of arch ids (['plain20', 'resnet20']) from `seed`, with this engine's optimizer and batch. */
  compareStart(ids, seed) { return this.call('compareStart', ids, seed); }
  /** Curves, gradient flow and snapshot steps of every member (null before compareStart). */
  compareState() { return this.call('compareState'); }
  /** Member `i` as it was at snapshot `step`, in place of the page's model (every view shows it). */
  compareShow(i, step) { return this.call('compareShow', i, step); }
  /** The page's own model back after compareShow. */
  compareShowOwn() { return this.call('compareShowOwn'); }
  /** Continues the comparison from snapshot `step` (what came after is dropped). */
  compareFork(step) { return this.call('compareFork', step); }
  // your own data (resnet_engine::own): the student's image set, training on it, new tasks
  /** The image set (`pixels` n×784 bytes, `labels` Uint32Array, `classes`) of the digits or of
   *  a task of one's own (`own`): {classes, counts, train, heldOut, problem}. */
  setImageSet(pixels, labels, classes, own) { return this.call('setImageSet', pixels, labels, classes, own); }
  /** The image set as a safetensors file. */
  imageSetFile() { return this.call('imageSetFile'); }
  /** Training takes `share` (0–1) of each batch from the set, `augment`ed or not. */
  setTrainingSource(share, augment) { return this.call('setTrainingSource', share, augment); }
  /** The network for a task of `classes` classes: a new final layer from `seed`, the rest kept. */
  newHead(classes, seed) { return this.call('newHead', classes, seed); }
  /** Eval-mode accuracy: {mnist, mine}, each {loss, accuracy, correct, total} or null. */
  evaluateHeldOut(limit) { return this.call('evaluateHeldOut', limit); }
  /** An image set file checked for `classes` classes: {pixels, labels}. */
  readImageSet(bytes, classes) { return this.static('readImageSet', bytes, classes); }
  /** {classes: [lo, hi], images, augment: {shift, degrees}}. */
  ownLimits() { return this.static('ownLimits'); }
  /** `count` augmented copies of a 28×28 image (count × 784 bytes). */
  augmentPreview(pixels, count, seed) { return this.static('augmentPreview', pixels, count, seed); }
  // (the engine module's static functions)
  family() { return this.static('family'); }
  settings() { return this.static('settings'); }
  archOf(depth, width, shortcut, batchnorm) { return this.static('archOf', depth, width, shortcut, batchnorm); }
  fileArch(bytes) { return this.static('fileArch', bytes); }
  /** The lessons compare mode offers ({lessons: [{id, label, members, steps}], maxMembers}). */
  compareLessons() { return this.static('compareLessons'); }
  /** The wasm memory's size in bytes (it only grows). */
  memoryBytes() { return this.static('memoryBytes'); }

  /** Any entry of the worker's table by name (for tools and tests; the page uses the named methods). */
  call(method, ...args) {
    const shared = (b) => typeof SharedArrayBuffer === 'function' && b instanceof SharedArrayBuffer;
    // typed-array arguments are transferred (the caller's array is detached afterwards)
    const transfer = [...new Set(args.filter((a) => ArrayBuffer.isView(a) && !shared(a.buffer)).map((a) => a.buffer))];
    return this.#send('call', { method, args }, null, transfer);
  }

  /** Calls a static function of the engine module: `family`, `archFromId`, `archOf`, `fileArch`, `settings`. */
  static(method, ...args) {
    return this.#send('static', { method, args });
  }

  /** Trains `steps` steps; `onProgress` gets {step, loss, accuracy, imagesPerSec, done, steps}
   *  at most every `progressMs`, plus `heldout: {loss, accuracy}` (eval mode, the first
   *  `evalLimit` held-out digits; null in a task of one's own) and `mine` (the student's
   *  held-out images, or null) every `evalEvery` steps and at the end when evalEvery > 0.
   *  Resolves with the last report ({cancelled: true} if cancelled). */
  train(steps, onProgress, { progressMs = 100, evalEvery = 0, evalLimit = 500 } = {}) {
    return this.#send('train', { args: { steps, progressMs, evalEvery, evalLimit } }, onProgress);
  }

  /** Runs `steps` steps of the comparison (every member one step on the same batch each);
   *  `onProgress` gets {step, members: [{loss, accuracy, imagesPerSec, stopped}], done, steps}
   *  and, every `evalEvery` steps, `heldout: [{step, loss, accuracy} | null]` per member. */
  compare(steps, onProgress, { progressMs = 100, evalEvery = 0, evalLimit = 500 } = {}) {
    return this.#send('compare', { args: { steps, progressMs, evalEvery, evalLimit } }, onProgress);
  }

  /** For tests: the worker answers as if the wasm module had trapped (then restarts). */
  simulateTrap() { return this.#send('simulate-trap'); }

  /** For tests: the worker stops answering, as a trap on a pool thread leaves it. */
  simulateHang() { return this.#send('simulate-hang'); }

  pause() { this.worker.postMessage({ op: 'pause' }); }
  resume() { this.worker.postMessage({ op: 'resume' }); }
  cancel() { this.worker.postMessage({ op: 'cancel' }); }
  terminate() { clearInterval(this.watchdog); this.worker.terminate(); }
}

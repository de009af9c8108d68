// The page: starts the engine worker and wires the views to one shared state (layer, sample,
// loss target, hovered cell, training settings), which the URL keeps (state.js).
//
//   Train       start / pause / stop / single step / from scratch / pretrained, settings,
//               loss and accuracy curves (training batch and held-out digits)
//   Input       a held-out digit or the user's image (drop, paste, file, drawing), the
//               probabilities, and the class δ is back-propagated from
//   Look inside the selected layer's activations and δ (and for a conv: δ at its input,
//               kernels and ∂C/∂w); the hovered cell goes to the formula pane
import { EngineClient } from './engine-client.js';
import { HeatmapGrid } from './views/heatmaps.js';
import { WeightView } from './views/weights.js';
import { FormulaPane } from './views/formula.js';
import { Chart } from './views/curves.js';
import { ProbBars } from './views/probs.js';
import { NetworkStrip } from './views/network.js';
import { DrawPad } from './views/draw.js';
import { imageToDigit, canvasToDigit } from './preprocess.js';
import { readUrlState, urlOf, parseValue, visible, DEFAULTS } from './state.js';
import { SessionStore, sessionToFile, sessionFromFile } from './session.js';

const $ = (id) => document.getElementById(id);
const HELD_OUT = 8000; // digits 8000.. of the data file are the held-out split
const MODEL_URL = 'models/resnet8-mnist.safetensors';

function status(msg, isError = false) {
  $('status').textContent = msg;
  $('status').classList.toggle('error', isError);
}

const LINK = location.search; // the link as opened (the page rewrites location.search as the view changes)
const { state, notices } = readUrlState(LINK);
const training = { running: false, paused: false };
let saveUrlTimer = 0;
function saveUrl() {
  clearTimeout(saveUrlTimer);
  saveUrlTimer = setTimeout(() => history.replaceState(null, '', urlOf(state, location.search)), 150);
}

async function main() {
  let engine, engineNote = '';
  try {
    // ?engine=threads|simd|compat forces a build (default: the fastest this page can run)
    const wanted = new URLSearchParams(location.search).get('engine');
    const build = ['threads', 'simd', 'compat'].includes(wanted) ? wanted : 'auto';
    const start = (b) => EngineClient.start({ modelUrl: MODEL_URL, dataUrl: 'data/mnist-10k.bin', build: b });
    try {
      engine = await start(build);
    } catch (e) {
      if (build !== 'auto' || !self.crossOriginIsolated) throw e;
      engine = await start('simd'); // threads failed to start: one thread still works
      engineNote = `The threaded engine did not start (${e.message}); the page runs on one thread.`;
    }
  } catch (e) {
    $('build').textContent = 'engine failed';
    status(`The engine could not start: ${e.message}`, true);
    return;
  }
  const { build, threads, variant } = engine.info;
  $('build').textContent = build === 'threads' ? `wasm threads ×${threads} + SIMD`
    : variant === 'compat' ? 'wasm SIMD (no relaxed SIMD), single thread' : 'wasm SIMD, single thread';
  $('build').classList.add(build);
  $('build').dataset.build = build;
  $('build').dataset.threads = threads;
  const inspector = await setUpInspector(engine);
  const trainer = setUpTraining(engine, inspector);
  window.playground = { engine, inspect: inspector.refresh, state };
  const { resumed, restoreSaved } = await setUpSession(engine, trainer, inspector);
  engine.onrestart = async () => {
    trainer.forget();
    const back = await restoreSaved().catch(() => null);
    status(back === null
      ? 'The engine stopped unexpectedly and was restarted with the pretrained model.'
      : `The engine stopped unexpectedly and was restarted; your session is restored at step ${back}.`, true);
    await inspector.refresh();
  };
  window.playground.ready = true;
  if (engineNote) status(engineNote, true);
  else if (!notices.length && !resumed) status('Engine ready: pretrained ResNet-8 loaded. Hover any map to see its formula.');
}

// ---- training ----------------------------------------------------------------------------

function setUpTraining(engine, inspector) {
  const loss = new Chart($('loss-curve'), {
    yLabel: 'loss', yMax: 0.5,
    series: [{ key: 'train', label: 'training batch', colour: '#2d6cdf' }, { key: 'heldout', label: 'held-out', colour: '#d9730d', dots: true }],
  });
  const acc = new Chart($('acc-curve'), {
    yLabel: 'accuracy', yMax: 1, fixed: true, percent: true,
    series: [{ key: 'train', label: 'training batch', colour: '#2d6cdf' }, { key: 'heldout', label: 'held-out', colour: '#d9730d', dots: true }],
  });
  // settings from the URL into the inputs, and back on every change
  for (const k of ['steps', 'lr', 'batch', 'opt', 'seed']) {
    $(k).value = String(state[k]);
    $(k).onchange = () => {
      const v = settingValue(k);
      if (v === undefined) { status(settingError(k), true); $(k).value = String(state[k]); return; }
      state[k] = v;
      saveUrl();
    };
  }
  let applied = null; // the settings the engine has
  const apply = async () => {
    const opt = state.opt === 'adam'
      ? { kind: 'adam', beta1: 0.9, beta2: 0.999, eps: 1e-8, lr: state.lr, weight_decay: 0 }
      : { kind: 'sgd', momentum: 0.9, lr: state.lr, weight_decay: 5e-4 };
    const key = JSON.stringify([opt, state.batch, state.seed]);
    if (key === applied) return;
    await engine.call('setOptimizer', opt);
    if (!applied || JSON.parse(applied)[1] !== state.batch || JSON.parse(applied)[2] !== state.seed) await engine.call('setBatch', state.batch, state.seed);
    applied = key;
  };
  const buttons = ['start', 'step', 'reset', 'pretrained'];
  const clearStats = () => {
    loss.clear();
    acc.clear();
    for (const k of ['step', 'loss', 'acc', 'heldout', 'ips']) $(`stat-${k}`).textContent = '–';
  };
  // Pause and Stop act between steps of a run, so they are enabled once the run has started
  const setRunning = (r, started = r) => {
    training.running = r;
    training.paused = false;
    for (const b of buttons) $(b).disabled = r;
    $('pause').disabled = !started;
    $('stop').disabled = !started;
    $('pause').textContent = 'Pause';
  };
  setRunning(false);
  let saver = null; // saves the session (setUpSession); throttled unless forced
  const show = (p) => {
    if (p.paused) return; // the pause notice repeats the last report
    saver?.();
    $('stat-step').textContent = p.step;
    $('stat-loss').textContent = p.loss.toFixed(4);
    $('stat-acc').textContent = `${(100 * p.accuracy).toFixed(1)} %`;
    if (p.imagesPerSec) $('stat-ips').textContent = Math.round(p.imagesPerSec);
    loss.add('train', p.step, p.loss);
    acc.add('train', p.step, p.accuracy);
    if (p.heldout) {
      $('stat-heldout').textContent = `${(100 * p.heldout.accuracy).toFixed(1)} %`;
      loss.add('heldout', p.step, p.heldout.loss);
      acc.add('heldout', p.step, p.heldout.accuracy);
    }
    loss.draw();
    acc.draw();
  };
  const run = async (steps) => {
    setRunning(true, false);
    status(steps === 1 ? 'One training step…' : `Training ${steps} steps…`);
    try {
      await apply();
      const evalEvery = steps === 1 ? 0 : Math.max(10, Math.round(steps / 10));
      const run = engine.train(steps, show, { evalEvery, evalLimit: 500 });
      setRunning(true, steps > 1);
      const last = await run;
      status(last.cancelled ? `Stopped at step ${last.step}.` : `Step ${last.step}: loss ${last.loss.toFixed(4)}.`);
    } catch (e) {
      status(`Training stopped: ${e.message}`, true);
      if (/learning rate/.test(e.message)) $('lr').focus();
    }
    setRunning(false);
    saver?.(true);
    await inspector.refresh();
  };
  $('start').onclick = () => {
    const steps = settingValue('steps');
    if (steps === undefined) { status(settingError('steps'), true); return; }
    run(steps);
  };
  $('step').onclick = () => run(1);
  $('pause').onclick = () => {
    training.paused = !training.paused;
    if (training.paused) { engine.pause(); saver?.(true); } else engine.resume(); // pausing saves
    $('pause').textContent = training.paused ? 'Resume' : 'Pause';
    status(training.paused ? 'Paused: the views show the current weights.' : 'Training…');
    if (training.paused) inspector.refresh(); else inspector.pause();
  };
  $('stop').onclick = () => engine.cancel();
  $('reset').onclick = async () => {
    try {
      await apply();
      await engine.call('resetModel', state.seed);
      clearStats();
      saver?.(true);
      status(`Random weights from seed ${state.seed}: press Start to train from scratch.`);
    } catch (e) { status(`Could not reset: ${e.message}`, true); }
    await inspector.refresh();
  };
  $('pretrained').onclick = async () => {
    try {
      const res = await fetch(MODEL_URL);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      // as if just loaded: step 0, no optimizer moments from the run before
      await engine.call('restoreCheckpoint', new Uint8Array(await res.arrayBuffer()), 0);
      clearStats();
      saver?.(true);
      status('Pretrained weights loaded (98.55 % on the held-out digits).');
    } catch (e) { status(`Could not load the pretrained model: ${e.message}`, true); }
    await inspector.refresh();
  };
  // weights from a file (e.g. the CLI's or PyTorch's): checked by the engine, a bad file changes nothing
  $('weights-open').onchange = async () => {
    const file = $('weights-open').files[0];
    $('weights-open').value = '';
    if (!file) return;
    if (training.running) { status('Stop training before opening weights.', true); return; }
    try {
      if (file.size > 64 << 20) throw new Error(`it is ${(file.size / 2 ** 20).toFixed(0)} MB; the model's weights take about 0.3 MB`);
      await engine.call('restoreCheckpoint', new Uint8Array(await file.arrayBuffer()), 0);
      clearStats();
      saver?.(true);
      status(`Weights "${visible(file.name)}" loaded.`);
    } catch (e) {
      status(`Could not use "${visible(file.name)}": ${e.message}. The model is unchanged.`, true);
    }
    await inspector.refresh();
  };
  window.addEventListener('keydown', (e) => { // Escape stops a run, from anywhere
    if (e.key === 'Escape' && training.running) engine.cancel();
  });
  const stats = ['step', 'loss', 'acc', 'heldout', 'ips'];
  return {
    forget: () => { applied = null; }, // after a restart the worker has the defaults
    setSaver: (fn) => { saver = fn; },
    busy: () => training.running,
    snapshot: () => ({ curves: { loss: loss.toJSON(), acc: acc.toJSON() }, stats: Object.fromEntries(stats.map((k) => [k, $(`stat-${k}`).textContent])) }),
    restore: (s) => {
      loss.load(s.curves?.loss);
      acc.load(s.curves?.acc);
      for (const k of stats) $(`stat-${k}`).textContent = typeof s.stats?.[k] === 'string' ? s.stats[k].slice(0, 20) : '–';
      applied = null;
    },
  };
}

// ---- nothing lost: the session in IndexedDB and in a file ----------------------------------

const SETTINGS = ['lr', 'batch', 'opt', 'seed', 'steps'];

async function setUpSession(engine, trainer, inspector) {
  let store = null, warned = false, resumed = false;
  const warn = (msg) => {
    if (warned) return;
    warned = true;
    $('session-note').textContent = msg;
  };
  try {
    store = await SessionStore.open();
  } catch (e) {
    warn(`Your work is not kept in this browser: ${e.message}. Training still works; "Save session to a file" keeps it.`);
  }
  const gather = async () => {
    const [weights, optimizer, step] = await Promise.all([engine.call('saveWeights'), engine.call('saveOptimizer'), engine.call('step')]);
    return { savedAt: Date.now(), weights, optimizer, step, settings: Object.fromEntries(SETTINGS.map((k) => [k, state[k]])), ...trainer.snapshot() };
  };
  // weights and optimizer first (validated by the engine; a bad file changes nothing), then the page
  const restore = async (s, fromUrl) => {
    await engine.call('loadWeights', s.weights);
    await engine.call('loadOptimizer', s.optimizer);
    trainer.restore(s);
    // training settings from the session unless the link names them
    const q = new URLSearchParams(fromUrl ? LINK : '');
    for (const k of SETTINGS) {
      if (q.has(k) || s.settings?.[k] === undefined) continue;
      const v = parseValue(k, s.settings[k]);
      if (v !== undefined) { state[k] = v; $(k).value = String(v); }
    }
    saveUrl();
    await inspector.refresh();
  };
  if (store) {
    try {
      const s = await store.load();
      if (s) {
        await restore(s, true);
        status(`Welcome back: your session from ${new Date(s.savedAt).toLocaleString()} is restored, at step ${s.step}.`);
        resumed = true;
      }
    } catch (e) {
      status(`Your saved session could not be restored (${e.message}); the pretrained model is loaded instead.`, true);
    }
  }
  let last = -Infinity, saving = null;
  const save = (force = false) => {
    // a forced save while another is under way (which may hold older weights) follows it
    if (store && saving && force) return saving.then(() => save(true));
    if (!store || saving || (!force && performance.now() - last < 5000)) return saving;
    last = performance.now();
    saving = gather().then(async (s) => { await store.save(s); window.playground.savedStep = s.step; }).catch((e) => warn(`Your work could not be saved: ${e.message}. Training still works.`)).finally(() => { saving = null; });
    return saving;
  };
  trainer.setSaver(save);
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') save(true); });
  window.addEventListener('pagehide', () => save(true));
  window.playground.saveSession = () => save(true);

  $('session-save').onclick = async () => {
    try {
      const s = await gather();
      download(sessionToFile(s), `resnet-playground-step${s.step}.json`, 'application/json');
    } catch (e) { status(`Could not save the session: ${e.message}`, true); }
  };
  $('session-open').onchange = async () => {
    const file = $('session-open').files[0];
    if (!file) return;
    if (trainer.busy()) { status('Stop training before opening a session.', true); return; }
    try {
      const s = sessionFromFile(await file.text());
      await restore(s, false);
      save(true);
      status(`Session "${visible(file.name)}" opened, at step ${s.step}.`);
    } catch (e) { status(`Could not open "${visible(file.name)}": ${e.message}`, true); }
    $('session-open').value = '';
  };
  // after a crash: the last saved session (null if there is none)
  const restoreSaved = async () => {
    const s = store && await store.load();
    if (!s) return null;
    await restore(s, false);
    return s.step;
  };
  return { resumed, restoreSaved };
}

// a training setting from its input, checked by the same rules as the URL's
const settingValue = (k) => parseValue(k, $(k).value);

function settingError(k) {
  return {
    steps: 'Steps must be a whole number from 1 to 100000.', lr: 'The learning rate must be a number above 0 and at most 100.',
    batch: 'The batch size must be a whole number from 1 to 256.', seed: 'The seed must be a whole number from 0 to 4294967295.',
    opt: 'Choose SGD or Adam.',
  }[k];
}

// ---- looking inside ------------------------------------------------------------------------

// What a module's output is, for the layer description.
function describe(name, sites) {
  const site = sites.find((s) => s.name === name);
  if (site) return `conv ${site.k}×${site.k}, stride ${site.stride}, padding ${site.padding}, ${site.c_in}→${site.c_out} channels, reads ${site.input}, followed by ${site.bn}`;
  if (name.endsWith('.add')) return 'residual junction: main branch + shortcut, before the block\'s ReLU';
  if (/bn\d$|downsample\.1$/.test(name)) return 'BatchNorm (eval mode while inspecting: running statistics)';
  if (/relu\d?$/.test(name)) return 'ReLU';
  if (/^layer\d+\.\d+$/.test(name)) return 'block output: ReLU(main + shortcut)';
  return { avgpool: 'global average pool', fc: 'fully connected 64→10 (logits)', softmax: 'class probabilities' }[name] ?? '';
}

async function setUpInspector(engine) {
  const sites = await engine.call('convSites');
  const siteOf = (m) => sites.find((s) => s.name === m);
  // the conv whose input-δ formula explains delta.<m> (m a ReLU pre-activation)
  const zConsumer = (m) => sites.find((s) => s.z === m && !s.name.includes('downsample'));
  // the block whose input is m (a ReLU output that forks into conv1 and the shortcut)
  const blockOf = (m) => sites.find((s) => s.input === m && /\.conv1$/.test(s.name) && s.name !== 'conv1')?.name.replace(/\.conv1$/, '');

  const pane = new FormulaPane($('formula'), { engine, canQuery: () => !training.running || training.paused, summary: $('formula-summary') });
  const onCell = (grid) => (cell) => { state.cell = { grid, idx: grid === 'weights' ? [cell.o, cell.i, cell.a, cell.b] : [cell.c, cell.x, cell.y] }; saveUrl(); explain(); };
  const acts = new HeatmapGrid($('acts'), { kind: 'sequential', label: 'activations', onCell: onCell('acts') });
  const deltas = new HeatmapGrid($('deltas'), { kind: 'diverging', label: 'errors δ', onCell: onCell('deltas') });
  const inputDeltas = new HeatmapGrid($('input-deltas'), { kind: 'diverging', label: 'errors δ at the conv input', onCell: onCell('input') });
  const weights = new WeightView($('weights'), { onCell: onCell('weights') });
  const grids = { acts, deltas, input: inputDeltas };
  const probs = new ProbBars($('probs'), { onpick: (j) => { state.target = j; saveUrl(); refresh(); } });

  let custom = null;   // the user's image (Uint8Array(784)) when it is the input
  let cellFromUrl = !!state.cell;
  let current = null;  // what the views show: {n, label, pred, target}

  // the formula of the current cell
  function explain() {
    const cell = state.cell;
    if (!cell || !current) return;
    const m = state.layer, site = siteOf(m);
    const [c, x, y] = cell.idx;
    const n = 0;
    if (cell.grid === 'weights') {
      const [o, i, a, b] = cell.idx;
      if (site) pane.explain({ kind: 'conv_weight_grad', conv: m, o, i, a, b }, { site, caption: 'weight gradient' });
      else if (m === 'fc') pane.explain({ kind: 'fc_weight_grad', j: o, k: i }, { caption: 'fc weight gradient' });
      return;
    }
    if (cell.grid === 'input') {
      pane.explain({ kind: 'conv_input_delta', conv: m, n, i: c, x, y }, { site, caption: `δ at the input of ${m}` });
      return;
    }
    if (cell.grid === 'acts') {
      if (site) pane.explain({ kind: 'conv_forward', conv: m, n, o: c, x, y }, { site, caption: 'conv output (forward)' });
      else if (m === 'fc') pane.explain({ kind: 'fc_forward', n, j: y }, { caption: 'fc output (a logit)' });
      else pane.note(`act.${m}[${n}, ${c}, ${x}, ${y}] = ${grids.acts.readout.dataset.value}`, actNote(m));
      return;
    }
    // δ of module m
    const z = zConsumer(m), blk = blockOf(m);
    if (site) pane.explain({ kind: 'bn_input_delta', bn: site.bn, n, c, x, y }, { caption: `δ back through ${site.bn}` });
    else if (z) pane.explain({ kind: 'conv_input_delta', conv: z.name, n, i: c, x, y }, { site: z, caption: `δ at the input of ${z.name}` });
    else if (blk) pane.explain({ kind: 'residual_fork', block: blk, n, c, x, y }, { caption: `the fork into ${blk}` });
    else if (m === 'avgpool') pane.explain({ kind: 'fc_input_delta', n, k: y }, { caption: 'δ back through fc' });
    else pane.note(`delta.${m}[${n}, ${c}, ${x}, ${y}] = ${grids.deltas.readout.dataset.value}`, ...deltaNote(m));
  }

  // Everything that reads the tape runs one at a time, in order (a fast ◀▶ or ←→ would
  // otherwise interleave two passes and mix their tensors in the views).
  let queue = Promise.resolve();
  const serial = (fn) => (...args) => (queue = queue.then(() => fn(...args), () => fn(...args)));

  // one pass: forward the input in eval mode, back-propagate from the target class, draw
  const refresh = serial(refreshNow);
  async function refreshNow() {
    if (training.running && !training.paused) { status('The views update when training stops or is paused.'); return; }
    pane.invalidate();
    const sample = state.digit;
    try {
      if (custom) await engine.call('forwardPixels', custom.slice(), 1, 'eval');
      else await engine.call('forwardDigits', Uint32Array.of(HELD_OUT + sample), 'eval');
      const label = custom ? null : (await engine.call('labels', Uint32Array.of(HELD_OUT + sample)))[0];
      const p = Array.from(await engine.call('tensor', 'act.softmax'));
      const pred = p.indexOf(Math.max(...p));
      const target = state.target ?? label ?? pred;
      await engine.call('backward', Uint32Array.of(target));
      current = { label, pred, target };
      probs.show(p, { label, target });
      $('prediction').textContent = custom
        ? `your image · predicted ${pred} (p = ${p[pred].toFixed(3)})${notADigit(custom, p[pred])}`
        : `held-out digit ${sample} · label ${label} · predicted ${pred} (p = ${p[pred].toFixed(3)})`;
      drawDigit(await engine.call('tensor', 'act.input'));
      await showLayerNow();
      explain();
    } catch (e) {
      status(`Could not show the layer: ${e.message}`, true);
    }
  }

  const showLayer = serial(showLayerNow);
  async function showLayerNow() {
    const m = state.layer, site = siteOf(m);
    const flat = (s) => (s.length === 2 ? [s[0], 1, 1, s[1]] : s);
    const fetch2 = (name) => Promise.all([engine.call('tensor', name), engine.call('tensorShape', name)]);
    $('layer').value = m;
    $('layer-name').textContent = m;
    $('layer-desc').textContent = describe(m, sites);
    strip?.select(m);
    const target = current.target;
    const [[a, as], [d, ds]] = await Promise.all([fetch2(`act.${m}`), fetch2(`delta.${m}`)]);
    $('acts-title').textContent = site ? 'Output zˡ⁺¹ of the conv (before BN)' : 'Activations';
    $('deltas-title').textContent = site ? `Error δˡ⁺¹ = ∂C/∂zˡ⁺¹ (from class ${target})` : `Errors δ (from class ${target})`;
    acts.show(`act.${m}`, a, flat(Array.from(as)));
    deltas.show(`delta.${m}`, d, flat(Array.from(ds)));
    $('input-block').hidden = !site?.z;
    if (site?.z) {
      const [di, dis] = await fetch2(`delta.${site.z}`);
      $('input-title-deltas').textContent = `Error at its input δˡ = ∂C/∂zˡ, zˡ = ${site.z} (the pre-activation behind ${site.input})`;
      inputDeltas.show(`delta.${site.z}`, di, Array.from(dis));
    }
    $('weights-block').hidden = !(site || m === 'fc');
    if (site || m === 'fc') {
      const pname = `${m}.weight`;
      const [w, g, gs] = await Promise.all([engine.call('parameter', pname), engine.call('tensor', `grad.${pname}`), engine.call('tensorShape', `grad.${pname}`)]);
      const shape = gs.length === 2 ? [gs[0], gs[1], 1, 1] : Array.from(gs);
      weights.show(m, w, g, shape);
    }
    // the URL's cell, if it fits this layer's maps
    const cell = state.cell;
    if (cell) {
      const g = cell.grid === 'weights' ? weights : grids[cell.grid];
      const ok = g?.shape && (cell.grid === 'weights'
        ? cell.idx.every((v, k) => v < g.shape[k])
        : cell.idx.every((v, k) => v < g.shape[k + 1]) && !(cell.grid === 'input' && $('input-block').hidden));
      if (ok && cell.grid === 'weights') g.select({ o: cell.idx[0], i: cell.idx[1], a: cell.idx[2], b: cell.idx[3] }, { notify: false });
      else if (ok) g.select({ c: cell.idx[0], x: cell.idx[1], y: cell.idx[2] }, { notify: false });
      else {
        if (cellFromUrl) notices.push(`cell "${cell.grid}:${cell.idx.join(',')}" is outside the ${cell.grid} maps of ${m}`);
        state.cell = null;
      }
    }
    cellFromUrl = false;
    if (!state.cell) state.cell = defaultCell(site, inputDeltas, deltas);
    exportNames(m, site);
    saveUrl();
  }

  // the layer list: every module with an activation and a δ, in forward order
  const names = await (async () => {
    await engine.call('forwardDigits', Uint32Array.of(HELD_OUT), 'eval');
    await engine.call('backward', Uint32Array.of(0));
    return engine.call('tensorNames');
  })();
  const modules = names.filter((t) => t.name.startsWith('act.')).map((t) => ({ name: t.name.slice(4), shape: t.shape }));
  const layers = modules.filter((m) => m.name !== 'input' && names.some((t) => t.name === `delta.${m.name}`));
  for (const { name } of layers) $('layer').add(new Option(name, name));
  if (!layers.some((l) => l.name === state.layer)) {
    notices.push(`layer "${state.layer}" is not a layer of this model`);
    state.layer = DEFAULTS.layer;
    state.cell = null;
  }
  if (state.digit !== DEFAULTS.digit) $('sample').value = String(state.digit);
  const kernels = Object.fromEntries(sites.map((s) => [s.name, { k: s.k, stride: s.stride }]));
  let strip = null;
  try {
    strip = new NetworkStrip($('network'), { modules, kernels, selectable: (n) => layers.some((l) => l.name === n), onselect: (m) => select(m) });
  } catch (e) {
    $('network').textContent = `(the network diagram could not be drawn: ${e.message})`;
  }
  const select = (m) => {
    if (!layers.some((l) => l.name === m) || m === state.layer) return;
    state.layer = m;
    state.cell = null;
    saveUrl();
    if (training.running && !training.paused) { // the tape holds a training batch now
      $('layer').value = m;
      strip?.select(m);
      status(`The views show ${m} when training stops or is paused.`);
      return;
    }
    if (current) showLayer().then(explain, (e) => status(`Could not show the layer: ${e.message}`, true));
  };
  $('layer').onchange = () => select($('layer').value);

  const useDigit = (d) => {
    if (!Number.isInteger(d) || d < 0 || d > 1999) { status('The held-out digit number must be a whole number from 0 to 1999.', true); return; }
    custom = null;
    state.digit = d;
    state.target = null;
    $('sample').value = String(d);
    saveUrl();
    refresh();
  };
  $('sample').onchange = () => useDigit($('sample').value.trim() === '' ? NaN : Number($('sample').value));
  $('prev-digit').onclick = () => useDigit((state.digit + 1999) % 2000);
  $('next-digit').onclick = () => useDigit((state.digit + 1) % 2000);
  const useImage = async (pixels, what) => {
    custom = pixels;
    state.target = null;
    status(`Showing ${what}, centred and scaled like an MNIST digit.`);
    await refresh();
  };
  const takeFile = async (file) => {
    if (!file) return;
    try {
      const { pixels } = await imageToDigit(file);
      await useImage(pixels, `"${visible(file.name || 'the pasted image')}"`);
    } catch (e) { status(`Could not use ${file.name ? `"${visible(file.name)}"` : 'that'}: ${e.message}`, true); }
  };
  $('file').onchange = () => takeFile($('file').files[0]);
  const panel = $('input-panel');
  panel.addEventListener('dragover', (e) => { e.preventDefault(); panel.classList.add('dropping'); });
  panel.addEventListener('dragleave', () => panel.classList.remove('dropping'));
  panel.addEventListener('drop', (e) => {
    e.preventDefault();
    panel.classList.remove('dropping');
    const file = [...(e.dataTransfer?.files ?? [])][0];
    if (file) takeFile(file); else status('Drop an image file (PNG, JPEG, GIF, WebP, SVG).', true);
  });
  document.addEventListener('paste', (e) => {
    const item = [...(e.clipboardData?.items ?? [])].find((i) => i.kind === 'file' && i.type.startsWith('image/'));
    if (item) { e.preventDefault(); takeFile(item.getAsFile()); }
  });
  new DrawPad($('drawpad'), {
    size: 196,
    onchange: async (canvas) => {
      try {
        const r = await canvasToDigit(canvas);
        await useImage(r.pixels ?? r, 'your drawing');
      } catch (e) { status(`Could not read the drawing: ${e.message}`, true); }
    },
  });

  // export: the tensors shown, and the model
  function exportNames(m, site) {
    const list = [`act.${m}`, `delta.${m}`];
    if (site?.z) list.push(`delta.${site.z}`);
    if (site || m === 'fc') list.push(`grad.${m}.weight`);
    list.push('act.input', 'act.softmax');
    const sel = $('export-name');
    sel.replaceChildren(...list.map((n) => new Option(n, n)));
  }
  const safe = (n) => n.replace(/[^a-z0-9_.-]/gi, '_');
  $('export-st').onclick = async () => {
    const n = $('export-name').value;
    try { download(await engine.call('exportTensors', [n]), `${safe(n)}.safetensors`); } catch (e) { status(`Export failed: ${e.message}`, true); }
  };
  $('export-npy').onclick = async () => {
    const n = $('export-name').value;
    try { download(await engine.call('tensorNpy', n), `${safe(n)}.npy`); } catch (e) { status(`Export failed: ${e.message}`, true); }
  };
  $('export-model').onclick = async () => {
    try { download(await engine.call('saveWeights'), `resnet8-step${await engine.call('step')}.safetensors`); } catch (e) { status(`Export failed: ${e.message}`, true); }
  };

  await refresh();
  if (notices.length) status(`Ignored from the link: ${notices.join('; ')}. Showing the defaults instead.`, true);
  const pause = () => pane.message('The formulas update when training is paused or stopped.');
  return { refresh, pause };
}

/** Offers `bytes` as a file download called `name`. */
function download(bytes, name, type = 'application/octet-stream') {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// The cell the pane explains before anyone points: the largest |δ| at the conv's input (or of
// the layer's δ), so the first formula has numbers worth reading.
function defaultCell(site, inputDeltas, deltas) {
  const g = site?.z ? inputDeltas : deltas;
  if (!g.shape) return null;
  const cell = g.selectLargest();
  return { grid: site?.z ? 'input' : 'deltas', idx: [cell.c, cell.x, cell.y] };
}

// An MNIST digit is a pen stroke: after centring, ink (> 10) covers 8–30 % of the 28×28 field
// (99 % of the held-out digits; none above 37 %) and is mostly solid: under 61 % of the ink
// pixels are grey (40–215) for 99 % of them. A photo of something else, centred the same way,
// is larger or greyer. Its prediction is still shown, with this warning.
function notADigit(pixels, p) {
  let ink = 0, grey = 0;
  for (const v of pixels) { if (v > 10) ink++; if (v > 40 && v < 215) grey++; }
  const share = ink / pixels.length, greyShare = grey / Math.max(1, ink);
  if (share > 0.4 || greyShare > 0.7) {
    return ` — this does not look like a handwritten digit (${Math.round(100 * share)} % of the field is ink, ${Math.round(100 * greyShare)} % of it grey; `
      + 'digits: 8–30 %, mostly solid strokes), so the prediction means little';
  }
  return p < 0.5 ? ' — not sure: is it a digit?' : '';
}

function actNote(m) {
  if (m.endsWith('.add')) return 'The residual junction adds the main branch (bn2) and the shortcut (the block input, or downsample.1).';
  if (/bn\d$|downsample\.1$/.test(m)) return 'BatchNorm: y = γ (x − μ)/√(σ² + ε) + β, per channel; while inspecting, μ and σ² are the running statistics.';
  if (/relu\d?$/.test(m) || /^layer\d+\.\d+$/.test(m)) return 'a = σ(z) = max(0, z): the ReLU keeps positive values and zeroes the rest.';
  if (m === 'avgpool') return 'The mean of each channel of the last block: a_c = (1/HW) Σ_{x,y} a_{c,x,y}.';
  if (m === 'softmax') return 'p_j = e^{z_j} / Σ_k e^{z_k}: the class probabilities.';
  return '';
}

function deltaNote(m) {
  if (/bn2$|downsample\.1$/.test(m)) return ['The add passes its δ unchanged to both branches, so this equals the δ of the block\'s add.'];
  if (m.endsWith('.relu1')) return ['δ of a ReLU output: Σ_o Σ_{x\',y\'} δ·w through the next conv. Select the block\'s bn1 δ map (or its conv2) to see the terms and the σ\'(z) factor.'];
  if (m.endsWith('.add')) return ['The last block\'s junction: δ = σ\'(z) · δ^{pool}_{n,c} / (H·W), the average pool spreading its δ evenly.'];
  if (/^layer\d+\.\d+$/.test(m)) return ['The last block\'s output feeds the average pool: δ_{n,c,x,y} = δ^{pool}_{n,c} / (H·W).', '\\delta_{n,c,x,y} = \\frac{\\delta^{\\text{pool}}_{n,c}}{H\\,W}'];
  if (m === 'fc') return ['Softmax with cross-entropy, one image: δ^L_j = softmax(z)_j − [j = target class].', '\\delta^{L}_{j} = \\operatorname{softmax}(z)_j - [\\,j = y\\,]'];
  if (m === 'softmax') return ['The page back-propagates from the logits (the fc output); the softmax δ is not used.'];
  return [''];
}

function drawDigit(input) {
  const c = $('digit').getContext('2d');
  const img = c.createImageData(28, 28);
  let lo = Infinity, hi = -Infinity;
  for (const v of input) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  input.forEach((v, i) => {
    const g = Math.round(255 * (v - lo) / (hi - lo || 1));
    img.data.set([g, g, g, 255], 4 * i);
  });
  c.putImageData(img, 0, 0);
}

main();

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
import { readUrlState, urlOf, parseValue, visible, whatIs, useSettings, DEFAULTS, SETTING_KEYS } from './state.js';
import { SessionStore, sessionToFile, sessionFromFile } from './session.js';

const $ = (id) => document.getElementById(id);
const HELD_OUT = 8000; // digits 8000.. of the data file are the held-out split
const MODEL_URL = 'models/resnet8-mnist.safetensors';
// pretrained files shipped with the page, by network; a network without one starts from its seed
const PRETRAINED = { resnet8: MODEL_URL };
const engineModel = (arch) => (PRETRAINED[arch] ? { modelUrl: PRETRAINED[arch], arch: undefined } : { modelUrl: null, arch });

function status(msg, isError = false) {
  $('status').textContent = msg;
  $('status').classList.toggle('error', isError);
}

const LINK = location.search; // the link as opened (the page rewrites location.search as the view changes)
// (the training settings are read from the link once the engine has said their ranges)
const { state, notices } = readUrlState(LINK);
let SETTINGS = null; // the engine's training settings: ranges, defaults, optimizers' hyper-parameters
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
    const start = (b) => EngineClient.start({ ...engineModel(state.arch), dataUrl: 'data/mnist-10k.bin', build: b });
    const startBuild = async () => {
      try {
        return await start(build);
      } catch (e) {
        if (build !== 'auto' || !self.crossOriginIsolated) throw e;
        engineNote = `The threaded engine did not start (${e.message}); the page runs on one thread.`;
        return start('simd'); // threads failed to start: one thread still works
      }
    };
    try {
      engine = await startBuild();
    } catch (e) {
      // a network the engine does not know (a mistyped link): say so, and start the default
      if (state.arch === DEFAULTS.arch || !e.message) throw e;
      notices.push(`arch "${visible(state.arch)}": ${e.message}`);
      state.arch = DEFAULTS.arch;
      engine = await startBuild();
    }
  } catch (e) {
    $('build').textContent = 'engine failed';
    status(`The engine could not start: ${e.message}`, true);
    return;
  }
  // the training settings' ranges and defaults are the engine's: now the rest of the link is read
  SETTINGS = await engine.static('settings');
  useSettings(SETTINGS);
  const rest = readUrlState(LINK, SETTING_KEYS);
  for (const k of SETTING_KEYS) state[k] = rest.state[k];
  notices.push(...rest.notices);
  const { build, threads, variant } = engine.info;
  $('build').textContent = build === 'threads' ? `wasm threads ×${threads} + SIMD`
    : variant === 'compat' ? 'wasm SIMD (no relaxed SIMD), single thread' : 'wasm SIMD, single thread';
  $('build').classList.add(build);
  $('build').dataset.build = build;
  $('build').dataset.threads = threads;
  const inspector = await setUpInspector(engine);
  const trainer = setUpTraining(engine, inspector);
  window.playground = { engine, inspect: inspector.refresh, state };
  const arch = await setUpArchitecture(engine, inspector, trainer);
  const { resumed, restoreSaved } = await setUpSession(engine, trainer, inspector, arch);
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
  else if (!notices.length && !resumed) {
    status(state.arch === DEFAULTS.arch ? 'Engine ready: pretrained ResNet-8 loaded. Hover any map to see its formula.'
      : `Engine ready: ${$('arch-name').textContent} with random weights from seed 1 (press Start to train it). Hover any map to see its formula.`);
  }
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
  for (const [k, [lo, hi]] of Object.entries({ steps: SETTINGS.steps, batch: SETTINGS.batch, seed: SETTINGS.seed })) Object.assign($(k), { min: lo, max: hi });
  $('lr').max = SETTINGS.lr[1];
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
    const opt = { ...SETTINGS[state.opt], lr: state.lr }; // the engine's hyper-parameters, the page's rate
    const key = JSON.stringify([opt, state.batch, state.seed]);
    if (key === applied) return;
    await engine.call('setOptimizer', opt);
    if (!applied || JSON.parse(applied)[1] !== state.batch || JSON.parse(applied)[2] !== state.seed) await engine.call('setBatch', state.batch, state.seed);
    applied = key;
  };
  const buttons = ['start', 'step', 'reset', 'pretrained', 'arch-build'];
  const clearStats = () => {
    loss.clear();
    acc.clear();
    for (const k of ['step', 'loss', 'acc', 'heldout', 'ips']) $(`stat-${k}`).textContent = '–';
  };
  // Pause and Stop act between steps of a run, so they are enabled once the run has started
  const setRunning = (r, started = r) => {
    training.running = r;
    training.paused = false;
    for (const b of buttons) $(b).disabled = r || (b === 'pretrained' && $(b).dataset.none === 'none') || (b === 'arch-build' && $(b).dataset.same === 'yes');
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
      if (e.kind === 'diverged') $('lr').focus();
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
      const url = PRETRAINED[state.arch];
      if (!url) throw new Error(`no pretrained file is shipped for ${$('arch-name').textContent}; train it from scratch`);
      const res = await fetch(url);
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
      if (file.size > 64 << 20) throw new Error(`it is ${(file.size / 2 ** 20).toFixed(0)} MB; the largest network here takes about 3.4 MB`);
      const bytes = new Uint8Array(await file.arrayBuffer());
      // which network the file holds; names and shapes cannot tell option A from a plain net
      const what = await engine.static('fileArch', bytes);
      let shortcut;
      if (!what.config) {
        shortcut = await archPanel.ask(`"${visible(file.name)}" has no note of its network, and ${what.source}. Which is it?`, what.candidates);
        if (!shortcut) { status('Nothing opened.'); return; }
      }
      saver?.(true); // the network before keeps its session
      await engine.call('loadModel', bytes, shortcut);
      clearStats();
      await archPanel.changed();
      saver?.(true);
      status(`Weights "${visible(file.name)}" loaded. The page runs ${$('arch-name').textContent}.`);
    } catch (e) {
      status(`Could not use "${visible(file.name)}": ${e.message}. The model is unchanged.`, true);
    }
    await inspector.refresh().catch(() => {});
  };
  window.addEventListener('keydown', (e) => { // Escape stops a run, from anywhere
    if (e.key === 'Escape' && training.running) engine.cancel();
  });
  const stats = ['step', 'loss', 'acc', 'heldout', 'ips'];
  return {
    clearStats,
    setPretrained: (has) => { $('pretrained').dataset.none = has ? '' : 'none'; $('pretrained').disabled = training.running || !has; },
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

// ---- the network: presets and fields, built by the engine ------------------------------------

let archPanel = null; // what the weights and session code ask of the panel (set below)

const SHORTCUT_TEXT = { projection: 'projection (1×1 conv)', identity: 'identity (option A)', none: 'none (plain net)' };

// The architecture panel: a preset or the fields (depth, width, shortcut, BatchNorm) name a
// member of the family; the engine says what it is (its id, name, parameters) and builds it.
// The page follows whatever network the engine holds: built here, or opened from a file.
async function setUpArchitecture(engine, inspector, trainer) {
  const fam = await engine.static('family');
  $('arch-preset').replaceChildren(...fam.presets.map((p) => new Option(p.label, p.id)), new Option('(custom)', ''));
  $('arch-depth').replaceChildren(...fam.depths.map((d) => new Option(String(d), String(d))));
  $('arch-width').replaceChildren(...fam.widths.map((w) => new Option(String(w), String(w))));
  $('arch-shortcut').replaceChildren(...fam.shortcuts.map((k) => new Option(SHORTCUT_TEXT[k] ?? k, k)));
  let built = null; // the engine's network: {config, id, label, depth, parameters}
  const setFields = (c) => {
    $('arch-depth').value = String(2 * c.blocks.reduce((a, b) => a + b, 0) + 2);
    $('arch-width').value = String(c.widths[0]);
    $('arch-shortcut').value = c.shortcut;
    $('arch-bn').checked = c.batchnorm;
  };
  const wanted = () => engine.static('archOf', Number($('arch-depth').value), Number($('arch-width').value), $('arch-shortcut').value, $('arch-bn').checked);
  const count = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(n < 1e5 ? 1 : 0)} k`);
  const words = (a) => `${a.label}, ${a.depth} weighted layers, ${count(a.parameters)} parameters`;
  const preview = async () => {
    try {
      const a = await wanted();
      $('arch-preset').value = fam.presets.some((p) => p.id === a.id) ? a.id : '';
      const same = built && a.id === built.id;
      $('arch-build').dataset.same = same ? 'yes' : '';
      $('arch-build').disabled = same || training.running;
      $('arch-summary').textContent = same ? `This page runs ${words(built)}.`
        : `This page runs ${words(built)}. “Build this network” makes ${words(a)}, from random weights (seed ${state.seed}).`;
    } catch (e) {
      $('arch-summary').textContent = e.message;
      $('arch-build').disabled = true;
    }
  };
  for (const id of ['arch-depth', 'arch-width', 'arch-shortcut', 'arch-bn']) $(id).onchange = preview;
  $('arch-preset').onchange = () => {
    const p = fam.presets.find((x) => x.id === $('arch-preset').value);
    if (p) setFields(p.config);
    preview();
  };
  // the engine's network changed (built, or from a file or a session): the page follows
  const changed = async () => {
    built = await engine.call('architecture');
    const id = built.id ?? state.arch;
    const switched = id !== state.arch || !inspectorMatches;
    state.arch = id;
    Object.assign(engine.options, engineModel(id)); // a restarted engine comes back as this network
    $('arch-name').textContent = built.label;
    setFields(built.config);
    trainer.setPretrained(!!PRETRAINED[id]);
    await preview();
    saveUrl();
    inspectorMatches = true;
    if (switched) await inspector.rebuild();
  };
  let inspectorMatches = true;
  let onSwitch = (build) => build();
  $('arch-build').onclick = async () => {
    if (training.running) { status('Stop training before building another network.', true); return; }
    let a;
    try { a = await wanted(); } catch (e) { status(e.message, true); return; }
    $('arch-build').disabled = true;
    status(`Building ${a.label}…`);
    try {
      const back = await onSwitch(async () => {
        await engine.call('setArchitecture', a.config, state.seed);
        trainer.clearStats();
        inspectorMatches = false;
        await changed();
      });
      status(back == null ? `Built ${a.label} with random weights from seed ${state.seed}: press Start to train it.`
        : `${a.label}: your last session with it is back, at step ${back}.`);
    } catch (e) {
      status(`Could not build ${a.label}: ${e.message}`, true);
      await preview();
    }
  };
  // a question with one button per answer (and Cancel); resolves with the answer or null
  const ask = (text, candidates) => new Promise((resolve) => {
    const box = $('arch-ask');
    $('arch-ask-text').textContent = text;
    const done = (v) => { box.hidden = true; box.onkeydown = null; resolve(v); };
    const buttons = candidates.map((c) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = c.label;
      b.onclick = () => done(c.config.shortcut);
      return b;
    });
    const cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.className = 'secondary';
    cancel.textContent = 'Cancel';
    cancel.onclick = () => done(null);
    $('arch-ask-buttons').replaceChildren(...buttons, cancel);
    box.onkeydown = (e) => { if (e.key === 'Escape') { e.stopPropagation(); done(null); } };
    box.hidden = false;
    buttons[0]?.focus();
  });
  await changed();
  archPanel = { changed, ask, onSwitch: (fn) => { onSwitch = fn; } };
  return archPanel;
}

// ---- nothing lost: the session in IndexedDB and in a file ----------------------------------


async function setUpSession(engine, trainer, inspector, archPanel) {
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
    return { savedAt: Date.now(), arch: state.arch, weights, optimizer, step, settings: Object.fromEntries(SETTING_KEYS.map((k) => [k, state[k]])), ...trainer.snapshot() };
  };
  // weights and optimizer first (validated by the engine; a bad file changes nothing), then the page
  const restore = async (s, fromUrl) => {
    // the file's network, whichever it is (a session file may hold another one)
    await engine.call('loadModel', s.weights);
    await engine.call('loadOptimizer', s.optimizer);
    await archPanel.changed(false);
    trainer.restore(s);
    // training settings from the session unless the link names them
    const q = new URLSearchParams(fromUrl ? LINK : '');
    for (const k of SETTING_KEYS) {
      if (q.has(k) || s.settings?.[k] === undefined) continue;
      const v = parseValue(k, s.settings[k]);
      if (v !== undefined) { state[k] = v; $(k).value = String(v); }
    }
    saveUrl();
    await inspector.refresh();
  };
  if (store) {
    try {
      const s = await store.load(state.arch);
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
    saving = gather().then(async (s) => { await store.save(s, s.arch); window.playground.savedStep = s.step; }).catch((e) => warn(`Your work could not be saved: ${e.message}. Training still works.`)).finally(() => { saving = null; });
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
    const s = store && await store.load(state.arch);
    if (!s) return null;
    await restore(s, false);
    return s.step;
  };
  // another network: the one before is saved first, and this one's last session comes back
  archPanel.onSwitch(async (build) => {
    await save(true);
    await build();
    const back = await restoreSaved().catch(() => null);
    await save(true);
    return back;
  });
  return { resumed, restoreSaved };
}

// a training setting from its input, checked by the same rules as the URL's
const settingValue = (k) => parseValue(k, $(k).value);

function settingError(k) {
  return k === 'opt' ? 'Choose SGD or Adam.' : `"${visible($(k).value)}" ${whatIs(k)}.`;
}

// ---- looking inside ------------------------------------------------------------------------

// What a module's output is, for the layer description: the engine's words for it, and for a
// conv where it reads from and what follows it.
function describe(name, graph, sites) {
  const m = graph.modules.find((x) => x.name === name);
  const site = sites.find((s) => s.name === name);
  if (!m) return '';
  if (site) return `${m.about}, reads ${site.input}${site.bn ? `, followed by ${site.bn}` : ''}`;
  return m.about;
}

async function setUpInspector(engine) {
  // the model's shape, asked of the engine (and asked again when the network changes)
  let sites = [], graph = { modules: [], blocks: [] };
  const siteOf = (m) => sites.find((s) => s.name === m);
  const moduleOf = (m) => graph.modules.find((x) => x.name === m);
  // the conv whose input-δ formula explains delta.<m> (m a ReLU pre-activation)
  const zConsumer = (m) => sites.find((s) => s.z === m && !s.side);
  // the block whose input is m (a ReLU output that forks into the block and its shortcut)
  const blockOf = (m) => graph.blocks.find((b) => b.input === m)?.name;
  // the graph's first module (the image) and last (the class probabilities)
  const ends = () => ({ input: graph.modules[0].name, probs: graph.modules.at(-1).name });

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
      else if (moduleOf(m)?.kind === 'fc') pane.explain({ kind: 'fc_weight_grad', j: o, k: i }, { caption: 'fc weight gradient' });
      return;
    }
    if (cell.grid === 'input') {
      pane.explain({ kind: 'conv_input_delta', conv: m, n, i: c, x, y }, { site, caption: `δ at the input of ${m}` });
      return;
    }
    if (cell.grid === 'acts') {
      if (site) pane.explain({ kind: 'conv_forward', conv: m, n, o: c, x, y }, { site, caption: 'conv output (forward)' });
      else if (moduleOf(m)?.kind === 'shortcut') pane.explain({ kind: 'shortcut_forward', module: m, n, c, x, y }, { caption: 'option-A shortcut (forward)' });
      else if (moduleOf(m)?.kind === 'fc') pane.explain({ kind: 'fc_forward', n, j: y }, { caption: 'fc output (a logit)' });
      else pane.note(`act.${m}[${n}, ${c}, ${x}, ${y}] = ${grids.acts.readout.dataset.value}`, actNote(moduleOf(m)));
      return;
    }
    // δ of module m
    const z = zConsumer(m), blk = blockOf(m);
    if (site?.bn) pane.explain({ kind: 'bn_input_delta', bn: site.bn, n, c, x, y }, { caption: `δ back through ${site.bn}` });
    else if (z) pane.explain({ kind: 'conv_input_delta', conv: z.name, n, i: c, x, y }, { site: z, caption: `δ at the input of ${z.name}` });
    else if (blk) pane.explain({ kind: 'residual_fork', block: blk, n, c, x, y }, { caption: `the fork into ${blk}` });
    else if (moduleOf(m)?.kind === 'pool') pane.explain({ kind: 'fc_input_delta', n, k: y }, { caption: 'δ back through fc' });
    else pane.note(`delta.${m}[${n}, ${c}, ${x}, ${y}] = ${grids.deltas.readout.dataset.value}`, ...deltaNote(moduleOf(m), graph));
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
      const p = Array.from(await engine.call('tensor', `act.${ends().probs}`));
      const pred = p.indexOf(Math.max(...p));
      const target = state.target ?? label ?? pred;
      await engine.call('backward', Uint32Array.of(target));
      current = { label, pred, target };
      probs.show(p, { label, target });
      $('prediction').textContent = custom
        ? `your image · predicted ${pred} (p = ${p[pred].toFixed(3)})${notADigit(custom, p[pred])}`
        : `held-out digit ${sample} · label ${label} · predicted ${pred} (p = ${p[pred].toFixed(3)})`;
      drawDigit(await engine.call('tensor', `act.${ends().input}`));
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
    $('layer-desc').textContent = describe(m, graph, sites);
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
    const weighted = site || moduleOf(m)?.kind === 'fc';
    $('weights-block').hidden = !weighted;
    if (weighted) {
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

  // the layer list and the strip: every module with an activation and a δ, in forward order,
  // as the engine's graph lists them (rebuilt when the network changes)
  let layers = [], strip = null;
  const isLayer = (n) => layers.some((l) => l.name === n);
  async function loadModel(first = false) {
    [graph, sites] = await Promise.all([engine.call('modules'), engine.call('convSites')]);
    layers = graph.modules.filter((m) => m.kind !== 'input' && m.kind !== 'loss');
    $('layer').replaceChildren(...layers.map(({ name }) => new Option(name, name)));
    if (!isLayer(state.layer)) {
      // (a cell of a layer that is not there means nothing; one without a layer is the focus's)
      if (state.layer !== null) state.cell = null;
      if (first && state.layer !== null) notices.push(`layer "${state.layer}" is not a layer of this model`);
      state.layer = graph.focus; // the engine's choice: where the formulas have most to say
    }
    try {
      strip = new NetworkStrip($('network'), { modules: graph.modules, selectable: isLayer, onselect: (m) => select(m) });
    } catch (e) {
      strip = null;
      $('network').textContent = `(the network diagram could not be drawn: ${e.message})`;
    }
  }
  await loadModel(true);
  if (state.digit !== DEFAULTS.digit) $('sample').value = String(state.digit);
  const select = (m) => {
    if (!isLayer(m) || m === state.layer) return;
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
    if (site || moduleOf(m)?.kind === 'fc') list.push(`grad.${m}.weight`);
    list.push(`act.${ends().input}`, `act.${ends().probs}`);
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
    try {
      const arch = await engine.call('architecture');
      download(await engine.call('saveWeights'), `${arch.id ?? 'resnet'}-step${await engine.call('step')}.safetensors`);
    } catch (e) { status(`Export failed: ${e.message}`, true); }
  };

  await refresh();
  if (notices.length) status(`Ignored from the link: ${notices.join('; ')}. Showing the defaults instead.`, true);
  const pause = () => pane.message('The formulas update when training is paused or stopped.');
  // after the engine's model changed shape (another network, a file of another member)
  const rebuild = async () => { current = null; await loadModel(); await refresh(); };
  return { refresh, pause, rebuild };
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

// A sentence for a cell no formula kind explains, by the module's kind (m: a graph module).
function actNote(m) {
  switch (m?.kind) {
    case 'add': return `The residual junction adds the main branch (${m.inputs[0]}) and the shortcut (${m.inputs[1]}).`;
    case 'bn': return 'BatchNorm: y = γ (x − μ)/√(σ² + ε) + β, per channel; while inspecting, μ and σ² are the running statistics.';
    case 'relu': return 'a = σ(z) = max(0, z): the ReLU keeps positive values and zeroes the rest.';
    case 'pool': return 'The mean of each channel of the last block: a_c = (1/HW) Σ_{x,y} a_{c,x,y}.';
    case 'loss': return 'p_j = e^{z_j} / Σ_k e^{z_k}: the class probabilities.';
    default: return m?.about ?? '';
  }
}

function deltaNote(m, graph) {
  const readers = graph.modules.filter((x) => x.inputs.includes(m?.name));
  const into = readers[0];
  if (m?.kind === 'shortcut') return [`Option A passes δ back unchanged: this cell's δ (the δ of ${into?.name}) goes to the block input at channel c − (padding), row 2x, column 2y; the zero-padded channels send nothing back. Select the block input (${m.inputs[0]}) to see it in the fork's formula.`];
  if (into?.kind === 'add') return [`The add passes its δ unchanged to both branches, so this equals the δ of ${into.name}.`];
  if (m?.kind === 'relu' && into?.kind === 'conv') return [`δ of a ReLU output: Σ_o Σ_{x',y'} δ·w through ${readers.map((r) => r.name).join(' and ')}. Select the ReLU's input (or the conv) to see the terms and the σ'(z) factor.`];
  if (into?.kind === 'pool') return ['The last block\'s output feeds the average pool: δ_{n,c,x,y} = δ^{pool}_{n,c} / (H·W).', '\\delta_{n,c,x,y} = \\frac{\\delta^{\\text{pool}}_{n,c}}{H\\,W}'];
  if (into?.kind === 'relu' && graph.modules.some((x) => x.inputs.includes(into.name) && x.kind === 'pool')) return ['The last block\'s junction: δ = σ\'(z) · δ^{pool}_{n,c} / (H·W), the average pool spreading its δ evenly.'];
  if (m?.kind === 'fc') return ['Softmax with cross-entropy, one image: δ^L_j = softmax(z)_j − [j = target class].', '\\delta^{L}_{j} = \\operatorname{softmax}(z)_j - [\\,j = y\\,]'];
  return [m?.about ?? ''];
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

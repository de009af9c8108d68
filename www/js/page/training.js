// Training: start / pause / stop / single step / from scratch / pretrained, the settings
// (their ranges and defaults are the engine's), live statistics and the loss and accuracy
// curves of the training batch and the held-out digits.
import { $ } from '../dom.js';
import { Chart } from '../views/curves.js';
import { parseValue, whatIs, visible } from '../state.js';
import { state, update, status, training, exclusive, refreshControls } from './context.js';
import { PRETRAINED } from './arch.js';

export function setUpTraining(engine, inspector, settings) {
  const loss = new Chart($('loss-curve'), {
    yLabel: 'loss', yMax: 0.5,
    series: [{ key: 'train', label: 'training batch', colour: '#2d6cdf' }, { key: 'heldout', label: 'held-out', colour: '#d9730d', dots: true }],
  });
  const acc = new Chart($('acc-curve'), {
    yLabel: 'accuracy', yMax: 1, fixed: true, percent: true,
    series: [{ key: 'train', label: 'training batch', colour: '#2d6cdf' }, { key: 'heldout', label: 'held-out', colour: '#d9730d', dots: true }],
  });
  // settings from the URL into the inputs, and back on every change
  for (const [k, [lo, hi]] of Object.entries({ steps: settings.steps, batch: settings.batch, seed: settings.seed })) Object.assign($(k), { min: lo, max: hi });
  $('lr').max = settings.lr[1];
  for (const k of ['steps', 'lr', 'batch', 'opt', 'seed']) {
    $(k).value = String(state[k]);
    $(k).onchange = () => {
      const v = settingValue(k);
      if (v === undefined) { status(settingError(k), true); $(k).value = String(state[k]); return; }
      update({ [k]: v });
    };
  }
  let applied = null; // the settings the engine has
  const apply = async () => {
    const opt = { ...settings[state.opt], lr: state.lr }; // the engine's hyper-parameters, the page's rate
    const key = JSON.stringify([opt, state.batch, state.seed]);
    if (key === applied) return;
    await engine.setOptimizer(opt);
    if (!applied || JSON.parse(applied)[1] !== state.batch || JSON.parse(applied)[2] !== state.seed) await engine.setBatch(state.batch, state.seed);
    applied = key;
  };
  const clearStats = () => {
    loss.clear();
    acc.clear();
    for (const k of ['step', 'loss', 'acc', 'heldout', 'ips']) $(`stat-${k}`).textContent = '–';
  };
  // Pause and Stop act between steps of a run, so they are enabled once the run has started
  const setRunning = (r, started = r) => {
    training.running = r;
    training.paused = false;
    refreshControls();
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
    exclusive(() => run(steps));
  };
  $('step').onclick = () => exclusive(() => run(1));
  $('pause').onclick = () => {
    training.paused = !training.paused;
    if (training.paused) { engine.pause(); saver?.(true); } else engine.resume(); // pausing saves
    $('pause').textContent = training.paused ? 'Resume' : 'Pause';
    status(training.paused ? 'Paused: the views show the current weights.' : 'Training…');
    if (training.paused) inspector.refresh(); else inspector.pause();
  };
  $('stop').onclick = () => engine.cancel();
  $('reset').onclick = () => exclusive(async () => {
    try {
      await apply();
      await engine.resetModel(state.seed);
      clearStats();
      saver?.(true);
      status(`Random weights from seed ${state.seed}: press Start to train from scratch.`);
    } catch (e) { status(`Could not reset: ${e.message}`, true); }
    await inspector.refresh();
  });
  $('pretrained').onclick = () => exclusive(async () => {
    try {
      const url = PRETRAINED[state.arch];
      if (!url) throw new Error(`no pretrained file is shipped for ${$('arch-name').textContent}; train it from scratch`);
      const res = await fetch(url);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      // as if just loaded: step 0, no optimizer moments from the run before
      await engine.restoreCheckpoint(new Uint8Array(await res.arrayBuffer()), 0);
      clearStats();
      saver?.(true);
      status('Pretrained weights loaded (98.55 % on the held-out digits).');
    } catch (e) { status(`Could not load the pretrained model: ${e.message}`, true); }
    await inspector.refresh();
  });
  window.addEventListener('keydown', (e) => { // Escape stops a run, from anywhere
    if (e.key === 'Escape' && training.running) engine.cancel();
  });
  const stats = ['step', 'loss', 'acc', 'heldout', 'ips'];
  return {
    clearStats,
    apply, // the settings to the engine (compare mode trains with them too)
    setPretrained: (has) => { $('pretrained').dataset.off = has ? '' : 'yes'; refreshControls(); },
    forget: () => { applied = null; }, // after a restart the worker has the defaults
    setSaver: (fn) => { saver = fn; },
    save: (force) => saver?.(force),
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

// a training setting from its input, checked by the same rules as the URL's
const settingValue = (k) => parseValue(k, $(k).value);

function settingError(k) {
  return k === 'opt' ? 'Choose SGD or Adam.' : `"${visible($(k).value)}" ${whatIs(k)}.`;
}

// Training: start / pause / stop / single step / from scratch / pretrained, the settings
// (their ranges and defaults are the engine's), live statistics and the loss and accuracy
// curves of the training batch, the held-out digits and the held-out part of the student's own
// images (page/mydata.js gives the batches' source and measures before and after a run).
import { $ } from '../dom.js';
import { Chart } from '../views/curves.js';
import { parseValue, whatIs, visible } from '../state.js';
import { state, update, status, training, exclusive, refreshControls, t } from './context.js';
import { PRETRAINED } from './arch.js';

const STATS = ['step', 'loss', 'acc', 'heldout', 'ips'];

/** Builds the training panel; returns what the other parts ask of it. */
export function setUpTraining(engine, inspector, settings) {
  const t = new Training(engine, inspector, settings);
  return {
    clearStats: () => t.clearStats(),
    apply: () => t.apply(), // the settings to the engine (compare mode trains with them too)
    setPretrained: (has) => { $('pretrained').dataset.off = has ? '' : 'yes'; refreshControls(); },
    forget: () => { t.applied = null; }, // after a restart the worker has the defaults
    setSaver: (fn) => { t.saver = fn; },
    setSource: (fn) => { t.source = fn; },     // the batches' source to the engine (page/mydata.js)
    setRunHooks: (h) => { t.hooks = h; },      // {before, after}: at a run's two ends
    save: (force) => t.saver?.(force),
    busy: () => training.running,
    snapshot: () => t.snapshot(),
    restore: (s) => t.restore(s),
  };
}

class Training {
  constructor(engine, inspector, settings) {
    Object.assign(this, { engine, inspector, settings });
    this.applied = null; // the settings the engine has
    this.saver = null;   // saves the session (setUpSession); throttled unless forced
    this.source = async () => {};
    this.hooks = { before: async () => {}, after: async () => {} };
    const series = [{ key: 'train', label: t('trainingBatch'), colour: '#2d6cdf' }, { key: 'heldout', label: t('heldOut'), colour: '#d9730d', dots: true },
      { key: 'mine', label: t('myHeldOut'), colour: '#1f9d55', dots: true }];
    this.loss = new Chart($('loss-curve'), { yLabel: t('loss'), xLabel: t('trainingStep'), yMax: 0.5, series });
    this.acc = new Chart($('acc-curve'), { yLabel: t('accuracy'), xLabel: t('trainingStep'), yMax: 1, fixed: true, percent: true, series });
    this.#settingInputs();
    this.#buttons();
    this.setRunning(false);
  }

  // settings from the URL into the inputs (ranges from the engine), and back on every change
  #settingInputs() {
    const { settings } = this;
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
  }

  #buttons() {
    const { engine, inspector } = this;
    $('start').onclick = () => {
      const steps = settingValue('steps');
      if (steps === undefined) { status(settingError('steps'), true); return; }
      exclusive(() => this.run(steps));
    };
    $('step').onclick = () => exclusive(() => this.run(1));
    $('pause').onclick = () => {
      training.paused = !training.paused;
      if (training.paused) { engine.pause(); this.saver?.(true); } else engine.resume(); // pausing saves
      $('pause').textContent = t(training.paused ? 'resume' : 'pause');
      status(t(training.paused ? 'pausedViews' : 'training'));
      if (training.paused) inspector.refresh(); else inspector.pause();
    };
    $('stop').onclick = () => engine.cancel();
    $('reset').onclick = () => exclusive(() => this.#replace(async () => {
      await this.apply();
      await engine.resetModel(state.seed);
      return t('randomFromSeed', state.seed);
    }, t('couldNotReset')));
    $('pretrained').onclick = () => exclusive(() => this.#replace(async () => {
      const url = PRETRAINED[state.arch];
      if (!url) throw new Error(t('noPretrained', $('arch-name').textContent));
      const res = await fetch(url);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      // as if just loaded: step 0, no optimizer moments from the run before
      await engine.restoreCheckpoint(new Uint8Array(await res.arrayBuffer()), 0);
      return t('pretrainedLoaded');
    }, t('couldNotLoadPretrained')));
    window.addEventListener('keydown', (e) => { // Escape stops a run, from anywhere
      if (e.key === 'Escape' && training.running) engine.cancel();
    });
  }

  // new weights (from scratch, pretrained): fresh statistics, saved, shown
  async #replace(fn, failure) {
    try {
      const said = await fn();
      this.clearStats();
      this.saver?.(true);
      status(said);
    } catch (e) { status(t('failedBecause', failure, e.message), true); }
    await this.inspector.refresh();
  }

  async apply() {
    const s = state;
    const opt = { ...this.settings[s.opt], lr: s.lr }; // the engine's hyper-parameters, the page's rate
    const key = JSON.stringify([opt, s.batch, s.seed]);
    if (key === this.applied) return;
    await this.engine.setOptimizer(opt);
    const before = this.applied && JSON.parse(this.applied);
    if (!before || before[1] !== s.batch || before[2] !== s.seed) await this.engine.setBatch(s.batch, s.seed);
    this.applied = key;
  }

  clearStats() {
    this.loss.clear();
    this.acc.clear();
    for (const k of STATS) $(`stat-${k}`).textContent = '–';
  }

  // Pause and Stop act between steps of a run, so they are enabled once the run has started
  setRunning(r, started = r) {
    training.running = r;
    training.paused = false;
    refreshControls();
    $('pause').disabled = !started;
    $('stop').disabled = !started;
    $('pause').textContent = t('pause');
  }

  show(p) {
    if (p.paused) return; // the pause notice repeats the last report
    this.saver?.();
    $('stat-step').textContent = p.step;
    $('stat-loss').textContent = p.loss.toFixed(4);
    $('stat-acc').textContent = `${(100 * p.accuracy).toFixed(1)} %`;
    if (p.imagesPerSec) $('stat-ips').textContent = Math.round(p.imagesPerSec);
    this.loss.add('train', p.step, p.loss);
    this.acc.add('train', p.step, p.accuracy);
    for (const key of ['heldout', 'mine']) {
      if (!p[key]) continue;
      this.loss.add(key, p.step, p[key].loss);
      this.acc.add(key, p.step, p[key].accuracy);
    }
    const held = p.heldout ?? p.mine; // (a task of one's own has no MNIST held-out digits)
    if (held) $('stat-heldout').textContent = `${(100 * held.accuracy).toFixed(1)} %`;
    this.loss.draw();
    this.acc.draw();
  }

  async run(steps) {
    this.setRunning(true, false);
    status(steps === 1 ? t('oneStep') : t('trainingN', steps));
    try {
      await this.apply();
      await this.source(); // (may refuse: a set with nothing to train on says why)
      if (steps > 1) await this.hooks.before(); // (a single step is not a run to compare)
      const evalEvery = steps === 1 ? 0 : Math.max(10, Math.round(steps / 10));
      const run = this.engine.train(steps, (p) => this.show(p), { evalEvery, evalLimit: 500 });
      this.setRunning(true, steps > 1);
      const last = await run;
      if (steps > 1) await this.hooks.after();
      status(last.cancelled ? t('stoppedAt', last.step) : t('stepDone', last.step, last.loss.toFixed(4)));
    } catch (e) {
      status(t('trainingStopped', e.message), true);
      if (e.kind === 'diverged') $('lr').focus();
    }
    this.setRunning(false);
    this.saver?.(true);
    await this.inspector.refresh();
  }

  snapshot() {
    return { curves: { loss: this.loss.toJSON(), acc: this.acc.toJSON() }, stats: Object.fromEntries(STATS.map((k) => [k, $(`stat-${k}`).textContent])) };
  }

  restore(s) {
    this.loss.load(s.curves?.loss);
    this.acc.load(s.curves?.acc);
    for (const k of STATS) $(`stat-${k}`).textContent = typeof s.stats?.[k] === 'string' ? s.stats[k].slice(0, 20) : '–';
    this.applied = null;
  }
}

// a training setting from its input, checked by the same rules as the URL's
const settingValue = (k) => parseValue(k, $(k).value);

function settingError(k) {
  return k === 'opt' ? t('chooseOptimizer') : `"${visible($(k).value)}" ${whatIs(k, t)}.`;
}

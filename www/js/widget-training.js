// The <resnet-playground> views that train: `train` (one model, from the widget's settings)
// and `compare` / `flow` (compare mode's panel). Both run on the widget's engine, shared with
// the page's other widgets, with the lesson's optimizer, learning rate, batch and seed (the
// attributes; else the engine's defaults) set before each run.
import { el } from './dom.js';
import { Chart } from './views/curves.js';
import { ComparePanel } from './views/compare.js';

/** The training settings the widget's attributes give, the engine's defaults for the rest. */
async function lesson(w) {
  const settings = await w.engine.run(null, (e) => e.settings());
  const d = settings.defaults, v = w.values;
  const opt = v.opt ?? d.opt;
  return { optimizer: { ...settings[opt], lr: v.lr ?? d.lr }, opt, lr: v.lr ?? d.lr, batch: v.batch ?? d.batch, seed: v.seed ?? d.seed };
}

/** Sets the lesson's optimizer and batch on engine `e` (the batch order restarts from the seed
 *  only when batch or seed changed). */
async function apply(w, e, l) {
  await e.setOptimizer(l.optimizer);
  const key = `${l.batch},${l.seed}`;
  if (w.engine.batchKey !== key) {
    await e.setBatch(l.batch, l.seed);
    w.engine.batchKey = key;
  }
}

/** The train view: Train N steps, Stop, From scratch, the loss curve, `step` events. */
export async function trainView(w, box) {
  const l = await lesson(w), t = w.t;
  const steps = w.steps ?? 50;
  const controls = box.appendChild(el('div', 'controls'));
  const part = (node, name) => { node.dataset.part = name; return node; };
  const start = controls.appendChild(part(el('button', '', t('trainSteps', steps)), 'start'));
  const stop = controls.appendChild(part(el('button', 'secondary', t('stop')), 'stop'));
  const reset = controls.appendChild(part(el('button', 'secondary', t('fromScratch')), 'reset'));
  for (const b of [start, stop, reset]) b.type = 'button';
  stop.disabled = true;
  const stat = controls.appendChild(part(el('span', 'rp-stat'), 'stats'));
  stat.setAttribute('aria-live', 'polite');
  const settings = box.appendChild(part(el('p', 'hint small rp-settings', t('lessonSettings', t('optimizerName', l.opt), l.lr, l.batch, l.seed)), 'stats'));
  const canvas = box.appendChild(part(el('canvas', 'rp-curve'), 'curve'));
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', t('lossCurveLabel'));
  const chart = new Chart(canvas, { yLabel: t('loss'), xLabel: t('trainingStep'), yMax: 0.5, series: [{ key: 'train', label: t('trainingBatch'), colour: '#2d6cdf' }] });
  const client = await w.engine.client;
  reset.onclick = async () => {
    await w.engine.run(null, (e) => e.resetModel(l.seed));
    w.fresh();
    chart.clear();
    stat.textContent = t('randomWeights');
  };
  stop.onclick = () => client.cancel();
  start.onclick = async () => {
    start.disabled = reset.disabled = true;
    stop.disabled = false;
    try {
      const last = await w.engine.run(null, async (e) => {
        await apply(w, e, l);
        return client.train(steps, (p) => {
          if (p.paused) return;
          chart.add('train', p.step, p.loss);
          chart.draw();
          stat.textContent = t('stepLoss', p.step, p.loss.toFixed(3));
          w.emit('step', { step: p.step, loss: p.loss, accuracy: p.accuracy });
        });
      });
      stat.textContent = t('stepLoss', last.step, last.loss.toFixed(3));
    } catch (e) { settings.textContent = t('trainingStopped', e.message); }
    w.fresh(); // the weights changed: every widget passes again
    start.disabled = reset.disabled = false;
    stop.disabled = true;
  };
}

// compare mode's panel (views/compare.js) on the shared engine: the engine keeps one
// comparison, so a widget whose comparison another widget has replaced starts its own again
export async function comparePanel(w, box, parts) {
  const client = await w.engine.client;
  const queued = (fn) => w.engine.run(null, fn);
  const l = await lesson(w);
  const members = w.values.compare?.split(',');
  const panel = new ComparePanel(box.appendChild(el('div', 'rp-compare')), {
    parts,
    t: w.t,
    initial: { members, steps: w.steps },
    api: {
      lessons: () => queued((e) => e.compareLessons()),
      family: () => queued((e) => e.family()),
      start: (ids) => queued(async (e) => {
        await apply(w, e, l); // (the members train with the engine's optimizer and batch)
        w.engine.comparer = panel;
        return e.compareStart(ids, l.seed);
      }),
      owns: () => w.engine.comparer === panel,
      run: (steps, onProgress, opts) => queued((e) => e.compare(steps, onProgress, opts)),
      state: () => client.compareState(), // (answered between steps, not after the run)
      fork: (step) => queued((e) => e.compareFork(step)),
      pause: () => client.pause(),
      resume: () => client.resume(),
      cancel: () => client.cancel(),
    },
    onstep: (p) => w.emit('step', { step: p.step, models: p.members.map((m, i) => ({ id: panel.state.members[i].id, label: panel.state.members[i].label, loss: m.loss, accuracy: m.accuracy })) }),
  });
  await panel.init();
  panel.onpick = (ids) => w.pointAt(null, null, ids.join(','));
  panel.onpick(panel.chosen());
}

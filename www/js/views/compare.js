// Compare mode's view, for the page and the widget alike: two or three models trained side by
// side from one seed on the same batches (the engine's resnet_engine::compare), their loss and
// accuracy curves with a legend that gives each one's images/s, the gradient flow
// (views/flow-panel.js) and a rewind slider over the snapshots.
// Every number it shows comes from the engine's records; nothing is computed here but the
// drawing.
//
//   new ComparePanel(root, { api, parts, initial, onstep })
//     api: { lessons(), family(), start(ids), run(steps, onProgress, opts), state(), fork(step),
//            pause(), resume(), cancel(), show?(i, step), owns?() }   (the page's or the widget's
//            engine; `owns`: whether the engine's comparison is still this panel's)
//     parts: { flow: bool, rewind: bool }; initial: { members: ['plain20', 'resnet20'], steps }
//     wrap(fn): runs an operation (training, forking): the page's one-at-a-time guard; while
//     any operation of the page runs (this panel's too) it calls `block(true)`, which
//     disables the panel's buttons that would start one (and `block(false)` after)
import { el } from '../dom.js';
import { Chart } from './curves.js';
import { FlowPanel, COLOURS, labelled } from './flow-panel.js';
import { english } from '../i18n.js';

const button = (text, cls = '') => Object.assign(el('button', cls, text), { type: 'button' });

export class ComparePanel {
  constructor(root, { api, parts = { flow: true, rewind: true }, initial = {}, onstep = null, wrap = (fn) => fn(), t = english }) {
    Object.assign(this, { root, api, parts, onstep, wrap, t });
    this.state = null;        // the engine's compareState
    this.running = false;
    this.blocked = false;     // an operation of the page is under way (`block`)
    this.setup = null;        // the member ids the engine's comparison has
    this.at = null;           // the rewind slider's step (null: the latest)
    this.initial = initial;
  }

  async init() {
    const [{ lessons, maxMembers }, fam] = await Promise.all([this.api.lessons(), this.api.family()]);
    this.lessons = lessons;
    const r = this.root, t = this.t;
    const part = (node, name) => { node.dataset.part = name; return node; }; // (what an author may hide)
    const settings = r.appendChild(part(el('div', 'controls settings'), 'settings'));
    this.lesson = el('select', 'cmp-lesson');
    this.lesson.append(...lessons.map((l) => new Option(t('lessonLabel', l.id, l.label), l.id)), new Option(t('yourChoiceLesson'), ''));
    settings.append(labelled(t('lesson'), this.lesson));
    const options = fam.presets.map((p) => [p.id, t('netLabel', p.label)]);
    const ids = this.initial.members ?? lessons[0].members;
    for (const id of ids) if (!options.some((o) => o[0] === id)) options.push([id, id]); // (a link's own member)
    const dropped = ids.length > maxMembers ? t('tooManyModels', ids.length, maxMembers) : '';
    this.pickers = Array.from({ length: maxMembers }, (_, i) => {
      const s = el('select', 'cmp-member');
      if (i >= 2) s.append(new Option('—', ''));
      s.append(...options.map(([id, label]) => new Option(label, id)));
      s.value = ids[i] ?? '';
      s.onchange = () => this.#picked();
      settings.append(labelled(t('modelN', i + 1), s));
      return s;
    });
    this.steps = Object.assign(el('input', 'cmp-steps'), { type: 'number', min: 1, step: 1, value: String(this.initial.steps ?? lessons[0].steps) });
    settings.append(labelled(t('steps'), this.steps));
    this.lesson.onchange = () => {
      const l = lessons.find((x) => x.id === this.lesson.value);
      if (!l) return;
      this.pickers.forEach((p, i) => { p.value = l.members[i] ?? ''; });
      this.steps.value = String(l.steps);
      this.#picked();
    };
    const buttons = r.appendChild(part(el('div', 'controls'), 'buttons'));
    this.startBtn = buttons.appendChild(button(t('start'), 'cmp-start'));
    this.pauseBtn = buttons.appendChild(button(t('pause'), 'cmp-pause'));
    this.stopBtn = buttons.appendChild(button(t('stop'), 'cmp-stop'));
    this.stepBtn = buttons.appendChild(button(t('singleStep'), 'secondary cmp-step'));
    // (`wrap`: the page runs one operation at a time, a comparison included)
    this.startBtn.onclick = () => this.wrap(() => this.train(Number(this.steps.value)));
    this.stepBtn.onclick = () => this.wrap(() => this.train(1));
    this.pauseBtn.onclick = () => {
      this.paused = !this.paused;
      if (this.paused) this.api.pause(); else this.api.resume();
      this.pauseBtn.textContent = t(this.paused ? 'resume' : 'pause');
      this.say(t(this.paused ? 'cmpPaused' : 'cmpTraining'));
    };
    this.stopBtn.onclick = () => this.api.cancel();
    this.note = r.appendChild(el('p', 'hint small cmp-status'));
    this.note.setAttribute('role', 'status');
    this.note.setAttribute('aria-live', 'polite');
    this.legend = r.appendChild(part(el('ul', 'cmp-legend'), 'legend'));
    const charts = r.appendChild(part(el('div', 'charts'), 'curves'));
    const canvas = (cls, label) => { const c = charts.appendChild(el('canvas', cls)); c.setAttribute('role', 'img'); c.setAttribute('aria-label', label); return c; };
    this.loss = new Chart(canvas('cmp-loss', t('cmpLossLabel')), { yLabel: t('loss'), xLabel: t('trainingStep'), yMax: 0.5, series: [], linesScale: true });
    this.acc = new Chart(canvas('cmp-acc', t('cmpAccLabel')), { yLabel: t('accuracy'), xLabel: t('trainingStep'), yMax: 1, fixed: true, percent: true, series: [] });
    r.append(part(el('p', 'hint small', t('cmpCurvesHint')), 'curves'));
    if (this.parts.flow) this.flow = new FlowPanel(r, t);
    if (this.parts.rewind) this.#buildRewind();
    this.#controls();
    this.#picked();
    if (dropped) this.say(dropped, true);
    this.ready = true;
    return this;
  }

  say(text, error = false) {
    this.note.textContent = text;
    this.note.classList.toggle('error', error);
  }

  /** The member ids chosen (first to last, without the empty ones). */
  chosen() { return this.pickers.map((p) => p.value).filter(Boolean); }

  #picked() {
    const ids = this.chosen();
    this.lesson.value = this.lessons.find((l) => l.members.join() === ids.join())?.id ?? '';
    if (this.ready) this.onpick?.(ids);
    if (this.setup && this.setup.join() !== ids.join()) this.say(this.t('cmpNewComparison'));
  }

  #buildRewind() {
    const r = this.root, t = this.t;
    r.append(el('h3', '', t('rewind')));
    r.append(el('p', 'hint small', t('rewindHint')));
    const c = r.appendChild(el('div', 'controls'));
    this.slider = Object.assign(el('input', 'rewind'), { type: 'range', min: 0, max: 0, step: 1, value: 0, disabled: true });
    this.slider.setAttribute('aria-label', t('snapshotLabel'));
    this.sliderOut = el('output', 'rewind-at', '–');
    c.append(labelled(t('snapshot'), this.slider), this.sliderOut);
    this.showBtn = this.api.show ? c.appendChild(button(t('showInViews'), 'secondary rewind-show')) : null;
    this.forkBtn = c.appendChild(button(t('continueHere'), 'secondary rewind-fork'));
    this.slider.oninput = () => this.#rewound();
    // (the button is disabled while its fork runs: a keyboard user's focus comes back to it)
    this.forkBtn.onclick = () => this.wrap(() => this.fork()).finally(() => {
      const at = this.forkBtn.getRootNode().activeElement;
      if (!at || at === document.body) this.forkBtn.focus();
    });
    if (this.showBtn) this.showBtn.onclick = () => this.#show();
  }

  /** While the page runs an operation (`b`; this panel's own included), the buttons that
   *  would start one are disabled (a click would only be refused). */
  block(b) {
    this.blocked = b;
    if (this.startBtn) this.#controls();
  }

  #controls() {
    const has = !!this.state, busy = this.running || this.blocked;
    this.startBtn.disabled = this.stepBtn.disabled = busy;
    this.pauseBtn.disabled = this.stopBtn.disabled = !this.running;
    if (!this.running) { this.paused = false; this.pauseBtn.textContent = this.t('pause'); }
    for (const p of this.pickers) p.disabled = this.running;
    this.lesson.disabled = this.running;
    if (this.slider) {
      this.slider.disabled = this.running || !has;
      this.forkBtn.disabled = busy || !has;
      if (this.showBtn) this.showBtn.disabled = busy || !has;
    }
  }

  /** Trains `steps` steps (a new comparison first if the models changed). */
  async train(steps) {
    if (this.running) return;
    const t = this.t;
    if (!Number.isInteger(steps) || steps < 1) { this.say(t('stepsWhole'), true); return; }
    const ids = this.chosen();
    this.running = true;
    this.#controls();
    try {
      if (!this.setup || this.setup.join() !== ids.join() || !(this.api.owns?.() ?? true)) {
        this.say(t('buildingModels', ids.length));
        this.state = await this.api.start(ids);
        this.setup = ids;
        this.#newSeries();
      }
      this.at = null;
      this.say(steps === 1 ? t('oneStepEach') : t('trainingEach', steps));
      let lastFlow = performance.now();
      const evalEvery = steps === 1 ? 0 : Math.max(10, Math.round(steps / 10));
      const last = await this.api.run(steps, (p) => {
        if (p.paused) return;
        this.#progress(p);
        if (performance.now() - lastFlow > 2000) { lastFlow = performance.now(); this.refresh().catch(() => {}); }
      }, { evalEvery, evalLimit: 500 });
      await this.refresh();
      const stopped = this.state.members.filter((m) => m.stopped).map((m) => m.stopped);
      this.say(`${t('cmpDone', last.cancelled, this.state.step)} ${stopped.join(' ')}`.trim(), stopped.length > 0);
    } catch (e) {
      this.say(t('cmpStopped', e.message), true);
      await this.refresh().catch(() => {});
    } finally {
      this.running = false;
      this.#controls();
    }
  }

  #newSeries() {
    const ms = this.state.members;
    const series = ms.flatMap((m, i) => [{ key: `m${i}`, label: '', colour: COLOURS[i] }, { key: `h${i}`, label: '', colour: COLOURS[i], dots: true }]);
    this.loss.setSeries(series);
    this.acc.setSeries(series);
    this.flow?.setMembers(ms);
    this.#legend();
  }

  #legend(report = null) {
    const ms = this.state?.members ?? [];
    this.legend.replaceChildren(...ms.map((m, i) => {
      const li = el('li');
      const sw = li.appendChild(el('span', 'swatch'));
      sw.style.background = COLOURS[i];
      const r = report?.members[i];
      const ips = r?.imagesPerSec ?? m.imagesPerSec;
      const last = m.curve.at(-1), held = m.heldout.at(-1);
      const loss = r?.loss ?? last?.loss;
      const t = this.t;
      li.append(el('b', '', t('netLabel', m.label)), ` · ${ips ? t('imagesPerSecN', Math.round(ips)) : t('notTrainedYet')}`);
      if (loss !== undefined && loss !== null) li.append(` · ${t('lossIs', loss.toFixed(3))}`);
      if (held) li.append(` · ${t('heldOutIs', (100 * held.accuracy).toFixed(1))}`);
      if (m.stopped) li.append(el('span', 'error', ` · ${t('stopped')}`));
      return li;
    }));
  }

  #progress(p) {
    p.members.forEach((m, i) => {
      if (m.loss == null) return;
      this.loss.add(`m${i}`, p.step, m.loss);
      this.acc.add(`m${i}`, p.step, m.accuracy);
    });
    (p.heldout ?? []).forEach((h, i) => {
      if (!h) return;
      this.loss.add(`h${i}`, h.step, h.loss);
      this.acc.add(`h${i}`, h.step, h.accuracy);
      this.state.members[i].heldout.push(h);
    });
    this.loss.draw();
    this.acc.draw();
    for (const [i, m] of p.members.entries()) if (m.loss != null) this.state.members[i].curve.push({ step: p.step, loss: m.loss, accuracy: m.accuracy });
    this.#legend(p);
    this.onstep?.(p);
  }

  /** Reads the engine's records and redraws everything from them. */
  async refresh() {
    this.state = await this.api.state();
    if (!this.state) return;
    const ms = this.state.members;
    if (this.loss.series.length !== 2 * ms.length) this.#newSeries();
    this.loss.load(Object.fromEntries(ms.flatMap((m, i) => [[`m${i}`, m.curve.map((p) => [p.step, p.loss])], [`h${i}`, m.heldout.map((p) => [p.step, p.loss])]])));
    this.acc.load(Object.fromEntries(ms.flatMap((m, i) => [[`m${i}`, m.curve.map((p) => [p.step, p.accuracy])], [`h${i}`, m.heldout.map((p) => [p.step, p.accuracy])]])));
    this.#legend();
    if (this.slider) {
      const snaps = this.state.snapshots;
      this.slider.max = String(snaps.length - 1);
      const k = this.at === null ? snaps.length - 1 : Math.max(0, snaps.findIndex((s) => s >= this.at));
      this.slider.value = String(k);
      this.sliderOut.textContent = this.t('stepAt', snaps[k]);
    }
    this.drawFlow();
  }

  drawFlow() { if (this.state) this.flow?.draw(this.state, this.at); }

  #rewound() {
    const snaps = this.state?.snapshots ?? [];
    const k = Number(this.slider.value);
    this.at = k >= snaps.length - 1 ? null : snaps[k];
    this.sliderOut.textContent = this.t('stepAt', snaps[k]);
    this.drawFlow();
  }

  /** The slider's step (the latest snapshot when it is at the end). */
  rewindStep() {
    const snaps = this.state?.snapshots ?? [];
    return snaps[Number(this.slider.value)] ?? 0;
  }

  async fork() {
    const step = this.rewindStep();
    try {
      this.state = await this.api.fork(step);
      this.at = null;
      await this.refresh();
      this.say(this.t('continues', step));
    } catch (e) { this.say(this.t('couldNotContinue', step, e.message), true); }
  }

  async #show() {
    const i = this.flow?.member() ?? 0, step = this.rewindStep();
    try {
      await this.api.show(i, step, this.t('netLabel', this.state.members[i].label));
    } catch (e) { this.say(this.t('couldNotShow', e.message), true); }
  }

  /** After an engine restart: the comparison is gone. */
  forget(reason) {
    this.state = null;
    this.setup = null;
    this.loss.setSeries([]);
    this.acc.setSeries([]);
    this.legend.replaceChildren();
    this.flow?.clear();
    this.#controls();
    if (reason) this.say(reason, true);
  }
}

// Compare mode's gradient flow section: for the chosen model, a layers × steps map of
// ‖∂C/∂w‖, ‖w‖, ‖Δw‖/‖w‖ or ‖δ‖, the "now" profile by depth of every model, and how each
// residual block's δ splits between shortcut and main branch. Drawn from the engine's records
// (compareState), at the rewind slider's step; nothing is computed here but the drawing.
import { el } from '../dom.js';
import { FlowMap, Profile, num } from './flow.js';
import { english } from '../i18n.js';

export const COLOURS = ['#2d6cdf', '#d9730d', '#2a9d5b'];
const METRICS = ['grad', 'update', 'delta', 'weight'];
const SYMBOL = { grad: '‖∂C/∂w‖', update: '‖Δw‖/‖w‖', delta: '‖δ‖', weight: '‖w‖' };

export const labelled = (text, control) => { const l = el('label', '', `${text} `); l.append(control); return l; };

export class FlowPanel {
  /** Builds the section at the end of `root`. */
  constructor(root, t = english) {
    this.t = t;
    this.state = null;
    this.at = null;
    const r = root.appendChild(el('div', 'flow-panel'));
    r.dataset.part = 'flow';
    r.append(el('h3', '', t('gradientFlow')));
    r.append(el('p', 'hint small', t('flowHint')));
    const c = r.appendChild(el('div', 'controls settings'));
    this.metric = el('select', 'flow-metric');
    this.metric.append(...METRICS.map((k) => new Option(t('metric', k), k)));
    this.memberSelect = el('select', 'flow-member');
    c.append(labelled(t('show'), this.metric), labelled(t('model'), this.memberSelect));
    this.metric.onchange = this.memberSelect.onchange = () => this.state && this.draw(this.state, this.at);
    const fig = (cls, label) => { const cv = r.appendChild(el('canvas', cls)); cv.setAttribute('role', 'img'); cv.setAttribute('aria-label', label); return cv; };
    this.map = new FlowMap(fig('flow-map', t('flowMapLabel')), { onpick: (p) => this.#readLayer(p), t });
    this.readout = r.appendChild(el('p', 'hint small flow-readout', t('flowReadoutHint')));
    this.readout.setAttribute('aria-live', 'polite');
    this.profile = new Profile(fig('flow-profile', t('profileLabel')), t);
    r.append(el('h4', '', t('blocksTitle')));
    r.append(el('p', 'hint small', t('blocksHint')));
    this.split = new FlowMap(fig('flow-split', t('splitLabel')), { log: false, onpick: (p) => this.#readBlock(p), t });
    this.splitNote = r.appendChild(el('p', 'hint small flow-split-readout'));
    this.splitNote.setAttribute('aria-live', 'polite');
  }

  /** The models to choose from (the last chosen). */
  setMembers(ms) {
    this.memberSelect.replaceChildren(...ms.map((m, i) => new Option(this.t('netLabel', m.label), String(i))));
    this.memberSelect.value = String(ms.length - 1);
  }

  /** The chosen model's index. */
  member() { return Number(this.memberSelect.value); }

  /** Draws the engine's records `state` at step `at` (null: the latest). */
  draw(state, at) {
    Object.assign(this, { state, at });
    const key = this.metric.value, ms = state.members;
    const m = ms[this.member()] ?? ms[0];
    this.map.set({ rows: m.layers, steps: m.flow.steps, values: m.flow[key] });
    this.map.mark(at);
    this.profile.set(ms.map((x, i) => {
      const k = this.#recordAt(x), n = x.layers.length;
      return { label: this.t('netLabel', x.label), colour: COLOURS[i], values: k < 0 ? [] : x.flow[key].slice(k * n, (k + 1) * n) };
    }), SYMBOL[key]);
    const share = [];
    const b = m.blocks.length;
    for (let r = 0; r < m.flow.steps.length; r++) {
      for (let j = 0; j < b; j++) {
        const main = m.flow.main[r * b + j], sc = m.flow.shortcut[r * b + j];
        share.push(main + sc > 0 ? sc / (main + sc) : NaN);
      }
    }
    this.split.set({ rows: m.blocks, steps: b ? m.flow.steps : [], values: share, range: [0, 1] });
    this.split.mark(at);
    this.splitNote.textContent = b ? this.t('splitHover') : this.t('noShortcuts', this.t('netLabel', m.label));
  }

  /** After the comparison is gone. */
  clear() {
    this.state = null;
    this.map.set({ rows: [], steps: [], values: [] });
    this.split.set({ rows: [], steps: [], values: [] });
    this.profile.set([], '');
  }

  /** The record of member `m` at the slider's step (the last at or before it), by index. */
  #recordAt(m) {
    const steps = m.flow.steps;
    if (!steps.length) return -1;
    if (this.at === null) return steps.length - 1;
    let k = 0;
    while (k + 1 < steps.length && steps[k + 1] <= this.at) k++;
    return k;
  }

  #readLayer({ row, step, rowIndex, col }) {
    const m = this.state.members[this.member()];
    const n = m.layers.length, at = (k) => m.flow[k][col * n + rowIndex];
    this.readout.textContent = this.t('layerReadout', this.t('netLabel', m.label), row, step, num(at('grad')), num(at('weight')), num(at('update')), num(at('delta')));
  }

  #readBlock({ row, step, rowIndex, col }) {
    const m = this.state.members[this.member()];
    const b = m.blocks.length, at = (k) => m.flow[k][col * b + rowIndex];
    const share = at('shortcut') / (at('shortcut') + at('main'));
    this.splitNote.textContent = this.t('blockReadout', this.t('netLabel', m.label), row, step, num(at('main')), num(at('shortcut')), num(at('total')), (100 * share).toFixed(0));
  }
}

// Compare mode's gradient flow section: for the chosen model, a layers × steps map of
// ‖∂C/∂w‖, ‖w‖, ‖Δw‖/‖w‖ or ‖δ‖, the "now" profile by depth of every model, and how each
// residual block's δ splits between shortcut and main branch. Drawn from the engine's records
// (compareState), at the rewind slider's step; nothing is computed here but the drawing.
import { el } from '../dom.js';
import { FlowMap, Profile, num } from './flow.js';

export const COLOURS = ['#2d6cdf', '#d9730d', '#2a9d5b'];
const METRICS = [
  { key: 'grad', label: '‖∂C/∂w‖ (weight gradient)' },
  { key: 'update', label: '‖Δw‖ / ‖w‖ (update ratio)' },
  { key: 'delta', label: '‖δ‖ at the layer’s output' },
  { key: 'weight', label: '‖w‖ (weights)' },
];
const SYMBOL = { grad: '‖∂C/∂w‖', update: '‖Δw‖/‖w‖', delta: '‖δ‖', weight: '‖w‖' };

export const labelled = (text, control) => { const l = el('label', '', `${text} `); l.append(control); return l; };

export class FlowPanel {
  /** Builds the section at the end of `root`. */
  constructor(root) {
    this.state = null;
    this.at = null;
    const r = root.appendChild(el('div', 'flow-panel'));
    r.dataset.part = 'flow';
    r.append(el('h3', '', 'Gradient flow'));
    r.append(el('p', 'hint small', 'For every layer with weights, recorded every few steps of the comparison. Hover a cell (or focus the map with Tab and use the arrow keys) for its numbers.'));
    const c = r.appendChild(el('div', 'controls settings'));
    this.metric = el('select', 'flow-metric');
    this.metric.append(...METRICS.map((m) => new Option(m.label, m.key)));
    this.memberSelect = el('select', 'flow-member');
    c.append(labelled('Show', this.metric), labelled('Model', this.memberSelect));
    this.metric.onchange = this.memberSelect.onchange = () => this.state && this.draw(this.state, this.at);
    const fig = (cls, label) => { const cv = r.appendChild(el('canvas', cls)); cv.setAttribute('role', 'img'); cv.setAttribute('aria-label', label); return cv; };
    this.map = new FlowMap(fig('flow-map', 'gradient flow: layers by training step, colour on a log scale'), { onpick: (p) => this.#readLayer(p) });
    this.readout = r.appendChild(el('p', 'hint small flow-readout', 'Hover the map for the numbers of one layer at one step.'));
    this.readout.setAttribute('aria-live', 'polite');
    this.profile = new Profile(fig('flow-profile', 'the same quantity by depth at the chosen step, one line per model'));
    r.append(el('h4', '', 'Residual blocks: where δ goes back'));
    r.append(el('p', 'hint small', 'At a block’s input, δ is the sum of two parts: through the shortcut and through the main branch (the formula pane’s two terms). The colour is the shortcut’s share, ‖shortcut part‖ / (‖shortcut part‖ + ‖main part‖).'));
    this.split = new FlowMap(fig('flow-split', 'the shortcut share of δ at each residual block’s input, by training step'), { log: false, onpick: (p) => this.#readBlock(p) });
    this.splitNote = r.appendChild(el('p', 'hint small flow-split-readout'));
    this.splitNote.setAttribute('aria-live', 'polite');
  }

  /** The models to choose from (the last chosen). */
  setMembers(ms) {
    this.memberSelect.replaceChildren(...ms.map((m, i) => new Option(m.label, String(i))));
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
      return { label: x.label, colour: COLOURS[i], values: k < 0 ? [] : x.flow[key].slice(k * n, (k + 1) * n) };
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
    this.splitNote.textContent = b ? 'Hover a block for its two parts.' : `${m.label} has no shortcuts: all of δ goes back through the main branch.`;
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
    this.readout.textContent = `${m.label}, ${row} after step ${step}: ‖∂C/∂w‖ = ${num(at('grad'))}, ‖w‖ = ${num(at('weight'))}, ‖Δw‖/‖w‖ = ${num(at('update'))}, ‖δ‖ = ${num(at('delta'))}`;
  }

  #readBlock({ row, step, rowIndex, col }) {
    const m = this.state.members[this.member()];
    const b = m.blocks.length, at = (k) => m.flow[k][col * b + rowIndex];
    const share = at('shortcut') / (at('shortcut') + at('main'));
    this.splitNote.textContent = `${m.label}, block ${row} at step ${step}: ‖main part‖ = ${num(at('main'))}, ‖shortcut part‖ = ${num(at('shortcut'))}, ‖δ at the input‖ = ${num(at('total'))}; the shortcut's share ${(100 * share).toFixed(0)} %`;
  }
}

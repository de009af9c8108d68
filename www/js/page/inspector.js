// Look inside: the selected layer's activations and δ (for a conv also δ at its input, its
// kernels and ∂C/∂w), the class probabilities, the network strip and the layer list; the
// hovered cell goes to the formula pane. One engine call (`engine.inspect`) runs the input
// forward, back-propagates from the target class and returns everything these views draw.
import { $ } from '../dom.js';
import { HeatmapGrid } from '../views/heatmaps.js';
import { WeightView } from '../views/weights.js';
import { FormulaPane } from '../views/formula.js';
import { ProbBars } from '../views/probs.js';
import { NetworkStrip } from '../views/network.js';
import { state, update, status, training, notices, task, t } from './context.js';
import { describe, notADigit } from './notes.js';
import { setUpInput } from './input.js';
import { setUpExport } from './export.js';

/** Builds the inspector; resolves once the first view is drawn. */
export async function setUpInspector(engine) {
  const ins = new Inspector(engine);
  await ins.loadModel(true);
  await ins.refresh();
  if (notices.length) status(t('ignoredFromLink', notices.join('; ')), true);
  return {
    refresh: () => ins.refresh(),
    pause: () => ins.pane.message(t('paused')),
    // after the engine's model changed shape (another network, a file of another member)
    rebuild: async () => { ins.current = null; await ins.loadModel(); await ins.refresh(); },
    /** The input as the network sees it, 8-bit (28×28; what "Add to my set" keeps), or null. */
    currentPixels: () => ins.current?.pixels.slice() ?? null,
    /** The class the network predicts for the input shown. */
    predicted: () => ins.current?.pred,
  };
}

class Inspector {
  constructor(engine) {
    this.engine = engine;
    // the model's shape, asked of the engine (and asked again when the network changes)
    this.graph = { modules: [], blocks: [], focus: null };
    this.sites = [];
    this.layers = [];
    this.strip = null;
    this.custom = null;   // the user's image (Uint8Array(784)) when it is the input
    this.current = null;  // what the views show: {label, pred, target}
    this.cellFromUrl = !!state.cell;
    this.pane = new FormulaPane($('formula'), { engine, canQuery: () => !training.running || training.paused, summary: $('formula-summary'), t });
    const onCell = (grid) => (cell) => { update({ cell: { grid, idx: grid === 'weights' ? [cell.o, cell.i, cell.a, cell.b] : [cell.c, cell.x, cell.y] } }); this.explain(); };
    this.grids = {
      acts: new HeatmapGrid($('acts'), { kind: 'sequential', label: t('activations'), onCell: onCell('acts'), t }),
      deltas: new HeatmapGrid($('deltas'), { kind: 'diverging', label: t('errors'), onCell: onCell('deltas'), t }),
      input: new HeatmapGrid($('input-deltas'), { kind: 'diverging', label: t('deltaAtInput'), onCell: onCell('input'), t }),
    };
    this.weights = new WeightView($('weights'), { onCell: onCell('weights'), t });
    this.probs = new ProbBars($('probs'), { onpick: (j) => { update({ target: j }); this.refresh(); }, t });
    this.exports = setUpExport(engine);
    // Everything that reads the tape runs one at a time, in order (a fast ◀▶ or ←→ would
    // otherwise interleave two passes and mix their tensors in the views).
    this.queue = Promise.resolve();
    $('layer').onchange = () => this.select($('layer').value);
    setUpInput({
      digit: (d) => {
        this.custom = null;
        update({ digit: d, target: null });
        // (a "Showing your drawing…" line would now be stale)
        if ($('status').dataset.showing) status(t('showingDigit', d), false, { showing: true });
        this.refresh();
      },
      image: async (pixels, what) => {
        this.custom = pixels;
        update({ target: null });
        status(t('showingImage', what), false, { showing: true });
        await this.refresh();
      },
    });
  }

  site(m) { return this.sites.find((s) => s.name === m); }
  module(m) { return this.graph.modules.find((x) => x.name === m); }
  isLayer(n) { return this.layers.some((l) => l.name === n); }
  /** A cell of module m's tensors: [n, c, x, y], or [n, k] for a vector (drawn as one row). */
  index(m, [n, c, x, y]) { return this.module(m).shape.length === 1 ? [n, y] : [n, c, x, y]; }

  /** The formula of the current cell, by the grid it is in and the module's kind. */
  explain() {
    const cell = state.cell;
    if (!cell || !this.current) return;
    const { pane } = this, m = state.layer, site = this.site(m), kind = this.module(m)?.kind;
    const [c, x, y] = cell.idx;
    const n = 0;
    if (cell.grid === 'weights') {
      const [o, i, a, b] = cell.idx;
      if (site) pane.explain({ kind: 'conv_weight_grad', conv: m, o, i, a, b }, { site, caption: t('capWeightGrad') });
      else if (kind === 'fc') pane.explain({ kind: 'fc_weight_grad', j: o, k: i }, { caption: t('capFcWeightGrad') });
    } else if (cell.grid === 'input') {
      pane.explain({ kind: 'conv_input_delta', conv: m, n, i: c, x, y }, { site, caption: t('inputDeltaCaption', m) });
    } else if (cell.grid === 'acts') {
      if (site) pane.explain({ kind: 'conv_forward', conv: m, n, o: c, x, y }, { site, caption: t('capConvForward') });
      else if (kind === 'shortcut') pane.explain({ kind: 'shortcut_forward', module: m, n, c, x, y }, { caption: t('capShortcutForward') });
      else if (kind === 'fc') pane.explain({ kind: 'fc_forward', n, j: y }, { caption: t('capFcForward') });
      else pane.explainCell(`act.${m}`, this.index(m, [n, c, x, y]), this.module(m));
    } else {
      // δ of module m: the conv reading it through a ReLU, the fork into a block, BN, the pool
      const z = this.sites.find((s) => s.z === m && !s.side), blk = this.graph.blocks.find((b) => b.input === m)?.name;
      if (site?.bn) pane.explain({ kind: 'bn_input_delta', bn: site.bn, n, c, x, y }, { caption: t('capBnDelta', site.bn) });
      else if (z) pane.explain({ kind: 'conv_input_delta', conv: z.name, n, i: c, x, y }, { site: z, caption: t('inputDeltaCaption', z.name) });
      else if (blk) pane.explain({ kind: 'residual_fork', block: blk, n, c, x, y }, { caption: t('capFork', blk) });
      else if (kind === 'pool') pane.explain({ kind: 'fc_input_delta', n, k: y }, { caption: t('capFcDelta') });
      else pane.explainCell(`delta.${m}`, this.index(m, [n, c, x, y]), this.module(m));
    }
  }

  /** One pass, one engine call: the input forward in eval mode, δ from the target class, the
   *  layer's tensors; then the views and the formula of the cell. Passes run in order. */
  refresh() {
    const run = async () => {
      if (training.running && !training.paused) { status(t('viewsWhenStopped')); return; }
      this.pane.invalidate();
      try {
        const input = this.custom ? { pixels: this.custom.slice() } : { heldOut: state.digit };
        const v = await this.engine.inspect({ ...input, target: state.target, layer: state.layer });
        this.current = { label: v.label, pred: v.pred, target: v.target, pixels: v.pixels };
        this.show(v);
        // (how many inputs have been shown: a test waits for its drawing's pass by it)
        $('prediction').dataset.seq = String(Number($('prediction').dataset.seq ?? 0) + 1);
        this.explain();
      } catch (e) {
        status(t('couldNotShowLayer', e.message), true);
      }
    };
    this.queue = this.queue.then(run, run);
    return this.queue;
  }

  /** Draws one `engine.inspect` answer. */
  show(v) {
    // (the task's names when the model is the task's; a compared model shown here is MNIST's)
    const p = Array.from(v.probs), { label, pred, target } = v, ofTask = p.length === task.names.length;
    const names = ofTask ? task.names : p.map((_, j) => String(j));
    this.probs.setClasses(names);
    this.probs.show(p, { label, target });
    if (task.own && ofTask) $('prediction').textContent = t(this.custom ? 'yourImageOwn' : 'digitInTask', names[pred], p[pred].toFixed(3), state.digit);
    else {
      $('prediction').textContent = this.custom
        ? t('yourImage', pred, p[pred].toFixed(3), notADigit(this.custom, p[pred], t))
        : t('heldOutLine', state.digit, label, pred, p[pred].toFixed(3));
    }
    drawDigit(v.input.data);
    const m = v.layer, site = this.site(m);
    const flat = (s) => (s.length === 2 ? [s[0], 1, 1, s[1]] : s);
    $('layer').value = m;
    $('layer-name').textContent = m;
    $('layer-desc').textContent = describe(m, this.graph, this.sites, t);
    this.strip?.select(m);
    $('acts-title').textContent = t(site ? 'convOutputTitle' : 'activations');
    $('deltas-title').textContent = t(site ? 'convDeltaTitle' : 'deltaTitle', names[target]);
    this.grids.acts.show(v.act.name, v.act.data, flat(v.act.shape));
    this.grids.deltas.show(v.delta.name, v.delta.data, flat(v.delta.shape));
    $('input-block').hidden = !v.inputDelta;
    if (v.inputDelta) {
      $('input-title-deltas').textContent = t('inputDeltaTitle', site.z, site.input);
      this.grids.input.show(v.inputDelta.name, v.inputDelta.data, v.inputDelta.shape);
    }
    $('weights-block').hidden = !v.weights;
    if (v.weights) {
      const s = v.weights.shape;
      this.weights.show(m, v.weights.data, v.weights.grad, s.length === 2 ? [s[0], s[1], 1, 1] : s);
    }
    this.placeCell(m, site);
    this.exports.offer(m, v, this.graph);
  }

  /** The URL's (or the last) cell, if it fits this layer's maps; else the largest δ. */
  placeCell(m, site) {
    const cell = state.cell, { grids, weights } = this;
    if (cell) {
      const g = cell.grid === 'weights' ? weights : grids[cell.grid];
      const ok = g?.shape && (cell.grid === 'weights'
        ? cell.idx.every((v, k) => v < g.shape[k])
        : cell.idx.every((v, k) => v < g.shape[k + 1]) && !(cell.grid === 'input' && $('input-block').hidden));
      if (ok && cell.grid === 'weights') g.select({ o: cell.idx[0], i: cell.idx[1], a: cell.idx[2], b: cell.idx[3] }, { notify: false });
      else if (ok) g.select({ c: cell.idx[0], x: cell.idx[1], y: cell.idx[2] }, { notify: false });
      else {
        if (this.cellFromUrl) notices.push(t('cellOutside', `${cell.grid}:${cell.idx.join(',')}`, cell.grid, m));
        update({ cell: null });
      }
    }
    this.cellFromUrl = false;
    if (!state.cell) {
      const g = site?.z ? grids.input : grids.deltas;
      const c = g.shape ? g.selectLargest() : null;
      update({ cell: c && { grid: site?.z ? 'input' : 'deltas', idx: [c.c, c.x, c.y] } });
    }
  }

  /** The layer list and the strip: every module with an activation and a δ, in forward order,
   *  as the engine's graph lists them. */
  async loadModel(first = false) {
    [this.graph, this.sites] = await Promise.all([this.engine.modules(), this.engine.convSites()]);
    this.layers = this.graph.modules.filter((m) => m.kind !== 'input' && m.kind !== 'loss');
    $('layer').replaceChildren(...this.layers.map(({ name }) => new Option(name, name)));
    if (!this.isLayer(state.layer)) {
      // (a cell of a layer that is not there means nothing; one without a layer is the focus's)
      if (state.layer !== null) update({ cell: null });
      if (first && state.layer !== null) notices.push(t('notALayer', state.layer));
      update({ layer: this.graph.focus }); // the engine's choice: where the formulas have most to say
    }
    try {
      this.strip = new NetworkStrip($('network'), { modules: this.graph.modules, selectable: (n) => this.isLayer(n), onselect: (m) => this.select(m), t });
    } catch (e) {
      this.strip = null;
      $('network').textContent = t('stripFailed', e.message);
    }
  }

  select(m) {
    if (!this.isLayer(m) || m === state.layer) return;
    update({ layer: m, cell: null });
    if (training.running && !training.paused) { // the tape holds a training batch now
      $('layer').value = m;
      this.strip?.select(m);
      status(t('viewsShowLater', m));
      return;
    }
    if (this.current) this.refresh();
  }
}

/** The input as the network sees it (normalised floats), grey levels stretched to its range. */
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

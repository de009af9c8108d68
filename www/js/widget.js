// <resnet-playground>: the playground's views as a custom element for course notes.
//
//   <script type="module" src="…/js/widget.js"></script>
//   <resnet-playground view="formula" layer="layer2.0.conv1" cell="0,3,4,6"></resnet-playground>
//
// Attributes (reflected as properties): view = formula | featuremaps | delta | draw | train |
// compare | flow | full; layer (a module name; default: the model's focus, the first conv of its first block
// that changes shape); cell ("n,c,x,y" of the map the view
// shows); sample (held-out digit 0–1999); target (the class δ comes from; default the label);
// model (weights URL, default the pretrained model next
// to this file); arch (a network of the family instead, from random weights: plain20,
// resnet56, resnet20-a, … as the page's ?arch=; ignored when model is given); the training
// settings steps, lr, batch, optimizer (sgd | adam) and seed (ranges and defaults: the
// engine's; train, compare and flow views); compare (compare and flow views: the models,
// "plain20,resnet20" as the page's ?compare=, default the engine's first lesson); hide (parts
// of the view to leave out, widget-settings.js PARTS); height (CSS length);
// theme = light | dark (default: the reader's preference); engine = shared | own; lang = en |
// zh-CN (default: the browser's language; i18n.js).
// Each name is also the full page's URL parameter; a value that does not parse is ignored
// with a console warning. "Open in the playground" opens the page with the widget's state.
// The element's own children are its fallback: shown before it upgrades and when printed.
// The host element reports the build it runs on in data-build and data-threads.
// Events (bubbling, composed): `prediction` {detail: {predicted, probabilities}}, `step`
// {detail: {step, loss, accuracy}} (compare and flow views: {step, models: [{id, label, loss,
// accuracy}]}, one event per step with every model), `cellchange` {detail: {name, index, value}}.
//
// Widgets on a page share one engine worker (one wasm instance, one model) unless
// engine="own". The tape belongs to whichever widget ran the last pass, so every widget asks
// for its own pass again before it reads (one queue per engine, in order).
// Everything renders into a shadow root with the site's own style sheets, so the host's CSS
// cannot reach in and the widget's cannot leak out.
import { SITE, engineFor, forgetEngine, widgetSheets, documentFonts } from './widget-host.js';
import { VIEWS, SETTING_ATTRIBUTES, readSettings, hidingSheet, playgroundUrl } from './widget-settings.js';
import { trainView, comparePanel } from './widget-training.js';
import { HeatmapGrid } from './views/heatmaps.js';
import { FormulaPane } from './views/formula.js';
import { ProbBars } from './views/probs.js';
import { DrawPad } from './views/draw.js';
import { canvasToDigit } from './preprocess.js';
import { visible, parseValue, useSettings } from './state.js';
import { pickLang, translator } from './i18n.js';
import { el } from './dom.js';

export class ResNetPlayground extends HTMLElement {
  static observedAttributes = ['view', 'cell', 'model', 'height', 'theme', 'engine', 'lang', ...SETTING_ATTRIBUTES];

  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    this.custom = null; // drawn pixels (draw view)
    this.values = {};   // the settings read from the attributes (widget-settings.js)
  }

  // reflected attributes
  get view() { return VIEWS.includes(this.getAttribute('view')) ? this.getAttribute('view') : 'formula'; }
  set view(v) { this.setAttribute('view', v); }
  get layer() { return this.getAttribute('layer') || ''; }
  set layer(v) { this.setAttribute('layer', v); }
  get cell() { return this.getAttribute('cell') || ''; }
  set cell(v) { this.setAttribute('cell', v); }
  get sample() { return parseValue('digit', this.getAttribute('sample') ?? '') ?? 0; }
  set sample(v) { this.setAttribute('sample', String(v)); }
  get model() { return new URL(this.getAttribute('model') || 'models/resnet8-mnist.safetensors', this.getAttribute('model') ? document.baseURI : SITE).href; }
  set model(v) { this.setAttribute('model', v); }
  get arch() { return this.getAttribute('arch') || ''; }
  set arch(v) { this.setAttribute('arch', v); }
  /** What the engine loads: the model URL, or a fresh network of the family (`arch`). */
  get source() { const a = this.arch.toLowerCase(); return !this.getAttribute('model') && a && a !== 'resnet8' && this.arch !== this.archIgnored ? `arch:${a}` : this.model; }
  get seed() { return this.values.seed ?? 1; }
  set seed(v) { this.setAttribute('seed', String(v)); }
  get compare() { return this.getAttribute('compare') || ''; }
  set compare(v) { this.setAttribute('compare', v); }
  get steps() { return this.values.steps; }
  set steps(v) { this.setAttribute('steps', String(v)); }
  get height() { return this.getAttribute('height') || ''; }
  set height(v) { this.setAttribute('height', v); }

  connectedCallback() { this.#render(); }

  attributeChangedCallback(name, old, value) {
    if (!this.isConnected || old === value) return;
    if (name === 'height') { this.#size(); return; }
    if (name === 'theme') return; // CSS follows the attribute
    this.#render();
  }

  #size() {
    if (this.height) this.style.setProperty('--rp-height', this.height);
  }

  /** This widget's pass, the page's one engine call: its input forward in eval mode, δ from
   *  its target class, and the tensors of its layer (when the model has it). */
  async pass(e) {
    const input = this.custom ? { pixels: this.custom.slice() } : { heldOut: this.sample };
    const layer = this.graph.modules.some((m) => m.name === this.shown) ? this.shown : this.graph.focus;
    const v = await e.inspect({ ...input, target: this.values.target ?? null, layer });
    this.seen = v;
    this.current = { p: Array.from(v.probs), label: v.label, pred: v.pred, target: v.target };
  }

  /** Dispatches a `type` event from the host (bubbling out of the shadow root). */
  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true })); }

  async #render() {
    const gen = (this.gen = (this.gen ?? 0) + 1);
    // the reader's language: the lang attribute, else the browser's (i18n.js)
    const t = (this.t = translator(pickLang(this.getAttribute('lang'))));
    this.open = this.pointing = null;
    documentFonts();
    this.#size();
    const sheet = (href) => Object.assign(document.createElement('link'), { rel: 'stylesheet', href: new URL(href, SITE).href });
    const box = el('div', `rp-widget rp-${this.view}`);
    box.setAttribute('role', 'group');
    box.setAttribute('aria-label', t('widgetLabel', this.view, this.layer));
    const status = el('p', 'status', t('loadingEngine'));
    status.setAttribute('role', 'status');
    box.append(status);
    // (the element's children are the fallback: shown before the upgrade and when printed)
    this.root.replaceChildren(sheet('vendor/katex/katex.min.css'), box, el('slot', 'rp-fallback'));
    let sheets;
    try {
      sheets = await widgetSheets();
      this.root.adoptedStyleSheets = sheets;
    } catch (e) {
      status.textContent = t('stylesFailed', e.message);
      return;
    }
    if (gen !== this.gen) return;
    if (this.view === 'full') {
      const f = el('iframe', 'rp-full');
      f.src = new URL(t.lang === 'en' ? 'index.html' : `index.html?lang=${t.lang}`, SITE).href;
      f.title = 'resnet-playground';
      box.replaceChildren(f);
      return;
    }
    this.engine = engineFor(this.source, this.getAttribute('engine') === 'own');
    this.engine.owner = this.engine.owner === this ? null : this.engine.owner; // attributes changed: pass again
    try {
      const client = await this.engine.client.catch((e) => {
        // a network the family does not have: said in the console, and the default one shown
        if (!this.source.startsWith('arch:')) throw e;
        forgetEngine(this.source);
        this.#warn([`arch="${visible(this.arch)}" (${e.message})`]);
        this.archIgnored = this.arch;
        this.engine = engineFor(this.source, this.getAttribute('engine') === 'own');
        return this.engine.client;
      });
      if (gen !== this.gen) return;
      // which build runs, for the curious and for tests: threads on a cross-origin isolated host
      this.dataset.build = client.info.build;
      this.dataset.threads = String(client.info.threads);
      status.textContent = '';
      // the author's settings, by the page's rules and the engine's ranges
      useSettings(await client.settings());
      const { values, hide, ignored } = readSettings(this);
      this.values = values;
      if (ignored.length) this.#warn(ignored);
      this.root.adoptedStyleSheets = [...sheets, hidingSheet(hide)];
      // the model's graph: its ends, and (no layer given) the layer it names as its focus
      this.graph = await this.engine.run(null, (e) => e.modules());
      this.shown = this.values.layer || this.graph.focus;
      if (!this.graph.modules.some((m) => m.name === this.shown)) {
        this.#warn([`layer="${visible(this.shown)}": the model has no such layer (its layers: ${this.graph.modules.slice(1).map((m) => m.name).join(', ')})`]);
        this.shown = this.graph.focus;
      }
      await this[`view_${this.view}`](box, status);
      box.append(this.#openLink());
    } catch (e) {
      if (gen !== this.gen) return;
      status.textContent = e.forReader ? e.message : t('couldNotStart', e.message);
      status.classList.add('error');
      if (!e.forReader) {
        // the engine (or its model file) did not come: try again from scratch, on request
        const again = el('button', 'secondary', t('tryAgain'));
        again.type = 'button';
        again.onclick = () => { forgetEngine(this.source); this.#render(); };
        box.append(again);
      }
    }
  }

  /** Calls on the engine with this widget's pass on the tape. */
  #mine() {
    const run = (fn) => this.engine.run(this, fn);
    return {
      formula: (q, k) => run((e) => e.formula(q, k)), formulaPicture: (q, ch) => run((e) => e.formulaPicture(q, ch)),
      cellNote: (t, i) => run((e) => e.cellNote(t, i)), numericalCheck: (q, eps) => run((e) => e.numericalCheck(q, eps)),
    };
  }

  // an author's value left out, said in the console (the widget works on without it)
  #warn(ignored) { console.warn(`<resnet-playground${this.id ? ` id="${this.id}"` : ''}> ignored ${ignored.join('; ')}`); }

  /** The weights changed: every widget passes again before it reads. */
  fresh() { this.engine.owner = null; }

  // "Open in the playground": the full page with this widget's settings, layer and cell
  #openLink() {
    this.open = Object.assign(el('a', 'rp-open', this.t('openInPlayground')), { target: '_blank', rel: 'noopener' });
    this.open.dataset.part = 'open';
    const { grid = null, cell = null, compare = null } = this.pointing ?? {};
    this.pointAt(grid, cell, compare);
    return this.open;
  }

  /** Points "open in the playground" at cell [c, x, y] of the page's `grid` (acts | deltas |
   *  input), or at the comparison `compare` ("plain20,resnet20"). */
  pointAt(grid, cell, compare = null) {
    this.pointing = { grid, cell, compare };
    const layer = ['compare', 'flow', 'draw', 'train'].includes(this.view) ? null : this.shown;
    if (this.open) this.open.href = playgroundUrl(SITE, this.values, { layer, grid, cell, compare, lang: this.t.lang });
  }


  // a map of tensor `name`; a cell under the cursor is told (`cellchange`, then `onCell`) and
  // "open in the playground" points at it, as the page's grid `pageGrid`
  async #grid(box, kind, name, pageGrid, onCell = () => {}) {
    // the pass brought the layer's tensors; any other is asked for
    const mine = (e) => [this.seen?.act, this.seen?.delta, this.seen?.inputDelta].find((t) => t?.name === name);
    const [d, s] = await this.engine.run(this, (e) => (mine(e) ? [mine(e).data, mine(e).shape] : Promise.all([e.tensor(name), e.tensorShape(name)]))).catch(async (err) => {
      // the tensor is missing: is the layer? (the graph says)
      if (this.graph.modules.some((m) => m.name === this.shown)) throw err;
      const layers = this.graph.modules.slice(1).map((m) => m.name);
      throw Object.assign(new Error(this.t('noLayer', visible(this.shown), layers.join(', '))), { forReader: true });
    });
    const root = box.appendChild(el('div'));
    root.dataset.part = 'map';
    const grid = new HeatmapGrid(root, { kind, label: name, t: this.t, onCell: (c) => {
      this.emit('cellchange', { name: c.name, index: [c.n, c.c, c.x, c.y], value: c.value });
      this.pointAt(pageGrid, [c.c, c.x, c.y]);
      onCell(c);
    } });
    const shape = s.length === 2 ? [s[0], 1, 1, s[1]] : Array.from(s);
    grid.show(name, d, shape);
    const idx = this.cell.split(',').map(Number);
    if (idx.length === 4 && idx.every((v, k) => Number.isInteger(v) && v >= 0 && v < shape[k])) grid.select({ c: idx[1], x: idx[2], y: idx[3] }, { notify: false });
    else if (kind === 'diverging') grid.selectLargest(); // no cell given
    this.pointAt(pageGrid, [grid.cell.c, grid.cell.x, grid.cell.y]);
    return grid;
  }

  async view_featuremaps(box) { await this.#grid(box, 'sequential', `act.${this.shown}`, 'acts'); }

  async view_delta(box) { await this.#grid(box, 'diverging', `delta.${this.shown}`, 'deltas'); }

  // a δ map and the formula pane: for a conv, δ at its input (conv_input_delta); else its δ
  async view_formula(box, status) {
    const sites = await this.engine.run(null, (e) => e.convSites());
    const site = sites.find((s) => s.name === this.shown && s.z);
    if (!site) {
      const some = sites.filter((s) => s.z).slice(0, 3).map((s) => s.name).join(', ');
      status.textContent = this.t('chooseConv', some, visible(this.shown));
      status.classList.add('error');
      return;
    }
    const pane = new FormulaPane(el('div', 'rp-pane'), { engine: this.#mine(), canQuery: () => true, t: this.t });
    pane.root.dataset.part = 'pane';
    const explain = ({ c, x, y }) => pane.explain({ kind: 'conv_input_delta', conv: site.name, n: 0, i: c, x, y }, { site, caption: this.t('inputDeltaCaption', site.name) });
    const grid = await this.#grid(box, 'diverging', `delta.${site.z}`, 'input', explain);
    box.append(pane.root);
    explain(grid.cell);
  }

  async view_draw(box) {
    const row = box.appendChild(el('div', 'input-row'));
    const padBox = row.appendChild(el('div', 'drawpad-box'));
    const seen = row.appendChild(el('div', 'prob-box'));
    padBox.dataset.part = 'pad';
    seen.dataset.part = 'probabilities';
    const pred = seen.appendChild(el('p', 'rp-prediction', this.t('drawDigit')));
    pred.setAttribute('aria-live', 'polite');
    const bars = new ProbBars(seen.appendChild(el('div')), { onpick: () => {}, t: this.t });
    new DrawPad(padBox, {
      size: 196,
      t: this.t,
      onchange: async (canvas) => {
        try {
          const { pixels } = await canvasToDigit(canvas);
          this.custom = pixels;
          this.fresh();
          await this.engine.run(this, async () => {});
          const { p, pred: k } = this.current;
          bars.show(p, { target: k });
          pred.textContent = this.t('predicted', k, p[k].toFixed(3));
          this.emit('prediction', { predicted: k, probabilities: p });
        } catch (e) { pred.textContent = this.t('drawingFailed', e.message); }
      },
    });
  }

  async view_compare(box) { await comparePanel(this, box, { flow: false, rewind: false }); }

  async view_flow(box) { await comparePanel(this, box, { flow: true, rewind: false }); }

  async view_train(box, status) { await trainView(this, box, status); }
}

if (!customElements.get('resnet-playground')) customElements.define('resnet-playground', ResNetPlayground);

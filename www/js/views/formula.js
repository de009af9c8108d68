// The formula pane: for the cell under the cursor, the formula of docs/backprop-formulas.md
// that produced it, typeset with KaTeX, with the live indices and numbers substituted. Every
// number comes from the engine's formula-term API (Engine.formula, resnet_engine::formula);
// nothing is recomputed here. For the δ of a conv input it also draws the notes' picture:
// δ^{l+1} dilated (stride > 1) and zero-padded, with ROT180 of the kernel over the hovered
// cell, the contributing δ^{l+1} cells outlined and the kernel entries they meet highlighted.
import { diverging, sequential, fmt } from '../colormap.js';
import { el } from '../dom.js';

const LISTED = 8;          // terms listed in the table (the rest are summed by the engine)
const ALL = 100000;        // "every term" (more than any cell has), for the pictures

/** `fmt` as LaTeX: 1.2e-4 → 1.2\times10^{-4}. */
export function tex(v) {
  if (!Number.isFinite(v)) return `\\text{${v}}`;
  const s = fmt(v);
  const m = s.match(/^(-?[\d.]+)e([+-]\d+)$/);
  return m ? `${m[1]}\\times10^{${Number(m[2])}}` : s;
}

const sub = (idx) => idx.join(',');
const NUMERIC_EPS = 1e-5; // the numerical check's step (float64: rounding ≈ 1e-16·C/ε, truncation ≈ ε²)

// KaTeX (0.6 MB) is loaded when the first formula is typeset, not with the page: the first
// prediction is drawn without waiting for it (bench/first-load.mjs).
let katex = null, loading = null;
/** Resolves once KaTeX is loaded (true), or could not be (false: formulas stay as TeX source). */
export function katexReady() {
  loading ??= import('../../vendor/katex/katex.mjs').then((m) => { katex = m.default; return true; }, () => false);
  return loading;
}

function math(parent, src, display = true) {
  const span = el(display ? 'div' : 'span', display ? 'math' : 'math-inline');
  const typeset = () => katex.render(src, span, { displayMode: display, throwOnError: false });
  if (katex) typeset();
  else {
    span.textContent = src; // (until KaTeX is there)
    katexReady().then((ok) => { if (ok) typeset(); });
  }
  parent.append(span);
  return span;
}

// The general formula of each kind, with the conv's K, s, p written in.
function general(f, site) {
  const g = site ? `\\quad(K=${site.k},\\ s=${site.stride},\\ p=${site.padding})` : '';
  switch (f.kind) {
    case 'conv_forward':
      return `z^{l+1}_{n,o,x',y'} = \\sum_i \\sum_{a=0}^{K-1}\\sum_{b=0}^{K-1} w_{o,i,a,b}\\; a^{l}_{n,i,\\,s x'+a-p,\\,s y'+b-p}${site?.bias ? ' + b_o' : ''}${g}`;
    case 'conv_input_delta':
      return `\\delta^{l}_{n,i,x,y} = \\sigma'(z^{l}_{n,i,x,y})\\,\\sum_o \\sum_{x',y'} \\delta^{l+1}_{n,o,x',y'}\\; w^{l+1}_{o,i,\\,x+p-s x',\\,y+p-s y'}${g}`;
    case 'conv_weight_grad':
      return `\\frac{\\partial C}{\\partial w_{o,i,a,b}} = \\sum_n \\sum_{x',y'} \\delta^{l+1}_{n,o,x',y'}\\; a^{l}_{n,i,\\,s x'+a-p,\\,s y'+b-p}${g}`;
    case 'bn_input_delta':
      return f.mode === 'train'
        ? '\\frac{\\partial C}{\\partial x} = \\frac{\\gamma}{m\\sqrt{\\sigma^2+\\varepsilon}}\\Big(m\\,dy - \\textstyle\\sum dy - \\hat x \\sum dy\\,\\hat x\\Big),\\quad \\hat x = \\frac{x-\\mu}{\\sqrt{\\sigma^2+\\varepsilon}}'
        : '\\frac{\\partial C}{\\partial x} = \\frac{\\gamma}{\\sqrt{\\text{running\\_var}+\\varepsilon}}\\; dy \\quad(\\text{eval mode: BN is a fixed affine map})';
    case 'residual_fork':
      return '\\delta_{x} = \\underbrace{\\sum_o\\sum_{x\',y\'} \\delta^{\\text{conv1}}_{n,o,x\',y\'}\\, w^{\\text{conv1}}_{o,c,\\dots}}_{\\text{main branch } F} + \\underbrace{\\delta_{\\text{through } S}}_{\\text{shortcut}}';
    case 'shortcut_forward':
      return 'S(x)_{n,c,x\',y\'} = \\begin{cases} x_{n,\\,c-p,\\,2x\',\\,2y\'} & p \\le c < p + C_{\\text{in}} \\\\ 0 & \\text{otherwise (zero padding)} \\end{cases}';
    case 'fc_forward':
      return 'z_{n,j} = \\sum_k W_{j,k}\\, a_{n,k} + b_j';
    case 'fc_weight_grad':
      return 'dC = \\delta^{\\mathsf T} dz = \\delta^{\\mathsf T}(dW)\\,a = \\operatorname{tr}\\!\\big(a\\,\\delta^{\\mathsf T} dW\\big) \\;\\Rightarrow\\; \\frac{\\partial C}{\\partial W} = \\delta\\, a^{\\mathsf T},\\qquad \\frac{\\partial C}{\\partial W_{j,k}} = \\sum_n \\delta_{n,j}\\, a_{n,k}';
    case 'fc_input_delta':
      return '\\delta^{\\text{pool}}_{n,k} = \\sum_j W_{j,k}\\, \\delta^{\\text{fc}}_{n,j}';
    default:
      return `\\text{${f.kind}}`;
  }
}

// The same formula with this cell's indices and numbers.
function substituted(f) {
  const lhs = {
    conv_forward: `z_{${sub(f.index)}}`, conv_input_delta: `\\delta^{l}_{${sub(f.index)}}`,
    conv_weight_grad: `\\tfrac{\\partial C}{\\partial w_{${sub(f.index)}}}`, bn_input_delta: `\\tfrac{\\partial C}{\\partial x_{${sub(f.index)}}}`,
    residual_fork: `\\delta_{${sub(f.index)}}`, shortcut_forward: `S(x)_{${sub(f.index)}}`, fc_forward: `z_{${sub(f.index)}}`,
    fc_weight_grad: `\\tfrac{\\partial C}{\\partial W_{${sub(f.index)}}}`, fc_input_delta: `\\delta^{\\text{pool}}_{${sub(f.index)}}`,
  }[f.kind] ?? f.target;
  const sum = f.kind === 'bn_input_delta' && f.mode === 'eval' ? `${tex(f.terms[0].factors[0])}\\cdot ${tex(f.terms[0].factors[1])}`
    : `\\underbrace{${tex(f.sum)}}_{\\text{sum of ${f.count} term${f.count === 1 ? '' : 's'}}}`;
  const added = f.parts.filter((p) => p.adds).map((p) => ` + \\underbrace{${tex(p.value)}}_{\\text{${p.name}}}`).join('');
  let rhs = added ? `\\big(${sum}${added}\\big)` : sum;
  if (f.factor) rhs = `\\underbrace{${tex(f.factor.value)}}_{\\sigma'(${tex(f.factor.z)})}\\cdot ${rhs}`;
  return `${lhs} = ${rhs} = ${tex(f.result)}`;
}

// Short column heads for the factors (the caption names the tensors).
const SYMBOLS = {
  conv_forward: ['w', 'aˡ'], conv_input_delta: ['δˡ⁺¹', 'w'], conv_weight_grad: ['δˡ⁺¹', 'aˡ'],
  residual_fork: ['δ', 'w'], shortcut_forward: ['x'], fc_forward: ['W', 'a'], fc_weight_grad: ['δ', 'a'], fc_input_delta: ['W', 'δ'],
};

export class FormulaPane {
  /**
   * @param {HTMLElement} root
   * @param {{engine: object, canQuery: () => boolean}} opts  engine: {formula, tensor, tensorShape,
   *        parameter} (an EngineClient, or the widget's queue of one); canQuery: false while training
   *        runs (the tape is changing under the pane)
   */
  constructor(root, { engine, canQuery, summary = null }) {
    this.root = root;
    this.summary = summary; // a live region for one sentence per formula (optional)
    this.engine = engine;
    this.canQuery = canQuery;
    this.seq = 0;
    this.cache = new Map(); // tensor name → promise of its values, for the pictures
  }

  /** Explains `query` (a resnet_engine::formula::Query as JSON); `site` is the conv's ConvSite. */
  async explain(query, { site = null, caption = '' } = {}) {
    const seq = ++this.seq;
    if (!this.canQuery()) { this.message('The formulas update when training is paused or stopped.'); return; }
    try {
      const picture = ['conv_input_delta', 'conv_forward'].includes(query.kind) && site;
      const [f, all] = await Promise.all([
        this.engine.formula(query, LISTED),
        picture ? this.engine.formula(query, ALL) : null,
      ]);
      // a newer cell was hovered meanwhile, or training resumed and the tape moved on
      if (seq !== this.seq || !this.canQuery()) return;
      let pic = null;
      if (picture) pic = await this.#pictureData(query, site, all);
      await katexReady();
      if (seq !== this.seq || !this.canQuery()) return;
      this.render(f, { site, caption, pic, all, query });
    } catch (e) {
      if (seq === this.seq) this.message(`No formula for this cell: ${e.message}`, true);
    }
  }

  /** A plain note instead of a formula (cells without a formula of their own). */
  note(title, text, texSrc = null) {
    this.seq++;
    this.root.replaceChildren();
    this.root.append(el('h3', 'formula-title', title));
    if (texSrc) math(this.root, texSrc);
    this.root.append(el('p', 'formula-note', text));
    this.root.dataset.kind = 'note';
  }

  message(text, isError = false) {
    this.root.replaceChildren(el('p', isError ? 'formula-note error' : 'formula-note', text));
    this.root.dataset.kind = 'message';
  }

  render(f, { site, caption, pic, all, query = null }) {
    const r = this.root;
    r.replaceChildren();
    r.dataset.kind = f.kind;
    r.dataset.target = f.target;
    r.dataset.index = JSON.stringify(f.index);
    r.dataset.value = String(f.value);
    r.dataset.result = String(f.result);
    const head = el('h3', 'formula-title');
    head.append(el('span', '', caption || f.kind.replace(/_/g, ' ')), ' ');
    head.append(el('code', 'formula-cell', `${f.target}[${f.index.join(', ')}]`));
    r.append(head);
    math(r, general(f, site));
    math(r, substituted(f));
    // f32 tape vs f64 sum: the error scales with the terms' size, not the (maybe cancelled) total
    const scale = Math.max(Math.abs(f.value), Math.abs(f.result), Math.abs(f.terms[0]?.value ?? 0), Math.abs(f.rest), ...f.parts.map((p) => Math.abs(p.value)));
    const ok = Math.abs(f.result - f.value) <= 1e-4 * scale + 1e-9;
    const check = el('p', ok ? 'formula-check ok' : 'formula-check error');
    check.textContent = ok
      ? `✓ equals the engine's value at this cell, ${fmt(f.value)}`
      : `✗ the formula gives ${fmt(f.result)}, the tape holds ${fmt(f.value)}`;
    r.append(check);
    // one sentence for screen readers (the pane itself is not a live region: too long)
    if (this.summary) this.summary.textContent = `${caption || f.kind.replace(/_/g, ' ')} at ${f.target}[${f.index.join(', ')}]: ${f.count} terms, result ${fmt(f.result)}, ${ok ? 'equal to' : 'different from'} the engine's value ${fmt(f.value)}.`;
    if (f.kind === 'conv_input_delta') r.append(el('p', 'formula-note',
      'The same sum read as the notes draw it, δˡ = (δˡ⁺¹ ⊛ ROT180(wˡ⁺¹)) ⊙ σ′(zˡ): put s−1 zeros between neighbours of δˡ⁺¹ '
      + '(stride s), pad it with K−1−p zeros, and slide ROT180(w) over it; the window below sits on the hovered cell. '
      + '(The notes write the forward pass as a true convolution; this page follows PyTorch, so the flip appears here, in the backward pass.)'));
    if (f.kind === 'fc_weight_grad') r.append(el('p', 'formula-note', 'With z = W a + b and δ = ∂C/∂z: dC = δᵀ dz, and the trace turns δᵀ (dW) a into tr(a δᵀ dW), whose coefficient matrix a δᵀ is ∂C/∂Wᵀ.'));
    if (query && /^(grad|delta)\./.test(f.target)) r.append(this.#numeric(query, f));
    if (pic) r.append(this.#picture(pic));
    r.append(this.#terms(f));
    if (f.parts.length) r.append(this.#parts(f));
  }

  // "Check numerically": the same derivative by its definition, from the engine (float64:
  // the value moved by ±ε on the same input), beside backprop
  #numeric(query, f) {
    const box = el('div', 'formula-numeric');
    const button = el('button', 'secondary small', 'Check numerically');
    button.type = 'button';
    const out = el('div', 'numeric-result');
    out.setAttribute('aria-live', 'polite');
    box.append(button, out);
    const seq = this.seq;
    button.onclick = async () => {
      button.disabled = true;
      out.replaceChildren(el('p', 'formula-note', 'Running the pass twice more, in float64…'));
      try {
        const c = await this.engine.numericalCheck(query, NUMERIC_EPS);
        if (seq !== this.seq) return;
        const what = `${c.perturbed}[${c.index.join(', ')}]`;
        out.replaceChildren();
        // the losses to 12 digits: their difference is where the derivative shows
        math(out, `\\frac{C(v+\\varepsilon) - C(v-\\varepsilon)}{2\\varepsilon} = \\frac{${c.loss_plus.toPrecision(12)} - ${c.loss_minus.toPrecision(12)}}{2\\cdot ${tex(c.eps)}} = ${tex(c.numeric)}`);
        const verdict = el('p', c.kink ? 'formula-note' : (c.rel_diff < 1e-6 ? 'formula-check ok' : 'formula-check'),
          `v = ${what}, moved by ε = ${c.eps} on the same input (float64). Backprop in float64: ${fmt(c.backprop)}; `
          + `relative difference ${c.rel_diff.toExponential(1)}${c.kink ? ' — but a ReLU input crossed 0 between the two runs (a kink: the derivative is not defined there)' : ''}.`);
        out.append(verdict);
        out.dataset.numeric = String(c.numeric);
        out.dataset.backprop = String(c.backprop);
        out.dataset.rel = String(c.rel_diff);
      } catch (e) {
        out.replaceChildren(el('p', 'formula-note error', `The check could not run: ${e.message}`));
      }
      button.disabled = false;
    };
    return box;
  }

  #terms(f) {
    const wrap = el('div', 'formula-terms');
    const table = el('table', 'terms');
    const symbols = SYMBOLS[f.kind] ?? f.factor_names;
    const legend = f.factor_names.map((n, k) => (symbols[k] !== n ? `${symbols[k]} = ${n}` : '')).filter(Boolean).join(', ');
    const cap = el('caption', '', (f.count > f.terms.length
      ? `the ${f.terms.length} largest of ${f.count} terms (largest |value| first)`
      : `all ${f.count} term${f.count === 1 ? '' : 's'}`) + (legend ? `; ${legend}` : ''));
    table.append(cap);
    const idxNames = f.terms[0]?.label ? ['summand'] : (f.terms[0]?.index ?? []).map(([k]) => k);
    const thead = el('tr');
    for (const h of [...idxNames, ...symbols, 'product']) thead.append(el('th', '', h));
    const thd = el('thead');
    thd.append(thead);
    table.append(thd);
    const tbody = el('tbody');
    for (const t of f.terms) {
      const tr = el('tr', 'term');
      tr.dataset.value = String(t.value);
      tr.dataset.index = JSON.stringify(t.index.map(([, v]) => v));
      if (t.label) tr.append(el('td', '', t.label));
      else for (const [, v] of t.index) tr.append(el('td', '', String(v)));
      for (const v of t.factors) tr.append(el('td', 'num', fmt(v)));
      tr.append(el('td', 'num', fmt(t.value)));
      tbody.append(tr);
    }
    if (f.count > f.terms.length) {
      const tr = el('tr', 'rest');
      tr.dataset.value = String(f.rest);
      const td = el('td', '', `the other ${f.count - f.terms.length} terms`);
      td.colSpan = idxNames.length + f.factor_names.length;
      tr.append(td, el('td', 'num', fmt(f.rest)));
      tbody.append(tr);
    }
    const sum = el('tr', 'sum');
    const td = el('td', '', f.padding ? `Σ  (${f.padding} window positions in the zero padding add nothing)` : 'Σ');
    td.colSpan = idxNames.length + f.factor_names.length;
    sum.append(td, el('td', 'num', fmt(f.sum)));
    tbody.append(sum);
    table.append(tbody);
    wrap.append(table);
    return wrap;
  }

  #parts(f) {
    const table = el('table', 'parts');
    table.append(el('caption', '', f.kind === 'bn_input_delta' ? 'the numbers in the formula' : 'added to the sum'));
    for (const p of f.parts) {
      const tr = el('tr', p.adds ? 'part adds' : 'part');
      tr.dataset.value = String(p.value);
      tr.dataset.adds = String(p.adds);
      tr.append(el('th', '', p.name), el('td', 'num', fmt(p.value)));
      const where = p.tensor ? `${p.tensor}[${p.index.join(', ')}]` : '';
      tr.append(el('td', 'where', [where, p.note].filter(Boolean).join(' — ')));
      table.append(tr);
    }
    return table;
  }

  // ---- the notes' picture ---------------------------------------------------------------

  /** Forgets the cached tensors: call after the tape or the weights changed. */
  invalidate() {
    this.cache.clear();
    this.seq++;
  }

  // a tensor, shape or parameter of the current pass, asked of the engine once
  #get(what, name) {
    const key = `${what}:${name}`;
    const ask = { tensor: (n) => this.engine.tensor(n), shape: (n) => this.engine.tensorShape(n), parameter: (n) => this.engine.parameter(n) }[what];
    if (!this.cache.has(key)) this.cache.set(key, ask(name));
    return this.cache.get(key);
  }

  async #pictureData(q, site, all) {
    const get = (what, name) => this.#get(what, name);
    if (q.kind === 'conv_input_delta') {
      // δ^{l+1} = delta.<conv>, dilated by s and padded by K−1−p; ROT180(w) at (x, y)
      const [d, ds, w] = await Promise.all([get('tensor', `delta.${site.name}`), get('shape', `delta.${site.name}`), get('parameter', `${site.name}.weight`)]);
      const zShape = await get('shape', `act.${site.z}`);
      return { kind: 'delta', site, map: d, shape: Array.from(ds), w, inH: zShape[2], inW: zShape[3], q, terms: all.terms };
    }
    const [a, as, w] = await Promise.all([get('tensor', `act.${site.input}`), get('shape', `act.${site.input}`), get('parameter', `${site.name}.weight`)]);
    return { kind: 'forward', site, map: a, shape: Array.from(as), w, q, terms: all.terms };
  }

  #picture(pic) {
    const box = el('div', 'picture');
    const { site } = pic;
    // which channel of the map to draw: the one of the largest term, changeable with the buttons
    const chanKey = pic.kind === 'delta' ? 'o' : 'i';
    const chans = pic.kind === 'delta' ? site.c_out : site.c_in;
    const largest = pic.terms[0]?.index.find(([k]) => k === chanKey)?.[1] ?? 0;
    let ch = largest;
    const head = el('div', 'picture-head');
    const prev = el('button', 'secondary small', '◀');
    const next = el('button', 'secondary small', '▶');
    prev.type = next.type = 'button';
    prev.setAttribute('aria-label', `previous ${chanKey} channel`);
    next.setAttribute('aria-label', `next ${chanKey} channel`);
    const label = el('span', 'picture-label');
    label.setAttribute('aria-live', 'polite');
    head.append(prev, label, next);
    const row = el('div', 'picture-row');
    const big = el('canvas', 'picture-map');
    const kern = el('canvas', 'picture-kernel');
    const legend = el('p', 'picture-legend');
    row.append(figure(big, ''), figure(kern, ''));
    box.append(head, row, legend);
    const draw = () => {
      label.textContent = `${chanKey} = ${ch}${ch === largest ? ' (largest term)' : ''} of ${chans}`;
      if (pic.kind === 'delta') this.#drawDelta(pic, ch, big, kern, legend);
      else this.#drawForward(pic, ch, big, kern, legend);
    };
    prev.onclick = () => { ch = (ch - 1 + chans) % chans; draw(); };
    next.onclick = () => { ch = (ch + 1) % chans; draw(); };
    draw();
    return box;

    function figure(canvas, text) {
      const f = el('figure', 'picture-fig');
      f.append(canvas, el('figcaption', '', text));
      return f;
    }
  }

  // δ^{l+1}[n, o] on the padded, dilated grid of size (H+K−1)×(W+K−1); window at (x, y).
  #drawDelta(pic, o, big, kern, legend) {
    const { site, shape, map, w, q } = pic;
    const K = site.k, s = site.stride, p = site.padding, P = K - 1 - p;
    const [, O, Ho, Wo] = shape;
    const H = pic.inH + K - 1, W = pic.inW + K - 1;
    const plane = map.subarray((q.n * O + o) * Ho * Wo, (q.n * O + o + 1) * Ho * Wo);
    const cell = (r, c) => { // value or null (padding) or 'dil' (a zero put between entries)
      const rr = r - P, cc = c - P;
      if (rr < 0 || cc < 0 || rr > (Ho - 1) * s || cc > (Wo - 1) * s) return null;
      if (rr % s || cc % s) return 'dil';
      return plane[(rr / s) * Wo + cc / s];
    };
    const terms = pic.terms.filter((t) => t.index.find(([k]) => k === 'o')[1] === o);
    const hl = terms.map((t) => { const m = Object.fromEntries(t.index); return [m["x'"], m["y'"]]; })
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const used = new Set(terms.map((t) => { const m = Object.fromEntries(t.index); return `${K - 1 - m.a},${K - 1 - m.b}`; }));
    let m = 0;
    for (const v of plane) m = Math.max(m, Math.abs(v));
    drawGrid(big, H, W, cell, (v) => diverging(v / (m || 1)), {
      window: [q.x, q.y, K], outline: hl.map(([xp, yp]) => [s * xp + P, s * yp + P]),
    });
    big.dataset.highlight = JSON.stringify(hl);
    big.dataset.outline = JSON.stringify(hl.map(([xp, yp]) => [s * xp + P, s * yp + P]));
    big.dataset.grid = JSON.stringify([H, W, P]);
    big.dataset.channel = String(o);
    big.dataset.window = JSON.stringify([q.x, q.y]);
    big.setAttribute('role', 'img');
    big.setAttribute('aria-label', `delta.${site.name} channel ${o}, dilated and zero-padded; outlined: the ${hl.length} cells that reach the hovered cell`);
    // when the stride skipped the input's last rows, the grid needs zeros beyond the padding
    const extra = H - (2 * P + (Ho - 1) * s + 1);
    big.nextElementSibling.textContent = `δˡ⁺¹ = delta.${site.name}[n=${q.n}, o=${o}]: ${Ho}×${Wo}${s > 1 ? `, dilated by ${s}` : ''}, padded by K−1−p = ${P}`
      + (extra > 0 ? `, plus ${extra} zero row${extra > 1 ? 's' : ''} and column${extra > 1 ? 's' : ''} at the bottom and right (input positions no output window started from)` : '');
    // ROT180(w[o, i]): entry (r, c) is w[o, i, K−1−r, K−1−c]
    const I = site.c_in, base = (o * I + q.i) * K * K;
    let wm = 0;
    for (let k = 0; k < K * K; k++) wm = Math.max(wm, Math.abs(w[base + k]));
    drawGrid(kern, K, K, (r, c) => w[base + (K - 1 - r) * K + (K - 1 - c)], (v) => diverging(v / (wm || 1)), {
      outline: [...used].map((k) => k.split(',').map(Number)), labels: true,
    });
    kern.dataset.used = JSON.stringify([...used].sort());
    kern.setAttribute('role', 'img');
    kern.setAttribute('aria-label', `ROT180 of ${site.name}.weight[${o}, ${q.i}]`);
    kern.nextElementSibling.textContent = `ROT180(w[o=${o}, i=${q.i}]) of ${site.name}`;
    legend.textContent = `${hl.length} of this channel's δˡ⁺¹ cells reach (x=${q.x}, y=${q.y}) (outlined); `
      + 'grey: zero padding; dotted: zeros put between entries for the stride. Blue < 0 < red.';
  }

  // a^l[n, i] zero-padded by p, the K×K window at (s·x', s·y'), and w[o, i] as the kernel.
  #drawForward(pic, i, big, kern, legend) {
    const { site, shape, map, w, q } = pic;
    const K = site.k, s = site.stride, p = site.padding;
    const [, C, Hi, Wi] = shape;
    const plane = map.subarray((q.n * C + i) * Hi * Wi, (q.n * C + i + 1) * Hi * Wi);
    let lo = Infinity, hi = -Infinity;
    for (const v of plane) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const cell = (r, c) => {
      const rr = r - p, cc = c - p;
      return rr < 0 || cc < 0 || rr >= Hi || cc >= Wi ? null : plane[rr * Wi + cc];
    };
    drawGrid(big, Hi + 2 * p, Wi + 2 * p, cell, (v) => sequential((v - lo) / (hi - lo || 1)), { window: [s * q.x, s * q.y, K] });
    big.dataset.window = JSON.stringify([s * q.x, s * q.y]);
    big.setAttribute('role', 'img');
    big.setAttribute('aria-label', `act.${site.input} channel ${i}, zero-padded, with the kernel window of the hovered cell`);
    big.nextElementSibling.textContent = `a^l = act.${site.input}[n=${q.n}, i=${i}], padded by p = ${p}`;
    const base = (q.o * site.c_in + i) * K * K;
    let wm = 0;
    for (let k = 0; k < K * K; k++) wm = Math.max(wm, Math.abs(w[base + k]));
    drawGrid(kern, K, K, (r, c) => w[base + r * K + c], (v) => diverging(v / (wm || 1)), { labels: true });
    kern.setAttribute('role', 'img');
    kern.setAttribute('aria-label', `${site.name}.weight[${q.o}, ${i}]`);
    kern.nextElementSibling.textContent = `w[o=${q.o}, i=${i}] of ${site.name} (not flipped: cross-correlation)`;
    legend.textContent = `The window (yellow) is the K×K patch at (s·x', s·y') = (${s * q.x}, ${s * q.y}) of the padded input; grey cells are the zero padding.`;
  }
}

/** Draws an H×W grid of cells; `value(r, c)` is a number, null (padding) or 'dil' (a dilation zero). */
function drawGrid(canvas, H, W, value, colour, { window = null, outline = [], labels = false } = {}) {
  const px = labels ? 46 : Math.max(6, Math.min(22, Math.floor(320 / Math.max(H, W))));
  canvas.width = W * px + 1;
  canvas.height = H * px + 1;
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, canvas.width, canvas.height);
  for (let r = 0; r < H; r++) {
    for (let c = 0; c < W; c++) {
      const v = value(r, c);
      if (v === null) {
        g.fillStyle = '#d9dde2';
        g.fillRect(c * px, r * px, px, px);
      } else if (v === 'dil') {
        g.fillStyle = '#f1f3f5';
        g.fillRect(c * px, r * px, px, px);
        g.fillStyle = '#9aa3ad';
        g.fillRect(c * px + px / 2 - 1, r * px + px / 2 - 1, 2, 2);
      } else {
        const [R, G, B] = colour(v);
        g.fillStyle = `rgb(${R},${G},${B})`;
        g.fillRect(c * px, r * px, px, px);
        if (labels) {
          g.fillStyle = '#1d232b';
          g.font = '10px ui-monospace, monospace';
          g.textAlign = 'center';
          g.textBaseline = 'middle';
          g.fillText(v.toFixed(2), c * px + px / 2, r * px + px / 2);
        }
      }
    }
  }
  g.strokeStyle = 'rgba(29,35,43,0.12)';
  g.lineWidth = 1;
  for (let r = 0; r <= H; r++) { g.beginPath(); g.moveTo(0, r * px + 0.5); g.lineTo(W * px, r * px + 0.5); g.stroke(); }
  for (let c = 0; c <= W; c++) { g.beginPath(); g.moveTo(c * px + 0.5, 0); g.lineTo(c * px + 0.5, H * px); g.stroke(); }
  g.strokeStyle = '#1d232b';
  g.lineWidth = 2;
  for (const [r, c] of outline) g.strokeRect(c * px + 2, r * px + 2, px - 3, px - 3);
  if (window) {
    const [r, c, k] = window;
    g.strokeStyle = '#f2b705';
    g.lineWidth = 3;
    g.strokeRect(c * px + 1.5, r * px + 1.5, k * px - 2, k * px - 2);
  }
}

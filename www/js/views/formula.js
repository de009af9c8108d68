// The formula pane: for the cell under the cursor, the formula of docs/backprop-formulas.md
// that produced it, typeset with KaTeX, with the live indices and numbers substituted. Every
// number comes from the engine's formula-term API (Engine.formula, resnet_engine::formula);
// nothing is recomputed here. For a conv's forward and input δ it also draws the notes'
// picture (views/picture.js, geometry from Engine.formulaPicture); a cell without a formula
// gets the engine's value and note (Engine.cellNote, worded by views/cell-notes.js).
import { fmt } from '../colormap.js';
import { el } from '../dom.js';
import { pictureBox } from './picture.js';
import { noteWords } from './cell-notes.js';
import { english } from '../i18n.js';

const LISTED = 8;          // terms listed in the table (the rest are summed by the engine)

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

// The same formula with this cell's indices and numbers (t: the reader's words).
function substituted(f, t) {
  const lhs = {
    conv_forward: `z_{${sub(f.index)}}`, conv_input_delta: `\\delta^{l}_{${sub(f.index)}}`,
    conv_weight_grad: `\\tfrac{\\partial C}{\\partial w_{${sub(f.index)}}}`, bn_input_delta: `\\tfrac{\\partial C}{\\partial x_{${sub(f.index)}}}`,
    residual_fork: `\\delta_{${sub(f.index)}}`, shortcut_forward: `S(x)_{${sub(f.index)}}`, fc_forward: `z_{${sub(f.index)}}`,
    fc_weight_grad: `\\tfrac{\\partial C}{\\partial W_{${sub(f.index)}}}`, fc_input_delta: `\\delta^{\\text{pool}}_{${sub(f.index)}}`,
  }[f.kind] ?? f.target;
  const sum = f.kind === 'bn_input_delta' && f.mode === 'eval' ? `${tex(f.terms[0].factors[0])}\\cdot ${tex(f.terms[0].factors[1])}`
    : `\\underbrace{${tex(f.sum)}}_{\\text{${t('sumOfTerms', f.count)}}}`;
  const added = f.parts.filter((p) => p.adds).map((p) => ` + \\underbrace{${tex(p.value)}}_{\\text{${t('partName', p.name)}}}`).join('');
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
   * @param {{engine: object, canQuery: () => boolean}} opts  engine: {formula, formulaPicture,
   *        cellNote, numericalCheck} (an EngineClient, or the widget's queue of one); canQuery:
   *        false while training runs (the tape is changing under the pane)
   */
  constructor(root, { engine, canQuery, summary = null, t = english }) {
    this.root = root;
    this.t = t; // the reader's words (i18n.js)
    this.summary = summary; // a live region for one sentence per formula (optional)
    this.engine = engine;
    this.canQuery = canQuery;
    this.seq = 0;
  }

  /** Explains `query` (a resnet_engine::formula::Query as JSON); `site` is the conv's ConvSite. */
  async explain(query, { site = null, caption = '' } = {}) {
    const seq = ++this.seq;
    if (!this.canQuery()) { this.message(this.t('paused')); return; }
    try {
      const picture = ['conv_input_delta', 'conv_forward'].includes(query.kind);
      const [f, pic] = await Promise.all([
        this.engine.formula(query, LISTED),
        picture ? this.engine.formulaPicture(query, null) : null,
      ]);
      await katexReady();
      // a newer cell was hovered meanwhile, or training resumed and the tape moved on
      if (seq !== this.seq || !this.canQuery()) return;
      this.render(f, { site, caption, pic, query });
    } catch (e) {
      if (seq === this.seq) this.message(this.t('noFormula', e.message), true);
    }
  }

  /** A cell without a formula of its own (`target` = act.<m> or delta.<m>, `index` of the
   *  tensor's rank; `module`: m in the graph, to word its description): the engine's value and
   *  the note that fits it. */
  async explainCell(target, index, module = null) {
    const seq = ++this.seq;
    if (!this.canQuery()) { this.message(this.t('paused')); return; }
    try {
      const n = await this.engine.cellNote(target, index);
      if (seq !== this.seq || !this.canQuery()) return;
      const [text, texSrc] = noteWords(n, this.t, module);
      this.root.replaceChildren();
      this.root.append(el('h3', 'formula-title', `${n.target}[${n.index.join(', ')}] = ${fmt(n.value)}`));
      if (texSrc) math(this.root, texSrc);
      this.root.append(el('p', 'formula-note', text));
      Object.assign(this.root.dataset, { kind: 'note', note: n.note, target: n.target, index: JSON.stringify(n.index), value: String(n.value) });
    } catch (e) {
      if (seq === this.seq) this.message(this.t('noNote', e.message), true);
    }
  }

  message(text, isError = false) {
    this.root.replaceChildren(el('p', isError ? 'formula-note error' : 'formula-note', text));
    this.root.dataset.kind = 'message';
  }

  render(f, { site, caption, pic, query = null }) {
    const r = this.root, t = this.t;
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
    math(r, substituted(f, t));
    // f32 tape vs f64 sum: the error scales with the terms' size, not the (maybe cancelled) total
    const scale = Math.max(Math.abs(f.value), Math.abs(f.result), Math.abs(f.terms[0]?.value ?? 0), Math.abs(f.rest), ...f.parts.map((p) => Math.abs(p.value)));
    const ok = Math.abs(f.result - f.value) <= 1e-4 * scale + 1e-9;
    const check = el('p', ok ? 'formula-check ok' : 'formula-check error');
    check.textContent = ok ? t('checkOk', fmt(f.value)) : t('checkBad', fmt(f.result), fmt(f.value));
    r.append(check);
    // one sentence for screen readers (the pane itself is not a live region: too long)
    if (this.summary) this.summary.textContent = t('summary', caption || f.kind.replace(/_/g, ' '), `${f.target}[${f.index.join(', ')}]`, f.count, fmt(f.result), ok, fmt(f.value));
    if (f.kind === 'conv_input_delta') r.append(el('p', 'formula-note', t('rot180Note')));
    if (f.kind === 'fc_weight_grad') r.append(el('p', 'formula-note', t('traceNote')));
    if (query && /^(grad|delta)\./.test(f.target)) r.append(this.#numeric(query, f));
    if (pic) r.append(pictureBox(pic, (ch) => this.engine.formulaPicture(query, ch), t));
    r.append(this.#terms(f));
    if (f.parts.length) r.append(this.#parts(f));
  }

  // "Check numerically": the same derivative by its definition, from the engine (float64:
  // the value moved by ±ε on the same input), beside backprop
  #numeric(query, f) {
    const box = el('div', 'formula-numeric');
    box.dataset.part = 'numeric';
    const t = this.t;
    const button = el('button', 'secondary small', t('checkNumerically'));
    button.type = 'button';
    const out = el('div', 'numeric-result');
    out.setAttribute('aria-live', 'polite');
    box.append(button, out);
    const seq = this.seq;
    button.onclick = async () => {
      button.disabled = true;
      out.replaceChildren(el('p', 'formula-note', t('checkRunning')));
      try {
        const c = await this.engine.numericalCheck(query, NUMERIC_EPS);
        if (seq !== this.seq) return;
        const what = `${c.perturbed}[${c.index.join(', ')}]`;
        out.replaceChildren();
        // the losses to 12 digits: their difference is where the derivative shows
        math(out, `\\frac{C(v+\\varepsilon) - C(v-\\varepsilon)}{2\\varepsilon} = \\frac{${c.loss_plus.toPrecision(12)} - ${c.loss_minus.toPrecision(12)}}{2\\cdot ${tex(c.eps)}} = ${tex(c.numeric)}`);
        const verdict = el('p', c.kink ? 'formula-note' : (c.rel_diff < 1e-6 ? 'formula-check ok' : 'formula-check'),
          t('checkVerdict', what, c.eps, fmt(c.backprop), c.rel_diff.toExponential(1), c.kink));
        out.append(verdict);
        out.dataset.numeric = String(c.numeric);
        out.dataset.backprop = String(c.backprop);
        out.dataset.rel = String(c.rel_diff);
      } catch (e) {
        out.replaceChildren(el('p', 'formula-note error', t('checkFailed', e.message)));
      }
      button.disabled = false;
    };
    return box;
  }

  #terms(f) {
    const t = this.t;
    const wrap = el('div', 'formula-terms');
    wrap.dataset.part = 'terms';
    const table = el('table', 'terms');
    const symbols = SYMBOLS[f.kind] ?? f.factor_names;
    const legend = f.factor_names.map((n, k) => (symbols[k] !== n ? `${symbols[k]} = ${n}` : '')).filter(Boolean).join(', ');
    const cap = el('caption', '', (f.count > f.terms.length ? t('largestTerms', f.terms.length, f.count) : t('allTerms', f.count)) + (legend ? `; ${legend}` : ''));
    table.append(cap);
    const idxNames = f.terms[0]?.label ? [t('summand')] : (f.terms[0]?.index ?? []).map(([k]) => k);
    const thead = el('tr');
    for (const h of [...idxNames, ...symbols, t('product')]) thead.append(el('th', '', h));
    const thd = el('thead');
    thd.append(thead);
    table.append(thd);
    const tbody = el('tbody');
    for (const term of f.terms) {
      const tr = el('tr', 'term');
      tr.dataset.value = String(term.value);
      tr.dataset.index = JSON.stringify(term.index.map(([, v]) => v));
      if (term.label) tr.append(el('td', '', term.label));
      else for (const [, v] of term.index) tr.append(el('td', '', String(v)));
      for (const v of term.factors) tr.append(el('td', 'num', fmt(v)));
      tr.append(el('td', 'num', fmt(term.value)));
      tbody.append(tr);
    }
    if (f.count > f.terms.length) {
      const tr = el('tr', 'rest');
      tr.dataset.value = String(f.rest);
      const td = el('td', '', t('otherTerms', f.count - f.terms.length));
      td.colSpan = idxNames.length + f.factor_names.length;
      tr.append(td, el('td', 'num', fmt(f.rest)));
      tbody.append(tr);
    }
    const sum = el('tr', 'sum');
    const td = el('td', '', f.padding ? t('paddingTerms', f.padding) : 'Σ');
    td.colSpan = idxNames.length + f.factor_names.length;
    sum.append(td, el('td', 'num', fmt(f.sum)));
    tbody.append(sum);
    table.append(tbody);
    wrap.append(table);
    return wrap;
  }

  #parts(f) {
    const t = this.t;
    const table = el('table', 'parts');
    table.append(el('caption', '', t(f.kind === 'bn_input_delta' ? 'formulaNumbers' : 'addedToSum')));
    for (const p of f.parts) {
      const tr = el('tr', p.adds ? 'part adds' : 'part');
      tr.dataset.value = String(p.value);
      tr.dataset.adds = String(p.adds);
      tr.append(el('th', '', t('partName', p.name)), el('td', 'num', fmt(p.value)));
      const where = p.tensor ? `${p.tensor}[${p.index.join(', ')}]` : '';
      const note = p.say ? t(p.say.key, ...p.say.args) : p.note;
      tr.append(el('td', 'where', [where, note].filter(Boolean).join(' — ')));
      table.append(tr);
    }
    return table;
  }

  /** Drops a formula still on its way: call when the tape changes. */
  invalidate() { this.seq++; }
}

// Weight-gradient view of one conv: for output channel o, its kernels w[o, i] (one K×K tile per
// input channel i) and their gradients ∂C/∂w[o, i] side by side, each on its own diverging
// scale symmetric around 0. A cursor (mouse, or the arrow keys; PageUp/PageDown change o)
// picks one entry (o, i, a, b) and reports it, so the formula pane can explain it.
import { diverging, drawLegend, fmt } from '../colormap.js';
import { el } from '../dom.js';
import { Cursor, sameCell } from './cursor.js';
import { english } from '../i18n.js';

const PER_ROW = 16; // tiles per row

export class WeightView {
  /** @param {HTMLElement} root  @param {{onCell?: (cell) => void}} opts */
  constructor(root, { onCell, t = english } = {}) {
    this.root = root;
    this.t = t;
    this.onCell = onCell;
    this.cell = { o: 0, i: 0, a: 0, b: 0 };
    root.classList.add('weights');
    this.head = el('div', 'heatmaps-head');
    this.title = el('span', 'heatmaps-title');
    this.head.append(this.title);
    this.body = el('div', 'weights-body');
    this.cursor = new Cursor(this.body, {
      label: t('kernelKeys'),
      step: (key) => this.#step(key),
      select: (cell) => this.shape && this.select(cell ?? this.cell),
    });
    this.panes = ['w', 'grad'].map((k) => {
      const fig = el('figure', 'weights-fig');
      const cap = el('figcaption');
      const legend = el('canvas', 'legend');
      legend.width = 220;
      legend.height = 28;
      legend.setAttribute('role', 'img');
      const cv = el('canvas', 'weights-map');
      fig.append(cap, legend, cv);
      this.body.append(fig);
      cv.addEventListener('mousemove', (e) => this.#hover(cv, e));
      return { k, fig, cap, legend, cv };
    });
    root.replaceChildren(this.head, this.body, this.cursor.readout);
  }

  /** `w`, `grad`: Float32Arrays of shape [O, I, K, K] of conv `name`. */
  show(name, w, grad, shape) {
    Object.assign(this, { name, w, grad, shape });
    const [O, I, K] = shape;
    this.cell = { o: Math.min(this.cell.o, O - 1), i: Math.min(this.cell.i, I - 1), a: Math.min(this.cell.a, K - 1), b: Math.min(this.cell.b, K - 1) };
    this.#draw(false);
  }

  #geometry() {
    const [, I, K] = this.shape;
    const px = K === 1 ? 16 : 9, gap = 4, tile = K * px;
    const cols = Math.min(PER_ROW, I), rows = Math.ceil(I / cols);
    return { px, gap, tile, cols, rows, width: cols * (tile + gap) - gap, height: rows * (tile + gap) - gap };
  }

  #draw(notify = true) {
    const [O, I, K] = this.shape;
    const { o } = this.cell;
    this.title.textContent = this.t('kernelTitle', this.name, o, O, I, K);
    const geo = this.#geometry();
    for (const pane of this.panes) {
      const data = pane.k === 'w' ? this.w : this.grad;
      const slice = data.subarray(o * I * K * K, (o + 1) * I * K * K);
      let m = 0;
      for (const v of slice) m = Math.max(m, Math.abs(v));
      m = m || 1e-12;
      pane.cap.textContent = pane.k === 'w' ? `w[o=${o}, i, a, b]` : `∂C/∂w[o=${o}, i, a, b]  (grad.${this.name}.weight)`;
      drawLegend(pane.legend, 'diverging', -m, m);
      pane.legend.setAttribute('aria-label', this.t('colourScale', fmt(-m), fmt(m)));
      const cv = pane.cv;
      cv.width = geo.width;
      cv.height = geo.height;
      const g = cv.getContext('2d');
      g.clearRect(0, 0, cv.width, cv.height);
      for (let i = 0; i < I; i++) {
        const tx = (i % geo.cols) * (geo.tile + geo.gap), ty = Math.floor(i / geo.cols) * (geo.tile + geo.gap);
        for (let a = 0; a < K; a++) {
          for (let b = 0; b < K; b++) {
            const [r, gg, bb] = diverging(slice[(i * K + a) * K + b] / m);
            g.fillStyle = `rgb(${r},${gg},${bb})`;
            g.fillRect(tx + b * geo.px, ty + a * geo.px, geo.px, geo.px);
          }
        }
        g.strokeStyle = '#c3c9d0';
        g.lineWidth = 1;
        g.strokeRect(tx + 0.5, ty + 0.5, geo.tile - 1, geo.tile - 1);
      }
      const { i, a, b } = this.cell;
      const tx = (i % geo.cols) * (geo.tile + geo.gap), ty = Math.floor(i / geo.cols) * (geo.tile + geo.gap);
      g.strokeStyle = '#1d232b';
      g.lineWidth = 3;
      g.strokeRect(tx + b * geo.px - 1, ty + a * geo.px - 1, geo.px + 2, geo.px + 2);
      g.strokeStyle = '#f2b705';
      g.lineWidth = 2;
      g.strokeRect(tx + b * geo.px - 1, ty + a * geo.px - 1, geo.px + 2, geo.px + 2);
    }
    this.#report(notify);
  }

  #report(notify) {
    const [O, I, K] = this.shape;
    const { o, i, a, b } = this.cell;
    const off = ((o * I + i) * K + a) * K + b;
    this.cursor.report(`${this.name}.weight[o=${o}, i=${i}, a=${a}, b=${b}] = ${fmt(this.w[off])}   ∂C/∂w = ${fmt(this.grad[off])}`, [o, i, a, b], this.grad[off]);
    if (notify) this.onCell?.({ ...this.cell });
  }

  select(cell, { notify = true } = {}) {
    this.cell = cell;
    this.#draw(notify);
  }

  #hover(cv, e) {
    const geo = this.#geometry();
    const [, I, K] = this.shape;
    const r = cv.getBoundingClientRect();
    const X = ((e.clientX - r.left) / r.width) * cv.width, Y = ((e.clientY - r.top) / r.height) * cv.height;
    const col = Math.floor(X / (geo.tile + geo.gap)), row = Math.floor(Y / (geo.tile + geo.gap));
    const bx = X - col * (geo.tile + geo.gap), by = Y - row * (geo.tile + geo.gap);
    const i = row * geo.cols + col;
    if (col >= geo.cols || i >= I || bx >= geo.tile || by >= geo.tile) return;
    const cell = { o: this.cell.o, i, a: Math.min(K - 1, Math.floor(by / geo.px)), b: Math.min(K - 1, Math.floor(bx / geo.px)) };
    if (!sameCell(cell, this.cell)) this.select(cell);
  }

  // where a key leads: arrows move within a kernel and on to the next tile, PageUp/PageDown
  // to the previous/next output channel
  #step(key) {
    if (!this.shape) return null;
    const [O, I, K] = this.shape;
    let { o, i, a, b } = this.cell;
    switch (key) {
      case 'ArrowLeft': if (b > 0) b--; else if (i > 0) { i--; b = K - 1; } break;
      case 'ArrowRight': if (b < K - 1) b++; else if (i < I - 1) { i++; b = 0; } break;
      case 'ArrowUp': if (a > 0) a--; else if (i >= PER_ROW) { i -= PER_ROW; a = K - 1; } break;
      case 'ArrowDown': if (a < K - 1) a++; else if (i + PER_ROW < I) { i += PER_ROW; a = 0; } break;
      case 'PageUp': o = (o - 1 + O) % O; break;
      case 'PageDown': o = (o + 1) % O; break;
    }
    return { o, i, a, b };
  }
}

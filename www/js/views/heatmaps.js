// A grid of heatmaps: every channel of one image of a `[N, C, H, W]` tensor, one small map
// per channel, a colour legend, and a cursor (mouse or arrow keys) whose cell is reported with
// its indices and value. Activations use the sequential scale from the tensor's min to max;
// errors and gradients the diverging scale, symmetric around 0.
import { sequential, diverging, drawLegend, fmt } from '../colormap.js';
import { el } from '../dom.js';
import { Cursor, sameCell } from './cursor.js';
import { english } from '../i18n.js';

export class HeatmapGrid {
  /**
   * @param {HTMLElement} root   container; the grid builds its own canvases inside
   * @param {{kind: 'sequential'|'diverging', label: string, onCell?: (cell) => void}} opts
   */
  constructor(root, { kind, label, onCell, t = english }) {
    this.root = root;
    this.t = t;
    this.kind = kind;
    this.label = label;
    this.onCell = onCell;
    this.cell = { c: 0, x: 0, y: 0 };
    root.classList.add('heatmaps');
    root.innerHTML = '';
    this.head = el('div', 'heatmaps-head');
    this.title = el('span', 'heatmaps-title');
    this.legend = el('canvas', 'legend');
    this.legend.width = 220;
    this.legend.height = 28;
    this.legend.setAttribute('role', 'img');
    this.head.append(this.title, this.legend);
    this.grid = el('div', 'heatmaps-grid');
    this.cursor = new Cursor(this.grid, {
      label: t('mapKeys', label),
      step: (key) => this.#step(key),
      select: (cell) => this.shape && this.select(cell ?? this.cell),
    });
    root.append(this.head, this.grid, this.cursor.readout);
  }

  /** Shows image `n` of `data` (Float32Array) with `shape` [N, C, H, W] under tape name `name`. */
  show(name, data, shape, n = 0) {
    const [, C, H, W] = shape;
    this.name = name;
    this.shape = shape;
    this.data = data;
    this.n = n;
    const plane = H * W;
    const slice = data.subarray(n * C * plane, (n + 1) * C * plane);
    let lo = Infinity, hi = -Infinity;
    for (const v of slice) { if (v < lo) lo = v; if (v > hi) hi = v; }
    if (this.kind === 'diverging') { const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1e-12; lo = -m; hi = m; }
    if (hi === lo) hi = lo + 1e-12;
    this.lo = lo;
    this.hi = hi;
    this.title.textContent = H === 1 && C === 1 ? this.t('mapTitleVector', name, n, W) : this.t('mapTitle', name, n, C, H, W);
    drawLegend(this.legend, this.kind, lo, hi);
    this.legend.setAttribute('aria-label', this.t('colourScale', fmt(lo), fmt(hi)));
    this.grid.innerHTML = '';
    // maps of ~84 px; a row vector ([N, K] shown as 1×K) gets cells big enough to point at
    const zoom = H === 1 ? Math.max(8, Math.floor(640 / W)) : Math.max(2, Math.floor(84 / Math.max(H, W)));
    this.canvases = [];
    for (let c = 0; c < C; c++) {
      const fig = el('figure', 'map');
      const cv = el('canvas');
      cv.width = W;
      cv.height = H;
      cv.style.width = `${W * zoom}px`;
      cv.style.height = `${H * zoom}px`;
      const img = cv.getContext('2d').createImageData(W, H);
      for (let i = 0; i < plane; i++) {
        const v = slice[c * plane + i];
        const [r, g, b] = this.kind === 'diverging' ? diverging(v / hi) : sequential((v - lo) / (hi - lo));
        img.data.set([r, g, b, 255], 4 * i);
      }
      cv.getContext('2d').putImageData(img, 0, 0);
      cv.dataset.channel = c;
      cv.addEventListener('mousemove', (e) => {
        const r = cv.getBoundingClientRect();
        const x = Math.min(H - 1, Math.floor(((e.clientY - r.top) / r.height) * H));
        const y = Math.min(W - 1, Math.floor(((e.clientX - r.left) / r.width) * W));
        if (!sameCell({ c, x, y }, this.cell)) this.select({ c, x, y });
      });
      const cap = el('figcaption');
      cap.textContent = `c=${c}`;
      fig.append(cv, cap);
      this.grid.append(fig);
      this.canvases.push(cv);
    }
    this.cell = { c: Math.min(this.cell.c, C - 1), x: Math.min(this.cell.x, H - 1), y: Math.min(this.cell.y, W - 1) };
    this.select(this.cell, { notify: false });
  }

  /** Puts the cursor, quietly, on the cell of image n with the largest |value| and returns it
   *  (a default cell whose formula has numbers worth reading). */
  selectLargest() {
    const [, C, H, W] = this.shape;
    const base = this.n * C * H * W;
    let best = 0;
    for (let k = 1; k < C * H * W; k++) if (Math.abs(this.data[base + k]) > Math.abs(this.data[base + best])) best = k;
    const cell = { c: Math.floor(best / (H * W)), x: Math.floor(best / W) % H, y: best % W };
    this.select(cell, { notify: false });
    return cell;
  }

  /** Moves the cursor to channel c, row x, column y (of image n), shows the value and (unless
   *  notify is false) tells onCell. */
  select({ c, x, y }, { notify = true } = {}) {
    if (!this.shape) return;
    const [, C, H, W] = this.shape;
    this.cell = { c, x, y };
    const v = this.data[((this.n * C + c) * H + x) * W + y];
    this.cursor.report(`${this.name}[n=${this.n}, c=${c}, x=${x}, y=${y}] = ${fmt(v)}`, [this.n, c, x, y], v);
    this.canvases.forEach((cv, i) => cv.parentElement.classList.toggle('current', i === c));
    this.#drawCursor();
    if (notify) this.onCell?.({ name: this.name, n: this.n, c, x, y, value: v });
  }

  #drawCursor() {
    this.root.querySelector('.cursor')?.remove();
    const cv = this.canvases[this.cell.c];
    const [, , H, W] = this.shape;
    const box = el('div', 'cursor');
    const fig = cv.parentElement;
    const w = cv.offsetWidth / W, h = cv.offsetHeight / H;
    const pad = 2; // the box surrounds the cell, so a 3-px cell stays visible
    box.style.left = `${cv.offsetLeft + this.cell.y * w - pad}px`;
    box.style.top = `${cv.offsetTop + this.cell.x * h - pad}px`;
    box.style.width = `${w + 2 * pad}px`;
    box.style.height = `${h + 2 * pad}px`;
    fig.append(box);
  }

  // where a key leads: arrows move within the map, PageUp/PageDown to the previous/next channel
  #step(key) {
    if (!this.shape) return null;
    const [, C, H, W] = this.shape;
    const { c, x, y } = this.cell;
    const move = { ArrowUp: [0, -1, 0], ArrowDown: [0, 1, 0], ArrowLeft: [0, 0, -1], ArrowRight: [0, 0, 1], PageUp: [-1, 0, 0], PageDown: [1, 0, 0] }[key];
    if (!move) return null; // (Home and End move nothing here)
    const [dc, dx, dy] = move;
    return { c: (c + dc + C) % C, x: Math.min(H - 1, Math.max(0, x + dx)), y: Math.min(W - 1, Math.max(0, y + dy)) };
  }
}

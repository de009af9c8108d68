// The gradient flow's pictures, drawn from the engine's records (resnet_engine::compare):
//   FlowMap      rows × steps (layers or residual blocks), a colour per value, log scale or
//                linear, with a legend bar and its numbers; hover or arrow keys pick a cell and
//                `onpick` hears of it (the page writes the numbers out).
//   Profile      a value by depth, one line per model (the "now" of the flow, log scale).
import { Cursor } from './cursor.js';
import { english } from '../i18n.js';
import { themeColour } from '../colormap.js';

const LOG = (v) => Math.log10(v);

// a perceptual ramp (viridis, 6 stops), t in [0, 1]
const RAMP = [[68, 1, 84], [65, 68, 135], [42, 120, 142], [34, 168, 132], [122, 209, 81], [253, 231, 37]];
export function rampColour(t) {
  const x = Math.min(1, Math.max(0, t)) * (RAMP.length - 1), i = Math.min(RAMP.length - 2, Math.floor(x)), f = x - i;
  const c = RAMP[i].map((a, k) => Math.round(a + f * (RAMP[i + 1][k] - a)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** A number for a legend or a readout: 3 significant digits, exponent form when tiny or huge. */
export const num = (v) => (!Number.isFinite(v) ? '–' : v === 0 ? '0' : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toPrecision(3));

function fit(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const W = Math.round(canvas.clientWidth || 300), H = Math.round(canvas.clientHeight || 150);
  if (canvas.width !== Math.round(W * dpr) || canvas.height !== Math.round(H * dpr)) { canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr); }
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, W, H);
  g.font = '11px system-ui, sans-serif';
  return { g, W, H };
}

export class FlowMap {
  /** @param {HTMLCanvasElement} canvas  @param {{log?: boolean, onpick?: Function}} opts */
  constructor(canvas, { log = true, onpick = null, t = english } = {}) {
    Object.assign(this, { canvas, log, onpick, t });
    this.rows = []; this.steps = []; this.values = null; this.cursor = null; this.marker = null; this.unit = '';
    canvas.onmousemove = (e) => this.#pickAt(e);
    // (the page words the picked cell: no readout of the cursor's own)
    new Cursor(canvas, {
      step: (key) => this.#step(key),
      select: (cell) => { if (cell) this.pick(cell.row, cell.col); else if (!this.cursor && this.steps.length) this.pick(0, this.steps.length - 1); },
      readout: false,
    });
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  /** rows: names top to bottom; steps: the records' steps; values: Float64Array-like, record-major. */
  set({ rows, steps, values, unit, range = null }) {
    Object.assign(this, { rows, steps, values, unit, range });
    if (this.cursor && (this.cursor.row >= rows.length || this.cursor.col >= steps.length)) this.cursor = null;
    this.draw();
  }

  /** Marks the column of `step` (the rewind slider's step), or none. */
  mark(step) { this.marker = step; this.draw(); }

  value(row, col) { return this.values[col * this.rows.length + row]; }

  pick(row, col) {
    this.cursor = { row, col };
    this.draw();
    this.onpick?.({ row: this.rows[row], step: this.steps[col], value: this.value(row, col), rowIndex: row, col });
  }

  // margins: the left one fits the longest row name (at most 40 % of the width; longer names
  // lose their start to "…"); it is kept on the canvas (data-left) for pointer maths and tests
  #layout() {
    const g = this.canvas.getContext('2d');
    g.font = '11px system-ui, sans-serif';
    const W = this.canvas.clientWidth || 300;
    const widest = Math.max(40, ...this.rows.map((r) => g.measureText(r).width));
    const L = Math.ceil(Math.min(widest + 8, 0.4 * W)), T = 6, B = 30;
    // the right one: the legend bar and its widest number
    const [lo, hi] = this.#scale();
    const R = Math.ceil(12 + 12 + 3 + Math.max(...[lo, (lo + hi) / 2, hi].map((t) => g.measureText(this.#label(t)).width)) + 4);
    Object.assign(this.canvas.dataset, { left: String(L), right: String(R) });
    return { L, R, T, B };
  }

  #label(t) {
    return num(this.log ? 10 ** t : t);
  }

  #name(g, text, room) {
    if (g.measureText(text).width <= room) return text;
    let t = text;
    while (t.length > 1 && g.measureText(`…${t}`).width > room) t = t.slice(1);
    return `…${t}`;
  }

  #pickAt(e) {
    if (!this.steps.length) return;
    const r = this.canvas.getBoundingClientRect(), { L, R, T, B } = this.#layout();
    const x = e.clientX - r.left, y = e.clientY - r.top;
    const col = Math.floor(((x - L) / (r.width - L - R)) * this.steps.length), row = Math.floor(((y - T) / (r.height - T - B)) * this.rows.length);
    if (col >= 0 && col < this.steps.length && row >= 0 && row < this.rows.length) this.pick(row, col);
  }

  // where a key leads: arrows by one row or record, Home/End to the first/last record
  #step(key) {
    if (!this.steps.length) return null;
    const c = this.cursor ?? { row: 0, col: this.steps.length - 1 };
    const move = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1], Home: [0, -c.col], End: [0, this.steps.length] }[key];
    if (!move) return null;
    return { row: Math.min(this.rows.length - 1, Math.max(0, c.row + move[0])), col: Math.min(this.steps.length - 1, Math.max(0, c.col + move[1])) };
  }

  #scale() {
    if (this.range) return this.range;
    let lo = Infinity, hi = -Infinity;
    for (const v of this.values ?? []) {
      const t = this.log ? (v > 0 ? LOG(v) : NaN) : v;
      if (Number.isFinite(t)) { lo = Math.min(lo, t); hi = Math.max(hi, t); }
    }
    if (lo === Infinity) return [0, 1];
    return hi - lo < 1e-9 ? [lo - 0.5, hi + 0.5] : [lo, hi];
  }

  draw() {
    const { g, W, H } = fit(this.canvas), { L, R, T, B } = this.#layout();
    g.fillStyle = themeColour(this.canvas, '--muted', '#5b6673');
    if (!this.steps.length || !this.rows.length) {
      g.textAlign = 'center';
      g.fillText(this.t('noRecords'), W / 2, H / 2);
      return;
    }
    const [lo, hi] = this.#scale(), n = this.rows.length, m = this.steps.length;
    const cw = (W - L - R) / m, rh = (H - T - B) / n;
    for (let col = 0; col < m; col++) {
      for (let row = 0; row < n; row++) {
        const v = this.value(row, col), t = this.log ? (v > 0 ? LOG(v) : NaN) : v;
        g.fillStyle = Number.isFinite(t) ? rampColour((t - lo) / (hi - lo)) : '#ccc';
        g.fillRect(L + col * cw, T + row * rh, Math.ceil(cw), Math.ceil(rh));
      }
    }
    // row names: as many as fit, evenly
    g.fillStyle = themeColour(this.canvas, '--fg', '#1d232b');
    g.textAlign = 'right';
    const every = Math.max(1, Math.ceil(12 / rh));
    for (let row = 0; row < n; row += every) g.fillText(this.#name(g, this.rows[row], L - 6), L - 4, T + (row + 0.5) * rh + 4);
    g.fillStyle = themeColour(this.canvas, '--muted', '#5b6673');
    g.textAlign = 'left';
    g.fillText(this.t('stepAt', this.steps[0]), L, H - B + 14);
    g.textAlign = 'right';
    g.fillText(this.t('stepAt', this.steps[m - 1]), W - R, H - B + 14);
    g.textAlign = 'center';
    g.fillText(this.t('trainingStepArrow'), (L + W - R) / 2, H - 4);
    if (this.marker != null) {
      const col = this.steps.findIndex((s) => s >= this.marker);
      if (col >= 0) { g.strokeStyle = '#d9730d'; g.lineWidth = 2; g.beginPath(); g.moveTo(L + (col + 0.5) * cw, T); g.lineTo(L + (col + 0.5) * cw, H - B); g.stroke(); }
    }
    if (this.cursor) {
      g.strokeStyle = '#fff'; g.lineWidth = 2;
      g.strokeRect(L + this.cursor.col * cw, T + this.cursor.row * rh, Math.max(cw, 3), Math.max(rh, 3));
      g.strokeStyle = '#000'; g.lineWidth = 1;
      g.strokeRect(L + this.cursor.col * cw - 1, T + this.cursor.row * rh - 1, Math.max(cw, 3) + 2, Math.max(rh, 3) + 2);
    }
    // the legend: a bar with its numbers at both ends and the middle
    const bx = W - R + 12, bw = 12, bh = H - T - B;
    for (let i = 0; i < bh; i++) { g.fillStyle = rampColour(1 - i / bh); g.fillRect(bx, T + i, bw, 1.5); }
    g.fillStyle = themeColour(this.canvas, '--fg', '#1d232b');
    g.textAlign = 'left';
    const label = (t) => this.#label(t);
    g.fillText(label(hi), bx + bw + 3, T + 9);
    g.fillText(label((lo + hi) / 2), bx + bw + 3, T + bh / 2 + 4);
    g.fillText(label(lo), bx + bw + 3, T + bh);
    if (this.log) { g.fillStyle = themeColour(this.canvas, '--muted', '#5b6673'); g.fillText(this.t('log'), bx - 2, H - B + 14); }
  }
}

export class Profile {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas, t = english) {
    this.t = t;
    this.canvas = canvas;
    this.lines = []; // {label, colour, values}
    this.yLabel = '';
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  set(lines, yLabel) { this.lines = lines; this.yLabel = yLabel; this.draw(); }

  draw() {
    const { g, W, H } = fit(this.canvas), L = 58, R = 12, T = 22, B = 30;
    const all = this.lines.flatMap((l) => [...l.values]).filter((v) => v > 0);
    g.fillStyle = themeColour(this.canvas, '--muted', '#5b6673');
    if (!all.length) { g.textAlign = 'center'; g.fillText(this.t('noRecordsShort'), W / 2, H / 2); return; }
    let lo = Math.floor(LOG(Math.min(...all))), hi = Math.ceil(LOG(Math.max(...all)));
    if (hi === lo) hi = lo + 1;
    const n = Math.max(...this.lines.map((l) => l.values.length));
    const x = (i) => L + ((W - L - R) * i) / Math.max(1, n - 1), y = (v) => T + (H - T - B) * (1 - (LOG(v) - lo) / (hi - lo));
    g.strokeStyle = themeColour(this.canvas, '--line', '#dfe3e8'); g.lineWidth = 1; g.textAlign = 'right';
    const every = Math.ceil((hi - lo) / 5);
    for (let e = lo; e <= hi; e += every) {
      g.beginPath(); g.moveTo(L, y(10 ** e) + 0.5); g.lineTo(W - R, y(10 ** e) + 0.5); g.stroke();
      g.fillText(num(10 ** e), L - 6, y(10 ** e) + 4);
    }
    g.textAlign = 'left'; g.fillText(this.t('firstLayer'), L, H - B + 14);
    g.textAlign = 'right'; g.fillText(this.t('layerN', n), W - R, H - B + 14);
    g.textAlign = 'center'; g.fillText(this.t('depthArrow'), (L + W - R) / 2, H - 4);
    g.save(); g.translate(11, (T + H - B) / 2); g.rotate(-Math.PI / 2); g.fillText(`${this.yLabel} (${this.t('log')})`, 0, 0); g.restore();
    let lx = W - R;
    g.textAlign = 'right';
    for (const l of [...this.lines].reverse()) {
      const w = g.measureText(l.label).width;
      g.fillStyle = themeColour(this.canvas, '--fg', '#1d232b'); g.fillText(l.label, lx, 12);
      g.fillStyle = l.colour; g.fillRect(lx - w - 16, 6, 11, 3);
      lx -= w + 30;
    }
    for (const l of this.lines) {
      g.strokeStyle = l.colour; g.lineWidth = 1.5; g.beginPath();
      let started = false;
      l.values.forEach((v, i) => { if (!(v > 0)) return; if (started) g.lineTo(x(i), y(v)); else { g.moveTo(x(i), y(v)); started = true; } });
      g.stroke();
    }
  }
}

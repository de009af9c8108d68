// A line chart on a canvas with labelled axes and a legend: several series of (step, value)
// points, e.g. the training batch's loss and the held-out loss. The y range is [0, yMax]
// (yMax grows with the data unless fixed, as for accuracy).
import { themeColour } from '../colormap.js';
const MAX_POINTS = 4000; // a series' points kept (older ones thinned)

export class Chart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{yLabel: string, yMax?: number, fixed?: boolean, percent?: boolean,
   *          series: {key: string, label: string, colour: string, dots?: boolean}[]}} opts
   * (a series whose label is empty has no legend entry: e.g. a model's held-out dots, drawn in
   * its colour)
   */
  constructor(canvas, { yLabel, yMax = 1, fixed = false, percent = false, series, linesScale = false, xLabel = 'training step' }) {
    // linesScale: the y range follows the lines only; a dot above it is drawn at the top as ▲
    // (compare mode: an untrained plain net's held-out loss of 30 would flatten every line)
    Object.assign(this, { canvas, yLabel, yMax, fixed, percent, series, linesScale, xLabel });
    this.data = Object.fromEntries(series.map((s) => [s.key, []]));
    this.draw();
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  /** Other series (compare mode: one per model); their points start empty. */
  setSeries(series) {
    this.series = series;
    this.data = Object.fromEntries(series.map((s) => [s.key, []]));
    this.draw();
  }

  add(key, step, value) {
    if (!Number.isFinite(value)) return;
    const pts = this.data[key];
    pts.push([step, value]);
    // a long run keeps every other old point, so drawing stays cheap and the shape stays
    if (pts.length > MAX_POINTS) this.data[key] = pts.filter((_, i) => i % 2 === 0 || i >= pts.length - 100);
  }

  /** The points, for saving; `load` puts them back. */
  toJSON() { return this.data; }

  /** Puts saved points back (a session file's: checked, since anyone can write one): pairs of
   *  finite numbers only, steps 0–1e9, values within ±1e6, in step order, at most 4000 a series
   *  (thinned evenly beyond). */
  load(data) {
    const ok = (p) => Array.isArray(p) && p.length === 2 && p.every(Number.isFinite) && p[0] >= 0 && p[0] <= 1e9 && Math.abs(p[1]) <= 1e6;
    for (const k of Object.keys(this.data)) {
      let pts = Array.isArray(data?.[k]) ? data[k].filter(ok).map(([st, v]) => [st, v]) : [];
      pts.sort((a, b) => a[0] - b[0]);
      if (pts.length > MAX_POINTS) {
        const every = Math.ceil(pts.length / (MAX_POINTS - 1)); // (the last point is kept too)
        pts = pts.filter((_, i) => i % every === 0 || i === pts.length - 1);
      }
      this.data[k] = pts;
    }
    this.draw();
  }

  clear() {
    for (const k of Object.keys(this.data)) this.data[k] = [];
    this.draw();
  }

  draw() {
    // drawn at the size the page lays it out, in device pixels, so text stays crisp
    const c = this.canvas, g = c.getContext('2d');
    const dpr = window.devicePixelRatio || 1;
    const W = Math.round(c.clientWidth || c.width / dpr), H = Math.round(c.clientHeight || c.height / dpr), B = 34, T = 24, R = 12;
    if (c.width !== Math.round(W * dpr) || c.height !== Math.round(H * dpr)) { c.width = Math.round(W * dpr); c.height = Math.round(H * dpr); }
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    g.font = '11px system-ui, sans-serif';
    let top = this.yMax, minStep = Infinity, last = -Infinity;
    for (const s of this.series) {
      const scales = !(this.linesScale && s.dots);
      for (const [st, v] of this.data[s.key] ?? []) { if (scales) top = Math.max(top, v); minStep = Math.min(minStep, st); last = Math.max(last, st); }
    }
    if (minStep === Infinity) minStep = 0;
    const yMax = this.fixed ? this.yMax : niceCeil(top);
    const label = (v) => (this.percent ? `${Math.round(100 * v)} %` : yMax >= 1e4 ? v.toExponential(1) : v.toFixed(yMax < 2 ? 2 : 1));
    // the left margin fits the widest tick label next to the rotated axis name (which ends
    // at x ≈ 17), with a gap of at least 3 px
    const L = Math.max(48, 27 + Math.ceil(Math.max(...[0, 1, 2, 3, 4].map((i) => g.measureText(label((yMax * i) / 4)).width))));
    const maxStep = Math.max(minStep + 10, last);
    const x = (s) => L + (W - L - R) * ((s - minStep) / (maxStep - minStep));
    const y = (v) => T + (H - T - B) * (1 - Math.min(v, yMax) / yMax);
    // the theme's colours (a dark widget's too), from the page's custom properties
    const colour = (name, fallback) => themeColour(this.canvas, name, fallback);
    g.strokeStyle = colour('--line', '#dfe3e8');
    g.fillStyle = colour('--muted', '#5b6673');
    g.lineWidth = 1;
    g.textAlign = 'right';
    for (let i = 0; i <= 4; i++) {
      const v = (yMax * i) / 4;
      g.beginPath(); g.moveTo(L, y(v) + 0.5); g.lineTo(W - R, y(v) + 0.5); g.stroke();
      g.fillText(label(v), L - 6, y(v) + 4);
    }
    g.textAlign = 'left';
    g.fillText(String(minStep), L, H - B + 14);
    g.textAlign = 'right';
    g.fillText(String(maxStep), W - R, H - B + 14);
    g.textAlign = 'center';
    g.fillText(this.xLabel, (L + W - R) / 2, H - 4);
    g.save();
    g.translate(11, (T + H - B) / 2);
    g.rotate(-Math.PI / 2);
    g.fillText(this.yLabel, 0, 0);
    g.restore();
    // legend, top right
    let lx = W - R;
    g.textAlign = 'right';
    for (const s of [...this.series].reverse().filter((s) => s.label)) {
      const w = g.measureText(s.label).width;
      g.fillStyle = colour('--fg', '#1d232b');
      g.fillText(s.label, lx, 12);
      g.fillStyle = s.colour;
      g.fillRect(lx - w - 16, 6, 11, 3);
      lx -= w + 30;
    }
    for (const s of this.series) {
      const pts = this.data[s.key];
      if (!pts.length) continue;
      g.strokeStyle = s.colour;
      g.fillStyle = s.colour;
      g.lineWidth = 1.5;
      g.beginPath();
      pts.forEach(([st, v], i) => (i ? g.lineTo(x(st), y(v)) : g.moveTo(x(st), y(v))));
      g.stroke();
      if (s.dots) {
        for (const [st, v] of pts) {
          g.beginPath();
          if (v > yMax) { g.moveTo(x(st), y(v) - 1); g.lineTo(x(st) - 4, y(v) + 6); g.lineTo(x(st) + 4, y(v) + 6); g.closePath(); } // off the chart
          else g.arc(x(st), y(v), 2.5, 0, 2 * Math.PI);
          g.fill();
        }
      }
    }
  }
}

function niceCeil(v) {
  for (const m of [0.5, 1, 2, 2.5, 3, 4, 5, 10, 20, 50, 100]) if (v <= m) return m;
  return Math.ceil(v);
}

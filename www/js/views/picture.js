// The notes' picture beside a conv formula, drawn from the engine's `formulaPicture` answer
// (resnet_engine::formula::Picture): the grid with its zeros, the K×K window, the outlined
// δ^{l+1} cells and the kernel entries they meet. Every position comes from the engine; this
// module only paints and words them.
import { diverging, sequential } from '../colormap.js';
import { el } from '../dom.js';
import { english } from '../i18n.js';

/**
 * The picture box for one formula. `pic`: the engine's picture of the largest term's channel;
 * `channel(ch)`: resolves with the picture of channel `ch` (the ◀ ▶ buttons ask for it).
 */
export function pictureBox(pic, channel, t = english) {
  const box = el('div', 'picture');
  box.dataset.part = 'picture'; // (an author may hide it: widget-settings.js)
  const head = el('div', 'picture-head');
  const prev = el('button', 'secondary small', '◀');
  const next = el('button', 'secondary small', '▶');
  prev.type = next.type = 'button';
  prev.setAttribute('aria-label', t('prevChannel', pic.axis));
  next.setAttribute('aria-label', t('nextChannel', pic.axis));
  const label = el('span', 'picture-label');
  label.setAttribute('aria-live', 'polite');
  head.append(prev, label, next);
  const row = el('div', 'picture-row');
  const big = el('canvas', 'picture-map');
  const kern = el('canvas', 'picture-kernel');
  const legend = el('p', 'picture-legend');
  row.append(figure(big), figure(kern));
  box.append(head, row, legend);
  const draw = (p) => {
    label.textContent = t('channelOf', p.axis, p.channel, p.channel === p.largest, p.channels);
    drawMap(big, p, t);
    drawKernel(kern, p, t);
    legend.textContent = p.kind === 'delta' ? t('deltaLegend', p.reach.length, p.window[0], p.window[1]) : t('forwardLegend', p.window[0], p.window[1]);
  };
  let shown = pic;
  const go = (step) => async () => {
    const ch = (shown.channel + step + shown.channels) % shown.channels;
    try {
      shown = await channel(ch);
      draw(shown);
    } catch (e) {
      legend.textContent = t('channelFailed', ch, e.message);
    }
  };
  prev.onclick = go(-1);
  next.onclick = go(1);
  draw(pic);
  return box;
}

function figure(canvas) {
  const f = el('figure', 'picture-fig');
  f.append(canvas, el('figcaption', ''));
  return f;
}

// the map: δ^{l+1} dilated and padded (delta), or the padded input (forward), with the window
function drawMap(canvas, p, t) {
  const [lo, hi] = p.range;
  const colour = p.kind === 'delta'
    ? ((m) => (v) => diverging(v / (m || 1)))(Math.max(Math.abs(lo), Math.abs(hi)))
    : (v) => sequential((v - lo) / (hi - lo || 1));
  drawGrid(canvas, p.rows, p.cols, (r, c) => p.cells[r * p.cols + c], colour, { window: [...p.window, p.k], outline: p.outline });
  const d = canvas.dataset;
  d.highlight = JSON.stringify(p.reach);
  d.outline = JSON.stringify(p.outline);
  d.grid = JSON.stringify([p.rows, p.cols, p.pad]);
  d.channel = String(p.channel);
  d.window = JSON.stringify(p.window);
  canvas.setAttribute('role', 'img');
  const where = `${p.tensor}[n=${p.n}, ${p.axis}=${p.channel}]`;
  if (p.kind === 'delta') {
    canvas.setAttribute('aria-label', t('deltaMapLabel', p.tensor, p.channel, p.reach.length));
    canvas.nextElementSibling.textContent = t('deltaMapCaption', where, p.map[0], p.map[1], p.stride, p.pad, p.extra);
  } else {
    canvas.setAttribute('aria-label', t('forwardMapLabel', p.tensor, p.channel));
    canvas.nextElementSibling.textContent = t('forwardMapCaption', where, p.pad);
  }
}

// the kernel: ROT180(w[o, i]) (delta) or w[o, i] (forward), the entries met outlined
function drawKernel(canvas, p, t) {
  const [o, i] = p.kernel_of;
  drawGrid(canvas, p.k, p.k, (r, c) => p.kernel[r * p.k + c], (v) => diverging(v / (p.kernel_max || 1)), { outline: p.used, labels: true });
  canvas.dataset.used = JSON.stringify(p.used.map(String).sort());
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', p.rotated ? t('kernelRotLabel', p.conv, o, i) : `${p.conv}.weight[${o}, ${i}]`);
  canvas.nextElementSibling.textContent = t(p.rotated ? 'kernelRotCaption' : 'kernelCaption', p.conv, o, i);
}

/** Draws an H×W grid of cells; `value(r, c)` is a number, 'padding' or 'dilation' (a zero the
 *  picture adds). */
function drawGrid(canvas, H, W, value, colour, { window = null, outline = [], labels = false } = {}) {
  const px = labels ? 46 : Math.max(6, Math.min(22, Math.floor(320 / Math.max(H, W))));
  canvas.width = W * px + 1;
  canvas.height = H * px + 1;
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, canvas.width, canvas.height);
  for (let r = 0; r < H; r++) {
    for (let c = 0; c < W; c++) {
      const v = value(r, c);
      if (v === 'padding') {
        g.fillStyle = '#d9dde2';
        g.fillRect(c * px, r * px, px, px);
      } else if (v === 'dilation') {
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

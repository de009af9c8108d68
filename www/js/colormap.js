// The page's two colour scales, in one place:
//   sequential(t)  t in [0, 1]: dark blue → teal → yellow (viridis-like), for activations
//   diverging(t)   t in [-1, 1]: blue (negative) → white (0) → red (positive), for δ and ∂C/∂w
// Both return [r, g, b] bytes.

const VIRIDIS = [
  [68, 1, 84], [72, 35, 116], [64, 67, 135], [52, 94, 141], [41, 120, 142],
  [32, 144, 140], [34, 167, 132], [68, 190, 112], [121, 209, 81], [189, 222, 38], [253, 231, 37],
];

function lerp(stops, t) {
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  return stops[i].map((v, k) => Math.round(v + f * (stops[i + 1][k] - v)));
}

export function sequential(t) {
  return lerp(VIRIDIS, t);
}

const BLUE = [33, 102, 172], RED = [178, 24, 43], WHITE = [247, 247, 247];
export function diverging(t) {
  const c = Math.min(1, Math.max(-1, t));
  const end = c < 0 ? BLUE : RED;
  const f = Math.abs(c);
  return WHITE.map((w, k) => Math.round(w + f * (end[k] - w)));
}

/** A colour of the theme the element sits in (its CSS custom property `name`: --fg, --muted,
 *  --line), for drawing on a canvas in light and dark alike. */
export function themeColour(el, name, fallback) {
  return getComputedStyle(el).getPropertyValue(name).trim() || fallback;
}

/** A horizontal legend bar for `scale` on a canvas, labelled with `lo` and `hi` (and 0 for diverging). */
export function drawLegend(canvas, kind, lo, hi) {
  const g = canvas.getContext('2d');
  const W = canvas.width, H = canvas.height, bar = 12, pad = 4;
  g.clearRect(0, 0, W, H);
  for (let x = 0; x < W - 2 * pad; x++) {
    const t = x / (W - 2 * pad - 1);
    const [r, gg, b] = kind === 'diverging' ? diverging(2 * t - 1) : sequential(t);
    g.fillStyle = `rgb(${r},${gg},${b})`;
    g.fillRect(pad + x, 0, 1, bar);
  }
  g.fillStyle = themeColour(canvas, '--fg', '#1d232b');
  g.font = '11px system-ui, sans-serif';
  g.textBaseline = 'top';
  g.textAlign = 'left';
  g.fillText(fmt(lo), pad, bar + 3);
  g.textAlign = 'right';
  g.fillText(fmt(hi), W - pad, bar + 3);
  if (kind === 'diverging') {
    g.textAlign = 'center';
    g.fillText('0', W / 2, bar + 3);
  }
}

/** Numbers as the page shows them: 4 significant digits, exponent form when tiny or huge. */
export function fmt(v) {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(2) : v.toPrecision(4).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}

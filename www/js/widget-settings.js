// An author's settings of a <resnet-playground>: every setting a lesson needs is an attribute
// named as the full page's URL parameter (arch or compare, sample, target, layer, cell, steps,
// lr, batch, optimizer, seed; the page reads `sample` and `optimizer` beside its `digit` and
// `opt`), and hide="…" hides parts of a view (TensorFlow Playground's hide flags are the
// precedent). Values are checked by the page's own rules (state.js; the training settings'
// ranges are the engine's); one that does not parse is ignored, and a console warning names it.
import { parseValue, whatIs, visible, urlOf, DEFAULTS } from './state.js';

export const VIEWS = ['formula', 'featuremaps', 'delta', 'draw', 'train', 'compare', 'flow', 'full'];

/** The parts of each view an author may hide: elements marked data-part="<name>". */
export const PARTS = {
  formula: ['map', 'pane', 'picture', 'terms', 'numeric', 'open'],
  featuremaps: ['map', 'open'],
  delta: ['map', 'open'],
  draw: ['pad', 'probabilities', 'open'],
  train: ['start', 'stop', 'reset', 'stats', 'curve', 'open'],
  compare: ['settings', 'buttons', 'legend', 'curves', 'open'],
  flow: ['settings', 'buttons', 'legend', 'curves', 'flow', 'open'],
  full: [],
};

// attribute → the page's URL parameter (state.js's key)
const PAGE_KEY = { arch: 'arch', compare: 'compare', sample: 'digit', target: 'target', layer: 'layer', steps: 'steps', lr: 'lr', batch: 'batch', optimizer: 'opt', seed: 'seed' };
export const SETTING_ATTRIBUTES = [...Object.keys(PAGE_KEY), 'hide'];

/** The widget's settings from its attributes (call once the engine's ranges are known):
 *  {values: by the page's keys, hide: Set of part names, ignored: one sentence per value left out}. */
export function readSettings(el) {
  const values = {}, ignored = [];
  const view = el.getAttribute('view');
  if (view !== null && !VIEWS.includes(view)) ignored.push(`view="${visible(view)}" is not a view (${VIEWS.join(', ')})`);
  for (const [attr, key] of Object.entries(PAGE_KEY)) {
    const raw = el.getAttribute(attr);
    if (raw === null || raw === '') continue;
    // (a layer is the model's to judge: one it lacks is said in the widget, with its layers)
    if (key === 'layer') { values.layer = raw; continue; }
    const v = parseValue(key, raw);
    if (v === undefined) ignored.push(`${attr}="${visible(raw.slice(0, 60))}" ${whatIs(key)}`);
    else values[key] = v;
  }
  const shown = VIEWS.includes(view) ? view : 'formula';
  const hide = new Set();
  for (const part of (el.getAttribute('hide') ?? '').split(/[\s,]+/).filter(Boolean)) {
    if (PARTS[shown].includes(part)) hide.add(part);
    else ignored.push(`hide="${visible(part.slice(0, 60))}": the ${shown} view has no such part (${PARTS[shown].join(', ') || 'none'})`);
  }
  return { values, hide, ignored };
}

/** A style sheet that hides the parts in `hide` (constructed: no inline style, CSP-safe). */
export function hidingSheet(hide) {
  const sheet = new CSSStyleSheet();
  sheet.replaceSync([...hide].map((p) => `[data-part="${p}"] { display: none !important; }`).join('\n'));
  return sheet;
}

/** The full page's link for what a widget shows: its settings, layer and cell (grid: the
 *  page's acts | deltas | input), or its comparison. */
export function playgroundUrl(site, values, { layer = null, grid = null, cell = null, compare = null, lang = 'en' } = {}) {
  const state = { ...Object.fromEntries(Object.keys(DEFAULTS).map((k) => [k, null])), ...values, layer, compare: compare ?? values.compare ?? null };
  if (grid && cell) state.cell = { grid, idx: cell };
  return new URL(`index.html${urlOf(state, lang === 'en' ? '' : `?lang=${lang}`)}`, site).href;
}

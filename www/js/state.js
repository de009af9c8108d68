// The page's shared state and its URL form, so a link reproduces a view:
//   ?arch=plain20&layer=layer2.0.conv1&digit=7&target=3&cell=input:0,3,4,6&lr=0.05&batch=32&opt=sgd&seed=1&steps=200
//   &compare=plain20,resnet20   (compare mode's models)
//   &hide=compare,export        (parts of the page to hide: page/parts.js)
// `sample` and `optimizer` (the widget's attribute names) are read as `digit` and `opt`.
// `cell` is `<grid>:<indices>`: grid `acts`, `deltas`, `input` (δ at a conv's input) with
// c,x,y, or `weights` with o,i,a,b. `arch` names the network (the engine reads the id:
// resnet8, resnet20, plain56, resnet20-a-nobn, …; its form is checked here, its meaning there).
// Without `layer` the page shows the layer the engine's graph names as its focus. Values that
// do not parse fall back to the defaults, and each one is reported so the page can say what it
// ignored. (Whether a layer exists or a cell is inside its map is checked later, against the
// model.) The training settings' ranges and defaults (lr, batch, opt, seed, steps) are the
// engine's (`settings()`, resnet_engine::train::SETTINGS): `useSettings` hands them over, and
// until then those keys are not read.
import { english } from './i18n.js';

export const DEFAULTS = { arch: 'resnet8', layer: null, digit: 0, target: null, cell: null, compare: null };
let LIMITS = null;

/** The engine's training settings: their ranges check the values, their defaults fill DEFAULTS. */
export function useSettings(settings) {
  LIMITS = settings;
  const { lr, batch, opt, seed, steps } = settings.defaults;
  Object.assign(DEFAULTS, { lr, batch, opt, seed, steps });
}

export const GRIDS = ['acts', 'deltas', 'input', 'weights'];
export const SETTING_KEYS = ['lr', 'batch', 'opt', 'seed', 'steps'];

const int = (lo, hi) => (v) => (/^\d{1,10}$/.test(v) && Number(v) >= lo && Number(v) <= hi ? Number(v) : undefined);
const range = (key) => (v) => int(...LIMITS[key])(v);
const PARSE = {
  arch: (v) => (/^[a-z]{1,12}\d{1,3}(-[a-z0-9]{1,6}){0,3}$/i.test(v) ? v.toLowerCase() : undefined),
  // compare mode's models: network names, comma-separated (how many the engine says)
  compare: (v) => {
    const ids = v.split(',').map((id) => PARSE.arch(id));
    return ids.length <= 8 && ids.every(Boolean) ? ids.join(',') : undefined;
  },
  layer: (v) => (/^[a-z0-9_.]{1,40}$/i.test(v) ? v : undefined),
  digit: int(0, 1999),
  target: int(0, 9),
  cell: (v) => {
    const m = /^([a-z]+):(\d{1,4}(?:,\d{1,4}){2,3})$/.exec(v);
    if (!m || !GRIDS.includes(m[1])) return undefined;
    const idx = m[2].split(',').map(Number);
    if ((m[1] === 'weights') !== (idx.length === 4)) return undefined;
    return { grid: m[1], idx };
  },
  lr: (v) => (/^\d*\.?\d+(e-?\d+)?$/i.test(v) && Number(v) > LIMITS.lr[0] && Number(v) <= LIMITS.lr[1] ? Number(v) : undefined),
  batch: range('batch'),
  opt: (v) => (v === 'sgd' || v === 'adam' ? v : undefined),
  seed: range('seed'),
  steps: range('steps'),
};

/** What a value of `key` must be, for a message ("is not a batch size (1–256)"), in the words
 *  of `t` (i18n.js; the tables' whatIs). */
export function whatIs(key, t = english) {
  return t('whatIs', key, LIMITS);
}

const readable = (key) => LIMITS || !SETTING_KEYS.includes(key);

/** One value of `key` from text (an input field, a saved session) by the URL's rules, or undefined. */
export function parseValue(key, raw) {
  return PARSE[key] && readable(key) ? PARSE[key](String(raw).trim()) : undefined;
}

/** `text` with its bidirectional control characters (U+202E RIGHT-TO-LEFT OVERRIDE and kin)
 *  written out as `\u{202E}`: a value quoted in a message (a URL value, a file name) then
 *  cannot reverse the sentence around it, and the reader sees the hidden character. */
export function visible(text) {
  return String(text).replace(/[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g, (c) => `\\u{${c.codePointAt(0).toString(16).toUpperCase()}}`);
}

// The widget's attribute names, which the page reads too (where its own name is absent).
const ALIASES = { digit: 'sample', opt: 'optimizer' };

/** Parses a query string: {state, notices} (notices: one sentence per ignored parameter, in
 *  the words of `t`); `only`: just these keys. */
export function readUrlState(search, only = null, t = english) {
  const q = new URLSearchParams(search);
  const state = { ...DEFAULTS };
  const notices = [];
  for (const key of only ?? Object.keys(PARSE)) {
    const name = q.has(key) || !ALIASES[key] ? key : ALIASES[key];
    const raw = q.get(name);
    if (raw === null || !readable(key)) continue;
    const v = PARSE[key](raw);
    if (v === undefined) notices.push(`${name} "${visible(raw.slice(0, 60))}" ${whatIs(key, t)}`);
    else state[key] = v;
  }
  return { state, notices };
}

/** The query string of `state` (other parameters of `search`, e.g. engine=, are kept). */
export function urlOf(state, search = '') {
  const q = new URLSearchParams(search);
  for (const alias of Object.values(ALIASES)) q.delete(alias); // (written under the page's names)
  for (const key of Object.keys(PARSE)) {
    const v = state[key];
    if (v === null || v === undefined) q.delete(key);
    else if (key === 'cell') q.set(key, `${v.grid}:${v.idx.join(',')}`);
    else q.set(key, String(v));
  }
  return `?${q}`.replace(/%3A/g, ':').replace(/%2C/g, ',');
}

// The network strip: the model as one row of small boxes in forward order (conv, BN, ReLU, the
// residual add, pool, fc, softmax), arrows between them, each residual block framed, and its
// shortcut drawn as a skip arc over the main branch, through the 1×1 downsample conv and its BN
// (or option A's subsample-and-pad) when the shape changes; a plain net's blocks have no arc.
// Everything is drawn from the engine's module graph (`modules()`: name, kind, shape, block,
// side, about), never from names. A deep net folds: the block holding the selection is drawn
// whole, the other blocks of its stage as one box each, and the other stages as one box each;
// selecting a folded box unfolds it. Click a box, or focus the strip and use ←/→/Home/End, to
// select a module; onselect(name) is told. SVG only, no inline styles.
//
// Its CSS is www/style.css's "network strip" section (the strip adds the class `net-strip`).
import { english } from '../i18n.js';

const NS = 'http://www.w3.org/2000/svg';
const MARGIN = 4; // around the drawing
const GAP = 8; // between boxes on the main branch (room for an arrow)
const PAD = 8; // inside a block frame, left and right
const FRAME_GAP = 10; // from a frame to what is outside it
const FRAME_Y = 4; // top of the block frames
const ARC_Y = 40; // the skip arc's top run
const MAIN_Y = 66; // top of the main-branch boxes
const BOX_H = 38;
const MID_Y = MAIN_Y + BOX_H / 2; // the main branch's arrows
const SIDE_H = 20; // the downsample boxes on the arc
const NAME_Y = MAIN_Y + BOX_H + 13; // baseline of the short names
const FRAME_B = NAME_Y + 6; // bottom of the block frames
const RUN_Y = FRAME_B + 8; // the line under a run of equal shapes
const SHAPE_Y = RUN_Y + 12; // and its text
const HEIGHT = SHAPE_Y + 6;
const WIDTH = { conv: 38, bn: 28, relu: 34, add: 26, pool: 32, fc: 28, io: 34, fold: 62, foldblock: 30, other: 44 };
const FOLD_AT = 4; // more blocks than this: fold
let instances = 0;

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

const shapeText = (s) => s.join('×') || '?';

/** The drawing of module `m` (a graph module): the box's kind (colour), its label lines, the
 *  short name under it, and a spoken description. */
function describe(m, t) {
  const last = m.block ? (m.name === m.block ? '' : m.name.slice(m.block.length + 1)) : m.name;
  const short = m.block ? (m.name === m.block ? 'out' : last) : (m.kind === 'relu' || m.kind === 'bn' || m.kind === 'conv' ? m.name : '');
  switch (m.kind) {
    case 'input': return { kind: 'io', lines: ['input'], short: '', speak: t('speak', 'input') };
    case 'loss': return { kind: 'io', lines: ['soft', 'max'], short: '', speak: t('speak', 'loss') };
    case 'add': return { kind: 'add', lines: ['+'], short, speak: t('speak', 'add') };
    case 'bn': return { kind: 'bn', lines: ['BN'], short, speak: t('speak', 'bn') };
    case 'relu': return { kind: 'relu', lines: ['ReLU'], short, speak: t('speak', m.name === m.block ? 'blockRelu' : 'relu') };
    case 'pool': return { kind: 'pool', lines: ['pool'], short: '', speak: t('speak', 'pool') };
    case 'fc': return { kind: 'fc', lines: ['fc'], short: '', speak: t('speak', 'fc') };
    case 'shortcut': return { kind: 'shortcut', lines: ['::2, pad'], short, speak: t('speak', 'shortcut') };
    case 'conv': {
      const k = `${m.k}×${m.k}`, s = m.stride > 1 ? ` /${m.stride}` : '';
      return { kind: 'conv', lines: ['conv', `${k}${s}`], short, speak: t('speakConv', k, m.stride, m.bias) };
    }
    default: return { kind: 'other', lines: [m.kind], short: '', speak: m.kind };
  }
}

export class NetworkStrip {
  /**
   * @param {HTMLElement} root  container; the strip replaces its children and may scroll sideways
   * @param {{modules: object[], selectable?: (name: string) => boolean, onselect?: (name: string) => void}} opts
   *   modules: the engine's graph modules in forward order ({name, kind, shape, block, side,
   *   k, stride, ...}); modules that are not selectable are drawn dashed and skipped by the keyboard.
   */
  constructor(root, { modules, selectable = () => true, onselect, t = english }) {
    this.root = root;
    this.t = t;
    this.modules = modules;
    this.selectable = selectable;
    this.onselect = onselect;
    this.selected = null;
    this.uid = `net${++instances}`;
    const blocks = [...new Set(modules.map((m) => m.block).filter(Boolean))];
    this.blocks = blocks;
    this.fold = blocks.length > FOLD_AT;
    this.open = blocks[0] ?? null; // the block drawn whole when folding
    root.classList.add('net-strip');
    this.#render();
  }

  /** The items drawn along the main branch, in order: modules, or folded blocks and stages. */
  #items() {
    const stage = (b) => b.split('.')[0];
    const out = [];
    const seen = new Set();
    for (const m of this.modules) {
      if (!this.fold || !m.block || m.block === this.open) { out.push({ ...m, ...describe(m, this.t) }); continue; }
      const sameStage = stage(m.block) === stage(this.open);
      const key = sameStage ? m.block : stage(m.block);
      if (seen.has(key)) continue;
      seen.add(key);
      const members = this.blocks.filter((b) => (sameStage ? b === key : stage(b) === key));
      const target = members.at(-1); // selecting the box selects this block's output
      const shape = this.modules.find((x) => x.name === target).shape;
      const lines = sameStage ? [key.slice(stage(key).length + 1 - 2)] : [key, this.t('nBlocks', members.length)];
      out.push({ name: target, shape, block: null, kind: 'fold', width: sameStage ? 'foldblock' : 'fold', lines, short: '', fold: members,
        speak: sameStage ? this.t('foldedBlock', key) : this.t('foldedStage', key, members.length) });
    }
    return out;
  }

  #render() {
    const hadFocus = this.svg && document.activeElement === this.svg;
    this.boxes = new Map(); // name -> {g, x, y, w, h}
    this.order = []; // the selectable names in forward order
    this.root.replaceChildren();
    const items = this.#items();
    const main = items.filter((m) => !m.side);
    const { frames, width } = this.#place(main);
    const s = this.#canvas(width);
    // block frames with their names
    for (const f of frames) {
      s.append(svg('rect', { class: 'net-block', x: f.x0, y: FRAME_Y, width: f.x1 - f.x0, height: FRAME_B - FRAME_Y, rx: 8 }));
      s.append(svg('text', { class: 'net-block-label', x: f.x0 + 7, y: FRAME_Y + 13 }, f.name));
    }
    // arrows along the main branch
    for (let k = 1; k < main.length; k++) {
      const a = this.boxes.get(main[k - 1].name), b = this.boxes.get(main[k].name);
      s.append(svg('line', { class: 'net-edge', x1: a.x + a.w, y1: MID_Y, x2: b.x - 0.5, y2: MID_Y, 'marker-end': `url(#${this.uid}-arrow)` }));
    }
    const side = frames.flatMap((f) => this.#shortcut(s, f, items, main));
    for (const m of [...main, ...side].sort((a, b) => items.indexOf(a) - items.indexOf(b))) s.append(this.#box(m));
    this.#shapes(s, main);
    // the focus ring, moved onto the selected box
    this.ring = svg('rect', { class: 'net-ring', rx: 7, width: 0, height: 0 });
    s.append(this.ring);
    s.addEventListener('keydown', (e) => this.#key(e));
    this.root.append(s);
    if (hadFocus) s.focus();
  }

  // x positions along the main branch; a block's frame adds PAD inside and FRAME_GAP outside
  #place(main) {
    const frames = [];
    let edge = MARGIN, gap = 0, cur = null, frame = null;
    for (const m of main) {
      const b = m.block;
      if (b !== cur) {
        if (cur) { frame.x1 = edge + PAD; edge = frame.x1; gap = FRAME_GAP; }
        if (b) { frame = { name: b, x0: edge + (gap && FRAME_GAP) }; frames.push(frame); edge = frame.x0 + PAD; gap = 0; }
        cur = b;
      }
      const w = WIDTH[m.width ?? m.kind] + (m.lines[1]?.includes('/') ? 6 : 0);
      this.boxes.set(m.name, { x: edge + gap, y: MAIN_Y, w, h: BOX_H });
      edge += gap + w;
      gap = GAP;
    }
    if (cur) { frame.x1 = edge + PAD; edge = frame.x1; }
    return { frames, width: Math.ceil(edge + MARGIN) };
  }

  // the svg element with its arrowheads
  #canvas(width) {
    const s = svg('svg', {
      class: 'net-svg', viewBox: `0 0 ${width} ${HEIGHT}`, width, height: HEIGHT, tabindex: 0,
      role: 'listbox', 'aria-orientation': 'horizontal', 'aria-label': this.t('networkLayers'),
    });
    this.svg = s;
    const defs = svg('defs');
    for (const [id, cls] of [['arrow', 'net-arrowhead'], ['skiparrow', 'net-skip-head']]) {
      const mk = svg('marker', { id: `${this.uid}-${id}`, viewBox: '0 0 6 6', refX: 5.5, refY: 3, markerWidth: 5, markerHeight: 5, markerUnits: 'userSpaceOnUse', orient: 'auto' });
      mk.append(svg('path', { d: 'M0,0 L6,3 L0,6 z', class: cls }));
      defs.append(mk);
    }
    s.append(defs);
    return s;
  }

  // block f's skip arc: forking off the arrow into the block, over the main branch, down into
  // the add, with the shortcut's own modules on it (returned, placed); a plain block says so
  #shortcut(s, f, items, main) {
    const add = items.find((m) => m.block === f.name && m.kind === 'add');
    const first = main.find((m) => m.block === f.name);
    if (!first) return [];
    const centreOf = (a, b) => (a + b) / 2;
    const label = (x, y, text) => s.append(svg('text', { class: 'net-skip-label', x, y, 'text-anchor': 'middle' }, text));
    if (!add) { // a plain net's block: no shortcut to draw
      const fb = this.boxes.get(first.name), last = this.boxes.get(f.name);
      label(centreOf(fb.x, last.x + last.w), ARC_Y - 5, this.t('noShortcut'));
      return [];
    }
    const addBox = this.boxes.get(add.name);
    const xf = this.boxes.get(first.name).x - PAD / 2 - 1, xa = addBox.x + addBox.w / 2, r = 8;
    s.append(svg('path', {
      class: 'net-skip', 'marker-end': `url(#${this.uid}-skiparrow)`,
      d: `M${xf},${MID_Y} V${ARC_Y + r} Q${xf},${ARC_Y} ${xf + r},${ARC_Y} H${xa - r} Q${xa},${ARC_Y} ${xa},${ARC_Y + r} V${MAIN_Y - 0.5}`,
    }));
    s.append(svg('circle', { class: 'net-fork', cx: xf, cy: MID_Y, r: 2.6 }));
    const ds = items.filter((m) => m.block === f.name && m.side);
    const centre = centreOf(xf, xa);
    if (!ds.length) { label(centre, ARC_Y - 5, this.t('identity')); return []; }
    // the shortcut's boxes sit on the arc, centred on its top run
    const ws = ds.map((m) => (m.kind === 'conv' ? 74 : m.kind === 'shortcut' ? 66 : 30));
    let x = centre - (ws.reduce((a, b) => a + b, 0) + GAP * (ds.length - 1)) / 2;
    ds.forEach((m, k) => {
      this.boxes.set(m.name, { x, y: ARC_Y - SIDE_H / 2, w: ws[k], h: SIDE_H, side: true });
      x += ws[k] + GAP;
    });
    label(centre, ARC_Y - SIDE_H / 2 - 6, this.t(ds.some((m) => m.kind === 'shortcut') ? 'optionA' : 'downsample'));
    return ds;
  }

  // one module's box (placed before), its label lines and short name; selectable or not
  #box(m) {
    const box = this.boxes.get(m.name);
    const can = this.selectable(m.name);
    const speak = `${m.fold ? '' : `${m.name}, `}${m.speak}, ${this.t('output')} ${shapeText(m.shape)}`;
    const g = svg('g', {
      id: `${this.uid}-${m.name.replace(/[^\w-]/g, '_')}`, class: `net-box net-${m.kind}${can ? '' : ' net-fixed'}`,
      role: 'option', 'aria-selected': 'false', // (its name: the <title> below)
    });
    if (!can) g.setAttribute('aria-disabled', 'true');
    g.dataset.name = m.name;
    if (m.fold) g.dataset.fold = m.fold.join(' ');
    g.append(svg('title', {}, speak));
    g.append(svg('rect', { x: box.x, y: box.y, width: box.w, height: box.h, rx: m.kind === 'add' ? box.h / 2 : 5 }));
    const cx = box.x + box.w / 2;
    const lines = box.side ? [m.lines.join(' ')] : m.lines;
    lines.forEach((t, k) => {
      const dy = (k - (lines.length - 1) / 2) * 12;
      g.append(svg('text', { class: 'net-kind', x: cx, y: box.y + box.h / 2 + dy + 4, 'text-anchor': 'middle' }, t));
    });
    if (m.short && !box.side) g.append(svg('text', { class: 'net-name', x: cx, y: NAME_Y, 'text-anchor': 'middle' }, m.short));
    if (can) {
      g.addEventListener('click', () => this.#choose(m.name, true));
      this.order.push(m.name);
    }
    box.g = g;
    return g;
  }

  // the output shape, once under each run of main-branch modules that share it
  #shapes(s, main) {
    let start = 0;
    for (let k = 1; k <= main.length; k++) {
      if (k < main.length && shapeText(main[k].shape) === shapeText(main[start].shape)) continue;
      const a = this.boxes.get(main[start].name), b = this.boxes.get(main[k - 1].name);
      const x0 = a.x, x1 = b.x + b.w;
      s.append(svg('path', { class: 'net-run', fill: 'none', d: `M${x0 + 1},${RUN_Y - 4} V${RUN_Y} H${x1 - 1} V${RUN_Y - 4}` }));
      const tx = Math.max((x0 + x1) / 2, MARGIN + 24);
      s.append(svg('text', { class: 'net-shape', x: tx, y: SHAPE_Y, 'text-anchor': 'middle' }, shapeText(main[start].shape)));
      start = k;
    }
  }

  /** Highlights module `name` (without calling onselect) and scrolls it into view. */
  select(name) {
    this.selected = name;
    const block = this.modules.find((m) => m.name === name)?.block;
    if (this.fold && block && block !== this.open) {
      this.open = block;
      this.#render();
    }
    for (const [n, { g }] of this.boxes) {
      g.classList.toggle('selected', n === name);
      g.setAttribute('aria-selected', String(n === name));
    }
    const box = this.boxes.get(name);
    if (!box) {
      this.svg.removeAttribute('aria-activedescendant');
      this.ring.setAttribute('width', 0);
      return;
    }
    this.svg.setAttribute('aria-activedescendant', box.g.id);
    for (const [k, v] of Object.entries({ x: box.x - 3.5, y: box.y - 3.5, width: box.w + 7, height: box.h + 7 })) this.ring.setAttribute(k, v);
    // on a narrow screen the root scrolls: keep the box in view
    const root = this.root;
    if (root.scrollWidth > root.clientWidth) {
      const r = box.g.getBoundingClientRect(), v = root.getBoundingClientRect();
      if (r.left < v.left + 8 || r.right > v.right - 8) root.scrollLeft += r.left + r.width / 2 - (v.left + v.width / 2);
    }
  }

  #choose(name, always = false) {
    if (name === this.selected && !always) return;
    this.select(name);
    this.onselect?.(name);
  }

  #key(e) {
    const n = this.order.length, k = this.order.indexOf(this.selected);
    const to = { ArrowRight: k < 0 ? 0 : k + 1, ArrowLeft: k < 0 ? 0 : k - 1, Home: 0, End: n - 1 }[e.key];
    if (to === undefined || !n) return;
    e.preventDefault();
    this.#choose(this.order[Math.max(0, Math.min(n - 1, to))]);
  }
}

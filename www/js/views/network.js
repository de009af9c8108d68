// The network strip: the model as one row of small boxes in forward order (conv, BN, ReLU, the
// residual add, pool, fc, softmax), arrows between them, each residual block framed, and its
// shortcut drawn as a skip arc over the main branch, through the 1×1 downsample conv and its BN
// when there is one. The layout comes from the module names alone (a block is a prefix P with a
// module `P.add`), so other depths (layer1.1, ...) draw too. Click a box, or focus the strip and
// use ←/→/Home/End, to select a module; onselect(name) is told. SVG only, no inline styles.
//
// CSS for www/style.css (the root keeps its own classes; the strip adds `net-strip`):
//   /* network strip */
//   .net-strip { overflow-x: auto; overflow-y: hidden; }
//   .net-svg { display: block; margin: 0 auto; font: 11px var(--font); }
//   .net-svg:focus { outline: none; }
//   .net-svg:focus-visible { outline: 2px solid #f2b705; outline-offset: -2px; border-radius: 6px; }
//   .net-block { fill: #f7f9fc; stroke: var(--line); }
//   .net-block-label { fill: var(--muted); font: 600 10px var(--mono); }
//   .net-edge { stroke: #8a949f; stroke-width: 1.3; fill: none; }
//   .net-arrowhead { fill: #8a949f; }
//   .net-skip { stroke: #d9822b; stroke-width: 1.6; fill: none; }
//   .net-skip-head { fill: #d9822b; }
//   .net-fork { fill: #d9822b; }
//   .net-skip-label { fill: #a25a12; font: 10px var(--font); }
//   .net-run { stroke: #b5bdc6; stroke-width: 1; fill: none; }
//   .net-shape { fill: var(--muted); font: 10px var(--mono); }
//   .net-box { cursor: pointer; }
//   .net-box rect { fill: var(--panel); stroke: #9aa3ad; stroke-width: 1.2; }
//   .net-box text { fill: var(--fg); pointer-events: none; }
//   .net-box .net-name { fill: var(--muted); font: 10px var(--mono); }
//   .net-conv rect { fill: #e9f0fc; stroke: #7f9fd6; }
//   .net-bn rect { fill: #eaf6ee; stroke: #86b896; }
//   .net-relu rect { fill: #f1f2f4; stroke: #a4acb5; }
//   .net-add rect { fill: #fdf0e2; stroke: #d9822b; }
//   .net-add .net-kind { font-size: 16px; font-weight: 700; }
//   .net-pool rect, .net-fc rect { fill: #f3effa; stroke: #a594cf; }
//   .net-io rect { fill: #f7f7f5; }
//   .net-fixed { cursor: default; }
//   .net-fixed rect { stroke-dasharray: 3 2; }
//   .net-box:not(.net-fixed):hover rect { stroke: var(--fg); }
//   .net-box.selected rect { stroke: var(--accent); stroke-width: 2.5; }
//   .net-box.selected .net-name { fill: var(--accent); font-weight: 700; }
//   .net-ring { fill: none; stroke: #f2b705; stroke-width: 2.5; visibility: hidden; pointer-events: none; }
//   .net-svg:focus-visible .net-ring { visibility: visible; }
const NS = 'http://www.w3.org/2000/svg';
const MARGIN = 4; // around the drawing
const GAP = 8; // between boxes on the main branch (room for an arrow)
const PAD = 8; // inside a block frame, left and right
const FRAME_GAP = 10; // from a frame to what is outside it
const FRAME_Y = 4; // top of the block frames
const ARC_Y = 40; // the skip arc's top run
const MAIN_Y = 66; // top of the main-branch boxes
const BOX_H = 38;
const SIDE_H = 20; // the downsample boxes on the arc
const NAME_Y = MAIN_Y + BOX_H + 13; // baseline of the short names
const FRAME_B = NAME_Y + 6; // bottom of the block frames
const RUN_Y = FRAME_B + 8; // the line under a run of equal shapes
const SHAPE_Y = RUN_Y + 12; // and its text
const HEIGHT = SHAPE_Y + 6;
const WIDTH = { conv: 38, bn: 28, relu: 34, add: 26, pool: 32, fc: 28, io: 34, other: 44 };
let instances = 0;

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

const shapeText = (s) => s.slice(1).join('×') || '?';

/** The drawing of module `name` (`block` is its residual block's prefix or null): the box's
 *  kind (colour), its label lines, the short name under it, and a spoken description. */
function describe(name, block, kernels) {
  const last = block ? (name === block ? '' : name.slice(block.length + 1)) : name;
  const tail = last.split('.').at(-1);
  const short = block ? (name === block ? 'out' : last.replace(/^downsample\./, 'ds.')) : name;
  if (name === 'input') return { kind: 'io', lines: ['input'], short: '', speak: 'input' };
  if (name === block) return { kind: 'relu', lines: ['ReLU'], short, speak: 'block output, ReLU' };
  if (tail === 'add') return { kind: 'add', lines: ['+'], short, speak: 'residual add' };
  if (/^bn\d*$|^norm\d*$/.test(tail) || /downsample\.1$/.test(name)) return { kind: 'bn', lines: ['BN'], short, speak: 'batch norm' };
  if (/^relu\d*$/.test(tail)) return { kind: 'relu', lines: ['ReLU'], short, speak: 'ReLU' };
  if (/pool/.test(tail)) return { kind: 'pool', lines: ['pool'], short, speak: `${tail.startsWith('avg') ? 'average' : ''} pool`.trim() };
  if (/^fc\d*$|^linear|^classifier/.test(tail)) return { kind: 'fc', lines: ['fc'], short: tail === 'fc' ? '' : short, speak: 'fully connected' };
  if (tail === 'softmax') return { kind: 'io', lines: ['soft', 'max'], short: '', speak: 'softmax' };
  if (/^conv\d*$/.test(tail) || /downsample\.0$/.test(name) || kernels[name]) {
    const c = kernels[name];
    if (!c) return { kind: 'conv', lines: ['conv'], short, speak: 'conv' };
    const k = `${c.k}×${c.k}`, s = c.stride > 1 ? ` /${c.stride}` : '';
    return { kind: 'conv', lines: ['conv', `${k}${s}`], short, speak: `conv ${k}${c.stride > 1 ? ` stride ${c.stride}` : ''}` };
  }
  return { kind: 'other', lines: [tail], short: '', speak: tail };
}

export class NetworkStrip {
  /**
   * @param {HTMLElement} root  container; the strip replaces its children and may scroll sideways
   * @param {{modules: {name: string, shape: number[]}[],
   *          kernels?: Object<string, {k: number, stride: number}>,
   *          selectable?: (name: string) => boolean, onselect?: (name: string) => void}} opts
   *   modules in forward order; kernels labels the convs ('conv 3×3 /2'); modules that are not
   *   selectable are drawn dashed and skipped by the keyboard.
   */
  constructor(root, { modules, kernels = {}, selectable = () => true, onselect }) {
    this.root = root;
    this.onselect = onselect;
    this.selected = null;
    this.boxes = new Map(); // name -> {g, x, y, w, h}
    this.order = []; // the selectable names in forward order
    const uid = `net${++instances}`;
    root.classList.add('net-strip');
    root.replaceChildren();

    // residual blocks: every prefix P with a module P.add; a module is in P if it is P or P.*
    const blocks = modules.filter((m) => m.name.endsWith('.add')).map((m) => m.name.slice(0, -4));
    const blockOf = (n) => blocks.find((b) => n === b || n.startsWith(`${b}.`)) ?? null;
    const isSide = (n) => { const b = blockOf(n); return !!b && /^(downsample|shortcut)\b/.test(n.slice(b.length + 1)); };
    const info = new Map(modules.map((m) => [m.name, { ...m, ...describe(m.name, blockOf(m.name), kernels) }]));
    const main = modules.filter((m) => !isSide(m.name));

    // x positions along the main branch; a block's frame adds PAD inside and FRAME_GAP outside
    const frames = [];
    let edge = MARGIN, gap = 0, cur = null, frame = null;
    for (const m of main) {
      const b = blockOf(m.name);
      if (b !== cur) {
        if (cur) { frame.x1 = edge + PAD; edge = frame.x1; gap = FRAME_GAP; }
        if (b) { frame = { name: b, x0: edge + (gap && FRAME_GAP) }; frames.push(frame); edge = frame.x0 + PAD; gap = 0; }
        cur = b;
      }
      const it = info.get(m.name), w = WIDTH[it.kind] + (it.lines[1]?.includes('/') ? 6 : 0);
      this.boxes.set(m.name, { x: edge + gap, y: MAIN_Y, w, h: BOX_H });
      edge += gap + w;
      gap = GAP;
    }
    if (cur) { frame.x1 = edge + PAD; edge = frame.x1; }
    const width = Math.ceil(edge + MARGIN);

    const s = svg('svg', {
      class: 'net-svg', viewBox: `0 0 ${width} ${HEIGHT}`, width, height: HEIGHT, tabindex: 0,
      role: 'listbox', 'aria-orientation': 'horizontal', 'aria-label': 'network layers',
    });
    this.svg = s;
    const defs = svg('defs');
    for (const [id, cls] of [['arrow', 'net-arrowhead'], ['skiparrow', 'net-skip-head']]) {
      const mk = svg('marker', { id: `${uid}-${id}`, viewBox: '0 0 6 6', refX: 5.5, refY: 3, markerWidth: 5, markerHeight: 5, markerUnits: 'userSpaceOnUse', orient: 'auto' });
      mk.append(svg('path', { d: 'M0,0 L6,3 L0,6 z', class: cls }));
      defs.append(mk);
    }
    s.append(defs);

    // block frames with their names
    for (const f of frames) {
      s.append(svg('rect', { class: 'net-block', x: f.x0, y: FRAME_Y, width: f.x1 - f.x0, height: FRAME_B - FRAME_Y, rx: 8 }));
      s.append(svg('text', { class: 'net-block-label', x: f.x0 + 7, y: FRAME_Y + 13 }, f.name));
    }
    // arrows along the main branch
    const mid = MAIN_Y + BOX_H / 2;
    for (let k = 1; k < main.length; k++) {
      const a = this.boxes.get(main[k - 1].name), b = this.boxes.get(main[k].name);
      s.append(svg('line', { class: 'net-edge', x1: a.x + a.w, y1: mid, x2: b.x - 0.5, y2: mid, 'marker-end': `url(#${uid}-arrow)` }));
    }
    // skip arcs: forking off the arrow into the block, over the main branch, down into the add
    const side = [];
    for (const f of frames) {
      const add = this.boxes.get(`${f.name}.add`);
      const first = main.find((m) => blockOf(m.name) === f.name);
      if (!add || !first) continue;
      const xf = this.boxes.get(first.name).x - PAD / 2 - 1, xa = add.x + add.w / 2, r = 8;
      s.append(svg('path', {
        class: 'net-skip', 'marker-end': `url(#${uid}-skiparrow)`,
        d: `M${xf},${mid} V${ARC_Y + r} Q${xf},${ARC_Y} ${xf + r},${ARC_Y} H${xa - r} Q${xa},${ARC_Y} ${xa},${ARC_Y + r} V${MAIN_Y - 0.5}`,
      }));
      s.append(svg('circle', { class: 'net-fork', cx: xf, cy: mid, r: 2.6 }));
      const ds = modules.filter((m) => blockOf(m.name) === f.name && isSide(m.name));
      const centre = (xf + xa) / 2;
      if (!ds.length) {
        s.append(svg('text', { class: 'net-skip-label', x: centre, y: ARC_Y - 5, 'text-anchor': 'middle' }, 'identity'));
        continue;
      }
      // the downsample boxes sit on the arc, centred on its top run
      const ws = ds.map((m) => (info.get(m.name).kind === 'conv' ? 74 : 30));
      let x = centre - (ws.reduce((a, b) => a + b, 0) + GAP * (ds.length - 1)) / 2;
      ds.forEach((m, k) => {
        this.boxes.set(m.name, { x, y: ARC_Y - SIDE_H / 2, w: ws[k], h: SIDE_H, side: true });
        side.push(m);
        x += ws[k] + GAP;
      });
      s.append(svg('text', { class: 'net-skip-label', x: centre, y: ARC_Y - SIDE_H / 2 - 6, 'text-anchor': 'middle' }, 'downsample'));
    }
    // the boxes
    const drawn = new Set([...main, ...side].map((m) => m.name));
    for (const m of modules) {
      if (!drawn.has(m.name)) continue;
      const it = info.get(m.name), box = this.boxes.get(m.name);
      const can = selectable(m.name);
      const speak = `${m.name}, ${it.speak}, output ${shapeText(m.shape)}`;
      const g = svg('g', {
        id: `${uid}-${m.name.replace(/[^\w-]/g, '_')}`, class: `net-box net-${it.kind}${can ? '' : ' net-fixed'}`,
        role: 'option', 'aria-selected': 'false', 'aria-label': speak,
      });
      if (!can) g.setAttribute('aria-disabled', 'true');
      g.dataset.name = m.name;
      g.append(svg('title', {}, speak));
      g.append(svg('rect', { x: box.x, y: box.y, width: box.w, height: box.h, rx: it.kind === 'add' ? box.h / 2 : 5 }));
      const cx = box.x + box.w / 2;
      const lines = box.side ? [it.lines.join(' ')] : it.lines;
      lines.forEach((t, k) => {
        const dy = (k - (lines.length - 1) / 2) * 12;
        g.append(svg('text', { class: 'net-kind', x: cx, y: box.y + box.h / 2 + dy + 4, 'text-anchor': 'middle' }, t));
      });
      if (it.short && !box.side) g.append(svg('text', { class: 'net-name', x: cx, y: NAME_Y, 'text-anchor': 'middle' }, it.short));
      if (can) {
        g.addEventListener('click', () => this.#choose(m.name, true));
        this.order.push(m.name);
      }
      box.g = g;
      s.append(g);
    }
    // the output shape, once under each run of main-branch modules that share it
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
    // the focus ring, moved onto the selected box
    this.ring = svg('rect', { class: 'net-ring', rx: 7, width: 0, height: 0 });
    s.append(this.ring);
    s.addEventListener('keydown', (e) => this.#key(e));
    root.append(s);
  }

  /** Highlights module `name` (without calling onselect) and scrolls it into view. */
  select(name) {
    this.selected = name;
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

// Draw a digit: a canvas that takes mouse, touch and pen strokes (Pointer Events), dark round
// strokes on white paper, and a Clear button. After each stroke (pointer up or cancelled),
// onchange(canvas) gets the canvas; the page turns it into an MNIST-like digit with
// canvasToDigit from preprocess.js. One pointer draws at a time; a second finger is ignored.
// From the keyboard: focus the pad, move the pen with the arrow keys (Shift: farther), Space
// puts it down and lifts it (a lift ends the stroke, as a pointer's does), Delete clears.

import { english } from '../i18n.js';

export class DrawPad {
  #empty = true;
  #pointer = null; // the id of the pointer drawing the current stroke
  #last = null; // its last point, in canvas pixels

  /**
   * @param {HTMLElement} root  container; the pad appends its canvas and button to it
   * @param {{size?: number, onchange?: (canvas: HTMLCanvasElement) => void}} opts
   */
  constructor(root, { size = 280, onchange, t = english } = {}) {
    this.size = size;
    this.onchange = onchange;
    const cv = document.createElement('canvas');
    cv.className = 'drawpad';
    cv.width = size;
    cv.height = size;
    cv.style.touchAction = 'none'; // a stroke must not scroll or zoom the page
    cv.setAttribute('role', 'application');
    cv.setAttribute('aria-label', t('drawLabel'));
    cv.setAttribute('aria-description', t('drawKeys'));
    cv.tabIndex = 0;
    const clear = document.createElement('button');
    clear.type = 'button';
    clear.className = 'secondary';
    clear.textContent = t('clear');
    clear.addEventListener('click', () => this.clear());
    // the keyboard's pen: a ring over the paper where it would draw
    const pen = document.createElement('span');
    pen.className = 'drawpad-pen';
    pen.hidden = true;
    const paper = document.createElement('span');
    paper.className = 'drawpad-paper';
    paper.append(cv, pen);
    root.append(paper, clear);
    this.pen = pen;
    this.canvas = cv;
    this.clearButton = clear;
    this.g = cv.getContext('2d', { willReadFrequently: true });
    this.clear();

    cv.addEventListener('pointerdown', (e) => {
      if (this.#pointer !== null || (e.pointerType === 'mouse' && e.button !== 0)) return;
      e.preventDefault(); // no text selection, no emulated mouse events
      try { cv.setPointerCapture(e.pointerId); } catch { /* a synthetic event's pointer cannot be captured */ }
      this.#pointer = e.pointerId;
      this.#last = this.#point(e);
      this.#dot(this.#last, this.#width(e)); // a tap leaves a dot
      this.#empty = false;
    });
    cv.addEventListener('pointermove', (e) => {
      if (e.pointerId !== this.#pointer) return;
      // the points the browser merged into this event, for smooth fast strokes
      for (const ev of e.getCoalescedEvents?.() ?? [e]) {
        const p = this.#point(ev);
        this.#line(this.#last, p, this.#width(ev));
        this.#last = p;
      }
    });
    const end = (e) => {
      if (e.pointerId !== this.#pointer) return;
      this.#pointer = null;
      this.#last = null;
      this.onchange?.(cv);
    };
    cv.addEventListener('pointerup', end);
    cv.addEventListener('pointercancel', end);
    cv.addEventListener('lostpointercapture', end);
    cv.addEventListener('keydown', (e) => this.#key(e));
    cv.addEventListener('focus', () => this.#showPen());
    cv.addEventListener('blur', () => { pen.hidden = true; });
  }

  #keyPen = null; // [x, y] in canvas pixels
  #keyDown = false;

  #key(e) {
    const step = (this.size / 28) * (e.shiftKey ? 4 : 1);
    const move = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[e.key];
    const p = this.#keyPen ?? [this.size / 2, this.size / 2];
    const width = this.size / 14;
    if (move) {
      const q = [Math.min(this.size, Math.max(0, p[0] + move[0])), Math.min(this.size, Math.max(0, p[1] + move[1]))];
      if (this.#keyDown) this.#line(p, q, width);
      this.#keyPen = q;
    } else if (e.key === ' ') {
      this.#keyDown = !this.#keyDown;
      if (this.#keyDown) { this.#dot(p, width); this.#empty = false; } else this.onchange?.(this.canvas);
      this.#keyPen = p;
    } else if (e.key === 'Delete' || e.key === 'Backspace') {
      this.#keyDown = false;
      this.clear();
    } else return;
    e.preventDefault();
    this.#showPen();
  }

  #showPen() {
    const [x, y] = this.#keyPen ?? [this.size / 2, this.size / 2];
    const s = (this.canvas.clientWidth || this.size) / this.size;
    Object.assign(this.pen.style, { left: `${this.canvas.clientLeft + x * s}px`, top: `${this.canvas.clientTop + y * s}px` });
    this.pen.classList.toggle('down', this.#keyDown);
    this.pen.hidden = false;
  }

  /** True until something is drawn, and again after clear(). */
  get empty() {
    return this.#empty;
  }

  /** Repaints the paper white; does not call onchange. */
  clear() {
    this.g.fillStyle = '#fff';
    this.g.fillRect(0, 0, this.size, this.size);
    this.#empty = true;
  }

  // pointer position → canvas pixels (the canvas may be shown scaled and has a CSS border)
  #point(e) {
    const cv = this.canvas, r = cv.getBoundingClientRect();
    const x = (e.clientX - r.left - cv.clientLeft) / (cv.clientWidth || r.width);
    const y = (e.clientY - r.top - cv.clientTop) / (cv.clientHeight || r.height);
    return [x * this.size, y * this.size];
  }

  // stroke width ~ size/14; a pen's or touch screen's real pressure (not the 0.5 reported by
  // hardware without pressure, nor a mouse's) makes it 0.6× to 1.4× as wide
  #width(e) {
    const real = e.pointerType !== 'mouse' && e.pressure > 0 && e.pressure !== 0.5;
    return (this.size / 14) * (real ? 0.6 + 0.8 * e.pressure : 1);
  }

  // (a zero-length line is not stroked at all, hence a filled circle)
  #dot([x, y], width) {
    this.g.fillStyle = '#000';
    this.g.beginPath();
    this.g.arc(x, y, width / 2, 0, 2 * Math.PI);
    this.g.fill();
  }

  #line([x0, y0], [x1, y1], width) {
    const g = this.g;
    g.strokeStyle = '#000';
    g.lineWidth = width;
    g.lineCap = 'round';
    g.lineJoin = 'round';
    g.beginPath();
    g.moveTo(x0, y0);
    g.lineTo(x1, y1);
    g.stroke();
  }
}

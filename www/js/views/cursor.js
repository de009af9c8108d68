// The one cursor behaviour of every grid view (feature maps, δ maps, kernels, the gradient
// flow): the area is a focusable group that the arrow keys, PageUp/PageDown and Home/End move
// over, each view saying where a key leads; focus re-announces the cell; a live readout states
// the cell and its value (screen readers hear it, tests read its data-index and data-value).
import { el } from '../dom.js';

const KEYS = ['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight', 'PageUp', 'PageDown', 'Home', 'End'];

export class Cursor {
  /**
   * @param {HTMLElement} area  the element that takes focus and keys
   * @param {{label?: string, step: (key: string) => object|null, select: (cell: object|null) => void, readout?: boolean}} opts
   *        label: what the area shows and which keys do what (absent: the area keeps its own
   *        role and label); step: the cell a key leads to (null: stay); select(cell): move
   *        there and tell (null: the current cell); readout: false when the view words the
   *        cell elsewhere
   */
  constructor(area, { label = null, step, select, readout = true }) {
    if (readout) {
      this.readout = el('div', 'readout');
      this.readout.setAttribute('aria-live', 'polite');
    }
    area.tabIndex = 0;
    if (label) {
      area.setAttribute('role', 'group');
      area.setAttribute('aria-label', label);
    }
    area.addEventListener('keydown', (e) => {
      if (!KEYS.includes(e.key)) return;
      const next = step(e.key);
      if (!next) return;
      e.preventDefault();
      select(next);
    });
    area.addEventListener('focus', () => select(null));
  }

  /** States the cell: its words, its index and its value. */
  report(text, index, value) {
    this.readout.textContent = text;
    this.readout.dataset.index = JSON.stringify(index);
    this.readout.dataset.value = String(value);
  }
}

/** Whether two cells ({c, x, y} or {o, i, a, b}) are the same. */
export const sameCell = (p, q) => Object.keys(p).every((k) => p[k] === q[k]);

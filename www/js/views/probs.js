// Class probabilities as a bar chart: one button per class (so a keyboard can pick it), the
// bar's length is softmax(z)_j, the predicted class is bold, the true label (when known) is
// marked, and the class δ is back-propagated from is outlined. Clicking a class calls
// onpick(j): the δ maps are then computed for that class.
import { english } from '../i18n.js';

export class ProbBars {
  constructor(root, { onpick, t = english }) {
    this.root = root;
    this.t = t;
    this.onpick = onpick;
    root.classList.add('probs');
    root.setAttribute('role', 'group');
    root.setAttribute('aria-label', t('probsLabel'));
    this.setClasses(Array.from({ length: 10 }, (_, j) => String(j)));
  }

  /** The classes' names (the digits, or a task's own: "circle", "line", …), one row each. */
  setClasses(names) {
    if (this.names && this.names.join('\u0001') === names.join('\u0001')) return;
    this.names = names.slice();
    const { root, t } = this;
    root.classList.toggle('named', names.some((n) => n.length > 1));
    root.replaceChildren();
    this.rows = [];
    for (let j = 0; j < names.length; j++) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'prob';
      b.dataset.class = j;
      const name = span('prob-class', names[j]);
      const track = span('prob-track');
      const bar = span('prob-bar');
      track.append(bar);
      const val = span('prob-value');
      // (the button's name is its text: "class 3: probability 0.981, predicted"; the words
      // around the digit and the value are for screen readers only)
      const notes = span('visually-hidden');
      b.append(span('visually-hidden', t('probClass')), name, span('visually-hidden', t('probOf')), track, val, notes);
      b.onclick = () => this.onpick?.(j);
      root.append(b);
      this.rows.push({ b, bar, val, notes });
    }
  }

  /** probs: one number per class; label: true class or null; target: class δ comes from. */
  show(probs, { label = null, target }) {
    const pred = probs.indexOf(Math.max(...probs));
    this.rows.forEach(({ b, bar, val, notes }, j) => {
      bar.style.width = `${(100 * probs[j]).toFixed(1)}%`;
      val.textContent = probs[j] >= 0.001 ? probs[j].toFixed(3) : probs[j].toExponential(0);
      b.classList.toggle('predicted', j === pred);
      b.classList.toggle('label', j === label);
      b.classList.toggle('target', j === target);
      b.setAttribute('aria-pressed', String(j === target));
      notes.textContent = this.t('probNotes', j === pred, j === label, j === target);
    });
    this.root.dataset.predicted = String(pred);
    return pred;
  }
}

function span(cls, text) {
  const s = document.createElement('span');
  s.className = cls;
  if (text !== undefined) s.textContent = text;
  return s;
}

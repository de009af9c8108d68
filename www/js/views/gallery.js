// A set of 28×28 images as the network sees them: a thumbnail each (8-bit pixels, ink bright
// on dark as in MNIST), its class name under it and a button that deletes it. The newest come
// first; a long set shows a page of them and a "show more" button, so a few thousand images
// stay responsive. Knows nothing of the page: `ondelete(i)` is told the image's index.
import { english } from '../i18n.js';

export class Gallery {
  constructor(root, { ondelete, t = english, page = 96 }) {
    Object.assign(this, { root, ondelete, t, page });
    this.limit = page;
    root.classList.add('gallery');
  }

  /** `items`: [{pixels: Uint8Array(784), label}]; `names`: the task's class names. */
  show(items, names) {
    const { t } = this;
    const list = document.createElement('ul');
    list.className = 'gallery-list';
    list.setAttribute('aria-label', t('galleryLabel', items.length));
    const first = Math.max(0, items.length - this.limit);
    for (let i = items.length - 1; i >= first; i--) list.append(this.#item(items[i], i, names));
    const parts = [list];
    if (first > 0) {
      const more = document.createElement('button');
      more.type = 'button';
      more.className = 'secondary small';
      more.textContent = t('galleryMore', items.length - first, items.length);
      more.onclick = () => {
        const shown = this.limit;
        this.limit += this.page;
        this.show(items, names);
        // (the keyboard goes on where the new images begin)
        this.root.querySelectorAll('.gallery-delete')[shown]?.focus();
      };
      parts.push(more);
    }
    this.root.replaceChildren(...parts);
  }

  #item({ pixels, label }, i, names) {
    const li = document.createElement('li');
    li.className = 'gallery-item';
    li.dataset.index = String(i);
    li.dataset.label = String(label);
    const c = document.createElement('canvas');
    c.width = 28;
    c.height = 28;
    c.setAttribute('role', 'img');
    c.setAttribute('aria-label', this.t('galleryImage', i + 1, names[label]));
    drawPixels(c, pixels);
    const name = document.createElement('span');
    name.className = 'gallery-name';
    name.textContent = names[label];
    const del = document.createElement('button');
    del.type = 'button';
    del.className = 'gallery-delete';
    del.textContent = '×';
    del.setAttribute('aria-label', this.t('galleryDelete', i + 1, names[label]));
    del.onclick = () => this.ondelete?.(i);
    li.append(c, name, del);
    return li;
  }
}

/** Paints 8-bit pixels (0 = background) on a canvas of their size, in grey. */
export function drawPixels(canvas, pixels, at = 0) {
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const g = pixels[i];
    img.data.set([g, g, g, 255], 4 * i);
  }
  ctx.putImageData(img, at, 0);
}

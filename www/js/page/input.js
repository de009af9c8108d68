// The input: a held-out digit (◀/▶ or its number), or the user's own image — dropped on the
// panel, pasted, picked as a file, or drawn — centred and scaled like an MNIST digit.
import { $ } from '../dom.js';
import { DrawPad } from '../views/draw.js';
import { imageToDigit, canvasToDigit } from '../preprocess.js';
import { visible } from '../state.js';
import { state, status, t } from './context.js';

/** `use.digit(k)` shows held-out digit k; `use.image(pixels, what)` the user's image. */
export function setUpInput(use) {
  $('sample').value = String(state.digit);
  const useDigit = (d) => {
    if (!Number.isInteger(d) || d < 0 || d > 1999) { status(t('digitRange'), true); return; }
    $('sample').value = String(d);
    use.digit(d);
  };
  $('sample').onchange = () => useDigit($('sample').value.trim() === '' ? NaN : Number($('sample').value));
  $('prev-digit').onclick = () => useDigit((state.digit + 1999) % 2000);
  $('next-digit').onclick = () => useDigit((state.digit + 1) % 2000);
  const takeFile = async (file) => {
    if (!file) return;
    try {
      const { pixels } = await imageToDigit(file);
      await use.image(pixels, file.name ? `"${visible(file.name)}"` : t('pastedImage'));
    } catch (e) { status(t('couldNotUse', file.name ? visible(file.name) : '', e.message), true); }
  };
  $('file').onchange = () => takeFile($('file').files[0]);
  const panel = $('input-panel');
  panel.addEventListener('dragover', (e) => { e.preventDefault(); panel.classList.add('dropping'); });
  panel.addEventListener('dragleave', () => panel.classList.remove('dropping'));
  panel.addEventListener('drop', (e) => {
    e.preventDefault();
    panel.classList.remove('dropping');
    const file = [...(e.dataTransfer?.files ?? [])][0];
    if (file) takeFile(file); else status(t('dropImage'), true);
  });
  document.addEventListener('paste', (e) => {
    const item = [...(e.clipboardData?.items ?? [])].find((i) => i.kind === 'file' && i.type.startsWith('image/'));
    if (item) { e.preventDefault(); takeFile(item.getAsFile()); }
  });
  new DrawPad($('drawpad'), {
    size: 196,
    t,
    onchange: async (canvas) => {
      try {
        const r = await canvasToDigit(canvas);
        await use.image(r.pixels ?? r, t('yourDrawing'));
      } catch (e) { status(t('drawingFailed', e.message), true); }
    },
  });
}

// The page's words for what it shows: a module's description and whether an image looks like
// a handwritten digit. (The note for a cell no formula explains is the formula pane's:
// views/cell-notes.js.)

// What a module's output is, for the layer description: the engine's words for it (in
// English; other languages word it from the module's kind and sizes), and for a conv where it
// reads from and what follows it.
export function describe(name, graph, sites, t) {
  const m = graph.modules.find((x) => x.name === name);
  const site = sites.find((s) => s.name === name);
  if (!m) return '';
  const about = t('aboutModule', m, graph.blocks.find((b) => b.name === m.block)?.shortcut);
  return site ? t('convReads', about, site.input, site.bn) : about;
}

// An MNIST digit is a pen stroke: after centring, ink (> 10) covers 8–30 % of the 28×28 field
// (99 % of the held-out digits; none above 37 %) and is mostly solid: under 61 % of the ink
// pixels are grey (40–215) for 99 % of them. A photo of something else, centred the same way,
// is larger or greyer. Its prediction is still shown, with this warning.
export function notADigit(pixels, p, t) {
  let ink = 0, grey = 0;
  for (const v of pixels) { if (v > 10) ink++; if (v > 40 && v < 215) grey++; }
  const share = ink / pixels.length, greyShare = grey / Math.max(1, ink);
  if (share > 0.4 || greyShare > 0.7) {
    return t('notADigit', Math.round(100 * share), Math.round(100 * greyShare));
  }
  return p < 0.5 ? t('notSure') : '';
}

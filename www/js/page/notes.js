// The page's words for what it shows: a module's description and whether an image looks like
// a handwritten digit. (The note for a cell no formula explains is the formula pane's:
// views/cell-notes.js.)

// What a module's output is, for the layer description: the engine's words for it, and for a
// conv where it reads from and what follows it.
export function describe(name, graph, sites) {
  const m = graph.modules.find((x) => x.name === name);
  const site = sites.find((s) => s.name === name);
  if (!m) return '';
  if (site) return `${m.about}, reads ${site.input}${site.bn ? `, followed by ${site.bn}` : ''}`;
  return m.about;
}

// An MNIST digit is a pen stroke: after centring, ink (> 10) covers 8–30 % of the 28×28 field
// (99 % of the held-out digits; none above 37 %) and is mostly solid: under 61 % of the ink
// pixels are grey (40–215) for 99 % of them. A photo of something else, centred the same way,
// is larger or greyer. Its prediction is still shown, with this warning.
export function notADigit(pixels, p) {
  let ink = 0, grey = 0;
  for (const v of pixels) { if (v > 10) ink++; if (v > 40 && v < 215) grey++; }
  const share = ink / pixels.length, greyShare = grey / Math.max(1, ink);
  if (share > 0.4 || greyShare > 0.7) {
    return ` — this does not look like a handwritten digit (${Math.round(100 * share)} % of the field is ink, ${Math.round(100 * greyShare)} % of it grey; `
      + 'digits: 8–30 %, mostly solid strokes), so the prediction means little';
  }
  return p < 0.5 ? ' — not sure: is it a digit?' : '';
}

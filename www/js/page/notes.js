// The page's words for what it shows: a module's description, the note for a cell no formula
// explains (by the module's kind, from the engine's graph), and whether an image looks like a
// handwritten digit.

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

// A sentence for a cell no formula kind explains, by the module's kind (m: a graph module).
export function actNote(m) {
  switch (m?.kind) {
    case 'add': return `The residual junction adds the main branch (${m.inputs[0]}) and the shortcut (${m.inputs[1]}).`;
    case 'bn': return 'BatchNorm: y = γ (x − μ)/√(σ² + ε) + β, per channel; while inspecting, μ and σ² are the running statistics.';
    case 'relu': return 'a = σ(z) = max(0, z): the ReLU keeps positive values and zeroes the rest.';
    case 'pool': return 'The mean of each channel of the last block: a_c = (1/HW) Σ_{x,y} a_{c,x,y}.';
    case 'loss': return 'p_j = e^{z_j} / Σ_k e^{z_k}: the class probabilities.';
    default: return m?.about ?? '';
  }
}

export function deltaNote(m, graph) {
  const readers = graph.modules.filter((x) => x.inputs.includes(m?.name));
  const into = readers[0];
  if (m?.kind === 'shortcut') return [`Option A passes δ back unchanged: this cell's δ (the δ of ${into?.name}) goes to the block input at channel c − (padding), row 2x, column 2y; the zero-padded channels send nothing back. Select the block input (${m.inputs[0]}) to see it in the fork's formula.`];
  if (into?.kind === 'add') return [`The add passes its δ unchanged to both branches, so this equals the δ of ${into.name}.`];
  if (m?.kind === 'relu' && into?.kind === 'conv') return [`δ of a ReLU output: Σ_o Σ_{x',y'} δ·w through ${readers.map((r) => r.name).join(' and ')}. Select the ReLU's input (or the conv) to see the terms and the σ'(z) factor.`];
  if (into?.kind === 'pool') return ['The last block\'s output feeds the average pool: δ_{n,c,x,y} = δ^{pool}_{n,c} / (H·W).', '\\delta_{n,c,x,y} = \\frac{\\delta^{\\text{pool}}_{n,c}}{H\\,W}'];
  if (into?.kind === 'relu' && graph.modules.some((x) => x.inputs.includes(into.name) && x.kind === 'pool')) return ['The last block\'s junction: δ = σ\'(z) · δ^{pool}_{n,c} / (H·W), the average pool spreading its δ evenly.'];
  if (m?.kind === 'fc') return ['Softmax with cross-entropy, one image: δ^L_j = softmax(z)_j − [j = target class].', '\\delta^{L}_{j} = \\operatorname{softmax}(z)_j - [\\,j = y\\,]'];
  return [m?.about ?? ''];
}

// The words for a cell no formula explains, one sentence per note kind of the engine
// (resnet_engine::formula::NoteKind, chosen there from the module graph); `m` lists the
// modules the sentence names, `about` is the module's own description. Each entry gives the
// sentence and, where it has one, the formula in TeX.
const NOTES = {
  add_forward: (m) => [`The residual junction adds the main branch (${m[0]}) and the shortcut (${m[1]}).`],
  bn_forward: () => ['BatchNorm: y = γ (x − μ)/√(σ² + ε) + β, per channel; while inspecting, μ and σ² are the running statistics.'],
  relu_forward: () => ['a = σ(z) = max(0, z): the ReLU keeps positive values and zeroes the rest.'],
  pool_forward: () => ['The mean of each channel of the last block: a_c = (1/HW) Σ_{x,y} a_{c,x,y}.'],
  shortcut_delta: (m) => [`Option A passes δ back unchanged: this cell's δ (the δ of ${m[0]}) goes to the block input at channel c − (padding), row 2x, column 2y; the zero-padded channels send nothing back. Select the block input (${m[1]}) to see it in the fork's formula.`],
  add_delta: (m) => [`The add passes its δ unchanged to both branches, so this equals the δ of ${m[0]}.`],
  relu_delta: (m) => [`δ of a ReLU output: Σ_o Σ_{x',y'} δ·w through ${m.join(' and ')}. Select the ReLU's input (or the conv) to see the terms and the σ'(z) factor.`],
  pool_delta: () => ['The last block\'s output feeds the average pool: δ_{n,c,x,y} = δ^{pool}_{n,c} / (H·W).', '\\delta_{n,c,x,y} = \\frac{\\delta^{\\text{pool}}_{n,c}}{H\\,W}'],
  last_junction_delta: () => ['The last block\'s junction: δ = σ\'(z) · δ^{pool}_{n,c} / (H·W), the average pool spreading its δ evenly.'],
  softmax_delta: () => ['Softmax with cross-entropy, one image: δ^L_j = softmax(z)_j − [j = target class].', '\\delta^{L}_{j} = \\operatorname{softmax}(z)_j - [\\,j = y\\,]'],
  about: (m, about) => [about],
};

/** [sentence, TeX or undefined] for an engine CellNote. */
export function noteWords(n) {
  return (NOTES[n.note] ?? NOTES.about)(n.modules, n.about);
}

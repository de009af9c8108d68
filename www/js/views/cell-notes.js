// The words for a cell no formula explains: the engine chooses the note kind from the module
// graph (resnet_engine::formula::NoteKind) and names the modules; the sentence is the reader's
// language's (i18n/, one entry per kind), the formula beside it (TeX) is the same in all.
import { english } from '../i18n.js';

const TEX = {
  pool_delta: '\\delta_{n,c,x,y} = \\frac{\\delta^{\\text{pool}}_{n,c}}{H\\,W}',
  softmax_delta: '\\delta^{L}_{j} = \\operatorname{softmax}(z)_j - [\\,j = y\\,]',
};

/** [sentence, TeX or undefined] for an engine CellNote (`module`: its graph module, for a
 *  description in the reader's words; else the engine's). */
export function noteWords(n, t = english, module = null) {
  const about = module ? t('aboutModule', module) : n.about;
  return [n.note === 'about' ? about : t(n.note, n.modules), TEX[n.note]];
}

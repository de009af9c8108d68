// What the parts of the page share, and nothing else: the state (layer, digit, target, cell,
// network, training settings) with its URL form, the status line, whether training runs, and
// the notices about the link as opened. `update` is the one way to change the state: the URL
// follows by itself (state.js writes it).
import { $ } from '../dom.js';
import { readUrlState, urlOf } from '../state.js';

export const LINK = location.search; // the link as opened (the URL changes as the view does)
// (the training settings are read from the link once the engine has said their ranges)
export const { state, notices } = readUrlState(LINK);
export const training = { running: false, paused: false };

let timer = 0;
/** Changes the state; the URL follows a moment later (once for a burst of changes). */
export function update(patch) {
  Object.assign(state, patch);
  clearTimeout(timer);
  timer = setTimeout(() => history.replaceState(null, '', urlOf(state, location.search)), 150);
}

/** The status line: one sentence, an error or not. */
export function status(msg, isError = false) {
  $('status').textContent = msg;
  $('status').classList.toggle('error', isError);
}

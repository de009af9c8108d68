// What the parts of the page share, and nothing else: the state (layer, digit, target, cell,
// network, training settings) with its URL form, the status line, whether training runs, and
// the notices about the link as opened. `update` is the one way to change the state: the URL
// follows by itself (state.js writes it).
import { $ } from '../dom.js';
import { readUrlState, urlOf } from '../state.js';
import { pickLang, translator } from '../i18n.js';

export const LINK = location.search; // the link as opened (the URL changes as the view does)
/** The reader's words: ?lang= (en, zh-CN), else the browser's language (i18n.js). */
export const t = translator(pickLang(new URLSearchParams(LINK).get('lang')));
// (the training settings are read from the link once the engine has said their ranges)
export const { state, notices } = readUrlState(LINK, null, t);
export const training = { running: false, paused: false };
/** What the views show when it is not the page's own model: compare mode's "Show in the views
 *  above" puts a compared model there (its words, e.g. "Plain-20 at step 120"), and meanwhile
 *  nothing may train, replace or save over the page's model, which waits in the engine. */
export const shown = { compared: null };
/** The task: MNIST's ten digits (`own` false), or classes of the student's own, by name
 *  (page/mydata.js; it lives in IndexedDB with the images: a link cannot hold them). */
export const DIGITS = Object.freeze(Array.from({ length: 10 }, (_, i) => String(i)));
export const task = { own: false, names: DIGITS, id: null, switching: false };

let timer = 0;
/** Changes the state; the URL follows a moment later (once for a burst of changes). */
export function update(patch) {
  Object.assign(state, patch);
  clearTimeout(timer);
  timer = setTimeout(() => history.replaceState(null, '', urlOf(state, location.search)), 150);
}

/** The status line: one sentence, an error or not (`showing`: it names the input shown, and a
 *  new input replaces it). */
export function status(msg, isError = false, { showing = false } = {}) {
  $('status').textContent = msg;
  $('status').classList.toggle('error', isError);
  if (showing) $('status').dataset.showing = 'yes'; else delete $('status').dataset.showing;
}

// Operations that change or run the engine's model — build a network, open weights or a
// session, train from scratch, load pretrained, train — run one at a time: while one is in
// flight the controls that start another are disabled (and a start that slips through is
// refused), so no step trains weights that are about to be replaced.
const OPERATIONS = ['start', 'step', 'reset', 'pretrained', 'arch-build', 'weights-open', 'session-open', 'task-start', 'task-digits'];
let inFlight = false;

/** Whether an operation (or a training run) is under way. */
export const busy = () => inFlight || training.running;

const others = [];

/** `fn(busy)` is called whenever the operation controls are refreshed: controls of a part's
 *  own (the compare panel's) that start an operation follow the same guard. */
export const onControls = (fn) => { others.push(fn); fn(busy()); };

/** Enables the operation controls unless one is under way; a control whose `data-off` is "yes"
 *  (no pretrained file for this network, the network already built) stays disabled. */
export function refreshControls() {
  for (const id of OPERATIONS) $(id).disabled = busy() || !!shown.compared || $(id).dataset.off === 'yes';
  for (const fn of others) fn(busy());
}

/** Runs operation `fn` alone (see above); resolves with its result, or undefined if refused. */
export async function exclusive(fn) {
  if (busy()) { status(t('waitForOperation'), true); return undefined; }
  inFlight = true;
  refreshControls();
  try {
    return await fn();
  } finally {
    inFlight = false;
    refreshControls();
  }
}

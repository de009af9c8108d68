// Nothing lost: the session (weights, optimizer state, step, settings, curves) in IndexedDB,
// one per network, saved while training, on pause, after each run and when the page is hidden;
// and in a file, to move by hand.
import { $, download } from '../dom.js';
import { parseValue, visible, SETTING_KEYS } from '../state.js';
import { SessionStore, sessionToFile, sessionFromFile } from '../session.js';
import { LINK, state, update, status } from './context.js';


export async function setUpSession(engine, trainer, inspector, archPanel) {
  let store = null, warned = false, resumed = false;
  const warn = (msg) => {
    if (warned) return;
    warned = true;
    $('session-note').textContent = msg;
  };
  try {
    store = await SessionStore.open();
  } catch (e) {
    warn(`Your work is not kept in this browser: ${e.message}. Training still works; "Save session to a file" keeps it.`);
  }
  const gather = async () => {
    const [weights, optimizer, step] = await Promise.all([engine.saveWeights(), engine.saveOptimizer(), engine.step()]);
    return { savedAt: Date.now(), arch: state.arch, weights, optimizer, step, settings: Object.fromEntries(SETTING_KEYS.map((k) => [k, state[k]])), ...trainer.snapshot() };
  };
  // weights and optimizer first (validated by the engine; a bad file changes nothing), then the page
  const restore = async (s, fromUrl) => {
    // the file's network, whichever it is (a session file may hold another one)
    await engine.loadModel(s.weights);
    await engine.loadOptimizer(s.optimizer);
    await archPanel.changed(false);
    trainer.restore(s);
    // training settings from the session unless the link names them
    const q = new URLSearchParams(fromUrl ? LINK : '');
    for (const k of SETTING_KEYS) {
      if (q.has(k) || s.settings?.[k] === undefined) continue;
      const v = parseValue(k, s.settings[k]);
      if (v !== undefined) { update({ [k]: v }); $(k).value = String(v); }
    }
    update({});
    await inspector.refresh();
  };
  if (store) {
    try {
      const s = await store.load(state.arch);
      if (s) {
        await restore(s, true);
        status(`Welcome back: your session from ${new Date(s.savedAt).toLocaleString()} is restored, at step ${s.step}.`);
        resumed = true;
      }
    } catch (e) {
      status(`Your saved session could not be restored (${e.message}); the pretrained model is loaded instead.`, true);
    }
  }
  let last = -Infinity, saving = null;
  const save = (force = false) => {
    // a forced save while another is under way (which may hold older weights) follows it
    if (store && saving && force) return saving.then(() => save(true));
    if (!store || saving || (!force && performance.now() - last < 5000)) return saving;
    last = performance.now();
    saving = gather().then(async (s) => { await store.save(s, s.arch); window.playground.savedStep = s.step; }).catch((e) => warn(`Your work could not be saved: ${e.message}. Training still works.`)).finally(() => { saving = null; });
    return saving;
  };
  trainer.setSaver(save);
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') save(true); });
  window.addEventListener('pagehide', () => save(true));
  window.playground.saveSession = () => save(true);

  $('session-save').onclick = async () => {
    try {
      const s = await gather();
      download(sessionToFile(s), `resnet-playground-step${s.step}.json`, 'application/json');
    } catch (e) { status(`Could not save the session: ${e.message}`, true); }
  };
  $('session-open').onchange = async () => {
    const file = $('session-open').files[0];
    if (!file) return;
    if (trainer.busy()) { status('Stop training before opening a session.', true); return; }
    try {
      const s = sessionFromFile(await file.text());
      await restore(s, false);
      save(true);
      status(`Session "${visible(file.name)}" opened, at step ${s.step}.`);
    } catch (e) { status(`Could not open "${visible(file.name)}": ${e.message}`, true); }
    $('session-open').value = '';
  };
  // after a crash: the last saved session (null if there is none)
  const restoreSaved = async () => {
    const s = store && await store.load(state.arch);
    if (!s) return null;
    await restore(s, false);
    return s.step;
  };
  // another network: the one before is saved first, and this one's last session comes back
  archPanel.onSwitch(async (build) => {
    await save(true);
    await build();
    const back = await restoreSaved().catch(() => null);
    await save(true);
    return back;
  });
  return { resumed, restoreSaved };
}

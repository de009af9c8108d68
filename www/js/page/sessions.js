// Nothing lost: the session (weights, optimizer state, step, settings, curves) in IndexedDB,
// one per network, saved while training, on pause, after each run and when the page is hidden;
// and in a file, to move by hand.
import { $, download } from '../dom.js';
import { parseValue, visible, SETTING_KEYS } from '../state.js';
import { SessionStore, sessionToFile, sessionFromFile } from '../session.js';
import { LINK, state, update, status, exclusive, shown } from './context.js';


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
  const keeper = await keepSessions(() => save(true));
  let last = -Infinity, saving = null;
  const save = (force = false) => {
    // (a compared model in the views is not this network's session: the page's own waits aside)
    if (shown.compared) return Promise.resolve();
    // a forced save while another is under way (which may hold older weights) follows it
    if (store && saving && force) return saving.then(() => save(true));
    // (another tab keeps this network's session: this one saves nothing over it)
    if (!store || saving || !keeper.keeps() || (!force && performance.now() - last < 5000)) return saving;
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
  $('session-open').onchange = () => exclusive(async () => {
    const file = $('session-open').files[0];
    if (!file) return;
    try {
      const s = sessionFromFile(await file.text());
      await restore(s, false);
      save(true);
      status(`Session "${visible(file.name)}" opened, at step ${s.step}.`);
    } catch (e) { status(`Could not open "${visible(file.name)}": ${e.message}`, true); }
    $('session-open').value = '';
  });
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
    await keeper.claim(); // the new network's session: this tab keeps it, or another tab does
    const back = await restoreSaved().catch(() => null);
    await save(true);
    return back;
  });
  return { resumed, restoreSaved };
}

// One tab keeps a network's saved session: the first to open that network (a Web Lock named
// after it). Another tab of the same network restores the session but saves nothing over it,
// and says so, with a button to keep its own work instead; the tab that kept it until then is
// told, and stops saving (it offers to take it back). Without the Web Locks API every tab
// saves, as before.
async function keepSessions(saveNow) {
  let held = null; // {arch, release} while this tab keeps the session of `arch`
  const note = (text, button, action) => {
    const n = $('session-note');
    n.replaceChildren(text);
    if (button) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'secondary small';
      b.id = 'session-keep';
      b.textContent = button;
      b.onclick = async () => { if (await claim(true)) { status('This tab now keeps the saved session of this network.'); saveNow(); } };
      n.append(' ', b);
    }
  };
  const claim = async (steal = false) => {
    held?.release();
    held = null;
    if (!navigator.locks) { held = { arch: state.arch, release: () => {} }; return true; }
    const arch = state.arch;
    let release;
    const hold = new Promise((r) => { release = r; });
    const got = await new Promise((resolve) => {
      navigator.locks.request(`resnet-playground-session:${arch}`, steal ? { steal: true } : { ifAvailable: true }, (lock) => {
        resolve(!!lock);
        return lock ? hold : undefined;
      }).catch(() => {
        // stolen: another tab keeps it now
        if (held?.release !== release) return;
        held = null;
        note('Another tab took over keeping this network\'s saved session: this tab\'s training is no longer saved in the browser ("Save session to a file" keeps it).', 'Keep this tab\'s work instead');
      });
    });
    if (got) {
      held = { arch, release };
      if ($('session-keep')) $('session-note').replaceChildren();
    } else {
      note('This network is open in another tab, which keeps its saved session: this tab\'s training is not saved in the browser ("Save session to a file" keeps it).', 'Keep this tab\'s work instead');
    }
    return got;
  };
  await claim();
  return { claim: () => claim(), keeps: () => held !== null && held.arch === state.arch };
}

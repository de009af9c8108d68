// Nothing lost: the session (weights, optimizer state, step, settings, curves) in IndexedDB,
// one per network, saved while training, on pause, after each run and when the page is hidden;
// and in a file, to move by hand.
import { $, download } from '../dom.js';
import { parseValue, visible, SETTING_KEYS } from '../state.js';
import { SessionStore, sessionToFile, sessionFromFile } from '../session.js';
import { LINK, state, update, status, exclusive, shown, task, t } from './context.js';


/** Restores this network's saved session if there is one; saves from now on. Returns
 *  {resumed, restoreSaved}. */
export async function setUpSession(engine, trainer, inspector, archPanel, my, tasks) {
  const sessions = new Sessions(engine, trainer, inspector, archPanel, my);
  await sessions.open();
  const resumed = await sessions.resume();
  sessions.keeper = await keepSessions(() => sessions.save(true));
  trainer.setSaver((force) => sessions.save(force));
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') sessions.save(true); });
  window.addEventListener('pagehide', () => sessions.save(true));
  window.playground.saveSession = () => sessions.save(true);
  sessions.fileButtons();
  // another network: the one before is saved first, and this one's last session comes back
  archPanel.onSwitch(async (build) => {
    await sessions.save(true);
    await build();
    await sessions.keeper.claim(); // the new network's session: this tab keeps it, or another tab does
    const back = await sessions.restoreSaved().catch(() => null);
    await sessions.save(true);
    return back;
  });
  // another task: the same, by task (a new task starts afresh: nothing to restore)
  tasks.onSwitch(async (build, { restore }) => {
    await sessions.save(true);
    await build();
    const back = restore ? await sessions.restoreSaved().catch(() => null) : null;
    await sessions.save(true);
    return back;
  });
  return { resumed, restoreSaved: () => sessions.restoreSaved() };
}

class Sessions {
  constructor(engine, trainer, inspector, archPanel, my) {
    Object.assign(this, { engine, trainer, inspector, archPanel, my });
    this.store = null;
    this.warned = false;
    this.last = -Infinity;
    this.saving = null;
    this.keeper = { keeps: () => false, claim: async () => false };
  }

  warn(msg) {
    if (this.warned) return;
    this.warned = true;
    $('session-note').textContent = msg;
  }

  async open() {
    try {
      this.store = await SessionStore.open();
    } catch (e) {
      this.warn(t('notKept', e.message));
    }
  }

  /** The session from IndexedDB, if one was saved for this network; whether it came back. */
  async resume() {
    if (!this.store) return false;
    try {
      const s = await this.store.load(state.arch, task.own);
      if (!s || !this.ofThisTask(s)) return false;
      await this.restore(s, true);
      status(t('welcomeBack', new Date(s.savedAt).toLocaleString(t.lang), s.step));
      return true;
    } catch (e) {
      status(t('notRestored', e.message), true);
      return false;
    }
  }

  async gather() {
    const [weights, optimizer, step] = await Promise.all([this.engine.saveWeights(), this.engine.saveOptimizer(), this.engine.step()]);
    return { savedAt: Date.now(), arch: state.arch, own: task.own, taskId: task.id, weights, optimizer, step, settings: Object.fromEntries(SETTING_KEYS.map((k) => [k, state[k]])), ...this.trainer.snapshot() };
  }

  // weights and optimizer first (validated by the engine; a bad file changes nothing), then the page
  async restore(s, fromUrl) {
    // the file's network, whichever it is (a session file may hold another one), and its
    // images and task (a file's; IndexedDB keeps them apart, page/mydata.js)
    await this.engine.loadModel(s.weights);
    await this.engine.loadOptimizer(s.optimizer);
    if (s.mydata) { this.my.load(s.mydata); await this.my.resend(); await this.my.save(); }
    await this.archPanel.changed(false);
    this.trainer.restore(s);
    // training settings from the session unless the link names them
    const q = new URLSearchParams(fromUrl ? LINK : '');
    for (const k of SETTING_KEYS) {
      if (q.has(k) || s.settings?.[k] === undefined) continue;
      const v = parseValue(k, s.settings[k]);
      if (v !== undefined) { update({ [k]: v }); $(k).value = String(v); }
    }
    update({});
    await this.inspector.refresh();
  }

  /** Saves the session (at most every 5 s unless forced); resolves when it is written. */
  save(force = false) {
    const { store } = this;
    // (a compared model in the views is not this network's session: the page's own waits aside;
    // during a task switch the model and the task do not yet belong together)
    if (shown.compared || task.switching) return Promise.resolve();
    // a forced save while another is under way (which may hold older weights) follows it
    if (store && this.saving && force) return this.saving.then(() => this.save(true));
    // (another tab keeps this network's session: this one saves nothing over it)
    if (!store || this.saving || !this.keeper.keeps() || (!force && performance.now() - this.last < 5000)) return this.saving;
    this.last = performance.now();
    this.saving = this.gather()
      .then(async (s) => { await store.save(s, s.arch, s.own); window.playground.savedStep = s.step; })
      .catch((e) => this.warn(t('notSaved', e.message)))
      .finally(() => { this.saving = null; });
    return this.saving;
  }

  // a saved session of a task of one's own belongs to that task only (a new task with the same
  // network starts afresh, it does not get the last task's model)
  ofThisTask(s) { return !task.own || s.taskId === task.id; }

  // after a crash: the last saved session (null if there is none)
  async restoreSaved() {
    const s = this.store && await this.store.load(state.arch, task.own);
    if (!s || !this.ofThisTask(s)) return null;
    await this.restore(s, false);
    return s.step;
  }

  fileButtons() {
    $('session-save').onclick = async () => {
      try {
        // (the file carries the images and the task too: a link cannot)
        const s = { ...await this.gather(), mydata: this.my.record() };
        download(sessionToFile(s), `resnet-playground-step${s.step}.json`, 'application/json');
      } catch (e) { status(t('couldNotSaveSession', e.message), true); }
    };
    $('session-open').onchange = () => exclusive(async () => {
      const file = $('session-open').files[0];
      if (!file) return;
      try {
        const s = sessionFromFile(await file.text());
        if (s.mydata && this.my.hasImages() && !window.confirm(t('sessionReplacesSets'))) { status(t('nothingOpened')); $('session-open').value = ''; return; }
        await this.restore(s, false);
        this.save(true);
        status(t('sessionOpened', visible(file.name), s.step));
      } catch (e) { status(t('couldNotOpen', visible(file.name), e.message), true); }
      $('session-open').value = '';
    });
  }
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
      b.onclick = async () => { if (await claim(true)) { status(t('tabKeeps')); saveNow(); } };
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
        note(t('otherTabTook'), t('keepMine'));
      });
    });
    if (got) {
      held = { arch, release };
      if ($('session-keep')) $('session-note').replaceChildren();
    } else {
      note(t('otherTabKeeps'), t('keepMine'));
    }
    return got;
  };
  await claim();
  return { claim: () => claim(), keeps: () => held !== null && held.arch === state.arch };
}

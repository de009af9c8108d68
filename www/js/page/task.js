// Classes of one's own: a new task with 2–10 named classes ("circle, line, cross"), trained as
// a fresh network or as the digits network with a new final layer (engine.newHead: every
// other weight kept); and back to the digits. A task switch is like a network switch: the
// session before is saved and the task's own comes back (page/sessions.js keeps one per
// network and task). Predictions, maps, δ and the formula pane follow the class count, which
// is the engine's model's.
import { $ } from '../dom.js';
import { visible } from '../state.js';
import { task, DIGITS, state, status, exclusive, t } from './context.js';
import { PRETRAINED } from './arch.js';

/** Wires the task controls; returns {onSwitch(fn), ensureHead(restored), follow(classes)}. */
export function setUpTasks(engine, my, trainer, inspector, archPanel) {
  let onSwitch = (build) => build();
  const form = $('task-form');
  const showForm = (open) => {
    form.hidden = !open;
    $('task-new').setAttribute('aria-expanded', String(open));
    $(open ? 'task-classes' : 'task-new').focus();
  };
  $('task-new').onclick = () => showForm(true);
  $('task-cancel').onclick = () => showForm(false);
  form.onkeydown = (e) => { if (e.key === 'Escape') { e.stopPropagation(); showForm(false); } };
  const pretrained = async () => {
    const url = PRETRAINED[state.arch];
    if (!url) throw new Error(t('noPretrained', $('arch-name').textContent));
    const res = await fetch(url);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  };
  // the model, the task and the views after a switch
  const settle = async () => {
    trainer.clearStats();
    await my.changed();
    await archPanel.changed();
    await inspector.rebuild();
  };
  // a switch (the session before is saved first): while the model and the task change, one
  // after the other, no save may catch them half-way
  const switching = (build, how) => onSwitch(async () => {
    task.switching = true;
    try { await build(); } finally { task.switching = false; }
  }, how);
  form.onsubmit = (e) => {
    e.preventDefault();
    exclusive(() => startTask(engine, my, switching, settle, pretrained).then((done) => { if (done) showForm(false); }));
  };
  $('task-digits').onclick = () => exclusive(async () => {
    try {
      // (fetched first: a failed download changes nothing)
      const bytes = PRETRAINED[state.arch] ? await pretrained() : null;
      const back = await switching(async () => {
        await engine.newHead(10, state.seed);
        if (bytes) await engine.restoreCheckpoint(bytes, 0);
        Object.assign(task, { own: false, names: DIGITS, id: null });
        await settle();
      }, { restore: true });
      status(back == null ? t(bytes ? 'backToDigits' : 'backToDigitsFresh') : t('backToDigitsSession', back));
      $('task-new').focus();
    } catch (e) { status(t('couldNotStartTask', e.message), true); }
  });
  return {
    onSwitch: (fn) => { onSwitch = fn; },
    /** A task of one's own whose session did not come back (`restored` false: none was kept,
     *  or the engine restarted without one), or a model of another class count: a new final
     *  layer for the task (the digits' head is never taken for a task's, even with ten classes). */
    ensureHead: async (restored) => {
      if (!task.own) return;
      if (restored && (await engine.architecture()).config.num_classes === task.names.length) return;
      await engine.newHead(task.names.length, state.seed);
      await archPanel.changed();
      await inspector.rebuild();
      await my.resend();
    },
    /** The engine's model has `classes` classes (a session or weights file): the task follows —
     *  the digits for ten, the task of one's own if it has as many; nothing the student made
     *  is rewritten (the images and names stay stored as they were). */
    follow: async (classes) => {
      if (classes === task.names.length) return;
      if (classes === 10) Object.assign(task, { own: false, names: DIGITS, id: null });
      else if (my.ownNames?.length === classes) Object.assign(task, { own: true, names: my.ownNames, id: my.ownId });
      else Object.assign(task, { own: true, names: Array.from({ length: classes }, (_, k) => t('classN', k)), id: null });
      await my.resend();
    },
  };
}

// a new task from the form: names, a fresh network or the digits network's layers; resolves
// with whether it began
async function startTask(engine, my, switching, settle, pretrained) {
  const names = parseNames($('task-classes').value, my.limits.classes);
  if (typeof names === 'string') { status(names, true); $('task-classes').focus(); return false; }
  if (my.sets.own.length && !window.confirm(t('replaceTask', my.ownNames.join(', '), my.sets.own.length))) return false;
  const fresh = $('task-fresh').checked;
  try {
    // the digits network's layers: this one's, or (from another task) the pretrained file,
    // fetched first: a failed download changes nothing
    const body = !fresh && task.own ? await pretrained() : null;
    await switching(async () => {
      if (body) { await engine.newHead(10, state.seed); await engine.restoreCheckpoint(body, 0); }
      await engine.newHead(names.length, state.seed);
      if (fresh) await engine.resetModel(state.seed);
      const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
      Object.assign(task, { own: true, names, id });
      Object.assign(my, { ownNames: names, ownId: id });
      my.sets.own = [];
      await settle();
    }, { restore: false });
    status(t(fresh ? 'taskStartedFresh' : 'taskStarted', names.join(', ')));
    $('add-image').focus();
    return true;
  } catch (e) { status(t('couldNotStartTask', e.message), true); return false; }
}

/** Class names from "circle, line, cross" (commas or new lines): a list, or what is wrong. */
export function parseNames(text, [lo, hi]) {
  const names = String(text).split(/[,，\n]/).map((s) => visible(s.trim()).slice(0, 24)).filter(Boolean);
  if (names.length < lo || names.length > hi) return t('taskClassCount', lo, hi, names.length);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) return t('taskNameTwice', twice);
  return names;
}

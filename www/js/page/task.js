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

/** Wires the task controls; returns {onSwitch(fn), follow(classes)}. */
export function setUpTasks(engine, my, trainer, inspector, archPanel) {
  let onSwitch = (build) => build();
  const form = $('task-form');
  $('task-new').onclick = () => { form.hidden = false; $('task-classes').focus(); };
  $('task-cancel').onclick = () => { form.hidden = true; $('task-new').focus(); };
  const pretrained = async () => {
    const url = PRETRAINED[state.arch];
    if (!url) throw new Error(t('noPretrained', $('arch-name').textContent));
    const res = await fetch(url);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  };
  // the model, the task and the views after a switch
  const settle = async () => {
    $('task-digits').hidden = !task.own;
    trainer.clearStats();
    await my.changed();
    await archPanel.changed();
    await inspector.rebuild();
  };
  form.onsubmit = (e) => {
    e.preventDefault();
    exclusive(() => startTask(engine, my, () => onSwitch, settle, pretrained));
  };
  $('task-digits').onclick = () => exclusive(async () => {
    try {
      const back = await onSwitch(async () => {
        await engine.newHead(10, state.seed);
        if (PRETRAINED[state.arch]) await engine.restoreCheckpoint(await pretrained(), 0);
        Object.assign(task, { own: false, names: DIGITS });
        await settle();
      }, { restore: true });
      status(back == null ? t('backToDigits') : t('backToDigitsSession', back));
      $('task-new').focus();
    } catch (e) { status(t('couldNotStartTask', e.message), true); }
  });
  $('task-digits').hidden = !task.own;
  return {
    onSwitch: (fn) => { onSwitch = fn; },
    /** The task is one's own but the model came back with the digits' head (no session of the
     *  task was kept, or the engine restarted without one): a new final layer for the task. */
    ensureHead: async () => {
      if ((await engine.architecture()).config.num_classes === task.names.length) return;
      await engine.newHead(task.names.length, state.seed);
      await archPanel.changed();
      await inspector.rebuild();
    },
    /** The engine's model has `classes` classes (a session, a weights file): the task follows. */
    follow: async (classes) => {
      if (classes === task.names.length) return;
      if (task.own && my.ownNames?.length === classes) return;
      if (classes === 10) Object.assign(task, { own: false, names: DIGITS });
      else {
        const names = my.ownNames?.length === classes ? my.ownNames : Array.from({ length: classes }, (_, k) => t('classN', k));
        Object.assign(task, { own: true, names });
        Object.assign(my, { ownNames: names });
      }
      $('task-digits').hidden = !task.own;
      await my.resend();
      await my.save();
    },
  };
}

// a new task from the form: names, a fresh network or the digits network's layers
async function startTask(engine, my, onSwitch, settle, pretrained) {
  const names = parseNames($('task-classes').value, my.limits.classes);
  if (typeof names === 'string') { status(names, true); $('task-classes').focus(); return; }
  if (my.sets.own.length && !window.confirm(t('replaceTask', my.ownNames.join(', '), my.sets.own.length))) return;
  const fresh = $('task-fresh').checked;
  try {
    await onSwitch()(async () => {
      // the digits network's layers: this one's, or (from another task) the pretrained file
      if (!fresh && task.own) { await engine.newHead(10, state.seed); await engine.restoreCheckpoint(await pretrained(), 0); }
      await engine.newHead(names.length, state.seed);
      if (fresh) await engine.resetModel(state.seed);
      Object.assign(task, { own: true, names });
      Object.assign(my, { ownNames: names });
      my.sets.own = [];
      await settle();
    }, { restore: false });
    $('task-form').hidden = true;
    status(t(fresh ? 'taskStartedFresh' : 'taskStarted', names.join(', ')));
    $('add-image').focus();
  } catch (e) { status(t('couldNotStartTask', e.message), true); }
}

/** Class names from "circle, line, cross" (commas or new lines): a list, or what is wrong. */
export function parseNames(text, [lo, hi]) {
  const names = String(text).split(/[,，\n]/).map((s) => visible(s.trim()).slice(0, 24)).filter(Boolean);
  if (names.length < lo || names.length > hi) return t('taskClassCount', lo, hi, names.length);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) return t('taskNameTwice', twice);
  return names;
}

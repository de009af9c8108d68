// The network: a preset or the fields (depth, width, shortcut, BatchNorm) name a member of the
// family; the engine says what it is (its id, name, parameters) and builds it. The page follows
// whatever network the engine holds: built here, or opened from a weights file (which may have
// to ask whether it is option A or a plain net) or a session.
import { $ } from '../dom.js';
import { visible } from '../state.js';
import { state, update, status, exclusive, refreshControls, task, t } from './context.js';

export const MODEL_URL = 'models/resnet8-mnist.safetensors';
// pretrained files shipped with the page, by network; a network without one starts from its seed
export const PRETRAINED = { resnet8: MODEL_URL };
/** What the engine worker starts with for network `arch`: its pretrained file, or the id. */
export const engineModel = (arch) => (PRETRAINED[arch] ? { modelUrl: PRETRAINED[arch], arch: undefined } : { modelUrl: null, arch });


// The architecture panel: a preset or the fields (depth, width, shortcut, BatchNorm) name a
// member of the family; the engine says what it is (its id, name, parameters) and builds it.
// The page follows whatever network the engine holds: built here, or opened from a file.
export async function setUpArchitecture(engine, inspector, trainer) {
  const fam = await engine.family();
  $('arch-preset').replaceChildren(...fam.presets.map((p) => new Option(t('netLabel', p.label), p.id)), new Option(t('yourChoice'), ''));
  $('arch-depth').replaceChildren(...fam.depths.map((d) => new Option(String(d), String(d))));
  $('arch-width').replaceChildren(...fam.widths.map((w) => new Option(String(w), String(w))));
  $('arch-shortcut').replaceChildren(...fam.shortcuts.map((k) => new Option(t('shortcutText', k), k)));
  let built = null; // the engine's network: {config, id, label, depth, parameters}
  const setFields = (c) => {
    $('arch-depth').value = String(2 * c.blocks.reduce((a, b) => a + b, 0) + 2);
    $('arch-width').value = String(c.widths[0]);
    $('arch-shortcut').value = c.shortcut;
    $('arch-bn').checked = c.batchnorm;
  };
  const wanted = () => engine.archOf(Number($('arch-depth').value), Number($('arch-width').value), $('arch-shortcut').value, $('arch-bn').checked);
  const count = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(n < 1e5 ? 1 : 0)} k`);
  const words = (a) => t('netWords', t('netLabel', a.label), a.depth, count(a.parameters));
  const preview = async () => {
    try {
      const a = await wanted();
      $('arch-preset').value = fam.presets.some((p) => p.id === a.id) ? a.id : '';
      const same = built && a.id === built.id;
      $('arch-build').dataset.off = same ? 'yes' : '';
      refreshControls();
      $('arch-summary').textContent = same ? t('runsSame', words(built)) : t('runsOther', words(built), words(a), state.seed);
    } catch (e) {
      $('arch-summary').textContent = e.message;
      $('arch-build').disabled = true;
    }
  };
  for (const id of ['arch-depth', 'arch-width', 'arch-shortcut', 'arch-bn']) $(id).onchange = preview;
  $('arch-preset').onchange = () => {
    const p = fam.presets.find((x) => x.id === $('arch-preset').value);
    if (p) setFields(p.config);
    preview();
  };
  // the engine's network changed (built, or from a file or a session): the page follows
  const changed = async () => {
    const classesBefore = built?.config.num_classes;
    built = await engine.architecture();
    const reshaped = built.config.num_classes !== task.names.length;
    if (reshaped) await follow(built.config.num_classes); // (a file of another task: the task follows)
    if (state.target !== null && state.target >= built.config.num_classes) update({ target: null });
    const id = built.id ?? state.arch;
    const switched = id !== state.arch || !inspectorMatches;
    update({ arch: id });
    Object.assign(engine.options, engineModel(id)); // a restarted engine comes back as this network
    $('arch-name').textContent = t('netLabel', built.label);
    setFields(built.config);
    trainer.setPretrained(!!PRETRAINED[id]);
    await preview();
    update({});
    inspectorMatches = true;
    // (another class count is another fc: the strip and the views follow the graph)
    if (switched || reshaped || (classesBefore !== undefined && classesBefore !== built.config.num_classes)) await inspector.rebuild();
  };
  let follow = async () => {};
  let inspectorMatches = true;
  let onSwitch = (build) => build();
  $('arch-build').onclick = () => exclusive(async () => {
    let a;
    try { a = await wanted(); } catch (e) { status(e.message, true); return; }
    status(t('building', t('netLabel', a.label)));
    try {
      const back = await onSwitch(async () => {
        await engine.setArchitecture(a.id, state.seed); // (by id: the engine keeps the task's classes)
        trainer.clearStats();
        inspectorMatches = false;
        await changed();
      });
      status(back == null ? t('built', t('netLabel', a.label), state.seed) : t('builtBack', t('netLabel', a.label), back));
    } catch (e) {
      status(t('couldNotBuild', t('netLabel', a.label), e.message), true);
      await preview();
    }
  });
  $('weights-open').onchange = () => exclusive(() => openWeights(engine, inspector, trainer, changed));
  await changed();
  return { changed, ask, onSwitch: (fn) => { onSwitch = fn; }, onClasses: (fn) => { follow = fn; } };
}

// weights from a file (e.g. the CLI's or PyTorch's), of any member: checked by the engine, a bad file changes nothing
async function openWeights(engine, inspector, trainer, changed) {
  const file = $('weights-open').files[0];
  $('weights-open').value = '';
  if (!file) return;
  try {
    if (file.size > 64 << 20) throw new Error(t('tooLarge', (file.size / 2 ** 20).toFixed(0)));
    const bytes = new Uint8Array(await file.arrayBuffer());
    // which network the file holds; names and shapes cannot tell option A from a plain net
    const what = await engine.fileArch(bytes);
    // a model of another task's classes: only in that task (its names are not in the file)
    const classes = (what.config ?? what.candidates?.[0]?.config)?.num_classes;
    if (classes !== undefined && classes !== 10 && classes !== task.names.length) throw new Error(t('weightsOtherTask', classes));
    let shortcut;
    if (!what.config) {
      shortcut = await ask(t('whichNetwork', visible(file.name), what.source), what.candidates);
      if (!shortcut) { status(t('nothingOpened')); return; }
    }
    trainer.save(true); // the network before keeps its session
    await engine.loadModel(bytes, shortcut);
    trainer.clearStats();
    await changed();
    trainer.save(true);
    status(t('weightsLoaded', visible(file.name), $('arch-name').textContent));
  } catch (e) {
    status(t('couldNotUseFile', visible(file.name), e.message), true);
  }
  await inspector.refresh().catch(() => {});
}

// a question with one button per answer (and Cancel); resolves with the answer or null
export function ask(text, candidates) {
  return new Promise((resolve) => {
    const box = $('arch-ask');
    $('arch-ask-text').textContent = text;
    const done = (v) => { box.hidden = true; box.onkeydown = null; resolve(v); };
    const button = (label, onclick, cls = '') => Object.assign(document.createElement('button'), { type: 'button', textContent: label, className: cls, onclick });
    const buttons = candidates.map((c) => button(t('netLabel', c.label), () => done(c.config.shortcut)));
    $('arch-ask-buttons').replaceChildren(...buttons, button(t('cancel'), () => done(null), 'secondary'));
    box.onkeydown = (e) => { if (e.key === 'Escape') { e.stopPropagation(); done(null); } };
    box.hidden = false;
    buttons[0]?.focus();
  });
}

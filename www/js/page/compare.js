// The page's second act: compare mode (views/compare.js) in its own panel. The models train
// with the Train panel's settings (learning rate, batch, optimizer, seed); `?compare=plain20,resnet20`
// opens it with those models. "Show in the views above" puts a model as it was at a snapshot in
// the place of the page's own model, which waits aside (and is not saved over) until "Back to
// your model".
import { $ } from '../dom.js';
import { ComparePanel } from '../views/compare.js';
import { state, update, status, exclusive, refreshControls, onControls, shown, t } from './context.js';

export async function setUpCompare(engine, inspector, trainer, arch) {
  const ids = state.compare ? state.compare.split(',') : undefined;
  const back = async () => {
    await engine.compareShowOwn();
    shown.compared = null;
    $('shown-note').hidden = true;
    refreshControls();
    await arch.changed();
    await inspector.rebuild();
  };
  const panel = new ComparePanel($('compare'), {
    initial: { members: ids, steps: undefined },
    api: {
      lessons: () => engine.compareLessons(),
      family: () => engine.family(),
      start: async (members) => {
        await trainer.apply();
        return engine.compareStart(members, state.seed);
      },
      run: (steps, onProgress, opts) => engine.compare(steps, onProgress, opts),
      state: () => engine.compareState(),
      fork: (step) => engine.compareFork(step),
      pause: () => engine.pause(),
      resume: () => engine.resume(),
      cancel: () => engine.cancel(),
      show: (i, step, label) => exclusive(async () => {
        await engine.compareShow(i, step);
        shown.compared = t('atStep', label, step);
        $('shown-what').textContent = shown.compared;
        $('shown-note').hidden = false;
        $('arch-name').textContent = t('compareModeName', label, step);
        refreshControls();
        await inspector.rebuild();
        status(t('viewsShowCompared', shown.compared));
        $('show-own').focus();
      }),
    },
    wrap: exclusive,
    t,
  });
  await panel.init();
  onControls((busy) => panel.block(busy));
  panel.onpick = (members) => update({ compare: members.join(',') });
  $('show-own').onclick = () => exclusive(async () => {
    try {
      await back();
      status(t('ownBack'));
    } catch (e) { status(t('couldNotBringBack', e.message), true); }
  });
  return {
    panel,
    // after an engine restart the comparison is gone (and the views show the restored model)
    forget: () => {
      shown.compared = null;
      $('shown-note').hidden = true;
      refreshControls();
      panel.forget(panel.state ? t('cmpLost') : '');
    },
  };
}

// The page: starts the engine worker and wires its parts (page/*.js) to one shared state
// (page/context.js), which the URL keeps (state.js).
//
//   Network     the architecture panel: presets and fields, built by the engine (page/arch.js)
//   Train       start / pause / stop / single step / from scratch / pretrained, settings,
//               loss and accuracy curves (page/training.js)
//   Input       a held-out digit or the user's image (page/input.js)
//   Look inside the selected layer's activations and δ (and for a conv: δ at its input,
//               kernels and ∂C/∂w), one engine call a view; the hovered cell goes to the
//               formula pane (page/inspector.js)
//   Your data   the student's image set, its gallery and file, training on it, tasks with
//               classes of their own (page/mydata.js, page/task.js)
//   Sessions    nothing lost: IndexedDB and files (page/sessions.js)
//   Compare     the residual lesson: models side by side, gradient flow, rewind (page/compare.js)
import { EngineClient, MNIST } from './engine-client.js';
import { $, hideParts, translateStatic } from './dom.js';
import { readUrlState, visible, useSettings, DEFAULTS, SETTING_KEYS } from './state.js';
import { LINK, state, notices, update, status, t } from './page/context.js';
import { engineModel, setUpArchitecture } from './page/arch.js';
import { setUpTraining } from './page/training.js';
import { setUpInspector } from './page/inspector.js';
import { setUpSession } from './page/sessions.js';
import { setUpCompare } from './page/compare.js';
import { setUpMyData } from './page/mydata.js';
import { setUpTasks } from './page/task.js';

async function main() {
  // the page's own words in the reader's language
  translateStatic(document, t);
  document.documentElement.lang = t.lang;
  document.title = t('pageTitle');
  // ?hide=compare,export: parts of the page a lesson does not want (data-part in index.html)
  const unknown = hideParts(document, new URLSearchParams(LINK).get('hide'));
  if (unknown.length) {
    const parts = [...new Set([...document.querySelectorAll('[data-part]')].map((e) => e.dataset.part))].join(', ');
    notices.push(t('hideUnknown', visible(unknown.join(',')), parts));
    console.warn(`resnet-playground: ignored hide=${unknown.join(',')}: the page's parts are ${parts}`);
  }
  let engine, engineNote = '';
  try {
    // ?engine=threads|simd|compat forces a build (default: the fastest this page can run)
    const wanted = new URLSearchParams(location.search).get('engine');
    const build = ['threads', 'simd', 'compat'].includes(wanted) ? wanted : 'auto';
    const start = (b) => EngineClient.start({ ...engineModel(state.arch), ...MNIST, build: b });
    const startBuild = async () => {
      try {
        return await start(build);
      } catch (e) {
        if (build !== 'auto' || !self.crossOriginIsolated) throw e;
        engineNote = t('threadsFailed', e.message);
        return start('simd'); // threads failed to start: one thread still works
      }
    };
    try {
      engine = await startBuild();
    } catch (e) {
      // a network the engine does not know (a mistyped link): say so, and start the default
      if (state.arch === DEFAULTS.arch || !e.message) throw e;
      notices.push(`arch "${visible(state.arch)}": ${e.message}`);
      update({ arch: DEFAULTS.arch });
      engine = await startBuild();
    }
  } catch (e) {
    $('build').textContent = t('engineFailedBadge');
    status(t('engineCouldNotStart', e.message), true);
    return;
  }
  // the training settings' ranges and defaults are the engine's: now the rest of the link is read
  const settings = await engine.settings();
  useSettings(settings);
  const rest = readUrlState(LINK, SETTING_KEYS, t);
  update(Object.fromEntries(SETTING_KEYS.map((k) => [k, rest.state[k]])));
  notices.push(...rest.notices);
  showBuild(engine.info);
  const inspector = await setUpInspector(engine);
  const trainer = setUpTraining(engine, inspector, settings);
  // the one test hook: the engine client, the state, and flags the tests wait for
  window.playground = { engine, inspect: inspector.refresh, state };
  const arch = await setUpArchitecture(engine, inspector, trainer);
  // (the task comes back with the images, before the session: each task has its own)
  const my = await setUpMyData(engine, inspector, trainer);
  const tasks = setUpTasks(engine, my, trainer, inspector, arch);
  arch.onClasses(tasks.follow);
  const { resumed, restoreSaved } = await setUpSession(engine, trainer, inspector, arch, my, tasks);
  await tasks.ensureHead(resumed);
  await my.resend(); // (the set's summary for the task the model now has)
  const compare = await setUpCompare(engine, inspector, trainer, arch);
  engine.onrestart = async () => {
    trainer.forget();
    compare.forget();
    const back = await restoreSaved().catch(() => null);
    await my.resend();
    await tasks.ensureHead(back !== null);
    status(back === null ? t('restartedPretrained') : t('restartedSession', back), true);
    await inspector.refresh();
  };
  window.playground.ready = true;
  if (engineNote) status(engineNote, true);
  else if (!notices.length && !resumed) {
    // (one short line: on a phone a longer one is the largest text of the first screen, and
    // Lighthouse then times the page's paint by the engine's arrival; the inspect panel says
    // how to hover)
    status(state.arch === DEFAULTS.arch ? t('readyPretrained') : t('readyRandom', $('arch-name').textContent));
  }
}

// the badge: which build runs, on how many threads
function showBuild({ build, threads, variant }) {
  $('build').textContent = build === 'threads' ? t('buildThreads', threads) : t(variant === 'compat' ? 'buildCompat' : 'buildSimd');
  $('build').classList.add(build);
  $('build').dataset.build = build;
  $('build').dataset.threads = threads;
}

main();

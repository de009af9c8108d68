// The page: starts the engine worker, wires the training controls, draws the loss curve.
import { EngineClient } from './engine-client.js';
import { HeatmapGrid } from './views/heatmaps.js';

const $ = (id) => document.getElementById(id);
const status = (msg, isError = false) => { $('status').textContent = msg; $('status').classList.toggle('error', isError); };

const losses = [];
let running = false, paused = false; // a training run is going / is paused
let onTrained = async () => {}; // refreshes the views after a training run

function drawCurve() {
  const c = $('loss-curve');
  const g = c.getContext('2d');
  const W = c.width, H = c.height, L = 44, B = 34, T = 10, R = 14;
  g.clearRect(0, 0, W, H);
  g.font = '11px system-ui, sans-serif';
  g.fillStyle = '#5b6673';
  g.strokeStyle = '#dfe3e8';
  const maxLoss = Math.max(2.5, ...losses.map((p) => p.loss));
  const minStep = losses.length ? losses[0].step : 0;
  const maxStep = Math.max(minStep + 10, ...losses.map((p) => p.step));
  const x = (s) => L + (W - L - R) * ((s - minStep) / (maxStep - minStep));
  const y = (v) => T + (H - T - B) * (1 - v / maxLoss);
  g.textAlign = 'right';
  for (let v = 0; v <= maxLoss + 1e-9; v += 0.5) {
    g.beginPath(); g.moveTo(L, y(v)); g.lineTo(W - R, y(v)); g.stroke();
    g.fillText(v.toFixed(1), L - 6, y(v) + 4);
  }
  g.textAlign = 'left';
  g.fillText(String(minStep), L, H - B + 14);
  g.textAlign = 'right';
  g.fillText(String(maxStep), W - R, H - B + 14);
  g.textAlign = 'center';
  g.fillText('training step', (L + W - R) / 2, H - 4);
  g.save();
  g.translate(10, (T + H - B) / 2);
  g.rotate(-Math.PI / 2);
  g.fillText('loss (batch)', 0, 0);
  g.restore();
  if (!losses.length) return;
  g.strokeStyle = '#2d6cdf';
  g.lineWidth = 1.5;
  g.beginPath();
  losses.forEach((p, i) => (i ? g.lineTo(x(p.step), y(p.loss)) : g.moveTo(x(p.step), y(p.loss))));
  g.stroke();
}

async function main() {
  drawCurve();
  let engine;
  try {
    // ?engine=threads|simd|compat forces a build (default: the fastest this page can run)
    const build = new URLSearchParams(location.search).get('engine') || 'auto';
    engine = await EngineClient.start({ modelUrl: 'models/resnet8-mnist.safetensors', dataUrl: 'data/mnist-10k.bin', build });
  } catch (e) {
    $('build').textContent = 'engine failed';
    status(`The engine could not start: ${e.message}`, true);
    return;
  }
  const { build, threads, variant } = engine.info;
  $('build').textContent = build === 'threads' ? `wasm threads ×${threads} + SIMD`
    : variant === 'compat' ? 'wasm SIMD (no relaxed SIMD), single thread' : 'wasm SIMD, single thread';
  $('build').classList.add(build);
  $('build').dataset.build = build;
  $('build').dataset.threads = threads;
  engine.onrestart = () => status('The engine stopped unexpectedly and was restarted.', true);
  status('Engine ready: pretrained ResNet-8 loaded.');
  $('start').disabled = false;

  const setRunning = (r) => {
    running = r;
    $('start').disabled = r;
    $('pause').disabled = !r;
    $('stop').disabled = !r;
    $('pause').textContent = 'Pause';
    paused = false;
  };
  const show = (p) => {
    $('stat-step').textContent = p.step;
    $('stat-loss').textContent = p.loss.toFixed(4);
    $('stat-acc').textContent = `${(100 * p.accuracy).toFixed(1)} %`;
    $('stat-ips').textContent = Math.round(p.imagesPerSec);
    losses.push({ step: p.step, loss: p.loss });
    drawCurve();
  };
  $('start').onclick = async () => {
    const steps = Number($('steps').value);
    if (!Number.isInteger(steps) || steps < 1) { status('Steps must be a whole number of at least 1.', true); return; }
    setRunning(true);
    status(`Training ${steps} steps…`);
    try {
      const last = await engine.train(steps, show);
      status(last.cancelled ? `Stopped at step ${last.step}.` : `Trained ${steps} steps; loss ${last.loss.toFixed(4)}.`);
    } catch (e) {
      status(`Training stopped: ${e.message}`, true);
    }
    setRunning(false);
    await onTrained();
  };
  $('pause').onclick = () => {
    paused = !paused;
    if (paused) engine.pause(); else engine.resume();
    $('pause').textContent = paused ? 'Resume' : 'Pause';
    status(paused ? 'Paused.' : 'Training…');
  };
  $('stop').onclick = () => engine.cancel();
  const inspect = await setUpInspector(engine);
  onTrained = inspect;
  window.playground = { engine, inspect };
}

// "Look inside": a held-out digit through the model in eval mode, δ from its true label, and
// every channel of the chosen layer's activation and δ.
async function setUpInspector(engine) {
  const HELD_OUT = 8000; // digits 8000.. of the data file are the held-out split
  const acts = new HeatmapGrid($('acts'), { kind: 'sequential', label: 'activations' });
  // The view is in the URL (?layer=…&digit=…), so a link reproduces it.
  const url = new URLSearchParams(location.search);
  const notices = [];
  const digit = url.get('digit');
  if (digit !== null) {
    if (/^\d{1,4}$/.test(digit) && Number(digit) <= 1999) $('sample').value = String(Number(digit));
    else notices.push(`digit "${digit}" is not a held-out digit number (0–1999)`);
  }
  const wantLayer = url.get('layer');
  const deltas = new HeatmapGrid($('deltas'), { kind: 'diverging', label: 'errors δ' });
  const run = async () => {
    if (running && !paused) {
      status('The views update when training stops or is paused.');
      return;
    }
    const sample = Number($('sample').value);
    if (!Number.isInteger(sample) || sample < 0 || sample > 1999) {
      status('The held-out digit number must be a whole number from 0 to 1999.', true);
      return;
    }
    const idx = Uint32Array.of(HELD_OUT + sample);
    const logits = await engine.call('forwardDigits', idx, 'eval');
    const [label] = await engine.call('labels', Uint32Array.of(HELD_OUT + sample));
    await engine.call('backward', Uint32Array.of(label));
    const probs = softmax(Array.from(logits));
    const pred = probs.indexOf(Math.max(...probs));
    $('prediction').textContent = `label ${label} · predicted ${pred} (p = ${probs[pred].toFixed(3)})`;
    drawDigit(await engine.call('tensor', 'act.input'));
    if (!$('layer').options.length) {
      const names = (await engine.call('tensorNames')).filter((t) => t.name.startsWith('delta.') && t.shape.length === 4);
      const modules = names.reverse().map(({ name }) => name.slice('delta.'.length));
      const initial = modules.includes(wantLayer) ? wantLayer : 'layer1.0.conv1';
      if (wantLayer !== null && initial !== wantLayer) notices.push(`layer "${wantLayer}" is not a layer of this model`);
      for (const m of modules) $('layer').add(new Option(m, m, false, m === initial));
      if (notices.length) status(`Ignored from the link: ${notices.join('; ')}. Showing the defaults instead.`, true);
    }
    const layer = $('layer').value;
    $('act-name').textContent = `act.${layer}`;
    $('delta-name').textContent = `delta.${layer} (true label ${label})`;
    const [a, as, d, ds] = await Promise.all([
      engine.call('tensor', `act.${layer}`), engine.call('tensorShape', `act.${layer}`),
      engine.call('tensor', `delta.${layer}`), engine.call('tensorShape', `delta.${layer}`),
    ]);
    acts.show(`act.${layer}`, a, Array.from(as));
    deltas.show(`delta.${layer}`, d, Array.from(ds));
    const q = new URLSearchParams(location.search);
    q.set('layer', layer);
    q.set('digit', String(sample));
    history.replaceState(null, '', `?${q}`);
  };
  $('layer').onchange = run;
  $('sample').onchange = run;
  await run();
  return run;
}

function softmax(z) {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function drawDigit(input) {
  const c = $('digit').getContext('2d');
  const img = c.createImageData(28, 28);
  let lo = Infinity, hi = -Infinity;
  for (const v of input) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  input.forEach((v, i) => {
    const g = Math.round(255 * (v - lo) / (hi - lo || 1));
    img.data.set([g, g, g, 255], 4 * i);
  });
  c.putImageData(img, 0, 0);
}

main();

// The page: starts the engine worker, wires the training controls, draws the loss curve.
import { EngineClient } from './engine-client.js';

const $ = (id) => document.getElementById(id);
const status = (msg, isError = false) => { $('status').textContent = msg; $('status').classList.toggle('error', isError); };

const losses = [];

function drawCurve() {
  const c = $('loss-curve');
  const g = c.getContext('2d');
  const W = c.width, H = c.height, L = 44, B = 26, T = 10, R = 10;
  g.clearRect(0, 0, W, H);
  g.font = '11px system-ui, sans-serif';
  g.fillStyle = '#5b6673';
  g.strokeStyle = '#dfe3e8';
  const maxLoss = Math.max(2.5, ...losses.map((p) => p.loss));
  const maxStep = Math.max(10, ...losses.map((p) => p.step));
  const x = (s) => L + (W - L - R) * (s / maxStep);
  const y = (v) => T + (H - T - B) * (1 - v / maxLoss);
  for (let v = 0; v <= maxLoss + 1e-9; v += 0.5) {
    g.beginPath(); g.moveTo(L, y(v)); g.lineTo(W - R, y(v)); g.stroke();
    g.fillText(v.toFixed(1), 8, y(v) + 4);
  }
  g.fillText('step', W - R - 24, H - 6);
  g.fillText(String(maxStep), x(maxStep) - 24, H - 6);
  g.fillText('0', L, H - 6);
  g.save(); g.translate(12, T + 40); g.rotate(-Math.PI / 2); g.restore();
  g.fillText('loss', L + 4, T + 10);
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

  let running = false, paused = false;
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
  };
  $('pause').onclick = () => {
    paused = !paused;
    if (paused) engine.pause(); else engine.resume();
    $('pause').textContent = paused ? 'Resume' : 'Pause';
    status(paused ? 'Paused.' : 'Training…');
  };
  $('stop').onclick = () => engine.cancel();
  window.playground = { engine };
}

main();

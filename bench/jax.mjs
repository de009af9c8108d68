// The native engine against JAX/XLA on the CPU (bench/jax_resnet8.py, NHWC), alternated over
// rounds in one invocation: training images/s of ResNet-8 per batch, and the paired ratios.
//
//   python3 -m venv /tmp/jaxenv && /tmp/jaxenv/bin/pip install "jax[cpu]"
//   cargo build --release && node bench/jax.mjs [--python /tmp/jaxenv/bin/python] [--rounds 3] [--batches 32,64]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { arg, median } from './args.mjs';

const python = arg('python', '/tmp/jaxenv/bin/python');
const rounds = Number(arg('rounds', 3));
const batches = arg('batches', '32,64');
const root = new URL('..', import.meta.url).pathname;

const run = (cmd, args) => JSON.parse(execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
const rows = [];
for (let r = 0; r < rounds; r++) {
  const jax = run(python, [`${root}bench/jax_resnet8.py`, '--batches', batches, '--steps', '30', '--rounds', '3', '--layout', 'NHWC']);
  const ours = run(`${root}target/release/resnet-playground`, ['bench', '--json', '--steps', '30', '--batches', batches]);
  for (const j of jax.results) {
    const o = ours.results.find((x) => x.batch === j.batch);
    rows.push({ round: r, batch: j.batch, jax: j.train_images_per_s, engine: o.train_images_per_s, ratio: o.train_images_per_s / j.train_images_per_s });
    console.error(`round ${r} b${j.batch}: JAX ${j.train_images_per_s.toFixed(0)}, engine ${o.train_images_per_s.toFixed(0)} images/s (${(o.train_images_per_s / j.train_images_per_s).toFixed(2)}×)`);
  }
}
const summary = Object.fromEntries(batches.split(',').map(Number).map((b) => {
  const rs = rows.filter((x) => x.batch === b);
  return [`b${b}`, { jax: median(rs.map((x) => x.jax)), engine: median(rs.map((x) => x.engine)), ratio: median(rs.map((x) => x.ratio)), ratio_min: Math.min(...rs.map((x) => x.ratio)) }];
}));
console.log(JSON.stringify({ date: new Date().toISOString(), loadavg: readFileSync('/proc/loadavg', 'utf8').trim(), summary, rows }, null, 2));

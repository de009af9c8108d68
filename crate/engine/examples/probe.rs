//! Times the parts of a training step (forward, backward, optimizer) on real digits:
//! `cargo run --release --example probe -- [batch] [steps]`.
use resnet_engine::{data::Dataset, model::Mode, optim::{Optimizer, OptimizerConfig}, Config, ResNet};
use std::time::Instant;
fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (batch, steps) = (args.first().copied().unwrap_or(32), args.get(1).copied().unwrap_or(50));
    let data = Dataset::mnist();
    let mut model = ResNet::<f32>::new(&Config::default(), 1).unwrap();
    let mut opt = Optimizer::new(OptimizerConfig::sgd(0.05, 0.9, 5e-4)).unwrap();
    let (mut tf, mut tb, mut to, mut td) = (0.0, 0.0, 0.0, 0.0);
    for s in 0..steps {
        let t = Instant::now();
        let idx: Vec<usize> = (s * batch..(s + 1) * batch).map(|i| i % data.n_train).collect();
        let (x, y) = data.batch(&idx);
        let t1 = Instant::now();
        model.forward(&x, Mode::Train).unwrap();
        let t2 = Instant::now();
        model.backward(&y).unwrap();
        let t3 = Instant::now();
        opt.step(&mut model).unwrap();
        let t4 = Instant::now();
        if s >= 5 {
            td += (t1 - t).as_secs_f64();
            tf += (t2 - t1).as_secs_f64();
            tb += (t3 - t2).as_secs_f64();
            to += (t4 - t3).as_secs_f64();
        }
    }
    let n = (steps - 5) as f64;
    let total = td + tf + tb + to;
    println!("batch {batch}: data {:.2} ms, forward {:.2} ms, backward {:.2} ms, optimizer {:.2} ms; {:.0} img/s",
        1e3 * td / n, 1e3 * tf / n, 1e3 * tb / n, 1e3 * to / n, batch as f64 * n / total);
}

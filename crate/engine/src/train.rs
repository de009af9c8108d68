//! The training loop shared by the CLI and the browser: seeded epochs over the training
//! split, one optimizer step per batch, checkpoints to fall back on when a run diverges, and
//! evaluation on the held-out digits. The settings a person chooses (batch, learning rate,
//! steps, seed, optimizer) have their limits and the page's defaults here, once ([`SETTINGS`]).

use crate::data::{Dataset, Split};
use crate::model::Mode;
use crate::optim::{Optimizer, OptimizerConfig};
use crate::{bail, Error, Result, ResNet, Tensor};
use serde::Serialize;
use std::collections::VecDeque;

/// Limits and defaults of the training settings: the CLI, the wasm API, the worker and the
/// page's inputs (`Engine.settings()`) all read these.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Settings {
    /// Batch sizes a training step takes, inclusive.
    pub batch: (usize, usize),
    /// Learning rates: above the first, at most the second.
    pub lr: (f64, f64),
    /// Steps of one run, inclusive.
    pub steps: (u64, u64),
    /// Seeds, inclusive (a u32: the wasm API's seed type).
    pub seed: (u64, u64),
    /// Training steps between the checkpoints a diverging run falls back on.
    pub checkpoint_every: u64,
    /// How many checkpoints are kept (the oldest is restored).
    pub checkpoints: usize,
    /// The page's starting values.
    pub defaults: Defaults,
    /// The CLI's `train`: epochs, and the peak learning rates of its cosine schedule.
    pub cli: CliDefaults,
    /// The optimizers' fixed hyper-parameters (the learning rate is the setting's).
    pub sgd: OptimizerConfig,
    pub adam: OptimizerConfig,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct CliDefaults {
    pub epochs: u64,
    pub lr_sgd: f64,
    pub lr_adam: f64,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Defaults {
    pub lr: f64,
    pub batch: usize,
    pub opt: &'static str,
    pub seed: u64,
    pub steps: u64,
}

pub const SETTINGS: Settings = Settings {
    batch: (1, 256),
    lr: (0.0, 100.0),
    steps: (1, 100_000),
    seed: (0, u32::MAX as u64),
    checkpoint_every: 10,
    checkpoints: 3,
    defaults: Defaults { lr: 0.05, batch: 32, opt: "sgd", seed: 1, steps: 200 },
    cli: CliDefaults { epochs: 10, lr_sgd: 0.1, lr_adam: 2e-3 },
    sgd: OptimizerConfig { kind: crate::optim::OptimizerKind::Sgd { momentum: 0.9 }, lr: 0.05, weight_decay: 5e-4 },
    adam: OptimizerConfig { kind: crate::optim::OptimizerKind::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, lr: 2e-3, weight_decay: 0.0 },
};

/// Why a training step did not happen.
#[derive(Clone, Debug, PartialEq)]
pub enum StepError {
    /// The loss, a gradient or a BN running statistic was not finite (the learning rate is too
    /// high for these weights): the run's oldest kept checkpoint is back, with fresh optimizer
    /// moments. `at`: the step that failed; `restored`: the step the weights are from.
    Diverged { message: String, at: u64, restored: u64 },
    /// Anything else (bad data, a bad setting): nothing changed.
    Failed(Error),
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::Diverged { message, at, restored } => {
                write!(f, "{message}. Training stopped at step {at}; the weights of step {restored} are restored. Lower the learning rate and train on.")
            }
            StepError::Failed(e) => write!(f, "{e}"),
        }
    }
}

/// A step refused before anything changed, and why.
enum Refused {
    NonFinite(Error),
    Other(Error),
}

impl From<Error> for Refused {
    fn from(e: Error) -> Self {
        Refused::Other(e)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    pub step: u64,
    pub epoch: u64,
    pub loss: f64,
    /// Fraction of the batch classified correctly (before the update).
    pub accuracy: f64,
}

pub struct Trainer {
    pub model: ResNet<f32>,
    pub opt: Optimizer,
    pub batch: usize,
    pub seed: u64,
    pub epoch: u64,
    order: Vec<usize>,
    pos: usize,
    /// (weights, step) to fall back on, oldest first (see [`Trainer::run_step`]).
    checkpoints: VecDeque<(ResNet<f32>, u64)>,
    /// Steps since the run began.
    run_steps: u64,
    /// The run's loss: its mean over the first steps, then a moving average.
    watch: LossWatch,
    /// The kept weights with the lowest moving-average loss (step, loss): what a run whose loss
    /// has exploded while staying finite goes back to.
    best: Option<(ResNet<f32>, u64, f64)>,
}

/// Steps of a run before its moving-average loss is judged.
const WATCH_START: u64 = 10;

#[derive(Clone, Copy, Debug, Default)]
struct LossWatch {
    n: u64,
    start: f64,
    ema: f64,
}

impl LossWatch {
    /// The run's starting point is its first step's loss (computed before any update of the
    /// run: a learning rate of 100 ruins the weights in one step); then a moving average.
    fn add(&mut self, loss: f64) {
        self.n += 1;
        if self.n == 1 {
            (self.start, self.ema) = (loss, loss);
        } else {
            self.ema = 0.9 * self.ema + 0.1 * loss;
        }
    }

    /// A run gone wrong with every number finite: after the first steps, the moving average
    /// has grown by more than max(1, the starting loss) — for an untrained model (loss ≈ ln 10)
    /// that is doubling, for a trained one (≈ 0.05) rising above ≈ 1.
    fn exploded(&self) -> bool {
        self.n > WATCH_START && self.ema > self.start + self.start.max(1.0)
    }
}

impl Trainer {
    pub fn new(model: ResNet<f32>, opt: OptimizerConfig, batch: usize, seed: u64) -> Result<Self> {
        if !(1..=1024).contains(&batch) {
            bail!("batch size must be between 1 and 1024, got {batch}");
        }
        Ok(Trainer { model, opt: Optimizer::new(opt)?, batch, seed, epoch: 0, order: vec![], pos: 0, checkpoints: VecDeque::new(), run_steps: 0, watch: LossWatch::default(), best: None })
    }

    /// New data to train on: the epoch order starts afresh with the next step (the old one may
    /// index past the new data's end). The model, its tape and the optimizer are untouched.
    pub fn new_data(&mut self) {
        self.order.clear();
        self.pos = 0;
        self.epoch = 0;
    }

    /// Batches per epoch (the last partial batch is dropped).
    pub fn steps_per_epoch(&self, data: &Dataset) -> usize {
        data.n_train / self.batch
    }

    /// One step on the next batch of the training split. A non-finite loss, gradient or BN
    /// running statistic is reported as an error before anything changes: the weights are not
    /// updated and the running statistics the forward pass had already moved are put back.
    pub fn step(&mut self, data: &Dataset) -> Result<StepStats> {
        crate::layers::in_pool(|| self.step_here(data)).map_err(|r| match r {
            Refused::NonFinite(e) | Refused::Other(e) => e,
        })
    }

    /// Starts a run: the weights as they are now become its first checkpoint.
    pub fn begin_run(&mut self) {
        self.checkpoints = VecDeque::from([(self.model.clone_weights(), self.opt.step)]);
        self.run_steps = 0;
        self.watch = LossWatch::default();
        self.best = Some((self.model.clone_weights(), self.opt.step, f64::INFINITY));
    }

    /// Puts kept weights back, with fresh optimizer moments, and starts the run afresh.
    fn go_back(&mut self, weights: ResNet<f32>, step: u64) {
        self.model = weights;
        self.opt.m.clear();
        self.opt.v.clear();
        self.opt.step = step;
        self.begin_run();
    }

    /// One step of a run (see [`begin_run`](Trainer::begin_run); a run begins by itself if none
    /// has). Every `checkpoint_every` steps the weights are kept, the last `checkpoints` of
    /// them. A step whose loss, gradients or running statistics are not finite is refused, and
    /// the oldest kept weights come back (10–30 steps back, or the start of the run) with
    /// fresh optimizer moments: weights that got that far are already too large to train on.
    /// A run whose loss explodes while staying finite (see `LossWatch::exploded`; e.g. Adam at
    /// lr 100: loss 67, every digit one class) is stopped the same way, and the kept weights
    /// with the lowest loss (the run's start, or a checkpoint) come back.
    pub fn run_step(&mut self, data: &Dataset) -> std::result::Result<StepStats, StepError> {
        self.run_step_with(|t| t.step_here(data))
    }

    /// One step of a run (as [`run_step`](Trainer::run_step)) on a batch the caller gives: the
    /// page's steps on a mix of MNIST and the student's images.
    pub fn run_step_batch(&mut self, x: &Tensor<f32>, labels: &[usize]) -> std::result::Result<StepStats, StepError> {
        self.run_step_with(|t| t.step_on(x, labels))
    }

    fn run_step_with(&mut self, step: impl FnOnce(&mut Self) -> std::result::Result<StepStats, Refused> + Send) -> std::result::Result<StepStats, StepError> {
        if self.checkpoints.is_empty() {
            self.begin_run();
        }
        match crate::layers::in_pool(|| step(self)) {
            Ok(s) => {
                self.run_steps += 1;
                self.watch.add(s.loss);
                if self.watch.n == 1 {
                    // the run's start is as good as its first step says
                    if let Some(b) = self.best.as_mut().filter(|b| b.2.is_infinite()) {
                        b.2 = self.watch.start;
                    }
                }
                if self.run_steps % SETTINGS.checkpoint_every == 0 {
                    self.checkpoints.push_back((self.model.clone_weights(), self.opt.step));
                    if self.checkpoints.len() > SETTINGS.checkpoints {
                        self.checkpoints.pop_front();
                    }
                    if self.best.as_ref().is_none_or(|b| self.watch.ema < b.2) {
                        self.best = Some((self.model.clone_weights(), self.opt.step, self.watch.ema));
                    }
                }
                if self.watch.exploded() {
                    let (at, w) = (self.opt.step, self.watch);
                    let (weights, restored, _) = self.best.take().expect("a run has its start");
                    self.go_back(weights, restored);
                    let message = format!("the loss has grown from {:.3} to {:.3} since the run began, with every number finite (learning rate too high?)", w.start, w.ema);
                    return Err(StepError::Diverged { message, at, restored });
                }
                Ok(s)
            }
            Err(Refused::Other(e)) => Err(StepError::Failed(e)),
            Err(Refused::NonFinite(e)) => {
                let at = self.opt.step;
                let (weights, restored) = self.checkpoints.front().cloned().expect("a run has a checkpoint");
                self.go_back(weights, restored);
                Err(StepError::Diverged { message: e.0, at, restored })
            }
        }
    }

    fn step_here(&mut self, data: &Dataset) -> std::result::Result<StepStats, Refused> {
        if self.order.is_empty() || self.pos + self.batch > self.order.len() {
            if !self.order.is_empty() {
                self.epoch += 1;
            }
            self.order = data.epoch_order(self.seed, self.epoch);
            self.pos = 0;
            if self.order.len() < self.batch {
                return Err(Refused::Other(Error(format!("the training split has {} digits, fewer than one batch of {}", self.order.len(), self.batch))));
            }
        }
        let idx = &self.order[self.pos..self.pos + self.batch];
        self.pos += self.batch;
        let (x, labels) = data.batch(idx);
        self.step_on(&x, &labels)
    }

    /// One step on a batch the caller gives (`x [N, C, S, S]`, one label each), refused as
    /// [`step`](Trainer::step) refuses: the page's step on the digits it has and a benchmark's
    /// on its own batch are the same step.
    pub fn step_batch(&mut self, x: &Tensor<f32>, labels: &[usize]) -> Result<StepStats> {
        crate::layers::in_pool(|| self.step_on(x, labels)).map_err(|r| match r {
            Refused::NonFinite(e) | Refused::Other(e) => e,
        })
    }

    fn step_on(&mut self, x: &Tensor<f32>, labels: &[usize]) -> std::result::Result<StepStats, Refused> {
        let stats: Vec<_> = self.model.batchnorms_mut().iter().map(|b| (b.running_mean.clone(), b.running_var.clone(), b.num_batches_tracked)).collect();
        // forward, backward, check: a refusal puts back the running statistics the forward
        // pass had moved, so nothing has changed
        let pass = (|| -> std::result::Result<(f64, f64), Refused> {
            let logits = self.model.forward(x, Mode::Train)?;
            let accuracy = accuracy(&logits.data, labels);
            let loss = self.model.backward(labels)?;
            check_finite(&self.model, loss).map_err(Refused::NonFinite)?;
            Ok((loss, accuracy))
        })();
        let (loss, accuracy) = match pass {
            Ok(v) => v,
            Err(e) => {
                for (b, (mean, var, n)) in self.model.batchnorms_mut().into_iter().zip(stats) {
                    (b.running_mean, b.running_var, b.num_batches_tracked) = (mean, var, n);
                }
                return Err(e);
            }
        };
        self.opt.step(&mut self.model)?;
        Ok(StepStats { step: self.opt.step, epoch: self.epoch, loss, accuracy })
    }
}

/// Refuses to step on a non-finite loss, gradient or BN running statistic (a batch variance
/// can overflow to ∞ while the loss is still finite, which breaks eval mode later).
pub fn check_finite(model: &ResNet<f32>, loss: f64) -> Result<()> {
    if !loss.is_finite() {
        bail!("the loss is not finite ({loss}); the weights were not updated (learning rate too high?)");
    }
    for (name, t) in model.tape.iter().filter(|(n, _)| n.starts_with("grad.") || n.starts_with("running.")) {
        if t.data.iter().any(|v| !v.is_finite()) {
            bail!("{name} is not finite; the weights were not updated (learning rate too high?)");
        }
    }
    Ok(())
}

/// Fraction of rows of `logits [N, K]` whose arg-max is the label.
pub fn accuracy(logits: &[f32], labels: &[usize]) -> f64 {
    let k = logits.len() / labels.len().max(1);
    let correct = logits.chunks(k).zip(labels).filter(|(row, &l)| argmax(row) == l).count();
    correct as f64 / labels.len().max(1) as f64
}

pub fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold(0, |best, (i, &v)| if v > row[best] { i } else { best })
}

/// Mean loss and accuracy of the model in eval mode over a split.
pub fn evaluate(model: &mut ResNet<f32>, data: &Dataset, split: Split, batch: usize) -> Result<(f64, f64)> {
    let idx: Vec<usize> = data.indices(split).collect();
    evaluate_indices(model, data, &idx, batch)
}

/// Mean loss and accuracy of the model in eval mode over the digits `idx`.
pub fn evaluate_indices(model: &mut ResNet<f32>, data: &Dataset, idx: &[usize], batch: usize) -> Result<(f64, f64)> {
    if idx.is_empty() {
        bail!("nothing to evaluate");
    }
    let (mut loss, mut correct) = (0.0, 0.0);
    for chunk in idx.chunks(batch.max(1)) {
        let (x, labels) = data.batch(chunk);
        let logits = model.forward(&x, Mode::Eval)?;
        correct += accuracy(&logits.data, &labels) * chunk.len() as f64;
        let out = &model.graph.modules.last().expect("a graph ends in its loss").name;
        let probs = &model.tape.get(&format!("act.{out}"))?.data;
        let k = probs.len() / chunk.len();
        loss -= labels.iter().enumerate().map(|(n, &l)| (probs[n * k + l].max(1e-30) as f64).ln()).sum::<f64>();
    }
    Ok((loss / idx.len() as f64, correct / idx.len() as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    /// A short seeded run on real digits: the loss falls, and the same seed gives the same run.
    #[test]
    fn seeded_training_lowers_the_loss_and_is_deterministic() {
        let data = Dataset::mnist();
        let run = || {
            let model = ResNet::new(&Config::default(), 1).unwrap();
            let mut t = Trainer::new(model, OptimizerConfig::sgd(0.05, 0.9, 5e-4), 32, 1).unwrap();
            (0..80).map(|_| t.step(&data).unwrap().loss).collect::<Vec<f64>>()
        };
        let losses = run();
        let first: f64 = losses[..5].iter().sum::<f64>() / 5.0;
        let last: f64 = losses[70..].iter().sum::<f64>() / 10.0;
        assert!(first > 1.5, "an untrained model is near chance (ln 10 ≈ 2.3): {first}");
        assert!(last < 0.5 * first, "loss fell from {first:.3} to {last:.3}");
        assert_eq!(losses, run(), "seeded runs are identical");
    }

    /// A run at an absurd learning rate: the step that overflows is refused, the weights of the
    /// run's oldest checkpoint come back (bit for bit) with fresh moments, and the error says so
    /// in its type, not only in words.
    #[test]
    fn a_diverging_run_falls_back_to_its_oldest_checkpoint() {
        let data = Dataset::mnist();
        let model = ResNet::new(&Config::default(), 4).unwrap();
        let mut t = Trainer::new(model, OptimizerConfig::sgd(0.05, 0.9, 0.0), 32, 4).unwrap();
        for _ in 0..5 {
            t.run_step(&data).unwrap();
        }
        t.begin_run();
        let start = t.model.params();
        t.opt.config.lr = 1e6;
        let mut steps = 0;
        let err = loop {
            match t.run_step(&data) {
                Ok(_) => steps += 1,
                Err(e) => break e,
            }
            assert!(steps < 200, "lr 1e6 must diverge");
        };
        let StepError::Diverged { at, restored, .. } = err.clone() else { panic!("{err:?}") };
        assert!(at > restored && restored >= 5, "at {at}, restored {restored}");
        assert_eq!(t.opt.step, restored);
        assert!(t.opt.m.is_empty());
        if steps < SETTINGS.checkpoint_every as usize {
            assert_eq!(t.model.params(), start, "before the first checkpoint: the run's start");
        }
        assert!(err.to_string().contains(&format!("the weights of step {restored} are restored")), "{err}");
        // a failure of another kind changes nothing and says what it is
        let mut bad = Dataset::mnist();
        bad.labels.iter_mut().for_each(|l| *l = 12);
        let before = (t.model.params(), t.opt.step);
        let e = t.run_step(&bad);
        assert!(matches!(&e, Err(StepError::Failed(f)) if f.0.contains("label 12 is out of range")), "{e:?}");
        assert_eq!((t.model.params(), t.opt.step), before);
    }

    /// Adam at learning rate 100 keeps every number finite and ruins the model (the issue's
    /// case: loss 67, one class for every digit): the run is stopped, and the kept weights
    /// with the lowest loss — here the trained start — come back.
    #[test]
    fn a_finite_divergence_is_stopped_and_the_best_weights_come_back() {
        let data = Dataset::mnist();
        let model = ResNet::new(&Config::default(), 5).unwrap();
        let mut t = Trainer::new(model, OptimizerConfig::sgd(0.05, 0.9, 0.0), 32, 5).unwrap();
        for _ in 0..150 {
            t.step(&data).unwrap();
        }
        let (good, good_step) = (t.model.params(), t.opt.step);
        let (loss_before, _) = evaluate_indices(&mut t.model, &data, &(8000..8500).collect::<Vec<_>>(), 100).unwrap();
        t.opt = crate::optim::Optimizer::new(OptimizerConfig::adam(100.0, 0.0)).unwrap();
        t.opt.step = good_step;
        t.begin_run();
        let mut n = 0;
        let err = loop {
            match t.run_step(&data) {
                Ok(_) => n += 1,
                Err(e) => break e,
            }
            assert!(n < 300, "Adam at lr 100 was not stopped in 300 steps");
        };
        let StepError::Diverged { message, restored, .. } = &err else { panic!("{err:?}") };
        assert!(message.contains("the loss has grown") || message.contains("not finite"), "{message}");
        assert_eq!(*restored, good_step, "{message}");
        assert_eq!(t.model.params(), good, "the run's start is back");
        let (loss_after, _) = evaluate_indices(&mut t.model, &data, &(8000..8500).collect::<Vec<_>>(), 100).unwrap();
        assert_eq!(loss_after, loss_before);
    }

    /// An ordinary run's noise is not taken for divergence.
    #[test]
    fn an_ordinary_run_is_not_stopped() {
        let data = Dataset::mnist();
        let model = ResNet::new(&Config::default(), 6).unwrap();
        let mut t = Trainer::new(model, OptimizerConfig::sgd(0.05, 0.9, 5e-4), 32, 6).unwrap();
        for _ in 0..200 {
            t.run_step(&data).unwrap();
        }
    }

    #[test]
    fn adam_also_trains() {
        let data = Dataset::mnist();
        let model = ResNet::new(&Config::default(), 2).unwrap();
        let mut t = Trainer::new(model, OptimizerConfig::adam(2e-3, 0.0), 32, 2).unwrap();
        let losses: Vec<f64> = (0..60).map(|_| t.step(&data).unwrap().loss).collect();
        let (first, last) = (losses[..5].iter().sum::<f64>() / 5.0, losses[50..].iter().sum::<f64>() / 10.0);
        assert!(last < 0.6 * first, "loss fell from {first:.3} to {last:.3}");
    }

    #[test]
    fn a_non_finite_loss_is_refused_before_the_weights_change() {
        let data = Dataset::mnist();
        let mut model = ResNet::new(&Config::default(), 3).unwrap();
        // Weights this large overflow f32 in the first conv (±∞), and BN turns ∞ − ∞ into NaN.
        model.convs_mut()[0].weight.iter_mut().for_each(|w| *w *= f32::MAX);
        let before = model.params();
        let mut t = Trainer::new(model, OptimizerConfig::sgd(0.05, 0.9, 0.0), 32, 3).unwrap();
        let err = t.step(&data).unwrap_err();
        assert!(err.0.contains("not finite") && err.0.contains("learning rate too high"), "{err}");
        let after = t.model.params();
        let same = before.iter().zip(&after).all(|(a, b)| a.2.iter().zip(&b.2).all(|(x, y)| x.to_bits() == y.to_bits()));
        assert!(same, "weights and BN running statistics untouched");
        assert_eq!(t.opt.step, 0);
    }

    #[test]
    fn an_overflowing_running_variance_is_refused_and_put_back() {
        let data = Dataset::mnist();
        let mut model = ResNet::new(&Config::default(), 3).unwrap();
        // large enough that layer1.0.conv1's outputs square to ∞ in the batch variance, small
        // enough that the normalised activations, the loss and the gradients stay finite
        model.convs_mut()[1].weight.iter_mut().for_each(|w| *w *= 1e19);
        let before = model.params();
        let mut t = Trainer::new(model, OptimizerConfig::sgd(0.05, 0.9, 0.0), 32, 3).unwrap();
        let err = t.step(&data).unwrap_err();
        assert!(err.0.contains("running") && err.0.contains("not finite"), "{err}");
        let after = t.model.params();
        let changed: Vec<_> = before.iter().zip(&after).filter(|(a, b)| a.2.iter().zip(&b.2).any(|(x, y)| x.to_bits() != y.to_bits())).map(|(a, _)| &a.0).collect();
        assert!(changed.is_empty(), "changed: {changed:?}");
    }
}

/// Cosine decay from `base` at step 0 to 0 at `total` steps (the CLI's default schedule).
pub fn cosine_lr(base: f64, step: u64, total: u64) -> f64 {
    let t = (step as f64 / total.max(1) as f64).min(1.0);
    0.5 * base * (1.0 + (std::f64::consts::PI * t).cos())
}

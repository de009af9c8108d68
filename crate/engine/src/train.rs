//! The training loop shared by the CLI and the browser: seeded epochs over the training
//! split, one optimizer step per batch, and evaluation on the held-out digits.

use crate::data::{Dataset, Split};
use crate::model::Mode;
use crate::optim::{Optimizer, OptimizerConfig};
use crate::{bail, Result, ResNet};

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
}

impl Trainer {
    pub fn new(model: ResNet<f32>, opt: OptimizerConfig, batch: usize, seed: u64) -> Result<Self> {
        if !(1..=1024).contains(&batch) {
            bail!("batch size must be between 1 and 1024, got {batch}");
        }
        Ok(Trainer { model, opt: Optimizer::new(opt)?, batch, seed, epoch: 0, order: vec![], pos: 0 })
    }

    /// Batches per epoch (the last partial batch is dropped).
    pub fn steps_per_epoch(&self, data: &Dataset) -> usize {
        data.n_train / self.batch
    }

    /// One step on the next batch of the training split. A non-finite loss, gradient or BN
    /// running statistic is reported as an error before anything changes: the weights are not
    /// updated and the running statistics the forward pass had already moved are put back.
    pub fn step(&mut self, data: &Dataset) -> Result<StepStats> {
        crate::layers::in_pool(|| self.step_here(data))
    }

    fn step_here(&mut self, data: &Dataset) -> Result<StepStats> {
        if self.order.is_empty() || self.pos + self.batch > self.order.len() {
            if !self.order.is_empty() {
                self.epoch += 1;
            }
            self.order = data.epoch_order(self.seed, self.epoch);
            self.pos = 0;
            if self.order.len() < self.batch {
                bail!("the training split has {} digits, fewer than one batch of {}", self.order.len(), self.batch);
            }
        }
        let idx = &self.order[self.pos..self.pos + self.batch];
        self.pos += self.batch;
        let (x, labels) = data.batch(idx);
        let stats: Vec<_> = self.model.batchnorms_mut().iter().map(|b| (b.running_mean.clone(), b.running_var.clone(), b.num_batches_tracked)).collect();
        let logits = self.model.forward(&x, Mode::Train)?;
        let accuracy = accuracy(&logits.data, &labels);
        let loss = self.model.backward(&labels)?;
        if let Err(e) = check_finite(&self.model, loss) {
            for (b, (mean, var, n)) in self.model.batchnorms_mut().into_iter().zip(stats) {
                (b.running_mean, b.running_var, b.num_batches_tracked) = (mean, var, n);
            }
            return Err(e);
        }
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
        let probs = &model.tape.get("act.softmax")?.data;
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

//! Optimizers, with PyTorch's update rules. Gradients are read from the tape (`grad.<param>`)
//! and left as they are; weight decay is added to a copy.
//!
//!   SGD:  g ← ∂C/∂p + λ·p;  v ← μ·v + g;  p ← p − lr·v          (v = 0 at the first step)
//!   Adam: g ← ∂C/∂p + λ·p;  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;
//!         p ← p − lr · (m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)

use crate::{bail, Result, ResNet, Scalar};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd { momentum: f64 },
    Adam { beta1: f64, beta2: f64, eps: f64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    #[serde(flatten)]
    pub kind: OptimizerKind,
    pub lr: f64,
    pub weight_decay: f64,
}

impl OptimizerConfig {
    pub fn sgd(lr: f64, momentum: f64, weight_decay: f64) -> Self {
        OptimizerConfig { kind: OptimizerKind::Sgd { momentum }, lr, weight_decay }
    }
    pub fn adam(lr: f64, weight_decay: f64) -> Self {
        OptimizerConfig { kind: OptimizerKind::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, lr, weight_decay }
    }
    pub fn validate(&self) -> Result<()> {
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= 100.0) {
            bail!("learning rate must be a number in (0, 100], got {}", self.lr);
        }
        if !(self.weight_decay.is_finite() && (0.0..1.0).contains(&self.weight_decay)) {
            bail!("weight decay must be in [0, 1), got {}", self.weight_decay);
        }
        match self.kind {
            OptimizerKind::Sgd { momentum } if !(0.0..1.0).contains(&momentum) => bail!("momentum must be in [0, 1), got {momentum}"),
            OptimizerKind::Adam { beta1, beta2, eps } if !((0.0..1.0).contains(&beta1) && (0.0..1.0).contains(&beta2) && eps > 0.0) => {
                bail!("Adam needs 0 ≤ β₁, β₂ < 1 and ε > 0")
            }
            _ => Ok(()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Optimizer {
    pub config: OptimizerConfig,
    pub step: u64,
    /// SGD: momentum buffer; Adam: first moment. By parameter name.
    pub m: HashMap<String, Vec<f64>>,
    /// Adam: second moment.
    pub v: HashMap<String, Vec<f64>>,
}

impl Optimizer {
    pub fn new(config: OptimizerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Optimizer { config, step: 0, m: HashMap::new(), v: HashMap::new() })
    }

    /// One update of every trainable parameter from the `grad.*` tensors on the model's tape
    /// (read in place; a missing one is refused before anything changes).
    pub fn step<T: Scalar>(&mut self, model: &mut ResNet<T>) -> Result<()> {
        let (params, tape) = model.params_mut_and_tape();
        let mut params: Vec<_> = params.into_iter().filter(|p| p.trainable).collect();
        let grads: Vec<&[T]> = params.iter().map(|p| tape.get(&format!("grad.{}", p.name)).map(|g| &g.data[..])).collect::<Result<_>>()?;
        self.step += 1;
        let t = self.step as i32;
        let OptimizerConfig { kind, lr, weight_decay: wd } = self.config;
        for (p, g) in params.iter_mut().zip(grads) {
            let m = self.m.entry(p.name.clone()).or_insert_with(|| vec![0.0; g.len()]);
            match kind {
                OptimizerKind::Sgd { momentum } => {
                    for ((w, &gi), mi) in p.data.iter_mut().zip(g).zip(m.iter_mut()) {
                        let gi = gi.f64() + wd * w.f64();
                        *mi = if t == 1 { gi } else { momentum * *mi + gi };
                        *w = T::of(w.f64() - lr * *mi);
                    }
                }
                OptimizerKind::Adam { beta1, beta2, eps } => {
                    let v = self.v.entry(p.name.clone()).or_insert_with(|| vec![0.0; g.len()]);
                    let (c1, c2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
                    for (((w, &gi), mi), vi) in p.data.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                        let gi = gi.f64() + wd * w.f64();
                        *mi = beta1 * *mi + (1.0 - beta1) * gi;
                        *vi = beta2 * *vi + (1.0 - beta2) * gi * gi;
                        *w = T::of(w.f64() - lr * (*mi / c1) / ((*vi / c2).sqrt() + eps));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Mode;
    use crate::{Config, Tensor};

    /// A gradient missing from the tape is refused before anything changes (the weights, the
    /// step count and the tape stay as they were); with every gradient, the weights move.
    #[test]
    fn a_missing_gradient_changes_nothing() {
        let mut model = ResNet::<f32>::new(&Config::default(), 7).unwrap();
        let x = Tensor::new(&[2, 1, 28, 28], (0..2 * 784).map(|i| (i as f32 * 0.37).sin()).collect()).unwrap();
        model.forward(&x, Mode::Train).unwrap();
        model.backward(&[3, 1]).unwrap();
        let mut opt = Optimizer::new(OptimizerConfig::sgd(0.1, 0.9, 0.0)).unwrap();
        model.tape.remove_prefix("grad.fc.");
        let (weights, tensors) = (model.params(), model.tape.list());
        let err = opt.step(&mut model).unwrap_err();
        assert!(err.to_string().contains("grad.fc."), "{err}");
        assert!(model.params() == weights && model.tape.list() == tensors && opt.step == 0, "the refused update changed something");
        model.backward(&[3, 1]).unwrap();
        opt.step(&mut model).unwrap();
        assert!(model.params() != weights && opt.step == 1);
    }
}

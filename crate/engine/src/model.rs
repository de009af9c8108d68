//! The ResNet: a [`Config`] becomes a [`Graph`] of modules with PyTorch names (see `graph.rs`
//! for the family and its names); the model holds one [`Layer`] per module. `forward` walks
//! the graph in order and `backward` walks it in reverse, writing every tensor they compute
//! onto the named tape: `act.<module>`, `delta.<module>` (∂C/∂ its output, summed over every
//! module that reads it: the residual fork is no special case), `grad.<param>`.
//!
//! Default: ResNet-8 for MNIST (He et al. 2016 §4.2, n = 1), input `[N, 1, 28, 28]`:
//!
//!   conv1 3×3 1→16 → bn1 → relu
//!   layer1.0  BasicBlock 16→16, stride 1, identity shortcut                     [N,16,28,28]
//!   layer2.0  BasicBlock 16→32, stride 2, downsample = 1×1 conv s2 + BN         [N,32,14,14]
//!   layer3.0  BasicBlock 32→64, stride 2, downsample = 1×1 conv s2 + BN         [N,64, 7, 7]
//!   avgpool → fc 64→10 → softmax cross-entropy

use crate::graph::{Graph, Kind, Module};
use crate::layers::batchnorm::{self, Dims};
use crate::layers::conv::ConvGeom;
use crate::layers::{activation, linear, loss, pool, shortcut};
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::{bail, Result, Scalar, Tape};
use serde::{Deserialize, Serialize};

pub use crate::graph::{Config, Shortcut};

#[derive(Clone, Debug)]
pub struct Conv<T> {
    pub name: String,
    pub c_in: usize,
    pub c_out: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    /// `[c_out, c_in, k, k]`
    pub weight: Vec<T>,
    pub bias: Option<Vec<T>>,
}

impl<T: Scalar> Conv<T> {
    pub fn new(name: String, c_in: usize, c_out: usize, k: usize, stride: usize, pad: usize, rng: &mut Rng) -> Self {
        // torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu")
        let std = (2.0 / (c_out * k * k) as f64).sqrt();
        let weight = (0..c_out * c_in * k * k).map(|_| T::of(rng.normal() * std)).collect();
        Conv { name, c_in, c_out, k, stride, pad, weight, bias: None }
    }
    pub fn weight_shape(&self) -> Vec<usize> {
        vec![self.c_out, self.c_in, self.k, self.k]
    }
    /// Geometry for an input `[n, c_in, h, w]`.
    pub fn geom(&self, shape: &[usize]) -> Result<ConvGeom> {
        if shape.len() != 4 || shape[1] != self.c_in {
            bail!("{}: expects input [N, {}, H, W], got {:?}", self.name, self.c_in, shape);
        }
        match ConvGeom::new(shape[0], self.c_in, shape[2], shape[3], self.c_out, self.k, self.stride, self.pad) {
            Some(g) => Ok(g),
            None => bail!("{}: a {}×{} kernel does not fit input {:?} with padding {}", self.name, self.k, self.k, shape, self.pad),
        }
    }
}

#[derive(Clone, Debug)]
pub struct BatchNorm<T> {
    pub name: String,
    pub c: usize,
    pub weight: Vec<T>,
    pub bias: Vec<T>,
    pub running_mean: Vec<T>,
    pub running_var: Vec<T>,
    pub num_batches_tracked: i64,
}

impl<T: Scalar> BatchNorm<T> {
    pub fn new(name: String, c: usize) -> Self {
        BatchNorm {
            name,
            c,
            weight: vec![T::one(); c],
            bias: vec![T::zero(); c],
            running_mean: vec![T::zero(); c],
            running_var: vec![T::one(); c],
            num_batches_tracked: 0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Linear<T> {
    pub name: String,
    pub n_in: usize,
    pub n_out: usize,
    /// `[n_out, n_in]`
    pub weight: Vec<T>,
    pub bias: Vec<T>,
}

/// One parameter or buffer of the model, by its PyTorch `state_dict` name.
pub struct Param<'a, T> {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: &'a mut Vec<T>,
    /// false for BN running statistics (not trained by the optimizer)
    pub trainable: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Train,
    Eval,
}

/// The state of one module: its parameters, if it has any.
#[derive(Clone, Debug)]
pub enum Layer<T> {
    Plain,
    Conv(Conv<T>),
    Bn(BatchNorm<T>),
    Fc(Linear<T>),
}

#[derive(Clone, Debug)]
pub struct ResNet<T> {
    pub config: Config,
    pub graph: Graph,
    /// One per module of `graph`, in the same order.
    pub layers: Vec<Layer<T>>,
    pub tape: Tape<T>,
    /// Mode of the last forward pass (backward follows it).
    pub mode: Mode,
    /// Labels the last backward pass used.
    pub labels: Vec<usize>,
    /// For the numerical check (`formula::numerical_check`): after module `.0` computes its
    /// output, `.2` is added to its value at flat index `.1` (so C(z ± ε) can be measured).
    pub nudge: Option<(String, usize, T)>,
    /// While `bench::module_profile` runs: the clock and each module's times.
    pub laps: Option<crate::bench::Laps>,
    /// `predict`'s tensors, apart from `tape`, which it leaves alone; kept for their memory
    /// once `predict` has run (a forward pass's worth, which the memory budgets do not count:
    /// the page and the comparison never call it, only the benchmarks).
    predicted: Tape<T>,
}

impl<T: Scalar> ResNet<T> {
    pub fn new(config: &Config, seed: u64) -> Result<Self> {
        config.validate()?;
        let graph = Graph::build(config);
        let mut rng = Rng::new(seed);
        let layers = graph
            .modules
            .iter()
            .map(|m| match m.kind {
                Kind::Conv { c_in, c_out, k, stride, pad, bias } => {
                    let mut c = Conv::new(m.name.clone(), c_in, c_out, k, stride, pad, &mut rng);
                    // without BN: a bias, starting at zero
                    c.bias = bias.then(|| vec![T::zero(); c_out]);
                    Layer::Conv(c)
                }
                Kind::BatchNorm { c } => Layer::Bn(BatchNorm::new(m.name.clone(), c)),
                Kind::Fc { n_in, n_out } => {
                    // nn.Linear's default: U(−1/√in, 1/√in) for weight and bias.
                    let bound = 1.0 / (n_in as f64).sqrt();
                    let mut uni = |n: usize| (0..n).map(|_| T::of((2.0 * rng.uniform() - 1.0) * bound)).collect::<Vec<T>>();
                    Layer::Fc(Linear { name: m.name.clone(), n_in, n_out, weight: uni(n_out * n_in), bias: uni(n_out) })
                }
                _ => Layer::Plain,
            })
            .collect();
        Ok(ResNet { config: config.clone(), graph, layers, tape: Tape::new(), mode: Mode::Eval, labels: vec![], nudge: None, laps: None, predicted: Tape::new() })
    }

    /// Every parameter and buffer, in module order, with PyTorch `state_dict` names
    /// (`num_batches_tracked` is kept on the BN modules and handled by `io`).
    pub fn params_mut(&mut self) -> Vec<Param<'_, T>> {
        self.params_mut_and_tape().0
    }

    /// `params_mut` and, beside them, the tape (to read the gradients while the parameters
    /// change: the optimizer).
    pub(crate) fn params_mut_and_tape(&mut self) -> (Vec<Param<'_, T>>, &Tape<T>) {
        let mut out = Vec::new();
        for (layer, m) in self.layers.iter_mut().zip(&self.graph.modules) {
            let data: Vec<&mut Vec<T>> = match layer {
                Layer::Plain => vec![],
                Layer::Conv(c) => std::iter::once(&mut c.weight).chain(c.bias.as_mut()).collect(),
                Layer::Bn(b) => vec![&mut b.weight, &mut b.bias, &mut b.running_mean, &mut b.running_var],
                Layer::Fc(f) => vec![&mut f.weight, &mut f.bias],
            };
            debug_assert_eq!(data.len(), m.params.len(), "{}", m.name);
            for (data, s) in data.into_iter().zip(&m.params) {
                out.push(Param { name: s.name.clone(), shape: s.shape.clone(), data, trainable: s.trainable });
            }
        }
        (out, &self.tape)
    }

    /// (name, shape, values, trainable) of every parameter and buffer; a read-only view of `params_mut`.
    pub fn params(&self) -> Vec<(String, Vec<usize>, Vec<T>, bool)> {
        // Cloning a few hundred KB is fine for the callers (export, casting, loading checks;
        // the optimizer reads the parameters in place: `params_mut_and_tape`).
        let mut me = self.clone_weights();
        me.params_mut().into_iter().map(|p| (p.name, p.shape, p.data.clone(), p.trainable)).collect()
    }

    /// The same weights and statistics in another float type (f32 ⇄ f64).
    pub fn cast<U: Scalar>(&self) -> ResNet<U> {
        let mut out = ResNet::<U>::new(&self.config, 0).expect("config was valid");
        let src = self.params();
        for (p, (name, _, data, _)) in out.params_mut().into_iter().zip(src) {
            debug_assert_eq!(p.name, name);
            *p.data = data.iter().map(|v| U::of(v.f64())).collect();
        }
        let counts: Vec<i64> = self.batchnorms().iter().map(|b| b.num_batches_tracked).collect();
        for (b, c) in out.batchnorms_mut().into_iter().zip(counts) {
            b.num_batches_tracked = c;
        }
        out
    }

    /// The same network for a task of `classes` classes: every weight and statistic kept but
    /// the final layer's, which is new (`fc` `[classes, …]`, random from `seed` as `new` draws
    /// it): "the pretrained network with a new final layer".
    pub fn with_classes(&self, classes: usize, seed: u64) -> Result<Self> {
        let mut out = ResNet::new(&Config { num_classes: classes, ..self.config.clone() }, seed)?;
        for (mine, new) in self.layers.iter().zip(out.layers.iter_mut()) {
            if !matches!(new, Layer::Fc(_)) {
                *new = mine.clone();
            }
        }
        Ok(out)
    }

    /// A copy without the tape.
    pub fn clone_weights(&self) -> Self {
        ResNet { config: self.config.clone(), graph: self.graph.clone(), layers: self.layers.clone(), tape: Tape::new(), mode: self.mode, labels: vec![], nudge: None, laps: None, predicted: Tape::new() }
    }

    pub fn batchnorms(&self) -> Vec<&BatchNorm<T>> {
        self.layers.iter().filter_map(|l| if let Layer::Bn(b) = l { Some(b) } else { None }).collect()
    }

    pub fn batchnorms_mut(&mut self) -> Vec<&mut BatchNorm<T>> {
        self.layers.iter_mut().filter_map(|l| if let Layer::Bn(b) = l { Some(b) } else { None }).collect()
    }

    /// Every conv module, in forward order.
    pub fn convs(&self) -> Vec<&Conv<T>> {
        self.layers.iter().filter_map(|l| if let Layer::Conv(c) = l { Some(c) } else { None }).collect()
    }

    pub fn convs_mut(&mut self) -> Vec<&mut Conv<T>> {
        self.layers.iter_mut().filter_map(|l| if let Layer::Conv(c) = l { Some(c) } else { None }).collect()
    }

    pub fn conv(&self, name: &str) -> Result<&Conv<T>> {
        match self.convs().into_iter().find(|c| c.name == name) {
            Some(c) => Ok(c),
            None => bail!("no conv module '{name}'; the convs are {}", self.convs().iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")),
        }
    }

    pub fn batchnorm(&self, name: &str) -> Result<&BatchNorm<T>> {
        match self.batchnorms().into_iter().find(|b| b.name == name) {
            Some(b) => Ok(b),
            None if !self.config.batchnorm => bail!("no batchnorm module '{name}': this model has no BatchNorm"),
            None => bail!("no batchnorm module '{name}'"),
        }
    }

    /// The classifier.
    pub fn fc(&self) -> &Linear<T> {
        self.layers.iter().find_map(|l| if let Layer::Fc(f) = l { Some(f) } else { None }).expect("every model ends in an fc")
    }

    /// The module whose output conv `name` reads (`input`, `relu`, `<blk>.relu1`, a block).
    pub fn conv_input_name(&self, name: &str) -> Result<String> {
        self.conv(name)?;
        Ok(self.graph.module(name)?.inputs[0].clone())
    }

    /// Number of trainable values.
    pub fn num_parameters(&self) -> usize {
        self.graph.params().filter(|p| p.trainable).map(|p| p.shape.iter().product::<usize>()).sum()
    }

    /// Checks an input batch `[N, C, S, S]` against the configuration.
    pub fn check_input(&self, x: &Tensor<T>) -> Result<()> {
        let c = &self.config;
        let want = [c.in_channels, c.image_size, c.image_size];
        if x.shape.len() != 4 || x.shape[1..] != want || x.shape[0] == 0 {
            bail!("input must have shape [N, {}, {}, {}] with N ≥ 1, got {:?}", want[0], want[1], want[2], x.shape);
        }
        if x.data.len() != x.shape.iter().product::<usize>() {
            bail!("input has {} values for shape {:?}", x.data.len(), x.shape);
        }
        if x.data.iter().any(|v| !v.is_finite()) {
            bail!("input contains NaN or infinite values");
        }
        Ok(())
    }

    /// Forward pass over a batch `x [N, C, S, S]`, writing `act.*` (and in training mode
    /// `stat.*`, updating the running statistics) onto a fresh tape. Returns the logits.
    pub fn forward(&mut self, x: &Tensor<T>, mode: Mode) -> Result<&Tensor<T>> {
        crate::layers::in_pool(|| self.forward_here(x, mode, false))?;
        self.tape.get(&act(&self.graph.fc().name))
    }

    /// The logits (and the class probabilities) of `x` in eval mode, for when only they are
    /// wanted (an inference benchmark, an application): each BN that reads a conv's output
    /// alone runs in that conv, folded into its weights and bias (w·s and b·s + β − μ·s per
    /// output channel, s = γ/√(running_var + ε)), the ReLU after it on the conv's output, and
    /// the tensors go on a tape of their own, so the last pass's tape — what the page shows —
    /// stays as it was. That tape keeps its memory between calls (see `predicted`). The same
    /// values as `forward(x, Mode::Eval)` up to rounding (`predict_equals_eval_forward`).
    pub fn predict(&mut self, x: &Tensor<T>) -> Result<(&Tensor<T>, &Tensor<T>)> {
        crate::layers::in_pool(|| self.forward_here(x, Mode::Eval, true))?;
        let loss = &self.graph.modules.last().expect("a graph ends in its loss").name;
        Ok((self.predicted.get(&act(&self.graph.fc().name))?, self.predicted.get(&act(loss))?))
    }

    /// The forward pass onto `tape`, or with `fold` onto `predicted` with each BN that only a
    /// conv feeds folded into it (`predict`).
    fn forward_here(&mut self, x: &Tensor<T>, mode: Mode, fold: bool) -> Result<()> {
        self.check_input(x)?;
        let tape = if fold { &mut self.predicted } else { self.mode = mode; &mut self.tape };
        tape.clear();
        let nudged = self.nudge.as_ref().map(|n| n.0.as_str());
        let mut with_bn = None; // a ReLU that ran in its BN's pass
        let mut in_conv = None; // a BN that ran in its conv's pass
        for at in 0..self.graph.modules.len() {
            let (m, layer) = (&self.graph.modules[at], &self.layers[at]);
            let lap = crate::bench::lap_start(&self.laps);
            let inp = m.inputs.first().map(|i| act(i)).unwrap_or_default();
            let out = act(&m.name);
            let folded = if fold && nudged.is_none() { folded_bn(&self.graph, &self.layers, at) } else { None };
            match (&m.kind, layer) {
                (Kind::Input, _) => tape.set(out, x.clone()),
                (Kind::Conv { .. }, Layer::Conv(c)) if folded.is_some() => {
                    let (bn, relu) = folded.expect("just matched");
                    conv_bn_forward(tape, c, bn, &inp, relu.map(|r| act(&r.name)).as_deref())?;
                    in_conv = Some(at + 1);
                    with_bn = relu.map(|_| at + 2);
                }
                (Kind::Conv { .. }, Layer::Conv(c)) => conv_forward(tape, c, &inp)?,
                (Kind::BatchNorm { .. }, _) if in_conv == Some(at) => {}
                (Kind::BatchNorm { .. }, Layer::Bn(_)) => {
                    let Layer::Bn(b) = &mut self.layers[at] else { unreachable!("matched a BN") };
                    let relu = fused_relu(&self.graph, at, nudged);
                    bn_forward(tape, b, &inp, mode, relu.map(|r| act(&r.name)).as_deref())?;
                    with_bn = relu.map(|_| at + 1);
                }
                (Kind::Relu, _) if with_bn == Some(at) => {}
                (Kind::Relu, _) => relu_forward(tape, &inp, &out)?,
                (Kind::Add, _) => add_forward(tape, m, &inp, &act(&m.inputs[1]))?,
                (&Kind::Shortcut { c_out, stride, pad_lo, .. }, _) => {
                    let shape = tape.get(&inp)?.shape.clone();
                    let g = shortcut::Geom { n: shape[0], c_in: shape[1], h: shape[2], w: shape[3], c_out, stride, lo: pad_lo };
                    let mut y = tape.buffer(&out, &[g.n, c_out, g.h_out(), g.w_out()]);
                    shortcut::forward(&g, &tape.get(&inp)?.data, &mut y.data);
                    tape.set(out, y);
                }
                (Kind::AvgPool, _) => {
                    let last = tape.get(&inp)?;
                    let (n, c, hw) = (last.shape[0], last.shape[1], last.shape[2] * last.shape[3]);
                    let mut pooled = Tensor::zeros(&[n, c]);
                    pool::gap_forward(&last.data, hw, &mut pooled.data);
                    tape.set(out, pooled);
                }
                (Kind::Fc { .. }, Layer::Fc(f)) => {
                    let a = tape.get(&inp)?;
                    let n = a.shape[0];
                    let mut logits = Tensor::zeros(&[n, f.n_out]);
                    linear::linear_forward(&a.data, &f.weight, &f.bias, f.n_in, &mut logits.data);
                    tape.set(out, logits);
                }
                (Kind::Softmax, _) => {
                    let logits = tape.get(&inp)?;
                    let (n, k) = (logits.shape[0], logits.shape[1]);
                    let mut probs = Tensor::zeros(&[n, k]);
                    loss::softmax_ce_forward(&logits.data, &vec![0; n], k, &mut probs.data);
                    tape.set(out, probs);
                }
                (k, _) => bail!("{}: the model holds no parameters for a {k:?} module", m.name),
            }
            if let Some((name, at, by)) = self.nudge.as_ref().filter(|n| n.0 == m.name) {
                match tape.get_mut(&act(name)).and_then(|t| t.data.get_mut(*at)) {
                    Some(v) => *v = *v + *by,
                    None => bail!("{name} has no value at flat index {at} to nudge"),
                }
            }
            crate::bench::lap_end(&mut self.laps, at, false, lap);
        }
        if fold {
            return Ok(());
        }
        let running: Vec<_> = self.batchnorms().into_iter().map(|b| (b.name.clone(), b.running_mean.clone(), b.running_var.clone())).collect();
        for (name, mean, var) in running {
            self.tape.set(format!("running.{name}.running_mean"), Tensor { shape: vec![mean.len()], data: mean });
            self.tape.set(format!("running.{name}.running_var"), Tensor { shape: vec![var.len()], data: var });
        }
        Ok(())
    }

    /// Backward pass for the last forward, with cross-entropy against `labels` (one per image;
    /// for inspection, any class). Writes `loss`, `delta.*`, `grad.*` and, for each residual
    /// block, `branch.<block>` = [‖main part‖, ‖shortcut part‖] of the δ it sends back to its
    /// input (see [`branch_of`]). Returns the loss.
    pub fn backward(&mut self, labels: &[usize]) -> Result<f64> {
        crate::layers::in_pool(|| self.backward_here(labels))
    }

    fn backward_here(&mut self, labels: &[usize]) -> Result<f64> {
        let loss_module = self.graph.modules.last().expect("a graph ends in its loss");
        let probs = self.tape.get(&act(&loss_module.name))?;
        let (n, k) = (probs.shape[0], probs.shape[1]);
        if labels.len() != n {
            bail!("{} labels given for a batch of {}", labels.len(), n);
        }
        if let Some(&bad) = labels.iter().find(|&&l| l >= k) {
            bail!("label {bad} is out of range: the model has {k} classes (0..{})", k - 1);
        }
        self.labels = labels.to_vec();
        let tape = &mut self.tape;
        tape.remove_prefix("delta.");
        tape.remove_prefix("grad.");
        tape.remove_prefix("branch.");
        let graph = &self.graph;
        // a ReLU that runs in its BN's passes: its backward too (training mode)
        let nudged = self.nudge.as_ref().map(|n| n.0.as_str());
        let fused = |bn_at: usize| if self.mode == Mode::Train { fused_relu(graph, bn_at, nudged) } else { None };
        // Σ δ² of each block's two parts at its input (main branch, shortcut)
        let mut parts: Vec<[f64; 2]> = vec![[0.0; 2]; graph.blocks.len()];
        let mut note = |m: &Module, input: &str, d: &Tensor<T>| {
            if let Some((b, side)) = branch_of(graph, m, input) {
                parts[b][side as usize] += activation::sum_of_squares(&d.data);
            }
        };
        let mut loss_value = f64::NAN;
        for (at, (m, layer)) in self.graph.modules.iter().zip(self.layers.iter()).enumerate().rev() {
            let lap = crate::bench::lap_start(&self.laps);
            let inp = m.inputs.first().cloned().unwrap_or_default();
            match (&m.kind, layer) {
                (Kind::Input, _) => {}
                (Kind::Softmax, _) => {
                    // δ of the logits: softmax(z) − onehot(label), averaged over the batch
                    let logits = tape.get(&act(&inp))?;
                    let mut p = Tensor::zeros(&[n, k]);
                    loss_value = loss::softmax_ce_forward(&logits.data, labels, k, &mut p.data);
                    let mut dz = Tensor::zeros(&[n, k]);
                    loss::softmax_ce_backward(&p.data, labels, k, &mut dz.data);
                    tape.set("loss", Tensor { shape: vec![], data: vec![T::of(loss_value)] });
                    accumulate(tape, &inp, dz);
                }
                (Kind::Fc { .. }, Layer::Fc(f)) => {
                    let a = tape.get(&act(&inp))?;
                    let (mut da, mut dw, mut db) = (Tensor::zeros(&a.shape), Tensor::zeros(&[f.n_out, f.n_in]), Tensor::zeros(&[f.n_out]));
                    linear::linear_backward(&a.data, &f.weight, &tape.get(&delta(&m.name))?.data, f.n_in, &mut da.data, &mut dw.data, &mut db.data);
                    tape.set(format!("grad.{}.weight", m.name), dw);
                    tape.set(format!("grad.{}.bias", m.name), db);
                    accumulate(tape, &inp, da);
                }
                (Kind::AvgPool, _) => {
                    let shape = tape.get(&act(&inp))?.shape.clone();
                    let mut dx = tape.buffer(&delta(&inp), &shape);
                    pool::gap_backward(&tape.get(&delta(&m.name))?.data, shape[2] * shape[3], &mut dx.data);
                    accumulate(tape, &inp, dx);
                }
                (Kind::Relu, _) if at > 0 && fused(at - 1).is_some() => {}
                (Kind::Relu, _) => {
                    let shape = tape.get(&act(&m.name))?.shape.clone();
                    let mut dx = tape.buffer(&delta(&inp), &shape);
                    activation::relu_backward(&tape.get(&act(&m.name))?.data, &tape.get(&delta(&m.name))?.data, &mut dx.data);
                    accumulate(tape, &inp, dx);
                }
                (Kind::Add, _) => {
                    // the junction passes its δ unchanged to both branches
                    for i in &m.inputs {
                        let shape = tape.get(&delta(&m.name))?.shape.clone();
                        let mut t = if tape.contains(&delta(i)) { tape.scratch(&shape) } else { tape.buffer(&delta(i), &shape) };
                        activation::copy(&tape.get(&delta(&m.name))?.data, &mut t.data);
                        note(m, i, &t);
                        accumulate(tape, i, t);
                    }
                }
                (&Kind::Shortcut { c_out, stride, pad_lo, .. }, _) => {
                    let shape = tape.get(&act(&inp))?.shape.clone();
                    let g = shortcut::Geom { n: shape[0], c_in: shape[1], h: shape[2], w: shape[3], c_out, stride, lo: pad_lo };
                    let mut dx = tape.buffer(&delta(&inp), &shape);
                    shortcut::backward(&g, &tape.get(&delta(&m.name))?.data, &mut dx.data);
                    note(m, &inp, &dx);
                    accumulate(tape, &inp, dx);
                }
                (Kind::BatchNorm { .. }, Layer::Bn(b)) => {
                    let dx = bn_backward(tape, b, &inp, self.mode, fused(at).map(|r| r.name.as_str()))?;
                    accumulate(tape, &inp, dx);
                }
                (Kind::Conv { .. }, Layer::Conv(c)) => {
                    // the image gets no δ (nothing below it is trained)
                    let dx_name = (inp != "input" || m.inputs.len() > 1).then(|| delta(&inp));
                    if let Some(dx) = conv_backward(tape, c, &act(&inp), dx_name.as_deref())? {
                        note(m, &inp, &dx);
                        accumulate(tape, &inp, dx);
                    }
                }
                (k, _) => bail!("{}: the model holds no parameters for a {k:?} module", m.name),
            }
            crate::bench::lap_end(&mut self.laps, at, true, lap);
        }
        for (b, [main, side]) in graph.blocks.iter().zip(parts) {
            if b.shortcut != crate::Shortcut::None {
                tape.set(format!("branch.{}", b.name), Tensor { shape: vec![2], data: vec![T::of(main.sqrt()), T::of(side.sqrt())] });
            }
        }
        Ok(loss_value)
    }
}

/// Whether module `m`'s δ, passed back to `input`, leaves a residual block at its input (the
/// fork): `(block index, shortcut?)` — the shortcut if `m` is on the block's side branch (a
/// projection conv, option A) or is the junction passing its δ straight back (the identity),
/// the main branch if it is the block's first conv.
pub fn branch_of(graph: &Graph, m: &Module, input: &str) -> Option<(usize, bool)> {
    let name = m.block.as_deref()?;
    let b = graph.blocks.iter().position(|b| b.name == name && b.input == input)?;
    Some((b, m.side || matches!(m.kind, Kind::Add)))
}

/// Tape names of a module's output and of its δ.
pub fn act(module: &str) -> String {
    format!("act.{module}")
}

pub fn delta(module: &str) -> String {
    format!("delta.{module}")
}

/// `delta.<module> += d`: a module read by several others (the residual fork) sums their δ
/// (a second δ came in a `Tape::scratch`, whose memory goes back for the next one).
fn accumulate<T: Scalar>(tape: &mut Tape<T>, module: &str, d: Tensor<T>) {
    let name = delta(module);
    match tape.get_mut(&name) {
        Some(acc) => {
            activation::add_assign(&mut acc.data, &d.data);
            tape.recycle(d);
        }
        None => tape.set(name, d),
    }
}

// ---- module steps: each reads its input from the tape and writes its output back ----------

fn conv_forward<T: Scalar>(tape: &mut Tape<T>, conv: &Conv<T>, input: &str) -> Result<()> {
    let x = tape.get(input)?;
    let g = conv.geom(&x.shape)?;
    let name = act(&conv.name);
    let mut y = tape.buffer(&name, &[g.n, g.c_out, g.h_out, g.w_out]);
    let x = tape.get(input)?;
    T::conv_forward(&g, &x.data, &conv.weight, conv.bias.as_deref(), &mut y.data);
    tape.set(name, y);
    Ok(())
}

/// From `delta.<conv>` and the conv's input: `grad.<conv>.weight` (and `.bias`), and
/// ∂C/∂input when `dx_name` says under which name it will be kept (its memory is reused).
fn conv_backward<T: Scalar>(tape: &mut Tape<T>, conv: &Conv<T>, input: &str, dx_name: Option<&str>) -> Result<Option<Tensor<T>>> {
    let shape = tape.get(input)?.shape.clone();
    let g = conv.geom(&shape)?;
    // (the last pass's memory: the conv overwrites every value)
    let (dw_name, db_name) = (format!("grad.{}.weight", conv.name), format!("grad.{}.bias", conv.name));
    let mut dw = tape.buffer(&dw_name, &conv.weight_shape());
    let mut db = conv.bias.as_ref().map(|_| tape.buffer(&db_name, &[conv.c_out]));
    let mut dx = dx_name.map(|name| if tape.contains(name) { tape.scratch(&shape) } else { tape.buffer(name, &shape) });
    let x = tape.get(input)?;
    let dy = tape.get(&delta(&conv.name))?;
    T::conv_backward(&g, &x.data, &conv.weight, &dy.data, dx.as_mut().map(|t| &mut t.data[..]), &mut dw.data, db.as_mut().map(|t| &mut t.data[..]));
    tape.set(dw_name, dw);
    if let Some(db) = db {
        tape.set(db_name, db);
    }
    Ok(dx)
}

fn bn_dims(shape: &[usize]) -> Dims {
    Dims { n: shape[0], c: shape[1], hw: shape[2] * shape[3] }
}

/// The ReLU that runs in the passes of module `at`, a BN (`bn_forward`, `bn_backward`), if any:
/// the next module, when it is a ReLU of the BN's output and nothing else reads that output
/// (so the BN's δ is the ReLU's backward alone), unless a numerical check nudges the BN's
/// output in between. The tape is the same as with the two passes apart, value for value:
/// the fusion only saves a read of the BN's output forward and of its δ backward.
pub fn fused_relu<'g>(graph: &'g Graph, at: usize, nudged: Option<&str>) -> Option<&'g Module> {
    let (bn, next) = (&graph.modules[at], graph.modules.get(at + 1)?);
    let only_reader = graph.consumers(&bn.name).len() == 1;
    (matches!(bn.kind, Kind::BatchNorm { .. }) && matches!(next.kind, Kind::Relu) && next.inputs == [bn.name.clone()] && only_reader && nudged != Some(bn.name.as_str())).then_some(next)
}

/// For `predict`: the BN that conv module `at` feeds, when it is the conv's only reader and
/// reads nothing else (so it can run in the conv's pass, folded into its weights), and the
/// ReLU that runs in that BN's pass (`fused_relu`).
fn folded_bn<'a, T>(graph: &'a Graph, layers: &'a [Layer<T>], at: usize) -> Option<(&'a BatchNorm<T>, Option<&'a Module>)> {
    let (conv, bn) = (&graph.modules[at], graph.modules.get(at + 1)?);
    let Layer::Bn(b) = layers.get(at + 1)? else { return None };
    (matches!(conv.kind, Kind::Conv { .. }) && bn.inputs == [conv.name.clone()] && graph.consumers(&conv.name).len() == 1).then(|| (b, fused_relu(graph, at + 1, None)))
}

/// `act.<bn>` — or, when the ReLU after it runs in its pass, `act.<relu>` — of the eval-mode
/// BN `bn` applied to conv `conv`'s output, as one conv with the BN folded into it: weights
/// `w·s`, bias `b·s + β − μ·s` per output channel (s = γ/√(running_var + ε), in f64).
fn conv_bn_forward<T: Scalar>(tape: &mut Tape<T>, conv: &Conv<T>, bn: &BatchNorm<T>, input: &str, relu: Option<&str>) -> Result<()> {
    let x = tape.get(input)?;
    let g = conv.geom(&x.shape)?;
    let per = conv.weight.len() / g.c_out;
    let scale: Vec<f64> = (0..g.c_out).map(|o| bn.weight[o].f64() / (bn.running_var[o].f64() + batchnorm::EPS).sqrt()).collect();
    let weight: Vec<T> = conv.weight.iter().enumerate().map(|(i, &w)| T::of(w.f64() * scale[i / per])).collect();
    let bias: Vec<T> = (0..g.c_out).map(|o| T::of(conv.bias.as_ref().map_or(0.0, |b| b[o].f64()) * scale[o] + bn.bias[o].f64() - bn.running_mean[o].f64() * scale[o])).collect();
    let name = relu.map_or_else(|| act(&bn.name), str::to_string);
    let mut y = tape.buffer(&name, &[g.n, g.c_out, g.h_out, g.w_out]);
    let x = tape.get(input)?;
    T::conv_forward(&g, &x.data, &weight, Some(&bias), &mut y.data);
    if relu.is_some() {
        activation::relu_in_place(&mut y.data);
    }
    tape.set(name, y);
    Ok(())
}

/// `act.<bn>` from `input` (and `act.<relu>`, the ReLU that runs in its pass: `fused_relu`);
/// in training mode also `stat.<bn>.{mean,var}`.
fn bn_forward<T: Scalar>(tape: &mut Tape<T>, bn: &mut BatchNorm<T>, input: &str, mode: Mode, relu: Option<&str>) -> Result<()> {
    let shape = tape.get(input)?.shape.clone();
    let d = bn_dims(&shape);
    let name = act(&bn.name);
    let mut y = tape.buffer(&name, &shape);
    let mut r = relu.map(|r| tape.buffer(r, &shape));
    let x = tape.get(input)?;
    let r_data = r.as_mut().map(|r| &mut r.data[..]);
    match mode {
        Mode::Train => {
            let (mut mean, mut var) = (Tensor::zeros(&[bn.c]), Tensor::zeros(&[bn.c]));
            batchnorm::forward_train(&d, &x.data, &bn.weight, &bn.bias, &mut y.data, r_data, &mut mean.data, &mut var.data, &mut bn.running_mean, &mut bn.running_var);
            bn.num_batches_tracked += 1;
            tape.set(format!("stat.{}.mean", bn.name), mean);
            tape.set(format!("stat.{}.var", bn.name), var);
        }
        Mode::Eval => batchnorm::forward_eval(&d, &x.data, &bn.weight, &bn.bias, &bn.running_mean, &bn.running_var, &mut y.data, r_data),
    }
    tape.set(name, y);
    if let (Some(name), Some(r)) = (relu, r) {
        tape.set(name, r);
    }
    Ok(())
}

/// From `delta.<bn>`: `grad.<bn>.{weight,bias}`; returns δ of its input (the conv feeding it).
/// With `relu` (training mode, the ReLU `fused_relu` runs in this pass): from that ReLU's δ,
/// writing `delta.<bn>` on the way.
fn bn_backward<T: Scalar>(tape: &mut Tape<T>, bn: &BatchNorm<T>, input: &str, mode: Mode, relu: Option<&str>) -> Result<Tensor<T>> {
    let shape = tape.get(&act(input))?.shape.clone();
    let d = bn_dims(&shape);
    let mut dx = tape.buffer(&delta(input), &shape);
    let mut dy = relu.filter(|_| mode == Mode::Train).map(|_| tape.buffer(&delta(&bn.name), &shape));
    let (mut dg, mut dbeta) = (Tensor::zeros(&[bn.c]), Tensor::zeros(&[bn.c]));
    let x = tape.get(&act(input))?;
    let stat = |s: &str| tape.get(&format!("stat.{}.{s}", bn.name));
    match (mode, relu, dy.as_mut()) {
        (Mode::Train, Some(relu), Some(dy)) => {
            let (r, dr) = (tape.get(&act(relu))?, tape.get(&delta(relu))?);
            batchnorm::backward_train_relu(&d, &x.data, &r.data, &dr.data, &mut dy.data, &bn.weight, &stat("mean")?.data, &stat("var")?.data, &mut dx.data, &mut dg.data, &mut dbeta.data);
        }
        (Mode::Train, _, _) => {
            let dy = tape.get(&delta(&bn.name))?;
            batchnorm::backward_train(&d, &x.data, &dy.data, &bn.weight, &stat("mean")?.data, &stat("var")?.data, &mut dx.data, &mut dg.data, &mut dbeta.data);
        }
        (Mode::Eval, _, _) => {
            let dy = tape.get(&delta(&bn.name))?;
            batchnorm::backward_eval(&d, &x.data, &dy.data, &bn.weight, &bn.running_mean, &bn.running_var, &mut dx.data, &mut dg.data, &mut dbeta.data);
        }
    }
    if let Some(dy) = dy {
        tape.set(delta(&bn.name), dy);
    }
    tape.set(format!("grad.{}.weight", bn.name), dg);
    tape.set(format!("grad.{}.bias", bn.name), dbeta);
    Ok(dx)
}

fn relu_forward<T: Scalar>(tape: &mut Tape<T>, input: &str, output: &str) -> Result<()> {
    let shape = tape.get(input)?.shape.clone();
    let mut y = tape.buffer(output, &shape);
    activation::relu_forward(&tape.get(input)?.data, &mut y.data);
    tape.set(output, y);
    Ok(())
}

fn add_forward<T: Scalar>(tape: &mut Tape<T>, m: &Module, main: &str, short: &str) -> Result<()> {
    let (a, b) = (tape.get(main)?, tape.get(short)?);
    if a.shape != b.shape {
        bail!("{}: main branch {:?} and shortcut {:?} differ in shape", m.name, a.shape, b.shape);
    }
    let shape = a.shape.clone();
    let name = act(&m.name);
    let mut sum = tape.buffer(&name, &shape);
    activation::add(&tape.get(main)?.data, &tape.get(short)?.data, &mut sum.data);
    tape.set(name, sum);
    Ok(())
}

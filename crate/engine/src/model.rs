//! The ResNet: a configuration becomes modules with PyTorch names; `forward` and `backward`
//! write every tensor they compute onto the named tape.
//!
//! Default: ResNet-8 for MNIST (He et al. 2016 §4.2, n = 1), input `[N, 1, 28, 28]`:
//!
//!   conv1 3×3 1→16 → bn1 → relu
//!   layer1.0  BasicBlock 16→16, stride 1, identity shortcut                     [N,16,28,28]
//!   layer2.0  BasicBlock 16→32, stride 2, downsample = 1×1 conv s2 + BN         [N,32,14,14]
//!   layer3.0  BasicBlock 32→64, stride 2, downsample = 1×1 conv s2 + BN         [N,64, 7, 7]
//!   avgpool → fc 64→10 → softmax cross-entropy
//!
//! BasicBlock (torchvision's): `relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`. Its
//! modules on the tape: `.conv1 .bn1 .relu1 .conv2 .bn2 [.downsample.0 .downsample.1] .add`
//! and the block itself (`act.layer1.0` = relu of `.add`).

use crate::layers::batchnorm::{self, Dims};
use crate::layers::conv::ConvGeom;
use crate::layers::{activation, linear, loss, pool};
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::{bail, Result, Scalar, Tape};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub in_channels: usize,
    pub image_size: usize,
    pub num_classes: usize,
    /// Channels of each stage; stage 0 is also the stem's width.
    pub widths: Vec<usize>,
    /// BasicBlocks per stage (ResNet-8: 1,1,1; ResNet-20: 3,3,3).
    pub blocks: Vec<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Config { in_channels: 1, image_size: 28, num_classes: 10, widths: vec![16, 32, 64], blocks: vec![1, 1, 1] }
    }
}

impl Config {
    /// CIFAR-shaped ResNet-20: 3×32×32 input, three stages of three blocks.
    pub fn resnet20_cifar() -> Self {
        Config { in_channels: 3, image_size: 32, num_classes: 10, widths: vec![16, 32, 64], blocks: vec![3, 3, 3] }
    }

    pub fn validate(&self) -> Result<()> {
        if self.widths.is_empty() || self.widths.len() != self.blocks.len() {
            bail!("config: widths {:?} and blocks {:?} must be non-empty and of the same length", self.widths, self.blocks);
        }
        if self.in_channels == 0 || self.num_classes == 0 || self.widths.contains(&0) || self.blocks.contains(&0) {
            bail!("config: channels, classes, widths and blocks must all be at least 1");
        }
        if self.image_size < 1 << (self.widths.len() - 1) || self.image_size > 512 {
            bail!("config: image_size {} must be between {} and 512", self.image_size, 1 << (self.widths.len() - 1));
        }
        if self.in_channels > 64 || self.widths.iter().any(|&w| w > 1024) || self.blocks.iter().sum::<usize>() > 64 || self.num_classes > 10_000 {
            bail!("config: too large (at most 64 input channels, widths ≤ 1024, at most 64 blocks, at most 10000 classes)");
        }
        // 3×3 convs dominate: bound the weights so a config cannot ask for gigabytes.
        let mut c_in = self.widths[0];
        let mut weights = 9 * self.in_channels * c_in;
        for (&w, &b) in self.widths.iter().zip(&self.blocks) {
            weights += b * 9 * (c_in * w + w * w) + c_in * w;
            c_in = w;
        }
        if weights > 16_000_000 {
            bail!("config: about {weights} weights; the engine takes at most 16 million");
        }
        Ok(())
    }
}

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
    fn new(name: String, c_in: usize, c_out: usize, k: usize, stride: usize, pad: usize, rng: &mut Rng) -> Self {
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
    fn new(name: String, c: usize) -> Self {
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

#[derive(Clone, Debug)]
pub struct Block<T> {
    pub name: String,
    pub conv1: Conv<T>,
    pub bn1: BatchNorm<T>,
    pub conv2: Conv<T>,
    pub bn2: BatchNorm<T>,
    /// `downsample.0` (1×1 conv, stride s) and `downsample.1` (BN), when the shape changes.
    pub downsample: Option<(Conv<T>, BatchNorm<T>)>,
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

#[derive(Clone, Debug)]
pub struct ResNet<T> {
    pub config: Config,
    pub conv1: Conv<T>,
    pub bn1: BatchNorm<T>,
    pub blocks: Vec<Block<T>>,
    pub fc: Linear<T>,
    pub tape: Tape<T>,
    /// Mode of the last forward pass (backward follows it).
    pub mode: Mode,
    /// Labels the last backward pass used.
    pub labels: Vec<usize>,
}

impl<T: Scalar> ResNet<T> {
    pub fn new(config: &Config, seed: u64) -> Result<Self> {
        config.validate()?;
        let mut rng = Rng::new(seed);
        let w0 = config.widths[0];
        let conv1 = Conv::new("conv1".into(), config.in_channels, w0, 3, 1, 1, &mut rng);
        let bn1 = BatchNorm::new("bn1".into(), w0);
        let mut blocks = Vec::new();
        let mut c_in = w0;
        for (stage, (&width, &count)) in config.widths.iter().zip(&config.blocks).enumerate() {
            for b in 0..count {
                let name = format!("layer{}.{}", stage + 1, b);
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                let conv1 = Conv::new(format!("{name}.conv1"), c_in, width, 3, stride, 1, &mut rng);
                let conv2 = Conv::new(format!("{name}.conv2"), width, width, 3, 1, 1, &mut rng);
                let downsample = (stride != 1 || c_in != width).then(|| {
                    (
                        Conv::new(format!("{name}.downsample.0"), c_in, width, 1, stride, 0, &mut rng),
                        BatchNorm::new(format!("{name}.downsample.1"), width),
                    )
                });
                blocks.push(Block {
                    bn1: BatchNorm::new(format!("{name}.bn1"), width),
                    bn2: BatchNorm::new(format!("{name}.bn2"), width),
                    name,
                    conv1,
                    conv2,
                    downsample,
                });
                c_in = width;
            }
        }
        // nn.Linear's default: U(−1/√in, 1/√in) for weight and bias.
        let bound = 1.0 / (c_in as f64).sqrt();
        let mut uni = |n: usize| (0..n).map(|_| T::of((2.0 * rng.uniform() - 1.0) * bound)).collect::<Vec<T>>();
        let fc = Linear { name: "fc".into(), n_in: c_in, n_out: config.num_classes, weight: uni(config.num_classes * c_in), bias: uni(config.num_classes) };
        Ok(ResNet { config: config.clone(), conv1, bn1, blocks, fc, tape: Tape::new(), mode: Mode::Eval, labels: vec![] })
    }

    /// Every parameter and buffer, in module order, with PyTorch `state_dict` names
    /// (`num_batches_tracked` is kept on the BN modules and handled by `io`).
    pub fn params_mut(&mut self) -> Vec<Param<'_, T>> {
        let mut out = Vec::new();
        fn conv<'a, T>(out: &mut Vec<Param<'a, T>>, c: &'a mut Conv<T>) {
            let shape = vec![c.c_out, c.c_in, c.k, c.k];
            out.push(Param { name: format!("{}.weight", c.name), shape, data: &mut c.weight, trainable: true });
            if let Some(b) = c.bias.as_mut() {
                out.push(Param { name: format!("{}.bias", c.name), shape: vec![c.c_out], data: b, trainable: true });
            }
        }
        fn bn<'a, T>(out: &mut Vec<Param<'a, T>>, b: &'a mut BatchNorm<T>) {
            let s = vec![b.c];
            out.push(Param { name: format!("{}.weight", b.name), shape: s.clone(), data: &mut b.weight, trainable: true });
            out.push(Param { name: format!("{}.bias", b.name), shape: s.clone(), data: &mut b.bias, trainable: true });
            out.push(Param { name: format!("{}.running_mean", b.name), shape: s.clone(), data: &mut b.running_mean, trainable: false });
            out.push(Param { name: format!("{}.running_var", b.name), shape: s, data: &mut b.running_var, trainable: false });
        }
        conv(&mut out, &mut self.conv1);
        bn(&mut out, &mut self.bn1);
        for blk in &mut self.blocks {
            conv(&mut out, &mut blk.conv1);
            bn(&mut out, &mut blk.bn1);
            conv(&mut out, &mut blk.conv2);
            bn(&mut out, &mut blk.bn2);
            if let Some((c, b)) = blk.downsample.as_mut() {
                conv(&mut out, c);
                bn(&mut out, b);
            }
        }
        let f = &mut self.fc;
        out.push(Param { name: "fc.weight".into(), shape: vec![f.n_out, f.n_in], data: &mut f.weight, trainable: true });
        out.push(Param { name: "fc.bias".into(), shape: vec![f.n_out], data: &mut f.bias, trainable: true });
        out
    }

    /// (name, shape, values) of every parameter and buffer; a read-only view of `params_mut`.
    pub fn params(&self) -> Vec<(String, Vec<usize>, Vec<T>, bool)> {
        // Cloning a few hundred KB is fine for the callers (export, optimizer set-up).
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
        let counts: Vec<i64> = self.clone_weights().batchnorms_mut().iter().map(|b| b.num_batches_tracked).collect();
        for (b, c) in out.batchnorms_mut().into_iter().zip(counts) {
            b.num_batches_tracked = c;
        }
        out
    }

    /// A copy without the tape.
    pub fn clone_weights(&self) -> Self {
        ResNet {
            config: self.config.clone(),
            conv1: self.conv1.clone(),
            bn1: self.bn1.clone(),
            blocks: self.blocks.clone(),
            fc: self.fc.clone(),
            tape: Tape::new(),
            mode: self.mode,
            labels: vec![],
        }
    }

    pub fn batchnorms_mut(&mut self) -> Vec<&mut BatchNorm<T>> {
        let mut out = vec![&mut self.bn1];
        for blk in &mut self.blocks {
            out.push(&mut blk.bn1);
            out.push(&mut blk.bn2);
            if let Some((_, b)) = blk.downsample.as_mut() {
                out.push(b);
            }
        }
        out
    }

    /// Every conv module, in forward order.
    pub fn convs(&self) -> Vec<&Conv<T>> {
        let mut out = vec![&self.conv1];
        for blk in &self.blocks {
            out.push(&blk.conv1);
            out.push(&blk.conv2);
            if let Some((c, _)) = &blk.downsample {
                out.push(c);
            }
        }
        out
    }

    pub fn conv(&self, name: &str) -> Result<&Conv<T>> {
        match self.convs().into_iter().find(|c| c.name == name) {
            Some(c) => Ok(c),
            None => bail!("no conv module '{name}'; the convs are {}", self.convs().iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")),
        }
    }

    pub fn batchnorm(&self, name: &str) -> Result<&BatchNorm<T>> {
        let mut all = vec![&self.bn1];
        for blk in &self.blocks {
            all.extend([&blk.bn1, &blk.bn2]);
            if let Some((_, b)) = &blk.downsample {
                all.push(b);
            }
        }
        match all.iter().find(|b| b.name == name) {
            Some(b) => Ok(b),
            None => bail!("no batchnorm module '{name}'"),
        }
    }

    pub fn block(&self, name: &str) -> Result<&Block<T>> {
        match self.blocks.iter().find(|b| b.name == name) {
            Some(b) => Ok(b),
            None => bail!("no residual block '{name}'; the blocks are {}", self.blocks.iter().map(|b| b.name.as_str()).collect::<Vec<_>>().join(", ")),
        }
    }

    /// Name of the module whose output is the input of block `i`.
    pub fn block_input_name(&self, i: usize) -> String {
        if i == 0 { "relu".into() } else { self.blocks[i - 1].name.clone() }
    }

    /// The module whose output conv `name` reads: `input`, `relu`, `<blk>.relu1` or a block.
    pub fn conv_input_name(&self, name: &str) -> Result<String> {
        if self.conv1.name == name {
            return Ok("input".into());
        }
        for (i, blk) in self.blocks.iter().enumerate() {
            if blk.conv1.name == name || blk.downsample.as_ref().is_some_and(|d| d.0.name == name) {
                return Ok(self.block_input_name(i));
            }
            if blk.conv2.name == name {
                return Ok(format!("{}.relu1", blk.name));
            }
        }
        self.conv(name).map(|_| unreachable!("every conv is the stem's or a block's"))
    }

    /// Number of trainable values.
    pub fn num_parameters(&self) -> usize {
        self.params().iter().filter(|p| p.3).map(|p| p.2.len()).sum()
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
        crate::layers::in_pool(|| self.forward_here(x, mode))?;
        self.tape.get("act.fc")
    }

    fn forward_here(&mut self, x: &Tensor<T>, mode: Mode) -> Result<()> {
        self.check_input(x)?;
        self.mode = mode;
        let tape = &mut self.tape;
        tape.clear();
        tape.set("act.input", x.clone());
        conv_forward(tape, &self.conv1, "act.input")?;
        bn_forward(tape, &mut self.bn1, "act.conv1", mode);
        relu_forward(tape, "act.bn1", "act.relu");
        let mut inp = "relu".to_string();
        for blk in &mut self.blocks {
            block_forward(tape, blk, &inp, mode)?;
            inp = blk.name.clone();
        }
        let last = tape.get(&format!("act.{inp}"))?;
        let (n, c, hw) = (last.shape[0], last.shape[1], last.shape[2] * last.shape[3]);
        let mut pooled = Tensor::zeros(&[n, c]);
        pool::gap_forward(&last.data, hw, &mut pooled.data);
        let mut logits = Tensor::zeros(&[n, self.fc.n_out]);
        linear::linear_forward(&pooled.data, &self.fc.weight, &self.fc.bias, c, &mut logits.data);
        tape.set("act.avgpool", pooled);
        let mut probs = Tensor::zeros(&logits.shape);
        let zeros = vec![0; n];
        loss::softmax_ce_forward(&logits.data, &zeros, self.fc.n_out, &mut probs.data);
        tape.set("act.fc", logits);
        tape.set("act.softmax", probs);
        let running: Vec<_> = self.batchnorms_mut().into_iter().map(|b| (b.name.clone(), b.running_mean.clone(), b.running_var.clone())).collect();
        for (name, mean, var) in running {
            self.tape.set(format!("running.{name}.running_mean"), Tensor { shape: vec![mean.len()], data: mean });
            self.tape.set(format!("running.{name}.running_var"), Tensor { shape: vec![var.len()], data: var });
        }
        Ok(())
    }

    /// Backward pass for the last forward, with cross-entropy against `labels` (one per image;
    /// for inspection, any class). Writes `loss`, `delta.*` and `grad.*`. Returns the loss.
    pub fn backward(&mut self, labels: &[usize]) -> Result<f64> {
        crate::layers::in_pool(|| self.backward_here(labels))
    }

    fn backward_here(&mut self, labels: &[usize]) -> Result<f64> {
        let probs = self.tape.get("act.softmax")?;
        let (n, k) = (probs.shape[0], probs.shape[1]);
        if labels.len() != n {
            bail!("{} labels given for a batch of {}", labels.len(), n);
        }
        if let Some(&bad) = labels.iter().find(|&&l| l >= k) {
            bail!("label {bad} is out of range: the model has {k} classes (0..{})", k - 1);
        }
        let logits = self.tape.get("act.fc")?;
        let mut p = Tensor::zeros(&[n, k]);
        let loss = loss::softmax_ce_forward(&logits.data, labels, k, &mut p.data);
        let mut dz = Tensor::zeros(&[n, k]);
        loss::softmax_ce_backward(&p.data, labels, k, &mut dz.data);
        self.labels = labels.to_vec();
        let tape = &mut self.tape;
        tape.remove_prefix("delta.");
        tape.remove_prefix("grad.");
        tape.set("loss", Tensor { shape: vec![], data: vec![T::of(loss)] });

        // fc and pooling
        let pooled = tape.get("act.avgpool")?;
        let c = self.fc.n_in;
        let (mut dpool, mut dw, mut db) = (Tensor::zeros(&[n, c]), Tensor::zeros(&[k, c]), Tensor::zeros(&[k]));
        linear::linear_backward(&pooled.data, &self.fc.weight, &dz.data, c, &mut dpool.data, &mut dw.data, &mut db.data);
        tape.set("delta.fc", dz);
        tape.set("grad.fc.weight", dw);
        tape.set("grad.fc.bias", db);
        let last = self.blocks.last().map_or("relu".to_string(), |b| b.name.clone());
        let shape = tape.get(&format!("act.{last}"))?.shape.clone();
        let mut dlast = Tensor::zeros(&shape);
        pool::gap_backward(&dpool.data, shape[2] * shape[3], &mut dlast.data);
        tape.set("delta.avgpool", dpool);
        tape.set(format!("delta.{last}"), dlast);

        // blocks, last to first
        let inputs: Vec<String> = (0..self.blocks.len()).map(|i| self.block_input_name(i)).collect();
        let tape = &mut self.tape;
        for i in (0..self.blocks.len()).rev() {
            block_backward(tape, &self.blocks[i], &inputs[i], self.mode)?;
        }
        // stem
        relu_backward(tape, "bn1", "relu")?;
        bn_backward(tape, &self.bn1, "conv1", self.mode)?;
        conv_backward(tape, &self.conv1, "act.input", None)?;
        Ok(loss)
    }
}

// ---- module steps: each reads its input from the tape and writes its output back ----------

fn conv_forward<T: Scalar>(tape: &mut Tape<T>, conv: &Conv<T>, input: &str) -> Result<()> {
    let x = tape.get(input)?;
    let g = conv.geom(&x.shape)?;
    let name = format!("act.{}", conv.name);
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
    let mut dw = Tensor::zeros(&conv.weight_shape());
    let mut db = conv.bias.as_ref().map(|_| Tensor::zeros(&[conv.c_out]));
    let mut dx = dx_name.map(|name| tape.buffer(name, &shape));
    let x = tape.get(input)?;
    let dy = tape.get(&format!("delta.{}", conv.name))?;
    T::conv_backward(&g, &x.data, &conv.weight, &dy.data, dx.as_mut().map(|t| &mut t.data[..]), &mut dw.data, db.as_mut().map(|t| &mut t.data[..]));
    tape.set(format!("grad.{}.weight", conv.name), dw);
    if let Some(db) = db {
        tape.set(format!("grad.{}.bias", conv.name), db);
    }
    Ok(dx)
}

fn bn_dims(shape: &[usize]) -> Dims {
    Dims { n: shape[0], c: shape[1], hw: shape[2] * shape[3] }
}

/// `act.<bn>` from `input`; in training mode also `stat.<bn>.{mean,var}`.
fn bn_forward<T: Scalar>(tape: &mut Tape<T>, bn: &mut BatchNorm<T>, input: &str, mode: Mode) {
    let shape = tape.get(input).expect("bn input on tape").shape.clone();
    let d = bn_dims(&shape);
    let name = format!("act.{}", bn.name);
    let mut y = tape.buffer(&name, &shape);
    let x = tape.get(input).expect("bn input on tape");
    match mode {
        Mode::Train => {
            let (mut mean, mut var) = (Tensor::zeros(&[bn.c]), Tensor::zeros(&[bn.c]));
            batchnorm::forward_train(&d, &x.data, &bn.weight, &bn.bias, &mut y.data, &mut mean.data, &mut var.data, &mut bn.running_mean, &mut bn.running_var);
            bn.num_batches_tracked += 1;
            tape.set(format!("stat.{}.mean", bn.name), mean);
            tape.set(format!("stat.{}.var", bn.name), var);
        }
        Mode::Eval => batchnorm::forward_eval(&d, &x.data, &bn.weight, &bn.bias, &bn.running_mean, &bn.running_var, &mut y.data),
    }
    tape.set(name, y);
}

/// From `delta.<bn>`: `grad.<bn>.{weight,bias}` and `delta.<conv>` (the conv feeding it).
fn bn_backward<T: Scalar>(tape: &mut Tape<T>, bn: &BatchNorm<T>, conv: &str, mode: Mode) -> Result<()> {
    let shape = tape.get(&format!("act.{conv}"))?.shape.clone();
    let d = bn_dims(&shape);
    let mut dx = tape.buffer(&format!("delta.{conv}"), &shape);
    let (mut dg, mut dbeta) = (Tensor::zeros(&[bn.c]), Tensor::zeros(&[bn.c]));
    let x = tape.get(&format!("act.{conv}"))?;
    let dy = tape.get(&format!("delta.{}", bn.name))?;
    match mode {
        Mode::Train => {
            let mean = tape.get(&format!("stat.{}.mean", bn.name))?;
            let var = tape.get(&format!("stat.{}.var", bn.name))?;
            batchnorm::backward_train(&d, &x.data, &dy.data, &bn.weight, &mean.data, &var.data, &mut dx.data, &mut dg.data, &mut dbeta.data);
        }
        Mode::Eval => batchnorm::backward_eval(&d, &x.data, &dy.data, &bn.weight, &bn.running_mean, &bn.running_var, &mut dx.data, &mut dg.data, &mut dbeta.data),
    }
    tape.set(format!("grad.{}.weight", bn.name), dg);
    tape.set(format!("grad.{}.bias", bn.name), dbeta);
    tape.set(format!("delta.{conv}"), dx);
    Ok(())
}

fn relu_forward<T: Scalar>(tape: &mut Tape<T>, input: &str, output: &str) {
    let shape = tape.get(input).expect("relu input on tape").shape.clone();
    let mut y = tape.buffer(output, &shape);
    let x = tape.get(input).expect("relu input on tape");
    activation::relu_forward(&x.data, &mut y.data);
    tape.set(output, y);
}

/// `delta.<z>` = `delta.<out>` ⊙ σ'(`act.<z>`) for `out = relu(z)`.
fn relu_backward<T: Scalar>(tape: &mut Tape<T>, z: &str, out: &str) -> Result<()> {
    let shape = tape.get(&format!("act.{out}"))?.shape.clone();
    let mut dx = tape.buffer(&format!("delta.{z}"), &shape);
    let y = tape.get(&format!("act.{out}"))?;
    let dy = tape.get(&format!("delta.{out}"))?;
    activation::relu_backward(&y.data, &dy.data, &mut dx.data);
    tape.set(format!("delta.{z}"), dx);
    Ok(())
}

fn block_forward<T: Scalar>(tape: &mut Tape<T>, blk: &mut Block<T>, input: &str, mode: Mode) -> Result<()> {
    let n = &blk.name;
    let act_in = format!("act.{input}");
    conv_forward(tape, &blk.conv1, &act_in)?;
    bn_forward(tape, &mut blk.bn1, &format!("act.{n}.conv1"), mode);
    relu_forward(tape, &format!("act.{n}.bn1"), &format!("act.{n}.relu1"));
    conv_forward(tape, &blk.conv2, &format!("act.{n}.relu1"))?;
    bn_forward(tape, &mut blk.bn2, &format!("act.{n}.conv2"), mode);
    let shortcut = match blk.downsample.as_mut() {
        Some((c, b)) => {
            conv_forward(tape, c, &act_in)?;
            bn_forward(tape, b, &format!("act.{}", c.name), mode);
            format!("act.{}", b.name)
        }
        None => act_in,
    };
    let shape = tape.get(&format!("act.{n}.bn2"))?.shape.clone();
    let mut sum = tape.buffer(&format!("act.{n}.add"), &shape);
    let main = tape.get(&format!("act.{n}.bn2"))?;
    let short = tape.get(&shortcut)?;
    if main.shape != short.shape {
        bail!("{n}: main branch {:?} and shortcut {:?} differ in shape", main.shape, short.shape);
    }
    activation::add(&main.data, &short.data, &mut sum.data);
    tape.set(format!("act.{n}.add"), sum);
    relu_forward(tape, &format!("act.{n}.add"), &format!("act.{n}"));
    Ok(())
}

/// From `delta.<block>`: every delta and grad inside the block, and `delta.<input>`, the
/// residual fork: the main branch's part (through conv1) plus the shortcut's part.
fn block_backward<T: Scalar>(tape: &mut Tape<T>, blk: &Block<T>, input: &str, mode: Mode) -> Result<()> {
    let n = &blk.name;
    relu_backward(tape, &format!("{n}.add"), n)?;
    copy(tape, &format!("delta.{n}.add"), &format!("delta.{n}.bn2"))?;
    bn_backward(tape, &blk.bn2, &format!("{n}.conv2"), mode)?;
    let name = format!("delta.{n}.relu1");
    let d_relu1 = conv_backward(tape, &blk.conv2, &format!("act.{n}.relu1"), Some(&name))?.expect("dx");
    tape.set(name, d_relu1);
    relu_backward(tape, &format!("{n}.bn1"), &format!("{n}.relu1"))?;
    bn_backward(tape, &blk.bn1, &format!("{n}.conv1"), mode)?;
    let act_in = format!("act.{input}");
    let mut d_in = conv_backward(tape, &blk.conv1, &act_in, Some(&format!("delta.{input}")))?.expect("dx");
    let d_short = match &blk.downsample {
        Some((c, b)) => {
            copy(tape, &format!("delta.{n}.add"), &format!("delta.{}", b.name))?;
            bn_backward(tape, b, &c.name, mode)?;
            let name = format!("dx.{}", c.name);
            let dx = conv_backward(tape, c, &act_in, Some(&name))?.expect("dx");
            tape.set(name.clone(), dx);
            name
        }
        None => format!("delta.{n}.add"),
    };
    activation::add_assign(&mut d_in.data, &tape.get(&d_short)?.data);
    tape.remove_prefix(&format!("dx.{}", blk.name));
    tape.set(format!("delta.{input}"), d_in);
    Ok(())
}

/// Writes a copy of tape tensor `from` under `to`.
fn copy<T: Scalar>(tape: &mut Tape<T>, from: &str, to: &str) -> Result<()> {
    let shape = tape.get(from)?.shape.clone();
    let mut t = tape.buffer(to, &shape);
    t.data.copy_from_slice(&tape.get(from)?.data);
    tape.set(to, t);
    Ok(())
}

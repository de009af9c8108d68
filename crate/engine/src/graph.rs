//! The network as data: a [`Config`] becomes an ordered list of [`Module`]s with PyTorch names,
//! kinds, inputs, parameters and output shapes. This is the one place that spells a module
//! name; the model's forward and backward order, its parameter and BN lists, the `state_dict`
//! check, the formula sites, the CLI and the page's network strip all read the graph.
//!
//! The family (He et al. 2016, §4.2; torchvision's `resnet.py` naming):
//!
//! ```text
//! input → conv1 3×3 → [bn1] → relu                                   stem, width w
//!       → layer{s}.{b}  for stage s = 1..S, block b = 0..n−1         BasicBlocks, width w·2^(s−1)
//!       → avgpool → fc → softmax (cross-entropy)
//!
//! BasicBlock P, input x:  h = [P.bn2](P.conv2(P.relu1([P.bn1](P.conv1(x)))))
//!   projection: P = relu(P.add(h, x))                  same shape
//!               P = relu(P.add(h, [P.downsample.1](P.downsample.0(x))))   shape changes (1×1 conv s2)
//!   identity:   P = relu(P.add(h, x))                  same shape
//!               P = relu(P.add(h, P.shortcut(x)))      option A: x[:, :, ::2, ::2], channels zero-padded
//!   none:       P = relu(h)                            a plain net
//! ```
//!
//! `[..]` modules exist only with BatchNorm on; with it off every conv has a bias. The first
//! block of every stage after the first has stride 2. Shapes are per image: `[C, H, W]`, or
//! `[K]` after the pool.

use crate::{bail, Result};
use serde::{Deserialize, Serialize};

/// What a block's shortcut is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shortcut {
    /// Identity where the shape stays, a 1×1 conv (+ BN) where it changes (torchvision's).
    #[default]
    Projection,
    /// The paper's option A: identity, or subsample + zero-padded channels; no parameters.
    Identity,
    /// No shortcut: a plain net.
    None,
}

impl Shortcut {
    pub const ALL: [Shortcut; 3] = [Shortcut::Projection, Shortcut::Identity, Shortcut::None];

    pub fn id(self) -> &'static str {
        match self {
            Shortcut::Projection => "projection",
            Shortcut::Identity => "identity",
            Shortcut::None => "none",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match Shortcut::ALL.into_iter().find(|k| k.id() == s) {
            Some(k) => Ok(k),
            None => bail!("shortcut must be projection, identity or none, not {s:?}"),
        }
    }
}

fn yes() -> bool {
    true
}

/// A member of the family. Older files' configs have no `shortcut`/`batchnorm`: they read as
/// projection shortcuts with BatchNorm, which is what they were.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub in_channels: usize,
    pub image_size: usize,
    pub num_classes: usize,
    /// Channels of each stage; stage 0 is also the stem's width.
    pub widths: Vec<usize>,
    /// BasicBlocks per stage (ResNet-8: 1,1,1; ResNet-20: 3,3,3).
    pub blocks: Vec<usize>,
    #[serde(default)]
    pub shortcut: Shortcut,
    #[serde(default = "yes")]
    pub batchnorm: bool,
}

impl Default for Config {
    /// ResNet-8 for MNIST.
    fn default() -> Self {
        Config::family(1, 16, Shortcut::Projection, true)
    }
}

/// The choices the page and the CLI offer for MNIST-shaped members (one source for both).
pub const DEPTH_N: std::ops::RangeInclusive<usize> = 1..=9;
pub const WIDTHS: [usize; 3] = [8, 16, 32];

/// A named member, as the page's architecture panel lists them.
#[derive(Clone, Debug, Serialize)]
pub struct Preset {
    pub id: &'static str,
    pub label: &'static str,
    pub config: Config,
}

pub fn presets() -> Vec<Preset> {
    use Shortcut::*;
    let p = |id, label, n, shortcut, bn| Preset { id, label, config: Config::family(n, 16, shortcut, bn) };
    vec![
        p("resnet8", "ResNet-8", 1, Projection, true),
        p("resnet20", "ResNet-20", 3, Projection, true),
        p("plain20", "Plain-20", 3, None, true),
        p("resnet20-nobn", "ResNet-20 without BN", 3, Projection, false),
        p("resnet56", "ResNet-56", 9, Projection, true),
        p("plain56", "Plain-56", 9, None, true),
    ]
}

impl Config {
    /// The MNIST member with `n` blocks per stage (depth 6n+2), base width `width`.
    pub fn family(n: usize, width: usize, shortcut: Shortcut, batchnorm: bool) -> Self {
        Config { in_channels: 1, image_size: 28, num_classes: 10, widths: vec![width, 2 * width, 4 * width], blocks: vec![n; 3], shortcut, batchnorm }
    }

    /// CIFAR-shaped ResNet-20: 3×32×32 input, three stages of three blocks.
    pub fn resnet20_cifar() -> Self {
        Config { in_channels: 3, image_size: 32, ..Config::family(3, 16, Shortcut::Projection, true) }
    }

    /// Weighted layers: the convs of the main branch and the fc (the paper's count, 6n+2).
    pub fn depth(&self) -> usize {
        2 * self.blocks.iter().sum::<usize>() + 2
    }

    /// A short id that names the member in URLs and file names: `resnet20`, `plain56`,
    /// `resnet20-a` (identity shortcuts), with `-w8`/`-w32` for a base width other than 16 and
    /// `-nobn` without BatchNorm. Only MNIST-shaped, three-stage, equal-depth members have one;
    /// the number of classes is the task's, not the member's (a 3-class ResNet-20 is `resnet20`).
    pub fn arch_id(&self) -> Option<String> {
        let n = self.blocks[0];
        let w = self.widths[0];
        if (Config { num_classes: 10, ..self.clone() }) != Config::family(n, w, self.shortcut, self.batchnorm) {
            return None;
        }
        let mut id = format!("{}{}", if self.shortcut == Shortcut::None { "plain" } else { "resnet" }, self.depth());
        if self.shortcut == Shortcut::Identity {
            id.push_str("-a");
        }
        if w != 16 {
            id.push_str(&format!("-w{w}"));
        }
        if !self.batchnorm {
            id.push_str("-nobn");
        }
        Some(id)
    }

    /// Reads an [`arch_id`](Config::arch_id): depth 6n+2 with n in [`DEPTH_N`], a width in
    /// [`WIDTHS`].
    pub fn from_arch_id(id: &str) -> Result<Self> {
        let help = || format!("an architecture is resnet<depth> or plain<depth> (depth 8, 14, 20, … 56), optionally with -a (identity shortcuts), -w8/-w32 and -nobn; not {id:?}");
        let mut parts = id.trim().split('-');
        let head = parts.next().unwrap_or_default().to_ascii_lowercase();
        let (mut shortcut, digits) = if let Some(d) = head.strip_prefix("resnet") {
            (Shortcut::Projection, d)
        } else if let Some(d) = head.strip_prefix("plain") {
            (Shortcut::None, d)
        } else {
            bail!("{}", help());
        };
        let Ok(depth) = digits.parse::<usize>() else { bail!("{}", help()) };
        if depth < 8 || (depth - 2) % 6 != 0 || !DEPTH_N.contains(&((depth - 2) / 6)) {
            bail!("depth {depth} is not in the family: 6n+2 with n = {}…{} (8, 14, 20, 26, 32, 38, 44, 50, 56)", DEPTH_N.start(), DEPTH_N.end());
        }
        let (mut width, mut bn) = (16, true);
        for p in parts {
            match p.to_ascii_lowercase().as_str() {
                "a" if shortcut == Shortcut::Projection => shortcut = Shortcut::Identity,
                "nobn" => bn = false,
                w if w.starts_with('w') && w[1..].parse::<usize>().is_ok_and(|v| WIDTHS.contains(&v)) => width = w[1..].parse().expect("checked"),
                _ => bail!("{}", help()),
            }
        }
        Ok(Config::family((depth - 2) / 6, width, shortcut, bn))
    }

    /// A name for people: "ResNet-20", "Plain-56 without BN", "ResNet-8 (option A)".
    pub fn label(&self) -> String {
        let mut s = format!("{}-{}", if self.shortcut == Shortcut::None { "Plain" } else { "ResNet" }, self.depth());
        if self.shortcut == Shortcut::Identity {
            s.push_str(" (identity shortcuts)");
        }
        if self.widths[0] != 16 {
            s.push_str(&format!(", width {}", self.widths[0]));
        }
        if !self.batchnorm {
            s.push_str(" without BN");
        }
        s
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
        if self.shortcut == Shortcut::Identity {
            let mut c = self.widths[0];
            for &w in &self.widths {
                if w < c || (w - c) % 2 != 0 {
                    bail!("config: identity (option A) shortcuts pad channels evenly on both sides, so each stage must be at least as wide as the one before and differ by an even number; widths {:?} are not", self.widths);
                }
                c = w;
            }
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

/// What a module computes. Shapes are the module's [`Module::shape`] (per image).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kind {
    /// The image.
    Input,
    Conv { c_in: usize, c_out: usize, k: usize, stride: usize, pad: usize, bias: bool },
    #[serde(rename = "bn")]
    BatchNorm { c: usize },
    Relu,
    /// `inputs[0] + inputs[1]`: the residual junction (main branch first).
    Add,
    /// Option A: `y[c, x, y] = x[c − pad_lo, stride·x, stride·y]`, zero for the padded channels.
    Shortcut { c_in: usize, c_out: usize, stride: usize, pad_lo: usize },
    #[serde(rename = "pool")]
    AvgPool,
    Fc { n_in: usize, n_out: usize },
    /// Softmax, trained with cross-entropy.
    #[serde(rename = "loss")]
    Softmax,
}

/// One parameter or buffer, by its PyTorch `state_dict` name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    /// false for BN running statistics (not trained by the optimizer)
    pub trainable: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Module {
    /// PyTorch name (`layer2.0.downsample.0`); `act.<name>` and `delta.<name>` on the tape.
    pub name: String,
    #[serde(flatten)]
    pub kind: Kind,
    /// Modules whose outputs it reads, in order.
    pub inputs: Vec<String>,
    /// Output shape per image: `[C, H, W]` or `[K]`.
    pub shape: Vec<usize>,
    pub params: Vec<ParamSpec>,
    /// The residual block it belongs to (the block's output module included).
    pub block: Option<String>,
    /// On a block's shortcut branch (`downsample.*`, the option-A `shortcut`).
    pub side: bool,
    /// One line for people: what the module computes.
    pub about: String,
}

/// A residual block as a whole: where it starts and ends, and its shortcut.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Block {
    pub name: String,
    /// The module whose output the block reads.
    pub input: String,
    /// The block's first conv (`<name>.conv1`).
    pub entry: String,
    /// What the shortcut is here: `projection` (1×1 conv), `identity` (the input itself or
    /// option A's subsample-and-pad), `none`.
    pub shortcut: Shortcut,
    /// Whether the shape changes (then projection means a 1×1 conv, identity means option A).
    pub reshapes: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub modules: Vec<Module>,
    pub blocks: Vec<Block>,
    /// The module a viewer shows first: the first conv of the first block that changes shape
    /// (a stride-2 conv whose input forks, where the formula pane has the most to say), or
    /// the first block's conv.
    pub focus: String,
}

/// The stem's conv, BN and classifier, as torchvision names them (a file's tensors are read by
/// these names too).
pub const STEM_CONV: &str = "conv1";
pub const STEM_BN: &str = "bn1";
pub const FC: &str = "fc";

/// The name of block `index` (from 0) of stage `stage` (from 1): torchvision's `layer2.0`.
pub fn block_name(stage: usize, index: usize) -> String {
    format!("layer{stage}.{index}")
}

/// A block's first conv: `layer2.0.conv1`.
pub fn block_entry(block: &str) -> String {
    format!("{block}.conv1")
}

impl Graph {
    /// The graph of a (valid) config.
    pub fn build(c: &Config) -> Graph {
        let mut b = Builder { g: Graph { modules: vec![], blocks: vec![], focus: String::new() }, bn: c.batchnorm, block: None, side: false };
        b.push("input", Kind::Input, &[], vec![c.in_channels, c.image_size, c.image_size], vec![], "the image".into());
        let w0 = c.widths[0];
        let x = b.conv(STEM_CONV, "input", w0, 3, 1, 1);
        let x = b.bn(STEM_BN, &x);
        let mut x = b.relu("relu", &x);
        for (s, (&width, &count)) in c.widths.iter().zip(&c.blocks).enumerate() {
            for i in 0..count {
                let p = block_name(s + 1, i);
                let stride = if s > 0 && i == 0 { 2 } else { 1 };
                x = b.basic_block(&p, &x, width, stride, c.shortcut);
            }
        }
        let k = b.shape(&x)[0];
        b.push("avgpool", Kind::AvgPool, &[&x], vec![k], vec![], format!("global average pool: the mean of each of the {k} channels"));
        let fc = Kind::Fc { n_in: k, n_out: c.num_classes };
        let params = vec![ParamSpec { name: format!("{FC}.weight"), shape: vec![c.num_classes, k], trainable: true }, ParamSpec { name: format!("{FC}.bias"), shape: vec![c.num_classes], trainable: true }];
        b.push(FC, fc, &["avgpool"], vec![c.num_classes], params, format!("fully connected {k}→{} (the logits)", c.num_classes));
        b.push("softmax", Kind::Softmax, &[FC], vec![c.num_classes], vec![], "class probabilities (trained with cross-entropy)".into());
        let mut g = b.g;
        g.focus = g.blocks.iter().find(|b| b.reshapes).or(g.blocks.first()).map(|b| b.entry.clone()).unwrap_or_else(|| STEM_CONV.into());
        g
    }

    pub fn module(&self, name: &str) -> Result<&Module> {
        match self.modules.iter().find(|m| m.name == name) {
            Some(m) => Ok(m),
            None => bail!("the model has no module '{name}'"),
        }
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.modules.iter().position(|m| m.name == name)
    }

    /// The modules that read `name`'s output, in forward order.
    pub fn consumers(&self, name: &str) -> Vec<&Module> {
        self.modules.iter().filter(|m| m.inputs.iter().any(|i| i == name)).collect()
    }

    pub fn block(&self, name: &str) -> Result<&Block> {
        match self.blocks.iter().find(|b| b.name == name) {
            Some(b) => Ok(b),
            None => bail!("no residual block '{name}'; the blocks are {}", self.blocks.iter().map(|b| b.name.as_str()).collect::<Vec<_>>().join(", ")),
        }
    }

    /// The modules of one kind (by its JSON name: `conv`, `bn`, `relu`, `add`, `shortcut`,
    /// `pool`, `fc`, `loss`, `input`).
    pub fn of_kind(&self, kind: &str) -> impl Iterator<Item = &Module> {
        let kind = kind.to_string();
        self.modules.iter().filter(move |m| m.kind_name() == kind)
    }

    /// The classifier (the one `fc` module).
    pub fn fc(&self) -> &Module {
        self.modules.iter().find(|m| matches!(m.kind, Kind::Fc { .. })).expect("every graph ends in an fc")
    }

    /// Every parameter and buffer, in module order.
    pub fn params(&self) -> impl Iterator<Item = &ParamSpec> {
        self.modules.iter().flat_map(|m| &m.params)
    }

    /// Number of parameter and buffer values.
    pub fn state_len(&self) -> u64 {
        self.params().map(|p| p.shape.iter().product::<usize>() as u64).sum()
    }

    /// Bytes of the tape a training pass over `batch` images fills (f32): every module's
    /// output and its δ. It is the bulk of a model's memory: ResNet-8 ≈ 1.7 MB an image,
    /// ResNet-20 4.2 MB, ResNet-56 11.5 MB (their weights: 0.3, 1.1 and 3.4 MB in all).
    pub fn tape_bytes(&self, batch: usize) -> u64 {
        let per_image: u64 = self.modules.iter().map(|m| 2 * m.shape.iter().product::<usize>() as u64).sum();
        4 * per_image * batch as u64
    }

    /// Floating-point operations of a training step, per image: the forward pass, the input
    /// gradient and the weight gradient of every conv and of the fc, each twice the forward's
    /// multiply-adds (BN, ReLU, the adds and pooling are memory-bound and not counted; `conv1`'s
    /// input gradient, which training skips, is counted: 0.4 % of ResNet-8's). ResNet-8:
    /// 56 MFLOP, the speed issue's figure. The bench page gives a step's speed as a fraction of
    /// the machine's peak with it.
    pub fn train_flops_per_image(&self) -> f64 {
        let macs: usize = self.modules.iter().map(|m| match m.kind {
            Kind::Conv { .. } => m.params[0].shape.iter().product::<usize>() * m.shape[1] * m.shape[2],
            Kind::Fc { .. } => m.params[0].shape.iter().product::<usize>(),
            _ => 0,
        }).sum();
        3.0 * 2.0 * macs as f64
    }
}

impl Module {
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Input => "input",
            Kind::Conv { .. } => "conv",
            Kind::BatchNorm { .. } => "bn",
            Kind::Relu => "relu",
            Kind::Add => "add",
            Kind::Shortcut { .. } => "shortcut",
            Kind::AvgPool => "pool",
            Kind::Fc { .. } => "fc",
            Kind::Softmax => "loss",
        }
    }
}

struct Builder {
    g: Graph,
    bn: bool,
    block: Option<String>,
    side: bool,
}

impl Builder {
    fn shape(&self, name: &str) -> &[usize] {
        &self.g.modules.iter().find(|m| m.name == name).expect("inputs are built first").shape
    }

    fn push(&mut self, name: &str, kind: Kind, inputs: &[&str], shape: Vec<usize>, params: Vec<ParamSpec>, about: String) -> String {
        let inputs = inputs.iter().map(|s| s.to_string()).collect();
        self.g.modules.push(Module { name: name.into(), kind, inputs, shape, params, block: self.block.clone(), side: self.side, about });
        name.into()
    }

    fn conv(&mut self, name: &str, input: &str, c_out: usize, k: usize, stride: usize, pad: usize) -> String {
        let s = self.shape(input).to_vec();
        let (c_in, h, w) = (s[0], s[1], s[2]);
        let out = |n: usize| (n + 2 * pad - k) / stride + 1;
        let bias = !self.bn;
        let mut params = vec![ParamSpec { name: format!("{name}.weight"), shape: vec![c_out, c_in, k, k], trainable: true }];
        if bias {
            params.push(ParamSpec { name: format!("{name}.bias"), shape: vec![c_out], trainable: true });
        }
        let about = format!("conv {k}×{k}, stride {stride}, padding {pad}, {c_in}→{c_out} channels{}", if bias { ", with bias" } else { "" });
        self.push(name, Kind::Conv { c_in, c_out, k, stride, pad, bias }, &[input], vec![c_out, out(h), out(w)], params, about)
    }

    /// A BN module after `input` when the net has BatchNorm; else `input` itself.
    fn bn(&mut self, name: &str, input: &str) -> String {
        if !self.bn {
            return input.into();
        }
        let s = self.shape(input).to_vec();
        let c = s[0];
        let p = |n: &str, t| ParamSpec { name: format!("{name}.{n}"), shape: vec![c], trainable: t };
        let params = vec![p("weight", true), p("bias", true), p("running_mean", false), p("running_var", false)];
        self.push(name, Kind::BatchNorm { c }, &[input], s, params, "BatchNorm: y = γ (x − μ)/√(σ² + ε) + β per channel (eval mode while inspecting: running statistics)".into())
    }

    fn relu(&mut self, name: &str, input: &str) -> String {
        let s = self.shape(input).to_vec();
        self.push(name, Kind::Relu, &[input], s, vec![], "ReLU: a = max(0, z)".into())
    }

    fn basic_block(&mut self, p: &str, x: &str, width: usize, stride: usize, shortcut: Shortcut) -> String {
        self.block = Some(p.into());
        let c_in = self.shape(x)[0];
        let h = self.conv(&block_entry(p), x, width, 3, stride, 1);
        let h = self.bn(&format!("{p}.bn1"), &h);
        let h = self.relu(&format!("{p}.relu1"), &h);
        let h = self.conv(&format!("{p}.conv2"), &h, width, 3, 1, 1);
        let h = self.bn(&format!("{p}.bn2"), &h);
        let reshapes = stride != 1 || c_in != width;
        let short = match (shortcut, reshapes) {
            (Shortcut::None, _) => None,
            (_, false) => Some(x.to_string()),
            (Shortcut::Projection, true) => {
                self.side = true;
                let s = self.conv(&format!("{p}.downsample.0"), x, width, 1, stride, 0);
                let s = self.bn(&format!("{p}.downsample.1"), &s);
                self.side = false;
                Some(s)
            }
            (Shortcut::Identity, true) => {
                self.side = true;
                let sh = self.shape(x).to_vec();
                let pad_lo = (width - c_in) / 2;
                let out = |n: usize| n.div_ceil(stride);
                let about = format!("identity shortcut, option A: every {}th row and column, channels {c_in}→{width} (zero-padded by {pad_lo} before and {} after)", stride, width - c_in - pad_lo);
                let s = self.push(&format!("{p}.shortcut"), Kind::Shortcut { c_in, c_out: width, stride, pad_lo }, &[x], vec![width, out(sh[1]), out(sh[2])], vec![], about);
                self.side = false;
                Some(s)
            }
        };
        let out = match short {
            Some(s) => {
                let shape = self.shape(&h).to_vec();
                let what = if s == x { "the block input" } else { s.as_str() };
                let add = self.push(&format!("{p}.add"), Kind::Add, &[&h, &s], shape, vec![], format!("residual junction: main branch ({h}) + shortcut ({what})"));
                self.relu(p, &add)
            }
            None => self.relu(p, &h),
        };
        if let Some(m) = self.g.modules.last_mut() {
            m.about = if shortcut == Shortcut::None { "block output: ReLU of the main branch (no shortcut)".into() } else { "block output: ReLU(main branch + shortcut)".into() };
        }
        self.g.blocks.push(Block { name: p.into(), input: x.into(), entry: block_entry(p), shortcut, reshapes });
        self.block = None;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_training_step_of_resnet8_is_56_mflop_an_image() {
        // multiply-adds of the forward pass, layer by layer (C_out·C_in·k²·H_out·W_out)
        let convs = [
            16 * 9 * 28 * 28,                                                   // conv1 (one channel in)
            2 * 16 * 16 * 9 * 28 * 28,                                          // layer1.0: conv1, conv2
            32 * 16 * 9 * 14 * 14 + 32 * 32 * 9 * 14 * 14 + 32 * 16 * 14 * 14, // layer2.0 + 1×1 projection
            64 * 32 * 9 * 7 * 7 + 64 * 64 * 9 * 7 * 7 + 64 * 32 * 7 * 7,       // layer3.0 + projection
            10 * 64,                                                            // fc
        ];
        let macs: usize = convs.iter().sum();
        assert_eq!(macs, 9_345_920);
        assert_eq!(Graph::build(&Config::default()).train_flops_per_image(), 6.0 * macs as f64);
        // deeper members do more work an image: ResNet-56 ≈ 10.3× ResNet-8 (576 MFLOP)
        let r56 = Graph::build(&Config::from_arch_id("resnet56").unwrap()).train_flops_per_image();
        assert!((10.0..10.5).contains(&(r56 / (6.0 * macs as f64))), "{r56}");
    }

    #[test]
    fn arch_ids_round_trip_and_name_the_paper_depths() {
        for n in DEPTH_N {
            for w in WIDTHS {
                for s in Shortcut::ALL {
                    for bn in [true, false] {
                        let c = Config::family(n, w, s, bn);
                        let id = c.arch_id().unwrap();
                        assert_eq!(Config::from_arch_id(&id).unwrap(), c, "{id}");
                    }
                }
            }
        }
        assert_eq!(Config::from_arch_id("resnet8").unwrap(), Config::default());
        assert_eq!(Config::from_arch_id("plain56").unwrap().depth(), 56);
        for bad in ["resnet9", "resnet62", "plain", "vgg16", "resnet20-w12", "plain20-a", "resnet20-x"] {
            assert!(Config::from_arch_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn graph_has_the_papers_weighted_layers_and_torchvision_names() {
        for p in presets() {
            let g = Graph::build(&p.config);
            let weighted = g.modules.iter().filter(|m| matches!(m.kind, Kind::Conv { .. } | Kind::Fc { .. }) && !m.side).count();
            assert_eq!(weighted, p.config.depth(), "{}", p.id);
            // every input is built before it is read
            for (i, m) in g.modules.iter().enumerate() {
                for inp in &m.inputs {
                    assert!(g.modules[..i].iter().any(|e| &e.name == inp), "{}: {} reads {} before it exists", p.id, m.name, inp);
                }
            }
        }
        let plain = Graph::build(&Config::from_arch_id("plain20").unwrap());
        assert!(plain.of_kind("add").next().is_none() && plain.of_kind("shortcut").next().is_none());
        let a = Graph::build(&Config::from_arch_id("resnet20-a-nobn").unwrap());
        assert_eq!(a.of_kind("shortcut").map(|m| m.name.as_str()).collect::<Vec<_>>(), ["layer2.0.shortcut", "layer3.0.shortcut"]);
        assert!(a.of_kind("bn").next().is_none());
        assert!(a.params().filter(|p| p.name.ends_with(".bias")).count() == 20, "19 convs and the fc have a bias");
        let sh = a.module("layer2.0.shortcut").unwrap();
        assert_eq!(sh.shape, vec![32, 14, 14]);
        assert_eq!(sh.kind, Kind::Shortcut { c_in: 16, c_out: 32, stride: 2, pad_lo: 8 });
    }
}

//! A cell of the tape → the terms of the formula that produced it, with live indices and numbers.
//!
//! The formula pane shows, for the tensor cell under the mouse, the formula of
//! `docs/backprop-formulas.md` with every index and every number filled in. The page never
//! recomputes maths: it asks [`formula`] with a [`Query`] and draws the [`Formula`] it gets
//! back. Every sum is recomputed here in f64 from the tape and the weights, independently of
//! the layers' fast paths, and [`Formula::result`] agrees with the tape's own value
//! [`Formula::value`] to float tolerance (the tests check it on every kind of query).
//!
//! Call it after `model.forward(..)` and `model.backward(..)`, before an optimizer step (the
//! formulas read the current weights; a step changes them and the tape no longer matches).
//!
//! The formulas (0-based indices, NCHW, conv weights `w[o,i,a,b]`, stride `s`, padding `p`,
//! kernel `K`; `σ'` is the ReLU derivative, `σ'(z) = 1 if z > 0 else 0`):
//!
//! | kind                | target                 | formula                                                                 |
//! |---------------------|------------------------|-------------------------------------------------------------------------|
//! | `conv_forward`      | `act.<conv>[n,o,x,y]`  | `Σ_i Σ_a Σ_b w[o,i,a,b] · a[n,i,s·x+a−p,s·y+b−p]` (+ bias`[o]`)          |
//! | `conv_input_delta`  | `delta.<z>[n,i,x,y]`   | `σ'(z) · ( Σ_o Σ_{x',y'} δ[n,o,x',y'] · w[o,i,x+p−s·x',y+p−s·y'] + other branch )` |
//! | `conv_weight_grad`  | `grad.<conv>.weight[o,i,a,b]` | `Σ_n Σ_{x',y'} δ[n,o,x',y'] · a[n,i,s·x'+a−p,s·y'+b−p]`          |
//! | `bn_input_delta`    | `delta.<conv>[n,c,x,y]`| train: `γ/(m·√(σ²+ε)) · (m·dy − Σdy − x̂·Σ(dy·x̂))`; eval: `γ/√(running_var+ε) · dy` |
//! | `residual_fork`     | `delta.<input>[n,c,x,y]` | `Σ_o Σ_{x',y'} δ_conv1 · w_conv1` (main branch) + shortcut part      |
//! | `shortcut_forward` | `act.<shortcut>[n,c,x,y]` | option A: `x[n, c−lo, s·x, s·y]` for `lo ≤ c < lo+C_in`, else 0 (zero padding) |
//! | `fc_forward`        | `act.fc[n,j]`          | `Σ_k W[j,k] · a[n,k] + b[j]`                                            |
//! | `fc_weight_grad`    | `grad.fc.weight[j,k]`  | `Σ_n δ[n,j] · a[n,k]`  (i.e. `∂C/∂W = δ aᵀ`)                            |
//! | `fc_input_delta`    | `delta.avgpool[n,k]`   | `Σ_j W[j,k] · δ[n,j]`                                                   |
//!
//! In `conv_input_delta` the conv's input `a = σ(z)` is a ReLU output: `relu` (z = `bn1`),
//! `<blk>.relu1` (z = `<blk>.bn1`) or a block output `<blk>` (z = `<blk>.add`), and the sum runs
//! over the `(x', y')` with `0 ≤ x+p−s·x' < K` and `0 ≤ y+p−s·y' < K`. When the input forks
//! (the conv is a block's `conv1` or `downsample.0`), the other branch's contribution at that
//! cell is reported as an added [`Part`]: the identity shortcut's `delta.<blk>.add`, or the
//! same Σ δ·w through the other conv, or option A's: `delta.<shortcut>` at the subsampled,
//! channel-shifted cell (nothing where the subsampling skips). The stem `conv1` reads the image, for which no δ is kept:
//! asking for its input delta is an error.
//!
//! How a result is put together, for every kind:
//!
//! ```text
//! result = factor.value · ( sum + Σ { part.value : part.adds } )      (factor absent ⇒ 1)
//! sum    = Σ over all `count` terms = Σ listed terms + rest
//! ```
//!
//! Terms are listed largest `|value|` first (ties in summation order), at most `top_k` of them
//! (pass [`ALL_TERMS`] to list every term); `rest` is the sum of the unlisted ones. Window
//! positions that fall into the zero padding are not terms (they are zero); `padding` counts
//! them (for `conv_forward` and `conv_weight_grad`; 0 elsewhere).
//!
//! JSON (serde), e.g. a query
//!
//! ```json
//! {"kind": "conv_input_delta", "conv": "layer2.0.conv1", "n": 0, "i": 3, "x": 4, "y": 6}
//! ```
//!
//! and its result
//!
//! ```json
//! {"kind": "conv_input_delta", "target": "delta.layer1.0.add", "index": [0, 3, 4, 6],
//!  "value": 1.2e-4, "result": 1.2e-4, "sum": 9.1e-5, "count": 32, "padding": 0,
//!  "factor_names": ["delta.layer2.0.conv1", "layer2.0.conv1.weight"],
//!  "terms": [{"index": [["o", 4], ["x'", 2], ["y'", 3], ["a", 1], ["b", 1]],
//!             "factors": [3.1e-5, -0.42], "at": [[0, 4, 2, 3], [4, 3, 1, 1]], "value": -1.3e-5}],
//!  "rest": 1.04e-4,
//!  "factor": {"name": "σ'(z)", "tensor": "act.layer1.0.add", "index": [0, 3, 4, 6], "z": 0.8, "value": 1.0},
//!  "parts": [{"name": "shortcut", "value": 2.9e-5, "tensor": null, "index": [], "adds": true,
//!             "note": "Σ_o Σ_{x',y'} δ·w through layer2.0.downsample.0 (32 terms)"}],
//!  "mode": "train"}
//! ```

use crate::layers::batchnorm::EPS;
use crate::layers::conv::ConvGeom;
use crate::graph::{Kind, Module};
use crate::model::{act, delta, Conv, Mode};
use crate::tensor::Tensor;
use crate::{bail, Result, ResNet, Scalar};
use serde::{Deserialize, Serialize};

mod note;
mod picture;
pub use note::{cell_note, CellNote, NoteKind};
pub use picture::{picture, Cell, Picture, Zero};

/// Pass as `top_k` to list every term.
pub const ALL_TERMS: usize = usize::MAX;

/// Which cell to explain. `x`, `y` are the row and column of the queried cell; channel and
/// image indices are named as in the formula (`o` output channel, `i` input channel, `c` a
/// BN or block channel, `n` the image, `j`/`k` the fc's output/input unit).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Query {
    /// `act.<conv>[n,o,x,y]` as a sum over `(i, a, b)`.
    ConvForward { conv: String, n: usize, o: usize, x: usize, y: usize },
    /// `delta.<z>[n,i,x,y]` for the ReLU pre-activation `z` whose output is the conv's input,
    /// as `σ'(z)` times a sum over `(o, x', y')`.
    ConvInputDelta { conv: String, n: usize, i: usize, x: usize, y: usize },
    /// `grad.<conv>.weight[o,i,a,b]` as a sum over `(n, x', y')`.
    ConvWeightGrad { conv: String, o: usize, i: usize, a: usize, b: usize },
    /// `delta.<conv feeding bn>[n,c,x,y]`: BN's backward at one value.
    BnInputDelta { bn: String, n: usize, c: usize, x: usize, y: usize },
    /// `delta.<block input>[n,c,x,y]`: main branch (through the block's conv1) + shortcut.
    ResidualFork { block: String, n: usize, c: usize, x: usize, y: usize },
    /// `act.<shortcut>[n,c,x,y]` of an option-A shortcut: one input cell, or zero padding.
    ShortcutForward { module: String, n: usize, c: usize, x: usize, y: usize },
    /// `act.fc[n,j]` as a sum over `k`.
    FcForward { n: usize, j: usize },
    /// `grad.fc.weight[j,k]` as a sum over `n`.
    FcWeightGrad { j: usize, k: usize },
    /// `delta.avgpool[n,k]` as a sum over `j`.
    FcInputDelta { n: usize, k: usize },
}

impl Query {
    /// The snake_case kind, as in the JSON `"kind"` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Query::ConvForward { .. } => "conv_forward",
            Query::ConvInputDelta { .. } => "conv_input_delta",
            Query::ConvWeightGrad { .. } => "conv_weight_grad",
            Query::BnInputDelta { .. } => "bn_input_delta",
            Query::ResidualFork { .. } => "residual_fork",
            Query::ShortcutForward { .. } => "shortcut_forward",
            Query::FcForward { .. } => "fc_forward",
            Query::FcWeightGrad { .. } => "fc_weight_grad",
            Query::FcInputDelta { .. } => "fc_input_delta",
        }
    }
}

/// One cell's formula, with numbers. See the module documentation for how the fields combine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Formula {
    /// The query's kind (`"conv_forward"`, ...).
    pub kind: String,
    /// Tape name of the explained tensor, e.g. `delta.layer1.0.bn1`.
    pub target: String,
    /// Index of the explained cell in `target`.
    pub index: Vec<usize>,
    /// The tape's value at that cell.
    pub value: f64,
    /// What the formula computes: `factor · (sum + Σ added parts)`.
    pub result: f64,
    /// Σ of all `count` terms (listed and unlisted), in f64, in summation order.
    pub sum: f64,
    /// Number of terms (window positions in the padding excluded).
    pub count: usize,
    /// Number of window positions that fall into the zero padding (not terms).
    pub padding: usize,
    /// What each entry of a term's `factors` is: a tensor name (`delta.layer2.0.conv1`, a
    /// parameter such as `layer2.0.conv1.weight`, `act.relu`) or, for BN, a named scalar.
    pub factor_names: Vec<String>,
    /// The largest `|value|` terms, largest first, at most `top_k`.
    pub terms: Vec<Term>,
    /// Σ of the terms not listed.
    pub rest: f64,
    /// `σ'(z)` for the input-delta of a conv (absent elsewhere).
    pub factor: Option<Factor>,
    /// Named scalars: added branches (`adds = true`), bias, and BN's γ, μ, σ², ε, m, ...
    pub parts: Vec<Part>,
    /// The mode of the pass the tape holds (`"train"`: BN used the batch's statistics;
    /// `"eval"`: its running ones).
    pub mode: Mode,
}

/// One term of a sum: the product of its `factors`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Term {
    /// The summation indices of this term, in formula order, e.g.
    /// `[("o", 4), ("x'", 3), ("y'", 4), ("a", 0), ("b", 0)]`.
    pub index: Vec<(String, usize)>,
    /// The factor values, in the order of [`Formula::factor_names`]; `value` is their product.
    pub factors: Vec<f64>,
    /// Where each factor sits in its tensor (full index, for highlighting); empty for a
    /// factor that is a derived scalar.
    pub at: Vec<Vec<usize>>,
    pub value: f64,
    /// A short reading of the term when the index alone does not say it (BN's summands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// The ReLU derivative factor `σ'(z)` of an input delta.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    /// `"σ'(z)"`
    pub name: String,
    /// Tape name of `z`, e.g. `act.layer1.0.bn1`.
    pub tensor: String,
    pub index: Vec<usize>,
    /// The value of `z` at that index.
    pub z: f64,
    /// `σ'(z)`: 1 or 0.
    pub value: f64,
}

/// A named scalar of the formula.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// Short name or symbol: `shortcut`, `main branch`, `bias`, `γ`, `μ`, `σ²`, `ε`, `m`, `dy`, ...
    pub name: String,
    pub value: f64,
    /// The tensor it is read from, when it is one cell of one (tape name or parameter name).
    pub tensor: Option<String>,
    /// Its index in `tensor` (empty otherwise).
    #[serde(default)]
    pub index: Vec<usize>,
    /// Whether it is added to `sum` to make the result (a branch, a bias).
    pub adds: bool,
    /// A sentence for the pane, when the name is not enough (English).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// The same sentence as a message key and its arguments, for a page that words it in its
    /// reader's language (`www/js/i18n/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub say: Option<Say>,
}

/// A sentence as a message key and the values it names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Say {
    pub key: String,
    pub args: Vec<String>,
}

fn say(key: &str, args: &[&dyn std::fmt::Display]) -> Option<Say> {
    Some(Say { key: key.into(), args: args.iter().map(|a| a.to_string()).collect() })
}

impl Part {
    fn scalar(name: &str, value: f64) -> Self {
        Part { name: name.into(), value, tensor: None, index: vec![], adds: false, note: String::new(), say: None }
    }
    fn cell(name: &str, value: f64, tensor: &str, index: &[usize]) -> Self {
        Part { name: name.into(), value, tensor: Some(tensor.into()), index: index.to_vec(), adds: false, note: String::new(), say: None }
    }
}

/// The formula of the cell `q` names, its terms listed up to `top_k` (see [`ALL_TERMS`]).
pub fn formula<T: Scalar>(model: &ResNet<T>, q: &Query, top_k: usize) -> Result<Formula> {
    if model.tape.iter().next().is_none() {
        bail!("the tape is empty: run a forward and backward pass first");
    }
    let f = match q {
        Query::ConvForward { conv, n, o, x, y } => conv_forward(model, conv, [*n, *o, *x, *y], top_k),
        Query::ConvInputDelta { conv, n, i, x, y } => conv_input_delta(model, conv, [*n, *i, *x, *y], top_k),
        Query::ConvWeightGrad { conv, o, i, a, b } => conv_weight_grad(model, conv, [*o, *i, *a, *b], top_k),
        Query::BnInputDelta { bn, n, c, x, y } => bn_input_delta(model, bn, [*n, *c, *x, *y], top_k),
        Query::ResidualFork { block, n, c, x, y } => residual_fork(model, block, [*n, *c, *x, *y], top_k),
        Query::ShortcutForward { module, n, c, x, y } => shortcut_forward(model, module, [*n, *c, *x, *y], top_k),
        Query::FcForward { n, j } => fc_forward(model, *n, *j, top_k),
        Query::FcWeightGrad { j, k } => fc_weight_grad(model, *j, *k, top_k),
        Query::FcInputDelta { n, k } => fc_input_delta(model, *n, *k, top_k),
    };
    f.map(|f| Formula { mode: model.mode, ..f })
}

// ---- reading the tape ------------------------------------------------------------------------

/// A tape tensor, with an error that says which pass to run when it is missing.
fn tape<'a, T: Scalar>(model: &'a ResNet<T>, name: &str) -> Result<&'a Tensor<T>> {
    match model.tape.get(name) {
        Ok(t) if t.data.len() == t.shape.iter().product::<usize>() => Ok(t),
        Ok(t) => bail!("'{name}' on the tape holds {} values for shape {:?}", t.data.len(), t.shape),
        Err(_) if name.starts_with("delta.") || name.starts_with("grad.") => {
            bail!("'{name}' is not on the tape: run a backward pass after the forward pass")
        }
        Err(_) if name.starts_with("stat.") => {
            bail!("'{name}' is not on the tape: batch statistics are kept by a training-mode forward pass")
        }
        Err(e) => Err(e),
    }
}

/// A tape tensor that must have exactly `shape`.
fn tape_shaped<'a, T: Scalar>(model: &'a ResNet<T>, name: &str, shape: &[usize]) -> Result<&'a Tensor<T>> {
    let t = tape(model, name)?;
    if t.shape != shape {
        bail!("'{name}' has shape {:?} but the model expects {:?}: the tape is out of date, run a forward and backward pass", t.shape, shape);
    }
    Ok(t)
}

/// Value at a row-major index (shapes are checked before; NaN rather than a panic otherwise).
fn val<T: Scalar>(t: &Tensor<T>, idx: &[usize]) -> f64 {
    let off = idx.iter().zip(&t.shape).fold(0, |o, (&i, &n)| o * n + i);
    t.data.get(off).map_or(f64::NAN, |v| v.f64())
}

fn wval<T: Scalar>(w: &[T], off: usize) -> f64 {
    w.get(off).map_or(f64::NAN, |v| v.f64())
}

fn check(axis: &str, v: usize, len: usize, ctx: impl FnOnce() -> String) -> Result<()> {
    if v >= len {
        bail!("{axis} = {v} is out of range: {}", ctx());
    }
    Ok(())
}

fn check_n(n: usize, batch: usize) -> Result<()> {
    check("n", n, batch, || format!("the batch has {batch} image{}", if batch == 1 { "" } else { "s" }))
}

/// Checks `[n, c, x, y]` against a `[N, C, H, W]` tensor called `what`.
fn check_cell(idx: [usize; 4], shape: &[usize], caxis: &str, what: &str) -> Result<()> {
    if shape.len() != 4 {
        bail!("{what} has shape {shape:?}, expected [N, C, H, W]: the tape is out of date");
    }
    let [n, c, x, y] = idx;
    check_n(n, shape[0])?;
    check(caxis, c, shape[1], || format!("{what} has {} channels", shape[1]))?;
    check("x", x, shape[2], || format!("{what} is {}×{} (x, y count from 0)", shape[2], shape[3]))?;
    check("y", y, shape[3], || format!("{what} is {}×{} (x, y count from 0)", shape[2], shape[3]))
}

// ---- where a conv sits -----------------------------------------------------------------------

/// Another module reading the same tensor as the conv being explained: its part of the δ.
enum Other {
    /// The junction reads it directly (a same-shape identity shortcut): `delta.<add>`.
    Identity { add: String },
    /// Option A's subsample-and-pad reads it: `delta.<shortcut>` at the mapped cell, or nothing.
    OptionA { module: String, stride: usize, pad_lo: usize },
    /// Another conv reads it (`downsample.0` for `conv1`, and back).
    Conv { conv: String, name: &'static str },
}

struct Site<'a, T> {
    conv: &'a Conv<T>,
    /// Module whose output the conv reads (`input`, `relu`, `<blk>.relu1`, `<blk>`).
    input: String,
    /// The ReLU pre-activation whose output is the input (None for the image).
    z: Option<String>,
    /// The other modules reading the same input.
    others: Vec<Other>,
}

/// Where conv `name` sits, asked of the graph: what it reads, the ReLU behind that, and who
/// else reads it.
fn site<'a, T: Scalar>(model: &'a ResNet<T>, name: &str) -> Result<Site<'a, T>> {
    let conv = model.conv(name)?;
    let g = &model.graph;
    let input = g.module(name)?.inputs[0].clone();
    let src = g.module(&input)?;
    let z = matches!(src.kind, Kind::Relu).then(|| src.inputs[0].clone());
    let others = g.consumers(&input).into_iter().filter(|m| m.name != name).filter_map(|m| other(m)).collect();
    Ok(Site { conv, input, z, others })
}

fn other(m: &Module) -> Option<Other> {
    match m.kind {
        Kind::Add => Some(Other::Identity { add: m.name.clone() }),
        Kind::Shortcut { stride, pad_lo, .. } => Some(Other::OptionA { module: m.name.clone(), stride, pad_lo }),
        Kind::Conv { .. } => Some(Other::Conv { conv: m.name.clone(), name: if m.side { "shortcut" } else { "main branch" } }),
        _ => None,
    }
}

/// Where a conv sits, for a page that draws the formulas: its geometry, the module it reads,
/// the ReLU pre-activation `z` behind that input (whose δ `conv_input_delta` explains), the
/// BN after it and the other branch reading the same input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvSite {
    pub name: String,
    pub c_in: usize,
    pub c_out: usize,
    pub k: usize,
    pub stride: usize,
    pub padding: usize,
    /// Module whose output the conv reads (`input`, `relu`, `<blk>.relu1`, `<blk>`).
    pub input: String,
    /// The ReLU pre-activation behind the input (`None` for the image).
    pub z: Option<String>,
    /// The BatchNorm module that normalises the conv's output (`None` in a net without BN).
    pub bn: Option<String>,
    /// Whether the conv has a bias (nets without BN).
    pub bias: bool,
    /// The other conv reading the same input (a block's `conv1` ↔ `downsample.0`), if any.
    pub sibling: Option<String>,
    /// The other module reading the same input, if any: a conv, an `add` (identity shortcut)
    /// or an option-A `shortcut`.
    pub other: Option<String>,
    /// On a block's shortcut branch.
    pub side: bool,
}

/// Every conv's [`ConvSite`], in forward order.
pub fn conv_sites<T: Scalar>(model: &ResNet<T>) -> Result<Vec<ConvSite>> {
    let g = &model.graph;
    g.of_kind("conv")
        .map(|m| {
            let s = site(model, &m.name)?;
            let bn = g.consumers(&m.name).into_iter().find(|c| matches!(c.kind, Kind::BatchNorm { .. })).map(|c| c.name.clone());
            let sibling = s.others.iter().find_map(|o| if let Other::Conv { conv, .. } = o { Some(conv.clone()) } else { None });
            let other = s.others.first().map(|o| match o {
                Other::Identity { add } => add.clone(),
                Other::OptionA { module, .. } => module.clone(),
                Other::Conv { conv, .. } => conv.clone(),
            });
            let c = s.conv;
            Ok(ConvSite { name: c.name.clone(), c_in: c.c_in, c_out: c.c_out, k: c.k, stride: c.stride, padding: c.pad, input: s.input, z: s.z, bn, bias: c.bias.is_some(), sibling, other, side: m.side })
        })
        .collect()
}

/// The conv's geometry and its input tensor from the tape.
fn conv_input<'a, T: Scalar>(model: &'a ResNet<T>, conv: &Conv<T>, input: &str) -> Result<(ConvGeom, &'a Tensor<T>)> {
    let x = tape(model, &format!("act.{input}"))?;
    let g = conv.geom(&x.shape)?;
    if conv.weight.len() != g.c_out * g.ckk() {
        bail!("{}: the weight holds {} values, expected {}", conv.name, conv.weight.len(), g.c_out * g.ckk());
    }
    Ok((g, x))
}

fn out_shape(g: &ConvGeom) -> [usize; 4] {
    [g.n, g.c_out, g.h_out, g.w_out]
}

/// The terms of `∂C/∂input[n,i,x,y]` through one conv: `δ[n,o,x',y'] · w[o,i,x+p−s·x',y+p−s·y']`
/// over the `(o, x', y')` whose window covers `(x, y)`.
fn conv_dx_terms<T: Scalar>(model: &ResNet<T>, conv: &Conv<T>, input: &str, idx: [usize; 4]) -> Result<Vec<Term>> {
    let (g, x_in) = conv_input(model, conv, input)?;
    check_cell(idx, &x_in.shape, "i", &format!("the input of {} (act.{input})", conv.name))?;
    let delta = tape_shaped(model, &format!("delta.{}", conv.name), &out_shape(&g))?;
    let [n, i, x, y] = idx;
    let (k, s, p) = (g.k as isize, g.stride as isize, g.pad as isize);
    // (x', a) with a = x + p − s·x' in [0, K)
    let span = |pos: usize, len: usize| -> Vec<(usize, usize)> {
        (0..len).filter_map(|o| {
            let a = pos as isize + p - s * o as isize;
            (0..k).contains(&a).then_some((o, a as usize))
        }).collect()
    };
    let (rows, cols) = (span(x, g.h_out), span(y, g.w_out));
    let mut terms = Vec::with_capacity(g.c_out * rows.len() * cols.len());
    for o in 0..g.c_out {
        for &(xo, a) in &rows {
            for &(yo, b) in &cols {
                let d = val(delta, &[n, o, xo, yo]);
                let w = wval(&conv.weight, ((o * g.c_in + i) * g.k + a) * g.k + b);
                terms.push(Term {
                    index: named(&[("o", o), ("x'", xo), ("y'", yo), ("a", a), ("b", b)]),
                    factors: vec![d, w],
                    at: vec![vec![n, o, xo, yo], vec![o, i, a, b]],
                    value: d * w,
                    label: None,
                });
            }
        }
    }
    Ok(terms)
}

fn named(ix: &[(&str, usize)]) -> Vec<(String, usize)> {
    ix.iter().map(|&(k, v)| (k.to_string(), v)).collect()
}

/// The parts the other branches of a forked input add at `idx`.
fn other_parts<T: Scalar>(model: &ResNet<T>, site: &Site<T>, idx: [usize; 4]) -> Result<Vec<Part>> {
    let idx_v = idx.to_vec();
    let shape = tape(model, &format!("act.{}", site.input))?.shape.clone();
    site.others
        .iter()
        .map(|o| {
            Ok(match o {
                Other::Identity { add } => {
                    let name = format!("delta.{add}");
                    let t = tape_shaped(model, &name, &shape)?;
                    Part { adds: true, note: format!("δ of {add} at this cell: the identity shortcut passes it unchanged"), say: say("identity_passes", &[add]), ..Part::cell("shortcut", val(t, &idx), &name, &idx_v) }
                }
                Other::OptionA { module, stride, pad_lo } => {
                    let name = format!("delta.{module}");
                    let t = tape(model, &name)?;
                    let [n, i, x, y] = idx;
                    if x % stride != 0 || y % stride != 0 {
                        Part {
                            adds: true,
                            note: format!("0: {module} keeps every {stride}th row and column (x[:, :, ::{stride}, ::{stride}]), and skips ({x}, {y}), so no δ comes back this way"),
                            say: say("option_a_skips", &[module, stride, &x, &y]),
                            ..Part::scalar("shortcut", 0.0)
                        }
                    } else {
                        let at = [n, i + pad_lo, x / stride, y / stride];
                        Part {
                            adds: true,
                            note: format!("δ of {module} at channel {} = {i} + {pad_lo} (the zero-padded channels before it), row {x}/{stride}, column {y}/{stride}: option A subsamples and pads, and passes δ back unchanged", i + pad_lo),
                            say: say("option_a_at", &[module, &(i + pad_lo), &i, pad_lo, &x, stride, &y]),
                            ..Part::cell("shortcut", val(t, &at), &name, &at)
                        }
                    }
                }
                Other::Conv { conv, name } => {
                    let c = model.conv(conv)?;
                    let terms = conv_dx_terms(model, c, &site.input, idx)?;
                    let value = terms.iter().map(|t| t.value).sum();
                    Part { adds: true, note: format!("Σ_o Σ_{{x',y'}} δ·w through {conv} ({} terms)", terms.len()), say: say("through_conv", &[conv, &terms.len()]), ..Part::scalar(name, value) }
                }
            })
        })
        .collect()
}

// ---- the formulas ----------------------------------------------------------------------------

struct Draft {
    kind: &'static str,
    target: String,
    index: Vec<usize>,
    value: f64,
    factor_names: Vec<String>,
    terms: Vec<Term>,
    padding: usize,
    factor: Option<Factor>,
    parts: Vec<Part>,
}

impl Draft {
    fn new(kind: &'static str, target: String, index: &[usize], value: f64, factor_names: Vec<String>, terms: Vec<Term>) -> Self {
        Draft { kind, target, index: index.to_vec(), value, factor_names, terms, padding: 0, factor: None, parts: vec![] }
    }

    /// Sums in f64, lists the `top_k` largest terms, and composes the result.
    fn finish(self, top_k: usize) -> Formula {
        let Draft { kind, target, index, value, factor_names, terms, padding, factor, parts } = self;
        let sum: f64 = terms.iter().map(|t| t.value).sum();
        let count = terms.len();
        let mut order: Vec<usize> = (0..count).collect();
        // stable: equal magnitudes keep summation order; NaN sorts first, so it is seen
        order.sort_by(|&a, &b| terms[b].value.abs().total_cmp(&terms[a].value.abs()));
        let keep = top_k.min(count);
        let mut listed = vec![false; count];
        order[..keep].iter().for_each(|&i| listed[i] = true);
        let rest = terms.iter().zip(&listed).filter(|(_, &l)| !l).map(|(t, _)| t.value).sum();
        let mut slots: Vec<Option<Term>> = terms.into_iter().map(Some).collect();
        let terms = order[..keep].iter().filter_map(|&i| slots[i].take()).collect();
        let added: f64 = parts.iter().filter(|p| p.adds).map(|p| p.value).sum();
        let result = factor.as_ref().map_or(1.0, |f| f.value) * (sum + added);
        Formula { kind: kind.into(), target, index, value, result, sum, count, padding, factor_names, terms, rest, factor, parts, mode: Mode::Eval }
    }
}

fn conv_forward<T: Scalar>(model: &ResNet<T>, name: &str, idx: [usize; 4], top_k: usize) -> Result<Formula> {
    let site = site(model, name)?;
    let conv = site.conv;
    let (g, x_in) = conv_input(model, conv, &site.input)?;
    let target = format!("act.{name}");
    let out = tape_shaped(model, &target, &out_shape(&g))?;
    check_cell(idx, &out.shape, "o", &target)?;
    let [n, o, x, y] = idx;
    let (s, p) = (g.stride as isize, g.pad as isize);
    let mut terms = Vec::with_capacity(g.ckk());
    let mut padding = 0;
    for i in 0..g.c_in {
        for a in 0..g.k {
            for b in 0..g.k {
                let r = s * x as isize + a as isize - p;
                let c = s * y as isize + b as isize - p;
                if r < 0 || c < 0 || r >= g.h as isize || c >= g.w as isize {
                    padding += 1;
                    continue;
                }
                let (r, c) = (r as usize, c as usize);
                let w = wval(&conv.weight, ((o * g.c_in + i) * g.k + a) * g.k + b);
                let av = val(x_in, &[n, i, r, c]);
                terms.push(Term {
                    index: named(&[("i", i), ("a", a), ("b", b)]),
                    factors: vec![w, av],
                    at: vec![vec![o, i, a, b], vec![n, i, r, c]],
                    value: w * av,
                    label: None,
                });
            }
        }
    }
    let names = vec![format!("{name}.weight"), format!("act.{}", site.input)];
    let mut d = Draft::new("conv_forward", target, &idx, val(out, &idx), names, terms);
    d.padding = padding;
    if let Some(bias) = &conv.bias {
        d.parts.push(Part { adds: true, ..Part::cell("bias", wval(bias, o), &format!("{name}.bias"), &[o]) });
    }
    Ok(d.finish(top_k))
}

fn conv_input_delta<T: Scalar>(model: &ResNet<T>, name: &str, idx: [usize; 4], top_k: usize) -> Result<Formula> {
    let site = site(model, name)?;
    let Some(z) = site.z.clone() else {
        bail!(
            "{name} reads the input image, and no δ is kept for the image (nothing below it is trained): \
             ask for {name}'s forward or weight gradient, or for the input delta of another conv"
        );
    };
    let terms = conv_dx_terms(model, site.conv, &site.input, idx)?;
    let shape = tape(model, &format!("act.{}", site.input))?.shape.clone();
    let target = format!("delta.{z}");
    let t = tape_shaped(model, &target, &shape)?;
    let z_name = format!("act.{z}");
    let zv = val(tape_shaped(model, &z_name, &shape)?, &idx);
    let names = vec![format!("delta.{name}"), format!("{name}.weight")];
    let mut d = Draft::new("conv_input_delta", target, &idx, val(t, &idx), names, terms);
    d.factor = Some(Factor { name: "σ'(z)".into(), tensor: z_name, index: idx.to_vec(), z: zv, value: if zv > 0.0 { 1.0 } else { 0.0 } });
    d.parts.extend(other_parts(model, &site, idx)?);
    Ok(d.finish(top_k))
}

fn conv_weight_grad<T: Scalar>(model: &ResNet<T>, name: &str, idx: [usize; 4], top_k: usize) -> Result<Formula> {
    let site = site(model, name)?;
    let conv = site.conv;
    let (g, x_in) = conv_input(model, conv, &site.input)?;
    let [o, i, a, b] = idx;
    check("o", o, g.c_out, || format!("{name} has {} output channels", g.c_out))?;
    check("i", i, g.c_in, || format!("{name} has {} input channels", g.c_in))?;
    check("a", a, g.k, || format!("{name}'s kernel is {}×{} (a, b count from 0)", g.k, g.k))?;
    check("b", b, g.k, || format!("{name}'s kernel is {}×{} (a, b count from 0)", g.k, g.k))?;
    let target = format!("grad.{name}.weight");
    let grad = tape_shaped(model, &target, &conv.weight_shape())?;
    let delta = tape_shaped(model, &format!("delta.{name}"), &out_shape(&g))?;
    let (s, p) = (g.stride as isize, g.pad as isize);
    let mut terms = Vec::new();
    let mut padding = 0;
    for n in 0..g.n {
        for xo in 0..g.h_out {
            for yo in 0..g.w_out {
                let r = s * xo as isize + a as isize - p;
                let c = s * yo as isize + b as isize - p;
                if r < 0 || c < 0 || r >= g.h as isize || c >= g.w as isize {
                    padding += 1;
                    continue;
                }
                let (r, c) = (r as usize, c as usize);
                let dv = val(delta, &[n, o, xo, yo]);
                let av = val(x_in, &[n, i, r, c]);
                terms.push(Term {
                    index: named(&[("n", n), ("x'", xo), ("y'", yo)]),
                    factors: vec![dv, av],
                    at: vec![vec![n, o, xo, yo], vec![n, i, r, c]],
                    value: dv * av,
                    label: None,
                });
            }
        }
    }
    let names = vec![format!("delta.{name}"), format!("act.{}", site.input)];
    let mut d = Draft::new("conv_weight_grad", target, &idx, val(grad, &idx), names, terms);
    d.padding = padding;
    Ok(d.finish(top_k))
}

fn bn_input_delta<T: Scalar>(model: &ResNet<T>, name: &str, idx: [usize; 4], top_k: usize) -> Result<Formula> {
    let bn = model.batchnorm(name)?;
    // the module feeding it (a conv)
    let conv = model.graph.module(name)?.inputs[0].clone();
    let x_name = format!("act.{conv}");
    let x_t = tape(model, &x_name)?;
    let shape = x_t.shape.clone();
    if shape.len() != 4 || shape[1] != bn.c || bn.weight.len() != bn.c {
        bail!("'{x_name}' has shape {:?}, which does not fit {name} with {} channels: the tape is out of date", shape, bn.c);
    }
    check_cell(idx, &shape, "c", &x_name)?;
    let c = idx[1];
    let target = format!("delta.{conv}");
    let dx_t = tape_shaped(model, &target, &shape)?;
    let dy_name = format!("delta.{name}");
    let dy_t = tape_shaped(model, &dy_name, &shape)?;
    let gamma = wval(&bn.weight, c);
    let dy = val(dy_t, &idx);
    let xv = val(x_t, &idx);
    let value = val(dx_t, &idx);
    let pname = format!("{name}.weight");
    match model.mode {
        Mode::Train => {
            let (mn, vn) = (format!("stat.{name}.mean"), format!("stat.{name}.var"));
            let mu = val(tape_shaped(model, &mn, &[bn.c])?, &[c]);
            let var = val(tape_shaped(model, &vn, &[bn.c])?, &[c]);
            let (hw, batch) = (shape[2] * shape[3], shape[0]);
            let m = (batch * hw) as f64;
            let inv_std = 1.0 / (var + EPS).sqrt();
            let xhat = (xv - mu) * inv_std;
            let (mut sum_dy, mut sum_dy_xhat) = (0.0, 0.0);
            for n in 0..batch {
                let off = (n * shape[1] + c) * hw;
                for q in off..off + hw {
                    let (d, xq) = (dy_t.data.get(q).map_or(f64::NAN, |v| v.f64()), x_t.data.get(q).map_or(f64::NAN, |v| v.f64()));
                    sum_dy += d;
                    sum_dy_xhat += d * (xq - mu) * inv_std;
                }
            }
            let k = gamma * inv_std / m;
            let summands = [("m·dy", m * dy), ("−Σdy", -sum_dy), ("−x̂·Σ(dy·x̂)", -xhat * sum_dy_xhat)];
            let terms = summands
                .iter()
                .enumerate()
                .map(|(t, &(label, s))| Term {
                    index: named(&[("summand", t)]),
                    factors: vec![k, s],
                    at: vec![vec![], vec![]],
                    value: k * s,
                    label: Some(label.into()),
                })
                .collect();
            let names = vec!["γ/(m·√(σ²+ε))".to_string(), "summand".to_string()];
            let mut d = Draft::new("bn_input_delta", target, &idx, value, names, terms);
            d.parts = vec![
                Part::cell("γ", gamma, &pname, &[c]),
                Part::cell("μ", mu, &mn, &[c]),
                Part::cell("σ²", var, &vn, &[c]),
                Part::scalar("ε", EPS),
                Part { note: format!("values per channel: N·H·W = {batch}·{}·{}", shape[2], shape[3]), say: say("bn_m", &[&batch, &shape[2], &shape[3]]), ..Part::scalar("m", m) },
                Part::cell("x", xv, &x_name, &idx),
                Part { note: "(x − μ)/√(σ²+ε)".into(), say: say("bn_xhat", &[]), ..Part::scalar("x̂", xhat) },
                Part::cell("dy", dy, &dy_name, &idx),
                Part { note: format!("Σ of {dy_name} over channel {c}"), say: say("bn_sum", &[&dy_name, &c]), ..Part::scalar("Σdy", sum_dy) },
                Part { note: format!("Σ of {dy_name}·x̂ over channel {c}"), say: say("bn_sum_xhat", &[&dy_name, &c]), ..Part::scalar("Σdy·x̂", sum_dy_xhat) },
                Part::scalar("γ/(m·√(σ²+ε))", k),
            ];
            Ok(d.finish(top_k))
        }
        Mode::Eval => {
            let (mn, vn) = (format!("running.{name}.running_mean"), format!("running.{name}.running_var"));
            let mu = val(tape_shaped(model, &mn, &[bn.c])?, &[c]);
            let var = val(tape_shaped(model, &vn, &[bn.c])?, &[c]);
            let k = gamma / (var + EPS).sqrt();
            let term = Term { index: vec![], factors: vec![k, dy], at: vec![vec![], idx.to_vec()], value: k * dy, label: None };
            let names = vec!["γ/√(running_var+ε)".to_string(), dy_name.clone()];
            let mut d = Draft::new("bn_input_delta", target, &idx, value, names, vec![term]);
            d.parts = vec![
                Part::cell("γ", gamma, &pname, &[c]),
                Part { note: "not used by the derivative in eval mode (BN is a fixed affine map)".into(), say: say("bn_eval_unused", &[]), ..Part::cell("running_mean", mu, &mn, &[c]) },
                Part::cell("running_var", var, &vn, &[c]),
                Part::scalar("ε", EPS),
                Part::cell("dy", dy, &dy_name, &idx),
                Part::scalar("γ/√(running_var+ε)", k),
            ];
            Ok(d.finish(top_k))
        }
    }
}

fn residual_fork<T: Scalar>(model: &ResNet<T>, name: &str, idx: [usize; 4], top_k: usize) -> Result<Formula> {
    let blk = model.graph.block(name)?;
    let site = site(model, &blk.entry)?;
    let terms = conv_dx_terms(model, site.conv, &site.input, idx)?;
    let shape = tape(model, &format!("act.{}", site.input))?.shape.clone();
    let target = format!("delta.{}", site.input);
    let t = tape_shaped(model, &target, &shape)?;
    let names = vec![format!("delta.{}", blk.entry), format!("{}.weight", blk.entry)];
    let mut d = Draft::new("residual_fork", target, &idx, val(t, &idx), names, terms);
    d.parts.extend(other_parts(model, &site, idx)?);
    Ok(d.finish(top_k))
}

fn shortcut_forward<T: Scalar>(model: &ResNet<T>, name: &str, idx: [usize; 4], top_k: usize) -> Result<Formula> {
    let m = model.graph.module(name)?;
    let Kind::Shortcut { c_in, stride, pad_lo, .. } = m.kind else {
        bail!("{name} is not an option-A shortcut; the shortcuts of this model are: {}", model.graph.of_kind("shortcut").map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "))
    };
    let target = format!("act.{name}");
    let out = tape(model, &target)?;
    check_cell(idx, &out.shape, "c", &target)?;
    let [n, c, x, y] = idx;
    let input = format!("act.{}", m.inputs[0]);
    let a = tape(model, &input)?;
    let mut d = if c < pad_lo || c >= pad_lo + c_in {
        let mut d = Draft::new("shortcut_forward", target.clone(), &idx, val(out, &idx), vec![input.clone()], vec![]);
        let (lo_end, hi_start, last) = (pad_lo.saturating_sub(1), pad_lo + c_in, out.shape[1] - 1);
        d.parts.push(Part { note: format!("channel {c} is zero padding: option A fills channels 0…{lo_end} and {hi_start}…{last} with zeros"), say: say("option_a_padding", &[&c, &lo_end, &hi_start, &last]), ..Part::scalar("padding", 0.0) });
        d
    } else {
        let at = vec![n, c - pad_lo, stride * x, stride * y];
        let v = val(a, &at);
        let term = Term { index: named(&[("i", c - pad_lo)]), factors: vec![v], at: vec![at.clone()], value: v, label: None };
        let mut d = Draft::new("shortcut_forward", target.clone(), &idx, val(out, &idx), vec![input.clone()], vec![term]);
        d.parts.push(Part { note: format!("the block input at channel {c} − {pad_lo}, row {stride}·{x}, column {stride}·{y}: every {stride}th row and column is kept"), say: say("option_a_input_cell", &[&c, &pad_lo, &stride, &x, &y]), ..Part::cell("input cell", v, &input, &at) });
        d
    };
    d.padding = 0;
    Ok(d.finish(top_k))
}

/// The module the fc reads (the pool).
fn fc_in<T: Scalar>(model: &ResNet<T>) -> String {
    model.graph.fc().inputs[0].clone()
}

/// The fc's tensors, checked: (act.avgpool [N, In], batch size).
fn fc_input<T: Scalar>(model: &ResNet<T>) -> Result<(&Tensor<T>, usize)> {
    let a = tape(model, &act(&fc_in(model)))?;
    let fc = model.fc();
    if a.shape.len() != 2 || a.shape[1] != fc.n_in || fc.weight.len() != fc.n_in * fc.n_out || fc.bias.len() != fc.n_out {
        bail!("'{}' has shape {:?}, which does not fit {} ({} → {}): the tape is out of date", act(&fc_in(model)), a.shape, fc.name, fc.n_in, fc.n_out);
    }
    Ok((a, a.shape[0]))
}

fn fc_forward<T: Scalar>(model: &ResNet<T>, n: usize, j: usize, top_k: usize) -> Result<Formula> {
    let (a, batch) = fc_input(model)?;
    let fc = model.fc();
    check_n(n, batch)?;
    check("j", j, fc.n_out, || format!("fc has {} outputs (classes)", fc.n_out))?;
    let z = tape_shaped(model, &act(&fc.name), &[batch, fc.n_out])?;
    let terms = (0..fc.n_in)
        .map(|k| {
            let (w, av) = (wval(&fc.weight, j * fc.n_in + k), val(a, &[n, k]));
            Term { index: named(&[("k", k)]), factors: vec![w, av], at: vec![vec![j, k], vec![n, k]], value: w * av, label: None }
        })
        .collect();
    let names = vec![format!("{}.weight", fc.name), act(&fc_in(model))];
    let mut d = Draft::new("fc_forward", act(&fc.name), &[n, j], val(z, &[n, j]), names, terms);
    d.parts.push(Part { adds: true, ..Part::cell("bias", wval(&fc.bias, j), &format!("{}.bias", fc.name), &[j]) });
    Ok(d.finish(top_k))
}

fn fc_weight_grad<T: Scalar>(model: &ResNet<T>, j: usize, k: usize, top_k: usize) -> Result<Formula> {
    let (a, batch) = fc_input(model)?;
    let fc = model.fc();
    check("j", j, fc.n_out, || format!("fc has {} outputs (classes)", fc.n_out))?;
    check("k", k, fc.n_in, || format!("fc has {} inputs", fc.n_in))?;
    let dz = tape_shaped(model, &delta(&fc.name), &[batch, fc.n_out])?;
    let grad = tape_shaped(model, &format!("grad.{}.weight", fc.name), &[fc.n_out, fc.n_in])?;
    let terms = (0..batch)
        .map(|n| {
            let (dv, av) = (val(dz, &[n, j]), val(a, &[n, k]));
            Term { index: named(&[("n", n)]), factors: vec![dv, av], at: vec![vec![n, j], vec![n, k]], value: dv * av, label: None }
        })
        .collect();
    let names = vec![delta(&fc.name), act(&fc_in(model))];
    Ok(Draft::new("fc_weight_grad", format!("grad.{}.weight", fc.name), &[j, k], val(grad, &[j, k]), names, terms).finish(top_k))
}

fn fc_input_delta<T: Scalar>(model: &ResNet<T>, n: usize, k: usize, top_k: usize) -> Result<Formula> {
    let (_, batch) = fc_input(model)?;
    let fc = model.fc();
    check_n(n, batch)?;
    check("k", k, fc.n_in, || format!("fc has {} inputs", fc.n_in))?;
    let dz = tape_shaped(model, &delta(&fc.name), &[batch, fc.n_out])?;
    let target = tape_shaped(model, &delta(&fc_in(model)), &[batch, fc.n_in])?;
    let terms = (0..fc.n_out)
        .map(|j| {
            let (w, dv) = (wval(&fc.weight, j * fc.n_in + k), val(dz, &[n, j]));
            Term { index: named(&[("j", j)]), factors: vec![w, dv], at: vec![vec![j, k], vec![n, j]], value: w * dv, label: None }
        })
        .collect();
    let names = vec![format!("{}.weight", fc.name), delta(&fc.name)];
    Ok(Draft::new("fc_input_delta", delta(&fc_in(model)), &[n, k], val(target, &[n, k]), names, terms).finish(top_k))
}

// ---- the definition of a derivative, beside backprop ---------------------------------------

/// A cell's derivative measured by its definition: the weight (or the module's output value)
/// is moved by ±ε on the same input, labels and mode as the tape's pass, in float64, and
/// `(C(+ε) − C(−ε)) / 2ε` is set beside the backprop value of the same float64 model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// The tensor whose cell is the derivative (`grad.layer2.0.conv1.weight`, `delta.bn1`).
    pub target: String,
    pub index: Vec<usize>,
    /// What is moved: a parameter (`layer2.0.conv1.weight`) or a module's output (`act.bn1`).
    pub perturbed: String,
    pub eps: f64,
    pub loss_plus: f64,
    pub loss_minus: f64,
    /// `(loss_plus − loss_minus) / 2ε`
    pub numeric: f64,
    /// ∂C/∂(that value) by backprop, in float64 on the same input.
    pub backprop: f64,
    /// `|numeric − backprop| / max(|numeric|, |backprop|)`, 0 when both are below 1e-12.
    pub rel_diff: f64,
    /// A ReLU input changed sign between the two runs: the cell sits at a kink, where the
    /// derivative is not defined, and the two may rightly differ.
    pub kink: bool,
}

/// Checks the derivative of cell `q` (a weight gradient or a δ; forward values have none)
/// numerically with step `eps`. Call it where [`formula`] may be called (after forward and
/// backward, before an update).
pub fn numerical_check<T: Scalar>(model: &ResNet<T>, q: &Query, eps: f64) -> Result<Check> {
    if !(eps > 0.0 && eps <= 1.0) {
        bail!("ε must be above 0 and at most 1, not {eps}");
    }
    let f = formula(model, q, 0)?;
    if f.target.starts_with("act.") {
        bail!("{} is a forward value, not a derivative: check a δ or a weight-gradient cell", f.target);
    }
    if model.labels.is_empty() {
        bail!("run a backward pass first: the check repeats its loss");
    }
    let input = model.tape.get(&act(&model.graph.modules[0].name))?;
    let x = Tensor { shape: input.shape.clone(), data: input.data.iter().map(|v| v.f64()).collect() };
    let (labels, mode) = (model.labels.clone(), model.mode);
    let base: ResNet<f64> = model.cast();
    let flat = |shape: &[usize], idx: &[usize]| idx.iter().zip(shape).fold(0, |o, (&i, &n)| o * n + i);
    // backprop, in f64
    let mut m = base.clone_weights();
    m.forward(&x, mode)?;
    m.backward(&labels)?;
    let backprop = val(m.tape.get(&f.target)?, &f.index);
    let (perturbed, at) = match f.target.strip_prefix("grad.") {
        Some(param) => {
            let p = model.graph.params().find(|p| p.name == param).ok_or_else(|| crate::Error(format!("no parameter {param}")))?;
            (param.to_string(), flat(&p.shape, &f.index))
        }
        None => {
            let module = f.target.strip_prefix("delta.").unwrap_or(&f.target).to_string();
            let shape = m.tape.get(&act(&module))?.shape.clone();
            (format!("act.{module}"), flat(&shape, &f.index))
        }
    };
    let relus: Vec<String> = model.graph.of_kind("relu").map(|r| act(&r.name)).collect();
    let run = |by: f64| -> Result<(f64, Vec<bool>)> {
        let mut m = base.clone_weights();
        match perturbed.strip_prefix("act.") {
            Some(module) => m.nudge = Some((module.to_string(), at, by)),
            None => {
                let mut ps = m.params_mut();
                let p = ps.iter_mut().find(|p| p.name == perturbed).expect("the parameter exists");
                p.data[at] += by;
            }
        }
        m.forward(&x, mode)?;
        let loss = m.backward(&labels)?;
        let signs = relus.iter().flat_map(|r| m.tape.get(r).map(|t| t.data.iter().map(|&v| v > 0.0).collect::<Vec<_>>()).unwrap_or_default()).collect();
        Ok((loss, signs))
    };
    let ((loss_plus, s_plus), (loss_minus, s_minus)) = (run(eps)?, run(-eps)?);
    let numeric = (loss_plus - loss_minus) / (2.0 * eps);
    let scale = numeric.abs().max(backprop.abs());
    let rel_diff = if scale < 1e-12 { 0.0 } else { (numeric - backprop).abs() / scale };
    Ok(Check { target: f.target, index: f.index, perturbed, eps, loss_plus, loss_minus, numeric, backprop, rel_diff, kink: s_plus != s_minus })
}

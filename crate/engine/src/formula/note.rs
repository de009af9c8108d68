//! A cell that no formula kind explains (a ReLU's output, a BN's, the δ an add passes on, …):
//! its value from the tape and which note fits it, chosen from the module graph. The page
//! words the note (its message table has one sentence per [`NoteKind`]) and names the
//! [`CellNote::modules`] in it; it reads nothing from its own views.

use super::{check_n, tape, val};
use crate::graph::{Graph, Kind, Module};
use crate::{bail, Result, ResNet, Scalar};
use serde::{Deserialize, Serialize};

/// Which sentence explains the cell. `modules` lists the modules the sentence names, in the
/// order given here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// `act` of an add: the main branch + the shortcut (`[main, shortcut]`).
    AddForward,
    /// `act` of a BN in eval mode: `γ (x − μ)/√(σ² + ε) + β` with the running statistics.
    BnForward,
    /// `act` of a ReLU: `max(0, z)`.
    ReluForward,
    /// `act` of the average pool: the mean of each channel.
    PoolForward,
    /// `delta` of an option-A shortcut: passed back unchanged (`[the add it feeds, its input]`).
    ShortcutDelta,
    /// `delta` of a module whose only reader is an add: the add's δ (`[the add]`).
    AddDelta,
    /// `delta` of a ReLU output read by convs: Σ δ·w through them (`[the convs]`).
    ReluDelta,
    /// `delta` of the module the average pool reads: `δ^pool / (H·W)`.
    PoolDelta,
    /// `delta` of the last block's junction: `σ'(z) · δ^pool / (H·W)`.
    LastJunctionDelta,
    /// `delta` of the fc: `softmax(z) − one-hot(target)`.
    SoftmaxDelta,
    /// Nothing more to say than the module's own description (`about`).
    About,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellNote {
    /// The tape name (`act.<module>` or `delta.<module>`), the cell and its value.
    pub target: String,
    pub index: Vec<usize>,
    pub value: f64,
    pub note: NoteKind,
    pub modules: Vec<String>,
    /// The module's one-line description (the graph's `about`).
    pub about: String,
}

/// The value and the note of `target[index]` (`index` has the tensor's rank: `[n, c, x, y]`,
/// or `[n, k]` for the pool and the fc).
pub fn cell_note<T: Scalar>(model: &ResNet<T>, target: &str, index: &[usize]) -> Result<CellNote> {
    let Some((side, name)) = target.split_once('.').filter(|(s, _)| *s == "act" || *s == "delta") else {
        bail!("'{target}' is not a module's act.<name> or delta.<name>");
    };
    let g = &model.graph;
    let m = g.module(name)?;
    let t = tape(model, target)?;
    if index.len() != t.shape.len() {
        bail!("{target} has {} axes ({:?}), the index {index:?} has {}", t.shape.len(), t.shape, index.len());
    }
    check_n(index[0], t.shape[0])?;
    if let Some(k) = index.iter().zip(&t.shape).position(|(i, n)| i >= n) {
        bail!("index {index:?} is outside {target}, shape {:?} (axis {k})", t.shape);
    }
    let (note, modules) = if side == "act" { act_note(m) } else { delta_note(m, g) };
    Ok(CellNote { target: target.into(), index: index.to_vec(), value: val(t, index), note, modules, about: m.about.clone() })
}

fn act_note(m: &Module) -> (NoteKind, Vec<String>) {
    match m.kind {
        Kind::Add => (NoteKind::AddForward, m.inputs.clone()),
        Kind::BatchNorm { .. } => (NoteKind::BnForward, vec![]),
        Kind::Relu => (NoteKind::ReluForward, vec![]),
        Kind::AvgPool => (NoteKind::PoolForward, vec![]),
        _ => (NoteKind::About, vec![]),
    }
}

fn delta_note(m: &Module, g: &Graph) -> (NoteKind, Vec<String>) {
    let readers = g.consumers(&m.name);
    let names = |ms: &[&Module]| ms.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
    let Some(into) = readers.first() else {
        return if matches!(m.kind, Kind::Fc { .. }) { (NoteKind::SoftmaxDelta, vec![]) } else { (NoteKind::About, vec![]) };
    };
    let feeds_pool = |r: &Module| g.consumers(&r.name).iter().any(|c| matches!(c.kind, Kind::AvgPool));
    match (&m.kind, &into.kind) {
        (Kind::Shortcut { .. }, _) => (NoteKind::ShortcutDelta, vec![into.name.clone(), m.inputs[0].clone()]),
        (_, Kind::Add) => (NoteKind::AddDelta, vec![into.name.clone()]),
        (Kind::Relu, Kind::Conv { .. }) => (NoteKind::ReluDelta, names(&readers)),
        (_, Kind::AvgPool) => (NoteKind::PoolDelta, vec![]),
        (_, Kind::Relu) if feeds_pool(into) => (NoteKind::LastJunctionDelta, vec![]),
        (Kind::Fc { .. }, _) => (NoteKind::SoftmaxDelta, vec![]),
        _ => (NoteKind::About, vec![]),
    }
}

//! Compare mode: the residual lesson as an experiment. Two or three members of the family
//! (Plain-20 against ResNet-20; Plain-20, Plain-56 and ResNet-56 for He et al.'s degradation
//! figure) start from the same seed and train on the same batches in the same order with the
//! same optimizer settings, taking turns, so their curves differ only by architecture.
//!
//! Along the way it records, every `record_every` steps and for every layer with weights
//! (the convs and the classifier), the gradient flow:
//!
//!   grad   = ‖∂C/∂w‖                 (the `grad.<layer>.weight` tensor)
//!   weight = ‖w‖                     (before the step's update)
//!   update = ‖Δw‖ / ‖w‖              (what the step changed, relative)
//!   delta  = ‖δ‖ at the layer's output (`delta.<layer>`)
//!
//! and for every residual block the two parts of the δ it sends back to its input, main
//! branch and shortcut (`branch.<block>` on the tape). Snapshots of every member (weights,
//! BN statistics, optimizer moments) are kept every `snapshot_every` steps so a run can be
//! scrubbed back and forked. Histories and snapshots are bounded: when full, every other one
//! goes and the interval doubles.
//!
//! A run is reproducible: a step's batch depends only on (seed, step), a member's start only
//! on (architecture, seed), and the kernels' reductions do not depend on the thread count.

use crate::data::{Dataset, Split};
use crate::graph::Kind;
use crate::optim::{Optimizer, OptimizerConfig};
use crate::train::{self, Trainer};
use crate::{bail, Config, ResNet, Result};
use serde::Serialize;

/// At most this many members side by side.
pub const MAX_MEMBERS: usize = 3;
/// Flow records kept per member (then thinned to half, `record_every` doubled).
pub const FLOW_CAP: usize = 256;
/// Snapshot memory, all members together (bytes): with it, how many snapshots fit.
pub const SNAPSHOT_BUDGET: usize = 128 << 20;
/// Memory a comparison may take (its one tape, every member's weights and optimizer moments,
/// the snapshots): within the threaded browser build's 1 GiB, with room for the page's own model.
pub const MEMORY_BUDGET: u64 = 544 << 20;
/// Snapshots kept at least and at most, whatever the budget says.
pub const SNAPSHOTS: (usize, usize) = (4, 32);

/// A lesson: members the page and the widget offer by name (`compare=plain20,resnet20`).
#[derive(Clone, Debug, Serialize)]
pub struct Lesson {
    pub id: &'static str,
    pub label: &'static str,
    pub members: &'static [&'static str],
    /// Training steps the lesson suggests.
    pub steps: u64,
}

pub const LESSONS: [Lesson; 2] = [
    Lesson { id: "plain-vs-resnet", label: "Plain-20 against ResNet-20", members: &["plain20", "resnet20"], steps: 300 },
    Lesson { id: "degradation", label: "Deeper plain nets train worse: Plain-20, Plain-56, ResNet-56", members: &["plain20", "plain56", "resnet56"], steps: 300 },
];

/// One layer's gradient flow at one step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LayerFlow {
    pub grad: f64,
    pub weight: f64,
    pub update: f64,
    pub delta: f64,
}

/// One block's δ at its input, by branch: ‖main part‖, ‖shortcut part‖, ‖their sum‖.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BranchFlow {
    pub main: f64,
    pub shortcut: f64,
    pub total: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlowRecord {
    pub step: u64,
    /// In the order of `Member::layers`.
    pub layers: Vec<LayerFlow>,
    /// In the order of `Member::blocks`.
    pub blocks: Vec<BranchFlow>,
}

/// One member's step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Point {
    pub step: u64,
    pub loss: f64,
    pub accuracy: f64,
}

pub struct Member {
    pub id: String,
    pub label: String,
    pub trainer: Trainer,
    /// Training-batch loss and accuracy of every step.
    pub curve: Vec<Point>,
    /// Held-out loss and accuracy, when evaluated.
    pub heldout: Vec<Point>,
    pub flow: Vec<FlowRecord>,
    /// The layers with weights (convs, fc), in forward order, and the residual blocks.
    pub layers: Vec<String>,
    pub blocks: Vec<String>,
    /// Why it stopped (a refused step: its learning rate is too high for it), if it did.
    pub stopped: Option<String>,
    /// Time spent in its training steps (ms) and the images they took.
    pub active_ms: f64,
    pub images: u64,
}

struct Snapshot {
    step: u64,
    /// Each member's weights and optimizer state (None: it had stopped).
    members: Vec<(ResNet<f32>, Optimizer)>,
}

pub struct Comparison {
    pub members: Vec<Member>,
    pub seed: u64,
    pub batch: usize,
    /// Steps taken (the next step is `step + 1`).
    pub step: u64,
    pub record_every: u64,
    pub snapshot_every: u64,
    snapshots: Vec<Snapshot>,
    snapshot_cap: usize,
    /// The current epoch's order (epoch, indices).
    order: Option<(u64, Vec<usize>)>,
    /// The one tape the members take turns on (each lends it its model for a step): a tape
    /// holds every activation and δ of a batch — about 11 MB an image for a 56-layer member —
    /// so three tapes of their own would not fit in the browser's wasm memory.
    tape: crate::Tape<f32>,
}

/// ‖v‖ in f64.
pub fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt()
}

impl Comparison {
    /// Members by arch id (`plain20`, `resnet56`, `resnet20-a-nobn`, ...), all from `seed`.
    pub fn new(ids: &[String], opt: OptimizerConfig, batch: usize, seed: u64) -> Result<Self> {
        if !(1..=MAX_MEMBERS).contains(&ids.len()) {
            bail!("a comparison has 1 to {MAX_MEMBERS} members, not {}", ids.len());
        }
        let (lo, hi) = train::SETTINGS.batch;
        if !(lo..=hi).contains(&batch) {
            bail!("batch size must be between {lo} and {hi}, got {batch}");
        }
        let mut members = Vec::new();
        for id in ids {
            let config = Config::from_arch_id(id)?;
            let model = ResNet::new(&config, seed)?;
            let layers = model.graph.modules.iter().filter(|m| matches!(m.kind, Kind::Conv { .. } | Kind::Fc { .. })).map(|m| m.name.clone()).collect();
            let blocks = model.graph.blocks.iter().filter(|b| b.shortcut != crate::Shortcut::None).map(|b| b.name.clone()).collect();
            members.push(Member {
                id: id.clone(),
                label: config.label(),
                trainer: Trainer::new(model, opt, batch, seed)?,
                curve: vec![],
                heldout: vec![],
                flow: vec![],
                layers,
                blocks,
                stopped: None,
                active_ms: 0.0,
                images: 0,
            });
        }
        let bytes: usize = members.iter().map(|m| m.trainer.model.num_parameters() * (4 + 8 * optimizer_buffers(&opt))).sum();
        let snapshot_cap = (SNAPSHOT_BUDGET / bytes.max(1)).clamp(SNAPSHOTS.0, SNAPSHOTS.1);
        // memory: the largest member's pass (they take turns on one tape), the models, the snapshots
        let per_image = members.iter().map(|m| m.trainer.model.graph.tape_bytes(1)).max().unwrap_or(0);
        let fixed = (bytes * (1 + snapshot_cap)) as u64;
        if fixed + per_image * batch as u64 > MEMORY_BUDGET {
            let mb = |b: u64| b.div_ceil(1 << 20);
            let names: Vec<&str> = members.iter().map(|m| m.label.as_str()).collect();
            let most = MEMORY_BUDGET.saturating_sub(fixed) / per_image.max(1);
            bail!(
                "{} at batch {batch} need about {} MB ({} MB for one pass's activations and δ), more than the {} MB compare mode may use in the browser: {}",
                names.join(", "),
                mb(fixed + per_image * batch as u64),
                mb(per_image * batch as u64),
                mb(MEMORY_BUDGET),
                if most >= 1 { format!("choose a batch of at most {most}") } else { "choose smaller models".into() }
            );
        }
        let mut c = Comparison { members, seed, batch, step: 0, record_every: 1, snapshot_every: 10, snapshots: vec![], snapshot_cap, order: None, tape: crate::Tape::new() };
        c.snapshot();
        Ok(c)
    }

    /// The training digits of step `step` (from 1): epoch after epoch of the seeded order, the
    /// last partial batch of each dropped (as `Trainer` does).
    fn batch_indices(&mut self, data: &Dataset, step: u64) -> Result<Vec<usize>> {
        let per_epoch = (data.n_train / self.batch) as u64;
        if per_epoch == 0 {
            bail!("the training split has {} digits, fewer than one batch of {}", data.n_train, self.batch);
        }
        let (epoch, at) = ((step - 1) / per_epoch, ((step - 1) % per_epoch) as usize * self.batch);
        if self.order.as_ref().is_none_or(|o| o.0 != epoch) {
            self.order = Some((epoch, data.epoch_order(self.seed, epoch)));
        }
        Ok(self.order.as_ref().expect("just set").1[at..at + self.batch].to_vec())
    }

    /// One step for every member still training, on the same batch; `now` is a clock in ms.
    /// A member whose step is refused (non-finite loss or gradients) stops, with its message;
    /// the others go on. Returns the step's points (None for a stopped member).
    pub fn step(&mut self, data: &Dataset, now: &dyn Fn() -> f64) -> Result<Vec<Option<Point>>> {
        if self.members.iter().all(|m| m.stopped.is_some()) {
            bail!("every member has stopped: start a new comparison (a lower learning rate?)");
        }
        let step = self.step + 1;
        let (x, labels) = data.batch(&self.batch_indices(data, step)?);
        let record = (step - 1) % self.record_every == 0;
        let mut out = Vec::new();
        for m in &mut self.members {
            if m.stopped.is_some() {
                out.push(None);
                continue;
            }
            let before: Vec<Vec<f32>> = if record { m.layers.iter().map(|l| weight_of(&m.trainer.model, l).to_vec()).collect() } else { vec![] };
            let t0 = now();
            std::mem::swap(&mut self.tape, &mut m.trainer.model.tape);
            let stepped = m.trainer.step_batch(&x, &labels);
            let recorded = match &stepped {
                Ok(_) if record => flow_record(m, step, &before).map(Some),
                _ => Ok(None),
            };
            std::mem::swap(&mut self.tape, &mut m.trainer.model.tape);
            match stepped {
                Ok(s) => {
                    m.active_ms += now() - t0;
                    m.images += self.batch as u64;
                    let p = Point { step, loss: s.loss, accuracy: s.accuracy };
                    m.curve.push(p);
                    m.flow.extend(recorded?);
                    out.push(Some(p));
                }
                Err(e) => {
                    m.stopped = Some(format!("{} stopped at step {step}: {e}", m.label));
                    out.push(None);
                }
            }
        }
        self.step = step;
        if self.members.iter().any(|m| m.flow.len() > FLOW_CAP) {
            for m in &mut self.members {
                thin(&mut m.flow, |r| (r.step - 1) % (2 * self.record_every) == 0);
            }
            self.record_every *= 2;
        }
        if step % self.snapshot_every == 0 {
            self.snapshot();
        }
        Ok(out)
    }

    /// Held-out loss and accuracy of each member on the first `limit` held-out digits (the same
    /// for all), recorded at the current step. They pass in chunks of the training batch: a
    /// member's tape keeps the memory of its largest pass, and three 56-layer members with
    /// tapes for 100 images each would not fit in the browser's wasm memory.
    pub fn evaluate(&mut self, data: &Dataset, limit: usize) -> Result<Vec<Option<Point>>> {
        let idx: Vec<usize> = data.indices(Split::Test).take(limit.max(1)).collect();
        let (step, batch, tape) = (self.step, self.batch, &mut self.tape);
        self.members
            .iter_mut()
            .map(|m| {
                if m.stopped.is_some() {
                    return Ok(None);
                }
                std::mem::swap(tape, &mut m.trainer.model.tape);
                let done = train::evaluate_indices(&mut m.trainer.model, data, &idx, batch);
                std::mem::swap(tape, &mut m.trainer.model.tape);
                let (loss, accuracy) = done?;
                let p = Point { step, loss, accuracy };
                m.heldout.retain(|h| h.step != step);
                m.heldout.push(p);
                Ok(Some(p))
            })
            .collect()
    }

    fn snapshot(&mut self) {
        let members = self.members.iter().map(|m| (m.trainer.model.clone_weights(), m.trainer.opt.clone())).collect();
        self.snapshots.retain(|s| s.step != self.step);
        self.snapshots.push(Snapshot { step: self.step, members });
        if self.snapshots.len() > self.snapshot_cap {
            let every = 2 * self.snapshot_every;
            thin(&mut self.snapshots, |s| s.step % every == 0);
            self.snapshot_every = every;
        }
    }

    /// Keeps a snapshot of the current step (the end of a run: so the run's last step can be
    /// shown and continued from, not only the last multiple of `snapshot_every`).
    pub fn keep(&mut self) {
        if self.snapshots.last().is_none_or(|s| s.step != self.step) {
            self.snapshot();
        }
    }

    /// The tape of the last pass (the last member's step, or its evaluation).
    pub fn last_tape(&self) -> &crate::Tape<f32> {
        &self.tape
    }

    /// The steps a member can be shown at (and the run forked from).
    pub fn snapshot_steps(&self) -> Vec<u64> {
        self.snapshots.iter().map(|s| s.step).collect()
    }

    fn snapshot_at(&self, step: u64) -> Result<&Snapshot> {
        match self.snapshots.iter().find(|s| s.step == step) {
            Some(s) => Ok(s),
            None => bail!("no snapshot at step {step}; the kept ones are at steps {:?}", self.snapshot_steps()),
        }
    }

    /// Member `i`'s weights as they were at a snapshot's step.
    pub fn model_at(&self, i: usize, step: u64) -> Result<ResNet<f32>> {
        self.member(i)?;
        Ok(self.snapshot_at(step)?.members[i].0.clone_weights())
    }

    pub fn member(&self, i: usize) -> Result<&Member> {
        match self.members.get(i) {
            Some(m) => Ok(m),
            None => bail!("no member {i}: the comparison has {}", self.members.len()),
        }
    }

    /// Continues from a snapshot: every member's weights and optimizer come back as they were
    /// at `step`, and what the run recorded after it is dropped. The next steps then see the
    /// same batches as the first time.
    pub fn fork(&mut self, step: u64) -> Result<()> {
        let snap = self.snapshot_at(step)?;
        let restored: Vec<_> = snap.members.iter().map(|(w, o)| (w.clone_weights(), o.clone())).collect();
        for (m, (weights, opt)) in self.members.iter_mut().zip(restored) {
            m.trainer.model = weights;
            m.trainer.opt = opt;
            m.curve.retain(|p| p.step <= step);
            m.heldout.retain(|p| p.step <= step);
            m.flow.retain(|r| r.step <= step);
            if m.curve.last().is_none_or(|p| p.step == step) {
                m.stopped = None;
            }
        }
        self.snapshots.retain(|s| s.step <= step);
        self.step = step;
        Ok(())
    }
}

/// Moment buffers (f64, one value per weight each) the optimizer keeps.
fn optimizer_buffers(opt: &OptimizerConfig) -> usize {
    match opt.kind {
        crate::optim::OptimizerKind::Sgd { .. } => 1,
        crate::optim::OptimizerKind::Adam { .. } => 2,
    }
}

/// Keeps the items `keep` says, but always the last one.
fn thin<T>(v: &mut Vec<T>, keep: impl Fn(&T) -> bool) {
    let last = v.pop();
    v.retain(keep);
    v.extend(last);
}

fn weight_of<'a>(model: &'a ResNet<f32>, layer: &str) -> &'a [f32] {
    match model.layers.iter().zip(&model.graph.modules).find(|(_, m)| m.name == layer) {
        Some((crate::model::Layer::Conv(c), _)) => &c.weight,
        Some((crate::model::Layer::Fc(f), _)) => &f.weight,
        _ => &[],
    }
}

/// The flow of the step just taken, from the member's tape and weights (`before`: each layer's
/// weights before the update).
/// (Called while the member holds the comparison's tape.)
fn flow_record(m: &Member, step: u64, before: &[Vec<f32>]) -> Result<FlowRecord> {
    let model = &m.trainer.model;
    let tape = &model.tape;
    let layers = m
        .layers
        .iter()
        .zip(before)
        .map(|(l, w0)| {
            let w1 = weight_of(model, l);
            let weight = norm(w0);
            let change = w0.iter().zip(w1).map(|(&a, &b)| (b as f64 - a as f64).powi(2)).sum::<f64>().sqrt();
            Ok(LayerFlow {
                grad: norm(&tape.get(&format!("grad.{l}.weight"))?.data),
                weight,
                update: if weight > 0.0 { change / weight } else { 0.0 },
                delta: norm(&tape.get(&crate::model::delta(l))?.data),
            })
        })
        .collect::<Result<_>>()?;
    let blocks = m
        .blocks
        .iter()
        .map(|b| {
            let parts = &tape.get(&format!("branch.{b}"))?.data;
            let input = &model.graph.block(b)?.input;
            Ok(BranchFlow { main: parts[0] as f64, shortcut: parts[1] as f64, total: norm(&tape.get(&crate::model::delta(input))?.data) })
        })
        .collect::<Result<_>>()?;
    Ok(FlowRecord { step, layers, blocks })
}

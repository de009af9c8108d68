//! Timing of each conv layer on its own (forward; backward = dW and dx), with the shapes the
//! model has at a batch size, for the CLI's `bench` and the browser's bench page. The clock is
//! passed in (`Instant` natively, `performance.now()` in the browser), in milliseconds.

use crate::layers::conv::ConvGeom;
use crate::model::Mode;
use crate::{Result, ResNet, Scalar, Tensor};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct ConvTiming {
    pub layer: String,
    pub input: Vec<usize>,
    pub kernel: [usize; 4],
    pub stride: usize,
    pub forward_ms: f64,
    pub backward_ms: f64,
    pub forward_gflops: f64,
    pub backward_gflops: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Median time of `reps` runs of `f` after one untimed run, in ms.
pub fn time_ms(reps: usize, now: &dyn Fn() -> f64, mut f: impl FnMut()) -> f64 {
    f();
    median((0..reps.max(1)).map(|_| {
        let t = now();
        f();
        now() - t
    }).collect())
}

/// Time of one run of `f`, in ms: the median over 3 rounds of the mean of `reps` back-to-back
/// runs (so a coarse clock — browsers round `performance.now()` to 0.1 ms on pages that are
/// not cross-origin isolated — still measures sub-millisecond work).
pub fn time_ms_batched(reps: usize, now: &dyn Fn() -> f64, mut f: impl FnMut()) -> f64 {
    f();
    median((0..3).map(|_| {
        let t = now();
        for _ in 0..reps.max(1) {
            f();
        }
        (now() - t) / reps.max(1) as f64
    }).collect())
}

/// Times every conv layer of `model` on inputs of batch `x` (`[N, C, S, S]`).
pub fn conv_layers(model: &mut ResNet<f32>, x: &Tensor<f32>, reps: usize, now: &dyn Fn() -> f64) -> Result<Vec<ConvTiming>> {
    model.forward(x, Mode::Train)?;
    let mut out = vec![];
    for conv in model.convs() {
        let xin = model.tape.get(&format!("act.{}", model.conv_input_name(&conv.name)?))?;
        let g: ConvGeom = conv.geom(&xin.shape)?;
        let mut y = vec![0.0f32; g.n * g.out_len()];
        let fwd = time_ms_batched(reps, now, || f32::conv_forward(&g, &xin.data, &conv.weight, None, &mut y));
        let (mut dx, mut dw) = (vec![0.0f32; xin.data.len()], vec![0.0f32; conv.weight.len()]);
        let bwd = time_ms_batched(reps, now, || f32::conv_backward(&g, &xin.data, &conv.weight, &y, Some(&mut dx), &mut dw, None));
        let flops = g.forward_flops();
        out.push(ConvTiming {
            layer: conv.name.clone(),
            input: xin.shape.clone(),
            kernel: [g.c_out, g.c_in, g.k, g.k],
            stride: g.stride,
            forward_ms: fwd,
            backward_ms: bwd,
            forward_gflops: flops / fwd / 1e6,
            backward_gflops: 2.0 * flops / bwd / 1e6,
        });
    }
    Ok(out)
}

/// Single-precision floating-point operations of `peak_kernel(iters)`.
pub fn peak_flops(iters: usize) -> f64 {
    (iters * PEAK_CHAINS * 4 * 2) as f64
}

/// Independent accumulators of the peak loop: enough to hide a multiply-add's latency (4–5
/// cycles) on two FMA ports, few enough to stay in the 16 SIMD registers with the operands.
const PEAK_CHAINS: usize = 12;

/// This machine's arithmetic peak, as the GEMM's inner loop could reach it at best: `iters`
/// rounds of `PEAK_CHAINS` independent 4-wide multiply-adds in registers (`gemm::madd`: fused
/// in the wasm builds with relaxed SIMD; natively 4-wide arrays of multiplies and adds, a rough
/// figure only), no memory traffic. Every lane of every chain starts elsewhere and is summed
/// into the result, so nothing is optimised away.
pub fn peak_kernel(iters: usize, seed: f32) -> f32 {
    let (a, b) = (core::hint::black_box(0.999_9f32), core::hint::black_box(1e-7f32));
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::*;
        let (a, b) = (f32x4_splat(a), f32x4_splat(b));
        let mut acc: [v128; PEAK_CHAINS] = std::array::from_fn(|i| f32x4(seed + i as f32, seed + i as f32 + 0.25, seed + i as f32 + 0.5, seed + i as f32 + 0.75));
        for _ in 0..iters {
            acc.iter_mut().for_each(|c| *c = crate::gemm::madd(*c, a, b));
        }
        acc.iter().map(|&c| f32x4_extract_lane::<0>(c) + f32x4_extract_lane::<1>(c) + f32x4_extract_lane::<2>(c) + f32x4_extract_lane::<3>(c)).sum()
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        let mut acc: [[f32; 4]; PEAK_CHAINS] = std::array::from_fn(|i| std::array::from_fn(|l| seed + i as f32 + 0.25 * l as f32));
        for _ in 0..iters {
            // (not mul_add: without FMA in the target, that is a libm call)
            acc.iter_mut().flatten().for_each(|v| *v = *v * a + b);
        }
        acc.iter().flatten().sum()
    }
}

/// The peak of the whole pool, in GFLOP/s: `peak_kernel` on every pool thread at once (as
/// `8 × threads` items of one parallel loop, so every thread is busy however the items fall),
/// best of `rounds` after one untimed round.
pub fn peak_gflops(threads: usize, iters: usize, rounds: usize, now: &dyn Fn() -> f64) -> f64 {
    let items = 8 * threads.max(1);
    let mut best = 0.0f64;
    for r in 0..rounds.max(1) + 1 {
        let t = now();
        let out = crate::layers::in_pool(|| crate::layers::par_map(items, |i| peak_kernel(iters, (i + r) as f32)));
        let ms = now() - t;
        core::hint::black_box(out);
        if r > 0 {
            best = best.max(peak_flops(iters) * items as f64 / ms / 1e6);
        }
    }
    best
}

/// One module's share of a profiled pass: its forward and its backward (0 for inference), in
/// ms (means over the profiled passes). A ReLU that runs in its BN's passes
/// (`model::fused_relu`) reads ≈ 0: its time is in the BN's.
#[derive(Clone, Debug, Serialize)]
pub struct ModuleTiming {
    pub module: String,
    /// The module's kind as the graph names it (`conv`, `bn`, `relu`, `add`, …).
    pub kind: String,
    pub forward_ms: f64,
    pub backward_ms: f64,
    /// Of which serial code on the thread leading the pass, while the pool's other threads
    /// wait, and that thread's waits at the ends of the module's loops for the helpers' last
    /// items (`layers::leader_so_far`; 0 without the `parallel` feature).
    pub forward_serial_ms: f64,
    pub backward_serial_ms: f64,
    pub forward_wait_ms: f64,
    pub backward_wait_ms: f64,
}

/// A training step or an inference pass, module by module (`module_profile`): the pass's
/// mean time, each module's mean (means both, so that what the modules leave of the pass
/// cannot come out negative, as a median less a mean can), and their sums by kind in the order
/// the kinds first appear; what the modules leave of a step is the update, the finiteness
/// check and the calls around them.
#[derive(Clone, Debug, Serialize)]
pub struct StepProfile {
    pub step_ms: f64,
    pub modules: Vec<ModuleTiming>,
    /// `(kind, forward + backward ms)` over the modules of each kind.
    pub kinds: Vec<(String, f64)>,
    /// A pass's fixed cost: an empty pass (one loop of two empty items) run right after each
    /// profiled pass, mean ms — in the threaded build the hand-offs that start and end a pass,
    /// with the pool just awake (not those between the loops inside a pass).
    pub empty_pass_ms: f64,
    /// Where the pool's threads waited in a pass (means over the timed passes;
    /// `layers::in_pool_timed`; all 0 without the `parallel` feature): the leader at the ends
    /// of its loops, for helpers' last items; the helpers without an item, summed over the
    /// helpers (the pass's serial code, loop ends where the leader ran last); and how many
    /// loops the leader shared.
    pub leader_wait_ms: f64,
    pub helper_idle_ms: f64,
    pub loops: f64,
    /// The pass's serial code: the leader's time outside its loops, while the helpers wait
    /// (the modules' `*_serial_ms` and the update's, the finiteness check's …; 0 without the
    /// `parallel` feature).
    pub serial_ms: f64,
}

/// One lap of a module: `(module index, backward?, ms, of which serial ms, of which the leader
/// waited ms)`.
pub type Lap = (usize, bool, f64, f64, f64);

/// A model's running profile (`ResNet::laps`): the clock, and each module's laps.
pub type Laps = (fn() -> f64, Vec<Lap>);

/// The clock's time, and the pass's serial code and leader's waits so far, when `laps` is a
/// running profile (the model's passes call this as a module starts; one branch when none
/// runs).
pub(crate) fn lap_start(laps: &Option<Laps>) -> Option<(f64, (f64, f64))> {
    laps.as_ref().map(|(clock, _)| (clock(), crate::layers::leader_so_far()))
}

/// Records module `i`'s forward or backward since `start` (from `lap_start`).
pub(crate) fn lap_end(laps: &mut Option<Laps>, i: usize, backward: bool, start: Option<(f64, (f64, f64))>) {
    if let (Some((t0, (s0, w0))), Some((clock, laps))) = (start, laps.as_mut()) {
        let (s1, w1) = crate::layers::leader_so_far();
        laps.push((i, backward, clock() - t0, s1 - s0, w1 - w0));
    }
}

/// What `module_profile` times: a training step (forward, backward and the update, as
/// `Trainer::step_batch` runs them), or inference (an eval-mode forward, as `forward` runs it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    Step,
    Inference,
}

/// Where a pass's time goes, module by module: `reps` passes (after one untimed pass) with
/// each module's forward and backward timed by `now` as the pass runs (each on the thread that
/// leads it, so the time includes waiting for the pool's helpers). The laps are the model's
/// own, so other models' passes meanwhile do not count, and it stops recording whatever
/// happens. After each timed pass an empty one is timed too (`empty_pass_ms`: what starting
/// and ending a pass costs). (`labels` serve the training step only.)
pub fn module_profile(trainer: &mut crate::train::Trainer, x: &Tensor<f32>, labels: &[usize], reps: usize, now: fn() -> f64, pass: Pass) -> Result<StepProfile> {
    trainer.model.laps = Some((now, vec![]));
    let once = |trainer: &mut crate::train::Trainer| -> Result<()> {
        match pass {
            Pass::Step => trainer.step_batch(x, labels).map(|_| ()),
            Pass::Inference => trainer.model.forward(x, Mode::Eval).map(|_| ()),
        }
    };
    let steps = (|| -> Result<Vec<(f64, f64, crate::layers::Waits)>> {
        once(trainer)?;
        if let Some(l) = trainer.model.laps.as_mut() {
            l.1.clear(); // (the untimed pass's)
        }
        (0..reps.max(1)).map(|_| {
            let t = now();
            let (done, waits) = crate::layers::in_pool_timed(now, || once(trainer));
            done?;
            let t1 = now();
            core::hint::black_box(crate::layers::in_pool(|| crate::layers::par_map(2, |i| i)));
            Ok((t1 - t, now() - t1, waits))
        }).collect()
    })();
    let laps = trainer.model.laps.take().map(|l| l.1).unwrap_or_default();
    let steps: Vec<(f64, f64, crate::layers::Waits)> = steps?;
    let mean = |f: &dyn Fn(&(f64, f64, crate::layers::Waits)) -> f64| steps.iter().map(f).sum::<f64>() / steps.len() as f64;
    let (step_ms, empty_pass_ms) = (mean(&|s| s.0), mean(&|s| s.1));
    let (leader_wait_ms, helper_idle_ms, loops, serial_ms) = (mean(&|s| s.2.leader_ms), mean(&|s| s.2.helpers_ms), mean(&|s| s.2.loops as f64), mean(&|s| s.2.serial_ms));
    let graph = &trainer.model.graph;
    let modules: Vec<ModuleTiming> = graph.modules.iter().enumerate().map(|(i, m)| {
        // The mean, not the median: a page that is not cross-origin isolated reads a clock
        // coarsened to 0.1 ms, and a mean of such laps is still right on average.
        let mean = |backward: bool, of: fn(&Lap) -> f64| {
            let v: Vec<f64> = laps.iter().filter(|l| l.0 == i && l.1 == backward).map(of).collect();
            v.iter().sum::<f64>() / v.len().max(1) as f64
        };
        let (ms, serial, wait): (fn(&Lap) -> f64, fn(&Lap) -> f64, fn(&Lap) -> f64) = (|l| l.2, |l| l.3, |l| l.4);
        ModuleTiming {
            module: m.name.clone(),
            kind: m.kind_name().to_string(),
            forward_ms: mean(false, ms),
            backward_ms: mean(true, ms),
            forward_serial_ms: mean(false, serial),
            backward_serial_ms: mean(true, serial),
            forward_wait_ms: mean(false, wait),
            backward_wait_ms: mean(true, wait),
        }
    }).collect();
    let mut kinds: Vec<(String, f64)> = vec![];
    for m in &modules {
        match kinds.iter_mut().find(|k| k.0 == m.kind) {
            Some(k) => k.1 += m.forward_ms + m.backward_ms,
            None => kinds.push((m.kind.clone(), m.forward_ms + m.backward_ms)),
        }
    }
    Ok(StepProfile { step_ms, modules, kinds, empty_pass_ms, leader_wait_ms, helper_idle_ms, loops, serial_ms })
}

/// Milliseconds since the first call (natively; `Instant` does not run in the browser): a
/// plain function, as `module_profile` takes its clock.
#[cfg(not(target_arch = "wasm32"))]
pub fn clock_ms() -> f64 {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ORIGIN.get_or_init(std::time::Instant::now).elapsed().as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::Trainer;
    use crate::{Config, ResNet};

    /// Every module once, in the graph's order and with its kind; the convs' work timed; the
    /// laps inside the step and summed by kind; the model trained by the profiled steps as by
    /// any steps; and no lap recorded once the profile is over, also when a step fails.
    #[test]
    fn module_profile_times_every_module_of_a_step() {
        let config = Config::default();
        let (x, labels) = (Tensor::new(&[4, 1, 28, 28], (0..4 * 784).map(|i| (i as f32 * 0.37).sin()).collect()).unwrap(), vec![3, 1, 4, 1]);
        let new = || Trainer::new(ResNet::new(&config, 7).unwrap(), crate::optim::OptimizerConfig::sgd(0.05, 0.9, 0.0), 4, 1).unwrap();
        let (mut profiled, mut plain) = (new(), new());
        let p = module_profile(&mut profiled, &x, &labels, 3, clock_ms, Pass::Step).unwrap();
        let graph = &profiled.model.graph;
        assert_eq!(p.modules.iter().map(|m| m.module.as_str()).collect::<Vec<_>>(), graph.modules.iter().map(|m| m.name.as_str()).collect::<Vec<_>>());
        let kinds: Vec<&str> = p.modules.iter().map(|m| m.kind.as_str()).collect();
        assert_eq!((kinds[0], kinds[1], kinds[2], *kinds.last().unwrap()), ("input", "conv", "bn", "loss"), "{kinds:?}");
        assert!(p.modules.iter().filter(|m| m.kind == "conv").all(|m| m.forward_ms > 0.0 && m.backward_ms > 0.0), "{p:?}");
        let laps: f64 = p.modules.iter().map(|m| m.forward_ms + m.backward_ms).sum();
        assert!(laps > 0.0 && laps <= p.step_ms * 1.05 + 0.5, "laps {laps} ms in a step of {} ms", p.step_ms);
        assert!(p.empty_pass_ms > 0.0 && p.empty_pass_ms.is_finite(), "an empty pass timed at {} ms", p.empty_pass_ms);
        // on the pool (natively two threads or more): the step's loops counted, and its
        // threads' waits at most what its threads could wait in a step
        #[cfg(feature = "parallel")]
        assert!(p.loops >= 20.0, "{} loops in a step", p.loops);
        // the serial code: the pass's at most the pass, each module's at most its lap, and
        // the modules' together at most the pass's (the rest is the update's and the check's)
        let serial: f64 = p.modules.iter().map(|m| m.forward_serial_ms + m.backward_serial_ms).sum();
        // and the leader's waits: each module's at most its lap less its serial code, together
        // at most the pass's
        let waited: f64 = p.modules.iter().map(|m| m.forward_wait_ms + m.backward_wait_ms).sum();
        assert!(p.modules.iter().all(|m| m.forward_wait_ms >= -1e-3 && m.forward_wait_ms + m.forward_serial_ms <= m.forward_ms + 1e-3 && m.backward_wait_ms >= -1e-3 && m.backward_wait_ms + m.backward_serial_ms <= m.backward_ms + 1e-3), "{p:?}");
        assert!(waited <= p.leader_wait_ms + 1e-6, "modules {waited} ms of the leader's waits, the pass {} ms", p.leader_wait_ms);
        // (within rounding: the meter counts each stretch in whole ns)
        assert!(p.modules.iter().all(|m| m.forward_serial_ms >= -1e-3 && m.forward_serial_ms <= m.forward_ms + 1e-3 && m.backward_serial_ms >= -1e-3 && m.backward_serial_ms <= m.backward_ms + 1e-3), "{p:?}");
        assert!(serial <= p.serial_ms + 1e-6 && p.serial_ms <= p.step_ms, "modules {serial} ms of serial code, the pass {} ms: {p:?}", p.serial_ms);
        #[cfg(feature = "parallel")]
        assert!(serial > 0.0, "{p:?}");
        #[cfg(not(feature = "parallel"))]
        assert_eq!(p.serial_ms, 0.0);
        #[cfg(feature = "parallel")]
        assert!(p.leader_wait_ms >= 0.0 && p.helper_idle_ms >= 0.0 && p.leader_wait_ms + p.helper_idle_ms <= p.step_ms * rayon::current_num_threads() as f64, "{p:?}");
        let by_kind: f64 = p.kinds.iter().map(|k| k.1).sum();
        assert!((by_kind - laps).abs() < 1e-9 && p.kinds[1].0 == "conv", "{:?}", p.kinds);
        for _ in 0..4 {
            plain.step_batch(&x, &labels).unwrap();
        }
        assert_eq!(profiled.model.fc().weight, plain.model.fc().weight, "the profiled steps are the model's steps");
        assert!(profiled.model.laps.is_none(), "the profile is over");
        // inference: every module's forward, no backward, the weights untouched
        let weights = profiled.model.fc().weight.clone();
        let p = module_profile(&mut profiled, &x, &labels, 2, clock_ms, Pass::Inference).unwrap();
        assert!(p.modules.iter().filter(|m| m.kind == "conv").all(|m| m.forward_ms > 0.0) && p.modules.iter().all(|m| m.backward_ms == 0.0), "{p:?}");
        assert_eq!(profiled.model.fc().weight, weights, "inference does not train");
        // a step that fails (one label for four images) ends the profile too
        assert!(module_profile(&mut profiled, &x, &[0], 2, clock_ms, Pass::Step).is_err());
        assert!(profiled.model.laps.is_none());
    }
}

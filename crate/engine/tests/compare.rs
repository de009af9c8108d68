//! Compare mode: members see the same batches, runs reproduce bit for bit (also on another
//! thread count), the flow records are the norms of the tape's tensors, and rewinding shows
//! and continues from exactly the weights a step had.

use resnet_engine::compare::{norm, Comparison, FLOW_CAP};
use resnet_engine::data::Dataset;
use resnet_engine::model::delta;
use resnet_engine::optim::OptimizerConfig;
use resnet_engine::train::Trainer;
use resnet_engine::{Config, ResNet};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn clock() -> impl Fn() -> f64 {
    let t0 = std::time::Instant::now();
    move || t0.elapsed().as_secs_f64() * 1e3
}

fn sgd() -> OptimizerConfig {
    OptimizerConfig::sgd(0.05, 0.9, 5e-4)
}

fn run(c: &mut Comparison, data: &Dataset, steps: usize) {
    let now = clock();
    for _ in 0..steps {
        c.step(data, &now).unwrap();
    }
}

fn losses(c: &Comparison, i: usize) -> Vec<(u64, u64, u64)> {
    c.members[i].curve.iter().map(|p| (p.step, p.loss.to_bits(), p.accuracy.to_bits())).collect()
}

/// A hash of every parameter and buffer, bit for bit.
fn weights_hash(m: &ResNet<f32>) -> u64 {
    let mut h = DefaultHasher::new();
    for (name, _, data, _) in m.params() {
        name.hash(&mut h);
        data.iter().for_each(|v| v.to_bits().hash(&mut h));
    }
    h.finish()
}

#[test]
fn identical_members_train_identically_on_the_trainers_own_batches() {
    let data = Dataset::mnist();
    let mut c = Comparison::new(&ids(&["resnet8", "resnet8"]), sgd(), 16, 7).unwrap();
    run(&mut c, &data, 12);
    assert_eq!(losses(&c, 0), losses(&c, 1));
    assert_eq!(c.members[0].flow, c.members[1].flow);
    // the members take turns on one tape (memory: one pass's worth, not one per member)
    assert!(c.members.iter().all(|m| m.trainer.model.tape.list().is_empty()));
    assert!(c.last_tape().contains("grad.fc.weight"));
    // the batches are the page's own training's: a Trainer from the same seed sees the same
    let mut t = Trainer::new(ResNet::new(&Config::from_arch_id("resnet8").unwrap(), 7).unwrap(), sgd(), 16, 7).unwrap();
    let alone: Vec<u64> = (0..12).map(|_| t.step(&data).unwrap().loss.to_bits()).collect();
    assert_eq!(alone, losses(&c, 0).iter().map(|p| p.1).collect::<Vec<_>>());
    // and a different member does differ
    let mut d = Comparison::new(&ids(&["resnet8", "plain20"]), sgd(), 16, 7).unwrap();
    run(&mut d, &data, 3);
    assert_ne!(losses(&d, 0)[2], losses(&d, 1)[2]);
}

#[test]
fn a_run_reproduces_bit_for_bit_on_any_thread_count() {
    let data = Dataset::mnist();
    let go = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut c = Comparison::new(&ids(&["plain20", "resnet20"]), sgd(), 32, 3).unwrap();
            run(&mut c, &data, 6);
            c.evaluate(&data, 200).unwrap();
            (losses(&c, 0), losses(&c, 1), c.members[1].flow.clone(), c.members[1].heldout.clone())
        })
    };
    let one = go(1);
    assert_eq!(one, go(2), "1 thread against 2");
    assert_eq!(one, go(2), "2 threads again");
}

/// The flow record of a step is the norms of that step's tensors: ∂C/∂w and δ from the tape,
/// ‖w‖ of the weights before the update, ‖Δw‖/‖w‖ from before and after; and a block's two
/// parts of δ at its input sum to the δ there (identity: the shortcut part is δ of the add).
#[test]
fn the_flow_is_the_norms_of_the_steps_tensors() {
    let data = Dataset::mnist();
    let mut c = Comparison::new(&ids(&["resnet20-a"]), sgd(), 16, 5).unwrap();
    run(&mut c, &data, 4);
    let before = c.model_at(0, 0).unwrap();
    c.fork(0).unwrap();
    run(&mut c, &data, 1);
    let m = &c.members[0];
    let r = &m.flow[0];
    assert_eq!(r.step, 1);
    let model = &m.trainer.model;
    let tape = c.last_tape(); // (the members take turns on one tape; it holds this step's pass)
    let params: std::collections::HashMap<String, Vec<f32>> = model.params().into_iter().map(|p| (p.0, p.2)).collect();
    let old: std::collections::HashMap<String, Vec<f32>> = before.params().into_iter().map(|p| (p.0, p.2)).collect();
    assert_eq!(m.layers.len(), r.layers.len());
    assert!(m.layers.len() == 20, "19 convs and the fc: {:?}", m.layers);
    for (l, f) in m.layers.iter().zip(&r.layers) {
        let w = format!("{l}.weight");
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1e-30);
        assert!(close(f.grad, norm(&tape.get(&format!("grad.{w}")).unwrap().data)), "{l} grad");
        assert!(close(f.delta, norm(&tape.get(&delta(l)).unwrap().data)), "{l} delta");
        assert!(close(f.weight, norm(&old[&w])), "{l} weight");
        let dw: Vec<f32> = params[&w].iter().zip(&old[&w]).map(|(a, b)| a - b).collect();
        assert!((f.update - norm(&dw) / norm(&old[&w])).abs() < 1e-6 * f.update, "{l} update {} vs {}", f.update, norm(&dw) / norm(&old[&w]));
        assert!(f.grad > 0.0 && f.update > 0.0);
    }
    assert_eq!(m.blocks.len(), 9, "every block of ResNet-20 option A has a shortcut");
    for (b, f) in m.blocks.iter().zip(&r.blocks) {
        let g = model.graph.block(b).unwrap();
        let total = &tape.get(&delta(&g.input)).unwrap().data;
        assert!((f.total - norm(total)).abs() < 1e-9 * f.total);
        if !g.reshapes {
            let add = model.graph.modules.iter().find(|x| x.block.as_deref() == Some(b) && x.inputs.contains(&g.input) && x.inputs.len() == 2).unwrap();
            let shortcut = &tape.get(&delta(&add.name)).unwrap().data;
            let main: Vec<f32> = total.iter().zip(shortcut).map(|(t, s)| t - s).collect();
            assert!((f.shortcut - norm(shortcut)).abs() < 1e-5 * f.shortcut, "{b} shortcut");
            assert!((f.main - norm(&main)).abs() < 1e-4 * f.main, "{b} main {} vs {}", f.main, norm(&main));
        }
        assert!(f.main > 0.0 && f.shortcut > 0.0);
    }
}

#[test]
fn rewind_shows_the_saved_weights_and_continuing_repeats_the_run() {
    let data = Dataset::mnist();
    let mut c = Comparison::new(&ids(&["resnet8", "plain20"]), sgd(), 16, 11).unwrap();
    run(&mut c, &data, 10);
    let at10: Vec<u64> = c.members.iter().map(|m| weights_hash(&m.trainer.model)).collect();
    run(&mut c, &data, 15);
    c.evaluate(&data, 100).unwrap();
    assert_eq!(c.snapshot_steps(), vec![0, 10, 20]);
    for (i, h) in at10.iter().enumerate() {
        assert_eq!(weights_hash(&c.model_at(i, 10).unwrap()), *h, "member {i} at step 10");
    }
    let original: Vec<_> = (0..2).map(|i| losses(&c, i)).collect();
    let flow = c.members[1].flow.clone();
    c.fork(10).unwrap();
    assert_eq!(c.step, 10);
    assert_eq!(c.members[0].curve.len(), 10);
    assert!(c.members[0].heldout.is_empty());
    assert_eq!(c.snapshot_steps(), vec![0, 10]);
    run(&mut c, &data, 15);
    for i in 0..2 {
        assert_eq!(losses(&c, i), original[i], "member {i} continued from 10");
    }
    assert_eq!(c.members[1].flow, flow);
    assert!(c.fork(5).unwrap_err().0.contains("no snapshot at step 5"));
    // the end of a run is kept too (not only every 10th step)
    run(&mut c, &data, 3);
    c.keep();
    assert_eq!(c.snapshot_steps(), vec![0, 10, 20, 28]);
    assert_eq!(weights_hash(&c.model_at(0, 28).unwrap()), weights_hash(&c.members[0].trainer.model));
    assert!(c.model_at(2, 10).unwrap_err().0.contains("no member 2"));
}

#[test]
fn histories_stay_bounded_on_long_runs() {
    let data = Dataset::mnist();
    let mut c = Comparison::new(&ids(&["resnet8"]), sgd(), 1, 2).unwrap();
    let steps = 2 * FLOW_CAP + 50;
    run(&mut c, &data, steps);
    let flow = &c.members[0].flow;
    assert!(flow.len() <= FLOW_CAP + 1 && flow.len() > FLOW_CAP / 2, "{} records", flow.len());
    assert!(c.record_every >= 2);
    assert!(flow.windows(2).all(|w| w[0].step < w[1].step));
    assert_eq!(flow[0].step, 1);
    let snaps = c.snapshot_steps();
    assert!(snaps.len() <= 32 && snaps[0] == 0, "{snaps:?}");
    assert_eq!(c.members[0].curve.len(), steps);
}

#[test]
fn bad_comparisons_are_refused_with_a_reason() {
    let no = |v: &[&str], batch| Comparison::new(&ids(v), sgd(), batch, 1).err().map(|e| e.0).unwrap_or_default();
    assert!(no(&[], 8).contains("1 to 3 members"));
    assert!(no(&["resnet8"; 4], 8).contains("1 to 3 members"));
    assert!(no(&["resnet8", "lenet"], 8).contains("lenet"));
    assert!(no(&["resnet8"], 0).contains("batch size"));
    // three 56-layer-class members at batch 256 would need gigabytes: refused before anything is built
    let big = no(&["plain20", "plain56", "resnet56"], 256);
    assert!(big.starts_with("Plain-20, Plain-56, ResNet-56 at batch 256 need about") && big.contains("choose a batch of at most"), "{big}");
    assert!(Comparison::new(&ids(&["plain20", "plain56", "resnet56"]), sgd(), 32, 1).is_ok(), "the degradation lesson fits at batch 32");
}

/// `Graph::tape_bytes`, which compare mode (and the browser engine) check a batch against
/// before a pass, is what a training pass puts on the tape (activations and δ; the image gets
/// no δ, so it is a little above).
#[test]
fn the_tape_estimate_is_what_a_pass_keeps() {
    use resnet_engine::model::Mode;
    use resnet_engine::Tensor;
    for id in ["resnet8", "plain20", "resnet20-a", "resnet14-nobn"] {
        let mut m = ResNet::<f32>::new(&Config::from_arch_id(id).unwrap(), 1).unwrap();
        let x = Tensor::new(&[3, 1, 28, 28], vec![0.1; 3 * 784]).unwrap();
        m.forward(&x, Mode::Train).unwrap();
        m.backward(&[1, 2, 3]).unwrap();
        let kept: u64 = m.tape.iter().filter(|(n, _)| n.starts_with("act.") || n.starts_with("delta.")).map(|(_, t)| 4 * t.data.len() as u64).sum();
        let est = m.graph.tape_bytes(3);
        assert!(kept <= est && est as f64 <= 1.05 * kept as f64, "{id}: {kept} kept, {est} estimated");
    }
}

//! The model's structure: PyTorch names, parameter counts worked out by hand, the shapes on
//! the tape, and a CIFAR-shaped ResNet-20 one config away.

use resnet_engine::model::Mode;
use resnet_engine::rng::Rng;
use resnet_engine::{Config, ResNet, Tensor};

#[test]
fn resnet8_has_pytorch_names_and_the_counted_parameters() {
    let m = ResNet::<f32>::new(&Config::default(), 0).unwrap();
    // conv1 1·16·9 + bn1 2·16; layer1: 2·16·16·9 + 2·2·16; layer2: 16·32·9 + 32·32·9 + 2·2·32
    // + downsample 16·32 + 2·32; layer3 likewise with 32→64; fc 64·10 + 10.
    let by_hand = (144 + 32) + (4608 + 64) + (4608 + 9216 + 128 + 512 + 64) + (18432 + 36864 + 256 + 2048 + 128) + 650;
    assert_eq!(m.num_parameters(), by_hand);
    assert_eq!(by_hand, 77_754);
    let names: Vec<String> = m.params().into_iter().map(|p| p.0).collect();
    for want in ["conv1.weight", "bn1.running_var", "layer1.0.conv2.weight", "layer2.0.downsample.0.weight", "layer2.0.downsample.1.bias", "layer3.0.bn2.running_mean", "fc.weight", "fc.bias"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    assert!(!names.iter().any(|n| n.starts_with("layer1.0.downsample")), "identity shortcut in layer1");
}

#[test]
fn resnet20_cifar_is_one_config_away() {
    let cfg = Config::resnet20_cifar();
    let mut m = ResNet::<f32>::new(&cfg, 0).unwrap();
    assert_eq!(m.num_parameters(), 272_474);
    let mut rng = Rng::new(5);
    let x = Tensor::new(&[2, 3, 32, 32], (0..2 * 3 * 32 * 32).map(|_| rng.normal() as f32).collect()).unwrap();
    m.forward(&x, Mode::Train).unwrap();
    let loss = m.backward(&[3, 7]).unwrap();
    assert!(loss.is_finite() && loss > 0.0);
    let shape = |n: &str| m.tape.get(n).unwrap().shape.clone();
    assert_eq!(shape("act.layer1.2"), vec![2, 16, 32, 32]);
    assert_eq!(shape("delta.layer2.0.downsample.0"), vec![2, 32, 16, 16]);
    assert_eq!(shape("act.layer3.2"), vec![2, 64, 8, 8]);
    assert_eq!(shape("grad.layer3.1.conv2.weight"), vec![64, 64, 3, 3]);
    assert_eq!(shape("act.fc"), vec![2, 10]);
}

#[test]
fn bad_configs_and_inputs_are_refused_with_reasons() {
    let bad = Config { widths: vec![16, 32], ..Config::default() };
    assert!(ResNet::<f32>::new(&bad, 0).unwrap_err().0.contains("same length"));
    assert!(Tensor::<f32>::new(&[usize::MAX, 2], vec![]).unwrap_err().0.contains("too large"));
    let huge = Config { widths: vec![1024, 1024], blocks: vec![32, 32], ..Config::default() };
    assert!(ResNet::<f32>::new(&huge, 0).unwrap_err().0.contains("at most 16 million"));
    let zero = Config { num_classes: 0, ..Config::default() };
    assert!(ResNet::<f32>::new(&zero, 0).is_err());
    let mut m = ResNet::<f32>::new(&Config::default(), 0).unwrap();
    let wrong = Tensor::new(&[1, 1, 27, 28], vec![0.0; 27 * 28]).unwrap();
    assert!(m.forward(&wrong, Mode::Eval).unwrap_err().0.contains("[N, 1, 28, 28]"));
    let nan = Tensor::new(&[1, 1, 28, 28], vec![f32::NAN; 784]).unwrap();
    assert!(m.forward(&nan, Mode::Eval).unwrap_err().0.contains("NaN"));
    assert!(m.backward(&[0]).unwrap_err().0.contains("no tensor"), "backward before forward");
    m.forward(&Tensor::new(&[1, 1, 28, 28], vec![0.0; 784]).unwrap(), Mode::Eval).unwrap();
    assert!(m.backward(&[0, 1]).unwrap_err().0.contains("2 labels given for a batch of 1"));
    assert!(m.tape.get("act.nope").unwrap_err().0.contains("no tensor 'act.nope'"));
}

/// Passes run as a team on the thread pool (`layers::in_pool`), and several callers may run
/// passes at once (the tests do, and a native host could): every tensor must come out as it
/// does with one caller, and nothing may deadlock.
#[test]
fn concurrent_passes_from_several_threads_give_the_single_threaded_tensors() {
    let mut rng = Rng::new(9);
    let x = Tensor::new(&[6, 1, 28, 28], (0..6 * 784).map(|_| rng.normal() as f32).collect()).unwrap();
    let labels = [3, 1, 4, 1, 5, 9];
    let pass = |seed: u64| {
        let mut m = ResNet::<f32>::new(&Config::default(), seed).unwrap();
        let mut out = vec![];
        for mode in [Mode::Train, Mode::Eval, Mode::Train] {
            m.forward(&x, mode).unwrap();
            m.backward(&labels).unwrap();
            out.extend(m.tape.iter().filter(|(n, _)| n.starts_with("grad.") || n.starts_with("delta.")).flat_map(|(_, t)| t.data.clone()));
        }
        out
    };
    let want: Vec<Vec<f32>> = (0..4).map(pass).collect();
    for _ in 0..3 {
        let got: Vec<Vec<f32>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4).map(|seed| s.spawn(move || pass(seed))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(got == want, "a pass run next to others gave different numbers");
    }
}

/// `predict` — each BN that only a conv feeds folded into that conv, the ReLU after it on the
/// conv's output, on a tape of its own — gives `forward(x, Eval)`'s logits and probabilities up
/// to rounding, for every kind of shortcut, BatchNorm on and off, n = 1 and 3, on models whose
/// running statistics are not the initial ones (three training steps on real digits). With
/// BatchNorm the logits must differ from the forward's somewhere in their last bits (or nothing
/// was folded); without, they are the forward's bit for bit. The last pass's tape, and the mode
/// backward follows, stay as they were.
#[test]
fn predict_equals_eval_forward() {
    use resnet_engine::data::Dataset;
    use resnet_engine::optim::{Optimizer, OptimizerConfig};
    let data = Dataset::mnist();
    let bits = |m: &ResNet<f32>| m.tape.iter().map(|(n, t)| (n.to_string(), t.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>())).collect::<Vec<_>>();
    for n in [1, 3] {
        for shortcut in resnet_engine::Shortcut::ALL {
            for bn in [true, false] {
                let config = Config::family(n, 8, shortcut, bn);
                let mut m = ResNet::<f32>::new(&config, 3).unwrap();
                let mut opt = Optimizer::new(OptimizerConfig::sgd(0.05, 0.9, 0.0)).unwrap();
                for s in 0..3 {
                    let (x, y) = data.batch(&(s * 8..s * 8 + 8).collect::<Vec<_>>());
                    m.forward(&x, Mode::Train).unwrap();
                    m.backward(&y).unwrap();
                    opt.step(&mut m).unwrap();
                }
                // running statistics far from the initial ones, the variances small enough
                // that ε = 1e-5 counts (0.3–1 % of them)
                for b in m.batchnorms_mut() {
                    for c in 0..b.running_var.len() {
                        (b.running_var[c], b.running_mean[c]) = (1e-3 * (1 + c % 3) as f32, 0.05 * (c % 5) as f32 - 0.1);
                    }
                }
                // (the tape and mode of a training pass, as the page would hold them)
                let (xt, yt) = data.batch(&(40..48).collect::<Vec<_>>());
                m.forward(&xt, Mode::Train).unwrap();
                m.backward(&yt).unwrap();
                let before = bits(&m);
                let (x, _) = data.batch(&(100..116).collect::<Vec<_>>());
                let (logits, probs) = m.predict(&x).map(|(l, p)| (l.clone(), p.clone())).unwrap();
                assert_eq!(bits(&m), before, "{config:?}: predict changed the tape");
                assert_eq!(m.mode, Mode::Train, "{config:?}: predict changed the mode");
                let want = m.forward(&x, Mode::Eval).unwrap().clone();
                let loss = format!("act.{}", m.graph.modules.last().unwrap().name);
                let want_probs = m.tape.get(&loss).unwrap().clone();
                assert_eq!((&logits.shape, &probs.shape), (&want.shape, &want_probs.shape));
                let scale = want.data.iter().fold(1.0f32, |s, v| s.max(v.abs()));
                for (got, want, what, scale) in [(&logits, &want, "logit", scale), (&probs, &want_probs, "probability", 1.0)] {
                    for (i, (a, b)) in got.data.iter().zip(&want.data).enumerate() {
                        assert!((a - b).abs() <= 1e-4 * scale, "{config:?}: {what} {i} = {a} predicted, {b} by the forward");
                    }
                }
                let same = logits.data.iter().zip(&want.data).all(|(a, b)| a.to_bits() == b.to_bits());
                assert_eq!(same, !bn, "{config:?}: predict's logits are {} the forward's", if same { "bit for bit" } else { "not bit for bit" });
                // a numerical check's nudge (here by −0, which changes no value) turns the
                // folding off: then predict is the forward, bit for bit
                if bn {
                    m.nudge = Some(("bn1".to_string(), 0, -0.0));
                    let nudged = m.predict(&x).unwrap().0.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    assert_eq!(nudged, want.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{config:?}: predict folded with a nudge set");
                    m.nudge = None;
                }
            }
        }
    }
}

//! The formula pane's numbers: for random cells of every kind of query, the terms of the formula
//! (recomputed in f64 from the tape and the weights) add up to the engine's own tape value; the
//! term sets are the ones the formulas of `docs/backprop-formulas.md` name; bad queries get
//! readable errors.

use resnet_engine::data::Dataset;
use resnet_engine::formula::{conv_sites, formula, Formula, Query, ALL_TERMS};
use resnet_engine::model::Mode;
use resnet_engine::rng::Rng;
use resnet_engine::{Config, ResNet};
use std::collections::HashMap;

const CELLS: usize = 50;

/// An f32 ResNet-8 after forward (in `mode`) and backward on 8 real digits. For eval mode a few
/// training-mode passes first move the running statistics away from (0, 1).
fn model(mode: Mode) -> ResNet<f32> {
    model_of(&Config::default(), mode)
}

fn model_of(config: &Config, mode: Mode) -> ResNet<f32> {
    let mut m = ResNet::<f32>::new(config, 11).unwrap();
    let d = Dataset::mnist();
    let idx: Vec<usize> = (0..8).map(|i| i * 997 % 8000).collect();
    let (x, labels) = d.batch(&idx);
    if mode == Mode::Eval {
        for _ in 0..3 {
            m.forward(&x, Mode::Train).unwrap();
        }
    }
    m.forward(&x, mode).unwrap();
    m.backward(&labels).unwrap();
    m
}

fn shape(m: &ResNet<f32>, name: &str) -> Vec<usize> {
    m.tape.get(name).unwrap_or_else(|e| panic!("{e}")).shape.clone()
}

/// Tape name of the activation each conv reads, as the graph says.
fn conv_inputs(m: &ResNet<f32>) -> HashMap<String, String> {
    m.graph.of_kind("conv").map(|c| (c.name.clone(), format!("act.{}", c.inputs[0]))).collect()
}

fn bn_names(m: &ResNet<f32>) -> Vec<String> {
    m.graph.of_kind("bn").map(|b| b.name.clone()).collect()
}

fn pick<'a>(rng: &mut Rng, v: &'a [String]) -> &'a str {
    &v[rng.below(v.len())]
}

fn cell(rng: &mut Rng, s: &[usize]) -> Vec<usize> {
    s.iter().map(|&n| rng.below(n)).collect()
}

/// Runs `q` and checks everything a formula promises:
/// - result = tape value (|result − value| ≤ 1e-4·max|target| + 1e-6)
/// - listed terms + rest = sum, and result / σ'(z) = sum + added parts
/// - terms are listed largest |value| first, `min(top_k, count)` of them
/// - each term's value is the product of its factors, and each factor with a position `at`
///   is the number at that position of the tensor its name says.
fn check(m: &ResNet<f32>, params: &HashMap<String, (Vec<usize>, Vec<f32>)>, q: &Query, top_k: usize) -> Formula {
    let f = formula(m, q, top_k).unwrap_or_else(|e| panic!("{q:?}: {e}"));
    assert_eq!(f.kind, q.kind());
    let t = m.tape.get(&f.target).unwrap();
    let scale = t.data.iter().fold(0.0f64, |a, &v| a.max((v as f64).abs()));
    assert_eq!(f.value, t.get(&f.index).unwrap() as f64, "{q:?}");
    assert!((f.result - f.value).abs() <= 1e-4 * scale + 1e-6, "{q:?}: formula {} vs tape {} (scale {scale:e})\n{f:#?}", f.result, f.value);
    WORST.with(|w| {
        let mut w = w.borrow_mut();
        let e = w.entry(f.kind.clone()).or_insert((0.0, 0));
        e.0 = f64::max(e.0, (f.result - f.value).abs() / scale.max(1e-30));
        e.1 += (f.value != 0.0) as usize;
    });

    assert_eq!(f.terms.len(), top_k.min(f.count), "{q:?}");
    // every note comes with its message key, for the page to word in the reader's language
    for p in &f.parts {
        assert_eq!(p.note.is_empty(), p.say.is_none(), "{q:?}: part {} note {:?} say {:?}", p.name, p.note, p.say);
    }
    assert!(f.terms.windows(2).all(|w| w[0].value.abs() >= w[1].value.abs()), "{q:?}: terms not sorted by |value|");
    let listed: f64 = f.terms.iter().map(|t| t.value).sum();
    let big = f.terms.first().map_or(f.rest.abs(), |t| t.value.abs()).max(1e-30);
    assert!((listed + f.rest - f.sum).abs() <= 1e-12 * (f.count as f64 + 1.0) * big, "{q:?}: listed {listed} + rest {} ≠ sum {}", f.rest, f.sum);
    let added: f64 = f.parts.iter().filter(|p| p.adds).map(|p| p.value).sum();
    let fv = f.factor.as_ref().map_or(1.0, |f| f.value);
    if fv != 0.0 {
        let all = listed + f.rest + added;
        assert!((f.result / fv - all).abs() <= 1e-12 * (f.count as f64 + 1.0) * big.max(added.abs()), "{q:?}: result/σ' {} vs terms + parts {all}", f.result / fv);
    } else {
        assert_eq!(f.result, 0.0);
    }
    if let Some(fac) = &f.factor {
        let z = m.tape.get(&fac.tensor).unwrap().get(&fac.index).unwrap() as f64;
        assert_eq!((fac.z, fac.value), (z, if z > 0.0 { 1.0 } else { 0.0 }));
    }

    for term in &f.terms {
        assert_eq!(term.factors.len(), f.factor_names.len());
        assert_eq!(term.at.len(), f.factor_names.len());
        let prod: f64 = term.factors.iter().product();
        assert!((prod - term.value).abs() <= 1e-15 * prod.abs().max(1e-300), "{q:?}: {term:?}");
        for ((name, at), &v) in f.factor_names.iter().zip(&term.at).zip(&term.factors) {
            if at.is_empty() {
                continue;
            }
            let got = match m.tape.get(name) {
                Ok(t) => t.get(at).unwrap(),
                Err(_) => {
                    let (s, data) = params.get(name).unwrap_or_else(|| panic!("{q:?}: factor '{name}' is neither on the tape nor a parameter"));
                    let off = at.iter().zip(s).fold(0, |o, (&i, &n)| {
                        assert!(i < n);
                        o * n + i
                    });
                    data[off]
                }
            };
            assert_eq!(v, got as f64, "{q:?}: factor {name}{at:?}");
        }
    }
    for p in &f.parts {
        if let Some(name) = &p.tensor {
            let got = match m.tape.get(name) {
                Ok(t) => t.get(&p.index).unwrap(),
                Err(_) => params[name].1[p.index[0]],
            };
            assert_eq!(p.value, got as f64, "{q:?}: part {}", p.name);
        }
    }
    f
}

thread_local! {
    /// Per kind: worst |result − value| / max|target|, and how many checked cells were non-zero.
    static WORST: std::cell::RefCell<HashMap<String, (f64, usize)>> = std::cell::RefCell::new(HashMap::new());
}

fn params(m: &ResNet<f32>) -> HashMap<String, (Vec<usize>, Vec<f32>)> {
    m.params().into_iter().map(|(n, s, d, _)| (n, (s, d))).collect()
}

fn random_cells_of_every_kind(config: &Config, mode: Mode) {
    WORST.with(|w| w.borrow_mut().clear());
    let m = model_of(config, mode);
    let p = params(&m);
    let mut rng = Rng::new(5);
    let inputs = conv_inputs(&m);
    let convs: Vec<String> = m.convs().iter().map(|c| c.name.clone()).collect();
    let inner: Vec<String> = convs.iter().filter(|c| inputs[*c] != "act.input").cloned().collect();
    let bns = bn_names(&m);
    if *config == Config::default() {
        assert_eq!((convs.len(), bns.len()), (9, 9));
    }
    let blocks: Vec<String> = m.graph.blocks.iter().map(|b| b.name.clone()).collect();
    let shortcuts: Vec<String> = m.graph.of_kind("shortcut").map(|s| s.name.clone()).collect();
    let fc = m.graph.fc().name.clone();
    let pool = m.graph.fc().inputs[0].clone();
    for _ in 0..CELLS {
        let top_k = [0, 1, 5, 20, ALL_TERMS][rng.below(5)];

        let conv = pick(&mut rng, &convs);
        let c = cell(&mut rng, &shape(&m, &format!("act.{conv}")));
        check(&m, &p, &Query::ConvForward { conv: conv.into(), n: c[0], o: c[1], x: c[2], y: c[3] }, top_k);

        let conv = pick(&mut rng, &inner);
        let c = cell(&mut rng, &shape(&m, &inputs[conv]));
        check(&m, &p, &Query::ConvInputDelta { conv: conv.into(), n: c[0], i: c[1], x: c[2], y: c[3] }, top_k);

        let conv = pick(&mut rng, &convs);
        let c = cell(&mut rng, &m.conv(conv).unwrap().weight_shape());
        check(&m, &p, &Query::ConvWeightGrad { conv: conv.into(), o: c[0], i: c[1], a: c[2], b: c[3] }, top_k);

        if !bns.is_empty() {
            let bn = pick(&mut rng, &bns);
            let c = cell(&mut rng, &shape(&m, &format!("act.{bn}")));
            let f = check(&m, &p, &Query::BnInputDelta { bn: bn.into(), n: c[0], c: c[1], x: c[2], y: c[3] }, top_k);
            assert_eq!(f.count, if mode == Mode::Train { 3 } else { 1 });
        }

        let blk = pick(&mut rng, &blocks);
        let c = cell(&mut rng, &shape(&m, &format!("act.{}", m.graph.block(blk).unwrap().input)));
        let f = check(&m, &p, &Query::ResidualFork { block: blk.into(), n: c[0], c: c[1], x: c[2], y: c[3] }, top_k);
        let branches = if config.shortcut == resnet_engine::Shortcut::None { 0 } else { 1 };
        assert!(f.factor.is_none() && f.parts.iter().filter(|p| p.adds).count() == branches, "{}: {f:?}", config.label());

        if !shortcuts.is_empty() {
            let sc = pick(&mut rng, &shortcuts);
            let c = cell(&mut rng, &shape(&m, &format!("act.{sc}")));
            check(&m, &p, &Query::ShortcutForward { module: sc.into(), n: c[0], c: c[1], x: c[2], y: c[3] }, top_k);
        }

        let c = cell(&mut rng, &shape(&m, &format!("act.{fc}")));
        check(&m, &p, &Query::FcForward { n: c[0], j: c[1] }, top_k);
        let c = cell(&mut rng, &shape(&m, &format!("grad.{fc}.weight")));
        check(&m, &p, &Query::FcWeightGrad { j: c[0], k: c[1] }, top_k);
        let c = cell(&mut rng, &shape(&m, &format!("delta.{pool}")));
        check(&m, &p, &Query::FcInputDelta { n: c[0], k: c[1] }, top_k);
    }
    WORST.with(|w| {
        let mut kinds: Vec<_> = w.borrow().iter().map(|(k, v)| (k.clone(), *v)).collect();
        kinds.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(kinds.len(), 7 + !bns.is_empty() as usize + !shortcuts.is_empty() as usize, "{}", config.label());
        for (kind, (worst, nonzero)) in kinds {
            eprintln!("{} {mode:?} {kind}: worst error {worst:.1e} of max|target|, {nonzero}/{CELLS} cells non-zero", config.label());
            // the sums are not trivially zero (ReLU kills some input deltas, not most; option
            // A's padded channels and the ReLU zeros of its input leave about a quarter)
            let floor = if kind == "shortcut_forward" { CELLS / 10 } else { CELLS / 5 };
            assert!(nonzero >= floor, "{} {kind}: only {nonzero} non-zero cells", config.label());
        }
    });
}

#[test]
fn random_cells_sum_to_the_tape_in_train_mode() {
    random_cells_of_every_kind(&Config::default(), Mode::Train);
}

/// Every module kind of every member: projection, option A and plain, BatchNorm on and off.
#[test]
fn random_cells_sum_to_the_tape_for_every_member() {
    use resnet_engine::Shortcut;
    for shortcut in Shortcut::ALL {
        for bn in [true, false] {
            for mode in [Mode::Train, Mode::Eval] {
                random_cells_of_every_kind(&Config::family(1, 8, shortcut, bn), mode);
            }
        }
    }
}

#[test]
fn random_cells_sum_to_the_tape_in_eval_mode() {
    random_cells_of_every_kind(&Config::default(), Mode::Eval);
}

#[test]
fn bn_parts_follow_the_mode() {
    for mode in [Mode::Train, Mode::Eval] {
        let m = model(mode);
        let q = Query::BnInputDelta { bn: "layer2.0.bn2".into(), n: 3, c: 7, x: 4, y: 9 };
        let f = check(&m, &params(&m), &q, ALL_TERMS);
        assert_eq!(f.target, "delta.layer2.0.conv2");
        let names: Vec<&str> = f.parts.iter().map(|p| p.name.as_str()).collect();
        match mode {
            Mode::Train => {
                for want in ["γ", "μ", "σ²", "ε", "m", "x", "x̂", "dy", "Σdy", "Σdy·x̂"] {
                    assert!(names.contains(&want), "{want} missing from {names:?}");
                }
                let m_part = f.parts.iter().find(|p| p.name == "m").unwrap();
                assert_eq!(m_part.value, (8 * 14 * 14) as f64);
            }
            Mode::Eval => assert!(names.contains(&"running_var") && !names.contains(&"μ")),
        }
    }
}

#[test]
fn input_delta_term_counts_follow_the_window() {
    let m = model(Mode::Train);
    let p = params(&m);
    let count = |conv: &str, x: usize, y: usize| {
        let f = check(&m, &p, &Query::ConvInputDelta { conv: conv.into(), n: 1, i: 2, x, y }, ALL_TERMS);
        // every term's kernel offset is a = x + p − s·x', b = y + p − s·y'
        let c = m.conv(conv).unwrap();
        for t in &f.terms {
            let ix: HashMap<&str, usize> = t.index.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            assert_eq!(ix["a"] + c.stride * ix["x'"], x + c.pad);
            assert_eq!(ix["b"] + c.stride * ix["y'"], y + c.pad);
        }
        f.count
    };
    // stride 1, 3×3, padding 1, 16 output channels: interior O·9, corner O·4, edge O·6
    assert_eq!(count("layer1.0.conv2", 10, 13), 16 * 9);
    assert_eq!(count("layer1.0.conv2", 0, 0), 16 * 4);
    assert_eq!(count("layer1.0.conv2", 27, 27), 16 * 4);
    assert_eq!(count("layer1.0.conv2", 0, 13), 16 * 6);
    // stride 2: the valid (x', y') counted independently from the formula's condition
    for conv in ["layer2.0.conv1", "layer3.0.conv1", "layer2.0.downsample.0", "layer3.0.downsample.0"] {
        let c = m.conv(conv).unwrap();
        let (k, s, pad) = (c.k as isize, c.stride as isize, c.pad as isize);
        let h_in = shape(&m, "act.layer1.0")[2];
        let h_in = if conv.starts_with("layer3") { shape(&m, "act.layer2.0")[2] } else { h_in };
        let h_out = shape(&m, &format!("act.{conv}"))[2];
        let valid = |x: usize| (0..h_out as isize).filter(|&xo| (0..k).contains(&(x as isize + pad - s * xo))).count();
        for (x, y) in [(0, 0), (1, 2), (4, 7), (h_in - 1, h_in - 1), (h_in / 2, 1)] {
            assert_eq!(count(conv, x, y), c.c_out * valid(x) * valid(y), "{conv} at ({x}, {y})");
        }
    }
    // the 1×1 stride-2 shortcut only sees even positions
    assert_eq!(count("layer2.0.downsample.0", 4, 6), 32);
    assert_eq!(count("layer2.0.downsample.0", 5, 6), 0);
}

#[test]
fn forward_and_weight_grad_count_padding_separately() {
    let m = model(Mode::Train);
    let p = params(&m);
    let f = check(&m, &p, &Query::ConvForward { conv: "layer1.0.conv2".into(), n: 0, o: 1, x: 0, y: 0 }, 3);
    assert_eq!((f.count, f.padding), (16 * 4, 16 * 5));
    let f = check(&m, &p, &Query::ConvForward { conv: "layer1.0.conv2".into(), n: 0, o: 1, x: 9, y: 9 }, 3);
    assert_eq!((f.count, f.padding), (16 * 9, 0));
    assert_eq!(f.factor_names, ["layer1.0.conv2.weight", "act.layer1.0.relu1"]);
    // kernel row 0 at stride 1 pad 1 reads row −1 for x' = 0: one row of every image is padding
    let f = check(&m, &p, &Query::ConvWeightGrad { conv: "layer1.0.conv1".into(), o: 2, i: 3, a: 0, b: 1 }, 10);
    assert_eq!((f.count, f.padding), (8 * 27 * 28, 8 * 28));
    assert_eq!(f.factor_names, ["delta.layer1.0.conv1", "act.relu"]);
    let f = check(&m, &p, &Query::ConvWeightGrad { conv: "conv1".into(), o: 0, i: 0, a: 1, b: 1 }, 10);
    assert_eq!((f.count, f.padding), (8 * 28 * 28, 0));
}

#[test]
fn the_fork_is_the_sum_of_both_branches() {
    let m = model(Mode::Train);
    let p = params(&m);
    for (blk, conv, other) in [("layer1.0", "layer1.0.conv1", None), ("layer2.0", "layer2.0.conv1", Some("layer2.0.downsample.0"))] {
        for (x, y) in [(4, 6), (5, 7), (0, 27)] {
            let fork = check(&m, &p, &Query::ResidualFork { block: blk.into(), n: 2, c: 5, x, y }, 4);
            let main = check(&m, &p, &Query::ConvInputDelta { conv: conv.into(), n: 2, i: 5, x, y }, 4);
            // conv1's input delta is σ'(z) times the fork: the same terms and the same shortcut
            assert_eq!((fork.sum, fork.count), (main.sum, main.count));
            assert_eq!(fork.parts, main.parts);
            assert_eq!(main.result, main.factor.as_ref().unwrap().value * fork.result);
            if let Some(ds) = other {
                // from the shortcut's side, conv1 is the other branch
                let f = check(&m, &p, &Query::ConvInputDelta { conv: ds.into(), n: 2, i: 5, x, y }, 4);
                assert_eq!(f.parts[0].name, "main branch");
                assert!((f.parts[0].value - main.sum).abs() <= 1e-15 * main.sum.abs().max(1e-300));
                assert!((fork.parts[0].value - f.sum).abs() <= 1e-15 * f.sum.abs().max(1e-300));
            } else {
                assert_eq!(fork.parts[0].tensor.as_deref(), Some("delta.layer1.0.add"));
            }
        }
    }
    let f = check(&m, &p, &Query::ResidualFork { block: "layer3.0".into(), n: 0, c: 0, x: 0, y: 0 }, 1);
    assert_eq!(f.target, "delta.layer2.0");
    let f = check(&m, &p, &Query::ConvInputDelta { conv: "layer3.0.conv1".into(), n: 0, i: 0, x: 0, y: 0 }, 1);
    assert_eq!((f.target.as_str(), f.factor.unwrap().tensor.as_str()), ("delta.layer2.0.add", "act.layer2.0.add"));
    let f = check(&m, &p, &Query::ConvInputDelta { conv: "layer1.0.conv1".into(), n: 0, i: 0, x: 0, y: 0 }, 1);
    assert_eq!(f.target, "delta.bn1");
    let f = check(&m, &p, &Query::ConvInputDelta { conv: "layer2.0.conv2".into(), n: 0, i: 0, x: 0, y: 0 }, 1);
    assert_eq!((f.target.as_str(), f.parts.len()), ("delta.layer2.0.bn1", 0));
}

#[test]
fn top_k_lists_the_largest_terms() {
    let m = model(Mode::Train);
    let q = Query::ConvWeightGrad { conv: "layer2.0.conv2".into(), o: 3, i: 4, a: 1, b: 2 };
    let all = formula(&m, &q, ALL_TERMS).unwrap();
    let none = formula(&m, &q, 0).unwrap();
    let five = formula(&m, &q, 5).unwrap();
    assert_eq!((all.terms.len(), all.rest), (all.count, 0.0));
    assert_eq!((none.terms.len(), none.rest), (0, none.sum));
    assert_eq!(five.terms[..], all.terms[..5]);
    assert!(five.terms.iter().all(|t| t.index.iter().map(|(k, _)| k.as_str()).eq(["n", "x'", "y'"])));
}

#[test]
fn queries_and_results_are_json() {
    let q: Query = serde_json::from_str(r#"{"kind": "conv_input_delta", "conv": "layer2.0.conv1", "n": 0, "i": 3, "x": 4, "y": 6}"#).unwrap();
    assert_eq!(q, Query::ConvInputDelta { conv: "layer2.0.conv1".into(), n: 0, i: 3, x: 4, y: 6 });
    for q in [
        Query::ConvForward { conv: "conv1".into(), n: 0, o: 1, x: 2, y: 3 },
        Query::ConvWeightGrad { conv: "conv1".into(), o: 0, i: 0, a: 1, b: 2 },
        Query::BnInputDelta { bn: "bn1".into(), n: 0, c: 1, x: 2, y: 3 },
        Query::ResidualFork { block: "layer1.0".into(), n: 0, c: 1, x: 2, y: 3 },
        Query::FcForward { n: 0, j: 1 },
        Query::FcWeightGrad { j: 0, k: 1 },
        Query::FcInputDelta { n: 0, k: 1 },
    ] {
        let s = serde_json::to_string(&q).unwrap();
        assert!(s.starts_with(&format!("{{\"kind\":\"{}\"", q.kind())), "{s}");
        assert_eq!(serde_json::from_str::<Query>(&s).unwrap(), q);
    }
    let m = model(Mode::Train);
    let f = formula(&m, &q, 2).unwrap();
    let v: serde_json::Value = serde_json::to_value(&f).unwrap();
    assert_eq!(v["kind"], "conv_input_delta");
    assert_eq!(v["target"], "delta.layer1.0.add");
    assert_eq!(v["index"], serde_json::json!([0, 3, 4, 6]));
    assert_eq!(v["factor_names"], serde_json::json!(["delta.layer2.0.conv1", "layer2.0.conv1.weight"]));
    assert_eq!(v["terms"][0]["index"][0][0], "o");
    assert_eq!(v["terms"][0]["index"][1][0], "x'");
    assert_eq!(v["factor"]["tensor"], "act.layer1.0.add");
    assert_eq!(v["parts"][0]["name"], "shortcut");
    assert_eq!(v["mode"], "train", "the pass's mode, for the pane's BN formula");
    assert_eq!(serde_json::from_value::<Formula>(v).unwrap(), f);
}

#[test]
fn bad_queries_get_readable_errors() {
    let fresh = ResNet::<f32>::new(&Config::default(), 1).unwrap();
    let q = Query::FcForward { n: 0, j: 0 };
    let err = |m: &ResNet<f32>, q: Query| formula(m, &q, 5).unwrap_err().0;
    assert_eq!(err(&fresh, q), "the tape is empty: run a forward and backward pass first");

    let mut fwd = ResNet::<f32>::new(&Config::default(), 1).unwrap();
    let (x, _) = Dataset::mnist().batch(&[0, 1, 2]);
    fwd.forward(&x, Mode::Train).unwrap();
    let e = err(&fwd, Query::ConvInputDelta { conv: "layer1.0.conv2".into(), n: 0, i: 0, x: 0, y: 0 });
    assert!(e.contains("run a backward pass"), "{e}");
    assert!(formula(&fwd, &Query::ConvForward { conv: "layer1.0.conv2".into(), n: 2, o: 0, x: 0, y: 0 }, 5).is_ok());
    assert_eq!(err(&fwd, Query::FcForward { n: 3, j: 0 }), "n = 3 is out of range: the batch has 3 images");

    let m = model(Mode::Train);
    let cases: Vec<(Query, &str)> = vec![
        (Query::ConvForward { conv: "x".into(), n: 0, o: 0, x: 0, y: 0 }, "no conv module 'x'"),
        (Query::ConvForward { conv: "conv1".into(), n: 40, o: 0, x: 0, y: 0 }, "n = 40 is out of range: the batch has 8 images"),
        (Query::ConvForward { conv: "conv1".into(), n: 0, o: 16, x: 0, y: 0 }, "o = 16 is out of range: act.conv1 has 16 channels"),
        (Query::ConvForward { conv: "layer2.0.conv1".into(), n: 0, o: 0, x: 14, y: 0 }, "x = 14 is out of range: act.layer2.0.conv1 is 14×14"),
        (Query::ConvInputDelta { conv: "conv1".into(), n: 0, i: 0, x: 0, y: 0 }, "conv1 reads the input image, and no δ is kept for the image"),
        (Query::ConvInputDelta { conv: "layer2.0.conv1".into(), n: 0, i: 16, x: 0, y: 0 }, "i = 16 is out of range: the input of layer2.0.conv1 (act.layer1.0) has 16 channels"),
        (Query::ConvInputDelta { conv: "layer2.0.conv2".into(), n: 0, i: 0, x: 0, y: 99 }, "y = 99 is out of range: the input of layer2.0.conv2 (act.layer2.0.relu1) is 14×14"),
        (Query::ConvWeightGrad { conv: "layer1.0.conv1".into(), o: 0, i: 0, a: 3, b: 0 }, "a = 3 is out of range: layer1.0.conv1's kernel is 3×3"),
        (Query::ConvWeightGrad { conv: "layer2.0.downsample.0".into(), o: 0, i: 0, a: 0, b: 1 }, "b = 1 is out of range: layer2.0.downsample.0's kernel is 1×1"),
        (Query::ConvWeightGrad { conv: "layer3.0.conv2".into(), o: 64, i: 0, a: 0, b: 0 }, "o = 64 is out of range: layer3.0.conv2 has 64 output channels"),
        (Query::BnInputDelta { bn: "bn9".into(), n: 0, c: 0, x: 0, y: 0 }, "no batchnorm module 'bn9'"),
        (Query::BnInputDelta { bn: "layer3.0.bn1".into(), n: 0, c: 64, x: 0, y: 0 }, "c = 64 is out of range: act.layer3.0.conv1 has 64 channels"),
        (Query::ResidualFork { block: "layer4.0".into(), n: 0, c: 0, x: 0, y: 0 }, "no residual block 'layer4.0'"),
        (Query::ResidualFork { block: "layer3.0".into(), n: 0, c: 0, x: 14, y: 0 }, "x = 14 is out of range: the input of layer3.0.conv1 (act.layer2.0) is 14×14"),
        (Query::FcForward { n: 0, j: 10 }, "j = 10 is out of range: fc has 10 outputs"),
        (Query::FcWeightGrad { j: 0, k: 64 }, "k = 64 is out of range: fc has 64 inputs"),
        (Query::FcInputDelta { n: 8, k: 0 }, "n = 8 is out of range: the batch has 8 images"),
    ];
    for (q, want) in cases {
        let e = err(&m, q.clone());
        assert!(e.starts_with(want), "{q:?}: got {e:?}, want it to start with {want:?}");
    }
    // huge indices never panic
    let big = usize::MAX;
    for q in [
        Query::ConvForward { conv: "conv1".into(), n: 0, o: 0, x: big, y: big },
        Query::ConvInputDelta { conv: "layer1.0.conv1".into(), n: big, i: big, x: big, y: big },
        Query::ConvWeightGrad { conv: "conv1".into(), o: big, i: 0, a: 0, b: 0 },
        Query::BnInputDelta { bn: "bn1".into(), n: 0, c: 0, x: big, y: 0 },
    ] {
        assert!(formula(&m, &q, big).is_err());
    }
}

#[test]
fn a_changed_weight_shows_as_a_mismatch() {
    // The check is sharp: after a weight changes (as an optimizer step would), the formula
    // no longer reproduces the tape.
    let mut m = model(Mode::Train);
    let q = Query::ConvForward { conv: "layer1.0.conv2".into(), n: 0, o: 1, x: 9, y: 9 };
    let before = formula(&m, &q, 0).unwrap();
    assert!((before.result - before.value).abs() < 1e-5);
    m.convs_mut()[2].weight[(16 + 2) * 9 + 4] += 0.5; // layer1.0.conv2's w[1, 2, 1, 1]
    let after = formula(&m, &q, 0).unwrap();
    let a = m.tape.get("act.layer1.0.relu1").unwrap().get(&[0, 2, 9, 9]).unwrap() as f64;
    assert!(a != 0.0, "the changed weight multiplies a non-zero input, so the change shows");
    assert!((after.result - before.result - 0.5 * a).abs() < 1e-6);
    assert_eq!(after.value, before.value);
}

#[test]
fn conv_sites_match_the_tape_and_the_model() {
    let m = model(Mode::Train);
    let sites = conv_sites(&m).unwrap();
    assert_eq!(sites.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), m.convs().iter().map(|c| c.name.as_str()).collect::<Vec<_>>());
    // ResNet-8's wiring, written out (not read from the graph the sites come from)
    let inputs: HashMap<String, String> = [
        ("conv1", "input"), ("layer1.0.conv1", "relu"), ("layer1.0.conv2", "layer1.0.relu1"),
        ("layer2.0.conv1", "layer1.0"), ("layer2.0.conv2", "layer2.0.relu1"), ("layer2.0.downsample.0", "layer1.0"),
        ("layer3.0.conv1", "layer2.0"), ("layer3.0.conv2", "layer3.0.relu1"), ("layer3.0.downsample.0", "layer2.0"),
    ].into_iter().map(|(c, i)| (c.to_string(), format!("act.{i}"))).collect();
    for s in &sites {
        assert_eq!(format!("act.{}", s.input), inputs[&s.name], "{}", s.name);
        let (x, y) = (shape(&m, &format!("act.{}", s.input)), shape(&m, &format!("act.{}", s.name)));
        assert_eq!((x[1], y[1]), (s.c_in, s.c_out), "{}", s.name);
        assert_eq!(y[2], (x[2] + 2 * s.padding - s.k) / s.stride + 1, "{}", s.name);
        let bn = s.bn.as_deref().unwrap();
        assert_eq!(shape(&m, &format!("act.{bn}")), y, "{} feeds {bn}", s.name);
        assert_eq!(shape(&m, &format!("stat.{bn}.mean")), vec![s.c_out]);
        match &s.z {
            None => assert_eq!(s.input, "input"),
            Some(z) => assert_eq!(shape(&m, &format!("act.{z}")), x, "{}'s z", s.name),
        }
        if let Some(sib) = &s.sibling {
            let other = sites.iter().find(|t| &t.name == sib).unwrap();
            assert_eq!((&other.input, other.sibling.as_deref()), (&s.input, Some(s.name.as_str())));
        }
    }
    // the issue's ResNet-8: the stride-2 conv of layer2 and its 1×1 shortcut read layer1.0
    let c = sites.iter().find(|s| s.name == "layer2.0.conv1").unwrap();
    assert_eq!((c.k, c.stride, c.padding, c.z.as_deref(), c.bn.as_deref()), (3, 2, 1, Some("layer1.0.add"), Some("layer2.0.bn1")));
    assert_eq!(c.sibling.as_deref(), Some("layer2.0.downsample.0"));
    // z is the pre-activation of the ReLU whose output the conv reads
    let z_of = |n: &str| sites.iter().find(|s| s.name == n).unwrap().z.clone();
    assert_eq!(z_of("conv1"), None);
    assert_eq!(z_of("layer1.0.conv1").as_deref(), Some("bn1"));
    assert_eq!(z_of("layer1.0.conv2").as_deref(), Some("layer1.0.bn1"));
    assert_eq!(z_of("layer3.0.downsample.0").as_deref(), Some("layer2.0.add"));
    let d = sites.iter().find(|s| s.name == "layer2.0.downsample.0").unwrap();
    assert_eq!((d.k, d.stride, d.padding, d.bn.as_deref()), (1, 2, 0, Some("layer2.0.downsample.1")));
}

/// The definition of a derivative agrees with backprop (float64, ε = 1e-5) to 1e-6 relative
/// (or to float64's floor for derivatives below ≈ 1e-4) on random cells of every kind that is
/// a derivative, in both modes; a cell whose ±ε runs put
/// a ReLU input on different sides of 0 (a kink) is reported as such, and is rare.
#[test]
fn numerical_checks_agree_with_backprop() {
    use resnet_engine::formula::numerical_check;
    for mode in [Mode::Train, Mode::Eval] {
        let m = model(mode);
        let mut rng = Rng::new(8);
        let (mut checked, mut kinks) = (0, 0);
        for _ in 0..3 {
            let conv = ["layer1.0.conv1", "layer2.0.conv2", "layer3.0.downsample.0", "conv1"][rng.below(4)];
            let w = m.conv(conv).unwrap().weight_shape();
            let c = cell(&mut rng, &w);
            let z = shape(&m, "act.layer1.0");
            let d = cell(&mut rng, &z);
            let queries = [
                Query::ConvWeightGrad { conv: conv.into(), o: c[0], i: c[1], a: c[2], b: c[3] },
                Query::FcWeightGrad { j: rng.below(10), k: rng.below(64) },
                Query::ConvInputDelta { conv: "layer2.0.conv1".into(), n: d[0], i: d[1], x: d[2] / 2, y: d[3] / 2 },
                Query::BnInputDelta { bn: "layer1.0.bn2".into(), n: d[0], c: d[1], x: d[2], y: d[3] },
                Query::ResidualFork { block: "layer2.0".into(), n: d[0], c: d[1], x: d[2], y: d[3] },
                Query::FcInputDelta { n: d[0], k: rng.below(64) },
            ];
            for q in queries {
                let ch = numerical_check(&m, &q, 1e-5).unwrap_or_else(|e| panic!("{q:?}: {e}"));
                assert_eq!(ch.loss_plus > ch.loss_minus, ch.numeric > 0.0);
                if ch.kink {
                    kinks += 1;
                    continue;
                }
                // 1e-6 relative; for a tiny derivative the floor is float64's: the two losses are
                // each exact to a few ulps, so their difference over 2ε is to ≈ 1e-15·C/ε
                let floor = 8e-16 * ch.loss_plus.abs().max(1.0) / ch.eps;
                assert!(ch.rel_diff < 1e-6 || (ch.numeric - ch.backprop).abs() < floor, "{mode:?} {q:?}: numeric {} vs backprop {} (relative {:e})", ch.numeric, ch.backprop, ch.rel_diff);
                // and the f64 backprop is the f32 tape's value, to float precision
                let f = formula(&m, &q, 0).unwrap();
                assert!((f.value - ch.backprop).abs() <= 1e-4 * ch.backprop.abs().max(1e-6), "{q:?}: tape {} vs f64 {}", f.value, ch.backprop);
                checked += 1;
            }
        }
        assert!(kinks * 4 <= checked, "{mode:?}: {kinks} kinks in {checked} cells");
    }
    let m = model(Mode::Train);
    let e = numerical_check(&m, &Query::FcForward { n: 0, j: 0 }, 1e-6).unwrap_err().0;
    assert!(e.contains("is a forward value, not a derivative"), "{e}");
    assert!(numerical_check(&m, &Query::FcWeightGrad { j: 0, k: 0 }, 0.0).is_err());
}

/// The picture the pane draws is the formula: on every channel, the window over the grid
/// (dilated and padded δ^{l+1} under ROT180(w), or the padded input under w) multiplies out to
/// the formula's terms of that channel; the outlined cells are the terms' (x', y') and hold
/// their δ; the kernel entries they meet hold the terms' w. Random cells of every member with
/// a stride-2 conv (each shortcut, with and without BN).
#[test]
fn pictures_multiply_out_to_the_formula() {
    use resnet_engine::formula::{picture, Cell};
    use resnet_engine::Shortcut;
    let mut rng = Rng::new(21);
    for shortcut in Shortcut::ALL {
        for bn in [true, false] {
            let m = model_of(&Config::family(1, 8, shortcut, bn), Mode::Train);
            let inputs = conv_inputs(&m);
            let convs: Vec<String> = m.convs().iter().map(|c| c.name.clone()).collect();
            for _ in 0..12 {
                let conv = pick(&mut rng, &convs);
                let delta = inputs[conv] != "act.input" && rng.below(2) == 0;
                let q = if delta {
                    let c = cell(&mut rng, &shape(&m, &inputs[conv]));
                    Query::ConvInputDelta { conv: conv.into(), n: c[0], i: c[1], x: c[2], y: c[3] }
                } else {
                    let c = cell(&mut rng, &shape(&m, &format!("act.{conv}")));
                    Query::ConvForward { conv: conv.into(), n: c[0], o: c[1], x: c[2], y: c[3] }
                };
                let f = formula(&m, &q, ALL_TERMS).unwrap();
                let first = picture(&m, &q, None).unwrap();
                let axis = if delta { "o" } else { "i" };
                // (a 1×1 stride-2 conv's input delta at an odd row has no terms: channel 0 then)
                let largest = f.terms.first().map_or(0, |t| t.index.iter().find(|(a, _)| a == axis).unwrap().1);
                assert_eq!((first.channel, first.largest, first.kind.as_str()), (largest, largest, if delta { "delta" } else { "forward" }));
                let mut total = 0.0;
                for ch in 0..first.channels {
                    let p = picture(&m, &q, Some(ch)).unwrap();
                    assert_eq!(p.cells.len(), p.rows * p.cols);
                    let k = p.k;
                    let [wr, wc] = p.window;
                    let mut window_sum = 0.0;
                    for a in 0..k {
                        for b in 0..k {
                            if let Some(Cell::Value(v)) = p.cells.get((wr + a) * p.cols + wc + b) {
                                window_sum += v * p.kernel[a * k + b];
                            }
                        }
                    }
                    let terms: Vec<_> = f.terms.iter().filter(|t| t.index.iter().any(|(n, v)| n == axis && *v == ch)).collect();
                    let sum: f64 = terms.iter().map(|t| t.value).sum();
                    let scale = terms.iter().map(|t| t.value.abs()).fold(1e-9, f64::max);
                    assert!((window_sum - sum).abs() <= 1e-9 * scale * (k * k) as f64, "{q:?} channel {ch}: window {window_sum} vs terms {sum}");
                    total += window_sum;
                    if delta {
                        let get = |t: &resnet_engine::formula::Term, n: &str| t.index.iter().find(|(a, _)| a == n).unwrap().1;
                        let mut reach: Vec<[usize; 2]> = terms.iter().map(|t| [get(t, "x'"), get(t, "y'")]).collect();
                        reach.sort();
                        let mut got = p.reach.clone();
                        got.sort();
                        assert_eq!(got, reach, "{q:?}");
                        for (t, (o, u)) in terms.iter().map(|t| (t, p.reach.iter().position(|r| *r == [get(t, "x'"), get(t, "y'")]).unwrap())).map(|(t, j)| (t, (p.outline[j], p.used[j]))) {
                            assert_eq!(p.cells[o[0] * p.cols + o[1]], Cell::Value(t.factors[0]), "{q:?}: outlined cell {o:?}");
                            assert_eq!(p.kernel[u[0] * k + u[1]], t.factors[1], "{q:?}: kernel entry {u:?}");
                            assert_eq!(u, [k - 1 - get(t, "a"), k - 1 - get(t, "b")]);
                            assert!(o[0] >= wr && o[0] < wr + k && o[1] >= wc && o[1] < wc + k, "outlined {o:?} in the window");
                        }
                    } else {
                        assert!(p.outline.is_empty() && p.used.is_empty());
                    }
                }
                assert!((total - f.sum).abs() <= 1e-9 * f.terms.first().map_or(1e-9, |t| t.value.abs().max(1e-9)) * f.count as f64, "{q:?}: {total} vs {}", f.sum);
            }
        }
    }
    // the page's example: layer2.0.conv1 (K = 3, s = 2, p = 1) at x = 9, y = 12 of a 28×28 input
    let m = model(Mode::Train);
    let p = picture(&m, &Query::ConvInputDelta { conv: "layer2.0.conv1".into(), n: 0, i: 3, x: 9, y: 12 }, Some(0)).unwrap();
    assert_eq!((p.rows, p.cols, p.pad, p.extra, p.map), (30, 30, 1, 1, [14, 14]));
    assert_eq!(p.reach, vec![[4, 6], [5, 6]]);
    assert_eq!(p.outline, vec![[9, 13], [11, 13]]);
    assert_eq!(p.used, vec![[0, 1], [2, 1]]);
    assert_eq!(p.cells[0], Cell::Zero(resnet_engine::formula::Zero::Padding));
    assert_eq!(p.cells[2 * 30 + 1], Cell::Zero(resnet_engine::formula::Zero::Dilation));
    assert!(matches!(p.cells[30 + 1], Cell::Value(_)));
    // bad channels and kinds are refused with the reason
    let e = picture(&m, &Query::ConvInputDelta { conv: "layer2.0.conv1".into(), n: 0, i: 3, x: 9, y: 12 }, Some(32)).unwrap_err().to_string();
    assert!(e.contains("o = 32") && e.contains("32 output channels"), "{e}");
    let e = picture(&m, &Query::FcForward { n: 0, j: 1 }, None).unwrap_err().to_string();
    assert!(e.contains("conv_input_delta and conv_forward"), "{e}");
}

/// Cells without a formula: their value is the tape's, and the note is the one the graph's
/// wiring calls for (ResNet-8's, written out here).
#[test]
fn cell_notes_follow_the_wiring() {
    use resnet_engine::formula::{cell_note, NoteKind::*};
    let m = model(Mode::Eval);
    let cases: &[(&str, &[usize], _, &[&str])] = &[
        ("act.layer1.0.add", &[1, 2, 3, 4], AddForward, &["layer1.0.bn2", "relu"]),
        ("act.bn1", &[0, 1, 2, 3], BnForward, &[]),
        ("act.layer2.0.relu1", &[0, 1, 2, 3], ReluForward, &[]),
        ("act.avgpool", &[0, 5], PoolForward, &[]),
        ("delta.layer1.0.bn2", &[0, 1, 2, 3], AddDelta, &["layer1.0.add"]),
        ("delta.layer1.0.relu1", &[0, 1, 2, 3], ReluDelta, &["layer1.0.conv2"]),
        ("delta.layer3.0", &[0, 1, 2, 3], PoolDelta, &[]),
        ("delta.layer3.0.add", &[0, 1, 2, 3], LastJunctionDelta, &[]),
        ("delta.fc", &[0, 7], SoftmaxDelta, &[]),
        ("act.layer2.0.conv1", &[0, 1, 2, 3], About, &[]),
    ];
    for (target, index, kind, modules) in cases {
        let n = cell_note(&m, target, index).unwrap();
        assert_eq!((n.note, n.modules.iter().map(String::as_str).collect::<Vec<_>>()), (*kind, modules.to_vec()), "{target}");
        let t = m.tape.get(target).unwrap();
        let off = index.iter().zip(&t.shape).fold(0, |o, (&i, &s)| o * s + i);
        assert_eq!(n.value, t.data[off] as f64, "{target}");
    }
    // option A: δ of the shortcut goes back unchanged to the block's input
    let a = model_of(&Config::family(1, 8, resnet_engine::Shortcut::Identity, true), Mode::Train);
    let n = cell_note(&a, "delta.layer2.0.shortcut", &[0, 0, 0, 0]).unwrap();
    assert_eq!((n.note, n.modules.clone()), (ShortcutDelta, vec!["layer2.0.add".to_string(), "layer1.0".to_string()]));
    for (target, index, needle) in [("act.nothing", vec![0], "nothing"), ("grad.fc.weight", vec![0, 0], "act.<name>"), ("act.bn1", vec![0, 1], "axes"), ("act.bn1", vec![0, 16, 0, 0], "outside"), ("act.bn1", vec![9, 0, 0, 0], "n = 9")] {
        let e = cell_note(&m, target, &index).unwrap_err().to_string();
        assert!(e.contains(needle), "{target} {index:?}: {e}");
    }
}

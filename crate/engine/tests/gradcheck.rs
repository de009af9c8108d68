//! Finite-difference gradient checks, in float64: every layer on its own, then the whole
//! model (train and eval mode). Central differences with h = 1e-6 against the analytic
//! backward; f64 makes the check sharp (agreement to ~1e-7 relative, ReLU kinks aside).

use resnet_engine::layers::batchnorm::{self, Dims};
use resnet_engine::layers::conv::ConvGeom;
use resnet_engine::layers::{activation, conv_reference, linear, loss, pool};
use resnet_engine::model::Mode;
use resnet_engine::rng::Rng;
use resnet_engine::{Config, ResNet, Shortcut, Tensor};

const H: f64 = 1e-6;

fn randn(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.normal()).collect()
}

/// Checks `grad` (analytic ∂L/∂v) against central differences of `loss` at `v`, for all or
/// `sample` random entries. Relative error per entry with a floor on the scale.
fn check(name: &str, v: &mut [f64], grad: &[f64], mut loss: impl FnMut(&[f64]) -> f64, sample: Option<usize>, rng: &mut Rng) {
    let idx: Vec<usize> = match sample {
        Some(k) if k < v.len() => (0..k).map(|_| rng.below(v.len())).collect(),
        _ => (0..v.len()).collect(),
    };
    let scale = grad.iter().fold(1e-3f64, |m, g| m.max(g.abs()));
    let mut worst = 0.0f64;
    for i in idx {
        let old = v[i];
        v[i] = old + H;
        let lp = loss(v);
        v[i] = old - H;
        let lm = loss(v);
        v[i] = old;
        let fd = (lp - lm) / (2.0 * H);
        let err = (fd - grad[i]).abs() / scale;
        worst = worst.max(err);
        assert!(err < 1e-5, "{name}[{i}]: finite difference {fd:.9} vs backward {:.9} (scale {scale:.3e})", grad[i]);
    }
    eprintln!("{name}: worst relative error {worst:.2e}");
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn conv_reference_gradients_match_finite_differences() {
    let mut rng = Rng::new(1);
    for &(n, c, h, w, o, k, s, p) in &[(2, 2, 5, 6, 3, 3, 1, 1), (2, 3, 7, 7, 2, 3, 2, 1), (1, 2, 6, 5, 3, 1, 2, 0), (2, 1, 5, 5, 2, 2, 1, 0)] {
        let g = ConvGeom::new(n, c, h, w, o, k, s, p).unwrap();
        let x = randn(&mut rng, n * g.in_len());
        let mut wt = randn(&mut rng, o * g.ckk());
        let mut b = randn(&mut rng, o);
        let up = randn(&mut rng, n * g.out_len());
        let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; wt.len()], vec![0.0; o]);
        conv_reference::conv2d_backward(&g, &x, &wt, &up, Some(&mut dx), &mut dw, Some(&mut db));
        let f = |x: &[f64], wt: &[f64], b: &[f64]| {
            let mut y = vec![0.0; n * g.out_len()];
            conv_reference::conv2d_forward(&g, x, wt, Some(b), &mut y);
            dot(&y, &up)
        };
        let (w0, b0) = (wt.clone(), b.clone());
        check("conv dx", &mut x.clone(), &dx, |v| f(v, &w0, &b0), None, &mut rng);
        check("conv dw", &mut wt, &dw, |v| f(&x, v, &b0), None, &mut rng);
        check("conv db", &mut b, &db, |v| f(&x, &w0, v), None, &mut rng);
    }
}

#[test]
fn batchnorm_gradients_match_finite_differences_in_both_modes() {
    let mut rng = Rng::new(2);
    let d = Dims { n: 3, c: 2, hw: 5 };
    let len = d.n * d.c * d.hw;
    let x: Vec<f64> = randn(&mut rng, len).iter().map(|v| 2.0 * v + 0.5).collect();
    let mut gamma = randn(&mut rng, d.c);
    let mut beta = randn(&mut rng, d.c);
    let up = randn(&mut rng, len);
    let (rm, rv) = (vec![0.3, -0.2], vec![1.7, 0.6]);
    let train = |x: &[f64], g: &[f64], b: &[f64]| {
        let (mut y, mut m, mut v, mut rm2, mut rv2) = (vec![0.0; len], vec![0.0; 2], vec![0.0; 2], rm.clone(), rv.clone());
        batchnorm::forward_train(&d, x, g, b, &mut y, None, &mut m, &mut v, &mut rm2, &mut rv2);
        (dot(&y, &up), m, v)
    };
    let (_, mean, var) = train(&x, &gamma, &beta);
    let (mut dx, mut dg, mut db) = (vec![0.0; len], vec![0.0; 2], vec![0.0; 2]);
    batchnorm::backward_train(&d, &x, &up, &gamma, &mean, &var, &mut dx, &mut dg, &mut db);
    let (g0, b0) = (gamma.clone(), beta.clone());
    check("bn(train) dx", &mut x.clone(), &dx, |v| train(v, &g0, &b0).0, None, &mut rng);
    check("bn(train) dγ", &mut gamma, &dg, |v| train(&x, v, &b0).0, None, &mut rng);
    check("bn(train) dβ", &mut beta, &db, |v| train(&x, &g0, v).0, None, &mut rng);

    let eval = |x: &[f64], g: &[f64], b: &[f64]| {
        let mut y = vec![0.0; len];
        batchnorm::forward_eval(&d, x, g, b, &rm, &rv, &mut y, None);
        dot(&y, &up)
    };
    batchnorm::backward_eval(&d, &x, &up, &gamma, &rm, &rv, &mut dx, &mut dg, &mut db);
    check("bn(eval) dx", &mut x.clone(), &dx, |v| eval(v, &gamma, &beta), None, &mut rng);
    check("bn(eval) dγ", &mut gamma.clone(), &dg, |v| eval(&x, v, &beta), None, &mut rng);
}

#[test]
fn batchnorm_running_statistics_follow_pytorch() {
    // x of one channel: 1, 2, 3, 6 → μ = 3, biased σ² = 3.5, unbiased 14/3.
    let d = Dims { n: 2, c: 1, hw: 2 };
    let x = [1.0, 2.0, 3.0, 6.0];
    let (mut y, mut m, mut v, mut rm, mut rv): (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) = (vec![0.0; 4], vec![0.0], vec![0.0], vec![0.0], vec![1.0]);
    batchnorm::forward_train(&d, &x, &[1.0], &[0.0], &mut y, None, &mut m, &mut v, &mut rm, &mut rv);
    assert_eq!((m[0], v[0]), (3.0, 3.5));
    assert!((rm[0] - 0.3).abs() < 1e-12 && (rv[0] - (0.9 + 0.1 * 14.0 / 3.0)).abs() < 1e-12);
    assert!((y[0] - (1.0 - 3.0) / (3.5f64 + 1e-5).sqrt()).abs() < 1e-12);
}

#[test]
fn small_layers_match_finite_differences() {
    let mut rng = Rng::new(3);
    // ReLU (away from the kink)
    let mut x: Vec<f64> = randn(&mut rng, 20).iter().map(|v| if v.abs() < 0.01 { 0.5 } else { *v }).collect();
    let up = randn(&mut rng, 20);
    let mut y = vec![0.0; 20];
    activation::relu_forward(&x, &mut y);
    let mut dx = vec![0.0; 20];
    activation::relu_backward(&y, &up, &mut dx);
    check("relu", &mut x, &dx, |v| {
        let mut y = vec![0.0; 20];
        activation::relu_forward(v, &mut y);
        dot(&y, &up)
    }, None, &mut rng);
    // global average pool: [2, 3, 2×2] → [2, 3]
    let mut x = randn(&mut rng, 24);
    let up = randn(&mut rng, 6);
    let mut dx = vec![0.0; 24];
    pool::gap_backward(&up, 4, &mut dx);
    check("avgpool", &mut x, &dx, |v| {
        let mut y = vec![0.0; 6];
        pool::gap_forward(v, 4, &mut y);
        dot(&y, &up)
    }, None, &mut rng);
    // linear [3, 4] → [3, 5]
    let (x, mut w, b) = (randn(&mut rng, 12), randn(&mut rng, 20), randn(&mut rng, 5));
    let up = randn(&mut rng, 15);
    let (mut dx, mut dw, mut db) = (vec![0.0; 12], vec![0.0; 20], vec![0.0; 5]);
    linear::linear_backward(&x, &w, &up, 4, &mut dx, &mut dw, &mut db);
    let f = |x: &[f64], w: &[f64], b: &[f64]| {
        let mut y = vec![0.0; 15];
        linear::linear_forward(x, w, b, 4, &mut y);
        dot(&y, &up)
    };
    let w0 = w.clone();
    check("linear dx", &mut x.clone(), &dx, |v| f(v, &w0, &b), None, &mut rng);
    check("linear dW", &mut w, &dw, |v| f(&x, v, &b), None, &mut rng);
    check("linear db", &mut b.clone(), &db, |v| f(&x, &w0, v), None, &mut rng);
    // softmax cross-entropy [3, 4]
    let mut z = randn(&mut rng, 12);
    let labels = [2, 0, 3];
    let mut p = vec![0.0; 12];
    loss::softmax_ce_forward(&z, &labels, 4, &mut p);
    let mut dz = vec![0.0; 12];
    loss::softmax_ce_backward(&p, &labels, 4, &mut dz);
    check("softmax-ce", &mut z, &dz, |v| loss::softmax_ce_forward(v, &labels, 4, &mut vec![0.0; 12]), None, &mut rng);
}

fn tiny(shortcut: Shortcut, batchnorm: bool) -> Config {
    Config { in_channels: 2, image_size: 8, num_classes: 4, widths: vec![2, 4, 6], blocks: vec![1, 2, 1], shortcut, batchnorm }
}

/// The whole model: ∂C/∂(every parameter), training and eval mode, for every shortcut kind
/// (projection, option A, none) with BatchNorm on and off.
#[test]
fn whole_model_gradients_match_finite_differences() {
    for shortcut in Shortcut::ALL {
        for bn in [true, false] {
            whole_model(&tiny(shortcut, bn));
        }
    }
}

fn whole_model(cfg: &Config) {
    let cfg = cfg.clone();
    for mode in [Mode::Train, Mode::Eval] {
        let mut rng = Rng::new(4);
        let mut model = ResNet::<f64>::new(&cfg, 7).unwrap();
        // Non-trivial BN statistics and affine parameters for eval mode.
        for b in model.batchnorms_mut() {
            for c in 0..b.c {
                b.running_mean[c] = 0.2 * rng.normal();
                b.running_var[c] = 0.5 + rng.uniform();
                b.weight[c] = 1.0 + 0.3 * rng.normal();
                b.bias[c] = 0.1 * rng.normal();
            }
        }
        let x = Tensor::new(&[3, 2, 8, 8], randn(&mut rng, 3 * 2 * 64)).unwrap();
        let labels = vec![1, 3, 0];
        let loss_of = |m: &ResNet<f64>, x: &Tensor<f64>| {
            let mut m = m.clone_weights();
            m.forward(x, mode).unwrap();
            m.backward(&labels).unwrap()
        };
        model.forward(&x, mode).unwrap();
        let base = model.clone_weights();
        model.backward(&labels).unwrap();
        let names: Vec<String> = model.params().into_iter().filter(|p| p.3).map(|p| p.0).collect();
        let want = match (cfg.shortcut, cfg.batchnorm) {
            (Shortcut::Projection, true) => 3 + 4 * 6 + 2 * 3 + 2,  // stem conv+BN, 4 blocks of 2 conv+BN, 2 downsamples, fc
            (Shortcut::Projection, false) => 2 + 4 * 4 + 2 * 2 + 2, // every conv with a bias, no BN
            (_, true) => 3 + 4 * 6 + 2,
            (_, false) => 2 + 4 * 4 + 2,
        };
        assert_eq!(names.len(), want, "{}", cfg.label());
        for name in names {
            let grad = model.tape.get(&format!("grad.{name}")).unwrap().data.clone();
            let mut m = base.clone_weights();
            let mut v = m.params_mut().into_iter().find(|p| p.name == name).unwrap().data.clone();
            check(&format!("{} {mode:?} {name}", cfg.label()), &mut v, &grad, |v| {
                *m.params_mut().into_iter().find(|p| p.name == name).unwrap().data = v.to_vec();
                loss_of(&m, &x)
            }, Some(12), &mut rng);
        }
        let d_in = model.tape.get("delta.layer1.0").unwrap().clone();
        assert!(d_in.data.iter().any(|v| v.abs() > 1e-6), "{mode:?}: delta reaches layer1.0");
    }
}

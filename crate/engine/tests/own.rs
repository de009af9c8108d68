//! Classes of one's own and the student's image sets (`resnet_engine::own`): a network with 3
//! classes has a 3-way fc, loss and formulas, refuses a fourth label, and learns three drawn
//! shapes; an image set moves through its safetensors file bit for bit and a bad file is
//! refused with the reason; the held-out part and its messages; the mixed batches' shares and
//! their determinism.

use resnet_engine::data::normalize;
use resnet_engine::formula::{formula, Query, ALL_TERMS};
use resnet_engine::io::{load_image_set, save_image_set};
use resnet_engine::model::Mode;
use resnet_engine::optim::OptimizerConfig;
use resnet_engine::own::{mixed_batch, Augment, ImageSet, MixedSampler, Source};
use resnet_engine::rng::Rng;
use resnet_engine::tensor::Tensor;
use resnet_engine::train::Trainer;
use resnet_engine::{Config, ResNet, Shortcut};

/// A 28×28 drawing of shape `class` (0: a ring, 1: a vertical bar, 2: a cross), a few pixels
/// off centre and of a random size, as a student might draw it.
fn shape(class: usize, rng: &mut Rng) -> Vec<u8> {
    let (cx, cy) = (14.0 + rng.below(7) as f64 - 3.0, 14.0 + rng.below(7) as f64 - 3.0);
    let r = 6.0 + rng.below(4) as f64;
    let mut img = vec![0u8; 784];
    for y in 0..28 {
        for x in 0..28 {
            let (dx, dy) = (x as f64 - cx, y as f64 - cy);
            let ink = match class {
                0 => ((dx * dx + dy * dy).sqrt() - r).abs() < 1.6,
                1 => dx.abs() < 1.6 && dy.abs() < r + 2.0,
                _ => (dx - dy).abs() < 1.6 && dx.abs() < r || (dx + dy).abs() < 1.6 && dx.abs() < r,
            };
            if ink {
                img[y * 28 + x] = 255;
            }
        }
    }
    img
}

fn set_of_shapes(per_class: usize, seed: u64) -> ImageSet {
    let mut rng = Rng::new(seed);
    let mut set = ImageSet::new(3).unwrap();
    for _ in 0..per_class {
        for c in 0..3 {
            set.push(&shape(c, &mut rng), c).unwrap();
        }
    }
    set
}

fn batch(set: &ImageSet, idx: &[usize]) -> (Tensor<f32>, Vec<usize>) {
    let data = idx.iter().flat_map(|&i| set.image(i).iter().map(|&p| normalize(p))).collect();
    (Tensor { shape: vec![idx.len(), 1, 28, 28], data }, idx.iter().map(|&i| set.labels[i]).collect())
}

fn three_classes() -> Config {
    Config { num_classes: 3, ..Config::family(1, 8, Shortcut::Projection, true) }
}

#[test]
fn three_classes_give_a_three_way_fc_loss_and_formulas() {
    let mut m = ResNet::<f32>::new(&three_classes(), 2).unwrap();
    let set = set_of_shapes(4, 1);
    let (x, labels) = batch(&set, &(0..6).collect::<Vec<_>>());
    m.forward(&x, Mode::Train).unwrap();
    let p = m.tape.get("act.softmax").unwrap().clone();
    assert_eq!(p.shape, vec![6, 3]);
    for n in 0..6 {
        let s: f32 = p.data[n * 3..n * 3 + 3].iter().sum();
        assert!((s - 1.0).abs() < 1e-5, "probabilities of image {n} sum to {s}");
    }
    let loss = m.backward(&labels).unwrap();
    assert!(loss.is_finite() && loss > 0.0);
    assert_eq!(m.tape.get("grad.fc.weight").unwrap().shape, vec![3, 32]);
    // the fc formulas run over the task's classes
    let f = formula(&m, &Query::FcInputDelta { n: 1, k: 5 }, ALL_TERMS).unwrap();
    assert_eq!(f.count, 3, "Σ_j over 3 classes");
    assert!((f.result - f.value).abs() <= 1e-5 * f.value.abs().max(1e-6));
    let f = formula(&m, &Query::FcForward { n: 0, j: 2 }, ALL_TERMS).unwrap();
    assert!((f.result - f.value).abs() <= 1e-4 * f.value.abs().max(1e-4));
    assert!(formula(&m, &Query::FcForward { n: 0, j: 3 }, 1).is_err(), "no fourth class");
    // a label the task does not have is refused, with the reason
    let e = m.backward(&[0, 1, 2, 3, 0, 1]).unwrap_err().to_string();
    assert!(e.contains('3'), "{e}");
}

#[test]
fn a_fresh_net_learns_three_drawn_shapes() {
    let set = set_of_shapes(20, 7);
    let (train, held) = set.held_out().unwrap();
    assert_eq!(train.len() + held.len(), 60);
    assert!((6..=20).contains(&held.len()), "about one in five held out: {}", held.len());
    let model = ResNet::<f32>::new(&three_classes(), 3).unwrap();
    let mut t = Trainer::new(model, OptimizerConfig::adam(0.01, 0.0), 16, 5).unwrap();
    let sampler = MixedSampler::new(5, 16, 1.0).unwrap();
    for step in 0..60 {
        let picks: Vec<usize> = sampler.batch(step, 0, train.len()).unwrap().into_iter().map(|s| match s {
            Source::Own(i) => train[i],
            Source::Mnist(_) => unreachable!("share 1: all the student's"),
        }).collect();
        let (x, labels) = batch(&set, &picks);
        t.step_batch(&x, &labels).unwrap();
    }
    let (x, labels) = batch(&set, &held);
    t.model.forward(&x, Mode::Eval).unwrap();
    let p = t.model.tape.get("act.softmax").unwrap().clone();
    let right = labels.iter().enumerate().filter(|&(n, &l)| (0..3).max_by(|&a, &b| p.data[n * 3 + a].total_cmp(&p.data[n * 3 + b])) == Some(l)).count();
    assert!(right + 1 >= held.len(), "{right} of {} held-out drawings recognised", held.len());
}

#[test]
fn an_images_part_is_stable_whatever_else_is_added_or_deleted() {
    let set = set_of_shapes(20, 11);
    let (_, held) = set.held_out().unwrap();
    let part = |s: &ImageSet, img: &[u8]| {
        let (_, h) = s.held_out().unwrap();
        h.iter().any(|&i| s.image(i) == img)
    };
    // delete every fourth image of the set: the others keep their part
    let mut fewer = ImageSet::new(3).unwrap();
    for i in (0..set.len()).filter(|i| i % 4 != 0) {
        fewer.push(set.image(i), set.labels[i]).unwrap();
    }
    let mut moved = 0;
    for i in (0..set.len()).filter(|i| i % 4 != 0) {
        if part(&fewer, set.image(i)) != held.contains(&i) {
            moved += 1;
        }
    }
    assert_eq!(moved, 0, "no image changed part when others were deleted");
    // a duplicate of a held-out image is held out too (it would otherwise train on the test)
    let mut twice = set.clone();
    let h = held[0];
    twice.push(&set.image(h).to_vec(), set.labels[h]).unwrap();
    let (_, held2) = twice.held_out().unwrap();
    assert!(held2.contains(&h) && held2.contains(&(twice.len() - 1)));
}

#[test]
fn an_image_set_moves_through_its_file_bit_for_bit_and_bad_files_are_refused() {
    let set = set_of_shapes(3, 2);
    let bytes = save_image_set(&set);
    assert_eq!(load_image_set(&bytes, 3).unwrap(), set);
    // duplicates are allowed
    let mut twice = set.clone();
    twice.push(&set.image(0).to_vec(), set.labels[0]).unwrap();
    assert_eq!(load_image_set(&save_image_set(&twice), 3).unwrap(), twice);

    let err = |b: &[u8], classes: usize| load_image_set(b, classes).unwrap_err().to_string();
    assert!(err(&bytes, 4).contains("a set for 3 classes, and this task has 4"));
    let mut ten = ImageSet::new(10).unwrap();
    ten.push(set.image(0), 9).unwrap();
    assert!(err(&save_image_set(&ten), 3).contains("a set for 10 classes"), "{}", err(&save_image_set(&ten), 3));
    // wrong dtype and shape, labels out of range, other tensors: written with the batch writer
    let f32_images = resnet_engine::io::save_batch(&Tensor { shape: vec![1, 1, 28, 28], data: vec![0.0; 784] }, &[0]);
    assert!(err(&f32_images, 3).contains("expected U8 [N, 28, 28]"), "{}", err(&f32_images, 3));
    let named = resnet_engine::io::save_tensors(&[("images".into(), Tensor { shape: vec![1, 28, 28], data: vec![0.0; 784] }), ("extra".into(), Tensor { shape: vec![1], data: vec![0.0] })]);
    assert!(err(&named, 3).contains("it also has extra") || err(&named, 3).contains("no labels"), "{}", err(&named, 3));
    let mut bad = ImageSet::new(10).unwrap();
    bad.push(set.image(0), 7).unwrap();
    let mut file = save_image_set(&bad);
    // the same file with its metadata's class count removed: the label is then checked
    let at = file.windows(4).position(|w| w == b"\"10\"").unwrap();
    file[at..at + 4].copy_from_slice(b"\"3\" ");
    assert!(err(&file, 3).contains("label 7 of image 0 is out of range; the task has 3 classes"), "{}", err(&file, 3));
    assert!(err(b"nope", 3).contains("safetensors"));
}

#[test]
fn the_held_out_part_and_what_is_said_when_there_is_none() {
    let mut set = ImageSet::new(3).unwrap();
    assert!(ImageSet::new(1).unwrap_err().to_string().contains("2 to 10 classes"));
    assert!(ImageSet::new(11).is_err());
    let img = vec![0u8; 784];
    set.push(&img, 0).unwrap();
    let e = set.held_out().unwrap_err().to_string();
    assert!(e.contains("classes 1, 2 have no examples yet"), "{e}");
    set.push(&img, 1).unwrap();
    set.push(&img, 2).unwrap();
    set.push(&img, 2).unwrap();
    let e = set.held_out().unwrap_err().to_string();
    assert!(e.contains("classes 0, 1 have one example only"), "{e}");
    set.push(&img, 0).unwrap();
    set.push(&img, 1).unwrap();
    let (train, held) = set.held_out().unwrap();
    assert_eq!(held.len(), 3, "one of each class");
    let mut seen: Vec<usize> = held.iter().map(|&i| set.labels[i]).collect();
    seen.sort();
    assert_eq!(seen, vec![0, 1, 2]);
    assert_eq!(train.len() + held.len(), set.len());
    assert!(set.push(&img, 3).unwrap_err().to_string().contains("the task has 3 classes"));
    assert!(set.push(&img[..10], 0).unwrap_err().to_string().contains("784"));
}

#[test]
fn mixed_batches_take_the_share_asked_and_repeat_from_the_seed() {
    let s = MixedSampler::new(11, 32, 0.25).unwrap();
    assert_eq!(s.own_per_batch(), 8);
    let a = s.batch(3, 8000, 40).unwrap();
    assert_eq!(a.len(), 32);
    assert_eq!(a.iter().filter(|x| matches!(x, Source::Own(_))).count(), 8);
    assert!(a.iter().all(|x| match *x { Source::Own(i) => i < 40, Source::Mnist(i) => i < 8000 }));
    assert_eq!(s.batch(3, 8000, 40).unwrap(), a, "the same step, the same batch");
    assert_ne!(s.batch(4, 8000, 40).unwrap(), a, "another step, another batch");
    assert_ne!(MixedSampler::new(12, 32, 0.25).unwrap().batch(3, 8000, 40).unwrap(), a, "another seed, another batch");
    // the mix's positions are shuffled, not the first 8
    assert!(a[..8].iter().any(|x| matches!(x, Source::Mnist(_))));
    // over many steps every own image is drawn
    let mut drawn = vec![false; 40];
    for step in 0..50 {
        for x in s.batch(step, 8000, 40).unwrap() {
            if let Source::Own(i) = x { drawn[i] = true }
        }
    }
    assert!(drawn.iter().all(|&d| d));
    assert!(MixedSampler::new(1, 32, 0.0).unwrap().batch(0, 8000, 0).unwrap().iter().all(|x| matches!(x, Source::Mnist(_))));
    assert!(MixedSampler::new(1, 32, 0.5).unwrap().batch(0, 8000, 0).unwrap_err().to_string().contains("none to train on"));
    assert!(MixedSampler::new(1, 32, 1.5).unwrap_err().to_string().contains("from 0 to 1"));
    assert!(MixedSampler::new(1, 0, 0.5).is_err());
}

#[test]
fn digits_of_ones_own_may_leave_classes_empty_but_not_single() {
    let mut set = ImageSet::new(10).unwrap();
    assert!(set.held_out_from(false).unwrap_err().to_string().contains("empty"));
    let img = vec![0u8; 784];
    for _ in 0..6 {
        set.push(&img, 8).unwrap();
    }
    let (train, held) = set.held_out_from(false).unwrap();
    assert_eq!((train.len(), held.len()), (5, 1), "only eights, six of them: one held out");
    assert!(set.held_out().unwrap_err().to_string().contains("no examples yet"), "a task of one's own needs every class");
    set.push(&img, 3).unwrap();
    assert!(set.held_out_from(false).unwrap_err().to_string().contains("class 3 has one example only"));
}

/// The centre of mass of an image's ink, (x, y).
fn centre(img: &[u8]) -> (f64, f64) {
    let (mut s, mut x, mut y) = (0.0, 0.0, 0.0);
    for (i, &p) in img.iter().enumerate() {
        s += p as f64;
        x += p as f64 * (i % 28) as f64;
        y += p as f64 * (i / 28) as f64;
    }
    (x / s, y / s)
}

#[test]
fn augmentation_shifts_and_turns_within_its_limits_and_no_change_is_the_identity() {
    let mut rng = Rng::new(3);
    let img = shape(1, &mut rng); // a vertical bar
    assert_eq!(Augment::apply(&img, 28, 28, (0, 0, 0.0)), img, "no shift, no turn: the image itself");
    // a whole-pixel shift moves every pixel exactly
    let moved = Augment::apply(&img, 28, 28, (2, -1, 0.0));
    for y in 1..27 {
        for x in 0..26 {
            assert_eq!(moved[(y - 1) * 28 + x + 2], img[y * 28 + x], "({x}, {y})");
        }
    }
    // a quarter turn of a vertical bar about the centre is a horizontal bar
    let turned = Augment::apply(&img, 28, 28, (0, 0, 90.0));
    let spread = |im: &[u8], horizontal: bool| {
        let (cx, cy) = centre(im);
        im.iter().enumerate().map(|(i, &p)| p as f64 * if horizontal { ((i % 28) as f64 - cx).powi(2) } else { ((i / 28) as f64 - cy).powi(2) }).sum::<f64>()
    };
    assert!(spread(&img, false) > 10.0 * spread(&img, true));
    assert!(spread(&turned, true) > 10.0 * spread(&turned, false), "the bar lies down");
    // random draws stay within the limits and differ
    let a = resnet_engine::own::AUGMENT;
    let mut r = Rng::new(9);
    let draws: Vec<_> = (0..200).map(|_| a.draw(&mut r)).collect();
    assert!(draws.iter().all(|&(dx, dy, d)| dx.unsigned_abs() as usize <= a.shift && dy.unsigned_abs() as usize <= a.shift && d.abs() <= a.degrees));
    assert!(draws.iter().any(|&(dx, _, _)| dx == a.shift as i32) && draws.iter().any(|&(dx, _, _)| dx == -(a.shift as i32)));
    let (x0, y0) = centre(&img);
    for &d in &draws[..20] {
        let (x, y) = centre(&Augment::apply(&img, 28, 28, d));
        assert!((x - x0 - d.0 as f64).abs() < 1.0 && (y - y0 - d.1 as f64).abs() < 1.0, "the ink's centre moves with the shift: {d:?}");
    }
}

#[test]
fn a_mixed_batch_holds_the_share_from_the_set_augmented_and_repeats() {
    let set = set_of_shapes(4, 5);
    let (train, _) = set.held_out().unwrap();
    let mut mnist = resnet_engine::data::Dataset::mnist();
    mnist.n_train = 100;
    let s = MixedSampler::new(2, 16, 0.5).unwrap();
    let (x, labels) = mixed_batch(&s, 7, Some(&mnist), &set, &train, None).unwrap();
    assert_eq!(x.shape, vec![16, 1, 28, 28]);
    let picks = s.batch(7, 100, train.len()).unwrap();
    for (n, p) in picks.iter().enumerate() {
        let (img, label) = match *p {
            Source::Own(i) => (set.image(train[i]).to_vec(), set.labels[train[i]]),
            Source::Mnist(i) => (mnist.image(i).to_vec(), mnist.labels[i] as usize),
        };
        assert_eq!(labels[n], label);
        assert!(img.iter().zip(&x.data[n * 784..(n + 1) * 784]).all(|(&p, &v)| v == normalize(p)), "image {n} as the sampler picked it");
    }
    let aug = mixed_batch(&s, 7, Some(&mnist), &set, &train, Some(&resnet_engine::own::AUGMENT)).unwrap();
    assert_eq!(aug.1, labels, "augmentation keeps the labels");
    assert_eq!(mixed_batch(&s, 7, Some(&mnist), &set, &train, Some(&resnet_engine::own::AUGMENT)).unwrap().0.data, aug.0.data, "the same step, the same copies");
    let own_rows: Vec<usize> = picks.iter().enumerate().filter(|(_, p)| matches!(p, Source::Own(_))).map(|(n, _)| n).collect();
    let mnist_rows: Vec<usize> = (0..16).filter(|n| !own_rows.contains(n)).collect();
    let row = |t: &Tensor<f32>, n: usize| t.data[n * 784..(n + 1) * 784].to_vec();
    assert!(mnist_rows.iter().all(|&n| row(&aug.0, n) == row(&x, n)), "MNIST digits are not augmented");
    assert!(own_rows.iter().any(|&n| row(&aug.0, n) != row(&x, n)), "the set's images are");
    // the held-out images never come into a batch
    let (_, held) = set.held_out().unwrap();
    for step in 0..30 {
        let (x, _) = mixed_batch(&MixedSampler::new(2, 16, 1.0).unwrap(), step, None, &set, &train, None).unwrap();
        for n in 0..16 {
            assert!(held.iter().all(|&h| set.image(h).iter().map(|&p| normalize(p)).collect::<Vec<_>>() != row(&x, n)), "a held-out image in step {step}");
        }
    }
}

#[test]
fn a_new_final_layer_keeps_every_other_weight() {
    let mut digits = ResNet::<f32>::new(&Config::family(1, 8, Shortcut::Projection, true), 4).unwrap();
    // (BN's weights and statistics start as constants: make them the model's own first)
    for (k, b) in digits.batchnorms_mut().into_iter().enumerate() {
        for (i, v) in b.weight.iter_mut().chain(b.bias.iter_mut()).chain(b.running_mean.iter_mut()).chain(b.running_var.iter_mut()).enumerate() {
            *v = 0.5 + (k * 31 + i) as f32 * 0.01;
        }
        b.num_batches_tracked = 7 + k as i64;
    }
    let three = digits.with_classes(3, 9).unwrap();
    assert_eq!(three.config.num_classes, 3);
    assert_eq!(three.fc().weight.len(), 3 * 32);
    for ((name, shape, a, _), (name2, shape2, b, _)) in digits.params().into_iter().zip(three.params()) {
        assert_eq!(name, name2);
        if name.starts_with("fc.") {
            assert_eq!(shape2[0], 3, "{name}");
        } else {
            assert_eq!((shape, a), (shape2, b), "{name} is kept");
        }
    }
    assert!(digits.with_classes(3, 9).unwrap().fc().weight == three.fc().weight, "the new layer is drawn from the seed");
    let counts = |m: &ResNet<f32>| m.batchnorms().iter().map(|b| b.num_batches_tracked).collect::<Vec<_>>();
    assert_eq!(counts(&three), counts(&digits));
}

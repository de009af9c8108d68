//! Files in and out: a trained model survives save → load bit for bit (weights, running
//! statistics, batch counts, config, eval logits); every kind of bad file is refused with its
//! reason and leaves the model untouched; random and mutated bytes never panic; `.npy` export
//! writes what NumPy reads.

use proptest::prelude::*;
use resnet_engine::data::Dataset;
use resnet_engine::io::{self, load_batch, load_model, load_weights_into, save_batch, save_model, save_tensors, tape_to_safetensors, to_npy};
use resnet_engine::model::Mode;
use resnet_engine::optim::{Optimizer, OptimizerConfig};
use resnet_engine::rng::Rng;
use resnet_engine::{Config, ResNet, Tensor};
use std::sync::OnceLock;

/// Every parameter and buffer as (name, shape, bit patterns), and every BN's batch count.
type State = (Vec<(String, Vec<usize>, Vec<u32>)>, Vec<i64>);

fn state(m: &ResNet<f32>) -> State {
    let params = m.params().into_iter().map(|(n, s, d, _)| (n, s, d.iter().map(|v| v.to_bits()).collect())).collect();
    let counts = m.clone_weights().batchnorms_mut().iter().map(|b| b.num_batches_tracked).collect();
    (params, counts)
}

/// A model after `steps` SGD steps on MNIST digits (or on random images for another config).
fn trained(config: &Config, steps: usize) -> ResNet<f32> {
    let data = Dataset::mnist();
    let mut m = ResNet::<f32>::new(config, 7).unwrap();
    let mut opt = Optimizer::new(OptimizerConfig::sgd(0.05, 0.9, 1e-4)).unwrap();
    let mut rng = Rng::new(1);
    for s in 0..steps {
        let (x, y) = if config.in_channels == 1 && config.image_size == 28 {
            data.batch(&(s * 8..s * 8 + 8).collect::<Vec<_>>())
        } else {
            let (c, n) = (config.in_channels, config.image_size);
            let x = Tensor::new(&[6, c, n, n], (0..6 * c * n * n).map(|_| rng.normal() as f32).collect()).unwrap();
            (x, (0..6).map(|i| i % config.num_classes).collect())
        };
        m.forward(&x, Mode::Train).unwrap();
        m.backward(&y).unwrap();
        opt.step(&mut m).unwrap();
    }
    m
}

fn eval_logits(m: &ResNet<f32>, x: &Tensor<f32>) -> Vec<u32> {
    let mut m = m.clone_weights();
    m.forward(x, Mode::Eval).unwrap().data.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn a_trained_model_round_trips_exactly() {
    let m = trained(&Config::default(), 2);
    let (params, counts) = state(&m);
    assert_eq!(counts, vec![2; counts.len()], "two training steps were counted");
    assert_ne!(params, state(&ResNet::<f32>::new(&Config::default(), 7).unwrap()).0, "training changed the weights");

    let bytes = save_model(&m);
    let loaded = load_model(&bytes).unwrap();
    assert_eq!(loaded.config, m.config);
    assert_eq!(state(&loaded), (params.clone(), counts.clone()));
    let (x, _) = Dataset::mnist().batch(&(200..216).collect::<Vec<_>>());
    assert_eq!(eval_logits(&loaded, &x), eval_logits(&m, &x));

    // Into an existing model too; an f64 model writes the same f32 values.
    let mut other = ResNet::<f32>::new(&Config::default(), 99).unwrap();
    load_weights_into(&mut other, &bytes).unwrap();
    assert_eq!(state(&other), (params.clone(), counts));
    assert_eq!(state(&load_model(&save_model(&m.cast::<f64>())).unwrap()).0, params);
}

#[test]
fn a_non_default_config_round_trips() {
    let config = Config { in_channels: 3, image_size: 16, ..Default::default() };
    let m = trained(&config, 1);
    let loaded = load_model(&save_model(&m)).unwrap();
    assert_eq!(loaded.config, config);
    assert_eq!(state(&loaded), state(&m));
    let x = Tensor::new(&[2, 3, 16, 16], (0..2 * 3 * 256).map(|i| (i as f32 * 0.37).sin()).collect()).unwrap();
    assert_eq!(eval_logits(&loaded, &x), eval_logits(&m, &x));

    let small = Config { in_channels: 2, image_size: 8, num_classes: 4, widths: vec![4, 6], blocks: vec![2, 1], ..Config::default() };
    let m = trained(&small, 1);
    let loaded = load_model(&save_model(&m)).unwrap();
    assert_eq!((loaded.config.clone(), state(&loaded)), (small, state(&m)));
}

#[test]
fn the_file_has_pytorch_names_dtypes_and_metadata() {
    let m = ResNet::<f32>::new(&Config::default(), 0).unwrap();
    let bytes = save_model(&m);
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor("conv1.weight").unwrap();
    assert_eq!((t.dtype(), t.shape()), (safetensors::Dtype::F32, &[16, 1, 3, 3][..]));
    assert_eq!(st.tensor("fc.weight").unwrap().shape(), &[10, 64]);
    assert_eq!(st.tensor("layer2.0.downsample.0.weight").unwrap().shape(), &[32, 16, 1, 1]);
    for bn in ["bn1", "layer1.0.bn2", "layer3.0.downsample.1"] {
        for buf in ["weight", "bias", "running_mean", "running_var"] {
            assert_eq!(st.tensor(&format!("{bn}.{buf}")).unwrap().dtype(), safetensors::Dtype::F32);
        }
        let n = st.tensor(&format!("{bn}.num_batches_tracked")).unwrap();
        assert_eq!((n.dtype(), n.shape(), n.data()), (safetensors::Dtype::I64, &[][..], &[0u8; 8][..]));
    }
    // params() plus one count per BN (9 in ResNet-8: the stem's, two per block, two downsample).
    assert_eq!(st.len(), m.params().len() + 9);
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta["format"], "pt");
    assert_eq!(serde_json::from_str::<Config>(&meta["config"]).unwrap(), Config::default());
}

/// A safetensors file written by hand: (name, dtype, shape, bytes), with optional metadata.
fn raw_file(entries: &[(&str, &str, Vec<usize>, Vec<u8>)], metadata: Option<&str>) -> Vec<u8> {
    let mut header = String::from("{");
    if let Some(m) = metadata {
        header += &format!("\"__metadata__\":{m},");
    }
    let mut offset = 0;
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in entries {
        header += &format!("\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape:?},\"data_offsets\":[{offset},{}]}},", offset + bytes.len());
        offset += bytes.len();
        data.extend_from_slice(bytes);
    }
    header.pop();
    header += "}";
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend(data);
    out
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The model's parameters as named tensors, to be spoiled one at a time.
fn named(m: &ResNet<f32>) -> Vec<(String, Tensor<f32>)> {
    m.params().into_iter().map(|(n, s, d, _)| (n, Tensor::new(&s, d).unwrap())).collect()
}

/// Loads `bytes` into a trained model and into `load_model`; both must fail with a message
/// containing every one of `want`, and the model must be unchanged.
fn refused(bytes: &[u8], want: &[&str]) {
    let mut m = trained(&Config::default(), 1);
    let before = state(&m);
    let err = load_weights_into(&mut m, bytes).unwrap_err().0;
    for w in want {
        assert!(err.contains(w), "expected {w:?} in the error: {err}");
    }
    assert_eq!(state(&m), before, "a refused file changed the model ({err})");
    assert!(m.tape.contains("act.fc"), "a refused file cleared the tape");
    let err = load_model(bytes).map(|_| ()).unwrap_err().0;
    for w in want {
        assert!(err.contains(w), "load_model: expected {w:?} in the error: {err}");
    }
}

#[test]
fn bad_files_are_refused_with_the_reason() {
    let m = ResNet::<f32>::new(&Config::default(), 1).unwrap();
    let good = save_model(&m);

    refused(b"", &["empty"]);
    refused(b"1234567", &["7 bytes", "too short"]);
    let mut not_json = 16u64.to_le_bytes().to_vec();
    not_json.extend_from_slice(b"{\"conv1.weight\":");
    refused(&not_json, &["header", "JSON"]);
    let mut huge = good.clone();
    huge[..8].copy_from_slice(&(1u64 << 30).to_le_bytes());
    refused(&huge, &["header length", "1073741824"]);
    let mut long = good.clone();
    long[..8].copy_from_slice(&(good.len() as u64).to_le_bytes());
    refused(&long, &["header length", "truncated"]);
    refused(&good[..good.len() - 100], &["truncated"]);
    refused(&good[..200], &["truncated"]);
    let mut extra = good.clone();
    extra.extend_from_slice(&[0; 4]);
    refused(&extra, &["4 extra bytes"]);

    // into ResNet-8 a two-channel stem does not fit; read alone (no metadata), the file is
    // the two-channel member its tensors describe
    let mut m8 = trained(&Config::default(), 1);
    let mut t = named(&m);
    t[0].1 = Tensor::zeros(&[16, 2, 3, 3]);
    let err = load_weights_into(&mut m8, &save_tensors(&t)).unwrap_err().0;
    assert!(err.contains("conv1.weight: shape [16, 2, 3, 3] in the file, the model needs [16, 1, 3, 3]"), "{err}");
    assert_eq!(load_model(&save_tensors(&t)).unwrap().config.in_channels, 2);

    let mut t = named(&m);
    t.push(("layer4.0.conv1.weight".into(), Tensor::zeros(&[2])));
    let mut m8 = trained(&Config::default(), 1);
    let err = load_weights_into(&mut m8, &save_tensors(&t)).unwrap_err().0;
    assert!(err.contains("the model does not have") && err.contains("layer4.0.conv1.weight"), "{err}");
    // read alone, a fourth stage is what the names say, and the rest of it is missing
    let err = load_model(&save_tensors(&t)).map(|_| ()).unwrap_err().0;
    assert!(err.contains("missing") && err.contains("layer4.0.bn1.weight") && err.contains("nearest"), "{err}");

    let mut t = named(&m);
    t.retain(|(n, _)| n != "layer2.0.bn1.running_var" && n != "fc.bias");
    refused(&save_tensors(&t), &["missing", "2 of the", "layer2.0.bn1.running_var", "fc.bias"]);
    let t: Vec<_> = named(&m).into_iter().take(3).collect();
    refused(&save_tensors(&t), &["missing", "and ", "more"]);

    let mut t = named(&m);
    t[5].1.data[3] = f32::NAN;
    t[5].1.data[4] = f32::NAN;
    let name = t[5].0.clone();
    refused(&save_tensors(&t), &[&name, "2 NaN"]);

    let mut t = named(&m);
    let last = t.len() - 1;
    t[last].1.data[0] = f32::NEG_INFINITY;
    refused(&save_tensors(&t), &["fc.bias", "1 infinite"]);

    // Finite but useless: a negative variance, and weights whose activations overflow.
    let mut t = named(&m);
    let var = t.iter().position(|(n, _)| n == "layer1.0.bn2.running_var").unwrap();
    t[var].1.data[2] = -0.5;
    refused(&save_tensors(&t), &["layer1.0.bn2.running_var: 1 negative values out of 16; a variance must be ≥ 0"]);
    let mut t = named(&m);
    for (n, w) in &mut t {
        if n.ends_with(".weight") {
            w.data.iter_mut().for_each(|v| *v *= 1e30);
        }
    }
    refused(&save_tensors(&t), &["finite but the model's output is not", "overflow", "unusable"]);
    // (a zero variance is fine: BN divides by √(σ² + ε))
    let mut t = named(&m);
    t[var].1.data.iter_mut().for_each(|v| *v = 0.0);
    load_model(&save_tensors(&t)).unwrap();

    // F16 (hand-written: save_tensors writes only F32)
    let params = m.params();
    let mut entries: Vec<(&str, &str, Vec<usize>, Vec<u8>)> = params.iter().map(|(n, s, d, _)| (n.as_str(), "F32", s.clone(), f32_bytes(d))).collect();
    entries[1] = ("bn1.weight", "F16", vec![16], vec![0; 32]);
    refused(&raw_file(&entries, None), &["bn1.weight", "F16"]);

    // bad counts
    let mut entries2 = entries.clone();
    entries2[1] = ("bn1.weight", "F32", vec![16], f32_bytes(&[1.0; 16]));
    let mut with_count = entries2.clone();
    with_count.push(("bn1.num_batches_tracked", "I64", vec![], (-3i64).to_le_bytes().to_vec()));
    refused(&raw_file(&with_count, None), &["bn1.num_batches_tracked", "-3"]);
    let mut with_count = entries2.clone();
    with_count.push(("bn1.num_batches_tracked", "F32", vec![], f32_bytes(&[1.0])));
    refused(&raw_file(&with_count, None), &["bn1.num_batches_tracked", "I64"]);

    // Bad config metadata (only `load_model` reads it; `load_weights_into` has its model).
    let config_err = |config: &str, want: &str| {
        let file = raw_file(&entries2, Some(&format!(r#"{{"config":{}}}"#, serde_json::to_string(config).unwrap())));
        let err = load_model(&file).map(|_| ()).unwrap_err().0;
        assert!(err.contains(want), "expected {want:?} in the error: {err}");
        load_weights_into(&mut ResNet::<f32>::new(&Config::default(), 0).unwrap(), &file).unwrap();
    };
    config_err(r#"{"in_channels":1}"#, "not a valid config");
    config_err(r#"{"in_channels":0,"image_size":28,"num_classes":10,"widths":[16],"blocks":[1]}"#, "at least 1");
    // a config that asks for a huge model is refused before the model is built
    config_err(r#"{"in_channels":1,"image_size":28,"num_classes":10,"widths":[1024,1024],"blocks":[32,32]}"#, "at most 16 million");

    // The same entries, valid, load (F64 too, rounded), keeping the BN counts when absent.
    let loaded = load_model(&raw_file(&entries2, Some(r#"{"format":"pt"}"#))).unwrap();
    assert_eq!(loaded.config, Config::default());
    let mut f64_entries = entries2.clone();
    f64_entries[0] = ("conv1.weight", "F64", vec![16, 1, 3, 3], (0..144).flat_map(|i| (i as f64 / 7.0).to_le_bytes()).collect());
    let loaded = load_model(&raw_file(&f64_entries, None)).unwrap();
    assert_eq!(loaded.conv("conv1").unwrap().weight[10], (10.0f64 / 7.0) as f32);
}

#[test]
fn a_successful_load_clears_the_stale_tape() {
    let mut m = trained(&Config::default(), 1);
    assert!(m.tape.contains("act.fc"));
    load_weights_into(&mut m, &save_model(&ResNet::<f32>::new(&Config::default(), 3).unwrap())).unwrap();
    assert!(!m.tape.contains("act.fc"));
}

#[test]
fn tape_tensors_and_batches_round_trip() {
    let data = Dataset::mnist();
    let mut m = ResNet::<f32>::new(&Config::default(), 0).unwrap();
    let (x, y) = data.batch(&[0, 1, 2, 3]);
    m.forward(&x, Mode::Train).unwrap();
    m.backward(&y).unwrap();
    let names = vec!["loss".to_string(), "act.layer1.0".to_string(), "grad.fc.weight".to_string()];
    let bytes = tape_to_safetensors(&m.tape, &names).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for n in &names {
        let t = st.tensor(n).unwrap();
        let want = m.tape.get(n).unwrap();
        assert_eq!(t.shape(), &want.shape[..], "{n}");
        assert_eq!(t.data(), &f32_bytes(&want.data)[..], "{n}");
    }
    assert_eq!(st.tensor("loss").unwrap().shape(), &[] as &[usize]);
    let err = tape_to_safetensors(&m.tape, &["act.nothing".to_string()]).unwrap_err().0;
    assert!(err.contains("act.nothing"), "{err}");
    let err = tape_to_safetensors(&m.tape, &["loss".to_string(), "loss".to_string()]).unwrap_err().0;
    assert!(err.contains("twice"), "{err}");

    let config = Config::default();
    let (x2, y2) = load_batch(&save_batch(&x, &y), &config).unwrap();
    assert_eq!((x2, y2), (x.clone(), y.clone()));
    // labels as I32 and U8 too
    let img = f32_bytes(&x.data);
    for (dtype, labels) in [("I32", y.iter().flat_map(|&l| (l as i32).to_le_bytes()).collect::<Vec<u8>>()), ("U8", y.iter().map(|&l| l as u8).collect())] {
        let file = raw_file(&[("images", "F32", x.shape.clone(), img.clone()), ("labels", dtype, vec![4], labels)], None);
        assert_eq!(load_batch(&file, &config).unwrap().1, y, "{dtype}");
    }
}

#[test]
fn bad_batches_are_refused_with_the_reason() {
    let config = Config::default();
    let x = Tensor::<f32>::zeros(&[2, 1, 28, 28]);
    let bad = |file: Vec<u8>, want: &[&str]| {
        let err = load_batch(&file, &config).unwrap_err().0;
        for w in want {
            assert!(err.contains(w), "expected {w:?} in: {err}");
        }
    };
    bad(save_batch(&x, &[1, 10]), &["label 10", "10 classes"]);
    bad(save_batch(&Tensor::zeros(&[2, 3, 28, 28]), &[1, 2]), &["images", "[2, 3, 28, 28]", "[N, 1, 28, 28]"]);
    bad(save_batch(&Tensor::zeros(&[0, 1, 28, 28]), &[]), &["N ≥ 1"]);
    bad(save_batch(&x, &[1, 2, 3]), &["labels", "[3]", "[2]"]);
    let mut nan = x.clone();
    nan.data[5] = f32::NAN;
    bad(save_batch(&nan, &[1, 2]), &["images", "1 NaN"]);
    bad(save_tensors(&[("images".into(), x.clone())]), &["no labels"]);
    let labels = Tensor::new(&[2], vec![1.0, 2.0]).unwrap();
    bad(save_tensors(&[("images".into(), x.clone()), ("labels".into(), labels.clone())]), &["labels", "F32"]);
    bad(save_tensors(&[("images".into(), x.clone()), ("labels".into(), labels.clone()), ("extra".into(), labels)]), &["extra"]);
    let neg = raw_file(&[("images", "F32", vec![2, 1, 28, 28], vec![0; 2 * 784 * 4]), ("labels", "I64", vec![2], [0i64, -1].iter().flat_map(|v| v.to_le_bytes()).collect())], None);
    bad(neg, &["label -1"]);
    bad(b"abc".to_vec(), &["too short"]);
}

#[test]
fn npy_has_numpys_header_and_little_endian_data() {
    let t = Tensor::new(&[2, 3], vec![1.0, -2.5, 3.25, 0.0, f32::MAX, 1e-7]).unwrap();
    let b = to_npy(&t);
    assert_eq!(&b[..6], b"\x93NUMPY");
    assert_eq!(&b[6..8], &[1, 0]);
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    assert_eq!((10 + hlen) % 64, 0, "data starts at a multiple of 64");
    let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
    assert!(header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"), "{header:?}");
    assert!(header.ends_with('\n'));
    assert!(header.trim_end_matches('\n').ends_with(['}', ' ']));
    assert_eq!(&b[10 + hlen..], &f32_bytes(&t.data)[..]);
    assert_eq!(b.len(), 10 + hlen + 24);

    let header_of = |shape: &[usize]| {
        let b = to_npy(&Tensor::zeros(shape));
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        String::from_utf8(b[10..10 + hlen].to_vec()).unwrap()
    };
    assert!(header_of(&[5]).contains("'shape': (5,), }"));
    assert!(header_of(&[]).contains("'shape': (), }"));
    assert!(header_of(&[1, 16, 28, 28]).contains("'shape': (1, 16, 28, 28), }"));
}

// ---- fuzzing: nothing panics ----------------------------------------------------------------

/// A tiny model's file (small, so mutations often land in the header) and a small batch file.
fn valid_files() -> &'static (Vec<u8>, Vec<u8>, Config) {
    static FILES: OnceLock<(Vec<u8>, Vec<u8>, Config)> = OnceLock::new();
    FILES.get_or_init(|| {
        let config = Config { in_channels: 1, image_size: 4, num_classes: 3, widths: vec![2, 3], blocks: vec![1, 1], ..Config::default() };
        let model = trained(&config, 1);
        let x = Tensor::new(&[2, 1, 4, 4], (0..32).map(|i| i as f32 / 8.0).collect()).unwrap();
        (save_model(&model), save_batch(&x, &[0, 2]), config)
    })
}

/// Both loaders on `bytes`: they must not panic, and what they accept must be usable.
fn load_both(bytes: &[u8]) -> (bool, bool) {
    let (_, _, config) = valid_files();
    let model = load_model(bytes);
    if let Ok(m) = &model {
        assert!(m.config.validate().is_ok());
        assert!(m.params().iter().all(|p| p.2.iter().all(|v| v.is_finite())));
    }
    let batch = load_batch(bytes, config);
    if let Ok((x, y)) = &batch {
        assert_eq!(x.data.len(), x.shape.iter().product::<usize>());
        assert_eq!(y.len(), x.shape[0]);
        assert!(y.iter().all(|&l| l < config.num_classes));
    }
    (model.is_ok(), batch.is_ok())
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, header: bool, bits: u8 },
    Truncate(usize),
    HeaderLength(u64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<bool>(), 1u8..=255).prop_map(|(at, header, bits)| Mutation::Flip { at, header, bits }),
        any::<usize>().prop_map(Mutation::Truncate),
        prop_oneof![any::<u64>(), 0u64..4096].prop_map(Mutation::HeaderLength),
    ]
}

/// Applies mutations; returns whether the file is now certainly invalid (shorter, or its
/// header length field changed).
fn mutate(file: &mut Vec<u8>, muts: &[Mutation]) -> bool {
    let original = file.clone();
    for m in muts {
        let header_end = if file.len() >= 8 { (u64::from_le_bytes(file[..8].try_into().unwrap()) as usize).saturating_add(8).min(file.len()) } else { file.len() };
        match *m {
            Mutation::Flip { at, header, bits } if !file.is_empty() => {
                let i = if header && header_end > 0 { at % header_end } else { at % file.len() };
                file[i] ^= bits;
            }
            Mutation::Truncate(at) if !file.is_empty() => file.truncate(at % file.len()),
            Mutation::HeaderLength(n) if file.len() >= 8 => file[..8].copy_from_slice(&n.to_le_bytes()),
            _ => {}
        }
    }
    file.len() < original.len() || file[..8] != original[..8]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let (model, batch) = load_both(&bytes);
        prop_assert!(!model && !batch);
    }

    #[test]
    fn mutated_model_files_never_panic(muts in prop::collection::vec(mutation(), 1..4)) {
        let mut file = valid_files().0.clone();
        let broken = mutate(&mut file, &muts);
        let (model, batch) = load_both(&file);
        prop_assert!(!batch);
        if broken {
            prop_assert!(!model, "{:?} was accepted", muts);
        }
    }

    #[test]
    fn mutated_batch_files_never_panic(muts in prop::collection::vec(mutation(), 1..4)) {
        let mut file = valid_files().1.clone();
        let broken = mutate(&mut file, &muts);
        let (model, batch) = load_both(&file);
        prop_assert!(!model);
        if broken {
            prop_assert!(!batch, "{:?} was accepted", muts);
        }
    }
}

#[test]
fn the_unmutated_files_are_valid() {
    let (model, batch, _) = valid_files();
    assert_eq!(load_both(model), (true, false));
    assert_eq!(load_both(batch), (false, true));
    let err = io::load_weights_into(&mut ResNet::<f32>::new(&Config::default(), 0).unwrap(), model).unwrap_err().0;
    assert!(err.contains("missing") && err.contains("layer3.0"), "{err}");
}

/// A model and an optimizer after `steps` real steps with `cfg`.
fn with_optimizer(cfg: OptimizerConfig, steps: usize) -> (ResNet<f32>, Optimizer) {
    let d = Dataset::mnist();
    let mut m = ResNet::<f32>::new(&Config::default(), 5).unwrap();
    let mut opt = Optimizer::new(cfg).unwrap();
    for s in 0..steps {
        let (x, y) = d.batch(&(0..8).map(|i| (s * 8 + i) % 8000).collect::<Vec<_>>());
        m.forward(&x, Mode::Train).unwrap();
        m.backward(&y).unwrap();
        opt.step(&mut m).unwrap();
    }
    (m, opt)
}

#[test]
fn an_optimizer_state_round_trips_and_steps_the_same() {
    for cfg in [OptimizerConfig::sgd(0.05, 0.9, 5e-4), OptimizerConfig::adam(1e-3, 0.0)] {
        let (mut m, opt) = with_optimizer(cfg, 3);
        let back = io::load_optimizer(&io::save_optimizer(&opt), &m).unwrap();
        assert_eq!((back.step, back.config), (opt.step, opt.config));
        assert_eq!((back.m.len(), back.v.len()), (opt.m.len(), opt.v.len()));
        for (k, v) in &opt.m {
            assert!(back.m[k].iter().zip(v).all(|(a, b)| a.to_bits() == b.to_bits()), "m.{k}");
        }
        for (k, v) in &opt.v {
            assert!(back.v[k].iter().zip(v).all(|(a, b)| a.to_bits() == b.to_bits()), "v.{k}");
        }
        // one more step from the saved state and from the original: the same weights
        let mut m2 = m.clone_weights();
        let d = Dataset::mnist();
        let (x, y) = d.batch(&[100, 200, 300, 400]);
        for (model, mut o) in [(&mut m, opt), (&mut m2, back)] {
            model.forward(&x, Mode::Train).unwrap();
            model.backward(&y).unwrap();
            o.step(model).unwrap();
        }
        assert_eq!(state(&m), state(&m2));
    }
}

#[test]
fn a_bad_optimizer_state_is_refused_with_its_reason() {
    let (m, opt) = with_optimizer(OptimizerConfig::sgd(0.05, 0.9, 0.0), 1);
    let err = |bytes: &[u8]| io::load_optimizer(bytes, &m).unwrap_err().0;
    assert!(err(&save_model(&m)).contains("not an optimizer state"));
    assert!(err(b"12345678").contains("safetensors"));
    let other = ResNet::<f32>::new(&Config { widths: vec![8, 16, 32], ..Config::default() }, 1).unwrap();
    let e = io::load_optimizer(&io::save_optimizer(&opt), &other).unwrap_err().0;
    assert!(e.contains("expected F64 [72]"), "{e}"); // conv1.weight is 8×1×3×3 in the other model
    let mut nan = Optimizer::new(opt.config).unwrap();
    nan.m = opt.m.clone();
    nan.m.get_mut("fc.bias").unwrap()[3] = f64::NAN;
    assert!(err(&io::save_optimizer(&nan)).contains("m.fc.bias: every value must be finite"));
    let mut unknown = Optimizer::new(opt.config).unwrap();
    unknown.m.insert("fc.gamma".into(), vec![0.0; 10]);
    assert!(err(&io::save_optimizer(&unknown)).contains("no trainable parameter 'fc.gamma'"));
}

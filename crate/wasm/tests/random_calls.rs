//! In headless Chromium (wasm-bindgen-test, SIMD-only build): the `Engine` API driven by a few
//! hundred seeded random calls with random and hostile arguments — wrong sizes, out-of-range
//! indices and labels, unknown names, garbage and mutated files, odd JSON queries and settings.
//! Every call may fail, but with an error: a panic is a wasm trap and fails the test. At the
//! end the engine must still classify held-out digits with the committed weights.
#![cfg(all(target_arch = "wasm32", not(feature = "threads")))]

use resnet_wasm::Engine;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const MODEL: &[u8] = include_bytes!("../../../models/resnet8-mnist.safetensors");
const DATA: &[u8] = include_bytes!("../../../data/mnist-10k.bin");

/// xorshift64*: a small seeded generator, so a failure is reproducible from its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Mostly small numbers, sometimes just past a limit, sometimes huge.
    fn size(&mut self, typical: u64) -> usize {
        match self.below(10) {
            0 => 0,
            1 => (u32::MAX - self.below(3) as u32) as usize,
            2 => typical as usize + self.below(3) as usize,
            _ => self.below(typical + 1) as usize,
        }
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const NAMES: &[&str] = &["act.input", "act.conv1", "delta.layer2.0.conv1", "grad.fc.weight", "act.softmax", "loss", "stat.bn1.mean", "running.bn1.running_var", "", "act.", "delta.nothing", "conv1.weight", "fc.bias", "bn1.running_mean", "layer1.0.bn1.num_batches_tracked", "../../etc/passwd", "act.layer1.0"];
const MODES: &[&str] = &["train", "eval", "", "EVAL", "sideways"];

/// A file like the committed model with a few bytes changed (header or data).
fn mutated(rng: &mut Rng) -> Vec<u8> {
    let mut b = MODEL.to_vec();
    match rng.below(4) {
        0 => b.truncate(rng.below(b.len() as u64) as usize),
        1 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(b.len().min(4096) as u64) as usize; // the header
                b[i] = rng.next() as u8;
            }
        }
        2 => {
            let i = 8 + rng.below((b.len() - 8) as u64) as usize;
            b[i] = 0xff; // maybe a NaN
        }
        _ => b[..8].copy_from_slice(&rng.next().to_le_bytes()),
    }
    b
}

fn json(s: &str) -> JsValue {
    js_sys::JSON::parse(s).unwrap_or(JsValue::from_str(s))
}

fn random_query(rng: &mut Rng) -> JsValue {
    let kinds = ["conv_forward", "conv_input_delta", "conv_weight_grad", "bn_input_delta", "residual_fork", "fc_forward", "fc_weight_grad", "fc_input_delta", "nonsense"];
    let names = ["conv1", "layer2.0.conv1", "layer3.0.downsample.0", "bn1", "layer1.0", "layer2.0.bn2", "fc", "x"];
    let mut fields: Vec<String> = vec![format!("\"kind\": \"{}\"", kinds[rng.below(kinds.len() as u64) as usize])];
    for key in ["conv", "bn", "block"] {
        if rng.below(2) == 0 {
            fields.push(format!("\"{key}\": \"{}\"", names[rng.below(names.len() as u64) as usize]));
        }
    }
    for key in ["n", "o", "i", "c", "x", "y", "a", "b", "j", "k"] {
        if rng.below(4) != 0 {
            let v = match rng.below(6) {
                0 => "-1".to_string(),
                1 => "1e30".to_string(),
                2 => "\"3\"".to_string(),
                _ => rng.below(40).to_string(),
            };
            fields.push(format!("\"{key}\": {v}"));
        }
    }
    if rng.below(20) == 0 {
        return json("[1, 2, 3]");
    }
    json(&format!("{{{}}}", fields.join(", ")))
}

#[wasm_bindgen_test]
fn random_calls_never_panic() {
    console_error_panic_hook::set_once();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut e = Engine::from_safetensors(MODEL, JsValue::UNDEFINED, JsValue::UNDEFINED).map_err(JsValue::from).unwrap();
    e.set_dataset(DATA).map_err(JsValue::from).unwrap();
    let (mut ok, mut err) = (0, 0);
    for _ in 0..400 {
        let r: Result<(), wasm_bindgen::JsError> = match rng.below(30) {
            0 => {
                let n = rng.size(4);
                let len = if rng.below(2) == 0 { n.min(8) * 784 } else { rng.size(2000) };
                let x: Vec<f32> = (0..len.min(8 * 784)).map(|i| ((i * 31 % 97) as f32 - 48.0) / 16.0).collect();
                // (every other eval pass as `predict`, without another draw, so that the calls
                // after it stay the same)
                match rng.pick(MODES) {
                    "eval" if n % 2 == 0 => e.predict(&x, n).map(|_| ()),
                    mode => e.forward(&x, n, mode).map(|_| ()),
                }
            }
            1 => {
                let n = rng.size(3);
                let len = if rng.below(2) == 0 { n.min(4) * 784 } else { rng.size(3000).min(4000) };
                let px = rng.bytes(len);
                e.forward_pixels(&px, n, rng.pick(MODES)).map(|_| ())
            }
            2 => {
                let idx: Vec<u32> = (0..rng.size(6).min(16)).map(|_| rng.below(10_050) as u32).collect();
                e.forward_digits(&idx, rng.pick(MODES)).map(|_| ())
            }
            3 => {
                let l: Vec<u32> = (0..rng.size(4).min(16)).map(|_| rng.below(14) as u32).collect();
                e.backward(&l).map(|_| ())
            }
            4 => e.tensor(rng.pick(NAMES)).map(|_| ()),
            5 => e.tensor_shape(rng.pick(NAMES)).map(|_| ()),
            6 => e.parameter(rng.pick(NAMES)).map(|_| ()),
            7 => {
                let q = random_query(&mut rng);
                e.formula(q, rng.size(10)).map(|_| ())
            }
            8 => e.load_weights(&mutated(&mut rng)),
            9 => {
                let len = rng.size(64).min(4096);
                let b = rng.bytes(len);
                e.load_weights(&b)
            }
            10 => {
                let len = rng.size(100).min(4096);
                let mut b = if rng.below(2) == 0 { e.save_optimizer() } else { rng.bytes(len) };
                if !b.is_empty() && rng.below(2) == 0 {
                    let i = rng.below(b.len() as u64) as usize;
                    b[i] ^= 0x55;
                }
                e.load_optimizer(&b)
            }
            11 => {
                let step = rng.next() as u32;
                e.restore_checkpoint(&mutated(&mut rng), step)
            }
            12 => {
                let b = rng.size(20);
                e.set_batch(b, rng.next() as u32)
            }
            13 => {
                let s = ["{\"kind\": \"sgd\", \"momentum\": 0.9, \"lr\": 0.05, \"weight_decay\": 0}", "{\"kind\": \"adam\", \"beta1\": 0.9, \"beta2\": 0.999, \"eps\": 1e-8, \"lr\": 1e-3, \"weight_decay\": 0}", "{\"kind\": \"sgd\", \"momentum\": 2, \"lr\": -1, \"weight_decay\": 0}", "{\"kind\": \"rmsprop\"}", "null", "42", "{\"lr\": 1e400}"];
                e.set_optimizer(json(s[rng.below(s.len() as u64) as usize]))
            }
            14 if e.batch_size() <= 16 => e.train(1 + rng.below(2) as u32).map(|_| ()).map_err(|v| wasm_bindgen::JsError::new(&format!("{v:?}"))),
            15 => {
                let n = rng.size(3).min(4);
                let x = vec![0.5f32; n * 784 + rng.below(2) as usize];
                let l: Vec<u32> = (0..rng.size(4).min(6)).map(|_| rng.below(12) as u32).collect();
                e.train_batch(&x, &l).map(|_| ())
            }
            16 => e.evaluate(rng.pick(&["train", "test", "held-out"]), rng.size(20).min(50)).map(|_| ()),
            17 => {
                let names: Vec<String> = (0..rng.size(3).min(4)).map(|_| rng.pick(NAMES).to_string()).collect();
                e.export_tensors(names).map(|_| ())
            }
            18 => e.tensor_npy(rng.pick(NAMES)).map(|_| ()),
            // the digits whole, in parts (held-out first, then the training digits), or cut
            19 => {
                let whole = resnet_engine::data::Dataset::parse(DATA).expect("the digits file");
                let split = if rng.below(2) == 0 { resnet_engine::data::Split::Train } else { resnet_engine::data::Split::Test };
                let (d, add) = if rng.below(3) == 0 {
                    (DATA.to_vec(), false)
                } else if rng.below(2) == 0 {
                    let mut d = whole.part(split).to_bytes();
                    if rng.below(2) == 0 {
                        d.truncate(rng.below(d.len() as u64) as usize);
                    }
                    (d, rng.below(2) == 0)
                } else {
                    let cut = rng.below(5000) as usize;
                    let mut d = DATA[..cut].to_vec();
                    d.extend(rng.bytes(8));
                    (d, false)
                };
                if add { e.add_training_digits(&d) } else { e.set_dataset(&d) }
            }
            20 => e.reset_model(rng.next() as u32),
            // other members of the family, real and not
            21 => {
                let a = ["\"plain14\"", "\"resnet14-a-nobn\"", "\"resnet8-w8\"", "\"resnet8\"", "\"resnet9\"", "\"plain\"", "{}", "null", "7", "{\"widths\": [8], \"blocks\": [1]}"];
                e.set_architecture(json(a[rng.below(a.len() as u64) as usize]), rng.next() as u32)
            }
            22 => e.load_model(&mutated(&mut rng), json(rng.pick(&["null", "\"none\"", "\"identity\"", "\"sideways\"", "3"]))),
            23 => resnet_wasm::file_arch(&mutated(&mut rng)).map(|_| ()),
            // compare mode: members real and not, steps, show and fork at steps that may not exist
            24 if e.batch_size() <= 16 => {
                let ids: Vec<String> = (0..rng.size(3).min(5)).map(|_| rng.pick(&["plain8", "resnet8", "resnet8-a", "lenet", "", "resnet8-w8"]).to_string()).collect();
                e.compare_start(ids, rng.next() as u32).map(|_| ())
            }
            25 if e.batch_size() <= 16 => e.compare_step().map(|_| ()),
            26 => e.compare_show(rng.size(3), rng.below(30) as u32).map(|_| ()),
            27 => {
                e.compare_show_own();
                e.compare_fork(rng.below(30) as u32).map(|_| ())
            }
            28 => e.compare_evaluate(rng.size(20).min(50)).and_then(|_| e.compare_state()).map(|_| ()),
            _ => {
                let _ = (e.save_weights(), e.step(), e.tensor_names(), e.conv_sites(), e.config(), e.modules(), e.architecture());
                Ok(())
            }
        };
        if r.is_ok() { ok += 1 } else { err += 1 }
    }
    assert!(ok > 50 && err > 50, "the calls exercise both paths: {ok} ok, {err} errors");
    // still a working engine (of whichever member the calls left it; the pretrained one again)
    e.load_model(MODEL, JsValue::UNDEFINED).map_err(JsValue::from).unwrap();
    e.set_dataset(DATA).map_err(JsValue::from).unwrap();
    let idx: Vec<u32> = (8000..8010).collect();
    let logits = e.forward_digits(&idx, "eval").map_err(JsValue::from).unwrap();
    let labels = e.labels(&idx).map_err(JsValue::from).unwrap();
    let right = labels.iter().enumerate().filter(|(i, &l)| {
        let row = &logits[i * 10..i * 10 + 10];
        row.iter().enumerate().fold(0, |b, (j, &v)| if v > row[b] { j } else { b }) == l as usize
    }).count();
    assert!(right >= 9, "{right}/10 held-out digits right after the random calls");
}

/// A pass that would not fit in the browser's memory (ResNet-56 at batch 256 fills ≈ 2.9 GB of
/// activations and δ) is refused before it runs, with the reason and the largest batch that
/// fits; the engine keeps working. Compare mode refuses the same way.
#[wasm_bindgen_test]
fn passes_that_would_not_fit_are_refused_with_the_reason() {
    let mut e = Engine::new(JsValue::UNDEFINED, 1, JsValue::UNDEFINED).map_err(JsValue::from).unwrap();
    e.set_dataset(DATA).map_err(JsValue::from).unwrap();
    e.set_batch(256, 1).map_err(JsValue::from).unwrap(); // ResNet-8 at 256: ≈ 430 MB, fits
    let refused = e.set_architecture(JsValue::from_str("resnet56"), 1).err().map(|x| format!("{:?}", JsValue::from(x))).unwrap_or_default();
    assert!(refused.contains("ResNet-56 needs about") && refused.contains("at most 40 images at a time"), "{refused}");
    assert!(e.parameter("layer3.8.conv1.weight").is_err() && e.parameter("layer3.0.conv1.weight").is_ok(), "still ResNet-8");
    e.set_batch(32, 1).map_err(JsValue::from).unwrap();
    e.set_architecture(JsValue::from_str("resnet56"), 1).map_err(JsValue::from).unwrap();
    let big = e.set_batch(64, 1).err().map(|x| format!("{:?}", JsValue::from(x))).unwrap_or_default();
    assert!(big.contains("ResNet-56 needs about"), "{big}");
    let three = e.compare_start(vec!["plain20".into(), "plain56".into(), "resnet56".into()], 1).map(|_| ()).map_err(|x| format!("{:?}", JsValue::from(x)));
    assert!(three.is_ok(), "the degradation lesson fits at batch 32: {three:?}");
    e.train(1).map_err(|v| format!("{v:?}")).unwrap();
}

/// The page's two digits files: the held-out digits alone are enough to inspect and evaluate;
/// training says what it lacks until the training digits are added (a pass on the tape
/// survives them); then the engine holds exactly the whole file's digits.
#[wasm_bindgen_test]
fn held_out_digits_first_then_the_training_digits() {
    use resnet_engine::data::{Dataset, Split};
    let whole = Dataset::parse(DATA).unwrap();
    let mut e = Engine::from_safetensors(MODEL, JsValue::UNDEFINED, JsValue::UNDEFINED).map_err(JsValue::from).unwrap();
    e.set_dataset(&whole.part(Split::Test).to_bytes()).map_err(JsValue::from).unwrap();
    let held = e.evaluate("test", 200).map_err(JsValue::from).unwrap();
    let accuracy = js_sys::Reflect::get(&held, &"accuracy".into()).unwrap().as_f64().unwrap();
    assert!(accuracy > 0.95, "{accuracy}");
    let refused = e.train(1).err().map(|v| format!("{v:?}")).unwrap_or_default();
    assert!(refused.contains("training"), "{refused}");
    let mixed = e.add_training_digits(DATA).err().map(|x| format!("{:?}", JsValue::from(x))).unwrap_or_default();
    assert!(mixed.contains("training digits only"), "{mixed}");
    // (the page is looking at a pass when they arrive: its tape stays)
    e.forward(&vec![0.25f32; 784], 1, "eval").map_err(JsValue::from).unwrap();
    e.backward(&[3]).map_err(JsValue::from).unwrap();
    e.add_training_digits(&whole.part(Split::Train).to_bytes()).map_err(JsValue::from).unwrap();
    assert!(e.tensor("delta.layer1.0.conv1").is_ok(), "the tape of the pass before the training digits is still there");
    let idx: Vec<u32> = (0..10_000).collect();
    assert_eq!(e.labels(&idx).map_err(JsValue::from).unwrap(), whole.labels.iter().map(|&l| l as u32).collect::<Vec<_>>());
    e.train(1).map_err(|v| format!("{v:?}")).unwrap();
}

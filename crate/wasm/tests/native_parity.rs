//! In headless Chromium (wasm-bindgen-test): the wasm engine, through the same `Engine` API
//! the page uses, gives the native engine's numbers on a fixed batch — loss, logits, every
//! `delta.<conv>`, `act.<conv>` and `grad.*` — to ≤ 1e-5 relative (max abs error / max
//! |native|). The native numbers come from `resnet-playground grads` on the committed model,
//! written by `scripts/test.sh` to `$RP_FIXTURE_DIR` before this is compiled.
//!
//! The SIMD-only build runs it on the page's main thread; the threaded build in a dedicated
//! worker with a rayon pool of 2, which must report 2 threads and give the same numbers.
#![cfg(target_arch = "wasm32")]

use resnet_wasm::Engine;
use safetensors::SafeTensors;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

#[cfg(feature = "threads")]
wasm_bindgen_test_configure!(run_in_dedicated_worker);
#[cfg(not(feature = "threads"))]
wasm_bindgen_test_configure!(run_in_browser);

const MODEL: &[u8] = include_bytes!("../../../models/resnet8-mnist.safetensors");
const BATCH: &[u8] = include_bytes!(concat!(env!("RP_FIXTURE_DIR"), "/batch.safetensors"));
const NATIVE: &[u8] = include_bytes!(concat!(env!("RP_FIXTURE_DIR"), "/native.safetensors"));
/// A member other than the default: ResNet-14 with option-A shortcuts and no BN (convs with
/// biases), at its initialisation, with the native `grads` of the same batch.
const MEMBER: &[u8] = include_bytes!(concat!(env!("RP_FIXTURE_DIR"), "/member.safetensors"));
const MEMBER_NATIVE: &[u8] = include_bytes!(concat!(env!("RP_FIXTURE_DIR"), "/member-native.safetensors"));

fn f32s(t: &safetensors::tensor::TensorView) -> Vec<f32> {
    t.data().chunks(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// Starts the threaded build's pool of 2 (once, whichever test comes first: rayon's global pool
/// can be built only once, and a parallel loop run before it would build a default one); returns
/// the engine's thread count.
async fn start_threads() -> usize {
    #[cfg(feature = "threads")]
    {
        static STARTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !STARTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
            wasm_bindgen_futures::JsFuture::from(resnet_wasm::init_thread_pool(2)).await.expect("thread pool");
        }
    }
    let info = resnet_wasm::build_info().unwrap();
    js_sys::Reflect::get(&info, &JsValue::from_str("threads")).unwrap().as_f64().unwrap() as usize
}

#[wasm_bindgen_test]
async fn wasm_engine_equals_native_engine() {
    let threads = start_threads().await;
    #[cfg(feature = "threads")]
    assert_eq!(threads, 2, "the threaded build computes on 2 threads");
    #[cfg(not(feature = "threads"))]
    assert_eq!(threads, 1);

    assert_eq!(compare(MODEL, NATIVE), 68, "loss, logits, delta.fc, 29 grads, 9 act+delta convs, 18 running stats");
    let checked = compare(MEMBER, MEMBER_NATIVE);
    assert_eq!(checked, 3 + 2 * 13 + 2 * 13 + 2, "loss, logits, delta.fc, 13 convs' weight and bias grads, act+delta of 13 convs, fc grads");
}

/// Forward + backward of the fixture batch on `weights` in the wasm engine, every tensor
/// against the native file; returns how many were compared.
fn compare(weights: &[u8], native: &[u8]) -> usize {
    let batch = SafeTensors::deserialize(BATCH).unwrap();
    let images = f32s(&batch.tensor("images").unwrap());
    let labels: Vec<u32> = batch.tensor("labels").unwrap().data().chunks(8).map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32).collect();
    let n = labels.len();

    let mut engine = Engine::from_safetensors(weights, JsValue::UNDEFINED, JsValue::UNDEFINED).map_err(JsValue::from).unwrap();
    engine.forward(&images, n, "train").map_err(JsValue::from).unwrap();
    let loss = engine.backward(&labels).map_err(JsValue::from).unwrap();

    let native = SafeTensors::deserialize(native).unwrap();
    let native_loss = f32s(&native.tensor("loss").unwrap())[0] as f64;
    assert!((loss - native_loss).abs() <= 1e-5 * native_loss.abs(), "loss {loss} vs native {native_loss}");
    let mut checked = 0;
    for name in native.names() {
        let want = f32s(&native.tensor(name).unwrap());
        let got = engine.tensor(name).map_err(JsValue::from).unwrap();
        assert_eq!(got.len(), want.len(), "{name}");
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
        let err = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max) / scale;
        assert!(err <= 1e-5, "{name}: relative error {err:e}");
        checked += 1;
    }
    checked
}

/// `predict` as it runs in wasm (BatchNorm folded into the convs: Winograd's and the implicit
/// conv's bias, the ReLU on the conv's output) gives the eval-mode forward's logits up to
/// rounding, and leaves the last pass's tape as it was. The trained ResNet-8, 8 inputs of
/// size ≈ 1.
#[wasm_bindgen_test]
async fn predict_in_wasm_equals_the_eval_forward() {
    start_threads().await; // (its passes run on the pool)
    let mut engine = Engine::from_safetensors(MODEL, JsValue::UNDEFINED, JsValue::UNDEFINED).map_err(JsValue::from).unwrap();
    let x: Vec<f32> = (0..8 * 784).map(|i| ((i * 37 % 101) as f32 - 30.0) / 25.0).collect();
    let want = engine.forward(&x, 8, "eval").map_err(JsValue::from).unwrap();
    let tape = engine.tensor("act.layer1.0.conv1").map_err(JsValue::from).unwrap();
    let got = engine.predict(&x, 8).map_err(JsValue::from).unwrap();
    let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        assert!((a - b).abs() <= 1e-4 * scale, "logit {i}: {a} predicted, {b} by the forward");
    }
    assert!(got.iter().zip(&want).any(|(a, b)| a.to_bits() != b.to_bits()), "predict folded nothing");
    assert_eq!(engine.tensor("act.layer1.0.conv1").map_err(JsValue::from).unwrap(), tape, "predict changed the tape");
    assert!(engine.predict(&x[..100], 8).is_err() && engine.predict(&[f32::NAN; 784], 1).is_err());
}

#[wasm_bindgen_test]
async fn bad_input_is_an_error_not_a_panic() {
    start_threads().await; // (its forward runs on the pool)
    // Messages are checked in the e2e test (tests/engine.test.mjs); here: errors, no panic,
    // and the engine still works afterwards.
    assert!(Engine::from_safetensors(&[1, 2, 3], JsValue::UNDEFINED, JsValue::UNDEFINED).is_err());
    let mut engine = Engine::from_safetensors(MODEL, JsValue::UNDEFINED, JsValue::UNDEFINED).map_err(JsValue::from).unwrap();
    assert!(engine.load_weights(&MODEL[..MODEL.len() / 2]).is_err());
    assert!(engine.tensor("act.conv1").is_err(), "empty tape");
    assert!(engine.forward(&[0.0; 10], 1, "eval").is_err());
    assert!(engine.forward(&[], 1 << 28, "train").is_err(), "n·C·S·S would overflow 32 bits");
    assert!(engine.train_batch(&[], &[]).is_err());
    assert!(engine.forward(&[0.0; 784], 1, "sideways").is_err());
    assert!(engine.forward(&[f32::NAN; 784], 1, "eval").is_err());
    assert!(engine.set_batch(0, 1).is_err());
    assert!(engine.train(1).is_err(), "no dataset");
    let logits = engine.forward(&[0.0; 784], 1, "eval").map_err(JsValue::from).unwrap();
    assert_eq!(logits.len(), 10);
    assert!(engine.backward(&[10]).is_err());
    assert!(engine.backward(&[3]).is_ok());
    assert!(engine.tensor("delta.conv1").is_ok());
}

/// The engine's copy as it runs in wasm (a simd128 loop, not `memory.copy`: `layers::copy`)
/// against its definition, on every short length, misaligned starts and a long slice.
#[wasm_bindgen_test]
fn copy_in_wasm_matches_its_definition() {
    resnet_engine::layers::check_copy().unwrap();
}

/// The weight gradient's two products as they run in wasm against a naive product
/// (`gemm::nt::check_against_naive`): the k-contiguous one (simd128 tiles of 4 k values, the k
/// that are left over, the edge tiles, overwrite and accumulate) and the packed one (B
/// transposed into panels in simd128 4×4 blocks, k in blocks, a partial last panel). Natively
/// `gemm::sgemm_nt` is the gemm crate, and the engine's tests run the same check on the scalar
/// paths.
#[wasm_bindgen_test]
fn nt_gemm_in_wasm_matches_naive() {
    resnet_engine::gemm::nt::check_against_naive().unwrap();
}

/// The first stage's forward as it runs in wasm (an implicit im2col: the padded image read in
/// place through per-row offsets, `conv::conv2d_forward_implicit`) against the reference conv.
#[wasm_bindgen_test]
async fn implicit_conv_in_wasm_matches_reference() {
    start_threads().await; // (its images run in parallel)
    resnet_engine::layers::conv::check_implicit_against_reference().unwrap();
}

/// The 14×14 and 7×7 stages' 3×3 stride-1 forward as it runs in wasm (Winograd's F(2×2, 3×3)
/// with its simd128 transforms, `layers::winograd`) against the reference conv.
#[wasm_bindgen_test]
async fn winograd_conv_in_wasm_matches_reference() {
    start_threads().await; // (its images run in parallel)
    resnet_engine::layers::winograd::check_against_reference().unwrap();
}

/// A conv's backward as it runs in wasm (dx through Winograd with the kernels read rotated, or
/// col2im; the weight gradient's groups and dx's images in one parallel loop) against the
/// reference conv's, its outputs starting as NaN (`conv::check_backward_against_reference`).
#[wasm_bindgen_test]
async fn conv_backward_in_wasm_matches_reference() {
    start_threads().await; // (the merged loop runs in parallel)
    resnet_engine::layers::in_pool(resnet_engine::layers::conv::check_backward_against_reference).unwrap();
}

/// The larger stages' 3×3 stride-1 forward as it runs in wasm (Winograd's F(4×4, 3×3) with its
/// simd128 transforms, `layers::winograd4`) against the reference conv.
#[wasm_bindgen_test]
async fn winograd4_conv_in_wasm_matches_reference() {
    start_threads().await; // (its images run in parallel)
    resnet_engine::layers::winograd4::check_against_reference().unwrap();
}

/// The packed GEMM as it runs in wasm (the simd128 4×8 kernel: whole tiles stored straight into
/// c, edge tiles, accumulate, B in place, packed or at row offsets) against a naive product.
#[wasm_bindgen_test]
fn packed_gemm_in_wasm_matches_naive() {
    resnet_engine::gemm::check_packed_against_naive().unwrap();
}

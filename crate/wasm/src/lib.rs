//! The engine's face in the browser. One `Engine` owns a model, its trainer and the digits;
//! the page drives it from a Web Worker (`www/worker.js`) through `www/engine-client.js`.
//!
//! Every method that can fail returns `Result<_, JsError>`: the message reaches JavaScript as
//! an `Error` a person can read, and the engine stays usable. Nothing a page passes in should
//! make the module panic; a panic is a bug (the hook prints it to the console, and the page
//! restarts the worker).

use resnet_engine::compare::{self, Comparison};
use resnet_engine::data::{self, Dataset, Split};
use resnet_engine::formula::{self, Query};
use resnet_engine::model::Mode;
use resnet_engine::optim::OptimizerConfig;
use resnet_engine::own::{self, ImageSet, MixedSampler};
use resnet_engine::train::{self, StepError, Trainer};
use resnet_engine::{io, Config, ResNet, Shortcut, Tensor};
use serde::Serialize;
use wasm_bindgen::prelude::*;

#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

fn err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(err)
}

/// Which build this is and how many threads it computes on.
#[wasm_bindgen(js_name = buildInfo)]
pub fn build_info() -> Result<JsValue, JsError> {
    #[derive(Serialize)]
    struct Info {
        build: &'static str,
        threads: usize,
        simd: bool,
    }
    let build = if cfg!(feature = "threads") { "threads" } else { "simd" };
    to_js(&Info { build, threads: pool_threads(), simd: cfg!(target_feature = "simd128") })
}

/// Threads the engine computes on: the pool's in the threaded build, else 1.
fn pool_threads() -> usize {
    #[cfg(feature = "threads")]
    return rayon::current_num_threads();
    #[cfg(not(feature = "threads"))]
    return 1;
}

#[wasm_bindgen]
extern "C" {
    /// `performance.now()` of the thread that calls it (the page's, a worker's), in ms: a plain
    /// function, so a pass can read it on whichever pool thread leads it.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// `performance.now()` of the page or worker, in ms, once it is known to be there.
fn clock() -> Result<fn() -> f64, JsError> {
    let perf = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("performance")).map_err(|_| err("no performance clock"))?;
    if perf.is_undefined() {
        return Err(err("no performance clock"));
    }
    Ok(performance_now)
}

/// This machine's wasm peak in GFLOP/s (`resnet_engine::bench::peak_gflops`: a register-resident
/// multiply-add loop on every pool thread at once, best of `rounds`), and per thread: the bench
/// page gives each training step as a fraction of it.
#[wasm_bindgen(js_name = benchPeak)]
pub fn bench_peak(iters: usize, rounds: usize) -> Result<JsValue, JsError> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Peak {
        gflops: f64,
        threads: usize,
        per_thread_gflops: f64,
        relaxed: bool,
    }
    let threads = pool_threads();
    let gflops = resnet_engine::bench::peak_gflops(threads, iters.clamp(1, 1 << 26), rounds.clamp(1, 20), &clock()?);
    to_js(&Peak { gflops, threads, per_thread_gflops: gflops / threads as f64, relaxed: cfg!(target_feature = "relaxed-simd") })
}

/// Sets how many empty looks an idle pool thread makes between a pass's loops before it
/// sleeps (`resnet_engine::layers::set_helper_spins`; the bench page's `?spins=`); returns
/// the value now in force (0 in the single-threaded builds, which have no helpers).
#[wasm_bindgen(js_name = setHelperSpins)]
pub fn set_helper_spins(n: u32) -> u32 {
    resnet_engine::layers::set_helper_spins(n)
}

/// GFLOP/s of the engine's GEMM on an `m×k · k×n` product (row-major operands), `reps` times:
/// the kernel's ceiling, next to the conv layers' figures on the bench page.
#[wasm_bindgen(js_name = benchGemm)]
pub fn bench_gemm(m: usize, n: usize, k: usize, reps: usize) -> Result<f64, JsError> {
    let fits = |a: usize, b: usize| a.checked_mul(b).is_some_and(|v| (1..=1 << 22).contains(&v));
    if !(fits(m, k) && fits(k, n) && fits(m, n)) {
        return Err(err("the GEMM benchmark takes matrices of 1 to 4M values"));
    }
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0.0f32; m * n];
    let now = clock()?;
    let ms = resnet_engine::bench::time_ms_batched(reps.clamp(1, 1000), &now, || {
        resnet_engine::gemm::sgemm(m, n, k, resnet_engine::gemm::Mat { data: &a, rs: k, cs: 1 }, resnet_engine::gemm::Mat { data: &b, rs: n, cs: 1 }, &mut c, n, false)
    });
    Ok(2.0 * m as f64 * n as f64 * k as f64 / ms / 1e6)
}

/// The family the page offers: presets, the choices of each field (one source for the page's
/// architecture panel and the CLI's flags), and every preset's id.
#[wasm_bindgen]
pub fn family() -> Result<JsValue, JsError> {
    #[derive(Serialize)]
    struct Family {
        presets: Vec<resnet_engine::graph::Preset>,
        depths: Vec<usize>,
        widths: Vec<usize>,
        shortcuts: Vec<&'static str>,
    }
    let depths = resnet_engine::graph::DEPTH_N.map(|n| 6 * n + 2).collect();
    to_js(&Family { presets: resnet_engine::graph::presets(), depths, widths: resnet_engine::graph::WIDTHS.to_vec(), shortcuts: Shortcut::ALL.iter().map(|s| s.id()).collect() })
}

/// `{config, id, label}` of an architecture id (`resnet20`, `plain56`, `resnet20-a-nobn`, …).
#[wasm_bindgen(js_name = archFromId)]
pub fn arch_from_id(id: &str) -> Result<JsValue, JsError> {
    let config = Config::from_arch_id(id).map_err(err)?;
    to_js(&arch_info(&config))
}

/// `{config, id, label, depth, parameters}` of the MNIST member with these fields (the page's
/// architecture panel): depth 6n+2, base width, shortcut `projection|identity|none`, BN on/off.
#[wasm_bindgen(js_name = archOf)]
pub fn arch_of(depth: usize, width: usize, shortcut: &str, batchnorm: bool) -> Result<JsValue, JsError> {
    if depth < 8 || (depth - 2) % 6 != 0 || !resnet_engine::graph::DEPTH_N.contains(&((depth - 2) / 6)) {
        return Err(err(format!("depth {depth} is not in the family (6n+2, 8 to 56)")));
    }
    if !resnet_engine::graph::WIDTHS.contains(&width) {
        return Err(err(format!("width {width} is not one of {:?}", resnet_engine::graph::WIDTHS)));
    }
    let config = Config::family((depth - 2) / 6, width, Shortcut::parse(shortcut).map_err(err)?, batchnorm);
    config.validate().map_err(err)?;
    to_js(&arch_info(&config))
}

/// What a weights file holds (see `resnet_engine::io::FileArch`): `{config, candidates,
/// source}`, the member (as `archFromId` describes one) or, when names and shapes cannot tell,
/// the members it could be.
#[wasm_bindgen(js_name = fileArch)]
pub fn file_arch(bytes: &[u8]) -> Result<JsValue, JsError> {
    #[derive(Serialize)]
    struct Answer {
        config: Option<ArchInfo>,
        candidates: Vec<ArchInfo>,
        source: String,
    }
    let a = io::file_arch(bytes).map_err(err)?;
    to_js(&Answer { config: a.config.as_ref().map(arch_info), candidates: a.candidates.iter().map(arch_info).collect(), source: a.source })
}

#[derive(Serialize)]
struct ArchInfo {
    config: Config,
    id: Option<String>,
    label: String,
    depth: usize,
    parameters: usize,
}

fn arch_info(config: &Config) -> ArchInfo {
    let parameters = resnet_engine::Graph::build(config).params().filter(|p| p.trainable).map(|p| p.shape.iter().product::<usize>()).sum();
    ArchInfo { config: config.clone(), id: config.arch_id(), label: config.label(), depth: config.depth(), parameters }
}

fn parse_shortcut(v: &JsValue) -> Result<Option<Shortcut>, JsError> {
    match v.as_string() {
        None if v.is_undefined() || v.is_null() => Ok(None),
        None => Err(err("shortcut must be a string: projection, identity or none")),
        Some(s) => Ok(Some(Shortcut::parse(&s).map_err(err)?)),
    }
}

/// A JS `Error` with a `kind` and numbers, for failures the caller acts on by type.
fn step_error(kind: &str, message: &str, fields: &[(&str, u64)]) -> JsValue {
    let e = js_sys::Error::new(message);
    let _ = js_sys::Reflect::set(&e, &"kind".into(), &kind.into());
    for &(k, v) in fields {
        let _ = js_sys::Reflect::set(&e, &k.into(), &(v as f64).into());
    }
    e.into()
}

/// An image set file for a task of `classes` classes, checked (`resnet_engine::io::
/// load_image_set`): `{pixels: Uint8Array (n × 28 × 28), labels: Uint32Array}`.
#[wasm_bindgen(js_name = readImageSet)]
pub fn read_image_set(bytes: &[u8], classes: usize) -> Result<JsValue, JsError> {
    let set = io::load_image_set(bytes, classes).map_err(err)?;
    let o = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&o, &"pixels".into(), &js_sys::Uint8Array::from(&set.pixels[..]).into());
    let labels: Vec<u32> = set.labels.iter().map(|&l| l as u32).collect();
    let _ = js_sys::Reflect::set(&o, &"labels".into(), &js_sys::Uint32Array::from(&labels[..]).into());
    Ok(o.into())
}

/// What a task of one's own may be and do: `{classes: [lo, hi], images (the most a set
/// holds), augment: {shift, degrees}}`.
#[wasm_bindgen(js_name = ownLimits)]
pub fn own_limits() -> Result<JsValue, JsError> {
    #[derive(Serialize)]
    struct Limits {
        classes: [usize; 2],
        images: usize,
        augment: own::Augment,
    }
    to_js(&Limits { classes: [*own::CLASSES.start(), *own::CLASSES.end()], images: own::MAX_IMAGES, augment: own::AUGMENT })
}

/// `count` augmented copies of a 28×28 image (as training makes them, from `seed`): the page
/// shows what augmentation does. `count × 784` bytes.
#[wasm_bindgen(js_name = augmentPreview)]
pub fn augment_preview(pixels: &[u8], count: usize, seed: u32) -> Result<Vec<u8>, JsError> {
    if pixels.len() != 784 || !(1..=64).contains(&count) {
        return Err(err("augmentPreview takes one 28×28 image (784 bytes) and 1 to 64 copies"));
    }
    let mut rng = resnet_engine::rng::Rng::new(seed as u64);
    Ok((0..count).flat_map(|_| own::Augment::apply(pixels, 28, 28, own::AUGMENT.draw(&mut rng))).collect())
}

/// The training settings' limits and the page's defaults (`resnet_engine::train::SETTINGS`).
#[wasm_bindgen]
pub fn settings() -> Result<JsValue, JsError> {
    to_js(&train::SETTINGS)
}

/// The wasm memory's size in bytes (it only grows: the memory tests and `bench/memory.mjs`
/// read it after steps to see that training reaches a steady state, and the peak of a model).
#[wasm_bindgen(js_name = memoryBytes)]
pub fn memory_bytes() -> f64 {
    #[cfg(target_arch = "wasm32")]
    return (core::arch::wasm32::memory_size::<0>() * 65536) as f64;
    #[cfg(not(target_arch = "wasm32"))]
    return 0.0;
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StepReport {
    step: u64,
    epoch: u64,
    loss: f64,
    accuracy: f64,
}

#[derive(Serialize)]
struct TensorInfo {
    name: String,
    shape: Vec<usize>,
}

#[wasm_bindgen]
pub struct Engine {
    trainer: Trainer,
    data: Option<Dataset>,
    batch: usize,
    seed: u64,
    /// The side-by-side run (compare mode), if one was started.
    comparison: Option<Comparison>,
    /// The page's own model while a compared member is shown in its place (`compareShow`).
    own: Option<Trainer>,
    /// The student's own images and how training uses them.
    mine: Mine,
}

/// The student's image set (`setImageSet`) and the training source (`setTrainingSource`):
/// `share` of each batch from their images (0: MNIST only), augmented or not.
#[derive(Default)]
struct Mine {
    set: Option<ImageSet>,
    share: f64,
    augment: bool,
    /// A task of the student's own classes (not the digits, even with ten classes): MNIST's
    /// digits are then not its classes.
    own_task: bool,
    /// The set's split (`held_out_from(every_class)`), kept for the `every_class` it was made
    /// with: hashing every image is done once per set, not once per training step.
    split: Option<(bool, std::result::Result<(Vec<usize>, Vec<usize>), String>)>,
}

impl Mine {
    /// `(train, held_out)` of the set (see `ImageSet::held_out_from`), made once per set.
    fn split(&mut self, every_class: bool) -> Option<std::result::Result<(Vec<usize>, Vec<usize>), String>> {
        let set = self.set.as_ref()?;
        if self.split.as_ref().is_none_or(|s| s.0 != every_class) {
            self.split = Some((every_class, set.held_out_from(every_class).map_err(|e| e.to_string())));
        }
        self.split.as_ref().map(|s| s.1.clone())
    }
}

/// The largest batch the browser engine takes in one call (memory: ≈ 0.4 MB of tape per image).
const MAX_BATCH: usize = 1024;

/// The tape one pass of the page's model may fill (`Graph::tape_bytes`: every activation and
/// δ of the batch). The threaded build has 1 GiB of memory in all; compare mode may take
/// `compare::MEMORY_BUDGET` of it besides. A batch that would not fit is refused before the
/// pass, with the reason, instead of running out of memory (a trap, and a restarted engine).
const PASS_MEMORY: u64 = 448 << 20;

/// `n` images in one pass of a model with graph `g`: within MAX_BATCH and PASS_MEMORY.
fn check_batch_of(g: &resnet_engine::Graph, label: &str, n: usize) -> Result<(), JsError> {
    if !(1..=MAX_BATCH).contains(&n) {
        return Err(err(format!("a batch must hold 1 to {MAX_BATCH} images, not {n}")));
    }
    let need = g.tape_bytes(n);
    if need > PASS_MEMORY {
        let most = PASS_MEMORY / g.tape_bytes(1);
        return Err(err(format!(
            "{label} needs about {} MB for a pass over {n} images, more than the {} MB the browser engine gives one pass: at most {most} images at a time",
            need.div_ceil(1 << 20),
            PASS_MEMORY >> 20
        )));
    }
    Ok(())
}

fn parse_mode(mode: &str) -> Result<Mode, JsError> {
    match mode {
        "train" => Ok(Mode::Train),
        "eval" => Ok(Mode::Eval),
        other => Err(err(format!("mode must be \"train\" or \"eval\", not {other:?}"))),
    }
}

fn parse_optimizer(v: JsValue) -> Result<OptimizerConfig, JsError> {
    if v.is_undefined() || v.is_null() {
        return Ok(train::SETTINGS.sgd);
    }
    let cfg: OptimizerConfig = serde_wasm_bindgen::from_value(v).map_err(|e| err(format!("optimizer settings: {e}")))?;
    cfg.validate().map_err(err)?;
    Ok(cfg)
}

#[wasm_bindgen]
impl Engine {
    /// A fresh model. `config`: `{in_channels, image_size, num_classes, widths, blocks}` or
    /// undefined for ResNet-8/MNIST; `optimizer`: `{kind: "sgd", momentum, lr, weight_decay}` or
    /// `{kind: "adam", beta1, beta2, eps, lr, weight_decay}`.
    #[wasm_bindgen(constructor)]
    pub fn new(config: JsValue, seed: u32, optimizer: JsValue) -> Result<Engine, JsError> {
        console_error_panic_hook::set_once();
        let config: Config = if config.is_undefined() || config.is_null() {
            Config::default()
        } else {
            serde_wasm_bindgen::from_value(config).map_err(|e| err(format!("model config: {e}")))?
        };
        let model = ResNet::new(&config, seed as u64).map_err(err)?;
        let trainer = Trainer::new(model, parse_optimizer(optimizer)?, 32, seed as u64).map_err(err)?;
        Ok(Engine { trainer, data: None, batch: 32, seed: seed as u64, comparison: None, own: None, mine: Mine::default() })
    }

    /// A model from a safetensors file (PyTorch names; the member is read from its metadata,
    /// or inferred from names and shapes; `shortcut` settles option A against plain).
    #[wasm_bindgen(js_name = fromSafetensors)]
    pub fn from_safetensors(bytes: &[u8], optimizer: JsValue, shortcut: JsValue) -> Result<Engine, JsError> {
        console_error_panic_hook::set_once();
        let model = io::load_model_as(bytes, parse_shortcut(&shortcut)?).map_err(err)?;
        let trainer = Trainer::new(model, parse_optimizer(optimizer)?, 32, 0).map_err(err)?;
        Ok(Engine { trainer, data: None, batch: 32, seed: 0, comparison: None, own: None, mine: Mine::default() })
    }

    /// A fresh model of another member (`config` as `archFromId` gives it, or an id string),
    /// random weights from `seed`; the digits, batch size and optimizer settings stay, and so
    /// does the task: an id's member gets the current model's number of classes.
    #[wasm_bindgen(js_name = setArchitecture)]
    pub fn set_architecture(&mut self, config: JsValue, seed: u32) -> Result<(), JsError> {
        let config = match config.as_string() {
            Some(id) => Config { num_classes: self.trainer.model.config.num_classes, ..Config::from_arch_id(&id).map_err(err)? },
            None => serde_wasm_bindgen::from_value(config).map_err(|e| err(format!("model config: {e}")))?,
        };
        config.validate().map_err(err)?;
        check_batch_of(&resnet_engine::Graph::build(&config), &config.label(), self.batch)?;
        let model = ResNet::new(&config, seed as u64).map_err(err)?;
        self.trainer = Trainer::new(model, self.trainer.opt.config, self.batch, seed as u64).map_err(err)?;
        self.seed = seed as u64;
        Ok(())
    }

    /// Replaces the model with the one in a file, whatever member it is (the member read as
    /// `fromSafetensors` reads it; validated first: a bad file changes nothing). The optimizer
    /// starts afresh at step 0.
    #[wasm_bindgen(js_name = loadModel)]
    pub fn load_model(&mut self, bytes: &[u8], shortcut: JsValue) -> Result<(), JsError> {
        let model = io::load_model_as(bytes, parse_shortcut(&shortcut)?).map_err(err)?;
        check_batch_of(&model.graph, &model.config.label(), self.batch)?;
        self.trainer = Trainer::new(model, self.trainer.opt.config, self.batch, self.seed).map_err(err)?;
        Ok(())
    }

    /// The member: `{config, id, label, depth, parameters}`.
    pub fn architecture(&self) -> Result<JsValue, JsError> {
        to_js(&arch_info(&self.trainer.model.config))
    }

    /// The module graph (`resnet_engine::graph::Graph`): `{modules: [{name, kind, inputs, shape,
    /// params, block, side, about, …}], blocks: [{name, input, entry, shortcut, reshapes}]}`,
    /// shapes per image. The page draws the strip, the layer list and the descriptions from it.
    pub fn modules(&self) -> Result<JsValue, JsError> {
        to_js(&self.trainer.model.graph)
    }

    /// Replaces the weights with a file's (validated first: a bad file changes nothing).
    #[wasm_bindgen(js_name = loadWeights)]
    pub fn load_weights(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        io::load_weights_into(&mut self.trainer.model, bytes).map_err(err)
    }

    /// Goes back to weights `saveWeights` gave at step `step` (validated first: a bad file
    /// changes nothing). The optimizer's moments belong to the run being undone (after a
    /// divergence they are huge), so they are cleared; its step counter becomes `step`.
    #[wasm_bindgen(js_name = restoreCheckpoint)]
    pub fn restore_checkpoint(&mut self, bytes: &[u8], step: u32) -> Result<(), JsError> {
        io::load_weights_into(&mut self.trainer.model, bytes).map_err(err)?;
        let opt = &mut self.trainer.opt;
        opt.m.clear();
        opt.v.clear();
        opt.step = step as u64;
        Ok(())
    }

    /// The optimizer's state (moments, step, settings) as safetensors bytes; with
    /// `saveWeights` it is everything a training run needs to go on later.
    #[wasm_bindgen(js_name = saveOptimizer)]
    pub fn save_optimizer(&self) -> Vec<u8> {
        io::save_optimizer(&self.trainer.opt)
    }

    /// Replaces the optimizer's state with one `saveOptimizer` wrote (checked against the
    /// model first: a bad file changes nothing).
    #[wasm_bindgen(js_name = loadOptimizer)]
    pub fn load_optimizer(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        self.trainer.opt = io::load_optimizer(bytes, &self.trainer.model).map_err(err)?;
        Ok(())
    }

    /// The model as safetensors bytes (PyTorch `state_dict` names).
    #[wasm_bindgen(js_name = saveWeights)]
    pub fn save_weights(&self) -> Vec<u8> {
        io::save_model(&self.trainer.model)
    }

    /// Random weights from `seed` (same config), a fresh optimizer and epoch order: "train
    /// from scratch".
    #[wasm_bindgen(js_name = resetModel)]
    pub fn reset_model(&mut self, seed: u32) -> Result<(), JsError> {
        let model = ResNet::new(&self.trainer.model.config, seed as u64).map_err(err)?;
        self.trainer = Trainer::new(model, self.trainer.opt.config, self.batch, seed as u64).map_err(err)?;
        self.seed = seed as u64;
        Ok(())
    }

    /// The digits: the `data/mnist-10k.bin` format (see `tools/convert-mnist.mjs`), both splits
    /// or the held-out digits alone (`data/mnist-heldout.bin`: enough to inspect and evaluate;
    /// the training digits then come with `addTrainingDigits`).
    #[wasm_bindgen(js_name = setDataset)]
    pub fn set_dataset(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        let data = self.fitting_digits(bytes, !self.mine.own_task)?;
        self.data = Some(data);
        // a new epoch order for the new data (the old one may index past its end)
        self.rebuild_trainer(self.batch, self.seed)
    }

    /// The training digits (`data/mnist-train.bin`: a file of training digits only), added to
    /// the held-out digits `setDataset` gave (they replace the training split, if there was one).
    #[wasm_bindgen(js_name = addTrainingDigits)]
    pub fn add_training_digits(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        // (the model may have a task's classes by now: the digits' labels are MNIST's, used
        // only where they are classes of the model — `mnist_fits`)
        let train = self.fitting_digits(bytes, false)?;
        let data = self.data.as_ref().ok_or_else(|| err("no dataset: call setDataset with the held-out digits first"))?;
        self.data = Some(data.with_training(&train).map_err(err)?);
        // (they come while the page looks at a pass: its tape stays, the epochs start afresh)
        self.trainer.new_data();
        Ok(())
    }

    /// Optimizer settings for the next steps (keeps the optimizer state when only the numbers change).
    #[wasm_bindgen(js_name = setOptimizer)]
    pub fn set_optimizer(&mut self, optimizer: JsValue) -> Result<(), JsError> {
        let cfg = parse_optimizer(optimizer)?;
        let same_kind = std::mem::discriminant(&cfg.kind) == std::mem::discriminant(&self.trainer.opt.config.kind);
        if same_kind {
            self.trainer.opt.config = cfg;
        } else {
            self.trainer.opt = resnet_engine::optim::Optimizer::new(cfg).map_err(err)?;
        }
        Ok(())
    }

    /// Batch size and shuffle seed of the training loop.
    #[wasm_bindgen(js_name = setBatch)]
    pub fn set_batch(&mut self, batch: usize, seed: u32) -> Result<(), JsError> {
        let (lo, hi) = train::SETTINGS.batch;
        if !(lo..=hi).contains(&batch) {
            return Err(err(format!("batch size must be between {lo} and {hi}, got {batch}")));
        }
        self.check_batch(batch)?;
        self.rebuild_trainer(batch, seed as u64)
    }

    /// Starts a training run: the weights as they are now are its first checkpoint (see
    /// `resnet_engine::train::Trainer::run_step`).
    #[wasm_bindgen(js_name = beginRun)]
    pub fn begin_run(&mut self) {
        self.trainer.begin_run();
    }

    /// Runs `steps` training steps of the run on the dataset; returns the last step's report.
    /// A step whose loss, gradients or running statistics are not finite is refused and the
    /// run's oldest checkpoint restored: the error then has `kind: "diverged"` with `at` and
    /// `restored` (steps); any other failure `kind: "failed"`, with nothing changed.
    /// With a training source of the student's images (`setTrainingSource`), each batch mixes
    /// them in (`resnet_engine::own::mixed_batch`; their held-out part never trains).
    pub fn train(&mut self, steps: u32) -> Result<JsValue, JsValue> {
        let failed = |e: &dyn std::fmt::Display| step_error("failed", &e.to_string(), &[]);
        let mixed = self.mixed_source().map_err(|e| failed(&e))?;
        let mut last = None;
        for _ in 0..steps.max(1) {
            let step = match &mixed {
                None => self.trainer.run_step(self.data.as_ref().ok_or_else(|| failed(&"no dataset: call setDataset first"))?),
                Some((sampler, train)) => {
                    let set = self.mine.set.as_ref().expect("mixed_source checked the set");
                    let augment = self.mine.augment.then_some(&own::AUGMENT);
                    let (x, labels) = own::mixed_batch(sampler, self.trainer.opt.step, self.data.as_ref(), set, train, augment).map_err(|e| failed(&e))?;
                    self.trainer.run_step_batch(&x, &labels)
                }
            };
            match step {
                Ok(s) => last = Some(s),
                Err(e @ StepError::Diverged { at, restored, .. }) => return Err(step_error("diverged", &e.to_string(), &[("at", at), ("restored", restored)])),
                Err(e) => return Err(step_error("failed", &e.to_string(), &[])),
            }
        }
        let s = last.expect("at least one step");
        to_js(&StepReport { step: s.step, epoch: s.epoch, loss: s.loss, accuracy: s.accuracy }).map_err(JsValue::from)
    }

    /// The student's image set (`pixels`: `n × 28 × 28` bytes, 0 = background; `labels`: one
    /// class each, below `classes`), replacing the one before (an empty set clears it), and
    /// the task it belongs to (`own`: classes of the student's own, else the digits). Returns
    /// `{classes, counts, train, heldOut, problem}`: `problem` says why nothing can be held out
    /// yet (an empty class, a class with one example), else null.
    #[wasm_bindgen(js_name = setImageSet)]
    pub fn set_image_set(&mut self, pixels: &[u8], labels: &[u32], classes: usize, own: bool) -> Result<JsValue, JsError> {
        let mut set = ImageSet::new(classes).map_err(err)?;
        let s = set.rows * set.cols;
        if pixels.len() != labels.len() * s {
            return Err(err(format!("{} labels need {} pixels ({}×{} each), not {}", labels.len(), labels.len() * s, set.rows, set.cols, pixels.len())));
        }
        for (i, (img, &l)) in pixels.chunks(s).zip(labels).enumerate() {
            set.push(img, l as usize).map_err(|e| err(format!("image {i}: {e}")))?;
        }
        let (counts, len) = (set.counts(), set.len());
        self.mine.set = (!set.is_empty()).then_some(set);
        self.mine.split = None;
        self.mine.own_task = own;
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Summary {
            classes: usize,
            counts: Vec<usize>,
            train: usize,
            held_out: usize,
            problem: Option<String>,
        }
        let every_class = !self.mnist_fits();
        let (train, held_out, problem) = match self.mine.split(every_class) {
            Some(Ok((t, h))) => (t.len(), h.len(), None),
            Some(Err(e)) => (len, 0, Some(e)),
            None => (0, 0, Some(resnet_engine::own::EMPTY_SET.to_string())),
        };
        to_js(&Summary { classes, counts, train, held_out, problem })
    }

    /// The image set as a safetensors file (`images` U8 `[N, 28, 28]`, `labels` I64 `[N]`).
    #[wasm_bindgen(js_name = imageSetFile)]
    pub fn image_set_file(&self) -> Result<Vec<u8>, JsError> {
        self.mine.set.as_ref().map(io::save_image_set).ok_or_else(|| err("your set is empty: nothing to save"))
    }

    /// How training uses the image set: `share` of each batch (0 to 1; 0 = MNIST only, 1 = the
    /// set only), `augment`: shift and turn each of the set's images a little each time.
    #[wasm_bindgen(js_name = setTrainingSource)]
    pub fn set_training_source(&mut self, share: f64, augment: bool) -> Result<(), JsError> {
        MixedSampler::new(0, 1, share).map_err(err)?;
        self.mine.share = share;
        self.mine.augment = augment;
        Ok(())
    }

    /// The model for a task of `classes` classes: the same network with a new final layer
    /// (random from `seed`; `ResNet::with_classes`), the optimizer afresh at step 0.
    #[wasm_bindgen(js_name = newHead)]
    pub fn new_head(&mut self, classes: usize, seed: u32) -> Result<(), JsError> {
        if !own::CLASSES.contains(&classes) {
            return Err(err(format!("a task has {} to {} classes, not {classes}", own::CLASSES.start(), own::CLASSES.end())));
        }
        let model = self.trainer.model.with_classes(classes, seed as u64).map_err(err)?;
        self.trainer = Trainer::new(model, self.trainer.opt.config, self.batch, self.seed).map_err(err)?;
        Ok(())
    }

    /// Accuracy on what is held out, in eval mode: `{mnist, mine}`, each `{loss, accuracy,
    /// correct, total}` or null — MNIST's first `limit` held-out digits (0: all) when they are
    /// classes of this model, the image set's held-out part when it has one.
    #[wasm_bindgen(js_name = evaluateHeldOut)]
    pub fn evaluate_held_out(&mut self, limit: usize) -> Result<JsValue, JsError> {
        #[derive(Serialize)]
        struct Eval {
            loss: f64,
            accuracy: f64,
            correct: usize,
            total: usize,
        }
        let batch = self.batch;
        let classes = self.trainer.model.config.num_classes;
        let fits = self.mnist_fits();
        let held = match self.mine.split(!fits) {
            Some(Ok((_, held))) if !held.is_empty() && self.mine.set.as_ref().is_some_and(|s| s.classes == classes) => Some(held),
            _ => None,
        };
        let model = &mut self.trainer.model;
        let mut eval = |data: &Dataset, idx: &[usize]| -> Result<Eval, JsError> {
            let (loss, accuracy) = train::evaluate_indices(model, data, idx, batch).map_err(err)?;
            Ok(Eval { loss, accuracy, correct: (accuracy * idx.len() as f64).round() as usize, total: idx.len() })
        };
        let mnist = match self.data.as_ref().filter(|_| fits) {
            Some(d) => Some(eval(d, &d.indices(Split::Test).take(if limit > 0 { limit } else { usize::MAX }).collect::<Vec<_>>())?),
            None => None,
        };
        let mine = match (held, self.mine.set.as_ref()) {
            (Some(held), Some(set)) => Some(eval(&set.to_dataset(&held), &(0..held.len()).collect::<Vec<_>>())?),
            _ => None,
        };
        #[derive(Serialize)]
        struct Both {
            mnist: Option<Eval>,
            mine: Option<Eval>,
        }
        to_js(&Both { mnist, mine })
    }

    /// Floating-point operations of one training step per image, from the module graph
    /// (`Graph::train_flops_per_image`: 56 MFLOP for ResNet-8).
    #[wasm_bindgen(getter, js_name = trainFlopsPerImage)]
    pub fn train_flops_per_image(&self) -> f64 {
        self.trainer.model.graph.train_flops_per_image()
    }

    /// Images per training step.
    #[wasm_bindgen(getter, js_name = batchSize)]
    pub fn batch_size(&self) -> usize {
        self.batch
    }

    /// One training step on a given batch (`images`: `n × C × S × S` normalised floats,
    /// `labels`: one class each): the trainer's step (forward, backward, check, update) on
    /// this batch instead of the next of the dataset. Returns the loss.
    #[wasm_bindgen(js_name = trainBatch)]
    pub fn train_batch(&mut self, images: &[f32], labels: &[u32]) -> Result<f64, JsError> {
        self.check_batch(labels.len())?;
        let c = &self.trainer.model.config;
        let x = Tensor::new(&[labels.len(), c.in_channels, c.image_size, c.image_size], images.to_vec()).map_err(err)?;
        let labels: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
        Ok(self.trainer.step_batch(&x, &labels).map_err(err)?.loss)
    }

    /// Each conv layer timed on its own at batch `n` of the dataset: `[{layer, input, kernel,
    /// stride, forward_ms, backward_ms, forward_gflops, backward_gflops}]`.
    #[wasm_bindgen(js_name = profileConvs)]
    pub fn profile_convs(&mut self, n: usize, reps: usize) -> Result<JsValue, JsError> {
        let data = self.data.as_ref().ok_or_else(|| err("no dataset: call setDataset first"))?;
        self.check_batch(n.clamp(1, 256))?;
        let (x, _) = data.batch(&(0..n.clamp(1, 256).min(data.len())).collect::<Vec<_>>());
        let now = clock()?;
        let mut model = self.trainer.model.clone_weights();
        to_js(&resnet_engine::bench::conv_layers(&mut model, &x, reps.clamp(1, 100), &now).map_err(err)?)
    }

    /// Where a training step's (`pass` = `"step"`) or an eval-mode inference pass's
    /// (`"inference"`) time goes, module by module (`resnet_engine::bench::module_profile`):
    /// `reps` passes at batch `n` of the dataset on a copy of the model and its optimizer
    /// settings (the model itself does not move); `{step_ms, modules: [{module, kind,
    /// forward_ms, backward_ms, forward_serial_ms, backward_serial_ms, forward_wait_ms,
    /// backward_wait_ms}], kinds: [[kind, ms]], empty_pass_ms, leader_wait_ms, helper_idle_ms,
    /// loops, serial_ms}` (the last four: where the pool's threads waited in a pass, and its
    /// serial code; the modules' `*_serial_ms` and `*_wait_ms` their shares of the serial code
    /// and of the leader's waits).
    #[wasm_bindgen(js_name = profileStep)]
    pub fn profile_step(&mut self, n: usize, reps: usize, pass: &str) -> Result<JsValue, JsError> {
        use resnet_engine::bench::Pass;
        let pass = match pass {
            "step" => Pass::Step,
            "inference" => Pass::Inference,
            other => return Err(err(format!("profileStep: pass must be \"step\" or \"inference\", got \"{other}\""))),
        };
        let data = self.data.as_ref().ok_or_else(|| err("no dataset: call setDataset first"))?;
        self.check_batch(n.clamp(1, 256))?;
        let (x, labels) = data.batch(&(0..n.clamp(1, 256).min(data.len())).collect::<Vec<_>>());
        let mut trainer = Trainer::new(self.trainer.model.clone_weights(), self.trainer.opt.config.clone(), labels.len(), 0).map_err(err)?;
        to_js(&resnet_engine::bench::module_profile(&mut trainer, &x, &labels, reps.clamp(1, 100), clock()?, pass).map_err(err)?)
    }

    /// Everything a view of one layer needs, in one call. `request`: `{heldOut: k}` (the k-th
    /// held-out digit) or `{pixels: Uint8Array}` (one image of 8-bit pixels, as `forwardPixels`),
    /// `target` (a class, or null: the label, else the prediction) and `layer` (a module name).
    /// Runs the input forward in eval mode and back-propagates from the target, then returns
    /// `{probs, label, pred, target, input, pixels, layer, act, delta, inputDelta?, weights?}`
    /// (`pixels`: the input's 8-bit pixels, as a set of one's own keeps them): tensors
    /// as `{name, data: Float32Array, shape}`; `inputDelta` is δ of the ReLU pre-activation
    /// behind a conv's input (`delta.<z>`), `weights` a conv's or the fc's `{name, data, grad,
    /// shape}`. The tape then holds this pass (for `formula`).
    pub fn inspect(&mut self, request: JsValue) -> Result<JsValue, JsError> {
        let get = |k: &str| js_sys::Reflect::get(&request, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED);
        let (layer, target, held, pixels) = (get("layer"), get("target"), get("heldOut"), get("pixels"));
        let layer = layer.as_string().ok_or_else(|| err("inspect: layer must be a module name"))?;
        let module = self.trainer.model.graph.module(&layer).map_err(err)?.clone();
        let mut input_pixels = vec![];
        let label = if let Some(k) = held.as_f64() {
            let data = self.data.as_ref().ok_or_else(|| err("no dataset: call setDataset first"))?;
            let held_out = data.len() - data.n_train;
            if k < 0.0 || k.fract() != 0.0 || k as usize >= held_out {
                return Err(err(format!("held-out digit {k} is out of range: there are {held_out} (0 to {})", held_out - 1)));
            }
            let i = data.n_train + k as usize;
            input_pixels = data.image(i).to_vec();
            let (x, labels) = data.batch(&[i]);
            self.trainer.model.forward(&x, Mode::Eval).map_err(err)?;
            // (in a task of one's own the digit's label is not a class: no label then)
            Some(labels[0]).filter(|&l| !self.mine.own_task && l < self.trainer.model.config.num_classes)
        } else if pixels.is_instance_of::<js_sys::Uint8Array>() {
            let px = js_sys::Uint8Array::from(pixels).to_vec();
            self.forward_pixels(&px, 1, "eval")?;
            input_pixels = px;
            None
        } else {
            return Err(err("inspect: give heldOut (a held-out digit) or pixels (a Uint8Array image)"));
        };
        let m = &self.trainer.model;
        let probs = m.tape.get(&format!("act.{}", m.graph.modules.last().expect("a loss module").name)).map_err(err)?.data.clone();
        let pred = train::argmax(&probs);
        let target = match target.as_f64() {
            Some(t) if t >= 0.0 && t.fract() == 0.0 && (t as usize) < probs.len() => t as usize,
            Some(t) => return Err(err(format!("target {t} is not a class of this model (0 to {})", probs.len() - 1))),
            None => label.unwrap_or(pred),
        };
        self.trainer.model.backward(&[target]).map_err(err)?;
        let m = &self.trainer.model;
        let o = js_sys::Object::new();
        let set = |o: &js_sys::Object, k: &str, v: JsValue| {
            let _ = js_sys::Reflect::set(o, &JsValue::from_str(k), &v);
        };
        let tensor = |name: &str| -> Result<JsValue, JsError> {
            let t = m.tape.get(name).map_err(err)?;
            let o = js_sys::Object::new();
            set(&o, "name", name.into());
            set(&o, "data", js_sys::Float32Array::from(&t.data[..]).into());
            set(&o, "shape", to_js(&t.shape)?);
            Ok(o.into())
        };
        set(&o, "probs", js_sys::Float32Array::from(&probs[..]).into());
        set(&o, "label", label.map_or(JsValue::NULL, |l| (l as f64).into()));
        set(&o, "pred", (pred as f64).into());
        set(&o, "target", (target as f64).into());
        set(&o, "input", tensor(&format!("act.{}", m.graph.modules[0].name))?);
        set(&o, "pixels", js_sys::Uint8Array::from(&input_pixels[..]).into());
        set(&o, "layer", layer.as_str().into());
        set(&o, "act", tensor(&format!("act.{layer}"))?);
        set(&o, "delta", tensor(&format!("delta.{layer}"))?);
        if module.kind_name() == "conv" {
            let src = m.graph.module(&module.inputs[0]).map_err(err)?;
            if src.kind_name() == "relu" {
                set(&o, "inputDelta", tensor(&format!("delta.{}", src.inputs[0]))?);
            }
        }
        if matches!(module.kind_name(), "conv" | "fc") {
            let w = if module.kind_name() == "conv" { &m.conv(&layer).map_err(err)?.weight } else { &m.fc().weight };
            let g = m.tape.get(&format!("grad.{layer}.weight")).map_err(err)?;
            let wo = js_sys::Object::new();
            set(&wo, "name", format!("{layer}.weight").into());
            set(&wo, "data", js_sys::Float32Array::from(&w[..]).into());
            set(&wo, "grad", js_sys::Float32Array::from(&g.data[..]).into());
            set(&wo, "shape", to_js(&module.params[0].shape)?);
            set(&o, "weights", wo.into());
        }
        Ok(o.into())
    }

    /// Steps taken so far.
    #[wasm_bindgen(getter)]
    pub fn step(&self) -> f64 {
        self.trainer.opt.step as f64
    }

    /// Loss and accuracy in eval mode over `"train"` or `"test"` (the 2,000 held-out digits),
    /// or over the first `limit` digits of it when limit > 0.
    pub fn evaluate(&mut self, split: &str, limit: usize) -> Result<JsValue, JsError> {
        if self.data.is_some() && !self.mnist_fits() {
            return Err(err("MNIST's digits are not classes of this task: evaluateHeldOut measures the task's own images"));
        }
        let data = self.data.as_ref().ok_or_else(|| err("no dataset: call setDataset first"))?;
        let split = match split {
            "train" => Split::Train,
            "test" => Split::Test,
            other => return Err(err(format!("split must be \"train\" or \"test\", not {other:?}"))),
        };
        let idx: Vec<usize> = data.indices(split).take(if limit > 0 { limit } else { usize::MAX }).collect();
        // (in chunks of the training batch: the memory a pass of it takes is known to fit)
        let (loss, accuracy) = train::evaluate_indices(&mut self.trainer.model, data, &idx, self.batch).map_err(err)?;
        #[derive(Serialize)]
        struct Eval {
            loss: f64,
            accuracy: f64,
        }
        to_js(&Eval { loss, accuracy })
    }

    /// Forward pass of a batch `images` (`n × C × S × S` floats, normalised as the data
    /// pipeline does) in `"train"` or `"eval"` mode; returns the logits `[n, classes]`. The
    /// tape then holds every `act.*`. Training-mode passes update the BN running statistics.
    pub fn forward(&mut self, images: &[f32], n: usize, mode: &str) -> Result<Vec<f32>, JsError> {
        let x = self.images(images, n)?;
        let logits = self.trainer.model.forward(&x, parse_mode(mode)?).map_err(err)?;
        Ok(logits.data.clone())
    }

    /// The logits of normalised images `n × C × S × S` in eval mode, for when only they are
    /// wanted (`ResNet::predict`: BatchNorm folded into the convs; the tape the page shows is
    /// left as it was, so nothing of this pass can be inspected).
    pub fn predict(&mut self, images: &[f32], n: usize) -> Result<Vec<f32>, JsError> {
        let x = self.images(images, n)?;
        let (logits, _) = self.trainer.model.predict(&x).map_err(err)?;
        Ok(logits.data.clone())
    }

    /// `predict` of digits of the dataset by index (normalised): their logits.
    #[wasm_bindgen(js_name = predictDigits)]
    pub fn predict_digits(&mut self, indices: &[u32]) -> Result<Vec<f32>, JsError> {
        let x = self.digits(indices)?;
        let (logits, _) = self.trainer.model.predict(&x).map_err(err)?;
        Ok(logits.data.clone())
    }

    /// `n` normalised images `n × C × S × S` as a batch (checked: a batch the model allows, the
    /// values for its shape).
    fn images(&self, images: &[f32], n: usize) -> Result<Tensor<f32>, JsError> {
        self.check_batch(n)?;
        let c = &self.trainer.model.config;
        Tensor::new(&[n, c.in_channels, c.image_size, c.image_size], images.to_vec()).map_err(err)
    }

    /// The digits `indices` of the dataset, normalised, as a batch (checked: a dataset, a batch
    /// the model allows, indices in range).
    fn digits(&self, indices: &[u32]) -> Result<Tensor<f32>, JsError> {
        let data = self.data.as_ref().ok_or_else(|| err("no dataset: call setDataset first"))?;
        self.check_batch(indices.len())?;
        if let Some(bad) = indices.iter().find(|&&i| i as usize >= data.len()) {
            return Err(err(format!("digit {bad} is out of range: there are {} digits", data.len())));
        }
        let idx: Vec<usize> = indices.iter().map(|&i| i as usize).collect();
        Ok(data.batch(&idx).0)
    }

    /// Forward pass of digits of the dataset by index (normalised); returns the logits.
    #[wasm_bindgen(js_name = forwardDigits)]
    pub fn forward_digits(&mut self, indices: &[u32], mode: &str) -> Result<Vec<f32>, JsError> {
        let x = self.digits(indices)?;
        let logits = self.trainer.model.forward(&x, parse_mode(mode)?).map_err(err)?;
        Ok(logits.data.clone())
    }

    /// Forward pass of images given as 8-bit pixels (`n × C × S × S` bytes, 0 = background,
    /// 255 = ink, like the MNIST files), normalised as the data pipeline does; returns the logits.
    #[wasm_bindgen(js_name = forwardPixels)]
    pub fn forward_pixels(&mut self, pixels: &[u8], n: usize, mode: &str) -> Result<Vec<f32>, JsError> {
        self.check_batch(n)?;
        let c = &self.trainer.model.config;
        let shape = [n, c.in_channels, c.image_size, c.image_size];
        let want = shape.iter().product::<usize>();
        if pixels.len() != want {
            return Err(err(format!("expected {want} pixels for {n} image(s) of {}×{}×{}, got {}", shape[1], shape[2], shape[3], pixels.len())));
        }
        let x = Tensor::new(&shape, pixels.iter().map(|&p| data::normalize(p)).collect()).map_err(err)?;
        let logits = self.trainer.model.forward(&x, parse_mode(mode)?).map_err(err)?;
        Ok(logits.data.clone())
    }

    /// Labels of digits of the dataset.
    pub fn labels(&self, indices: &[u32]) -> Result<Vec<u32>, JsError> {
        let data = self.data.as_ref().ok_or_else(|| err("no dataset: call setDataset first"))?;
        indices
            .iter()
            .map(|&i| data.labels.get(i as usize).map(|&l| l as u32).ok_or_else(|| err(format!("digit {i} is out of range"))))
            .collect()
    }

    /// Backward pass of the last forward against `labels` (one class per image; any class
    /// when inspecting). Writes `loss`, `delta.*`, `grad.*`; returns the loss. No update.
    pub fn backward(&mut self, labels: &[u32]) -> Result<f64, JsError> {
        let labels: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
        self.trainer.model.backward(&labels).map_err(err)
    }

    /// `[{name, shape}]` of every tensor on the tape, in the order they were written.
    #[wasm_bindgen(js_name = tensorNames)]
    pub fn tensor_names(&self) -> Result<JsValue, JsError> {
        let list: Vec<TensorInfo> = self.trainer.model.tape.list().into_iter().map(|(name, shape)| TensorInfo { name, shape }).collect();
        to_js(&list)
    }

    /// A tape tensor's values (copied into a fresh `Float32Array`).
    pub fn tensor(&self, name: &str) -> Result<Vec<f32>, JsError> {
        Ok(self.lookup(name)?.data.clone())
    }

    /// A tape tensor's shape.
    #[wasm_bindgen(js_name = tensorShape)]
    pub fn tensor_shape(&self, name: &str) -> Result<Vec<u32>, JsError> {
        Ok(self.lookup(name)?.shape.iter().map(|&d| d as u32).collect())
    }

    /// Parameters and buffers by PyTorch name (`layer1.0.conv1.weight`), as `Float32Array`.
    pub fn parameter(&self, name: &str) -> Result<Vec<f32>, JsError> {
        self.trainer
            .model
            .params()
            .into_iter()
            .find(|p| p.0 == name)
            .map(|p| p.2)
            .ok_or_else(|| err(format!("no parameter '{name}'")))
    }

    /// The terms of the formula behind one cell (see `resnet_engine::formula::Query`), at
    /// most `top_k` listed.
    pub fn formula(&self, query: JsValue, top_k: usize) -> Result<JsValue, JsError> {
        let q: Query = serde_wasm_bindgen::from_value(query).map_err(|e| err(format!("formula query: {e}")))?;
        to_js(&formula::formula(&self.trainer.model, &q, top_k).map_err(err)?)
    }

    /// The notes' picture of a `conv_input_delta` or `conv_forward` formula on one channel
    /// (`undefined`: the channel of the largest term): grid, zeros, window, outlined cells and
    /// the kernel entries they meet (`resnet_engine::formula::Picture`).
    #[wasm_bindgen(js_name = formulaPicture)]
    pub fn formula_picture(&self, query: JsValue, channel: Option<u32>) -> Result<JsValue, JsError> {
        let q: Query = serde_wasm_bindgen::from_value(query).map_err(|e| err(format!("formula query: {e}")))?;
        to_js(&formula::picture(&self.trainer.model, &q, channel.map(|c| c as usize)).map_err(err)?)
    }

    /// A cell no formula explains: its value and which note fits it
    /// (`resnet_engine::formula::CellNote`). `target`: `act.<module>` or `delta.<module>`;
    /// `index` has the tensor's rank.
    #[wasm_bindgen(js_name = cellNote)]
    pub fn cell_note(&self, target: &str, index: Vec<u32>) -> Result<JsValue, JsError> {
        let index: Vec<usize> = index.into_iter().map(|i| i as usize).collect();
        to_js(&formula::cell_note(&self.trainer.model, target, &index).map_err(err)?)
    }

    /// The derivative of one cell (a weight gradient or a δ) checked by its definition: the
    /// value moved by ±`eps` on the same input, in float64, `(C(+ε) − C(−ε)) / 2ε` beside
    /// backprop (`resnet_engine::formula::Check`).
    #[wasm_bindgen(js_name = numericalCheck)]
    pub fn numerical_check(&self, query: JsValue, eps: f64) -> Result<JsValue, JsError> {
        let q: Query = serde_wasm_bindgen::from_value(query).map_err(|e| err(format!("formula query: {e}")))?;
        to_js(&formula::numerical_check(&self.trainer.model, &q, eps).map_err(err)?)
    }

    /// Every conv's place in the model (`resnet_engine::formula::ConvSite`): geometry, the
    /// module it reads, the pre-activation whose δ its input-delta formula explains, its BN.
    #[wasm_bindgen(js_name = convSites)]
    pub fn conv_sites(&self) -> Result<JsValue, JsError> {
        to_js(&formula::conv_sites(&self.trainer.model).map_err(err)?)
    }

    /// Tape tensors as one safetensors file.
    #[wasm_bindgen(js_name = exportTensors)]
    pub fn export_tensors(&self, names: Vec<String>) -> Result<Vec<u8>, JsError> {
        io::tape_to_safetensors(&self.trainer.model.tape, &names).map_err(err)
    }

    /// One tape tensor as a NumPy `.npy` file.
    #[wasm_bindgen(js_name = tensorNpy)]
    pub fn tensor_npy(&self, name: &str) -> Result<Vec<u8>, JsError> {
        Ok(io::to_npy(self.lookup(name)?))
    }

    /// The model config as JSON-compatible object.
    pub fn config(&self) -> Result<JsValue, JsError> {
        to_js(&self.trainer.model.config)
    }

    // ---- compare mode (resnet_engine::compare) -------------------------------------------

    /// Starts a comparison of the members `ids` (arch ids: `["plain20", "resnet20"]`), all
    /// from `seed`, with this engine's optimizer settings and batch size. Returns
    /// `compareState()`.
    #[wasm_bindgen(js_name = compareStart)]
    pub fn compare_start(&mut self, ids: Vec<String>, seed: u32) -> Result<JsValue, JsError> {
        self.comparison = Some(Comparison::new(&ids, self.trainer.opt.config, self.batch, seed as u64).map_err(err)?);
        self.compare_state()
    }

    /// One step of every member on the same batch: `{step, members: [{loss, accuracy,
    /// imagesPerSec, stopped}]}` (loss and accuracy null for a member that has stopped;
    /// `stopped` says why).
    #[wasm_bindgen(js_name = compareStep)]
    pub fn compare_step(&mut self) -> Result<JsValue, JsError> {
        let data = self.data.as_ref().ok_or_else(|| err("no dataset: call setDataset first"))?;
        let now = clock()?;
        let c = self.comparison.as_mut().ok_or_else(|| err("no comparison: call compareStart first"))?;
        let points = c.step(data, &now).map_err(err)?;
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct M<'a> {
            loss: Option<f64>,
            accuracy: Option<f64>,
            images_per_sec: f64,
            stopped: &'a Option<String>,
        }
        #[derive(Serialize)]
        struct Report<'a> {
            step: u64,
            members: Vec<M<'a>>,
        }
        let members = c.members.iter().zip(points).map(|(m, p)| M { loss: p.map(|p| p.loss), accuracy: p.map(|p| p.accuracy), images_per_sec: images_per_sec(m), stopped: &m.stopped }).collect();
        to_js(&Report { step: c.step, members })
    }

    /// Keeps a snapshot of the comparison's current step (the worker calls it when a run ends).
    #[wasm_bindgen(js_name = compareKeep)]
    pub fn compare_keep(&mut self) {
        if let Some(c) = self.comparison.as_mut() {
            c.keep();
        }
    }

    /// Held-out loss and accuracy of every member on the first `limit` held-out digits:
    /// `[{step, loss, accuracy} | null]`.
    #[wasm_bindgen(js_name = compareEvaluate)]
    pub fn compare_evaluate(&mut self, limit: usize) -> Result<JsValue, JsError> {
        let data = self.data.as_ref().ok_or_else(|| err("no dataset: call setDataset first"))?;
        let c = self.comparison.as_mut().ok_or_else(|| err("no comparison: call compareStart first"))?;
        to_js(&c.evaluate(data, limit).map_err(err)?)
    }

    /// Everything the compare views draw: `{step, recordEvery, snapshots: [step], members:
    /// [{id, label, layers, blocks, curve: [{step, loss, accuracy}], heldout, stopped,
    /// imagesPerSec, flow: {steps, grad, weight, update, delta, main, shortcut, total}}]}`,
    /// where a flow metric is a flat array of `steps.length × layers.length` (the branch
    /// parts `× blocks.length`), record by record. Null when no comparison was started.
    #[wasm_bindgen(js_name = compareState)]
    pub fn compare_state(&self) -> Result<JsValue, JsError> {
        let Some(c) = self.comparison.as_ref() else { return Ok(JsValue::NULL) };
        #[derive(Serialize)]
        struct Flow {
            steps: Vec<u64>,
            grad: Vec<f64>,
            weight: Vec<f64>,
            update: Vec<f64>,
            delta: Vec<f64>,
            main: Vec<f64>,
            shortcut: Vec<f64>,
            total: Vec<f64>,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct M<'a> {
            id: &'a str,
            label: &'a str,
            layers: &'a [String],
            blocks: &'a [String],
            curve: &'a [compare::Point],
            heldout: &'a [compare::Point],
            stopped: &'a Option<String>,
            images_per_sec: f64,
            flow: Flow,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct State<'a> {
            step: u64,
            seed: u64,
            batch: usize,
            record_every: u64,
            snapshots: Vec<u64>,
            members: Vec<M<'a>>,
        }
        let members = c
            .members
            .iter()
            .map(|m| {
                let layer = |f: fn(&compare::LayerFlow) -> f64| m.flow.iter().flat_map(|r| r.layers.iter().map(f)).collect();
                let block = |f: fn(&compare::BranchFlow) -> f64| m.flow.iter().flat_map(|r| r.blocks.iter().map(f)).collect();
                M {
                    id: &m.id,
                    label: &m.label,
                    layers: &m.layers,
                    blocks: &m.blocks,
                    curve: &m.curve,
                    heldout: &m.heldout,
                    stopped: &m.stopped,
                    images_per_sec: images_per_sec(m),
                    flow: Flow {
                        steps: m.flow.iter().map(|r| r.step).collect(),
                        grad: layer(|l| l.grad),
                        weight: layer(|l| l.weight),
                        update: layer(|l| l.update),
                        delta: layer(|l| l.delta),
                        main: block(|b| b.main),
                        shortcut: block(|b| b.shortcut),
                        total: block(|b| b.total),
                    },
                }
            })
            .collect();
        to_js(&State { step: c.step, seed: c.seed, batch: c.batch, record_every: c.record_every, snapshots: c.snapshot_steps(), members })
    }

    /// Puts member `i` as it was at snapshot `step` in the place of the page's model, so every
    /// view (maps, δ, formula pane) shows it; the page's own model is kept aside until
    /// `compareShowOwn`. Returns the member's config.
    #[wasm_bindgen(js_name = compareShow)]
    pub fn compare_show(&mut self, i: usize, step: u32) -> Result<JsValue, JsError> {
        let c = self.comparison.as_ref().ok_or_else(|| err("no comparison: call compareStart first"))?;
        let model = c.model_at(i, step as u64).map_err(err)?;
        let trainer = Trainer::new(model, self.trainer.opt.config, self.batch, self.seed).map_err(err)?;
        let shown = std::mem::replace(&mut self.trainer, trainer);
        self.own.get_or_insert(shown);
        self.config()
    }

    /// The page's own model back in its place (after `compareShow`); false if it was there.
    #[wasm_bindgen(js_name = compareShowOwn)]
    pub fn compare_show_own(&mut self) -> bool {
        match self.own.take() {
            Some(own) => {
                self.trainer = own;
                true
            }
            None => false,
        }
    }

    /// Continues the comparison from snapshot `step`: what it recorded later is dropped and
    /// the members train on from there (on the same batches as before). Returns `compareState()`.
    #[wasm_bindgen(js_name = compareFork)]
    pub fn compare_fork(&mut self, step: u32) -> Result<JsValue, JsError> {
        let c = self.comparison.as_mut().ok_or_else(|| err("no comparison: call compareStart first"))?;
        c.fork(step as u64).map_err(err)?;
        self.compare_state()
    }
}

/// The lessons (`[{id, label, members, steps}]`) and the largest number of members.
#[wasm_bindgen(js_name = compareLessons)]
pub fn compare_lessons() -> Result<JsValue, JsError> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Lessons {
        lessons: &'static [compare::Lesson],
        max_members: usize,
    }
    to_js(&Lessons { lessons: &compare::LESSONS, max_members: compare::MAX_MEMBERS })
}

fn images_per_sec(m: &compare::Member) -> f64 {
    if m.active_ms > 0.0 { m.images as f64 / (m.active_ms / 1e3) } else { 0.0 }
}

impl Engine {
    /// `n` images in one pass of the current model: see `check_batch_of`.
    fn check_batch(&self, n: usize) -> Result<(), JsError> {
        let m = &self.trainer.model;
        check_batch_of(&m.graph, &m.config.label(), n)
    }

    /// Whether MNIST's digits are classes of this model and task (the digits task): then a
    /// class of the student's set may be empty, MNIST has it.
    fn mnist_fits(&self) -> bool {
        let classes = self.trainer.model.config.num_classes;
        !self.mine.own_task && self.data.as_ref().is_some_and(|d| d.labels.iter().all(|&l| (l as usize) < classes))
    }

    /// The batches' source when training takes the student's images: the sampler and the set's
    /// training part (None: MNIST's epochs). Refused with the reason when that cannot work.
    fn mixed_source(&mut self) -> Result<Option<(MixedSampler, Vec<usize>)>, String> {
        let classes = self.trainer.model.config.num_classes;
        if self.mine.share < 1.0 && self.data.is_some() && !self.mnist_fits() {
            return Err(format!("MNIST's digits are not classes of this {classes}-class task: train on your own images alone"));
        }
        if self.mine.share == 0.0 {
            return Ok(None);
        }
        let set = self.mine.set.as_ref().ok_or("you have no images of your own yet: add some, or train on MNIST")?;
        if set.classes != classes {
            return Err(format!("your set has {} classes and the network {classes}", set.classes));
        }
        let every_class = !self.mnist_fits();
        let (train, _) = self.mine.split(every_class).expect("the set is there")?;
        Ok(Some((MixedSampler::new(self.seed, self.batch, self.mine.share).map_err(|e| e.to_string())?, train)))
    }

    /// A digits file this model can take: parsed, the model's image size, and (`labels`) labels
    /// among its classes.
    fn fitting_digits(&self, bytes: &[u8], labels: bool) -> Result<Dataset, JsError> {
        let data = Dataset::parse(bytes).map_err(err)?;
        let c = &self.trainer.model.config;
        if c.in_channels != 1 || c.image_size != data.rows || data.rows != data.cols {
            return Err(err(format!("the digits are {}×{} grayscale, the model expects {}×{}×{}", data.rows, data.cols, c.in_channels, c.image_size, c.image_size)));
        }
        if data.is_empty() {
            return Err(err("the digits file holds no digits"));
        }
        if let Some(&l) = data.labels.iter().find(|&&l| labels && l as usize >= c.num_classes) {
            return Err(err(format!("the digits file has label {l}, the model has {} classes", c.num_classes)));
        }
        Ok(data)
    }

    /// A trainer over the same model and optimizer state with a fresh epoch order.
    fn rebuild_trainer(&mut self, batch: usize, seed: u64) -> Result<(), JsError> {
        let model = self.trainer.model.clone_weights();
        let opt = self.trainer.opt.clone();
        self.trainer = Trainer::new(model, opt.config, batch, seed).map_err(err)?;
        self.trainer.opt = opt;
        self.batch = batch;
        self.seed = seed;
        Ok(())
    }

    fn lookup(&self, name: &str) -> Result<&Tensor<f32>, JsError> {
        self.trainer.model.tape.get(name).map_err(err)
    }
}

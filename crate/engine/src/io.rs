//! Files in and out: safetensors files of a model's weights, of tape tensors and of image
//! batches, and NumPy `.npy` files of one tensor.
//!
//! A model file is the model's `state_dict` under PyTorch names (`conv1.weight`,
//! `bn1.running_var`, `layer2.0.downsample.0.weight`, `fc.bias`, …), every parameter and buffer
//! F32, plus each BatchNorm's `num_batches_tracked` as an I64 scalar. Its metadata holds
//! `"format": "pt"` and the model's [`Config`] as JSON under `"config"`, so
//! `safetensors.torch.load_file` + `load_state_dict` read it into the torchvision-style model,
//! and [`load_model`] rebuilds the same model from the file alone.
//!
//! Loading checks the whole file before it changes anything: the header, every name (none
//! missing, none unknown), every shape, every dtype and every value (finite). A file that
//! fails leaves the model as it was, and the error says what is wrong and where. No file
//! makes a loader panic, and none makes it allocate much more than the file's own size (a
//! config in a file builds a model over 64 MB only if the file holds that much data).

use crate::model::BatchNorm;
use crate::optim::{Optimizer, OptimizerConfig};
use crate::own::ImageSet;
use crate::graph::{block_entry, block_name, FC, STEM_BN, STEM_CONV};
use crate::{bail, Config, Error, Graph, ResNet, Result, Scalar, Shortcut, Tape, Tensor};
use safetensors::tensor::{Metadata, TensorView};
use safetensors::{Dtype, SafeTensorError, SafeTensors, View};
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

/// The safetensors crate refuses headers longer than this.
const MAX_HEADER: u64 = 100_000_000;

/// Bytes of weights that [`load_model`] allocates for a file's config before it knows the
/// file holds that much data (a forged config could ask for gigabytes).
const SMALL_MODEL: u64 = 64 << 20;

// ---- writing ---------------------------------------------------------------------------------

/// A tensor to write: dtype, shape and little-endian bytes.
struct Raw {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for Raw {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

impl Raw {
    fn f32(shape: &[usize], values: impl IntoIterator<Item = f32>) -> Raw {
        Raw { dtype: Dtype::F32, shape: shape.to_vec(), data: values.into_iter().flat_map(f32::to_le_bytes).collect() }
    }
    fn f64(shape: &[usize], values: impl IntoIterator<Item = f64>) -> Raw {
        Raw { dtype: Dtype::F64, shape: shape.to_vec(), data: values.into_iter().flat_map(f64::to_le_bytes).collect() }
    }
    fn u8(shape: &[usize], values: &[u8]) -> Raw {
        Raw { dtype: Dtype::U8, shape: shape.to_vec(), data: values.to_vec() }
    }
    fn i64(shape: &[usize], values: impl IntoIterator<Item = i64>) -> Raw {
        Raw { dtype: Dtype::I64, shape: shape.to_vec(), data: values.into_iter().flat_map(i64::to_le_bytes).collect() }
    }
}

/// Serializes named tensors. Panics on duplicate names or a shape that does not match the
/// data, both programming errors of the caller (the public functions rule them out or
/// document them).
fn write(tensors: Vec<(String, Raw)>, metadata: Option<HashMap<String, String>>) -> Vec<u8> {
    let mut seen = BTreeSet::new();
    for (name, t) in &tensors {
        assert!(seen.insert(name.as_str()), "safetensors: the name '{name}' is used twice");
        let n: usize = t.shape.iter().product();
        assert_eq!(n * t.dtype.bitsize() / 8, t.data.len(), "safetensors: '{name}' has shape {:?} but {} bytes", t.shape, t.data.len());
    }
    safetensors::serialize(tensors, metadata).expect("names are unique and every shape matches its data")
}

/// The BatchNorm modules of a model, in module order (read-only, via a copy of the weights).
fn batchnorms<T: Scalar>(model: &ResNet<T>) -> Vec<BatchNorm<T>> {
    model.batchnorms().into_iter().cloned().collect()
}

/// The model's `state_dict` as a safetensors file: every parameter and buffer as F32 under
/// its PyTorch name, `<bn>.num_batches_tracked` as I64 scalars, and the config (JSON) and
/// `"format": "pt"` in the metadata. An `f64` model is rounded to `f32`.
pub fn save_model<T: Scalar>(model: &ResNet<T>) -> Vec<u8> {
    let mut tensors: Vec<(String, Raw)> =
        model.params().into_iter().map(|(name, shape, data, _)| (name, Raw::f32(&shape, data.iter().map(|v| v.f64() as f32)))).collect();
    for bn in batchnorms(model) {
        tensors.push((format!("{}.num_batches_tracked", bn.name), Raw::i64(&[], [bn.num_batches_tracked])));
    }
    let config = serde_json::to_string(&model.config).expect("a config serializes to JSON");
    let mut metadata = HashMap::from([("format".to_string(), "pt".to_string()), ("config".to_string(), config)]);
    if let Some(id) = model.config.arch_id() {
        metadata.insert("arch".to_string(), id);
    }
    write(tensors, Some(metadata))
}

/// The optimizer's state as a safetensors file: its moments as F64 tensors `m.<param>` (SGD's
/// momentum buffer or Adam's first moment) and `v.<param>` (Adam's second moment), and its
/// step and settings in the metadata. With the model's weights it is all a run needs to go on
/// where it stopped (the page keeps both in IndexedDB).
pub fn save_optimizer(opt: &Optimizer) -> Vec<u8> {
    let mut tensors = vec![];
    for (prefix, moments) in [("m", &opt.m), ("v", &opt.v)] {
        let mut names: Vec<&String> = moments.keys().collect();
        names.sort();
        for name in names {
            let d = &moments[name];
            tensors.push((format!("{prefix}.{name}"), Raw::f64(&[d.len()], d.iter().copied())));
        }
    }
    let config = serde_json::to_string(&opt.config).expect("optimizer settings serialize to JSON");
    let metadata = HashMap::from([
        ("format".to_string(), "resnet-playground-optimizer".to_string()),
        ("step".to_string(), opt.step.to_string()),
        ("config".to_string(), config),
    ]);
    write(tensors, Some(metadata))
}

/// An optimizer state written by [`save_optimizer`], checked against `model` before anything
/// is returned: the settings are valid, every moment is `m.<p>` or `v.<p>` for a trainable
/// parameter `p` of the model, F64 `[len(p)]`, and finite.
pub fn load_optimizer<T: Scalar>(bytes: &[u8], model: &ResNet<T>) -> Result<Optimizer> {
    let file = read(bytes)?;
    let meta = file.meta.metadata().clone().unwrap_or_default();
    if meta.get("format").map(String::as_str) != Some("resnet-playground-optimizer") {
        bail!("not an optimizer state: its metadata has no format \"resnet-playground-optimizer\"");
    }
    let step: u64 = meta.get("step").and_then(|v| v.parse().ok()).ok_or_else(|| Error("the optimizer state has no valid step".into()))?;
    let config: OptimizerConfig = meta
        .get("config")
        .ok_or_else(|| Error("the optimizer state has no settings".into()))
        .and_then(|j| serde_json::from_str(j).map_err(|e| Error(format!("the optimizer settings are not valid: {e}"))))?;
    let mut opt = Optimizer::new(config)?;
    opt.step = step;
    let sizes: HashMap<String, usize> = model.params().into_iter().filter(|p| p.3).map(|p| (p.0, p.2.len())).collect();
    let mut problems = vec![];
    for name in file.names() {
        let (map, param) = match name.split_once('.') {
            Some(("m", p)) => (&mut opt.m, p),
            Some(("v", p)) => (&mut opt.v, p),
            _ => {
                problems.push(format!("{name}: not a moment (m.<parameter> or v.<parameter>)"));
                continue;
            }
        };
        let Some(&len) = sizes.get(param) else {
            problems.push(format!("{name}: the model has no trainable parameter '{param}'"));
            continue;
        };
        let t = file.get(&name)?;
        if t.dtype() != Dtype::F64 || t.shape() != [len] {
            problems.push(format!("{name}: {} {:?} in the file, expected F64 [{len}]", t.dtype(), t.shape()));
            continue;
        }
        let values: Vec<f64> = t.data().chunks_exact(8).map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect();
        if values.iter().any(|v| !v.is_finite()) {
            problems.push(format!("{name}: every value must be finite"));
            continue;
        }
        map.insert(param.to_string(), values);
    }
    report("the optimizer state does not fit the model", &problems)?;
    Ok(opt)
}

/// Named F32 tensors as a safetensors file, each with its own shape (`[]` for a scalar).
///
/// Panics if a name is used twice or a tensor's data does not match its shape;
/// [`tape_to_safetensors`] cannot hit either.
pub fn save_tensors(tensors: &[(String, Tensor<f32>)]) -> Vec<u8> {
    write(tensors.iter().map(|(name, t)| (name.clone(), Raw::f32(&t.shape, t.data.iter().copied()))).collect(), None)
}

/// The tape tensors called `names` as a safetensors file; an error names a tensor that is not
/// on the tape or is asked for twice.
pub fn tape_to_safetensors(tape: &Tape<f32>, names: &[String]) -> Result<Vec<u8>> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        if !seen.insert(name) {
            bail!("the tensor '{name}' is asked for twice");
        }
        let t = tape.get(name)?;
        if t.data.len() != t.shape.iter().product::<usize>() {
            bail!("the tape tensor '{name}' has {} values for shape {:?}", t.data.len(), t.shape);
        }
        out.push((name.clone(), t.clone()));
    }
    Ok(save_tensors(&out))
}

/// A batch file for [`load_batch`]: `images` F32 with the tensor's shape, `labels` I64 `[N]`.
///
/// Panics if the images' data does not match their shape.
pub fn save_batch(images: &Tensor<f32>, labels: &[usize]) -> Vec<u8> {
    let tensors = vec![
        ("images".to_string(), Raw::f32(&images.shape, images.data.iter().copied())),
        ("labels".to_string(), Raw::i64(&[labels.len()], labels.iter().map(|&l| l as i64))),
    ];
    write(tensors, None)
}

/// A NumPy `.npy` file (format 1.0; 2.0 only if the header would not fit): little-endian f32
/// (`'<f4'`), C order, the tensor's shape. The header is padded so the data starts at a
/// multiple of 64 bytes, as NumPy writes it.
pub fn to_npy(t: &Tensor<f32>) -> Vec<u8> {
    let shape = match t.shape.as_slice() {
        [n] => format!("({n},)"),
        dims => format!("({})", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    // magic (6) + version (2) + header length (2 in format 1.0, 4 in 2.0)
    let v1 = 10 + header.len() < usize::from(u16::MAX);
    let prefix = if v1 { 10 } else { 12 };
    let total = (prefix + header.len() + 1).next_multiple_of(64);
    header.push_str(&" ".repeat(total - prefix - header.len() - 1));
    header.push('\n');

    let mut out = Vec::with_capacity(total + 4 * t.data.len());
    out.extend_from_slice(b"\x93NUMPY");
    if v1 {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend(t.data.iter().flat_map(|v| v.to_le_bytes()));
    out
}

// ---- reading ---------------------------------------------------------------------------------

/// A parsed safetensors file: its header and the tensor data that follows it.
struct File<'a> {
    meta: Metadata,
    data: &'a [u8],
}

impl<'a> File<'a> {
    fn names(&self) -> BTreeSet<String> {
        self.meta.offset_keys().into_iter().collect()
    }

    fn tensor(&self, name: &str) -> Option<TensorView<'a>> {
        let info = self.meta.info(name)?;
        let (start, end) = info.data_offsets;
        TensorView::new(info.dtype, info.shape.clone(), self.data.get(start..end)?).ok()
    }

    /// A tensor that [`File::names`] listed (the header was validated, so it is there).
    fn get(&self, name: &str) -> Result<TensorView<'a>> {
        match self.tensor(name) {
            Some(t) => Ok(t),
            None => bail!("{name}: the header's entry for it is inconsistent"),
        }
    }
}

/// Parses a safetensors file, turning every way it can be malformed into a readable message.
fn read(bytes: &[u8]) -> Result<File<'_>> {
    if bytes.is_empty() {
        bail!("the file is empty; a safetensors file starts with an 8-byte header length");
    }
    let Some(len_field) = bytes.first_chunk::<8>() else {
        bail!("not a safetensors file: {} bytes is too short to hold even the 8-byte header length", bytes.len());
    };
    let n = u64::from_le_bytes(*len_field);
    let after = (bytes.len() - 8) as u64;
    if n > MAX_HEADER {
        bail!("not a safetensors file: its header length field says {n} bytes, more than the {MAX_HEADER}-byte limit");
    }
    if n > after {
        bail!("not a safetensors file, or truncated: its header length field says {n} bytes, but only {after} bytes follow it");
    }
    let header = &bytes[8..8 + n as usize];
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| {
        Error(match e {
            SafeTensorError::InvalidHeader(_) => "not a safetensors file: the header is not UTF-8 text".to_string(),
            SafeTensorError::InvalidHeaderDeserialization(e) => {
                format!("not a safetensors file: the header is not valid safetensors JSON ({e})")
            }
            SafeTensorError::MetadataIncompleteBuffer => {
                let data = after - n;
                match described_data_len(header) {
                    Some(want) if want > data => {
                        format!("the file is truncated: its header describes {want} bytes of tensor data, but only {data} bytes follow the header")
                    }
                    Some(want) => format!("the file has {} extra bytes after the {want} bytes of tensor data its header describes", data - want),
                    None => "the file's size does not match the tensor data its header describes".to_string(),
                }
            }
            SafeTensorError::InvalidOffset(name) => {
                format!("tensor '{name}': its data offsets in the header do not follow the previous tensor's")
            }
            SafeTensorError::TensorInvalidInfo => {
                "a tensor's data offsets in the header do not span its shape times its dtype size".to_string()
            }
            SafeTensorError::ValidationOverflow => "a tensor's shape in the header is absurdly large".to_string(),
            SafeTensorError::MisalignedSlice => "a sub-byte tensor's data does not end on a byte boundary".to_string(),
            other => format!("not a valid safetensors file: {other}"),
        })
    })?;
    Ok(File { meta, data: &bytes[8 + header.len()..] })
}

/// The end of the last tensor's data, from the raw header (for error messages only).
fn described_data_len(header: &[u8]) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_slice(header).ok()?;
    v.as_object()?.iter().filter(|(k, _)| *k != "__metadata__").filter_map(|(_, t)| t.get("data_offsets")?.get(1)?.as_u64()).max()
}

/// "a, b, c and 4 more"
fn some_names<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    let shown = names.iter().take(4).map(|n| n.to_string()).collect::<Vec<_>>().join(", ");
    match names.len() {
        n if n > 4 => format!("{shown} and {} more", n - 4),
        _ => shown,
    }
}

/// The problems found while checking a file, as one error (the first three of them).
fn report(what: &str, problems: &[String]) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    let more = match problems.len() {
        n if n > 3 => format!("; and {} more problems", n - 3),
        _ => String::new(),
    };
    bail!("{what}: {}{more}", problems[..problems.len().min(3)].join("; "))
}

/// The values of a float tensor as `f32` (F32 as stored, F64 rounded), all finite.
fn floats(name: &str, t: &TensorView<'_>) -> std::result::Result<Vec<f32>, String> {
    let b = t.data();
    let values: Vec<f32> = match t.dtype() {
        Dtype::F32 => b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        Dtype::F64 => b.chunks_exact(8).map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32).collect(),
        other => return Err(format!("{name}: dtype {other} is not supported (F32, or F64 which is rounded to F32)")),
    };
    let nan = values.iter().filter(|v| v.is_nan()).count();
    let inf = values.iter().filter(|v| v.is_infinite()).count();
    if nan + inf > 0 {
        let beyond = if t.dtype() == Dtype::F64 { " (F64 values beyond the F32 range count as infinite)" } else { "" };
        let counts: Vec<String> = [(nan, "NaN"), (inf, "infinite")].iter().filter(|c| c.0 > 0).map(|(n, what)| format!("{n} {what}")).collect();
        return Err(format!("{name}: {} values out of {}; every value must be finite{beyond}", counts.join(" and "), values.len()));
    }
    Ok(values)
}

/// The values of an integer tensor (I64, I32 or U8), or `None` for another dtype.
fn integers(t: &TensorView<'_>) -> Option<Vec<i64>> {
    let b = t.data();
    Some(match t.dtype() {
        Dtype::I64 => b.chunks_exact(8).map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect(),
        Dtype::I32 => b.chunks_exact(4).map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect(),
        Dtype::U8 => b.iter().map(|&v| i64::from(v)).collect(),
        _ => return None,
    })
}

/// How many parameter and buffer values a model with this (valid) config holds, counted from
/// its graph so that a file's config can be weighed against the file's size before a model
/// is built (a forged config could ask for gigabytes).
fn state_len(c: &Config) -> u64 {
    Graph::build(c).state_len()
}

/// What a weights file says about the model it holds, for a page that must ask before it
/// opens one: the member it is (from the metadata, or inferred from names and shapes), or
/// the members it could be when names and shapes cannot tell (option A and a plain net both
/// have no shortcut tensors).
#[derive(Clone, Debug, serde::Serialize)]
pub struct FileArch {
    /// The member, when the file says or its tensors tell.
    pub config: Option<Config>,
    /// When `config` is `None`: the members whose tensors are exactly the file's.
    pub candidates: Vec<Config>,
    /// Where the answer came from: `metadata`, `tensors`, or which members it could be.
    pub source: String,
}

/// The config in a file's metadata, if it has one.
fn meta_config(file: &File<'_>) -> Result<Option<Config>> {
    match file.meta.metadata().as_ref().and_then(|m| m.get("config")) {
        None => Ok(None),
        Some(json) => {
            let config: Config = serde_json::from_str(json).map_err(|e| Error(format!("the file's config metadata is not a valid config: {e}")))?;
            config.validate().map_err(|e| Error(format!("the file's config is invalid: {e}")))?;
            Ok(Some(config))
        }
    }
}

/// The family members a `state_dict` without metadata can be: the stem's `conv1.weight`
/// gives the input channels, `layer{s}.{b}.conv1.weight` the stages, blocks and widths,
/// `bn1.weight` whether there is BatchNorm, `fc.weight` the classes; every shortcut kind
/// whose tensors (names and shapes) are exactly the file's is a candidate. Image size: 28 for
/// one input channel (MNIST), 32 otherwise (CIFAR).
fn infer_configs(file: &File<'_>) -> Result<Vec<Config>> {
    let names = file.names();
    let shape = |n: &str| file.tensor(n).map(|t| t.shape().to_vec());
    // a file without the stem, the classifier or a first block is measured against ResNet-8
    let default = || -> Result<Vec<Config>> {
        if !names.iter().any(|n| n.ends_with(".weight")) {
            bail!("the file has no metadata and no weights of this family (its tensors: {})", some_names(names.iter().map(String::as_str)));
        }
        let mut model = ResNet::<f32>::new(&Config::default(), 0)?;
        load_checked(&mut model, file).map_err(|e| Error(format!("{e} (read as ResNet-8: the file has no metadata, and no stem, first block and classifier to tell another member by)")))?;
        Ok(vec![Config::default()])
    };
    let (Some(stem), Some(fc)) = (shape(&format!("{STEM_CONV}.weight")).filter(|s| s.len() == 4), shape(&format!("{FC}.weight")).filter(|s| s.len() == 2)) else {
        return default();
    };
    let (mut widths, mut blocks) = (vec![], vec![]);
    for s in 1..=64 {
        let entry = |b: usize| format!("{}.weight", block_entry(&block_name(s, b)));
        let b = (0..).take_while(|&b| names.contains(&entry(b))).count();
        if b == 0 {
            break;
        }
        widths.push(shape(&entry(0)).map_or(0, |v| v[0]));
        blocks.push(b);
    }
    if widths.is_empty() {
        return default();
    }
    let batchnorm = names.contains(&format!("{STEM_BN}.weight"));
    let in_channels = stem[1];
    let base = Config { in_channels, image_size: if in_channels == 1 { 28 } else { 32 }, num_classes: fc[0], widths, blocks, shortcut: Shortcut::Projection, batchnorm };
    base.validate().map_err(|e| Error(format!("the file's tensors describe no model the engine can build: {e}")))?;
    let wanted: BTreeSet<(String, Vec<usize>)> = names.iter().filter(|n| !n.ends_with(".num_batches_tracked")).map(|n| (n.clone(), shape(n).unwrap_or_default())).collect();
    let fits: Vec<Config> = Shortcut::ALL
        .into_iter()
        .map(|shortcut| Config { shortcut, ..base.clone() })
        .filter(|c| c.validate().is_ok())
        .filter(|c| Graph::build(c).params().map(|p| (p.name.clone(), p.shape.clone())).collect::<BTreeSet<_>>() == wanted)
        .collect();
    if fits.is_empty() {
        // the nearest member says precisely what does not fit
        let near = Config { shortcut: if names.iter().any(|n| n.contains(".downsample.")) { Shortcut::Projection } else { Shortcut::Identity }, ..base };
        let mut model = ResNet::<f32>::new(&near, 0)?;
        load_checked(&mut model, file).map_err(|e| Error(format!("{e} (read as {}, the member nearest to its tensors)", near.label())))?;
        return Ok(vec![near]);
    }
    Ok(fits)
}

/// What [`load_model_as`] would build from this file (see [`FileArch`]); reads the header.
pub fn file_arch(bytes: &[u8]) -> Result<FileArch> {
    let file = read(bytes)?;
    if let Some(config) = meta_config(&file)? {
        return Ok(FileArch { config: Some(config), candidates: vec![], source: "metadata".into() });
    }
    let mut fits = infer_configs(&file)?;
    if fits.len() == 1 {
        return Ok(FileArch { config: fits.pop(), candidates: vec![], source: "tensors".into() });
    }
    let source = format!("its tensors fit {}: names and shapes cannot tell them apart", fits.iter().map(|c| c.label()).collect::<Vec<_>>().join(" and "));
    Ok(FileArch { config: None, candidates: fits, source })
}

/// A model rebuilt from a file written by [`save_model`] (or by PyTorch or numpy with the
/// same names): the config from the metadata, else inferred from the tensors' names and
/// shapes (see [`file_arch`]); `shortcut` picks among the members a file without metadata
/// could be (a ResNet with option-A shortcuts or a plain net), and must agree with the
/// metadata when the file has it. Then the weights as [`load_weights_into`] checks and loads them.
pub fn load_model_as(bytes: &[u8], shortcut: Option<Shortcut>) -> Result<ResNet<f32>> {
    let file = read(bytes)?;
    let config = match meta_config(&file)? {
        Some(c) => {
            if let Some(s) = shortcut.filter(|&s| s != c.shortcut) {
                bail!("the file says it holds {} ({} shortcuts), not {} shortcuts", c.label(), c.shortcut.id(), s.id());
            }
            c
        }
        None => {
            let fits = infer_configs(&file)?;
            let labels = || fits.iter().map(|c| c.label()).collect::<Vec<_>>();
            match shortcut {
                Some(s) => match fits.iter().find(|c| c.shortcut == s) {
                    Some(c) => c.clone(),
                    None => bail!("the file's tensors fit {}, not {} shortcuts", labels().join(" or "), s.id()),
                },
                None if fits.len() == 1 => fits[0].clone(),
                None => bail!(
                    "the file has no metadata, and its tensors fit {}: say which (--shortcut {})",
                    labels().join(" and "),
                    fits.iter().map(|c| c.shortcut.id()).collect::<Vec<_>>().join(" or ")
                ),
            }
        }
    };
    // A small model is built and the file checked against it name by name; a larger one
    // only if the file holds enough data for it.
    let data_len = file.data.len() as u64;
    let need = 4 * state_len(&config);
    if need > SMALL_MODEL && data_len < need {
        bail!(
            "the file holds {data_len} bytes of tensor data, but a model with its config ({}) needs {need} (4 per value)",
            serde_json::to_string(&config).unwrap_or_default()
        );
    }
    let mut model = ResNet::<f32>::new(&config, 0)?;
    load_checked(&mut model, &file)?;
    Ok(model)
}

/// [`load_model_as`] without a choice of shortcut.
pub fn load_model(bytes: &[u8]) -> Result<ResNet<f32>> {
    load_model_as(bytes, None)
}

/// Loads the weights, running statistics and `num_batches_tracked` of a file into `model`.
///
/// Everything is checked first; on any problem the model is left untouched and the error
/// says what is wrong: the header, names the model needs that are missing, names it does not
/// know, shapes (`conv1.weight: shape [16, 2, 3, 3] in the file, the model needs [16, 1, 3,
/// 3]`), dtypes (F32; F64 is rounded), NaN or infinite values. `<bn>.num_batches_tracked` is
/// optional (a BN keeps its count when absent) and must be an I64 scalar (or `[1]`) ≥ 0.
/// On success the tape and labels are cleared, since they described the old weights.
pub fn load_weights_into(model: &mut ResNet<f32>, bytes: &[u8]) -> Result<()> {
    let file = read(bytes)?;
    load_checked(model, &file)
}

fn load_checked(model: &mut ResNet<f32>, file: &File<'_>) -> Result<()> {
    let params = model.params();
    let counts: Vec<String> = batchnorms(model).iter().map(|b| format!("{}.num_batches_tracked", b.name)).collect();
    let in_file = file.names();

    // Names: all there, nothing unknown.
    let missing: Vec<&str> = params.iter().map(|p| p.0.as_str()).filter(|&n| !in_file.contains(n)).collect();
    let known: BTreeSet<&str> = params.iter().map(|p| p.0.as_str()).chain(counts.iter().map(String::as_str)).collect();
    let unknown: Vec<&str> = in_file.iter().map(String::as_str).filter(|n| !known.contains(n)).collect();
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!("{} of the {} tensors the model needs are missing: {}", missing.len(), params.len(), some_names(missing)));
    }
    if !unknown.is_empty() {
        problems.push(format!("it has {} tensor(s) the model does not have: {}", unknown.len(), some_names(unknown)));
    }
    report("the file does not fit the model", &problems)?;

    // Shapes, dtypes, values.
    let mut values = Vec::with_capacity(params.len());
    for (name, shape, _, _) in &params {
        let t = file.get(name)?;
        if t.shape() != shape.as_slice() {
            problems.push(format!("{name}: shape {:?} in the file, the model needs {:?}", t.shape(), shape));
            continue;
        }
        match floats(name, &t) {
            Ok(v) if name.ends_with(".running_var") && v.iter().any(|&x| x < 0.0) => {
                let n = v.iter().filter(|&&x| x < 0.0).count();
                problems.push(format!("{name}: {n} negative values out of {}; a variance must be ≥ 0", v.len()));
            }
            Ok(v) => values.push(v),
            Err(p) => problems.push(p),
        }
    }
    let mut tracked = Vec::with_capacity(counts.len());
    for name in &counts {
        let Some(t) = file.tensor(name) else {
            tracked.push(None);
            continue;
        };
        match (t.dtype(), t.shape()) {
            (Dtype::I64, [] | [1]) => match integers(&t).as_deref() {
                Some(&[v]) if v >= 0 => tracked.push(Some(v)),
                Some(&[v]) => problems.push(format!("{name}: {v} is negative; a count of batches must be ≥ 0")),
                _ => problems.push(format!("{name}: the header's entry for it is inconsistent")),
            },
            (dtype, shape) => problems.push(format!("{name}: must be an I64 scalar, the file has {dtype} of shape {shape:?}")),
        }
    }
    report("the file does not fit the model", &problems)?;

    // Every value is valid: try them on a copy, and only then change the model.
    let mut candidate = model.clone_weights();
    for (p, v) in candidate.params_mut().into_iter().zip(values) {
        *p.data = v;
    }
    for (bn, count) in candidate.batchnorms_mut().into_iter().zip(tracked) {
        if let Some(c) = count {
            bn.num_batches_tracked = c;
        }
    }
    probe(&mut candidate)?;
    candidate.tape.clear();
    candidate.mode = model.mode;
    *model = candidate;
    Ok(())
}

/// Weights that are finite one by one can still be useless together (all ×1e30: the
/// activations overflow): before they replace anything, an eval-mode forward pass of two
/// probe images — a blank one and one with a bar of ink, normalised like the data — must
/// give finite logits.
fn probe(model: &mut ResNet<f32>) -> Result<()> {
    let (c, s) = (model.config.in_channels, model.config.image_size);
    let (paper, ink) = (crate::data::normalize(0), crate::data::normalize(255));
    let mut x = vec![paper; 2 * c * s * s];
    for ch in 0..c {
        for r in s / 5..s - s / 5 {
            for col in (s / 2).saturating_sub(1)..(s / 2 + 2).min(s) {
                x[(c + ch) * s * s + r * s + col] = ink;
            }
        }
    }
    let logits = model.forward(&Tensor::new(&[2, c, s, s], x)?, crate::model::Mode::Eval)?;
    if logits.data.iter().any(|v| !v.is_finite()) {
        let layer = model.tape.iter().find(|(n, t)| n.starts_with("act.") && t.data.iter().any(|v| !v.is_finite())).map(|(n, _)| n.trim_start_matches("act.").to_string());
        bail!(
            "the weights are finite but the model's output is not: on a test image the activations overflow{}; the weights are unusable",
            layer.map(|l| format!(" (first at {l})")).unwrap_or_default()
        );
    }
    Ok(())
}

/// The two tensors of a file that holds exactly `images` and `labels` (`what`: "a batch file").
fn images_and_labels<'a>(file: &File<'a>, what: &str) -> Result<(TensorView<'a>, TensorView<'a>)> {
    let names = file.names();
    let missing: Vec<&str> = ["images", "labels"].into_iter().filter(|&n| !names.contains(n)).collect();
    if !missing.is_empty() {
        bail!("{what} needs tensors 'images' and 'labels'; it has no {}", missing.join(" and no "));
    }
    let unknown: Vec<&str> = names.iter().map(String::as_str).filter(|&n| n != "images" && n != "labels").collect();
    if !unknown.is_empty() {
        bail!("{what} holds only 'images' and 'labels'; it also has {}", some_names(unknown));
    }
    Ok((file.get("images")?, file.get("labels")?))
}

/// An image batch from a safetensors file with exactly two tensors: `images` F32 (or F64)
/// `[N, C, S, S]` with the config's channels and image size, finite; and `labels` I64, I32 or
/// U8 `[N]`, each in `0..num_classes`.
pub fn load_batch(bytes: &[u8], config: &Config) -> Result<(Tensor<f32>, Vec<usize>)> {
    let file = read(bytes)?;
    let (images, labels) = images_and_labels(&file, "a batch file")?;

    let (c, s) = (config.in_channels, config.image_size);
    let shape = images.shape().to_vec();
    if shape.len() != 4 || shape[1..] != [c, s, s] || shape[0] == 0 {
        bail!("images: shape {shape:?} in the file, the model needs [N, {c}, {s}, {s}] with N ≥ 1");
    }
    let n = shape[0];
    let data = floats("images", &images).map_err(Error)?;

    if labels.shape() != [n] {
        bail!("labels: shape {:?} in the file, expected [{n}] (one per image)", labels.shape());
    }
    let Some(labels) = integers(&labels) else {
        bail!("labels: dtype {} is not supported (I64, I32 or U8)", labels.dtype());
    };
    let k = config.num_classes;
    if let Some((i, bad)) = labels.iter().enumerate().find(|(_, &l)| l < 0 || l as u64 >= k as u64) {
        bail!("labels: label {bad} of image {i} is out of range; the model has {k} classes (0..{})", k - 1);
    }
    Ok((Tensor { shape, data }, labels.into_iter().map(|l| l as usize).collect()))
}

/// A student's image set ([`crate::own::ImageSet`]) as a safetensors file: `images` U8
/// `[N, 28, 28]`, `labels` I64 `[N]`, and the number of classes in the metadata (`classes`).
pub fn save_image_set(set: &ImageSet) -> Vec<u8> {
    let tensors = vec![
        ("images".to_string(), Raw::u8(&[set.len(), set.rows, set.cols], &set.pixels)),
        ("labels".to_string(), Raw::i64(&[set.len()], set.labels.iter().map(|&l| l as i64))),
    ];
    write(tensors, Some(HashMap::from([("classes".to_string(), set.classes.to_string())])))
}

/// Reads an image set file for a task of `classes` classes (the file's own count, when it has
/// one, must agree). Refused with the reason: other tensors, another dtype or shape than
/// `images` U8 `[N, 28, 28]` and `labels` (I64, I32 or U8) `[N]`, a label out of range.
pub fn load_image_set(bytes: &[u8], classes: usize) -> Result<ImageSet> {
    let file = read(bytes)?;
    let (images, labels) = images_and_labels(&file, "an image set file")?;
    let mut set = ImageSet::new(classes)?;
    if let Some(said) = file.meta.metadata().as_ref().and_then(|m| m.get("classes")) {
        if said.parse::<usize>().ok() != Some(classes) {
            bail!("the file is a set for {said} classes, and this task has {classes}");
        }
    }
    let shape = images.shape().to_vec();
    if images.dtype() != Dtype::U8 || shape.len() != 3 || shape[1..] != [set.rows, set.cols] {
        bail!("images: {} {shape:?} in the file, expected U8 [N, {}, {}] (8-bit pixels, 0 = background)", images.dtype(), set.rows, set.cols);
    }
    let n = shape[0];
    if labels.shape() != [n] {
        bail!("labels: shape {:?} in the file, expected [{n}] (one per image)", labels.shape());
    }
    let Some(values) = integers(&labels) else {
        bail!("labels: dtype {} is not supported (I64, I32 or U8)", labels.dtype());
    };
    if let Some((i, bad)) = values.iter().enumerate().find(|(_, &l)| l < 0 || l as u64 >= classes as u64) {
        bail!("labels: label {bad} of image {i} is out of range; the task has {classes} classes (0..{})", classes - 1);
    }
    if n > crate::own::MAX_IMAGES {
        bail!("the file holds {n} images; a set holds at most {} images", crate::own::MAX_IMAGES);
    }
    set.pixels = images.data().to_vec();
    set.labels = values.into_iter().map(|l| l as usize).collect();
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_len_counts_what_the_model_holds() {
        let small = Config { in_channels: 2, image_size: 8, num_classes: 3, widths: vec![4, 4, 6], blocks: vec![2, 1, 2], ..Config::default() };
        for config in [Config::default(), Config::resnet20_cifar(), small] {
            let model = ResNet::<f32>::new(&config, 0).unwrap();
            let n: usize = model.params().iter().map(|p| p.2.len()).sum();
            assert_eq!(state_len(&config), n as u64, "{config:?}");
        }
    }
}

//! What the fuzz targets (`fuzz/`, `cargo +nightly fuzz run <target>`) feed arbitrary bytes to,
//! kept here so the committed corpus and any crash reproducer run as ordinary tests too
//! (`tests/fuzz_corpus.rs`). Each reads a file the way the page or the CLI reads one a user
//! gives it; an `Err` is the expected answer to junk, a panic is the bug being looked for.

use crate::data::Dataset;
use crate::{io, Config, ResNet};

/// A weights file: what it holds, the model it builds, loading it into ResNet-8, and reading it
/// as a `grads` batch.
pub fn model_file(data: &[u8]) {
    let _ = io::file_arch(data);
    let _ = io::load_model(data);
    if let Ok(mut m) = ResNet::<f32>::new(&Config::default(), 0) {
        let _ = io::load_weights_into(&mut m, data);
    }
    let _ = io::load_batch(data, &Config::default());
}

/// An optimizer file (the other half of a session), against ResNet-8.
pub fn optimizer_file(data: &[u8]) {
    if let Ok(m) = ResNet::<f32>::new(&Config::default(), 0) {
        let _ = io::load_optimizer(data, &m);
    }
}

/// A digits file (the data set format of `tools/convert-mnist.mjs`).
pub fn digits_file(data: &[u8]) {
    let _ = Dataset::parse(data);
}

/// The targets by name, as `fuzz/fuzz_targets/` and `fuzz/corpus/` name them.
pub const TARGETS: [(&str, fn(&[u8])); 3] = [("model_file", model_file), ("optimizer_file", optimizer_file), ("digits_file", digits_file)];

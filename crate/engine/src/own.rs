//! A student's own images: a labelled set of 28×28 8-bit images (their handwriting, or shapes
//! of classes of their own), the part of it held out for measuring, and the batches that mix
//! it with MNIST.
//!
//! - [`ImageSet`] moves as a safetensors file ([`crate::io::save_image_set`],
//!   [`crate::io::load_image_set`]): `images` U8 `[N, 28, 28]`, `labels` I64 `[N]`.
//! - [`ImageSet::held_out`] keeps every fifth example of each class (at least one) out of
//!   training, so accuracy on the student's own images can be measured before and after
//!   training; a class with no example or only one, or a set too small, gets a message that
//!   says which.
//! - [`MixedSampler`] draws a batch with a given share of the student's images (the rest
//!   MNIST), the same for the same `(seed, step)`.

use crate::rng::Rng;
use crate::{bail, Result};

/// Images and their labels; `classes` is how many classes the task has (labels `< classes`).
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSet {
    pub rows: usize,
    pub cols: usize,
    /// `len × rows × cols` bytes, 0 = background (as MNIST).
    pub pixels: Vec<u8>,
    pub labels: Vec<usize>,
    pub classes: usize,
}

/// The most classes a task of one's own may have (and the fewest).
pub const CLASSES: std::ops::RangeInclusive<usize> = 2..=10;

impl ImageSet {
    /// An empty set of 28×28 images for `classes` classes.
    pub fn new(classes: usize) -> Result<Self> {
        if !CLASSES.contains(&classes) {
            bail!("a task has {} to {} classes, not {classes}", CLASSES.start(), CLASSES.end());
        }
        Ok(ImageSet { rows: 28, cols: 28, pixels: vec![], labels: vec![], classes })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn image(&self, i: usize) -> &[u8] {
        let s = self.rows * self.cols;
        &self.pixels[i * s..(i + 1) * s]
    }

    /// Adds one image (`rows × cols` bytes) with its label.
    pub fn push(&mut self, pixels: &[u8], label: usize) -> Result<()> {
        if pixels.len() != self.rows * self.cols {
            bail!("an image here is {}×{} = {} pixels, not {}", self.rows, self.cols, self.rows * self.cols, pixels.len());
        }
        if label >= self.classes {
            bail!("label {label} is out of range: the task has {} classes (0..{})", self.classes, self.classes - 1);
        }
        self.pixels.extend_from_slice(pixels);
        self.labels.push(label);
        Ok(())
    }

    /// How many examples each class has.
    pub fn counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.classes];
        self.labels.iter().for_each(|&l| c[l] += 1);
        c
    }

    /// `(train, held_out)` indices: of each class, every fifth example in the order added (at
    /// least one) is held out. Every class needs two examples: one to train on, one to test.
    pub fn held_out(&self) -> Result<(Vec<usize>, Vec<usize>)> {
        let counts = self.counts();
        let empty: Vec<String> = (0..self.classes).filter(|&c| counts[c] == 0).map(|c| c.to_string()).collect();
        if !empty.is_empty() {
            bail!("class{} {} {} no examples yet: add at least two of each class", if empty.len() > 1 { "es" } else { "" }, empty.join(", "), if empty.len() > 1 { "have" } else { "has" });
        }
        let single: Vec<String> = (0..self.classes).filter(|&c| counts[c] == 1).map(|c| c.to_string()).collect();
        if !single.is_empty() {
            bail!(
                "class{} {} {} one example only: nothing would be left to train on once one is held out for testing; add another",
                if single.len() > 1 { "es" } else { "" },
                single.join(", "),
                if single.len() > 1 { "have" } else { "has" }
            );
        }
        let (mut train, mut held) = (vec![], vec![]);
        let mut seen = vec![0usize; self.classes];
        for (i, &l) in self.labels.iter().enumerate() {
            // the 2nd, 7th, 12th, … example of a class (so two examples give one of each)
            if seen[l] % 5 == 1 { held.push(i) } else { train.push(i) }
            seen[l] += 1;
        }
        Ok((train, held))
    }
}

/// Where a batch entry comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// An index into the MNIST training digits.
    Mnist(usize),
    /// An index into the student's training images (the `train` list of [`ImageSet::held_out`]).
    Own(usize),
}

/// Batches that mix MNIST with the student's images: `share` of each batch (rounded) is
/// theirs, drawn at random with replacement; the rest MNIST digits. Deterministic in
/// `(seed, step)`.
#[derive(Clone, Debug, PartialEq)]
pub struct MixedSampler {
    pub seed: u64,
    pub batch: usize,
    /// The fraction of each batch taken from the student's images, in `[0, 1]`.
    pub share: f64,
}

impl MixedSampler {
    pub fn new(seed: u64, batch: usize, share: f64) -> Result<Self> {
        if batch == 0 {
            bail!("the batch size must be at least 1");
        }
        if !(0.0..=1.0).contains(&share) {
            bail!("the share of your own images is a fraction from 0 to 1, not {share}");
        }
        Ok(MixedSampler { seed, batch, share })
    }

    /// How many of a batch are the student's.
    pub fn own_per_batch(&self) -> usize {
        (self.share * self.batch as f64).round() as usize
    }

    /// Batch `step` over `mnist` MNIST training digits and `own` training images of the student.
    pub fn batch(&self, step: u64, mnist: usize, own: usize) -> Result<Vec<Source>> {
        let k = self.own_per_batch();
        if k > 0 && own == 0 {
            bail!("the batch takes {k} of your own images, but you have none to train on yet");
        }
        if k < self.batch && mnist == 0 {
            bail!("the batch takes {} MNIST digits, but none are loaded", self.batch - k);
        }
        let mut rng = Rng::new(self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(step));
        let mut out: Vec<Source> = (0..self.batch).map(|j| if j < k { Source::Own(rng.below(own)) } else { Source::Mnist(rng.below(mnist)) }).collect();
        rng.shuffle(&mut out);
        Ok(out)
    }
}

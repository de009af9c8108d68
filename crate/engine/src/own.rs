//! A student's own images: a labelled set of 28×28 8-bit images (their handwriting, or shapes
//! of classes of their own), the part of it held out for measuring, and the batches that mix
//! it with MNIST.
//!
//! - [`ImageSet`] moves as a safetensors file ([`crate::io::save_image_set`],
//!   [`crate::io::load_image_set`]): `images` U8 `[N, 28, 28]`, `labels` I64 `[N]`.
//! - [`ImageSet::held_out`] keeps about one image in five of each class (at least one, by a
//!   hash of its pixels, so the choice is stable) out of
//!   training, so accuracy on the student's own images can be measured before and after
//!   training; a class with no example or only one, or a set too small, gets a message that
//!   says which.
//! - [`MixedSampler`] draws a batch with a given share of the student's images (the rest
//!   MNIST), the same for the same `(seed, step)`; [`mixed_batch`] builds it, the student's
//!   images lightly [augmented](Augment) (shifts of a few pixels, small rotations) if asked.

use crate::data::{normalize, Dataset};
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::{bail, Result};
use serde::Serialize;

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

/// Why an empty set cannot be split (nor trained on, nor tested).
pub const EMPTY_SET: &str = "the set is empty: add at least two images of a class";

/// The most images a set may hold (the page keeps them all in memory and IndexedDB; a few
/// thousand stay responsive).
pub const MAX_IMAGES: usize = 5000;

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
        if self.len() >= MAX_IMAGES {
            bail!("a set holds at most {MAX_IMAGES} images");
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

    /// `(train, held_out)` indices: about one image in five of each class is held out, chosen
    /// by a hash of its pixels (so it stays held out whatever else is added or deleted), at
    /// least one per class and never all. Every class needs two examples: one to train on,
    /// one to test.
    pub fn held_out(&self) -> Result<(Vec<usize>, Vec<usize>)> {
        self.held_out_from(true)
    }

    /// As [`held_out`](ImageSet::held_out); with `every_class` false a class may have no
    /// example (the student's digits beside MNIST's, which has them all), but not just one.
    pub fn held_out_from(&self, every_class: bool) -> Result<(Vec<usize>, Vec<usize>)> {
        let counts = self.counts();
        if self.is_empty() {
            bail!("{EMPTY_SET}");
        }
        let empty: Vec<String> = (0..self.classes).filter(|&c| counts[c] == 0).map(|c| c.to_string()).collect();
        if every_class && !empty.is_empty() {
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
        // an image's part follows from its pixels (a hash), not its place: deleting or adding
        // others does not move it, and a duplicate of a held-out image is held out too; each
        // class keeps at least one of each part (its lowest hash held out, its highest trained)
        let hashes: Vec<u64> = (0..self.len()).map(|i| fnv1a(self.image(i))).collect();
        let mut held_flags: Vec<bool> = hashes.iter().map(|h| h % 5 == 0).collect();
        for c in 0..self.classes {
            let members: Vec<usize> = (0..self.len()).filter(|&i| self.labels[i] == c).collect();
            let Some(&lowest) = members.iter().min_by_key(|&&i| (hashes[i], i)) else { continue };
            let &highest = members.iter().max_by_key(|&&i| (hashes[i], i)).expect("a member");
            if members.iter().all(|&i| !held_flags[i]) {
                held_flags[lowest] = true;
            }
            if members.iter().all(|&i| held_flags[i]) {
                held_flags[highest] = false;
            }
        }
        let (held, train): (Vec<usize>, Vec<usize>) = (0..self.len()).partition(|&i| held_flags[i]);
        Ok((train, held))
    }

    /// The images `idx` as a dataset of training digits (to evaluate or batch them as MNIST's).
    pub fn to_dataset(&self, idx: &[usize]) -> Dataset {
        let pixels = idx.iter().flat_map(|&i| self.image(i).iter().copied()).collect();
        Dataset { rows: self.rows, cols: self.cols, n_train: idx.len(), labels: idx.iter().map(|&i| self.labels[i] as u8).collect(), pixels }
    }
}

/// FNV-1a, 64 bits: a stable hash of an image's pixels.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Light augmentation for a small set: each time an image is drawn into a batch it is moved by
/// a whole number of pixels up to `shift` each way and turned by up to `degrees` about the
/// image's centre (bilinear; ink moved outside the frame is lost).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Augment {
    pub shift: usize,
    pub degrees: f64,
}

/// The augmentation the page offers (and shows).
pub const AUGMENT: Augment = Augment { shift: 2, degrees: 12.0 };

impl Augment {
    /// A random `(dx, dy, degrees)` within the limits.
    pub fn draw(&self, rng: &mut Rng) -> (i32, i32, f64) {
        let s = self.shift as i32;
        let mut off = || rng.below(2 * self.shift + 1) as i32 - s;
        let (dx, dy) = (off(), off());
        (dx, dy, (2.0 * rng.uniform() - 1.0) * self.degrees)
    }

    /// `img` (`rows × cols` bytes) moved by `(dx, dy)` pixels and turned by `degrees`
    /// (clockwise on screen): output pixel `p` takes the input at `R⁻¹(p − c − d) + c`,
    /// interpolated bilinearly, 0 outside. No turn and no shift give `img` back exactly.
    pub fn apply(img: &[u8], rows: usize, cols: usize, (dx, dy, degrees): (i32, i32, f64)) -> Vec<u8> {
        let (sin, cos) = degrees.to_radians().sin_cos();
        let (cx, cy) = ((cols as f64 - 1.0) / 2.0, (rows as f64 - 1.0) / 2.0);
        let at = |x: i64, y: i64| if x < 0 || y < 0 || x >= cols as i64 || y >= rows as i64 { 0.0 } else { img[y as usize * cols + x as usize] as f64 };
        let mut out = vec![0u8; rows * cols];
        for y in 0..rows {
            for x in 0..cols {
                let (u, v) = (x as f64 - cx - dx as f64, y as f64 - cy - dy as f64);
                let (sx, sy) = (cos * u + sin * v + cx, -sin * u + cos * v + cy);
                let (x0, y0) = (sx.floor(), sy.floor());
                let (fx, fy) = (sx - x0, sy - y0);
                let (x0, y0) = (x0 as i64, y0 as i64);
                let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
                let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
                out[y * cols + x] = (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }
}

/// Batch `step` of a run: the sampler's share from the student's training images `train`
/// (indices into `set`; augmented when `augment` is given), the rest from MNIST's training
/// split; normalised as the data pipeline does. The same `(seed, step)` gives the same batch.
pub fn mixed_batch(sampler: &MixedSampler, step: u64, mnist: Option<&Dataset>, set: &ImageSet, train: &[usize], augment: Option<&Augment>) -> Result<(Tensor<f32>, Vec<usize>)> {
    let n_mnist = mnist.map_or(0, |d| d.n_train);
    let picks = sampler.batch(step, n_mnist, train.len())?;
    let mut rng = Rng::new(sampler.seed.wrapping_mul(0xD1B5_4A32_D192_ED03).wrapping_add(step));
    let s = set.rows * set.cols;
    let (mut data, mut labels) = (Vec::with_capacity(picks.len() * s), Vec::with_capacity(picks.len()));
    for p in picks {
        match p {
            Source::Mnist(i) => {
                let d = mnist.expect("the sampler draws MNIST digits only when there are some");
                data.extend(d.image(i).iter().map(|&v| normalize(v)));
                labels.push(d.labels[i] as usize);
            }
            Source::Own(i) => {
                let img = set.image(train[i]);
                match augment {
                    Some(a) => data.extend(Augment::apply(img, set.rows, set.cols, a.draw(&mut rng)).into_iter().map(normalize)),
                    None => data.extend(img.iter().map(|&v| normalize(v))),
                }
                labels.push(set.labels[train[i]]);
            }
        }
    }
    Ok((Tensor { shape: vec![labels.len(), 1, set.rows, set.cols], data }, labels))
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

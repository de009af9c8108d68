//! The named tape: every tensor of the last forward/backward pass, by name, in the order it was
//! written.
//!
//! - `act.<module>`    the module's output (`act.input` is the image batch as fed to `conv1`,
//!                     `act.softmax` the class probabilities)
//! - `delta.<module>`  ∂C/∂ that output; for a conv module, the error of its output before BN
//! - `grad.<param>`    ∂C/∂ each trainable parameter, PyTorch names (`grad.layer1.0.conv1.weight`)
//! - `stat.<bn>.mean`, `stat.<bn>.var`   the batch statistics a training-mode BN used
//! - `running.<bn>.running_mean`, `running.<bn>.running_var`   the running statistics after the pass
//! - `loss`            the mean cross-entropy, a scalar (shape `[]`)

use crate::tensor::Tensor;
use crate::{bail, Result};
use std::collections::HashMap;

#[derive(Clone, Debug, Default)]
pub struct Tape<T> {
    entries: Vec<(String, Tensor<T>)>,
    index: HashMap<String, usize>,
    /// Tensors of the previous pass, kept so the next pass can reuse their memory.
    spare: HashMap<String, Tensor<T>>,
    /// Memory for values that are not kept (`scratch`), by length: one buffer per size, kept
    /// while the passes use that size (`used`: the sizes taken since the last `clear`).
    scratch: HashMap<usize, Vec<T>>,
    used: std::collections::HashSet<usize>,
}

impl<T: Copy + Default> Tape<T> {
    pub fn new() -> Self {
        Tape { entries: Vec::new(), index: HashMap::new(), spare: HashMap::new(), scratch: HashMap::new(), used: Default::default() }
    }

    /// Empties the tape (its memory is kept for the next pass; scratch memory of a size the
    /// last passes did not use is let go, so a new batch size does not keep the old one's).
    pub fn clear(&mut self) {
        self.index.clear();
        self.spare.extend(self.entries.drain(..));
        let used = std::mem::take(&mut self.used);
        self.scratch.retain(|len, _| used.contains(len));
    }

    /// Removes every entry whose name starts with `prefix` (memory kept, as `clear`).
    pub fn remove_prefix(&mut self, prefix: &str) {
        let (gone, kept): (Vec<_>, Vec<_>) = self.entries.drain(..).partition(|(n, _)| n.starts_with(prefix));
        self.entries = kept;
        self.spare.extend(gone);
        self.index = self.entries.iter().enumerate().map(|(i, (n, _))| (n.clone(), i)).collect();
    }

    /// A tensor of `shape` to be written under `name`: last pass's memory when it fits.
    /// Its contents are unspecified; the caller overwrites every element.
    pub fn buffer(&mut self, name: &str, shape: &[usize]) -> Tensor<T> {
        match self.spare.remove(name) {
            Some(mut t) if t.data.len() == shape.iter().product::<usize>() => {
                t.shape = shape.to_vec();
                t
            }
            _ => Tensor::zeros(shape),
        }
    }

    /// A tensor of `shape` that will not be kept on the tape (a second δ to be added to one
    /// there): memory given back by `recycle` when it fits. Contents unspecified, as `buffer`.
    pub fn scratch(&mut self, shape: &[usize]) -> Tensor<T> {
        let len = shape.iter().product::<usize>();
        self.used.insert(len);
        let data = self.scratch.remove(&len).unwrap_or_else(|| vec![T::default(); len]);
        Tensor { shape: shape.to_vec(), data }
    }

    /// Keeps a tensor's memory for the next `scratch` of its size.
    pub fn recycle(&mut self, t: Tensor<T>) {
        self.scratch.insert(t.data.len(), t.data);
    }

    pub fn set(&mut self, name: impl Into<String>, t: Tensor<T>) {
        let name = name.into();
        match self.index.get(&name) {
            Some(&i) => self.entries[i].1 = t,
            None => {
                self.index.insert(name.clone(), self.entries.len());
                self.entries.push((name, t));
            }
        }
    }

    pub fn get(&self, name: &str) -> Result<&Tensor<T>> {
        match self.index.get(name) {
            Some(&i) => Ok(&self.entries[i].1),
            None if self.entries.is_empty() => bail!("no tensor '{name}': the tape is empty (run a forward pass first)"),
            None => bail!("no tensor '{name}' on the tape; it holds {} tensors, e.g. '{}'", self.entries.len(), self.entries[0].0),
        }
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Tensor<T>> {
        self.index.get(name).map(|&i| &mut self.entries[i].1)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// (name, shape) of every tensor, in the order they were written.
    pub fn list(&self) -> Vec<(String, Vec<usize>)> {
        self.entries.iter().map(|(n, t)| (n.clone(), t.shape.clone())).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor<T>)> {
        self.entries.iter().map(|(n, t)| (n.as_str(), t))
    }
}

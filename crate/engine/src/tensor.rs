//! A tensor is a shape and a contiguous row-major buffer; nothing clever.

use crate::{bail, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct Tensor<T = f32> {
    pub shape: Vec<usize>,
    pub data: Vec<T>,
}

impl<T: Copy + Default> Tensor<T> {
    pub fn zeros(shape: &[usize]) -> Self {
        Tensor { shape: shape.to_vec(), data: vec![T::default(); shape.iter().product()] }
    }

    pub fn new(shape: &[usize], data: Vec<T>) -> Result<Self> {
        let Some(n) = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) else {
            bail!("shape {:?} is too large", shape);
        };
        if n != data.len() {
            bail!("shape {:?} holds {} values, but {} were given", shape, n, data.len());
        }
        Ok(Tensor { shape: shape.to_vec(), data })
    }

    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// Row-major flat index of `idx`, or an error naming the axis that is out of range.
    pub fn offset(&self, idx: &[usize]) -> Result<usize> {
        if idx.len() != self.shape.len() {
            bail!("{} indices given for a tensor of rank {} (shape {:?})", idx.len(), self.shape.len(), self.shape);
        }
        let mut off = 0;
        for (axis, (&i, &n)) in idx.iter().zip(&self.shape).enumerate() {
            if i >= n {
                bail!("index {} is out of range for axis {} of size {} (shape {:?})", i, axis, n, self.shape);
            }
            off = off * n + i;
        }
        Ok(off)
    }

    pub fn get(&self, idx: &[usize]) -> Result<T> {
        Ok(self.data[self.offset(idx)?])
    }
}

impl<T: Copy + Into<f64>> Tensor<T> {
    pub fn to_f64(&self) -> Tensor<f64> {
        Tensor { shape: self.shape.clone(), data: self.data.iter().map(|&v| v.into()).collect() }
    }
}

impl Tensor<f64> {
    pub fn to_f32(&self) -> Tensor<f32> {
        Tensor { shape: self.shape.clone(), data: self.data.iter().map(|&v| v as f32).collect() }
    }
}

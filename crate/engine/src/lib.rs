//! resnet-engine: a small ResNet whose every backprop tensor is named.
//!
//! The data path is short and one-way: MNIST bytes → [`data`] → [`model::ResNet`] (forward,
//! backward, update) → [`tape::Tape`] (`act.*`, `delta.*`, `grad.*`, BN statistics) → whoever
//! looks at it ([`formula`] decomposes a cell of the tape into the terms of its formula).
//!
//! Conventions (see `docs/backprop-formulas.md`): NCHW tensors, conv weights OIHW,
//! cross-correlation, symmetric zero padding, `δ = ∂C/∂z`, ReLU'(0) = 0, PyTorch names.
//!
//! Every layer in [`layers`] is a forward/backward pair over flat slices, generic over the
//! [`Scalar`] type: `f32` runs the fast path (im2col + SIMD GEMM, rayon over images), `f64`
//! runs the naive reference convolution written straight from the formulas. The `f64` model
//! is what the finite-difference gradient checks and the fast-vs-reference tests run against.

pub mod bench;
pub mod compare;
pub mod data;
pub mod formula;
pub mod fuzzing;
pub mod gemm;
pub mod graph;
pub mod io;
pub mod layers;
pub mod model;
pub mod optim;
pub mod own;
pub mod rng;
pub mod scalar;
pub mod tape;
pub mod tensor;
pub mod train;

pub use graph::{Config, Graph, Shortcut};
pub use model::ResNet;
pub use scalar::Scalar;
pub use tape::Tape;
pub use tensor::Tensor;

/// Every fallible entry point of the engine returns this: a message a person can read.
#[derive(Debug, Clone, PartialEq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// `bail!("fmt", args)` returns `Err(Error(format!(...)))`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::Error(format!($($arg)*))) };
}

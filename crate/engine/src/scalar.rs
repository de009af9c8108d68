//! The element type of a model. `f32` is the product: its convolutions run the fast path.
//! `f64` is the yardstick: its convolutions run the naive reference written from the formulas,
//! so a `ResNet<f64>` is an independent float64 implementation for gradient checks.

use crate::layers::conv::{self, ConvGeom};
use crate::layers::conv_reference;
use num_traits::{Float, FromPrimitive};
use std::fmt::Debug;
use std::iter::Sum;

pub trait Scalar: Float + FromPrimitive + Default + Debug + Send + Sync + Sum + crate::layers::Plain + 'static {
    /// `y[n,o,x',y'] = Σ_i Σ_a Σ_b w[o,i,a,b] · x[n,i,s·x'+a−p, s·y'+b−p] (+ bias[o])`
    fn conv_forward(g: &ConvGeom, x: &[Self], w: &[Self], bias: Option<&[Self]>, y: &mut [Self]);
    /// Given `dy = ∂C/∂y`: `dw = ∂C/∂w`, `db = ∂C/∂bias` (overwritten) and, when asked for,
    /// `dx = ∂C/∂x` (overwritten).
    fn conv_backward(
        g: &ConvGeom,
        x: &[Self],
        w: &[Self],
        dy: &[Self],
        dx: Option<&mut [Self]>,
        dw: &mut [Self],
        db: Option<&mut [Self]>,
    );
    fn f64(self) -> f64 {
        self.to_f64().unwrap_or(f64::NAN)
    }
    fn of(v: f64) -> Self {
        Self::from_f64(v).unwrap_or_else(Self::nan)
    }
}

impl Scalar for f32 {
    fn conv_forward(g: &ConvGeom, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
        conv::conv2d_forward(g, x, w, bias, y)
    }
    fn conv_backward(g: &ConvGeom, x: &[f32], w: &[f32], dy: &[f32], dx: Option<&mut [f32]>, dw: &mut [f32], db: Option<&mut [f32]>) {
        conv::conv2d_backward(g, x, w, dy, dx, dw, db)
    }
}

impl Scalar for f64 {
    fn conv_forward(g: &ConvGeom, x: &[f64], w: &[f64], bias: Option<&[f64]>, y: &mut [f64]) {
        conv_reference::conv2d_forward(g, x, w, bias, y)
    }
    fn conv_backward(g: &ConvGeom, x: &[f64], w: &[f64], dy: &[f64], dx: Option<&mut [f64]>, dw: &mut [f64], db: Option<&mut [f64]>) {
        conv_reference::conv2d_backward(g, x, w, dy, dx, dw, db)
    }
}

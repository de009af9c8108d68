//! ReLU. x, y, dy, dx of any shape.
//!   forward   y = max(x, 0)
//!   backward  dx = dy ⊙ σ'(x),  σ'(x) = 1 if x > 0 else 0  (so ReLU'(0) = 0)
//! σ'(x) is read off the output (y > 0 ⇔ x > 0), so backward needs only y.

use num_traits::Float;

pub fn relu_forward<T: Float>(x: &[T], y: &mut [T]) {
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv = if xv > T::zero() { xv } else { T::zero() };
    }
}

pub fn relu_backward<T: Float>(y: &[T], dy: &[T], dx: &mut [T]) {
    for ((d, &g), &yv) in dx.iter_mut().zip(dy).zip(y) {
        *d = if yv > T::zero() { g } else { T::zero() };
    }
}

/// σ'(z) for ReLU.
pub fn relu_grad<T: Float>(z: T) -> T {
    if z > T::zero() { T::one() } else { T::zero() }
}

//! ReLU. x, y, dy, dx of any shape.
//!   forward   y = max(x, 0)
//!   backward  dx = dy ⊙ σ'(x),  σ'(x) = 1 if x > 0 else 0  (so ReLU'(0) = 0)
//! σ'(x) is read off the output (y > 0 ⇔ x > 0), so backward needs only y.

use super::for_each_chunk_large;
use num_traits::Float;

const CHUNK: usize = 1 << 14;

pub fn relu_forward<T: Float + Send + Sync>(x: &[T], y: &mut [T]) {
    for_each_chunk_large(y, CHUNK, |i, yc| {
        for (yv, &xv) in yc.iter_mut().zip(&x[i * CHUNK..]) {
            *yv = if xv > T::zero() { xv } else { T::zero() };
        }
    });
}

pub fn relu_backward<T: Float + Send + Sync>(y: &[T], dy: &[T], dx: &mut [T]) {
    for_each_chunk_large(dx, CHUNK, |i, dc| {
        for ((d, &g), &yv) in dc.iter_mut().zip(&dy[i * CHUNK..]).zip(&y[i * CHUNK..]) {
            *d = if yv > T::zero() { g } else { T::zero() };
        }
    });
}

/// `out = a + b`, elementwise (the residual junction).
pub fn add<T: Float + Send + Sync>(a: &[T], b: &[T], out: &mut [T]) {
    for_each_chunk_large(out, CHUNK, |i, oc| {
        for ((o, &x), &y) in oc.iter_mut().zip(&a[i * CHUNK..]).zip(&b[i * CHUNK..]) {
            *o = x + y;
        }
    });
}

/// σ'(z) for ReLU.
pub fn relu_grad<T: Float>(z: T) -> T {
    if z > T::zero() { T::one() } else { T::zero() }
}

/// `acc += b`, elementwise (where the two branches' errors meet at the fork).
pub fn add_assign<T: Float + Send + Sync>(acc: &mut [T], b: &[T]) {
    for_each_chunk_large(acc, CHUNK, |i, ac| {
        for (o, &y) in ac.iter_mut().zip(&b[i * CHUNK..]) {
            *o = *o + y;
        }
    });
}

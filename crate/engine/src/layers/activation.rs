//! ReLU. x, y, dy, dx of any shape.
//!   forward   y = max(x, 0)
//!   backward  dx = dy ⊙ σ'(x),  σ'(x) = 1 if x > 0 else 0  (so ReLU'(0) = 0)
//! σ'(x) is read off the output (y > 0 ⇔ x > 0), so backward needs only y.

use super::for_each_chunk_large;
use num_traits::Float;

const CHUNK: usize = 1 << 14;

/// max(x, 0) of one value (also written by BN's passes for the ReLU after it).
#[inline(always)]
pub fn relu<T: Float>(x: T) -> T {
    if x > T::zero() { x } else { T::zero() }
}

/// δ through a ReLU whose output is `y`: `g` where y > 0, else 0 (σ' read off the output).
#[inline(always)]
pub fn relu_back<T: Float>(y: T, g: T) -> T {
    if y > T::zero() { g } else { T::zero() }
}

pub fn relu_forward<T: Float + Send + Sync>(x: &[T], y: &mut [T]) {
    for_each_chunk_large(y, CHUNK, |i, yc| {
        for (yv, &xv) in yc.iter_mut().zip(&x[i * CHUNK..]) {
            *yv = relu(xv);
        }
    });
}

/// `x = max(x, 0)` in place.
pub fn relu_in_place<T: Float + Send + Sync>(x: &mut [T]) {
    for_each_chunk_large(x, CHUNK, |_, c| c.iter_mut().for_each(|v| *v = relu(*v)));
}

pub fn relu_backward<T: Float + Send + Sync>(y: &[T], dy: &[T], dx: &mut [T]) {
    for_each_chunk_large(dx, CHUNK, |i, dc| {
        for ((d, &g), &yv) in dc.iter_mut().zip(&dy[i * CHUNK..]).zip(&y[i * CHUNK..]) {
            *d = relu_back(yv, g);
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

/// `out = x`, elementwise, in parallel over large slices (the junction passing its δ back).
pub fn copy<T: Float + super::Plain + Send + Sync>(x: &[T], out: &mut [T]) {
    for_each_chunk_large(out, CHUNK, |i, oc| super::copy(&x[i * CHUNK..][..oc.len()], oc));
}

/// Σ x², in f64: 32 values in each of 8 lanes of `T` at a time (so it vectorises), each such
/// block's sum added in f64 (a lane's rounding stays at ~32 ulp), the blocks' sums of each
/// chunk in order and the chunks' in order, in parallel over large slices — the same result
/// whatever the thread count. (The branches' Σ δ² of every residual block, each training step.)
pub fn sum_of_squares<T: Float + Send + Sync>(x: &[T]) -> f64 {
    const BLOCK: usize = 256;
    let chunk_sum = |c: &[T]| -> f64 { c.chunks(BLOCK).map(|b| super::lane_sum(b, b, |v, _| v * v).to_f64().unwrap_or(f64::NAN)).sum() };
    super::par_map_large(x.len().div_ceil(CHUNK), x.len(), |i| chunk_sum(&x[i * CHUNK..((i + 1) * CHUNK).min(x.len())])).into_iter().sum()
}

#[cfg(test)]
mod tests {
    /// `sum_of_squares` against a plain f64 sum, on lengths around its block, lane and chunk
    /// sizes (and past one chunk, where it runs in parallel).
    #[test]
    fn sum_of_squares_matches_a_plain_sum() {
        for n in [0, 1, 7, 8, 9, 255, 256, 257, 1000, super::CHUNK - 1, super::CHUNK + 3, 5 * super::CHUNK + 11] {
            let x: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
            let want: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
            let got = super::sum_of_squares(&x);
            assert!((got - want).abs() <= 1e-6 * want.max(1.0), "n = {n}: {got} vs {want}");
        }
    }
}

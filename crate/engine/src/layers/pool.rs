//! Global average pooling. x `[N, C, H, W]` → y `[N, C]`.
//!   forward   y[n,c] = (1/(H·W)) Σ_{x,y} x[n,c,x,y]
//!   backward  dx[n,c,x,y] = dy[n,c] / (H·W)

use num_traits::Float;

pub fn gap_forward<T: Float>(x: &[T], hw: usize, y: &mut [T]) {
    let inv = T::one() / T::from(hw).unwrap();
    for (yv, run) in y.iter_mut().zip(x.chunks(hw)) {
        *yv = run.iter().fold(T::zero(), |a, &v| a + v) * inv;
    }
}

pub fn gap_backward<T: Float>(dy: &[T], hw: usize, dx: &mut [T]) {
    let inv = T::one() / T::from(hw).unwrap();
    for (&g, run) in dy.iter().zip(dx.chunks_mut(hw)) {
        run.fill(g * inv);
    }
}

//! The identity shortcut where the shape changes, option A of He et al. 2016 (as the widely
//! used PyTorch CIFAR-ResNet code writes it: `F.pad(x[:, :, ::2, ::2], (0,0,0,0,lo,hi))`).
//! x `[N, C_in, H, W]` → y `[N, C_out, ⌈H/s⌉, ⌈W/s⌉]`, `lo` zero channels before, `C_out − C_in − lo` after.
//!   forward   y[n, c, x, y] = x[n, c − lo, s·x, s·y]   for lo ≤ c < lo + C_in, else 0
//!   backward  dx[n, i, s·x, s·y] = dy[n, i + lo, x, y], and dx = 0 at the rows and columns the
//!             subsampling skips (their values reach the block output only through the main branch)
//! No parameters.

use num_traits::Float;

#[derive(Clone, Copy, Debug)]
pub struct Geom {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub stride: usize,
    pub lo: usize,
}

impl Geom {
    pub fn h_out(&self) -> usize {
        self.h.div_ceil(self.stride)
    }
    pub fn w_out(&self) -> usize {
        self.w.div_ceil(self.stride)
    }
}

pub fn forward<T: Float>(g: &Geom, x: &[T], y: &mut [T]) {
    let (ho, wo) = (g.h_out(), g.w_out());
    y.fill(T::zero());
    for n in 0..g.n {
        for i in 0..g.c_in {
            let src = &x[(n * g.c_in + i) * g.h * g.w..][..g.h * g.w];
            let dst = &mut y[(n * g.c_out + i + g.lo) * ho * wo..][..ho * wo];
            for r in 0..ho {
                for c in 0..wo {
                    dst[r * wo + c] = src[g.stride * r * g.w + g.stride * c];
                }
            }
        }
    }
}

pub fn backward<T: Float>(g: &Geom, dy: &[T], dx: &mut [T]) {
    let (ho, wo) = (g.h_out(), g.w_out());
    dx.fill(T::zero());
    for n in 0..g.n {
        for i in 0..g.c_in {
            let src = &dy[(n * g.c_out + i + g.lo) * ho * wo..][..ho * wo];
            let dst = &mut dx[(n * g.c_in + i) * g.h * g.w..][..g.h * g.w];
            for r in 0..ho {
                for c in 0..wo {
                    dst[g.stride * r * g.w + g.stride * c] = src[r * wo + c];
                }
            }
        }
    }
}

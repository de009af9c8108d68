//! conv2d, the fast path: im2col + SIMD GEMM, one image at a time, images in parallel.
//!
//! Shapes: x `[N, C, H, W]`, w `[O, C, K, K]`, bias `[O]`, y `[N, O, Ho, Wo]` with
//! `Ho = (H + 2p − K)/s + 1`. For one image, `col[(i·K+a)·K+b, x'·Wo+y'] = x[i, s·x'+a−p, s·y'+b−p]`
//! (0 in the padding), a `[C·K·K, Ho·Wo]` matrix, and then
//!
//!   forward   y_n  = W · col_n                (+ bias)        W viewed as `[O, C·K·K]`
//!   backward  dW  += δ_n · col_nᵀ                             δ_n = dy of image n, `[O, Ho·Wo]`
//!             dcol = Wᵀ · δ_n, and dx_n = col2im(dcol)        (scatter-add back to the pixels)
//!
//! which is exactly `conv_reference.rs` (the formulas, with padding, ROT180 and dilation) done
//! as matrix products. `col` is rebuilt in backward rather than kept: it is the largest tensor
//! of the step and rebuilding it is cheap next to the GEMMs.

use super::for_each_chunk;
use crate::gemm::{sgemm, Mat};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    pub h_out: usize,
    pub w_out: usize,
}

impl ConvGeom {
    /// None when the kernel does not fit the padded input or the stride is 0.
    pub fn new(n: usize, c_in: usize, h: usize, w: usize, c_out: usize, k: usize, stride: usize, pad: usize) -> Option<Self> {
        if stride == 0 || k == 0 || h + 2 * pad < k || w + 2 * pad < k {
            return None;
        }
        let h_out = (h + 2 * pad - k) / stride + 1;
        let w_out = (w + 2 * pad - k) / stride + 1;
        Some(ConvGeom { n, c_in, h, w, c_out, k, stride, pad, h_out, w_out })
    }
    pub fn in_len(&self) -> usize {
        self.c_in * self.h * self.w
    }
    pub fn out_len(&self) -> usize {
        self.c_out * self.h_out * self.w_out
    }
    pub fn ckk(&self) -> usize {
        self.c_in * self.k * self.k
    }
    pub fn p(&self) -> usize {
        self.h_out * self.w_out
    }
    /// FLOPs of forward (2·N·O·CKK·P); backward is twice that (dW and dx).
    pub fn forward_flops(&self) -> f64 {
        2.0 * (self.n * self.c_out * self.ckk() * self.p()) as f64
    }
}

/// Outputs `o` whose input `s·o + a − p` lies inside `0..size`: the range `lo..hi`.
fn valid_range(p: usize, a: usize, s: usize, size: usize, out: usize) -> (usize, usize) {
    // s·o + a ≥ p  ⇔  o ≥ ceil((p − a)/s);   s·o + a − p < size  ⇔  o < ceil((size + p − a)/s)
    let lo = if p > a { (p - a).div_ceil(s) } else { 0 };
    let hi = if size + p > a { (size + p - a).div_ceil(s).min(out) } else { 0 };
    (lo.min(hi), hi)
}

/// `col[CKK, P]` of one image `x[C, H, W]`.
pub fn im2col(g: &ConvGeom, x: &[f32], col: &mut [f32]) {
    let (k, s) = (g.k, g.stride);
    let np = g.p();
    for i in 0..g.c_in {
        let xi = &x[i * g.h * g.w..(i + 1) * g.h * g.w];
        for a in 0..k {
            let (xlo, xhi) = valid_range(g.pad, a, s, g.h, g.h_out);
            for b in 0..k {
                let row = &mut col[((i * k + a) * k + b) * np..][..np];
                let (lo, hi) = valid_range(g.pad, b, s, g.w, g.w_out);
                row[..xlo * g.w_out].fill(0.0);
                row[xhi * g.w_out..].fill(0.0);
                if lo >= hi {
                    row.fill(0.0);
                    continue;
                }
                if s == 1 && g.w_out == g.w && xlo < xhi {
                    // Stride 1, same width: rows xlo..xhi are the image shifted by (a−p, b−p),
                    // one copy; then the columns that wrapped around the edge are zeroed.
                    let shift = (a as isize - g.pad as isize) * g.w as isize + b as isize - g.pad as isize;
                    let (d0, d1) = (xlo * g.w, xhi * g.w);
                    let (s0, s1) = ((d0 as isize + shift).max(0) as usize, ((d1 as isize + shift) as usize).min(xi.len()));
                    let d0c = (s0 as isize - shift) as usize;
                    row[d0..d0c].fill(0.0);
                    row[d0c..d0c + (s1 - s0)].copy_from_slice(&xi[s0..s1]);
                    row[d0c + (s1 - s0)..d1].fill(0.0);
                    for xo in xlo..xhi {
                        row[xo * g.w..xo * g.w + lo].fill(0.0);
                        row[xo * g.w + hi..(xo + 1) * g.w].fill(0.0);
                    }
                    continue;
                }
                for xo in xlo..xhi {
                    let xr = s * xo + a - g.pad;
                    let dst = &mut row[xo * g.w_out..(xo + 1) * g.w_out];
                    dst[..lo].fill(0.0);
                    dst[hi..].fill(0.0);
                    // first input column s·lo + b − p ≥ 0
                    let src = &xi[xr * g.w + s * lo + b - g.pad..];
                    if s == 1 {
                        dst[lo..hi].copy_from_slice(&src[..hi - lo]);
                    } else {
                        for (d, v) in dst[lo..hi].iter_mut().zip(src.iter().step_by(s)) {
                            *d = *v;
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of `im2col`: `dx[C, H, W] += scatter(dcol[CKK, P])` (dx must start zeroed).
/// `dcol` is used as scratch (entries that fall in the padding are zeroed).
pub fn col2im(g: &ConvGeom, dcol: &mut [f32], dx: &mut [f32]) {
    let (k, s) = (g.k, g.stride);
    let np = g.p();
    for i in 0..g.c_in {
        let di = &mut dx[i * g.h * g.w..(i + 1) * g.h * g.w];
        for a in 0..k {
            let (xlo, xhi) = valid_range(g.pad, a, s, g.h, g.h_out);
            for b in 0..k {
                let row = &mut dcol[((i * k + a) * k + b) * np..][..np];
                let (lo, hi) = valid_range(g.pad, b, s, g.w, g.w_out);
                if lo >= hi || xlo >= xhi {
                    continue;
                }
                if s == 1 && g.w_out == g.w {
                    // As in im2col: zero the entries that fall in the padding, then one
                    // shifted add of rows xlo..xhi.
                    for xo in xlo..xhi {
                        row[xo * g.w..xo * g.w + lo].fill(0.0);
                        row[xo * g.w + hi..(xo + 1) * g.w].fill(0.0);
                    }
                    let shift = (a as isize - g.pad as isize) * g.w as isize + b as isize - g.pad as isize;
                    let (d0, d1) = ((xlo * g.w) as isize, (xhi * g.w) as isize);
                    let (s0, s1) = ((d0 + shift).max(0), (d1 + shift).min(di.len() as isize));
                    let src = &row[(s0 - shift) as usize..(s1 - shift) as usize];
                    di[s0 as usize..s1 as usize].iter_mut().zip(src).for_each(|(d, v)| *d += v);
                    continue;
                }
                for xo in xlo..xhi {
                    let xr = s * xo + a - g.pad;
                    let src = &row[xo * g.w_out + lo..xo * g.w_out + hi];
                    let dst = &mut di[xr * g.w + s * lo + b - g.pad..];
                    if s == 1 {
                        dst[..hi - lo].iter_mut().zip(src).for_each(|(d, v)| *d += v);
                    } else {
                        dst.iter_mut().step_by(s).zip(src).for_each(|(d, v)| *d += v);
                    }
                }
            }
        }
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with a per-thread scratch buffer of at least `len` floats (contents unspecified).
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < len {
            s.resize(len, 0.0);
        }
        f(&mut s[..len])
    })
}

fn is_pointwise(g: &ConvGeom) -> bool {
    g.k == 1 && g.stride == 1 && g.pad == 0
}

/// y `[N, O, Ho, Wo]` = conv(x `[N, C, H, W]`, w `[O, C, K, K]`) + bias.
pub fn conv2d_forward(g: &ConvGeom, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    let (ckk, np) = (g.ckk(), g.p());
    for_each_chunk(y, g.out_len(), |n, yn| {
        let xn = &x[n * g.in_len()..(n + 1) * g.in_len()];
        let mut run = |col: &[f32]| {
            sgemm(g.c_out, np, ckk, Mat { data: w, rs: ckk, cs: 1 }, Mat { data: col, rs: np, cs: 1 }, yn, np, false)
        };
        if is_pointwise(g) {
            run(xn)
        } else {
            with_scratch(ckk * np, |col| {
                im2col(g, xn, col);
                run(col)
            })
        }
        if let Some(b) = bias {
            for (o, row) in yn.chunks_mut(np).enumerate() {
                row.iter_mut().for_each(|v| *v += b[o]);
            }
        }
    });
}

/// dw `[O, C, K, K]`, db `[O]` and dx `[N, C, H, W]` from dy `[N, O, Ho, Wo]` (all overwritten).
pub fn conv2d_backward(
    g: &ConvGeom,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: Option<&mut [f32]>,
) {
    let (ckk, np) = (g.ckk(), g.p());
    // dx_n = col2im(Wᵀ · δ_n), image by image in parallel.
    if let Some(dx) = dx {
        for_each_chunk(dx, g.in_len(), |n, dxn| {
            let dyn_ = &dy[n * g.out_len()..(n + 1) * g.out_len()];
            dxn.fill(0.0);
            if is_pointwise(g) {
                sgemm(ckk, np, g.c_out, Mat { data: w, rs: 1, cs: ckk }, Mat { data: dyn_, rs: np, cs: 1 }, dxn, np, false);
            } else {
                with_scratch(ckk * np, |dcol| {
                    sgemm(ckk, np, g.c_out, Mat { data: w, rs: 1, cs: ckk }, Mat { data: dyn_, rs: np, cs: 1 }, dcol, np, false);
                    col2im(g, dcol, dxn);
                });
            }
        });
    }
    // dW = Σ_n δ_n · col_nᵀ: each worker sums its share of the images into a partial dW, and
    // the partials are added in a fixed order so the result does not depend on scheduling.
    PARTS.with(|parts| {
        let mut parts = parts.borrow_mut();
        partial_weight_grads(g, x, dy, &mut parts);
        dw.fill(0.0);
        for part in parts.chunks(dw.len()) {
            dw.iter_mut().zip(part).for_each(|(d, p)| *d += p);
        }
    });
    if let Some(db) = db {
        for (o, d) in db.iter_mut().enumerate() {
            *d = (0..g.n).map(|n| dy[n * g.out_len() + o * np..][..np].iter().sum::<f32>()).sum();
        }
    }
}

/// Number of image groups the weight gradient is split into (fixed, so results are
/// reproducible whatever the thread count).
const WGRAD_GROUPS: usize = 4;

thread_local! {
    /// The partial weight gradients' memory, kept between calls.
    static PARTS: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `WGRAD_GROUPS` partial weight gradients, one after the other in `parts`.
fn partial_weight_grads(g: &ConvGeom, x: &[f32], dy: &[f32], parts: &mut Vec<f32>) {
    let (ckk, np) = (g.ckk(), g.p());
    let wlen = g.c_out * ckk;
    let groups = WGRAD_GROUPS.min(g.n.max(1));
    let per = g.n.div_ceil(groups);
    parts.clear();
    parts.resize(groups * wlen, 0.0);
    for_each_chunk(parts, wlen, |gi, part| {
        for n in gi * per..((gi + 1) * per).min(g.n) {
            let xn = &x[n * g.in_len()..(n + 1) * g.in_len()];
            let dyn_ = &dy[n * g.out_len()..(n + 1) * g.out_len()];
            let mut run = |col: &[f32]| {
                sgemm(g.c_out, ckk, np, Mat { data: dyn_, rs: np, cs: 1 }, Mat { data: col, rs: 1, cs: np }, part, ckk, true)
            };
            if is_pointwise(g) {
                run(xn)
            } else {
                with_scratch(ckk * np, |col| {
                    im2col(g, xn, col);
                    run(col)
                })
            }
        }
    });
}

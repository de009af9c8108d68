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
use crate::gemm::{sgemm_lhs, sgemm_nt, Lhs, Mat};

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

/// Zeroes a slice that is usually 0 or 1 long (the padding columns of one output row):
/// stores, not a `memset` call per row.
#[inline(always)]
fn zero_few(s: &mut [f32]) {
    match s.len() {
        0 => {}
        1 => s[0] = 0.0,
        _ => s.fill(0.0),
    }
}

/// `dst[xo, yo] = src[xo + dr, yo + dc]` for `src`, `dst` both `h×w`, 0 outside `src`: one
/// im2col row when the output has the input's size. Rows `xlo..xhi` are `src` shifted by
/// `dr·w + dc`, one copy; then the columns that wrapped around the edge are zeroed.
fn shift_copy(src: &[f32], h: usize, w: usize, dr: isize, dc: isize, dst: &mut [f32]) {
    let (xlo, xhi) = ((-dr).clamp(0, h as isize) as usize, (h as isize - dr).clamp(0, h as isize) as usize);
    let (lo, hi) = ((-dc).clamp(0, w as isize) as usize, (w as isize - dc).clamp(0, w as isize) as usize);
    if xlo >= xhi || lo >= hi {
        dst.fill(0.0);
        return;
    }
    dst[..xlo * w].fill(0.0);
    dst[xhi * w..].fill(0.0);
    let shift = dr * w as isize + dc;
    let (d0, d1) = (xlo * w, xhi * w);
    let (s0, s1) = ((d0 as isize + shift).max(0) as usize, ((d1 as isize + shift) as usize).min(src.len()));
    let d0c = (s0 as isize - shift) as usize;
    dst[d0..d0c].fill(0.0);
    super::copy(&src[s0..s1], &mut dst[d0c..d0c + (s1 - s0)]);
    dst[d0c + (s1 - s0)..d1].fill(0.0);
    if lo > 0 || hi < w {
        for r in dst[d0..d1].chunks_exact_mut(w) {
            zero_few(&mut r[..lo]);
            zero_few(&mut r[hi..]);
        }
    }
}

/// The adjoint of `shift_copy`: `dst[xo + dr, yo + dc] += src[xo, yo]` where inside `dst`
/// (`src` is scratch: its wrapped columns are zeroed).
fn shift_add(src: &mut [f32], h: usize, w: usize, dr: isize, dc: isize, dst: &mut [f32]) {
    let (xlo, xhi) = ((-dr).clamp(0, h as isize) as usize, (h as isize - dr).clamp(0, h as isize) as usize);
    let (lo, hi) = ((-dc).clamp(0, w as isize) as usize, (w as isize - dc).clamp(0, w as isize) as usize);
    if xlo >= xhi || lo >= hi {
        return;
    }
    if lo > 0 || hi < w {
        for r in src[xlo * w..xhi * w].chunks_exact_mut(w) {
            zero_few(&mut r[..lo]);
            zero_few(&mut r[hi..]);
        }
    }
    let shift = dr * w as isize + dc;
    let (d0, d1) = ((xlo * w) as isize, (xhi * w) as isize);
    let (s0, s1) = ((d0 + shift).max(0), (d1 + shift).min(dst.len() as isize));
    let src = &src[(s0 - shift) as usize..(s1 - shift) as usize];
    dst[s0 as usize..s1 as usize].iter_mut().zip(src).for_each(|(d, v)| *d += v);
}

/// For a stride `s` whose output is the input's size divided by `s` (rounded up) — every
/// "same" conv, and the stride-2 convs of the ResNet — the size `(hp, wp)` of the
/// space-to-depth planes: plane `(φr, φc)` of channel `i` holds `x[i, s·r + φr, s·c + φc]`
/// (0 past the edge). Output `(xo, yo)` of kernel tap `(a, b)` then reads plane
/// `((a−p) mod s, (b−p) mod s)` at `(xo + ⌊(a−p)/s⌋, yo + ⌊(b−p)/s⌋)`: every im2col row is one
/// `shift_copy` of a plane, and stride 1 needs no planes at all (the image is its own plane).
fn plane_dims(g: &ConvGeom) -> Option<(usize, usize)> {
    // (A 1×1 kernel with stride s reads one plane of s²: the row-by-row path is cheaper.)
    let (hp, wp) = (g.h.div_ceil(g.stride), g.w.div_ceil(g.stride));
    (g.h_out == hp && g.w_out == wp && g.k >= g.stride).then_some((hp, wp))
}

/// For each kernel offset `a` in `0..K`: the phase `(a−p) mod s` and the shift `⌊(a−p)/s⌋`
/// (see `plane_dims`); the same table serves rows and columns.
fn taps(g: &ConvGeom) -> Vec<(usize, isize)> {
    let s = g.stride as isize;
    (0..g.k).map(|a| {
        let ar = a as isize - g.pad as isize;
        (ar.rem_euclid(s) as usize, ar.div_euclid(s))
    }).collect()
}

/// Calls `f(plane, dr, dc, row)` for every im2col row `(i·K + a)·K + b` of `col`: the
/// space-to-depth plane that kernel tap `(a, b)` of channel `i` reads, and its shift.
fn for_each_tap(g: &ConvGeom, col: &mut [f32], mut f: impl FnMut(usize, isize, isize, &mut [f32])) {
    let s = g.stride;
    let t = taps(g);
    let mut rows = col.chunks_exact_mut(g.p());
    for i in 0..g.c_in {
        for &(pr, dr) in &t {
            for &(pc, dc) in &t {
                let row = rows.next().expect("col has C·K·K rows");
                f((i * s + pr) * s + pc, dr, dc, row);
            }
        }
    }
}

/// `planes[C·s·s, hp, wp]` of `x[C, H, W]` (see `plane_dims`).
fn space_to_depth(g: &ConvGeom, x: &[f32], (hp, wp): (usize, usize), planes: &mut [f32]) {
    let s = g.stride;
    if !g.h.is_multiple_of(s) || !g.w.is_multiple_of(s) {
        planes.fill(0.0);
    }
    for i in 0..g.c_in {
        for r in 0..g.h {
            let src = &x[(i * g.h + r) * g.w..][..g.w];
            let base = (i * s + r % s) * s;
            if s == 2 && g.w >= 2 {
                // the even and the odd columns in one pass over pairs (which vectorises as
                // shuffles; the general loop below reads one value per step)
                let (even, odd) = planes[(base * hp + r / 2) * wp..].split_at_mut(hp * wp);
                let (even, odd) = (&mut even[..g.w.div_ceil(2)], &mut odd[..g.w / 2]);
                for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(src.chunks_exact(2)) {
                    (*e, *o) = (pair[0], pair[1]);
                }
                if g.w % 2 == 1 {
                    even[g.w / 2] = src[g.w - 1];
                }
                continue;
            }
            for pc in 0..s.min(g.w) {
                let dst = &mut planes[((base + pc) * hp + r / s) * wp..][..(g.w - pc).div_ceil(s)];
                dst.iter_mut().zip(src[pc..].iter().step_by(s)).for_each(|(d, v)| *d = *v);
            }
        }
    }
}

/// The adjoint of `space_to_depth`: `dx[C, H, W] += planes`.
fn depth_to_space_add(g: &ConvGeom, planes: &[f32], (hp, wp): (usize, usize), dx: &mut [f32]) {
    let s = g.stride;
    for i in 0..g.c_in {
        for r in 0..g.h {
            let dst = &mut dx[(i * g.h + r) * g.w..][..g.w];
            let base = (i * s + r % s) * s;
            if s == 2 && g.w >= 2 {
                // (pairs, as `space_to_depth`)
                let (even, odd) = planes[(base * hp + r / 2) * wp..].split_at(hp * wp);
                for ((pair, e), o) in dst.chunks_exact_mut(2).zip(even).zip(odd) {
                    pair[0] += e;
                    pair[1] += o;
                }
                if g.w % 2 == 1 {
                    dst[g.w - 1] += even[g.w / 2];
                }
                continue;
            }
            for pc in 0..s.min(g.w) {
                let src = &planes[((base + pc) * hp + r / s) * wp..][..(g.w - pc).div_ceil(s)];
                dst[pc..].iter_mut().step_by(s).zip(src).for_each(|(d, v)| *d += v);
            }
        }
    }
}

thread_local! {
    /// The space-to-depth planes of one image, kept between calls.
    static PLANES: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on the planes of image `x` (the image itself when the stride is 1).
fn with_planes<R>(g: &ConvGeom, x: &[f32], dims: (usize, usize), f: impl FnOnce(&[f32]) -> R) -> R {
    if g.stride == 1 {
        return f(x);
    }
    PLANES.with(|p| {
        let mut p = p.borrow_mut();
        p.resize(g.c_in * g.stride * g.stride * dims.0 * dims.1, 0.0);
        space_to_depth(g, x, dims, &mut p);
        f(&p)
    })
}

/// `col[CKK, P]` of one image `x[C, H, W]`.
pub fn im2col(g: &ConvGeom, x: &[f32], col: &mut [f32]) {
    let (k, s) = (g.k, g.stride);
    let np = g.p();
    if let Some(dims) = plane_dims(g) {
        let plane_len = dims.0 * dims.1;
        return with_planes(g, x, dims, |planes| {
            for_each_tap(g, col, |plane, dr, dc, row| shift_copy(&planes[plane * plane_len..][..plane_len], dims.0, dims.1, dr, dc, row));
        });
    }
    // Any other shape: row by row.
    for i in 0..g.c_in {
        let xi = &x[i * g.h * g.w..(i + 1) * g.h * g.w];
        for a in 0..k {
            let (xlo, xhi) = valid_range(g.pad, a, s, g.h, g.h_out);
            for b in 0..k {
                let row = &mut col[((i * k + a) * k + b) * np..][..np];
                let (lo, hi) = valid_range(g.pad, b, s, g.w, g.w_out);
                if lo >= hi || xlo >= xhi {
                    row.fill(0.0);
                    continue;
                }
                row[..xlo * g.w_out].fill(0.0);
                row[xhi * g.w_out..].fill(0.0);
                for xo in xlo..xhi {
                    let xr = s * xo + a - g.pad;
                    let dst = &mut row[xo * g.w_out..(xo + 1) * g.w_out];
                    zero_few(&mut dst[..lo]);
                    zero_few(&mut dst[hi..]);
                    // first input column s·lo + b − p ≥ 0
                    let src = &xi[xr * g.w + s * lo + b - g.pad..];
                    if s == 1 {
                        super::copy(&src[..hi - lo], &mut dst[lo..hi]);
                    } else {
                        dst[lo..hi].iter_mut().zip(src.iter().step_by(s)).for_each(|(d, v)| *d = *v);
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
    if let Some(dims) = plane_dims(g) {
        let plane_len = dims.0 * dims.1;
        let mut scatter = |planes: &mut [f32]| {
            for_each_tap(g, dcol, |plane, dr, dc, row| shift_add(row, dims.0, dims.1, dr, dc, &mut planes[plane * plane_len..][..plane_len]));
        };
        if s == 1 {
            return scatter(dx);
        }
        return PLANES.with(|p| {
            let mut p = p.borrow_mut();
            p.clear();
            p.resize(g.c_in * s * s * plane_len, 0.0);
            scatter(&mut p);
            depth_to_space_add(g, &p, dims, dx);
        });
    }
    // Any other shape: row by row.
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

/// Whether a conv's forward (and so a stride-1 conv's input gradient, which runs as a forward
/// conv of δ) runs as `conv2d_forward_implicit` in the browser, unless `winograd` takes it
/// (there, the first stage's 3×3 convs; this leaves `conv1`): stride 1, a
/// kernel larger than 1×1, and a padded row at most 10 % wider than the output's (the extra
/// columns are computed and dropped: 30 for 28 in the ResNet's first stage; not its 14×14 or
/// 7×7 stages, where they would be 14 % and 29 %).
pub fn implicit(g: &ConvGeom) -> bool {
    g.stride == 1 && g.k > 1 && 10 * (g.w + 2 * g.pad) <= 11 * g.w_out
}

/// The forward of a stride-1 conv as an *implicit* im2col: each image padded once
/// (`xp[C, H+2p, W+2p]`), and the GEMM reads row `(i, a, b)` of col in place as `xp` shifted
/// by `(i·(H+2p) + a)·(W+2p) + b`, over the output's rows taken `W+2p` wide (the `2p` extra
/// columns of each read across the padding and are dropped). No `[C·K·K, P]` copy: for the
/// first stage that copy was 450 KB an image, the GEMM's operand ≈ 60 KB now.
pub fn conv2d_forward_implicit(g: &ConvGeom, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    for_each_chunk(y, g.out_len(), implicit_images(*g, x, w, bias));
}

/// `conv2d_forward_implicit` one image at a time (`Images`): the offsets and the packed
/// weights made here, once.
fn implicit_images<'a>(g: ConvGeom, x: &'a [f32], w: &[f32], bias: Option<&'a [f32]>) -> Images<'a> {
    use crate::gemm::packed::{pack_a, sgemm_packed_a_rows, NR};
    assert!(g.stride == 1, "an implicit im2col reads stride-1 rows");
    let (hp, wp, p) = (g.h + 2 * g.pad, g.w + 2 * g.pad, g.pad);
    let wide = (g.h_out * wp).next_multiple_of(NR); // the output's rows, `wp` wide, in whole panels
    let offs: Vec<usize> = (0..g.c_in).flat_map(|i| (0..g.k).flat_map(move |a| (0..g.k).map(move |b| (i * hp + a) * wp + b))).collect();
    let len = offs.last().map_or(0, |o| o + wide).max(g.c_in * hp * wp);
    let pa = pack_a(g.c_out, g.ckk(), &Mat { data: w, rs: g.ckk(), cs: 1 });
    Box::new(move |n, yn| {
        let g = &g;
        let xn = &x[n * g.in_len()..(n + 1) * g.in_len()];
        with_scratch(len + g.c_out * wide, |buf| {
            let (xp, out) = buf.split_at_mut(len);
            xp.fill(0.0);
            for (ir, src) in xn.chunks_exact(g.w).enumerate() {
                let (i, r) = (ir / g.h, ir % g.h);
                super::copy(src, &mut xp[(i * hp + r + p) * wp + p..][..g.w]);
            }
            sgemm_packed_a_rows(g.c_out, wide, &pa, xp, &offs, out, wide);
            for (or, dst) in yn.chunks_exact_mut(g.w_out).enumerate() {
                let (o, r) = (or / g.h_out, or % g.h_out);
                super::copy(&out[o * wide + r * wp..][..g.w_out], dst);
            }
        });
        add_bias(g, bias, yn);
    })
}

/// `conv2d_forward_implicit` against the reference conv (f64) on shapes that reach its edges
/// (one channel, 28×28 as the first stage, odd sizes, kernels 1 to 5, paddings 0 to 2, a last
/// panel past the output, a partial row panel, bias): each output's error against
/// max(1, Σ|terms|). Run natively by the engine's tests and in Chromium by the wasm tests.
pub fn check_implicit_against_reference() -> Result<(), String> {
    let shapes = [(2, 1, 28, 28, 16, 3, 1), (2, 16, 28, 28, 16, 3, 1), (1, 3, 9, 11, 5, 3, 1), (1, 4, 7, 6, 3, 5, 2), (2, 5, 12, 10, 6, 2, 0), (1, 2, 6, 6, 7, 3, 0), (1, 6, 20, 21, 9, 3, 1), (1, 1, 5, 5, 1, 1, 0)];
    for (n, c, h, w, o, k, p) in shapes {
        check_forward_on(&ConvGeom::new(n, c, h, w, o, k, 1, p).ok_or("a shape that does not fit")?, conv2d_forward_implicit)?;
    }
    Ok(())
}

/// A fast forward (`forward(g, x, w, bias, y)`) against the reference conv (f64) on one shape,
/// with a bias and fixed inputs of size ≈ 1: each output's error against max(1, Σ|terms|)
/// must stay under 1e-5. The checks of the browser's forwards (`check_implicit_against_reference`,
/// `winograd::check_against_reference`) run it on their shapes.
pub(crate) fn check_forward_on(g: &ConvGeom, forward: impl Fn(&ConvGeom, &[f32], &[f32], Option<&[f32]>, &mut [f32])) -> Result<(), String> {
    let x: Vec<f32> = (0..g.n * g.in_len()).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
    let wt: Vec<f32> = (0..g.c_out * g.ckk()).map(|i| ((i * 53 % 97) as f32 - 48.0) / 30.0).collect();
    let b: Vec<f32> = (0..g.c_out).map(|i| i as f32 * 0.25 - 1.0).collect();
    let mut y = vec![7.0f32; g.n * g.out_len()];
    forward(g, &x, &wt, Some(&b), &mut y);
    let f = |v: &[f32], abs: bool| v.iter().map(|&t| if abs { (t as f64).abs() } else { t as f64 }).collect::<Vec<f64>>();
    let (mut want, mut size) = (vec![0.0; y.len()], vec![0.0; y.len()]);
    super::conv_reference::conv2d_forward(g, &f(&x, false), &f(&wt, false), Some(&f(&b, false)), &mut want);
    super::conv_reference::conv2d_forward(g, &f(&x, true), &f(&wt, true), Some(&f(&b, true)), &mut size);
    for (j, ((&got, &want), &size)) in y.iter().zip(&want).zip(&size).enumerate() {
        if (got as f64 - want).abs() > 1e-5 * size.max(1.0) {
            return Err(format!("{g:?}: y[{j}] = {got}, want {want}"));
        }
    }
    Ok(())
}

/// `conv2d_backward` against the reference conv's backward (f64) on shapes that take each of
/// its paths: the input gradient as a forward with the kernels rotated (in the browser
/// Winograd's, reading them in place: the ResNet's three stages), col2im (stride 2, the 1×1
/// projection, `conv1`'s one input channel), no dx (`conv1` in the model), odd sizes, and
/// batches that leave a weight-gradient group short or empty (3 and 5 images in 4 groups).
/// dx, dw and db start as NaN, so a value left unwritten, or added to rather than written,
/// fails; each value's error against max(1, Σ|terms|) must stay under 1e-5. Run natively by the
/// engine's tests and in Chromium by the wasm tests (there in parallel: the weight-gradient
/// groups and dx's images in one loop).
pub fn check_backward_against_reference() -> Result<(), String> {
    // (n, c, h, w, o, k, stride, pad, dx)
    let shapes = [
        (2, 16, 28, 28, 16, 3, 1, 1, true),
        (3, 32, 14, 14, 32, 3, 1, 1, true),
        (5, 64, 7, 7, 64, 3, 1, 1, true),
        (2, 16, 28, 28, 32, 3, 2, 1, true),
        (3, 16, 28, 28, 32, 1, 2, 0, true),
        (2, 1, 28, 28, 16, 3, 1, 1, false),
        (2, 1, 9, 8, 5, 3, 1, 1, true),
        (1, 9, 5, 7, 10, 3, 1, 1, true),
        (3, 8, 6, 5, 11, 2, 1, 0, true),
    ];
    for (n, c, h, w, o, k, s, p, with_dx) in shapes {
        let g = ConvGeom::new(n, c, h, w, o, k, s, p).ok_or("a shape that does not fit")?;
        let x: Vec<f32> = (0..g.n * g.in_len()).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
        let wt: Vec<f32> = (0..g.c_out * g.ckk()).map(|i| ((i * 53 % 97) as f32 - 48.0) / 30.0).collect();
        let dy: Vec<f32> = (0..g.n * g.out_len()).map(|i| ((i * 29 % 89) as f32 - 44.0) / 40.0).collect();
        let (mut dx, mut dw, mut db) = (vec![f32::NAN; x.len()], vec![f32::NAN; wt.len()], vec![f32::NAN; g.c_out]);
        conv2d_backward(&g, &x, &wt, &dy, with_dx.then_some(&mut dx[..]), &mut dw, Some(&mut db));
        let f = |v: &[f32], abs: bool| v.iter().map(|&t| if abs { (t as f64).abs() } else { t as f64 }).collect::<Vec<f64>>();
        let reference = |abs: bool| {
            let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; wt.len()], vec![0.0; g.c_out]);
            super::conv_reference::conv2d_backward(&g, &f(&x, abs), &f(&wt, abs), &f(&dy, abs), Some(&mut dx), &mut dw, Some(&mut db));
            [dx, dw, db]
        };
        let ([want_dx, want_dw, want_db], [size_dx, size_dw, size_db]) = (reference(false), reference(true));
        let mut outputs = vec![("dw", &dw, want_dw, size_dw), ("db", &db, want_db, size_db)];
        if with_dx {
            outputs.push(("dx", &dx, want_dx, size_dx));
        }
        for (name, got, want, size) in outputs {
            for (j, ((&got, &want), &size)) in got.iter().zip(&want).zip(&size).enumerate() {
                if got.is_nan() || (got as f64 - want).abs() > 1e-5 * size.max(1.0) {
                    return Err(format!("{g:?}: {name}[{j}] = {got}, want {want}"));
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn add_bias(g: &ConvGeom, bias: Option<&[f32]>, yn: &mut [f32]) {
    if let Some(b) = bias {
        for (o, row) in yn.chunks_mut(g.p()).enumerate() {
            row.iter_mut().for_each(|v| *v += b[o]);
        }
    }
}

/// y `[N, O, Ho, Wo]` = conv(x `[N, C, H, W]`, w `[O, C, K, K]`) + bias.
pub fn conv2d_forward(g: &ConvGeom, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    for_each_chunk(y, g.out_len(), forward_images(*g, x, w, bias));
}

/// A conv's forward one image at a time: `image(n, yn)` writes image n's output `yn`
/// `[O, Ho, Wo]`, the weights prepared once (packed, or transformed) for all images. (So that
/// a pass can share one parallel loop with other work: `conv2d_backward`.)
pub(crate) type Images<'a> = Box<dyn Fn(usize, &mut [f32]) + Sync + Send + 'a>;

/// Whether `conv2d_forward` runs conv `g` as Winograd's (F(4×4, 3×3) or F(2×2, 3×3):
/// `winograd::images_for`): in the browser, where it `applies`; natively its products would
/// run in the packed GEMM's scalar kernel, so there the gemm crate's im2col products stay.
fn runs_winograd(g: &ConvGeom) -> bool {
    cfg!(target_arch = "wasm32") && super::winograd::applies(g)
}

/// `conv2d_forward`'s images: Winograd's, the implicit im2col's or im2col and the GEMM's.
fn forward_images<'a>(g: ConvGeom, x: &'a [f32], w: &'a [f32], bias: Option<&'a [f32]>) -> Images<'a> {
    if runs_winograd(&g) {
        return super::winograd::images_for(g, x, super::winograd::Kernels::Given(w), bias);
    }
    // (in the browser; natively the gemm crate's packing does what the implicit im2col saves)
    #[cfg(target_arch = "wasm32")]
    if implicit(&g) {
        return implicit_images(g, x, w, bias);
    }
    let (ckk, np) = (g.ckk(), g.p());
    let w = Lhs::new(g.c_out, ckk, Mat { data: w, rs: ckk, cs: 1 }); // W `[O, CKK]`, prepared once for all images
    Box::new(move |n, yn| {
        let g = &g;
        let xn = &x[n * g.in_len()..(n + 1) * g.in_len()];
        let run = |col: &[f32], yn: &mut [f32]| sgemm_lhs(&w, np, Mat { data: col, rs: np, cs: 1 }, yn, np, false);
        if is_pointwise(g) {
            run(xn, yn)
        } else {
            with_scratch(ckk * np, |col| {
                im2col(g, xn, col);
                run(col, yn)
            })
        }
        add_bias(g, bias, yn);
    })
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
    // A stride-1 conv's input gradient is itself a conv (the notes' δ^{l+1} ⊛ ROT180(w)): of δ
    // padded by K−1−p, with the kernel rotated by 180° and its channels swapped. Run as the
    // forward, its GEMM sums over O·K·K (not O) and gathers (im2col) instead of scattering
    // (col2im): the 3×3 convs' backward ≈ 1.6× faster in the browser (README, profile note).
    // Its GEMM has C rows: fewer than the kernel's 4 (conv1's one channel) would waste most of it.
    let rotated = dx.is_some() && g.stride == 1 && g.k > 1 && g.pad < g.k && g.c_in >= crate::gemm::packed::MR;
    let gt = rotated.then(|| ConvGeom::new(g.n, g.c_out, g.h_out, g.w_out, g.c_in, g.k, 1, g.k - 1 - g.pad).expect("δ padded by K−1−p holds the kernel"));
    // (in the browser Winograd reads the rotated kernels in place; the other forwards take a copy)
    let winograd = gt.is_some_and(|gt| runs_winograd(&gt));
    let w_rot = if rotated && !winograd { rot180_swapped(g, w) } else { vec![] };
    // dx one image at a time
    let dx_image: Option<Images> = match (&dx, gt) {
        (None, _) => None,
        (Some(_), Some(gt)) if winograd => Some(super::winograd::images_for(gt, dy, super::winograd::Kernels::Rot180Swapped(w), None)),
        (Some(_), Some(gt)) => {
            debug_assert_eq!((gt.h_out, gt.w_out), (g.h, g.w));
            Some(forward_images(gt, dy, &w_rot, None))
        }
        // dx_n = col2im(Wᵀ · δ_n)
        (Some(_), None) => {
            let wt = Lhs::new(ckk, g.c_out, Mat { data: w, rs: 1, cs: ckk }); // Wᵀ `[CKK, O]`, once for all images
            Some(Box::new(move |n, dxn: &mut [f32]| {
                let dyn_ = &dy[n * g.out_len()..(n + 1) * g.out_len()];
                dxn.fill(0.0);
                if is_pointwise(g) {
                    sgemm_lhs(&wt, np, Mat { data: dyn_, rs: np, cs: 1 }, dxn, np, false);
                } else {
                    with_scratch(ckk * np, |dcol| {
                        sgemm_lhs(&wt, np, Mat { data: dyn_, rs: np, cs: 1 }, dcol, np, false);
                        col2im(g, dcol, dxn);
                    });
                }
            }))
        }
    };
    // dW = Σ_n δ_n · col_nᵀ: each of `WGRAD_GROUPS` items sums its group of images into a
    // partial dW, and the partials are added in a fixed order so the result does not depend
    // on scheduling (in parallel over pieces of dW: each value is 0 + part₀ + part₁ + … all
    // the same). The groups and dx's images share one parallel loop, the groups (the longer
    // items) first, so that the images even out the threads' ends.
    // (The memory is taken out of the thread-local rather than borrowed: while this thread
    // waits inside the parallel loop it may run another pass's conv backward.)
    let mut parts = PARTS.take();
    let (group, wlen) = weight_grad_groups(g, x, dy, &mut parts);
    match (dx, dx_image) {
        (Some(dx), Some(image)) => super::for_each_chunk_then(&mut parts, wlen, group, dx, g.in_len(), image),
        _ => for_each_chunk(&mut parts, wlen, group),
    }
    let len = dw.len();
    const PIECE: usize = 1 << 12;
    for_each_chunk(dw, PIECE, |i, piece| {
        piece.fill(0.0);
        for part in parts.chunks(len) {
            piece.iter_mut().zip(&part[i * PIECE..]).for_each(|(d, p)| *d += p);
        }
    });
    PARTS.set(parts);
    if let Some(db) = db {
        for (o, d) in db.iter_mut().enumerate() {
            *d = (0..g.n).map(|n| dy[n * g.out_len() + o * np..][..np].iter().sum::<f32>()).sum();
        }
    }
}

/// `w̃[c, o, a, b] = w[o, c, K−1−a, K−1−b]`: the kernel of the conv that is a stride-1 conv's
/// input gradient (`[C, O, K, K]` from `[O, C, K, K]`): `conv_reference::rot180` of each
/// kernel, laid out with the channels swapped (one pass, no allocation per kernel).
pub(crate) fn rot180_swapped(g: &ConvGeom, w: &[f32]) -> Vec<f32> {
    let (o_n, c_n, k) = (g.c_out, g.c_in, g.k);
    let mut wt = vec![0.0; w.len()];
    for o in 0..o_n {
        for c in 0..c_n {
            for a in 0..k {
                for b in 0..k {
                    wt[((c * o_n + o) * k + a) * k + b] = w[((o * c_n + c) * k + (k - 1 - a)) * k + (k - 1 - b)];
                }
            }
        }
    }
    wt
}

/// Number of image groups the weight gradient is split into (fixed, so results are
/// reproducible whatever the thread count).
const WGRAD_GROUPS: usize = 4;

thread_local! {
    /// The partial weight gradients' memory, kept between calls.
    static PARTS: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// `WGRAD_GROUPS` partial weight gradients, one after the other in `parts` (sized here): the
/// item `group(gi, part)` that writes group gi's, and the length of one.
fn weight_grad_groups<'a>(g: &'a ConvGeom, x: &'a [f32], dy: &'a [f32], parts: &mut Vec<f32>) -> (impl Fn(usize, &mut [f32]) + Sync + Send + 'a, usize) {
    let (ckk, np) = (g.ckk(), g.p());
    let wlen = g.c_out * ckk;
    let groups = WGRAD_GROUPS.min(g.n.max(1));
    let per = g.n.div_ceil(groups);
    parts.resize(groups * wlen, 0.0);
    let group = move |gi: usize, part: &mut [f32]| {
        part.fill(0.0); // (here, in parallel, rather than by the resize; a group may have no images)
        for n in gi * per..((gi + 1) * per).min(g.n) {
            let xn = &x[n * g.in_len()..(n + 1) * g.in_len()];
            let dyn_ = &dy[n * g.out_len()..(n + 1) * g.out_len()];
            // δ_n `[O, P]` · col_nᵀ: both sum over the pixels, contiguous in each
            let mut run = |col: &[f32]| sgemm_nt(g.c_out, ckk, np, dyn_, np, col, np, part, ckk, true);
            if is_pointwise(g) {
                run(xn)
            } else {
                with_scratch(ckk * np, |col| {
                    im2col(g, xn, col);
                    run(col)
                })
            }
        }
    };
    (group, wlen)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which convs take the implicit im2col in the browser: the first stage's 3×3 convs and
    /// `conv1` (28 wide, 30 computed); not the 14×14 and 7×7 stages (16 for 14, 9 for 7),
    /// strided convs or 1×1 kernels.
    #[test]
    fn the_first_stage_takes_the_implicit_im2col() {
        let g = |c, h, k, s, p| ConvGeom::new(2, c, h, h, 16, k, s, p).unwrap();
        assert!(implicit(&g(16, 28, 3, 1, 1)) && implicit(&g(1, 28, 3, 1, 1)));
        assert!(!implicit(&g(32, 14, 3, 1, 1)) && !implicit(&g(64, 7, 3, 1, 1)));
        assert!(!implicit(&g(16, 28, 3, 2, 1)) && !implicit(&g(16, 28, 1, 1, 0)));
    }

    #[test]
    fn implicit_im2col_matches_the_reference() {
        check_implicit_against_reference().unwrap();
    }

    /// (Each loop a pass of its own on the global pool, then the whole check as one pass of a
    /// pool of two.)
    #[test]
    fn backward_matches_the_reference() {
        check_backward_against_reference().unwrap();
        #[cfg(feature = "parallel")]
        rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap().install(|| super::super::in_pool(check_backward_against_reference)).unwrap();
    }

    /// im2col and col2im against their definitions, on shapes that take the space-to-depth path
    /// (stride 1 "same", the ResNet's stride-2 convs, odd sizes) and shapes that do not.
    #[test]
    fn im2col_and_col2im_match_their_definitions() {
        let shapes = [(16, 28, 3, 1, 1), (16, 28, 3, 2, 1), (32, 14, 3, 2, 1), (16, 28, 1, 2, 0), (2, 7, 3, 2, 1), (2, 9, 5, 3, 2), (3, 8, 4, 2, 1), (2, 6, 3, 1, 0), (1, 5, 2, 2, 1)];
        let mut took_planes = 0;
        for g in shapes.iter().flat_map(|&(c, h, k, s, p)| [h, h + 1].map(|w| ConvGeom::new(1, c, h, w, 3, k, s, p).unwrap())) {
            took_planes += plane_dims(&g).is_some() as usize;
            let x: Vec<f32> = (0..g.in_len()).map(|v| (v as f32 * 0.61).sin()).collect();
            let pixel = |i: usize, a: usize, b: usize, xo: usize, yo: usize| {
                let (r, q) = ((g.stride * xo + a) as isize - g.pad as isize, (g.stride * yo + b) as isize - g.pad as isize);
                (r >= 0 && q >= 0 && (r as usize) < g.h && (q as usize) < g.w).then(|| (i * g.h + r as usize) * g.w + q as usize)
            };
            let mut col = vec![7.0f32; g.ckk() * g.p()];
            im2col(&g, &x, &mut col);
            let dcol: Vec<f32> = (0..col.len()).map(|v| (v as f32 * 0.37).cos()).collect();
            let mut want_dx = vec![0.0f32; g.in_len()];
            for i in 0..g.c_in {
                for a in 0..g.k {
                    for b in 0..g.k {
                        for xo in 0..g.h_out {
                            for yo in 0..g.w_out {
                                let at = ((i * g.k + a) * g.k + b) * g.p() + xo * g.w_out + yo;
                                let want = pixel(i, a, b, xo, yo).map_or(0.0, |j| x[j]);
                                assert_eq!(col[at], want, "{g:?} col[{i},{a},{b},{xo},{yo}]");
                                if let Some(j) = pixel(i, a, b, xo, yo) {
                                    want_dx[j] += dcol[at];
                                }
                            }
                        }
                    }
                }
            }
            let mut dx = vec![0.0f32; g.in_len()];
            col2im(&g, &mut dcol.clone(), &mut dx);
            for (j, (got, want)) in dx.iter().zip(&want_dx).enumerate() {
                assert!((got - want).abs() <= 1e-5 * (1.0 + want.abs()), "{g:?} dx[{j}] = {got}, want {want}");
            }
        }
        assert!(took_planes >= 8, "only {took_planes} shapes took the space-to-depth path");
    }
}

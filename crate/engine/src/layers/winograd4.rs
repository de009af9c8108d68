//! A 3×3, stride-1, padding-1 conv as Winograd's F(4×4, 3×3) (Lavin & Gray 2015): each 4×4
//! block of outputs from a 6×6 block of the padded input with 36 products per channel pair
//! instead of 144 (F(2×2, 3×3), `winograd`, takes 16 for 36). Shapes as `winograd`'s, with
//! tiles `TH = ⌈H/4⌉ × TW = ⌈W/4⌉`; tile t = ty·TW4 + u, where `TW4` is TW rounded up to 4
//! (the tiles past TW read zeros and their outputs are dropped). With
//!
//!   Bᵀ = [4  0 −5  0 1 0]   G = [ ¼     0    0 ]   Aᵀ = [1 1  1 1  1 0]
//!        [0 −4 −4  1 1 0]       [−⅙   −⅙   −⅙ ]        [0 1 −1 2 −2 0]
//!        [0  4 −4 −1 1 0]       [−⅙    ⅙   −⅙ ]        [0 1  1 4  4 0]
//!        [0 −2 −1  2 1 0]       [1/24 1/12  ⅙ ]        [0 1 −1 8 −8 1]
//!        [0  2 −1 −2 1 0]       [1/24 −1/12 ⅙ ]
//!        [0  4  0 −5 0 1]       [ 0     0    1 ]
//!
//! and d the 6×6 input block of tile t in channel c (rows 4ty−1 … 4ty+4, 0 outside x), g the
//! kernel w[o, c]:
//!
//!   U_ξ[o, c] = (G g Gᵀ)_ξ        V_ξ[c, t] = (Bᵀ d B)_ξ        ξ = 6i + j ∈ 0…35
//!   M_ξ = U_ξ · V_ξ               (36 GEMMs `[O, C] · [C, T]`: the engine's packed GEMM)
//!   y[o, 4ty + r, 4tx + s] = (Aᵀ m A)_{rs},  m_ξ = M_ξ[o, t]
//!
//! which is the conv exactly in real numbers; in f32 the transforms' larger coefficients give
//! a larger rounding error than F(2×2, 3×3)'s, compared with the reference conv's f64 by
//! `check_against_reference` (U is computed in f64 and rounded once).
//!
//! One image at a time (images in parallel): pad it, then for each channel and tile row Bᵀ
//! down the six rows (`down6`, whole padded rows) and across (`across6`, a 4×4 transpose of
//! the row's values), the 36 products, and Aᵀ·A tile by tile into y (`out_tiles`); in wasm
//! each step on simd128 lanes of 4 columns or 4 tiles. Convs on large planes take it
//! (`takes`); the others F(2×2, 3×3).

use super::conv::ConvGeom;
use super::winograd::Kernels;
use crate::gemm::packed::sgemm_packed_a;
use crate::gemm::Mat;

/// (G g Gᵀ)_ξ, ξ = 6i + j, of one 3×3 kernel g (row-major), computed in f64 and rounded once.
fn transform_kernel(k: &[f32; 9]) -> [f32; 36] {
    // G·(a, b, c) as G's rows give it
    let g = |a: f64, b: f64, c: f64| [a / 4.0, -(a + b + c) / 6.0, -(a - b + c) / 6.0, (a / 4.0 + b / 2.0 + c) / 6.0, (a / 4.0 - b / 2.0 + c) / 6.0, c];
    let k = k.map(f64::from);
    // t = G g (6×3): G down each column of g; then u = t Gᵀ: G along each row of t
    let cols: [[f64; 6]; 3] = std::array::from_fn(|b| g(k[b], k[3 + b], k[6 + b]));
    let mut u = [0.0f32; 36];
    for i in 0..6 {
        let row = g(cols[0][i], cols[1][i], cols[2][i]);
        for j in 0..6 {
            u[6 * i + j] = row[j] as f32;
        }
    }
    u
}

/// The tiles: (TH, TW4).
fn tiles(g: &ConvGeom) -> (usize, usize) {
    (g.h_out.div_ceil(4), g.w_out.div_ceil(4).next_multiple_of(4))
}

/// The columns of V's and M's planes: T = TH·TW4 rounded up to the GEMM's panel width
/// (`winograd::row_stride`).
fn row_stride(g: &ConvGeom) -> usize {
    let (th, tw4) = tiles(g);
    super::winograd::row_stride(th * tw4)
}

/// Whether `winograd::images_for` runs conv `g` (one that `winograd::applies`) as F(4×4, 3×3):
/// when its products have at least 32 columns (T = TH·TW4, four of the GEMM's panels of 8): the
/// ResNet's 28×28 stage (T = 56), not the 14×14 (16) or 7×7 (8) ones. Measured in the SIMD-only
/// build (`bench/pair.mjs`, README): on the 28×28 stage it beats F(2×2, 3×3), but on the 14×14
/// one, where its 36 products are each two panels wide (against F(2×2)'s 16 of seven), it is
/// slower, though it computes fewer values (36·16 against 16·56 a channel pair).
pub(crate) fn takes(g: &ConvGeom) -> bool {
    let (th, tw4) = tiles(g);
    th * tw4 >= 32
}

/// The padded row's length: 4·TW4 + 4 (what `across6` reads of tiles TW4 − 4 … TW4 − 1).
fn padded_len(tw4: usize) -> usize {
    4 * tw4 + 4
}

/// What the transforms compute on: one f32, or four in simd128 lanes (in wasm).
trait Lanes: Copy {
    fn add(self, b: Self) -> Self;
    fn sub(self, b: Self) -> Self;
    /// c·self + y: one fused multiply-add with relaxed SIMD (`gemm::madd`), else a multiply
    /// and an add.
    fn madd(self, c: f32, y: Self) -> Self;
}

impl Lanes for f32 {
    fn add(self, b: Self) -> Self {
        self + b
    }
    fn sub(self, b: Self) -> Self {
        self - b
    }
    fn madd(self, c: f32, y: Self) -> Self {
        c * self + y
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
impl Lanes for core::arch::wasm32::v128 {
    #[inline(always)]
    fn add(self, b: Self) -> Self {
        core::arch::wasm32::f32x4_add(self, b)
    }
    #[inline(always)]
    fn sub(self, b: Self) -> Self {
        core::arch::wasm32::f32x4_sub(self, b)
    }
    #[inline(always)]
    fn madd(self, c: f32, y: Self) -> Self {
        crate::gemm::madd(self, core::arch::wasm32::f32x4_splat(c), y)
    }
}

/// Bᵀ d for six values: r0 = 4d0 − 5d2 + d4, r1 = (d3 + d4) − 4(d1 + d2), r2 = (d4 − d3) +
/// 4(d1 − d2), r3,4 = (d4 − d2) ± 2(d3 − d1), r5 = 4d1 − 5d3 + d5.
#[inline(always)]
fn bt6<L: Lanes>([d0, d1, d2, d3, d4, d5]: [L; 6]) -> [L; 6] {
    let (e, f) = (d3.sub(d1), d4.sub(d2));
    [
        d0.madd(4.0, d2.madd(-5.0, d4)),
        d1.add(d2).madd(-4.0, d3.add(d4)),
        d1.sub(d2).madd(4.0, d4.sub(d3)),
        e.madd(2.0, f),
        e.madd(-2.0, f),
        d1.madd(4.0, d3.madd(-5.0, d5)),
    ]
}

/// Bᵀ down the rows: `rows[i][q] = Σ_k Bᵀ[i][k] · xp[k][q]` for the six padded rows `xp[k]`
/// (`wp` values each, a multiple of 4: simd128 lanes of 4 columns in wasm).
#[inline(never)]
fn down6(xp: [&[f32]; 6], rows: &mut [f32], wp: usize) {
    assert!(wp.is_multiple_of(4) && rows.len() >= 6 * wp && xp.iter().all(|r| r.len() >= wp), "down6: rows of {wp} values, a multiple of 4");
    let x: [&[f32]; 6] = std::array::from_fn(|k| &xp[k][..wp]);
    let rows = &mut rows[..6 * wp];
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::*;
        for q in (0..wp).step_by(4) {
            // SAFETY: q + 4 ≤ wp = each x[k].len(); i·wp + q + 4 ≤ 6·wp = rows.len()
            unsafe {
                let d: [v128; 6] = std::array::from_fn(|k| v128_load(x[k].as_ptr().add(q) as *const v128));
                let o = bt6(d);
                for (i, oi) in o.into_iter().enumerate() {
                    v128_store(rows.as_mut_ptr().add(i * wp + q) as *mut v128, oi);
                }
            }
        }
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    for q in 0..wp {
        let o = bt6(std::array::from_fn::<f32, 6, _>(|k| x[k][q]));
        for (i, oi) in o.into_iter().enumerate() {
            rows[i * wp + q] = oi;
        }
    }
}

/// Bᵀ across one row of `down6`'s: for tiles u < n (n a multiple of 4), with d = row[4u …
/// 4u + 5], `v[j][u] = (Bᵀ d)_j` (v's six outputs `stride` apart). In wasm 4 tiles at a
/// time: the row's 16 values of 4 tiles transposed (d0 … d3), d4 and d5 shifted in from the
/// next 4 values.
#[inline(never)]
fn across6(row: &[f32], n: usize, v: &mut [f32], stride: usize) {
    assert!(n.is_multiple_of(4) && row.len() >= 4 * n + 4 && v.len() >= 5 * stride + n, "across6: {n} tiles (a multiple of 4) of a row of {}", row.len());
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::*;
        for u in (0..n).step_by(4) {
            // SAFETY: reads row[4u … 4u + 20) ⊂ row (4u + 20 ≤ 4n + 4); writes v[j·stride + u
            // … + 4) ⊂ v (u + 4 ≤ n)
            unsafe {
                let x = row.as_ptr().add(4 * u);
                let (a0, a1, a2, a3, a4) = (v128_load(x as *const v128), v128_load(x.add(4) as *const v128), v128_load(x.add(8) as *const v128), v128_load(x.add(12) as *const v128), v128_load(x.add(16) as *const v128));
                let [d0, d1, d2, d3] = transpose4([a0, a1, a2, a3]);
                let (d4, d5) = (i32x4_shuffle::<1, 2, 3, 4>(d0, a4), i32x4_shuffle::<1, 2, 3, 5>(d1, a4));
                let o = bt6([d0, d1, d2, d3, d4, d5]);
                for (j, oj) in o.into_iter().enumerate() {
                    v128_store(v.as_mut_ptr().add(j * stride + u) as *mut v128, oj);
                }
            }
        }
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    for u in 0..n {
        let d: [f32; 6] = std::array::from_fn(|k| row[4 * u + k]);
        let o = bt6(d);
        for (j, oj) in o.into_iter().enumerate() {
            v[j * stride + u] = oj;
        }
    }
}

/// The 4×4 transpose of four simd128 vectors: lane l of the i-th output is lane i of the l-th input.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn transpose4([a0, a1, a2, a3]: [core::arch::wasm32::v128; 4]) -> [core::arch::wasm32::v128; 4] {
    use core::arch::wasm32::*;
    let (t0, t1) = (i32x4_shuffle::<0, 4, 1, 5>(a0, a1), i32x4_shuffle::<2, 6, 3, 7>(a0, a1));
    let (t2, t3) = (i32x4_shuffle::<0, 4, 1, 5>(a2, a3), i32x4_shuffle::<2, 6, 3, 7>(a2, a3));
    [i32x4_shuffle::<0, 1, 4, 5>(t0, t2), i32x4_shuffle::<2, 3, 6, 7>(t0, t2), i32x4_shuffle::<0, 1, 4, 5>(t1, t3), i32x4_shuffle::<2, 3, 6, 7>(t1, t3)]
}

/// Aᵀ m for six values: (m0 + a + c, b + 2d, a + 4c, b + 8d + m5) with a = m1 + m2,
/// b = m1 − m2, c = m3 + m4, d = m3 − m4.
#[inline(always)]
fn at6<L: Lanes>([m0, m1, m2, m3, m4, m5]: [L; 6]) -> [L; 4] {
    let (a, b, c, d) = (m1.add(m2), m1.sub(m2), m3.add(m4), m3.sub(m4));
    [m0.add(a).add(c), d.madd(2.0, b), c.madd(4.0, a), d.madd(8.0, b).add(m5)]
}

/// y[4ty + r, 4u + s] = (Aᵀ m A)_{rs} of tile t = ty·TW4 + u, from the 36 products `m[ξ][t]`
/// of one output channel, written into its plane `yo` `[H, W]` (rows and columns past H and W
/// dropped). Down (i), then across (j); in wasm 4 tiles at a time, each output row's 4×4
/// values transposed from lanes of tiles into the tiles' runs of 4.
#[inline(never)]
fn out_tiles(m: &[&[f32]; 36], (th, tw4): (usize, usize), (h, w): (usize, usize), yo: &mut [f32]) {
    assert!(tw4.is_multiple_of(4) && tw4 >= w.div_ceil(4) && th >= h.div_ceil(4), "out_tiles: {th}×{tw4} tiles for {h}×{w}");
    let m: [&[f32]; 36] = std::array::from_fn(|i| &m[i][..th * tw4]);
    let yo = &mut yo[..h * w];
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::*;
        for ty in 0..th {
            for u in (0..tw4).step_by(4) {
                let t = ty * tw4 + u;
                // SAFETY: t + 4 ≤ TH·TW4 = each m[ξ].len() (TW4 a multiple of 4)
                let mv = |xi: usize| unsafe { v128_load(m[xi].as_ptr().add(t) as *const v128) };
                let s: [[v128; 4]; 6] = std::array::from_fn(|j| at6([mv(j), mv(6 + j), mv(12 + j), mv(18 + j), mv(24 + j), mv(30 + j)]));
                for r in 0..4.min(h - 4 * ty) {
                    let row = at6([s[0][r], s[1][r], s[2][r], s[3][r], s[4][r], s[5][r]]);
                    let dst = &mut yo[(4 * ty + r) * w..][..w];
                    for (l, z) in transpose4(row).into_iter().enumerate() {
                        let col = 4 * (u + l);
                        if col + 4 <= w {
                            // SAFETY: col + 4 ≤ w = dst.len()
                            unsafe { v128_store(dst.as_mut_ptr().add(col) as *mut v128, z) };
                        } else if col < w {
                            let z: [f32; 4] = unsafe { std::mem::transmute::<v128, [f32; 4]>(z) };
                            dst[col..].copy_from_slice(&z[..w - col]);
                        }
                    }
                }
            }
        }
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    for ty in 0..th {
        for u in 0..tw4.min(w.div_ceil(4)) {
            let t = ty * tw4 + u;
            let s: [[f32; 4]; 6] = std::array::from_fn(|j| at6(std::array::from_fn::<f32, 6, _>(|i| m[6 * i + j][t])));
            for r in 0..4.min(h - 4 * ty) {
                let row = at6(std::array::from_fn::<f32, 6, _>(|j| s[j][r]));
                for (c, &v) in row.iter().enumerate().take(w - 4 * u) {
                    yo[(4 * ty + r) * w + 4 * u + c] = v;
                }
            }
        }
    }
}

/// U: the kernels transformed, 36 planes (ξ) in the GEMM's row panels (`winograd::transform_weights`).
fn transform_weights(g: &ConvGeom, w: Kernels) -> (Vec<f32>, usize) {
    super::winograd::transform_weights(g, w, transform_kernel)
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// y `[N, O, H, W]` = conv(x, w) + bias for a conv that `winograd::applies`, image by image in
/// parallel.
pub fn conv2d_forward(g: &ConvGeom, x: &[f32], w: Kernels, bias: Option<&[f32]>, y: &mut [f32]) {
    super::for_each_chunk(y, g.out_len(), images(*g, x, w, bias));
}

/// `conv2d_forward` one image at a time (`conv::Images`): the kernels transformed here, once.
pub(crate) fn images<'a>(g: ConvGeom, x: &'a [f32], w: Kernels, bias: Option<&'a [f32]>) -> super::conv::Images<'a> {
    assert!(super::winograd::applies(&g), "F(4×4, 3×3) needs a 3×3, stride-1, padding-1 conv");
    let (th, tw4) = tiles(&g);
    let (u, plane) = transform_weights(&g, w);
    let (ld, wp, rows) = (row_stride(&g), padded_len(tw4), 4 * th + 2);
    let (lp, lr, lv, lm) = (g.c_in * rows * wp, 6 * wp, 36 * g.c_in * ld, 36 * g.c_out * ld);
    Box::new(move |n, yn| {
        let g = &g;
        let xn = &x[n * g.in_len()..(n + 1) * g.in_len()];
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < lp + lr + lv + lm {
                s.resize(lp + lr + lv + lm, 0.0);
            }
            let (xp, rest) = s.split_at_mut(lp);
            let (r6, rest) = rest.split_at_mut(lr);
            let (v, rest) = rest.split_at_mut(lv);
            let m = &mut rest[..lm];
            // the image padded: xp[c, r, q] = x[c, r − 1, q − 1], 0 outside
            super::winograd::pad_into(g, xn, rows, wp, xp);
            // V_{6i+j}[c, ty·TW4 + u]; the columns past T zeroed (the GEMM's last panel)
            for c in 0..g.c_in {
                for ty in 0..th {
                    let xr: [&[f32]; 6] = std::array::from_fn(|k| &xp[(c * rows + 4 * ty + k) * wp..][..wp]);
                    down6(xr, r6, wp);
                    for i in 0..6 {
                        across6(&r6[i * wp..][..wp], tw4, &mut v[(6 * i * g.c_in + c) * ld + ty * tw4..], g.c_in * ld);
                    }
                }
                for xi in 0..36 {
                    v[(xi * g.c_in + c) * ld..][th * tw4..ld].fill(0.0);
                }
            }
            for (xi, ux) in u.chunks_exact(plane).enumerate() {
                let vx = &v[xi * g.c_in * ld..][..g.c_in * ld];
                sgemm_packed_a(g.c_out, ld, g.c_in, ux, Mat { data: vx, rs: ld, cs: 1 }, &mut m[xi * g.c_out * ld..][..g.c_out * ld], ld, false);
            }
            for o in 0..g.c_out {
                let mx: [&[f32]; 36] = std::array::from_fn(|xi| &m[(xi * g.c_out + o) * ld..][..th * tw4]);
                out_tiles(&mx, (th, tw4), (g.h_out, g.w_out), &mut yn[o * g.h_out * g.w_out..][..g.h_out * g.w_out]);
            }
        });
        super::conv::add_bias(g, bias, yn);
    })
}

/// `conv2d_forward` against the reference conv (f64) on shapes that reach its edges (sides of
/// every size mod 4, rows of 1 to 9 tiles, a row 61 wide, output channels that leave a partial
/// panel, the ResNet's three stages; `conv::check_forward_on`), with the kernels given and read
/// rotated. Run natively by the engine's tests (the scalar transforms) and in Chromium by the
/// wasm tests (the simd128 ones).
pub fn check_against_reference() -> Result<(), String> {
    let shapes = [(2, 16, 28, 28, 16), (1, 32, 14, 14, 32), (2, 64, 7, 7, 64), (1, 8, 5, 9, 12), (1, 9, 2, 1, 8), (1, 8, 40, 37, 8), (1, 11, 3, 3, 13), (1, 8, 3, 61, 9), (1, 10, 6, 5, 8), (1, 8, 17, 34, 8)];
    super::winograd::check_on(&shapes, conv2d_forward)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn winograd4_equals_reference() {
        check_against_reference().unwrap();
    }

    /// Which of the ResNet's stages take it: the 28×28 one, not the 14×14 or 7×7 ones.
    #[test]
    fn it_takes_the_first_stage() {
        let g = |c, h| ConvGeom::new(2, c, h, h, c, 3, 1, 1).unwrap();
        assert!(takes(&g(16, 28)) && !takes(&g(32, 14)) && !takes(&g(64, 7)));
    }
}

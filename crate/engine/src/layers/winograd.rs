//! Winograd F(2×2, 3×3): the fast path of the 3×3 stride-1 "same" convs — their forward, and
//! their input gradient, which `conv::conv2d_backward` runs as such a conv (δ ⊛ ROT180(w)).
//!
//! Shapes: x `[N, C, H, W]`, w `[O, C, 3, 3]`, y `[N, O, H, W]` (padding 1). The output is cut
//! into 2×2 tiles, `TH = ⌈H/2⌉` by `TW = ⌈W/2⌉` of them (`T = TH·TW`); tile `t = (r, c)` reads
//! the 4×4 patch `d = x[2r−1 .. 2r+3, 2c−1 .. 2c+3]` (0 outside). With
//!
//!   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],
//!   Aᵀ = [1 1 1 0; 0 1 −1 −1]
//!
//! each output tile is `Aᵀ [Σ_c (G g_{o,c} Gᵀ) ⊙ (Bᵀ d_{c,t} B)] A` (Lavin & Gray, 2015):
//!
//!   U[ξ][o, c] = (G g_{o,c} Gᵀ)_ξ     16 matrices `[O, C]`, once per call
//!   V[ξ][c, t] = (Bᵀ d_{c,t} B)_ξ     16 matrices `[C, T]`, per image
//!   M[ξ]       = U[ξ] · V[ξ]          16 GEMMs: 16·O·C·T multiply-adds
//!   y[o, tile t] = Aᵀ M[·][o, t] A
//!
//! against the direct conv's 9·O·C·4T: 2.25× fewer. `conv_reference.rs` is the definition it
//! is tested against (`tests/fast_vs_reference.rs`, random shapes).

use super::conv::ConvGeom;
use super::for_each_chunk;
use crate::gemm::{sgemm_lhs, Lhs, Mat};

/// Input channels from which a conv takes this path: its 16 GEMMs sum over the C channels
/// only, and with fewer the GEMM kernel would spend more time storing than summing.
pub const MIN_CHANNELS: usize = 8;

/// Whether `conv2d_forward` takes this path for `g`.
pub fn applies(g: &ConvGeom) -> bool {
    g.k == 3 && g.stride == 1 && g.pad == 1 && g.c_in >= MIN_CHANNELS
}

/// Tiles down and across: `(⌈H/2⌉, ⌈W/2⌉)`.
fn tiles(g: &ConvGeom) -> (usize, usize) {
    (g.h.div_ceil(2), g.w.div_ceil(2))
}

/// `U[ξ][o, c] = (G g_{o,c} Gᵀ)_ξ`, `[16, O, C]`, for w `[O, C, 3, 3]`.
pub fn filter_transform(g: &ConvGeom, w: &[f32]) -> Vec<f32> {
    let (o_n, c_n) = (g.c_out, g.c_in);
    // G·v for a column (or row) v of 3: [v0, ½(v0+v1+v2), ½(v0−v1+v2), v2]
    let gv = |a: f32, b: f32, d: f32| [a, 0.5 * (a + b + d), 0.5 * (a - b + d), d];
    let mut u = vec![0.0; 16 * o_n * c_n];
    for o in 0..o_n {
        for c in 0..c_n {
            let k = &w[(o * c_n + c) * 9..][..9];
            let cols = [0, 1, 2].map(|j| gv(k[j], k[3 + j], k[6 + j])); // (G g)[·][j]
            for i in 0..4 {
                let row = gv(cols[0][i], cols[1][i], cols[2][i]); // ((G g) Gᵀ)[i][·]
                for (j, v) in row.into_iter().enumerate() {
                    u[((i * 4 + j) * o_n + o) * c_n + c] = v;
                }
            }
        }
    }
    u
}

/// Per-thread working memory of one image: V, M, and the padded input.
#[derive(Default)]
struct Work {
    v: Vec<f32>,
    m: Vec<f32>,
    pad: Vec<f32>,
}

thread_local! {
    static WORK: std::cell::RefCell<Work> = std::cell::RefCell::new(Work::default());
}

/// `V[ξ][c, t]` (`v`: `[16, C, T]`) of one image `x[C, H, W]`, four tiles at a time in the
/// lanes of `F4`. `pad` holds one channel padded (`pad[pr, q] = x[pr − 1, q − 1]`, 0 outside),
/// wide enough that every group of four tiles reads its 10 columns in place.
fn input_transform(g: &ConvGeom, x: &[f32], v: &mut [f32], pad: &mut Vec<f32>) {
    let (th, tw) = tiles(g);
    let (t_n, wp) = (th * tw, 2 * tw.next_multiple_of(4) + 4);
    pad.clear();
    pad.resize((2 * th + 2) * wp, 0.0);
    for c in 0..g.c_in {
        for r in 0..g.h {
            pad[(r + 1) * wp + 1..][..g.w].copy_from_slice(&x[(c * g.h + r) * g.w..][..g.w]);
        }
        for tr in 0..th {
            for tc in (0..tw).step_by(4) {
                // Columns 0..4 of the patches of tiles tc..tc+4 in patch row i: the even and odd
                // entries of the padded row from column 2·tc, and from 2·tc + 2.
                let cols = |i: usize| {
                    let p = &pad[(2 * tr + i) * wp + 2 * tc..][..10];
                    let (a, b, a2, b2) = (F4::load(p), F4::load(&p[4..]), F4::load(&p[2..]), F4::load(&p[6..]));
                    [a.evens(b), a.odds(b), a2.evens(b2), a2.odds(b2)]
                };
                let (d0, d1, d2, d3) = (cols(0), cols(1), cols(2), cols(3));
                // Bᵀ d: rows d0 − d2, d1 + d2, d2 − d1, d1 − d3; then each row [e0, o0, e1, o1]
                // times B: e0 − e1, o0 + e1, e1 − o0, o0 − o1. (Written out, no loop over the
                // rows: an array indexed by a loop variable would live in memory, not registers.)
                let mut emit = |i: usize, [e0, o0, e1, o1]: [F4; 4]| {
                    let at = |j: usize| ((i * 4 + j) * g.c_in + c) * t_n + tr * tw + tc;
                    (e0 - e1).store_n(&mut v[at(0)..], tw - tc);
                    (o0 + e1).store_n(&mut v[at(1)..], tw - tc);
                    (e1 - o0).store_n(&mut v[at(2)..], tw - tc);
                    (o0 - o1).store_n(&mut v[at(3)..], tw - tc);
                };
                emit(0, F4::sub4(d0, d2));
                emit(1, F4::add4(d1, d2));
                emit(2, F4::sub4(d2, d1));
                emit(3, F4::sub4(d1, d3));
            }
        }
    }
}

/// One image's `y[O, H, W]` from `M` (`[16, O, T]`, read 4 tiles at a time: it has 3 values
/// of slack at its end): each tile's `Aᵀ m A` (+ bias), cut at the edges.
fn output_transform(g: &ConvGeom, m: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    let (th, tw) = tiles(g);
    let t_n = th * tw;
    for o in 0..g.c_out {
        let b = F4::splat(bias.map_or(0.0, |b| b[o]));
        for tr in 0..th {
            for tc in (0..tw).step_by(4) {
                let m = |i: usize, j: usize| F4::load(&m[((i * 4 + j) * g.c_out + o) * t_n + tr * tw + tc..]);
                // (Aᵀ m)[·][j]: m0j + m1j + m2j (row 0), m1j − m2j − m3j (row 1)
                let at = |j: usize| {
                    let (m0, m1, m2, m3) = (m(0, j), m(1, j), m(2, j), m(3, j));
                    (m0 + m1 + m2, m1 - m2 - m3)
                };
                let ((s00, s10), (s01, s11), (s02, s12), (s03, s13)) = (at(0), at(1), at(2), at(3));
                // times A: output columns 2tc (s0 + s1 + s2) and 2tc + 1 (s1 − s2 − s3)
                let mut emit = |r: usize, s0: F4, s1: F4, s2: F4, s3: F4| {
                    if 2 * tr + r < g.h {
                        let (ev, od) = (s0 + s1 + s2 + b, s1 - s2 - s3 + b);
                        let (row, q) = (&mut y[(o * g.h + 2 * tr + r) * g.w..][..g.w], 2 * tc);
                        ev.zip_lo(od).store_n(&mut row[q..], g.w - q);
                        if g.w > q + 4 {
                            ev.zip_hi(od).store_n(&mut row[q + 4..], g.w - q - 4);
                        }
                    }
                };
                emit(0, s00, s01, s02, s03);
                emit(1, s10, s11, s12, s13);
            }
        }
    }
}

/// Four f32 lanes: a simd128 vector in wasm, an array elsewhere (so the transforms' lane
/// logic runs, and is tested, natively too).
#[derive(Clone, Copy)]
struct F4(#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))] core::arch::wasm32::v128, #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))] [f32; 4]);

impl F4 {
    #[inline(always)]
    fn add4(a: [F4; 4], b: [F4; 4]) -> [F4; 4] {
        [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]]
    }
    #[inline(always)]
    fn sub4(a: [F4; 4], b: [F4; 4]) -> [F4; 4] {
        [a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3]]
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
impl F4 {
    #[inline(always)]
    fn load(s: &[f32]) -> F4 {
        assert!(s.len() >= 4);
        // SAFETY: 4 values in bounds (the assert); v128_load has no alignment requirement.
        F4(unsafe { core::arch::wasm32::v128_load(s.as_ptr() as *const core::arch::wasm32::v128) })
    }
    #[inline(always)]
    fn splat(v: f32) -> F4 {
        F4(core::arch::wasm32::f32x4_splat(v))
    }
    #[inline(always)]
    fn lanes(self) -> [f32; 4] {
        // SAFETY: a v128 is 16 bytes, as [f32; 4].
        unsafe { core::mem::transmute(self.0) }
    }
    #[inline(always)]
    fn store_n(self, d: &mut [f32], n: usize) {
        if n >= 4 {
            let d = &mut d[..4];
            // SAFETY: 4 values in bounds (the slice above).
            unsafe { core::arch::wasm32::v128_store(d.as_mut_ptr() as *mut core::arch::wasm32::v128, self.0) }
        } else {
            d[..n].copy_from_slice(&self.lanes()[..n]);
        }
    }
    #[inline(always)]
    fn evens(self, b: F4) -> F4 {
        F4(core::arch::wasm32::i32x4_shuffle::<0, 2, 4, 6>(self.0, b.0))
    }
    #[inline(always)]
    fn odds(self, b: F4) -> F4 {
        F4(core::arch::wasm32::i32x4_shuffle::<1, 3, 5, 7>(self.0, b.0))
    }
    #[inline(always)]
    fn zip_lo(self, b: F4) -> F4 {
        F4(core::arch::wasm32::i32x4_shuffle::<0, 4, 1, 5>(self.0, b.0))
    }
    #[inline(always)]
    fn zip_hi(self, b: F4) -> F4 {
        F4(core::arch::wasm32::i32x4_shuffle::<2, 6, 3, 7>(self.0, b.0))
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
impl core::ops::Add for F4 {
    type Output = F4;
    #[inline(always)]
    fn add(self, b: F4) -> F4 {
        F4(core::arch::wasm32::f32x4_add(self.0, b.0))
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
impl core::ops::Sub for F4 {
    type Output = F4;
    #[inline(always)]
    fn sub(self, b: F4) -> F4 {
        F4(core::arch::wasm32::f32x4_sub(self.0, b.0))
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
impl F4 {
    fn load(s: &[f32]) -> F4 {
        F4([s[0], s[1], s[2], s[3]])
    }
    fn splat(v: f32) -> F4 {
        F4([v; 4])
    }
    fn store_n(self, d: &mut [f32], n: usize) {
        let n = n.min(4);
        d[..n].copy_from_slice(&self.0[..n]);
    }
    fn evens(self, b: F4) -> F4 {
        F4([self.0[0], self.0[2], b.0[0], b.0[2]])
    }
    fn odds(self, b: F4) -> F4 {
        F4([self.0[1], self.0[3], b.0[1], b.0[3]])
    }
    fn zip_lo(self, b: F4) -> F4 {
        F4([self.0[0], b.0[0], self.0[1], b.0[1]])
    }
    fn zip_hi(self, b: F4) -> F4 {
        F4([self.0[2], b.0[2], self.0[3], b.0[3]])
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
impl core::ops::Add for F4 {
    type Output = F4;
    fn add(self, b: F4) -> F4 {
        F4(core::array::from_fn(|l| self.0[l] + b.0[l]))
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
impl core::ops::Sub for F4 {
    type Output = F4;
    fn sub(self, b: F4) -> F4 {
        F4(core::array::from_fn(|l| self.0[l] - b.0[l]))
    }
}

/// y `[N, O, H, W]` = conv(x `[N, C, H, W]`, w `[O, C, 3, 3]`) + bias, padding 1 (`applies(g)`).
pub fn forward(g: &ConvGeom, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    debug_assert!(applies(g) && (g.h_out, g.w_out) == (g.h, g.w));
    let (th, tw) = tiles(g);
    let t_n = th * tw;
    let (oc, cc) = (g.c_out * g.c_in, g.c_in * t_n);
    let u = filter_transform(g, w);
    // U[ξ] `[O, C]`, prepared once for all images
    let lhs: Vec<Lhs> = u.chunks_exact(oc).map(|uk| Lhs::new(g.c_out, g.c_in, Mat { data: uk, rs: g.c_in, cs: 1 })).collect();
    for_each_chunk(y, g.out_len(), |n, yn| {
        let xn = &x[n * g.in_len()..][..g.in_len()];
        WORK.with(|work| {
            let Work { v, m, pad } = &mut *work.borrow_mut();
            v.resize(16 * cc, 0.0);
            m.resize(16 * g.c_out * t_n + 3, 0.0);
            input_transform(g, xn, v, pad);
            for (xi, (mk, l)) in m.chunks_exact_mut(g.c_out * t_n).zip(&lhs).enumerate() {
                sgemm_lhs(l, t_n, Mat { data: &v[xi * cc..][..cc], rs: t_n, cs: 1 }, mk, t_n, false);
            }
            output_transform(g, m, bias, yn);
        });
    });
}

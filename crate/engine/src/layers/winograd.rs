//! A 3×3, stride-1, padding-1 conv as Winograd's F(2×2, 3×3) (Lavin & Gray 2015): each 2×2
//! block of outputs from a 4×4 block of the padded input with 16 products per channel pair
//! instead of 36.
//!
//! Shapes: x `[N, C, H, W]`, w `[O, C, 3, 3]`, y `[N, O, H, W]` (same size), tiles
//! `TH = ⌈H/2⌉ × TW = ⌈W/2⌉`, `T = TH·TW` per image. With
//!
//!   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]   G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]
//!   Aᵀ = [1 1 1 0; 0 1 −1 −1]
//!
//! and d the 4×4 input block of tile t in channel c (rows 2ty−1 … 2ty+2, 0 outside x), g the
//! 3×3 kernel w[o, c]:
//!
//!   U_ξ[o, c] = (G g Gᵀ)_ξ        V_ξ[c, t] = (Bᵀ d B)_ξ        ξ = 4i + j ∈ 0…15
//!   M_ξ = U_ξ · V_ξ               (16 GEMMs `[O, C] · [C, T]`: the engine's packed GEMM)
//!   y[o, 2ty + r, 2tx + s] = (Aᵀ m A)_{rs},  m_ξ = M_ξ[o, t]
//!
//! which is the conv exactly in real numbers (the transforms only add, subtract and halve);
//! in f32 its error is compared with the reference conv's f64 by `check_against_reference`.
//!
//! One image at a time (images in parallel): pad it (`pad`), Bᵀ·B as two passes — across the
//! columns of each padded row (`cols4`: simd128 lanes of 4 tiles in wasm, the even and odd
//! columns split by shuffles), then down the rows over whole planes of tiles (`rows4`) — the
//! 16 products, and Aᵀ·A over whole planes (`out4`) scattered into y. Only the browser runs it
//! (`conv::conv2d_forward`, and so a 3×3 stride-1 conv's input gradient, which runs as a
//! forward conv), for the convs `winograd4` does not take (`images_for`: the 14×14 and 7×7
//! stages). Natively its products would run in the packed GEMM's scalar kernel (the
//! reference of the simd128 one), so there the gemm crate's im2col products stay. The
//! README's Speed section has the measurements.

use super::for_each_chunk;
use super::conv::ConvGeom;
use crate::gemm::packed::{sgemm_packed_a, MR, NR};
use crate::gemm::Mat;

/// Whether `conv2d_forward` runs this conv as a Winograd conv (F(2×2, 3×3) here, or
/// F(4×4, 3×3), `images_for`): 3×3, stride 1, padding 1, and at least 8 input and output
/// channels (with fewer, the products are too short for the GEMM: `conv1` has one input
/// channel).
pub fn applies(g: &ConvGeom) -> bool {
    g.k == 3 && g.stride == 1 && g.pad == 1 && g.c_in >= 8 && g.c_out >= 8
}

/// The kernels a conv's forward reads: `w` `[O, C, 3, 3]` as given, or the kernels of a
/// stride-1 conv's input gradient — `w̃[o, c] = ROT180(w[c, o])`, `conv::rot180_swapped` of the
/// conv's own `w` `[C, O, 3, 3]` — read in place from `w` (no rotated copy).
#[derive(Clone, Copy)]
pub enum Kernels<'a> {
    Given(&'a [f32]),
    Rot180Swapped(&'a [f32]),
}

impl Kernels<'_> {
    /// Kernel `[o, c]` (3×3, row-major) of a conv with `c_n` input and `o_n` output channels.
    fn at(&self, o: usize, c: usize, o_n: usize, c_n: usize) -> [f32; 9] {
        match *self {
            Kernels::Given(w) => std::array::from_fn(|i| w[(o * c_n + c) * 9 + i]),
            Kernels::Rot180Swapped(w) => std::array::from_fn(|i| w[(c * o_n + o) * 9 + 8 - i]),
        }
    }
}

/// (G g Gᵀ)_ξ, ξ = 4i + j, of one 3×3 kernel g (row-major).
fn transform_kernel(k: &[f32; 9]) -> [f32; 16] {
    // t = G g (4×3), then u = t Gᵀ (4×4)
    let mut t = [[0.0f32; 3]; 4];
    for b in 0..3 {
        let (g0, g1, g2) = (k[b], k[3 + b], k[6 + b]);
        t[0][b] = g0;
        t[1][b] = 0.5 * (g0 + g1 + g2);
        t[2][b] = 0.5 * (g0 - g1 + g2);
        t[3][b] = g2;
    }
    let mut u = [0.0f32; 16];
    for (i, row) in t.iter().enumerate() {
        let v = [row[0], 0.5 * (row[0] + row[1] + row[2]), 0.5 * (row[0] - row[1] + row[2]), row[2]];
        u[4 * i..4 * i + 4].copy_from_slice(&v);
    }
    u
}

/// U: the kernels transformed by `kernel` (F(2×2, 3×3)'s `transform_kernel`, or
/// `winograd4`'s), P planes (ξ) of `plane` values one after the other, each U_ξ `[O, C]` in
/// the GEMM's row panels (`pack_a`'s layout, written in place, zero-padded); returns U and
/// `plane`. The panels (MR output channels each) in parallel: every kernel once.
pub(super) fn transform_weights<const P: usize>(g: &ConvGeom, w: Kernels, kernel: fn(&[f32; 9]) -> [f32; P]) -> (Vec<f32>, usize) {
    let (o_n, c_n) = (g.c_out, g.c_in);
    let plane = o_n.div_ceil(MR) * c_n * MR;
    let mut u = vec![0.0f32; P * plane];
    let planes = super::Pieces::new(&mut u);
    super::par_map(o_n.div_ceil(MR), |i| {
        // SAFETY: panel i's values of each plane ξ, `[ξ·plane + i·C·MR, … + C·MR)`, which no
        // other item takes
        let panel: [&mut [f32]; P] = std::array::from_fn(|xi| unsafe { planes.piece(xi * plane + i * c_n * MR, c_n * MR) });
        for r in 0..MR.min(o_n - i * MR) {
            for c in 0..c_n {
                for (xi, &v) in kernel(&w.at(i * MR + r, c, o_n, c_n)).iter().enumerate() {
                    panel[xi][c * MR + r] = v;
                }
            }
        }
    });
    (u, plane)
}

/// The image padded: `xp[c, r, q] = x[c, r − 1, q − 1]`, 0 outside, for rows `0 … 2·TH + 2`
/// and `padded_len(TW)` columns (what `cols4` reads).
fn pad(g: &ConvGeom, xn: &[f32], (th, tw): (usize, usize), xp: &mut [f32]) {
    pad_into(g, xn, 2 * th + 2, padded_len(tw), xp);
}

/// Image `xn` padded into `rows` rows of `wp` columns a channel: `xp[c, r, q] = x[c, r − 1,
/// q − 1]`, 0 elsewhere (this `pad`'s, and `winograd4`'s with its own rows and columns).
pub(super) fn pad_into(g: &ConvGeom, xn: &[f32], rows: usize, wp: usize, xp: &mut [f32]) {
    xp.fill(0.0);
    for c in 0..g.c_in {
        for r in 0..g.h {
            super::copy(&xn[(c * g.h + r) * g.w..][..g.w], &mut xp[(c * rows + r + 1) * wp + 1..][..g.w]);
        }
    }
}

/// Bᵀ across the columns, row by row: for each padded input row `r` and tile column u,
/// `(d0 − d2, d1 + d2, d2 − d1, d1 − d3)` of its `d = xp[c, r, 2u … 2u + 3]`, kept by row
/// parity: `h[((j·2 + r % 2)·C + c)·h_stride + (r / 2)·TW + u]`, rows `0 … 2·TH + 2`. (So that
/// below, the rows 2ty … 2ty + 3 of tile t = ty·TW + u sit at t and t + TW.)
fn transform_columns(g: &ConvGeom, xp: &[f32], (th, tw): (usize, usize), h: &mut [f32]) {
    let (rows, wp, hs) = (2 * th + 2, padded_len(tw), h_stride((th, tw)));
    for c in 0..g.c_in {
        for r in 0..rows {
            // (the four j's, 2·C·h_stride apart)
            let step = 2 * g.c_in * hs;
            let (h0, rest) = h[((r % 2) * g.c_in + c) * hs + (r / 2) * tw..].split_at_mut(step);
            let (h1, rest) = rest.split_at_mut(step);
            let (h2, h3) = rest.split_at_mut(step);
            cols4(&xp[(c * rows + r) * wp..][..wp], tw, h0, h1, h2, h3);
        }
    }
}

/// The room a padded row of `tw` tiles takes: its 2·TW + 4 values, and the lanes `cols4`
/// reads past them in whole groups of 4 tiles.
fn padded_len(tw: usize) -> usize {
    8 * tw.div_ceil(4) + 4
}

/// The four columns of Bᵀ along one padded row: for u < n, with d = xp[2u … 2u + 3],
/// `h_j[u]` = (d0 − d2, d1 + d2, d2 − d1, d1 − d3)_j. (`xp` holds `padded_len(n)` values. In
/// wasm, 4 tiles at a time, the last group stored whole: up to 3 values past n, which `h`'s
/// layout leaves room for and overwrites later; see `h_stride`.)
#[inline(never)]
fn cols4(xp: &[f32], n: usize, h0: &mut [f32], h1: &mut [f32], h2: &mut [f32], h3: &mut [f32]) {
    let n4 = n.next_multiple_of(4);
    let (h0, h1, h2, h3) = (&mut h0[..n4], &mut h1[..n4], &mut h2[..n4], &mut h3[..n4]);
    let xp = &xp[..padded_len(n)];
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::*;
        for u in (0..n).step_by(4) {
            // SAFETY: 2u + 12 ≤ 8·⌈n/4⌉ + 4 = xp.len(), and u + 4 ≤ n4 = h_j.len()
            unsafe {
                let x = xp.as_ptr().add(2 * u);
                let (x0, x1, x2) = (v128_load(x as *const v128), v128_load(x.add(4) as *const v128), v128_load(x.add(8) as *const v128));
                // d0 = xp[2u], d1 = xp[2u + 1], d2 = xp[2u + 2], d3 = xp[2u + 3] for 4 tiles u
                let d0 = i32x4_shuffle::<0, 2, 4, 6>(x0, x1);
                let d1 = i32x4_shuffle::<1, 3, 5, 7>(x0, x1);
                let d2 = i32x4_shuffle::<1, 2, 3, 4>(d0, x2);
                let d3 = i32x4_shuffle::<1, 2, 3, 5>(d1, x2);
                v128_store(h0.as_mut_ptr().add(u) as *mut v128, f32x4_sub(d0, d2));
                v128_store(h1.as_mut_ptr().add(u) as *mut v128, f32x4_add(d1, d2));
                v128_store(h2.as_mut_ptr().add(u) as *mut v128, f32x4_sub(d2, d1));
                v128_store(h3.as_mut_ptr().add(u) as *mut v128, f32x4_sub(d1, d3));
            }
        }
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    for u in 0..n {
        let (d0, d1, d2, d3) = (xp[2 * u], xp[2 * u + 1], xp[2 * u + 2], xp[2 * u + 3]);
        h0[u] = d0 - d2;
        h1[u] = d1 + d2;
        h2[u] = d2 - d1;
        h3[u] = d1 - d3;
    }
}

/// The distance between `h`'s planes: a plane's (TH + 1)·TW values and 4 more, so that
/// `cols4`'s whole last group of a plane's last row stays inside it (it writes rows in
/// order, so a row's overflow is overwritten by the rows after it).
fn h_stride((th, tw): (usize, usize)) -> usize {
    (th + 1) * tw + 4
}

/// Bᵀ down the rows, over whole planes: V_{4i+j}[c, t] from the column transforms `h` of rows
/// 2ty … 2ty + 3, which are (even, odd, even, odd) at t, t, t + TW, t + TW.
fn transform_rows(g: &ConvGeom, h: &[f32], (th, tw): (usize, usize), v: &mut [f32]) {
    let (half, hs, t_n, ld) = ((th + 1) * tw, h_stride((th, tw)), th * tw, row_stride(th * tw));
    for c in 0..g.c_in {
        for j in 0..4 {
            let he = &h[((j * 2) * g.c_in + c) * hs..][..half];
            let ho = &h[((j * 2 + 1) * g.c_in + c) * hs..][..half];
            let (e0, e1, o0, o1) = (&he[..t_n], &he[tw..tw + t_n], &ho[..t_n], &ho[tw..tw + t_n]);
            // planes 4i + j for i = 0 … 3, 4·C·T apart
            let step = 4 * g.c_in * ld;
            let (v0, rest) = v[(j * g.c_in + c) * ld..].split_at_mut(step);
            let (v1, rest) = rest.split_at_mut(step);
            let (v2, v3) = rest.split_at_mut(step);
            rows4(e0, e1, o0, o1, v0, v1, v2, v3);
            for vi in [v0, v1, v2, v3] {
                vi[t_n..ld].fill(0.0); // (the GEMM's whole last panel; its columns are dropped)
            }
        }
    }
}

/// The four rows of Bᵀ: (d0 − d2, d1 + d2, d2 − d1, d1 − d3) with d = (e0, o0, e1, o1).
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn rows4(e0: &[f32], e1: &[f32], o0: &[f32], o1: &[f32], v0: &mut [f32], v1: &mut [f32], v2: &mut [f32], v3: &mut [f32]) {
    let n = e0.len();
    let (e1, o0, o1) = (&e1[..n], &o0[..n], &o1[..n]);
    let (v0, v1, v2, v3) = (&mut v0[..n], &mut v1[..n], &mut v2[..n], &mut v3[..n]);
    for t in 0..n {
        v0[t] = e0[t] - e1[t];
        v1[t] = o0[t] + e1[t];
        v2[t] = e1[t] - o0[t];
        v3[t] = o0[t] - o1[t];
    }
}

/// y[o, 2ty + r, 2tx + s] = (Aᵀ m A)_{rs} from `m` `[16, O, T]` (planes `row_stride` apart),
/// the rows and columns past H and W dropped; `q` is room for a plane's four outputs per tile.
/// (Fused into one pass of simd128 lanes from m to y, it measured no faster in wasm.)
fn transform_output(g: &ConvGeom, m: &[f32], (th, tw): (usize, usize), q: &mut [f32], yn: &mut [f32]) {
    let (t_n, ld) = (th * tw, row_stride(th * tw));
    let plane = g.c_out * ld;
    for o in 0..g.c_out {
        let mx: [&[f32]; 16] = std::array::from_fn(|xi| &m[xi * plane + o * ld..][..t_n]);
        let (q00, rest) = q.split_at_mut(t_n);
        let (q01, rest) = rest.split_at_mut(t_n);
        let (q10, q11) = rest.split_at_mut(t_n);
        out4(&mx, q00, q01, q10, &mut q11[..t_n]);
        for ty in 0..th {
            for (r, (qe, qo)) in [(&*q00, &*q01), (&*q10, &*q11)].into_iter().enumerate() {
                let y = 2 * ty + r;
                if y >= g.h_out {
                    break;
                }
                let dst = &mut yn[(o * g.h_out + y) * g.w_out..][..g.w_out];
                for (u, pair) in dst.chunks_mut(2).enumerate() {
                    pair[0] = qe[ty * tw + u];
                    if let Some(d) = pair.get_mut(1) {
                        *d = qo[ty * tw + u];
                    }
                }
            }
        }
    }
}

/// Aᵀ m A for every tile of a plane: (m_{4i+j} the 16 products) rows s_j = m_j + m_{4+j} +
/// m_{8+j} and d_j = m_{4+j} − m_{8+j} − m_{12+j}, then y00 = s0 + s1 + s2, y01 = s1 − s2 − s3,
/// and the same of d for y10, y11.
#[inline(never)]
fn out4(m: &[&[f32]; 16], y00: &mut [f32], y01: &mut [f32], y10: &mut [f32], y11: &mut [f32]) {
    let n = y00.len();
    let m: [&[f32]; 16] = std::array::from_fn(|i| &m[i][..n]);
    let (y01, y10, y11) = (&mut y01[..n], &mut y10[..n], &mut y11[..n]);
    for t in 0..n {
        let s: [f32; 4] = std::array::from_fn(|j| m[j][t] + m[4 + j][t] + m[8 + j][t]);
        let d: [f32; 4] = std::array::from_fn(|j| m[4 + j][t] - m[8 + j][t] - m[12 + j][t]);
        y00[t] = s[0] + s[1] + s[2];
        y01[t] = s[1] - s[2] - s[3];
        y10[t] = d[0] + d[1] + d[2];
        y11[t] = d[1] - d[2] - d[3];
    }
}

/// The row stride of V's and M's planes: T rounded up to the GEMM's panel width, so that every
/// panel is whole (a last partial panel is packed apart and cost a third of the products'
/// time at T = 196).
pub(super) fn row_stride(t_n: usize) -> usize {
    t_n.next_multiple_of(NR)
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// y `[N, O, H, W]` = conv(x, w) + bias for a conv that `applies`, image by image in parallel
/// (`w` the kernels, `Kernels`).
pub fn conv2d_forward(g: &ConvGeom, x: &[f32], w: Kernels, bias: Option<&[f32]>, y: &mut [f32]) {
    for_each_chunk(y, g.out_len(), images(*g, x, w, bias));
}

/// A conv that `applies`, one image at a time (`conv::Images`), in F(4×4, 3×3) where
/// `winograd4::takes` it (the ResNet's 28×28 stage), else in F(2×2, 3×3).
pub(crate) fn images_for<'a>(g: ConvGeom, x: &'a [f32], w: Kernels, bias: Option<&'a [f32]>) -> super::conv::Images<'a> {
    if super::winograd4::takes(&g) {
        super::winograd4::images(g, x, w, bias)
    } else {
        images(g, x, w, bias)
    }
}

/// `conv2d_forward` one image at a time (`conv::Images`): the kernels transformed here, once.
pub(crate) fn images<'a>(g: ConvGeom, x: &'a [f32], w: Kernels, bias: Option<&'a [f32]>) -> super::conv::Images<'a> {
    assert!(applies(&g), "F(2×2, 3×3) needs a 3×3, stride-1, padding-1 conv");
    let tiles = (g.h_out.div_ceil(2), g.w_out.div_ceil(2));
    let (u, plane) = transform_weights(&g, w, transform_kernel);
    let ld = row_stride(tiles.0 * tiles.1);
    let lp = g.c_in * (2 * tiles.0 + 2) * padded_len(tiles.1);
    let (lh, lv, lm) = (8 * g.c_in * h_stride(tiles), 16 * g.c_in * ld, 16 * g.c_out * ld);
    Box::new(move |n, yn| {
        let g = &g;
        let xn = &x[n * g.in_len()..(n + 1) * g.in_len()];
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < lp + lh + lv + lm + 4 * ld {
                s.resize(lp + lh + lv + lm + 4 * ld, 0.0);
            }
            let (xp, rest) = s.split_at_mut(lp);
            let (h, rest) = rest.split_at_mut(lh);
            let (v, rest) = rest.split_at_mut(lv);
            let (m, q) = rest.split_at_mut(lm);
            pad(g, xn, tiles, xp);
            transform_columns(g, xp, tiles, h);
            transform_rows(g, h, tiles, v);
            for (xi, ux) in u.chunks_exact(plane).enumerate() {
                let vx = &v[xi * g.c_in * ld..][..g.c_in * ld];
                sgemm_packed_a(g.c_out, ld, g.c_in, ux, Mat { data: vx, rs: ld, cs: 1 }, &mut m[xi * g.c_out * ld..][..g.c_out * ld], ld, false);
            }
            transform_output(g, m, tiles, q, yn);
        });
        super::conv::add_bias(g, bias, yn);
    })
}

/// `conv2d_forward` against the reference conv (f64) on shapes that reach its edges (odd and
/// even sizes, rows of 1 to 5 tiles and so every count of tiles mod 4, a row 61 wide, output
/// channels that leave a partial panel, the ResNet's three stages; `conv::check_forward_on`),
/// with the kernels given and with them read rotated from the kernels they are the rotation
/// of. Run natively by the engine's tests (the scalar transforms) and in Chromium by the wasm
/// tests (the simd128 ones).
pub fn check_against_reference() -> Result<(), String> {
    let shapes = [(2, 16, 28, 28, 16), (1, 32, 14, 14, 32), (2, 64, 7, 7, 64), (1, 8, 5, 9, 12), (1, 9, 2, 1, 8), (1, 8, 40, 37, 8), (1, 11, 3, 3, 13), (1, 8, 3, 61, 9), (1, 10, 6, 5, 8)];
    check_on(&shapes, conv2d_forward)
}

/// A Winograd conv's forward: `conv2d_forward` here or in `winograd4`.
pub(super) type Forward = fn(&ConvGeom, &[f32], Kernels, Option<&[f32]>, &mut [f32]);

/// A Winograd forward (`forward`: this F(2×2, 3×3) or `winograd4`'s) against the reference
/// conv on `shapes` (n, c, h, w, o) (`conv::check_forward_on`), and read rotated against given:
/// w̃ = rot180_swapped(w) is `[C, O, 3, 3]` with ROT180(w̃[c, o]) = w[o, c], so the same
/// kernels, the same floats, bit for bit.
pub(super) fn check_on(shapes: &[(usize, usize, usize, usize, usize)], forward: Forward) -> Result<(), String> {
    for &(n, c, h, w, o) in shapes {
        let g = ConvGeom::new(n, c, h, w, o, 3, 1, 1).ok_or("a shape that does not fit")?;
        super::conv::check_forward_on(&g, |g, x, w, b, y| forward(g, x, Kernels::Given(w), b, y))?;
        let x: Vec<f32> = (0..g.n * g.in_len()).map(|i| (i as f32 * 0.71).sin()).collect();
        let w: Vec<f32> = (0..g.c_out * g.ckk()).map(|i| (i as f32 * 0.37).cos()).collect();
        let (mut given, mut rotated) = (vec![7.0f32; g.n * g.out_len()], vec![-7.0f32; g.n * g.out_len()]);
        forward(&g, &x, Kernels::Given(&w), None, &mut given);
        forward(&g, &x, Kernels::Rot180Swapped(&super::conv::rot180_swapped(&g, &w)), None, &mut rotated);
        if let Some(i) = (0..given.len()).find(|&i| given[i].to_bits() != rotated[i].to_bits()) {
            return Err(format!("{g:?}: y[{i}] = {} with the kernels read rotated, {} given", rotated[i], given[i]));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which convs run as a Winograd conv in the browser: the ResNet's 3×3 stride-1 convs of
    /// every stage (and so their input gradients; the 28×28 stage's in F(4×4, 3×3),
    /// `winograd4::takes`); not `conv1` (one channel), the stride-2 convs or the 1×1
    /// projections.
    #[test]
    fn the_three_by_three_convs_take_it() {
        let g = |c, h, k, s, p| ConvGeom::new(2, c, h, h, c.max(16), k, s, p).unwrap();
        assert!(applies(&g(16, 28, 3, 1, 1)) && applies(&g(32, 14, 3, 1, 1)) && applies(&g(64, 7, 3, 1, 1)));
        assert!(!applies(&g(1, 28, 3, 1, 1)) && !applies(&g(16, 28, 3, 2, 1)) && !applies(&g(16, 28, 1, 2, 0)) && !applies(&g(16, 28, 3, 1, 0)));
    }

    #[test]
    fn winograd_equals_reference() {
        check_against_reference().unwrap();
    }
}

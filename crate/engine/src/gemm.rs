//! The one hot kernel: C = A·B (+ C), f32, any strides. Everything heavy in the engine goes
//! through here, single-threaded (the conv layers parallelise over images).
//!
//! - natively it is the `gemm` crate (blocked, packed, AVX2/AVX-512 micro-kernels chosen at
//!   run time);
//! - in wasm it is `packed::sgemm` below: A and B packed into 4-row and 8-column panels (A once
//!   per conv rather than once per image when it comes as an `Lhs`) and a 4×8 micro-kernel on
//!   simd128 with `f32x4_relaxed_madd` (one fused multiply-add where the CPU has FMA).
//!   Measured in Chromium, the gemm crate's simd128 kernels (separate multiply and add)
//!   reached ~20 GFLOP/s per thread on the convs; see the README's profile note.
//!
//! Strides are in elements: a row-major `m×k` matrix has `rs = k, cs = 1`; its transpose is the
//! same buffer read with `rs = 1, cs = k`.

pub struct Mat<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

/// `c[m×n] = a[m×k] · b[k×n]`, or `c += a·b` when `accumulate`. `c` is row-major with row
/// stride `ldc`.
pub fn sgemm(m: usize, n: usize, k: usize, a: Mat, b: Mat, c: &mut [f32], ldc: usize, accumulate: bool) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(m == 0 || (m - 1) * ldc + n <= c.len(), "gemm: destination too small");
    assert!(k == 0 || (m - 1) * a.rs + (k - 1) * a.cs < a.data.len(), "gemm: lhs too small");
    assert!(k == 0 || (k - 1) * b.rs + (n - 1) * b.cs < b.data.len(), "gemm: rhs too small");
    #[cfg(target_arch = "wasm32")]
    packed::sgemm(m, n, k, a, b, c, ldc, accumulate);
    #[cfg(not(target_arch = "wasm32"))]
    // SAFETY: the asserts above bound every index the kernel reads or writes.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            ldc as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// The left operand of many products (a conv's weights, the same for every image), prepared
/// once: in wasm packed into the kernel's row panels, natively just the matrix (the gemm
/// crate packs as it goes).
pub struct Lhs<'a> {
    m: usize,
    k: usize,
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    a: Mat<'a>,
    #[cfg(target_arch = "wasm32")]
    panels: Vec<f32>,
}

impl<'a> Lhs<'a> {
    pub fn new(m: usize, k: usize, a: Mat<'a>) -> Self {
        assert!(m == 0 || k == 0 || (m - 1) * a.rs + (k - 1) * a.cs < a.data.len(), "gemm: lhs too small");
        #[cfg(target_arch = "wasm32")]
        let panels = packed::pack_a(m, k, &a);
        Lhs { m, k, a, #[cfg(target_arch = "wasm32")] panels }
    }
}

/// `c[m×n] = lhs · b[k×n]` (or `+=`), as `sgemm` with a prepared left operand.
pub fn sgemm_lhs(lhs: &Lhs, n: usize, b: Mat, c: &mut [f32], ldc: usize, accumulate: bool) {
    #[cfg(target_arch = "wasm32")]
    {
        let (m, k) = (lhs.m, lhs.k);
        if m == 0 || n == 0 {
            return;
        }
        assert!((m - 1) * ldc + n <= c.len(), "gemm: destination too small");
        assert!(k == 0 || (k - 1) * b.rs + (n - 1) * b.cs < b.data.len(), "gemm: rhs too small");
        packed::sgemm_packed_a(m, n, k, &lhs.panels, b, c, ldc, accumulate);
    }
    #[cfg(not(target_arch = "wasm32"))]
    sgemm(lhs.m, n, lhs.k, Mat { data: lhs.a.data, rs: lhs.a.rs, cs: lhs.a.cs }, b, c, ldc, accumulate);
}

/// `c[m×n] (+)= a[m×k] · btᵀ`, where `a` (row stride `lda`) and `bt` (`n×k`, row stride `ldb`)
/// both have their k values contiguous: a conv's weight gradient `δ_n · col_nᵀ`, which sums
/// over the pixels. Natively `sgemm`. In wasm one of two products, by shape (measured: the
/// README's speed section):
/// - `nt::sgemm_nt`, which reads both operands in place, when the sums are long (k ≥ 128) and
///   A has fewer than 32 rows or B fewer than 24 columns (the first stage's convs, `conv1`,
///   the second stage's 1×1 projection: 32 rows, 16 columns);
/// - else `packed::sgemm_bt`, which transposes B into the 4×8 kernel's panels: with 32 rows
///   or more a panel serves 8 row tiles and more, and over short sums (7×7 planes) the
///   k-contiguous tiles' sums across lanes cost more than the transposing.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_nt(m: usize, n: usize, k: usize, a: &[f32], lda: usize, bt: &[f32], ldb: usize, c: &mut [f32], ldc: usize, accumulate: bool) {
    #[cfg(target_arch = "wasm32")]
    if k >= 128 && (m < 32 || n < 3 * packed::NR) {
        nt::sgemm_nt(m, n, k, a, lda, bt, ldb, c, ldc, accumulate);
    } else {
        packed::sgemm_bt(m, n, k, a, lda, bt, ldb, c, ldc, accumulate);
    }
    #[cfg(not(target_arch = "wasm32"))]
    sgemm(m, n, k, Mat { data: a, rs: lda, cs: 1 }, Mat { data: bt, rs: 1, cs: ldb }, c, ldc, accumulate);
}

/// `a·b + c` in simd128 lanes: one fused multiply-add with relaxed SIMD (where the CPU has
/// FMA), a multiply and an add without. The one operation of the GEMM kernels and of the
/// peak loop (`bench::peak_kernel`).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
pub fn madd(a: core::arch::wasm32::v128, b: core::arch::wasm32::v128, c: core::arch::wasm32::v128) -> core::arch::wasm32::v128 {
    use core::arch::wasm32::*;
    #[cfg(target_feature = "relaxed-simd")]
    return f32x4_relaxed_madd(a, b, c);
    #[cfg(not(target_feature = "relaxed-simd"))]
    return f32x4_add(f32x4_mul(a, b), c);
}

/// The product of two k-contiguous operands (`sgemm_nt`): 2×4 tiles of `c`, each the dot
/// products of 2 rows of `a` with 4 rows of `bt`, 4 k values at a time in simd128 lanes (8
/// accumulators), summed across the lanes at the end; plain arrays elsewhere (so its tiling
/// and edges are tested natively too).
pub mod nt {
    const TM: usize = 2;
    const TN: usize = 4;
    type Product = fn(usize, usize, usize, &[f32], usize, &[f32], usize, &mut [f32], usize, bool);

    /// What both products of `super::sgemm_nt`'s contract do first: nothing for an empty `c`,
    /// `c` zeroed (or kept, when accumulating) for an empty sum, which reads no operand; else
    /// the bounds asserted. True when nothing is left to multiply.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn done_before_the_sum(m: usize, n: usize, k: usize, (a, lda): (&[f32], usize), (bt, ldb): (&[f32], usize), c: &mut [f32], ldc: usize, accumulate: bool) -> bool {
        if m == 0 || n == 0 {
            return true;
        }
        assert!((m - 1) * ldc + n <= c.len(), "gemm: destination too small");
        if k == 0 {
            if !accumulate {
                (0..m).for_each(|i| c[i * ldc..][..n].fill(0.0));
            }
            return true;
        }
        assert!((m - 1) * lda + k <= a.len() && (n - 1) * ldb + k <= bt.len(), "gemm: operand too small");
        false
    }

    /// Same contract as `super::sgemm_nt`.
    #[allow(clippy::too_many_arguments)]
    pub fn sgemm_nt(m: usize, n: usize, k: usize, a: &[f32], lda: usize, bt: &[f32], ldb: usize, c: &mut [f32], ldc: usize, accumulate: bool) {
        if done_before_the_sum(m, n, k, (a, lda), (bt, ldb), c, ldc, accumulate) {
            return;
        }
        let mut put = |i: usize, j: usize, v: f32| {
            let d = &mut c[i * ldc + j];
            *d = if accumulate { *d + v } else { v };
        };
        for j0 in (0..n).step_by(TN) {
            for i0 in (0..m).step_by(TM) {
                // An edge tile (past the last row or column) repeats the last one and drops
                // what it computed there: its dot products stay in simd128 lanes too (conv1's
                // weight gradient is 16 × 9: its ninth column is such an edge, 4 columns
                // computed to keep 1, where it was 16 scalar sums of 784 terms).
                let ar: [&[f32]; TM] = std::array::from_fn(|r| &a[(i0 + r).min(m - 1) * lda..][..k]);
                let br: [&[f32]; TN] = std::array::from_fn(|q| &bt[(j0 + q).min(n - 1) * ldb..][..k]);
                let t = tile(k, ar, br);
                for (r, row) in t.iter().enumerate().take(m - i0) {
                    row.iter().enumerate().take(n - j0).for_each(|(q, &v)| put(i0 + r, j0 + q, v));
                }
            }
        }
    }

    /// `t[r][q] = Σ_p a[r][p] · b[q][p]` (rows of k values, k > 0).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn tile(k: usize, a: [&[f32]; TM], b: [&[f32]; TN]) -> [[f32; TN]; TM] {
        use super::madd;
        use core::arch::wasm32::*;
        let hsum = |v: v128| (f32x4_extract_lane::<0>(v) + f32x4_extract_lane::<1>(v)) + (f32x4_extract_lane::<2>(v) + f32x4_extract_lane::<3>(v));
        assert!(k > 0 && a.iter().chain(&b).all(|r| r.len() >= k));
        let k4 = k & !3;
        let z = f32x4_splat(0.0);
        let (mut c00, mut c01, mut c02, mut c03, mut c10, mut c11, mut c12, mut c13) = (z, z, z, z, z, z, z, z);
        // SAFETY: the assert bounds every load (p + 4 ≤ k4 ≤ k).
        unsafe {
            let (a0, a1) = (a[0].as_ptr(), a[1].as_ptr());
            let (b0, b1, b2, b3) = (b[0].as_ptr(), b[1].as_ptr(), b[2].as_ptr(), b[3].as_ptr());
            let mut p = 0;
            while p < k4 {
                let (x0, x1) = (v128_load(a0.add(p) as *const v128), v128_load(a1.add(p) as *const v128));
                let y0 = v128_load(b0.add(p) as *const v128);
                c00 = madd(x0, y0, c00);
                c10 = madd(x1, y0, c10);
                let y1 = v128_load(b1.add(p) as *const v128);
                c01 = madd(x0, y1, c01);
                c11 = madd(x1, y1, c11);
                let y2 = v128_load(b2.add(p) as *const v128);
                c02 = madd(x0, y2, c02);
                c12 = madd(x1, y2, c12);
                let y3 = v128_load(b3.add(p) as *const v128);
                c03 = madd(x0, y3, c03);
                c13 = madd(x1, y3, c13);
                p += 4;
            }
        }
        let mut t = [[hsum(c00), hsum(c01), hsum(c02), hsum(c03)], [hsum(c10), hsum(c11), hsum(c12), hsum(c13)]];
        for p in k4..k {
            for (r, row) in t.iter_mut().enumerate() {
                row.iter_mut().enumerate().for_each(|(q, v)| *v += a[r][p] * b[q][p]);
            }
        }
        t
    }

    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    fn tile(k: usize, a: [&[f32]; TM], b: [&[f32]; TN]) -> [[f32; TN]; TM] {
        let mut t = [[0.0; TN]; TM];
        for (r, row) in t.iter_mut().enumerate() {
            row.iter_mut().enumerate().for_each(|(q, v)| *v = (0..k).map(|p| a[r][p] * b[q][p]).sum());
        }
        t
    }

    /// Both of the weight gradient's products — `sgemm_nt` here and `packed::sgemm_bt` — against
    /// a naive product on shapes that reach every path (whole tiles, edge tiles, k not a
    /// multiple of 4, k in several blocks, k = 0, row strides wider than k, overwrite and
    /// accumulate): the check the engine's tests run natively and the wasm tests in Chromium.
    pub fn check_against_naive() -> Result<(), String> {
        for (name, product) in [("k-contiguous tiles", sgemm_nt as Product), ("packed, B transposed by panels", super::packed::sgemm_bt as Product)] {
            check_one(product).map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(())
    }

    fn check_one(sgemm_nt: Product) -> Result<(), String> {
        for &(m, n, k) in &[(1, 1, 1), (2, 4, 4), (2, 4, 5), (3, 5, 7), (4, 8, 3), (7, 9, 13), (16, 144, 784), (9, 30, 517), (64, 576, 49), (5, 6, 0), (5, 20, 0)] {
            let (lda, ldb, ldc) = (k + 2, k + 1, n + 3);
            // (an empty sum reads no operand: they are given empty)
            let a: Vec<f32> = (0..if k == 0 { 0 } else { m * lda }).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
            let bt: Vec<f32> = (0..if k == 0 { 0 } else { n * ldb }).map(|i| ((i * 53 % 97) as f32 - 48.0) / 30.0).collect();
            for accumulate in [false, true] {
                let mut c = vec![0.5f32; m * ldc];
                sgemm_nt(m, n, k, &a, lda, &bt, ldb, &mut c, ldc, accumulate);
                for i in 0..m {
                    for j in 0..ldc {
                        let want = if j >= n {
                            0.5 // (beyond the n columns: untouched)
                        } else {
                            (if accumulate { 0.5 } else { 0.0 }) + (0..k).map(|p| a[i * lda + p] * bt[j * ldb + p]).sum::<f32>()
                        };
                        let got = c[i * ldc + j];
                        if (got - want).abs() > 1e-4 * (1.0 + want.abs()) {
                            return Err(format!("{m}×{n}×{k} (accumulate {accumulate}) c[{i},{j}] = {got}, want {want}"));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// A packed GEMM with a 4×8 micro-kernel: simd128 + relaxed madd in wasm, plain arrays
/// elsewhere (so its packing and edge handling are tested natively too).
pub mod packed {
    use super::Mat;
    use std::cell::RefCell;

    pub const MR: usize = 4;
    pub const NR: usize = 8;
    /// The longest block of k that `sgemm_bt` multiplies at once (a block of its B panel is
    /// 8 KB, of A's row panel 4 KB).
    const KB: usize = 256;

    thread_local! {
        static PACK: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
        static PACK_A: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
    }

    /// A as row panels: panel i holds a[i·MR + r, p] at [(i·k + p)·MR + r], zero-padded.
    pub fn pack_a(m: usize, k: usize, a: &Mat) -> Vec<f32> {
        let mut pa = vec![];
        pack_a_into(m, k, a, &mut pa);
        pa
    }

    fn pack_a_into(m: usize, k: usize, a: &Mat, pa: &mut Vec<f32>) {
        pa.clear();
        pa.resize(m.div_ceil(MR) * k * MR, 0.0);
        for i in 0..m.div_ceil(MR) {
            for r in 0..MR.min(m - i * MR) {
                let row = i * MR + r;
                for p in 0..k {
                    pa[(i * k + p) * MR + r] = a.data[row * a.rs + p * a.cs];
                }
            }
        }
    }

    /// `c[m×n] (+)= a[m×k] · b[k×n]`; same contract as `super::sgemm`.
    #[allow(clippy::too_many_arguments)]
    pub fn sgemm(m: usize, n: usize, k: usize, a: Mat, b: Mat, c: &mut [f32], ldc: usize, accumulate: bool) {
        // (The panels are taken out of the thread-local so the product below can borrow it.)
        let mut pa = PACK_A.take();
        pack_a_into(m, k, &a, &mut pa);
        sgemm_packed_a(m, n, k, &pa, b, c, ldc, accumulate);
        PACK_A.set(pa);
    }

    /// As `sgemm`, with A already in panels (`pack_a`).
    #[allow(clippy::too_many_arguments)]
    pub fn sgemm_packed_a(m: usize, n: usize, k: usize, pa: &[f32], b: Mat, c: &mut [f32], ldc: usize, accumulate: bool) {
        let (mp, np) = (m.div_ceil(MR), n.div_ceil(NR));
        assert!(pa.len() >= mp * k * MR, "gemm: packed lhs too small");
        PACK.with(|pack| {
            let pb = &mut *pack.borrow_mut();
            // B: when its rows are contiguous (cs = 1) the kernel reads full 8-column panels in
            // place (row stride b.rs); otherwise, and for a last partial panel, panel j is
            // packed as b[p, j·NR + q] at [((j − first) · k + p)·NR + q], zero-padded, where
            // `first` is the first panel packed (only those are: zeroing room for every panel
            // cost a memset the size of B each call).
            let direct = b.cs == 1;
            let first = if direct { n / NR } else { 0 };
            pb.clear();
            pb.resize((np - first) * k * NR, 0.0);
            for j in first..np {
                let cols = NR.min(n - j * NR);
                for p in 0..k {
                    let dst = &mut pb[((j - first) * k + p) * NR..][..cols];
                    let src = p * b.rs + j * NR * b.cs;
                    for (q, d) in dst.iter_mut().enumerate() {
                        *d = b.data[src + q * b.cs];
                    }
                }
            }
            let mut acc = [[0.0f32; NR]; MR];
            for j in 0..np {
                let cols = NR.min(n - j * NR);
                let (bp, bstride) = if j < first { (&b.data[j * NR..], b.rs) } else { (&pb[(j - first) * k * NR..][..k * NR], NR) };
                for i in 0..mp {
                    let ap = &pa[i * k * MR..(i + 1) * k * MR];
                    if cols == NR && (i + 1) * MR <= m {
                        // a whole tile: stored from the registers straight into c
                        kernel(k, ap, bp, |p| p * bstride, Out::C(&mut c[i * MR * ldc + j * NR..], ldc, accumulate));
                        continue;
                    }
                    kernel(k, ap, bp, |p| p * bstride, Out::Acc(&mut acc));
                    store_edge(&acc, MR.min(m - i * MR), cols, &mut c[i * MR * ldc + j * NR..], ldc, accumulate);
                }
            }
        });
    }

    /// `c[m×n] (+)= a · btᵀ` with both operands k-contiguous (`super::sgemm_nt`'s contract):
    /// A packed into row panels, then B one 8-column panel at a time, its 8 rows of `bt`
    /// transposed into the panel (simd128 4×4 blocks) and multiplied while the panel is in L1:
    /// over k in blocks of at most `KB`, so that a block of the panel and of A's row panel fit
    /// in L1 together.
    #[allow(clippy::too_many_arguments)]
    pub fn sgemm_bt(m: usize, n: usize, k: usize, a: &[f32], lda: usize, bt: &[f32], ldb: usize, c: &mut [f32], ldc: usize, accumulate: bool) {
        if super::nt::done_before_the_sum(m, n, k, (a, lda), (bt, ldb), c, ldc, accumulate) {
            return;
        }
        let mut pa = PACK_A.take();
        pack_a_into(m, k, &Mat { data: a, rs: lda, cs: 1 }, &mut pa);
        let mp = m.div_ceil(MR);
        // k in equal blocks of at most KB, each a multiple of 4 (the transposer's step)
        let blocks = k.div_ceil(KB).max(1);
        let kc_max = k.div_ceil(blocks).next_multiple_of(4);
        PACK.with(|pack| {
            let panel = &mut *pack.borrow_mut();
            panel.clear();
            panel.resize(kc_max * NR, 0.0);
            let mut acc = [[0.0f32; NR]; MR];
            for j in 0..n.div_ceil(NR) {
                let cols = NR.min(n - j * NR);
                let mut k0 = 0;
                while k0 < k {
                    let kc = kc_max.min(k - k0);
                    let add = accumulate || k0 > 0;
                    transpose_panel(kc, &bt[j * NR * ldb + k0..], ldb, cols, panel);
                    for i in 0..mp {
                        let ap = &pa[(i * k + k0) * MR..][..kc * MR];
                        if cols == NR && (i + 1) * MR <= m {
                            kernel(kc, ap, panel, |p| p * NR, Out::C(&mut c[i * MR * ldc + j * NR..], ldc, add));
                            continue;
                        }
                        kernel(kc, ap, panel, |p| p * NR, Out::Acc(&mut acc));
                        store_edge(&acc, MR.min(m - i * MR), cols, &mut c[i * MR * ldc + j * NR..], ldc, add);
                    }
                    k0 += kc;
                }
            }
        });
        PACK_A.set(pa);
    }

    /// `panel[p·NR + q] = rows[q·ld + p]` for q < `cols` (0 past them), p < k.
    fn transpose_panel(k: usize, rows: &[f32], ld: usize, cols: usize, panel: &mut [f32]) {
        assert!(panel.len() >= k * NR && (cols == 0 || k == 0 || (cols - 1) * ld + k <= rows.len()));
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        if cols == NR {
            use core::arch::wasm32::*;
            let k4 = k & !3;
            // SAFETY: the assert bounds every load (row q < NR, p + 4 ≤ k) and store ((p + 4)·NR ≤ k·NR).
            unsafe {
                let (src, dst) = (rows.as_ptr(), panel.as_mut_ptr());
                let mut p = 0;
                while p < k4 {
                    for half in 0..2 {
                        let r = |q: usize| v128_load(src.add((4 * half + q) * ld + p) as *const v128);
                        let (r0, r1, r2, r3) = (r(0), r(1), r(2), r(3));
                        let t0 = i32x4_shuffle::<0, 4, 1, 5>(r0, r1);
                        let t1 = i32x4_shuffle::<2, 6, 3, 7>(r0, r1);
                        let t2 = i32x4_shuffle::<0, 4, 1, 5>(r2, r3);
                        let t3 = i32x4_shuffle::<2, 6, 3, 7>(r2, r3);
                        let d = dst.add(p * NR + 4 * half);
                        v128_store(d as *mut v128, i32x4_shuffle::<0, 1, 4, 5>(t0, t2));
                        v128_store(d.add(NR) as *mut v128, i32x4_shuffle::<2, 3, 6, 7>(t0, t2));
                        v128_store(d.add(2 * NR) as *mut v128, i32x4_shuffle::<0, 1, 4, 5>(t1, t3));
                        v128_store(d.add(3 * NR) as *mut v128, i32x4_shuffle::<2, 3, 6, 7>(t1, t3));
                    }
                    p += 4;
                }
            }
            for p in k4..k {
                for q in 0..NR {
                    panel[p * NR + q] = rows[q * ld + p];
                }
            }
            return;
        }
        for p in 0..k {
            for q in 0..NR {
                panel[p * NR + q] = if q < cols { rows[q * ld + p] } else { 0.0 };
            }
        }
    }

    /// `c[m×n] = a · B` with A in panels (`pack_a`) and row p of B the `n` values at
    /// `b[offs[p]..]` (`offs` increasing, `n` a multiple of NR): an im2col read in place.
    pub fn sgemm_packed_a_rows(m: usize, n: usize, pa: &[f32], b: &[f32], offs: &[usize], c: &mut [f32], ldc: usize) {
        let (k, mp) = (offs.len(), m.div_ceil(MR));
        assert!(n.is_multiple_of(NR) && pa.len() >= mp * k * MR && (m == 0 || (m - 1) * ldc + n <= c.len()), "gemm: operands too small");
        assert!(k == 0 || offs.windows(2).all(|w| w[0] <= w[1]) && offs[k - 1] + n <= b.len(), "gemm: B's rows out of order or past its end");
        let mut acc = [[0.0f32; NR]; MR];
        for j in 0..n / NR {
            let bp = &b[j * NR..];
            for i in 0..mp {
                let ap = &pa[i * k * MR..(i + 1) * k * MR];
                // SAFETY: p < k = offs.len()
                let row = |p: usize| unsafe { *offs.get_unchecked(p) };
                if (i + 1) * MR <= m {
                    kernel(k, ap, bp, row, Out::C(&mut c[i * MR * ldc + j * NR..], ldc, false));
                } else {
                    kernel(k, ap, bp, row, Out::Acc(&mut acc));
                    store_edge(&acc, m - i * MR, NR, &mut c[i * MR * ldc + j * NR..], ldc, false);
                }
            }
        }
    }

    /// An edge tile from the scratch tile into `c` (from the tile's first element, row stride
    /// `ldc`): its first `rows` rows and `cols` columns, overwritten or added to.
    fn store_edge(acc: &[[f32; NR]; MR], rows: usize, cols: usize, c: &mut [f32], ldc: usize, add: bool) {
        for (r, acc_row) in acc.iter().enumerate().take(rows) {
            let dst = &mut c[r * ldc..][..cols];
            if add {
                dst.iter_mut().zip(acc_row).for_each(|(d, v)| *d += v);
            } else {
                crate::layers::copy(&acc_row[..cols], dst);
            }
        }
    }

    /// Where the kernel puts its 4×8 tile: a scratch tile (for the edges), or rows of `c`
    /// (row stride `ldc`), overwritten or added to.
    enum Out<'a> {
        Acc(&'a mut [[f32; NR]; MR]),
        C(&'a mut [f32], usize, bool),
    }

    /// tile[r][q] = Σ_p ap[p·MR + r] · bp[row(p) + q], put in `out`; `row` is increasing (row
    /// p of B starts at `row(p)`: `p·stride` for a matrix, an implicit im2col's offsets).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn kernel(k: usize, ap: &[f32], bp: &[f32], row: impl Fn(usize) -> usize, out: Out) {
        use super::madd;
        use core::arch::wasm32::*;
        assert!(ap.len() >= k * MR && (k == 0 || bp.len() >= row(k - 1) + NR));
        let z = f32x4_splat(0.0);
        let (mut c00, mut c01, mut c10, mut c11, mut c20, mut c21, mut c30, mut c31) = (z, z, z, z, z, z, z, z);
        debug_assert!((1..k).all(|p| row(p - 1) <= row(p)), "gemm: B's rows out of order");
        // SAFETY: the assert bounds every load: p < k, and row(p) ≤ row(k − 1) because `row`
        // is increasing (both callers' rows are: p·stride, and offsets they assert sorted).
        unsafe {
            let (a, b) = (ap.as_ptr(), bp.as_ptr());
            for p in 0..k {
                let bp = b.add(row(p));
                let b0 = v128_load(bp as *const v128);
                let b1 = v128_load(bp.add(4) as *const v128);
                // A's four values as one load, each lane broadcast by a shuffle
                let va = v128_load(a.add(p * MR) as *const v128);
                let a0 = i32x4_shuffle::<0, 0, 0, 0>(va, va);
                let a1 = i32x4_shuffle::<1, 1, 1, 1>(va, va);
                let a2 = i32x4_shuffle::<2, 2, 2, 2>(va, va);
                let a3 = i32x4_shuffle::<3, 3, 3, 3>(va, va);
                c00 = madd(a0, b0, c00);
                c01 = madd(a0, b1, c01);
                c10 = madd(a1, b0, c10);
                c11 = madd(a1, b1, c11);
                c20 = madd(a2, b0, c20);
                c21 = madd(a2, b1, c21);
                c30 = madd(a3, b0, c30);
                c31 = madd(a3, b1, c31);
            }
            let rows = [(c00, c01), (c10, c11), (c20, c21), (c30, c31)];
            match out {
                Out::Acc(acc) => {
                    for (r, (lo, hi)) in rows.into_iter().enumerate() {
                        v128_store(acc[r].as_mut_ptr() as *mut v128, lo);
                        v128_store(acc[r].as_mut_ptr().add(4) as *mut v128, hi);
                    }
                }
                Out::C(c, ldc, accumulate) => {
                    assert!((MR - 1) * ldc + NR <= c.len(), "gemm: tile past the destination");
                    for (r, (lo, hi)) in rows.into_iter().enumerate() {
                        let d = c.as_mut_ptr().add(r * ldc);
                        let (lo, hi) = if accumulate {
                            (f32x4_add(lo, v128_load(d as *const v128)), f32x4_add(hi, v128_load(d.add(4) as *const v128)))
                        } else {
                            (lo, hi)
                        };
                        v128_store(d as *mut v128, lo);
                        v128_store(d.add(4) as *mut v128, hi);
                    }
                }
            }
        }
    }

    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    fn kernel(k: usize, ap: &[f32], bp: &[f32], row: impl Fn(usize) -> usize, out: Out) {
        let mut tile = [[0.0f32; NR]; MR];
        for p in 0..k {
            for (r, t) in tile.iter_mut().enumerate() {
                let a = ap[p * MR + r];
                t.iter_mut().zip(&bp[row(p)..][..NR]).for_each(|(c, b)| *c += a * b);
            }
        }
        match out {
            Out::Acc(acc) => *acc = tile,
            Out::C(c, ldc, accumulate) => {
                for (r, row) in tile.iter().enumerate() {
                    let d = &mut c[r * ldc..][..NR];
                    d.iter_mut().zip(row).for_each(|(d, v)| *d = if accumulate { *d + v } else { *v });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_with_transposes() {
        let (m, n, k) = (7, 13, 5);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        // a is m×k row-major; bt is b stored transposed (n×k row-major).
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        let mut c = vec![1.0f32; m * n];
        sgemm(m, n, k, Mat { data: &a, rs: k, cs: 1 }, Mat { data: &bt, rs: 1, cs: k }, &mut c, n, true);
        for i in 0..m {
            for j in 0..n {
                let want: f32 = 1.0 + (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum::<f32>();
                assert!((c[i * n + j] - want).abs() < 1e-5, "c[{i},{j}] = {} want {want}", c[i * n + j]);
            }
        }
    }

    /// The weight gradient's two wasm products (`nt`'s k-contiguous tiles and `packed::sgemm_bt`)
    /// in scalars: their tiling, blocks and edges (the wasm tests run the same check on their
    /// simd128 paths).
    #[test]
    fn nt_gemm_matches_naive() {
        nt::check_against_naive().unwrap();
    }

    /// The packed GEMM (the wasm path; here its scalar kernel, in Chromium the simd128 one)
    /// against a naive product.
    #[test]
    fn packed_gemm_matches_naive() {
        check_packed_against_naive().unwrap();
    }
}

/// The packed GEMM on odd sizes, B in place (its last panel partial or not) and transposed,
/// overwrite and accumulate into a wider c, whole tiles and edge tiles; and with B's rows at
/// offsets (`sgemm_packed_a_rows`): the check the engine's tests run natively and the wasm
/// tests in Chromium.
pub fn check_packed_against_naive() -> Result<(), String> {
    let close = |got: f32, want: f32| (got - want).abs() <= 1e-4 * (1.0 + want.abs());
    for &(m, n, k) in &[(1, 1, 1), (4, 8, 3), (5, 9, 7), (16, 784, 144), (13, 49, 576), (3, 2, 0)] {
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 53 % 97) as f32 - 48.0) / 30.0).collect();
        let want = |i: usize, j: usize| (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum::<f32>();
        for (transpose_b, accumulate) in [(false, false), (true, true), (false, true)] {
            let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
            let bm = if transpose_b { Mat { data: &bt, rs: 1, cs: k } } else { Mat { data: &b, rs: n, cs: 1 } };
            let ldc = n + 3;
            let mut c = vec![0.5f32; m * ldc];
            packed::sgemm(m, n, k, Mat { data: &a, rs: k, cs: 1 }, bm, &mut c, ldc, accumulate);
            for i in 0..m {
                for j in 0..ldc {
                    // (beyond the n columns: untouched)
                    let w = if j >= n { 0.5 } else { (if accumulate { 0.5 } else { 0.0 }) + want(i, j) };
                    if !close(c[i * ldc + j], w) {
                        return Err(format!("{m}×{n}×{k} (transposed B {transpose_b}, accumulate {accumulate}) c[{i},{j}] = {}, want {w}", c[i * ldc + j]));
                    }
                }
            }
        }
        // B's rows at offsets: row p of B at p·(n8 + 3) + p mod 3 in a longer buffer, 9s
        // between them (which the kernel reads past the n columns, and c drops)
        let n8 = n.next_multiple_of(packed::NR);
        let offs: Vec<usize> = (0..k).map(|p| p * (n8 + 3) + p % 3).collect();
        let mut wide = vec![9.0f32; offs.last().map_or(0, |o| o + n8)];
        for (p, &o) in offs.iter().enumerate() {
            wide[o..o + n].copy_from_slice(&b[p * n..][..n]);
        }
        let ldc = n8 + 1;
        let mut c = vec![0.5f32; m * ldc];
        packed::sgemm_packed_a_rows(m, n8, &packed::pack_a(m, k, &Mat { data: &a, rs: k, cs: 1 }), &wide, &offs, &mut c, ldc);
        for i in 0..m {
            for j in 0..n {
                if !close(c[i * ldc + j], want(i, j)) {
                    return Err(format!("{m}×{n}×{k}, rows at offsets: c[{i},{j}] = {}, want {}", c[i * ldc + j], want(i, j)));
                }
            }
        }
    }
    Ok(())
}

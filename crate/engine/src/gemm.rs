//! The one hot kernel: C = A·B (+ C), f32, any strides. Everything heavy in the engine goes
//! through here. It wraps the `gemm` crate (blocked, packed, SIMD micro-kernels: AVX2/AVX-512
//! natively, simd128 in wasm), run single-threaded: the conv layers parallelise over images.
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
}

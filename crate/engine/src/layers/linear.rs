//! Fully connected layer. x `[N, In]`, W `[Out, In]` (PyTorch), b `[Out]`, y `[N, Out]`.
//!   forward   z_j = Σ_k W_{jk} x_k + b_j
//!   backward  dx_k = Σ_j W_{jk} δ_j,   ∂C/∂W_{jk} = Σ_n δ_{n,j} x_{n,k}  (δ aᵀ),   ∂C/∂b_j = Σ_n δ_{n,j}

use num_traits::Float;

pub fn linear_forward<T: Float>(x: &[T], w: &[T], b: &[T], n_in: usize, y: &mut [T]) {
    let n_out = b.len();
    for (xn, yn) in x.chunks(n_in).zip(y.chunks_mut(n_out)) {
        for j in 0..n_out {
            yn[j] = b[j] + w[j * n_in..(j + 1) * n_in].iter().zip(xn).fold(T::zero(), |a, (&wv, &xv)| a + wv * xv);
        }
    }
}

pub fn linear_backward<T: Float>(x: &[T], w: &[T], dy: &[T], n_in: usize, dx: &mut [T], dw: &mut [T], db: &mut [T]) {
    let n_out = db.len();
    let n = dy.len() / n_out;
    for j in 0..n_out {
        db[j] = (0..n).fold(T::zero(), |a, s| a + dy[s * n_out + j]);
        for k in 0..n_in {
            dw[j * n_in + k] = (0..n).fold(T::zero(), |a, s| a + dy[s * n_out + j] * x[s * n_in + k]);
        }
    }
    for s in 0..n {
        for k in 0..n_in {
            dx[s * n_in + k] = (0..n_out).fold(T::zero(), |a, j| a + w[j * n_in + k] * dy[s * n_out + j]);
        }
    }
}

//! batchnorm2d. x, y, dy, dx `[N, C, H, W]`; γ, β, statistics `[C]`. Per channel `c` over the
//! `m = N·H·W` values (statistics accumulate in f64):
//!
//!   training   μ = mean(x), σ² = mean((x−μ)²) (biased), x̂ = (x−μ)/√(σ²+ε), y = γ·x̂ + β
//!              running_mean ← (1−0.1)·running_mean + 0.1·μ
//!              running_var  ← (1−0.1)·running_var  + 0.1·σ²·m/(m−1)   (unbiased, as PyTorch)
//!   eval       the same with the running statistics in place of μ, σ²
//!
//!   backward (training):  ∂C/∂β = Σ dy,  ∂C/∂γ = Σ dy·x̂,
//!                         ∂C/∂x = γ/(m·√(σ²+ε)) · (m·dy − Σ dy − x̂·Σ(dy·x̂))
//!   backward (eval):      ∂C/∂x = γ/√(running_var+ε) · dy   (the statistics are constants)

use super::lane_sum;
use num_traits::Float;

pub const EPS: f64 = 1e-5;
pub const MOMENTUM: f64 = 0.1;

pub struct Dims {
    pub n: usize,
    pub c: usize,
    pub hw: usize,
}

impl Dims {
    /// The values of channel `c`: one contiguous run of `hw` per image.
    fn runs<'a, T>(&'a self, x: &'a [T], c: usize) -> impl Iterator<Item = &'a [T]> + 'a {
        (0..self.n).map(move |n| &x[(n * self.c + c) * self.hw..][..self.hw])
    }
    fn m(&self) -> f64 {
        (self.n * self.hw) as f64
    }
}

fn f<T: Float>(v: T) -> f64 {
    v.to_f64().unwrap_or(f64::NAN)
}

fn t<T: Float>(v: f64) -> T {
    T::from(v).unwrap_or_else(T::nan)
}

/// Σ over channel `c` of `g(a, b)`: each run of `hw` summed in `T` (8 lanes, so it
/// vectorises), the runs added in f64.
fn channel_sum<T: Float>(d: &Dims, a: &[T], b: &[T], c: usize, g: impl Fn(T, T) -> T) -> f64 {
    d.runs(a, c).zip(d.runs(b, c)).map(|(ra, rb)| f(lane_sum(ra, rb, &g))).sum()
}

/// (Σ a, Σ a·b) over channel `c` in one pass, as `channel_sum`.
fn channel_sums2<T: Float>(d: &Dims, a: &[T], b: &[T], c: usize) -> (f64, f64) {
    d.runs(a, c).zip(d.runs(b, c)).fold((0.0, 0.0), |(s, sab), (ra, rb)| {
        let (mut acc, mut acc2) = ([T::zero(); 8], [T::zero(); 8]);
        let (ca, cb) = (ra.chunks_exact(8), rb.chunks_exact(8));
        let (ta, tb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for l in 0..8 {
                acc[l] = acc[l] + x[l];
                acc2[l] = acc2[l] + x[l] * y[l];
            }
        }
        let s1 = ta.iter().fold(acc.iter().fold(T::zero(), |s, &v| s + v), |s, &v| s + v);
        let s2 = ta.iter().zip(tb).fold(acc2.iter().fold(T::zero(), |s, &v| s + v), |s, (&x, &y)| s + x * y);
        (s + f(s1), sab + f(s2))
    })
}


/// `y[n,c,·] = x[n,c,·] · scale[c] + shift[c]`, images in parallel.
fn affine<T: Float + Send + Sync>(d: &Dims, x: &[T], y: &mut [T], scale: &[T], shift: &[T]) {
    super::for_each_chunk_large(y, d.c * d.hw, |n, yn| {
        let xn = &x[n * d.c * d.hw..][..d.c * d.hw];
        for c in 0..d.c {
            let (a, b) = (scale[c], shift[c]);
            for (yv, &xv) in yn[c * d.hw..][..d.hw].iter_mut().zip(&xn[c * d.hw..][..d.hw]) {
                *yv = xv * a + b;
            }
        }
    });
}

/// Training-mode forward. Writes y, the batch statistics (mean, biased var) and updates the
/// running statistics.
#[allow(clippy::too_many_arguments)]
pub fn forward_train<T: Float + Send + Sync>(
    d: &Dims,
    x: &[T],
    gamma: &[T],
    beta: &[T],
    y: &mut [T],
    batch_mean: &mut [T],
    batch_var: &mut [T],
    running_mean: &mut [T],
    running_var: &mut [T],
) {
    let m = d.m();
    let stats = super::par_map_large(d.c, x.len(), |c| {
        let mu = channel_sum(d, x, x, c, |v, _| v) / m;
        let mu_t = t::<T>(mu);
        let var = channel_sum(d, x, x, c, |v, _| (v - mu_t) * (v - mu_t)) / m;
        (mu, var)
    });
    for (c, &(mu, var)) in stats.iter().enumerate() {
        batch_mean[c] = t(mu);
        batch_var[c] = t(var);
        let unbiased = if m > 1.0 { var * m / (m - 1.0) } else { var };
        running_mean[c] = t((1.0 - MOMENTUM) * f(running_mean[c]) + MOMENTUM * mu);
        running_var[c] = t((1.0 - MOMENTUM) * f(running_var[c]) + MOMENTUM * unbiased);
    }
    normalize(d, x, y, &stats, gamma, beta);
}

/// Eval-mode forward with the running statistics.
pub fn forward_eval<T: Float + Send + Sync>(d: &Dims, x: &[T], gamma: &[T], beta: &[T], running_mean: &[T], running_var: &[T], y: &mut [T]) {
    let stats: Vec<(f64, f64)> = (0..d.c).map(|c| (f(running_mean[c]), f(running_var[c]))).collect();
    normalize(d, x, y, &stats, gamma, beta);
}

/// y = γ·(x−μ)/√(σ²+ε) + β, written as one multiply-add per value.
fn normalize<T: Float + Send + Sync>(d: &Dims, x: &[T], y: &mut [T], stats: &[(f64, f64)], gamma: &[T], beta: &[T]) {
    let inv_std: Vec<f64> = stats.iter().map(|&(_, var)| 1.0 / (var + EPS).sqrt()).collect();
    let scale: Vec<T> = (0..d.c).map(|c| t(f(gamma[c]) * inv_std[c])).collect();
    let shift: Vec<T> = (0..d.c).map(|c| t(f(beta[c]) - f(gamma[c]) * inv_std[c] * stats[c].0)).collect();
    affine(d, x, y, &scale, &shift);
}

/// x̂ of one value, as the backward formula uses it.
pub fn x_hat(x: f64, mean: f64, var: f64) -> f64 {
    (x - mean) / (var + EPS).sqrt()
}

/// Training-mode backward (batch statistics `mean`, `var` from the forward pass).
#[allow(clippy::too_many_arguments)]
pub fn backward_train<T: Float + Send + Sync>(
    d: &Dims,
    x: &[T],
    dy: &[T],
    gamma: &[T],
    mean: &[T],
    var: &[T],
    dx: &mut [T],
    dgamma: &mut [T],
    dbeta: &mut [T],
) {
    let m = d.m();
    // Σ dy and Σ dy·x per channel; Σ dy·x̂ = inv_std·(Σ dy·x − μ·Σ dy)
    let sums = super::par_map_large(d.c, x.len(), |c| channel_sums2(d, dy, x, c));
    let (mut a, mut b, mut e) = (vec![T::zero(); d.c], vec![T::zero(); d.c], vec![T::zero(); d.c]);
    for (c, &(sum_dy, sum_dy_x)) in sums.iter().enumerate() {
        let (mu, v) = (f(mean[c]), f(var[c]));
        let inv_std = 1.0 / (v + EPS).sqrt();
        let sum_dy_xhat = inv_std * (sum_dy_x - mu * sum_dy);
        dbeta[c] = t(sum_dy);
        dgamma[c] = t(sum_dy_xhat);
        // dx = k·(m·dy − Σdy − x̂·Σdy·x̂) with k = γ·inv_std/m, expanded to a·dy + b·x + e.
        let k = f(gamma[c]) * inv_std / m;
        a[c] = t(k * m);
        b[c] = t(-k * sum_dy_xhat * inv_std);
        e[c] = t(k * (-sum_dy + sum_dy_xhat * inv_std * mu));
    }
    super::for_each_chunk_large(dx, d.c * d.hw, |n, dxn| {
        let (dyn_, xn) = (&dy[n * d.c * d.hw..][..d.c * d.hw], &x[n * d.c * d.hw..][..d.c * d.hw]);
        for (c, ((o, g), v)) in dxn.chunks_exact_mut(d.hw).zip(dyn_.chunks_exact(d.hw)).zip(xn.chunks_exact(d.hw)).enumerate() {
            let (ac, bc, ec) = (a[c], b[c], e[c]);
            for ((o, &g), &v) in o.iter_mut().zip(g).zip(v) {
                *o = ac * g + bc * v + ec;
            }
        }
    });
}

/// Eval-mode backward: BN is a fixed affine map per channel.
#[allow(clippy::too_many_arguments)]
pub fn backward_eval<T: Float + Send + Sync>(
    d: &Dims,
    x: &[T],
    dy: &[T],
    gamma: &[T],
    running_mean: &[T],
    running_var: &[T],
    dx: &mut [T],
    dgamma: &mut [T],
    dbeta: &mut [T],
) {
    let mut scale = vec![T::zero(); d.c];
    for c in 0..d.c {
        let (mu, v) = (f(running_mean[c]), f(running_var[c]));
        let inv_std = 1.0 / (v + EPS).sqrt();
        let (sum_dy, sum_dy_x) = channel_sums2(d, dy, x, c);
        dbeta[c] = t(sum_dy);
        dgamma[c] = t(inv_std * (sum_dy_x - mu * sum_dy));
        scale[c] = t(f(gamma[c]) * inv_std);
    }
    affine(d, dy, dx, &scale, &vec![T::zero(); d.c]);
}

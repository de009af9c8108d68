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

/// Per-channel sums (Σ a, Σ a·b) over the batch, in f64.
fn channel_sums<T: Float>(d: &Dims, a: &[T], b: &[T], c: usize) -> (f64, f64) {
    let (mut s, mut sab) = (0.0, 0.0);
    for (ra, rb) in d.runs(a, c).zip(d.runs(b, c)) {
        for (&va, &vb) in ra.iter().zip(rb) {
            let va = va.to_f64().unwrap();
            s += va;
            sab += va * vb.to_f64().unwrap();
        }
    }
    (s, sab)
}

/// Training-mode forward. Writes y, the batch statistics (mean, biased var) and updates the
/// running statistics.
#[allow(clippy::too_many_arguments)]
pub fn forward_train<T: Float>(
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
    for c in 0..d.c {
        let mu = d.runs(x, c).flatten().map(|v| v.to_f64().unwrap()).sum::<f64>() / m;
        let var = d.runs(x, c).flatten().map(|v| (v.to_f64().unwrap() - mu).powi(2)).sum::<f64>() / m;
        batch_mean[c] = T::from(mu).unwrap();
        batch_var[c] = T::from(var).unwrap();
        let unbiased = if m > 1.0 { var * m / (m - 1.0) } else { var };
        running_mean[c] = T::from((1.0 - MOMENTUM) * running_mean[c].to_f64().unwrap() + MOMENTUM * mu).unwrap();
        running_var[c] = T::from((1.0 - MOMENTUM) * running_var[c].to_f64().unwrap() + MOMENTUM * unbiased).unwrap();
        normalize_channel(d, x, y, c, mu, var, gamma[c], beta[c]);
    }
}

/// Eval-mode forward with the running statistics.
pub fn forward_eval<T: Float>(d: &Dims, x: &[T], gamma: &[T], beta: &[T], running_mean: &[T], running_var: &[T], y: &mut [T]) {
    for c in 0..d.c {
        let (mu, var) = (running_mean[c].to_f64().unwrap(), running_var[c].to_f64().unwrap());
        normalize_channel(d, x, y, c, mu, var, gamma[c], beta[c]);
    }
}

/// y = γ·(x−μ)/√(σ²+ε) + β for channel c, written as one multiply-add per value.
#[allow(clippy::too_many_arguments)]
fn normalize_channel<T: Float>(d: &Dims, x: &[T], y: &mut [T], c: usize, mu: f64, var: f64, gamma: T, beta: T) {
    let inv_std = 1.0 / (var + EPS).sqrt();
    let scale = T::from(gamma.to_f64().unwrap() * inv_std).unwrap();
    let shift = T::from(beta.to_f64().unwrap() - gamma.to_f64().unwrap() * inv_std * mu).unwrap();
    for n in 0..d.n {
        let off = (n * d.c + c) * d.hw;
        for (yv, &xv) in y[off..off + d.hw].iter_mut().zip(&x[off..off + d.hw]) {
            *yv = xv * scale + shift;
        }
    }
}

/// x̂ of one value, as the backward formula uses it.
pub fn x_hat(x: f64, mean: f64, var: f64) -> f64 {
    (x - mean) / (var + EPS).sqrt()
}

/// Training-mode backward (batch statistics `mean`, `var` from the forward pass).
#[allow(clippy::too_many_arguments)]
pub fn backward_train<T: Float>(
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
    for c in 0..d.c {
        let (mu, v) = (mean[c].to_f64().unwrap(), var[c].to_f64().unwrap());
        let inv_std = 1.0 / (v + EPS).sqrt();
        // Σ dy and Σ dy·x̂ = inv_std·(Σ dy·x − μ·Σ dy)
        let (sum_dy, sum_dy_x) = channel_sums(d, dy, x, c);
        let sum_dy_xhat = inv_std * (sum_dy_x - mu * sum_dy);
        dbeta[c] = T::from(sum_dy).unwrap();
        dgamma[c] = T::from(sum_dy_xhat).unwrap();
        // dx = k·(m·dy − Σdy − x̂·Σdy·x̂) with k = γ·inv_std/m, expanded to a·dy + b·x + e.
        let k = gamma[c].to_f64().unwrap() * inv_std / m;
        let a = T::from(k * m).unwrap();
        let b = T::from(-k * sum_dy_xhat * inv_std).unwrap();
        let e = T::from(k * (-sum_dy + sum_dy_xhat * inv_std * mu)).unwrap();
        for n in 0..d.n {
            let off = (n * d.c + c) * d.hw;
            for i in off..off + d.hw {
                dx[i] = a * dy[i] + b * x[i] + e;
            }
        }
    }
}

/// Eval-mode backward: BN is a fixed affine map per channel.
pub fn backward_eval<T: Float>(
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
    for c in 0..d.c {
        let (mu, v) = (running_mean[c].to_f64().unwrap(), running_var[c].to_f64().unwrap());
        let inv_std = 1.0 / (v + EPS).sqrt();
        let (sum_dy, sum_dy_x) = channel_sums(d, dy, x, c);
        dbeta[c] = T::from(sum_dy).unwrap();
        dgamma[c] = T::from(inv_std * (sum_dy_x - mu * sum_dy)).unwrap();
        let a = T::from(gamma[c].to_f64().unwrap() * inv_std).unwrap();
        for n in 0..d.n {
            let off = (n * d.c + c) * d.hw;
            for i in off..off + d.hw {
                dx[i] = a * dy[i];
            }
        }
    }
}

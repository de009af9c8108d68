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
//!
//! A ReLU that reads only this BN's output may run in the same passes (the model decides):
//! the forward then also writes r = max(y, 0), and `backward_train_relu` starts from the
//! ReLU's δ, writing dy = δ_r ⊙ [r > 0] as it sums — one read of y, and one of dy, fewer.

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

/// Σ over channel `c` of `g(x)`: each run of `hw` summed in `T` (8 lanes, so it vectorises),
/// the runs added in f64.
fn channel_sum<T: Float>(d: &Dims, x: &[T], c: usize, g: impl Fn(T) -> T) -> f64 {
    d.runs(x, c).map(|r| f(super::lane_sum(r, r, |v, _| g(v)))).sum()
}

/// (Σ a, Σ a·b) over one run, in `T`: 8 lanes (so it vectorises), then the lanes and the tail.
fn run_sums2<T: Float>(ra: &[T], rb: &[T]) -> (T, T) {
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
    (s1, s2)
}

/// (Σ a, Σ a·b) over channel `c`: each run of `hw` summed in `T` (`run_sums2`), the runs
/// added in f64 in the order of the images.
fn channel_sums2<T: Float>(d: &Dims, a: &[T], b: &[T], c: usize) -> (f64, f64) {
    d.runs(a, c).zip(d.runs(b, c)).fold((0.0, 0.0), |(s, sab), (ra, rb)| {
        let (s1, s2) = run_sums2(ra, rb);
        (s + f(s1), sab + f(s2))
    })
}

/// `y[n,c,·] = x[n,c,·] · scale[c] + shift[c]` (and `relu = max(y, 0)` when given), images in
/// parallel.
fn affine<T: Float + Send + Sync>(d: &Dims, x: &[T], y: &mut [T], relu: Option<&mut [T]>, scale: &[T], shift: &[T]) {
    let len = d.c * d.hw;
    let image = |n: usize, yn: &mut [T], mut rn: Option<&mut [T]>| {
        let xn = &x[n * len..][..len];
        for c in 0..d.c {
            let (a, b) = (scale[c], shift[c]);
            let (yc, xc) = (&mut yn[c * d.hw..][..d.hw], &xn[c * d.hw..][..d.hw]);
            match rn.as_deref_mut() {
                Some(rn) => {
                    for ((yv, rv), &xv) in yc.iter_mut().zip(&mut rn[c * d.hw..][..d.hw]).zip(xc) {
                        *yv = xv * a + b;
                        *rv = super::activation::relu(*yv);
                    }
                }
                None => yc.iter_mut().zip(xc).for_each(|(yv, &xv)| *yv = xv * a + b),
            }
        }
    };
    match relu {
        Some(r) => super::for_each_chunk2_large(y, len, r, len, |n, yn, rn| image(n, yn, Some(rn))),
        None => super::for_each_chunk_large(y, len, |n, yn| image(n, yn, None)),
    }
}

/// Training-mode forward. Writes y (and `relu = max(y, 0)` when given), the batch statistics
/// (mean, biased var) and updates the running statistics.
#[allow(clippy::too_many_arguments)]
pub fn forward_train<T: Float + Send + Sync>(
    d: &Dims,
    x: &[T],
    gamma: &[T],
    beta: &[T],
    y: &mut [T],
    relu: Option<&mut [T]>,
    batch_mean: &mut [T],
    batch_var: &mut [T],
    running_mean: &mut [T],
    running_var: &mut [T],
) {
    let m = d.m();
    let stats = super::par_map_large(d.c, x.len(), |c| {
        let mu = channel_sum(d, x, c, |v| v) / m;
        let mu_t = t::<T>(mu);
        (mu, channel_sum(d, x, c, |v| (v - mu_t) * (v - mu_t)) / m)
    });
    for (c, &(mu, var)) in stats.iter().enumerate() {
        batch_mean[c] = t(mu);
        batch_var[c] = t(var);
        let unbiased = if m > 1.0 { var * m / (m - 1.0) } else { var };
        running_mean[c] = t((1.0 - MOMENTUM) * f(running_mean[c]) + MOMENTUM * mu);
        running_var[c] = t((1.0 - MOMENTUM) * f(running_var[c]) + MOMENTUM * unbiased);
    }
    normalize(d, x, y, relu, &stats, gamma, beta);
}

/// Eval-mode forward with the running statistics (and `relu = max(y, 0)` when given).
#[allow(clippy::too_many_arguments)]
pub fn forward_eval<T: Float + Send + Sync>(d: &Dims, x: &[T], gamma: &[T], beta: &[T], running_mean: &[T], running_var: &[T], y: &mut [T], relu: Option<&mut [T]>) {
    let stats: Vec<(f64, f64)> = (0..d.c).map(|c| (f(running_mean[c]), f(running_var[c]))).collect();
    normalize(d, x, y, relu, &stats, gamma, beta);
}

/// y = γ·(x−μ)/√(σ²+ε) + β, written as one multiply-add per value.
fn normalize<T: Float + Send + Sync>(d: &Dims, x: &[T], y: &mut [T], relu: Option<&mut [T]>, stats: &[(f64, f64)], gamma: &[T], beta: &[T]) {
    let inv_std: Vec<f64> = stats.iter().map(|&(_, var)| 1.0 / (var + EPS).sqrt()).collect();
    let scale: Vec<T> = (0..d.c).map(|c| t(f(gamma[c]) * inv_std[c])).collect();
    let shift: Vec<T> = (0..d.c).map(|c| t(f(beta[c]) - f(gamma[c]) * inv_std[c] * stats[c].0)).collect();
    affine(d, x, y, relu, &scale, &shift);
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
    // Σ dy and Σ dy·x per channel
    let sums = super::par_map_large(d.c, x.len(), |c| channel_sums2(d, dy, x, c));
    input_grad(d, x, dy, &sums, gamma, mean, var, dx, dgamma, dbeta);
}

/// `backward_train` of a BN whose output only a ReLU reads, from that ReLU's output `r` and
/// its δ `dr`: writes the ReLU's backward, dy = dr ⊙ [r > 0] (δ of the BN's output), in the
/// pass that sums it — the same values and sums as `activation::relu_backward` followed by
/// `backward_train`, one pass over dy fewer.
#[allow(clippy::too_many_arguments)]
pub fn backward_train_relu<T: Float + Send + Sync>(
    d: &Dims,
    x: &[T],
    r: &[T],
    dr: &[T],
    dy: &mut [T],
    gamma: &[T],
    mean: &[T],
    var: &[T],
    dx: &mut [T],
    dgamma: &mut [T],
    dbeta: &mut [T],
) {
    // image by image: dy, and each channel's (Σ dy, Σ dy·x) over the image's run
    let len = d.c * d.hw;
    let mut part = vec![(0.0, 0.0); d.n * d.c];
    super::for_each_chunk2_large(dy, len, &mut part, d.c, |n, dyn_, pn| {
        for (c, (o, p)) in dyn_.chunks_exact_mut(d.hw).zip(pn.iter_mut()).enumerate() {
            let at = (n * d.c + c) * d.hw;
            for ((o, &rv), &g) in o.iter_mut().zip(&r[at..][..d.hw]).zip(&dr[at..][..d.hw]) {
                *o = super::activation::relu_back(rv, g);
            }
            let (s1, s2) = run_sums2(o, &x[at..][..d.hw]);
            *p = (f(s1), f(s2));
        }
    });
    // (added in the order of the images, as `channel_sums2` does)
    let sums: Vec<(f64, f64)> = (0..d.c).map(|c| (0..d.n).fold((0.0, 0.0), |(a, b), n| (a + part[n * d.c + c].0, b + part[n * d.c + c].1))).collect();
    input_grad(d, x, dy, &sums, gamma, mean, var, dx, dgamma, dbeta);
}

/// From each channel's (Σ dy, Σ dy·x): ∂C/∂β, ∂C/∂γ and ∂C/∂x (training mode).
#[allow(clippy::too_many_arguments)]
fn input_grad<T: Float + Send + Sync>(
    d: &Dims,
    x: &[T],
    dy: &[T],
    sums: &[(f64, f64)],
    gamma: &[T],
    mean: &[T],
    var: &[T],
    dx: &mut [T],
    dgamma: &mut [T],
    dbeta: &mut [T],
) {
    let m = d.m();
    // Σ dy·x̂ = inv_std·(Σ dy·x − μ·Σ dy)
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
    affine(d, dy, dx, None, &scale, &vec![T::zero(); d.c]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::activation;

    fn values(len: usize, seed: usize, offset: f32) -> Vec<f32> {
        (0..len).map(|i| offset + (((i * 37 + seed * 11) % 101) as f32 - 50.0) / 17.0 + ((i * 7) as f32 * 0.13).sin()).collect()
    }

    /// The ReLU run in BN's passes gives, bit for bit, what the two passes apart give: the
    /// forward's r and the backward's dy, dx, dγ, dβ, on a shape that runs in parallel and on
    /// small ones with runs that are no multiple of 8 lanes.
    #[test]
    fn the_relu_in_bns_passes_equals_the_two_passes_apart() {
        for d in [Dims { n: 8, c: 5, hw: 29 * 29 }, Dims { n: 3, c: 2, hw: 5 }, Dims { n: 2, c: 3, hw: 16 }] {
            let len = d.n * d.c * d.hw;
            let (x, dr) = (values(len, 1, 0.3), values(len, 2, 0.0));
            let (gamma, beta) = (values(d.c, 3, 1.0), values(d.c, 4, 0.0));
            let run = |fused: bool| {
                let (mut y, mut r, mut mean, mut var) = (vec![0.0f32; len], vec![0.0f32; len], vec![0.0f32; d.c], vec![0.0f32; d.c]);
                let (mut rm, mut rv) = (vec![0.0f32; d.c], vec![1.0f32; d.c]);
                if fused {
                    forward_train(&d, &x, &gamma, &beta, &mut y, Some(&mut r), &mut mean, &mut var, &mut rm, &mut rv);
                } else {
                    forward_train(&d, &x, &gamma, &beta, &mut y, None, &mut mean, &mut var, &mut rm, &mut rv);
                    activation::relu_forward(&y, &mut r);
                }
                let (mut dy, mut dx, mut dg, mut db) = (vec![0.0f32; len], vec![0.0f32; len], vec![0.0f32; d.c], vec![0.0f32; d.c]);
                if fused {
                    backward_train_relu(&d, &x, &r, &dr, &mut dy, &gamma, &mean, &var, &mut dx, &mut dg, &mut db);
                } else {
                    activation::relu_backward(&r, &dr, &mut dy);
                    backward_train(&d, &x, &dy, &gamma, &mean, &var, &mut dx, &mut dg, &mut db);
                }
                [y, r, dy, dx, dg, db]
            };
            let (apart, fused) = (run(false), run(true));
            assert!(apart[1].iter().any(|&v| v == 0.0) && apart[1].iter().any(|&v| v > 0.0), "the ReLU cuts some values and keeps others");
            for (i, (a, b)) in apart.iter().zip(&fused).enumerate() {
                assert!(a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits()), "{}: output {i} differs", d.n * d.c * d.hw);
            }
        }
    }
}

//! Softmax cross-entropy, mean over the batch. logits z `[N, K]`, labels `[N]`.
//!   forward   p = softmax(z_n),  C = −(1/N) Σ_n log p_{n, y_n}
//!   backward  δ_{n,j} = (p_{n,j} − [j = y_n]) / N

use num_traits::Float;

/// Returns the loss (f64) and writes the probabilities.
pub fn softmax_ce_forward<T: Float>(z: &[T], labels: &[usize], k: usize, probs: &mut [T]) -> f64 {
    let mut loss = 0.0;
    for ((zn, pn), &y) in z.chunks(k).zip(probs.chunks_mut(k)).zip(labels) {
        let max = zn.iter().fold(f64::NEG_INFINITY, |m, v| m.max(v.to_f64().unwrap()));
        let sum: f64 = zn.iter().map(|v| (v.to_f64().unwrap() - max).exp()).sum();
        for (p, v) in pn.iter_mut().zip(zn) {
            *p = T::from((v.to_f64().unwrap() - max).exp() / sum).unwrap();
        }
        loss -= zn[y].to_f64().unwrap() - max - sum.ln();
    }
    loss / labels.len() as f64
}

pub fn softmax_ce_backward<T: Float>(probs: &[T], labels: &[usize], k: usize, dz: &mut [T]) {
    let inv_n = 1.0 / labels.len() as f64;
    for ((pn, dn), &y) in probs.chunks(k).zip(dz.chunks_mut(k)).zip(labels) {
        for j in 0..k {
            let t = if j == y { 1.0 } else { 0.0 };
            dn[j] = T::from((pn[j].to_f64().unwrap() - t) * inv_n).unwrap();
        }
    }
}

//! conv2d, the readable version: written straight from the formulas of
//! `docs/backprop-formulas.md`, one loop per index, generic over the float type. The fast
//! path (`conv.rs`) is tested against this on random shapes; the `f64` model runs on it.
//!
//! Shapes as in `conv.rs`: x `[N, C, H, W]`, w `[O, C, K, K]`, y and δ `[N, O, Ho, Wo]`.

use super::conv::ConvGeom;
use num_traits::Float;

fn at<T: Float>(x: &[T], g: &ConvGeom, n: usize, i: usize, r: isize, c: isize) -> T {
    // a^l read as 0 outside the image: the zero padding.
    if r < 0 || c < 0 || r >= g.h as isize || c >= g.w as isize {
        return T::zero();
    }
    x[((n * g.c_in + i) * g.h + r as usize) * g.w + c as usize]
}

/// Forward: `z[n,o,x',y'] = Σ_i Σ_{a<K} Σ_{b<K} w[o,i,a,b] · x[n,i, s·x'+a−p, s·y'+b−p] (+ bias[o])`.
pub fn conv2d_forward<T: Float>(g: &ConvGeom, x: &[T], w: &[T], bias: Option<&[T]>, y: &mut [T]) {
    let (k, s, p) = (g.k, g.stride as isize, g.pad as isize);
    for n in 0..g.n {
        for o in 0..g.c_out {
            for xo in 0..g.h_out {
                for yo in 0..g.w_out {
                    let mut z = bias.map_or(T::zero(), |b| b[o]);
                    for i in 0..g.c_in {
                        for a in 0..k {
                            for b in 0..k {
                                let wv = w[((o * g.c_in + i) * k + a) * k + b];
                                let r = s * xo as isize + a as isize - p;
                                let c = s * yo as isize + b as isize - p;
                                z = z + wv * at(x, g, n, i, r, c);
                            }
                        }
                    }
                    y[((n * g.c_out + o) * g.h_out + xo) * g.w_out + yo] = z;
                }
            }
        }
    }
}

/// δ^{l+1} of one (image, out channel) as the notes draw it: `s−1` zeros between neighbouring
/// entries (dilation, for stride `s`), then `K−1−p` zeros on every side (plus the rows and
/// columns the forward pass's floor division dropped, on the bottom and right). Returns the
/// matrix and its size. Requires `p ≤ K−1` (a wider padding would crop instead).
pub fn dilate_and_pad<T: Float>(g: &ConvGeom, dy: &[T], n: usize, o: usize) -> (Vec<T>, usize, usize) {
    let (k, s, p) = (g.k, g.stride, g.pad);
    assert!(p < k, "the reference backward needs padding < kernel size");
    let edge = k - 1 - p;
    // Full correlation of the padded matrix with a K×K kernel must give H×W outputs.
    let hd = g.h + k - 1;
    let wd = g.w + k - 1;
    let mut m = vec![T::zero(); hd * wd];
    for xo in 0..g.h_out {
        for yo in 0..g.w_out {
            m[(edge + s * xo) * wd + edge + s * yo] = dy[((n * g.c_out + o) * g.h_out + xo) * g.w_out + yo];
        }
    }
    (m, hd, wd)
}

/// ROT180 of the `K×K` kernel `w[o, i, ·, ·]`: `rot[a, b] = w[o, i, K−1−a, K−1−b]`.
pub fn rot180<T: Float>(g: &ConvGeom, w: &[T], o: usize, i: usize) -> Vec<T> {
    let k = g.k;
    let mut r = vec![T::zero(); k * k];
    for a in 0..k {
        for b in 0..k {
            r[a * k + b] = w[((o * g.c_in + i) * k + (k - 1 - a)) * k + (k - 1 - b)];
        }
    }
    r
}

/// Backward, the notes' way:
///
///   dx = Σ_o  dilate_and_pad(δ^{l+1}_o) ⋆ ROT180(w_{o,i})          (⋆ = cross-correlation)
///   dw[o,i,a,b] = Σ_n Σ_{x',y'} δ[n,o,x',y'] · x[n,i, s·x'+a−p, s·y'+b−p]
///   dbias[o]    = Σ_n Σ_{x',y'} δ[n,o,x',y']
///
/// (The σ'(z) factor of `δ^l = (δ^{l+1} ⊛ ROT180(w)) ⊙ σ'(z^l)` belongs to the activation
/// layer below; the conv returns ∂C/∂x, the part before it.)
pub fn conv2d_backward<T: Float>(
    g: &ConvGeom,
    x: &[T],
    w: &[T],
    dy: &[T],
    dx: Option<&mut [T]>,
    dw: &mut [T],
    db: Option<&mut [T]>,
) {
    let (k, s, p) = (g.k, g.stride as isize, g.pad as isize);
    if let Some(dx) = dx {
        dx.iter_mut().for_each(|v| *v = T::zero());
        for n in 0..g.n {
            for o in 0..g.c_out {
                let (m, _, wd) = dilate_and_pad(g, dy, n, o);
                for i in 0..g.c_in {
                    let rot = rot180(g, w, o, i);
                    for xr in 0..g.h {
                        for yc in 0..g.w {
                            let mut acc = T::zero();
                            for a in 0..k {
                                for b in 0..k {
                                    acc = acc + m[(xr + a) * wd + yc + b] * rot[a * k + b];
                                }
                            }
                            let d = &mut dx[((n * g.c_in + i) * g.h + xr) * g.w + yc];
                            *d = *d + acc;
                        }
                    }
                }
            }
        }
    }
    for o in 0..g.c_out {
        for i in 0..g.c_in {
            for a in 0..k {
                for b in 0..k {
                    let mut acc = T::zero();
                    for n in 0..g.n {
                        for xo in 0..g.h_out {
                            for yo in 0..g.w_out {
                                let d = dy[((n * g.c_out + o) * g.h_out + xo) * g.w_out + yo];
                                let r = s * xo as isize + a as isize - p;
                                let c = s * yo as isize + b as isize - p;
                                acc = acc + d * at(x, g, n, i, r, c);
                            }
                        }
                    }
                    dw[((o * g.c_in + i) * k + a) * k + b] = acc;
                }
            }
        }
    }
    if let Some(db) = db {
        for (o, d) in db.iter_mut().enumerate() {
            let mut acc = T::zero();
            for n in 0..g.n {
                for v in &dy[(n * g.c_out + o) * g.h_out * g.w_out..][..g.h_out * g.w_out] {
                    acc = acc + *v;
                }
            }
            *d = acc;
        }
    }
}

//! Layers as forward/backward pairs over flat NCHW slices. Each function's first comment lines
//! give the shapes and the formula it implements (see `docs/backprop-formulas.md`).

pub mod activation;
pub mod batchnorm;
pub mod conv;
pub mod conv_reference;
pub mod linear;
pub mod loss;
pub mod pool;

/// Runs `f(index, chunk)` over the `chunk`-sized pieces of `out`, in parallel when the
/// `parallel` feature is on (native, threaded wasm) and in order otherwise.
pub(crate) fn for_each_chunk<T: Send>(out: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
    }
    #[cfg(not(feature = "parallel"))]
    out.chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
}

/// Memory-bound passes (BN, ReLU, the residual add) over fewer values than this run on one
/// thread (natively; 2^15 measured no worse than 2^17 within noise): waking the other threads
/// costs more than it saves. In the browser only the convs,
/// whose per-image work is large, use the Web Worker pool: with BN there too, the threaded
/// build trained 453 / 494 images/s (batch 32 / 64), without it 482 / 514 (anchors harness,
/// one run each, bench/results/).
pub(crate) const PAR_MIN_LEN: usize = if cfg!(target_arch = "wasm32") { usize::MAX } else { 1 << 15 };

/// `for_each_chunk` for memory-bound passes: parallel only over `PAR_MIN_LEN` values.
pub(crate) fn for_each_chunk_large<T: Send>(out: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    if out.len() >= PAR_MIN_LEN {
        for_each_chunk(out, chunk, f)
    } else {
        out.chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c))
    }
}

/// `(0..n).map(f)`, in parallel with the `parallel` feature when `work ≥ PAR_MIN_LEN`.
pub(crate) fn par_map_large<R: Send>(n: usize, work: usize, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    if work >= PAR_MIN_LEN { par_map(n, f) } else { (0..n).map(f).collect() }
}

/// `(0..n).map(f)`, in parallel with the `parallel` feature.
pub(crate) fn par_map<R: Send>(n: usize, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        (0..n).into_par_iter().map(f).collect()
    }
    #[cfg(not(feature = "parallel"))]
    (0..n).map(f).collect()
}

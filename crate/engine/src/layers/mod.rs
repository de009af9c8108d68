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

//! Layers as forward/backward pairs over flat NCHW slices. Each function's first comment lines
//! give the shapes and the formula it implements (see `docs/backprop-formulas.md`).

pub mod activation;
pub mod batchnorm;
pub mod conv;
pub mod conv_reference;
pub mod linear;
pub mod loss;
pub mod pool;
pub mod shortcut;
pub mod winograd;
#[cfg(feature = "parallel")]
mod team;

/// Runs `f(index, chunk)` over the `chunk`-sized pieces of `out`: shared among the threads of
/// the pass's team with the `parallel` feature (see [`in_pool`]), in order otherwise. Which
/// index a piece gets never depends on the thread count, so results do not either.
pub(crate) fn for_each_chunk<T: Send>(out: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    #[cfg(feature = "parallel")]
    {
        let len = out.len();
        if len <= chunk {
            return out.chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
        }
        // The pieces are disjoint, so each item may hold a `&mut` to its own piece.
        struct Base<T>(*mut T);
        unsafe impl<T: Send> Sync for Base<T> {}
        let base = Base(out.as_mut_ptr());
        let base = &base;
        team::run(len.div_ceil(chunk), &|i| {
            let start = i * chunk;
            let piece = unsafe { std::slice::from_raw_parts_mut(base.0.add(start), chunk.min(len - start)) };
            f(i, piece)
        });
    }
    #[cfg(not(feature = "parallel"))]
    out.chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
}

/// How many empty looks an idle helper of a pass makes before it sleeps (`team`; with the
/// `parallel` feature, else there are no helpers): set for measuring, read back.
pub fn set_helper_spins(_n: u32) -> u32 {
    #[cfg(feature = "parallel")]
    return team::set_helper_spins(_n);
    #[cfg(not(feature = "parallel"))]
    0 // (no helpers)
}

/// Runs a whole pass `f` (a training step, a forward or a backward) on the rayon pool as one
/// team (with the `parallel` feature; else right here): `f` runs on a pool thread, the
/// *leader*, and every other pool thread runs a *helper* that takes items of the pass's
/// parallel loops until `f` returns. Each of the pass's ~30 loops (convs, BN, ReLU …) so
/// starts with all threads awake instead of waking sleeping threads each time (a few µs
/// natively, an `Atomics.wait`/`notify` round trip in the browser). Nested calls run inline.
/// See `team` for why this cannot deadlock.
pub fn in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    #[cfg(feature = "parallel")]
    return team::in_pool(f);
    #[cfg(not(feature = "parallel"))]
    f()
}

/// `Σ g(a_i, b_i)` in `T`, in 8 lanes (so it vectorises), the lanes added at the end: the inner
/// loop of BN's statistics and of `activation::sum_of_squares`.
pub(crate) fn lane_sum<T: num_traits::Float>(a: &[T], b: &[T], g: impl Fn(T, T) -> T) -> T {
    let mut acc = [T::zero(); 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] = acc[l] + g(x[l], y[l]);
        }
    }
    let tail = ra.iter().zip(rb).fold(T::zero(), |s, (&x, &y)| s + g(x, y));
    acc.iter().fold(tail, |s, &v| s + v)
}

/// Memory-bound passes (BN, ReLU, the residual add) over fewer values than this run on one
/// thread (2^15 measured no worse than 2^17 within noise): splitting them costs more than it
/// saves. (Before passes ran as a team, waking the browser's pool workers for BN cost more than
/// BN itself — 453 against 482 images/s at batch 32 — so the wasm build ran them serially;
/// with the team they run like the native ones.)
pub(crate) const PAR_MIN_LEN: usize = 1 << 15;

/// `for_each_chunk` for memory-bound passes: parallel only over `PAR_MIN_LEN` values.
pub(crate) fn for_each_chunk_large<T: Send>(out: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    if out.len() >= PAR_MIN_LEN {
        for_each_chunk(out, chunk, f)
    } else {
        out.chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c))
    }
}

/// `for_each_chunk_large` over two outputs at once: `f(i, a's i-th piece of ca, b's of cb)`
/// (`b` has at least as many pieces as `a`; in parallel when `a` is large enough).
pub(crate) fn for_each_chunk2_large<A: Send, B: Send>(a: &mut [A], ca: usize, b: &mut [B], cb: usize, f: impl Fn(usize, &mut [A], &mut [B]) + Sync + Send) {
    let need = a.len().div_ceil(ca).checked_mul(cb);
    assert!(need.is_some_and(|n| b.len() >= n), "for_each_chunk2: too few pieces of b");
    // SAFETY: `for_each_chunk_large` calls `f` once for each index i of a's pieces, so the
    // pieces of b taken below are disjoint (b's i-th of cb) and, by the assert, inside b.
    struct Base<B>(*mut B);
    unsafe impl<B: Send> Sync for Base<B> {}
    let base = Base(b.as_mut_ptr());
    let base = &base;
    for_each_chunk_large(a, ca, |i, pa| f(i, pa, unsafe { std::slice::from_raw_parts_mut(base.0.add(i * cb), cb) }));
}

/// `(0..n).map(f)`, in parallel with the `parallel` feature when `work ≥ PAR_MIN_LEN`.
pub(crate) fn par_map_large<R: Send>(n: usize, work: usize, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    if work >= PAR_MIN_LEN { par_map(n, f) } else { (0..n).map(f).collect() }
}

/// `(0..n).map(f)`, in parallel with the `parallel` feature.
pub(crate) fn par_map<R: Send>(n: usize, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    let mut out: Vec<Option<R>> = (0..n).map(|_| None).collect();
    for_each_chunk(&mut out, 1, |i, slot| slot[0] = Some(f(i)));
    out.into_iter().map(|r| r.expect("every item ran")).collect()
}

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

/// Runs a whole pass `f` (a training step, a forward or a backward) on the rayon pool as one
/// team (with the `parallel` feature; else right here). `f` runs on a pool thread, and every
/// other pool thread runs a helper that keeps taking the pass's parallel work until `f`
/// returns: so each of the pass's ~30 parallel loops (convs, BN, ReLU …) starts with all
/// threads awake, instead of waking sleeping threads each time. Waking a thread costs a few µs
/// natively and much more in the browser (an `Atomics.wait`/`notify` round trip), which is why
/// a threaded build without this spent a sizeable part of a step single-threaded. The helpers
/// spin while `f` runs serial code; they stop when it returns. Nested calls run inline.
pub fn in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    #[cfg(feature = "parallel")]
    {
        use std::sync::atomic::{AtomicBool, Ordering};
        if rayon::current_thread_index().is_some() {
            return f();
        }
        // Restores this thread's TEAM_BUSY once the pass and its helpers are all over (also
        // when `f` panics).
        struct Restore(bool);
        impl Drop for Restore {
            fn drop(&mut self) {
                TEAM_BUSY.set(self.0);
            }
        }
        // Ends the pass, so the helpers stop, even if `f` panics (else they would spin forever).
        struct End<'a>(&'a AtomicBool);
        impl Drop for End<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Release);
            }
        }
        rayon::scope(|_| {
            let _restore = Restore(TEAM_BUSY.replace(true));
            let done = &AtomicBool::new(false);
            rayon::in_place_scope(|s| {
                // One helper in each thread's own queue (no other thread can take it; this
                // thread's copy returns at once).
                s.spawn_broadcast(move |_, _| {
                    // A helper only spins on a thread that is not already inside a pass or a
                    // helper: spinning there could wait forever on work held further down its
                    // own stack.
                    if TEAM_BUSY.get() {
                        return;
                    }
                    TEAM_BUSY.set(true);
                    while !done.load(Ordering::Acquire) {
                        if rayon::yield_now() != Some(rayon::Yield::Executed) {
                            std::hint::spin_loop();
                        }
                    }
                    TEAM_BUSY.set(false);
                });
                let _end = End(done);
                f()
            })
        })
    }
    #[cfg(not(feature = "parallel"))]
    f()
}

#[cfg(feature = "parallel")]
thread_local! {
    /// Whether this pool thread is running a pass of `in_pool` or one of its helpers.
    static TEAM_BUSY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
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

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
pub mod winograd4;
#[cfg(feature = "parallel")]
mod team;

/// A slice whose disjoint pieces the items of one parallel loop write, each item its own: the
/// one raw-pointer wrapper the engine's loops share (`for_each_chunk`, `for_each_chunk_then`,
/// `for_each_chunk2_large`, Winograd's weight panels). It holds the slice's `&mut` borrow for
/// its lifetime, and `piece` checks its bounds; what it cannot check, the caller promises: no
/// two pieces in use at once overlap (each loop says why its pieces do not).
pub(crate) struct Pieces<'a, T> {
    base: *mut T,
    len: usize,
    _slice: std::marker::PhantomData<&'a mut [T]>,
}

// SAFETY: items on other threads only reach the slice through `piece`, whose callers promise
// disjoint pieces; so sharing the wrapper is sharing `&mut`s to disjoint parts of a `T: Send`
// slice, which is sound.
unsafe impl<T: Send> Sync for Pieces<'_, T> {}

impl<'a, T> Pieces<'a, T> {
    pub(crate) fn new(slice: &'a mut [T]) -> Self {
        Pieces { base: slice.as_mut_ptr(), len: slice.len(), _slice: std::marker::PhantomData }
    }

    /// The `len` values from `start`.
    ///
    /// # Safety
    /// No other piece of this slice that overlaps it is in use while it is.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn piece(&self, start: usize, len: usize) -> &'a mut [T] {
        assert!(start <= self.len && len <= self.len - start, "piece {start}+{len} outside a slice of {}", self.len);
        // SAFETY: inside the slice (asserted), which outlives 'a; disjoint from the other
        // pieces in use (the caller's promise)
        unsafe { std::slice::from_raw_parts_mut(self.base.add(start), len) }
    }
}

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
        let out = Pieces::new(out);
        team::run(len.div_ceil(chunk), &|i| {
            let start = i * chunk;
            // SAFETY: item i's piece, which no other item takes (the loop runs each i once)
            f(i, unsafe { out.piece(start, chunk.min(len - start)) })
        });
    }
    #[cfg(not(feature = "parallel"))]
    out.chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
}

/// `for_each_chunk` over `a` and then over `b` as one loop: `fa(i, a's i-th piece)` for a's
/// pieces, then `fb(i, b's i-th piece)` for b's, shared among the team's threads, in that
/// order of claims (so put the longer items in `a`: the short ones of `b` even out the threads'
/// ends). In order without the `parallel` feature.
pub(crate) fn for_each_chunk_then<A: Send, B: Send>(a: &mut [A], ca: usize, fa: impl Fn(usize, &mut [A]) + Sync + Send, b: &mut [B], cb: usize, fb: impl Fn(usize, &mut [B]) + Sync + Send) {
    #[cfg(feature = "parallel")]
    {
        let (la, lb) = (a.len(), b.len());
        let na = la.div_ceil(ca);
        let (a, b) = (Pieces::new(a), Pieces::new(b));
        // SAFETY (both pieces): item i's, of a or of b, which no other item takes (the loop
        // runs each i once)
        team::run(na + lb.div_ceil(cb), &|i| {
            if i < na {
                let start = i * ca;
                fa(i, unsafe { a.piece(start, ca.min(la - start)) })
            } else {
                let start = (i - na) * cb;
                fb(i - na, unsafe { b.piece(start, cb.min(lb - start)) })
            }
        });
    }
    #[cfg(not(feature = "parallel"))]
    {
        a.chunks_mut(ca).enumerate().for_each(|(i, c)| fa(i, c));
        b.chunks_mut(cb).enumerate().for_each(|(i, c)| fb(i, c));
    }
}

/// How many empty looks an idle helper of a pass makes before it sleeps (`team`; with the
/// `parallel` feature, else there are no helpers): set for measuring, read back.
pub fn set_helper_spins(_n: u32) -> u32 {
    #[cfg(feature = "parallel")]
    return team::set_helper_spins(_n);
    #[cfg(not(feature = "parallel"))]
    0 // (no helpers)
}

/// `in_pool`, with where the pass's threads wait timed by `clock` (ms; `Waits`): its leader at
/// the ends of loops, its helpers without an item, how many loops it shared, and its serial
/// code (the leader outside the loops). Without the `parallel` feature, or nested in another
/// pass, nothing waits (all zero).
pub fn in_pool_timed<R: Send>(_clock: fn() -> f64, f: impl FnOnce() -> R + Send) -> (R, Waits) {
    #[cfg(feature = "parallel")]
    return team::in_pool_timed(_clock, f);
    #[cfg(not(feature = "parallel"))]
    (f(), Waits::default())
}

/// Where a pass's threads waited (`in_pool_timed`), ms: the leader at the ends of loops, for
/// helpers' last items; the helpers without an item, summed over the helpers (the pass's
/// serial code, loop ends where the leader ran last, waking from a sleep, the pass's end; not
/// a helper's late start); how many loops the leader shared; and the leader's time outside
/// the loops (the pass's serial code, while the helpers wait). All zero without the
/// `parallel` feature.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Waits {
    pub leader_ms: f64,
    pub helpers_ms: f64,
    pub loops: u64,
    pub serial_ms: f64,
}

/// On the thread leading a pass timed by `in_pool_timed`: the pass's serial code so far (with
/// the stretch of it running now) and the leader's waits at the ends of loops so far
/// (`Waits::serial_ms` and `leader_ms` up to now), ms; zeros anywhere else and without the
/// `parallel` feature. (What a module's profile lap reads at its ends.)
pub fn leader_so_far() -> (f64, f64) {
    #[cfg(feature = "parallel")]
    return team::leader_so_far();
    #[cfg(not(feature = "parallel"))]
    (0.0, 0.0)
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

/// Element types every byte of which is part of the value (no padding, no pointers), so that
/// `copy` may move them as raw bytes: f32, f64 and u8 (sealed: no other type can be one).
pub trait Plain: Copy + plain::Sealed {}
impl Plain for f32 {}
impl Plain for f64 {}
impl Plain for u8 {}
mod plain {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for u8 {}
}

/// `dst = src` (equal lengths), for the engine's copies of tensors and rows. In wasm a simd128
/// loop of 16-byte loads and stores (32 bytes a step), not `memory.copy`. V8 runs
/// `memory.copy` as a call to the C library's `memmove`, which on the AMD EPYC of the README
/// took 13–26× as long for 1.6 MB (0.92–1.56 ms against 0.06–0.075) when the destination lay
/// 4 to 24 bytes past the source modulo 4096 (the offsets measured; 0 and 32 were fast) —
/// where the allocator puts consecutive tensors whose size is a multiple of 4 KB, as every
/// stage's are at batch 32 (`bench/memcopy.mjs`) — and it cost a call per row on short rows.
/// The loop takes 0.06–0.12 ms at every offset measured.
#[inline(always)]
pub(crate) fn copy<T: Plain>(src: &[T], dst: &mut [T]) {
    assert_eq!(src.len(), dst.len(), "copy: lengths differ");
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::{v128, v128_load, v128_store};
        use core::sync::atomic::{compiler_fence, Ordering};
        let bytes = core::mem::size_of_val(src);
        let (s, d) = (src.as_ptr() as *const u8, dst.as_mut_ptr() as *mut u8);
        let mut i = 0;
        // SAFETY: every access lies in the first `bytes` bytes of `src` or `dst` (equal
        // lengths, checked above); the two cannot overlap (one is borrowed mutably), so the
        // last 16 bytes may be copied again over bytes already copied; `v128_load` and
        // `v128_store` take unaligned addresses; and a `Plain` value is its bytes.
        // (The fences emit no code; without them LLVM sees the loops for what they are and
        // makes them a `memory.copy` again — read in the built module with binaryen's
        // `wasm-dis`: no `memory.copy` is left in the convs, the GEMM's edge store or the
        // junction's backward.)
        unsafe {
            while i + 32 <= bytes {
                let (a, b) = (v128_load(s.add(i) as *const v128), v128_load(s.add(i + 16) as *const v128));
                v128_store(d.add(i) as *mut v128, a);
                v128_store(d.add(i + 16) as *mut v128, b);
                compiler_fence(Ordering::Release);
                i += 32;
            }
            if bytes >= 16 {
                // the 0–31 bytes left, as none, one or two 16-byte copies, the last one ending at
                // the end (overlapping what is already copied)
                if i + 16 < bytes {
                    v128_store(d.add(i) as *mut v128, v128_load(s.add(i) as *const v128));
                }
                if i < bytes {
                    v128_store(d.add(bytes - 16) as *mut v128, v128_load(s.add(bytes - 16) as *const v128));
                }
            } else {
                while i < bytes {
                    *d.add(i) = *s.add(i);
                    compiler_fence(Ordering::Release);
                    i += 1;
                }
            }
        }
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    dst.copy_from_slice(src);
}

/// `copy` against its definition: every length from 0 to 70 and one of 100,003 values, at
/// source and destination offsets 0 to 4 values into their buffers (so the 16-byte steps start
/// misaligned, and every count of bytes left after the 32-byte steps, 0 to 31, and every
/// length under 16 bytes is met), for f32 and for bytes; the values around
/// the destination must stay as they were. Run by the engine's tests and, in Chromium, by the
/// wasm tests (where `copy` is the simd128 loop).
pub fn check_copy() -> Result<(), String> {
    fn on<T: Plain + PartialEq + std::fmt::Debug>(of: impl Fn(usize) -> T, fill: T) -> Result<(), String> {
        for n in (0..=70).chain([100_003]) {
            for (so, d_o) in [(0, 0), (1, 0), (0, 3), (2, 1), (4, 4), (3, 2)] {
                let src: Vec<T> = (0..so + n).map(&of).collect();
                let mut dst = vec![fill; d_o + n + 5];
                copy(&src[so..], &mut dst[d_o..d_o + n]);
                let want = |i: usize| if (d_o..d_o + n).contains(&i) { src[so + i - d_o] } else { fill };
                if let Some(i) = (0..dst.len()).find(|&i| dst[i] != want(i)) {
                    return Err(format!("copy of {n} values from offset {so} to {d_o}: dst[{i}] = {:?}, want {:?}", dst[i], want(i)));
                }
            }
        }
        Ok(())
    }
    on(|i| i as f32 * 0.5 + 1.0, -7.0f32)?;
    on(|i| (i % 251) as u8 + 1, 0u8)
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
    let b = Pieces::new(b);
    // SAFETY: `for_each_chunk_large` calls `f` once for each index i of a's pieces, so the
    // pieces of b taken are disjoint (b's i-th of cb; inside b by the assert)
    for_each_chunk_large(a, ca, |i, pa| f(i, pa, unsafe { b.piece(i * cb, cb) }));
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

#[cfg(test)]
mod tests {
    #[test]
    fn copy_matches_its_definition() {
        super::check_copy().unwrap();
    }

    /// `Pieces::piece` gives the values asked for and refuses a piece that ends past the slice
    /// (or starts past it), rather than reach outside it.
    #[test]
    fn a_piece_stays_inside_its_slice() {
        let mut v: Vec<u32> = (0..10).collect();
        let pieces = super::Pieces::new(&mut v);
        // SAFETY (each piece): the only piece in use
        assert_eq!(unsafe { pieces.piece(7, 3) }, &[7, 8, 9]);
        assert_eq!(unsafe { pieces.piece(10, 0) }, &[] as &[u32]);
        for (start, len) in [(8, 3), (11, 0), (1, usize::MAX)] {
            let past = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { pieces.piece(start, len).len() }));
            assert!(past.is_err(), "piece {start}+{len} of 10 was given");
        }
    }

    /// `for_each_chunk_then` gives every piece of both slices once, with its index, the last
    /// pieces partial (10 values in pieces of 3, then 7 in pieces of 2), on a pool of two
    /// threads as one pass and on the caller's thread.
    #[test]
    fn for_each_chunk_then_gives_every_piece_once() {
        let run = || {
            let (mut a, mut b) = (vec![(0usize, 0usize); 10], vec![(0usize, 0usize); 7]);
            // (each value: its piece's index, and its piece's length added once per write)
            let put = |i: usize, p: &mut [(usize, usize)]| {
                let n = p.len();
                p.iter_mut().for_each(|v| *v = (i, v.1 + n))
            };
            super::for_each_chunk_then(&mut a, 3, put, &mut b, 2, put);
            (a, b)
        };
        let want = |n: usize, c: usize| (0..n).map(|j| (j / c, c.min(n - j / c * c))).collect::<Vec<_>>();
        #[cfg(feature = "parallel")]
        let pooled = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap().install(|| super::in_pool(run));
        #[cfg(not(feature = "parallel"))]
        let pooled = run();
        for (a, b) in [pooled, run()] {
            assert_eq!((a, b), (want(10, 3), want(7, 2)));
        }
    }
}

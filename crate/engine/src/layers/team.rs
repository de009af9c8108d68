//! A pass's team: work sharing without work stealing.
//!
//! The leader publishes one loop at a time — `n` items and a body — in [`Team`]; the
//! leader and the helpers claim items with a compare-and-swap on one word and run them;
//! the leader waits until every claimed item has finished, then publishes the next loop.
//! No part of a pass is ever a rayon job: the loops do not use rayon's `join`, so no
//! thread can hold a piece of the pass on its stack while it waits for something.
//!
//! Why no thread can block forever (the proof the design rests on):
//! 1. An item's body is leaf code: it never waits for anything (a loop inside it runs
//!    serially, `in_pool` inside it runs inline), so a claimed item finishes.
//! 2. The leader waits only for items already claimed (`pending` counts claimed or
//!    unclaimed items not yet finished, and the leader claims until none is unclaimed), so
//!    by 1 its wait ends; and it never calls into rayon while `f` runs, so nothing else
//!    can be stacked on top of it. Hence `f` returns, and `done` is set.
//! 3. A helper waits only for `done` of its own pass (running items meanwhile, which end
//!    by 1, or asleep until the leader publishes a loop or sets `done` and wakes it), so
//!    by 2 it returns. It does not call into rayon either, so nothing is stacked
//!    on top of it: whatever lies below a helper on its thread's stack (a rayon wait of
//!    some other code, or the end of another pass's scope) is resumed once it returns.
//! 4. The end of the pass's `rayon` scope waits for every helper to start and return. A
//!    helper not yet started sits in its thread's broadcast queue, which that thread reads
//!    whenever it looks for work: when idle, at the end of a scope of its own, or inside
//!    any rayon wait. A thread that is the leader or a helper of another pass reads it once
//!    that role ends, which by 2 and 3 happens. The late helper sees `done` and returns.
//!    The leader's own job, when `in_pool` is called from outside the pool, waits in the
//!    pool's queue the same way: taken by the first thread that looks for work.
//!
//! The old design ran the loops as rayon `join`s and had helpers spin in `yield_now`: a
//! thread that had stolen half of a loop could, waiting inside it, pick up a helper that
//! spun until the pass ended — while the pass waited for the half below that helper.
//! The stress test at the end of this file (`stress`) found that hang; it cannot happen
//! here because of 2 and 3.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

type Body<'a> = &'a (dyn Fn(usize) + Sync);
type Panic = Box<dyn std::any::Any + Send>;

#[derive(Clone, Copy, PartialEq)]
enum Role {
    /// Not part of a team: a loop here starts a pass of its own.
    Free,
    /// Running a pass's `f`; loops are shared with the team.
    Leader(*const Team),
    /// Running a helper or an item: loops run serially, passes inline.
    Busy,
}

thread_local! {
    static ROLE: Cell<Role> = const { Cell::new(Role::Free) };
}

/// Sets this thread's role for a while; the old one comes back on drop (also on a panic).
struct As(Role);
impl As {
    fn new(role: Role) -> As {
        As(ROLE.replace(role))
    }
}
impl Drop for As {
    fn drop(&mut self) {
        ROLE.set(self.0);
    }
}

pub(crate) struct Team {
    /// The current loop: item count in the high 32 bits, next unclaimed item in the low.
    claim: AtomicU64,
    /// Items of the current loop not yet finished.
    pending: AtomicUsize,
    /// The current loop's body: points to a `Body` on the leader's stack, valid while
    /// `pending > 0` (written before `claim` publishes the loop, read after a claim).
    body: AtomicPtr<()>,
    /// The pass's `f` has returned (or panicked): helpers leave.
    done: AtomicBool,
    /// The first panic of an item, re-raised on the leader.
    panic: Mutex<Option<Panic>>,
    /// Helpers asleep (or about to be) on `wake`, and the lock they sleep under.
    sleepers: AtomicUsize,
    sleep: Mutex<()>,
    wake: Condvar,
    /// Where the pass's threads wait, timed with this clock (ms) when it is set
    /// (`in_pool_timed`); `None` in every other pass.
    clock: Option<fn() -> f64>,
    waits: [AtomicU64; 4],
    /// When the leader last left a loop (or began the pass): f64 bits, ms (timed passes;
    /// only the leader reads and writes it).
    out_since: AtomicU64,
}

use super::Waits;
/// `Team::waits`' counters (ns, ns, loops, ns).
const LEADER: usize = 0;
const HELPERS: usize = 1;
const LOOPS: usize = 2;
/// The leader's time outside the loops: the pass's serial code.
const SERIAL: usize = 3;

impl Team {
    fn new(clock: Option<fn() -> f64>) -> Team {
        Team { claim: AtomicU64::new(0), pending: AtomicUsize::new(0), body: AtomicPtr::new(std::ptr::null_mut()), done: AtomicBool::new(false), panic: Mutex::new(None), sleepers: AtomicUsize::new(0), sleep: Mutex::new(()), wake: Condvar::new(), clock, waits: Default::default(), out_since: AtomicU64::new(0) }
    }

    /// The leader leaves a loop (or begins the pass): its serial code starts now.
    fn leave_loop(&self) {
        if let Some(now) = self.now() {
            self.out_since.store(now.to_bits(), Ordering::Relaxed);
        }
    }

    /// The leader enters a loop (or ends the pass): the serial code since `leave_loop` counts.
    fn enter_loop(&self) {
        if self.clock.is_some() {
            self.waited(Some(f64::from_bits(self.out_since.load(Ordering::Relaxed))), SERIAL);
        }
    }

    /// The leader's serial code (with the stretch it is in now) and its waits at loop ends so
    /// far in this pass, ms.
    fn leader_so_far(&self) -> (f64, f64) {
        let ms = |k: usize| self.waits[k].load(Ordering::Relaxed) as f64 / 1e6;
        match self.now() {
            Some(now) => (ms(SERIAL) + (now - f64::from_bits(self.out_since.load(Ordering::Relaxed))).max(0.0), ms(LEADER)),
            None => (0.0, 0.0),
        }
    }

    /// The clock now, in a timed pass.
    fn now(&self) -> Option<f64> {
        self.clock.map(|c| c())
    }

    /// Adds the time since `since` (when taken) to wait `k`, in ns.
    fn waited(&self, since: Option<f64>, k: usize) {
        if let Some(t) = since {
            if let Some(now) = self.now() {
                self.waits[k].fetch_add(((now - t).max(0.0) * 1e6) as u64, Ordering::Relaxed);
            }
        }
    }

    /// Claims the next item of the current loop, if one is left. A successful
    /// compare-and-swap acts on the word as it is now, so the item belongs to the loop
    /// currently published (never to a finished one), and `pending` still counts it.
    fn claim(&self) -> Option<usize> {
        let mut w = self.claim.load(Ordering::Acquire);
        loop {
            let (n, next) = (w >> 32, w & 0xffff_ffff);
            if next >= n {
                return None;
            }
            match self.claim.compare_exchange_weak(w, w + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(next as usize),
                Err(now) => w = now,
            }
        }
    }

    /// Runs a claimed item as a busy thread, then counts it finished.
    fn run_item(&self, i: usize) {
        let _busy = As::new(Role::Busy);
        // SAFETY: the leader keeps the body alive until `pending` reaches 0, which needs
        // this item's decrement below.
        let body: Body = unsafe { *(self.body.load(Ordering::Acquire) as *const Body) };
        if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(i))) {
            self.panic.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(p);
        }
        self.pending.fetch_sub(1, Ordering::Release);
    }

    /// The leader: publishes a loop, works on it, waits until all of it has finished.
    fn run_loop(&self, n: usize, body: Body) {
        self.enter_loop();
        self.body.store(&body as *const Body as *mut (), Ordering::Relaxed);
        self.pending.store(n, Ordering::Relaxed);
        self.claim.store((n as u64) << 32, Ordering::SeqCst);
        self.wake_sleepers();
        while let Some(i) = self.claim() {
            self.run_item(i);
        }
        // The rest is running on helpers: spin, and on a loaded machine, where the helper
        // may have lost its core, let the OS run another thread now and then.
        let waiting = self.now();
        let mut spins = 0u32;
        while self.pending.load(Ordering::Acquire) != 0 {
            spins += 1;
            if spins % LEADER_SPINS == 0 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        if waiting.is_some() {
            self.waited(waiting, LEADER);
            self.waits[LOOPS].fetch_add(1, Ordering::Relaxed);
            self.leave_loop();
        }
        if let Some(p) = self.panic.lock().unwrap_or_else(|e| e.into_inner()).take() {
            std::panic::resume_unwind(p);
        }
    }

    /// A helper: runs items until the pass is done. Between loops (the pass's serial
    /// code) it spins, so the next loop starts with it awake; after `HELPER_SPINS` empty
    /// looks it sleeps until the leader publishes a loop or ends the pass, which frees the
    /// core on a loaded machine and in long serial stretches.
    fn help(&self) {
        let _busy = As::new(Role::Busy);
        let mut spins = 0u32;
        let patience = HELPER_SPINS.load(Ordering::Relaxed);
        let mut idle_since = None; // (in a timed pass)
        while !self.done.load(Ordering::Acquire) {
            if let Some(i) = self.claim() {
                self.waited(idle_since.take(), HELPERS);
                self.run_item(i);
                spins = 0;
            } else {
                idle_since = idle_since.or_else(|| self.now());
                if spins < patience {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    self.sleep_until_work();
                    spins = 0;
                }
            }
        }
        self.waited(idle_since, HELPERS);
    }

    /// Sleeps until there is an item to claim or the pass is done. No wake-up is lost:
    /// the sleeper counts itself in `sleepers` and then looks at `claim` and `done`; the
    /// leader stores `claim` or `done` and then looks at `sleepers` (all `SeqCst`), so
    /// one of the two sees the other's store; a leader that sees a sleeper notifies
    /// under the lock the sleeper holds until it waits.
    fn sleep_until_work(&self) {
        let mut guard = self.sleep.lock().unwrap_or_else(|e| e.into_inner());
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        loop {
            let w = self.claim.load(Ordering::SeqCst);
            if self.done.load(Ordering::SeqCst) || (w & 0xffff_ffff) < (w >> 32) {
                break;
            }
            guard = self.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    /// After a store to `claim` or `done`: wakes the helpers that sleep.
    fn wake_sleepers(&self) {
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.sleep.lock().unwrap_or_else(|e| e.into_inner());
            self.wake.notify_all();
        }
    }

    /// Ends the pass: helpers leave.
    fn end(&self) {
        self.done.store(true, Ordering::SeqCst);
        self.wake_sleepers();
    }
}

/// Empty looks before an idle helper sleeps (natively a `pause` each, ≈ 0.5 ms in all;
/// in wasm, where a sleep and wake-up is an `Atomics.wait`/`notify` round trip, longer).
/// (A setting, so that the bench page can compare values in one build: `set_helper_spins`,
/// `bench.html?spins=N`; measured in the README's Speed section.)
#[cfg(not(target_arch = "wasm32"))]
static HELPER_SPINS: AtomicU32 = AtomicU32::new(1 << 13);
#[cfg(target_arch = "wasm32")]
static HELPER_SPINS: AtomicU32 = AtomicU32::new(1 << 18);

/// Sets how many empty looks an idle helper makes before it sleeps (for measuring; clamped to
/// 1 … 2^26); returns the value set.
pub fn set_helper_spins(n: u32) -> u32 {
    let n = n.clamp(1, 1 << 26);
    HELPER_SPINS.store(n, Ordering::Relaxed);
    n
}
/// A leader waiting for helpers' items yields its core once every this many spins.
const LEADER_SPINS: u32 = 1 << 10;

/// `n` items of `body`: shared with the team on a leader, serially on a busy thread, as a
/// pass of its own anywhere else.
pub(crate) fn run(n: usize, body: Body) {
    match ROLE.get() {
        // SAFETY: a leader's team outlives its `f`, during which this role is set.
        Role::Leader(team) => unsafe { &*team }.run_loop(n, body),
        Role::Busy => (0..n).for_each(body),
        Role::Free => in_pool(|| run(n, body)),
    }
}

pub(crate) fn in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    in_pool_with(None, f).0
}

/// On the leader of a timed pass: its serial code and its waits at loop ends so far, ms
/// (`Waits::serial_ms` and `leader_ms` up to now); zeros anywhere else.
pub(crate) fn leader_so_far() -> (f64, f64) {
    match ROLE.get() {
        // SAFETY: as in `run`.
        Role::Leader(team) => unsafe { &*team }.leader_so_far(),
        _ => (0.0, 0.0),
    }
}

/// `in_pool`, with where the pass's threads wait timed by `clock` (ms; it runs on every
/// thread of the team, so it must not block or call into rayon). Nested in another pass, `f`
/// runs inline in that one and nothing is timed (all zero).
pub(crate) fn in_pool_timed<R: Send>(clock: fn() -> f64, f: impl FnOnce() -> R + Send) -> (R, Waits) {
    in_pool_with(Some(clock), f)
}

fn in_pool_with<R: Send>(clock: Option<fn() -> f64>, f: impl FnOnce() -> R + Send) -> (R, Waits) {
    if ROLE.get() != Role::Free {
        return (f(), Waits::default());
    }
    // Ends the pass, so the helpers leave, even if `f` panics.
    struct End<'a>(&'a Team);
    impl Drop for End<'_> {
        fn drop(&mut self) {
            self.0.end();
        }
    }
    // The leader's job goes to a pool thread first (unless this is one), and only then
    // hands out the helpers: helpers handed out first could occupy every pool thread and
    // leave the leader's job waiting in the pool's queue, which helpers never read.
    rayon::scope(|_| {
        let team = &Team::new(clock);
        let r = rayon::in_place_scope(|s| {
            // One helper in each pool thread's own broadcast queue (no other thread can
            // take it; the leader's own copy runs after `f`, sees `done` and returns).
            // Helpers are optional: the leader never waits for one to start.
            s.spawn_broadcast(move |_, _| {
                if ROLE.get() == Role::Free {
                    team.help();
                }
            });
            let _end = End(team);
            let _lead = As::new(Role::Leader(team));
            team.leave_loop();
            let r = f();
            team.enter_loop();
            r
        });
        // (every helper has returned: the scope waited for them)
        let ms = |k: usize| team.waits[k].load(Ordering::Relaxed) as f64 / 1e6;
        (r, Waits { leader_ms: ms(LEADER), helpers_ms: ms(HELPERS), loops: team.waits[LOOPS].load(Ordering::Relaxed), serial_ms: ms(SERIAL) })
    })
}

#[cfg(test)]
mod timed {
    use super::*;
    use std::time::{Duration, Instant};

    /// Waits until `n` items have started (so that each thread holds one) or 5 s have passed;
    /// whether they all started in time.
    fn meet(started: &AtomicUsize, n: usize) -> bool {
        started.fetch_add(1, Ordering::SeqCst);
        let t = Instant::now();
        while started.load(Ordering::SeqCst) < n {
            if t.elapsed() > Duration::from_secs(5) {
                return false;
            }
            std::hint::spin_loop();
        }
        true
    }

    /// A timed pass on a pool of its own (two threads: a leader and one helper) counts its
    /// loops, and times the helper's idle stretch while the leader runs 40 ms of serial code
    /// and the leader's wait while the helper runs a 40-ms item. Each is at least 10 ms (a
    /// loaded machine may take a thread's core for a while) and at most the pass less the
    /// other thread's 40 ms. The serial code is the 40 ms at least (a sleep lasts that long),
    /// and at most the pass less the second loop's 40 ms.
    #[test]
    fn a_timed_pass_times_its_threads_waits() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let t = Instant::now();
        let (two_threads, w) = pool.install(|| {
            in_pool_timed(crate::bench::clock_ms, || {
                let (started, met) = (AtomicUsize::new(0), AtomicBool::new(true));
                let meet_all = |_: usize| {
                    if !meet(&started, 2) {
                        met.store(false, Ordering::SeqCst);
                    }
                };
                run(2, &meet_all); // (the helper has started)
                std::thread::sleep(Duration::from_millis(40)); // serial: the helper is idle
                let (so_far, waited) = leader_so_far();
                let leader = std::thread::current().id();
                started.store(0, Ordering::SeqCst);
                run(2, &|i| {
                    meet_all(i);
                    if std::thread::current().id() != leader {
                        std::thread::sleep(Duration::from_millis(40)); // the leader waits for it
                    }
                });
                (met.load(Ordering::SeqCst), so_far, waited)
            })
        });
        let (two_threads, so_far, waited) = two_threads;
        let pass_ms = t.elapsed().as_secs_f64() * 1e3;
        assert_eq!(w.loops, 2);
        // the leader's serial code: the 40 ms between the loops, not its wait in the second
        assert!((40.0..=pass_ms - 40.0 + 1.0).contains(&w.serial_ms), "{w:?} in a pass of {pass_ms} ms");
        assert!((40.0..=w.serial_ms).contains(&so_far), "{so_far} ms of serial code by the second loop, {w:?}");
        assert!(waited <= w.leader_ms, "the leader waited {waited} ms by the second loop, {w:?}");
        assert_eq!(leader_so_far(), (0.0, 0.0), "outside a pass");
        if two_threads {
            // (else the helper took no item within 5 s: nothing to check)
            assert!((10.0..=pass_ms - 40.0 + 1.0).contains(&w.helpers_ms), "{w:?} in a pass of {pass_ms} ms");
            assert!((10.0..=pass_ms - 40.0 + 1.0).contains(&w.leader_ms), "{w:?} in a pass of {pass_ms} ms");
        }
        // and an untimed pass times nothing
        let ((), w) = pool.install(|| in_pool_with(None, || run(2, &|_| ())));
        assert_eq!(w, Waits::default());
    }
}

#[cfg(test)]
mod stress {
    //! The pool must never hang. Many tiny passes, each starting a parallel loop at once, and
    //! many short training steps, on pools of 2, 4 and 16 threads while another thread keeps a
    //! core busy: a pass that hands out its helpers and its first loop a moment apart, with
    //! threads losing their core at any instruction, is where the old design deadlocked (see
    //! the module's doc). Each run is a child process under a watchdog, so a hang fails with
    //! a message instead of stopping the test run.
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::RecvTimeoutError;
    use std::time::{Duration, Instant};

    /// No pass finished for this long means a hang: a pass takes microseconds, and even on a
    /// loaded machine 100 of them finish in well under a second; a deadlock never ends.
    const STALL: Duration = Duration::from_secs(60);

    /// The child's heartbeat: a line every 100 passes, which the parent's watchdog waits for.
    fn beat(what: &str, i: usize) {
        if i % 100 == 0 {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{what} {i}").and_then(|_| out.flush()).ok();
        }
    }

    /// Run by `pool_never_hangs*` in a child process (`RAYON_NUM_THREADS` set by the parent)
    /// beside `RP_BUSY` busy threads: `RP_PASSES` tiny passes, each starting a parallel loop at
    /// once, or (`RP_WORK=training`) training steps of a small ResNet on batches of 1…8 digits,
    /// then two callers training at once.
    #[test]
    #[ignore = "run by pool_never_hangs* in a child process"]
    fn stress_child() {
        let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
        let (busy, passes) = (env("RP_BUSY", 1), env("RP_PASSES", 20_000));
        let training = std::env::var("RP_WORK").is_ok_and(|w| w == "training");
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..busy {
                s.spawn(|| {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                    }
                });
            }
            if training {
                train_steps(passes);
            } else {
                for p in 0..passes {
                    let sum: u64 = crate::layers::in_pool(|| {
                        let a = crate::layers::par_map(8 + p % 9, |i| (0..200 + 50 * i as u64).fold(i as u64, |s, k| std::hint::black_box(s ^ k.wrapping_mul(31))));
                        let b = crate::layers::par_map(3, |i| i as u64);
                        a.iter().chain(&b).sum()
                    });
                    assert_eq!(sum, (0..8 + p % 9).map(|i| (0..200 + 50 * i as u64).fold(i as u64, |s, k| s ^ k.wrapping_mul(31))).sum::<u64>() + 3);
                    beat("pass", p);
                }
            }
            stop.store(true, Ordering::Relaxed);
        });
        println!("stress child finished");
    }

    /// `steps` training steps of a narrow ResNet-8 on batches of 1…8 digits (short loops, many
    /// hand-offs), then as many again from two threads at once on the same pool.
    fn train_steps(steps: usize) {
        use crate::{data::Dataset, optim::OptimizerConfig, train::Trainer, Config, ResNet};
        let data = Dataset::mnist();
        let small = Config { widths: vec![4, 8, 8], ..Config::default() };
        let run = |seed: u64, batch: usize, steps: usize| {
            let mut t = Trainer::new(ResNet::new(&small, seed).unwrap(), OptimizerConfig::sgd(0.01, 0.9, 0.0), batch, seed).unwrap();
            for s in 0..steps {
                t.step(&data).unwrap();
                beat("step", s * 100);
            }
        };
        for batch in 1..=8 {
            run(batch as u64, batch, steps / 8);
        }
        let run = &run;
        std::thread::scope(|s| {
            for seed in 0..2 {
                s.spawn(move || run(seed, 3, steps / 2));
            }
        });
    }

    /// Runs `stress_child` with `pool` threads beside `busy` busy ones; fails if it finishes no
    /// pass for `STALL` (slowness is fine: a loaded machine may crawl, but it must move).
    fn run_child(pool: usize, busy: usize, extra: &[(&str, String)]) {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["layers::team::stress::stress_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"]);
        cmd.env("RAYON_NUM_THREADS", pool.to_string()).env("RP_BUSY", busy.to_string());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line.unwrap_or_default()).is_err() {
                    break;
                }
            }
        });
        let start = Instant::now();
        let (mut last, mut finished) = (String::from("(nothing yet)"), false);
        loop {
            match rx.recv_timeout(STALL) {
                Ok(line) if line.trim().is_empty() => {}
                Ok(line) => {
                    finished |= line.contains("stress child finished");
                    last = line;
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    child.kill().ok();
                    child.wait().ok();
                    panic!("pool of {pool} with {busy} busy threads: nothing finished for {STALL:?} after \"{last}\": the pool deadlocked");
                }
            }
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success() && finished, "pool of {pool} with {busy} busy threads: child failed ({}), last line \"{last}\":\n{}", out.status, String::from_utf8_lossy(&out.stderr));
        eprintln!("pool of {pool}, {busy} busy threads: done in {:.1} s", start.elapsed().as_secs_f64());
    }

    /// Pools of 2 and 4 threads (CI has 2 cores) and of 16, where threads lose their core at
    /// any instruction. On the design before `team` (loops as rayon `join`s, helpers spinning
    /// in `yield_now`), a 16-thread run of 150,000 passes stalled for good in 5 of 8 tries
    /// (after 38,000 to 105,500 passes; a debugger showed the leader waiting in a `join` for a
    /// stolen half and helpers spinning); running it twice makes a miss unlikely (≈ 14 %).
    #[test]
    fn pool_never_hangs_on_tiny_passes() {
        for (pool, busy, passes) in [(2, 1, 30_000), (4, 1, 30_000), (16, 1, 150_000), (16, 1, 150_000)] {
            run_child(pool, busy, &[("RP_PASSES", passes.to_string())]);
        }
    }

    /// The same for training steps (`Trainer::step`, one pass each), on pools of 2 and 4.
    #[test]
    fn pool_never_hangs_while_training() {
        for pool in [2, 4] {
            run_child(pool, 1, &[("RP_WORK", "training".into()), ("RP_PASSES", "400".into())]);
        }
    }
}

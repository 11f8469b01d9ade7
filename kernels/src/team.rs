//! A small team of threads that run a caller's [`TaskRunner`] tasks with a hand-off of well
//! under a microsecond: the workers spin for a while after each job before they park.
//!
//! A forward pass of a 6-layer BERT is about 42 parallel regions of 10-40 µs each for one short
//! sentence. Handing each region to a pool whose threads have gone to sleep costs 2-20 µs (a
//! futex wake-up and a migration), a large share of the region itself. A [`Team`] keeps its
//! workers spinning on one atomic word for [`Team::new`]'s `spin` after every job, so within a
//! pass, and between passes that follow each other, a region starts on every thread within
//! the time a cache line takes to cross cores; only after a quiet spell do the workers park
//! (and cost nothing). [`Team::lock`] wakes parked workers as a pass begins, so their wake-up
//! overlaps the caller's own first steps.
//!
//! The calling thread is one of the team: a team of `n` threads has `n - 1` workers, and the
//! caller computes while it waits, so `n` threads compute in all, never more. One pass holds
//! the team at a time ([`Team::lock`]); other callers wait for it.
//!
//! Which thread runs which task is not fixed; kernels cut their work so that results do not
//! depend on it.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::TaskRunner;

/// The job the caller publishes: its tasks, alive on the caller's stack until the caller has
/// seen every worker leave it.
struct Job<'a> {
    task: &'a (dyn Fn(usize) + Sync),
    tasks: usize,
    /// Each thread runs exactly task `thread index` (0 the caller, `1..` the workers) rather
    /// than claiming tasks.
    per_thread: bool,
}

/// What the caller and the workers share.
struct Shared {
    /// The job generation in the high 32 bits, the next unclaimed task in the low 32 (at or
    /// above [`CLOSED`] once the job's caller has closed it).
    ticket: AtomicU64,
    /// The current job (a `Job` on the publishing caller's stack), valid while `ticket`'s
    /// generation is its own and a worker holds `active`.
    job: AtomicPtr<Job<'static>>,
    /// Tasks of the current job finished (or panicked).
    done: AtomicUsize,
    /// Workers inside the current job (between joining it and leaving it).
    active: AtomicUsize,
    /// The first panic of a task in a worker, re-raised on the caller.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// Parked workers wait here.
    sleepers: AtomicUsize,
    park: Mutex<()>,
    wake: Condvar,
    stop: AtomicBool,
    /// How long a worker spins after its last job before it parks.
    spin: Duration,
}

thread_local! {
    /// Set while this thread runs a team task.
    static IN_TASK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

const INDEX_BITS: u32 = 32;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
/// A ticket index at or above this marks its job closed. Claims go on adding 1 to a closed
/// ticket (at most one per thread and job), so the index stays far below `INDEX_MASK` and never
/// carries into the generation; jobs have fewer tasks than this.
const CLOSED: u64 = 1 << (INDEX_BITS - 1);

fn generation(ticket: u64) -> u64 {
    ticket >> INDEX_BITS
}

/// The generation after `gen`, wrapping within its 32 bits.
fn next_generation(gen: u64) -> u64 {
    (gen + 1) & INDEX_MASK
}

/// Whether a worker may join the job of generation `gen`, given the ticket it loaded.
fn is_open(ticket: u64, gen: u64) -> bool {
    generation(ticket) == gen && (ticket & INDEX_MASK) < CLOSED
}

/// A team of threads for one user (an embedder): `threads - 1` workers and the caller.
pub struct Team {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// One pass at a time; the guard is the [`TaskRunner`].
    lock: Mutex<()>,
    threads: usize,
}

/// The team, held by one caller: its [`TaskRunner`] runs tasks on the caller and the workers.
pub struct TeamGuard<'a> {
    team: &'a Team,
    _lock: MutexGuard<'a, ()>,
}

impl Team {
    /// A team of `threads` threads in all (at least 1): `threads - 1` workers named
    /// `{name}-1..`, which spin for `spin` after each job before parking.
    ///
    /// # Errors
    /// When the OS refuses a thread.
    ///
    /// ```
    /// use minilm_kernels::team::Team;
    /// use minilm_kernels::TaskRunner;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// let team = Team::new(2, "example", std::time::Duration::from_micros(100))?;
    /// let sum = AtomicUsize::new(0);
    /// team.lock().run(100, &|i| { sum.fetch_add(i, Ordering::Relaxed); });
    /// assert_eq!(sum.into_inner(), 4950);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(threads: usize, name: &str, spin: Duration) -> std::io::Result<Team> {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            ticket: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            done: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            panic: Mutex::new(None),
            sleepers: AtomicUsize::new(0),
            park: Mutex::new(()),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            spin,
        });
        let mut team = Team {
            shared: Arc::clone(&shared),
            workers: Vec::with_capacity(threads - 1),
            lock: Mutex::new(()),
            threads,
        };
        for index in 1..threads {
            let shared = Arc::clone(&shared);
            let worker = std::thread::Builder::new()
                .name(format!("{name}-{index}"))
                .spawn(move || work(&shared, index))?;
            // Pushed at once, so that a later spawn failure still stops and joins these.
            team.workers.push(worker);
        }
        Ok(team)
    }

    /// Threads in the team, the caller included.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Takes the team for one caller (waiting while another holds it) and wakes parked workers,
    /// so that they are spinning by the time the caller's first parallel region starts.
    pub fn lock(&self) -> TeamGuard<'_> {
        let lock = self
            .lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.shared.wake_sleepers();
        TeamGuard {
            team: self,
            _lock: lock,
        }
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let _park = self.shared.park.lock().unwrap_or_else(|p| p.into_inner());
            self.shared.wake.notify_all();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

impl std::fmt::Debug for Team {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Team")
            .field("threads", &self.threads)
            .field("spin", &self.shared.spin)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn wake_sleepers(&self) {
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _park = self.park.lock().unwrap_or_else(|p| p.into_inner());
            self.wake.notify_all();
        }
    }

    /// Runs claimed tasks of the job of generation `gen` until none is left.
    fn claim_and_run(&self, gen: u64, job: &Job<'_>) {
        loop {
            let ticket = self.ticket.fetch_add(1, Ordering::AcqRel);
            if !is_open(ticket, gen) || (ticket & INDEX_MASK) as usize >= job.tasks {
                return;
            }
            self.run_one(job, (ticket & INDEX_MASK) as usize);
        }
    }

    fn run_one(&self, job: &Job<'_>, index: usize) {
        let outer = IN_TASK.replace(true);
        let result = catch_unwind(AssertUnwindSafe(|| (job.task)(index)));
        IN_TASK.set(outer);
        if let Err(panic) = result {
            let mut first = self.panic.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert(panic);
        }
        self.done.fetch_add(1, Ordering::Release);
    }
}

/// A worker's life: wait for a new generation (spinning, then parked), join its job, run tasks,
/// leave.
fn work(shared: &Shared, index: usize) {
    // Generation 0 is the team's start: a job published before this thread first looks is
    // still its to join.
    let mut seen = 0;
    loop {
        // Spin, then park, until a job of a new generation is published (or the team stops).
        let mut spun_since = Instant::now();
        let mut spins = 0u32;
        let gen = loop {
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            let gen = generation(shared.ticket.load(Ordering::Acquire));
            if gen != seen {
                break gen;
            }
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) && spun_since.elapsed() >= shared.spin {
                let park = shared.park.lock().unwrap_or_else(|p| p.into_inner());
                shared.sleepers.fetch_add(1, Ordering::SeqCst);
                // Re-checked under the lock after announcing the sleep: a caller that published
                // before this load is seen here; one that publishes after it sees the sleeper
                // and notifies under the same lock, after this thread waits.
                let published = generation(shared.ticket.load(Ordering::SeqCst)) != seen;
                if !published && !shared.stop.load(Ordering::SeqCst) {
                    drop(shared.wake.wait(park).unwrap_or_else(|p| p.into_inner()));
                } else {
                    drop(park);
                }
                shared.sleepers.fetch_sub(1, Ordering::SeqCst);
                spun_since = Instant::now();
            }
        };
        seen = gen;

        // Join: announce first, then check the job is still that generation's and open. The
        // caller closes the ticket first and only then waits for `active` to reach zero, all
        // SeqCst: if this load sees the job open, it precedes the close, so this thread's
        // increment precedes the caller's wait, which then lasts until the decrement below.
        // A load after the close sees it closed (or a newer generation) and leaves the job be.
        shared.active.fetch_add(1, Ordering::SeqCst);
        let ticket = shared.ticket.load(Ordering::SeqCst);
        if is_open(ticket, gen) {
            // SAFETY: the pointer was stored before the generation was published (Release, read
            // here through the SeqCst load of the same ticket), belongs to generation `gen`
            // (a newer job cannot be published while this thread is active, see above), and
            // points at a `Job` that outlives this thread's activity.
            let job = unsafe { &*shared.job.load(Ordering::Acquire) };
            if job.per_thread {
                if index < job.tasks {
                    shared.run_one(job, index);
                }
            } else {
                shared.claim_and_run(gen, job);
            }
        }
        shared.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One step of the caller's wait for the workers: a spin hint, and after a few thousand of them
/// (tens of microseconds) a yield as well, so that a worker descheduled by a busy host (or by
/// more threads than cores) gets the core back rather than waiting out the spinner's time slice.
fn wait_a_little(spins: &mut u32) {
    *spins = spins.saturating_add(1);
    if *spins < 4096 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

impl TeamGuard<'_> {
    /// Runs `task(i)` for `i` in `0..tasks` on the team; returns when all are done. A task's
    /// panic is re-raised here, after every task has finished.
    fn publish(&self, tasks: usize, task: &(dyn Fn(usize) + Sync), per_thread: bool) {
        if tasks as u64 >= CLOSED {
            // More tasks than the ticket can count: not a real workload; run them here.
            (0..tasks).for_each(task);
            return;
        }
        let shared = &*self.team.shared;
        let job = Job {
            task,
            tasks,
            per_thread,
        };
        shared.done.store(0, Ordering::Relaxed);
        let gen = next_generation(generation(shared.ticket.load(Ordering::Relaxed)));
        // The lifetime is erased for the shared slot; the job outlives every use (see `work`).
        shared.job.store(
            (&job as *const Job<'_>).cast_mut().cast(),
            Ordering::Relaxed,
        );
        // Publishing the generation releases the job and the reset counter to the workers.
        shared.ticket.store(gen << INDEX_BITS, Ordering::SeqCst);
        shared.wake_sleepers();
        if per_thread {
            if tasks > 0 {
                shared.run_one(&job, 0);
            }
        } else {
            shared.claim_and_run(gen, &job);
        }
        // Every task done; then the job closed, so that a worker that joins late finds nothing
        // open; then every worker that did join gone from it: only then may `job` die. (Closing
        // after the wait for `active` would let a worker join between the two and use `job`
        // after it died.)
        let mut spins = 0u32;
        while shared.done.load(Ordering::Acquire) < tasks {
            wait_a_little(&mut spins);
        }
        shared
            .ticket
            .store((gen << INDEX_BITS) | CLOSED, Ordering::SeqCst);
        while shared.active.load(Ordering::SeqCst) > 0 {
            wait_a_little(&mut spins);
        }
        if let Some(panic) = shared
            .panic
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            resume_unwind(panic);
        }
    }

    /// Runs `task(t)` once on every thread of the team, with `t` its index (0 the caller): for
    /// per-thread set-up such as reserving a kernel workspace.
    pub fn broadcast(&self, task: &(dyn Fn(usize) + Sync)) {
        if self.team.threads == 1 || IN_TASK.get() {
            task(0);
        } else {
            self.publish(self.team.threads, task, true);
        }
    }
}

impl TaskRunner for TeamGuard<'_> {
    fn threads(&self) -> usize {
        self.team.threads
    }

    fn run(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        match tasks {
            0 => {}
            1 => task(0),
            // A task that itself splits work runs its pieces where it is: the team is busy with
            // the job that task belongs to.
            _ if self.team.threads == 1 || IN_TASK.get() => (0..tasks).for_each(task),
            _ => self.publish(tasks, task, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_wrap_and_closed_tickets_stay_closed() {
        assert_eq!(next_generation(INDEX_MASK), 0);
        let last = INDEX_MASK << INDEX_BITS;
        assert!(is_open(last, INDEX_MASK));
        // Claims after the close (one per thread) keep it closed and its generation unchanged.
        let closed = last | CLOSED;
        assert!(!is_open(closed, INDEX_MASK));
        assert!(!is_open(closed + 1024, INDEX_MASK));
        assert_eq!(generation(closed + 1024), INDEX_MASK);
        // A newer generation's ticket is not open for a worker that saw an older one.
        assert!(!is_open(
            next_generation(INDEX_MASK) << INDEX_BITS,
            INDEX_MASK
        ));
    }
}

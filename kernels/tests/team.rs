//! The spin-then-park team: every task runs exactly once, on the caller and the workers, for any
//! task count, thread count and spin time (0 parks the workers after every job), under
//! concurrent callers, with panics re-raised on the caller and nested splits run in place.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use minilm_kernels::team::Team;
use minilm_kernels::TaskRunner;

fn spins() -> [Duration; 3] {
    [
        Duration::ZERO,
        Duration::from_micros(20),
        Duration::from_millis(5),
    ]
}

#[test]
fn every_task_runs_exactly_once() {
    for threads in 1..=4 {
        for spin in spins() {
            let team = Team::new(threads, "test", spin).unwrap();
            assert_eq!(team.threads(), threads);
            for round in 0..300 {
                let tasks = round % 37;
                let counts: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
                let guard = team.lock();
                assert_eq!(guard.threads(), threads);
                guard.run(tasks, &|i| {
                    counts[i].fetch_add(1, Ordering::Relaxed);
                });
                drop(guard);
                for (i, c) in counts.iter().enumerate() {
                    assert_eq!(
                        c.load(Ordering::Relaxed),
                        1,
                        "task {i} of {tasks}, {threads} threads"
                    );
                }
            }
        }
    }
}

#[test]
fn tasks_spread_over_the_threads_and_broadcast_reaches_each_once() {
    let team = Team::new(3, "test", Duration::from_millis(50)).unwrap();
    let seen = Mutex::new(HashSet::new());
    let guard = team.lock();
    // Tasks that wait for each other can only finish if three threads run them at once.
    let arrived = AtomicUsize::new(0);
    guard.run(3, &|_| {
        arrived.fetch_add(1, Ordering::SeqCst);
        while arrived.load(Ordering::SeqCst) < 3 {
            std::hint::spin_loop();
        }
        seen.lock().unwrap().insert(std::thread::current().id());
    });
    assert_eq!(seen.lock().unwrap().len(), 3);

    let indices = Mutex::new(Vec::new());
    let threads = Mutex::new(HashSet::new());
    guard.broadcast(&|t| {
        indices.lock().unwrap().push(t);
        threads.lock().unwrap().insert(std::thread::current().id());
    });
    let mut indices = indices.into_inner().unwrap();
    indices.sort_unstable();
    assert_eq!(indices, [0, 1, 2]);
    assert_eq!(threads.lock().unwrap().len(), 3);
}

#[test]
fn concurrent_callers_take_turns() {
    let team = Team::new(2, "test", Duration::from_micros(50)).unwrap();
    let total = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..200 {
                    let local = AtomicUsize::new(0);
                    team.lock().run(10, &|i| {
                        local.fetch_add(i + 1, Ordering::Relaxed);
                    });
                    assert_eq!(local.load(Ordering::Relaxed), 55);
                    total.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(total.load(Ordering::Relaxed), 800);
}

#[test]
fn a_panicking_task_is_reraised_after_the_others_finish_and_the_team_goes_on() {
    let team = Team::new(2, "test", Duration::from_micros(50)).unwrap();
    let finished = AtomicUsize::new(0);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        team.lock().run(8, &|i| {
            if i == 5 {
                panic!("task 5 fails");
            }
            finished.fetch_add(1, Ordering::SeqCst);
        });
    }));
    let panic = result.expect_err("the panic reaches the caller");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"task 5 fails"));
    assert_eq!(finished.load(Ordering::SeqCst), 7);
    let sum = AtomicUsize::new(0);
    team.lock().run(4, &|i| {
        sum.fetch_add(i, Ordering::Relaxed);
    });
    assert_eq!(sum.load(Ordering::Relaxed), 6);
}

#[test]
fn a_task_that_splits_again_runs_its_pieces_in_place() {
    let team = Team::new(2, "test", Duration::from_micros(50)).unwrap();
    let guard = team.lock();
    let pieces = AtomicUsize::new(0);
    guard.run(4, &|_| {
        let outer = std::thread::current().id();
        guard.run(3, &|_| {
            assert_eq!(std::thread::current().id(), outer);
            pieces.fetch_add(1, Ordering::Relaxed);
        });
    });
    assert_eq!(pieces.load(Ordering::Relaxed), 12);
}

#[test]
fn dropping_a_team_stops_its_parked_and_spinning_workers() {
    for spin in spins() {
        for _ in 0..20 {
            let team = Team::new(4, "test", spin).unwrap();
            team.lock().run(8, &|_| {});
            drop(team);
        }
    }
}

#[test]
fn kernels_split_over_a_team_give_the_one_thread_bits() {
    let team = Team::new(2, "test", Duration::from_micros(100)).unwrap();
    for kernels in minilm_kernels::Kernels::available() {
        let (m, n, k) = (150, 96, 384);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 31 % 89) as f32 - 44.0) / 17.0)
            .collect();
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 13 % 83) as f32 - 41.0) / 23.0)
            .collect();
        let bias: Vec<f32> = (0..n).map(|j| j as f32 / 11.0).collect();
        let packed = kernels.pack_weights(&w, n, k);
        let mut alone = vec![0.0f32; m * n];
        kernels.gemm(
            &a,
            m,
            &packed,
            minilm_kernels::Epilogue::BiasGelu(&bias),
            &mut alone,
        );
        let mut split = vec![0.0f32; m * n];
        let guard = team.lock();
        kernels.gemm_parallel(
            &a,
            m,
            &packed,
            minilm_kernels::Epilogue::BiasGelu(&bias),
            &mut split,
            &guard,
        );
        assert!(
            alone
                .iter()
                .zip(&split)
                .all(|(x, y)| x.to_bits() == y.to_bits()),
            "{}",
            kernels.name()
        );

        let gamma: Vec<f32> = (0..n).map(|j| 1.0 + j as f32 / 100.0).collect();
        let beta: Vec<f32> = (0..n).map(|j| j as f32 / 50.0 - 1.0).collect();
        let mut one = alone.clone();
        kernels.layernorm(&mut one, &gamma, &beta, 1e-12);
        kernels.layernorm_parallel(&mut alone, &gamma, &beta, 1e-12, &guard);
        assert!(
            one.iter()
                .zip(&alone)
                .all(|(x, y)| x.to_bits() == y.to_bits()),
            "{}",
            kernels.name()
        );
    }
}

/// Many short jobs on more threads than cores: a worker often loses its core between seeing a
/// job and joining it, and then must find the job closed rather than run a task of a job whose
/// caller has returned (or corrupt the next job's ticket). Every task of every job runs once,
/// and no task runs on behalf of a finished job.
#[test]
fn late_joiners_never_touch_a_finished_job() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    const ROUNDS: usize = 100_000;
    let threads = 2 * std::thread::available_parallelism().map_or(2, |n| n.get()) + 1;
    for spin in [Duration::ZERO, Duration::from_micros(5)] {
        let team = Team::new(threads, "test", spin).unwrap();
        let mut expected = RUNS.load(Ordering::SeqCst);
        for round in 0..ROUNDS {
            let tasks = 2 + round % 3;
            let counts: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
            team.lock().run(tasks, &|i| {
                counts[i].fetch_add(1, Ordering::Relaxed);
                RUNS.fetch_add(1, Ordering::SeqCst);
            });
            expected += tasks;
            assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1));
            assert_eq!(RUNS.load(Ordering::SeqCst), expected, "round {round}");
        }
    }
}

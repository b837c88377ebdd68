//! Faults under load: 64 tasks on two threads call a cached function on
//! distinct keys (each key's value known) through a kill and restart and
//! through a freeze, on Redis and on memcached. No call fails, no call
//! returns another key's value, and caching resumes. The figures (longest
//! call, time to resume) are printed; only generous bounds are asserted.
//!
//! A test binary of its own: its floods of safe-mode warnings would race
//! the log captures of `failures.rs` for tracing's callsite interest.
#![cfg(any(feature = "redis", feature = "memcached"))]

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::outage::Outage;
use support::servers::MemcachedServer;
#[cfg(feature = "redis")]
use support::servers::RedisServer;

/// What callers saw while a server failed under load.
#[derive(Default)]
struct Tally {
    calls: AtomicU64,
    /// Calls that returned an error or panicked.
    failed: AtomicU64,
    /// Calls that returned a value other than their key's.
    wrong: AtomicU64,
    longest_micros: AtomicU64,
    /// Micros from the server's return to the end of the first call served
    /// from the cache after it; `u64::MAX` until then.
    resumed_after_micros: AtomicU64,
}

/// The fault a load test injects.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// SIGKILL, then a new empty server on the same port.
    KillAndRestart,
    /// SIGSTOP, then SIGCONT.
    Freeze,
}

const TASKS: u64 = 64;
const KEYS_PER_TASK: u64 = 16;

/// 64 tasks call a cached function on distinct keys (each key's value is
/// known) while `fault` hits the server; returns what they saw.
async fn under_load(mut server: impl Outage, fault: Fault) -> Tally {
    let cache = server.cache(true);
    let tally = Arc::new(Tally {
        resumed_after_micros: AtomicU64::new(u64::MAX),
        ..Tally::default()
    });
    let stop = Arc::new(AtomicBool::new(false));
    // Set once the server is back: (reference instant, whether it is back).
    let back_at = Arc::new(Mutex::new(None::<Instant>));
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (cache, tally, stop, back_at) =
                (cache.clone(), tally.clone(), stop.clone(), back_at.clone());
            tokio::spawn(async move {
                let mut j = 0;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("load:{task}:{j}");
                    let expected = task * 1_000 + j;
                    let ran = AtomicBool::new(false);
                    let started = Instant::now();
                    let answer = cache
                        .cached(&key, 60)
                        .try_get_with(|| async {
                            ran.store(true, Ordering::Relaxed);
                            Ok::<_, cashews::Error>(expected)
                        })
                        .await;
                    let took = started.elapsed();
                    tally.calls.fetch_add(1, Ordering::Relaxed);
                    tally
                        .longest_micros
                        .fetch_max(took.as_micros() as u64, Ordering::Relaxed);
                    match answer {
                        Ok(v) if v == expected => {}
                        Ok(_) => {
                            tally.wrong.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            tally.failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    let back = *back_at.lock().unwrap();
                    if let Some(back) = back
                        && !ran.load(Ordering::Relaxed)
                    {
                        let after = Instant::now().saturating_duration_since(back);
                        tally
                            .resumed_after_micros
                            .fetch_min(after.as_micros() as u64, Ordering::Relaxed);
                    }
                    j = (j + 1) % KEYS_PER_TASK;
                }
            })
        })
        .collect();

    // Real time on purpose: the server's own failure and recovery are the
    // point. Phases are long enough for every task to make calls.
    tokio::time::sleep(Duration::from_millis(500)).await;
    match fault {
        Fault::KillAndRestart => server.kill(),
        Fault::Freeze => server.pause().await,
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    match fault {
        Fault::KillAndRestart => server.restart().await,
        Fault::Freeze => server.resume(),
    }
    *back_at.lock().unwrap() = Some(Instant::now());
    // Until caching has resumed, within a generous bound.
    for _ in 0..200 {
        if tally.resumed_after_micros.load(Ordering::Relaxed) != u64::MAX {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        if task.await.is_err() {
            tally.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
    let tally = Arc::into_inner(tally).expect("every task has ended");
    let micros = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let backend = server.url();
    let backend = backend.split("://").next().unwrap_or_default();
    println!(
        "{backend} {fault:?}: {} calls, {} failed, {} wrong values, longest call {} ms, \
         cached again {} ms after the server was back; {} backend failures absorbed",
        micros(&tally.calls),
        micros(&tally.failed),
        micros(&tally.wrong),
        micros(&tally.longest_micros) / 1_000,
        micros(&tally.resumed_after_micros) / 1_000,
        cache.stats().backend_failures,
    );
    tally
}

/// What must hold on any machine, however loaded.
fn assert_robust(tally: &Tally) {
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    assert!(get(&tally.calls) > TASKS, "the tasks made calls");
    assert_eq!(get(&tally.failed), 0, "no call fails in safe mode");
    assert_eq!(get(&tally.wrong), 0, "no call gets another key's value");
    // socket_timeout is 200 ms: a call waits on at most a get and a set.
    assert!(
        get(&tally.longest_micros) < 5_000_000,
        "a call waited {} ms",
        get(&tally.longest_micros) / 1_000
    );
    assert_ne!(
        get(&tally.resumed_after_micros),
        u64::MAX,
        "caching resumed within 10 s"
    );
}

#[cfg(feature = "redis")]
mod redis {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kill_and_restart_under_load() {
        let tally = under_load(RedisServer::start().await, Fault::KillAndRestart).await;
        assert_robust(&tally);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn freeze_under_load() {
        let tally = under_load(RedisServer::start().await, Fault::Freeze).await;
        assert_robust(&tally);
    }
}

#[cfg(feature = "memcached")]
mod memcached {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kill_and_restart_under_load() {
        let tally = under_load(MemcachedServer::start().await, Fault::KillAndRestart).await;
        assert_robust(&tally);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn freeze_under_load() {
        let tally = under_load(MemcachedServer::start().await, Fault::Freeze).await;
        assert_robust(&tally);
    }
}

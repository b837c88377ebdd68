//! What callers see when the server behind a cache dies, comes back or
//! hangs, on Redis and on memcached, each test with a server of its own.
//!
//! - Safe mode on: no call through `Cache::cached` fails, the function
//!   simply runs; failures are logged and counted; after a restart on the
//!   same port caching resumes by itself, without rebuilding the cache.
//! - Safe mode off: typed errors (`is_connection()` or `is_timeout()`).
//! - A frozen server (SIGSTOP) is cut off after `socket_timeout`.
//! - Under load (64 tasks on two threads), through a kill and restart and
//!   through a freeze: no call fails, no call returns another key's value,
//!   and caching resumes. The figures (longest call, time to resume) are
//!   printed; only generous bounds are asserted.
//!
//! Waiting for a server to come back polls with short tokio sleeps, a
//! bounded number of times: that waits for a process, not for a deadline.
#![cfg(any(feature = "redis", feature = "memcached"))]

mod support;

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cashews::Cache;
use support::servers::MemcachedServer;
#[cfg(feature = "redis")]
use support::servers::RedisServer;

/// A server the tests can stop, restart and freeze.
trait Outage {
    fn url(&self) -> String;
    fn kill(&mut self);
    async fn restart(&mut self);
    async fn pause(&self);
    fn resume(&self);
}

#[cfg(feature = "redis")]
impl Outage for RedisServer {
    fn url(&self) -> String {
        RedisServer::url(self)
    }
    fn kill(&mut self) {
        RedisServer::kill(self)
    }
    async fn restart(&mut self) {
        RedisServer::restart(self).await
    }
    async fn pause(&self) {
        RedisServer::pause(self).await
    }
    fn resume(&self) {
        RedisServer::resume(self)
    }
}

impl Outage for MemcachedServer {
    fn url(&self) -> String {
        MemcachedServer::url(self)
    }
    fn kill(&mut self) {
        MemcachedServer::kill(self)
    }
    async fn restart(&mut self) {
        MemcachedServer::restart(self).await
    }
    async fn pause(&self) {
        MemcachedServer::pause(self).await
    }
    fn resume(&self) {
        MemcachedServer::resume(self)
    }
}

/// Small timeouts, so a dead or frozen server costs little.
fn cache(server: &impl Outage, safe: bool) -> Cache {
    let safe = u8::from(safe);
    Cache::from_url(&format!(
        "{}?socket_timeout=200ms&create_connection_timeout=200ms&safe={safe}",
        server.url()
    ))
    .unwrap()
}

/// The "function" behind the cache: counts its runs.
#[derive(Default)]
struct Function {
    runs: AtomicU32,
}

impl Function {
    fn runs(&self) -> u32 {
        self.runs.load(Ordering::SeqCst)
    }

    /// A call through the plain cache strategy: a hit returns the stored
    /// value, a miss runs the function and stores its result. It never
    /// fails because of the cache.
    async fn cached(&self, cache: &Cache, key: &str) -> u32 {
        cache
            .cached(key, 60)
            .get_with(|| async { self.runs.fetch_add(1, Ordering::SeqCst) + 1 })
            .await
    }
}

/// Log lines written while the returned guard lives (this thread only).
fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    #[derive(Clone)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let logs = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink(logs.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

/// Calls until a call is served from the cache again; how many it took.
async fn until_cached(function: &Function, cache: &Cache, key: &str) -> Option<u32> {
    for attempt in 1..=200 {
        let before = function.runs();
        function.cached(cache, key).await;
        let stored = function.runs() > before;
        if !stored {
            return Some(attempt);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

async fn outage_in_safe_mode(mut server: impl Outage) {
    let (logs, _guard) = capture_logs();
    let cache = cache(&server, true);
    let function = Function::default();
    for _ in 0..5 {
        assert_eq!(function.cached(&cache, "k").await, 1);
    }
    assert_eq!(function.runs(), 1, "one run, then hits");

    server.kill();
    for i in 0..20 {
        let value = function.cached(&cache, "k").await;
        assert_eq!(value, 2 + i, "the function runs on every call");
    }
    let failures = cache.stats().backend_failures;
    assert!(failures >= 20, "counted: {failures}");
    let logged = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("WARN") && logged.contains("safe mode"),
        "{logged}"
    );

    server.restart().await;
    let attempts = until_cached(&function, &cache, "k").await;
    assert!(
        attempts.is_some(),
        "caching did not resume within 200 calls"
    );
}

async fn outage_without_safe_mode(mut server: impl Outage) {
    let cache = cache(&server, false);
    cache.set("k", &1, 60).await.unwrap();
    server.kill();
    for _ in 0..10 {
        let err = cache.get::<u32>("k").await.unwrap_err();
        assert!(err.is_connection() || err.is_timeout(), "{err}");
        let err = cache.set("k", &2, 60).await.unwrap_err();
        assert!(err.is_connection() || err.is_timeout(), "{err}");
    }
    server.restart().await;
    for _ in 0..200 {
        if cache.set("k", &3, 60).await.is_ok() {
            assert_eq!(cache.get::<u32>("k").await.unwrap(), Some(3));
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the cache did not reconnect");
}

async fn frozen_server_is_cut_off(server: impl Outage) {
    let strict = cache(&server, false);
    let safe = cache(&server, true);
    strict.set("k", &7, 60).await.unwrap();
    assert_eq!(safe.get::<u32>("k").await.unwrap(), Some(7));

    server.pause().await;
    // Bounds the test if the backend waited forever, which is the failure
    // being tested; the backend must give up after its 200 ms.
    let guard = Duration::from_secs(10);
    let err = tokio::time::timeout(guard, strict.get::<u32>("k"))
        .await
        .expect("the call must not hang")
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let answer = tokio::time::timeout(guard, safe.get::<u32>("k"))
        .await
        .expect("the call must not hang");
    assert_eq!(answer.unwrap(), None, "safe mode answers a miss");
    assert_eq!(safe.stats().backend_failures, 1);
    server.resume();

    for _ in 0..200 {
        if let Ok(Some(7)) = strict.get::<u32>("k").await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the cache did not recover after the server resumed");
}

/// What callers saw while a server failed under load.
#[derive(Default)]
struct Tally {
    calls: AtomicU64,
    /// Calls that returned an error or panicked.
    failed: AtomicU64,
    /// Calls that returned a value other than their key's.
    wrong: AtomicU64,
    longest_micros: AtomicU64,
    /// Micros from the server's return to the first call served from the
    /// cache after it; `u64::MAX` until then.
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
    let cache = cache(&server, true);
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
                        let after = started.saturating_duration_since(back);
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
    println!(
        "{fault:?}: {} calls, {} failed, {} wrong values, longest call {} ms, \
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

    #[tokio::test]
    async fn outage_in_safe_mode() {
        super::outage_in_safe_mode(RedisServer::start().await).await;
    }

    #[tokio::test]
    async fn outage_without_safe_mode() {
        super::outage_without_safe_mode(RedisServer::start().await).await;
    }

    #[tokio::test]
    async fn frozen_server_is_cut_off() {
        super::frozen_server_is_cut_off(RedisServer::start().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kill_and_restart_under_load() {
        let tally = super::under_load(RedisServer::start().await, Fault::KillAndRestart).await;
        assert_robust(&tally);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn freeze_under_load() {
        let tally = super::under_load(RedisServer::start().await, Fault::Freeze).await;
        assert_robust(&tally);
    }
}

#[cfg(feature = "memcached")]
mod memcached {
    use super::*;

    #[tokio::test]
    async fn outage_in_safe_mode() {
        super::outage_in_safe_mode(MemcachedServer::start().await).await;
    }

    #[tokio::test]
    async fn outage_without_safe_mode() {
        super::outage_without_safe_mode(MemcachedServer::start().await).await;
    }

    #[tokio::test]
    async fn frozen_server_is_cut_off() {
        super::frozen_server_is_cut_off(MemcachedServer::start().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kill_and_restart_under_load() {
        let tally = super::under_load(MemcachedServer::start().await, Fault::KillAndRestart).await;
        assert_robust(&tally);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn freeze_under_load() {
        let tally = super::under_load(MemcachedServer::start().await, Fault::Freeze).await;
        assert_robust(&tally);
    }
}

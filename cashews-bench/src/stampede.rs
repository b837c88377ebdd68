//! Stampedes: 1,000 callers spawned at once on a cold key of a function
//! that sleeps 50 ms (real time). Per mode, how many times the function
//! ran (the most over the repetitions: one extra execution in any run is a
//! failure, which a median would hide) and the wall time from the first
//! call to the last answer (the median).
//!
//! Modes: `protected` (the plain `#[cashews::cache]`, protected by default,
//! on `mem://`), `locked` on `mem://`, and `locked` on Redis across two
//! `Cache` instances built from one URL, 500 callers on each: two
//! processes sharing the server, as far as cashews can tell (its in-process
//! single flight is per `Cache` instance), so the second one waits on the
//! lock in Redis, polling it every `step`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cashews::Cache;
use cashews::strategy::{Locked, locked};
use tokio::task::JoinSet;

use crate::measure::{Effort, median};
use crate::memory::value;
use crate::report::Report;

/// Concurrent callers of one cold key.
pub(crate) const CALLERS: usize = 1_000;
/// How long the function takes.
pub(crate) const WORK: Duration = Duration::from_millis(50);

/// The function every mode protects: counts its executions.
async fn slow(calls: &AtomicUsize) -> String {
    calls.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(WORK).await;
    value()
}

#[cashews::cache(ttl = "10m", key = "stampede:protected:{run}", cache = cache)]
async fn protected(cache: &Cache, calls: &AtomicUsize, run: usize) -> String {
    slow(calls).await
}

async fn locked_slow(cache: &Cache, calls: &AtomicUsize, run: usize) -> String {
    let options = Locked::new(Duration::from_secs(600));
    let key = format!("stampede:locked:{run}");
    let Ok(value) = locked(cache, &key, &options, || async {
        Ok::<_, Infallible>(slow(calls).await)
    })
    .await
    .value;
    value
}

/// One stampede: `CALLERS` tasks spawned at once, caller `i` calling
/// `call(i)`. Returns the wall time in ms; every caller must get the value.
async fn stampede<F, Fut>(call: F) -> f64
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = String> + Send + 'static,
{
    let start = Instant::now();
    let mut callers = JoinSet::new();
    for i in 0..CALLERS {
        callers.spawn(call(i));
    }
    while let Some(answer) = callers.join_next().await {
        assert_eq!(
            answer.expect("a caller panicked"),
            value(),
            "every caller gets the value"
        );
    }
    start.elapsed().as_secs_f64() * 1_000.0
}

/// Runs `effort.reps` stampedes, each on a fresh key (`call(run, caller)`),
/// and adds the executions and wall time of mode `name`.
async fn mode<F, Fut>(effort: Effort, name: &str, label: &str, report: &mut Report, call: F)
where
    F: Fn(usize, usize, Arc<AtomicUsize>) -> Fut,
    Fut: Future<Output = String> + Send + 'static,
{
    let mut most = 0;
    let mut walls = Vec::with_capacity(effort.reps);
    for run in 0..effort.reps {
        let calls = Arc::new(AtomicUsize::new(0));
        walls.push(stampede(|i| call(run, i, Arc::clone(&calls))).await);
        most = most.max(calls.load(Ordering::Relaxed));
    }
    report.add(
        &format!("stampede/{name}_calls"),
        format!(
            "{label}: runs of fn, {CALLERS} callers (worst of {})",
            effort.reps
        ),
        most as f64,
        "calls",
    );
    report.add(
        &format!("stampede/{name}_ms"),
        format!("{label}: wall time (fn takes {} ms)", WORK.as_millis()),
        median(walls),
        "ms",
    );
}

/// The three modes; without `redis_url` (no server) the Redis mode is
/// skipped with a note.
pub(crate) async fn run(effort: Effort, redis_url: Option<&str>, report: &mut Report) {
    let cache = Cache::from_url("mem://").expect("a mem:// cache");
    mode(
        effort,
        "protected",
        "protected, mem://",
        report,
        |run, _, calls| {
            let cache = cache.clone();
            async move { protected(&cache, &calls, run).await }
        },
    )
    .await;

    mode(
        effort,
        "locked_memory",
        "locked, mem://",
        report,
        |run, _, calls| {
            let cache = cache.clone();
            async move { locked_slow(&cache, &calls, run).await }
        },
    )
    .await;

    let Some(url) = redis_url else {
        report.note("stampede/locked_redis skipped: no redis-server (see above)");
        return;
    };
    let caches = [Cache::from_url(url), Cache::from_url(url)];
    let [Ok(a), Ok(b)] = caches else {
        report.note(format!(
            "stampede/locked_redis skipped: {url} is not a cache URL"
        ));
        return;
    };
    // Connect both before the clock starts: connecting is not the stampede.
    for cache in [&a, &b] {
        if let Err(e) = cache.ping(None).await {
            report.note(format!(
                "stampede/locked_redis skipped: Redis does not answer: {e}"
            ));
            return;
        }
    }
    let caches = [a, b];
    mode(
        effort,
        "locked_redis",
        "locked, redis:// x2",
        report,
        |run, i, calls| {
            let cache = caches[i % 2].clone();
            async move { locked_slow(&cache, &calls, run).await }
        },
    )
    .await;
}

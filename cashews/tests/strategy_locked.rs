//! `locked`: one execution per key across every cache sharing a backend.

#[cfg(feature = "redis")]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cashews::backend::MemoryBackend;
use cashews::strategy::{Locked, Reported, Served, locked};
use cashews::{Cache, Error, ErrorKind};
use tokio::time::Instant;

const TOOK: Duration = Duration::from_millis(50);

fn options() -> Locked {
    Locked::new(Duration::from_secs(60)).lock_ttl(Duration::from_secs(5))
}

async fn slow_call(
    cache: &Cache,
    options: &Locked,
    calls: &Arc<AtomicU32>,
) -> Reported<Result<u32, Error>> {
    let calls = Arc::clone(calls);
    locked(cache, "report", options, move || async move {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(TOOK).await;
        Ok(n)
    })
    .await
}

async fn stampede(caches: &[Cache], callers: usize, calls: &Arc<AtomicU32>) -> Vec<u32> {
    let options = options();
    let tasks: Vec<_> = (0..callers)
        .map(|i| {
            let cache = caches[i % caches.len()].clone();
            let calls = calls.clone();
            tokio::spawn(async move { slow_call(&cache, &options, &calls).await })
        })
        .collect();
    let (mut out, mut ran) = (Vec::new(), 0);
    for t in tasks {
        let reported = t.await.unwrap();
        out.push(reported.value.unwrap());
        match reported.served {
            Served::Miss => ran += 1,
            served => assert!(matches!(served, Served::Shared | Served::Hit), "{served:?}"),
        }
    }
    assert_eq!(
        ran,
        calls.load(Ordering::SeqCst),
        "each caller that ran it says so"
    );
    out
}

#[tokio::test(start_paused = true)]
async fn a_thousand_callers_one_call() {
    let cache = Cache::from_url("mem://").unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let start = Instant::now();
    let seen = stampede(&[cache], 1000, &calls).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(seen.iter().all(|&v| v == 1));
    // Waiters learn of the result within a poll step.
    assert!(start.elapsed() <= TOOK * 2, "took {:?}", start.elapsed());
}

#[tokio::test(start_paused = true)]
async fn one_call_across_processes() {
    // Two caches over one backend stand for two processes sharing Redis.
    let backend = MemoryBackend::new(Default::default());
    let caches = [
        Cache::builder(backend.clone()).build(),
        Cache::builder(backend).build(),
    ];
    let calls = Arc::new(AtomicU32::new(0));
    let start = Instant::now();
    let seen = stampede(&caches, 1000, &calls).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(seen.iter().all(|&v| v == 1));
    assert!(start.elapsed() <= TOOK * 2, "took {:?}", start.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_holder_releases_the_lock() {
    let cache = Cache::from_url("mem://").unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let holder = {
        let (cache, calls) = (cache.clone(), calls.clone());
        tokio::spawn(async move { slow_call(&cache, &options(), &calls).await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(cache.is_locked("report:lock", None).await.unwrap());
    let waiter = {
        let (cache, calls) = (cache.clone(), calls.clone());
        tokio::spawn(async move { slow_call(&cache, &options(), &calls).await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    let start = Instant::now();
    holder.abort();
    // The waiter takes over right away, not after the 5 s lock_ttl.
    assert_eq!(waiter.await.unwrap().value.unwrap(), 2);
    assert!(start.elapsed() <= TOOK * 2, "took {:?}", start.elapsed());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_dead_holders_lock_expires_after_lock_ttl() {
    let cache = Cache::from_url("mem://").unwrap();
    // A process that took the lock and died: nobody will release it.
    assert!(
        cache
            .set_lock("report:lock", "dead", Duration::from_secs(5))
            .await
            .unwrap()
    );
    let calls = Arc::new(AtomicU32::new(0));
    let start = Instant::now();
    let seen = stampede(&[cache], 100, &calls).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(seen.iter().all(|&v| v == 1));
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(5) && waited <= Duration::from_secs(5) + TOOK * 2);
}

#[tokio::test(start_paused = true)]
async fn waiting_is_bounded_then_the_caller_runs_alone() {
    let cache = Cache::from_url("mem://").unwrap();
    assert!(
        cache
            .set_lock("report:lock", "dead", Duration::from_secs(5))
            .await
            .unwrap()
    );
    let calls = Arc::new(AtomicU32::new(0));
    let options = options().wait(Duration::from_secs(1));
    let start = Instant::now();
    // The holder is dead: after waiting 1 s (not the lock's 5 s), the
    // caller runs the function itself, and stores its value.
    let ran = slow_call(&cache, &options, &calls).await;
    assert_eq!((ran.value.unwrap(), ran.served), (1, Served::Miss));
    assert_eq!(start.elapsed(), Duration::from_secs(1) + TOOK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let stored = slow_call(&cache, &options, &calls).await;
    assert_eq!((stored.value.unwrap(), stored.served), (1, Served::Hit));
}

#[tokio::test(start_paused = true)]
async fn a_failed_holder_hands_over_to_a_waiter() {
    let cache = Cache::from_url("mem://").unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let call = |cache: Cache, calls: Arc<AtomicU32>| {
        tokio::spawn(async move {
            locked(&cache, "report", &options(), move || async move {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(TOOK).await;
                if n == 1 {
                    Err(Error::new(ErrorKind::Connection, "upstream down"))
                } else {
                    Ok(n)
                }
            })
            .await
        })
    };
    let first = call(cache.clone(), calls.clone());
    tokio::time::sleep(Duration::from_millis(1)).await;
    let others: Vec<_> = (0..10)
        .map(|_| call(cache.clone(), calls.clone()))
        .collect();
    assert!(first.await.unwrap().value.unwrap_err().is_connection());
    for o in others {
        assert_eq!(o.await.unwrap().value.unwrap(), 2);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn switched_off_it_just_runs() {
    let cache = Cache::from_url("mem://?enable=0").unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    assert_eq!(
        slow_call(&cache, &options(), &calls).await.value.unwrap(),
        1
    );
    assert_eq!(
        slow_call(&cache, &options(), &calls).await.value.unwrap(),
        2
    );
}

/// Calls of each Redis command so far, from `INFO commandstats`.
#[cfg(feature = "redis")]
async fn command_calls(
    server: &support::servers::RedisServer,
) -> std::collections::HashMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut server.raw().await)
        .await
        .unwrap();
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(":calls=")?;
            Some((name.to_owned(), rest.split(',').next()?.parse().ok()?))
        })
        .collect()
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_call_across_two_caches_on_redis() {
    // Two caches on one server: two processes sharing Redis. Real time:
    // the client's timeouts would fire on a paused clock.
    let server = support::servers::RedisServer::start().await;
    let caches = [
        Cache::from_url(&server.url()).unwrap(),
        Cache::from_url(&server.url()).unwrap(),
    ];
    for cache in &caches {
        cache.ping(None).await.unwrap();
    }
    let calls = Arc::new(AtomicU32::new(0));
    let start = std::time::Instant::now();
    let seen = stampede(&caches, 1000, &calls).await;
    let took = start.elapsed();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(seen.iter().all(|&v| v == 1));
    // Each caller misses once; then only one task per cache deals with the
    // lock and polls (every 10 ms while the 50 ms call runs), the others
    // are handed its value in-process.
    let stats = command_calls(&server).await;
    let count = |c: &str| stats.get(c).copied().unwrap_or(0);
    assert!(count("get") <= 1000 + 40, "{stats:?}");
    assert!(count("set") <= 6, "{stats:?}");
    assert!(count("pttl") <= 40, "{stats:?}");
    eprintln!("1,000 callers over two caches on Redis: {took:?}; {stats:?}");
}

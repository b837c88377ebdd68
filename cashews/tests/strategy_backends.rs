//! The strategies on the server backends, with two caches per server (two
//! processes sharing it). Real time: a client on a paused clock would time
//! out. The timing-exact cases run on memory in the other strategy suites.
#![cfg(any(feature = "redis", feature = "memcached"))]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cashews::strategy::Served;
use cashews::strategy::simple::{Options, StoreAll, cache};
use cashews::strategy::{
    CircuitBreaker, Early, Failover, Hit, Locked, RateLimit, SliceRateLimit, Soft, circuit_breaker,
    early, failover, hit, locked, rate_limit, soft,
};
use cashews::{Cache, Error, ErrorKind};

const MINUTE: Duration = Duration::from_secs(60);

fn count(
    calls: &Arc<AtomicU32>,
) -> impl FnOnce() -> std::future::Ready<Result<u32, Error>> + Send + 'static {
    let calls = calls.clone();
    move || std::future::ready(Ok(calls.fetch_add(1, Ordering::SeqCst) + 1))
}

async fn hit_counts_are_shared(a: &Cache, b: &Cache) {
    let options = Hit::new(MINUTE, 3);
    let calls = Arc::new(AtomicU32::new(0));
    let mut seen = Vec::new();
    for i in 0..9 {
        let cache = if i % 2 == 0 { a } else { b };
        seen.push(
            hit(cache, "hit", &options, count(&calls))
                .await
                .value
                .unwrap(),
        );
    }
    assert_eq!(seen, [1, 1, 1, 1, 2, 2, 2, 2, 3]);
}

async fn locked_runs_once(a: &Cache, b: &Cache) {
    let options = Locked::new(MINUTE).lock_ttl(Duration::from_secs(10));
    let calls = Arc::new(AtomicU32::new(0));
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let cache = if i % 2 == 0 { a.clone() } else { b.clone() };
            let calls = calls.clone();
            tokio::spawn(async move {
                locked(&cache, "locked", &options, move || async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<_, Error>(calls.fetch_add(1, Ordering::SeqCst) + 1)
                })
                .await
                .value
                .unwrap()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 1);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

async fn rate_limits_are_exact(a: &Cache, b: &Cache) {
    let ok = || async { Ok::<_, Error>(()) };
    let fixed = RateLimit::new(5, MINUTE);
    let sliding = SliceRateLimit::new(5, MINUTE);
    let mut admitted = [0, 0];
    for i in 0..8 {
        let cache = if i % 2 == 0 { a } else { b };
        admitted[0] += usize::from(rate_limit(cache, "fixed", &fixed, ok).await.value.is_ok());
        admitted[1] += usize::from(
            rate_limit(cache, "sliding", &sliding, ok)
                .await
                .value
                .is_ok(),
        );
    }
    assert_eq!(admitted, [5, 5]);
}

async fn the_others_work(a: &Cache, b: &Cache) {
    let calls = Arc::new(AtomicU32::new(0));
    let down = || async { Err::<u32, _>(Error::new(ErrorKind::Connection, "down")) };
    let fail = Failover::new(MINUTE);
    assert_eq!(
        failover(a, "fail:x", &fail, count(&calls))
            .await
            .value
            .unwrap(),
        1
    );
    assert_eq!(failover(b, "fail:x", &fail, down).await.value.unwrap(), 1);

    let options = Soft::new(MINUTE, MINUTE / 2);
    assert_eq!(
        soft(a, "soft", &options, count(&calls))
            .await
            .value
            .unwrap(),
        2
    );
    assert_eq!(
        soft(b, "soft", &options, count(&calls))
            .await
            .value
            .unwrap(),
        2
    );

    static EARLY: Early = Early::new(Duration::from_secs(60));
    assert_eq!(
        early(a, "early", &EARLY, count(&calls))
            .await
            .value
            .unwrap(),
        3
    );
    assert_eq!(
        early(b, "early", &EARLY, count(&calls))
            .await
            .value
            .unwrap(),
        3
    );

    let breaker = CircuitBreaker::new(50, MINUTE, MINUTE);
    assert!(
        circuit_breaker(a, "cb", &breaker, down)
            .await
            .value
            .unwrap_err()
            .is_connection()
    );
    assert!(
        circuit_breaker(b, "cb", &breaker, down)
            .await
            .value
            .unwrap_err()
            .is_circuit_open()
    );

    // The plain cache's conditions: an error one process stored is the
    // other's hit; a result faster than the time condition is not stored.
    let errors = Options::new(MINUTE).cache_errors(|e: &u16| *e == 404);
    let stored = cache(a, "errors", StoreAll, &errors, || async {
        Err::<u32, u16>(404)
    })
    .await;
    assert_eq!(stored.value, Err(404));
    let hit = cache(b, "errors", StoreAll, &errors, || async {
        Ok::<u32, u16>(1)
    })
    .await;
    assert_eq!((hit.value, hit.served), (Err(404), Served::Hit));
    let fast = Options::new(MINUTE).time_condition(MINUTE);
    let value = cache(a, "fast", StoreAll, &fast, || async { 5u32 }).await;
    assert_eq!(value.value, 5);
    assert!(!b.exists("fast").await.unwrap());
}

/// With `safe=0` the cache's commands fail, but no strategy fails a call
/// because of it: the function runs (limiters and breakers let it through).
async fn a_dead_backend_never_fails_a_call(cache: &Cache) {
    let calls = Arc::new(AtomicU32::new(0));
    assert!(
        cache.get::<u32>("k").await.is_err(),
        "the backend should be down"
    );
    assert_eq!(
        hit(cache, "k", &Hit::new(MINUTE, 3), count(&calls))
            .await
            .value
            .unwrap(),
        1
    );
    assert_eq!(
        failover(cache, "k", &Failover::new(MINUTE), count(&calls))
            .await
            .value
            .unwrap(),
        2
    );
    assert_eq!(
        soft(cache, "k", &Soft::new(MINUTE, MINUTE), count(&calls))
            .await
            .value
            .unwrap(),
        3
    );
    static EARLY: Early = Early::new(Duration::from_secs(60));
    assert_eq!(
        early(cache, "k", &EARLY, count(&calls))
            .await
            .value
            .unwrap(),
        4
    );
    let options = Locked::new(MINUTE);
    assert_eq!(
        locked(cache, "k", &options, count(&calls))
            .await
            .value
            .unwrap(),
        5
    );
    let limit = RateLimit::new(1, MINUTE);
    assert_eq!(
        rate_limit(cache, "k", &limit, count(&calls))
            .await
            .value
            .unwrap(),
        6
    );
    let breaker = CircuitBreaker::new(50, MINUTE, MINUTE);
    assert_eq!(
        circuit_breaker(cache, "k", &breaker, count(&calls))
            .await
            .value
            .unwrap(),
        7
    );
}

#[cfg(feature = "redis")]
mod redis {
    use super::*;
    use support::servers::RedisServer;

    async fn caches() -> (RedisServer, Cache, Cache) {
        let server = RedisServer::start().await;
        let a = Cache::from_url(&server.url()).unwrap();
        let b = Cache::from_url(&server.url()).unwrap();
        (server, a, b)
    }

    #[tokio::test]
    async fn hit() {
        let (_s, a, b) = caches().await;
        hit_counts_are_shared(&a, &b).await;
    }

    #[tokio::test]
    async fn locked() {
        let (_s, a, b) = caches().await;
        locked_runs_once(&a, &b).await;
    }

    #[tokio::test]
    async fn rate_limits() {
        let (_s, a, b) = caches().await;
        rate_limits_are_exact(&a, &b).await;
    }

    #[tokio::test]
    async fn others() {
        let (_s, a, b) = caches().await;
        the_others_work(&a, &b).await;
    }

    #[tokio::test]
    async fn dead_server() {
        let mut server = RedisServer::start().await;
        let cache = Cache::from_url(&format!("{}?safe=0", server.url())).unwrap();
        server.kill();
        a_dead_backend_never_fails_a_call(&cache).await;
    }
}

#[cfg(feature = "memcached")]
mod memcached {
    use super::*;
    use support::servers::MemcachedServer;

    async fn caches() -> (MemcachedServer, Cache, Cache) {
        let server = MemcachedServer::start().await;
        let a = Cache::from_url(&server.url()).unwrap();
        let b = Cache::from_url(&server.url()).unwrap();
        (server, a, b)
    }

    #[tokio::test]
    async fn hit() {
        let (_s, a, b) = caches().await;
        hit_counts_are_shared(&a, &b).await;
    }

    #[tokio::test]
    async fn locked() {
        let (_s, a, b) = caches().await;
        locked_runs_once(&a, &b).await;
    }

    #[tokio::test]
    async fn rate_limits() {
        let (_s, a, b) = caches().await;
        rate_limits_are_exact(&a, &b).await;
    }

    #[tokio::test]
    async fn others() {
        let (_s, a, b) = caches().await;
        the_others_work(&a, &b).await;
    }

    #[tokio::test]
    async fn dead_server() {
        let mut server = MemcachedServer::start().await;
        let cache = Cache::from_url(&format!("{}?safe=0", server.url())).unwrap();
        server.kill();
        a_dead_backend_never_fails_a_call(&cache).await;
    }
}

//! What callers see when the server behind a cache dies, comes back or
//! hangs, on Redis and on memcached, each test with a server of its own.
//!
//! - Safe mode on: no call through `Cache::cached` fails, the function
//!   simply runs; failures are logged and counted; after a restart on the
//!   same port caching resumes by itself, without rebuilding the cache.
//! - Safe mode off: typed errors (`is_connection()` or `is_timeout()`).
//! - A frozen server (SIGSTOP) is cut off after `socket_timeout`.
//!
//! The same faults under load are in `faults_under_load.rs`.
//!
//! Waiting for a server to come back polls with short tokio sleeps, a
//! bounded number of times: that waits for a process, not for a deadline.
#![cfg(any(feature = "redis", feature = "memcached"))]

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cashews::Cache;
use support::logs::capture_logs;
use support::outage::Outage;
use support::servers::MemcachedServer;
#[cfg(feature = "redis")]
use support::servers::RedisServer;

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
    let cache = server.cache(true);
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
    let cache = server.cache(false);
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
    let strict = server.cache(false);
    let safe = server.cache(true);
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
}

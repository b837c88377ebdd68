//! Protective state (rate-limit windows and bans, locks, circuit breakers)
//! is never evicted by the memory backend's value bound, which still holds
//! exactly; a full protective store refuses new state instead of evicting.

#[cfg(feature = "redis")]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cashews::backend::{Backend, MemoryBackend, RoutedBackend};
use cashews::settings::MemorySettings;
use cashews::strategy::{
    CircuitBreaker, Locked, RateLimit, SliceRateLimit, circuit_breaker, locked, rate_limit,
};
use cashews::{Cache, Error, ErrorKind};
use proptest::prelude::*;

const MINUTE: Duration = Duration::from_secs(60);

fn memory(size: usize, protected_size: usize) -> MemoryBackend {
    let mut settings = MemorySettings::default();
    settings.size = size;
    settings.protected_size = protected_size;
    MemoryBackend::new(settings)
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime")
}

/// Writes `count` distinct values (and reads each back, so the CLOCK hand
/// sees them as used) under keys of round `round`.
async fn flood(cache: &Cache, round: usize, count: usize) {
    for i in 0..count {
        let key = format!("flood:{round}:{i}");
        cache.set(&key, &i, MINUTE).await.unwrap();
        let _ = cache.get::<usize>(&key).await.unwrap();
        if i % 3 == 0 {
            cache
                .incr(&format!("n:{round}:{i}"), 1, None)
                .await
                .unwrap();
        }
    }
}

async fn limited(cache: &Cache, key: &str, limiter: &impl cashews::strategy::Limiter) -> bool {
    rate_limit(cache, key, limiter, || async { Ok::<_, Error>(()) })
        .await
        .value
        .is_ok()
}

/// Fills the cache far beyond `size` between every check: the windows
/// admit exactly `limit`, the lock and the `locked` holder's lock stay
/// held, the breaker stays open, and the values never exceed `size`.
/// `routed` puts the memory behind a [`RoutedBackend`], whose protective
/// commands must reach it as such.
fn limits_hold_under_a_flood(
    size: usize,
    limit: u64,
    rounds: usize,
    flood_factor: usize,
    routed: bool,
) {
    paused_runtime().block_on(async {
        let mem = memory(size, 64);
        let cache = if routed {
            let elsewhere = memory(1, 1);
            Cache::builder(RoutedBackend::new(mem.clone()).route("elsewhere:", elsewhere)).build()
        } else {
            Cache::builder(mem.clone()).build()
        };
        let fixed = RateLimit::new(limit, MINUTE);
        let sliding = SliceRateLimit::new(limit, MINUTE);
        let breaker = CircuitBreaker::new(50, MINUTE, MINUTE);
        let failing = || async { Err::<(), _>(Error::new(ErrorKind::Connection, "down")) };
        assert!(
            circuit_breaker(&cache, "cb", &breaker, failing)
                .await
                .value
                .is_err()
        );
        let guard = cache.lock("held", MINUTE).await.unwrap();

        // A `locked` holder in the middle of its computation.
        let calls = Arc::new(AtomicU32::new(0));
        let options = Locked::new(MINUTE).lock_ttl(MINUTE);
        let slow = |calls: Arc<AtomicU32>| {
            let cache = cache.clone();
            async move {
                locked(&cache, "report", &options, move || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    Ok::<_, Error>(1)
                })
                .await
            }
        };
        let holder = tokio::spawn(slow(calls.clone()));
        tokio::time::sleep(Duration::from_millis(1)).await;

        let (mut fixed_admitted, mut sliding_admitted) = (0, 0);
        for round in 0..rounds {
            flood(&cache, round, size * flood_factor).await;
            fixed_admitted += u64::from(limited(&cache, "fixed", &fixed).await);
            sliding_admitted += u64::from(limited(&cache, "sliding", &sliding).await);
            assert!(mem.entry_count() <= size, "{} values", mem.entry_count());
            assert!(
                cache.lock("held", MINUTE).await.unwrap_err().is_locked(),
                "round {round}: the lock was evicted"
            );
            let refused: Result<(), Error> = circuit_breaker(&cache, "cb", &breaker, || async {
                panic!("round {round}: the open breaker let a call through")
            })
            .await
            .value;
            assert!(refused.unwrap_err().is_circuit_open());
        }
        assert_eq!(fixed_admitted, limit.min(rounds as u64), "fixed window");
        assert_eq!(sliding_admitted, limit.min(rounds as u64), "sliding window");

        // A second `locked` caller still waits for the holder's value.
        let waiter = tokio::spawn(slow(calls.clone()));
        assert_eq!(holder.await.unwrap().value.unwrap(), 1);
        assert_eq!(waiter.await.unwrap().value.unwrap(), 1);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the lock was evicted");
        assert!(guard.release().await.unwrap());

        // The value bound holds exactly.
        flood(&cache, rounds, size * 2).await;
        assert_eq!(mem.entry_count(), size);
        assert_eq!(
            mem.get_keys_count().await.unwrap() as usize,
            size + mem.protected_count()
        );
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn protective_state_survives_any_flood(
        size in 1usize..40,
        limit in 1u64..5,
        rounds in 1usize..8,
        flood_factor in 2usize..6,
        routed in any::<bool>(),
    ) {
        limits_hold_under_a_flood(size, limit, rounds, flood_factor, routed);
    }
}

/// A full protective store refuses new state, counts it, and keeps what
/// it holds: a limiter fails closed, a lock is refused with a clear error.
#[tokio::test(start_paused = true)]
async fn a_full_protective_store_refuses_new_state() {
    let mem = memory(4, 3);
    let cache = Cache::builder(mem.clone()).build();
    let limit = RateLimit::new(2, MINUTE);
    assert!(limited(&cache, "a", &limit).await);
    assert!(limited(&cache, "b", &limit).await);
    let guard = cache.lock("held", MINUTE).await.unwrap();
    assert_eq!(mem.protected_count(), 3);

    // A new window has no room: refused, not admitted.
    assert!(!limited(&cache, "c", &limit).await);
    assert!(!limited(&cache, "c", &SliceRateLimit::new(5, MINUTE)).await);
    // A new lock: a clear error, not a silent "taken".
    let err = cache.lock("other", MINUTE).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ProtectedFull);
    assert!(err.to_string().contains("protective"), "{err}");
    assert_eq!(mem.protected_refusals(), 3);
    // `locked` runs unlocked; a breaker that cannot store its state stays
    // closed: the function runs.
    let options = Locked::new(MINUTE);
    let value = locked(&cache, "report", &options, || async { Ok::<_, Error>(7) }).await;
    assert_eq!(value.value.unwrap(), 7);
    let breaker = CircuitBreaker::new(50, MINUTE, MINUTE);
    for _ in 0..3 {
        let failing = || async { Err::<(), _>(Error::new(ErrorKind::Connection, "down")) };
        let err = circuit_breaker(&cache, "cb", &breaker, failing)
            .await
            .value
            .unwrap_err();
        assert!(err.is_connection(), "{err}");
    }
    let refusals = mem.protected_refusals();
    assert!(refusals > 3, "counted: {refusals}");

    // What it holds keeps working, and values are not affected.
    assert!(limited(&cache, "a", &limit).await);
    assert!(
        !limited(&cache, "a", &limit).await,
        "the limit of `a` holds"
    );
    assert!(cache.lock("held", MINUTE).await.unwrap_err().is_locked());
    assert!(cache.set("value", &1, MINUTE).await.unwrap());

    // Expired protective entries make room again.
    guard.release().await.unwrap();
    tokio::time::advance(MINUTE * 2).await;
    assert!(limited(&cache, "c", &limit).await);
    assert_eq!(mem.protected_refusals(), refusals);
}

/// A sliding window on memory is one protective entry, whatever its limit;
/// a value at its key is an error, not a window.
#[tokio::test(start_paused = true)]
async fn a_sliding_window_is_one_protective_entry() {
    let mem = memory(4, 4);
    let cache = Cache::builder(mem.clone()).build();
    let limit = SliceRateLimit::new(1_000, MINUTE);
    for _ in 0..1_000 {
        assert!(limited(&cache, "w", &limit).await);
    }
    assert!(!limited(&cache, "w", &limit).await);
    assert_eq!(mem.protected_count(), 1);
    tokio::time::advance(MINUTE).await;
    assert!(limited(&cache, "w", &limit).await, "the window slid");
    mem.set("v", "odd".into(), None, None).await.unwrap();
    let err = mem.slide_window("v", 3, MINUTE).await.unwrap_err();
    assert!(err.to_string().contains("not a sliding window"), "{err}");
}

/// A plain write over a protective key makes it a value again (bounded
/// and evictable), and the other way round; the counts follow.
#[tokio::test(start_paused = true)]
async fn a_key_takes_the_kind_of_its_last_write() {
    let mem = memory(2, 2);
    assert!(mem.set_lock("k", "t".into(), MINUTE).await.unwrap());
    assert_eq!((mem.entry_count(), mem.protected_count()), (0, 1));
    mem.set("k", "v".into(), None, None).await.unwrap();
    assert_eq!((mem.entry_count(), mem.protected_count()), (1, 0));
    mem.incr_protective("k2", 1, MINUTE).await.unwrap();
    mem.set_protective("k", "p".into(), MINUTE, None)
        .await
        .unwrap();
    assert_eq!((mem.entry_count(), mem.protected_count()), (0, 2));
    // `incr` and `expire` keep the kind.
    mem.incr("k2", 1, None).await.unwrap();
    mem.expire("k", MINUTE * 2).await.unwrap();
    assert_eq!((mem.entry_count(), mem.protected_count()), (0, 2));
    for i in 0..10 {
        mem.set(&format!("v{i}"), "x".into(), None, None)
            .await
            .unwrap();
    }
    assert_eq!((mem.entry_count(), mem.protected_count()), (2, 2));
    assert_eq!(mem.get("k").await.unwrap().as_deref(), Some(&b"p"[..]));
    assert!(mem.delete("k").await.unwrap());
    assert_eq!((mem.entry_count(), mem.protected_count()), (2, 1));
}

/// Redis under `allkeys-lru` evicts any key, protective or not: routing
/// the protective keys to memory keeps them whatever Redis evicts.
#[cfg(feature = "redis")]
#[tokio::test]
async fn routing_keeps_protective_keys_off_an_evicting_redis() {
    use redis::AsyncCommands;
    let server = support::servers::RedisServer::start_with(&[
        "--maxmemory",
        "2mb",
        "--maxmemory-policy",
        "allkeys-lru",
    ])
    .await;
    let cache = cashews::CacheBuilder::from_url(&server.url())
        .unwrap()
        .route("guard:", "mem://")
        .unwrap()
        .build();
    let limit = RateLimit::new(2, MINUTE);
    assert!(limited(&cache, "guard:rl", &limit).await);
    assert!(limited(&cache, "guard:rl", &limit).await);
    let guard = cache.lock("guard:lock", MINUTE).await.unwrap();
    // Far more than `maxmemory`: Redis evicts.
    let big = "x".repeat(1024);
    for i in 0..4_000 {
        cache.set(&format!("v:{i}"), &big, MINUTE).await.unwrap();
    }
    let mut raw = server.raw().await;
    let evicted: u64 = redis::cmd("INFO")
        .arg("stats")
        .query_async::<String>(&mut raw)
        .await
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("evicted_keys:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    assert!(evicted > 0, "the flood should make Redis evict");
    let on_redis: Vec<String> = raw.keys("guard:*").await.unwrap();
    assert!(
        on_redis.is_empty(),
        "protective keys on Redis: {on_redis:?}"
    );
    assert!(
        !limited(&cache, "guard:rl", &limit).await,
        "the limit holds"
    );
    assert!(
        cache
            .lock("guard:lock", MINUTE)
            .await
            .unwrap_err()
            .is_locked()
    );
    guard.release().await.unwrap();
}

#[test]
fn protected_size_is_a_memory_option() {
    let settings = cashews::settings::Settings::from_url("mem://?protected_size=5").unwrap();
    let cashews::settings::BackendSettings::Memory(mem) = settings.backend else {
        panic!("a memory backend");
    };
    assert_eq!(mem.protected_size, 5);
    let err = Cache::from_url("mem://?protected_size=0").unwrap_err();
    assert!(err.to_string().contains("`protected_size`"), "{err}");
}

//! The strategy attributes, each on the behaviour its function guarantees:
//! the attribute only builds the key and calls the function.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cashews::{Cache, Error, ErrorKind};

thread_local! {
    /// A cache per test: each test runs on its own thread, with its own
    /// paused clock.
    static CACHE: Cache = Cache::from_url("mem://").unwrap();
}

fn cache() -> Cache {
    CACHE.with(Cache::clone)
}

fn next(counter: &AtomicU32) -> u32 {
    counter.fetch_add(1, Ordering::SeqCst) + 1
}

#[tokio::test(start_paused = true)]
async fn hit_counts_per_key() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    #[cashews::hit(ttl = "1h", cache_hits = 3, key = "count:{id}", cache = cache())]
    async fn count(id: u32) -> u32 {
        id * 100 + next(&CALLS)
    }
    let mut seen = Vec::new();
    for _ in 0..9 {
        seen.push(count(1).await);
    }
    assert_eq!(seen, [101, 101, 101, 101, 102, 102, 102, 102, 103]);
    assert_eq!(count(2).await, 204);
    assert!(cache().exists("count:1").await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn failover_keeps_the_error_type_and_the_fail_prefix() {
    static UP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);
    #[derive(Debug, PartialEq)]
    enum ApiError {
        Timeout,
        NotFound,
    }
    #[cashews::failover(ttl = 60, when = |e| *e == ApiError::Timeout, cache = cache())]
    async fn price(item: u32) -> Result<u32, ApiError> {
        match (UP.load(Ordering::SeqCst), item) {
            (_, 0) => Err(ApiError::NotFound),
            (true, n) => Ok(n * 10),
            (false, _) => Err(ApiError::Timeout),
        }
    }
    assert_eq!(price(7).await, Ok(70));
    UP.store(false, Ordering::SeqCst);
    assert_eq!(price(7).await, Ok(70));
    assert_eq!(price(8).await, Err(ApiError::Timeout));
    assert_eq!(price(0).await, Err(ApiError::NotFound));
    let keys = cache().scan("fail:*price*").await.unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
}

#[tokio::test(start_paused = true)]
async fn locked_runs_once_for_concurrent_callers() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    #[cashews::locked(ttl = "10m", lock_ttl = "30s", step = Duration::from_millis(5), cache = cache())]
    async fn report(day: u32) -> Result<Vec<u32>, std::io::Error> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(vec![day, next(&CALLS)])
    }
    let calls: Vec<_> = (0..100).map(|_| tokio::spawn(report(3))).collect();
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap(), [3, 1]);
    }
}

#[tokio::test(start_paused = true)]
async fn early_refreshes_in_the_background() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    #[cashews::early(ttl = "60s", early_ttl = "20s", key = "top", cache = cache())]
    async fn top() -> u32 {
        next(&CALLS)
    }
    assert_eq!(top().await, 1);
    tokio::time::advance(Duration::from_secs(20)).await;
    assert_eq!(top().await, 1);
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(top().await, 2);
}

#[tokio::test(start_paused = true)]
async fn soft_serves_stale_on_error() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    #[cashews::soft(ttl = "100s", soft_ttl = "10s", key = "config", cache = cache())]
    async fn config() -> Result<u32, String> {
        match next(&CALLS) {
            1 => Ok(1),
            _ => Err("down".into()),
        }
    }
    assert_eq!(config().await, Ok(1));
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(config().await, Ok(1));
    assert_eq!(CALLS.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn perf_caches_a_degraded_call() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    #[cashews::perf(ttl = "1m", trace_size = 2, key = "quote:{ms}", cache = cache())]
    async fn quote(ms: u64) -> u32 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        next(&CALLS)
    }
    // The trace is per function, the cached value per key.
    assert_eq!(quote(10).await, 1);
    assert_eq!(quote(10).await, 2);
    assert_eq!(quote(50).await, 3); // degraded: cached
    assert_eq!(quote(50).await, 3);
}

#[tokio::test(start_paused = true)]
async fn rate_limits_with_the_default_error_or_an_action() {
    #[cashews::rate_limit(limit = 2, period = "1m", ttl = "2m", key = "login:{user}", cache = cache())]
    async fn login(user: &str) -> Result<String, Error> {
        Ok(format!("welcome {user}"))
    }
    #[cashews::slice_rate_limit(limit = 1, period = "10s", action = format!("later, {user}"), cache = cache())]
    async fn search(user: &str) -> String {
        format!("results for {user}")
    }
    assert!(login("ada").await.is_ok());
    assert!(login("ada").await.is_ok());
    assert_eq!(
        login("ada").await.unwrap_err().kind(),
        ErrorKind::RateLimited
    );
    assert!(login("eve").await.is_ok());
    tokio::time::advance(Duration::from_secs(119)).await;
    assert!(login("ada").await.is_err());
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(login("ada").await.is_ok());

    assert_eq!(search("ada").await, "results for ada");
    assert_eq!(search("ada").await, "later, ada");
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(search("ada").await, "results for ada");
}

#[tokio::test(start_paused = true)]
async fn circuit_breaker_is_per_function() {
    #[derive(Debug)]
    enum PayError {
        Down,
        Refused(ErrorKind),
    }
    impl From<Error> for PayError {
        fn from(e: Error) -> Self {
            Self::Refused(e.kind())
        }
    }
    #[cashews::circuit_breaker(errors_rate = 50, period = "1m", ttl = "30s", cache = cache())]
    async fn pay(amount: u64) -> Result<u64, PayError> {
        if amount == 0 {
            Err(PayError::Down)
        } else {
            Ok(amount)
        }
    }
    assert!(matches!(pay(0).await, Err(PayError::Down)));
    // Other arguments, same breaker: open.
    assert!(matches!(
        pay(5).await,
        Err(PayError::Refused(ErrorKind::CircuitOpen))
    ));
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(pay(5).await.unwrap(), 5);
}

#[tokio::test(start_paused = true)]
async fn invalidate_targets_a_strategy_function() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    #[cashews::hit(ttl = "1h", cache_hits = 100, cache = cache())]
    async fn profile(id: u32) -> u32 {
        id + next(&CALLS)
    }
    #[cashews::invalidate(profile(id))]
    async fn rename(id: u32) {}
    assert_eq!(profile(10).await, 11);
    assert_eq!(profile(10).await, 11);
    rename(10).await;
    assert_eq!(profile(10).await, 12);
}

thread_local! {
    /// Room for one tag index.
    static ONE_INDEX: Cache = Cache::from_url("mem://?protected_size=1").unwrap();
}

/// The attribute calls `tagged`: a value whose tag's index is refused is
/// returned and not kept.
#[tokio::test(start_paused = true)]
async fn tagged_keeps_no_value_its_tags_miss() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    #[cashews::tagged(ttl = "1h", key = "user:{user}", tags = ["user:{user}"], cache = ONE_INDEX.with(Cache::clone))]
    async fn user(user: u32) -> Result<u32, Error> {
        Ok(user * 10 + next(&CALLS))
    }
    let cache = ONE_INDEX.with(Cache::clone);
    assert_eq!(user(1).await.unwrap(), 11);
    assert_eq!(user(2).await.unwrap(), 22);
    assert!(cache.exists("user:1").await.unwrap());
    assert!(
        !cache.exists("user:2").await.unwrap(),
        "its index was refused"
    );
    assert_eq!(user(2).await.unwrap(), 23);
    assert_eq!(user(1).await.unwrap(), 11);
}

#[tokio::test(start_paused = true)]
async fn tagged_keys_go_with_their_tags() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    #[cashews::tagged(ttl = "1h", key = "orders:{user}:{page}", tags = ["user:{user}", "orders"], cache = cache())]
    async fn orders(user: u32, page: u32) -> Result<u32, Error> {
        Ok(user * 100 + page * 10 + next(&CALLS))
    }
    assert_eq!(orders(1, 1).await.unwrap(), 111);
    assert_eq!(orders(1, 2).await.unwrap(), 122);
    assert_eq!(orders(2, 1).await.unwrap(), 213);
    assert_eq!(orders(1, 1).await.unwrap(), 111);
    let deleted = cashews::strategy::delete_tags(&cache(), &["user:1"])
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    assert_eq!(orders(1, 1).await.unwrap(), 114);
    assert_eq!(orders(2, 1).await.unwrap(), 213);
    // Keys that still exist: orders(1, 2) went with user:1 and was not
    // cached again.
    assert_eq!(
        cashews::strategy::delete_tags(&cache(), &["orders"])
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        cache().scan("orders:*").await.unwrap(),
        Vec::<String>::new()
    );
}

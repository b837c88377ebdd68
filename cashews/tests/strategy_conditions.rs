//! The plain cache's conditions on what it stores: `cache_errors` (chosen
//! errors stored and returned on later hits) and `time_condition` (only
//! results that took long enough), through the attribute and through
//! `Cache::cached`, on paused time; and on every backend.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cashews::Cache;
use cashews::strategy::Served;
use cashews::strategy::simple::{Options, StoreAll, StoreOk, cache};
use serde::{Deserialize, Serialize};

thread_local! {
    /// A cache per test: each test runs on its own thread, with its own
    /// paused clock.
    static CACHE: Cache = Cache::from_url("mem://").unwrap();
}

fn mem() -> Cache {
    CACHE.with(Cache::clone)
}

fn next(counter: &AtomicU32) -> u32 {
    counter.fetch_add(1, Ordering::SeqCst) + 1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum LookupError {
    NotFound,
    Timeout,
    Status(u16),
}

#[tokio::test(start_paused = true)]
async fn the_attribute_stores_the_errors_its_predicate_chooses() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    #[cashews::cache(
        ttl = "1h",
        key = "user:{id}",
        cache = mem(),
        cache_errors = |e: &LookupError| matches!(e, LookupError::NotFound)
    )]
    async fn user(id: u32) -> Result<String, LookupError> {
        next(&CALLS);
        match id {
            0 => Err(LookupError::NotFound),
            1 => Err(LookupError::Timeout),
            _ => Ok(format!("user {id}")),
        }
    }
    assert_eq!(user(0).await, Err(LookupError::NotFound));
    assert_eq!(user(0).await, Err(LookupError::NotFound));
    assert_eq!(CALLS.load(Ordering::SeqCst), 1, "the chosen error is a hit");
    assert_eq!(user(1).await, Err(LookupError::Timeout));
    assert_eq!(user(1).await, Err(LookupError::Timeout));
    assert_eq!(
        CALLS.load(Ordering::SeqCst),
        3,
        "other errors are not stored"
    );
    assert_eq!(user(2).await.as_deref(), Ok("user 2"));
    assert_eq!(user(2).await.as_deref(), Ok("user 2"));
    assert_eq!(CALLS.load(Ordering::SeqCst), 4, "Ok values are stored");
}

#[tokio::test(start_paused = true)]
async fn the_attribute_takes_true_or_a_list_of_variants() {
    static ALL: AtomicU32 = AtomicU32::new(0);
    static LISTED: AtomicU32 = AtomicU32::new(0);
    #[cashews::cache(ttl = "1h", key = "all:{code}", cache = mem(), cache_errors = true)]
    async fn every_error(code: u16) -> Result<u32, LookupError> {
        next(&ALL);
        Err(LookupError::Status(code))
    }
    #[cashews::cache(
        ttl = "1h",
        key = "listed:{code}",
        cache = mem(),
        cache_errors = [LookupError::NotFound, LookupError::Status(404..=410)]
    )]
    async fn listed(code: u16) -> Result<u32, LookupError> {
        next(&LISTED);
        match code {
            0 => Err(LookupError::NotFound),
            1 => Err(LookupError::Timeout),
            code => Err(LookupError::Status(code)),
        }
    }
    for _ in 0..2 {
        assert_eq!(every_error(500).await, Err(LookupError::Status(500)));
    }
    assert_eq!(ALL.load(Ordering::SeqCst), 1);
    for code in [0, 404, 1, 500] {
        for _ in 0..2 {
            listed(code).await.unwrap_err();
        }
    }
    // NotFound and 404 once each; Timeout and 500 twice each.
    assert_eq!(LISTED.load(Ordering::SeqCst), 6);
    assert_eq!(listed(404).await, Err(LookupError::Status(404)));
}

#[tokio::test(start_paused = true)]
async fn the_condition_keeps_deciding_for_ok_values() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    #[cashews::cache(
        ttl = "1h",
        key = "count:{id}",
        cache = mem(),
        condition = |n| *n > 10,
        cache_errors = true
    )]
    async fn count(id: u32) -> Result<u32, LookupError> {
        next(&CALLS);
        if id == 0 {
            Err(LookupError::NotFound)
        } else {
            Ok(id)
        }
    }
    count(5).await.unwrap();
    count(5).await.unwrap();
    assert_eq!(CALLS.load(Ordering::SeqCst), 2, "refused by the condition");
    count(50).await.unwrap();
    count(50).await.unwrap();
    assert_eq!(CALLS.load(Ordering::SeqCst), 3);
    count(0).await.unwrap_err();
    count(0).await.unwrap_err();
    assert_eq!(
        CALLS.load(Ordering::SeqCst),
        4,
        "errors are the predicate's"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stored_error_is_a_hit_and_never_reads_as_ok() {
    let c = mem();
    let options = Options::new("1h").cache_errors(|_: &LookupError| true);
    let failed = cache(&c, "k", StoreAll, &options, || async {
        Err::<u32, _>(LookupError::Timeout)
    })
    .await;
    assert_eq!(
        (failed.value, failed.served),
        (Err(LookupError::Timeout), Served::Miss)
    );
    let again = cache(&c, "k", StoreAll, &options, || async {
        Ok::<u32, LookupError>(1)
    })
    .await;
    assert_eq!(
        (again.value, again.served),
        (Err(LookupError::Timeout), Served::Hit)
    );
    // Read without cache_errors, the stored error is not an `Ok` value.
    let plain = cache(&c, "k", StoreOk, &Options::new("1h"), || async {
        Ok::<u32, LookupError>(2)
    })
    .await;
    assert_eq!((plain.value, plain.served), (Ok(2), Served::Miss));
}

#[tokio::test(start_paused = true)]
async fn turning_cache_errors_on_reads_old_entries_as_misses() {
    let c = mem();
    let stored = cache(&c, "old", StoreOk, &Options::new("1h"), || async {
        Ok::<u32, LookupError>(7)
    })
    .await;
    assert_eq!(stored.value, Ok(7));
    assert_eq!(c.get::<u32>("old").await.unwrap(), Some(7));
    let options = Options::new("1h").cache_errors(|_: &LookupError| true);
    let now = cache(&c, "old", StoreAll, &options, || async {
        Err::<u32, _>(LookupError::NotFound)
    })
    .await;
    assert_eq!(
        (now.value, now.served),
        (Err(LookupError::NotFound), Served::Miss)
    );
    // And the other way: a stored `Ok` of the whole-`Result` layout is
    // not an `Ok` value of the plain one either.
    let whole = Options::new("1h").cache_errors(|_: &LookupError| false);
    let whole_ok = cache(&c, "new", StoreAll, &whole, || async {
        Ok::<u32, LookupError>(8)
    })
    .await;
    assert_eq!(whole_ok.value, Ok(8));
    assert!(c.exists("new").await.unwrap());
    let plain = cache(&c, "new", StoreOk, &Options::new("1h"), || async {
        Ok::<u32, LookupError>(9)
    })
    .await;
    assert_eq!((plain.value, plain.served), (Ok(9), Served::Miss));
}

#[tokio::test(start_paused = true)]
async fn waiters_share_only_the_errors_chosen_to_be_stored() {
    let c = mem();
    let calls = AtomicU32::new(0);
    let options = Options::new("1h").cache_errors(|e: &LookupError| *e == LookupError::NotFound);
    let failing = |error: LookupError| {
        let calls = &calls;
        move || async move {
            next(calls);
            tokio::time::sleep(Duration::from_millis(10)).await;
            Err::<u32, _>(error)
        }
    };
    let (first, waiter) = tokio::join!(
        cache(
            &c,
            "shared",
            StoreAll,
            &options,
            failing(LookupError::NotFound)
        ),
        cache(
            &c,
            "shared",
            StoreAll,
            &options,
            failing(LookupError::NotFound)
        ),
    );
    assert_eq!(
        (first.served, waiter.served),
        (Served::Miss, Served::Shared)
    );
    assert_eq!(waiter.value, Err(LookupError::NotFound));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let (first, second) = tokio::join!(
        cache(&c, "own", StoreAll, &options, failing(LookupError::Timeout)),
        cache(&c, "own", StoreAll, &options, failing(LookupError::Timeout)),
    );
    assert_eq!((first.served, second.served), (Served::Miss, Served::Miss));
    assert_eq!(second.value, Err(LookupError::Timeout));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "an unchosen error is never shared"
    );
}

#[tokio::test(start_paused = true)]
async fn cached_stores_chosen_errors() {
    let c = mem();
    let calls = AtomicU32::new(0);
    for _ in 0..2 {
        let found: Result<String, LookupError> = c
            .cached("page:1", "1h")
            .cache_errors(|e: &LookupError| *e == LookupError::NotFound)
            .get_with(|| async {
                next(&calls);
                Err(LookupError::NotFound)
            })
            .await;
        assert_eq!(found, Err(LookupError::NotFound));
    }
    for _ in 0..2 {
        let found: Result<String, LookupError> = c
            .cached("page:2", "1h")
            .cache_errors(|e: &LookupError| *e == LookupError::NotFound)
            .get_with(|| async {
                next(&calls);
                Err(LookupError::Timeout)
            })
            .await;
        assert_eq!(found, Err(LookupError::Timeout));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

async fn took(elapsed_ms: u64, value: u32) -> u32 {
    tokio::time::sleep(Duration::from_millis(elapsed_ms)).await;
    value
}

#[tokio::test(start_paused = true)]
async fn the_attribute_stores_only_slow_results() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    #[cashews::cache(ttl = "1h", key = "slow:{ms}", cache = mem(), time_condition = "200ms")]
    async fn slow(ms: u64) -> u32 {
        took(ms, next(&CALLS)).await
    }
    assert_eq!(slow(300).await, 1);
    assert_eq!(slow(300).await, 1, "took 300ms: stored");
    assert_eq!(slow(100).await, 2);
    assert_eq!(slow(100).await, 3, "took 100ms: not stored");
    assert_eq!(slow(200).await, 4);
    assert_eq!(slow(200).await, 4, "exactly the condition: stored");
}

#[tokio::test(start_paused = true)]
async fn time_condition_through_options_and_cached() {
    let c = mem();
    let options = Options::new("1h").time_condition(Duration::from_millis(200));
    let fast = cache(&c, "fast", StoreAll, &options, || took(100, 1)).await;
    assert_eq!((fast.value, fast.served), (1, Served::Miss));
    assert!(!c.exists("fast").await.unwrap());
    let slow = cache(&c, "slow", StoreAll, &options, || took(300, 2)).await;
    assert_eq!((slow.value, slow.served), (2, Served::Miss));
    assert_eq!(c.get::<u32>("slow").await.unwrap(), Some(2));

    for (key, ms, stored) in [("c:fast", 100, false), ("c:slow", 300, true)] {
        let value = c
            .cached(key, "1h")
            .time_condition(Duration::from_millis(200))
            .get_with(|| took(ms, 3))
            .await;
        assert_eq!(value, 3);
        assert_eq!(c.exists(key).await.unwrap(), stored, "{key}");
    }
}

#[tokio::test(start_paused = true)]
async fn time_condition_and_cache_errors_together() {
    let c = mem();
    let options = Options::new("1h")
        .time_condition(Duration::from_millis(200))
        .cache_errors(|_: &LookupError| true);
    let quick = cache(&c, "quick", StoreAll, &options, || async {
        Err::<u32, _>(LookupError::NotFound)
    })
    .await;
    assert_eq!(quick.value, Err(LookupError::NotFound));
    assert!(
        !c.exists("quick").await.unwrap(),
        "a quick error is not stored"
    );
    let slow = cache(&c, "slow", StoreAll, &options, || async {
        tokio::time::sleep(Duration::from_millis(250)).await;
        Err::<u32, _>(LookupError::Timeout)
    })
    .await;
    assert_eq!(slow.value, Err(LookupError::Timeout));
    let hit = cache(&c, "slow", StoreAll, &options, || async { Ok(1) }).await;
    assert_eq!(
        (hit.value, hit.served),
        (Err(LookupError::Timeout), Served::Hit)
    );
}

/// Both conditions on one backend: a stored error round-trips through its
/// codec, and a result faster than the time condition is not stored.
/// Real time: server clients do not run on a paused clock, so the slow
/// function takes a few real milliseconds.
async fn conditions_hold(c: &Cache) {
    let errors = Options::new("1h").cache_errors(|e: &LookupError| *e != LookupError::Timeout);
    let stored = cache(c, "cond:err", StoreAll, &errors, || async {
        Err::<String, _>(LookupError::Status(404))
    })
    .await;
    assert_eq!(stored.value, Err(LookupError::Status(404)));
    let hit = cache(c, "cond:err", StoreAll, &errors, || async {
        Ok::<String, LookupError>("fresh".into())
    })
    .await;
    assert_eq!(
        (hit.value, hit.served),
        (Err(LookupError::Status(404)), Served::Hit)
    );
    let _ = cache(c, "cond:timeout", StoreAll, &errors, || async {
        Err::<String, _>(LookupError::Timeout)
    })
    .await;
    assert!(!c.exists("cond:timeout").await.unwrap());
    let plain = cache(c, "cond:err", StoreOk, &Options::new("1h"), || async {
        Ok::<String, LookupError>("plain".into())
    })
    .await;
    assert_eq!(
        (plain.value.as_deref(), plain.served),
        (Ok("plain"), Served::Miss),
        "a stored error never reads as an Ok value"
    );

    let never = Options::new("1h").time_condition(Duration::from_secs(3600));
    let _ = cache(c, "cond:fast", StoreAll, &never, || async { 1u32 }).await;
    assert!(!c.exists("cond:fast").await.unwrap());
    let quick = Options::new("1h").time_condition(Duration::from_millis(5));
    let _ = cache(c, "cond:slow", StoreAll, &quick, || took(10, 2)).await;
    assert_eq!(c.get::<u32>("cond:slow").await.unwrap(), Some(2));
}

#[tokio::test]
async fn conditions_on_memory() {
    conditions_hold(&Cache::from_url("mem://").unwrap()).await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn conditions_on_redis() {
    let server = support::servers::RedisServer::start().await;
    conditions_hold(&Cache::from_url(&server.url()).unwrap()).await;
}

#[cfg(feature = "memcached")]
#[tokio::test]
async fn conditions_on_memcached() {
    let server = support::servers::MemcachedServer::start().await;
    conditions_hold(&Cache::from_url(&server.url()).unwrap()).await;
}

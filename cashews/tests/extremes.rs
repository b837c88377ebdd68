//! Extreme inputs through the whole public API: every `Cache` command,
//! every strategy, `parse_ttl`, `IntoTtl` and setup URLs, given zero, one
//! nanosecond, `Duration::MAX`, `u64::MAX`, `i64::MIN`/`MAX`, empty and
//! huge keys, 1 MiB values and deeply nested values. Each answer may be a
//! value or an error; none may be a panic (in the call or in a task it
//! spawned) or a hang (each case runs under a deadline).
//!
//! The memory backend runs on paused time, many cases; real Redis and
//! memcached servers run fewer, on real time.

mod support;

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::sync::Once;
use std::time::Duration;

use bytes::Bytes;
use cashews::backend::{Backend, MemoryBackend};
use cashews::strategy::{
    CircuitBreaker, Early, Failover, Hit, Locked, Perf, RateLimit, SliceRateLimit, Soft, admitted,
    circuit_breaker, delete_tags, early, failover, hit, invalidate, locked, perf, rate_limit, soft,
    tag, tagged, twice_the_mean,
};
use cashews::{Cache, Error, ErrorKind, Exist, IntoTtl, Settings, parse_ttl};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use serde::{Deserialize, Serialize};

thread_local! {
    /// Panics on this thread, spawned tasks of its current-thread runtime
    /// included (tokio catches those, so the test would not see them).
    static PANICS: Cell<usize> = const { Cell::new(0) };
}

fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.set(PANICS.get() + 1);
            previous(info);
        }));
    });
}

fn panics() -> usize {
    PANICS.get()
}

fn durations() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_nanos(1)),
        Just(Duration::from_nanos(999_999)),
        Just(Duration::from_millis(1)),
        Just(Duration::from_secs(1)),
        Just(Duration::from_nanos(u64::MAX)),
        Just(Duration::from_secs(u64::MAX)),
        Just(Duration::MAX),
        any::<u64>().prop_map(Duration::from_nanos),
        (any::<u64>(), 0..1_000_000_000_u32).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

fn counts() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(3),
        Just(10_000),
        Just(10_001),
        Just(i64::MAX as u64),
        Just(i64::MAX as u64 + 1),
        Just(u64::MAX),
        any::<u64>(),
    ]
}

fn ints() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MIN),
        Just(-1),
        Just(0),
        Just(1),
        Just(i64::MAX),
        any::<i64>(),
    ]
}

fn keys() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("k".to_owned()),
        Just("a:b*?[c]\\%".to_owned()),
        Just("é \u{0}\r\n\t".to_owned()),
        Just("x".repeat(64 * 1024)),
        "\\PC{0,40}",
    ]
}

/// A stored value: small, 1 MiB, or nested (within the depth limit).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
enum Value {
    Int(i64),
    Text(String),
    Nested(Tree),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(n) => write!(f, "Int({n})"),
            Self::Text(s) => write!(f, "Text({} bytes)", s.len()),
            Self::Nested(t) => write!(f, "Nested({} deep)", t.depth()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tree(Vec<Tree>);

impl Tree {
    fn depth(&self) -> usize {
        let mut depth = 0;
        let mut node = self;
        while let Some(inner) = node.0.first() {
            depth += 1;
            node = inner;
        }
        depth
    }
}

fn tree(depth: usize) -> Tree {
    (0..depth).fold(Tree(Vec::new()), |inner, _| Tree(vec![inner]))
}

fn values() -> impl Strategy<Value = Value> {
    prop_oneof![
        ints().prop_map(Value::Int),
        Just(Value::Text("v".repeat(1 << 20))),
        (0..100_usize).prop_map(|d| Value::Nested(tree(d))),
    ]
}

#[derive(Debug, Clone)]
struct Input {
    key: String,
    ttl: Duration,
    other: Duration,
    count: u64,
    by: i64,
    percent: u8,
    beta: f64,
    value: Value,
}

fn inputs() -> impl Strategy<Value = Input> {
    (
        keys(),
        durations(),
        durations(),
        counts(),
        ints(),
        any::<u8>(),
        prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(-1.0), Just(1.0)],
        values(),
    )
        .prop_map(|(key, ttl, other, count, by, percent, beta, value)| Input {
            key,
            ttl,
            other,
            count,
            by,
            percent,
            beta,
            value,
        })
}

/// Moves tokio's clock when it is paused; real servers are left alone.
async fn advance(paused: bool, by: Duration) {
    if paused {
        tokio::time::advance(by.min(LONGEST_ADVANCE)).await;
    }
}

/// Every `Cache` command with `input`'s values.
async fn commands(cache: &Cache, input: &Input, paused: bool) {
    let Input {
        key: k,
        ttl,
        other,
        count,
        by,
        value,
        ..
    } = input;
    let (ttl, other, count, by) = (*ttl, *other, *count, *by);
    let counter = format!("{k}:n");
    let _ = cache.set(k, value, ttl).await;
    let _ = cache.set(k, value, count).await;
    let _ = cache.set(k, value, by).await;
    let _ = cache.set(k, value, format!("{count}s").as_str()).await;
    let _ = cache.set(k, value, None::<Duration>).await;
    let _ = cache.set_if(k, value, other, Exist::Absent).await;
    let _ = cache.set_if(k, value, ttl, Exist::Present).await;
    let _ = cache.get::<Value>(k).await;
    let _ = cache.get_cloned::<Value>(k).await;
    let _ = cache.get_many::<Value>(&[k, "", k]).await;
    let _ = cache
        .set_many(
            &[(k.as_str(), value.clone()), ("other", value.clone())],
            ttl,
        )
        .await;
    let _ = cache.get_or_set(k, value.clone(), other).await;
    let _ = cache.exists(k).await;
    let _ = cache.get_expire(k).await;
    let _ = cache.get_size(k).await;
    let _ = cache.expire(k, other).await;
    let _ = cache.expire(k, count).await;
    for _ in 0..2 {
        let _ = cache.incr(&counter, by, Some(ttl)).await;
        let _ = cache.incr(&counter, i64::MIN, Some(other)).await;
    }
    let _ = cache.incr(k, by, None).await;
    // A held lock with a bounded TTL, waited for with any wait; a free one.
    let held = format!("{k}:held");
    let _ = cache.set_lock(&held, "owner", Duration::from_secs(1)).await;
    let _ = cache.is_locked(&held, Some(ttl)).await;
    let _ = cache.is_locked(&format!("{k}:free"), Some(other)).await;
    let _ = cache.is_locked(k, None).await;
    let _ = cache.set_lock(k, "owner", ttl).await;
    let _ = cache.unlock(k, "owner").await;
    if let Ok(guard) = cache.lock(&format!("{k}:lock"), other).await {
        let _ = guard.release().await;
    }
    advance(paused, other).await;
    let _ = cache.ping(Some(k.as_bytes())).await;
    let escaped = cashews::pattern::escape(k);
    let _ = cache.scan(&escaped).await;
    let _ = cache.get_match::<Value>(&format!("{escaped}*")).await;
    let _ = cache.delete_match(&escaped).await;
    let _ = cache.delete(k).await;
    let _ = cache.delete_many(&[k, &counter, ""]).await;
    let _ = cache.get_keys_count().await;
    let _ = cache.stats();
    let _ = cache.clear().await;
}

fn failing() -> Error {
    Error::new(ErrorKind::Connection, "down")
}

/// Every strategy, with options built from `input`'s values.
async fn strategies(cache: &Cache, input: &Input, paused: bool) {
    let Input {
        key: k,
        ttl,
        other,
        count,
        percent,
        beta,
        value,
        ..
    } = input.clone();
    let ok = || {
        let value = value.clone();
        move || async move { Ok::<_, Error>(value) }
    };
    let err = || || async { Err::<Value, _>(failing()) };

    let _ = cache.cached(&k, ttl).try_get_with(ok()).await;
    let _ = cache.cached(&k, count).get_with(|| async { 1_u8 }).await;

    let failover_options = Failover::new(ttl);
    let _ = failover(cache, &k, &failover_options, ok()).await;
    let _ = failover(cache, &k, &failover_options, err()).await;

    let hit_options = Hit::new(ttl, count).update_after(count);
    for _ in 0..3 {
        let _ = hit(cache, &format!("{k}:hit"), &hit_options, ok()).await;
    }

    let perf_options = Perf::new(ttl).trace_size(usize::try_from(count).unwrap_or(usize::MAX));
    for _ in 0..3 {
        let _ = perf(cache, &format!("{k}:perf"), &perf_options, ok()).await;
    }
    let _ = twice_the_mean(ttl, &[ttl, other, Duration::MAX], 2);

    let locked_options = Locked::new(ttl).lock_ttl(other).wait(other).step(ttl);
    let _ = locked(cache, &format!("{k}:locked"), &locked_options, ok()).await;
    let _ = locked(cache, &format!("{k}:locked2"), &Locked::new(ttl), ok()).await;

    let early_key = format!("{k}:early");
    let marked = Early::new(ttl).early_ttl(other).lock_ttl(other);
    let xfetch = Early::new(other).xfetch(beta).rng_seed(count);
    for options in [&Early::new(ttl), &marked, &xfetch] {
        let _ = early(cache, &early_key, options, ok()).await;
        advance(paused, other).await;
        let _ = early(cache, &early_key, options, ok()).await;
        let _ = early(cache, &early_key, options, err()).await;
        tokio::task::yield_now().await;
    }

    let soft_options = Soft::new(ttl, other);
    let _ = soft(cache, &format!("{k}:soft"), &soft_options, ok()).await;
    advance(paused, other).await;
    let _ = soft(cache, &format!("{k}:soft"), &soft_options, err()).await;

    let fixed = RateLimit::new(count, ttl).ban(other);
    let sliding = SliceRateLimit::new(count, ttl);
    for _ in 0..2 {
        let _ = rate_limit(cache, &format!("{k}:fixed"), &fixed, ok()).await;
        let _ = rate_limit(cache, &format!("{k}:slide"), &sliding, ok()).await;
        let _ = admitted(cache, &format!("{k}:slide"), &sliding).await;
    }

    let breaker = CircuitBreaker::<Error>::new(percent, ttl, other)
        .min_calls(u32::try_from(count).unwrap_or(u32::MAX))
        .half_open(other, percent);
    for _ in 0..3 {
        let _ = circuit_breaker(cache, &format!("{k}:cb"), &breaker, err()).await;
        advance(paused, ttl).await;
    }
    let _ = circuit_breaker(cache, &format!("{k}:cb"), &breaker, ok()).await;

    let _ = tagged(cache, &format!("{k}:tagged"), &[&k, ""], ttl, ok()).await;
    let _ = tag(cache, &k, &[&k], other).await;
    let _ = delete_tags(cache, &[&k, ""]).await;
    let pattern = format!("{}*", cashews::pattern::escape(&k));
    let _: Result<(), Error> = invalidate::after(
        [invalidate::Invalidation::new(cache, pattern)],
        Result::is_ok,
        || async { Ok(()) },
    )
    .await;
}

/// Runs `body` on a fresh runtime (paused or real time) under `deadline`,
/// then checks that nothing panicked, spawned tasks included.
fn run_bounded<F: Future<Output = ()>>(
    paused: bool,
    deadline: Duration,
    body: impl FnOnce() -> F,
) -> Result<(), TestCaseError> {
    let before = panics();
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_all().start_paused(paused);
    let runtime = builder.build().unwrap();
    let finished = runtime.block_on(async {
        let finished = tokio::time::timeout(deadline, body()).await.is_ok();
        // Let spawned refreshes and releases run before the check.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        finished
    });
    drop(runtime);
    prop_assert!(finished, "the case did not finish within {deadline:?}");
    prop_assert_eq!(panics(), before, "something panicked");
    Ok(())
}

fn runner(cases: u32) -> TestRunner {
    count_panics();
    TestRunner::new(Config {
        cases,
        rng_seed: RngSeed::Fixed(0x0e47_2e3e),
        failure_persistence: None,
        ..Config::default()
    })
}

/// How far a case moves paused time at once: tokio's clock cannot be moved
/// by `Duration::MAX`.
const LONGEST_ADVANCE: Duration = Duration::from_secs(1 << 30);

/// A paused-time deadline, far beyond a case's own advances: a case that
/// waits on timers (a lock never released, a wait that never ends) hits it
/// at once.
const PAUSED_DEADLINE: Duration = Duration::from_secs(1 << 40);

fn check(outcome: Result<(), proptest::test_runner::TestError<Input>>) {
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

#[test]
fn memory_commands_are_total() {
    check(runner(48).run(&inputs(), |input| {
        run_bounded(true, PAUSED_DEADLINE, || async {
            let cache = Cache::from_url("mem://").unwrap();
            commands(&cache, &input, true).await;
        })
    }));
}

#[test]
fn memory_strategies_are_total() {
    check(runner(48).run(&inputs(), |input| {
        run_bounded(true, PAUSED_DEADLINE, || async {
            let cache = Cache::from_url("mem://").unwrap();
            strategies(&cache, &input, true).await;
        })
    }));
}

#[cfg(feature = "redis")]
#[test]
fn redis_is_total() {
    let servers = tokio::runtime::Runtime::new().unwrap();
    let server = servers.block_on(support::servers::RedisServer::start());
    let url = format!("{}?socket_timeout=5s", server.url());
    check(runner(12).run(&inputs(), |input| {
        run_bounded(false, Duration::from_secs(60), || async {
            let cache = Cache::from_url(&url).unwrap();
            commands(&cache, &input, false).await;
            strategies(&cache, &input, false).await;
        })
    }));
    drop(server);
}

#[cfg(feature = "memcached")]
#[test]
fn memcached_is_total() {
    let servers = tokio::runtime::Runtime::new().unwrap();
    let server = servers.block_on(support::servers::MemcachedServer::start());
    let url = format!("{}?socket_timeout=5s", server.url());
    check(runner(12).run(&inputs(), |input| {
        run_bounded(false, Duration::from_secs(60), || async {
            let cache = Cache::from_url(&url).unwrap();
            commands(&cache, &input, false).await;
            strategies(&cache, &input, false).await;
        })
    }));
    drop(server);
}

proptest! {
    #![proptest_config(Config { cases: 2_000, failure_persistence: None, ..Config::default() })]

    /// TTL strings: anything, and well-formed numbers of any size.
    #[test]
    fn ttl_strings_are_total(
        s in prop_oneof!["\\PC{0,30}", "[0-9]{0,25}(d|h|m|s|ms|x)?([0-9]{0,25}(ms|s))?"],
    ) {
        count_panics();
        let before = panics();
        let parsed = parse_ttl(&s);
        prop_assert!(parsed.as_ref().is_ok_and(|d| !d.is_zero()) || parsed.is_err());
        let _ = s.as_str().into_ttl();
        prop_assert_eq!(panics(), before);
    }

    /// Every `IntoTtl` form: a positive TTL or an error.
    #[test]
    fn into_ttl_is_total(d in durations(), n in counts(), i in ints()) {
        for ttl in [
            d.into_ttl(),
            Some(d).into_ttl(),
            n.into_ttl(),
            i.into_ttl(),
            (i as i32).into_ttl(),
            (n as u32).into_ttl(),
            usize::try_from(n).unwrap_or(usize::MAX).into_ttl(),
        ] {
            prop_assert!(ttl.is_err() || ttl.is_ok_and(|t| t.is_some_and(|t| !t.is_zero())));
        }
    }

    /// Setup URLs with extreme numbers: accepted values are usable (a
    /// check interval a timer can take, a port one can connect to).
    #[test]
    fn settings_urls_are_total(
        d in durations(),
        n in counts(),
        port in prop_oneof![Just(0_u64), Just(1), Just(65_535), Just(65_536), any::<u64>()],
        seconds in prop_oneof![Just("1e-10"), Just("0.0000001"), Just("1e300"), Just("NaN"), Just("-0"), Just("inf")],
        junk in "\\PC{0,40}",
    ) {
        count_panics();
        let before = panics();
        let nanos = format!("{}ms", d.as_millis());
        for url in [
            format!("mem://?check_interval={seconds}&size={n}"),
            format!("mem://?check_interval={nanos}"),
            format!("redis://h:{port}/{n}?socket_timeout={seconds}"),
            format!("redis://h:{port}?create_connection_timeout={nanos}"),
            format!("memcached://h:{port},g:{n}?socket_timeout={seconds}"),
            format!("rediss://{junk}"),
            format!("mem://?{junk}"),
            junk.clone(),
        ] {
            let Ok(settings) = Settings::from_url(&url) else { continue };
            match &settings.backend {
                cashews::BackendSettings::Memory(m) => {
                    prop_assert!(m.check_interval >= Duration::from_millis(1), "{url}")
                }
                cashews::BackendSettings::Memcached(m) => {
                    prop_assert!(m.servers.iter().all(|(_, p)| *p != 0), "{url}")
                }
                _ => prop_assert!(!url.contains(":0/") && !url.contains(":0?"), "{url}"),
            }
        }
        prop_assert_eq!(panics(), before);
    }
}

/// Whatever a memory URL accepts runs: the sweeper's timer takes the
/// smallest check interval, and a hand-built zero one.
#[tokio::test(start_paused = true)]
async fn the_smallest_check_intervals_run() {
    count_panics();
    let before = panics();
    let cache = Cache::from_url("mem://?check_interval=1ms").unwrap();
    cache.set("k", &1, 1).await.unwrap();
    let mut settings = cashews::settings::MemorySettings::default();
    settings.check_interval = Duration::ZERO;
    let hand_built = Cache::builder(MemoryBackend::new(settings)).build();
    hand_built.set("k", &1, 1).await.unwrap();
    tokio::time::advance(Duration::from_millis(10)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(panics(), before);
    assert!(Settings::from_url("mem://?check_interval=0.0000001").is_err());
    assert!(Settings::from_url("redis://h:0").is_err());
    assert!(Settings::from_url("memcached://h:0").is_err());
    assert!(Settings::from_url("memcached://h:1,g:0").is_err());
}

/// `depth` MessagePack arrays, each holding the next, around a 1.
fn nested_msgpack(depth: usize) -> Vec<u8> {
    let mut bytes = vec![0x01]; // the unsigned value's header
    bytes.extend(std::iter::repeat_n(0x91, depth));
    bytes.push(0x01);
    bytes
}

/// A deeply nested stored value, written as raw bytes, reads as a miss
/// (counted) for every target type, recursive ones included; encoding one
/// is an error. On a 2 MiB stack, as tokio's workers have. And a sliding
/// window of `u64::MAX` calls is an error, not an allocation.
async fn stored_extremes(cache: &Cache, backend: &dyn Backend, key: &str) {
    for depth in [129, 1_000, 100_000] {
        let bytes = Bytes::from(nested_msgpack(depth));
        backend.set(key, bytes, None, None).await.unwrap();
        let rejected = cache.stats().rejected_values;
        assert_eq!(cache.get::<Tree>(key).await.unwrap(), None, "{depth}");
        assert_eq!(cache.get::<Value>(key).await.unwrap(), None, "{depth}");
        assert_eq!(
            cache.get::<serde_json::Value>(key).await.unwrap(),
            None,
            "{depth}"
        );
        assert_eq!(cache.stats().rejected_values, rejected + 3, "{depth}");
    }
    // Just within the limit still decodes.
    backend
        .set(key, Bytes::from(nested_msgpack(127)), None, None)
        .await
        .unwrap();
    assert!(cache.get::<serde_json::Value>(key).await.unwrap().is_some());
    // A sliding window needing more slot keys than a backend keeps is a
    // clear error on every backend (Redis's script keeps them too).
    let err = backend
        .slide_window(key, u64::MAX, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    let err = cache.set(key, &tree(200), 60).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Encode, "{err}");
    cache.set(key, &tree(100), 60).await.unwrap();
    assert_eq!(cache.get::<Tree>(key).await.unwrap(), Some(tree(100)));
}

#[cfg(feature = "redis")]
fn redis_backend(url: &str) -> cashews::backend::RedisBackend {
    let settings = Settings::from_url(url).unwrap();
    let cashews::BackendSettings::Redis(redis) = &settings.backend else {
        unreachable!()
    };
    cashews::backend::RedisBackend::new(redis).unwrap()
}

#[cfg(feature = "memcached")]
fn memcached_backend(url: &str) -> cashews::backend::MemcachedBackend {
    let settings = Settings::from_url(url).unwrap();
    let cashews::BackendSettings::Memcached(memcached) = &settings.backend else {
        unreachable!()
    };
    cashews::backend::MemcachedBackend::new(memcached).unwrap()
}

/// [`stored_extremes`] on a server: a cache of `url`, and `backend` to
/// write raw bytes behind its back.
#[cfg(any(feature = "redis", feature = "memcached"))]
async fn stored_extremes_at(url: &str, backend: impl Backend) {
    let cache = Cache::from_url(url).unwrap();
    stored_extremes(&cache, &backend, "deep").await;
}

/// Runs `test` on a current-thread runtime of a thread with a 2 MiB stack.
fn on_small_stack<F: Future<Output = ()>>(test: impl FnOnce() -> F + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(test());
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn stored_extremes_on_memory() {
    on_small_stack(|| async {
        let backend = MemoryBackend::new(Default::default());
        let cache = Cache::builder(backend.clone()).build();
        stored_extremes(&cache, &backend, "deep").await;
    });
}

#[cfg(feature = "redis")]
#[test]
fn stored_extremes_on_redis() {
    on_small_stack(|| async {
        let server = support::servers::RedisServer::start().await;
        stored_extremes_at(&server.url(), redis_backend(&server.url())).await;
    });
}

#[cfg(feature = "redis")]
#[test]
fn stored_extremes_on_redis_cluster() {
    on_small_stack(|| async {
        let server = support::servers::RedisCluster::start().await;
        stored_extremes_at(&server.url(), redis_backend(&server.url())).await;
    });
}

#[cfg(feature = "memcached")]
#[test]
fn stored_extremes_on_memcached() {
    on_small_stack(|| async {
        let server = support::servers::MemcachedServer::start().await;
        stored_extremes_at(&server.url(), memcached_backend(&server.url())).await;
    });
}

/// The default sliding window (memory, memcached) refuses a limit it
/// would need too many keys for, clearly; Redis's script takes any.
#[tokio::test(start_paused = true)]
async fn a_huge_sliding_window_is_a_clear_error() {
    let backend = MemoryBackend::new(Default::default());
    let err = backend
        .slide_window("w", u64::MAX, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("10000"), "{err}");
    assert!(
        backend
            .slide_window("w", 10_000, Duration::from_secs(1))
            .await
            .unwrap()
    );
}

/// The process's peak resident memory, in KiB (Linux).
#[cfg(feature = "memcached")]
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A memcached reply announcing a 1 GB value and sending three bytes makes
/// the client allocate about what it sent, not what it announced (found by
/// the memcached_reply fuzz target as an out-of-memory).
#[cfg(feature = "memcached")]
#[tokio::test]
async fn a_hostile_memcached_cannot_make_the_client_allocate() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = [0; 1024];
            let _ = socket.read(&mut request).await;
            let _ = socket.write_all(b"VA 1000000000\r\nabc").await;
            let _ = socket.shutdown().await;
        }
    });
    let before = peak_rss_kib();
    let cache = Cache::from_url(&format!("memcached://127.0.0.1:{port}?safe=0")).unwrap();
    for _ in 0..3 {
        assert!(cache.get::<String>("k").await.is_err());
    }
    let grown = peak_rss_kib().saturating_sub(before);
    assert!(grown < 256 * 1024, "the peak grew by {grown} KiB");
}

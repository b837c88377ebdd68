//! `perf`: caching switched on only while the function is degraded.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cashews::strategy::{Perf, Served, perf};
use cashews::{Cache, Error};

#[tokio::test(start_paused = true)]
async fn caches_only_while_degraded() {
    let options = Perf::new(Duration::from_secs(60)).trace_size(3);
    let cache = Cache::from_url("mem://").unwrap();
    let calls = &AtomicU32::new(0);
    let call = |ms: u64| {
        perf(&cache, "k", &options, move || async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, Error>(calls.fetch_add(1, Ordering::SeqCst) + 1)
        })
    };
    // Healthy: every call runs (the first ones fill the trace).
    for (i, ms) in [10, 10, 10, 20].into_iter().enumerate() {
        assert_eq!(call(ms).await.value.unwrap(), i as u32 + 1);
    }
    // Mean of the last three is 40/3 ms; 27 ms is over twice that.
    assert_eq!(call(27).await.value.unwrap(), 5);
    // Degraded: the result is cached and served.
    let served = call(10).await;
    assert_eq!((served.value.unwrap(), served.served), (5, Served::Hit));
    assert_eq!(call(10).await.value.unwrap(), 5);
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    tokio::time::advance(Duration::from_secs(60)).await;
    // Healthy again (10 ms against a mean of 19 ms): runs, not cached.
    let ran = call(10).await;
    assert_eq!((ran.value.unwrap(), ran.served), (6, Served::Miss));
    assert_eq!(call(10).await.value.unwrap(), 7);
    assert_eq!(
        options.trace(&cache),
        [20, 27, 10, 10].map(Duration::from_millis)[1..]
    );
}

#[tokio::test(start_paused = true)]
async fn exactly_twice_the_mean_is_not_degraded() {
    let options = Perf::new(Duration::from_secs(60)).trace_size(2);
    let cache = Cache::from_url("mem://").unwrap();
    let calls = &AtomicU32::new(0);
    let call = |ms: u64| {
        perf(&cache, "k", &options, move || async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, Error>(calls.fetch_add(1, Ordering::SeqCst) + 1)
        })
    };
    call(10).await.value.unwrap();
    call(10).await.value.unwrap();
    assert_eq!(call(20).await.value.unwrap(), 3); // exactly twice: not cached
    assert_eq!(call(10).await.value.unwrap(), 4);
}

#[tokio::test(start_paused = true)]
async fn custom_condition() {
    fn over_a_second(current: Duration, _: &[Duration], _: usize) -> bool {
        current > Duration::from_secs(1)
    }
    let options = Perf::new(Duration::from_secs(60)).condition(over_a_second);
    let cache = Cache::from_url("mem://").unwrap();
    let slow = perf(&cache, "k", &options, || async {
        tokio::time::sleep(Duration::from_millis(1001)).await;
        Ok::<_, Error>(String::from("slow"))
    })
    .await;
    assert_eq!(slow.value.unwrap(), "slow");
    let again = perf(&cache, "k", &options, || async {
        Ok::<_, Error>(String::from("fresh"))
    })
    .await;
    assert_eq!(again.value.unwrap(), "slow");
}

#[tokio::test(start_paused = true)]
async fn options_built_at_each_call_keep_one_trace_in_the_cache() {
    let cache = Cache::from_url("mem://").unwrap();
    let other = Cache::from_url("mem://").unwrap();
    let (mut values, mut served, mut traced) = (Vec::new(), Vec::new(), Vec::new());
    for ms in [10, 10, 30, 10] {
        // Plain data built for this call: the trace is kept by the cache.
        let options = Perf::new(Duration::from_secs(60)).trace_size(2);
        let reported = perf(&cache, "k", &options, || async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, Error>(ms)
        })
        .await;
        values.push(reported.value.unwrap());
        served.push(reported.served);
        traced.push(options.trace(&cache).len());
        assert!(options.trace(&other).is_empty(), "each cache keeps its own");
    }
    // 30 ms is over twice the mean of the two traced calls: cached.
    assert_eq!(values, [10, 10, 30, 30]);
    assert_eq!(
        served,
        [Served::Miss, Served::Miss, Served::Miss, Served::Hit]
    );
    // A hit runs nothing, so traces nothing.
    assert_eq!(traced, [1, 2, 2, 2]);
}

//! `perf`: caching switched on only while the function is degraded.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cashews::strategy::{Perf, perf};
use cashews::{Cache, Error};

#[tokio::test(start_paused = true)]
async fn caches_only_while_degraded() {
    static OPTIONS: Perf = Perf::new(Duration::from_secs(60)).trace_size(3);
    let cache = Cache::from_url("mem://").unwrap();
    let calls = &AtomicU32::new(0);
    let call = |ms: u64| {
        perf(&cache, "k", &OPTIONS, move || async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, Error>(calls.fetch_add(1, Ordering::SeqCst) + 1)
        })
    };
    // Healthy: every call runs (the first ones fill the trace).
    for (i, ms) in [10, 10, 10, 20].into_iter().enumerate() {
        assert_eq!(call(ms).await.unwrap(), i as u32 + 1);
    }
    // Mean of the last three is 40/3 ms; 27 ms is over twice that.
    assert_eq!(call(27).await.unwrap(), 5);
    // Degraded: the result is cached and served.
    assert_eq!(call(10).await.unwrap(), 5);
    assert_eq!(call(10).await.unwrap(), 5);
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    tokio::time::advance(Duration::from_secs(60)).await;
    // Healthy again (10 ms against a mean of 19 ms): runs, not cached.
    assert_eq!(call(10).await.unwrap(), 6);
    assert_eq!(call(10).await.unwrap(), 7);
    assert_eq!(
        OPTIONS.trace(),
        [20, 27, 10, 10].map(Duration::from_millis)[1..]
    );
}

#[tokio::test(start_paused = true)]
async fn exactly_twice_the_mean_is_not_degraded() {
    static OPTIONS: Perf = Perf::new(Duration::from_secs(60)).trace_size(2);
    let cache = Cache::from_url("mem://").unwrap();
    let calls = &AtomicU32::new(0);
    let call = |ms: u64| {
        perf(&cache, "k", &OPTIONS, move || async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, Error>(calls.fetch_add(1, Ordering::SeqCst) + 1)
        })
    };
    call(10).await.unwrap();
    call(10).await.unwrap();
    assert_eq!(call(20).await.unwrap(), 3); // exactly twice: not cached
    assert_eq!(call(10).await.unwrap(), 4);
}

#[tokio::test(start_paused = true)]
async fn custom_condition() {
    fn over_a_second(current: Duration, _: &[Duration], _: usize) -> bool {
        current > Duration::from_secs(1)
    }
    static OPTIONS: Perf = Perf::new(Duration::from_secs(60)).condition(over_a_second);
    let cache = Cache::from_url("mem://").unwrap();
    let slow = perf(&cache, "k", &OPTIONS, || async {
        tokio::time::sleep(Duration::from_millis(1001)).await;
        Ok::<_, Error>(String::from("slow"))
    })
    .await;
    assert_eq!(slow.unwrap(), "slow");
    let again = perf(&cache, "k", &OPTIONS, || async {
        Ok::<_, Error>(String::from("fresh"))
    })
    .await;
    assert_eq!(again.unwrap(), "slow");
}

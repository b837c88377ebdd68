//! `early`: one background refresh after the early mark, the current value meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cashews::backend::MemoryBackend;
use cashews::strategy::{Early, Reported, Served, early};
use cashews::{Cache, Error, ErrorKind};

/// A function that takes `took`, counts its calls and returns their number,
/// failing on the calls listed in `fail_on`.
#[derive(Clone)]
struct Upstream {
    started: Arc<AtomicU32>,
    calls: Arc<AtomicU32>,
    took: Duration,
    fail_on: &'static [u32],
}

impl Upstream {
    fn new(took: Duration) -> Self {
        Self {
            started: Arc::new(AtomicU32::new(0)),
            calls: Arc::new(AtomicU32::new(0)),
            took,
            fail_on: &[],
        }
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    async fn get(&self, cache: &Cache, options: &Early) -> Reported<Result<u32, Error>> {
        let me = self.clone();
        early(cache, "k", options, move || async move {
            me.started.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(me.took).await;
            let n = me.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if me.fail_on.contains(&n) {
                Err(Error::new(ErrorKind::Connection, "upstream down"))
            } else {
                Ok(n)
            }
        })
        .await
    }
}

#[tokio::test(start_paused = true)]
async fn one_refresh_after_the_mark_under_a_thousand_callers() {
    let options = Early::new(Duration::from_secs(60)).early_ttl(Duration::from_secs(20));
    let cache = Cache::from_url("mem://").unwrap();
    let up = Upstream::new(Duration::from_millis(50));
    // Cold: a plain call.
    let cold = up.get(&cache, &options).await;
    assert_eq!((cold.value.unwrap(), cold.served), (1, Served::Miss));
    tokio::time::advance(Duration::from_millis(19_999)).await;
    let before_the_mark = up.get(&cache, &options).await;
    assert_eq!(
        (before_the_mark.value.unwrap(), before_the_mark.served),
        (1, Served::Hit)
    );
    assert_eq!(up.calls(), 1);
    tokio::time::advance(Duration::from_millis(1)).await;

    let start = tokio::time::Instant::now();
    let callers: Vec<_> = (0..1000)
        .map(|_| {
            let (cache, up) = (cache.clone(), up.clone());
            tokio::spawn(async move { up.get(&cache, &options).await })
        })
        .collect();
    let mut refreshes_started = 0;
    for c in callers {
        // Everyone gets the current value, without waiting for the refresh.
        let reported = c.await.unwrap();
        assert_eq!(reported.value.unwrap(), 1);
        match reported.served {
            Served::RefreshStarted => refreshes_started += 1,
            served => assert_eq!(served, Served::Hit),
        }
    }
    assert_eq!(refreshes_started, 1, "the caller that refreshes says so");
    assert_eq!(start.elapsed(), Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(51)).await;
    assert_eq!(up.calls(), 2);
    assert_eq!(up.get(&cache, &options).await.value.unwrap(), 2);
    // The refreshed value has a mark of its own.
    tokio::time::advance(Duration::from_secs(20)).await;
    assert_eq!(up.get(&cache, &options).await.value.unwrap(), 2);
    tokio::time::sleep(Duration::from_millis(51)).await;
    assert_eq!(up.get(&cache, &options).await.value.unwrap(), 3);
    assert_eq!(up.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn one_refresh_across_processes() {
    let options = Early::new(Duration::from_secs(30));
    let backend = MemoryBackend::new(Default::default());
    let a = Cache::builder(backend.clone()).build();
    let b = Cache::builder(backend).build();
    let up = Upstream::new(Duration::from_millis(50));
    up.get(&a, &options).await.value.unwrap();
    // The default mark is a third of the ttl.
    tokio::time::advance(Duration::from_millis(9_999)).await;
    up.get(&b, &options).await.value.unwrap();
    assert_eq!(up.calls(), 1);
    tokio::time::advance(Duration::from_millis(1)).await;
    let callers: Vec<_> = (0..200)
        .map(|i| {
            let cache = if i % 2 == 0 { a.clone() } else { b.clone() };
            let up = up.clone();
            tokio::spawn(async move { up.get(&cache, &options).await })
        })
        .collect();
    for c in callers {
        assert_eq!(c.await.unwrap().value.unwrap(), 1);
    }
    tokio::time::sleep(Duration::from_millis(51)).await;
    assert_eq!(up.calls(), 2);
    assert_eq!(up.get(&b, &options).await.value.unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_refresh_keeps_the_old_value_and_is_retried() {
    let options = Early::new(Duration::from_secs(60)).early_ttl(Duration::from_secs(20));
    let cache = Cache::from_url("mem://").unwrap();
    let up = Upstream {
        fail_on: &[2],
        ..Upstream::new(Duration::from_millis(50))
    };
    assert_eq!(up.get(&cache, &options).await.value.unwrap(), 1);
    tokio::time::advance(Duration::from_secs(20)).await;
    assert_eq!(up.get(&cache, &options).await.value.unwrap(), 1); // starts refresh #2, which fails
    tokio::time::sleep(Duration::from_millis(51)).await;
    assert_eq!(up.calls(), 2);
    assert_eq!(up.get(&cache, &options).await.value.unwrap(), 1); // still the old value; retries
    tokio::time::sleep(Duration::from_millis(51)).await;
    assert_eq!(up.calls(), 3);
    assert_eq!(up.get(&cache, &options).await.value.unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_refresh_is_retried() {
    let options = Early::new(Duration::from_secs(60)).early_ttl(Duration::from_secs(20));
    let cache = Cache::from_url("mem://").unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    // The refresh task dies (a panic; a runtime shutting down drops it the
    // same way): it ends without storing and without releasing by hand.
    async fn dies(calls: Arc<AtomicU32>) -> Result<i32, Error> {
        calls.fetch_add(1, Ordering::SeqCst);
        panic!("refresh died");
    }
    let hang = {
        let calls = calls.clone();
        move || dies(calls)
    };
    early(&cache, "k", &options, || async { Ok::<_, Error>(1) })
        .await
        .value
        .unwrap();
    tokio::time::advance(Duration::from_secs(20)).await;
    assert_eq!(early(&cache, "k", &options, hang).await.value.unwrap(), 1);
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The dead refresh released its lock: the next call refreshes.
    assert_eq!(
        early(&cache, "k", &options, || async { Ok::<_, Error>(2) })
            .await
            .value
            .unwrap(),
        1
    );
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(
        cache.get::<serde_json::Value>("k").await.unwrap().unwrap()["value"],
        2
    );
}

#[tokio::test(start_paused = true)]
async fn xfetch_refreshes_near_expiry_not_early() {
    // Reproducible draws; the function takes 1 s, the value lives 60 s.
    let options = Early::new(Duration::from_secs(60)).xfetch(1.0).rng_seed(42);
    let cache = Cache::from_url("mem://").unwrap();
    let up = Upstream::new(Duration::from_secs(1));
    up.get(&cache, &options).await.value.unwrap();
    let expires = tokio::time::Instant::now() + Duration::from_secs(60);
    // Far from expiry, a refresh needs a draw of 1 - e^-59 or more: never.
    tokio::time::advance(Duration::from_secs(1)).await;
    for _ in 0..1000 {
        up.get(&cache, &options).await.value.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(up.calls(), 1);
    // 100 ms before expiry (1/10 of the call's duration) the chance is
    // 1 - e^-0.1 per call, about 1 in 10: a refresh comes within a few calls
    // and every caller meanwhile is served the current value.
    let near = expires - Duration::from_millis(100);
    tokio::time::advance(near - tokio::time::Instant::now()).await;
    let mut hits = 0;
    while up.started.load(Ordering::SeqCst) == 1 {
        assert_eq!(up.get(&cache, &options).await.value.unwrap(), 1);
        hits += 1;
        assert!(hits < 100, "no refresh in 100 hits");
        tokio::task::yield_now().await;
    }
    // The refresh is still running (it takes 1 s); it did not block.
    assert_eq!(up.calls(), 1);
    tokio::time::sleep(Duration::from_millis(1001)).await;
    assert_eq!(up.get(&cache, &options).await.value.unwrap(), 2);
}

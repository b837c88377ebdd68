//! `hit`: values live for a number of hits; background refresh after `update_after`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cashews::backend::MemoryBackend;
use cashews::strategy::{Hit, Served, hit};
use cashews::{Cache, Error};

fn counter() -> Arc<AtomicU32> {
    Arc::new(AtomicU32::new(0))
}

async fn call(cache: &Cache, options: &Hit, calls: &Arc<AtomicU32>) -> u32 {
    let calls = Arc::clone(calls);
    hit(cache, "count", options, move || async move {
        Ok::<_, Error>(calls.fetch_add(1, Ordering::SeqCst) + 1)
    })
    .await
    .value
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn dropped_after_cache_hits() {
    let cache = Cache::from_url("mem://").unwrap();
    let options = Hit::new(Duration::from_secs(60), 3);
    let calls = counter();
    let mut seen = Vec::new();
    for _ in 0..9 {
        seen.push(call(&cache, &options, &calls).await);
    }
    assert_eq!(seen, [1, 1, 1, 1, 2, 2, 2, 2, 3]);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn ttl_still_applies() {
    let cache = Cache::from_url("mem://").unwrap();
    let options = Hit::new(Duration::from_secs(10), 100);
    let calls = counter();
    assert_eq!(call(&cache, &options, &calls).await, 1);
    tokio::time::advance(Duration::from_millis(9_999)).await;
    assert_eq!(call(&cache, &options, &calls).await, 1);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(call(&cache, &options, &calls).await, 2);
}

#[tokio::test(start_paused = true)]
async fn hits_are_counted_in_the_backend() {
    // Two caches over one backend stand for two processes sharing Redis.
    let backend = MemoryBackend::new(Default::default());
    let a = Cache::builder(backend.clone()).build();
    let b = Cache::builder(backend).build();
    let options = Hit::new(Duration::from_secs(60), 3);
    let calls = counter();
    let mut seen = Vec::new();
    for i in 0..9 {
        let cache = if i % 2 == 0 { &a } else { &b };
        seen.push(call(cache, &options, &calls).await);
    }
    assert_eq!(seen, [1, 1, 1, 1, 2, 2, 2, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn update_after_refreshes_in_the_background() {
    let cache = Cache::from_url("mem://").unwrap();
    let options = Hit::new(Duration::from_secs(60), 3).update_after(2);
    let calls = counter();
    let slow = |calls: Arc<AtomicU32>| {
        move || async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, Error>(calls.fetch_add(1, Ordering::SeqCst) + 1)
        }
    };
    let first = hit(&cache, "k", &options, slow(calls.clone())).await;
    assert_eq!((first.value.unwrap(), first.served), (1, Served::Miss));
    let start = tokio::time::Instant::now();
    let first_hit = hit(&cache, "k", &options, slow(calls.clone())).await;
    assert_eq!(
        (first_hit.value.unwrap(), first_hit.served),
        (1, Served::Hit)
    );
    // The second hit starts the refresh and returns at once with the old value.
    let second_hit = hit(&cache, "k", &options, slow(calls.clone())).await;
    assert_eq!(
        (second_hit.value.unwrap(), second_hit.served),
        (1, Served::RefreshStarted)
    );
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(1001)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // The refresh reset the count: three more hits of the new value.
    for _ in 0..2 {
        assert_eq!(
            hit(&cache, "k", &options, slow(calls.clone()))
                .await
                .value
                .unwrap(),
            2
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn exactly_one_refresh_under_concurrency() {
    let cache = Cache::from_url("mem://").unwrap();
    let options = Hit::new(Duration::from_secs(60), 10_000).update_after(5);
    let calls = counter();
    call(&cache, &options, &calls).await;
    let callers: Vec<_> = (0..1000)
        .map(|_| {
            let (cache, calls) = (cache.clone(), calls.clone());
            tokio::spawn(async move { call(&cache, &options, &calls).await })
        })
        .collect();
    for c in callers {
        c.await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn errors_are_not_stored() {
    let cache = Cache::from_url("mem://").unwrap();
    let options = Hit::new(Duration::from_secs(60), 3);
    let failed = hit(&cache, "k", &options, || async {
        Err::<u32, _>(Error::new(cashews::ErrorKind::Connection, "down"))
    })
    .await;
    assert!(failed.value.unwrap_err().is_connection());
    assert_eq!(cache.get::<u32>("k").await.unwrap(), None);
}

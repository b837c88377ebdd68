//! Scoped switches: caching off for one task (and the background work our
//! strategies spawn for it), never for a concurrent task.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cashews::strategy::{Early, Hit, early, hit};
use cashews::switch::{self, Command};
use cashews::{Cache, Error};
use tokio::sync::Barrier;

#[tokio::test(start_paused = true)]
async fn only_the_scoped_task_is_affected() {
    let cache = Cache::from_url("mem://").unwrap();
    cache.set("k", &1, 60).await.unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let scoped = {
        let (cache, barrier) = (cache.clone(), barrier.clone());
        tokio::spawn(switch::disabled(async move {
            barrier.wait().await;
            let seen: Option<i32> = cache.get("k").await.unwrap();
            let stored = cache.set("k", &2, 60).await.unwrap();
            barrier.wait().await;
            (seen, stored)
        }))
    };
    let other = {
        let (cache, barrier) = (cache.clone(), barrier.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            let seen: Option<i32> = cache.get("k").await.unwrap();
            barrier.wait().await;
            seen
        })
    };
    assert_eq!(scoped.await.unwrap(), (None, false));
    assert_eq!(other.await.unwrap(), Some(1));
    assert_eq!(cache.get::<i32>("k").await.unwrap(), Some(1));
}

#[tokio::test(start_paused = true)]
async fn a_decorated_call_runs_for_real_inside_the_scope() {
    let cache = Cache::from_url("mem://").unwrap();
    let options = Hit::new(Duration::from_secs(60), 100);
    let calls = Arc::new(AtomicU32::new(0));
    let call = || {
        let calls = calls.clone();
        hit(&cache, "k", &options, move || async move {
            Ok::<_, Error>(calls.fetch_add(1, Ordering::SeqCst) + 1)
        })
    };
    assert_eq!(call().await.value.unwrap(), 1);
    assert_eq!(switch::disabled(call()).await.value.unwrap(), 2);
    assert_eq!(switch::disabled(call()).await.value.unwrap(), 3);
    // Outside, the cached value is untouched.
    assert_eq!(call().await.value.unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn background_refreshes_inherit_the_scope() {
    static OPTIONS: Early = Early::new(Duration::from_secs(60)).early_ttl(Duration::from_secs(10));
    let cache = Cache::from_url("mem://").unwrap();
    early(&cache, "k", &OPTIONS, || async { Ok::<_, Error>(1) })
        .await
        .value
        .unwrap();
    tokio::time::advance(Duration::from_secs(10)).await;
    let refreshed = Arc::new(AtomicU32::new(0));
    let refresh = {
        let refreshed = refreshed.clone();
        move || async move {
            refreshed.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Error>(2)
        }
    };
    // Writes off: the refresh runs in the background, in the same scope, so
    // it cannot store its result.
    let served =
        switch::disabled_commands(Command::Set.into(), early(&cache, "k", &OPTIONS, refresh))
            .await
            .value
            .unwrap();
    assert_eq!(served, 1);
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(refreshed.load(Ordering::SeqCst), 1);
    let stored: serde_json::Value = cache.get("k").await.unwrap().unwrap();
    assert_eq!(stored["value"], 1);
}

#[tokio::test(start_paused = true)]
async fn spawned_tasks_inherit_only_when_asked() {
    let cache = Cache::from_url("mem://").unwrap();
    switch::disabled(async {
        let c = cache.clone();
        let plain = tokio::spawn(async move { c.set("plain", &1, 60).await.unwrap() });
        let c = cache.clone();
        let inherited = tokio::spawn(switch::inherit(async move {
            c.set("inherited", &1, 60).await.unwrap()
        }));
        // A plain spawn is a new task, outside the scope (documented).
        assert!(plain.await.unwrap());
        assert!(!inherited.await.unwrap());
    })
    .await;
    assert!(cache.exists("plain").await.unwrap());
    assert!(!cache.exists("inherited").await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn chosen_commands_only() {
    let cache = Cache::from_url("mem://").unwrap();
    cache.set("k", &1, 60).await.unwrap();
    switch::disabled_commands(Command::Get | Command::Incr, async {
        assert_eq!(cache.get::<i32>("k").await.unwrap(), None);
        assert_eq!(cache.incr("n", 1, None).await.unwrap(), 0);
        assert!(cache.exists("k").await.unwrap());
        assert!(cache.set("k", &2, 60).await.unwrap());
        switch::enabled_commands(Command::Get.into(), async {
            assert_eq!(cache.get::<i32>("k").await.unwrap(), Some(2));
        })
        .await;
    })
    .await;
    assert_eq!(cache.incr("n", 1, None).await.unwrap(), 1);
}

//! The memory backend: the conformance suite on paused time, plus what only
//! memory has (the size bound, eviction order, the sweep) and concurrency.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cashews::backend::{Backend, MemoryBackend};
use cashews::settings::MemorySettings;

use support::conformance::Harness;

fn memory(size: usize) -> MemoryBackend {
    let mut settings = MemorySettings::default();
    settings.size = size;
    MemoryBackend::new(settings)
}

conformance_suite!(#[tokio::test(start_paused = true)], Harness::paused(Arc::new(memory(10_000))));

values_suite!(async { support::values::Target::new("mem://", None) });

fn v(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[tokio::test(start_paused = true)]
async fn size_bound_evicts_least_recently_used() {
    let mem = memory(3);
    for k in ["a", "b", "c"] {
        mem.set(k, v(k), None, None).await.unwrap();
    }
    // Use `a`, so `b` is the least recently used.
    assert!(mem.get("a").await.unwrap().is_some());
    mem.set("d", v("d"), None, None).await.unwrap();
    assert_eq!(mem.get_keys_count().await.unwrap(), 3);
    assert!(mem.get("b").await.unwrap().is_none(), "b was evicted");
    for k in ["a", "c", "d"] {
        assert!(mem.get(k).await.unwrap().is_some(), "{k} kept");
    }
    // Replacing an existing key evicts nothing.
    mem.set("a", v("a2"), None, None).await.unwrap();
    assert_eq!(mem.get_keys_count().await.unwrap(), 3);
    assert!(mem.get("c").await.unwrap().is_some());
    // A refused NX on a full cache evicts nothing either.
    assert!(
        !mem.set("a", v("x"), None, Some(cashews::Exist::Absent))
            .await
            .unwrap()
    );
    assert!(
        !mem.set("zz", v("x"), None, Some(cashews::Exist::Present))
            .await
            .unwrap()
    );
    assert_eq!(mem.get_keys_count().await.unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn size_bound_holds_under_a_burst_of_inserts() {
    let size = 1_000;
    let mem = memory(size);
    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let mem = mem.clone();
            tokio::spawn(async move {
                for i in 0..2_000 {
                    mem.set(&format!("t{t}:{i}"), v("x"), None, None)
                        .await
                        .unwrap();
                    if i % 7 == 0 {
                        mem.incr(&format!("n{t}:{i}"), 1, None).await.unwrap();
                    }
                }
            })
        })
        .collect();
    let watcher = {
        let mem = mem.clone();
        tokio::spawn(async move {
            let mut max = 0;
            for _ in 0..200 {
                // The map's own count: a scan is not a snapshot under churn.
                max = max.max(mem.entry_count());
                tokio::task::yield_now().await;
            }
            max
        })
    };
    for t in tasks {
        t.await.unwrap();
    }
    let seen = watcher.await.unwrap();
    assert!(seen <= size, "saw {seen} entries");
    assert_eq!(mem.entry_count(), size);
    assert_eq!(mem.get_keys_count().await.unwrap(), size as u64);
    assert_eq!(mem.scan("*").await.unwrap().len(), size);
}

#[tokio::test(start_paused = true)]
async fn sweep_reclaims_expired_entries() {
    let mem = memory(10);
    for i in 0..10 {
        mem.set(&format!("k{i}"), v("x"), Some(Duration::from_secs(1)), None)
            .await
            .unwrap();
    }
    tokio::time::advance(Duration::from_secs(2)).await;
    // Expired entries still take room until swept; the sweep frees it, so a
    // new key does not have to evict.
    mem.sweep();
    assert_eq!(format!("{mem:?}"), "MemoryBackend { size: 10, entries: 0 }");
    mem.set("fresh", v("x"), None, None).await.unwrap();
    assert_eq!(mem.get_keys_count().await.unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn periodic_sweep_runs_by_itself() {
    let mut settings = MemorySettings::default();
    settings.check_interval = Duration::from_secs(5);
    let mem = MemoryBackend::new(settings);
    mem.set("k", v("x"), Some(Duration::from_secs(1)), None)
        .await
        .unwrap();
    assert_eq!(
        format!("{mem:?}"),
        "MemoryBackend { size: 1000, entries: 1 }"
    );
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(
        format!("{mem:?}"),
        "MemoryBackend { size: 1000, entries: 0 }"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_increments_are_never_lost() {
    let mem = memory(100);
    let tasks: Vec<_> = (0..32)
        .map(|t| {
            let mem = mem.clone();
            tokio::spawn(async move {
                for i in 0..500 {
                    mem.incr("shared", 1, None).await.unwrap();
                    mem.incr(&format!("own{}", t % 8), 2, None).await.unwrap();
                    // Readers and writers of other keys in between.
                    mem.set(&format!("noise{}", i % 50), v("n"), None, None)
                        .await
                        .unwrap();
                    let _ = mem.get("shared").await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(mem.incr("shared", 0, None).await.unwrap(), 32 * 500);
    for k in 0..8 {
        assert_eq!(
            mem.incr(&format!("own{k}"), 0, None).await.unwrap(),
            4 * 500 * 2
        );
    }
    assert!(mem.get_keys_count().await.unwrap() <= 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_lock_owner_at_a_time() {
    let mem = memory(1000);
    let holders = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let wins = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let (mem, holders, wins) = (mem.clone(), holders.clone(), wins.clone());
            tokio::spawn(async move {
                let me = format!("owner{t}");
                for _ in 0..200 {
                    if mem
                        .set_lock("L", v(&me), Duration::from_secs(60))
                        .await
                        .unwrap()
                    {
                        assert_eq!(holders.fetch_add(1, std::sync::atomic::Ordering::SeqCst), 0);
                        wins.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        holders.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        assert!(mem.unlock("L", me.as_bytes()).await.unwrap());
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert!(wins.load(std::sync::atomic::Ordering::SeqCst) > 0);
}

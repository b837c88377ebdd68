//! A cache works from any tokio runtime: built and used in one runtime,
//! which is then dropped, it serves every command at the first try from the
//! next runtimes (current-thread and multi-thread), on every backend, with
//! `safe=0` so that a failure is an error rather than a silent miss. The
//! memory backend's sweeper, which dies with its runtime, runs again.

mod support;

use std::time::Duration;

use cashews::backend::MemoryBackend;
use cashews::{BackendSettings, Cache, Settings};
use tokio::runtime::Runtime;

fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn multi_thread() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn paused() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

/// The runtimes a cache lives through, in turn, each dropped before the next.
fn runtimes() -> [(&'static str, Runtime); 4] {
    [
        ("A, current-thread", current_thread()),
        ("B, current-thread", current_thread()),
        ("C, multi-thread", multi_thread()),
        ("D, current-thread", current_thread()),
    ]
}

/// Every kind of command, once each, with errors surfacing (`safe=0`);
/// keys written in earlier runtimes (`written`) are read back. Adds this
/// round's key to `written`.
async fn every_command_works(cache: &Cache, round: &str, written: &mut Vec<String>) {
    for key in written.iter() {
        let value: Option<String> = cache.get(key).await.unwrap();
        assert_eq!(
            value.as_deref(),
            Some(key.as_str()),
            "{round}: written before"
        );
    }
    let key = format!("{}:value", written.len());
    assert!(
        cache.set(&key, &key, None::<Duration>).await.unwrap(),
        "{round}"
    );
    let many: Vec<Option<String>> = cache.get_many(&[key.as_str()]).await.unwrap();
    assert_eq!(many, vec![Some(key.clone())], "{round}");
    let counter = format!("{}:counter", written.len());
    assert_eq!(cache.incr(&counter, 2, None).await.unwrap(), 2, "{round}");
    assert!(cache.exists(&counter).await.unwrap(), "{round}");
    assert!(cache.delete(&counter).await.unwrap(), "{round}");
    let lock = format!("{}:lock", written.len());
    assert!(cache.set_lock(&lock, "me", 60).await.unwrap(), "{round}");
    assert!(cache.unlock(&lock, "me").await.unwrap(), "{round}");
    cache.ping(None).await.unwrap();
    written.push(key);
}

/// Runs [`every_command_works`] in each runtime of [`runtimes`], the cache
/// built (by `build`) inside the first.
fn lives_through_runtimes(build: impl FnOnce() -> Cache) {
    let mut build = Some(build);
    let mut cache = None;
    let mut written = Vec::new();
    for (round, runtime) in runtimes() {
        runtime.block_on(async {
            let cache = cache.get_or_insert_with(|| build.take().unwrap()());
            every_command_works(cache, round, &mut written).await;
        });
        drop(runtime);
    }
}

#[cfg(any(feature = "redis", feature = "memcached"))]
fn with_options(url: &str, options: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{options}")
}

#[test]
fn memory() {
    lives_through_runtimes(|| Cache::from_url("mem://?safe=0").unwrap());
}

#[cfg(feature = "redis")]
#[test]
fn redis() {
    let main = current_thread();
    let server = main.block_on(support::servers::RedisServer::start());
    let url = with_options(&server.url(), "safe=0");
    lives_through_runtimes(|| Cache::from_url(&url).unwrap());
    drop(server);
}

#[cfg(feature = "redis")]
#[test]
fn redis_cluster() {
    let main = current_thread();
    let cluster = main.block_on(support::servers::RedisCluster::start());
    let url = with_options(&cluster.url(), "safe=0");
    lives_through_runtimes(|| Cache::from_url(&url).unwrap());
    drop(cluster);
}

#[cfg(feature = "memcached")]
#[test]
fn memcached() {
    let main = current_thread();
    let server = main.block_on(support::servers::MemcachedServer::start());
    let url = with_options(&server.url(), "safe=0");
    lives_through_runtimes(|| Cache::from_url(&url).unwrap());
    drop(server);
}

#[cfg(all(feature = "redis", feature = "memcached"))]
#[test]
fn routed() {
    let main = current_thread();
    let redis = main.block_on(support::servers::RedisServer::start());
    let memcached = main.block_on(support::servers::MemcachedServer::start());
    let (redis_url, memcached_url) = (redis.url(), memcached.url());
    lives_through_runtimes(|| {
        // The rounds' keys start with their number: 0 and 2 to Redis, 1 to
        // memcached, the rest to memory.
        cashews::CacheBuilder::from_url("mem://?safe=0")
            .unwrap()
            .route("0:", &redis_url)
            .unwrap()
            .route("2:", &redis_url)
            .unwrap()
            .route("1:", &memcached_url)
            .unwrap()
            .build()
    });
    drop((redis, memcached));
}

#[test]
fn the_memory_sweeper_runs_again_in_each_runtime() {
    let settings = Settings::from_url("mem://?check_interval=100ms").unwrap();
    let BackendSettings::Memory(settings) = settings.backend else {
        panic!("a memory URL")
    };
    let memory = MemoryBackend::new(settings);
    let cache = Cache::builder(memory.clone()).safe(false).build();
    for round in 0..3 {
        let runtime = if round == 1 { multi_thread() } else { paused() };
        runtime.block_on(async {
            let key = format!("{round}");
            cache
                .set(&key, &round, Duration::from_secs(1))
                .await
                .unwrap();
            assert_eq!(memory.entry_count(), 1, "round {round}: only its own entry");
            if round == 1 {
                // No paused clock on a multi-thread runtime: the sweep is
                // checked in the others.
                cache.delete(&key).await.unwrap();
                return;
            }
            // On the paused clock: the sweeper's timers fire on the way.
            tokio::time::sleep(Duration::from_secs(2)).await;
            assert_eq!(
                memory.entry_count(),
                0,
                "round {round}: the expired entry is swept without a read"
            );
        });
        drop(runtime);
    }
}

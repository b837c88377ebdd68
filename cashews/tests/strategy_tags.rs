//! Tags: deleting a tag deletes its keys, on every backend, by reading the
//! tag's index (no scan); the index lives as long as its longest key and
//! is never evicted by values on memory; a value whose index cannot be
//! written is not left stored.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cashews::backend::{Backend, Exist, Expiry, MemoryBackend, RoutedBackend};
use cashews::strategy::{delete_tags, tag, tagged};
use cashews::{Cache, CacheBuilder, Error, ErrorKind};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

const TTL: Duration = Duration::from_secs(60);

async fn deleting_a_tag_deletes_its_keys(cache: &Cache) {
    for (key, tags) in [
        ("user:1:profile", &["user:1", "users"][..]),
        ("user:1:orders", &["user:1"]),
        ("user:2:profile", &["user:2", "users"]),
        // A tag that merely starts like another is a different tag.
        ("user:1:x", &["user:1:x"]),
        // Glob characters in a tag match only themselves.
        ("star", &["user:*"]),
    ] {
        cache.set(key, &key, TTL).await.unwrap();
        tag(cache, key, tags, TTL).await.unwrap();
    }
    cache.set("untagged", &1, TTL).await.unwrap();

    assert_eq!(delete_tags(cache, &["user:1"]).await.unwrap(), 2);
    for (key, there) in [
        ("user:1:profile", false),
        ("user:1:orders", false),
        ("user:2:profile", true),
        ("user:1:x", true),
        ("star", true),
        ("untagged", true),
    ] {
        assert_eq!(cache.exists(key).await.unwrap(), there, "{key}");
    }
    // Memberships of deleted keys in other tags are harmless: the key is gone.
    assert_eq!(delete_tags(cache, &["users"]).await.unwrap(), 1);
    assert!(!cache.exists("user:2:profile").await.unwrap());
    assert_eq!(delete_tags(cache, &["user:*", "nothing"]).await.unwrap(), 1);
    assert!(cache.exists("user:1:x").await.unwrap());
    assert_eq!(delete_tags(cache, &["user:1"]).await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn memory() {
    deleting_a_tag_deletes_its_keys(&Cache::from_url("mem://").unwrap()).await;
}

#[tokio::test(start_paused = true)]
async fn memory_with_a_prefix() {
    deleting_a_tag_deletes_its_keys(&Cache::from_url("mem://?prefix=app").unwrap()).await;
}

#[tokio::test(start_paused = true)]
async fn memory_routed() {
    let cache = cashews::CacheBuilder::from_url("mem://")
        .unwrap()
        .route("user:1", "mem://")
        .unwrap()
        .build();
    deleting_a_tag_deletes_its_keys(&cache).await;
}

#[tokio::test(start_paused = true)]
async fn an_index_lives_as_long_as_its_longest_key() {
    let cache = Cache::from_url("mem://").unwrap();
    cache.set("long", &1, TTL * 2).await.unwrap();
    tag(&cache, "long", &["t"], TTL * 2).await.unwrap();
    cache.set("short", &1, TTL / 2).await.unwrap();
    tag(&cache, "short", &["t"], TTL / 2).await.unwrap();
    tokio::time::advance(TTL).await;
    assert_eq!(delete_tags(&cache, &["t"]).await.unwrap(), 1);
    assert!(!cache.exists("long").await.unwrap());
    cache.set("k", &1, TTL).await.unwrap();
    tag(&cache, "k", &["t"], TTL).await.unwrap();
    tokio::time::advance(TTL).await;
    assert_eq!(
        cache.scan("*").await.unwrap(),
        Vec::<String>::new(),
        "the index went with its keys"
    );
}

#[tokio::test(start_paused = true)]
async fn tagged_calls() {
    let cache = Cache::from_url("mem://").unwrap();
    let calls = std::sync::atomic::AtomicU32::new(0);
    let load = |id: u32| {
        let (key, tag) = (format!("user:{id}:name"), format!("user:{id}"));
        let calls = &calls;
        let cache = &cache;
        async move {
            tagged(cache, &key, &[&tag], TTL, || async {
                Ok::<_, Error>(calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
            })
            .await
            .value
            .unwrap()
        }
    };
    assert_eq!(load(1).await, 0);
    assert_eq!(load(2).await, 1);
    assert_eq!(load(1).await, 0);
    delete_tags(&cache, &["user:1"]).await.unwrap();
    assert_eq!(load(1).await, 2);
    assert_eq!(load(2).await, 1);
}

const TAGS: [&str; 4] = ["a", "b", "c", "d"];

/// A memory cache of `size` values.
fn memory_of(size: usize) -> Cache {
    Cache::from_url(&format!("mem://?size={size}")).unwrap()
}

/// A router of two memory stores of `size` values: `tagged:` keys in one,
/// the tag indexes with everything else in the other.
fn routed_of(size: usize) -> Cache {
    CacheBuilder::from_url(&format!("mem://?size={size}"))
        .unwrap()
        .route("tagged:", &format!("mem://?size={size}"))
        .unwrap()
        .build()
}

/// Tags values, floods the cache far past its `size` with other keys
/// (reading the tagged values meanwhile, so they stay), then deletes every
/// tag: no tagged value survives.
fn no_flood_evicts_an_index(make: fn(usize) -> Cache) {
    const SIZE: usize = 64;
    let tagged_keys = prop::collection::vec(prop::sample::subsequence(TAGS.to_vec(), 1..=4), 1..16);
    let mut runner = TestRunner::new(Config {
        cases: 32,
        rng_seed: RngSeed::Fixed(0x7a95),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(tagged_keys, SIZE * 4..SIZE * 40, 1..8usize),
            |(keys, flood, read_every)| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .start_paused(true)
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let cache = make(SIZE);
                    let names: Vec<String> =
                        (0..keys.len()).map(|i| format!("tagged:{i}")).collect();
                    for (name, tags) in names.iter().zip(&keys) {
                        cache.set(name, &1, TTL).await.unwrap();
                        tag(&cache, name, tags, TTL).await.unwrap();
                    }
                    for i in 0..flood {
                        cache.set(&format!("flood:{i}"), &i, TTL).await.unwrap();
                        if i % read_every == 0 {
                            for name in &names {
                                cache.get_cloned::<i32>(name).await.unwrap();
                            }
                        }
                    }
                    for name in &names {
                        prop_assert!(
                            cache.exists(name).await.unwrap(),
                            "{name} was evicted: the flood proves nothing"
                        );
                    }
                    delete_tags(&cache, &TAGS).await.unwrap();
                    for name in &names {
                        prop_assert!(
                            !cache.exists(name).await.unwrap(),
                            "{name} survived its tags' deletion"
                        );
                    }
                    Ok(())
                })
            },
        )
        .unwrap();
}

#[test]
fn memory_no_flood_evicts_an_index() {
    no_flood_evicts_an_index(memory_of);
}

#[test]
fn memory_routed_no_flood_evicts_an_index() {
    no_flood_evicts_an_index(routed_of);
}

/// With room for one index, `tagged` returns every call's value but keeps
/// only the values whose every tag has its index.
async fn a_value_whose_index_is_refused_is_not_kept(cache: &Cache) {
    let calls = AtomicU32::new(0);
    let load = |key: &'static str, tags: &'static [&'static str]| {
        let calls = &calls;
        tagged(cache, key, tags, TTL, move || async move {
            Ok::<_, Error>(calls.fetch_add(1, Ordering::SeqCst))
        })
    };
    assert_eq!(load("tagged:1", &["a"]).await.value.unwrap(), 0);
    assert!(cache.exists("tagged:1").await.unwrap());
    // A new index has no room.
    assert_eq!(load("tagged:2", &["b"]).await.value.unwrap(), 1);
    assert!(!cache.exists("tagged:2").await.unwrap());
    // One index of two written is not enough.
    assert_eq!(load("tagged:3", &["a", "b"]).await.value.unwrap(), 2);
    assert!(!cache.exists("tagged:3").await.unwrap());
    assert_eq!(
        load("tagged:2", &["b"]).await.value.unwrap(),
        3,
        "not cached"
    );
    let err = tag(cache, "tagged:1", &["c"], TTL).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ProtectedFull, "{err}");
    // The index that was written works.
    assert_eq!(delete_tags(cache, &["a", "b", "c"]).await.unwrap(), 1);
    assert!(!cache.exists("tagged:1").await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn memory_a_value_whose_index_is_refused_is_not_kept() {
    let cache = Cache::from_url("mem://?protected_size=1").unwrap();
    a_value_whose_index_is_refused_is_not_kept(&cache).await;
}

#[tokio::test(start_paused = true)]
async fn memory_routed_a_value_whose_index_is_refused_is_not_kept() {
    let cache = CacheBuilder::from_url("mem://?protected_size=1")
        .unwrap()
        .route("tagged:", "mem://")
        .unwrap()
        .build();
    a_value_whose_index_is_refused_is_not_kept(&cache).await;
}

/// A backend whose every command fails as a server that is down.
struct Down;

fn down() -> Error {
    Error::new(ErrorKind::Connection, "connection refused")
}

#[async_trait]
impl Backend for Down {
    async fn get(&self, _: &str) -> cashews::Result<Option<Bytes>> {
        Err(down())
    }
    async fn get_many(&self, _: &[&str]) -> cashews::Result<Vec<Option<Bytes>>> {
        Err(down())
    }
    async fn set(
        &self,
        _: &str,
        _: Bytes,
        _: Option<Duration>,
        _: Option<Exist>,
    ) -> cashews::Result<bool> {
        Err(down())
    }
    async fn set_many(&self, _: &[(&str, Bytes)], _: Option<Duration>) -> cashews::Result<()> {
        Err(down())
    }
    async fn delete(&self, _: &str) -> cashews::Result<bool> {
        Err(down())
    }
    async fn delete_many(&self, _: &[&str]) -> cashews::Result<u64> {
        Err(down())
    }
    async fn delete_match(&self, _: &str) -> cashews::Result<u64> {
        Err(down())
    }
    async fn scan(&self, _: &str) -> cashews::Result<Vec<String>> {
        Err(down())
    }
    async fn get_match(&self, _: &str) -> cashews::Result<Vec<(String, Bytes)>> {
        Err(down())
    }
    async fn exists(&self, _: &str) -> cashews::Result<bool> {
        Err(down())
    }
    async fn incr(&self, _: &str, _: i64, _: Option<Duration>) -> cashews::Result<i64> {
        Err(down())
    }
    async fn expire(&self, _: &str, _: Duration) -> cashews::Result<bool> {
        Err(down())
    }
    async fn get_expire(&self, _: &str) -> cashews::Result<Expiry> {
        Err(down())
    }
    async fn ping(&self, _: Option<&[u8]>) -> cashews::Result<Bytes> {
        Err(down())
    }
    async fn clear(&self) -> cashews::Result<()> {
        Err(down())
    }
    async fn unlock(&self, _: &str, _: &[u8]) -> cashews::Result<bool> {
        Err(down())
    }
    async fn set_add(&self, _: &str, _: &[&str], _: Duration) -> cashews::Result<()> {
        Err(down())
    }
    async fn get_size(&self, _: &str) -> cashews::Result<Option<u64>> {
        Err(down())
    }
    async fn get_keys_count(&self) -> cashews::Result<u64> {
        Err(down())
    }
}

/// Indexes on a backend that is down: `tagged` returns the value and
/// keeps none, in safe mode too (where a failure reads as a success).
#[tokio::test(start_paused = true)]
async fn a_value_whose_index_fails_is_not_kept() {
    for safe in [true, false] {
        let routed =
            RoutedBackend::new(MemoryBackend::new(Default::default())).route("cashews:tag:", Down);
        let cache = Cache::builder(routed).safe(safe).build();
        let value = tagged(&cache, "tagged:1", &["a"], TTL, || async {
            Ok::<_, Error>(7)
        })
        .await
        .value
        .unwrap();
        assert_eq!(value, 7);
        assert!(!cache.exists("tagged:1").await.unwrap(), "safe={safe}");
        cache.set("tagged:2", &1, TTL).await.unwrap();
        let err = tag(&cache, "tagged:2", &["a"], TTL).await.unwrap_err();
        assert!(err.is_backend_failure(), "safe={safe}: {err}");
    }
}

#[cfg(feature = "redis")]
mod redis {
    use super::*;
    use support::monitor::Monitor;
    use support::servers::{RedisCluster, RedisServer};

    #[tokio::test]
    async fn node() {
        let server = RedisServer::start().await;
        deleting_a_tag_deletes_its_keys(&Cache::from_url(&server.url()).unwrap()).await;
    }

    #[tokio::test]
    async fn cluster() {
        let cluster = RedisCluster::start().await;
        deleting_a_tag_deletes_its_keys(&Cache::from_url(&cluster.url()).unwrap()).await;
    }

    #[tokio::test]
    async fn deleting_a_tag_reads_its_index_and_never_scans() {
        let server = RedisServer::start().await;
        let cache = Cache::from_url(&server.url()).unwrap();
        for key in ["a", "b"] {
            cache.set(key, &1, TTL).await.unwrap();
            tag(&cache, key, &["t"], TTL).await.unwrap();
        }
        let monitor = Monitor::start(&server).await;
        assert_eq!(delete_tags(&cache, &["t"]).await.unwrap(), 2);
        assert_eq!(monitor.commands(&server).await, ["smembers", "del", "srem"]);
    }
}

#[cfg(feature = "memcached")]
#[tokio::test]
async fn memcached() {
    let server = support::servers::MemcachedServer::start().await;
    deleting_a_tag_deletes_its_keys(&Cache::from_url(&server.url()).unwrap()).await;
}

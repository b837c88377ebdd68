//! Tags: deleting a tag deletes its keys, on every backend, by reading the
//! tag's index (no scan); the index lives as long as its longest key and
//! is never evicted by values on memory.

mod support;

use std::time::Duration;

use cashews::strategy::{delete_tags, tag, tagged};
use cashews::{Cache, CacheBuilder, Error};
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

//! Prefix routing: the conformance suite through a router whose routes take
//! some of the suite's keys (so patterns and many-key commands cross
//! backends), then where keys land, and routes built from URLs.

mod support;

use std::sync::Arc;

use bytes::Bytes;
use cashews::backend::{Backend, MemoryBackend, RoutedBackend};
use cashews::{CacheBuilder, ErrorKind};

use support::conformance::Harness;

fn memory() -> MemoryBackend {
    MemoryBackend::new(Default::default())
}

fn routed() -> RoutedBackend {
    RoutedBackend::new(memory())
        .route("k", memory())
        .route("user:", memory())
        .route("d", memory())
        .route("s", memory())
}

conformance_suite!(#[tokio::test(start_paused = true)], Harness::paused(Arc::new(routed())));

// Every value type through a router: the suite's keys (`unsigned:`,
// `signed:`, `counter:`, `n`, `text`) spread over three memory stores.
values_suite!(async {
    support::values::Target::new("mem://", None)
        .route("signed:", "mem://")
        .route("counter:", "mem://?size=100")
        .route("n", "mem://")
});

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// A router over three memory stores, and the stores.
fn three() -> (RoutedBackend, [MemoryBackend; 3]) {
    let stores = [memory(), memory(), memory()];
    let routed = RoutedBackend::new(stores[0].clone())
        .route("user:", stores[1].clone())
        .route("user:admin:", stores[2].clone());
    (routed, stores)
}

#[tokio::test]
async fn each_key_goes_to_its_longest_route() {
    let (routed, [default, users, admins]) = three();
    for key in ["post:1", "user:1", "user:admin:1", "use"] {
        routed.set(key, b(key), None, None).await.unwrap();
    }
    assert_eq!(default.scan("*").await.unwrap().len(), 2, "post:1 and use");
    assert!(users.exists("user:1").await.unwrap());
    assert!(!users.exists("user:admin:1").await.unwrap());
    assert!(admins.exists("user:admin:1").await.unwrap());
    assert_eq!(routed.get_keys_count().await.unwrap(), 4);
}

#[tokio::test]
async fn a_set_goes_to_the_backend_of_its_key() {
    let (routed, [default, users, _]) = three();
    let ttl = std::time::Duration::from_secs(60);
    routed
        .set_add("user:1:tags", &["a", "b"], ttl)
        .await
        .unwrap();
    routed.set_add("tags", &["c"], ttl).await.unwrap();
    assert_eq!(users.set_members("user:1:tags").await.unwrap().len(), 2);
    assert_eq!(default.set_members("tags").await.unwrap(), ["c"]);
    assert!(!default.exists("user:1:tags").await.unwrap());
    assert_eq!(routed.set_remove("user:1:tags", &["a"]).await.unwrap(), 1);
    assert_eq!(users.set_members("user:1:tags").await.unwrap(), ["b"]);
}

#[tokio::test]
async fn many_key_commands_split_and_keep_their_order() {
    let (routed, [_, users, _]) = three();
    let pairs = [
        ("user:2", b("u2")),
        ("a", b("a")),
        ("user:admin:9", b("ad")),
        ("user:3", b("u3")),
    ];
    let refs: Vec<(&str, Bytes)> = pairs.iter().map(|(k, v)| (*k, v.clone())).collect();
    routed.set_many(&refs, None).await.unwrap();
    assert_eq!(users.get_keys_count().await.unwrap(), 2);

    let keys = ["user:3", "missing", "a", "user:admin:9", "user:2"];
    let values = routed.get_many(&keys).await.unwrap();
    let values: Vec<Option<&[u8]>> = values.iter().map(Option::as_deref).collect();
    assert_eq!(
        values,
        [Some(&b"u3"[..]), None, Some(b"a"), Some(b"ad"), Some(b"u2")]
    );
    assert_eq!(routed.delete_many(&keys).await.unwrap(), 4);
    assert_eq!(routed.get_keys_count().await.unwrap(), 0);
}

#[tokio::test]
async fn patterns_are_answered_by_every_backend_that_may_match() {
    let (routed, _) = three();
    for key in ["user:1", "user:admin:1", "userx", "post:1"] {
        routed.set(key, b(key), None, None).await.unwrap();
    }
    let mut all = routed.scan("*").await.unwrap();
    all.sort();
    assert_eq!(all, ["post:1", "user:1", "user:admin:1", "userx"]);
    let mut users = routed.scan("user*").await.unwrap();
    users.sort();
    assert_eq!(users, ["user:1", "user:admin:1", "userx"]);
    assert_eq!(routed.get_match("user:a*").await.unwrap().len(), 1);
    assert_eq!(routed.delete_match("user:*").await.unwrap(), 2);
    assert_eq!(routed.scan("*").await.unwrap().len(), 2);
    routed.clear().await.unwrap();
    assert_eq!(routed.get_keys_count().await.unwrap(), 0);
}

#[cfg(feature = "memcached")]
#[tokio::test]
async fn a_pattern_skips_a_route_it_cannot_match() {
    // memcached answers no pattern command: a pattern that cannot reach its
    // route never asks it; one that can gets memcached's clear error.
    let server = support::servers::MemcachedServer::start().await;
    let cache = CacheBuilder::from_url("mem://")
        .unwrap()
        .route("session:", &server.url())
        .unwrap()
        .build();
    cache.set("session:1", &"s", 60).await.unwrap();
    cache.set("user:1", &"u", 60).await.unwrap();
    assert_eq!(
        cache.get::<String>("session:1").await.unwrap().as_deref(),
        Some("s")
    );
    assert_eq!(cache.scan("user:*").await.unwrap(), ["user:1"]);
    let unsafe_cache = CacheBuilder::from_url("mem://?safe=0")
        .unwrap()
        .route("session:", &server.url())
        .unwrap()
        .build();
    let err = unsafe_cache.scan("*").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
}

#[tokio::test]
async fn routes_from_urls_match_keys_before_the_cache_prefix() {
    // The `user:` route holds one entry, the default a hundred: which store
    // a key went to shows in what survives.
    let cache = CacheBuilder::from_url("mem://?size=100&prefix=app")
        .unwrap()
        .route("user:", "mem://?size=1")
        .unwrap()
        .build();
    for key in ["user:1", "user:2", "post:1", "post:2"] {
        cache.set(key, &key, 60).await.unwrap();
    }
    assert!(
        !cache.exists("user:1").await.unwrap(),
        "evicted from the one-entry route"
    );
    for key in ["user:2", "post:1", "post:2"] {
        assert!(cache.exists(key).await.unwrap(), "{key}");
    }
    assert_eq!(cache.get_keys_count().await.unwrap(), 3);
}

#[tokio::test]
async fn a_route_url_carries_only_backend_options() {
    for url in [
        "mem://?hash_key=secret",
        "mem://?prefix=p",
        "mem://?safe=0",
        "mem://?enable=0",
    ] {
        let err = CacheBuilder::from_url("mem://")
            .unwrap()
            .route("x:", url)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Settings);
        let message = err.to_string();
        assert!(message.contains("route \"x:\""), "{message}");
        assert!(
            !message.contains("secret"),
            "the URL is not echoed: {message}"
        );
    }
    let err = CacheBuilder::from_url("mem://")
        .unwrap()
        .route("x:", "nope://")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Settings);
}

/// Decodes from a `u32`, counting its decodes.
#[derive(Clone, Debug, PartialEq)]
struct Counted(u32);

static DECODES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl serde::Serialize for Counted {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Counted {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        DECODES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        u32::deserialize(d).map(Counted)
    }
}

#[tokio::test]
async fn a_memory_route_keeps_the_memory_fast_path() {
    let decodes = || DECODES.load(std::sync::atomic::Ordering::Relaxed);
    // Routed from URLs, and by hand over built-in backends: on both, a
    // memory route answers `get_cloned` from the value decoded once.
    let from_urls = CacheBuilder::from_url("mem://")
        .unwrap()
        .route("user:", "mem://")
        .unwrap()
        .build();
    let by_hand = cashews::Cache::builder(RoutedBackend::new(memory()).route("user:", memory()))
        .prefix("app")
        .build();
    for cache in [from_urls, by_hand] {
        for key in ["user:1", "other"] {
            cache.set(key, &Counted(7), 60).await.unwrap();
            let before = decodes();
            for _ in 0..3 {
                assert_eq!(
                    cache.get_cloned::<Counted>(key).await.unwrap(),
                    Some(Counted(7))
                );
            }
            assert_eq!(decodes() - before, 1, "{key}: decoded once, then cloned");
        }
    }
}

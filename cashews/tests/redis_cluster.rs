//! The Redis backend on a Redis Cluster: a real three-master cluster per
//! test, started on loopback. The conformance suite, then what a cluster
//! adds: keys spread over the masters and commands spanning slots, and a
//! frozen master cut off by `socket_timeout`.
#![cfg(feature = "redis")]

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cashews::backend::{Backend, RedisBackend};
use cashews::{BackendSettings, Cache, Settings};
use support::conformance::Harness;
use support::servers::RedisCluster;

fn backend(url: &str) -> RedisBackend {
    let settings = Settings::from_url(url).unwrap();
    let BackendSettings::Redis(redis) = &settings.backend else {
        panic!("{url} is not a Redis URL")
    };
    RedisBackend::new(redis).unwrap()
}

async fn harness() -> Harness {
    let cluster = Arc::new(RedisCluster::start().await);
    let backend = backend(&cluster.url());
    Harness::new(
        Arc::new(backend),
        Box::new(move |d| {
            let cluster = cluster.clone();
            Box::pin(async move { cluster.advance(d).await })
        }),
    )
}

conformance_suite!(#[tokio::test], harness().await);

values_suite!(async {
    let cluster = RedisCluster::start().await;
    support::values::Target::new(cluster.url(), Some(Box::new(cluster)))
});

async fn dbsize(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    redis::cmd("DBSIZE").query_async(conn).await.unwrap()
}

#[tokio::test]
async fn commands_span_every_master() {
    let cluster = RedisCluster::start().await;
    // One seed is enough: the others are discovered.
    let backend = backend(&format!(
        "redis://127.0.0.1:{}/?cluster=1",
        cluster.nodes[1].port
    ));
    let keys: Vec<String> = (0..300).map(|i| format!("user:{i}")).collect();
    let pairs: Vec<(&str, Bytes)> = keys
        .iter()
        .map(|k| (k.as_str(), Bytes::copy_from_slice(k.as_bytes())))
        .collect();
    backend.set_many(&pairs, None).await.unwrap();

    let mut raws = Vec::new();
    for node in &cluster.nodes {
        raws.push(node.raw().await);
    }
    let mut total = 0;
    for raw in &mut raws {
        let held = dbsize(raw).await;
        assert!(held > 50, "every master holds a share, this one {held}");
        total += held;
    }
    assert_eq!(total, 300);
    assert_eq!(backend.get_keys_count().await.unwrap(), 300);

    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let values = backend.get_many(&refs).await.unwrap();
    for (key, value) in keys.iter().zip(&values) {
        assert_eq!(
            value.as_deref(),
            Some(key.as_bytes()),
            "in order, across slots"
        );
    }
    assert_eq!(backend.scan("user:*").await.unwrap().len(), 300);
    assert_eq!(backend.get_match("user:1?").await.unwrap().len(), 10);
    assert_eq!(backend.delete_many(&refs[..100]).await.unwrap(), 100);
    // user:2 and user:20-29 went with the first hundred.
    assert_eq!(backend.delete_match("user:2*").await.unwrap(), 100);
    assert_eq!(backend.get_keys_count().await.unwrap(), 100);

    // Locks and counters are scripts: they run on the key's own master.
    for i in 0..20 {
        let key = format!("lock:{i}");
        assert!(
            backend
                .set_lock(&key, "me".into(), std::time::Duration::from_secs(60))
                .await
                .unwrap()
        );
        assert!(backend.unlock(&key, b"me").await.unwrap());
        let counter = format!("count:{i}");
        assert_eq!(
            backend
                .incr(&counter, 5, Some(std::time::Duration::from_secs(60)))
                .await
                .unwrap(),
            5
        );
    }

    backend.clear().await.unwrap();
    for raw in &mut raws {
        assert_eq!(dbsize(raw).await, 0, "clear flushes every master");
    }
}

/// The ids of the clients connected to a node, but for `conn` itself.
async fn other_clients(conn: &mut redis::aio::MultiplexedConnection) -> HashSet<u64> {
    let own: u64 = redis::cmd("CLIENT")
        .arg("ID")
        .query_async(conn)
        .await
        .unwrap();
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(conn)
        .await
        .unwrap();
    list.lines()
        .filter_map(|line| line.strip_prefix("id=")?.split(' ').next()?.parse().ok())
        .filter(|&id| id != own)
        .collect()
}

/// A key whose slot the node `conn` serves.
async fn key_on(conn: &mut redis::aio::MultiplexedConnection, slots: (u16, u16)) -> String {
    for i in 0.. {
        let key = format!("key:{i}");
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(&key)
            .query_async(conn)
            .await
            .unwrap();
        if (slots.0..=slots.1).contains(&slot) {
            return key;
        }
    }
    unreachable!("every slot has keys")
}

#[tokio::test]
async fn a_frozen_master_times_out_and_the_connection_is_replaced() {
    let cluster = RedisCluster::start().await;
    let cache = Cache::from_url(&format!("{}&safe=0&socket_timeout=300ms", cluster.url())).unwrap();
    // `RedisCluster` gives the third master slots 10923 to 16383.
    let mut watcher = cluster.nodes[0].raw().await;
    let frozen = key_on(&mut watcher, (10923, 16383)).await;
    let awake = key_on(&mut watcher, (0, 5460)).await;
    cache.set(&frozen, &1, 600).await.unwrap();
    cache.set(&awake, &2, 600).await.unwrap();
    // The cache's connections to a master that stays awake.
    let before = other_clients(&mut watcher).await;
    assert!(!before.is_empty());

    cluster.nodes[2].pause().await;
    // With 2 retries the command takes about 3 socket timeouts; the guard
    // only catches a hang on a loaded machine.
    let started = Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(20), cache.get::<u32>(&frozen))
        .await
        .expect("a command to a frozen master must not hang")
        .unwrap_err();
    let took = started.elapsed();
    cluster.nodes[2].resume();
    assert!(err.is_timeout(), "{err}");
    assert!(
        took >= Duration::from_millis(300),
        "after socket_timeout: {took:?}"
    );

    // The same cache serves both masters again.
    let mut served = false;
    for _ in 0..400 {
        if let Ok(Some(1)) = cache.get::<u32>(&frozen).await {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(served, "the cache did not recover after the master resumed");
    assert_eq!(cache.get::<u32>(&awake).await.unwrap(), Some(2));

    // On a new cluster connection: the old one's connections are closed,
    // also to the master that never froze.
    for _ in 0..400 {
        let now = other_clients(&mut watcher).await;
        if now.is_disjoint(&before) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the timed-out cluster connection was kept");
}

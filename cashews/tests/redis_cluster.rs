//! The Redis backend on a Redis Cluster: a real three-master cluster per
//! test, started on loopback. The conformance suite, then what a cluster
//! adds: keys spread over the masters and commands spanning slots.
#![cfg(feature = "redis")]

mod support;

use std::sync::Arc;

use bytes::Bytes;
use cashews::backend::{Backend, RedisBackend};
use cashews::{BackendSettings, Settings};
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

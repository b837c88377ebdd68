//! The Redis backend on one node, against a real `redis-server` per test:
//! the conformance suite (with the server's clock moved by lowering TTLs),
//! then what only Redis has: databases, unix sockets, passwords and ACL
//! users, one multiplexed connection, many-page scans, and signed values
//! tampered with on the server.
#![cfg(feature = "redis")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use cashews::backend::{Backend, RedisBackend};
use cashews::{BackendSettings, Cache, Settings};
use support::conformance::Harness;
use support::monitor::Monitor;
use support::servers::RedisServer;

fn backend(url: &str) -> RedisBackend {
    let settings = Settings::from_url(url).unwrap();
    let BackendSettings::Redis(redis) = &settings.backend else {
        panic!("{url} is not a Redis URL")
    };
    RedisBackend::new(redis).unwrap()
}

async fn harness() -> Harness {
    let server = Arc::new(RedisServer::start().await);
    let backend = backend(&server.url());
    Harness::new(
        Arc::new(backend),
        Box::new(move |d| {
            let server = server.clone();
            Box::pin(async move { server.advance(d).await })
        }),
    )
}

conformance_suite!(#[tokio::test], harness().await);

values_suite!(async {
    let server = RedisServer::start().await;
    support::values::Target::new(server.url(), Some(Box::new(server)))
});

#[tokio::test]
async fn unix_socket_and_database_and_what_clear_deletes() {
    let server = RedisServer::start().await;
    let url = format!("redis+unix://{}?db=3", server.socket().display());
    let cache = Cache::from_url(&url).unwrap();
    cache.set("k", &"in db 3", 60).await.unwrap();
    let mut raw = server.raw().await;
    let _: () = redis::cmd("SET")
        .arg("other")
        .arg("db 0")
        .query_async(&mut raw)
        .await
        .unwrap();
    let in_db0: Option<Vec<u8>> = redis::cmd("GET")
        .arg("k")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(in_db0, None, "the key went to database 3, not 0");
    let sizes: Vec<u64> = redis::pipe()
        .cmd("SELECT")
        .arg(3)
        .ignore()
        .cmd("DBSIZE")
        .cmd("SELECT")
        .arg(0)
        .ignore()
        .cmd("DBSIZE")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(sizes, [1, 1]);

    // `clear` is FLUSHDB: the selected database only.
    cache.clear().await.unwrap();
    assert_eq!(cache.get::<String>("k").await.unwrap(), None);
    let other: Option<String> = redis::cmd("GET")
        .arg("other")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(other.as_deref(), Some("db 0"));
}

#[tokio::test]
async fn a_prefixed_cache_clears_only_its_own_keys() {
    let server = RedisServer::start().await;
    let app = Cache::from_url(&format!("{}?prefix=app", server.url())).unwrap();
    let bare = Cache::from_url(&server.url()).unwrap();
    app.set("a", &1, 60).await.unwrap();
    app.set("b*", &2, 60).await.unwrap();
    bare.set("appx", &3, 60).await.unwrap();
    bare.set("other", &4, 60).await.unwrap();
    app.clear().await.unwrap();
    assert_eq!(bare.get_keys_count().await.unwrap(), 2);
    assert_eq!(bare.get::<i32>("appx").await.unwrap(), Some(3));
}

#[tokio::test]
async fn password_and_acl_user() {
    let server = RedisServer::start_with(&["--requirepass", "s3cret"]).await;
    let port = server.port;
    let without = Cache::from_url(&format!("redis://127.0.0.1:{port}?safe=0")).unwrap();
    let err = without.get::<String>("k").await.unwrap_err();
    assert!(err.is_backend_failure(), "{err}");
    assert!(
        err.to_string().contains("NOAUTH") || err.to_string().to_lowercase().contains("auth"),
        "{err}"
    );

    let with = Cache::from_url(&format!("redis://:s3cret@127.0.0.1:{port}?safe=0")).unwrap();
    with.set("k", &"v", 60).await.unwrap();
    assert_eq!(with.get::<String>("k").await.unwrap().as_deref(), Some("v"));

    let mut admin = redis::Client::open(format!("redis://:s3cret@127.0.0.1:{port}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "alice", "on", ">p@ss", "~*", "+@all"])
        .query_async(&mut admin)
        .await
        .unwrap();
    let alice = Cache::from_url(&format!("redis://alice:p%40ss@127.0.0.1:{port}?safe=0")).unwrap();
    assert_eq!(
        alice.get::<String>("k").await.unwrap().as_deref(),
        Some("v")
    );
    let wrong = Cache::from_url(&format!("redis://alice:nope@127.0.0.1:{port}?safe=0")).unwrap();
    assert!(
        wrong
            .get::<String>("k")
            .await
            .unwrap_err()
            .is_backend_failure()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_share_one_multiplexed_connection() {
    let server = RedisServer::start().await;
    let cache = Cache::from_url(&format!("{}?safe=0", server.url())).unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache.incr("hits", 1, None).await.unwrap();
                cache.set(&format!("k{i}"), &i, 60).await.unwrap();
                assert_eq!(cache.get::<i32>(&format!("k{i}")).await.unwrap(), Some(i));
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(cache.incr("hits", 0, None).await.unwrap(), 200);
    let mut raw = server.raw().await;
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(
        clients.lines().count(),
        2,
        "the backend's one connection and ours:\n{clients}"
    );
}

#[tokio::test]
async fn pattern_commands_page_through_large_keyspaces() {
    let server = RedisServer::start().await;
    let backend = backend(&server.url());
    let keys: Vec<String> = (0..2500).map(|i| format!("item:{i}")).collect();
    let pairs: Vec<(&str, bytes::Bytes)> = keys
        .iter()
        .map(|k| (k.as_str(), bytes::Bytes::from_static(b"v")))
        .collect();
    backend.set_many(&pairs, None).await.unwrap();
    backend.set("other", "x".into(), None, None).await.unwrap();
    let mut found = backend.scan("item:*").await.unwrap();
    found.sort();
    let mut expected = keys.clone();
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(backend.get_match("item:1?").await.unwrap().len(), 10);
    assert_eq!(backend.delete_match("item:*").await.unwrap(), 2500);
    assert_eq!(backend.get_keys_count().await.unwrap(), 1);
}

#[tokio::test]
async fn signed_values_tampered_with_on_the_server_read_as_misses() {
    let server = RedisServer::start().await;
    let signed = Cache::from_url(&format!("{}?hash_key=k3y&safe=0", server.url())).unwrap();
    let unsigned = Cache::from_url(&format!("{}?safe=0", server.url())).unwrap();
    signed.set("user:1", &"Ada", 60).await.unwrap();
    let mut raw = server.raw().await;
    let original: Vec<u8> = redis::cmd("GET")
        .arg("user:1")
        .query_async(&mut raw)
        .await
        .unwrap();

    // A flipped byte.
    let mut flipped = original.clone();
    *flipped.last_mut().unwrap() ^= 0x01;
    let _: () = redis::cmd("SET")
        .arg("user:1")
        .arg(&flipped)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(signed.get::<String>("user:1").await.unwrap(), None);
    assert_eq!(signed.stats().rejected_values, 1);

    // A good value copied to another key.
    let _: () = redis::cmd("SET")
        .arg("user:2")
        .arg(&original)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(signed.get::<String>("user:2").await.unwrap(), None);
    assert_eq!(signed.stats().rejected_values, 2);

    // A value written without the secret.
    unsigned.set("user:3", &"Mallory", 60).await.unwrap();
    assert_eq!(signed.get::<String>("user:3").await.unwrap(), None);
    assert_eq!(signed.stats().rejected_values, 3);

    // The untouched value still reads.
    let _: () = redis::cmd("SET")
        .arg("user:1")
        .arg(&original)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(
        signed.get::<String>("user:1").await.unwrap().as_deref(),
        Some("Ada")
    );
    assert_eq!(signed.stats().rejected_values, 3);
    assert_eq!(signed.stats().backend_failures, 0);
}

#[tokio::test]
async fn a_key_of_another_type_is_an_error_and_the_connection_lives_on() {
    let server = RedisServer::start().await;
    let strict = Cache::from_url(&format!("{}?safe=0", server.url())).unwrap();
    let safe = Cache::from_url(&server.url()).unwrap();
    let mut raw = server.raw().await;
    let _: () = redis::cmd("RPUSH")
        .arg("queue")
        .arg("job")
        .query_async(&mut raw)
        .await
        .unwrap();

    let e = strict.get::<String>("queue").await.unwrap_err();
    assert!(e.is_backend_failure(), "{e}");
    assert!(
        e.to_string().contains("redis GET") && e.to_string().contains("WRONGTYPE"),
        "{e}"
    );
    // A server's error leaves the connection up.
    strict.set("user:1", &"Ada", 60).await.unwrap();
    assert_eq!(
        strict.get::<String>("user:1").await.unwrap().as_deref(),
        Some("Ada")
    );

    // Safe mode answers a miss, and counts the failure.
    assert_eq!(safe.get::<String>("queue").await.unwrap(), None);
    assert_eq!(safe.stats().backend_failures, 1);
}

/// Where the TLS child test finds its server.
const TLS_URL: &str = "CASHEWS_TEST_TLS_URL";

/// `rediss://` against a TLS redis-server with a certificate from a CA made
/// for the test. rustls takes extra trusted roots only from
/// `SSL_CERT_FILE`, which a test cannot set in its own (threaded) process,
/// so this test runs [`tls_child`] in a new process of this binary with it.
#[tokio::test]
async fn rediss_verifies_the_server_and_speaks_tls() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

    let dir = tempfile::tempdir().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    std::fs::write(path("ca.pem"), ca.pem()).unwrap();
    std::fs::write(path("server.pem"), server_cert.pem()).unwrap();
    std::fs::write(path("server.key"), server_key.serialize_pem()).unwrap();

    let tls_port = support::servers::free_port(false).unwrap().to_string();
    let server = RedisServer::start_with(&[
        "--tls-port",
        &tls_port,
        "--tls-cert-file",
        &path("server.pem"),
        "--tls-key-file",
        &path("server.key"),
        "--tls-ca-cert-file",
        &path("ca.pem"),
        "--tls-auth-clients",
        "no",
    ])
    .await;
    let url = format!("rediss://127.0.0.1:{tls_port}");

    // Here the test's CA is not trusted: the certificate is refused.
    let untrusted = Cache::from_url(&format!("{url}?safe=0")).unwrap();
    let err = untrusted.get::<String>("k").await.unwrap_err();
    assert!(err.is_connection(), "{err}");

    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child
        .args(["tls_child", "--exact", "--ignored", "--nocapture"])
        .env("SSL_CERT_FILE", path("ca.pem"))
        .env(TLS_URL, &url);
    let output = tokio::task::spawn_blocking(move || child.output().unwrap())
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && out.contains("1 passed"),
        "{out}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // What the child stored went over TLS to this server.
    let mut raw = server.raw().await;
    let stored: Option<Vec<u8>> = redis::cmd("GET")
        .arg("over-tls")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(stored.is_some());
}

#[tokio::test]
#[ignore = "run by rediss_verifies_the_server_and_speaks_tls, with SSL_CERT_FILE set"]
async fn tls_child() {
    let url = std::env::var(TLS_URL).expect("run by rediss_verifies_the_server_and_speaks_tls");
    let cache = Cache::from_url(&format!("{url}?safe=0")).unwrap();
    cache.set("over-tls", &"secret", 60).await.unwrap();
    assert_eq!(
        cache.get::<String>("over-tls").await.unwrap().as_deref(),
        Some("secret")
    );
}

#[tokio::test]
async fn rate_limits_take_one_round_trip_each() {
    use cashews::strategy::{Limiter, RateLimit, SliceRateLimit};
    let server = RedisServer::start().await;
    let cache = Cache::from_url(&server.url()).unwrap();
    let (fixed, sliding) = (
        RateLimit::new(2, Duration::from_secs(60)),
        SliceRateLimit::new(2, Duration::from_secs(60)),
    );
    // Load both scripts first, so that every call below is one EVALSHA.
    fixed.admit(&cache, "warm:f").await.unwrap();
    sliding.admit(&cache, "warm:s").await.unwrap();
    let monitor = Monitor::start(&server).await;
    let mut admitted = Vec::new();
    for _ in 0..3 {
        admitted.push(fixed.admit(&cache, "api:f").await.unwrap());
        admitted.push(sliding.admit(&cache, "api:s").await.unwrap());
    }
    assert_eq!(admitted, [true, true, true, true, false, false]);
    assert_eq!(
        monitor.commands(&server).await,
        ["evalsha"; 6],
        "one script call per admission, the refusals and the ban included"
    );
}

#[tokio::test]
async fn a_miss_reads_once_and_a_hit_is_one_get() {
    use cashews::strategy::simple::{Options, StoreAll, cache as cached};
    let server = RedisServer::start().await;
    let cache = Cache::from_url(&server.url()).unwrap();
    let options = Options::new(60);
    let monitor = Monitor::start(&server).await;
    for _ in 0..2 {
        let v: u32 = cached(&cache, "once", StoreAll, &options, || async { 7 })
            .await
            .value;
        assert_eq!(v, 7);
    }
    assert_eq!(
        monitor.commands(&server).await,
        ["get", "set", "get"],
        "the miss's first leader reads once, then stores; the hit reads"
    );
}

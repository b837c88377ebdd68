//! The memcached backend against real `memcached` servers: the conformance
//! suite (pattern commands must fail as unsupported), then several servers,
//! keys memcached cannot hold, long TTLs and counters.
#![cfg(feature = "memcached")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cashews::backend::{Backend, MemcachedBackend};
use cashews::{BackendSettings, Exist, Expiry, Settings};
use support::conformance::Harness;
use support::servers::MemcachedServer;

fn backend(url: &str) -> MemcachedBackend {
    let settings = Settings::from_url(url).unwrap();
    let BackendSettings::Memcached(memcached) = &settings.backend else {
        panic!("{url} is not a memcached URL")
    };
    MemcachedBackend::new(memcached).unwrap()
}

/// How much longer every duration is on the server than in the case.
///
/// memcached counts TTLs in whole seconds on a clock that ticks once a
/// second at a moment of its own, so a key's expiry cannot be placed within
/// a second, while the cases leave one second between "still there" and
/// "gone". Run at ten times their durations (a 10 s TTL is 100 s on the
/// server, and `advance(9 s)` lowers TTLs by 90 s), the cases keep ten of
/// memcached's seconds on each side of every expiry.
const SCALE: u32 = 10;

/// The backend under test, seen through the cases' time scale.
struct Scaled(MemcachedBackend);

fn up(d: Duration) -> Duration {
    d * SCALE
}

#[async_trait]
impl Backend for Scaled {
    async fn get(&self, key: &str) -> cashews::Result<Option<Bytes>> {
        self.0.get(key).await
    }
    async fn get_many(&self, keys: &[&str]) -> cashews::Result<Vec<Option<Bytes>>> {
        self.0.get_many(keys).await
    }
    async fn set(
        &self,
        key: &str,
        value: Bytes,
        expire: Option<Duration>,
        exist: Option<Exist>,
    ) -> cashews::Result<bool> {
        self.0.set(key, value, expire.map(up), exist).await
    }
    async fn set_many(
        &self,
        pairs: &[(&str, Bytes)],
        expire: Option<Duration>,
    ) -> cashews::Result<()> {
        self.0.set_many(pairs, expire.map(up)).await
    }
    async fn delete(&self, key: &str) -> cashews::Result<bool> {
        self.0.delete(key).await
    }
    async fn delete_many(&self, keys: &[&str]) -> cashews::Result<u64> {
        self.0.delete_many(keys).await
    }
    async fn delete_match(&self, pattern: &str) -> cashews::Result<u64> {
        self.0.delete_match(pattern).await
    }
    async fn scan(&self, pattern: &str) -> cashews::Result<Vec<String>> {
        self.0.scan(pattern).await
    }
    async fn get_match(&self, pattern: &str) -> cashews::Result<Vec<(String, Bytes)>> {
        self.0.get_match(pattern).await
    }
    async fn exists(&self, key: &str) -> cashews::Result<bool> {
        self.0.exists(key).await
    }
    async fn incr(&self, key: &str, by: i64, expire: Option<Duration>) -> cashews::Result<i64> {
        self.0.incr(key, by, expire.map(up)).await
    }
    async fn expire(&self, key: &str, timeout: Duration) -> cashews::Result<bool> {
        self.0.expire(key, up(timeout)).await
    }
    async fn get_expire(&self, key: &str) -> cashews::Result<Expiry> {
        Ok(match self.0.get_expire(key).await? {
            Expiry::Remaining(d) => Expiry::Remaining(d / SCALE),
            other => other,
        })
    }
    async fn ping(&self, message: Option<&[u8]>) -> cashews::Result<Bytes> {
        self.0.ping(message).await
    }
    async fn clear(&self) -> cashews::Result<()> {
        self.0.clear().await
    }
    async fn set_lock(&self, key: &str, value: Bytes, expire: Duration) -> cashews::Result<bool> {
        self.0.set_lock(key, value, up(expire)).await
    }
    async fn unlock(&self, key: &str, value: &[u8]) -> cashews::Result<bool> {
        self.0.unlock(key, value).await
    }
    async fn get_size(&self, key: &str) -> cashews::Result<Option<u64>> {
        self.0.get_size(key).await
    }
    async fn get_keys_count(&self) -> cashews::Result<u64> {
        self.0.get_keys_count().await
    }
    async fn set_add(&self, key: &str, members: &[&str], expire: Duration) -> cashews::Result<()> {
        self.0.set_add(key, members, up(expire)).await
    }
    async fn set_members(&self, key: &str) -> cashews::Result<Vec<String>> {
        self.0.set_members(key).await
    }
    async fn set_remove(&self, key: &str, members: &[&str]) -> cashews::Result<u64> {
        self.0.set_remove(key, members).await
    }
}

async fn harness() -> Harness {
    let server = Arc::new(MemcachedServer::start().await);
    let backend = Scaled(backend(&server.url()));
    Harness::new(
        Arc::new(backend),
        Box::new(move |d| {
            let server = server.clone();
            Box::pin(async move { server.advance(up(d)).await })
        }),
    )
    .without_patterns()
}

conformance_suite!(#[tokio::test], harness().await);

values_suite!(async {
    let server = MemcachedServer::start().await;
    support::values::Target::new(server.url(), Some(Box::new(server)))
});

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[tokio::test]
async fn keys_spread_over_several_servers() {
    let servers = futures_util::future::join_all([
        MemcachedServer::start(),
        MemcachedServer::start(),
        MemcachedServer::start(),
    ])
    .await;
    let hosts: Vec<String> = servers
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.port))
        .collect();
    let url = format!("memcached://{}", hosts.join(","));
    let backend = backend(&url);
    let keys: Vec<String> = (0..300).map(|i| format!("user:{i}")).collect();
    let pairs: Vec<(&str, Bytes)> = keys.iter().map(|k| (k.as_str(), b(k))).collect();
    backend.set_many(&pairs, None).await.unwrap();

    let mut total = 0;
    for server in &servers {
        let held = server.raw().await.keys().await.len();
        assert!(held > 50, "every server holds a share, this one {held}");
        total += held;
    }
    assert_eq!(total, 300);
    assert_eq!(backend.get_keys_count().await.unwrap(), 300);

    // Another process (another backend) finds every key on the same server.
    let other = self::backend(&url);
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let values = other.get_many(&refs).await.unwrap();
    for (key, value) in keys.iter().zip(&values) {
        assert_eq!(
            value.as_deref(),
            Some(key.as_bytes()),
            "in order, across servers"
        );
    }
    assert_eq!(other.delete_many(&refs[..100]).await.unwrap(), 100);
    assert_eq!(backend.get_keys_count().await.unwrap(), 200);
    assert_eq!(backend.ping(Some(b"hi")).await.unwrap(), b("hi"));

    backend.clear().await.unwrap();
    for server in &servers {
        assert!(
            server.raw().await.keys().await.is_empty(),
            "clear flushes every server"
        );
    }
}

#[tokio::test]
async fn keys_memcached_cannot_hold_are_stored_hashed() {
    let server = MemcachedServer::start().await;
    let backend = backend(&server.url());
    let long = format!("report:{}", "x".repeat(300));
    for key in ["with space", "line\nbreak", long.as_str(), "plain"] {
        backend.set(key, b(key), None, None).await.unwrap();
    }
    let mut stored = server.raw().await.keys().await;
    stored.sort();
    assert_eq!(stored.len(), 4);
    assert!(stored.contains(&"plain".to_owned()));
    assert!(
        stored.iter().any(|k| k.starts_with("with_space#b3:")),
        "{stored:?}"
    );
    assert!(
        stored.iter().any(|k| k.starts_with("line_break#b3:")),
        "{stored:?}"
    );
    assert!(stored.iter().all(|k| k.len() <= 250 && !k.contains(' ')));
    for key in ["with space", "line\nbreak", long.as_str()] {
        assert_eq!(backend.get(key).await.unwrap(), Some(b(key)));
        assert!(backend.expire(key, Duration::from_secs(60)).await.unwrap());
        assert_eq!(
            backend.incr(key, 1, None).await.unwrap_err().kind(),
            cashews::ErrorKind::NotInteger
        );
        assert!(backend.delete(key).await.unwrap());
    }
}

#[tokio::test]
async fn ttls_beyond_thirty_days_are_kept() {
    let server = MemcachedServer::start().await;
    let backend = backend(&server.url());
    let forty_days = Duration::from_secs(40 * 24 * 3600);
    backend
        .set("k", b("v"), Some(forty_days), None)
        .await
        .unwrap();
    assert_eq!(
        backend.get("k").await.unwrap(),
        Some(b("v")),
        "not expired at once"
    );
    let Expiry::Remaining(left) = backend.get_expire("k").await.unwrap() else {
        panic!("a ttl was set")
    };
    // Past 30 days memcached takes an absolute time, which its own clock
    // (whole seconds, ticking apart from ours) may read up to a second late.
    assert!(
        left <= forty_days + Duration::from_secs(1) && left > forty_days - Duration::from_secs(5),
        "{left:?}"
    );
    let Expiry::Remaining(left) = ({
        backend.expire("k", Duration::from_secs(90)).await.unwrap();
        backend.get_expire("k").await.unwrap()
    }) else {
        panic!("still there")
    };
    assert!(
        left <= Duration::from_secs(90) && left >= Duration::from_secs(89),
        "{left:?}"
    );
}

#[tokio::test]
async fn a_set_stays_within_an_item() {
    let server = MemcachedServer::start().await;
    let backend = backend(&server.url());
    let ttl = Duration::from_secs(60);
    let half = "h".repeat(cashews::backend::memcached::MAX_SET / 2);
    backend.set_add("big", &[&half], ttl).await.unwrap();
    let past = backend
        .set_add("big", &[&format!("{half}2")], ttl)
        .await
        .unwrap_err();
    assert!(past.to_string().contains("bytes"), "{past}");
    assert_eq!(
        backend.set_members("big").await.unwrap(),
        [half],
        "left as it was"
    );
}

#[tokio::test]
async fn pattern_commands_say_they_are_unsupported() {
    let server = MemcachedServer::start().await;
    let backend = backend(&server.url());
    let err = backend.delete_match("user:*").await.unwrap_err();
    assert!(err.is_unsupported());
    assert!(
        err.to_string()
            .contains("not supported by the memcached backend"),
        "{err}"
    );
}

#[tokio::test]
async fn counters_go_below_zero_and_back() {
    let server = MemcachedServer::start().await;
    let backend = backend(&server.url());
    assert_eq!(
        backend
            .incr("n", -5, Some(Duration::from_secs(60)))
            .await
            .unwrap(),
        -5
    );
    assert_eq!(backend.incr("n", 3, None).await.unwrap(), -2);
    assert_eq!(backend.incr("n", 2, None).await.unwrap(), 0);
    assert_eq!(backend.incr("n", 1, None).await.unwrap(), 1);
    assert!(
        matches!(backend.get_expire("n").await.unwrap(), Expiry::Remaining(d) if d > Duration::from_secs(55)),
        "every path keeps the ttl set at creation"
    );
    backend
        .set("big", b(&i64::MAX.to_string()), None, None)
        .await
        .unwrap();
    assert!(
        backend
            .incr("big", 1, None)
            .await
            .unwrap_err()
            .is_not_integer(),
        "overflow"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_increments_both_ways_are_never_lost() {
    let server = MemcachedServer::start().await;
    let backend = Arc::new(backend(&server.url()));
    let tasks: Vec<_> = (0..12)
        .map(|t| {
            let backend = backend.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    // Up by the server's own arithmetic, down by compare-and-swap.
                    let by = if t % 3 == 0 { -1 } else { 2 };
                    backend.incr("shared", by, None).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        backend.incr("shared", 0, None).await.unwrap(),
        8 * 50 * 2 - 4 * 50
    );
}

#[tokio::test]
async fn a_connection_idle_past_its_timeout_serves_the_next_request() {
    // Each pooled connection keeps one timer, reset for every exchange
    // (see `Pooled` in the backend). Once it has fired on an idle
    // connection, the next exchange must be timed afresh, not cut off.
    let server = MemcachedServer::start().await;
    let backend = backend(&format!("{}?socket_timeout=0.5", server.url()));
    backend
        .set("k", Bytes::from_static(b"v"), None, None)
        .await
        .unwrap();
    // The clock runs for the requests (they wait on a real server) and is
    // moved past the idle connection's deadline between them.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(2)).await;
    tokio::time::resume();
    assert_eq!(
        backend.get("k").await.unwrap(),
        Some(Bytes::from_static(b"v"))
    );
}

#[test]
fn a_connection_whose_runtime_is_gone_is_replaced_before_a_request_fails() {
    // A pooled connection (its socket and its timer) belongs to the runtime
    // it was opened on, as a global cache's would in tests that each run
    // their own runtime: once that runtime is gone, the pool opens another.
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let main = runtime();
    let server = main.block_on(MemcachedServer::start());
    let backend = backend(&server.url());
    let first = runtime();
    first
        .block_on(backend.set("k", Bytes::from_static(b"v"), None, None))
        .unwrap();
    drop(first);

    let second = runtime();
    assert_eq!(
        second.block_on(backend.get("k")).unwrap(),
        Some(Bytes::from_static(b"v")),
        "the first request opens a new connection"
    );
    drop(second);
    drop(main);
}

#[tokio::test]
async fn a_reply_memcached_would_not_send_is_an_error_not_a_value() {
    // A stand-in server, for replies a real memcached never sends: a value
    // not followed by its line break, a length that is not a number, and
    // one no memcached can hold (which must not be allocated).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // `{O}`: the request's token, echoed.
    let replies = [
        "VA 3 {O}\r\nabcXY",
        "VA -3 {O}\r\nabc\r\n",
        "VA 18446744073709551615 {O}\r\nabc\r\n",
        "VA 3 {O}\r\nabc\r\n",
    ];
    tokio::spawn(async move {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        // A connection per reply: after a malformed one the client must
        // not use its connection again.
        for reply in replies {
            let (socket, _) = listener.accept().await.unwrap();
            let mut socket = BufReader::new(socket);
            let mut request = String::new();
            socket.read_line(&mut request).await.unwrap();
            let token = request.trim_end().strip_prefix("mg k v ").unwrap();
            assert!(token.starts_with('O'), "{request:?}");
            let reply = reply.replace("{O}", token);
            socket.get_mut().write_all(reply.as_bytes()).await.unwrap();
            // Held open, so that only the reply can tell the client anything.
            tokio::spawn(async move {
                let mut rest = String::new();
                let _ = socket.read_line(&mut rest).await;
            });
        }
    });
    let backend = backend(&format!("memcached://127.0.0.1:{port}"));
    for case in [
        "no line break after the value",
        "a negative length",
        "a length beyond memory",
    ] {
        let err = backend.get("k").await.unwrap_err();
        assert_eq!(err.kind(), cashews::ErrorKind::Backend, "{case}: {err}");
        assert!(err.to_string().contains("malformed"), "{case}: {err}");
    }
    assert_eq!(
        backend.get("k").await.unwrap(),
        Some(Bytes::from_static(b"abc")),
        "a well-formed reply, on a new connection"
    );
}

/// A value is written only if a read will accept it: every write refuses
/// a value over `max_value_size` up front, and accepts one up to it.
#[tokio::test]
async fn writes_over_max_value_size_are_refused_so_every_value_stored_reads_back() {
    let server = MemcachedServer::start().await;
    let limit = 1024;
    let backend = backend(&format!("{}?max_value_size=1KiB", server.url()));
    let ttl = Duration::from_secs(600);
    for len in [0, 1, limit - 1, limit, limit + 1, 2 * limit] {
        let value = Bytes::from(b"secret".repeat(len / 6 + 1)[..len].to_vec());
        let old = b("old");
        let k = |write: &str| format!("{write}:{len}");
        backend
            .set(&k("xx"), old.clone(), None, None)
            .await
            .unwrap();
        let writes = [
            (
                "set",
                backend.set(&k("set"), value.clone(), None, None).await,
            ),
            (
                "nx",
                backend
                    .set(&k("nx"), value.clone(), Some(ttl), Some(Exist::Absent))
                    .await,
            ),
            (
                "xx",
                backend
                    .set(&k("xx"), value.clone(), Some(ttl), Some(Exist::Present))
                    .await,
            ),
            (
                "lock",
                backend.set_lock(&k("lock"), value.clone(), ttl).await,
            ),
            (
                "many",
                backend
                    .set_many(
                        &[(&k("many"), value.clone()), (&k("beside"), old.clone())],
                        None,
                    )
                    .await
                    .map(|()| true),
            ),
        ];
        for (write, outcome) in writes {
            let before = if write == "xx" {
                Some(old.clone())
            } else {
                None
            };
            let stored = backend.get(&k(write)).await;
            if len <= limit {
                assert!(outcome.unwrap(), "{write} of {len} bytes");
                assert_eq!(
                    stored.unwrap(),
                    Some(value.clone()),
                    "{write} of {len} bytes"
                );
                continue;
            }
            let err = outcome.unwrap_err();
            assert!(err.is_value_too_large(), "{write} of {len} bytes: {err}");
            let message = err.to_string();
            assert!(message.contains("max_value_size (1024 bytes)"), "{message}");
            assert!(!message.contains("secret"), "no value in {message}");
            assert_eq!(
                stored.unwrap(),
                before,
                "{write} of {len} bytes left nothing"
            );
        }
        let beside = backend.get(&k("beside")).await.unwrap();
        assert_eq!(beside.is_some(), len <= limit, "set_many is all or nothing");
    }
}

/// `max_value_size` leaves room for the counters memcached writes itself.
#[tokio::test]
async fn max_value_size_holds_every_counter() {
    let server = MemcachedServer::start().await;
    let settings = Settings::from_url(&format!("{}?max_value_size=19", server.url())).unwrap();
    let BackendSettings::Memcached(memcached) = &settings.backend else {
        unreachable!("a memcached URL")
    };
    let err = MemcachedBackend::new(memcached).unwrap_err();
    assert!(
        err.is_settings() && err.to_string().contains("max_value_size"),
        "{err}"
    );

    let backend = backend(&format!("{}?max_value_size=20", server.url()));
    assert_eq!(backend.incr("low", i64::MIN, None).await.unwrap(), i64::MIN);
    assert_eq!(
        backend.get("low").await.unwrap(),
        Some(b(&i64::MIN.to_string()))
    );
    assert_eq!(backend.incr("high", -1, None).await.unwrap(), -1);
    assert_eq!(
        backend.incr("high", i64::MAX, None).await.unwrap(),
        i64::MAX - 1
    );
    assert_eq!(
        backend.get("high").await.unwrap(),
        Some(b(&(i64::MAX - 1).to_string()))
    );
}

/// Safe mode treats a value too large like any refusal by the backend:
/// the write is skipped, logged and counted; without it the caller sees it.
#[tokio::test]
async fn a_value_too_large_is_a_backend_failure_for_safe_mode() {
    let server = MemcachedServer::start().await;
    let url = |safe: u8| format!("{}?max_value_size=1KiB&safe={safe}", server.url());
    let long = "x".repeat(2048);
    let strict = cashews::Cache::from_url(&url(0)).unwrap();
    let err = strict.set("k", &long, 60).await.unwrap_err();
    assert!(err.is_value_too_large(), "{err}");
    let safe = cashews::Cache::from_url(&url(1)).unwrap();
    assert!(!safe.set("k", &long, 60).await.unwrap(), "not stored");
    assert_eq!(safe.stats().backend_failures, 1);
    assert_eq!(safe.get::<String>("k").await.unwrap(), None);
}

//! A reply is never matched to the wrong request: a stand-in memcached on
//! loopback answers with duplicated, stale, reordered, foreign-token or
//! late replies, and no call ever returns a value that belongs to another
//! key. Each such reply is a clear error, its connection is dropped, and
//! the next request, on a good reply, works.
#![cfg(feature = "memcached")]

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use cashews::backend::{Backend, MemcachedBackend};
use cashews::{BackendSettings, Cache, ErrorKind, Settings};
use parking_lot::Mutex;
use proptest::prelude::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The client's `socket_timeout`, in the URL.
const TIMEOUT: &str = "200ms";
/// How long a late reply waits: well past [`TIMEOUT`].
const LATE: Duration = Duration::from_millis(600);
/// How long the tests wait for the client to close a connection.
const CLOSED_WITHIN: Duration = Duration::from_secs(5);

/// The value the stand-in holds for `key`.
fn value_of(key: &str) -> Bytes {
    Bytes::from(format!("value of {key}"))
}

/// What the stand-in does with its replies to one batch of requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mangle {
    /// The replies, as memcached sends them.
    Correct,
    /// The replies, then the first one again with another key's value, in
    /// the same write.
    Duplicate,
    /// The replies; the first one again with another key's value is sent
    /// just before the replies to the connection's next batch.
    DuplicateLater,
    /// A reply carrying a token never sent, with another key's value, then
    /// the replies.
    Foreign,
    /// The connection's previous reply again, then the replies.
    Stale,
    /// The replies in reverse order.
    Reversed,
    /// The replies, after [`LATE`]: half of the first one at once.
    Late,
    /// `SERVER_ERROR` (which carries no token) for the first request, then
    /// the other replies.
    ServerError,
}

/// A stand-in memcached answering `mg <key> v O<token>` with [`value_of`]
/// the key, mangled as its script says, batch after batch (then correctly).
#[derive(Clone)]
struct StandIn {
    port: u16,
    script: Arc<Mutex<VecDeque<Mangle>>>,
    opened: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl StandIn {
    async fn start(script: impl IntoIterator<Item = Mangle>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stand_in = Self {
            port: listener.local_addr().unwrap().port(),
            script: Arc::new(Mutex::new(script.into_iter().collect())),
            opened: Arc::default(),
            closed: Arc::default(),
        };
        let serving = stand_in.clone();
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                serving.opened.fetch_add(1, Ordering::SeqCst);
                let serving = serving.clone();
                tokio::spawn(async move {
                    serving.serve(socket).await;
                    serving.closed.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        stand_in
    }

    /// Serves one connection until the client closes it.
    async fn serve(&self, socket: TcpStream) {
        let mut socket = BufReader::new(socket);
        // What `Stale` resends, and what `DuplicateLater` holds back.
        let mut previous: Option<Vec<u8>> = None;
        let mut held: Option<Vec<u8>> = None;
        loop {
            // A batch: the lines that came in one write.
            let mut replies = Vec::new();
            loop {
                let mut line = String::new();
                if socket.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let flags: Vec<&str> = line.split_whitespace().collect();
                assert_eq!(flags.first(), Some(&"mg"), "{line:?}");
                let key = flags[1];
                // Echoed if there is one, so that the test runs (and fails)
                // against a client that sends none.
                let token = flags.iter().find(|f| f.starts_with('O')).copied();
                replies.push((key.to_owned(), token.map(str::to_owned)));
                if !socket.buffer().contains(&b'\n') {
                    break;
                }
            }
            let mangle = self.script.lock().pop_front().unwrap_or(Mangle::Correct);
            let reply = |token: Option<&str>, value: &[u8]| {
                let mut bytes = format!("VA {}", value.len()).into_bytes();
                if let Some(token) = token {
                    bytes.extend_from_slice(format!(" {token}").as_bytes());
                }
                bytes.extend_from_slice(b"\r\n");
                bytes.extend_from_slice(value);
                bytes.extend_from_slice(b"\r\n");
                bytes
            };
            let right: Vec<Vec<u8>> = replies
                .iter()
                .map(|(key, token)| reply(token.as_deref(), &value_of(key)))
                .collect();
            let (first_key, first_token) = &replies[0];
            let wrong = reply(
                first_token.as_deref(),
                &value_of(&format!("{first_key}+another")),
            );
            let mut out = held.take().unwrap_or_default();
            match mangle {
                Mangle::Correct | Mangle::Late => out.extend(right.concat()),
                Mangle::Duplicate => {
                    out.extend(right.concat());
                    out.extend(&wrong);
                }
                Mangle::DuplicateLater => {
                    out.extend(right.concat());
                    held = Some(wrong);
                }
                Mangle::Foreign => {
                    let foreign = first_token.as_ref().map(|_| "O987654321");
                    out.extend(reply(foreign, &value_of("a foreign key")));
                    out.extend(right.concat());
                }
                Mangle::Stale => {
                    out.extend(previous.clone().unwrap_or_default());
                    out.extend(right.concat());
                }
                Mangle::Reversed => out.extend(right.iter().rev().flatten()),
                Mangle::ServerError => {
                    out.extend(b"SERVER_ERROR out of memory\r\n");
                    out.extend(right[1..].concat());
                }
            }
            previous = right.last().cloned();
            if mangle == Mangle::Late {
                let (now, later) = out.split_at(out.len().min(5));
                if socket.get_mut().write_all(now).await.is_err() {
                    return;
                }
                tokio::time::sleep(LATE).await;
                out = later.to_vec();
            }
            if socket.get_mut().write_all(&out).await.is_err() {
                return;
            }
        }
    }

    fn url(&self) -> String {
        format!(
            "memcached://127.0.0.1:{}?socket_timeout={TIMEOUT}",
            self.port
        )
    }

    fn backend(&self) -> MemcachedBackend {
        let settings = Settings::from_url(&self.url()).unwrap();
        let BackendSettings::Memcached(memcached) = &settings.backend else {
            unreachable!("a memcached URL")
        };
        MemcachedBackend::new(memcached).unwrap()
    }

    /// Waits until the client has closed `count` connections.
    async fn closed(&self, count: usize) -> bool {
        let wait = async {
            while self.closed.load(Ordering::SeqCst) < count {
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(CLOSED_WITHIN, wait).await.is_ok()
    }
}

/// Gets `keys` (one `get`, or a `get_many`): each value returned must be
/// its own key's; a refused reply is a `Backend` or `Timeout` error.
/// Whether the call succeeded.
async fn checked_get(backend: &MemcachedBackend, keys: &[&str]) -> bool {
    let got = if let [key] = keys {
        backend.get(key).await.map(|value| vec![value])
    } else {
        backend.get_many(keys).await
    };
    match got {
        Ok(values) => {
            for (key, value) in keys.iter().zip(values) {
                assert_eq!(value, Some(value_of(key)), "the value returned for {key}");
            }
            true
        }
        Err(err) => {
            assert!(
                matches!(err.kind(), ErrorKind::Backend | ErrorKind::Timeout),
                "{err}"
            );
            false
        }
    }
}

/// Many gets through one pooled connection, every third reply mangled:
/// no value belongs to another key, and each mangled exchange gets its
/// connection dropped (at once, or when the next request reads what it
/// left), while good exchanges keep theirs; a good reply after the last
/// mangled one is a value again.
async fn many_gets_with(mangle: Mangle) {
    let script = (0..30).map(|i| if i % 3 == 1 { mangle } else { Mangle::Correct });
    let stand_in = StandIn::start(script).await;
    let backend = stand_in.backend();
    for i in 0..30 {
        checked_get(&backend, &[&format!("k{}", i % 4)]).await;
    }
    assert!(
        checked_get(&backend, &["k0"]).await,
        "then a good reply works"
    );
    assert!(
        stand_in.closed(10).await,
        "{mangle:?}: each mangled exchange's connection is dropped"
    );
    assert_eq!(
        stand_in.opened.load(Ordering::SeqCst),
        11,
        "{mangle:?}: a connection for each mangled exchange, and one to begin"
    );
}

#[tokio::test]
async fn a_duplicated_reply_is_never_taken_for_the_next_requests() {
    many_gets_with(Mangle::Duplicate).await;
    many_gets_with(Mangle::DuplicateLater).await;
}

#[tokio::test]
async fn a_reply_with_another_token_is_refused() {
    many_gets_with(Mangle::Foreign).await;
    many_gets_with(Mangle::Stale).await;
}

#[tokio::test]
async fn a_reply_after_its_timeout_never_reaches_another_request() {
    // Half of the first reply comes at once, the rest after the timeout:
    // the connection, mid-reply, must be dropped, not reused.
    many_gets_with(Mangle::Late).await;
}

#[tokio::test]
async fn replies_out_of_order_in_a_batch_are_refused() {
    let stand_in = StandIn::start([Mangle::Reversed]).await;
    let backend = stand_in.backend();
    let err = backend.get_many(&["a", "b", "c"]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    assert!(
        err.to_string().contains("a reply to another request"),
        "{err}"
    );
    assert!(stand_in.closed(1).await, "its connection is dropped");
    assert!(checked_get(&backend, &["a", "b", "c"]).await);
}

#[tokio::test]
async fn an_error_reply_in_a_batch_is_told_as_it_is() {
    // memcached's errors carry no token: one answers its request in turn.
    let stand_in = StandIn::start([Mangle::ServerError]).await;
    let backend = stand_in.backend();
    let err = backend.get_many(&["a", "b", "c"]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    assert!(
        err.to_string().contains("SERVER_ERROR out of memory"),
        "{err}"
    );
    assert!(stand_in.closed(1).await, "its connection is dropped");
    assert!(checked_get(&backend, &["a", "b", "c"]).await);
}

#[tokio::test]
async fn in_safe_mode_a_refused_reply_is_a_counted_miss() {
    let stand_in = StandIn::start([Mangle::Foreign]).await;
    let cache = Cache::from_url(&stand_in.url()).unwrap();
    assert_eq!(cache.get::<String>("k").await.unwrap(), None);
    assert_eq!(cache.stats().backend_failures, 1);
    assert!(stand_in.closed(1).await, "its connection is dropped");
}

fn mangle() -> impl Strategy<Value = Mangle> {
    prop_oneof![
        4 => Just(Mangle::Correct),
        1 => Just(Mangle::Duplicate),
        1 => Just(Mangle::DuplicateLater),
        1 => Just(Mangle::Foreign),
        1 => Just(Mangle::Stale),
        1 => Just(Mangle::Reversed),
        1 => Just(Mangle::ServerError),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever mix of correct, duplicated, stale, reordered and
    /// foreign-token replies the server sends, every call returns the
    /// right values or an error; once it answers well again, calls work.
    #[test]
    fn a_call_returns_its_own_values_or_an_error(
        calls in prop::collection::vec(
            (prop::collection::vec(0..6_usize, 1..4), mangle()),
            1..24,
        ),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let stand_in = StandIn::start(calls.iter().map(|(_, mangle)| *mangle)).await;
            let backend = stand_in.backend();
            let names: Vec<String> = (0..6).map(|i| format!("key{i}")).collect();
            for (keys, _) in &calls {
                let keys: Vec<&str> = keys.iter().map(|&i| names[i].as_str()).collect();
                checked_get(&backend, &keys).await;
            }
            // The first may read a leftover and fail; the second must work.
            checked_get(&backend, &["key0"]).await;
            assert!(checked_get(&backend, &["key1", "key2"]).await);
        });
    }
}

#[tokio::test]
async fn bytes_after_a_listing_keep_its_connection_out_of_the_pool() {
    // A listing followed at once by a reply no request asked for, carrying
    // the token the connection's first get will carry: the connection must
    // not be pooled, or that get would take the reply for its own.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (closed, was_closed) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut socket = BufReader::new(socket);
        let mut request = String::new();
        socket.read_line(&mut request).await.unwrap();
        assert_eq!(request, "lru_crawler metadump hash\r\n");
        let listing =
            b"key=k exp=-1 la=1 cas=1 fetch=no cls=1 size=63\nEND\r\nVA 5 O0\r\nwrong\r\n";
        socket.get_mut().write_all(listing).await.unwrap();
        let mut rest = String::new();
        let read = socket.read_line(&mut rest);
        let _ = closed.send(matches!(
            tokio::time::timeout(CLOSED_WITHIN, read).await,
            Ok(Ok(0) | Err(_))
        ));
        // Then a well-behaved server.
        let (socket, _) = listener.accept().await.unwrap();
        let mut socket = BufReader::new(socket);
        request.clear();
        while socket.read_line(&mut request).await.unwrap_or(0) > 0 {
            let token = request.split_whitespace().last().unwrap().to_owned();
            let reply = format!("VA 3 {token}\r\nabc\r\n");
            socket.get_mut().write_all(reply.as_bytes()).await.unwrap();
            request.clear();
        }
    });
    let settings = Settings::from_url(&format!("memcached://127.0.0.1:{port}")).unwrap();
    let BackendSettings::Memcached(memcached) = &settings.backend else {
        unreachable!("a memcached URL")
    };
    let backend = MemcachedBackend::new(memcached).unwrap();
    assert_eq!(backend.get_keys_count().await.unwrap(), 1);
    assert!(was_closed.await.unwrap(), "its connection is dropped");
    assert_eq!(
        backend.get("k").await.unwrap(),
        Some(Bytes::from_static(b"abc"))
    );
}

//! A hostile or broken server cannot make the client hold unbounded memory:
//! stand-in servers on loopback announce huge values and send little, send
//! endless lines, or values over `max_value_size`. Each is a clear error,
//! the connection is dropped, the next request works, and the process's
//! allocations (counted by the global allocator of this test binary) stay
//! small throughout. The tests take turns (the peak is the process's).
#![cfg(any(feature = "redis", feature = "memcached"))]

use std::alloc::System;
use std::time::Duration;

use bytes::Bytes;
use cap::Cap;
use cashews::backend::Backend;
use cashews::{BackendSettings, ErrorKind, Settings};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// The most this process may ever have allocated at once: the hostile
/// replies announce a GiB, send tens of MiB, or values of 2 MB.
const PEAK: usize = 32 << 20;

/// How long a stand-in waits for the client to drop a connection.
const DROPPED_WITHIN: Duration = Duration::from_secs(5);

/// Held by each test for its whole run: the peak measured is the whole
/// process's, so tests running side by side would add up.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn assert_peak_bounded() {
    let peak = ALLOCATOR.max_allocated();
    assert!(peak < PEAK, "the process once held {peak} bytes");
}

#[cfg(feature = "memcached")]
mod memcached {
    use super::*;
    use cashews::backend::MemcachedBackend;

    /// Waits until the client closes `socket`: a read returns nothing, or fails.
    async fn closed_by_client(socket: &mut BufReader<TcpStream>) -> bool {
        let mut rest = Vec::new();
        let read = socket.read_to_end(&mut rest);
        tokio::time::timeout(DROPPED_WITHIN, read).await.is_ok()
    }

    /// Writes `chunk` until the client closes the connection (a write fails),
    /// `total` bytes at most, then waits for the close; true if it came.
    async fn flood_until_closed(
        socket: &mut BufReader<TcpStream>,
        chunk: &[u8],
        total: usize,
    ) -> bool {
        let mut sent = 0;
        while sent < total {
            let write = socket.get_mut().write_all(chunk);
            match tokio::time::timeout(DROPPED_WITHIN, write).await {
                Ok(Ok(())) => sent += chunk.len(),
                Ok(Err(_)) => return true,
                Err(_) => return false,
            }
        }
        closed_by_client(socket).await
    }

    /// The opaque token of a meta request line (`O<n>`), for the reply to echo.
    fn token(request: &str) -> &str {
        request
            .split_whitespace()
            .find(|flag| flag.starts_with('O'))
            .unwrap_or_else(|| panic!("no token in {request:?}"))
    }

    fn backend(url: &str) -> MemcachedBackend {
        let settings = Settings::from_url(url).unwrap();
        let BackendSettings::Memcached(memcached) = &settings.backend else {
            panic!("{url} is not a memcached URL")
        };
        MemcachedBackend::new(memcached).unwrap()
    }

    /// What the stand-in answers `mg k v` with, one connection each.
    enum Answer {
        /// A value header announcing `len` bytes, then `sent` of them, then silence.
        Announce { len: usize, sent: usize },
        /// Bytes without a line break, up to `total`.
        EndlessLine { total: usize },
        /// A whole value of `len` bytes.
        Value { len: usize },
    }

    #[tokio::test]
    async fn hostile_replies_are_errors_within_bounded_memory() {
        let _turn = ONE_AT_A_TIME.lock().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let answers = [
            Answer::Announce {
                len: 1 << 30,
                sent: 1024,
            },
            Answer::EndlessLine { total: 64 << 20 },
            Answer::Value { len: 2_000_000 },
        ];
        let (dropped, mut was_dropped) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            for answer in answers {
                let (socket, _) = listener.accept().await.unwrap();
                let mut socket = BufReader::new(socket);
                let mut request = String::new();
                socket.read_line(&mut request).await.unwrap();
                let token = token(&request);
                assert_eq!(request, format!("mg k v {token}\r\n"));
                let closed = match answer {
                    Answer::Announce { len, sent } => {
                        let header = format!("VA {len} {token}\r\n");
                        socket.get_mut().write_all(header.as_bytes()).await.unwrap();
                        socket.get_mut().write_all(&vec![b'x'; sent]).await.unwrap();
                        closed_by_client(&mut socket).await
                    }
                    Answer::EndlessLine { total } => {
                        flood_until_closed(&mut socket, &[b'x'; 64 * 1024], total).await
                    }
                    Answer::Value { len } => {
                        let mut reply = format!("VA {len} {token}\r\n").into_bytes();
                        reply.resize(reply.len() + len, b'x');
                        reply.extend_from_slice(b"\r\n");
                        flood_until_closed(&mut socket, &reply, reply.len()).await
                    }
                };
                dropped.send(closed).unwrap();
            }
            // Then a well-behaved server.
            let (socket, _) = listener.accept().await.unwrap();
            let mut socket = BufReader::new(socket);
            let mut request = String::new();
            while socket.read_line(&mut request).await.unwrap_or(0) > 0 {
                let reply = format!("VA 3 {}\r\nabc\r\n", token(&request));
                socket.get_mut().write_all(reply.as_bytes()).await.unwrap();
                request.clear();
            }
        });
        // Values up to 1.5 MiB, so a 1 GiB announcement passes the size
        // check and must be read as it arrives.
        let large = backend(&format!(
            "memcached://127.0.0.1:{port}?socket_timeout=0.5&max_value_size=2GiB"
        ));
        let err = large.get("k").await.unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Timeout,
            "1 GiB announced, 1 KiB sent: {err}"
        );
        assert_peak_bounded();
        assert!(
            was_dropped.recv().await.unwrap(),
            "its connection is dropped"
        );

        let err = large.get("k").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Backend, "an endless line: {err}");
        assert!(
            err.to_string().contains("reply line over 8192 bytes"),
            "{err}"
        );
        assert_peak_bounded();
        assert!(
            was_dropped.recv().await.unwrap(),
            "its connection is dropped"
        );

        let small = backend(&format!(
            "memcached://127.0.0.1:{port}?socket_timeout=0.5&max_value_size=1MiB"
        ));
        let err = small.get("k").await.unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Backend,
            "a value over the limit: {err}"
        );
        assert!(
            err.to_string()
                .contains("value of 2000000 bytes, over max_value_size (1048576 bytes)"),
            "{err}"
        );
        assert_peak_bounded();
        assert!(
            was_dropped.recv().await.unwrap(),
            "its connection is dropped"
        );

        assert_eq!(
            small.get("k").await.unwrap(),
            Some(Bytes::from_static(b"abc")),
            "a good reply, on a new connection"
        );
    }

    #[tokio::test]
    async fn a_long_listing_is_counted_not_kept() {
        let _turn = ONE_AT_A_TIME.lock().await;
        // `get_keys_count` reads every key's line of `lru_crawler
        // metadump`: a server may send as many as it likes.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let line = b"key=k exp=-1 la=1 cas=1 fetch=no cls=1 size=63\n";
        let lines = (32 << 20) / line.len();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut socket = BufReader::new(socket);
            let mut request = String::new();
            socket.read_line(&mut request).await.unwrap();
            assert_eq!(request, "lru_crawler metadump hash\r\n");
            let chunk = line.repeat(1024);
            for _ in 0..lines / 1024 {
                socket.get_mut().write_all(&chunk).await.unwrap();
            }
            socket.get_mut().write_all(b"END\r\n").await.unwrap();
            let _ = closed_by_client(&mut socket).await;
        });
        let backend = backend(&format!("memcached://127.0.0.1:{port}"));
        let count = backend.get_keys_count().await.unwrap();
        assert_eq!(count, (lines / 1024 * 1024) as u64);
        assert_peak_bounded();
    }

    #[tokio::test]
    async fn a_listing_that_never_ends_times_out() {
        let _turn = ONE_AT_A_TIME.lock().await;
        // Each line comes well within `socket_timeout`, but the listing
        // never ends: the call must end within 60 socket timeouts (3 s).
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (dropped, mut was_dropped) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut socket = BufReader::new(socket);
            let mut request = String::new();
            socket.read_line(&mut request).await.unwrap();
            let chunk = b"key=k exp=-1 la=1 cas=1 fetch=no cls=1 size=63\n".repeat(64);
            let endless = async {
                while socket.get_mut().write_all(&chunk).await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            };
            // Ends when the client closes the connection (a write fails).
            let closed = tokio::time::timeout(Duration::from_secs(60), endless).await;
            dropped.send(closed.is_ok()).unwrap();
        });
        let backend = backend(&format!("memcached://127.0.0.1:{port}?socket_timeout=50ms"));
        // Generous for a loaded machine; without a bound the call never ends.
        let guard = Duration::from_secs(30);
        let err = tokio::time::timeout(guard, backend.get_keys_count())
            .await
            .expect("the listing must be cut off")
            .unwrap_err();
        // The listing's deadline, or on a starved machine a line's timeout.
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert!(
            was_dropped.recv().await.unwrap(),
            "its connection is dropped"
        );
        assert_peak_bounded();
    }
}

#[cfg(feature = "redis")]
mod redis {
    use super::*;
    use cashews::backend::RedisBackend;

    fn backend(url: &str) -> RedisBackend {
        let settings = Settings::from_url(url).unwrap();
        let BackendSettings::Redis(redis) = &settings.backend else {
            panic!("{url} is not a Redis URL")
        };
        RedisBackend::new(redis).unwrap()
    }

    /// The name of the next RESP command on `socket` (`None` at its end);
    /// its arguments are read and dropped.
    async fn command(socket: &mut BufReader<TcpStream>) -> Option<String> {
        let mut line = String::new();
        socket.read_line(&mut line).await.ok()?;
        let count: usize = line.trim_end().strip_prefix('*')?.parse().ok()?;
        let mut name = None;
        for _ in 0..count {
            line.clear();
            socket.read_line(&mut line).await.ok()?;
            let len: usize = line.trim_end().strip_prefix('$')?.parse().ok()?;
            let mut arg = vec![0; len + 2];
            socket.read_exact(&mut arg).await.ok()?;
            arg.truncate(len);
            name.get_or_insert(String::from_utf8_lossy(&arg).to_ascii_uppercase());
        }
        name
    }

    #[tokio::test]
    async fn a_reply_that_never_ends_times_out_and_its_connection_is_replaced() {
        let _turn = ONE_AT_A_TIME.lock().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (dropped, mut was_dropped) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            // Answers every command `+OK`, and a GET on the first
            // connection with a 1 GiB bulk string that trickles in;
            // on a later connection with `abc`.
            for connection in 0.. {
                let (socket, _) = listener.accept().await.unwrap();
                let dropped = dropped.clone();
                tokio::spawn(async move {
                    let mut socket = BufReader::new(socket);
                    while let Some(name) = command(&mut socket).await {
                        let reply: &[u8] = match name.as_str() {
                            "GET" if connection == 0 => {
                                let header = format!("${}\r\n", 1 << 30);
                                socket.get_mut().write_all(header.as_bytes()).await.unwrap();
                                let trickle = async {
                                    loop {
                                        if socket.get_mut().write_all(&[b'x'; 4096]).await.is_err()
                                        {
                                            return;
                                        }
                                        tokio::time::sleep(Duration::from_millis(10)).await;
                                    }
                                };
                                let closed = tokio::time::timeout(DROPPED_WITHIN, trickle).await;
                                dropped.send(closed.is_ok()).unwrap();
                                return;
                            }
                            "GET" => b"$3\r\nabc\r\n",
                            _ => b"+OK\r\n",
                        };
                        if socket.get_mut().write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let backend = backend(&format!("redis://127.0.0.1:{port}/?socket_timeout=0.3"));
        let err = backend.get("k").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert!(
            was_dropped.recv().await.unwrap(),
            "the timed-out connection is closed, and nothing more is buffered"
        );
        assert_peak_bounded();
        assert_eq!(
            backend.get("k").await.unwrap(),
            Some(Bytes::from_static(b"abc")),
            "the next command, on a new connection"
        );
    }

    #[tokio::test]
    async fn a_scan_that_never_ends_times_out() {
        let _turn = ONE_AT_A_TIME.lock().await;
        // Each page comes at once, but the cursor is never 0 and every
        // page holds new keys: each pattern command must end within 60
        // socket timeouts (12 s).
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut socket = BufReader::new(socket);
                    let mut page = 0_u64;
                    while let Some(name) = command(&mut socket).await {
                        let reply = match name.as_str() {
                            "SCAN" => {
                                page += 1;
                                let key = format!("k{page}");
                                format!("*2\r\n$1\r\n1\r\n*1\r\n${}\r\n{key}\r\n", key.len())
                            }
                            "MGET" => "*1\r\n$1\r\nv\r\n".to_owned(),
                            "DEL" | "UNLINK" => ":1\r\n".to_owned(),
                            _ => "+OK\r\n".to_owned(),
                        };
                        if socket.get_mut().write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let backend = backend(&format!("redis://127.0.0.1:{port}/?socket_timeout=200ms"));
        // At once, so that the test takes one deadline, not three. The
        // guard is generous for a loaded machine; unbounded, they never end.
        let all = async {
            tokio::join!(
                backend.scan("*"),
                backend.get_match("*"),
                backend.delete_match("*"),
            )
        };
        let (scan, get_match, delete_match) = tokio::time::timeout(Duration::from_secs(60), all)
            .await
            .expect("pattern commands must be cut off");
        let outcomes = [
            ("scan", scan.map(drop)),
            ("get_match", get_match.map(drop)),
            ("delete_match", delete_match.map(drop)),
        ];
        for (name, outcome) in outcomes {
            let err = outcome.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Timeout, "{name}: {err}");
            assert!(
                err.to_string().contains("the scan did not end within 12s"),
                "{name}: {err}"
            );
        }
        assert_peak_bounded();
    }

    /// A stand-in answering every GET and MGET with `reply`, then holding
    /// the connection open without another byte.
    async fn answering(reply: Vec<u8>) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                let reply = reply.clone();
                tokio::spawn(async move {
                    let mut socket = BufReader::new(socket);
                    while let Some(name) = command(&mut socket).await {
                        let answer: &[u8] = match name.as_str() {
                            "GET" | "MGET" => &reply,
                            _ => b"+OK\r\n",
                        };
                        if socket.get_mut().write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn announced_counts_allocate_nothing_until_their_items_arrive() {
        let _turn = ONE_AT_A_TIME.lock().await;
        // Arrays announcing 2^32-1 items, nested as deep as redis-rs
        // parses, then silence: redis-rs reserves room for items as they
        // arrive, not for the count announced.
        let port = answering(b"*4294967295\r\n".repeat(100)).await;
        let backend = backend(&format!("redis://127.0.0.1:{port}/?socket_timeout=0.3"));
        let err = backend.get_many(&["a", "b"]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert_peak_bounded();
    }

    #[tokio::test]
    async fn an_mget_reply_of_another_length_is_an_error_not_values() {
        let _turn = ONE_AT_A_TIME.lock().await;
        for (reply, case) in [
            (&b"*1\r\n$1\r\nx\r\n"[..], "too few"),
            (b"*3\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n", "too many"),
        ] {
            let port = answering(reply.to_vec()).await;
            let backend = backend(&format!("redis://127.0.0.1:{port}/?socket_timeout=0.3"));
            let err = backend.get_many(&["a", "b"]).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Backend, "{case}: {err}");
            assert!(err.to_string().contains("2 keys"), "{case}: {err}");
        }
    }
}

//! One memcached server: a small pool of connections, timeouts, and the
//! fail-fast reconnect backoff.

use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{Either, select};
use parking_lot::Mutex;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};

use super::protocol::{Conn, Reply, Requests};
use crate::backend::LISTING_TIMEOUTS;
use crate::backend::backoff::Backoff;
use crate::backend::runtime_watch::RuntimeWatch;
use crate::error::{Error, ErrorKind, Result};

/// Requests in flight at once; more wait for a connection (within their timeout).
const IN_FLIGHT: usize = 64;
/// Connections kept open between requests: as many as can be in use, so
/// that steady concurrent load reuses connections instead of reopening them.
const IDLE: usize = IN_FLIGHT;

/// A memcached server and its idle connections.
#[derive(Debug)]
pub(super) struct Server {
    host: String,
    port: u16,
    /// `host:port`, for routing and messages.
    pub(super) name: String,
    idle: Mutex<Vec<Pooled>>,
    in_flight: Semaphore,
    backoff: Backoff,
    connect_timeout: Duration,
    socket_timeout: Duration,
    /// The most a reply may hold for one value (`max_value_size`).
    max_value: usize,
    /// The runtime of the latest connection opened: the connections opened
    /// on one runtime share its watch.
    watch: Mutex<Option<Arc<RuntimeWatch>>>,
}

/// A connection and the timer that bounds its exchanges.
///
/// The timer lives as long as the connection and is reset for each
/// exchange, so an exchange registers no new timer: registering one wakes
/// tokio's parked time driver (an eventfd write, a thread switch), while
/// resetting a pending timer to a later deadline only moves its deadline.
/// An idle connection's timer fires once, a spurious wake of the task that
/// last used it.
///
/// Both belong to the runtime the connection was opened on: once it shuts
/// down, `runtime` says so and the connection is dropped unused.
#[derive(Debug)]
struct Pooled {
    conn: Conn,
    timer: Pin<Box<Sleep>>,
    runtime: Arc<RuntimeWatch>,
}

/// What an exchange reads: one reply, or one for each request of a batch.
trait Replies {
    /// Whether an error reply is among them.
    fn has_error(&self) -> bool;
}

impl Replies for Reply {
    fn has_error(&self) -> bool {
        self.is_error()
    }
}

impl Replies for Vec<Reply> {
    fn has_error(&self) -> bool {
        self.iter().any(Reply::is_error)
    }
}

/// How a request for a listing was answered.
pub(super) enum Listing {
    /// This many lines of the listing.
    Items(u64),
    /// A line that is not part of a listing (`BUSY …`, `ERROR …`).
    Answer(String),
}

/// How an exchange failed, before it is told to the caller as an [`Error`].
enum Failure {
    Io(io::Error),
    Timeout,
}

impl Server {
    pub(super) fn new(
        host: &str,
        port: u16,
        connect_timeout: Duration,
        socket_timeout: Duration,
        max_value: usize,
    ) -> Self {
        Self {
            host: host.to_owned(),
            port,
            name: if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            },
            idle: Mutex::new(Vec::new()),
            in_flight: Semaphore::new(IN_FLIGHT),
            backoff: Backoff::default(),
            connect_timeout,
            socket_timeout,
            max_value,
            watch: Mutex::new(None),
        }
    }

    /// Sends the request that `write` writes and reads its reply, within
    /// `socket_timeout`.
    pub(super) async fn request(
        &self,
        command: &str,
        write: impl FnOnce(&mut Requests),
    ) -> Result<Reply> {
        self.exchange(command, write, async |conn: &mut Conn| {
            conn.read_reply().await
        })
        .await
    }

    /// Sends the requests that `write` writes, in one write, and reads one
    /// reply for each, within `socket_timeout`.
    pub(super) async fn batch(
        &self,
        command: &str,
        write: impl FnOnce(&mut Requests),
    ) -> Result<Vec<Reply>> {
        self.exchange(command, write, async |conn: &mut Conn| {
            let count = conn.requests.count();
            let mut replies = Vec::with_capacity(count);
            for _ in 0..count {
                replies.push(conn.read_reply().await?);
            }
            Ok(replies)
        })
        .await
    }

    /// Writes requests into a pooled connection's buffer, sends them and
    /// reads what `read` reads, within `socket_timeout`. Generic over what
    /// is read so that a single request's reply needs no vector.
    async fn exchange<T: Replies>(
        &self,
        command: &str,
        write: impl FnOnce(&mut Requests),
        read: impl AsyncFnOnce(&mut Conn) -> io::Result<T>,
    ) -> Result<T> {
        // A permit at once, or one within the timeout: `timeout` reads the
        // clock and sets up a timer, a cost better spent only when requests
        // have to queue. The semaphore is never closed, so waiting only
        // fails by timing out.
        let _permit = match self.in_flight.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                match tokio::time::timeout(self.socket_timeout, self.in_flight.acquire()).await {
                    Ok(Ok(permit)) => permit,
                    _ => return Err(self.error(command, Failure::Timeout)),
                }
            }
        };
        let (mut pooled, reused) = self.checkout(command).await?;
        // `None`: the timer fired first.
        let outcome = {
            let Pooled { conn, timer, .. } = &mut pooled;
            conn.requests.clear();
            write(&mut conn.requests);
            timer.as_mut().reset(Instant::now() + self.socket_timeout);
            let exchange = pin!(async {
                conn.send().await?;
                read(conn).await
            });
            // The exchange first, always: the timer belongs to the runtime
            // the connection was opened on, as its socket does. If that
            // runtime is gone, the socket fails at once, while polling the
            // timer would panic.
            match select(exchange, timer.as_mut()).await {
                Either::Left((outcome, _)) => Some(outcome),
                Either::Right(((), _)) => None,
            }
        };
        match outcome {
            Some(Ok(replies)) => {
                // After an error reply, or with bytes no request asked for,
                // the stream's state is not worth trusting.
                if !replies.has_error() && !pooled.conn.has_unread() {
                    self.checkin(pooled);
                }
                Ok(replies)
            }
            // A reply we refuse (malformed, too large, or answering another
            // request: see `protocol`) leaves the connection dropped here.
            Some(Err(e)) => {
                // A reply we refuse says nothing about the other connections.
                if reused && e.kind() != io::ErrorKind::InvalidData {
                    // One pooled connection found dead (a restarted server)
                    // means the others are too: don't let each fail a request.
                    self.idle.lock().clear();
                }
                Err(self.error(command, Failure::Io(e)))
            }
            // The connection is dropped with the exchange: its reply may
            // still arrive and would be taken for the next one's.
            None => Err(self.error(command, Failure::Timeout)),
        }
    }

    /// Sends one request answered by lines up to `END`, and counts the
    /// lines for which `is_item` holds; the first for which it does not is
    /// the answer instead (`BUSY …`, `ERROR …`).
    ///
    /// Such answers (`lru_crawler metadump`) can be long: `socket_timeout`
    /// bounds the wait for each line, [`LISTING_TIMEOUTS`] of them the
    /// whole answer, and the lines are counted, not kept.
    pub(super) async fn count_lines(
        &self,
        command: &str,
        request: &str,
        is_item: impl Fn(&[u8]) -> bool,
    ) -> Result<Listing> {
        let (mut pooled, _) = self.checkout(command).await?;
        let limit = self.socket_timeout.saturating_mul(LISTING_TIMEOUTS);
        let read = self.read_listing(command, request, &mut pooled.conn, is_item);
        match tokio::time::timeout(limit, read).await {
            Ok(Ok(Listing::Items(count))) => {
                if !pooled.conn.has_unread() {
                    self.checkin(pooled);
                }
                Ok(Listing::Items(count))
            }
            // An answer other than a listing leaves a stream not worth
            // trusting: dropped with the connection, as after an error.
            Ok(other) => other,
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "memcached {command} at {}: the listing did not end within {limit:?}",
                    self.name
                ),
            )),
        }
    }

    /// [`Server::count_lines`] on `conn`, each line within `socket_timeout`.
    async fn read_listing(
        &self,
        command: &str,
        request: &str,
        conn: &mut Conn,
        is_item: impl Fn(&[u8]) -> bool,
    ) -> Result<Listing> {
        conn.requests.clear();
        conn.requests.plain(request);
        let sent = tokio::time::timeout(self.socket_timeout, conn.send()).await;
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(self.error(command, Failure::Io(e))),
            Err(_) => return Err(self.error(command, Failure::Timeout)),
        }
        let mut count = 0;
        loop {
            let line = match tokio::time::timeout(self.socket_timeout, conn.read_line()).await {
                Ok(Ok(line)) => line,
                Ok(Err(e)) => return Err(self.error(command, Failure::Io(e))),
                Err(_) => return Err(self.error(command, Failure::Timeout)),
            };
            if line == b"END" {
                return Ok(Listing::Items(count));
            }
            if !is_item(line) {
                return Ok(Listing::Answer(String::from_utf8_lossy(line).into_owned()));
            }
            count += 1;
        }
    }

    /// An idle connection, or a new one; fails fast while backing off.
    /// Connections whose runtime has shut down are dropped on the way.
    async fn checkout(&self, command: &str) -> Result<(Pooled, bool)> {
        while let Some(pooled) = self.idle.lock().pop() {
            if pooled.runtime.runs() {
                return Ok((pooled, true));
            }
        }
        if let Err(waiting) = self.backoff.ready() {
            return Err(Error::new(
                ErrorKind::Connection,
                format!(
                    "memcached {command}: {} is unreachable ({}); next attempt in {:?}",
                    self.name, waiting.last_error, waiting.left
                ),
            ));
        }
        let connect = Conn::connect(&self.host, self.port, self.max_value);
        let outcome = match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(self.error(command, Failure::Io(e))),
            Err(_) => Err(self.error(command, Failure::Timeout)),
        };
        match outcome {
            Ok(conn) => {
                self.backoff.succeeded();
                let timer = Box::pin(tokio::time::sleep(self.socket_timeout));
                let runtime = self.runtime_watch();
                Ok((
                    Pooled {
                        conn,
                        timer,
                        runtime,
                    },
                    false,
                ))
            }
            Err(e) => {
                self.backoff.failed(&e);
                Err(e)
            }
        }
    }

    /// The watch of the caller's runtime, shared by its connections.
    fn runtime_watch(&self) -> Arc<RuntimeWatch> {
        let mut watch = self.watch.lock();
        match &*watch {
            Some(w) if w.is_current() => Arc::clone(w),
            _ => Arc::clone(watch.insert(Arc::new(RuntimeWatch::current()))),
        }
    }

    fn checkin(&self, pooled: Pooled) {
        let mut idle = self.idle.lock();
        if idle.len() < IDLE {
            idle.push(pooled);
        }
    }

    /// A reply the command does not expect (`SERVER_ERROR`, `CLIENT_ERROR`,
    /// or one of the wrong kind) as an error.
    pub(super) fn unexpected(&self, command: &str, reply: &Reply) -> Error {
        let message = match reply {
            Reply::Error(line) => format!("memcached {command} at {}: {line}", self.name),
            other => format!(
                "memcached {command} at {}: unexpected reply {other:?}",
                self.name
            ),
        };
        Error::new(ErrorKind::Backend, message)
    }

    /// The one place where failures to reach memcached become [`Error`]s.
    fn error(&self, command: &str, failure: Failure) -> Error {
        match failure {
            Failure::Timeout => Error::new(
                ErrorKind::Timeout,
                format!("memcached {command}: no answer from {}", self.name),
            ),
            Failure::Io(e) => {
                let kind = match e.kind() {
                    io::ErrorKind::TimedOut => ErrorKind::Timeout,
                    // A reply we cannot parse: the server is not speaking memcached.
                    io::ErrorKind::InvalidData => ErrorKind::Backend,
                    _ => ErrorKind::Connection,
                };
                Error::new(kind, format!("memcached {command} at {}: {e}", self.name))
                    .with_source(e)
            }
        }
    }
}

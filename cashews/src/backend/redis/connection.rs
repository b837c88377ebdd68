//! The connection under the Redis backend: one node or a cluster behind one
//! type, and a link that reconnects it.
//!
//! redis-rs's `ConnectionManager` also reconnects, but every command issued
//! while it reconnects waits for its whole retry sequence; a cache must
//! answer at once instead (a miss costs less than a stall), so [`Link`]
//! fails fast between attempts, with [`Backoff`] spacing the attempts.

use std::fmt;
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{
    MultipleNodeRoutingInfo, ResponsePolicy, RoutingInfo, SingleNodeRoutingInfo, Slot,
};
use redis::{AsyncConnectionConfig, Client, Cmd, Pipeline, RedisFuture, RedisResult, Value};

use crate::backend::backoff::Backoff;
use crate::backend::runtime_watch::RuntimeWatch;
use crate::error::{Error, ErrorKind, Result};

/// A connection to one node or to a cluster. Cheap to clone: clones share
/// the same multiplexed connection.
#[derive(Clone)]
pub(super) enum Conn {
    Node(MultiplexedConnection),
    Cluster(ClusterConnection),
}

/// A node that a command spanning the whole keyspace (`SCAN`) must visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Node {
    /// The one node of a single-node connection.
    Only,
    /// A cluster master.
    At { host: String, port: u16 },
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Node(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Node(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Node(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

impl Conn {
    /// The nodes that hold keys: the one node, or every cluster master.
    pub(super) async fn masters(&mut self) -> RedisResult<Vec<Node>> {
        let Self::Cluster(c) = self else {
            return Ok(vec![Node::Only]);
        };
        // Without a response policy, redis-rs answers a command sent to
        // every master with a map from each master's address to its reply.
        let routing =
            RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None::<ResponsePolicy>));
        let replies = c.route_command(redis::cmd("PING"), routing).await?;
        let Value::Map(replies) = replies else {
            return Err(unexpected("a map of masters", &replies));
        };
        replies
            .into_iter()
            .map(|(address, _)| {
                let address: String = redis::from_redis_value(address)?;
                let (host, port) = address
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h.to_owned(), p.parse().ok()?)))
                    .ok_or_else(|| unexpected("a host:port address", &address))?;
                Ok(Node::At { host, port })
            })
            .collect()
    }

    /// Sends `cmd` to one node.
    pub(super) async fn query_node(&mut self, node: &Node, cmd: &Cmd) -> RedisResult<Value> {
        match (self, node) {
            (Self::Cluster(c), Node::At { host, port }) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                c.route_command(cmd.clone(), routing).await
            }
            (conn, _) => conn.req_packed_command(cmd).await,
        }
    }

    /// Keys with the same shard can go in one pipeline: the hash slot on a
    /// cluster, the same for every key on one node.
    pub(super) fn shard(&self, key: &str) -> Option<Slot> {
        match self {
            Self::Node(_) => None,
            Self::Cluster(_) => Some(Slot::for_key(key)),
        }
    }
}

fn unexpected(what: &str, got: &dyn fmt::Debug) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::UnexpectedReturnType,
        "unexpected reply",
        format!("expected {what}, got {got:?}"),
    ))
}

/// How to open a [`Conn`].
pub(super) enum Target {
    Node(Client, AsyncConnectionConfig),
    Cluster(ClusterClient),
}

/// A [`Conn`] made on first use and remade after it breaks.
pub(super) struct Link {
    target: Target,
    /// Where, for error messages.
    name: String,
    connect_timeout: Duration,
    current: Mutex<Current>,
    /// One connection attempt at a time; the others wait for its outcome.
    connecting: tokio::sync::Mutex<()>,
    backoff: Backoff,
}

/// The connection in use, with a number telling it apart from its
/// predecessors, so that a late error from an old connection does not drop
/// its successor.
#[derive(Default)]
struct Current {
    generation: u64,
    /// With the runtime its driver task runs on: the connection is only
    /// handed out while that runtime runs.
    conn: Option<(Conn, RuntimeWatch)>,
}

/// A connection handed out by [`Link::get`], to give back to
/// [`Link::fail`] if its command fails.
pub(super) struct Lease {
    pub(super) conn: Conn,
    generation: u64,
}

impl Link {
    pub(super) fn new(target: Target, name: String, connect_timeout: Duration) -> Self {
        Self {
            target,
            name,
            connect_timeout,
            current: Mutex::new(Current::default()),
            connecting: tokio::sync::Mutex::new(()),
            backoff: Backoff::default(),
        }
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// The connection in use, unless its runtime has shut down (then its
    /// driver task is gone and every command on it would fail).
    fn current(&self) -> Option<Lease> {
        let mut current = self.current.lock();
        match &current.conn {
            Some((conn, watch)) if watch.runs() => Some(Lease {
                conn: conn.clone(),
                generation: current.generation,
            }),
            Some(_) => {
                current.conn = None;
                None
            }
            None => None,
        }
    }

    /// The live connection, or a new one; fails fast while backing off.
    pub(super) async fn get(&self) -> Result<Lease> {
        if let Some(lease) = self.current() {
            return Ok(lease);
        }
        // Boxed: connecting is rare, and its future (redis-rs's handshake,
        // a timeout, a lock) is large. Inline, it made the future of every
        // command 2.3 KB instead of under 300 bytes, copied on each call
        // into the box it is awaited from.
        Box::pin(self.connect()).await
    }

    /// Opens a connection, one attempt at a time.
    async fn connect(&self) -> Result<Lease> {
        let _attempt = self.connecting.lock().await;
        if let Some(lease) = self.current() {
            return Ok(lease);
        }
        if let Err(waiting) = self.backoff.ready() {
            return Err(Error::new(
                ErrorKind::Connection,
                format!(
                    "redis at {} is unreachable ({}); next attempt in {:?}",
                    self.name, waiting.last_error, waiting.left
                ),
            ));
        }
        let connect = async {
            match &self.target {
                Target::Node(client, config) => client
                    .get_multiplexed_async_connection_with_config(config)
                    .await
                    .map(Conn::Node),
                Target::Cluster(client) => client.get_async_connection().await.map(Conn::Cluster),
            }
        };
        let outcome = match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(super::error("connect", e)),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("connect: no connection after {:?}", self.connect_timeout),
            )),
        };
        match outcome {
            Ok(conn) => {
                self.backoff.succeeded();
                let watch = RuntimeWatch::current();
                let mut current = self.current.lock();
                current.generation += 1;
                current.conn = Some((conn.clone(), watch));
                Ok(Lease {
                    conn,
                    generation: current.generation,
                })
            }
            Err(e) => {
                self.backoff.failed(&e);
                Err(e)
            }
        }
    }

    /// The error a command failed with, dropping the connection if the
    /// error means it is gone (the next command reconnects).
    ///
    /// A timeout drops it too: redis-rs goes on reading the late reply into
    /// the connection's buffer, however long the server makes it, until
    /// every handle on the connection is dropped (that aborts its task).
    pub(super) fn fail(&self, lease: &Lease, command: &str, e: redis::RedisError) -> Error {
        if e.is_unrecoverable_error() || e.is_timeout() {
            let mut current = self.current.lock();
            if current.generation == lease.generation {
                current.conn = None;
            }
        }
        super::error(command, e)
    }
}

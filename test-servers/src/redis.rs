//! `redis-server`: one node, or a cluster of three masters.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufStream};

use crate::process::{Process, STEP};
use crate::{PORT_ATTEMPTS, READY_WITHIN, StartError, free_port};

/// A `redis-server` on a loopback port and its own unix socket, with
/// persistence off.
pub struct RedisServer {
    /// The TCP port it listens on (`127.0.0.1` only).
    pub port: u16,
    process: Process,
}

impl RedisServer {
    /// Starts a server, or says why it could not.
    pub async fn try_start() -> Result<Self, StartError> {
        Self::try_start_with(&[]).await
    }

    /// Starts a server; panics with the reason if it cannot.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts a server with extra `redis-server` options
    /// (`--cluster-enabled yes`, `--requirepass …`); panics with the reason
    /// if it cannot.
    pub async fn start_with(extra: &[&str]) -> Self {
        Self::try_start_with(extra)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    async fn try_start_with(extra: &[&str]) -> Result<Self, StartError> {
        let cluster = extra.contains(&"--cluster-enabled");
        let mut last_error = StartError::new("redis-server was not started");
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port(cluster)
                .map_err(|e| StartError::new(format!("a free port for redis-server: {e}")))?;
            let mut args: Vec<String> = [
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                // Relative to its working directory, its own temporary one.
                "--unixsocket",
                SOCKET,
                "--unixsocketperm",
                "700",
            ]
            .map(str::to_owned)
            .into();
            args.extend(extra.iter().map(|s| (*s).to_owned()));
            let mut server = Self {
                port,
                process: Process::spawn("redis-server", args)?,
            };
            match server.wait_ready().await {
                Ok(()) => return Ok(server),
                // Someone took the port between our check and the server's bind.
                Err(e) if e.to_string().contains("Address already in use") => last_error = e,
                Err(e) => return Err(e),
            }
        }
        Err(last_error)
    }

    async fn wait_ready(&mut self) -> Result<(), StartError> {
        // Asked on its own unix socket, not its port: another process's
        // server that took the port first would answer there, while ours
        // exits. Redis opens the socket after the port (and a cluster
        // node's bus port) and answers only once all are open.
        let socket = self.socket();
        let socket = &socket;
        self.process
            .wait_ready(|| async move {
                // A server with a password answers, if only to refuse.
                ping_unix(socket)
                    .await
                    .is_some_and(|l| l.starts_with("+PONG") || l.starts_with("-NOAUTH"))
            })
            .await
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The unix socket it also listens on.
    pub fn socket(&self) -> PathBuf {
        self.process.dir().join(SOCKET)
    }

    /// A plain redis-rs connection, to look at or tamper with the server
    /// behind a client's back.
    pub async fn raw(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("a raw connection to the test server")
    }

    crate::lifecycle!("redis-server");

    /// Moves the server's clock `d` forward for every key it holds: each
    /// TTL is lowered by `d`, and keys whose TTL runs out are deleted.
    /// (A client's own timeouts rule out a paused tokio clock against a
    /// real server.)
    pub async fn advance(&self, d: Duration) {
        let mut conn = self.raw().await;
        let d = i64::try_from(d.as_millis()).unwrap();
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .unwrap();
            for key in keys {
                let ttl: i64 = redis::cmd("PTTL")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                if ttl < 0 {
                    continue;
                }
                let left = ttl - d;
                let mut command = if left <= 0 {
                    redis::cmd("DEL")
                } else {
                    redis::cmd("PEXPIRE")
                };
                command.arg(&key);
                if left > 0 {
                    command.arg(left);
                }
                let _: i64 = command.query_async(&mut conn).await.unwrap();
            }
            if next == 0 {
                return;
            }
            cursor = next;
        }
    }
}

/// The server's unix socket, in its working directory.
const SOCKET: &str = "redis.sock";

/// Sends `PING` over a unix socket and reads the first line back.
async fn ping_unix(path: &std::path::Path) -> Option<String> {
    let stream = tokio::net::UnixStream::connect(path).await.ok()?;
    let mut stream = BufStream::new(stream);
    stream.write_all(b"PING\r\n").await.ok()?;
    stream.flush().await.ok()?;
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(1), stream.read_line(&mut line))
        .await
        .ok()?
        .ok()?;
    Some(line)
}

/// A Redis Cluster of three masters (no replicas) on loopback.
pub struct RedisCluster {
    /// The masters, in slot order: the first holds slots 0..=5460.
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three nodes and joins them; panics with the reason if the
    /// cluster does not reach `cluster_state:ok` within [`READY_WITHIN`].
    pub async fn start() -> Self {
        let node = || {
            RedisServer::start_with(&[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "5000",
            ])
        };
        let nodes = futures_util::future::join_all([node(), node(), node()]).await;
        // What `redis-cli --cluster create … --cluster-replicas 0` does
        // without its pauses: each master gets a third of the slots and a
        // distinct config epoch, and every node meets every other.
        let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
        for (i, (node, (first, last))) in nodes.iter().zip(ranges).enumerate() {
            let mut conn = node.raw().await;
            let _: () = redis::cmd("CLUSTER")
                .arg("ADDSLOTSRANGE")
                .arg(first)
                .arg(last)
                .query_async(&mut conn)
                .await
                .unwrap();
            let _: () = redis::cmd("CLUSTER")
                .arg("SET-CONFIG-EPOCH")
                .arg(i + 1)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
        for node in &nodes {
            let mut conn = node.raw().await;
            for other in nodes.iter().filter(|o| o.port != node.port) {
                let _: () = redis::cmd("CLUSTER")
                    .arg("MEET")
                    .arg("127.0.0.1")
                    .arg(other.port)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
            }
        }
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            let mut ready = true;
            for node in &nodes {
                // A probe that times out (many clusters starting at once on
                // a small machine) is a node not ready yet: asked again.
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async(&mut node.raw().await)
                    .await
                    .unwrap_or_default();
                ready &=
                    info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3");
            }
            if ready {
                return Self { nodes };
            }
            tokio::time::sleep(STEP).await;
        }
        panic!(
            "the cluster did not reach cluster_state:ok within {READY_WITHIN:?}:\n{}",
            nodes[0].process.log()
        );
    }

    /// A `redis://` URL naming every node as a seed, with `cluster=1`.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis://{}/?cluster=1", seeds.join(","))
    }

    /// [`RedisServer::advance`] on every master.
    pub async fn advance(&self, d: Duration) {
        for node in &self.nodes {
            node.advance(d).await;
        }
    }
}

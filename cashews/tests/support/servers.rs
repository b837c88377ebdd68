//! Real servers for the backend suites: `redis-server` (one node or a
//! three-master cluster) and `memcached`, each started on a free loopback
//! port in its own temporary directory and killed when dropped (also when
//! the test panics).
//!
//! A server that cannot start fails the test with the reason (its log):
//! these suites never skip. Each server can also move its clock for the
//! keys it holds (`advance`), since tests against a real server cannot use
//! tokio's paused time: the client's own timeouts would fire.

use std::fs::File;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

/// How many times a check for a server waits `STEP` (10 s in all).
const TRIES: u32 = 1000;
const STEP: Duration = Duration::from_millis(10);

/// A port nobody listens on right now (nor, for a cluster node, on its bus
/// port `port + 10000`). Another process may take it before the server
/// does: starting retries with a new port then.
pub fn free_port(with_bus: bool) -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        if !with_bus {
            return port;
        }
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// A server process, killed on drop.
struct Process {
    program: &'static str,
    args: Vec<String>,
    child: Option<Child>,
    dir: TempDir,
}

impl Process {
    fn spawn(program: &'static str, args: Vec<String>, dir: TempDir) -> Self {
        let mut process = Self {
            program,
            args,
            child: None,
            dir,
        };
        process.respawn();
        process
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn respawn(&mut self) {
        let log = File::create(self.log_path()).expect("create the server log");
        let child = Command::new(self.program)
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e} (scripts/test installs redis-server, redis-tools and memcached)",
                    self.program
                )
            });
        self.child = Some(child);
    }

    /// The log so far, for failure messages.
    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Whether the process ended (it failed to start, or was killed).
    fn exited(&mut self) -> bool {
        match &mut self.child {
            Some(child) => child.try_wait().expect("poll the server").is_some(),
            None => true,
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().expect("running").id() as i32)
    }

    fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("signal the server");
    }

    /// Stops the process (SIGSTOP) and waits until every thread of it is
    /// stopped: the signal is delivered asynchronously, and a thread that
    /// is running when it is sent may still answer a request.
    async fn stop(&self) {
        self.signal(Signal::SIGSTOP);
        let tasks = PathBuf::from(format!("/proc/{}/task", self.pid()));
        for _ in 0..TRIES {
            let stopped = std::fs::read_dir(&tasks)
                .expect("the server's threads")
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("stat")).ok())
                // The state follows the parenthesised command name.
                .all(|stat| {
                    stat.rsplit_once(") ")
                        .is_some_and(|(_, rest)| rest.starts_with('T'))
                });
            if stopped {
                return;
            }
            tokio::time::sleep(STEP).await;
        }
        panic!("the server did not stop within 10 s of SIGSTOP");
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL also ends a stopped process.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `ready` succeeds, checking the process did not exit.
async fn wait_ready<F, Fut>(process: &mut Process, what: &str, mut ready: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..TRIES {
        if process.exited() {
            return Err(format!("{what} exited while starting:\n{}", process.log()));
        }
        if ready().await {
            return Ok(());
        }
        tokio::time::sleep(STEP).await;
    }
    Err(format!(
        "{what} did not answer within 10 s:\n{}",
        process.log()
    ))
}

/// Sends one request on a fresh connection and reads the first line back.
async fn ask(port: u16, request: &str) -> Option<String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    first_line(BufStream::new(stream), request).await
}

/// [`ask`] over a unix socket.
async fn ask_unix(path: &std::path::Path, request: &str) -> Option<String> {
    let stream = tokio::net::UnixStream::connect(path).await.ok()?;
    first_line(BufStream::new(stream), request).await
}

async fn first_line<S>(mut stream: BufStream<S>, request: &str) -> Option<String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    stream.write_all(request.as_bytes()).await.ok()?;
    stream.flush().await.ok()?;
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(1), stream.read_line(&mut line))
        .await
        .ok()?
        .ok()?;
    Some(line)
}

#[cfg(feature = "redis")]
/// A `redis-server` on a loopback port, no persistence.
pub struct RedisServer {
    pub port: u16,
    process: Process,
}

#[cfg(feature = "redis")]
impl RedisServer {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts with extra `redis-server` options (`--cluster-enabled yes`, …).
    pub async fn start_with(extra: &[&str]) -> Self {
        let cluster = extra.contains(&"--cluster-enabled");
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port(cluster);
            let dir = tempfile::Builder::new()
                .prefix("cashews-redis-")
                .tempdir()
                .expect("a temporary directory");
            let mut args: Vec<String> = [
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--unixsocket",
                &dir.path().join("redis.sock").to_string_lossy(),
                "--unixsocketperm",
                "700",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            args.extend(extra.iter().map(|s| s.to_string()));
            let mut server = Self {
                port,
                process: Process::spawn("redis-server", args, dir),
            };
            match server.wait_ready().await {
                Ok(()) => return server,
                // Someone took the port between our check and the server's bind.
                Err(e) if e.contains("Address already in use") => last_error = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("redis-server could not find a free port: {last_error}");
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        // Asked on its own unix socket, not its port: another test's server
        // that took the port first would answer there, while ours exits.
        // Redis opens the socket after the port (and a cluster node's bus
        // port) and answers only once all are open.
        let socket = self.process.dir.path().join("redis.sock");
        let socket = &socket;
        wait_ready(&mut self.process, "redis-server", || async move {
            // A server with a password answers, if only to refuse.
            ask_unix(socket, "PING\r\n")
                .await
                .is_some_and(|l| l.starts_with("+PONG") || l.starts_with("-NOAUTH"))
        })
        .await
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The unix socket it also listens on.
    pub fn socket(&self) -> PathBuf {
        self.process.dir.path().join("redis.sock")
    }

    /// A plain redis-rs connection, to look at or tamper with the server
    /// behind the backend's back.
    pub async fn raw(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("a raw connection to the test server")
    }

    /// Kills the server at once (SIGKILL: no goodbye to clients).
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts the server again on the same port, empty.
    pub async fn restart(&mut self) {
        self.process.kill();
        self.process.respawn();
        if let Err(e) = self.wait_ready().await {
            panic!("restarting on port {}: {e}", self.port);
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub async fn pause(&self) {
        self.process.stop().await;
    }

    pub fn resume(&self) {
        self.process.signal(Signal::SIGCONT);
    }

    /// Moves the server's clock `d` forward for every key it holds: each
    /// TTL is lowered by `d`, and keys whose TTL runs out are deleted.
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

#[cfg(feature = "redis")]
/// A Redis Cluster of three masters (no replicas) on loopback.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

#[cfg(feature = "redis")]
impl RedisCluster {
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
        // What `redis-cli --cluster create … --cluster-replicas 0` does, minus
        // the full second it sleeps between steps: give each master a third
        // of the slots and a distinct config epoch, and introduce them.
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
        // Every node meets every other: faster than waiting for gossip.
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
        for _ in 0..TRIES {
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
            "the cluster did not reach cluster_state:ok within 10 s:\n{}",
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

/// A `memcached` on a loopback port.
pub struct MemcachedServer {
    pub port: u16,
    process: Process,
}

impl MemcachedServer {
    pub async fn start() -> Self {
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port(false);
            let dir = tempfile::Builder::new()
                .prefix("cashews-memcached-")
                .tempdir()
                .expect("a temporary directory");
            let mut args: Vec<String> = [
                "-l",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "0",
                "-t",
                "2",
                "-m",
                "64",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            // memcached refuses to run as root unless told which user to be.
            if nix::unistd::geteuid().is_root() {
                args.extend(["-u".to_owned(), "root".to_owned()]);
            }
            let mut server = Self {
                port,
                process: Process::spawn("memcached", args, dir),
            };
            match server.wait_ready().await {
                Ok(()) => return server,
                Err(e) if e.contains("Address already in use") => last_error = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("memcached could not find a free port: {last_error}");
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let port = self.port;
        // The answer must come from our process: another test's server that
        // took the port first would answer there too, while ours exits.
        let ours = format!("STAT pid {}", self.process.pid());
        let ours = &ours;
        wait_ready(&mut self.process, "memcached", || async move {
            ask(port, "stats\r\n")
                .await
                .is_some_and(|l| l.trim_end() == ours)
        })
        .await
    }

    pub fn url(&self) -> String {
        format!("memcached://127.0.0.1:{}", self.port)
    }

    pub fn kill(&mut self) {
        self.process.kill();
    }

    pub async fn restart(&mut self) {
        self.process.kill();
        self.process.respawn();
        if let Err(e) = self.wait_ready().await {
            panic!("restarting on port {}: {e}", self.port);
        }
    }

    pub async fn pause(&self) {
        self.process.stop().await;
    }

    pub fn resume(&self) {
        self.process.signal(Signal::SIGCONT);
    }

    /// A raw meta-protocol connection.
    pub async fn raw(&self) -> RawMemcached {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        RawMemcached(BufStream::new(stream))
    }

    /// Moves the server's clock `d` (rounded up to whole seconds) forward
    /// for every item: memcached's clock cannot be moved, so each item's
    /// TTL is lowered instead, and items whose TTL runs out are deleted.
    ///
    /// The backend stores a TTL of `n` seconds as `n + 1` (memcached's
    /// clock ticks whole seconds), so an item is gone once its remaining
    /// count is down to 1.
    pub async fn advance(&self, d: Duration) {
        let seconds = i64::try_from(d.as_secs() + u64::from(d.subsec_nanos() > 0)).unwrap();
        let mut raw = self.raw().await;
        for key in raw.keys().await {
            let reply = raw.command(&format!("mg {key} t\r\n")).await;
            let Some(ttl) = reply.strip_prefix("HD t") else {
                continue;
            };
            let ttl: i64 = ttl.parse().unwrap();
            if ttl < 0 {
                continue;
            }
            let left = ttl - seconds;
            // memcached reads a TTL beyond 30 days as a Unix time.
            let ttl = if left > 30 * 24 * 3600 {
                left + i64::try_from(std::time::UNIX_EPOCH.elapsed().unwrap().as_secs()).unwrap()
            } else {
                left
            };
            let reply = if left <= 1 {
                raw.command(&format!("md {key}\r\n")).await
            } else {
                raw.command(&format!("mg {key} T{ttl}\r\n")).await
            };
            assert!(matches!(reply.as_str(), "HD" | "NF" | "EN"), "{reply}");
        }
    }
}

/// A plain connection to memcached, for tests to look behind the backend.
pub struct RawMemcached(BufStream<TcpStream>);

impl RawMemcached {
    async fn line(&mut self) -> String {
        let mut line = String::new();
        self.0.read_line(&mut line).await.unwrap();
        // Replies end with `\r\n`, but metadump lines with `\n`.
        line.trim_end_matches('\n')
            .trim_end_matches('\r')
            .to_owned()
    }

    /// Sends `request` (with its `\r\n`) and returns the first reply line.
    pub async fn command(&mut self, request: &str) -> String {
        self.0.write_all(request.as_bytes()).await.unwrap();
        self.0.flush().await.unwrap();
        self.line().await
    }

    /// The value of `key` as stored, if any.
    pub async fn get(&mut self, key: &str) -> Option<Vec<u8>> {
        let header = self.command(&format!("mg {key} v\r\n")).await;
        let len: usize = header
            .strip_prefix("VA ")?
            .split(' ')
            .next()?
            .parse()
            .ok()?;
        let mut value = vec![0; len + 2];
        self.0.read_exact(&mut value).await.unwrap();
        value.truncate(len);
        Some(value)
    }

    /// Every live key (as memcached stores it), from the LRU crawler.
    pub async fn keys(&mut self) -> Vec<String> {
        for _ in 0..TRIES {
            let mut first = self.command("lru_crawler metadump hash\r\n").await;
            if first.starts_with("BUSY") {
                // The periodic crawl holds the crawler for a moment.
                tokio::time::sleep(STEP).await;
                continue;
            }
            let mut keys = Vec::new();
            while first != "END" {
                let encoded = first
                    .strip_prefix("key=")
                    .and_then(|rest| rest.split(' ').next())
                    .unwrap_or_else(|| panic!("metadump line {first:?}"));
                let key = percent_encoding::percent_decode_str(encoded)
                    .decode_utf8()
                    .unwrap()
                    .into_owned();
                keys.push(key);
                first = self.line().await;
            }
            return keys;
        }
        panic!("memcached's LRU crawler stayed busy for 10 s");
    }
}

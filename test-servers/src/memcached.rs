//! `memcached`, and a raw meta-protocol connection to it.

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

use crate::process::{Process, STEP};
use crate::{PORT_ATTEMPTS, READY_WITHIN, StartError, free_port};

/// A `memcached` on a loopback port, TCP only, two threads, 64 MB.
pub struct MemcachedServer {
    /// The TCP port it listens on (`127.0.0.1` only).
    pub port: u16,
    process: Process,
}

impl MemcachedServer {
    /// Starts a server, or says why it could not.
    pub async fn try_start() -> Result<Self, StartError> {
        let mut last_error = StartError::new("memcached was not started");
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port(false)
                .map_err(|e| StartError::new(format!("a free port for memcached: {e}")))?;
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
            .map(str::to_owned)
            .into();
            // memcached refuses to run as root unless told which user to be.
            if nix::unistd::geteuid().is_root() {
                args.extend(["-u".to_owned(), "root".to_owned()]);
            }
            let mut server = Self {
                port,
                process: Process::spawn("memcached", args)?,
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

    /// Starts a server; panics with the reason if it cannot.
    pub async fn start() -> Self {
        Self::try_start().await.unwrap_or_else(|e| panic!("{e}"))
    }

    async fn wait_ready(&mut self) -> Result<(), StartError> {
        let port = self.port;
        // The answer must come from our process: another process's server
        // that took the port first would answer there too, while ours exits.
        let ours = match self.process.pid() {
            Some(pid) => format!("STAT pid {pid}"),
            None => String::new(),
        };
        let ours = &ours;
        self.process
            .wait_ready(|| async move {
                first_stats_line(port)
                    .await
                    .is_some_and(|l| l.trim_end() == ours)
            })
            .await
    }

    /// `memcached://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("memcached://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT`, for clients that take an address.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    crate::lifecycle!("memcached");

    /// A raw meta-protocol connection.
    pub async fn raw(&self) -> RawMemcached {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        RawMemcached(BufStream::new(stream))
    }

    /// Moves the server's clock `d` (rounded up to whole seconds) forward
    /// for every item: memcached's clock cannot be moved, so each item's
    /// TTL is lowered instead, and items whose TTL runs out are deleted.
    ///
    /// The cashews backend stores a TTL of `n` seconds as `n + 1`
    /// (memcached's clock ticks whole seconds), so an item is gone once its
    /// remaining count is down to 1.
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

/// Sends `stats` on a fresh connection and reads the first line back (the
/// server's pid).
async fn first_stats_line(port: u16) -> Option<String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let mut stream = BufStream::new(stream);
    stream.write_all(b"stats\r\n").await.ok()?;
    stream.flush().await.ok()?;
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(1), stream.read_line(&mut line))
        .await
        .ok()?
        .ok()?;
    Some(line)
}

/// A plain connection to memcached, for tests to look behind a client.
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
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
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
        panic!("memcached's LRU crawler stayed busy for {READY_WITHIN:?}");
    }
}

//! Real `redis-server` (one node or a three-master cluster) and `memcached`
//! processes for the cashews test suites and benchmark harness.
//!
//! Each server runs on a free loopback port (never a default one, so a
//! server of the machine is never touched), in a temporary directory that
//! holds its log, and is
//!
//! - **pid-checked**: it counts as ready only once the answer to its probe
//!   comes from the process we started, and only that process is ever
//!   signalled;
//! - **killed on drop**, also when the caller panics, and killed by the
//!   kernel when the process that started it dies, even by `SIGKILL`
//!   (`setpriv --pdeathsig`, from util-linux);
//! - **bounded**: readiness is awaited for at most [`READY_WITHIN`] of
//!   real time, under tokio's paused clock too.
//!
//! `try_start` says why a server could not start (the binary is missing,
//! its log's last lines); `start` panics with that reason, for tests.
//!
//! ```no_run
//! # async fn demo() {
//! let server = cashews_test_servers::RedisServer::start().await;
//! assert!(server.url().starts_with("redis://127.0.0.1:"));
//! # }
//! ```
//!
//! Linux only: pausing a server reads `/proc`.

/// The kill, restart, pause and resume methods of a server type with a
/// `process`, a `port` and an async `wait_ready`; `$name` names it in panics.
macro_rules! lifecycle {
    ($name:literal) => {
        /// Kills the server at once (SIGKILL: no goodbye to clients).
        pub fn kill(&mut self) {
            self.process.kill();
        }

        /// Kills the server and starts it again on the same port, empty;
        /// panics if it does not come back.
        pub async fn restart(&mut self) {
            self.process.kill();
            let started = match self.process.respawn() {
                Ok(()) => self.wait_ready().await,
                Err(e) => Err(e),
            };
            if let Err(e) = started {
                panic!("restarting {} on port {}: {e}", $name, self.port);
            }
        }

        /// Freezes the server (SIGSTOP): connections stay open, nothing
        /// answers until `resume`.
        pub async fn pause(&self) {
            self.process.stop().await;
        }

        /// Lets a paused server run again (SIGCONT).
        pub fn resume(&self) {
            self.process.signal(nix::sys::signal::Signal::SIGCONT);
        }
    };
}
use lifecycle;

mod memcached;
mod process;
mod redis;

use std::fmt;
use std::net::TcpListener;
use std::time::Duration;

pub use memcached::{MemcachedServer, RawMemcached};
pub use redis::{RedisCluster, RedisServer};

/// How long a server gets to answer its first probe, a cluster to reach
/// `cluster_state:ok`, or a paused server to stop every thread.
pub const READY_WITHIN: Duration = Duration::from_secs(10);

/// Why a server could not start.
#[derive(Debug)]
pub struct StartError {
    message: String,
}

impl StartError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StartError {}

/// A loopback port nobody listens on right now (with `with_bus`, nor on
/// its cluster bus port `port + 10000`). Another process may take it
/// before a server binds it: the servers' `try_start` then retries with a
/// new port.
pub fn free_port(with_bus: bool) -> std::io::Result<u16> {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if !with_bus {
            return Ok(port);
        }
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return Ok(port);
        }
    }
}

/// How many times a server is started on a fresh port when the one chosen
/// was taken before the server could bind it.
const PORT_ATTEMPTS: usize = 5;

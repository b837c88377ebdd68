//! A server lives exactly as long as its owner: until dropped, or until
//! the process that started it dies, even by SIGKILL.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cashews_test_servers::{MemcachedServer, READY_WITHIN, RedisServer};

/// Whether something accepts connections on the loopback `port`.
fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Waits, for at most [`READY_WITHIN`], until nothing listens on `port`.
fn closes(port: u16) -> bool {
    let deadline = Instant::now() + READY_WITHIN;
    while Instant::now() < deadline {
        if !listening(port) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[tokio::test]
async fn a_dropped_server_is_gone() {
    let redis = RedisServer::start().await;
    let memcached = MemcachedServer::start().await;
    let ports = [redis.port, memcached.port];
    assert!(ports.iter().all(|&port| listening(port)));
    drop((redis, memcached));
    // Drop reaps the process: its ports are closed when it returns.
    assert!(ports.iter().all(|&port| !listening(port)));
}

#[tokio::test]
async fn a_killed_server_restarts_on_its_port() {
    let mut server = MemcachedServer::start().await;
    server.kill();
    assert!(!listening(server.port));
    server.restart().await;
    assert!(listening(server.port));
}

#[test]
fn servers_die_with_the_process_that_started_them() {
    let mut holder = Command::new(env!("CARGO_BIN_EXE_hold_servers"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start hold_servers");
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    let mut ports = Vec::new();
    for name in ["redis", "memcached"] {
        let line = lines.next().expect("a port line").expect("a port line");
        let port = line
            .strip_prefix(name)
            .and_then(|port| port.trim().parse::<u16>().ok())
            .unwrap_or_else(|| panic!("{name}'s port in {line:?}"));
        assert!(listening(port), "{name} listens on {port}");
        ports.push(port);
    }
    // SIGKILL: no destructor runs in the holder.
    holder.kill().unwrap();
    holder.wait().unwrap();
    for port in ports {
        assert!(closes(port), "a server still listens on {port}");
    }
}

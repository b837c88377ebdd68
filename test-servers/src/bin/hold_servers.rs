//! Starts a `redis-server` and a `memcached`, prints `redis PORT` and
//! `memcached PORT`, and holds them until its standard input closes. The
//! crate's parent-death test kills this process and checks that its
//! servers end with it.

use std::io::{BufRead, Write};

use cashews_test_servers::{MemcachedServer, RedisServer};

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (redis, memcached) =
        rt.block_on(async { (RedisServer::start().await, MemcachedServer::start().await) });
    let mut out = std::io::stdout().lock();
    writeln!(out, "redis {}\nmemcached {}", redis.port, memcached.port).expect("print the ports");
    out.flush().expect("print the ports");
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
}

//! The memcached client against a hostile server: a stand-in on loopback
//! answers every request with the fuzz input and hangs up. Whatever it
//! sends, each command ends (the socket timeout bounds it) in a value, a
//! miss or an error, never a panic or an allocation the reply asked for.
#![no_main]

use std::net::SocketAddr;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
});

/// What the stand-in answers: the current input.
static REPLY: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Stand-ins on 64 loopback addresses, taken in turn: each connection
/// leaves a socket in TIME_WAIT for a minute, and one address would run
/// out of ports within a minute of fuzzing.
static SERVERS: LazyLock<Vec<SocketAddr>> = LazyLock::new(|| {
    RUNTIME.block_on(async {
        let mut addresses = Vec::new();
        for host in 1..=64 {
            let listener = TcpListener::bind(("127.0.0.".to_owned() + &host.to_string(), 0))
                .await
                .expect("a loopback port");
            addresses.push(listener.local_addr().expect("an address"));
            tokio::spawn(serve(listener));
        }
        addresses
    })
});

/// Answers every connection with [`REPLY`]: reads the request, answers, closes.
async fn serve(listener: TcpListener) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let mut request = [0; 4096];
            let _ = socket.read(&mut request).await;
            let reply = REPLY.lock().map(|r| r.clone()).unwrap_or_default();
            let _ = socket.write_all(&reply).await;
            let _ = socket.shutdown().await;
        });
    }
}

static TURN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fuzz_target!(|input: &[u8]| {
    let Some((&command, reply)) = input.split_first() else {
        return;
    };
    let turn = TURN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let server = SERVERS[turn % SERVERS.len()];
    if let Ok(mut current) = REPLY.lock() {
        *current = reply.to_vec();
    }
    RUNTIME.block_on(async {
        let url =
            format!("memcached://{server}?safe=0&socket_timeout=0.2&create_connection_timeout=0.2");
        let cache = cashews::Cache::from_url(&url).expect("a valid URL");
        let run = async {
            match command % 10 {
                0 => drop(cache.get::<String>("k").await),
                1 => drop(cache.get_many::<i64>(&["k", "l", "m"]).await),
                2 => drop(cache.set("k", &"v", 60).await),
                3 => drop(cache.set_if("k", &1, 60, cashews::Exist::Absent).await),
                4 => drop(cache.incr("k", 1, Some(Duration::from_secs(60))).await),
                5 => drop(cache.get_expire("k").await),
                6 => drop(cache.exists("k").await),
                7 => drop(cache.delete_many(&["k", "l"]).await),
                8 => drop(cache.ping(None).await),
                _ => drop(cache.unlock("k", "owner").await),
            }
        };
        let finished = tokio::time::timeout(Duration::from_secs(5), run).await;
        assert!(finished.is_ok(), "a command outlived its socket timeout");
    });
});

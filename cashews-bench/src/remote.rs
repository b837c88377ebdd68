//! Hits on a real server: a `#[cashews::cache]` function on `redis://` and
//! `memcached://` against the raw client reading the same key, on the same
//! local server, started by the harness (see `servers.rs`).
//!
//! Two figures per peer: single-task latency (ns per call, calls one after
//! the other) and the throughput of 64 tasks calling at once (ops/s, on the
//! multi-thread runtime that `main` runs these rows on, both cores). What
//! the targets check is what cashews adds to a round trip: the key, the
//! strategy around the command, the backend layer, decoding the value.
//! `Cache::get_cloned` (the command without the decorator) is measured too,
//! to tell which part a gap comes from.
//!
//! Fairness: both peers read the one entry that the decorated function
//! stored (the same key and the same bytes: a 100-byte `String` as cashews
//! encodes it); both are warmed up; both use the connection arrangement
//! cashews uses: for Redis one multiplexed connection shared by every task,
//! for memcached the same `mg <key> v` command (cashews adds an opaque
//! token, `O<n>`, that it checks on the reply) on a connection per request
//! in flight (cashews keeps a pool; the raw client gets one per task). The
//! peers take turns, one repetition each, so that load from elsewhere on
//! the machine falls on all of them alike rather than on whichever ran
//! while it lasted.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use async_memcached::MetaProtocol;
use cashews::Cache;

use crate::measure::{Effort, median, ns_per_op};
use crate::memory::value;
use crate::report::Report;

/// Tasks of the throughput figures.
const TASKS: usize = 64;
/// The one key every peer reads: the decorated function's key for id 42.
const KEY: &str = "user:42";

/// The decorated function of these rows; the cache is an argument so that
/// one function serves both servers.
#[cashews::cache(ttl = "10m", key = "user:{id}", cache = cache)]
async fn user(cache: &Cache, id: u64) -> String {
    black_box(id);
    value()
}

/// One call of a latency figure. Boxed so that peers of different types
/// can take turns; the box costs tens of ns against a round trip of tens
/// of µs, the same for every peer.
type Call<'a> = Box<dyn FnMut() -> Pin<Box<dyn Future<Output = ()> + 'a>> + 'a>;

/// One task of a throughput figure, made by `task(index, deadline)`: it
/// calls until the deadline and returns how many calls it made.
type Task = Box<dyn Fn(usize, Instant) -> Pin<Box<dyn Future<Output = u64> + Send>>>;

/// A round trip costs about a hundred in-memory hits: fewer calls per
/// repetition keep these rows to seconds, not minutes. And shorter turns,
/// six times as many: this VM's speed drifts over seconds, and the
/// shorter each peer's turn, the more alike the spells the peers get (the
/// ratios of 0.4 s turns moved by ±0.1 from run to run, of 0.13 s turns by
/// about half that). With 21 turns a peer, the 64-task Redis ratio still
/// ranged from 0.88 to 1.11 over eight runs, while 100 turns a peer (13 s)
/// kept it within 0.92 to 0.96: the 42 turns here are a middle way.
fn round_trips(effort: Effort) -> Effort {
    Effort {
        iters: (effort.iters / 90).max(20),
        reps: effort.reps * 6,
        window: effort.window / 3,
    }
}

/// Median ns per call of each peer, the peers taking turns.
async fn latencies(effort: Effort, mut peers: Vec<Call<'_>>) -> Vec<f64> {
    // Each turn warms its peer up again (`ns_per_op` does), after the
    // others had the connection, the caches and the branch predictors.
    let turn = Effort { reps: 1, ..effort };
    let mut runs = vec![Vec::with_capacity(effort.reps); peers.len()];
    for _ in 0..effort.reps {
        for (call, runs) in peers.iter_mut().zip(&mut runs) {
            runs.push(ns_per_op(turn, |_| call()).await);
        }
    }
    runs.into_iter().map(median).collect()
}

/// Median ops per second of `TASKS` tasks of each peer, the peers taking
/// turns. One window each first, not counted, opens connections and fills
/// pools.
async fn throughputs(effort: Effort, peers: Vec<Task>) -> Vec<f64> {
    for task in &peers {
        window(effort, task).await;
    }
    let mut runs = vec![Vec::with_capacity(effort.reps); peers.len()];
    for _ in 0..effort.reps {
        for (task, runs) in peers.iter().zip(&mut runs) {
            runs.push(window(effort, task).await);
        }
    }
    runs.into_iter().map(median).collect()
}

/// Calls per second of `TASKS` spawned tasks over one window.
async fn window(effort: Effort, task: &Task) -> f64 {
    let start = Instant::now();
    let deadline = start + effort.window;
    let handles: Vec<_> = (0..TASKS)
        .map(|i| tokio::spawn(task(i, deadline)))
        .collect();
    let mut calls = 0;
    for handle in handles {
        calls += handle.await.expect("a throughput task panicked");
    }
    // Every call counted ended within this time, the last ones a little
    // after the deadline.
    calls as f64 / start.elapsed().as_secs_f64()
}

/// The decorated function, one call.
fn decorated(cache: &Cache) -> Call<'_> {
    Box::new(move || {
        Box::pin(async move {
            black_box(user(cache, black_box(42)).await);
        })
    })
}

/// `Cache::get_cloned`, one call.
fn get_cloned(cache: &Cache) -> Call<'_> {
    Box::new(move || {
        Box::pin(async move {
            black_box(
                cache
                    .get_cloned::<String>(black_box(KEY))
                    .await
                    .expect("get_cloned"),
            );
        })
    })
}

/// The decorated function, called by each task.
fn decorated_task(cache: &Cache) -> Task {
    let cache = cache.clone();
    Box::new(move |_, deadline| {
        let cache = cache.clone();
        Box::pin(async move {
            let mut calls = 0;
            while Instant::now() < deadline {
                black_box(user(&cache, black_box(42)).await);
                calls += 1;
            }
            calls
        })
    })
}

/// Stores the value with the decorated function (a miss) and checks that
/// the server holds it: in safe mode a failing server is only a miss, which
/// would turn every "hit" below into a call of the function.
async fn store(cache: &Cache) -> Result<(), String> {
    user(cache, 42).await;
    match cache.get_cloned::<String>(KEY).await {
        Ok(Some(v)) if v == value() => Ok(()),
        Ok(_) => Err("the decorated function's value was not stored".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// Adds the figures of one server: latencies of the decorated function,
/// `get_cloned` and the raw client, then throughputs of the decorated
/// function and the raw client.
fn add(report: &mut Report, group: &str, scheme: &str, raw: &str, ns: &[f64], ops: &[f64]) {
    let b = |name: &str| format!("{group}/{name}");
    report.add(
        &b("cashews_decorated"),
        format!("cashews #[cashews::cache] hit on {scheme}, 1 task"),
        ns[0],
        "ns/op",
    );
    report.add(
        &b("cashews_get_cloned"),
        format!("cashews Cache::get_cloned on {scheme}, 1 task"),
        ns[1],
        "ns/op",
    );
    report.add(&b("raw"), format!("{raw}, 1 task"), ns[2], "ns/op");
    report.add(
        &b(&format!("cashews_decorated_{TASKS}_tasks")),
        format!("cashews #[cashews::cache] hit on {scheme}, {TASKS} tasks"),
        ops[0],
        "ops/s",
    );
    report.add(
        &b(&format!("raw_{TASKS}_tasks")),
        format!("{raw}, {TASKS} tasks"),
        ops[1],
        "ops/s",
    );
}

/// The Redis rows, on the server at `url`.
pub(crate) async fn redis(effort: Effort, url: &str, report: &mut Report) -> Result<(), String> {
    let effort = round_trips(effort);
    let cache = Cache::from_url(url).map_err(|e| e.to_string())?;
    store(&cache).await?;
    // The kind of connection the backend uses for one node (see
    // cashews/src/backend/redis/connection.rs), shared by every task as
    // cashews shares its own: each call clones the handle, as cashews does.
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("raw redis connection: {e}"))?;
    let get = |mut conn: redis::aio::MultiplexedConnection| async move {
        let v: Option<Vec<u8>> = redis::cmd("GET")
            .arg(KEY)
            .query_async(&mut conn)
            .await
            .expect("raw GET");
        v
    };
    let size = get(conn.clone()).await.map_or(0, |v| v.len());

    let raw: Call<'_> = Box::new(|| {
        Box::pin(async {
            black_box(get(conn.clone()).await);
        })
    });
    let ns = latencies(effort, vec![decorated(&cache), get_cloned(&cache), raw]).await;
    let raw_task: Task = {
        let conn = conn.clone();
        Box::new(move |_, deadline| {
            let conn = conn.clone();
            Box::pin(async move {
                let mut calls = 0;
                while Instant::now() < deadline {
                    black_box(get(conn.clone()).await);
                    calls += 1;
                }
                calls
            })
        })
    };
    let ops = throughputs(effort, vec![decorated_task(&cache), raw_task]).await;
    let raw = format!("redis-rs GET ({size} B), multiplexed");
    add(report, "redis", "redis://", &raw, &ns, &ops);
    Ok(())
}

/// The memcached rows, on the server at `url` (`addr` is its `host:port`).
pub(crate) async fn memcached(
    effort: Effort,
    url: &str,
    addr: &str,
    report: &mut Report,
) -> Result<(), String> {
    let effort = round_trips(effort);
    let cache = Cache::from_url(url).map_err(|e| e.to_string())?;
    store(&cache).await?;
    // One client (one connection) per task: a client answers one request
    // at a time (`&mut self`). Each task locks its own, uncontended.
    let mut clients = Vec::with_capacity(TASKS);
    for _ in 0..TASKS {
        let client = async_memcached::Client::new(format!("tcp://{addr}"))
            .await
            .map_err(|e| format!("raw memcached connection: {e}"))?;
        clients.push(tokio::sync::Mutex::new(client));
    }
    let clients = Arc::new(clients);
    // `mg user:42 v`: the command cashews sends for a get, less its token.
    let size = clients[0]
        .lock()
        .await
        .meta_get(KEY, false, None, Some(&["v"]))
        .await
        .map_err(|e| format!("raw memcached mg: {e}"))?
        .and_then(|v| v.data)
        .map_or(0, |v| v.len());

    let raw: Call<'_> = Box::new(|| {
        Box::pin(async {
            let mut client = clients[0].lock().await;
            black_box(
                client
                    .meta_get(KEY, false, None, Some(&["v"]))
                    .await
                    .expect("raw mg"),
            );
        })
    });
    let ns = latencies(effort, vec![decorated(&cache), get_cloned(&cache), raw]).await;
    let raw_task: Task = {
        let clients = Arc::clone(&clients);
        Box::new(move |i, deadline| {
            let clients = Arc::clone(&clients);
            Box::pin(async move {
                let mut client = clients[i].lock().await;
                let mut calls = 0;
                while Instant::now() < deadline {
                    black_box(
                        client
                            .meta_get(KEY, false, None, Some(&["v"]))
                            .await
                            .expect("raw mg"),
                    );
                    calls += 1;
                }
                calls
            })
        })
    };
    let ops = throughputs(effort, vec![decorated_task(&cache), raw_task]).await;
    let raw = format!("async-memcached mg ({size} B), conn per task");
    add(report, "memcached", "memcached://", &raw, &ns, &ops);
    Ok(())
}

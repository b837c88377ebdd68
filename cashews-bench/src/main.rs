//! `cargo run --release -p cashews-bench [-- --json] [-- --quick] [-- --only GROUP,...]`
//!
//! Measures cashews against other Rust caches side by side, in one process
//! run on one machine, and checks the project's performance targets as
//! ratios of figures from this same run.
//!
//! Groups: `memory_hit`, `memory_miss`, `memory_per_entry`, `scaling`,
//! `redis`, `memcached`, `stampede`, `invalidation`. The last four start
//! their own `redis-server` and `memcached` (`cashews-test-servers`);
//! without them, their rows are skipped with a note.

mod footprint;
mod invalidation;
mod measure;
mod memory;
mod remote;
mod report;
mod scaling;
mod stampede;

use cashews_test_servers::{MemcachedServer, RedisServer, StartError};
use measure::Effort;
use report::{Bound, Report, Rhs, Target};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, which, entries] = &args[..]
        && flag == footprint::CHILD_FLAG
    {
        footprint::child(which, entries.parse().expect("a number of entries"));
        return;
    }
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    // `--only memory_hit` (a group, or a comma-separated list): for profiling.
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|groups| groups.split(',').map(str::to_owned).collect());
    let run = |group: &str| only.as_ref().is_none_or(|o| o.iter().any(|g| g == group));
    let effort = if quick { Effort::QUICK } else { Effort::FULL };
    cashews::setup(&format!("mem://?size={}", memory::CAPACITY)).expect("the global cache");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut report = Report::default();
    if quick {
        report.note("--quick: a smoke run with tiny counts; its figures and ratios mean nothing");
    }
    rt.block_on(async {
        if run("memory_hit") {
            memory::hits(effort, &mut report).await;
        }
        if run("memory_miss") {
            memory::misses(effort, &mut report).await;
        }
        if run("memory_per_entry") {
            footprint::per_entry(if quick { 10_000 } else { 1_000_000 }, &mut report);
        }
    });
    if run("scaling") {
        // Threads of their own, outside the runtime above.
        rt.block_on(scaling::threads(effort, &mut report));
    }
    if run("redis") || run("memcached") || run("stampede") || run("invalidation") {
        servers_rows(effort, quick, &run, &mut report);
    }
    let targets = targets();
    if json {
        report.print_json(&targets);
    } else {
        report.print_table(&targets);
    }
}

/// The rows against real servers, on a multi-thread runtime of both cores
/// (the 64-task throughputs and the 1,000-caller stampedes need them).
fn servers_rows(effort: Effort, quick: bool, run: &dyn Fn(&str) -> bool, report: &mut Report) {
    // Declared before the runtime, so dropped after it: the clients' tasks
    // end before their servers are killed.
    let redis: Option<RedisServer>;
    let memcached: Option<MemcachedServer>;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    redis = if run("redis") || run("stampede") || run("invalidation") {
        noted(rt.block_on(RedisServer::try_start()), report)
    } else {
        None
    };
    memcached = if run("memcached") {
        noted(rt.block_on(MemcachedServer::try_start()), report)
    } else {
        None
    };
    let redis_url = redis.as_ref().map(RedisServer::url);
    rt.block_on(async {
        if run("redis")
            && let Some(url) = &redis_url
            && let Err(e) = remote::redis(effort, url, report).await
        {
            report.note(format!("redis rows stopped: {e}"));
        }
        if let Some(server) = &memcached
            && let Err(e) = remote::memcached(effort, &server.url(), &server.addr(), report).await
        {
            report.note(format!("memcached rows stopped: {e}"));
        }
        if run("stampede") {
            stampede::run(effort, redis_url.as_deref(), report).await;
        }
        // Last: it fills the server with a million keys (and clears it after).
        let keys = if quick { 1_000 } else { 1_000_000 };
        if run("invalidation")
            && let Some(url) = &redis_url
            && let Err(e) = invalidation::redis(effort, url, keys, report).await
        {
            report.note(format!("invalidation rows stopped: {e}"));
        }
    });
}

/// A server that cannot start is a note, never a failure of the run.
fn noted<S>(started: Result<S, StartError>, report: &mut Report) -> Option<S> {
    started
        .map_err(|e| report.note(format!("{e}: its rows are skipped")))
        .ok()
}

fn targets() -> Vec<Target> {
    use Bound::{AtLeast, AtMost};
    use Rhs::{Figure, Value};
    let work = stampede::WORK.as_millis() as f64;
    vec![
        Target::new(
            "memory hit: decorated vs cached",
            "memory_hit/cashews_decorated",
            Figure("memory_hit/cached"),
            AtMost(1.0),
        ),
        // Not one of the targets: the same comparison with cached
        // checking a TTL too, as the decorated function does.
        Target::new(
            "memory hit: decorated vs cached with the same TTL",
            "memory_hit/cashews_decorated",
            Figure("memory_hit/cached_timed"),
            AtMost(1.0),
        ),
        Target::new(
            "memory hit: decorated vs Mutex<HashMap> floor",
            "memory_hit/cashews_decorated",
            Figure("memory_hit/mutex_hashmap"),
            AtMost(2.5),
        ),
        Target::new(
            "memory hit: decorated vs moka",
            "memory_hit/cashews_decorated",
            Figure("memory_hit/moka"),
            AtMost(1.0),
        ),
        Target::new(
            "memory per entry: cashews vs moka",
            "memory_per_entry/cashews",
            Figure("memory_per_entry/moka"),
            AtMost(1.0),
        ),
        Target::new(
            "hit throughput: 2 threads vs 1",
            "scaling/hits_2_thread",
            Figure("scaling/hits_1_thread"),
            AtLeast(1.6),
        ),
        Target::new(
            "redis hit: decorated vs raw GET, latency",
            "redis/cashews_decorated",
            Figure("redis/raw"),
            AtMost(1.1),
        ),
        Target::new(
            "redis hit: decorated vs raw GET, 64 tasks ops/s",
            "redis/cashews_decorated_64_tasks",
            Figure("redis/raw_64_tasks"),
            AtLeast(0.9),
        ),
        Target::new(
            "memcached hit: decorated vs raw mg, latency",
            "memcached/cashews_decorated",
            Figure("memcached/raw"),
            AtMost(1.1),
        ),
        Target::new(
            "memcached hit: decorated vs raw mg, 64 tasks ops/s",
            "memcached/cashews_decorated_64_tasks",
            Figure("memcached/raw_64_tasks"),
            AtLeast(0.9),
        ),
        // Absolute targets: executions against one, wall time against the
        // function's own 50 ms.
        Target::new(
            "stampede protected: runs of fn for 1000 callers",
            "stampede/protected_calls",
            Value(1.0),
            AtMost(1.0),
        ),
        Target::new(
            "stampede locked mem://: runs of fn for 1000 callers",
            "stampede/locked_memory_calls",
            Value(1.0),
            AtMost(1.0),
        ),
        Target::new(
            "stampede locked redis x2: runs of fn for 1000 callers",
            "stampede/locked_redis_calls",
            Value(1.0),
            AtMost(1.0),
        ),
        Target::new(
            "stampede locked redis x2: wall time vs fn's 50 ms",
            "stampede/locked_redis_ms",
            Value(work),
            AtMost(2.0),
        ),
    ]
}

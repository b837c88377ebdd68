//! In-process hits and misses: cashews on `mem://` against the other Rust
//! caches and a `Mutex<HashMap>` floor, all returning a 100-byte `String`.
//! The peers of a group take turns (see [`in_turns`]).

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::Duration;

use crate::measure::{Effort, Rep, in_turns, rep};
use crate::report::Report;

/// Entries every bounded cache here may hold.
pub(crate) const CAPACITY: u64 = 100_000;

const TTL: Duration = Duration::from_secs(600);

pub(crate) fn value() -> String {
    "v".repeat(100)
}

#[cached::proc_macro::cached]
async fn cached_unbounded(id: u64) -> String {
    black_box(id);
    value()
}

#[cached::proc_macro::cached(max_size = 100_000)]
async fn cached_sized(id: u64) -> String {
    black_box(id);
    value()
}

/// cached with the TTL the decorated function has: the same semantics.
#[cached::proc_macro::cached(ttl_secs = 600)]
async fn cached_timed(id: u64) -> String {
    black_box(id);
    value()
}

/// The decorated function of the memory rows, on the global cache that
/// `main` sets up as `mem://?size=100000`.
#[cashews::cache(ttl = "10m", key = "user:{id}")]
async fn decorated(id: u64) -> String {
    black_box(id);
    value()
}

/// Measures `peers` in turns and reports them under `group`.
async fn report_in_turns(
    effort: Effort,
    report: &mut Report,
    group: &str,
    peers: Vec<(&str, &str, Rep<'_>)>,
) {
    let (names, reps): (Vec<_>, Vec<_>) = peers.into_iter().map(|(n, l, r)| ((n, l), r)).unzip();
    let figures = in_turns(effort, &reps).await;
    for ((name, label), ns) in names.into_iter().zip(figures) {
        report.add(&format!("{group}/{name}"), label, ns, "ns/op");
    }
}

pub(crate) async fn hits(effort: Effort, report: &mut Report) {
    let key = "user:42";
    decorated(42).await;
    let cache = cashews::Cache::from_url(&format!("mem://?size={CAPACITY}")).unwrap();
    cache.set(key, &value(), TTL).await.unwrap();
    cached_unbounded(42).await;
    cached_sized(42).await;
    cached_timed(42).await;
    let moka: moka::future::Cache<String, String> = moka::future::Cache::new(CAPACITY);
    moka.insert(key.to_owned(), value()).await;
    let quick: quick_cache::sync::Cache<String, String> =
        quick_cache::sync::Cache::new(CAPACITY as usize);
    quick.insert(key.to_owned(), value());
    let floor: Mutex<HashMap<String, String>> =
        Mutex::new(HashMap::from([(key.to_owned(), value())]));

    let peers: Vec<(&str, &str, Rep<'_>)> = vec![
        (
            "cashews_decorated",
            "cashews #[cashews::cache] on mem://",
            rep(|_| async {
                black_box(decorated(black_box(42)).await);
            }),
        ),
        (
            "cashews_cached_api",
            "cashews Cache::cached(key).get_with (no macro)",
            rep(|_| async {
                let id = black_box(42u64);
                let key = format!("user:{id}");
                black_box(cache.cached(&key, TTL).get_with(|| async { value() }).await);
            }),
        ),
        (
            "cashews_get_cloned",
            "cashews Cache::get_cloned (the command)",
            rep(|_| async {
                black_box(cache.get_cloned::<String>(black_box(key)).await.unwrap());
            }),
        ),
        (
            "cached",
            "cached #[cached] async (unbounded)",
            rep(|_| async {
                black_box(cached_unbounded(black_box(42)).await);
            }),
        ),
        (
            "cached_sized",
            "cached #[cached(max_size = 100000)] async",
            rep(|_| async {
                black_box(cached_sized(black_box(42)).await);
            }),
        ),
        (
            "cached_timed",
            "cached #[cached(ttl_secs = 600)] async (a TTL, as ours)",
            rep(|_| async {
                black_box(cached_timed(black_box(42)).await);
            }),
        ),
        (
            "moka",
            "moka::future::Cache::get",
            rep(|_| async {
                black_box(moka.get(black_box(key)).await);
            }),
        ),
        (
            "quick_cache",
            "quick_cache::sync::Cache::get",
            rep(|_| async {
                black_box(quick.get(black_box(key)));
            }),
        ),
        (
            "mutex_hashmap",
            "Mutex<HashMap<String, String>> get + clone (floor)",
            rep(|_| async {
                black_box(floor.lock().unwrap().get(black_box(key)).cloned());
            }),
        ),
    ];
    // Three times the turns, each a third as long: the machine's speed
    // drifts, and shorter turns put every peer in the same spells.
    let turns = Effort {
        iters: effort.iters / 3,
        reps: effort.reps * 3,
        ..effort
    };
    report_in_turns(turns, report, "memory_hit", peers).await;
}

pub(crate) async fn misses(effort: Effort, report: &mut Report) {
    let cache = cashews::Cache::from_url(&format!("mem://?size={CAPACITY}")).unwrap();
    let moka: moka::future::Cache<String, String> = moka::future::Cache::new(CAPACITY);
    let quick: quick_cache::sync::Cache<String, String> =
        quick_cache::sync::Cache::new(CAPACITY as usize);
    let floor: Mutex<HashMap<String, String>> = Mutex::new(HashMap::new());

    // Every call number is new (see `in_turns`): each call misses.
    let peers: Vec<(&str, &str, Rep<'_>)> = vec![
        (
            "cashews_decorated",
            "cashews #[cashews::cache] miss (runs and stores)",
            rep(|i| async move {
                black_box(decorated(black_box(i)).await);
            }),
        ),
        (
            "cashews_get_set",
            "cashews get_cloned miss + set (no macro)",
            rep(|i| {
                let cache = &cache;
                async move {
                    let key = format!("user:{i}");
                    if cache.get_cloned::<String>(&key).await.unwrap().is_none() {
                        cache.set(&key, &value(), TTL).await.unwrap();
                    }
                }
            }),
        ),
        (
            "cached_sized",
            "cached #[cached(max_size = 100000)] miss",
            rep(|i| async move {
                black_box(cached_sized(black_box(i)).await);
            }),
        ),
        (
            "moka",
            "moka get miss + insert",
            rep(|i| {
                let moka = &moka;
                async move {
                    let key = format!("user:{i}");
                    if moka.get(&key).await.is_none() {
                        moka.insert(key, value()).await;
                    }
                }
            }),
        ),
        (
            "quick_cache",
            "quick_cache get miss + insert",
            rep(|i| {
                let quick = &quick;
                async move {
                    let key = format!("user:{i}");
                    if quick.get(&key).is_none() {
                        quick.insert(key, value());
                    }
                }
            }),
        ),
        (
            "mutex_hashmap",
            "Mutex<HashMap> get miss + insert (unbounded floor)",
            rep(|i| {
                let floor = &floor;
                async move {
                    let key = format!("user:{i}");
                    let mut map = floor.lock().unwrap();
                    if map.get(&key).is_none() {
                        map.insert(key, value());
                    }
                }
            }),
        ),
    ];
    report_in_turns(effort, report, "memory_miss", peers).await;
}

//! What an invalidation costs on Redis with many keys in the database
//! (1,000,000; `--quick`: 1,000): an exact key (one `DEL`), a pattern
//! (`SCAN` of the whole keyspace, whatever it matches) and a tag (read its
//! index, delete its keys, trim the index), each the median of its
//! repetitions.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cashews::Cache;
use cashews::strategy::invalidate::Invalidation;
use cashews::strategy::{delete_tags, tag};

use crate::measure::{Effort, median, ns_per_op};
use crate::report::Report;

/// Keys each tag deletion deletes.
const TAGGED: u64 = 10;
/// Keys written per script call while filling the database.
const FILL_CHUNK: u64 = 50_000;
const TTL: Duration = Duration::from_secs(600);

/// Writes `keys` keys `fill:0`… in the server's own loop (a script per
/// chunk): a round trip per key would take minutes at a million.
async fn fill(conn: &mut redis::aio::MultiplexedConnection, keys: u64) -> Result<(), String> {
    let script = redis::Script::new(
        "for i = tonumber(ARGV[1]), tonumber(ARGV[2]) - 1 do \
             redis.call('SET', 'fill:' .. i, 'v') \
         end",
    );
    let mut start = 0;
    while start < keys {
        let end = (start + FILL_CHUNK).min(keys);
        let () = script
            .arg(start)
            .arg(end)
            .invoke_async(conn)
            .await
            .map_err(|e| format!("filling redis: {e}"))?;
        start = end;
    }
    Ok(())
}

/// Median ns of one `delete_tags` of a tag naming `TAGGED` keys, the keys
/// stored and tagged again (untimed) before each.
async fn tag_deletions(cache: &Cache, reps: usize) -> Result<f64, String> {
    let mut runs = Vec::with_capacity(reps);
    for _ in 0..reps + 1 {
        for i in 0..TAGGED {
            let key = format!("tagged:{i}");
            cache.set(&key, &i, TTL).await.map_err(|e| e.to_string())?;
            tag(cache, &key, &["bench"], TTL)
                .await
                .map_err(|e| e.to_string())?;
        }
        let start = Instant::now();
        let deleted = delete_tags(cache, &["bench"])
            .await
            .map_err(|e| e.to_string())?;
        runs.push(start.elapsed().as_nanos() as f64);
        if deleted != TAGGED {
            return Err(format!("a tag deletion deleted {deleted} keys of {TAGGED}"));
        }
    }
    // The first was a warm-up.
    runs.remove(0);
    Ok(median(runs))
}

/// The invalidation rows, on the Redis server at `url`, with `keys` keys.
pub(crate) async fn redis(
    effort: Effort,
    url: &str,
    keys: u64,
    report: &mut Report,
) -> Result<(), String> {
    // Safe mode off: a failing server must stop the rows, not time misses.
    let cache = Cache::from_url(&format!("{url}?safe=0")).map_err(|e| e.to_string())?;
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("raw redis connection: {e}"))?;
    fill(&mut conn, keys).await?;
    let exact_effort = Effort {
        iters: (effort.iters / 300).max(10),
        ..effort
    };
    // Each call deletes another of the filled keys.
    let exact = ns_per_op(exact_effort, |i| {
        let invalidation = Invalidation::new(&cache, format!("fill:{i}"));
        async move {
            black_box(invalidation.run().await.expect("an exact invalidation"));
        }
    })
    .await;
    // A whole-keyspace walk per call: a few are enough.
    let pattern_effort = Effort {
        iters: 1,
        reps: effort.reps.min(3),
        ..effort
    };
    let pattern = ns_per_op(pattern_effort, |i| {
        let invalidation = Invalidation::new(&cache, format!("fill:{i}:*"));
        async move {
            black_box(invalidation.run().await.expect("a pattern invalidation"));
        }
    })
    .await;
    let tagged = tag_deletions(&cache, effort.reps).await?;
    report.add(
        "invalidation/redis_exact_key",
        format!("exact-key invalidation (DEL), {keys} keys on redis://"),
        exact,
        "ns/op",
    );
    report.add(
        "invalidation/redis_pattern",
        format!("pattern invalidation (SCAN), {keys} keys on redis://"),
        pattern,
        "ns/op",
    );
    report.add(
        "invalidation/redis_tag",
        format!("delete_tags of {TAGGED} keys, {keys} keys on redis://"),
        tagged,
        "ns/op",
    );
    // In the background: a blocking FLUSHDB of a million keys outlasts the
    // client's timeout.
    redis::cmd("FLUSHDB")
        .arg("ASYNC")
        .query_async::<()>(&mut conn)
        .await
        .map_err(|e| format!("emptying redis: {e}"))
}

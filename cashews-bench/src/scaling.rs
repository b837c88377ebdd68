//! Hit throughput on one thread against two: does the hit path scale, or do
//! threads contend on shared cache lines?

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::measure::{Effort, median};
use crate::report::Report;

/// Hits per second summed over `threads` threads hammering one hot key.
fn hits_per_second(cache: &cashews::Cache, threads: usize, window: Duration) -> f64 {
    let barrier = Barrier::new(threads);
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (cache, barrier) = (cache.clone(), &barrier);
                s.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    barrier.wait();
                    rt.block_on(async {
                        let start = Instant::now();
                        let mut n = 0u64;
                        while start.elapsed() < window {
                            for _ in 0..256 {
                                black_box(cache.get_cloned::<String>("hot").await.unwrap());
                            }
                            n += 256;
                        }
                        n
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    total as f64 / window.as_secs_f64()
}

pub(crate) async fn threads(effort: Effort, report: &mut Report) {
    let cache = cashews::Cache::from_url("mem://").unwrap();
    cache
        .set("hot", &"v".repeat(100), Duration::from_secs(3600))
        .await
        .unwrap();
    // One and two threads take turns, one window each, as the peers of the
    // other rows do, so that a change in the machine's speed falls on both.
    let mut runs = [Vec::new(), Vec::new()];
    for _ in 0..effort.reps {
        for (threads, runs) in [1, 2].into_iter().zip(&mut runs) {
            runs.push(hits_per_second(&cache, threads, effort.window));
        }
    }
    for (threads, runs) in [1, 2].into_iter().zip(runs) {
        report.add(
            &format!("scaling/hits_{threads}_thread"),
            format!("cashews mem:// hot-key hits, {threads} thread(s)"),
            median(runs),
            "ops/s",
        );
    }
}

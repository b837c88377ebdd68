//! Timing: medians over repetitions, so one noisy run doesn't decide a row.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How much work each figure gets.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Effort {
    /// Calls per repetition of a latency figure.
    pub(crate) iters: u64,
    /// Repetitions; the median is reported.
    pub(crate) reps: usize,
    /// How long each repetition of a throughput figure runs.
    pub(crate) window: Duration,
}

impl Effort {
    pub(crate) const FULL: Self = Self {
        iters: 300_000,
        reps: 7,
        window: Duration::from_millis(400),
    };
    /// For a smoke run: every row printed, nothing measured seriously.
    pub(crate) const QUICK: Self = Self {
        iters: 200,
        reps: 1,
        window: Duration::from_millis(5),
    };
}

pub(crate) fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Median nanoseconds per call of `op`, awaited one after the other.
pub(crate) async fn ns_per_op<F, Fut>(effort: Effort, mut op: F) -> f64
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = ()>,
{
    // Warm up: fill caches, connections, branch predictors.
    for i in 0..effort.iters / 10 + 1 {
        op(i).await;
    }
    let mut runs = Vec::with_capacity(effort.reps);
    for rep in 0..effort.reps {
        let base = (rep as u64 + 1) * effort.iters;
        let start = Instant::now();
        for i in 0..effort.iters {
            op(base + i).await;
        }
        runs.push(start.elapsed().as_nanos() as f64 / effort.iters as f64);
    }
    median(runs)
}

/// One repetition of a latency figure: given how many calls and the first
/// call's number, the ns per call. Boxed once per repetition (not per
/// call), so that peers of different types can take turns.
pub(crate) type Rep<'a> = Box<dyn Fn(u64, u64) -> Pin<Box<dyn Future<Output = f64> + 'a>> + 'a>;

/// `op` as a [`Rep`]: its calls awaited one after the other.
pub(crate) fn rep<'a, F, Fut>(op: F) -> Rep<'a>
where
    F: Fn(u64) -> Fut + 'a,
    Fut: Future<Output = ()> + 'a,
{
    let op = Rc::new(op);
    Box::new(move |iters, base| {
        let op = Rc::clone(&op);
        Box::pin(async move {
            let start = Instant::now();
            for i in 0..iters {
                op(base + i).await;
            }
            start.elapsed().as_nanos() as f64 / iters as f64
        })
    })
}

/// Median ns per call of each peer, the peers taking turns, one repetition
/// each: a slow spell of the machine then hits every peer alike, and the
/// ratios between them hold even when the figures drift.
pub(crate) async fn in_turns(effort: Effort, peers: &[Rep<'_>]) -> Vec<f64> {
    // Warm up: fill caches, connections, branch predictors.
    for (n, peer) in peers.iter().enumerate() {
        peer(effort.iters / 10 + 1, n as u64 * 1_000_000_000).await;
    }
    let mut runs = vec![Vec::with_capacity(effort.reps); peers.len()];
    for r in 0..effort.reps {
        for (n, (peer, runs)) in peers.iter().zip(&mut runs).enumerate() {
            // Call numbers never repeat: miss rows use them as keys.
            let base = n as u64 * 1_000_000_000 + (r as u64 + 1) * effort.iters;
            runs.push(peer(effort.iters, base).await);
        }
    }
    runs.into_iter().map(median).collect()
}

//! Perf: cache a function only while it is slower than usual.

use std::future::Future;
use std::panic::Location;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::state::FunctionSite;
use super::{Reported, Served, answer_or_default};
use crate::Cache;

/// Decides from a call's duration and the durations traced before it
/// (oldest first) whether the function is degraded.
pub type PerfCondition = fn(current: Duration, trace: &[Duration], trace_size: usize) -> bool;

/// The default [`PerfCondition`]: once `trace_size` durations are traced,
/// a call is degraded when it took more than twice their mean.
pub fn twice_the_mean(current: Duration, trace: &[Duration], trace_size: usize) -> bool {
    if trace.is_empty() || trace.len() < trace_size {
        return false;
    }
    // In nanoseconds as `u128`, saturating: durations near `Duration::MAX` never overflow.
    let sum = trace
        .iter()
        .fold(0_u128, |sum, d| sum.saturating_add(d.as_nanos()));
    let len = u128::try_from(trace.len()).unwrap_or(u128::MAX);
    current.as_nanos() > sum / len * 2
}

/// Options of [`perf`]: plain data, built wherever is convenient.
///
/// The trace of the function's last call durations is kept in the
/// [`Cache`], in this process, for the function these options were built
/// in: [`Perf::new`] records where it is called, so a `Perf` built at the
/// call (as the attribute does, in the decorated function) traces every
/// call made there. Options built in one place and used for several
/// functions share one trace.
///
/// ```
/// use std::time::Duration;
/// use cashews::strategy::Perf;
///
/// let options = Perf::new(Duration::from_secs(60)).trace_size(20);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Perf {
    ttl: Duration,
    trace_size: usize,
    condition: PerfCondition,
    function: FunctionSite,
}

impl Perf {
    /// Caches a degraded call for `ttl`; traces the last 10 calls and uses
    /// [`twice_the_mean`]. The trace belongs to the place this is called.
    #[track_caller]
    pub const fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            trace_size: 10,
            condition: twice_the_mean,
            function: Location::caller(),
        }
    }

    /// Traces the last `size` call durations (at least one).
    #[must_use]
    pub const fn trace_size(mut self, size: usize) -> Self {
        self.trace_size = if size == 0 { 1 } else { size };
        self
    }

    /// Replaces [`twice_the_mean`] (the `perf_condition` option).
    #[must_use]
    pub const fn condition(mut self, condition: PerfCondition) -> Self {
        self.condition = condition;
        self
    }

    /// The durations traced in `cache` for these options' function, oldest
    /// first.
    pub fn trace(&self, cache: &Cache) -> Vec<Duration> {
        cache
            .strategy_state()
            .read_function(self.function, |state| state.trace.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Applies the condition to `took` and then traces it in `cache`.
    fn degraded(&self, cache: &Cache, took: Duration) -> bool {
        cache
            .strategy_state()
            .with_function(self.function, |state| {
                let trace = &mut state.trace;
                let degraded = (self.condition)(took, trace.make_contiguous(), self.trace_size);
                while trace.len() >= self.trace_size {
                    trace.pop_front();
                }
                trace.push_back(took);
                degraded
            })
    }
}

/// Runs `f` and caches its result at `key` only when the call was degraded
/// (by default: slower than twice the mean of the last `trace_size` calls);
/// while a value is cached, calls are answered from it ([`Served::Hit`];
/// else [`Served::Miss`]).
///
/// Durations are measured with tokio's clock (so paused-time tests control
/// them) and traced in `cache`, in this process, per function (see
/// [`Perf`]); the cached value is shared through the backend. Only
/// successful calls are traced and cached.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// use std::time::Duration;
/// use cashews::strategy::{perf, Perf, Served};
///
/// let cache = cashews::Cache::from_url("mem://")?;
/// let options = Perf::new(Duration::from_secs(30));
/// let quote = perf(&cache, "quote:ACME", &options, || async { Ok::<_, cashews::Error>(42) }).await;
/// assert_eq!((quote.value?, quote.served), (42, Served::Miss));
/// assert_eq!(options.trace(&cache).len(), 1);
/// # Ok(()) }
/// ```
pub async fn perf<T, E, F, Fut>(
    cache: &Cache,
    key: &str,
    options: &Perf,
    f: F,
) -> Reported<Result<T, E>>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    if let Some(value) = answer_or_default(key, "get", cache.get_cloned::<T>(key).await) {
        return Served::Hit.with(Ok(value));
    }
    let start = Instant::now();
    let result = f().await;
    if let Ok(value) = &result
        && options.degraded(cache, start.elapsed())
    {
        tracing::debug!(key, "degraded call; caching its result");
        answer_or_default(key, "set", cache.set(key, value, options.ttl).await);
    }
    Served::Miss.with(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_condition_needs_a_full_trace() {
        let ms = Duration::from_millis;
        assert!(!twice_the_mean(ms(100), &[ms(10)], 2));
        assert!(twice_the_mean(ms(41), &[ms(10), ms(30)], 2));
        assert!(!twice_the_mean(ms(40), &[ms(10), ms(30)], 2));
    }

    #[test]
    fn trace_keeps_the_last_calls() {
        let cache = Cache::from_url("mem://").unwrap();
        let p = Perf::new(Duration::from_secs(1)).trace_size(2);
        for ms in [1, 2, 3] {
            p.degraded(&cache, Duration::from_millis(ms));
        }
        assert_eq!(
            p.trace(&cache),
            [Duration::from_millis(2), Duration::from_millis(3)]
        );
    }
}

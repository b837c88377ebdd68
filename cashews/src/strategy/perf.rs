//! Perf: cache a function only while it is slower than usual.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::absorb;
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

/// Options of [`perf`], and the trace of the function's last call
/// durations (kept in this process).
///
/// Keep one per function, typically in a `static`:
///
/// ```
/// use std::time::Duration;
/// use cashews::strategy::Perf;
///
/// static PRICES: Perf = Perf::new(Duration::from_secs(60)).trace_size(20);
/// ```
pub struct Perf {
    ttl: Duration,
    trace_size: usize,
    condition: PerfCondition,
    trace: Mutex<VecDeque<Duration>>,
}

impl Perf {
    /// Caches a degraded call for `ttl`; traces the last 10 calls and uses
    /// [`twice_the_mean`].
    pub const fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            trace_size: 10,
            condition: twice_the_mean,
            trace: parking_lot::const_mutex(VecDeque::new()),
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

    /// The traced durations, oldest first.
    pub fn trace(&self) -> Vec<Duration> {
        self.trace.lock().iter().copied().collect()
    }

    /// Applies the condition to `took` and then traces it.
    fn degraded(&self, took: Duration) -> bool {
        let mut trace = self.trace.lock();
        let degraded = (self.condition)(took, trace.make_contiguous(), self.trace_size);
        if trace.len() >= self.trace_size {
            trace.pop_front();
        }
        trace.push_back(took);
        degraded
    }
}

impl fmt::Debug for Perf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Perf")
            .field("ttl", &self.ttl)
            .field("trace_size", &self.trace_size)
            .field("trace", &*self.trace.lock())
            .finish_non_exhaustive()
    }
}

/// Runs `f` and caches its result at `key` only when the call was degraded
/// (by default: slower than twice the mean of the last `trace_size` calls);
/// while a value is cached, calls are answered from it.
///
/// Durations are measured with tokio's clock (so paused-time tests control
/// them) and traced in `options`, in this process; the cached value is
/// shared through the backend. Only successful calls are traced and cached.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// use std::time::Duration;
/// use cashews::strategy::{perf, Perf};
///
/// static QUOTES: Perf = Perf::new(Duration::from_secs(30));
/// let cache = cashews::Cache::from_url("mem://")?;
/// let quote = perf(&cache, "quote:ACME", &QUOTES, || async { Ok::<_, cashews::Error>(42) }).await?;
/// assert_eq!(quote, 42);
/// assert_eq!(QUOTES.trace().len(), 1);
/// # Ok(()) }
/// ```
pub async fn perf<T, E, F, Fut>(cache: &Cache, key: &str, options: &Perf, f: F) -> Result<T, E>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    if let Some(value) = absorb(key, "get", cache.get_cloned::<T>(key).await) {
        return Ok(value);
    }
    let start = Instant::now();
    let value = f().await?;
    if options.degraded(start.elapsed()) {
        tracing::debug!(key, "degraded call; caching its result");
        absorb(key, "set", cache.set(key, &value, options.ttl).await);
    }
    Ok(value)
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
        let p = Perf::new(Duration::from_secs(1)).trace_size(2);
        for ms in [1, 2, 3] {
            p.degraded(Duration::from_millis(ms));
        }
        assert_eq!(
            p.trace(),
            [Duration::from_millis(2), Duration::from_millis(3)]
        );
    }
}

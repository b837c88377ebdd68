//! Circuit breaker: stop calling a failing dependency for a while.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Reported, Served, answer_or_default, clock};
use crate::ttl::saturating_millis;
use crate::{Cache, Error, ErrorKind};

/// Options of [`circuit_breaker`].
///
/// ```
/// use std::time::Duration;
/// use cashews::strategy::CircuitBreaker;
///
/// // Open for 30 s when half of the calls of the last minute failed (and
/// // there were at least 20); then let 10 % of calls probe for 10 s.
/// let options: CircuitBreaker<cashews::Error> =
///     CircuitBreaker::new(50, Duration::from_secs(60), Duration::from_secs(30))
///         .min_calls(20)
///         .half_open(Duration::from_secs(10), 10);
/// ```
pub struct CircuitBreaker<E> {
    errors_rate: u8,
    period: Duration,
    ttl: Duration,
    min_calls: u32,
    half_open_ttl: Duration,
    half_open_percent: u8,
    failure: fn(&E) -> bool,
}

impl<E> CircuitBreaker<E> {
    /// Opens for `ttl` once `errors_rate` percent (capped at 100) of the
    /// calls of the last `period` failed, with at least one call; no
    /// half-open phase; every error is a failure.
    pub const fn new(errors_rate: u8, period: Duration, ttl: Duration) -> Self {
        Self {
            errors_rate: if errors_rate > 100 { 100 } else { errors_rate },
            period,
            ttl,
            min_calls: 1,
            half_open_ttl: Duration::ZERO,
            half_open_percent: 0,
            failure: |_| true,
        }
    }

    /// Opens only when the period saw at least `calls` calls.
    #[must_use]
    pub const fn min_calls(mut self, calls: u32) -> Self {
        self.min_calls = calls;
        self
    }

    /// After being open, stays half-open for `ttl`: `percent` of the calls
    /// (capped at 100, evenly spread, the first call included) are let
    /// through as probes. A probe's success closes the breaker; its failure
    /// opens it again. Without probes in `ttl`, the breaker closes.
    #[must_use]
    pub const fn half_open(mut self, ttl: Duration, percent: u8) -> Self {
        self.half_open_ttl = ttl;
        self.half_open_percent = if percent > 100 { 100 } else { percent };
        self
    }

    /// Counts only the errors `failure` accepts; the others pass through
    /// as successes would.
    #[must_use]
    pub const fn failure(mut self, failure: fn(&E) -> bool) -> Self {
        self.failure = failure;
        self
    }
}

impl<E> Clone for CircuitBreaker<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for CircuitBreaker<E> {}

impl<E> fmt::Debug for CircuitBreaker<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("errors_rate", &self.errors_rate)
            .field("period", &self.period)
            .field("ttl", &self.ttl)
            .field("min_calls", &self.min_calls)
            .field("half_open_ttl", &self.half_open_ttl)
            .field("half_open_percent", &self.half_open_percent)
            .finish_non_exhaustive()
    }
}

/// An open (or half-open) breaker, stored at `"{key}:cb"` until the end
/// of its half-open phase. Times are wall-clock milliseconds.
#[derive(Serialize, Deserialize, Clone, Copy)]
struct Opened {
    at_ms: u64,
    until_ms: u64,
    half_open_until_ms: u64,
}

/// One window's counts, packed in one counter so a call is one `incr`:
/// calls in the low 32 bits, failures above.
const FAILURE: i64 = 1 << 32;

fn unpack(packed: i64) -> (u64, u64) {
    let packed = packed.max(0) as u64;
    (packed & 0xffff_ffff, packed >> 32)
}

/// Runs `f` unless the breaker at `key` is open; counts its calls and
/// failures and opens the breaker when the failure rate of the last
/// `period` reaches `errors_rate` percent (with at least `min_calls`
/// calls). An open breaker refuses calls with an error of kind
/// [`ErrorKind::CircuitOpen`] (your `E` through `From<cashews::Error>`)
/// without running `f`, reported as [`Served::CircuitOpen`]; a call that
/// runs is [`Served::Miss`].
///
/// State lives in the backend as protective state (never evicted by the
/// memory backend's `size`; see
/// [`Backend::set_protective`](crate::backend::Backend::set_protective)),
/// so processes sharing it share the breaker;
/// with the attribute, the key is the function's path (one breaker per
/// function), not its arguments. The period is counted in two fixed
/// windows of `period`, the previous one weighted by how much of it still
/// overlaps the last `period` (the sliding-window-counter estimate): a
/// call costs one `incr`, a failure one more.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// use std::time::Duration;
/// use cashews::{Error, ErrorKind};
/// use cashews::strategy::{circuit_breaker, CircuitBreaker, Served};
///
/// let cache = cashews::Cache::from_url("mem://")?;
/// let breaker = CircuitBreaker::new(50, Duration::from_secs(60), Duration::from_secs(30));
/// let failing = || async { Err::<(), _>(Error::new(ErrorKind::Connection, "down")) };
/// let first = circuit_breaker(&cache, "payments", &breaker, failing).await;
/// assert!(first.value.unwrap_err().is_connection());
/// // One call, one failure: 100 % ≥ 50 %, so the breaker is open.
/// let second = circuit_breaker(&cache, "payments", &breaker, failing).await;
/// assert_eq!(second.served, Served::CircuitOpen);
/// assert!(second.value.unwrap_err().is_circuit_open());
/// # Ok(()) }
/// ```
pub async fn circuit_breaker<T, E, F, Fut>(
    cache: &Cache,
    key: &str,
    options: &CircuitBreaker<E>,
    f: F,
) -> Reported<Result<T, E>>
where
    E: From<Error>,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let state_key = format!("{key}:cb");
    let now = clock::now_ms();
    if let Some(opened) = answer_or_default(key, "get", cache.get::<Opened>(&state_key).await) {
        if now < opened.until_ms {
            return Served::CircuitOpen.with(Err(open_error(key, &opened).into()));
        }
        if now < opened.half_open_until_ms {
            return probe(cache, key, &state_key, &opened, options, f).await;
        }
    }

    let result = f().await;
    // The call counts, and may open the breaker, when it ends.
    let now = clock::now_ms();
    let period_ms = saturating_millis(options.period).max(1);
    let window = now / period_ms;
    let failed = matches!(&result, Err(e) if (options.failure)(e));
    let counted = cache
        .incr_protective(
            &window_key(key, window),
            if failed { 1 + FAILURE } else { 1 },
            options.period.saturating_mul(2),
        )
        .await;
    let counted = answer_or_default(key, "incr", counted);
    if failed {
        let previous = cache
            .incr_protective(&window_key(key, window.wrapping_sub(1)), 0, options.period)
            .await;
        let previous = answer_or_default(key, "incr", previous);
        // How much of the previous window still lies in the last period.
        let overlap = 1.0 - (now % period_ms) as f64 / period_ms as f64;
        let (calls, fails) = unpack(counted);
        let (prev_calls, prev_fails) = unpack(previous);
        let calls = calls as f64 + prev_calls as f64 * overlap;
        let fails = fails as f64 + prev_fails as f64 * overlap;
        if calls >= f64::from(options.min_calls.max(1))
            && fails * 100.0 >= f64::from(options.errors_rate) * calls
        {
            open(cache, key, &state_key, window, now, options).await;
        }
    }
    Served::Miss.with(result)
}

/// A half-open call: a probe if its turn comes, else refused.
async fn probe<T, E, F, Fut>(
    cache: &Cache,
    key: &str,
    state_key: &str,
    opened: &Opened,
    options: &CircuitBreaker<E>,
    f: F,
) -> Reported<Result<T, E>>
where
    E: From<Error>,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let percent = i64::from(options.half_open_percent);
    // Numbered per opening, so every half-open phase starts with a probe.
    let turn = cache
        .incr_protective(
            &format!("{state_key}:probe:{}", opened.at_ms),
            1,
            options.ttl.saturating_add(options.half_open_ttl),
        )
        .await;
    // A turn that cannot be counted (0) probes: the breaker fails open.
    let turn = answer_or_default(key, "incr", turn);
    // `percent` turns in every hundred, evenly spread, starting with the first.
    if percent == 0 || (turn.saturating_sub(1) % 100 * percent) % 100 >= percent {
        return Served::CircuitOpen.with(Err(open_error(key, opened).into()));
    }
    let result = f().await;
    if matches!(&result, Err(e) if (options.failure)(e)) {
        tracing::warn!(key, "circuit breaker probe failed; opening again");
        let now = clock::now_ms();
        let window = now / saturating_millis(options.period).max(1);
        open(cache, key, state_key, window, now, options).await;
    } else {
        tracing::info!(key, "circuit breaker probe succeeded; closing");
        answer_or_default(key, "delete", cache.delete(state_key).await);
    }
    Served::Miss.with(result)
}

async fn open<E>(
    cache: &Cache,
    key: &str,
    state_key: &str,
    window: u64,
    now: u64,
    options: &CircuitBreaker<E>,
) {
    let until_ms = now.saturating_add(saturating_millis(options.ttl));
    let opened = Opened {
        at_ms: now,
        until_ms,
        half_open_until_ms: until_ms.saturating_add(saturating_millis(options.half_open_ttl)),
    };
    tracing::warn!(key, "circuit breaker opened");
    let ttl = options.ttl.saturating_add(options.half_open_ttl);
    answer_or_default(
        key,
        "set_protective",
        cache.set_protective(state_key, &opened, ttl).await,
    );
    // Start counting afresh once it closes: the failures that opened it
    // must not open it again.
    let current = window_key(key, window);
    let previous = window_key(key, window.wrapping_sub(1));
    answer_or_default(
        key,
        "delete_many",
        cache.delete_many(&[&current, &previous]).await,
    );
}

fn window_key(key: &str, window: u64) -> String {
    format!("{key}:cb:{window}")
}

fn open_error(key: &str, opened: &Opened) -> Error {
    let left = opened.until_ms.saturating_sub(clock::now_ms());
    let message = if left > 0 {
        format!("{key:?}: open for {left} ms more")
    } else {
        format!("{key:?}: half-open, not this call's turn to probe")
    };
    Error::new(ErrorKind::CircuitOpen, message)
}

//! Strategies: what a cached call does on a hit, a miss, a failure or a
//! stampede.
//!
//! Each strategy is a plain async function over a [`Cache`](crate::Cache)
//! handle; the `#[cashews::…]` attributes only build the key and call one of
//! them, so code without macros (closures, dynamic keys) gets the same
//! behaviour.
//!
//! The functions wrap a closure returning `Result<T, E>`: a success is what
//! gets stored, an error is never stored and reaches the caller untouched
//! (unless the strategy's point is to answer it: failover, soft). As with
//! the plain cache, the cache never fails a call: a failing backend, with
//! or without safe mode, is logged and the call goes on as if the cache
//! were empty (rate limiters and breakers let calls through). Only the
//! strategies that refuse calls ([`rate_limit`], [`circuit_breaker`]) need
//! `E: From<cashews::Error>`, to hand the refusal over as your error. Keys
//! are used as given (the attributes add their prefixes). State lives in
//! the backend, so processes sharing it share it, and every
//! strategy works on every backend. The one exception: memcached cannot
//! match a pattern, so an invalidation by a real pattern (a wildcard) fails
//! there; it is logged at `error` level and counted (see [`invalidate`]).
//! Time is tokio's clock: tests can pause it. Background work (early and
//! hit refreshes) runs in the caller's [scoped switches](crate::switch).
//! Each function below has an attribute of the same name
//! (`#[cashews::failover]`, …, `#[cashews::slice_rate_limit]`) taking the
//! same options.
//!
//! One contract for all: options are plain `Copy` data, built wherever is
//! convenient (a `let` at the call is fine); what a strategy keeps in the
//! process between calls (single-flight slots, perf's trace, early's seeded
//! generator) lives in the [`Cache`](crate::Cache), per function, and is
//! dropped with it. Each call answers a [`Reported`]: the function's return
//! and how it was [`Served`] (a hit, a miss, a stale value, a refresh
//! started, a refusal).
//!
//! | strategy | guarantees | options (defaults) |
//! |---|---|---|
//! | [`simple::cache`] (`#[cashews::cache]`, [`Cache::cached`](crate::Cache::cached)) | a hit returns the stored value; a miss runs the function and stores its value (`Ok` only for a `Result`, everything else whole); concurrent misses of one key in one process share one execution (a failed, panicked or cancelled one hands over to the next waiter); errors pass through untouched | `ttl` (fixed or per value); `condition` (store all); `time_condition` (store however fast); `cache_errors` (store no error); `protected` (on) |
//! | [`invalidate::after`] (`#[cashews::invalidate]`) | after the call succeeds, deletes keys by pattern (values escaped) or the keys of a cached function's call, on that function's cache; a pattern naming one key is one delete | patterns, calls with `_` wildcards |
//! | [`failover`] | runs the function every time and stores each success; on an accepted error, returns the last success stored within `ttl`, else the error | `ttl`; `when` (every error); attribute prefix `fail` |
//! | [`hit`] | a value is served for at most `cache_hits` hits (counted with `incr`, shared by processes) and `ttl`; at hit `update_after`, exactly one background refresh while the old value is served | `ttl`, `cache_hits`; `update_after` (none) |
//! | [`perf`] | runs the function and caches its result only when the call was degraded; hits while cached | `ttl`; `trace_size` (10, traced in-process); `condition` ([`twice_the_mean`] of a full trace) |
//! | [`locked`] | at most one execution per key at a time across processes; the others wait for the stored result; the lock is released when the call ends, fails, panics or is cancelled, and expires after `lock_ttl` if the process dies | `ttl`; `lock_ttl` (`ttl`); `wait` (`lock_ttl`, per holder; then the caller runs the function unlocked); `step` (10 ms) |
//! | [`early`] | after the early mark exactly one caller (lock-elected across processes) refreshes in the background; everyone gets the current value; a failed refresh is retried by a later call; a cold key is a plain call | `ttl`; `early_ttl` (`ttl / 3`); `lock_ttl` (until the value expires); `xfetch(beta)` (off: probabilistic refresh without a lock), `rng_seed` |
//! | [`soft`] | fresh for `soft_ttl`; then recomputed by the caller; on an accepted error the stale value is served until `ttl` | `ttl`, `soft_ttl`; `when` (every error) |
//! | [`rate_limit`] + [`RateLimit`] | fixed window from its first call: at most `limit` calls per `period`, exact (one `incr` per call); the call over the limit starts a ban; refused calls get [`ErrorKind::RateLimited`](crate::ErrorKind::RateLimited) or [`rate_limit_or`]'s action | `limit`, `period`; `ban` (`period`, and never shorter than the window) |
//! | [`rate_limit`] + [`SliceRateLimit`] (slice_rate_limit) | sliding window: at most `limit` calls admitted in any `period`, exact at the edges; refused calls are not counted | `limit`, `period` |
//! | [`circuit_breaker`] | opens for `ttl` when the failure rate of the last `period` reaches `errors_rate` % with at least `min_calls` calls; open, it refuses at once with [`ErrorKind::CircuitOpen`](crate::ErrorKind::CircuitOpen); half-open, a share of calls probe: a success closes it, a failure reopens it | `errors_rate`, `period`, `ttl`; `min_calls` (1); `half_open(ttl, percent)` (none); `failure` (every error) |
//! | [`tagged`], [`tag`], [`delete_tags`] | deleting a tag deletes every key tagged with it, reading the tag's index (no scan) | `tags`, `ttl` |
//!
//! Rate limiters fail open: with caching switched off or the backend down
//! in safe mode, calls are admitted. Their state, locks and breaker state
//! are protective: the memory backend never evicts them for values, and
//! when its protective store is full a limiter refuses (fails closed); see
//! [`Backend::set_protective`](crate::backend::Backend::set_protective).

pub mod invalidate;
pub mod simple;

mod circuit_breaker;
mod clock;
mod early;
mod failover;
mod hit;
mod locked;
mod perf;
mod rate_limit;
mod soft;
pub(crate) mod state;
mod tags;

pub use circuit_breaker::{CircuitBreaker, circuit_breaker};
pub use early::{Early, early};
pub use failover::{Failover, failover};
pub use hit::{Hit, hit};
pub use locked::{Locked, locked};
pub use perf::{Perf, PerfCondition, perf, twice_the_mean};
pub use rate_limit::{Limiter, RateLimit, SliceRateLimit, admitted, rate_limit, rate_limit_or};
pub use soft::{Soft, soft};
pub use tags::{delete_tags, tag, tagged};

/// How a strategy served one call: every strategy reports one of these
/// beside the function's return (see [`Reported`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Served {
    /// The stored value, without running the function.
    Hit,
    /// The value another caller computed while this one waited for it (a
    /// single flight in this process, or [`locked`]'s lock holder).
    Shared,
    /// The function ran for this call: a miss of the caching strategies,
    /// and every admitted call of those that always run it (failover, rate
    /// limits, a closed or probing breaker). Its error, if any, is the
    /// return.
    Miss,
    /// A stored value standing in for a failed call ([`soft`]'s stale
    /// value, [`failover`]'s last good one).
    Stale,
    /// The stored value, and this call started its background refresh
    /// ([`early`], [`hit`]'s `update_after`).
    RefreshStarted,
    /// Refused by a rate limit without running the function.
    RateLimited,
    /// Refused by an open (or half-open) circuit breaker without running
    /// the function.
    CircuitOpen,
}

impl Served {
    /// `value`, reported as served this way.
    pub(crate) const fn with<R>(self, value: R) -> Reported<R> {
        Reported {
            value,
            served: self,
        }
    }
}

/// A strategy's answer: what the call returns, and how it was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "the call's return is in `value`"]
pub struct Reported<R> {
    /// The return, as the function would give it.
    pub value: R,
    /// How the strategy served the call.
    pub served: Served,
}

/// The cache's answer, or `T::default()` (a miss, `false`, `0`) when the
/// cache failed, logged.
///
/// A strategy never fails a call because of the cache, just as the plain
/// cache does not: safe mode already answers a failing backend with empty
/// values, and what still comes back as an error (a backend failure with
/// `safe=0`, a value that cannot be encoded) goes on as if the cache were
/// empty. Only a strategy's own refusals (rate limited, circuit open)
/// reach the caller.
fn answer_or_default<T: Default>(key: &str, command: &'static str, answer: crate::Result<T>) -> T {
    answer.unwrap_or_else(|e| {
        tracing::warn!(key, command, error = %e, "cache command failed; going on without it");
        T::default()
    })
}

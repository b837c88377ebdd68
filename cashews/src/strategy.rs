//! Strategies: what a cached call does on a hit, a miss, a failure or a
//! stampede.
//!
//! Each strategy is a plain async function over a [`Cache`](crate::Cache)
//! handle; the `#[cashews::…]` attributes only build the key and call one of
//! them, so code without macros (closures, dynamic keys) gets the same
//! behaviour.

mod circuit_breaker;
mod clock;
mod early;
mod failover;
mod hit;
mod locked;
mod perf;
mod rate_limit;
mod soft;
mod tags;

pub use circuit_breaker::{CircuitBreaker, circuit_breaker};
pub use early::{Early, early};
pub use failover::{Failover, failover};
pub use hit::{Hit, hit};
pub use locked::{Locked, locked};
pub use perf::{Perf, PerfCondition, perf, twice_the_mean};
pub use rate_limit::{Limiter, RateLimit, SliceRateLimit, rate_limit, rate_limit_or};
pub use soft::{Soft, soft};
pub use tags::{delete_tags, tag, tagged};

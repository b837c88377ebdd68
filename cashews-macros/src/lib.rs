//! The attribute macros of [cashews](https://docs.rs/cashews): use them
//! through that crate (`#[cashews::cache]`, `#[cashews::invalidate]`, and
//! one per strategy: `#[cashews::locked]`, …); they are documented there.
//!
//! Each attribute is thin: it parses its options, checks the key template
//! against the function's parameters, and rewrites the body into one call
//! of a strategy function of `cashews` that code without macros can call
//! too. Every caching attribute also defines the function's companion,
//! `<name>_cache_key` (its cache and the key of a call, `companion.rs`),
//! which `#[cashews::invalidate]` calls. Errors point at the offending
//! token. Set `CASHEWS_MACRO_DEBUG=1` (or to a function's name) while
//! building to print the expansions.

use proc_macro::TokenStream;

use strategies::Strategy;

mod args;
mod cache;
mod companion;
mod function;
mod invalidate;
mod strategies;
mod template;

/// Caches an async function's results. See `cashews::cache`.
#[proc_macro_attribute]
pub fn cache(attr: TokenStream, item: TokenStream) -> TokenStream {
    function::expand("cache", attr, item, cache::expand)
}

/// Deletes cached keys after an async function succeeds. See
/// `cashews::invalidate`.
#[proc_macro_attribute]
pub fn invalidate(attr: TokenStream, item: TokenStream) -> TokenStream {
    function::expand("invalidate", attr, item, invalidate::expand)
}

/// Serves the last good value when the function fails. See `cashews::failover`.
#[proc_macro_attribute]
pub fn failover(attr: TokenStream, item: TokenStream) -> TokenStream {
    function::expand("failover", attr, item, |a, f| {
        strategies::expand(Strategy::Failover, a, f)
    })
}

/// Caches a value for a number of hits. See `cashews::hit`.
#[proc_macro_attribute]
pub fn hit(attr: TokenStream, item: TokenStream) -> TokenStream {
    function::expand("hit", attr, item, |a, f| {
        strategies::expand(Strategy::Hit, a, f)
    })
}

/// Caches only while the function is slow. See `cashews::perf`.
#[proc_macro_attribute]
pub fn perf(attr: TokenStream, item: TokenStream) -> TokenStream {
    function::expand("perf", attr, item, |a, f| {
        strategies::expand(Strategy::Perf, a, f)
    })
}

/// One execution per key across processes. See `cashews::locked`.
#[proc_macro_attribute]
pub fn locked(attr: TokenStream, item: TokenStream) -> TokenStream {
    function::expand("locked", attr, item, |a, f| {
        strategies::expand(Strategy::Locked, a, f)
    })
}

/// Refreshes a hot value in the background before it expires. See `cashews::early`.
#[proc_macro_attribute]
pub fn early(attr: TokenStream, item: TokenStream) -> TokenStream {
    function::expand("early", attr, item, |a, f| {
        strategies::expand(Strategy::Early, a, f)
    })
}

/// Recomputes after a soft TTL, serves stale values on errors. See `cashews::soft`.
#[proc_macro_attribute]
pub fn soft(attr: TokenStream, item: TokenStream) -> TokenStream {
    function::expand("soft", attr, item, |a, f| {
        strategies::expand(Strategy::Soft, a, f)
    })
}

/// A fixed-window rate limit with a ban. See `cashews::rate_limit`.
#[proc_macro_attribute]
pub fn rate_limit(attr: TokenStream, item: TokenStream) -> TokenStream {
    function::expand("rate_limit", attr, item, |a, f| {
        strategies::expand(Strategy::RateLimit, a, f)
    })
}

/// A sliding-window rate limit. See `cashews::slice_rate_limit`.
#[proc_macro_attribute]
pub fn slice_rate_limit(attr: TokenStream, item: TokenStream) -> TokenStream {
    function::expand("slice_rate_limit", attr, item, |a, f| {
        strategies::expand(Strategy::SliceRateLimit, a, f)
    })
}

/// A circuit breaker. See `cashews::circuit_breaker`.
#[proc_macro_attribute]
pub fn circuit_breaker(attr: TokenStream, item: TokenStream) -> TokenStream {
    function::expand("circuit_breaker", attr, item, |a, f| {
        strategies::expand(Strategy::CircuitBreaker, a, f)
    })
}

/// Caches a value under tags. See `cashews::tagged`.
#[proc_macro_attribute]
pub fn tagged(attr: TokenStream, item: TokenStream) -> TokenStream {
    function::expand("tagged", attr, item, |a, f| {
        strategies::expand(Strategy::Tagged, a, f)
    })
}

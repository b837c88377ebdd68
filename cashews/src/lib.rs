//! Async caching toolkit: put a cache in front of any async function, on
//! memory, Redis or memcached, chosen by one URL.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
//! use std::time::Duration;
//!
//! let cache = cashews::Cache::from_url("mem://?size=10000")?;
//! cache.set("user:1", &"Ada", Duration::from_secs(60)).await?;
//! let name: Option<String> = cache.get("user:1").await?;
//! assert_eq!(name.as_deref(), Some("Ada"));
//! # Ok(()) }
//! ```
//!
//! The pieces:
//! - [`Cache`]: a cheap handle with the basic commands (`get`, `set`, `incr`,
//!   `delete_match`, locks, …), typing values through serde and signing them
//!   when a `hash_key` is set. [`setup`] configures a global one.
//! - [`settings`]: the setup URLs and their options.
//! - [`backend`]: the [`Backend`](backend::Backend) trait and the built-in backends.
//! - [`pattern`]: Redis glob patterns, matched and escaped.
//! - TTLs: [`IntoTtl`] and [`parse_ttl`].
//!
//! Safe mode (on by default) turns backend failures into empty answers (a
//! miss, `false`, `0`), logged with `tracing` and counted in
//! [`Cache::stats`]; with `safe=0` they come back as [`Error`]s.
//!
//! # Features
//!
#![doc = document_features::document_features!()]
// docs.rs marks each item a feature gates with that feature.
#![cfg_attr(docsrs, feature(doc_cfg))]
// Nothing a caller passes or a server replies may panic the library: no
// unwrap, expect, indexing or panic!, but where an `allow` gives the reason.
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

pub mod backend;
mod cache;
mod codec;
mod error;
pub mod key;
pub mod pattern;
pub mod settings;
mod single_flight;
pub mod strategy;
pub mod switch;
mod ttl;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

#[doc(hidden)]
pub mod __private;

pub use backend::{Exist, Expiry};
pub use cache::{Cache, CacheBuilder, CacheStats, LockGuard, global, set_global, setup};
pub use error::{Error, ErrorKind, Result};
pub use key::{KeyArg, KeyBuf, KeyPart};
pub use settings::{BackendSettings, Secret, Settings};
pub use ttl::{IntoTtl, parse_ttl};

/// Caches the results of an `async fn`: a hit returns the stored value, a
/// miss runs the function and stores what it returned.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// #[cashews::cache(ttl = "10m")]
/// async fn square(n: u64) -> u64 {
///     n * n // runs once per `n` every ten minutes
/// }
///
/// assert_eq!(square(12).await, 144); // miss: runs and stores
/// assert_eq!(square(12).await, 144); // hit
/// # }
/// ```
///
/// The function keeps its signature, generics, `where` clauses, visibility,
/// attributes and docs; methods (`&self`) and functions in `impl` blocks
/// work too. Its body becomes one call of
/// [`strategy::simple::cache`], which code without macros can call as well
/// (or use [`Cache::cached`]).
///
/// # What is stored
///
/// The return type decides: a `Result<T, E>` stores only `Ok` values and
/// returns errors untouched (your own `E`, no conversion); an `Option<T>`
/// or any other type is stored whole, `None` included. Stored values are
/// `Serialize + DeserializeOwned + Clone + Send + Sync + 'static` (the
/// `Clone` hands one result to concurrent callers).
///
/// # Options
///
/// | option | meaning | default |
/// |---|---|---|
/// | `ttl` | how long a value lives: `"1h30m"` (checked when compiling), `600` (seconds), any [`IntoTtl`] expression (`Duration::from_secs(60)`, `self.ttl`), or a closure of the stored value returning an [`IntoTtl`] | required |
/// | `key` | a key template: `"user:{id}"`, `"{user.id}"`, `"{self.tenant}:{id}"`, `"{token:hash}"`, `"{name:lower}"`, `"{name:upper}"`, `"{items:len}"`, `"{uuid:display}"` (see [`key`]); naming a parameter that does not exist, or two values without a `:` between them, is a compile error; values are escaped (`:` as `%3A`, `%` as `%25`) | the function's path, then `:name:value` for each parameter but `self` |
/// | `prefix` | text put before the key, as `prefix:key` | none |
/// | `cache` | the [`Cache`] to use: any expression giving a `Cache` or `&Cache` (`self.cache`, `&CACHE`) | [`global()`] |
/// | `condition` | a closure of the stored value (`&T` of an `Ok(T)`, or the whole value) returning whether to store it | store every value |
/// | `time_condition` | store a value only if computing it took at least this long, on tokio's clock: `"200ms"` (checked when compiling), seconds, or a `Duration` expression; a faster result is returned but not stored | store every value |
/// | `cache_errors` | for a `Result`: also store the errors chosen, and return them on later hits: `true` (every error), a list of patterns (`[MyError::NotFound, MyError::Status(404)]`), or a predicate `\|e: &MyError\| ...`; the error type must be `Serialize + DeserializeOwned + Clone` (a compile error says so); the whole `Result` is then stored, so entries stored without it read as misses | no error stored |
/// | `protected` | whether concurrent misses of one key share one execution | `true` |
/// | `crate` | the path of this crate when it is renamed or re-exported: `crate = "my_cashews"` | `"cashews"` |
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
///
/// #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// struct User { id: u64, name: String, active: bool }
///
/// #[derive(Debug)]
/// struct DbError;
///
/// struct Users { cache: cashews::Cache, ttl: Duration }
///
/// impl Users {
///     /// Stored at `users:user:7`, only when the user is active; errors
///     /// are never stored and come back as they are.
///     #[cashews::cache(
///         ttl = self.ttl,
///         key = "user:{id}",
///         prefix = "users",
///         cache = self.cache,
///         condition = |user| user.active,
///     )]
///     async fn get(&self, id: u64) -> Result<User, DbError> {
///         Ok(User { id, name: "Ada".into(), active: true })
///     }
///
///     /// The TTL chosen per value: empty answers are kept briefly.
///     #[cashews::cache(
///         ttl = |found| if found.is_some() { Duration::from_secs(600) } else { Duration::from_secs(5) },
///         key = "by-name:{name:lower}",
///         cache = self.cache,
///         protected = false,
///     )]
///     async fn find(&self, name: &str) -> Option<User> {
///         None
///     }
/// }
///
/// let users = Users { cache: cashews::Cache::from_url("mem://").unwrap(), ttl: Duration::from_secs(60) };
/// assert_eq!(users.get(7).await.unwrap().name, "Ada");
/// assert!(users.cache.exists("users:user:7").await.unwrap());
/// assert!(users.find("ADA").await.is_none());
/// assert!(users.cache.exists("by-name:ada").await.unwrap());
/// # }
/// ```
///
/// `cache_errors` and `time_condition`: a "not found" is as worth keeping
/// as a user, a timeout is not; and a report is kept only when it was slow
/// to build.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
/// enum LookupError { NotFound, Timeout }
///
/// #[cashews::cache(ttl = "10m", key = "user:{id}", cache_errors = [LookupError::NotFound])]
/// async fn user_name(id: u64) -> Result<String, LookupError> {
///     if id == 0 { Err(LookupError::NotFound) } else { Err(LookupError::Timeout) }
/// }
///
/// #[cashews::cache(ttl = "1h", key = "report:{day}", time_condition = "200ms")]
/// async fn report(day: u32) -> Vec<u32> {
///     vec![day] // fast: returned, not stored
/// }
///
/// assert_eq!(user_name(0).await, Err(LookupError::NotFound));
/// assert!(cashews::global().exists("user:0").await.unwrap());
/// assert_eq!(user_name(1).await, Err(LookupError::Timeout));
/// assert!(!cashews::global().exists("user:1").await.unwrap());
/// assert_eq!(report(3).await, [3]);
/// assert!(!cashews::global().exists("report:3").await.unwrap());
/// # }
/// ```
///
/// # Guarantees
///
/// - Protected: 100 concurrent calls with one key run the function once;
///   the others get a clone of its value. If that call fails, panics or is
///   cancelled, the next waiter runs the function: nobody hangs.
/// - Safe: a cache that fails (a backend down) never fails the call: the
///   function runs.
/// - Keys are the same in every process, and different arguments never
///   share a key: templates and default keys escape `:` and `%` in every
///   value, and a template puts a `:` between values. A method's
///   default key starts with `type_name::<Self>()`; give a `key` to a
///   method whose keys must stay the same across compiler versions, and to
///   associated functions without `self` (their default key has only the
///   module path, not the type).
///
/// # The companion: `<name>_cache_key`
///
/// Next to the function, the attribute defines `<name>_cache_key`, with the
/// function's visibility, generics and parameters, each parameter taken as a
/// [`KeyPart`] (a method's companion takes `&self`). It returns an
/// [`Invalidation`](strategy::invalidate::Invalidation): the cache the
/// function uses and the key of its call with those arguments, the same
/// bytes the call stores; with an argument given as [`KeyPart::ANY`], a
/// pattern (`*` there, every other part glob-escaped). Use it to read or
/// delete an entry by hand; [`invalidate`] calls it. A parameter that the
/// `cache` option reads (`cache = cache`) is a `KeyPart<T, ChoosesCache>`,
/// always given. Every caching attribute (the strategies too) defines one,
/// unless told `companion = false`: a method in a trait impl needs that (a
/// trait impl holds only the trait's items); invalidate its keys with a
/// pattern (`#[invalidate("user:{id}")]`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// use cashews::KeyPart;
///
/// #[cashews::cache(ttl = "1h", key = "user:{id}:{field}")]
/// async fn user_field(id: u64, field: &str) -> String {
///     format!("{field} of user {id}")
/// }
///
/// user_field(1, "name").await;
/// let name = user_field_cache_key(1.into(), "name".into());
/// assert_eq!(name.key().as_deref(), Some("user:1:name"));
/// assert!(name.cache().exists("user:1:name").await?);
/// let every_field = user_field_cache_key(1.into(), KeyPart::ANY);
/// assert_eq!(every_field.pattern(), "user:1:*");
/// assert_eq!(every_field.run().await?, 1); // deleted
/// # Ok(()) }
/// ```
///
/// Errors point at the offending token: a missing `ttl`, a malformed TTL
/// literal, an unknown option or template parameter, a parameter that is
/// not [`KeyArg`], a function that is not `async`. Set
/// `CASHEWS_MACRO_DEBUG=1` (or to a function's name) while building to print
/// what the attribute expands to.
pub use cashews_macros::cache;

/// After an `async fn` succeeds (returns `Ok` for a `Result`; always for
/// other types), deletes cached keys: by a key pattern of its arguments, or
/// the keys of a call of a [`cache`]d function.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// #[cashews::cache(ttl = "1h", key = "user:{id}:{field}")]
/// async fn user_field(id: u64, field: &str) -> String {
///     format!("{field} of user {id}")
/// }
///
/// #[cashews::cache(ttl = "1h")]
/// async fn page(n: u32) -> Vec<String> {
///     vec![format!("item of page {n}")]
/// }
///
/// /// Deletes `user:{id}:*` (every field of this user, `_` being any
/// /// value) and every cached page, once the update succeeded.
/// #[cashews::invalidate(user_field(id, _), page(_))]
/// async fn rename(id: u64, name: &str) -> Result<(), std::io::Error> {
///     Ok(())
/// }
///
/// /// Patterns: the text is a glob, values are escaped, so a name of `*`
/// /// deletes only that user's keys.
/// #[cashews::invalidate("user:{id}:*")]
/// async fn forget(id: &str) {}
///
/// user_field(1, "name").await;
/// page(1).await;
/// rename(1, "Ada").await.unwrap();
/// assert!(!cashews::global().exists("user:1:name").await.unwrap());
/// # forget("*").await;
/// # }
/// ```
///
/// Targets, any number, comma-separated:
///
/// - `"items:page:*"`, `"user:{user.id}:*"`: a pattern (Redis glob) whose
///   `{…}` are templates of this function's arguments, as in [`cache`]'s
///   `key`; the values are escaped as in keys, then with
///   [`pattern::escape`]. Deleted on the `cache = …` option's cache
///   ([`global()`] by default).
/// - `get_user(user.id, _)`, `self.get_user(id, _)`, `Self::get(self, _)`:
///   a call of a function with a caching attribute, which does not run: it
///   is a call of that function's companion, `get_user_cache_key` (see
///   [`cache`]), each argument a [`KeyPart::Value`] and each `_` any value.
///   With every argument given, that is the one key the call stores,
///   deleted directly; with a `_`, a pattern (`*` for it). Deleted on that
///   function's own cache. The compiler checks the call: a function without
///   a caching attribute (no companion: "cannot find function
///   `name_cache_key`"), too many or too few arguments, an argument of the
///   wrong type, or `_` for the parameter that chooses the cache fail the
///   build at that token.
///
/// The targets are built from the arguments before the body runs.
/// Failures to delete are logged, never returned. Options: `cache`, `crate`
/// (as for [`cache`]). The same without macros:
/// [`strategy::invalidate`].
pub use cashews_macros::invalidate;

/// Runs an `async fn` returning `Result` every time; stores each success,
/// and when it fails, returns the last good value instead (or the error if
/// there is none). One call of [`strategy::failover`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// #[derive(Debug)]
/// enum FetchError { Timeout, NotFound }
///
/// // Falls back on timeouts only; stored at `fail:rate:{currency}`.
/// #[cashews::failover(ttl = "1h", key = "rate:{currency}", when = |e| matches!(e, FetchError::Timeout))]
/// async fn rate(currency: &str, up: bool) -> Result<f64, FetchError> {
///     if up { Ok(1.08) } else { Err(FetchError::Timeout) }
/// }
///
/// assert_eq!(rate("EUR", true).await.unwrap(), 1.08);
/// assert_eq!(rate("EUR", false).await.unwrap(), 1.08); // the last good value
/// # let _ = FetchError::NotFound;
/// # }
/// ```
///
/// Options: `ttl` (required; as for [`cache`]: `"1h"`, seconds or a
/// `Duration` expression), `when` (a closure or `fn` of `&E`: which errors
/// fall back; default all), and `key`, `prefix` (default `"fail"`),
/// `cache`, `crate` as for [`cache`].
pub use cashews_macros::failover;

/// Caches a value for at most `cache_hits` hits (and `ttl`); with
/// `update_after`, one background refresh starts at that hit. One call of
/// [`strategy::hit`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::sync::atomic::{AtomicU32, Ordering};
/// static CALLS: AtomicU32 = AtomicU32::new(0);
///
/// #[cashews::hit(ttl = "1h", cache_hits = 3)]
/// async fn count() -> u32 {
///     CALLS.fetch_add(1, Ordering::SeqCst) + 1
/// }
///
/// let mut seen = Vec::new();
/// for _ in 0..9 {
///     seen.push(count().await);
/// }
/// assert_eq!(seen, [1, 1, 1, 1, 2, 2, 2, 2, 3]);
/// # }
/// ```
///
/// Options: `ttl`, `cache_hits` (required), `update_after`, and `key`,
/// `prefix`, `cache`, `crate` as for [`cache`]. Any return type works (a
/// `Result` stores only `Ok`). The arguments must be owned (`'static`),
/// since a refresh outlives the call.
pub use cashews_macros::hit;

/// Caches an `async fn`'s result only while it is slower than usual (by
/// default: more than twice the mean of its last `trace_size` calls). One
/// call of [`strategy::perf`].
///
/// ```
/// #[cashews::perf(ttl = "30s", trace_size = 20)]
/// async fn quote(symbol: String) -> u64 {
///     42
/// }
/// ```
///
/// Options: `ttl` (required), `trace_size` (10), `perf_condition` (a
/// [`PerfCondition`](strategy::PerfCondition) `fn`), and `key`, `prefix`,
/// `cache`, `crate` as for [`cache`]. The function's trace is kept in its
/// cache, in this process.
pub use cashews_macros::perf;

/// Runs an `async fn` at most once at a time per key, across processes
/// sharing the backend; the other callers wait for its stored result. One
/// call of [`strategy::locked`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// #[cashews::locked(ttl = "10m", lock_ttl = "30s", key = "report:{day}")]
/// async fn report(day: u32) -> Vec<u32> {
///     vec![day] // expensive: computed once, however many ask at once
/// }
///
/// let (a, b) = tokio::join!(report(1), report(1));
/// assert_eq!(a, b);
/// # }
/// ```
///
/// Options: `ttl` (required), `lock_ttl` (`ttl`), `wait` (`lock_ttl`),
/// `step` (10 ms), and `key`, `prefix`, `cache`, `crate` as for [`cache`].
pub use cashews_macros::locked;

/// Keeps a hot value fresh: after `early_ttl` (a third of `ttl` by
/// default) one caller, elected by a lock across processes, refreshes it in
/// the background while everyone gets the current value. One call of
/// [`strategy::early`].
///
/// ```
/// #[cashews::early(ttl = "10m", early_ttl = "8m")]
/// async fn top_products() -> Vec<u64> {
///     vec![1, 2, 3]
/// }
/// ```
///
/// Options: `ttl` (required), `early_ttl`, `lock_ttl`, `xfetch` (a `beta`
/// for probabilistic early expiration instead of the mark), and `key`,
/// `prefix`, `cache`, `crate` as for [`cache`]. The arguments must be owned
/// (`'static`), since the refresh outlives the call.
pub use cashews_macros::early;

/// Serves a value while it is fresh (`soft_ttl`), then recomputes it in the
/// caller; when that fails, serves the stale value until `ttl`. One call of
/// [`strategy::soft`].
///
/// ```
/// #[cashews::soft(ttl = "1h", soft_ttl = "1m")]
/// async fn config(name: String) -> Result<String, std::io::Error> {
///     Ok(format!("{name}=on"))
/// }
/// ```
///
/// Options: `ttl`, `soft_ttl` (required), `when` (which errors serve the
/// stale value; default all), and `key`, `prefix`, `cache`, `crate` as for
/// [`cache`]. The function returns a `Result`.
pub use cashews_macros::soft;

/// At most `limit` calls per `period` (a fixed window, per arguments by
/// default); the call over the limit starts a ban of `ttl` (default
/// `period`). A refused call does not run: it returns `action`, or an
/// [`Error`] of kind [`ErrorKind::RateLimited`] converted into the
/// function's error type. See [`strategy::RateLimit`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// #[cashews::rate_limit(limit = 2, period = "1m", key = "login:{user}")]
/// async fn login(user: &str) -> Result<(), cashews::Error> {
///     Ok(())
/// }
///
/// /// A refused search answers with no results instead.
/// #[cashews::rate_limit(limit = 1, period = "1s", action = Vec::new())]
/// async fn search(user: u64) -> Vec<String> {
///     vec!["result".into()]
/// }
///
/// assert!(login("ada").await.is_ok());
/// assert!(login("ada").await.is_ok());
/// assert!(login("ada").await.unwrap_err().is_rate_limited());
/// assert_eq!(search(1).await.len(), 1);
/// assert!(search(1).await.is_empty());
/// # }
/// ```
///
/// Options: `limit`, `period` (required), `ttl`, `action` (an expression
/// of the return type, which may use the arguments), and `key`, `prefix`,
/// `cache`, `crate` as for [`cache`].
pub use cashews_macros::rate_limit;

/// At most `limit` calls in any `period` (a sliding window, exact at its
/// edges); otherwise as [`rate_limit`]. See [`strategy::SliceRateLimit`].
///
/// ```
/// #[cashews::slice_rate_limit(limit = 100, period = "1m", key = "api:{token:hash}")]
/// async fn api(token: String) -> Result<u32, cashews::Error> {
///     Ok(200)
/// }
/// ```
///
/// Options: `limit`, `period` (required), `action`, and `key`, `prefix`,
/// `cache`, `crate` as for [`cache`].
pub use cashews_macros::slice_rate_limit;

/// A circuit breaker per function: once `errors_rate` percent of the calls
/// of the last `period` failed (with at least `min_calls`), calls are
/// refused for `ttl` with an [`Error`] of kind [`ErrorKind::CircuitOpen`]
/// converted into the function's error type; then, with `half_open_ttl`,
/// `half_open_percent` of the calls probe. One call of
/// [`strategy::circuit_breaker`].
///
/// ```
/// #[derive(Debug)]
/// enum PayError { Down, Cache(cashews::Error) }
/// impl From<cashews::Error> for PayError {
///     fn from(e: cashews::Error) -> Self { Self::Cache(e) }
/// }
///
/// #[cashews::circuit_breaker(errors_rate = 50, period = "1m", ttl = "30s", min_calls = 20,
///                            half_open_ttl = "10s", failure = |e| matches!(e, PayError::Down))]
/// async fn pay(amount: u64) -> Result<u64, PayError> {
///     Ok(amount)
/// }
/// ```
///
/// Options: `errors_rate`, `period`, `ttl` (required), `min_calls` (1),
/// `half_open_ttl` (none), `half_open_percent` (10), `failure` (which
/// errors count; default all), and `key` (default: the function's path,
/// without its arguments), `prefix`, `cache`, `crate` as for [`cache`].
pub use cashews_macros::circuit_breaker;

/// Caches an `async fn`'s results, tagging each stored key with `tags`
/// (key templates of the arguments); [`strategy::delete_tags`] deletes
/// every key carrying a tag. One call of [`strategy::tagged`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// #[cashews::tagged(ttl = "1h", key = "user:{id}:orders", tags = ["user:{id}"])]
/// async fn orders(id: u64) -> Vec<u64> {
///     vec![id * 10]
/// }
///
/// orders(1).await;
/// assert!(cashews::global().exists("user:1:orders").await.unwrap());
/// cashews::strategy::delete_tags(cashews::global(), &["user:1"]).await.unwrap();
/// assert!(!cashews::global().exists("user:1:orders").await.unwrap());
/// # }
/// ```
///
/// Options: `ttl`, `tags` (required), and `key`, `prefix`, `cache`, `crate`
/// as for [`cache`]. Each tag keeps an index of its keys, so deleting
/// tags works on every backend without a scan.
pub use cashews_macros::tagged;

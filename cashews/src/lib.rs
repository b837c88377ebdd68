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
pub use key::KeyArg;
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
/// | `key` | a key template: `"user:{id}"`, `"{user.id}"`, `"{self.tenant}:{id}"`, `"{token:hash}"`, `"{name:lower}"`, `"{name:upper}"`, `"{items:len}"`, `"{uuid:display}"` (see [`key`]); naming a parameter that does not exist is a compile error | the function's path, then `:name:value` for each parameter but `self` |
/// | `prefix` | text put before the key, as `prefix:key` | none |
/// | `cache` | the [`Cache`] to use: any expression giving a `Cache` or `&Cache` (`self.cache`, `&CACHE`) | [`global()`] |
/// | `condition` | a closure of the stored value (`&T` of an `Ok(T)`, or the whole value) returning whether to store it | store every value |
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
/// # Guarantees
///
/// - Protected: 100 concurrent calls with one key run the function once;
///   the others get a clone of its value. If that call fails, panics or is
///   cancelled, the next waiter runs the function: nobody hangs.
/// - Safe: a cache that fails (a backend down) never fails the call: the
///   function runs.
/// - Keys are the same in every process: the default key escapes `:` and
///   `%` in values so that different arguments never share a key. A method's
///   default key starts with `type_name::<Self>()`; give a `key` to a
///   method whose keys must stay the same across compiler versions, and to
///   associated functions without `self` (their default key has only the
///   module path, not the type).
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
///   `key`; the values are escaped with [`pattern::escape`]. Deleted on the
///   `cache = …` option's cache ([`global()`] by default).
/// - `get_user(user.id, _)`, `self.get_user(id, _)`: a call of a
///   `#[cashews::cache]` function, checked by the compiler like any call.
///   It does not run: its key is built, the same way that function builds
///   it, with each `_` argument as `*`, and deleted on that function's own
///   cache. A `_` parameter's type needs `Default` (a placeholder, never
///   read). Name only cached functions: another function's code would run
///   up to its first `.await` before the mistake is reported (logged).
///
/// The targets are built from the arguments before the body runs.
/// Failures to delete are logged, never returned. Options: `cache`, `crate`
/// (as for [`cache`]). The same without macros:
/// [`strategy::invalidate`].
pub use cashews_macros::invalidate;

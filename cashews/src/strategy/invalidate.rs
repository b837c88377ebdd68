//! Invalidation: after a call succeeds, delete the keys it made stale.
//!
//! An [`Invalidation`] is a pattern on a cache, made either from a pattern
//! you write ([`Invalidation::new`]) or by the companion of a cached
//! function (`<name>_cache_key`, see [`cache`](crate::cache)): that
//! function's cache and the key of a call, with the arguments given as
//! [`KeyPart::ANY`](crate::KeyPart::ANY) written as `*`. [`after`] runs a
//! call and, if it succeeded, the invalidations;
//! [`#[cashews::invalidate]`](crate::invalidate) is that call, written as
//! an attribute.
//!
//! Values placed into patterns are escaped (see
//! [`pattern::escape`]): a user named `*` deletes
//! only their own keys.
//!
//! A pattern with no unescaped glob character (a companion's key with no
//! wildcard, a template with every value given) names one key: it is
//! deleted directly, one `delete`, on every backend. Only a real pattern
//! scans the keyspace (`delete_match`), which memcached cannot do: there
//! the invalidation fails, is logged at `error` level and counted in
//! [`CacheStats::failed_invalidations`](crate::CacheStats::failed_invalidations).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
//! use cashews::KeyPart;
//!
//! #[cashews::cache(ttl = "1h", key = "user:{id}:{field}")]
//! async fn user_field(id: u64, field: &str) -> String {
//!     format!("{field} of {id}")
//! }
//!
//! user_field(1, "name").await;
//! user_field(1, "email").await;
//! user_field(2, "name").await;
//! // Every field of user 1.
//! let stale = user_field_cache_key(KeyPart::Value(1), KeyPart::ANY);
//! assert_eq!(stale.pattern(), "user:1:*");
//! assert_eq!(stale.run().await?, 2);
//! # Ok(()) }
//! ```

use std::future::Future;

use std::borrow::Cow;

use crate::cache::Cache;
use crate::error::Result;
use crate::pattern;

/// Keys to delete: a Redis glob pattern on a cache.
#[derive(Debug, Clone)]
pub struct Invalidation {
    cache: Cache,
    pattern: String,
}

impl Invalidation {
    /// Deletes the keys of `cache` matching `pattern`. Escape the values you
    /// place in it with [`pattern::escape`] (first
    /// with [`key::escape`](crate::key::escape) to meet the keys the
    /// attributes write).
    pub fn new(cache: &Cache, pattern: impl Into<String>) -> Self {
        Self {
            cache: cache.clone(),
            pattern: pattern.into(),
        }
    }

    /// The cache whose keys are deleted.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The pattern of the keys deleted.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The one key the pattern names, if it is [exact](Self::is_exact):
    /// for a companion's key with every argument given, the key the cached
    /// call stores, byte for byte.
    pub fn key(&self) -> Option<Cow<'_, str>> {
        self.is_exact().then(|| pattern::unescape(&self.pattern))
    }

    /// Whether the pattern names one key (it has no unescaped glob
    /// character), which [`run`](Self::run) deletes directly.
    pub fn is_exact(&self) -> bool {
        pattern::is_literal(&self.pattern)
    }

    /// Deletes the matching keys now; how many. An [exact](Self::is_exact)
    /// pattern is one `delete`; any other a `delete_match`, which fails
    /// with [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) on
    /// memcached.
    pub async fn run(&self) -> Result<u64> {
        if self.is_exact() {
            let key = pattern::unescape(&self.pattern);
            return Ok(u64::from(self.cache.delete(&key).await?));
        }
        self.cache.delete_match(&self.pattern).await
    }
}

/// Runs `f`; if `succeeded` says its result is a success, runs the
/// invalidations. The result is returned as it is: its write has happened,
/// so a failure to run an invalidation never fails the call; it is logged
/// at `error` level and counted in
/// [`CacheStats::failed_invalidations`](crate::CacheStats::failed_invalidations).
///
/// The invalidations are built before `f` runs, from the arguments as they
/// are then.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// use cashews::strategy::invalidate::{Invalidation, after};
///
/// let cache = cashews::Cache::from_url("mem://")?;
/// cache.set("items:page:1", &["a"], 60).await?;
/// let saved: Result<(), std::io::Error> = after(
///     [Invalidation::new(&cache, "items:page:*")],
///     Result::is_ok,
///     || async { Ok(()) },
/// )
/// .await;
/// assert!(saved.is_ok());
/// assert!(!cache.exists("items:page:1").await?);
/// # Ok(()) }
/// ```
pub async fn after<R, I, S, F, Fut>(invalidations: I, succeeded: S, f: F) -> R
where
    I: IntoIterator<Item = Invalidation>,
    S: FnOnce(&R) -> bool,
    F: FnOnce() -> Fut,
    Fut: Future<Output = R>,
{
    let invalidations: Vec<Invalidation> = invalidations.into_iter().collect();
    let result = f().await;
    if succeeded(&result) {
        for inv in invalidations {
            if let Err(e) = inv.run().await {
                inv.cache.count_failed_invalidation();
                tracing::error!(
                    pattern = inv.pattern,
                    error = %e,
                    "invalidation failed; the keys stay until their ttl"
                );
            }
        }
    }
    result
}

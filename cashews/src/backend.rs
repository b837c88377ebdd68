//! Backends: where bytes are stored.
//!
//! A [`Backend`] speaks bytes and implements the commands of the basic API
//! with Redis semantics. The [`Cache`](crate::Cache) adds typing, signing,
//! prefixes and safe mode on top, so a backend stays small. Built-in backends
//! are chosen by URL; implement [`Backend`] to plug in your own and pass it to
//! [`Cache::builder`](crate::Cache::builder). [`RoutedBackend`] puts several
//! behind one cache, chosen by key prefix.
//!
//! State that enforces a limit (rate-limit windows and bans, locks,
//! circuit-breaker state) is written with the *protective* commands
//! ([`Backend::set_protective`], [`Backend::incr_protective`], and
//! `set_lock`, `fixed_window`, `slide_window` through them), and so is
//! every set ([`Backend::set_add`]: a tag's index, which invalidation
//! reads). The memory backend never evicts it to make room for values; a
//! Redis server under an `allkeys-*` `maxmemory-policy`, or memcached, may:
//! route those keys (tag indexes live under `cashews:tag:`) to a store that
//! does not evict (see [`Backend::set_protective`]).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use self::any::AnyBackend;
use self::native::Boxed;
use crate::error::{Error, ErrorKind, Result};

pub(crate) mod any;
#[cfg(any(feature = "redis", feature = "memcached"))]
mod backoff;
mod members;
#[cfg(feature = "memcached")]
#[cfg_attr(docsrs, doc(cfg(feature = "memcached")))]
pub mod memcached;
pub mod memory;
pub(crate) mod native;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
pub mod routed;
#[cfg(any(feature = "redis", feature = "memcached"))]
mod runtime_watch;

/// A listing (memcached's `lru_crawler metadump`, a Redis `SCAN` to its
/// end) must end within this many `socket_timeout`s, so that a server
/// sending lines or pages forever cannot hold the caller forever: one
/// minute at the default timeout.
#[cfg(any(feature = "redis", feature = "memcached"))]
const LISTING_TIMEOUTS: u32 = 60;

#[cfg(feature = "memcached")]
#[cfg_attr(docsrs, doc(cfg(feature = "memcached")))]
pub use memcached::MemcachedBackend;
pub use memory::MemoryBackend;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisBackend;
pub use routed::RoutedBackend;

/// The largest `limit` of [`Backend::slide_window`] on the built-in
/// backends: each keeps a slot key per admission and reads them all on
/// every call.
pub const SLIDE_WINDOW_SLOTS: u64 = 10_000;

/// Refuses a sliding window of more than [`SLIDE_WINDOW_SLOTS`] calls.
pub(crate) fn check_slots(limit: u64) -> Result<()> {
    if limit <= SLIDE_WINDOW_SLOTS {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Unsupported,
        format!(
            "a sliding window of {limit} calls: it keeps a key per admitted call, \
             at most {SLIDE_WINDOW_SLOTS}; use a fixed window (RateLimit) for more"
        ),
    ))
}

/// A condition on whether the key already exists, for [`Backend::set`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exist {
    /// Store only if the key does not exist (Redis `NX`).
    Absent,
    /// Store only if the key exists (Redis `XX`).
    Present,
}

/// How long a key has left, as told by [`Backend::get_expire`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Expiry {
    /// There is no such key.
    #[default]
    Missing,
    /// The key exists and never expires.
    Persistent,
    /// The key exists and expires after this long.
    Remaining(Duration),
}

/// A store of bytes under string keys, with Redis semantics.
///
/// Every method may fail with a backend failure (connection, timeout,
/// server error); the [`Cache`](crate::Cache) decides what the caller sees.
/// Expired keys are never returned, counted or matched.
///
/// Implement it with [`async_trait`](https://docs.rs/async-trait) (as
/// below), which keeps the trait usable as `dyn Backend`: a cache calls a
/// backend of yours through it, one boxed future per command. The
/// built-in backends implement it too, for calling them directly, but a
/// cache dispatches to them without boxing, and keeps the memory
/// backend's hit path (a typed value read in place, with no future).
///
/// ```
/// use bytes::Bytes;
/// use cashews::backend::{Backend, MemoryBackend};
///
/// /// Counts the gets of the memory store it wraps.
/// struct Counting(MemoryBackend, std::sync::atomic::AtomicU64);
///
/// #[async_trait::async_trait]
/// impl Backend for Counting {
///     async fn get(&self, key: &str) -> cashews::Result<Option<Bytes>> {
///         self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///         self.0.get(key).await
///     }
///     // ... every other required command, delegated to `self.0`.
/// #   async fn get_many(&self, k: &[&str]) -> cashews::Result<Vec<Option<Bytes>>> { self.0.get_many(k).await }
/// #   async fn set(&self, k: &str, v: Bytes, e: Option<std::time::Duration>, x: Option<cashews::Exist>) -> cashews::Result<bool> { self.0.set(k, v, e, x).await }
/// #   async fn set_many(&self, p: &[(&str, Bytes)], e: Option<std::time::Duration>) -> cashews::Result<()> { self.0.set_many(p, e).await }
/// #   async fn delete(&self, k: &str) -> cashews::Result<bool> { self.0.delete(k).await }
/// #   async fn delete_many(&self, k: &[&str]) -> cashews::Result<u64> { self.0.delete_many(k).await }
/// #   async fn delete_match(&self, p: &str) -> cashews::Result<u64> { self.0.delete_match(p).await }
/// #   async fn scan(&self, p: &str) -> cashews::Result<Vec<String>> { self.0.scan(p).await }
/// #   async fn get_match(&self, p: &str) -> cashews::Result<Vec<(String, Bytes)>> { self.0.get_match(p).await }
/// #   async fn exists(&self, k: &str) -> cashews::Result<bool> { self.0.exists(k).await }
/// #   async fn incr(&self, k: &str, b: i64, e: Option<std::time::Duration>) -> cashews::Result<i64> { self.0.incr(k, b, e).await }
/// #   async fn expire(&self, k: &str, t: std::time::Duration) -> cashews::Result<bool> { self.0.expire(k, t).await }
/// #   async fn get_expire(&self, k: &str) -> cashews::Result<cashews::Expiry> { self.0.get_expire(k).await }
/// #   async fn ping(&self, m: Option<&[u8]>) -> cashews::Result<Bytes> { self.0.ping(m).await }
/// #   async fn clear(&self) -> cashews::Result<()> { self.0.clear().await }
/// #   async fn unlock(&self, k: &str, v: &[u8]) -> cashews::Result<bool> { self.0.unlock(k, v).await }
/// #   async fn get_size(&self, k: &str) -> cashews::Result<Option<u64>> { self.0.get_size(k).await }
/// #   async fn get_keys_count(&self) -> cashews::Result<u64> { self.0.get_keys_count().await }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// let cache = cashews::Cache::builder(Counting(MemoryBackend::new(Default::default()), 0.into())).build();
/// cache.set("k", &1, 60).await?;
/// assert_eq!(cache.get::<i32>("k").await?, Some(1));
/// # Ok(()) }
/// ```
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The value of `key`.
    async fn get(&self, key: &str) -> Result<Option<Bytes>>;

    /// The values of `keys`, in order.
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>>;

    /// Stores `value` under `key`, with an optional expiry and condition.
    /// Without `expire` the key has no TTL, even if it had one before.
    /// Returns whether it stored.
    async fn set(
        &self,
        key: &str,
        value: Bytes,
        expire: Option<Duration>,
        exist: Option<Exist>,
    ) -> Result<bool>;

    /// Stores every pair, all with the same expiry.
    async fn set_many(&self, pairs: &[(&str, Bytes)], expire: Option<Duration>) -> Result<()>;

    /// Deletes `key`; whether it existed.
    async fn delete(&self, key: &str) -> Result<bool>;

    /// Deletes `keys`; how many existed.
    async fn delete_many(&self, keys: &[&str]) -> Result<u64>;

    /// Deletes every key matching the Redis glob `pattern`; how many.
    async fn delete_match(&self, pattern: &str) -> Result<u64>;

    /// The keys matching the Redis glob `pattern`, in no particular order.
    async fn scan(&self, pattern: &str) -> Result<Vec<String>>;

    /// The keys matching `pattern` with their values.
    async fn get_match(&self, pattern: &str) -> Result<Vec<(String, Bytes)>>;

    /// Whether `key` exists.
    async fn exists(&self, key: &str) -> Result<bool>;

    /// Adds `by` to the integer at `key`, creating it at 0 first if absent;
    /// `expire` applies only when the key is created. As Redis's `INCRBY`:
    /// a value that is not a decimal `i64` (no `+`, spaces or leading
    /// zeros), or a sum past `i64`, is an
    /// [`ErrorKind::NotInteger`] error that
    /// leaves the value unchanged.
    async fn incr(&self, key: &str, by: i64, expire: Option<Duration>) -> Result<i64>;

    /// Sets the TTL of an existing key; whether the key existed.
    async fn expire(&self, key: &str, timeout: Duration) -> Result<bool>;

    /// The TTL left on `key`.
    async fn get_expire(&self, key: &str) -> Result<Expiry>;

    /// Checks the backend answers: echoes `message`, or `PONG`.
    async fn ping(&self, message: Option<&[u8]>) -> Result<Bytes>;

    /// Deletes every key of this backend (Redis: the selected database).
    async fn clear(&self) -> Result<()>;

    /// Takes a lock: stores `value` (the owner's token) only if `key` is
    /// free, expiring after `expire`. Whether it was taken. The lock is
    /// protective state (see [`set_protective`](Self::set_protective)).
    async fn set_lock(&self, key: &str, value: Bytes, expire: Duration) -> Result<bool> {
        native::set_lock_by_protective(&Boxed(self), key, value, expire).await
    }

    /// Releases a lock only if it still holds the owner's `value`
    /// (atomic compare-and-delete). Whether it was released.
    async fn unlock(&self, key: &str, value: &[u8]) -> Result<bool>;

    /// Counts one call to the fixed-window rate limit at `key`: at most
    /// `limit` calls per `period`, the window starting with its first call.
    /// The call that goes over stretches the window's key to at least `ban`
    /// (unless `ban` is zero), so every call until then is refused. Whether
    /// this call is admitted.
    ///
    /// The default is one `incr` per call (atomic on every backend); the
    /// call that crosses the limit makes two more round trips to set the
    /// ban. A backend with server-side scripts should override it with one
    /// atomic round trip.
    async fn fixed_window(
        &self,
        key: &str,
        limit: u64,
        period: Duration,
        ban: Duration,
    ) -> Result<bool> {
        native::fixed_window_by_incr(&Boxed(self), key, limit, period, ban).await
    }

    /// Admits one call to the sliding-window rate limit at `key`: if fewer
    /// than `limit` calls were admitted in the last `period`, counts this
    /// one and returns `true`; otherwise returns `false` and counts nothing.
    ///
    /// Exact at the window's edges: an admitted call stops counting exactly
    /// `period` after it. The default keeps one slot key per admission,
    /// `"{key}:{0..limit}"`, taken with set-if-absent and expiring after
    /// `period`: exact and lock-free on every backend with `get_many` and
    /// NX sets, in two round trips (more under contention). A backend with
    /// server-side scripts should override it with one atomic round trip.
    /// The built-in backends take a `limit` of at most
    /// [`SLIDE_WINDOW_SLOTS`] and fail with
    /// [`ErrorKind::Unsupported`] above it.
    async fn slide_window(&self, key: &str, limit: u64, period: Duration) -> Result<bool> {
        native::slide_window_by_slots(&Boxed(self), key, limit, period).await
    }

    /// Adds `members` to the set at `key` (creating it) and makes the set
    /// live at least `expire` from now: a longer TTL it has is kept, and a
    /// set without one stays without. Adding no members changes nothing.
    /// A key holding something other than a set is an error (Redis's
    /// `WRONGTYPE`).
    ///
    /// Sets index keys by something other than their name (the tags of
    /// [`strategy::tag`](crate::strategy::tag)), so a set is protective
    /// state (see [`set_protective`](Self::set_protective)): an index
    /// evicted while the keys it names stay cached would let invalidation
    /// miss them. The memory backend keeps sets in its protective store
    /// (a new set there may fail with [`ErrorKind::ProtectedFull`]); a
    /// backend that evicts should keep them where it does not. The default
    /// fails with [`ErrorKind::Unsupported`]: every built-in backend
    /// overrides it.
    async fn set_add(&self, key: &str, members: &[&str], expire: Duration) -> Result<()> {
        let _ = (key, members, expire);
        Err(no_sets("set_add"))
    }

    /// The members of the set at `key`, in no particular order; none if
    /// the key is missing. Members that are not UTF-8 (written by another
    /// client) are left out.
    async fn set_members(&self, key: &str) -> Result<Vec<String>> {
        let _ = key;
        Err(no_sets("set_members"))
    }

    /// Removes `members` from the set at `key`, keeping its TTL; how many
    /// were in it. A set left empty is deleted.
    async fn set_remove(&self, key: &str, members: &[&str]) -> Result<u64> {
        let _ = (key, members);
        Err(no_sets("set_remove"))
    }

    // Protective state: what enforces a limit (rate-limit windows and
    // bans, locks, circuit-breaker state) rather than caches a value.

    /// Stores protective state: like [`set`](Self::set) with an expiry,
    /// for a key that enforces a limit (a rate-limit slot, a lock, a
    /// circuit breaker's state) and so must not be evicted to make room
    /// for cached values.
    ///
    /// The default is a plain `set`. The memory backend overrides it: such
    /// keys live outside its value bound, under a bound of their own (see
    /// [`memory`]). A server can still evict them on its own: Redis under
    /// an `allkeys-*` `maxmemory-policy` (use `noeviction` or a
    /// `volatile-*` policy, which evicts only keys with a TTL, cached
    /// values included), and memcached whenever it runs out of memory.
    /// Route protective keys (and tag indexes, under `cashews:tag:`) to a
    /// store that does not evict with
    /// [`CacheBuilder::route`](crate::CacheBuilder::route):
    ///
    /// ```no_run
    /// # fn main() -> cashews::Result<()> {
    /// // Values in memcached; rate limits, locks and breakers under
    /// // `guard:` in this process's memory, where no value evicts them.
    /// let cache = cashews::CacheBuilder::from_url("memcached://127.0.0.1:11211")?
    ///     .route("guard:", "mem://?protected_size=100000")?
    ///     .build();
    /// # drop(cache); Ok(()) }
    /// ```
    async fn set_protective(
        &self,
        key: &str,
        value: Bytes,
        expire: Duration,
        exist: Option<Exist>,
    ) -> Result<bool> {
        self.set(key, value, Some(expire), exist).await
    }

    /// Adds `by` to a protective counter (see
    /// [`set_protective`](Self::set_protective)), as [`incr`](Self::incr)
    /// does; `expire` applies only when the key is created.
    async fn incr_protective(&self, key: &str, by: i64, expire: Duration) -> Result<i64> {
        self.incr(key, by, Some(expire)).await
    }

    /// Roughly how many bytes `key` takes, `None` if missing.
    async fn get_size(&self, key: &str) -> Result<Option<u64>>;

    /// How many keys the backend holds.
    async fn get_keys_count(&self) -> Result<u64>;

    /// How a [`Cache`](crate::Cache) holds this backend: each built-in
    /// backend its own variant of the dispatch (its fast paths kept), any
    /// other backend behind a boxed door. Not for overriding.
    #[doc(hidden)]
    fn into_dispatch(self) -> Dispatch
    where
        Self: Sized,
    {
        Dispatch(AnyBackend::Custom(std::sync::Arc::new(self)))
    }
}

/// A backend as a cache dispatches to it, made by
/// [`Backend::into_dispatch`]; opaque.
#[doc(hidden)]
pub struct Dispatch(pub(crate) AnyBackend);

impl std::fmt::Debug for Dispatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatch").finish_non_exhaustive()
    }
}

/// The error of a set command on a backend that does not implement sets.
fn no_sets(command: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("{command}: this backend does not implement the set commands"),
    )
}

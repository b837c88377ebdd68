//! [`Cache`]: the handle every command and strategy goes through.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::any::AnyBackend;
use crate::backend::native::Immediate;
use crate::backend::{Backend, Exist, Expiry};
use crate::codec::{Codec, Rejected};
use crate::error::{Error, ErrorKind, Result};
use crate::pattern;
use crate::settings::Settings;
use crate::switch::{self, Command};
use crate::ttl::IntoTtl;

mod builder;
mod global;
mod lock;
mod protective;
mod sets;

pub use builder::CacheBuilder;
pub use global::{global, set_global, setup};
pub use lock::LockGuard;

/// A cache: a backend plus typing, signing, prefixes and safe mode.
///
/// Cheap to clone (an `Arc`); clones share everything. Make one per backend
/// with [`Cache::from_url`], or use the global one ([`setup`], [`global`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// use std::time::Duration;
/// let cache = cashews::Cache::from_url("mem://?size=1000")?;
/// cache.set("greeting", &"hello", Duration::from_secs(60)).await?;
/// let v: Option<String> = cache.get("greeting").await?;
/// assert_eq!(v.as_deref(), Some("hello"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    backend: AnyBackend,
    codec: Codec,
    /// `"{prefix}:"`, ready to prepend.
    prefix: Option<String>,
    safe: bool,
    enable: bool,
    stats: Counters,
    /// The strategies' process-local state: single flights, per-function traces.
    strategy_state: crate::strategy::state::StrategyState,
}

#[derive(Default)]
struct Counters {
    backend_failures: AtomicU64,
    rejected_values: AtomicU64,
    failed_invalidations: AtomicU64,
}

/// Counts of the failures a cache absorbed instead of returning them.
///
/// Only failures are counted, so hits stay free of shared writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Backend failures answered as empty results by safe mode.
    pub backend_failures: u64,
    /// Stored values read as misses: bad or missing signature, corrupt bytes,
    /// or bytes that do not decode as the requested type.
    pub rejected_values: u64,
    /// Invalidations that failed after their call succeeded (the call's
    /// result stands): a pattern on a backend that cannot match patterns
    /// (memcached), or a backend error outside safe mode. Their keys stay
    /// until their TTL.
    pub failed_invalidations: u64,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Cache")
            .field("prefix", &i.prefix)
            .field("safe", &i.safe)
            .field("enable", &i.enable)
            .field("signed", &i.codec.is_signed())
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// A cache configured by a setup URL (see [`Settings`] for the forms).
    ///
    /// ```
    /// let cache = cashews::Cache::from_url("mem://?size=100&prefix=app").unwrap();
    /// assert!(cashews::Cache::from_url("mem://?sise=100").is_err());
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        Self::from_settings(&Settings::from_url(url)?)
    }

    /// A cache configured by typed settings.
    pub fn from_settings(settings: &Settings) -> Result<Self> {
        Ok(CacheBuilder::from_settings(settings)?.build())
    }

    /// Starts a cache over a backend of your own (or a built-in one made by hand).
    ///
    /// A built-in backend keeps its own dispatch (and memory its fast
    /// paths); any other goes through its [`Backend`] methods.
    pub fn builder(backend: impl Backend) -> CacheBuilder {
        CacheBuilder::over(backend.into_dispatch().0)
    }

    /// Counts of the failures this cache absorbed.
    pub fn stats(&self) -> CacheStats {
        let s = &self.inner.stats;
        CacheStats {
            backend_failures: s.backend_failures.load(Ordering::Relaxed),
            rejected_values: s.rejected_values.load(Ordering::Relaxed),
            failed_invalidations: s.failed_invalidations.load(Ordering::Relaxed),
        }
    }

    /// Counts an invalidation that failed (see [`CacheStats::failed_invalidations`]).
    pub(crate) fn count_failed_invalidation(&self) {
        self.inner
            .stats
            .failed_invalidations
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Whether caching is on for this cache.
    pub fn is_enabled(&self) -> bool {
        self.inner.enable
    }

    /// Whether `command` may run: the cache is enabled and the current task
    /// has not switched the command off (see [`switch`](crate::switch)).
    #[inline]
    pub(crate) fn enabled(&self, command: Command) -> bool {
        self.inner.enable && switch::allows(command)
    }

    fn backend(&self) -> &AnyBackend {
        &self.inner.backend
    }

    /// Whether `other` is this cache or one of its clones.
    pub(crate) fn is_same(&self, other: &Cache) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The strategies' process-local state, shared by this handle's clones.
    pub(crate) fn strategy_state(&self) -> &crate::strategy::state::StrategyState {
        &self.inner.strategy_state
    }

    /// The key as stored: with the cache's prefix.
    #[inline]
    fn full_key<'a>(&self, key: &'a str) -> Cow<'a, str> {
        match &self.inner.prefix {
            None => Cow::Borrowed(key),
            Some(p) => Cow::Owned([p.as_str(), key].concat()),
        }
    }

    /// A pattern as matched on the backend: the prefix, escaped, before it.
    fn full_pattern<'a>(&self, pattern: &'a str) -> Cow<'a, str> {
        match &self.inner.prefix {
            None => Cow::Borrowed(pattern),
            Some(p) => Cow::Owned([&*pattern::escape(p), pattern].concat()),
        }
    }

    fn strip_prefix(&self, mut key: String) -> String {
        if let Some(p) = &self.inner.prefix {
            key.drain(..p.len().min(key.len()));
        }
        key
    }

    /// Applies safe mode to a backend answer: with it on, a backend
    /// failure is logged, counted and answered as `T::default()`.
    fn apply_safe_mode<T: Default>(
        &self,
        command: &str,
        key: &str,
        answer: Result<T>,
    ) -> Result<T> {
        match answer {
            Err(e) if self.inner.safe && e.is_backend_failure() => {
                self.inner
                    .stats
                    .backend_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(command, key, error = %e, "cache backend failed; answering empty (safe mode)");
                Ok(T::default())
            }
            other => other,
        }
    }

    fn decode<T: DeserializeOwned>(&self, key: &str, bytes: &[u8]) -> Option<T> {
        match self.inner.codec.decode(key, bytes) {
            Ok(v) => Some(v),
            Err(why) => {
                self.reject(key, why);
                None
            }
        }
    }

    #[cold]
    fn reject(&self, key: &str, why: Rejected) {
        self.inner
            .stats
            .rejected_values
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(key, "stored value {}; treated as a miss", why.as_str());
    }

    fn encode<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<Bytes> {
        self.inner.codec.encode(key, value).map(Bytes::from)
    }

    /// The value stored at `key`, decoded as `T`.
    ///
    /// A missing or expired key, a value that does not decode as `T`, and
    /// (with a `hash_key`) an unsigned or tampered value are all `None`.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        if !self.enabled(Command::Get) {
            return Ok(None);
        }
        let key = self.full_key(key);
        match self.backend().lookup(&key, |b| self.decode(&key, b)) {
            Immediate::Ready(found) => Ok(found.flatten()),
            Immediate::Remote => self.get_remote(&key).await,
        }
    }

    /// [`get`](Self::get) for `Clone` values: on the memory backend, repeat
    /// reads of an entry clone the value decoded by the first read instead
    /// of deserializing again (any write replaces the entry, and the copy
    /// with it). The hit path of every decorated call; elsewhere the same as
    /// `get`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
    /// let cache = cashews::Cache::from_url("mem://")?;
    /// cache.set("user:1", &vec!["Ada".to_string()], 60).await?;
    /// let first: Option<Vec<String>> = cache.get_cloned("user:1").await?; // decodes
    /// let again: Option<Vec<String>> = cache.get_cloned("user:1").await?; // clones
    /// assert_eq!(first, again);
    /// # Ok(()) }
    /// ```
    #[inline]
    pub async fn get_cloned<T>(&self, key: &str) -> Result<Option<T>>
    where
        T: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        match self.get_cloned_immediate(key) {
            Immediate::Ready(found) => Ok(found),
            Immediate::Remote if !self.enabled(Command::Get) => Ok(None),
            Immediate::Remote => self.get_remote(&self.full_key(key)).await,
        }
    }

    /// [`get_cloned`](Self::get_cloned) without a future where the backend
    /// of `key` answers at once (memory, which never fails, or a cache
    /// switched off); `Remote` where it must be awaited.
    #[inline]
    pub(crate) fn get_cloned_immediate<T>(&self, key: &str) -> Immediate<Option<T>>
    where
        T: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let backend = self.backend();
        // Before the switch and the key: the remote hit path asks twice.
        if backend.always_remote() {
            return Immediate::Remote;
        }
        if !self.enabled(Command::Get) {
            return Immediate::Ready(None);
        }
        let key = self.full_key(key);
        backend.lookup_memo(&key, self.inner.codec.id(), |b| self.decode(&key, b))
    }

    async fn get_remote<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let bytes = self.apply_safe_mode("get", key, self.backend().get(key).await)?;
        Ok(bytes.and_then(|b| self.decode(key, &b)))
    }

    /// The values of `keys`, in order, each decoded as `T`.
    pub async fn get_many<T: DeserializeOwned>(&self, keys: &[&str]) -> Result<Vec<Option<T>>> {
        if !self.enabled(Command::GetMany) {
            return Ok(keys.iter().map(|_| None).collect());
        }
        let full: Vec<Cow<'_, str>> = keys.iter().map(|k| self.full_key(k)).collect();
        let refs: Vec<&str> = full.iter().map(|k| &**k).collect();
        let found = self.apply_safe_mode("get_many", "", self.backend().get_many(&refs).await)?;
        Ok(refs
            .iter()
            .enumerate()
            .map(|(i, key)| {
                found
                    .get(i)
                    .cloned()
                    .flatten()
                    .and_then(|b| self.decode(key, &b))
            })
            .collect())
    }

    /// Stores `value` at `key` for `ttl` (a [`Duration`], seconds, `"1h30m"`,
    /// or `None::<Duration>` for no expiry). Returns whether it stored.
    pub async fn set<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: impl IntoTtl,
    ) -> Result<bool> {
        self.set_inner(key, value, ttl.into_ttl()?, None).await
    }

    /// Stores `value` only if the key is [`Exist::Absent`] (NX) or
    /// [`Exist::Present`] (XX). Returns whether it stored.
    pub async fn set_if<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: impl IntoTtl,
        exist: Exist,
    ) -> Result<bool> {
        self.set_inner(key, value, ttl.into_ttl()?, Some(exist))
            .await
    }

    async fn set_inner<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Option<Duration>,
        exist: Option<Exist>,
    ) -> Result<bool> {
        if !self.enabled(Command::Set) {
            return Ok(false);
        }
        let key = self.full_key(key);
        let encode = |out: &mut Vec<u8>| self.inner.codec.encode_into(&key, value, out);
        if let Immediate::Ready(stored) = self.backend().set_now(&key, ttl, exist, encode) {
            return stored;
        }
        let bytes = self.encode(&key, value)?;
        self.apply_safe_mode(
            "set",
            &key,
            self.backend().set(&key, bytes, ttl, exist).await,
        )
    }

    /// Stores every pair with the same `ttl`.
    pub async fn set_many<T: Serialize>(
        &self,
        pairs: &[(&str, T)],
        ttl: impl IntoTtl,
    ) -> Result<()> {
        let ttl = ttl.into_ttl()?;
        if !self.enabled(Command::SetMany) {
            return Ok(());
        }
        let mut encoded = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            let key = self.full_key(key);
            let bytes = self.encode(&key, value)?;
            encoded.push((key, bytes));
        }
        let refs: Vec<(&str, Bytes)> = encoded.iter().map(|(k, v)| (&**k, v.clone())).collect();
        self.apply_safe_mode("set_many", "", self.backend().set_many(&refs, ttl).await)
    }

    /// The stored value of `key`, or stores `default` there (if the key is
    /// still absent) and returns it.
    pub async fn get_or_set<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        default: T,
        ttl: impl IntoTtl,
    ) -> Result<T> {
        let ttl = ttl.into_ttl()?;
        if let Some(found) = self.get(key).await? {
            return Ok(found);
        }
        if self
            .set_inner(key, &default, ttl, Some(Exist::Absent))
            .await?
        {
            return Ok(default);
        }
        // Someone stored a value between our get and set: theirs wins.
        Ok(self.get(key).await?.unwrap_or(default))
    }

    /// Deletes `key`; whether it existed.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        if !self.enabled(Command::Delete) {
            return Ok(false);
        }
        let key = self.full_key(key);
        self.apply_safe_mode("delete", &key, self.backend().delete(&key).await)
    }

    /// Deletes `keys`; how many existed.
    pub async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        if !self.enabled(Command::DeleteMany) {
            return Ok(0);
        }
        let full: Vec<Cow<'_, str>> = keys.iter().map(|k| self.full_key(k)).collect();
        let refs: Vec<&str> = full.iter().map(|k| &**k).collect();
        self.apply_safe_mode("delete_many", "", self.backend().delete_many(&refs).await)
    }

    /// Deletes the keys matching a Redis glob `pattern`; how many.
    ///
    /// Escape values you place in a pattern with [`pattern::escape`].
    pub async fn delete_match(&self, pattern: &str) -> Result<u64> {
        if !self.enabled(Command::DeleteMatch) {
            return Ok(0);
        }
        let pattern = self.full_pattern(pattern);
        self.apply_safe_mode(
            "delete_match",
            &pattern,
            self.backend().delete_match(&pattern).await,
        )
    }

    /// The keys matching a Redis glob `pattern` (without the cache's prefix).
    pub async fn scan(&self, pattern: &str) -> Result<Vec<String>> {
        if !self.enabled(Command::Scan) {
            return Ok(Vec::new());
        }
        let full = self.full_pattern(pattern);
        let keys = self.apply_safe_mode("scan", &full, self.backend().scan(&full).await)?;
        Ok(keys.into_iter().map(|k| self.strip_prefix(k)).collect())
    }

    /// The keys matching `pattern` with their values decoded as `T`; values
    /// that do not decode are left out.
    pub async fn get_match<T: DeserializeOwned>(&self, pattern: &str) -> Result<Vec<(String, T)>> {
        if !self.enabled(Command::GetMatch) {
            return Ok(Vec::new());
        }
        let full = self.full_pattern(pattern);
        let found =
            self.apply_safe_mode("get_match", &full, self.backend().get_match(&full).await)?;
        Ok(found
            .into_iter()
            .filter_map(|(k, bytes)| {
                let value = self.decode(&k, &bytes)?;
                Some((self.strip_prefix(k), value))
            })
            .collect())
    }

    /// Whether `key` exists.
    pub async fn exists(&self, key: &str) -> Result<bool> {
        if !self.enabled(Command::Exists) {
            return Ok(false);
        }
        let key = self.full_key(key);
        self.apply_safe_mode("exists", &key, self.backend().exists(&key).await)
    }

    /// Adds `by` to the counter at `key` (created at 0 if absent, with
    /// `expire` applied only then) and returns the new value.
    ///
    /// Counters are plain decimal integers that the backend increments, as
    /// Redis's `INCRBY` does, on every backend alike: a value that is not a
    /// decimal integer within `i64` (no `+`, spaces or leading zeros), or a
    /// sum past `i64`, fails with [`ErrorKind::NotInteger`] and leaves the
    /// value unchanged.
    ///
    /// Without a `hash_key`, an integer that [`set`](Self::set) wrote is a
    /// counter, and a counter reads back with [`get`](Self::get) as any
    /// integer type that holds it. Counters carry no signature, so with a
    /// `hash_key`: a value that `set` wrote (signed) is not a counter, and
    /// `incr` on it fails with [`ErrorKind::NotInteger`], saying so; read
    /// counters with `incr` (by 0) rather than `get`, which only trusts
    /// signed values.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
    /// let cache = cashews::Cache::from_url("mem://")?;
    /// cache.set("visits", &41u32, 60).await?;
    /// assert_eq!(cache.incr("visits", 1, None).await?, 42);
    /// assert_eq!(cache.get::<Option<u8>>("visits").await?, Some(Some(42)));
    ///
    /// let signed = cashews::Cache::from_url("mem://?hash_key=secret")?;
    /// signed.set("visits", &41u32, 60).await?;
    /// let err = signed.incr("visits", 1, None).await.unwrap_err();
    /// assert!(err.is_not_integer() && err.to_string().contains("signed"));
    /// # Ok(()) }
    /// ```
    pub async fn incr(&self, key: &str, by: i64, expire: Option<Duration>) -> Result<i64> {
        if !self.enabled(Command::Incr) {
            return Ok(0);
        }
        let expire = expire.into_ttl()?;
        let key = self.full_key(key);
        match self.backend().incr(&key, by, expire).await {
            Err(e) if e.is_not_integer() && self.inner.codec.is_signed() => {
                Err(self.not_a_counter(&key, e).await)
            }
            answer => self.apply_safe_mode("incr", &key, answer),
        }
    }

    /// `error`, or, when `key` holds a signed value, an error that says why
    /// it is no counter.
    #[cold]
    async fn not_a_counter(&self, key: &str, error: Error) -> Error {
        match self.backend().get(key).await {
            Ok(Some(bytes)) if Codec::holds_signed(&bytes) => Error::new(
                ErrorKind::NotInteger,
                format!(
                    "incr of {key:?}: the value there was written by `set` on a cache with \
                     a hash_key, and signed values can't be counters (counters are \
                     unsigned decimal integers, created by `incr`)"
                ),
            ),
            _ => error,
        }
    }

    /// Sets the TTL of an existing key; whether it existed.
    pub async fn expire(&self, key: &str, ttl: impl IntoTtl) -> Result<bool> {
        let ttl = ttl
            .into_ttl()?
            .ok_or_else(|| Error::new(ErrorKind::Ttl, "expire needs a ttl, not None"))?;
        if !self.enabled(Command::Expire) {
            return Ok(false);
        }
        let key = self.full_key(key);
        self.apply_safe_mode("expire", &key, self.backend().expire(&key, ttl).await)
    }

    /// How long `key` has left: missing, no TTL, or the time remaining.
    pub async fn get_expire(&self, key: &str) -> Result<Expiry> {
        if !self.enabled(Command::GetExpire) {
            return Ok(Expiry::Missing);
        }
        let key = self.full_key(key);
        self.apply_safe_mode("get_expire", &key, self.backend().get_expire(&key).await)
    }

    /// Checks the backend answers: echoes `message`, or `PONG`.
    ///
    /// A health check, so safe mode never hides its failure.
    pub async fn ping(&self, message: Option<&[u8]>) -> Result<Bytes> {
        self.backend().ping(message).await
    }

    /// Deletes every key of this cache: with a prefix, the keys under it;
    /// without, everything in the backend (on Redis: the selected database).
    pub async fn clear(&self) -> Result<()> {
        if !self.enabled(Command::Clear) {
            return Ok(());
        }
        if self.inner.prefix.is_some() {
            self.delete_match("*").await.map(drop)
        } else {
            self.apply_safe_mode("clear", "", self.backend().clear().await)
        }
    }

    /// Roughly how many bytes `key` takes; `None` if missing.
    pub async fn get_size(&self, key: &str) -> Result<Option<u64>> {
        if !self.enabled(Command::GetSize) {
            return Ok(None);
        }
        let key = self.full_key(key);
        self.apply_safe_mode("get_size", &key, self.backend().get_size(&key).await)
    }

    /// How many keys the backend holds (all of them, whatever the prefix).
    pub async fn get_keys_count(&self) -> Result<u64> {
        if !self.enabled(Command::GetKeysCount) {
            return Ok(0);
        }
        self.apply_safe_mode("get_keys_count", "", self.backend().get_keys_count().await)
    }
}

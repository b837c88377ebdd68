//! The plain cache: a hit returns the stored value, a miss runs the
//! function and stores what it returned.
//!
//! This is what [`#[cashews::cache]`](crate::cache) calls. Without the
//! attribute (for closures, or keys known only at run time) use
//! [`Cache::cached`] or the [`cache`] function itself:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
//! let cache = cashews::Cache::from_url("mem://")?;
//! let id = 7;
//! let key = format!("square:{id}");
//! let square = cache.cached(&key, "10m").get_with(|| async { id * id }).await;
//! assert_eq!(square, 49);
//! assert_eq!(cache.get::<i32>(&key).await?, Some(49));
//! # Ok(()) }
//! ```
//!
//! What is stored is decided by the return type, through [`Outcome`]:
//! a `Result` stores only its `Ok` value ([`StoreOk`]) and hands errors back
//! untouched; any other type, `Option` included, is stored whole
//! ([`StoreAll`]). A [condition](Options::condition) can refuse more. The
//! other strategies see a return the same way, as a `Result`.
//!
//! Guarantees:
//! - **Protected** (the default): concurrent misses of one key in one
//!   process share a single execution; the others wait and get a clone of
//!   its value. If that execution fails, panics or is cancelled, the next
//!   waiter runs the function instead: nobody hangs, and errors are never
//!   shared (each waiter sees its own), but for those that
//!   [`cache_errors`](Options::cache_errors) stores. Hits do not take part.
//! - **Safe**: the cache never fails the call. A backend that is down (or a
//!   value that cannot be stored) only means the function runs; with
//!   `safe=0` the failure is also logged, since a cached function's
//!   return type has no room for it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Reported, Served};
use crate::backend::native::Immediate;
use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::single_flight::Turn;
use crate::ttl::IntoTtl;
use tokio::time::Instant;

/// How a function's return is seen by the strategies: a `Result` whose
/// success is stored and whose error passes through. The marker `M`
/// chooses the view: [`StoreOk`] (a `Result` as it is) or [`StoreAll`]
/// (any value, stored whole, as the success of an error that cannot happen).
pub trait Outcome<M>: Sized {
    /// The stored value.
    type Value;

    /// What is never stored and reaches the caller untouched.
    type Error;

    /// The value to store, or `None` if this return is never stored.
    fn value(&self) -> Option<&Self::Value>;

    /// The return as a `Result`.
    fn into_result(self) -> Result<Self::Value, Self::Error>;

    /// The return a `Result` stands for (a stored value: its `Ok`).
    fn from_result(result: Result<Self::Value, Self::Error>) -> Self;
}

/// Stores the whole return value (`Option`s and plain values).
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreAll;

/// Stores only the `Ok` value of a `Result`; errors pass through.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreOk;

impl<R> Outcome<StoreAll> for R {
    type Value = R;
    type Error = std::convert::Infallible;

    fn value(&self) -> Option<&R> {
        Some(self)
    }

    fn into_result(self) -> Result<R, std::convert::Infallible> {
        Ok(self)
    }

    #[inline]
    fn from_result(result: Result<R, std::convert::Infallible>) -> R {
        match result {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }
}

impl<T, E> Outcome<StoreOk> for Result<T, E> {
    type Value = T;
    type Error = E;

    fn value(&self) -> Option<&T> {
        self.as_ref().ok()
    }

    fn into_result(self) -> Self {
        self
    }

    #[inline]
    fn from_result(result: Self) -> Self {
        result
    }
}

/// How long a stored value lives, possibly depending on the value.
pub trait TtlPolicy<V> {
    /// The TTL of `value` (`None`: no expiry), or why there is none.
    fn ttl_for(&self, value: &V) -> Result<Option<Duration>>;
}

/// One TTL for every value: see [`Options::new`].
#[derive(Debug)]
pub struct FixedTtl(Result<Option<Duration>>);

impl<V> TtlPolicy<V> for FixedTtl {
    fn ttl_for(&self, _: &V) -> Result<Option<Duration>> {
        match &self.0 {
            Ok(ttl) => Ok(*ttl),
            Err(e) => Err(Error::new(e.kind(), e.to_string())),
        }
    }
}

/// A TTL chosen per value: see [`Options::ttl_with`].
#[derive(Clone, Copy)]
pub struct TtlFn<F>(F);

impl<F> fmt::Debug for TtlFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TtlFn")
    }
}

impl<V, F, D> TtlPolicy<V> for TtlFn<F>
where
    F: Fn(&V) -> D,
    D: IntoTtl,
{
    fn ttl_for(&self, value: &V) -> Result<Option<Duration>> {
        (self.0)(value).into_ttl()
    }
}

/// Whether a value is stored.
pub trait Condition<V> {
    /// `true` to store `value`.
    fn should_store(&self, value: &V) -> bool;

    /// `true` if waiters of the same single flight may get a clone of
    /// `value` (default: every value). An error is shared only if chosen
    /// to be stored; the others reach only their own caller.
    fn may_share(&self, value: &V) -> bool {
        let _ = value;
        true
    }
}

/// The default condition: store every value.
#[derive(Debug, Clone, Copy, Default)]
pub struct Always;

impl<V> Condition<V> for Always {
    fn should_store(&self, _: &V) -> bool {
        true
    }
}

impl<V, F: Fn(&V) -> bool> Condition<V> for F {
    fn should_store(&self, value: &V) -> bool {
        self(value)
    }
}

/// The condition of a whole `Result` stored with [`StoreAll`]: an `Ok`
/// value is stored if `ok` accepts it, an error if `errors` does. See
/// [`Options::cache_errors`].
#[derive(Debug, Clone, Copy)]
pub struct CacheErrors<C, P> {
    ok: C,
    errors: P,
}

impl<C, P> CacheErrors<C, P> {
    /// Stores `Ok` values that `ok` accepts and errors that `errors` accepts.
    pub fn new(ok: C, errors: P) -> Self {
        CacheErrors { ok, errors }
    }
}

impl<T, E, C, P> Condition<Result<T, E>> for CacheErrors<C, P>
where
    C: Condition<T>,
    P: Fn(&E) -> bool,
{
    fn should_store(&self, result: &Result<T, E>) -> bool {
        match result {
            Ok(value) => self.ok.should_store(value),
            Err(e) => (self.errors)(e),
        }
    }

    fn may_share(&self, result: &Result<T, E>) -> bool {
        match result {
            Ok(_) => true,
            Err(e) => (self.errors)(e),
        }
    }
}

/// How long computing a value must have taken for it to be stored: see
/// [`Options::time_condition`].
pub trait TimeCondition {
    /// The least time, or `None` if any is enough.
    fn min_elapsed(&self) -> Option<Duration>;
}

/// The default time condition: store a value however fast it came.
#[derive(Debug, Clone, Copy, Default)]
pub struct Anytime;

impl TimeCondition for Anytime {
    #[inline]
    fn min_elapsed(&self) -> Option<Duration> {
        None
    }
}

/// Store a value only if computing it took at least this long.
#[derive(Debug, Clone, Copy)]
pub struct AtLeast(pub Duration);

impl TimeCondition for AtLeast {
    fn min_elapsed(&self) -> Option<Duration> {
        Some(self.0)
    }
}

/// Options of [`cache`]: the TTL, a condition, a time condition, and
/// protection.
///
/// ```
/// use std::time::Duration;
/// use cashews::strategy::simple::Options;
///
/// let options = Options::new("10m")
///     .condition(|users: &Vec<String>| !users.is_empty())
///     .time_condition(Duration::from_millis(200))
///     .protected(false);
/// // A TTL chosen per value: short for empty answers.
/// let options = Options::ttl_with(|users: &Vec<String>| {
///     if users.is_empty() { Duration::from_secs(5) } else { Duration::from_secs(600) }
/// });
/// ```
#[must_use]
pub struct Options<T = FixedTtl, C = Always, W = Anytime> {
    ttl: T,
    condition: C,
    time_condition: W,
    protected: bool,
}

impl<T: fmt::Debug, C, W: fmt::Debug> fmt::Debug for Options<T, C, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("ttl", &self.ttl)
            .field("time_condition", &self.time_condition)
            .field("protected", &self.protected)
            .finish_non_exhaustive()
    }
}

impl Options {
    /// Stores every value for `ttl`: a [`Duration`], seconds, `"1h30m"`,
    /// or `None::<Duration>` for no expiry. A malformed TTL is logged
    /// when a value would be stored, and nothing is stored.
    pub fn new(ttl: impl IntoTtl) -> Self {
        Options {
            ttl: FixedTtl(ttl.into_ttl()),
            condition: Always,
            time_condition: Anytime,
            protected: true,
        }
    }
}

impl<F> Options<TtlFn<F>> {
    /// Stores each value for the TTL that `ttl` returns for it (anything
    /// [`IntoTtl`]: a `Duration`, seconds, `None::<Duration>` for no
    /// expiry).
    pub fn ttl_with(ttl: F) -> Self {
        Options {
            ttl: TtlFn(ttl),
            condition: Always,
            time_condition: Anytime,
            protected: true,
        }
    }
}

impl<T, C, W> Options<T, C, W> {
    /// Whether concurrent misses of one key share one execution (default `true`).
    pub fn protected(mut self, protected: bool) -> Self {
        self.protected = protected;
        self
    }

    /// Stores a value only if computing it took at least `elapsed`,
    /// measured on tokio's clock (by default every value is stored). A value
    /// computed faster is still returned, as a miss; waiters of its single
    /// flight still share it.
    pub fn time_condition(self, elapsed: Duration) -> Options<T, C, AtLeast> {
        Options {
            ttl: self.ttl,
            condition: self.condition,
            time_condition: AtLeast(elapsed),
            protected: self.protected,
        }
    }

    /// Stores only the values for which `condition` returns `true`
    /// (it sees the stored value: the `Ok` value of a `Result`).
    pub fn condition<F>(self, condition: F) -> Options<T, F, W> {
        Options {
            ttl: self.ttl,
            condition,
            time_condition: self.time_condition,
            protected: self.protected,
        }
    }

    /// Stores the errors for which `errors` returns `true` too, and
    /// returns them on later hits; the condition keeps deciding for `Ok`
    /// values. For a `Result` called with [`StoreAll`], which stores the
    /// whole `Result` (so its error type must be `Serialize +
    /// DeserializeOwned`): a stored `Err` reads back as that `Err`, and a
    /// value stored without `cache_errors` (a bare `Ok` value) reads as a
    /// miss.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
    /// use cashews::strategy::Served;
    /// use cashews::strategy::simple::{Options, StoreAll, cache};
    ///
    /// #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    /// enum LookupError { NotFound, Timeout }
    ///
    /// let c = cashews::Cache::from_url("mem://")?;
    /// let options = Options::new("1m")
    ///     .cache_errors(|e: &LookupError| matches!(e, LookupError::NotFound));
    /// let missing = || async { Err::<String, _>(LookupError::NotFound) };
    /// cache(&c, "user:9", StoreAll, &options, missing).await;
    /// let again = cache(&c, "user:9", StoreAll, &options, missing).await;
    /// assert_eq!((again.value, again.served), (Err(LookupError::NotFound), Served::Hit));
    /// # Ok(()) }
    /// ```
    pub fn cache_errors<P>(self, errors: P) -> Options<T, CacheErrors<C, P>, W> {
        Options {
            ttl: self.ttl,
            condition: CacheErrors {
                ok: self.condition,
                errors,
            },
            time_condition: self.time_condition,
            protected: self.protected,
        }
    }
}

/// The plain cache: returns the value stored at `key`, or runs `f`, stores
/// what it returns (as `mode` and `options` say) and returns it. Reports
/// [`Served::Hit`], [`Served::Shared`] (a waiter of a single flight) or
/// [`Served::Miss`].
///
/// `mode` is [`StoreOk`] for functions returning `Result` (only `Ok` is
/// stored, the error is returned untouched) or [`StoreAll`] (the whole
/// return is stored: a `Result` with [`Options::cache_errors`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// use cashews::strategy::Served;
/// use cashews::strategy::simple::{Options, StoreOk, cache};
///
/// #[derive(Debug, PartialEq)]
/// struct NotFound;
///
/// let c = cashews::Cache::from_url("mem://")?;
/// let options = Options::new("1m");
/// let load = || async { Ok::<_, NotFound>("Ada".to_owned()) };
/// let found = cache(&c, "user:1", StoreOk, &options, load).await;
/// assert_eq!((found.value.as_deref(), found.served), (Ok("Ada"), Served::Miss));
/// let again = cache(&c, "user:1", StoreOk, &options, load).await;
/// assert_eq!(again.served, Served::Hit);
/// let missing: Result<String, NotFound> =
///     cache(&c, "user:2", StoreOk, &options, || async { Err(NotFound) }).await.value;
/// assert_eq!(missing, Err(NotFound));
/// assert!(!c.exists("user:2").await?, "errors are not stored");
/// # Ok(()) }
/// ```
///
/// On the memory backend a hit is found when `cache` is called, and the
/// future it returns is then ready at once, the size of the value: what a
/// miss needs (a remote read, single flight, the call, the store) is in a
/// box of its own, allocated only when the memory lookup did not answer.
#[inline]
pub fn cache<'a, R, M, T, C, W, F, Fut>(
    cache: &'a Cache,
    key: &'a str,
    mode: M,
    options: &'a Options<T, C, W>,
    f: F,
) -> impl Future<Output = Reported<R>>
where
    R: Outcome<M>,
    R::Value: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    T: TtlPolicy<R::Value>,
    C: Condition<R::Value>,
    W: TimeCondition,
    F: FnOnce() -> Fut,
    Fut: Future<Output = R>,
{
    // The marker only selects the `Outcome` impl.
    let _ = mode;
    let read_already = match cache.get_cloned_immediate::<R::Value>(key) {
        Immediate::Ready(Some(value)) => {
            return CacheCall::FoundInMemory(Some(R::from_result(Ok(value))));
        }
        Immediate::Ready(None) => true,
        Immediate::Remote => false,
    };
    CacheCall::ReadOrCall(read_or_call(cache, key, options, f, read_already))
}

/// The future of [`cache`]: the value memory found, or the boxed rest of
/// the call. A found value is reported as a hit when polled, so the future
/// holds no more than the value.
enum CacheCall<R, Rest> {
    /// Found in memory; `None` once returned.
    FoundInMemory(Option<R>),
    /// Not answered by memory.
    ReadOrCall(Pin<Box<Rest>>),
}

// Nothing is pinned in place: the value is moved out, the rest is boxed.
impl<R, Rest> Unpin for CacheCall<R, Rest> {}

impl<R, Rest: Future<Output = Reported<R>>> Future for CacheCall<R, Rest> {
    type Output = Reported<R>;

    #[inline]
    #[allow(
        clippy::expect_used,
        reason = "as for `std::future::Ready`, polling a finished future is the caller's bug"
    )]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reported<R>> {
        match self.get_mut() {
            CacheCall::FoundInMemory(value) => Poll::Ready(
                Served::Hit.with(
                    value
                        .take()
                        .expect("`cache` future polled after completion"),
                ),
            ),
            CacheCall::ReadOrCall(rest) => rest.as_mut().poll(cx),
        }
    }
}

/// [`cache`] once memory has not answered: a read of the backend (skipped
/// when memory already saw the miss), then on a miss the call, under single
/// flight when protected.
///
/// Never inlined, so that `cache` stays small enough to be inlined into
/// each decorated function. Its bounds repeat `cache`'s, which Rust has no
/// way to name once.
#[inline(never)]
fn read_or_call<'a, R, M, T, C, W, F, Fut>(
    cache: &'a Cache,
    key: &'a str,
    options: &'a Options<T, C, W>,
    f: F,
    read_already: bool,
) -> Pin<Box<impl Future<Output = Reported<R>>>>
where
    R: Outcome<M>,
    R::Value: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    T: TtlPolicy<R::Value>,
    C: Condition<R::Value>,
    W: TimeCondition,
    F: FnOnce() -> Fut,
    Fut: Future<Output = R>,
{
    Box::pin(async move {
        if !read_already && let Some(value) = read(cache, key).await {
            return Served::Hit.with(R::from_result(Ok(value)));
        }
        // The miss in a box of its own keeps a remote hit's box to the read.
        Box::pin(async move {
            let leader = if options.protected {
                match cache.strategy_state().flights().join::<R::Value>(key).await {
                    Turn::Shared(value) => return Served::Shared.with(R::from_result(Ok(value))),
                    Turn::Lead(leader) => {
                        // A previous leader may have stored the value
                        // between our miss and our turn.
                        if leader.follows_another()
                            && let Some(value) = read::<R::Value>(cache, key).await
                        {
                            leader.share(&value);
                            return Served::Shared.with(R::from_result(Ok(value)));
                        }
                        Some(leader)
                    }
                    Turn::Alone => None,
                }
            } else {
                None
            };
            let min_elapsed = options.time_condition.min_elapsed();
            let started = min_elapsed.map(|_| Instant::now());
            let result = f().await;
            if let Some(value) = result.value() {
                if started
                    .zip(min_elapsed)
                    .is_none_or(|(started, least)| started.elapsed() >= least)
                {
                    store(cache, key, options, value).await;
                }
                if let Some(leader) = leader
                    && options.condition.may_share(value)
                {
                    leader.share(value);
                }
            }
            Served::Miss.with(result)
        })
        .await
    })
}

#[inline]
async fn read<V>(cache: &Cache, key: &str) -> Option<V>
where
    V: DeserializeOwned + Clone + Send + Sync + 'static,
{
    match cache.get_cloned(key).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(key, error = %e, "cache read failed; running the function");
            None
        }
    }
}

async fn store<V, T, C, W>(cache: &Cache, key: &str, options: &Options<T, C, W>, value: &V)
where
    V: Serialize,
    T: TtlPolicy<V>,
    C: Condition<V>,
{
    if !options.condition.should_store(value) {
        return;
    }
    let ttl = match options.ttl.ttl_for(value) {
        Ok(ttl) => ttl,
        Err(e) => {
            tracing::warn!(key, error = %e, "no valid ttl for the value; not stored");
            return;
        }
    };
    if let Err(e) = cache.set(key, value, ttl).await {
        tracing::warn!(key, error = %e, "storing the value failed");
    }
}

/// A cached call being set up by [`Cache::cached`].
#[must_use = "a cached call does nothing until `get_with` or `try_get_with` is awaited"]
pub struct Cached<'a, T = FixedTtl, C = Always, W = Anytime> {
    cache: &'a Cache,
    key: &'a str,
    options: Options<T, C, W>,
}

impl<T: fmt::Debug, C, W: fmt::Debug> fmt::Debug for Cached<'_, T, C, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cached")
            .field("key", &self.key)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// Caches a closure's result under a key built at run time: the
    /// attribute-free way to use the plain cache ([`simple`](self)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
    /// #[derive(Debug)]
    /// struct DbError;
    ///
    /// async fn load_name(id: u64) -> Result<String, DbError> {
    ///     Ok(format!("user {id}"))
    /// }
    ///
    /// let cache = cashews::Cache::from_url("mem://")?;
    /// let id = 42;
    /// let name = cache
    ///     .cached(&format!("name:{id}"), "1h")
    ///     .condition(|name: &String| !name.is_empty())
    ///     .try_get_with(|| load_name(id))
    ///     .await
    ///     .unwrap();
    /// assert_eq!(name, "user 42");
    /// # Ok(()) }
    /// ```
    pub fn cached<'a>(&'a self, key: &'a str, ttl: impl IntoTtl) -> Cached<'a> {
        Cached {
            cache: self,
            key,
            options: Options::new(ttl),
        }
    }
}

impl<'a, T, C, W> Cached<'a, T, C, W> {
    /// Whether concurrent misses share one execution (default `true`).
    pub fn protected(mut self, protected: bool) -> Self {
        self.options.protected = protected;
        self
    }

    /// Stores only the values for which `condition` returns `true`.
    pub fn condition<F>(self, condition: F) -> Cached<'a, T, F, W> {
        Cached {
            cache: self.cache,
            key: self.key,
            options: self.options.condition(condition),
        }
    }

    /// Chooses the TTL from each value instead.
    pub fn ttl_with<F>(self, ttl: F) -> Cached<'a, TtlFn<F>, C, W> {
        Cached {
            cache: self.cache,
            key: self.key,
            options: Options {
                ttl: TtlFn(ttl),
                condition: self.options.condition,
                time_condition: self.options.time_condition,
                protected: self.options.protected,
            },
        }
    }

    /// Stores a value only if computing it took at least `elapsed` (see
    /// [`Options::time_condition`]).
    pub fn time_condition(self, elapsed: Duration) -> Cached<'a, T, C, AtLeast> {
        Cached {
            cache: self.cache,
            key: self.key,
            options: self.options.time_condition(elapsed),
        }
    }

    /// Stores the errors for which `errors` returns `true` too (see
    /// [`Options::cache_errors`]); call [`get_with`](Self::get_with), which
    /// stores the whole `Result`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
    /// #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    /// struct Gone;
    ///
    /// let cache = cashews::Cache::from_url("mem://")?;
    /// let first: Result<String, Gone> = cache
    ///     .cached("page:3", "1h")
    ///     .cache_errors(|_: &Gone| true)
    ///     .get_with(|| async { Err(Gone) })
    ///     .await;
    /// let again: Result<String, Gone> = cache
    ///     .cached("page:3", "1h")
    ///     .cache_errors(|_: &Gone| true)
    ///     .get_with(|| async { Ok("never called".to_owned()) })
    ///     .await;
    /// assert_eq!((first, again), (Err(Gone), Err(Gone)));
    /// # Ok(()) }
    /// ```
    pub fn cache_errors<P>(self, errors: P) -> Cached<'a, T, CacheErrors<C, P>, W> {
        Cached {
            cache: self.cache,
            key: self.key,
            options: self.options.cache_errors(errors),
        }
    }

    /// The stored value, or `f`'s, stored. Every value is stored (an
    /// `Option`'s `None` too, unless the condition refuses it).
    pub async fn get_with<V, F, Fut>(self, f: F) -> V
    where
        V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
        T: TtlPolicy<V>,
        C: Condition<V>,
        W: TimeCondition,
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        cache(self.cache, self.key, StoreAll, &self.options, f)
            .await
            .value
    }

    /// The stored value, or `f`'s result: its `Ok` value is stored, its
    /// error returned as it is.
    pub async fn try_get_with<V, E, F, Fut>(self, f: F) -> Result<V, E>
    where
        V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
        T: TtlPolicy<V>,
        C: Condition<V>,
        W: TimeCondition,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        cache(self.cache, self.key, StoreOk, &self.options, f)
            .await
            .value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn reports_the_miss_the_waiter_sharing_it_and_then_hits() {
        let c = Cache::from_url("mem://").unwrap();
        let options = Options::new(60);
        let slow = || async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            7
        };
        let (first, waiter) = tokio::join!(
            cache(&c, "k", StoreAll, &options, slow),
            cache(&c, "k", StoreAll, &options, slow),
        );
        assert_eq!((first.value, first.served), (7, Served::Miss));
        assert_eq!((waiter.value, waiter.served), (7, Served::Shared));
        let again = cache(&c, "k", StoreAll, &options, slow).await;
        assert_eq!((again.value, again.served), (7, Served::Hit));
    }
}

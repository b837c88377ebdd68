//! Rate limits: a fixed window with a ban, and an exact sliding window.

use std::future::Future;
use std::time::Duration;

use super::{Reported, Served};
use crate::{Cache, Error, ErrorKind};

/// A limit on calls per key, checked by [`rate_limit`] and
/// [`rate_limit_or`]: [`RateLimit`] (fixed window) or [`SliceRateLimit`]
/// (sliding window).
///
/// Limiters fail open: with caching switched off, or the backend down in
/// safe mode, every call is admitted (an outage of the cache should not
/// become an outage of the service).
pub trait Limiter: sealed::Sealed {
    /// Counts one call to `key`; whether it is admitted.
    fn admit(&self, cache: &Cache, key: &str) -> impl Future<Output = crate::Result<bool>> + Send;

    /// The error a refused call gets by default.
    fn refusal(&self, key: &str) -> Error;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::RateLimit {}
    impl Sealed for super::SliceRateLimit {}
}

/// A fixed window: at most `limit` calls per `period`, counted from the
/// window's first call; the call that goes over starts a ban (default: one
/// `period`) during which every call is refused.
///
/// Admission is [`Backend::fixed_window`](crate::backend::Backend::fixed_window):
/// one atomic `incr` per call on every backend, so processes sharing a
/// backend share the count (the call that crosses the limit makes two more
/// round trips to set the ban); one atomic round trip on Redis, a script.
///
/// ```
/// use std::time::Duration;
/// use cashews::strategy::RateLimit;
///
/// // 10 calls a minute, then 10 minutes of refusals.
/// let limit = RateLimit::new(10, Duration::from_secs(60)).ban(Duration::from_secs(600));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    limit: u64,
    period: Duration,
    ban: Duration,
}

impl RateLimit {
    /// At most `limit` calls per `period`, banned for a `period` once over.
    pub const fn new(limit: u64, period: Duration) -> Self {
        Self {
            limit,
            period,
            ban: period,
        }
    }

    /// How long calls are refused after the limit is crossed (the `ttl`
    /// option). The ban never ends before the window does; `Duration::ZERO`
    /// refuses only until the window ends.
    #[must_use]
    pub const fn ban(mut self, ban: Duration) -> Self {
        self.ban = ban;
        self
    }
}

impl Limiter for RateLimit {
    async fn admit(&self, cache: &Cache, key: &str) -> crate::Result<bool> {
        cache
            .fixed_window(key, self.limit, self.period, self.ban)
            .await
    }

    fn refusal(&self, key: &str) -> Error {
        Error::new(
            ErrorKind::RateLimited,
            format!(
                "{key:?}: more than {} calls in {:?}",
                self.limit, self.period
            ),
        )
    }
}

/// A sliding window: at most `limit` calls admitted in any `period`, exact
/// at the window's edges (a call admitted at `t` stops counting at
/// `t + period`). Refused calls are not counted.
///
/// Admission is [`Backend::slide_window`](crate::backend::Backend::slide_window):
/// lock-free and exact on every backend; one atomic round trip on Redis,
/// a script.
///
/// ```
/// use std::time::Duration;
/// use cashews::strategy::SliceRateLimit;
///
/// let limit = SliceRateLimit::new(100, Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceRateLimit {
    limit: u64,
    period: Duration,
}

impl SliceRateLimit {
    /// At most `limit` calls in any window of `period`.
    pub const fn new(limit: u64, period: Duration) -> Self {
        Self { limit, period }
    }
}

impl Limiter for SliceRateLimit {
    async fn admit(&self, cache: &Cache, key: &str) -> crate::Result<bool> {
        cache.slide_window(key, self.limit, self.period).await
    }

    fn refusal(&self, key: &str) -> Error {
        Error::new(
            ErrorKind::RateLimited,
            format!(
                "{key:?}: more than {} calls in the last {:?}",
                self.limit, self.period
            ),
        )
    }
}

/// Whether `limiter` admits a call to `key`: [`Limiter::admit`], failing
/// open (a cache failure admits the call, logged), except that a backend
/// with no room left for the window's state refuses it (see
/// [`ErrorKind::ProtectedFull`]). What [`rate_limit`] and the attributes
/// check; handy to guard any code path.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// use std::time::Duration;
/// use cashews::strategy::{admitted, SliceRateLimit};
///
/// let cache = cashews::Cache::from_url("mem://")?;
/// let limit = SliceRateLimit::new(1, Duration::from_secs(1));
/// assert!(admitted(&cache, "export", &limit).await);
/// assert!(!admitted(&cache, "export", &limit).await);
/// # Ok(()) }
/// ```
pub async fn admitted(cache: &Cache, key: &str, limiter: &impl Limiter) -> bool {
    limiter.admit(cache, key).await.unwrap_or_else(|e| {
        tracing::warn!(key, error = %e, "rate limit unavailable; letting the call through");
        true
    })
}

/// Runs `f` if `limiter` admits the call to `key`; otherwise returns an
/// error of kind [`ErrorKind::RateLimited`] (turned into your `E` by
/// `From<cashews::Error>`) without running it, reported as
/// [`Served::RateLimited`]; an admitted call is [`Served::Miss`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// use std::time::Duration;
/// use cashews::strategy::{rate_limit, RateLimit, Served};
///
/// let cache = cashews::Cache::from_url("mem://")?;
/// let limit = RateLimit::new(2, Duration::from_secs(60));
/// let call = || rate_limit(&cache, "login:ada", &limit, || async { Ok::<_, cashews::Error>("ok") });
/// assert_eq!(call().await.value?, "ok");
/// assert_eq!(call().await.value?, "ok");
/// let refused = call().await;
/// assert_eq!(refused.served, Served::RateLimited);
/// assert!(refused.value.unwrap_err().is_rate_limited());
/// # Ok(()) }
/// ```
pub async fn rate_limit<T, E, F, Fut>(
    cache: &Cache,
    key: &str,
    limiter: &impl Limiter,
    f: F,
) -> Reported<Result<T, E>>
where
    E: From<Error>,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    if admitted(cache, key, limiter).await {
        Served::Miss.with(f().await)
    } else {
        Served::RateLimited.with(Err(limiter.refusal(key).into()))
    }
}

/// [`rate_limit`] with an `action` whose result replaces a refused call's
/// (still reported as [`Served::RateLimited`]); the function may return
/// anything, not only a `Result`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// use std::time::Duration;
/// use cashews::strategy::{rate_limit_or, SliceRateLimit};
///
/// let cache = cashews::Cache::from_url("mem://")?;
/// let limit = SliceRateLimit::new(1, Duration::from_secs(1));
/// let search = || {
///     rate_limit_or(
///         &cache,
///         "search:ada",
///         &limit,
///         || async { Ok::<_, cashews::Error>(vec!["result"]) },
///         || async { Ok(vec![]) },
///     )
/// };
/// assert_eq!(search().await.value?, ["result"]);
/// assert!(search().await.value?.is_empty());
/// # Ok(()) }
/// ```
pub async fn rate_limit_or<R, F, Fut, A, AFut>(
    cache: &Cache,
    key: &str,
    limiter: &impl Limiter,
    f: F,
    action: A,
) -> Reported<R>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = R>,
    A: FnOnce() -> AFut,
    AFut: Future<Output = R>,
{
    if admitted(cache, key, limiter).await {
        Served::Miss.with(f().await)
    } else {
        Served::RateLimited.with(action().await)
    }
}

//! Failover: serve the last good value when the function fails.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Reported, Served, answer_or_default};
use crate::Cache;

/// Options of [`failover`].
///
/// ```
/// use std::time::Duration;
/// use cashews::strategy::Failover;
///
/// #[derive(Debug)]
/// enum FetchError { Timeout, NotFound, Cache(cashews::Error) }
/// impl From<cashews::Error> for FetchError {
///     fn from(e: cashews::Error) -> Self { Self::Cache(e) }
/// }
///
/// // Fall back on timeouts only: a `NotFound` is an answer, not an outage.
/// let options = Failover::new(Duration::from_secs(3600))
///     .when(|e: &FetchError| matches!(e, FetchError::Timeout));
/// ```
pub struct Failover<E> {
    ttl: Duration,
    when: fn(&E) -> bool,
}

impl<E> Failover<E> {
    /// Keeps each good value for `ttl`; falls back on every error.
    pub const fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            when: |_| true,
        }
    }

    /// Falls back only on the errors `when` accepts; the others are returned
    /// as they are (the `exceptions`/`predicate` option of the attribute).
    #[must_use]
    pub const fn when(mut self, when: fn(&E) -> bool) -> Self {
        self.when = when;
        self
    }

    /// How long a good value is kept.
    pub const fn ttl(&self) -> Duration {
        self.ttl
    }
}

impl<E> Clone for Failover<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Failover<E> {}

impl<E> fmt::Debug for Failover<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failover")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// Runs `f` every time; stores each success at `key`; when `f` fails with an
/// error the options accept, returns the last stored success instead, or the
/// error if there is none.
///
/// Unlike a cache, the function always runs: the stored value is a fallback
/// only. The attribute's default key prefix is `fail`, so the fallback does
/// not collide with a plain cache of the same function.
///
/// Cache failures never fail the call: a success that cannot be stored is
/// still returned, and when the fallback cannot be read the function's own
/// error is (both logged). Reports [`Served::Stale`] for the fallback, else
/// [`Served::Miss`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// use std::time::Duration;
/// use cashews::strategy::{failover, Failover, Served};
///
/// let cache = cashews::Cache::from_url("mem://")?;
/// let options = Failover::new(Duration::from_secs(3600));
/// let rate = failover(&cache, "fail:rate:EUR", &options, || async { Ok(1.08) }).await;
/// assert_eq!((rate.value?, rate.served), (1.08, Served::Miss));
/// // The upstream is down: the last good rate is served.
/// let rate = failover(&cache, "fail:rate:EUR", &options, || async {
///     Err::<f64, _>(cashews::Error::new(cashews::ErrorKind::Connection, "upstream down"))
/// })
/// .await;
/// assert_eq!((rate.value?, rate.served), (1.08, Served::Stale));
/// # Ok(()) }
/// ```
pub async fn failover<T, E, F, Fut>(
    cache: &Cache,
    key: &str,
    options: &Failover<E>,
    f: F,
) -> Reported<Result<T, E>>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    match f().await {
        Ok(value) => {
            answer_or_default(key, "set", cache.set(key, &value, options.ttl).await);
            Served::Miss.with(Ok(value))
        }
        Err(e) if (options.when)(&e) => match answer_or_default(key, "get", cache.get(key).await) {
            Some(last_good) => {
                tracing::debug!(key, "call failed; serving the last good value");
                Served::Stale.with(Ok(last_good))
            }
            None => Served::Miss.with(Err(e)),
        },
        Err(e) => Served::Miss.with(Err(e)),
    }
}

//! Soft TTL: recompute after a soft deadline, serve stale on error.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Reported, Served, answer_or_default, clock};
use crate::Cache;
use crate::ttl::saturating_millis;

/// Options of [`soft`].
///
/// ```
/// use std::time::Duration;
/// use cashews::strategy::Soft;
///
/// // Fresh for a minute; on errors, a stale value may be served for an hour.
/// let options: Soft<std::io::Error> =
///     Soft::new(Duration::from_secs(3600), Duration::from_secs(60));
/// ```
pub struct Soft<E> {
    ttl: Duration,
    soft_ttl: Duration,
    when: fn(&E) -> bool,
}

impl<E> Soft<E> {
    /// A value is fresh for `soft_ttl` and kept (as a fallback) for `ttl`.
    pub const fn new(ttl: Duration, soft_ttl: Duration) -> Self {
        Self {
            ttl,
            soft_ttl,
            when: |_| true,
        }
    }

    /// Serves the stale value only on the errors `when` accepts.
    #[must_use]
    pub const fn when(mut self, when: fn(&E) -> bool) -> Self {
        self.when = when;
        self
    }
}

impl<E> Clone for Soft<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Soft<E> {}

impl<E> fmt::Debug for Soft<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Soft")
            .field("ttl", &self.ttl)
            .field("soft_ttl", &self.soft_ttl)
            .finish_non_exhaustive()
    }
}

/// What is stored: the value and when it stops being fresh.
#[derive(Serialize)]
struct Stamp<'a, T> {
    fresh_until_ms: u64,
    value: &'a T,
}

#[derive(Deserialize, Clone)]
struct Stamped<T> {
    fresh_until_ms: u64,
    value: T,
}

/// Serves the value cached at `key` while it is fresh (`soft_ttl`); after
/// that, runs `f` in the caller and stores its result, or, if `f` fails
/// with an accepted error, serves the stale value as long as `ttl` keeps it.
///
/// The freshness mark is stored with the value (wall-clock milliseconds),
/// so all processes sharing the backend agree on it. Reports
/// [`Served::Hit`] (fresh), [`Served::Stale`] or [`Served::Miss`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// use std::time::Duration;
/// use cashews::strategy::{soft, Served, Soft};
///
/// let cache = cashews::Cache::from_url("mem://")?;
/// let options = Soft::new(Duration::from_secs(3600), Duration::from_secs(60));
/// let v = soft(&cache, "config", &options, || async { Ok::<_, cashews::Error>(7) }).await;
/// assert_eq!((v.value?, v.served), (7, Served::Miss));
/// # Ok(()) }
/// ```
pub async fn soft<T, E, F, Fut>(
    cache: &Cache,
    key: &str,
    options: &Soft<E>,
    f: F,
) -> Reported<Result<T, E>>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let stale = match answer_or_default(key, "get", cache.get_cloned::<Stamped<T>>(key).await) {
        Some(s) if clock::now_ms() < s.fresh_until_ms => return Served::Hit.with(Ok(s.value)),
        found => found,
    };
    match f().await {
        Ok(value) => {
            let stamp = Stamp {
                fresh_until_ms: clock::now_ms().saturating_add(saturating_millis(options.soft_ttl)),
                value: &value,
            };
            answer_or_default(key, "set", cache.set(key, &stamp, options.ttl).await);
            Served::Miss.with(Ok(value))
        }
        Err(e) if (options.when)(&e) => match stale {
            Some(s) => {
                tracing::debug!(key, "call failed; serving the stale value");
                Served::Stale.with(Ok(s.value))
            }
            None => Served::Miss.with(Err(e)),
        },
        Err(e) => Served::Miss.with(Err(e)),
    }
}

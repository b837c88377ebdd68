//! Hit: a cached value lives for a number of hits, not only a time.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Reported, Served, answer_or_default};
use crate::{Cache, switch};

/// Options of [`hit`].
///
/// ```
/// use std::time::Duration;
/// use cashews::strategy::Hit;
///
/// // Serve each value 100 times at most; from the 80th hit on, a fresh one
/// // is already being computed in the background.
/// let options = Hit::new(Duration::from_secs(3600), 100).update_after(80);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    ttl: Duration,
    cache_hits: u64,
    update_after: Option<u64>,
}

impl Hit {
    /// Keeps a value for `ttl` or `cache_hits` hits, whichever ends first.
    pub const fn new(ttl: Duration, cache_hits: u64) -> Self {
        Self {
            ttl,
            cache_hits,
            update_after: None,
        }
    }

    /// At the `hits`-th hit, recomputes the value in the background while
    /// the old one is still served (the seed's `update_before`).
    #[must_use]
    pub const fn update_after(mut self, hits: u64) -> Self {
        self.update_after = Some(hits);
        self
    }
}

/// The key of the hit counter kept beside `key`.
fn hits_key(key: &str) -> String {
    format!("{key}:hits")
}

/// Returns the value cached at `key` for at most `cache_hits` hits, then
/// runs `f` again.
///
/// Hits are counted with the backend's `incr` on `"{key}:hits"`, so
/// processes sharing a backend share the count. With
/// [`update_after`](Hit::update_after), exactly one caller (the one whose
/// hit reaches that count) starts a background refresh; it runs in the
/// caller's [scoped switches](crate::switch). A failed refresh is logged
/// and the old value keeps being served until its hits run out. A failed
/// `f` is never stored.
///
/// `f` must be `'static` because the refresh outlives the call. Reports
/// [`Served::Hit`], [`Served::RefreshStarted`] for the hit that starts the
/// refresh, or [`Served::Miss`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use cashews::strategy::{hit, Hit, Served};
///
/// static CALLS: AtomicU32 = AtomicU32::new(0);
/// let cache = cashews::Cache::from_url("mem://")?;
/// let options = Hit::new(Duration::from_secs(60), 3);
/// let mut seen = Vec::new();
/// for _ in 0..9 {
///     let reported = hit(&cache, "count", &options, || async {
///         Ok::<_, cashews::Error>(CALLS.fetch_add(1, Ordering::SeqCst) + 1)
///     })
///     .await;
///     seen.push((reported.value?, reported.served == Served::Hit));
/// }
/// let (values, hits): (Vec<_>, Vec<_>) = seen.into_iter().unzip();
/// assert_eq!(values, [1, 1, 1, 1, 2, 2, 2, 2, 3]);
/// assert_eq!(hits, [false, true, true, true, false, true, true, true, false]);
/// # Ok(()) }
/// ```
pub async fn hit<T, E, F, Fut>(
    cache: &Cache,
    key: &str,
    options: &Hit,
    f: F,
) -> Reported<Result<T, E>>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    E: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    let counter = hits_key(key);
    if let Some(value) = answer_or_default(key, "get", cache.get_cloned::<T>(key).await) {
        // A count that cannot be taken (0) serves the value.
        let hits = answer_or_default(
            key,
            "incr",
            cache.incr(&counter, 1, Some(options.ttl)).await,
        );
        if hits <= i64::try_from(options.cache_hits).unwrap_or(i64::MAX) {
            if options
                .update_after
                .is_some_and(|after| i64::try_from(after) == Ok(hits))
            {
                let (cache, key, ttl) = (cache.clone(), key.to_owned(), options.ttl);
                switch::spawn(async move {
                    match f().await {
                        Ok(fresh) => store(&cache, &key, &counter, &fresh, ttl).await,
                        Err(_) => tracing::warn!(key, "hit refresh failed; the old value stays"),
                    }
                });
                return Served::RefreshStarted.with(Ok(value));
            }
            return Served::Hit.with(Ok(value));
        }
    }
    let result = f().await;
    if let Ok(value) = &result {
        store(cache, key, &counter, value, options.ttl).await;
    }
    Served::Miss.with(result)
}

async fn store<T: Serialize>(cache: &Cache, key: &str, counter: &str, value: &T, ttl: Duration) {
    // Counter first: a reader between the two steps serves the old value
    // and at worst charges one hit to the new one; the other order would
    // show it the new value under the old, spent count and make it recompute.
    answer_or_default(counter, "delete", cache.delete(counter).await);
    answer_or_default(key, "set", cache.set(key, value, ttl).await);
}

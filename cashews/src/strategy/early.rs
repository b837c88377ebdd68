//! Early: refresh a hot value in the background before it expires.

use std::future::Future;
use std::panic::Location;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::state::FunctionSite;
use super::{Reported, Served, answer_or_default, clock};
use crate::ttl::saturating_millis;
use crate::{Cache, switch};

/// Options of [`early`]: plain data, built wherever is convenient.
///
/// ```
/// use std::time::Duration;
/// use cashews::strategy::Early;
///
/// // Kept 10 minutes; refreshed by one caller after 8.
/// let rates = Early::new(Duration::from_secs(600)).early_ttl(Duration::from_secs(480));
/// // Or: no mark, refreshes spread by XFetch, reproducible in tests.
/// let feed = Early::new(Duration::from_secs(600)).xfetch(1.0).rng_seed(7);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Early {
    ttl: Duration,
    early_ttl: Duration,
    lock_ttl: Option<Duration>,
    xfetch: Option<XFetch>,
    function: FunctionSite,
}

#[derive(Debug, Clone, Copy)]
struct XFetch {
    beta: f64,
    seed: Option<u64>,
}

impl Early {
    /// Keeps a value for `ttl`, refreshes it after a third of that. A
    /// [seeded](Early::rng_seed) generator belongs to the place this is
    /// called.
    #[track_caller]
    pub const fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            early_ttl: match ttl.checked_div(3) {
                Some(third) => third,
                None => Duration::ZERO,
            },
            lock_ttl: None,
            xfetch: None,
            function: Location::caller(),
        }
    }

    /// Refreshes after `early_ttl` instead of a third of `ttl`.
    #[must_use]
    pub const fn early_ttl(mut self, early_ttl: Duration) -> Self {
        self.early_ttl = early_ttl;
        self
    }

    /// Bounds how long the refresh lock outlives a refresher that died
    /// (default: until the value expires). A successful refresh keeps the
    /// lock until then anyway, so that callers still holding the old value
    /// do not refresh it a second time.
    #[must_use]
    pub const fn lock_ttl(mut self, lock_ttl: Duration) -> Self {
        self.lock_ttl = Some(lock_ttl);
        self
    }

    /// Probabilistic early expiration (XFetch) instead of the mark: each
    /// hit refreshes with a probability that rises as expiry nears, scaled
    /// by how long the function took and by `beta` (1.0 is the usual
    /// choice; above 1 refreshes earlier). No lock: callers decide alone.
    #[must_use]
    pub const fn xfetch(mut self, beta: f64) -> Self {
        let seed = match self.xfetch {
            Some(x) => x.seed,
            None => None,
        };
        self.xfetch = Some(XFetch { beta, seed });
        self
    }

    /// Draws XFetch's random numbers from a generator seeded with `seed`,
    /// for reproducible tests (without it, a per-thread generator). The
    /// generator is kept in the cache, per function (see [`Early::new`]),
    /// seeded on its first draw.
    #[must_use]
    pub const fn rng_seed(mut self, seed: u64) -> Self {
        let beta = match self.xfetch {
            Some(x) => x.beta,
            None => 1.0,
        };
        self.xfetch = Some(XFetch {
            beta,
            seed: Some(seed),
        });
        self
    }

    /// Whether a value stored as `stored` should be refreshed now.
    fn due<T>(&self, cache: &Cache, stored: &Stored<T>, now: u64) -> bool {
        let Some(x) = &self.xfetch else {
            return now >= stored.early_ms;
        };
        let draw = match x.seed {
            Some(seed) => cache
                .strategy_state()
                .with_function(self.function, |state| {
                    state
                        .rng
                        .get_or_insert_with(|| fastrand::Rng::with_seed(seed))
                        .f64()
                }),
            None => fastrand::f64(),
        };
        // XFetch: now - took * beta * ln(rand) >= expiry. `1 - draw` is in
        // (0, 1], so the logarithm is finite.
        let ahead = -(stored.took_ms.max(1) as f64) * x.beta * (1.0 - draw).ln();
        now as f64 + ahead >= stored.expires_ms as f64
    }
}

/// What is stored: the value, its generation and its marks (wall-clock
/// milliseconds, shared by every process).
#[derive(Serialize)]
struct Store<'a, T> {
    value: &'a T,
    id: u64,
    early_ms: u64,
    expires_ms: u64,
    took_ms: u64,
}

#[derive(Deserialize, Clone)]
struct Stored<T> {
    value: T,
    id: u64,
    early_ms: u64,
    expires_ms: u64,
    took_ms: u64,
}

/// Serves the value cached at `key`; once it passes its early mark
/// (`early_ttl` after it was stored), exactly one caller, the one that wins
/// a lock in the backend (so across processes), refreshes it in the
/// background while everyone keeps getting the current value. A cold
/// cache is a plain call. Reports [`Served::Hit`], [`Served::RefreshStarted`]
/// for the caller that started the refresh, or [`Served::Miss`] (cold).
///
/// A failed (or panicked, or cancelled) refresh releases the lock: the old
/// value is still served, and the next call past the mark tries again. The
/// refresh runs with the caller's [scoped switches](crate::switch). `f`
/// must be `'static`, since the refresh outlives the call.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// use std::time::Duration;
/// use cashews::strategy::{early, Early, Served};
///
/// let cache = cashews::Cache::from_url("mem://")?;
/// let options = Early::new(Duration::from_secs(300));
/// let load = || async { Ok::<_, cashews::Error>(vec![1, 2, 3]) };
/// let top = early(&cache, "top:10", &options, load).await;
/// assert_eq!((top.value?, top.served), (vec![1, 2, 3], Served::Miss));
/// assert_eq!(early(&cache, "top:10", &options, load).await.served, Served::Hit);
/// # Ok(()) }
/// ```
pub async fn early<T, E, F, Fut>(
    cache: &Cache,
    key: &str,
    options: &Early,
    f: F,
) -> Reported<Result<T, E>>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    E: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    let Some(stored) = answer_or_default(key, "get", cache.get_cloned::<Stored<T>>(key).await)
    else {
        return Served::Miss.with(call_and_store(cache, key, options, f).await);
    };
    let now = clock::now_ms();
    if !options.due(cache, &stored, now) {
        return Served::Hit.with(Ok(stored.value));
    }
    let refresh = match options.xfetch {
        Some(_) => None,
        None => match elect(cache, key, &stored, options, now).await {
            Some(lock) => Some(lock),
            // Someone else refreshes this generation.
            None => return Served::Hit.with(Ok(stored.value)),
        },
    };
    let (cache, key) = (cache.clone(), key.to_owned());
    let ttl = options.ttl;
    let early_ttl = options.early_ttl;
    switch::spawn(async move {
        match call(f).await {
            Ok((value, took)) => {
                let stored = store(&cache, &key, &value, ttl, early_ttl, took).await;
                if let Some(mut lock) = refresh.filter(|_| stored) {
                    lock.keep = true;
                }
            }
            Err(_) => tracing::warn!(key, "early refresh failed; the old value stays"),
        }
    });
    Served::RefreshStarted.with(Ok(stored.value))
}

/// Takes the refresh lock of this generation of the value, if free.
async fn elect<T>(
    cache: &Cache,
    key: &str,
    stored: &Stored<T>,
    options: &Early,
    now: u64,
) -> Option<RefreshLock> {
    let left = Duration::from_millis(stored.expires_ms.saturating_sub(now).max(1));
    let ttl = options.lock_ttl.map_or(left, |bound| bound.min(left));
    // Armed before the lock is asked for: a caller dropped while the
    // request is on its way releases whatever it took.
    let mut lock = RefreshLock {
        cache: cache.clone(),
        key: format!("{key}:early:{:x}", stored.id),
        token: format!("{:032x}", fastrand::u128(..)),
        keep: false,
    };
    let request = cache.request_lock(&lock.key, &lock.token, ttl).await;
    // Not ours for sure: nothing to release.
    lock.keep = !request.maybe_held;
    answer_or_default(key, "set_lock", request.answer).then_some(lock)
}

async fn call<T, E, F, Fut>(f: F) -> Result<(T, Duration), E>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let start = Instant::now();
    let value = f().await?;
    Ok((value, start.elapsed()))
}

async fn call_and_store<T, E, F, Fut>(
    cache: &Cache,
    key: &str,
    options: &Early,
    f: F,
) -> Result<T, E>
where
    T: Serialize,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let (value, took) = call(f).await?;
    store(cache, key, &value, options.ttl, options.early_ttl, took).await;
    Ok(value)
}

/// Stores `value` with its marks; whether it did.
async fn store<T: Serialize>(
    cache: &Cache,
    key: &str,
    value: &T,
    ttl: Duration,
    early_ttl: Duration,
    took: Duration,
) -> bool {
    let now = clock::now_ms();
    let record = Store {
        value,
        id: fastrand::u64(..),
        early_ms: now.saturating_add(saturating_millis(early_ttl)),
        expires_ms: now.saturating_add(saturating_millis(ttl)),
        took_ms: saturating_millis(took),
    };
    answer_or_default(key, "set", cache.set(key, &record, ttl).await)
}

/// The refresh lock of one generation of a value.
///
/// Kept after a successful refresh (it expires with the old value), so a
/// caller that read the old value just before the new one was stored does
/// not start a second refresh. Released otherwise, from `Drop` so that a
/// refresh that fails, panics or is cancelled lets a later call try again.
struct RefreshLock {
    cache: Cache,
    key: String,
    token: String,
    keep: bool,
}

impl Drop for RefreshLock {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let cache = self.cache.clone();
        let key = std::mem::take(&mut self.key);
        let token = std::mem::take(&mut self.token);
        runtime.spawn(switch::inherit(async move {
            if let Err(e) = cache.unlock(&key, &token).await {
                tracing::warn!(key, error = %e, "releasing an early refresh lock failed; it expires by its ttl");
            }
        }));
    }
}

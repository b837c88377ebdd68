//! Locked: one execution per key, across processes; the others wait for it.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::{Reported, Served, answer_or_default};
use crate::single_flight::Turn;
use crate::switch::Command;
use crate::{Cache, Error, ErrorKind, Expiry, LockGuard};

/// Options of [`locked`].
///
/// ```
/// use std::time::Duration;
/// use cashews::strategy::Locked;
///
/// // Cache for 10 minutes; a computation may hold the lock 30 s; waiters
/// // check for the result at least every 5 ms and give up after 40 s.
/// let options = Locked::new(Duration::from_secs(600))
///     .lock_ttl(Duration::from_secs(30))
///     .step(Duration::from_millis(5))
///     .wait(Duration::from_secs(40));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locked {
    ttl: Duration,
    lock_ttl: Duration,
    wait: Option<Duration>,
    step: Duration,
}

impl Locked {
    /// Caches for `ttl`; the lock expires after `ttl` too, waiters wait as
    /// long as the lock lasts and check at least every 10 ms.
    pub const fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            lock_ttl: ttl,
            wait: None,
            step: Duration::from_millis(10),
        }
    }

    /// How long the lock lasts if its holder dies without releasing it.
    /// Make it longer than the function takes: once it expires, a waiter
    /// runs the function too.
    #[must_use]
    pub const fn lock_ttl(mut self, lock_ttl: Duration) -> Self {
        self.lock_ttl = lock_ttl;
        self
    }

    /// How long a caller waits for the current holder's result before it
    /// gives up waiting and runs the function itself, unlocked (logged).
    /// The default, `lock_ttl`, is when the lock expires anyway (and the
    /// caller takes it). When the lock changes hands, the wait starts
    /// again. A shorter wait bounds latency at the price of the guarantee.
    #[must_use]
    pub const fn wait(mut self, wait: Duration) -> Self {
        self.wait = Some(wait);
        self
    }

    /// The longest pause between a waiter's checks for the result and the
    /// lock (default 10 ms). The first check comes after 1 ms and the
    /// pause doubles up to `step`: a short computation is picked up
    /// promptly, a long one costs a check per `step`.
    #[must_use]
    pub const fn step(mut self, step: Duration) -> Self {
        self.step = step;
        self
    }
}

/// Returns the value cached at `key`, or runs `f` under a lock in the
/// backend so that only one caller at a time, in any process sharing the
/// backend, computes it; the others wait for the stored result.
///
/// In each process, one caller at a time deals with the lock (an
/// in-process single flight): the others get its value the moment it has
/// one, so only one task per process polls the backend.
///
/// The lock (at `"{key}:lock"`, owned by a random token) is released as
/// soon as the call ends: success, error, panic or cancellation (a `Drop`
/// guard); if the holder's process dies, the lock expires after
/// `lock_ttl` and a waiter takes over. A holder that fails stores nothing,
/// so the next waiter takes the lock and tries itself.
///
/// When the cache is switched off, or fails (the lock can be neither taken
/// nor seen), `f` simply runs; so does a caller whose [`wait`](Locked::wait)
/// is over. The function's errors are returned to its own caller only,
/// never shared. Reports [`Served::Hit`], [`Served::Shared`] (the value
/// another caller computed while this one waited) or [`Served::Miss`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// use std::time::Duration;
/// use cashews::strategy::{locked, Locked, Served};
///
/// let cache = cashews::Cache::from_url("mem://")?;
/// let options = Locked::new(Duration::from_secs(60));
/// let report = || locked(&cache, "report:daily", &options, || async {
///     Ok::<_, cashews::Error>(String::from("expensive"))
/// });
/// let (a, b) = tokio::join!(report(), report());
/// // One ran the function; the other got its value.
/// assert_eq!(a.served, Served::Miss);
/// assert!(matches!(b.served, Served::Hit | Served::Shared));
/// assert_eq!((a.value?, b.value?), ("expensive".into(), "expensive".into()));
/// # Ok(()) }
/// ```
pub async fn locked<T, E, F, Fut>(
    cache: &Cache,
    key: &str,
    options: &Locked,
    f: F,
) -> Reported<Result<T, E>>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    if let Some(value) = answer_or_default(key, "get", cache.get_cloned::<T>(key).await) {
        return Served::Hit.with(Ok(value));
    }
    // Without reads, writes or locks, waiting could never end in a hit.
    if ![Command::Get, Command::Set, Command::SetLock]
        .into_iter()
        .all(|c| cache.enabled(c))
    {
        return Served::Miss.with(f().await);
    }
    // One caller per process deals with the backend's lock; the others of
    // this process get its value as soon as it has one, without polling.
    // If it fails, panics or is cancelled, the next in line takes over.
    let leader = match cache.strategy_state().flights().join::<T>(key).await {
        Turn::Shared(value) => return Served::Shared.with(Ok(value)),
        Turn::Lead(leader) => Some(leader),
        Turn::Alone => None,
    };
    let share = |value: &T| {
        if let Some(leader) = leader {
            leader.share(value);
        }
    };
    match acquire::<T>(cache, key, options).await {
        Ok(Acquired::Found(value)) => {
            share(&value);
            Served::Shared.with(Ok(value))
        }
        Ok(Acquired::Lock(guard)) => {
            // On an error, a panic or cancellation, `guard` is dropped here
            // and releases the lock.
            let value = match f().await {
                Ok(value) => value,
                Err(e) => return Served::Miss.with(Err(e)),
            };
            answer_or_default(key, "set", cache.set(key, &value, options.ttl).await);
            answer_or_default(key, "unlock", guard.release().await);
            share(&value);
            Served::Miss.with(Ok(value))
        }
        Ok(Acquired::Unavailable) => {
            // Safe mode answers a failing backend with "not taken", "does
            // not exist" and a miss: no lock can be had, so just run.
            tracing::warn!(
                key,
                "the lock can be neither taken nor seen; running unlocked"
            );
            Served::Miss.with(f().await)
        }
        Err(e) if e.is_locked() => {
            tracing::warn!(key, error = %e, "running without the lock");
            let result = f().await;
            if let Ok(value) = &result {
                answer_or_default(key, "set", cache.set(key, value, options.ttl).await);
                share(value);
            }
            Served::Miss.with(result)
        }
        Err(e) => {
            tracing::warn!(key, error = %e, "cache command failed; running unlocked");
            Served::Miss.with(f().await)
        }
    }
}

/// What waiting for a key's lock ended in.
enum Acquired<T> {
    /// Someone stored the value.
    Found(T),
    /// This caller holds the lock: it runs the function.
    Lock(LockGuard),
    /// The backend neither grants nor shows the lock.
    Unavailable,
}

/// Takes the lock of `key` or waits for the value its holder stores. An
/// error of kind [`ErrorKind::Locked`] means the wait is over; others are
/// cache failures.
async fn acquire<T>(cache: &Cache, key: &str, options: &Locked) -> crate::Result<Acquired<T>>
where
    T: DeserializeOwned + Clone + Send + Sync + 'static,
{
    let lock_key = format!("{key}:lock");
    // Times in a row the lock could be neither taken nor seen.
    let mut phantom = 0;
    loop {
        match cache.lock(&lock_key, options.lock_ttl).await {
            Ok(guard) => {
                // The previous holder may have stored the value just before
                // releasing the lock.
                if let Some(value) = cache.get_cloned::<T>(key).await? {
                    guard.release().await?;
                    return Ok(Acquired::Found(value));
                }
                return Ok(Acquired::Lock(guard));
            }
            Err(e) if e.is_locked() => {}
            Err(e) => return Err(e),
        }
        if let Some(left) = held(cache, &lock_key).await? {
            phantom = 0;
            if let Some(value) = wait_for(cache, key, &lock_key, options, left).await? {
                return Ok(Acquired::Found(value));
            }
            continue;
        }
        // Released between our two commands (perhaps after storing the
        // value), or the backend is failing.
        if let Some(value) = cache.get_cloned::<T>(key).await? {
            return Ok(Acquired::Found(value));
        }
        phantom += 1;
        if phantom >= 2 {
            return Ok(Acquired::Unavailable);
        }
    }
}

/// How long the lock has left, if it is held. A lock without a TTL (not
/// one of ours) counts as held for good.
async fn held(cache: &Cache, lock_key: &str) -> crate::Result<Option<Duration>> {
    Ok(match cache.get_expire(lock_key).await? {
        Expiry::Missing => None,
        Expiry::Remaining(left) => Some(left),
        Expiry::Persistent => Some(Duration::MAX),
    })
}

/// Waits until the value appears (`Some`), the lock is free (`None`: try to
/// take it) or the wait is over (an error).
///
/// The wait is per holder: when the lock changes hands (its holder failed,
/// or died and the lock expired, and someone else took it), the next
/// holder gets a full wait. A new holder shows as the lock's time left
/// going up.
async fn wait_for<T>(
    cache: &Cache,
    key: &str,
    lock_key: &str,
    options: &Locked,
    mut left: Duration,
) -> crate::Result<Option<T>>
where
    T: DeserializeOwned + Clone + Send + Sync + 'static,
{
    let wait = options.wait.unwrap_or(options.lock_ttl);
    // `None`: a wait too long for the clock to hold never ends.
    let mut deadline = Instant::now().checked_add(wait);
    let mut pause = options.step.min(Duration::from_millis(1));
    loop {
        let now = Instant::now();
        let left_to_wait = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(now));
        if left_to_wait.is_zero() {
            return Err(Error::new(
                ErrorKind::Locked,
                format!("{key:?}: waited {wait:?} for another caller's result"),
            ));
        }
        tokio::time::sleep(pause.min(left_to_wait)).await;
        pause = pause.saturating_mul(2).min(options.step);
        if let Some(value) = cache.get_cloned::<T>(key).await? {
            return Ok(Some(value));
        }
        let Some(now_left) = held(cache, lock_key).await? else {
            return Ok(None);
        };
        if now_left > left {
            deadline = Instant::now().checked_add(wait);
        }
        left = now_left;
    }
}

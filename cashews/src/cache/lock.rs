//! Locks: the lock commands of [`Cache`] and the scoped lock of
//! [`Cache::lock`].

use std::time::Duration;

use bytes::Bytes;

use super::Cache;
use crate::error::{Error, ErrorKind, Result};
use crate::switch::Command;
use crate::ttl::IntoTtl;

impl Cache {
    /// Takes the lock `key` for `token` (the owner's proof) for `ttl`;
    /// whether it was free.
    pub async fn set_lock(&self, key: &str, token: &str, ttl: impl IntoTtl) -> Result<bool> {
        let ttl = ttl
            .into_ttl()?
            .ok_or_else(|| Error::new(ErrorKind::Ttl, "a lock needs a ttl, not None"))?;
        self.request_lock(key, token, ttl).await.answer
    }

    /// Releases the lock `key` if `token` still owns it; whether it did.
    pub async fn unlock(&self, key: &str, token: &str) -> Result<bool> {
        if !self.enabled(Command::Unlock) {
            return Ok(false);
        }
        let key = self.full_key(key);
        self.apply_safe_mode(
            "unlock",
            &key,
            self.backend().unlock(&key, token.as_bytes()).await,
        )
    }

    /// Whether the lock `key` is held; with `wait`, waits up to that long
    /// for it to be released and says whether it is still held.
    pub async fn is_locked(&self, key: &str, wait: Option<Duration>) -> Result<bool> {
        let Some(wait) = wait else {
            return self.exists(key).await;
        };
        let step = (wait / 20).clamp(Duration::from_millis(1), Duration::from_millis(50));
        // `None`: a wait too long for the clock to hold lasts until the release.
        let deadline = tokio::time::Instant::now().checked_add(wait);
        loop {
            if !self.exists(key).await? {
                return Ok(false);
            }
            let now = tokio::time::Instant::now();
            let left = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(now));
            if left.is_zero() {
                return Ok(true);
            }
            tokio::time::sleep(step.min(left)).await;
        }
    }

    /// Takes the lock `key` for `ttl`, or fails with
    /// [`ErrorKind::Locked`] if someone holds it. The lock is released when
    /// the guard is released or dropped, and expires after `ttl` regardless.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
    /// let cache = cashews::Cache::from_url("mem://")?;
    /// let guard = cache.lock("report", 30).await?;
    /// assert!(cache.lock("report", 30).await.unwrap_err().is_locked());
    /// guard.release().await?;
    /// assert!(!cache.is_locked("report", None).await?);
    /// # Ok(()) }
    /// ```
    pub async fn lock(&self, key: &str, ttl: impl IntoTtl) -> Result<LockGuard> {
        LockGuard::acquire(self, key, ttl).await
    }
}

/// A random owner token: only its holder can release the lock.
fn new_token() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// A held lock; released by [`release`](Self::release) or when dropped.
///
/// Dropping it (a panic, a cancelled task, an early return, a dropped
/// [`release`](Self::release) or [`Cache::lock`] future) releases the lock
/// in a spawned task, since `Drop` cannot await: a `Drop` guard is the
/// one place every way out of a task passes. Outside a tokio runtime the
/// lock simply expires after its TTL.
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard {
    cache: Cache,
    key: String,
    token: String,
    released: bool,
}

impl LockGuard {
    /// Takes the lock `key` for `ttl` (see [`Cache::lock`]).
    ///
    /// The guard exists before the lock is asked for: if this future is
    /// dropped while the request is on its way (the lock may be taken on
    /// the server already), dropping the guard releases it. Only an answer
    /// that the lock was not taken disarms it.
    pub(crate) async fn acquire(cache: &Cache, key: &str, ttl: impl IntoTtl) -> Result<Self> {
        let ttl = ttl
            .into_ttl()?
            .ok_or_else(|| Error::new(ErrorKind::Ttl, "a lock needs a ttl, not None"))?;
        let mut guard = Self {
            cache: cache.clone(),
            key: key.to_owned(),
            token: new_token(),
            released: false,
        };
        let request = cache.request_lock(key, &guard.token, ttl).await;
        guard.released = !request.maybe_held;
        if request.answer? {
            Ok(guard)
        } else {
            Err(Error::new(ErrorKind::Locked, format!("{key:?} is locked")))
        }
    }

    /// The locked key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Releases the lock now; whether this guard still owned it (it may
    /// have expired and been taken by someone else).
    ///
    /// Cancel-safe: the guard counts as released only once the unlock has
    /// answered, so dropping this future midway still releases on drop.
    pub async fn release(mut self) -> Result<bool> {
        let answer = self.cache.unlock(&self.key, &self.token).await;
        self.released = true;
        answer
    }
}

/// What a lock request left behind.
pub(crate) struct LockRequest {
    /// Whether the lock was taken, through safe mode (which answers a
    /// backend failure with "not taken").
    pub(crate) answer: Result<bool>,
    /// Whether the lock may be held by the requester: taken, or unknown
    /// after a backend failure (a timeout may hide a lock that was taken).
    /// Whoever holds the token must then release it.
    pub(crate) maybe_held: bool,
}

impl Cache {
    /// Asks for the lock `key` for `token`, telling apart "not taken" from
    /// "perhaps taken", which safe mode's answer does not.
    pub(crate) async fn request_lock(&self, key: &str, token: &str, ttl: Duration) -> LockRequest {
        if !self.enabled(Command::SetLock) {
            return LockRequest {
                answer: Ok(false),
                maybe_held: false,
            };
        }
        let key = self.full_key(key);
        let token = Bytes::copy_from_slice(token.as_bytes());
        let answer = self.backend().set_lock(&key, token, ttl).await;
        let maybe_held = match &answer {
            Ok(taken) => *taken,
            Err(e) => e.is_backend_failure(),
        };
        LockRequest {
            answer: self.apply_safe_mode("set_lock", &key, answer),
            maybe_held,
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (cache, key, token) = (
                self.cache.clone(),
                std::mem::take(&mut self.key),
                std::mem::take(&mut self.token),
            );
            runtime.spawn(async move {
                if let Err(e) = cache.unlock(&key, &token).await {
                    tracing::warn!(key, error = %e, "releasing a dropped lock failed; it expires by its ttl");
                }
            });
        }
    }
}

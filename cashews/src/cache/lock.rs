//! The scoped lock of [`Cache::lock`].

use super::Cache;
use crate::error::{Error, ErrorKind, Result};
use crate::ttl::IntoTtl;

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
    /// the server already), dropping the guard releases it. Only an
    /// answer of "not taken" disarms it.
    pub(crate) async fn acquire(cache: &Cache, key: &str, ttl: impl IntoTtl) -> Result<Self> {
        let mut guard = Self {
            cache: cache.clone(),
            key: key.to_owned(),
            token: new_token(),
            released: false,
        };
        match guard.cache.set_lock(key, &guard.token, ttl).await {
            Ok(true) => Ok(guard),
            Ok(false) => {
                guard.released = true;
                Err(Error::new(ErrorKind::Locked, format!("{key:?} is locked")))
            }
            Err(e) => {
                // A backend failure (a timeout, say) may hide a lock that
                // was taken: the guard stays armed and its drop releases
                // whatever it holds. Any other error stored nothing.
                guard.released = !e.is_backend_failure();
                Err(e)
            }
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

//! The scoped lock of [`Cache::lock`].

use super::Cache;
use crate::error::Result;

/// A random owner token: only its holder can release the lock.
pub(crate) fn new_token() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// A held lock; released by [`release`](Self::release) or when dropped.
///
/// Dropping it (a panic, a cancelled task, an early return) releases the
/// lock in a spawned task, since `Drop` cannot await. Outside a tokio
/// runtime the lock simply expires after its TTL.
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard {
    cache: Cache,
    key: String,
    token: String,
    released: bool,
}

impl LockGuard {
    pub(crate) fn new(cache: Cache, key: String, token: String) -> Self {
        Self {
            cache,
            key,
            token,
            released: false,
        }
    }

    /// The locked key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Releases the lock now; whether this guard still owned it (it may
    /// have expired and been taken by someone else).
    pub async fn release(mut self) -> Result<bool> {
        self.released = true;
        self.cache.unlock(&self.key, &self.token).await
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

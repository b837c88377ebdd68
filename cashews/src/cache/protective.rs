//! Protective state: the window admissions behind
//! [`RateLimit`](crate::strategy::RateLimit) and
//! [`SliceRateLimit`](crate::strategy::SliceRateLimit), and the protective
//! writes of the circuit breaker (see
//! [`Backend::set_protective`](crate::backend::Backend::set_protective)).

use std::time::Duration;

use serde::Serialize;

use super::Cache;
use crate::error::{ErrorKind, Result};
use crate::switch::Command;

impl Cache {
    /// Counts one call to the fixed window at `key` (see
    /// [`Backend::fixed_window`](crate::backend::Backend::fixed_window)).
    ///
    /// Fails open and closed as [`slide_window`](Self::slide_window) does.
    pub(crate) async fn fixed_window(
        &self,
        key: &str,
        limit: u64,
        period: Duration,
        ban: Duration,
    ) -> Result<bool> {
        if !self.enabled(Command::Incr) {
            return Ok(true);
        }
        let key = self.full_key(key);
        let answer = self.backend().fixed_window(&key, limit, period, ban).await;
        self.admitted("fixed_window", &key, answer)
    }

    /// Admits one call to the sliding window at `key` (see
    /// [`Backend::slide_window`](crate::backend::Backend::slide_window)).
    ///
    /// Fails open, like a counter that reads 0: with caching switched off
    /// (the window's writes are `incr`-like, so [`Command::Incr`]) or the
    /// backend down in safe mode, the call is admitted. Fails closed when
    /// the backend has no room left for the window's state
    /// ([`ErrorKind::ProtectedFull`]): the call is refused.
    pub(crate) async fn slide_window(
        &self,
        key: &str,
        limit: u64,
        period: Duration,
    ) -> Result<bool> {
        if !self.enabled(Command::Incr) {
            return Ok(true);
        }
        let key = self.full_key(key);
        let answer = self.backend().slide_window(&key, limit, period).await;
        self.admitted("slide_window", &key, answer)
    }

    /// A window's answer through safe mode. `apply_safe_mode` answers a failure
    /// with the default, `false`: ask it whether the call was refused, so
    /// that a failure admits. A full protective store refuses.
    fn admitted(&self, command: &str, key: &str, answer: Result<bool>) -> Result<bool> {
        let answer = match answer {
            Err(e) if e.kind() == ErrorKind::ProtectedFull => {
                tracing::warn!(command, key, error = %e, "no room for the rate limit's state; refusing the call");
                Ok(false)
            }
            other => other,
        };
        let refused = self.apply_safe_mode(command, key, answer.map(|admitted| !admitted))?;
        Ok(!refused)
    }

    /// [`set`](Self::set) for protective state (see
    /// [`Backend::set_protective`](crate::backend::Backend::set_protective)).
    pub(crate) async fn set_protective<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<bool> {
        if !self.enabled(Command::Set) {
            return Ok(false);
        }
        let key = self.full_key(key);
        let bytes = self.encode(&key, value)?;
        let answer = self.backend().set_protective(&key, bytes, ttl, None).await;
        self.apply_safe_mode("set_protective", &key, answer)
    }

    /// [`incr`](Self::incr) for a protective counter (see
    /// [`Backend::incr_protective`](crate::backend::Backend::incr_protective)).
    pub(crate) async fn incr_protective(&self, key: &str, by: i64, ttl: Duration) -> Result<i64> {
        if !self.enabled(Command::Incr) {
            return Ok(0);
        }
        let key = self.full_key(key);
        let answer = self.backend().incr_protective(&key, by, ttl).await;
        self.apply_safe_mode("incr_protective", &key, answer)
    }
}

//! The window admissions behind [`RateLimit`](crate::strategy::RateLimit)
//! and [`SliceRateLimit`](crate::strategy::SliceRateLimit).

use std::time::Duration;

use super::Cache;
use crate::error::Result;
use crate::switch::Command;

impl Cache {
    /// Counts one call to the fixed window at `key` (see
    /// [`Backend::fixed_window`](crate::backend::Backend::fixed_window)).
    ///
    /// Fails open, as [`slide_window`](Self::slide_window) does.
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
    /// backend down in safe mode, the call is admitted.
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

    /// A window's answer through safe mode. `settle` answers a failure
    /// with the default, `false`: ask it whether the call was refused, so
    /// that a failure admits.
    fn admitted(&self, command: &str, key: &str, answer: Result<bool>) -> Result<bool> {
        let refused = self.settle(command, key, answer.map(|admitted| !admitted))?;
        Ok(!refused)
    }
}

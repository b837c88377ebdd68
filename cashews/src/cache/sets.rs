//! Set commands of [`Cache`]: sets of strings under one key (a Redis set,
//! or its equivalent on each backend; see
//! [`Backend::set_add`](crate::backend::Backend::set_add)).
//!
//! The set's key takes the cache's prefix; its members are stored as given.
//! Switches: `set_add` is [`Command::Set`], `set_members`
//! [`Command::Get`], `set_remove` [`Command::Delete`].

use std::time::Duration;

use crate::cache::Cache;
use crate::error::{Error, ErrorKind, Result};
use crate::switch::Command;
use crate::ttl::IntoTtl;

impl Cache {
    /// Adds `members` to the set at `key` and makes the set live at least
    /// `ttl` from now (a longer TTL it has is kept).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
    /// let cache = cashews::Cache::from_url("mem://")?;
    /// cache.set_add("readers", &["ada", "eve"], 60).await?;
    /// assert_eq!(cache.set_remove("readers", &["eve", "bob"]).await?, 1);
    /// assert_eq!(cache.set_members("readers").await?, ["ada"]);
    /// # Ok(()) }
    /// ```
    pub async fn set_add(&self, key: &str, members: &[&str], ttl: impl IntoTtl) -> Result<()> {
        let ttl = ttl
            .into_ttl()?
            .ok_or_else(|| Error::new(ErrorKind::Ttl, "a set needs a ttl, not None"))?;
        let answer = self.set_add_outside_safe_mode(key, members, ttl).await;
        self.apply_safe_mode("set_add", key, answer)
    }

    /// [`set_add`](Self::set_add) returning every failure, in safe mode
    /// too: a tag must know when its index was not written.
    pub(crate) async fn set_add_outside_safe_mode(
        &self,
        key: &str,
        members: &[&str],
        ttl: Duration,
    ) -> Result<()> {
        if !self.enabled(Command::Set) {
            return Ok(());
        }
        let key = self.full_key(key);
        self.backend().set_add(&key, members, ttl).await
    }

    /// The members of the set at `key`, in no particular order; none if
    /// it is missing.
    pub async fn set_members(&self, key: &str) -> Result<Vec<String>> {
        if !self.enabled(Command::Get) {
            return Ok(Vec::new());
        }
        let key = self.full_key(key);
        self.apply_safe_mode("set_members", &key, self.backend().set_members(&key).await)
    }

    /// Removes `members` from the set at `key`; how many were in it.
    pub async fn set_remove(&self, key: &str, members: &[&str]) -> Result<u64> {
        if !self.enabled(Command::Delete) {
            return Ok(0);
        }
        let key = self.full_key(key);
        self.apply_safe_mode(
            "set_remove",
            &key,
            self.backend().set_remove(&key, members).await,
        )
    }
}

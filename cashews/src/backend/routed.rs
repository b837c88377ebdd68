//! Prefix routing: several backends behind one cache, each key going to the
//! backend of the longest route prefix it starts with (the default backend
//! when none matches). For example `user:` keys on Redis, shared by every
//! process, and everything else in memory.
//!
//! - Commands of one key go to that key's backend, locks, rate-limit
//!   windows (a window's slots live beside it) and sets included (a set's
//!   members are only text: they may name keys of any backend).
//! - Commands of several keys are split per backend, sent concurrently, and
//!   their answers put back in the order of the keys.
//! - Pattern commands ask every backend that may hold a match: the default,
//!   and each route whose prefix agrees with the pattern's literal start
//!   (`user:*` does not ask a `session:` route). Their answers are merged.
//! - `clear` clears every backend, `get_keys_count` adds them up, and `ping`
//!   pings each and answers with the default's reply.
//!
//! Give each route a store of its own: two routes to one Redis database
//! would each see the other's keys in pattern commands.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::future::try_join_all;

use super::{Backend, Exist, Expiry};
use crate::error::Result;

/// Backends chosen by key prefix; see the [module](self) documentation.
///
/// Usually built through [`CacheBuilder::route`](crate::CacheBuilder::route)
/// from URLs; by hand for backends of your own:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// use cashews::backend::{Backend, MemoryBackend, RoutedBackend};
///
/// let users = MemoryBackend::new(Default::default());
/// let routed = RoutedBackend::new(MemoryBackend::new(Default::default()))
///     .route("user:", users.clone());
/// routed.set("user:1", "Ada".into(), None, None).await?;
/// assert!(users.exists("user:1").await?, "stored by the route");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RoutedBackend {
    /// Longest prefix first, so the first match is the longest.
    routes: Vec<(String, Arc<dyn Backend>)>,
    default: Arc<dyn Backend>,
}

impl std::fmt::Debug for RoutedBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let prefixes: Vec<&str> = self.routes.iter().map(|(p, _)| p.as_str()).collect();
        f.debug_struct("RoutedBackend")
            .field("routes", &prefixes)
            .finish_non_exhaustive()
    }
}

impl RoutedBackend {
    /// Every key goes to `default` until routes are added.
    pub fn new(default: impl Backend) -> Self {
        Self::from_arc(Arc::new(default))
    }

    pub(crate) fn from_arc(default: Arc<dyn Backend>) -> Self {
        Self {
            routes: Vec::new(),
            default,
        }
    }

    /// Sends the keys that start with `prefix` to `backend` (unless a longer
    /// route also matches). A second route with the same prefix replaces
    /// the first.
    #[must_use]
    pub fn route(self, prefix: impl Into<String>, backend: impl Backend) -> Self {
        self.route_arc(prefix.into(), Arc::new(backend))
    }

    pub(crate) fn route_arc(mut self, prefix: String, backend: Arc<dyn Backend>) -> Self {
        self.routes.retain(|(p, _)| *p != prefix);
        let at = self
            .routes
            .partition_point(|(p, _)| p.len() >= prefix.len());
        self.routes.insert(at, (prefix, backend));
        self
    }

    /// The backend of `key`, by number: 0 is the default, `i + 1` route `i`.
    fn index(&self, key: &str) -> usize {
        self.routes
            .iter()
            .position(|(prefix, _)| key.starts_with(prefix.as_str()))
            .map_or(0, |i| i + 1)
    }

    #[allow(clippy::indexing_slicing, reason = "`index` counts the routes from 1")]
    fn backend(&self, index: usize) -> &dyn Backend {
        match index {
            0 => self.default.as_ref(),
            i => self.routes[i - 1].1.as_ref(),
        }
    }

    fn of(&self, key: &str) -> &dyn Backend {
        self.backend(self.index(key))
    }

    fn all(&self) -> impl Iterator<Item = &dyn Backend> {
        std::iter::once(self.default.as_ref()).chain(self.routes.iter().map(|(_, b)| b.as_ref()))
    }

    /// The backends that may hold a key matching `pattern`: the default, and
    /// the routes whose prefix and the pattern's literal start agree (one
    /// begins with the other).
    fn matching(&self, pattern: &str) -> impl Iterator<Item = &dyn Backend> {
        let literal = &pattern[..pattern.find(['*', '?', '[', '\\']).unwrap_or(pattern.len())];
        std::iter::once(self.default.as_ref()).chain(
            self.routes
                .iter()
                .filter(move |(p, _)| p.starts_with(literal) || literal.starts_with(p.as_str()))
                .map(|(_, b)| b.as_ref()),
        )
    }

    /// `keys` grouped by backend: for each backend used, its number and the
    /// positions of its keys.
    fn split(&self, keys: impl Iterator<Item = impl AsRef<str>>) -> Vec<(usize, Vec<usize>)> {
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for (at, key) in keys.enumerate() {
            let index = self.index(key.as_ref());
            match groups.iter_mut().find(|(i, _)| *i == index) {
                Some((_, positions)) => positions.push(at),
                None => groups.push((index, vec![at])),
            }
        }
        groups
    }
}

#[async_trait]
impl Backend for RoutedBackend {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.of(key).get(key).await
    }

    #[allow(
        clippy::indexing_slicing,
        reason = "`split` returns positions in its input"
    )]
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let groups = self.split(keys.iter());
        let answers = try_join_all(groups.iter().map(|(index, positions)| {
            let keys: Vec<&str> = positions.iter().map(|&at| keys[at]).collect();
            async move { self.backend(*index).get_many(&keys).await }
        }))
        .await?;
        let mut values = vec![None; keys.len()];
        for ((_, positions), found) in groups.iter().zip(answers) {
            for (&at, value) in positions.iter().zip(found) {
                values[at] = value;
            }
        }
        Ok(values)
    }

    async fn set(
        &self,
        key: &str,
        value: Bytes,
        expire: Option<Duration>,
        exist: Option<Exist>,
    ) -> Result<bool> {
        self.of(key).set(key, value, expire, exist).await
    }

    #[allow(
        clippy::indexing_slicing,
        reason = "`split` returns positions in its input"
    )]
    async fn set_many(&self, pairs: &[(&str, Bytes)], expire: Option<Duration>) -> Result<()> {
        let groups = self.split(pairs.iter().map(|(key, _)| key));
        try_join_all(groups.iter().map(|(index, positions)| {
            let pairs: Vec<(&str, Bytes)> = positions.iter().map(|&at| pairs[at].clone()).collect();
            async move { self.backend(*index).set_many(&pairs, expire).await }
        }))
        .await?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        self.of(key).delete(key).await
    }

    #[allow(
        clippy::indexing_slicing,
        reason = "`split` returns positions in its input"
    )]
    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        let groups = self.split(keys.iter());
        let counts = try_join_all(groups.iter().map(|(index, positions)| {
            let keys: Vec<&str> = positions.iter().map(|&at| keys[at]).collect();
            async move { self.backend(*index).delete_many(&keys).await }
        }))
        .await?;
        Ok(counts.into_iter().sum())
    }

    async fn delete_match(&self, pattern: &str) -> Result<u64> {
        let counts = try_join_all(self.matching(pattern).map(|b| b.delete_match(pattern))).await?;
        Ok(counts.into_iter().sum())
    }

    async fn scan(&self, pattern: &str) -> Result<Vec<String>> {
        let found = try_join_all(self.matching(pattern).map(|b| b.scan(pattern))).await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn get_match(&self, pattern: &str) -> Result<Vec<(String, Bytes)>> {
        let found = try_join_all(self.matching(pattern).map(|b| b.get_match(pattern))).await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        self.of(key).exists(key).await
    }

    async fn incr(&self, key: &str, by: i64, expire: Option<Duration>) -> Result<i64> {
        self.of(key).incr(key, by, expire).await
    }

    async fn expire(&self, key: &str, timeout: Duration) -> Result<bool> {
        self.of(key).expire(key, timeout).await
    }

    async fn get_expire(&self, key: &str) -> Result<Expiry> {
        self.of(key).get_expire(key).await
    }

    async fn ping(&self, message: Option<&[u8]>) -> Result<Bytes> {
        let mut replies = try_join_all(self.all().map(|b| b.ping(message))).await?;
        Ok(replies.swap_remove(0))
    }

    async fn clear(&self) -> Result<()> {
        try_join_all(self.all().map(|b| b.clear())).await?;
        Ok(())
    }

    async fn set_lock(&self, key: &str, value: Bytes, expire: Duration) -> Result<bool> {
        self.of(key).set_lock(key, value, expire).await
    }

    async fn unlock(&self, key: &str, value: &[u8]) -> Result<bool> {
        self.of(key).unlock(key, value).await
    }

    async fn fixed_window(
        &self,
        key: &str,
        limit: u64,
        period: Duration,
        ban: Duration,
    ) -> Result<bool> {
        self.of(key).fixed_window(key, limit, period, ban).await
    }

    async fn slide_window(&self, key: &str, limit: u64, period: Duration) -> Result<bool> {
        self.of(key).slide_window(key, limit, period).await
    }

    async fn set_add(&self, key: &str, members: &[&str], expire: Duration) -> Result<()> {
        self.of(key).set_add(key, members, expire).await
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>> {
        self.of(key).set_members(key).await
    }

    async fn set_remove(&self, key: &str, members: &[&str]) -> Result<u64> {
        self.of(key).set_remove(key, members).await
    }

    async fn set_protective(
        &self,
        key: &str,
        value: Bytes,
        expire: Duration,
        exist: Option<Exist>,
    ) -> Result<bool> {
        self.of(key).set_protective(key, value, expire, exist).await
    }

    async fn incr_protective(&self, key: &str, by: i64, expire: Duration) -> Result<i64> {
        self.of(key).incr_protective(key, by, expire).await
    }

    async fn get_size(&self, key: &str) -> Result<Option<u64>> {
        self.of(key).get_size(key).await
    }

    async fn get_keys_count(&self) -> Result<u64> {
        let counts = try_join_all(self.all().map(|b| b.get_keys_count())).await?;
        Ok(counts.into_iter().sum())
    }
}

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

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::try_join_all;

use super::any::AnyBackend;
use super::native::{NativeBackend, backend_by_native, with_commands};
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
    routes: Vec<(String, AnyBackend)>,
    default: AnyBackend,
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
        Self::over(default.into_dispatch().0)
    }

    pub(crate) fn over(default: AnyBackend) -> Self {
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
        self.route_to(prefix.into(), backend.into_dispatch().0)
    }

    pub(crate) fn route_to(mut self, prefix: String, backend: AnyBackend) -> Self {
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
    fn backend(&self, index: usize) -> &AnyBackend {
        match index {
            0 => &self.default,
            i => &self.routes[i - 1].1,
        }
    }

    /// The backend of `key`.
    #[inline]
    pub(crate) fn of(&self, key: &str) -> &AnyBackend {
        self.routes
            .iter()
            .find(|(prefix, _)| key.starts_with(prefix.as_str()))
            .map_or(&self.default, |(_, backend)| backend)
    }

    fn all(&self) -> impl Iterator<Item = &AnyBackend> {
        std::iter::once(&self.default).chain(self.routes.iter().map(|(_, b)| b))
    }

    /// The backends that may hold a key matching `pattern`: the default, and
    /// the routes whose prefix and the pattern's literal start agree (one
    /// begins with the other).
    fn matching(&self, pattern: &str) -> impl Iterator<Item = &AnyBackend> {
        let literal = &pattern[..pattern.find(['*', '?', '[', '\\']).unwrap_or(pattern.len())];
        std::iter::once(&self.default).chain(
            self.routes
                .iter()
                .filter(move |(p, _)| p.starts_with(literal) || literal.starts_with(p.as_str()))
                .map(|(_, b)| b),
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

/// Writes the commands of one key: each goes to the key's backend.
macro_rules! to_the_key_s_backend {
    ([] keyed { $(fn $k:ident(key: &str $(, $ka:ident: $kt:ty)*) -> $kr:ty;)* }
        whole { $($whole:tt)* }) => {
        $(async fn $k(&self, key: &str $(, $ka: $kt)*) -> Result<$kr> {
            self.of(key).$k(key $(, $ka)*).await
        })*
    };
}

impl NativeBackend for RoutedBackend {
    with_commands!(to_the_key_s_backend);

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

    async fn ping(&self, message: Option<&[u8]>) -> Result<Bytes> {
        let mut replies = try_join_all(self.all().map(|b| b.ping(message))).await?;
        Ok(replies.swap_remove(0))
    }

    async fn clear(&self) -> Result<()> {
        try_join_all(self.all().map(|b| b.clear())).await?;
        Ok(())
    }

    async fn get_keys_count(&self) -> Result<u64> {
        let counts = try_join_all(self.all().map(|b| b.get_keys_count())).await?;
        Ok(counts.into_iter().sum())
    }
}

with_commands!(backend_by_native, RoutedBackend, Routed);

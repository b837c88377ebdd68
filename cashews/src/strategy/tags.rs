//! Tags: name groups of cached keys, and delete a group at once.
//!
//! A tag's index (the set at `cashews:tag:{tag}`) must live as long as the
//! keys it names, or [`delete_tags`] misses them and their stale values
//! are served after invalidation:
//! - the memory backend keeps indexes in its protective store (see
//!   [`backend::memory`](crate::backend::memory)): the value bound never
//!   evicts them, and a new index is refused when that store is full;
//! - when an index cannot be written (that refusal, or any backend
//!   failure, in safe mode too) [`tagged`] deletes the value it just
//!   stored, and [`tag`] fails so its caller can;
//! - a server that evicts on its own can still drop an index: Redis under
//!   an `allkeys-*` `maxmemory-policy`, memcached when out of memory.
//!   Route `cashews:tag:` to a store that does not evict and that every
//!   process tagging or invalidating shares (a Redis with `noeviction`;
//!   an in-process `mem://` only when one process does both), as for other
//!   protective state (see
//!   [`Backend::set_protective`](crate::backend::Backend::set_protective)).

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use futures_util::future::try_join_all;

use super::{Reported, Served, answer_or_default};
use crate::{Cache, switch};

/// The key of the set of keys tagged `tag` (the tag's index).
fn index_key(tag: &str) -> String {
    ["cashews:tag:", tag].concat()
}

/// Tags `key`: deleting any of `tags` (with [`delete_tags`]) deletes it.
///
/// Each tag keeps an index, a set of the keys it names (see
/// [`Cache::set_add`]), living at least as long as the longest `ttl` of
/// those keys: each tagging extends it. So [`delete_tags`] reads the
/// index instead of scanning the keyspace, and works on every backend.
/// Tag a key after storing it: a deletion that runs between the two steps
/// misses it (as with any invalidation racing a write).
///
/// An index is protective state: the memory backend never evicts it for
/// values (a new one is refused, [`ErrorKind::ProtectedFull`], when its
/// `protected_size` is reached); a server that evicts on its own can drop
/// it (see [`Backend::set_protective`] for routing `cashews:tag:` to a
/// store that does not). Fails when an index could not be written, in
/// safe mode too: then delete `key`, as [`tagged`] does, or no tag can
/// invalidate it.
///
/// [`ErrorKind::ProtectedFull`]: crate::ErrorKind::ProtectedFull
/// [`Backend::set_protective`]: crate::backend::Backend::set_protective
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// use std::time::Duration;
/// use cashews::strategy::{delete_tags, tag};
///
/// let cache = cashews::Cache::from_url("mem://")?;
/// let ttl = Duration::from_secs(60);
/// cache.set("user:1:profile", &"Ada", ttl).await?;
/// tag(&cache, "user:1:profile", &["user:1"], ttl).await?;
/// assert_eq!(delete_tags(&cache, &["user:1"]).await?, 1);
/// assert!(!cache.exists("user:1:profile").await?);
/// # Ok(()) }
/// ```
pub async fn tag(cache: &Cache, key: &str, tags: &[&str], ttl: Duration) -> crate::Result<()> {
    try_join_all(tags.iter().map(|t| async move {
        cache
            .set_add_outside_safe_mode(&index_key(t), &[key], ttl)
            .await
    }))
    .await
    .map(drop)
}

/// Deletes every key tagged with any of `tags`; how many keys (indexes
/// not counted).
///
/// Costs the tagged keys, not the keyspace: per tag, one read of its
/// index, one deletion of the keys it names, and one removal of those
/// from the index (a key tagged meanwhile stays in it).
pub async fn delete_tags(cache: &Cache, tags: &[&str]) -> crate::Result<u64> {
    let mut deleted = 0;
    for t in tags {
        let index = index_key(t);
        let members = cache.set_members(&index).await?;
        if members.is_empty() {
            continue;
        }
        let members: Vec<&str> = members.iter().map(String::as_str).collect();
        deleted += cache.delete_many(&members).await?;
        cache.set_remove(&index, &members).await?;
    }
    Ok(deleted)
}

/// A plain cache whose stored values carry `tags`: returns the value at
/// `key`, or runs `f`, stores its success for `ttl` and tags it.
///
/// A value whose tags cannot all be written is deleted again (logged), so
/// no stored value outlives an invalidation of its tags; the call still
/// returns it. A call cancelled between storing and tagging deletes it
/// from a spawned task. Only a backend that fails the deletion too can
/// keep it (logged). Reports [`Served::Hit`] or [`Served::Miss`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// use std::time::Duration;
/// use cashews::strategy::{delete_tags, tagged};
///
/// let cache = cashews::Cache::from_url("mem://")?;
/// let ttl = Duration::from_secs(60);
/// let load = |name: &'static str| {
///     tagged(&cache, "user:1:name", &["user:1"], ttl, move || async move {
///         Ok::<_, cashews::Error>(name.to_owned())
///     })
/// };
/// assert_eq!(load("Ada").await.value?, "Ada");
/// assert_eq!(load("Eve").await.value?, "Ada"); // cached
/// delete_tags(&cache, &["user:1"]).await?;
/// assert_eq!(load("Eve").await.value?, "Eve");
/// # Ok(()) }
/// ```
pub async fn tagged<T, E, F, Fut>(
    cache: &Cache,
    key: &str,
    tags: &[&str],
    ttl: Duration,
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
    let value = match f().await {
        Ok(value) => value,
        Err(e) => return Served::Miss.with(Err(e)),
    };
    let mut untagged = Untagged {
        cache,
        key,
        armed: true,
    };
    if answer_or_default(key, "set", cache.set(key, &value, ttl).await)
        && let Err(e) = tag(cache, key, tags, ttl).await
    {
        tracing::warn!(key, error = %e, "tagging failed; deleting the value so that no tag misses it");
        answer_or_default(key, "delete", cache.delete(key).await);
    }
    untagged.armed = false;
    Served::Miss.with(Ok(value))
}

/// A value of [`tagged`] from its `set` until it is tagged, or deleted for
/// want of a tag: dropped armed (the call cancelled in between), it deletes
/// the value from a task of its own, so none is left that its tags miss.
struct Untagged<'a> {
    cache: &'a Cache,
    key: &'a str,
    armed: bool,
}

impl Drop for Untagged<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (cache, key) = (self.cache.clone(), self.key.to_owned());
        runtime.spawn(switch::inherit(async move {
            if let Err(e) = cache.delete(&key).await {
                tracing::warn!(key, error = %e, "deleting the value of a cancelled tagged call failed; its tags miss it");
            }
        }));
    }
}

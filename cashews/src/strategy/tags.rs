//! Tags: name groups of cached keys, and delete a group at once.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::absorb;
use crate::{Cache, pattern};

/// Where the membership of `key` in `tag` is recorded. The tag's length
/// comes first so that tag `a` never matches the memberships of tag `a:b`.
fn membership_prefix(tag: &str) -> String {
    format!("cashews:tag:{}:{tag}:", tag.len())
}

/// Tags `key`: deleting any of `tags` (with [`delete_tags`]) deletes it.
///
/// Each membership is one key, `cashews:tag:{len}:{tag}:{key}`, living as
/// long as the tagged value (`ttl`), so it works on every backend with
/// plain `set`s and nothing needs cleaning up. Tag a key after storing it:
/// a deletion that runs between the two steps misses it (as with any
/// invalidation racing a write).
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
    if tags.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = tags
        .iter()
        .map(|t| [membership_prefix(t).as_str(), key].concat())
        .collect();
    let pairs: Vec<(&str, u8)> = keys.iter().map(|k| (k.as_str(), 1)).collect();
    cache.set_many(&pairs, ttl).await
}

/// Deletes every key tagged with any of `tags`; how many keys (memberships
/// not counted).
///
/// Finds the members with a key scan, so it needs a backend that can scan:
/// memory and Redis. On memcached, which cannot, it fails with
/// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
pub async fn delete_tags(cache: &Cache, tags: &[&str]) -> crate::Result<u64> {
    let mut deleted = 0;
    for t in tags {
        let prefix = membership_prefix(t);
        let memberships = cache
            .scan(&format!("{}*", pattern::escape(&prefix)))
            .await?;
        if memberships.is_empty() {
            continue;
        }
        let members: Vec<&str> = memberships
            .iter()
            .filter_map(|m| m.strip_prefix(&prefix))
            .collect();
        deleted += cache.delete_many(&members).await?;
        let memberships: Vec<&str> = memberships.iter().map(String::as_str).collect();
        cache.delete_many(&memberships).await?;
    }
    Ok(deleted)
}

/// A plain cache whose stored values carry `tags`: returns the value at
/// `key`, or runs `f`, stores its success for `ttl` and tags it.
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
/// assert_eq!(load("Ada").await?, "Ada");
/// assert_eq!(load("Eve").await?, "Ada"); // cached
/// delete_tags(&cache, &["user:1"]).await?;
/// assert_eq!(load("Eve").await?, "Eve");
/// # Ok(()) }
/// ```
pub async fn tagged<T, E, F, Fut>(
    cache: &Cache,
    key: &str,
    tags: &[&str],
    ttl: Duration,
    f: F,
) -> Result<T, E>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    if let Some(value) = absorb(key, "get", cache.get_cloned::<T>(key).await) {
        return Ok(value);
    }
    let value = f().await?;
    if absorb(key, "set", cache.set(key, &value, ttl).await) {
        absorb(key, "tag", tag(cache, key, tags, ttl).await);
    }
    Ok(value)
}

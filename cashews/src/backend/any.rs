//! The backend a [`Cache`](crate::Cache) holds, chosen from a URL.

use std::sync::Arc;

use bytes::Bytes;

use super::{Backend, MemoryBackend};
use crate::error::Result;
use crate::settings::BackendSettings;

/// A built-in backend, or the door for a user's own.
///
/// An enum rather than a boxed trait object so that the memory hit path is a
/// direct, inlinable call (see [`Cache::get`](crate::Cache::get)), and a
/// Redis `get` skips the trait's box ([`AnyBackend::get`]); every other
/// command goes through the [`Backend`] trait.
#[derive(Clone)]
pub(crate) enum AnyBackend {
    Memory(MemoryBackend),
    #[cfg(feature = "redis")]
    Redis(super::RedisBackend),
    #[cfg(feature = "memcached")]
    Memcached(super::MemcachedBackend),
    Custom(Arc<dyn Backend>),
}

impl AnyBackend {
    pub(crate) fn from_settings(settings: &BackendSettings) -> Result<Self> {
        match settings {
            BackendSettings::Memory(mem) => Ok(Self::Memory(MemoryBackend::new(mem.clone()))),
            #[cfg(feature = "redis")]
            BackendSettings::Redis(redis) => Ok(Self::Redis(super::RedisBackend::new(redis)?)),
            #[cfg(feature = "memcached")]
            BackendSettings::Memcached(memcached) => {
                Ok(Self::Memcached(super::MemcachedBackend::new(memcached)?))
            }
            // Settings refuse these URLs when their feature is off.
            #[cfg(not(all(feature = "redis", feature = "memcached")))]
            _ => Err(crate::Error::settings(
                "this backend's cargo feature is off",
            )),
        }
    }

    pub(crate) fn into_dyn(self) -> Arc<dyn Backend> {
        match self {
            Self::Memory(b) => Arc::new(b),
            #[cfg(feature = "redis")]
            Self::Redis(b) => Arc::new(b),
            #[cfg(feature = "memcached")]
            Self::Memcached(b) => Arc::new(b),
            Self::Custom(b) => b,
        }
    }

    /// [`Backend::get`], called directly on Redis.
    ///
    /// `async_trait` boxes each call's future: an allocation, and a copy
    /// of the whole future into it. A hit on Redis is mostly the round
    /// trip, but with 64 tasks on two cores the client's CPU per call
    /// decides the throughput, and that box was about 250 of the 1,200
    /// instructions a decorated Redis hit added to redis-rs's own `GET`
    /// (callgrind, `cashews-bench`'s Redis rows).
    ///
    /// Not memcached: its request future (a pooled connection, a reply
    /// parser, and then also a tokio timeout) was about 750 bytes, and
    /// inline here it made the decorated hit's own box larger than glibc's
    /// per-thread cache serves (1 KiB), which cost more than the box it
    /// saves. Not measured again since the timer moved into the pooled
    /// connection.
    pub(crate) async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        match self {
            #[cfg(feature = "redis")]
            Self::Redis(b) => b.get_unboxed(key).await,
            other => other.as_dyn().get(key).await,
        }
    }

    pub(crate) fn as_dyn(&self) -> &dyn Backend {
        match self {
            Self::Memory(b) => b,
            #[cfg(feature = "redis")]
            Self::Redis(b) => b,
            #[cfg(feature = "memcached")]
            Self::Memcached(b) => b,
            Self::Custom(b) => b.as_ref(),
        }
    }
}

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

    /// [`Backend::get`], called directly on Redis and memcached.
    ///
    /// `async_trait` boxes each call's future: an allocation, and a copy
    /// of the whole future into it. A hit on a server is mostly the round
    /// trip, but with 64 tasks on two cores the client's CPU per call
    /// decides the throughput. On Redis that box was about 250 of the
    /// 1,200 instructions a decorated hit added to redis-rs's own `GET`; on
    /// memcached, whose future is larger (640 bytes), about 450 of the
    /// 1,480 it added to the raw client's `mg` (callgrind, `cashews-bench`'s
    /// 64-task rows): with 64 calls in flight, most such boxes are freed
    /// past glibc's per-thread cache, which keeps 7 blocks of a size, into
    /// its slower bins. Inline, the decorated hit's own box grows to 928
    /// bytes, still a size that cache takes (up to 1,032); the 750-byte
    /// future memcached had before its timer moved into the pooled
    /// connection made it larger, and cost more than the box it saved.
    pub(crate) async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        match self {
            #[cfg(feature = "redis")]
            Self::Redis(b) => b.get_unboxed(key).await,
            #[cfg(feature = "memcached")]
            Self::Memcached(b) => b.get_unboxed(key).await,
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

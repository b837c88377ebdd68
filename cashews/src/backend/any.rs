//! [`AnyBackend`]: the backend a [`Cache`](crate::Cache) holds, and the one
//! path every command takes to it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::native::{Immediate, NativeBackend, with_commands};
use super::{Backend, Exist, Expiry, MemoryBackend, RoutedBackend};
use crate::error::Result;
use crate::settings::BackendSettings;

/// A built-in backend, prefix routing over more of them, or the door for a
/// user's own.
///
/// Built-in backends are called through [`NativeBackend`] (no boxed
/// future); `Custom` through its [`Backend`] (`async_trait`'s box). A
/// command of one key goes to the backend that holds the key, found
/// through every `Routed` level first, so a routed memory store keeps its
/// fast paths.
#[derive(Clone)]
pub(crate) enum AnyBackend {
    // The variants that may answer at once come first: one compare tells
    // them from the rest ([`AnyBackend::always_remote`]).
    Memory(MemoryBackend),
    Routed(Arc<RoutedBackend>),
    #[cfg(feature = "redis")]
    Redis(super::RedisBackend),
    #[cfg(feature = "memcached")]
    Memcached(super::MemcachedBackend),
    Custom(Arc<dyn Backend>),
}

/// The backend that holds one key: an [`AnyBackend`] that is not `Routed`.
enum Leaf<'a> {
    Memory(&'a MemoryBackend),
    #[cfg(feature = "redis")]
    Redis(&'a super::RedisBackend),
    #[cfg(feature = "memcached")]
    Memcached(&'a super::MemcachedBackend),
    Custom(&'a dyn Backend),
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

    /// The backend that holds `key`.
    #[inline]
    fn leaf(&self, key: &str) -> Leaf<'_> {
        let mut at = self;
        loop {
            return match at {
                Self::Memory(b) => Leaf::Memory(b),
                #[cfg(feature = "redis")]
                Self::Redis(b) => Leaf::Redis(b),
                #[cfg(feature = "memcached")]
                Self::Memcached(b) => Leaf::Memcached(b),
                Self::Custom(b) => Leaf::Custom(b.as_ref()),
                Self::Routed(routed) => {
                    at = routed.of(key);
                    continue;
                }
            };
        }
    }

    /// [`NativeBackend::lookup`] on the backend of `key`.
    #[inline]
    pub(crate) fn lookup<R>(
        &self,
        key: &str,
        read: impl FnOnce(&[u8]) -> R,
    ) -> Immediate<Option<R>> {
        match self {
            Self::Memory(b) => b.lookup(key, read),
            Self::Routed(routed) => routed.of(key).lookup(key, read),
            _ => Immediate::Remote,
        }
    }

    /// Whether every key's backend is remote, so that no command is
    /// answered [`Immediate::Ready`]: known without a key.
    #[inline]
    pub(crate) fn always_remote(&self) -> bool {
        !matches!(self, Self::Memory(_) | Self::Routed(_))
    }

    /// [`NativeBackend::lookup_memo`] on the backend of `key`.
    #[inline]
    pub(crate) fn lookup_memo<T: Clone + Send + Sync + 'static>(
        &self,
        key: &str,
        codec: u64,
        decode: impl FnOnce(&[u8]) -> Option<T>,
    ) -> Immediate<Option<T>> {
        match self {
            Self::Memory(b) => b.lookup_memo(key, codec, decode),
            Self::Routed(routed) => routed.of(key).lookup_memo(key, codec, decode),
            _ => Immediate::Remote,
        }
    }

    /// [`NativeBackend::set_now`] on the backend of `key`.
    #[inline]
    pub(crate) fn set_now(
        &self,
        key: &str,
        expire: Option<Duration>,
        exist: Option<Exist>,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<()>,
    ) -> Immediate<Result<bool>> {
        match self {
            Self::Memory(b) => b.set_now(key, expire, exist, encode),
            Self::Routed(routed) => routed.of(key).set_now(key, expire, exist, encode),
            _ => Immediate::Remote,
        }
    }
}

/// Writes every command of [`AnyBackend`] from the list of
/// [`with_commands`]: a command of one key on its [`Leaf`]; a command of
/// the whole backend on each variant, a `Routed` one boxed (its routes are
/// `AnyBackend`s again, and a future cannot hold itself).
macro_rules! dispatch {
    ([] keyed { $(fn $k:ident(key: &str $(, $ka:ident: $kt:ty)*) -> $kr:ty;)* }
        whole { $(fn $w:ident($($wa:ident: $wt:ty),*) -> $wr:ty;)* }) => {
        impl AnyBackend {
            $(
                #[doc = concat!("[`Backend::", stringify!($k), "`] on the backend of `key`.")]
                pub(crate) fn $k(
                    &self,
                    key: &str
                    $(, $ka: $kt)*
                ) -> impl Future<Output = Result<$kr>> + Send {
                    async move {
                        match self.leaf(key) {
                            Leaf::Memory(b) => NativeBackend::$k(b, key $(, $ka)*).await,
                            #[cfg(feature = "redis")]
                            Leaf::Redis(b) => NativeBackend::$k(b, key $(, $ka)*).await,
                            #[cfg(feature = "memcached")]
                            Leaf::Memcached(b) => NativeBackend::$k(b, key $(, $ka)*).await,
                            Leaf::Custom(b) => Backend::$k(b, key $(, $ka)*).await,
                        }
                    }
                }
            )*
            $(
                #[doc = concat!("[`Backend::", stringify!($w), "`].")]
                pub(crate) fn $w(
                    &self
                    $(, $wa: $wt)*
                ) -> impl Future<Output = Result<$wr>> + Send {
                    async move {
                        match self {
                            Self::Memory(b) => NativeBackend::$w(b $(, $wa)*).await,
                            #[cfg(feature = "redis")]
                            Self::Redis(b) => NativeBackend::$w(b $(, $wa)*).await,
                            #[cfg(feature = "memcached")]
                            Self::Memcached(b) => NativeBackend::$w(b $(, $wa)*).await,
                            Self::Routed(b) => {
                                let boxed: std::pin::Pin<Box<dyn Future<Output = Result<$wr>> + Send + '_>> =
                                    Box::pin(NativeBackend::$w(b.as_ref() $(, $wa)*));
                                boxed.await
                            }
                            Self::Custom(b) => Backend::$w(b.as_ref() $(, $wa)*).await,
                        }
                    }
                }
            )*
        }
    };
}
with_commands!(dispatch);

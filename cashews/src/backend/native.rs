//! [`NativeBackend`]: the commands of the built-in backends as native async
//! methods, and the one list of commands every delegation is written from.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

use super::{Backend, Exist, Expiry, check_slots};
use crate::error::Result;

/// An answer a backend gives without a future when it can: `Ready` from a
/// store in this process, `Remote` when the caller must await the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Immediate<T> {
    /// The answer, with nothing to await.
    Ready(T),
    /// The store is elsewhere: await the command's future instead.
    Remote,
}

/// The commands of [`Backend`] with unboxed futures, implemented by the
/// built-in backends and dispatched by [`AnyBackend`](super::any::AnyBackend);
/// [`Boxed`] answers them over any [`Backend`], for its defaults.
///
/// The futures are `Send`, so a strategy may spawn them. Every method
/// means what the [`Backend`] method of its name means.
pub(crate) trait NativeBackend: Send + Sync {
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Bytes>>> + Send;
    fn get_many(&self, keys: &[&str]) -> impl Future<Output = Result<Vec<Option<Bytes>>>> + Send;
    fn set(
        &self,
        key: &str,
        value: Bytes,
        expire: Option<Duration>,
        exist: Option<Exist>,
    ) -> impl Future<Output = Result<bool>> + Send;
    fn set_many(
        &self,
        pairs: &[(&str, Bytes)],
        expire: Option<Duration>,
    ) -> impl Future<Output = Result<()>> + Send;
    fn delete(&self, key: &str) -> impl Future<Output = Result<bool>> + Send;
    fn delete_many(&self, keys: &[&str]) -> impl Future<Output = Result<u64>> + Send;
    fn delete_match(&self, pattern: &str) -> impl Future<Output = Result<u64>> + Send;
    fn scan(&self, pattern: &str) -> impl Future<Output = Result<Vec<String>>> + Send;
    fn get_match(&self, pattern: &str)
    -> impl Future<Output = Result<Vec<(String, Bytes)>>> + Send;
    fn exists(&self, key: &str) -> impl Future<Output = Result<bool>> + Send;
    fn incr(
        &self,
        key: &str,
        by: i64,
        expire: Option<Duration>,
    ) -> impl Future<Output = Result<i64>> + Send;
    fn expire(&self, key: &str, timeout: Duration) -> impl Future<Output = Result<bool>> + Send;
    fn get_expire(&self, key: &str) -> impl Future<Output = Result<Expiry>> + Send;
    fn ping(&self, message: Option<&[u8]>) -> impl Future<Output = Result<Bytes>> + Send;
    fn clear(&self) -> impl Future<Output = Result<()>> + Send;
    fn unlock(&self, key: &str, value: &[u8]) -> impl Future<Output = Result<bool>> + Send;
    fn set_add(
        &self,
        key: &str,
        members: &[&str],
        expire: Duration,
    ) -> impl Future<Output = Result<()>> + Send;
    fn set_members(&self, key: &str) -> impl Future<Output = Result<Vec<String>>> + Send;
    fn set_remove(&self, key: &str, members: &[&str]) -> impl Future<Output = Result<u64>> + Send;
    fn get_size(&self, key: &str) -> impl Future<Output = Result<Option<u64>>> + Send;
    fn get_keys_count(&self) -> impl Future<Output = Result<u64>> + Send;

    fn set_lock(
        &self,
        key: &str,
        value: Bytes,
        expire: Duration,
    ) -> impl Future<Output = Result<bool>> + Send {
        set_lock_by_protective(self, key, value, expire)
    }

    fn set_protective(
        &self,
        key: &str,
        value: Bytes,
        expire: Duration,
        exist: Option<Exist>,
    ) -> impl Future<Output = Result<bool>> + Send {
        self.set(key, value, Some(expire), exist)
    }

    fn incr_protective(
        &self,
        key: &str,
        by: i64,
        expire: Duration,
    ) -> impl Future<Output = Result<i64>> + Send {
        self.incr(key, by, Some(expire))
    }

    /// The default of [`Backend::fixed_window`]: [`fixed_window_by_incr`].
    fn fixed_window(
        &self,
        key: &str,
        limit: u64,
        period: Duration,
        ban: Duration,
    ) -> impl Future<Output = Result<bool>> + Send {
        fixed_window_by_incr(self, key, limit, period, ban)
    }

    /// The default of [`Backend::slide_window`]: [`slide_window_by_slots`].
    fn slide_window(
        &self,
        key: &str,
        limit: u64,
        period: Duration,
    ) -> impl Future<Output = Result<bool>> + Send {
        slide_window_by_slots(self, key, limit, period)
    }

    /// Reads `key` in place, without a future, on a store in this process.
    fn lookup<R>(&self, key: &str, read: impl FnOnce(&[u8]) -> R) -> Immediate<Option<R>> {
        let _ = (key, read);
        Immediate::Remote
    }

    /// [`lookup`](Self::lookup) of a typed value through a memo of the
    /// value decoded (by the codec numbered `codec`); `Ready(None)` when
    /// missing or rejected by `decode`.
    fn lookup_memo<T: Clone + Send + Sync + 'static>(
        &self,
        key: &str,
        codec: u64,
        decode: impl FnOnce(&[u8]) -> Option<T>,
    ) -> Immediate<Option<T>> {
        let _ = (key, codec, decode);
        Immediate::Remote
    }

    /// Stores the bytes `encode` writes, without a future, on a store in
    /// this process; `encode` is not called when the answer is `Remote`.
    fn set_now(
        &self,
        key: &str,
        expire: Option<Duration>,
        exist: Option<Exist>,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<()>,
    ) -> Immediate<Result<bool>> {
        let _ = (key, expire, exist, encode);
        Immediate::Remote
    }
}

/// The default of [`Backend::set_lock`]: a protective set-if-absent.
pub(crate) fn set_lock_by_protective<N: NativeBackend + ?Sized>(
    backend: &N,
    key: &str,
    value: Bytes,
    expire: Duration,
) -> impl Future<Output = Result<bool>> + Send {
    backend.set_protective(key, value, expire, Some(Exist::Absent))
}

/// The default of [`Backend::fixed_window`]: one `incr` per call; the call
/// that crosses the limit makes two more round trips to set the ban.
pub(crate) async fn fixed_window_by_incr<N: NativeBackend + ?Sized>(
    backend: &N,
    key: &str,
    limit: u64,
    period: Duration,
    ban: Duration,
) -> Result<bool> {
    // The counter's expiry, set only when `incr` creates it, is the window.
    let calls = backend.incr_protective(key, 1, period).await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    if calls <= limit {
        return Ok(true);
    }
    // Exactly one call sees `limit + 1`: it stretches the counter over
    // the ban, so the refusals need no key (and no round trip) of their own.
    if calls == limit + 1 && !ban.is_zero() {
        match backend.get_expire(key).await? {
            Expiry::Remaining(left) if left >= ban => {}
            Expiry::Missing => {}
            Expiry::Remaining(_) | Expiry::Persistent => {
                backend.expire(key, ban).await?;
            }
        }
    }
    Ok(false)
}

/// The default of [`Backend::slide_window`]: a slot key per admission,
/// `"{key}:{0..limit}"`, taken with a protective set-if-absent.
pub(crate) async fn slide_window_by_slots<N: NativeBackend + ?Sized>(
    backend: &N,
    key: &str,
    limit: u64,
    period: Duration,
) -> Result<bool> {
    check_slots(limit)?;
    let slots: Vec<String> = (0..limit).map(|i| format!("{key}:{i}")).collect();
    let slots: Vec<&str> = slots.iter().map(String::as_str).collect();
    // Callers start at different slots so they rarely race for one.
    let start = if slots.is_empty() {
        0
    } else {
        fastrand::usize(..slots.len())
    };
    loop {
        let taken = backend.get_many(&slots).await?;
        let free: Vec<&str> = (0..slots.len())
            .map(|i| (start + i) % slots.len())
            .filter(|&i| taken.get(i).is_none_or(Option::is_none))
            .filter_map(|i| slots.get(i).copied())
            .collect();
        if free.is_empty() {
            return Ok(false);
        }
        for slot in free {
            let mark = Bytes::from_static(b"1");
            if backend
                .set_protective(slot, mark, period, Some(Exist::Absent))
                .await?
            {
                return Ok(true);
            }
        }
        // Every slot we saw free was taken by another caller meanwhile;
        // each loss is someone else's admission, so this ends.
    }
}

/// The one list of delegated commands: calls `$then!` with every command
/// of one key (routed by it) and every command of the whole backend.
macro_rules! with_commands {
    ($then:ident $(, $extra:tt)*) => {
        $then! {
            [$($extra),*]
            keyed {
                fn get(key: &str) -> Option<Bytes>;
                fn set(key: &str, value: Bytes, expire: Option<Duration>, exist: Option<Exist>) -> bool;
                fn delete(key: &str) -> bool;
                fn exists(key: &str) -> bool;
                fn incr(key: &str, by: i64, expire: Option<Duration>) -> i64;
                fn expire(key: &str, timeout: Duration) -> bool;
                fn get_expire(key: &str) -> Expiry;
                fn set_lock(key: &str, value: Bytes, expire: Duration) -> bool;
                fn unlock(key: &str, value: &[u8]) -> bool;
                fn fixed_window(key: &str, limit: u64, period: Duration, ban: Duration) -> bool;
                fn slide_window(key: &str, limit: u64, period: Duration) -> bool;
                fn set_add(key: &str, members: &[&str], expire: Duration) -> ();
                fn set_members(key: &str) -> Vec<String>;
                fn set_remove(key: &str, members: &[&str]) -> u64;
                fn set_protective(key: &str, value: Bytes, expire: Duration, exist: Option<Exist>) -> bool;
                fn incr_protective(key: &str, by: i64, expire: Duration) -> i64;
                fn get_size(key: &str) -> Option<u64>;
            }
            whole {
                fn get_many(keys: &[&str]) -> Vec<Option<Bytes>>;
                fn set_many(pairs: &[(&str, Bytes)], expire: Option<Duration>) -> ();
                fn delete_many(keys: &[&str]) -> u64;
                fn delete_match(pattern: &str) -> u64;
                fn scan(pattern: &str) -> Vec<String>;
                fn get_match(pattern: &str) -> Vec<(String, Bytes)>;
                fn ping(message: Option<&[u8]>) -> Bytes;
                fn clear() -> ();
                fn get_keys_count() -> u64;
            }
        }
    };
}
pub(crate) use with_commands;

/// Implements the public [`Backend`] of a built-in backend by its
/// [`NativeBackend`] methods; [`Backend::into_dispatch`] picks its variant
/// of [`AnyBackend`](super::any::AnyBackend).
macro_rules! backend_by_native {
    ([$ty:ty, $variant:ident] keyed { $(fn $k:ident($($ka:ident: $kt:ty),*) -> $kr:ty;)* }
        whole { $(fn $w:ident($($wa:ident: $wt:ty),*) -> $wr:ty;)* }) => {
        #[async_trait::async_trait]
        impl $crate::backend::Backend for $ty {
            $(async fn $k(&self, $($ka: $kt),*) -> $crate::Result<$kr> {
                $crate::backend::native::NativeBackend::$k(self, $($ka),*).await
            })*
            $(async fn $w(&self, $($wa: $wt),*) -> $crate::Result<$wr> {
                $crate::backend::native::NativeBackend::$w(self, $($wa),*).await
            })*
            fn into_dispatch(self) -> $crate::backend::Dispatch {
                $crate::backend::Dispatch($crate::backend::any::AnyBackend::$variant(self.into()))
            }
        }
    };
}
pub(crate) use backend_by_native;

/// A [`Backend`] as a [`NativeBackend`]: every command is the backend's
/// own, boxed by `async_trait`. The defaults of [`Backend`] run the
/// algorithms they share with the built-in backends on it.
pub(crate) struct Boxed<'a, B: ?Sized>(pub(crate) &'a B);

macro_rules! native_by_boxed {
    ([] keyed { $(fn $k:ident($($ka:ident: $kt:ty),*) -> $kr:ty;)* }
        whole { $(fn $w:ident($($wa:ident: $wt:ty),*) -> $wr:ty;)* }) => {
        impl<B: Backend + ?Sized> NativeBackend for Boxed<'_, B> {
            $(fn $k(&self, $($ka: $kt),*) -> impl Future<Output = Result<$kr>> + Send {
                async move { self.0.$k($($ka),*).await }
            })*
            $(fn $w(&self, $($wa: $wt),*) -> impl Future<Output = Result<$wr>> + Send {
                async move { self.0.$w($($wa),*).await }
            })*
        }
    };
}
with_commands!(native_by_boxed);

//! The memory backend's commands: [`NativeBackend`] over its [`Store`].

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use papaya::Operation;
use tokio::time::Instant;

use super::MemoryBackend;
use super::store::{Entry, Key};
use crate::backend::native::{Immediate, NativeBackend, backend_by_native, with_commands};
use crate::backend::{Exist, Expiry, check_slots, members};
use crate::error::{Error, ErrorKind, Result};

/// The admission ends a sliding window's entry holds; `None` if the value
/// is not one.
fn window_ends(value: &[u8]) -> Option<impl Iterator<Item = u64> + '_> {
    let chunks = value.chunks_exact(8);
    if !chunks.remainder().is_empty() {
        return None;
    }
    // Every chunk is 8 bytes: the conversion cannot fail.
    Some(chunks.map(|c| u64::from_le_bytes(<[u8; 8]>::try_from(c).unwrap_or_default())))
}

/// As Redis answers a command on a key of the wrong type.
fn not_a_window(key: &str) -> Error {
    Error::new(
        ErrorKind::Backend,
        format!("{key:?} holds a value that is not a sliding window"),
    )
}

pub(super) fn not_integer(key: &str) -> Error {
    Error::new(
        ErrorKind::NotInteger,
        format!("value of {key:?} is not an integer"),
    )
}

/// A decimal integer exactly as Redis reads one (`string2ll`): an optional
/// `-`, no `+`, no spaces, no leading zeros, within `i64`.
pub(crate) fn parse_int(bytes: &[u8]) -> Option<i64> {
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    let canonical = match digits {
        [b'0'] => digits.len() == bytes.len(),
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !canonical {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

thread_local! {
    /// Where [`MemoryBackend::set_now`] encodes values.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A scratch buffer grown past this by a large value is freed after it.
const SCRATCH_MAX: usize = 64 * 1024;

with_commands!(backend_by_native, MemoryBackend, Memory);

impl NativeBackend for MemoryBackend {
    #[inline]
    fn lookup<R>(&self, key: &str, read: impl FnOnce(&[u8]) -> R) -> Immediate<Option<R>> {
        Immediate::Ready(self.read(key, read))
    }

    #[inline]
    fn lookup_memo<T: Clone + Send + Sync + 'static>(
        &self,
        key: &str,
        codec: u64,
        decode: impl FnOnce(&[u8]) -> Option<T>,
    ) -> Immediate<Option<T>> {
        Immediate::Ready(self.read_memo(key, codec, decode))
    }

    /// Encoded into this thread's scratch buffer and copied once into the
    /// entry: no buffer to grow, no `Bytes`.
    fn set_now(
        &self,
        key: &str,
        expire: Option<Duration>,
        exist: Option<Exist>,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<()>,
    ) -> Immediate<Result<bool>> {
        let encode_and_set = |scratch: &mut Vec<u8>| {
            encode(scratch)?;
            Ok(self.set_sync(key, scratch, expire, exist))
        };
        Immediate::Ready(SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => {
                let stored = encode_and_set(&mut scratch);
                if scratch.capacity() > SCRATCH_MAX {
                    *scratch = Vec::new();
                }
                stored
            }
            // A `Serialize` impl that stores into a cache itself.
            Err(_) => encode_and_set(&mut Vec::new()),
        }))
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        Ok(self.read(key, Bytes::copy_from_slice))
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        Ok(keys
            .iter()
            .map(|k| self.read(k, Bytes::copy_from_slice))
            .collect())
    }

    async fn set(
        &self,
        key: &str,
        value: Bytes,
        expire: Option<Duration>,
        exist: Option<Exist>,
    ) -> Result<bool> {
        Ok(self.set_sync(key, &value, expire, exist))
    }

    async fn set_many(&self, pairs: &[(&str, Bytes)], expire: Option<Duration>) -> Result<()> {
        for (key, value) in pairs {
            self.set_sync(key, value, expire, None);
        }
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.store.remove(key))
    }

    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        Ok(keys.iter().filter(|k| self.store.remove(k)).count() as u64)
    }

    async fn delete_match(&self, pattern: &str) -> Result<u64> {
        let found = self.store.matching(pattern);
        Ok(found.iter().filter(|(k, _)| self.store.remove(k)).count() as u64)
    }

    async fn scan(&self, pattern: &str) -> Result<Vec<String>> {
        let found = self.store.matching(pattern);
        Ok(found.into_iter().map(|(k, _)| k.to_string()).collect())
    }

    async fn get_match(&self, pattern: &str) -> Result<Vec<(String, Bytes)>> {
        let found = self.store.matching(pattern);
        Ok(found
            .into_iter()
            .map(|(k, v)| (k.to_string(), Bytes::copy_from_slice(&v)))
            .collect())
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.read(key, |_| ()).is_some())
    }

    async fn incr(&self, key: &str, by: i64, expire: Option<Duration>) -> Result<i64> {
        self.incr_as(key, by, expire, None)
    }

    async fn expire(&self, key: &str, timeout: Duration) -> Result<bool> {
        let s = &*self.store;
        let now = s.now();
        let deadline = s.deadline(now, Some(timeout));
        let aborted = s.write(key, |current| match current.filter(|e| e.live(now)) {
            Some(e) => {
                Operation::Insert(Entry::of_kind(Arc::clone(&e.value), deadline, e.protected))
            }
            None => Operation::Abort(false),
        })?;
        Ok(aborted.unwrap_or(true))
    }

    async fn get_expire(&self, key: &str) -> Result<Expiry> {
        let s = &*self.store;
        let now = s.now();
        let map = s.map.pin();
        Ok(match map.get(key) {
            Some(Entry {
                expires_at: None, ..
            }) => Expiry::Persistent,
            Some(Entry {
                expires_at: Some(d),
                ..
            }) if !d.passed(now) => Expiry::Remaining(d.at() - now),
            _ => Expiry::Missing,
        })
    }

    async fn ping(&self, message: Option<&[u8]>) -> Result<Bytes> {
        Ok(message.map_or(Bytes::from_static(b"PONG"), Bytes::copy_from_slice))
    }

    async fn clear(&self) -> Result<()> {
        let s = &*self.store;
        let map = s.map.pin();
        let mut ring = s.ring.lock();
        let keys: Vec<Key> = map.keys().cloned().collect();
        for key in keys {
            if let Some(e) = map.remove(&*key) {
                s.release(e.protected);
            }
        }
        ring.clear();
        Ok(())
    }

    async fn unlock(&self, key: &str, value: &[u8]) -> Result<bool> {
        let s = &*self.store;
        let now = s.now();
        let aborted = s.write(key, |current| match current {
            Some(e) if e.live(now) && *e.value == *value => Operation::Remove,
            _ => Operation::Abort(false),
        })?;
        Ok(aborted.unwrap_or(true))
    }

    async fn set_protective(
        &self,
        key: &str,
        value: Bytes,
        expire: Duration,
        exist: Option<Exist>,
    ) -> Result<bool> {
        self.start_sweeper();
        let s = &*self.store;
        let now = s.now();
        let expires_at = s.deadline(now, Some(expire));
        let value: Arc<[u8]> = Arc::from(&*value);
        let aborted = s.write(key, |current| {
            let live = current.is_some_and(|e| e.live(now));
            match exist {
                Some(Exist::Absent) if live => Operation::Abort(false),
                Some(Exist::Present) if !live => Operation::Abort(false),
                _ => Operation::Insert(Entry::of_kind(Arc::clone(&value), expires_at, true)),
            }
        })?;
        Ok(aborted.unwrap_or(true))
    }

    async fn incr_protective(&self, key: &str, by: i64, expire: Duration) -> Result<i64> {
        self.incr_as(key, by, Some(expire), Some(true))
    }

    /// One protective entry per window, holding the end of each admission
    /// still in it (nanoseconds from the store's epoch, little-endian
    /// `u64`s): one atomic write, and one entry of the protective bound
    /// rather than `limit` slot keys.
    async fn slide_window(&self, key: &str, limit: u64, period: Duration) -> Result<bool> {
        // One entry holds a time per admission: bounded as other backends' slots.
        check_slots(limit)?;
        if limit == 0 {
            return Ok(false);
        }
        self.start_sweeper();
        let s = &*self.store;
        let now = s.now();
        let expires_at = s.deadline(now, Some(period));
        let nanos = |at: Instant| {
            u64::try_from(at.saturating_duration_since(s.epoch).as_nanos()).unwrap_or(u64::MAX)
        };
        let (now_at, end) = (nanos(now), expires_at.map_or(u64::MAX, |d| nanos(d.at())));
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let aborted = s.write(key, |current| {
            let current = current.filter(|e| e.live(now));
            let mut ends: Vec<u64> = match current.map(|e| window_ends(&e.value)) {
                None => Vec::new(),
                Some(Some(ends)) => ends.filter(|&t| t > now_at).collect(),
                Some(None) => return Operation::Abort(Err(not_a_window(key))),
            };
            if ends.len() >= limit {
                return Operation::Abort(Ok(false));
            }
            // The entry lives as long as its last admission counts.
            let outlived = ends.iter().any(|&t| t > end);
            let entry_end = match current {
                Some(e) if outlived => e.expires_at,
                _ => expires_at,
            };
            ends.push(end);
            let value: Vec<u8> = ends.iter().flat_map(|t| t.to_le_bytes()).collect();
            Operation::Insert(Entry::of_kind(value.into(), entry_end, true))
        })?;
        aborted.unwrap_or(Ok(true))
    }

    async fn set_add(&self, key: &str, added: &[&str], expire: Duration) -> Result<()> {
        if added.is_empty() {
            return Ok(());
        }
        self.start_sweeper();
        let s = &*self.store;
        let now = s.now();
        let extended = s.deadline(now, Some(expire));
        let failed = s.write(key, |current| {
            let current = current.filter(|e| e.live(now));
            let value = members::add(key, current.map(|e| &*e.value), added);
            let expires_at = match current.map(|e| e.expires_at) {
                None => extended,
                // No TTL (or one too long to represent) stays so.
                Some(None) => None,
                Some(Some(held)) => match extended {
                    Some(new) if new.at() > held.at() => Some(new),
                    Some(_) => Some(held),
                    None => None,
                },
            };
            match (value, current) {
                (Err(e), _) => Operation::Abort(Some(e)),
                // A set is protective: the value bound never evicts a
                // tag's index while the keys it names stay cached.
                (Ok(Some(value)), _) => {
                    Operation::Insert(Entry::of_kind(value.into(), expires_at, true))
                }
                // Nothing added: only the expiry may change.
                (Ok(None), Some(e)) => {
                    Operation::Insert(Entry::of_kind(Arc::clone(&e.value), expires_at, true))
                }
                (Ok(None), None) => Operation::Abort(None),
            }
        });
        match failed?.flatten() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>> {
        match self.read(key, |v| {
            members::decode(v).map(|m| m.into_iter().map(str::to_owned).collect())
        }) {
            None => Ok(Vec::new()),
            Some(found) => found.ok_or_else(|| members::not_a_set(key)),
        }
    }

    async fn set_remove(&self, key: &str, removed: &[&str]) -> Result<u64> {
        let s = &*self.store;
        let now = s.now();
        let mut count = 0;
        let failed = s.write(key, |current| {
            let Some(current) = current.filter(|e| e.live(now)) else {
                count = 0;
                return Operation::Abort(None);
            };
            match members::remove(key, &current.value, removed) {
                Err(e) => Operation::Abort(Some(e)),
                Ok((_, 0)) => {
                    count = 0;
                    Operation::Abort(None)
                }
                Ok((None, n)) => {
                    count = n;
                    Operation::Remove
                }
                Ok((Some(kept), n)) => {
                    count = n;
                    Operation::Insert(Entry::of_kind(
                        kept.into(),
                        current.expires_at,
                        current.protected,
                    ))
                }
            }
        });
        match failed?.flatten() {
            Some(e) => Err(e),
            None => Ok(count),
        }
    }

    async fn get_size(&self, key: &str) -> Result<Option<u64>> {
        let size = key.len() + std::mem::size_of::<Entry>() + std::mem::size_of::<Key>();
        Ok(self.read(key, |v| (size + v.len()) as u64))
    }

    async fn get_keys_count(&self) -> Result<u64> {
        Ok(self.store.matching("*").len() as u64)
    }
}

//! The in-process memory backend (`mem://`).
//!
//! Written by hand rather than wrapping moka or quick_cache: no crate offers
//! Redis semantics (atomic NX/XX, compare-and-delete unlock, `incr` that keeps
//! the TTL, glob scans, per-key TTL that a plain `set` clears) together with
//! the hit path the performance targets need.
//!
//! Design:
//! - The map is a [`papaya::HashMap`]: readers never take a lock nor write a
//!   shared cache line, so hits scale across threads, even on one hot key.
//! - The bound is kept with CLOCK (second chance), an approximation of LRU:
//!   every new key joins the back of a ring; a hit sets the entry's
//!   `accessed` bit (once, so a hot key causes no repeated writes); eviction
//!   pops the front, gives accessed entries a second round and evicts the
//!   first that was not used since its last turn.
//! - Room is reserved before a new key goes in, so the number of entries
//!   never exceeds `size`.
//! - Time is tokio's clock, so tests can pause and advance it. Expired entries
//!   are never returned and are swept every `check_interval`. Hits check the
//!   kernel's coarse clock first and tokio's only in an entry's last second
//!   (see `memory/deadline.rs`), so pause the clock before writing entries
//!   (as `start_paused` does): one written while the clock ran keeps
//!   counting real time on the hit path until its last second.
//! - An entry keeps the first value decoded from it (a *memo*), so repeat
//!   hits of a decorated function clone a ready value instead of
//!   deserializing bytes; the bytes stay the source of truth, and any write
//!   makes a new entry with no memo.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use papaya::{Compute, Operation};
use parking_lot::Mutex;
use tokio::time::Instant;

use self::deadline::Deadline;
use super::{Backend, Exist, Expiry};
use crate::error::{Error, ErrorKind, Result};
use crate::pattern::glob_match;
use crate::settings::MemorySettings;

mod deadline;

/// The in-process backend: a bounded concurrent map with per-key TTL.
///
/// Cheap to clone: clones share the same entries.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// use cashews::backend::{Backend, MemoryBackend};
/// let mem = MemoryBackend::new(Default::default());
/// mem.set("k", "v".into(), None, None).await?;
/// assert_eq!(mem.get("k").await?.as_deref(), Some(&b"v"[..]));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MemoryBackend {
    store: Arc<Store>,
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("size", &self.store.capacity)
            .field("entries", &self.store.map.len())
            .finish()
    }
}

type Key = Arc<str>;

struct Entry {
    /// Shared so that a rewrite that keeps the value (`expire`, a retried
    /// compute) does not copy it.
    value: Arc<[u8]>,
    /// When the entry dies; `None` for no TTL.
    expires_at: Option<Deadline>,
    /// CLOCK's reference bit: used since its last turn at the ring's front.
    accessed: AtomicBool,
    /// The value decoded, filled by the first typed hit. Boxed so that an
    /// entry never read pays one word for it.
    memo: OnceLock<Box<Memo>>,
}

/// A decoded copy of an entry's value.
struct Memo {
    /// Which codec decoded (and, when signing, verified) it: a cache with
    /// another `hash_key` sharing this backend must not skip its own check.
    codec: u64,
    value: Box<dyn Any + Send + Sync>,
}

impl Entry {
    fn new(value: Arc<[u8]>, expires_at: Option<Deadline>) -> Self {
        Self {
            value,
            expires_at,
            accessed: AtomicBool::new(false),
            memo: OnceLock::new(),
        }
    }

    fn live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|d| !d.passed(now))
    }

    /// Liveness for the hit path: reads a clock only when there is a TTL,
    /// and the cheap one while the end is far.
    #[inline]
    fn live_now(&self) -> bool {
        self.expires_at.is_none_or(|d| !d.passed_now())
    }

    /// Marks a hit. Loads first so a hot key does not write its cache line
    /// on every read (which would make hits on several threads contend).
    fn touch(&self) {
        if !self.accessed.load(Ordering::Relaxed) {
            self.accessed.store(true, Ordering::Relaxed);
        }
    }
}

struct Store {
    map: papaya::HashMap<Key, Entry, foldhash::fast::RandomState>,
    /// CLOCK ring of keys in insertion order. May hold stale keys (deleted or
    /// replaced); those are recognised by pointer and skipped.
    ring: Mutex<VecDeque<Key>>,
    /// Entries in the map, plus room reserved by inserts under way.
    len: AtomicUsize,
    capacity: usize,
    check_interval: Duration,
    sweeper_started: AtomicBool,
}

impl MemoryBackend {
    /// A memory backend with `settings.size` entries at most.
    pub fn new(settings: MemorySettings) -> Self {
        let store = Arc::new(Store {
            map: papaya::HashMap::builder()
                .hasher(foldhash::fast::RandomState::default())
                .capacity(settings.size.min(1 << 16))
                .build(),
            ring: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
            capacity: settings.size.max(1),
            check_interval: settings.check_interval,
            sweeper_started: AtomicBool::new(false),
        });
        Self { store }
    }

    /// Calls `read` with the live value of `key`, without copying it.
    ///
    /// The hit path of typed gets: the value is decoded straight from the map.
    #[inline]
    pub(crate) fn read<R>(&self, key: &str, read: impl FnOnce(&[u8]) -> R) -> Option<R> {
        self.hit(key, |entry| read(&entry.value))
    }

    /// Like [`read`](Self::read) for a typed value, through the entry's memo:
    /// the first hit decodes with `decode` and keeps a copy, later hits by
    /// the same codec clone it. `None` when missing or rejected.
    #[inline]
    pub(crate) fn read_memo<T: Clone + Send + Sync + 'static>(
        &self,
        key: &str,
        codec: u64,
        decode: impl FnOnce(&[u8]) -> Option<T>,
    ) -> Option<T> {
        self.hit(key, |entry| {
            if let Some(memo) = entry.memo.get()
                && memo.codec == codec
                && let Some(value) = memo.value.downcast_ref::<T>()
            {
                return Some(value.clone());
            }
            let value = decode(&entry.value)?;
            if entry.memo.get().is_none() {
                // Losing a race to set it is fine: the winner decoded the same bytes.
                let _ = entry.memo.set(Box::new(Memo {
                    codec,
                    value: Box::new(value.clone()),
                }));
            }
            Some(value)
        })
        .flatten()
    }

    /// Calls `f` with the live entry of `key`, marking the hit.
    #[inline]
    fn hit<R>(&self, key: &str, f: impl FnOnce(&Entry) -> R) -> Option<R> {
        let map = self.store.map.pin();
        let entry = map.get(key)?;
        if !entry.live_now() {
            return None;
        }
        entry.touch();
        Some(f(entry))
    }

    /// How many entries the map holds right now, expired ones not yet swept
    /// included. Never more than `size`.
    pub fn entry_count(&self) -> usize {
        self.store.map.len()
    }

    /// Removes expired entries now, as the periodic sweep does.
    pub fn sweep(&self) {
        self.store.sweep();
    }

    fn start_sweeper(&self) {
        let s = &self.store;
        if s.sweeper_started.load(Ordering::Relaxed)
            || s.sweeper_started.swap(true, Ordering::Relaxed)
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            s.sweeper_started.store(false, Ordering::Relaxed);
            return;
        };
        let weak: Weak<Store> = Arc::downgrade(&self.store);
        // A timer of zero panics: `MemorySettings` is built by hand too.
        let period = s.check_interval.max(Duration::from_millis(1));
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                // The task ends with the last handle on the store.
                let Some(store) = weak.upgrade() else { return };
                store.sweep();
            }
        });
    }

    /// `set`, without a future: what [`Cache`](crate::Cache) calls on
    /// memory. Starts the sweeper with the first write.
    pub(crate) fn set_sync(
        &self,
        key: &str,
        value: &[u8],
        expire: Option<Duration>,
        exist: Option<Exist>,
    ) -> bool {
        self.start_sweeper();
        let s = &*self.store;
        let now = s.now();
        let expires_at = s.deadline(now, expire);
        let value: Arc<[u8]> = Arc::from(value);
        s.write(key, |current| {
            let live = current.is_some_and(|e| e.live(now));
            match exist {
                Some(Exist::Absent) if live => Operation::Abort(false),
                Some(Exist::Present) if !live => Operation::Abort(false),
                _ => Operation::Insert(Entry::new(Arc::clone(&value), expires_at)),
            }
        })
        .unwrap_or(true)
    }
}

impl Store {
    fn now(&self) -> Instant {
        Instant::now()
    }

    /// When an entry written at `now` with `expire` dies. TTLs count in
    /// whole milliseconds, as Redis's `PX`: a sub-millisecond one rounds up.
    fn deadline(&self, now: Instant, expire: Option<Duration>) -> Option<Deadline> {
        let ms = u64::try_from(expire?.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        // A TTL too long to represent never comes.
        Deadline::after(now, Duration::from_millis(ms))
    }

    /// Runs an atomic read-modify-write on `key`, keeping the bound and the
    /// CLOCK ring in step. Returns the closure's abort value, or `None` when
    /// it inserted or removed. papaya may run `decide` more than once.
    fn write<T>(
        &self,
        key: &str,
        mut decide: impl FnMut(Option<&Entry>) -> Operation<Entry, T>,
    ) -> Option<T> {
        let map = self.map.pin();
        // Reuse the stored key when there is one: its ring slot stays valid
        // and no new key is allocated.
        let key = match map.get_key_value(key) {
            Some((k, _)) => Key::clone(k),
            None => Key::from(key),
        };
        // Room is reserved only once the closure decides to add a new key, so
        // a refused `set` or an `unlock` of a missing key never evicts.
        let mut reserved = false;
        let result = map.compute(Key::clone(&key), |current| {
            let op = decide(current.map(|(_, e)| e));
            if let (Some(_), Operation::Insert(new)) = (current, &op) {
                // A rewrite is a use: keep a key that is written often (a
                // counter) from looking idle to the CLOCK hand.
                new.touch();
            }
            if current.is_none() && !reserved && matches!(op, Operation::Insert(_)) {
                self.reserve();
                reserved = true;
            }
            op
        });
        match result {
            Compute::Inserted(k, _) => {
                self.ring.lock().push_back(Key::clone(k));
                None
            }
            Compute::Updated { old, new } => {
                if reserved {
                    self.len.fetch_sub(1, Ordering::AcqRel);
                }
                if !Arc::ptr_eq(old.0, new.0) {
                    self.ring.lock().push_back(Key::clone(new.0));
                }
                None
            }
            Compute::Removed(..) => {
                self.len
                    .fetch_sub(1 + usize::from(reserved), Ordering::AcqRel);
                None
            }
            Compute::Aborted(t) => {
                if reserved {
                    self.len.fetch_sub(1, Ordering::AcqRel);
                }
                Some(t)
            }
        }
    }

    /// Makes room for one more entry, evicting if the store is full.
    fn reserve(&self) {
        let mut idle_rounds = 0u32;
        loop {
            let n = self.len.load(Ordering::Acquire);
            if n < self.capacity {
                if self
                    .len
                    .compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return;
                }
            } else if !self.evict_one() {
                // Everything evictable is being inserted by other threads right
                // now; they finish without waiting on us.
                idle_rounds += 1;
                if idle_rounds > 64 {
                    std::thread::yield_now();
                }
                std::hint::spin_loop();
            }
        }
    }

    /// Evicts one entry, CLOCK-wise. Whether it found one.
    fn evict_one(&self) -> bool {
        let map = self.map.pin();
        let mut ring = self.ring.lock();
        // Each live key is passed over at most once (its bit is cleared), so
        // two rounds always reach a victim if there is one.
        let mut budget = ring.len() * 2 + 1;
        while let Some(key) = ring.pop_front() {
            budget -= 1;
            let second_chance = budget > 0;
            // One lookup, not a read then a removal: the ring's own entry
            // (not a newer one under the same key, which has its own place
            // in the ring) goes, unless it was used since the hand last
            // passed it.
            let removal = map.remove_if(&*key, |k, e| {
                Arc::ptr_eq(k, &key)
                    && !(second_chance && e.accessed.swap(false, Ordering::Relaxed))
            });
            match removal {
                Ok(Some(_)) => {
                    self.len.fetch_sub(1, Ordering::AcqRel);
                    return true;
                }
                Err((stored, _)) if Arc::ptr_eq(stored, &key) => ring.push_back(key),
                // Gone already, or replaced.
                Ok(None) | Err(_) => {}
            }
        }
        false
    }

    fn sweep(&self) {
        let now = self.now();
        let map = self.map.pin();
        let expired: Vec<Key> = map
            .iter()
            .filter(|(_, e)| !e.live(now))
            .map(|(k, _)| Key::clone(k))
            .collect();
        for key in expired {
            if let Ok(Some(_)) = map.remove_if(&*key, |k, e| Arc::ptr_eq(k, &key) && !e.live(now)) {
                self.len.fetch_sub(1, Ordering::AcqRel);
            }
        }
        // Drop ring slots of deleted keys once they outnumber the live ones.
        let mut ring = self.ring.lock();
        if ring.len() > 2 * map.len() + 1024 {
            ring.retain(|key| {
                map.get_key_value(&**key)
                    .is_some_and(|(k, _)| Arc::ptr_eq(k, key))
            });
        }
    }

    /// The live entries whose key matches `pattern`.
    ///
    /// An iteration that overlaps a table resize may meet an entry twice, so
    /// keys are de-duplicated.
    fn matching(&self, pattern: &str) -> Vec<(Key, Arc<[u8]>)> {
        let now = self.now();
        let map = self.map.pin();
        let mut seen = std::collections::HashSet::new();
        map.iter()
            .filter(|(k, e)| e.live(now) && glob_match(pattern, k) && seen.insert(Arc::as_ptr(k)))
            .map(|(k, e)| (Key::clone(k), Arc::clone(&e.value)))
            .collect()
    }

    /// Removes `key`; whether it was live (an expired one goes silently).
    fn remove(&self, key: &str) -> bool {
        let now = self.now();
        match self.map.pin().remove(key) {
            Some(e) => {
                self.len.fetch_sub(1, Ordering::AcqRel);
                e.live(now)
            }
            None => false,
        }
    }
}

fn not_integer(key: &str) -> Error {
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

#[async_trait]
impl Backend for MemoryBackend {
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
        self.start_sweeper();
        let s = &*self.store;
        let now = s.now();
        let mut result = Ok(by);
        let aborted = s.write(key, |current| match current.filter(|e| e.live(now)) {
            None => {
                result = Ok(by);
                Operation::Insert(Entry::new(
                    by.to_string().as_bytes().into(),
                    s.deadline(now, expire),
                ))
            }
            Some(e) => match parse_int(&e.value).map(|n| n.checked_add(by)) {
                Some(Some(n)) => {
                    result = Ok(n);
                    Operation::Insert(Entry::new(n.to_string().as_bytes().into(), e.expires_at))
                }
                Some(None) => Operation::Abort(Error::new(
                    ErrorKind::NotInteger,
                    format!("incrementing {key:?} by {by} would overflow"),
                )),
                None => Operation::Abort(not_integer(key)),
            },
        });
        match aborted {
            Some(err) => Err(err),
            None => result,
        }
    }

    async fn expire(&self, key: &str, timeout: Duration) -> Result<bool> {
        let s = &*self.store;
        let now = s.now();
        let deadline = s.deadline(now, Some(timeout));
        Ok(
            s.write(key, |current| match current.filter(|e| e.live(now)) {
                Some(e) => Operation::Insert(Entry::new(Arc::clone(&e.value), deadline)),
                None => Operation::Abort(false),
            })
            .unwrap_or(true),
        )
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
            if map.remove(&*key).is_some() {
                s.len.fetch_sub(1, Ordering::AcqRel);
            }
        }
        ring.clear();
        Ok(())
    }

    async fn unlock(&self, key: &str, value: &[u8]) -> Result<bool> {
        let s = &*self.store;
        let now = s.now();
        Ok(s.write(key, |current| match current {
            Some(e) if e.live(now) && *e.value == *value => Operation::Remove,
            _ => Operation::Abort(false),
        })
        .unwrap_or(true))
    }

    async fn get_size(&self, key: &str) -> Result<Option<u64>> {
        let size = key.len() + std::mem::size_of::<Entry>() + std::mem::size_of::<Key>();
        Ok(self.read(key, |v| (size + v.len()) as u64))
    }

    async fn get_keys_count(&self) -> Result<u64> {
        Ok(self.store.matching("*").len() as u64)
    }
}

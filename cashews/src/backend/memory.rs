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
//!
//! # Protective state
//!
//! Rate-limit windows and bans, locks and circuit-breaker state are written
//! through [`set_protective`](super::Backend::set_protective) and
//! [`incr_protective`](super::Backend::incr_protective) (which `set_lock`,
//! `fixed_window` and `slide_window` use), and every set through
//! [`set_add`](super::Backend::set_add) (a tag's index, which invalidation
//! reads): their entries are marked *protective*. They live in the same
//! map, so every command sees them, but they never join the CLOCK ring and
//! are counted against their own bound, `protected_size` (default 10,000),
//! not `size`: filling the cache with values can never evict a ban, a held
//! lock or an open breaker, nor drop a tag's index while the keys it names
//! stay cached, and `size` still bounds the values exactly. Each protective
//! entry has a TTL (its window, ban or lock), so the store drains by itself.
//! A sliding window takes one entry per key (its admission times), not the
//! `limit` slot keys of [`slide_window`](super::Backend::slide_window)'s
//! default.
//!
//! A write keeps the kind it is made as: a plain `set` over a protective key
//! makes it a value, a protective write over a value makes it protective;
//! `incr`, `expire`, `unlock` and `set_remove` keep the entry's kind.
//!
//! When the protective store is full, expired protective entries are swept
//! and, if none was, **a new protective key is refused** with an
//! [`ErrorKind::ProtectedFull`] error (counted by
//! [`MemoryBackend::protected_refusals`] and logged); existing protective
//! keys keep working. Refusing is the safe side: evicting one would let a
//! banned client, a lock's waiters or a tripped breaker through silently,
//! while a refusal only denies new state, and the rate limiters turn it
//! into a refused call (fail closed). A lock that cannot be taken is an
//! error of `Cache::lock` (`locked` then runs unlocked, `early` skips the
//! refresh); a breaker that cannot store its state stays closed; all logged.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use papaya::Operation;
use parking_lot::Mutex;
use tokio::time::Instant;

use self::store::{Entry, Memo, Store, SweeperRunning};
use super::Exist;
use crate::error::{Error, ErrorKind, Result};
use crate::settings::MemorySettings;

mod commands;
mod deadline;
mod store;

use self::commands::not_integer;
pub(crate) use self::commands::parse_int;

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
            protected_len: AtomicUsize::new(0),
            protected_capacity: settings.protected_size.max(1),
            protected_refusals: AtomicU64::new(0),
            protected_swept_at: Mutex::new(None),
            epoch: Instant::now(),
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

    /// How many value entries the map holds right now (or has room
    /// reserved for), expired ones not yet swept included; protective
    /// entries are not counted. Never more than `size`.
    pub fn entry_count(&self) -> usize {
        self.store.len.load(Ordering::Acquire)
    }

    /// How many protective entries (rate-limit windows, locks, breaker
    /// state) the map holds right now, expired ones not yet swept included.
    /// Never more than `protected_size`.
    pub fn protected_count(&self) -> usize {
        self.store.protected_len.load(Ordering::Acquire)
    }

    /// How many new protective keys were refused because the protective
    /// store was full (see the [module docs](self)).
    pub fn protected_refusals(&self) -> u64 {
        self.store.protected_refusals.load(Ordering::Relaxed)
    }

    /// Removes expired entries now, as the periodic sweep does.
    pub fn sweep(&self) {
        self.store.sweep();
    }

    /// Starts the periodic sweep unless it runs. It runs on the runtime of
    /// the write that started it and ends with that runtime, clearing
    /// `sweeper_started` as it goes, so the next write (from any runtime)
    /// starts it again. While it runs, a write pays one relaxed load.
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
        let running = SweeperRunning(Arc::downgrade(&self.store));
        // A timer of zero panics: `MemorySettings` is built by hand too.
        let period = s.check_interval.max(Duration::from_millis(1));
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                // The task ends with the last handle on the store.
                let Some(store) = running.0.upgrade() else {
                    return;
                };
                store.sweep();
            }
        });
    }

    /// `set`, without a future. Starts the sweeper with the first write.
    fn set_sync(
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
        // A value write never needs protective room, so it is never refused.
        s.write(key, |current| {
            let live = current.is_some_and(|e| e.live(now));
            match exist {
                Some(Exist::Absent) if live => Operation::Abort(false),
                Some(Exist::Present) if !live => Operation::Abort(false),
                _ => Operation::Insert(Entry::new(Arc::clone(&value), expires_at)),
            }
        })
        .is_ok_and(|aborted| aborted.unwrap_or(true))
    }

    /// `incr`, making the entry protective with `Some(true)`; `None`
    /// keeps an existing entry's kind (a new one is a value).
    fn incr_as(
        &self,
        key: &str,
        by: i64,
        expire: Option<Duration>,
        protected: Option<bool>,
    ) -> Result<i64> {
        self.start_sweeper();
        let s = &*self.store;
        let now = s.now();
        let mut result = by;
        let aborted = s.write(key, |current| match current.filter(|e| e.live(now)) {
            None => {
                result = by;
                Operation::Insert(Entry::of_kind(
                    by.to_string().as_bytes().into(),
                    s.deadline(now, expire),
                    protected.unwrap_or(false),
                ))
            }
            Some(e) => match parse_int(&e.value).map(|n| n.checked_add(by)) {
                Some(Some(n)) => {
                    result = n;
                    Operation::Insert(Entry::of_kind(
                        n.to_string().as_bytes().into(),
                        e.expires_at,
                        protected.unwrap_or(e.protected),
                    ))
                }
                Some(None) => Operation::Abort(Error::new(
                    ErrorKind::NotInteger,
                    format!("incrementing {key:?} by {by} would overflow"),
                )),
                None => Operation::Abort(not_integer(key)),
            },
        })?;
        match aborted {
            Some(err) => Err(err),
            None => Ok(result),
        }
    }
}

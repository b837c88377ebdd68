//! The memory backend's map and its bounds: entries, the CLOCK ring that
//! evicts values, the protective store's own bound, and the sweep of
//! expired entries.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use papaya::{Compute, Operation};
use parking_lot::Mutex;
use tokio::time::Instant;

use super::deadline::Deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::pattern::glob_match;

pub(super) type Key = Arc<str>;

/// The shortest time between two sweeps for room in a full protective
/// store (the periodic sweep runs besides).
pub(super) const FULL_SWEEP_GAP: Duration = Duration::from_millis(10);

pub(super) struct Entry {
    /// Shared so that a rewrite that keeps the value (`expire`, a retried
    /// compute) does not copy it.
    pub(super) value: Arc<[u8]>,
    /// When the entry dies; `None` for no TTL.
    pub(super) expires_at: Option<Deadline>,
    /// CLOCK's reference bit: used since its last turn at the ring's front.
    pub(super) accessed: AtomicBool,
    /// Protective state: outside the CLOCK ring, counted in
    /// `Store::protected_len` rather than `Store::len`.
    pub(super) protected: bool,
    /// The value decoded, filled by the first typed hit. Boxed so that an
    /// entry never read pays one word for it.
    pub(super) memo: OnceLock<Box<Memo>>,
}

/// Why a write did not go through: the caller's own decision, or no room
/// for a new protective entry.
pub(super) enum Refused<T> {
    Decided(T),
    Full,
}

/// A decoded copy of an entry's value.
pub(super) struct Memo {
    /// Which codec decoded (and, when signing, verified) it: a cache with
    /// another `hash_key` sharing this backend must not skip its own check.
    pub(super) codec: u64,
    pub(super) value: Box<dyn Any + Send + Sync>,
}

impl Entry {
    pub(super) fn new(value: Arc<[u8]>, expires_at: Option<Deadline>) -> Self {
        Self::of_kind(value, expires_at, false)
    }

    pub(super) fn of_kind(value: Arc<[u8]>, expires_at: Option<Deadline>, protected: bool) -> Self {
        Self {
            value,
            expires_at,
            accessed: AtomicBool::new(false),
            protected,
            memo: OnceLock::new(),
        }
    }

    pub(super) fn live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|d| !d.passed(now))
    }

    /// Liveness for the hit path: reads a clock only when there is a TTL,
    /// and the cheap one while the end is far.
    #[inline]
    pub(super) fn live_now(&self) -> bool {
        self.expires_at.is_none_or(|d| !d.passed_now())
    }

    /// Marks a hit. Loads first so a hot key does not write its cache line
    /// on every read (which would make hits on several threads contend).
    pub(super) fn touch(&self) {
        if !self.accessed.load(Ordering::Relaxed) {
            self.accessed.store(true, Ordering::Relaxed);
        }
    }
}

pub(super) struct Store {
    pub(super) map: papaya::HashMap<Key, Entry, foldhash::fast::RandomState>,
    /// CLOCK ring of keys in insertion order. May hold stale keys (deleted,
    /// replaced or made protective); those are skipped.
    pub(super) ring: Mutex<VecDeque<Key>>,
    /// Value entries in the map, plus room reserved by inserts under way.
    pub(super) len: AtomicUsize,
    pub(super) capacity: usize,
    /// Protective entries in the map, plus room reserved for them.
    pub(super) protected_len: AtomicUsize,
    pub(super) protected_capacity: usize,
    /// New protective keys refused because their store was full.
    pub(super) protected_refusals: AtomicU64,
    /// When a full protective store was last swept for room: at most once
    /// per [`FULL_SWEEP_GAP`], so refused writes under attack do not each
    /// scan the map.
    pub(super) protected_swept_at: Mutex<Option<Instant>>,
    /// The origin of the admission times a sliding window stores.
    pub(super) epoch: Instant,
    pub(super) check_interval: Duration,
    pub(super) sweeper_started: AtomicBool,
}

/// Held by the sweeper task: a runtime drops its tasks as it shuts down,
/// and this marks the sweeper stopped then.
pub(super) struct SweeperRunning(pub(super) Weak<Store>);

impl Drop for SweeperRunning {
    fn drop(&mut self) {
        if let Some(store) = self.0.upgrade() {
            store.sweeper_started.store(false, Ordering::Relaxed);
        }
    }
}

impl Store {
    pub(super) fn now(&self) -> Instant {
        Instant::now()
    }

    /// When an entry written at `now` with `expire` dies. TTLs count in
    /// whole milliseconds, as Redis's `PX`: a sub-millisecond one rounds up.
    pub(super) fn deadline(&self, now: Instant, expire: Option<Duration>) -> Option<Deadline> {
        let ms = u64::try_from(expire?.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        // A TTL too long to represent never comes.
        Deadline::after(now, Duration::from_millis(ms))
    }

    /// Runs an atomic read-modify-write on `key`, keeping both bounds and the
    /// CLOCK ring in step. Returns the closure's abort value, or `None` when
    /// it inserted or removed; an error when it would add a protective
    /// entry to a full protective store (after sweeping expired ones).
    /// papaya may run `decide` more than once.
    pub(super) fn write<T>(
        &self,
        key: &str,
        mut decide: impl FnMut(Option<&Entry>) -> Operation<Entry, T>,
    ) -> Result<Option<T>> {
        let map = self.map.pin();
        // Reuse the stored key when there is one: its ring slot stays valid
        // and no new key is allocated.
        let key = match map.get_key_value(key) {
            Some((k, _)) => Key::clone(k),
            None => Key::from(key),
        };
        let mut swept = false;
        loop {
            // The pool (`Some(protected)`) this write holds room in. Room is
            // reserved only once the closure adds an entry of a kind the key
            // did not hold, so a refused `set` or an `unlock` never evicts.
            let mut reserved: Option<bool> = None;
            let result = map.compute(Key::clone(&key), |current| {
                let op = decide(current.map(|(_, e)| e));
                let needs = match (current, &op) {
                    (Some((_, old)), Operation::Insert(new)) => {
                        // A rewrite is a use: keep a key that is written
                        // often (a counter) from looking idle to the hand.
                        new.touch();
                        (old.protected != new.protected).then_some(new.protected)
                    }
                    (None, Operation::Insert(new)) => Some(new.protected),
                    _ => None,
                };
                if needs != reserved {
                    if let Some(pool) = reserved.take() {
                        self.release(pool);
                    }
                    if let Some(pool) = needs {
                        if !self.reserve_in(pool) {
                            return Operation::Abort(Refused::Full);
                        }
                        reserved = Some(pool);
                    }
                }
                match op {
                    Operation::Insert(new) => Operation::Insert(new),
                    Operation::Remove => Operation::Remove,
                    Operation::Abort(t) => Operation::Abort(Refused::Decided(t)),
                }
            });
            match result {
                Compute::Inserted(k, new) => {
                    if !new.protected {
                        self.ring.lock().push_back(Key::clone(k));
                    }
                    return Ok(None);
                }
                Compute::Updated { old, new } => {
                    if old.1.protected != new.1.protected {
                        self.release(old.1.protected);
                    }
                    let rejoins =
                        !new.1.protected && (old.1.protected || !Arc::ptr_eq(old.0, new.0));
                    if rejoins {
                        self.ring.lock().push_back(Key::clone(new.0));
                    }
                    return Ok(None);
                }
                Compute::Removed(_, old) => {
                    self.release(old.protected);
                    if let Some(pool) = reserved {
                        self.release(pool);
                    }
                    return Ok(None);
                }
                Compute::Aborted(Refused::Decided(t)) => {
                    if let Some(pool) = reserved {
                        self.release(pool);
                    }
                    return Ok(Some(t));
                }
                Compute::Aborted(Refused::Full) => {
                    if !swept && self.sweep_protected_for_room() > 0 {
                        swept = true;
                        continue;
                    }
                    return Err(self.refuse_protected(&key));
                }
            }
        }
    }

    /// Takes room for one entry in a pool: values evict to make it,
    /// protective entries fail when their bound is reached.
    pub(super) fn reserve_in(&self, protected: bool) -> bool {
        if !protected {
            self.reserve();
            return true;
        }
        self.protected_len
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.protected_capacity).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives back the room of one entry (or reservation) of a pool.
    pub(super) fn release(&self, protected: bool) {
        let pool = if protected {
            &self.protected_len
        } else {
            &self.len
        };
        pool.fetch_sub(1, Ordering::AcqRel);
    }

    #[cold]
    pub(super) fn refuse_protected(&self, key: &str) -> Error {
        self.protected_refusals.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            key,
            protected_size = self.protected_capacity,
            "memory backend: protective store full; new protective key refused"
        );
        Error::new(
            ErrorKind::ProtectedFull,
            format!(
                "memory backend: the store of protective state (rate limits, locks, circuit breakers, tag indexes) holds its {} entries; {key:?} refused",
                self.protected_capacity
            ),
        )
    }

    /// Makes room for one more entry, evicting if the store is full.
    pub(super) fn reserve(&self) {
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
    pub(super) fn evict_one(&self) -> bool {
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
            // A protective entry is never evicted: its slot is dropped.
            let removal = map.remove_if(&*key, |k, e| {
                Arc::ptr_eq(k, &key)
                    && !e.protected
                    && !(second_chance && e.accessed.swap(false, Ordering::Relaxed))
            });
            match removal {
                Ok(Some(_)) => {
                    self.len.fetch_sub(1, Ordering::AcqRel);
                    return true;
                }
                Err((stored, e)) if Arc::ptr_eq(stored, &key) && !e.protected => {
                    ring.push_back(key)
                }
                // Gone already, replaced, or protective.
                Ok(None) | Err(_) => {}
            }
        }
        false
    }

    pub(super) fn sweep(&self) {
        let now = self.now();
        let map = self.map.pin();
        let expired: Vec<Key> = map
            .iter()
            .filter(|(_, e)| !e.live(now))
            .map(|(k, _)| Key::clone(k))
            .collect();
        for key in expired {
            if let Ok(Some((_, e))) =
                map.remove_if(&*key, |k, e| Arc::ptr_eq(k, &key) && !e.live(now))
            {
                self.release(e.protected);
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

    /// Removes expired protective entries, unless that was tried less than
    /// [`FULL_SWEEP_GAP`] ago; how many.
    pub(super) fn sweep_protected_for_room(&self) -> usize {
        let now = self.now();
        {
            let mut last = self.protected_swept_at.lock();
            if last.is_some_and(|at| now.saturating_duration_since(at) < FULL_SWEEP_GAP) {
                return 0;
            }
            *last = Some(now);
        }
        let map = self.map.pin();
        let expired: Vec<Key> = map
            .iter()
            .filter(|(_, e)| e.protected && !e.live(now))
            .map(|(k, _)| Key::clone(k))
            .collect();
        let mut freed = 0;
        for key in expired {
            let removal = map.remove_if(&*key, |k, e| {
                Arc::ptr_eq(k, &key) && e.protected && !e.live(now)
            });
            if let Ok(Some(_)) = removal {
                self.release(true);
                freed += 1;
            }
        }
        freed
    }

    /// The live entries whose key matches `pattern`.
    ///
    /// An iteration that overlaps a table resize may meet an entry twice, so
    /// keys are de-duplicated.
    pub(super) fn matching(&self, pattern: &str) -> Vec<(Key, Arc<[u8]>)> {
        let now = self.now();
        let map = self.map.pin();
        let mut seen = std::collections::HashSet::new();
        map.iter()
            .filter(|(k, e)| e.live(now) && glob_match(pattern, k) && seen.insert(Arc::as_ptr(k)))
            .map(|(k, e)| (Key::clone(k), Arc::clone(&e.value)))
            .collect()
    }

    /// Removes `key`; whether it was live (an expired one goes silently).
    pub(super) fn remove(&self, key: &str) -> bool {
        let now = self.now();
        match self.map.pin().remove(key) {
            Some(e) => {
                self.release(e.protected);
                e.live(now)
            }
            None => false,
        }
    }
}

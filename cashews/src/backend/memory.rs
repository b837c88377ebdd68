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
//! through [`Backend::set_protective`] and [`Backend::incr_protective`]
//! (which `set_lock`, `fixed_window` and `slide_window` use), and every set
//! through [`Backend::set_add`] (a tag's index, which invalidation reads):
//! their entries are marked *protective*. They live in the same map, so every command
//! sees them, but they never join the CLOCK ring and are counted against
//! their own bound, `protected_size` (default 10,000), not `size`: filling
//! the cache with values can never evict a ban, a held lock or an open
//! breaker, nor drop a tag's index while the keys it names stay cached, and
//! `size` still bounds the values exactly. Each protective
//! entry has a TTL (its window, ban or lock), so the store drains by itself.
//! A sliding window takes one entry per key (its admission times), not the
//! `limit` slot keys of [`Backend::slide_window`]'s default.
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

use std::any::Any;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use std::cell::RefCell;

use bytes::Bytes;
use papaya::{Compute, Operation};
use parking_lot::Mutex;
use tokio::time::Instant;

use self::deadline::Deadline;
use super::native::{Immediate, NativeBackend, backend_by_native, with_commands};
use super::{Exist, Expiry, members};
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

/// The shortest time between two sweeps for room in a full protective
/// store (the periodic sweep runs besides).
const FULL_SWEEP_GAP: Duration = Duration::from_millis(10);

struct Entry {
    /// Shared so that a rewrite that keeps the value (`expire`, a retried
    /// compute) does not copy it.
    value: Arc<[u8]>,
    /// When the entry dies; `None` for no TTL.
    expires_at: Option<Deadline>,
    /// CLOCK's reference bit: used since its last turn at the ring's front.
    accessed: AtomicBool,
    /// Protective state: outside the CLOCK ring, counted in
    /// `Store::protected_len` rather than `Store::len`.
    protected: bool,
    /// The value decoded, filled by the first typed hit. Boxed so that an
    /// entry never read pays one word for it.
    memo: OnceLock<Box<Memo>>,
}

/// Why a write did not go through: the caller's own decision, or no room
/// for a new protective entry.
enum Refused<T> {
    Decided(T),
    Full,
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
        Self::of_kind(value, expires_at, false)
    }

    fn of_kind(value: Arc<[u8]>, expires_at: Option<Deadline>, protected: bool) -> Self {
        Self {
            value,
            expires_at,
            accessed: AtomicBool::new(false),
            protected,
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
    /// CLOCK ring of keys in insertion order. May hold stale keys (deleted,
    /// replaced or made protective); those are skipped.
    ring: Mutex<VecDeque<Key>>,
    /// Value entries in the map, plus room reserved by inserts under way.
    len: AtomicUsize,
    capacity: usize,
    /// Protective entries in the map, plus room reserved for them.
    protected_len: AtomicUsize,
    protected_capacity: usize,
    /// New protective keys refused because their store was full.
    protected_refusals: AtomicU64,
    /// When a full protective store was last swept for room: at most once
    /// per [`FULL_SWEEP_GAP`], so refused writes under attack do not each
    /// scan the map.
    protected_swept_at: Mutex<Option<Instant>>,
    /// The origin of the admission times a sliding window stores.
    epoch: Instant,
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

/// Held by the sweeper task: a runtime drops its tasks as it shuts down,
/// and this marks the sweeper stopped then.
struct SweeperRunning(Weak<Store>);

impl Drop for SweeperRunning {
    fn drop(&mut self) {
        if let Some(store) = self.0.upgrade() {
            store.sweeper_started.store(false, Ordering::Relaxed);
        }
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

    /// Runs an atomic read-modify-write on `key`, keeping both bounds and the
    /// CLOCK ring in step. Returns the closure's abort value, or `None` when
    /// it inserted or removed; an error when it would add a protective
    /// entry to a full protective store (after sweeping expired ones).
    /// papaya may run `decide` more than once.
    fn write<T>(
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
    fn reserve_in(&self, protected: bool) -> bool {
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
    fn release(&self, protected: bool) {
        let pool = if protected {
            &self.protected_len
        } else {
            &self.len
        };
        pool.fetch_sub(1, Ordering::AcqRel);
    }

    #[cold]
    fn refuse_protected(&self, key: &str) -> Error {
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

    fn sweep(&self) {
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
    fn sweep_protected_for_room(&self) -> usize {
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
                self.release(e.protected);
                e.live(now)
            }
            None => false,
        }
    }
}

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
        super::check_slots(limit)?;
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

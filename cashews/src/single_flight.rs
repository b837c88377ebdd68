//! In-process single-flight: concurrent misses of one key share one call.
//!
//! Each key being computed has a flight: an async mutex over a slot for
//! the result. The first caller takes the mutex and runs the function; the
//! others queue on the mutex. When the leader has a value it puts a clone in
//! the slot; each waiter, on getting the mutex, clones it and leaves.
//!
//! Only values are shared, never errors: the user's error type needs no
//! `Clone` and reaches only the caller whose call produced it. When the
//! leader ends without a value (an error, a panic, or its task cancelled),
//! the mutex guard is dropped with the slot still empty and the next waiter
//! in line becomes the leader and runs the function itself. So waiters never
//! hang, and a failing dependency still sees one call at a time rather than
//! a stampede.
//!
//! Hits never come here: the map is touched only on a miss.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;
use tokio::sync::OwnedMutexGuard;

type Slot<V> = tokio::sync::Mutex<Option<V>>;

/// Flights under way, by cache and key. Hashed with foldhash, as the memory
/// backend's map is: every miss hashes its key here three times, and
/// SipHash made that a visible share of a miss (cashews-bench,
/// `memory_miss`).
type Flights = Mutex<HashMap<FlightId, Flight, foldhash::fast::RandomState>>;

/// A flight's cache and key. The key is shared with the flight's members,
/// which find their flight again when they leave: one allocation per miss
/// rather than one per use.
type FlightId = (usize, Arc<str>);

struct Flight {
    /// A `Slot<V>`; its value type is known only to the callers, hence `Any`.
    slot: Arc<dyn Any + Send + Sync>,
    /// Callers between [`join`] and leaving: the last one out removes the
    /// flight. Counted apart from the `Arc`'s references, which futures
    /// cancelled mid-wait may drop in any order.
    members: usize,
}

static FLIGHTS: LazyLock<Flights> = LazyLock::new(Flights::default);

/// What a caller of a missed key should do.
pub(crate) enum Turn<V: Send + 'static> {
    /// Another caller computed the value while this one waited.
    Shared(V),
    /// Run the function, then [`Leader::share`] the value.
    Lead(Leader<V>),
    /// Run the function alone: the key is in flight with another value
    /// type (two functions sharing one key), so there is nothing to share.
    Alone,
}

/// The caller whose turn it is to run the function.
pub(crate) struct Leader<V: Send + 'static> {
    slot: OwnedMutexGuard<Option<V>>,
    _member: Member,
    first: bool,
}

impl<V: Clone + Send + 'static> Leader<V> {
    /// Whether another caller led this flight before this one (and ended
    /// without a value to share). It may have stored one all the same, so
    /// a cache is worth reading again; the first leader, who started the
    /// flight right after its own miss, can skip that read.
    pub(crate) fn follows_another(&self) -> bool {
        !self.first
    }

    /// Hands a clone of `value` to the callers waiting for this key, if
    /// any: most misses have no company, and the clone would be thrown
    /// away with the flight.
    ///
    /// A caller that joins just after this looks finds the slot empty and
    /// leads in turn, as after a leader without a value: callers store
    /// before they share, so its read of the cache finds the value.
    pub(crate) fn share(mut self, value: &V) {
        // The flight's map entry holds the slot once, and this guard once:
        // any other reference is a caller waiting for it.
        if Arc::strong_count(OwnedMutexGuard::mutex(&self.slot)) > 2 {
            *self.slot = Some(value.clone());
        }
    }
}

/// Waits for the turn of this caller on `key` of the cache `scope`.
///
/// Cancel-safe: a caller cancelled while waiting just leaves the queue.
pub(crate) async fn join<V>(scope: usize, key: &str) -> Turn<V>
where
    V: Clone + Send + 'static,
{
    let (member, slot, first) = {
        let id: FlightId = (scope, Arc::from(key));
        let mut flights = FLIGHTS.lock();
        let mut first = false;
        let flight = flights.entry(id.clone()).or_insert_with(|| {
            first = true;
            Flight {
                slot: Arc::new(Slot::<V>::new(None)),
                members: 0,
            }
        });
        let Ok(slot) = Arc::clone(&flight.slot).downcast::<Slot<V>>() else {
            return Turn::Alone;
        };
        flight.members += 1;
        (Member { id }, slot, first)
    };
    let slot = slot.lock_owned().await;
    match &*slot {
        Some(value) => Turn::Shared(value.clone()),
        None => Turn::Lead(Leader {
            slot,
            _member: member,
            first,
        }),
    }
}

/// How many flights of the cache `scope` are under way.
pub(crate) fn in_flight(scope: usize) -> usize {
    FLIGHTS.lock().keys().filter(|(s, _)| *s == scope).count()
}

/// One caller's membership of a flight.
///
/// A `Drop` guard so that a caller cancelled or unwinding at any point
/// still leaves, and the map never keeps finished flights.
struct Member {
    id: FlightId,
}

impl Drop for Member {
    fn drop(&mut self) {
        let mut flights = FLIGHTS.lock();
        if let Some(flight) = flights.get_mut(&self.id) {
            flight.members -= 1;
            if flight.members == 0 {
                flights.remove(&self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waiters_get_the_leaders_value_and_the_flight_is_removed() {
        let Turn::Lead(leader) = join::<u32>(1, "k").await else {
            panic!("the first caller leads");
        };
        let waiter = tokio::spawn(async {
            match join::<u32>(1, "k").await {
                Turn::Shared(v) => v,
                _ => panic!("a waiter gets the shared value"),
            }
        });
        tokio::task::yield_now().await;
        leader.share(&7);
        assert_eq!(waiter.await.unwrap(), 7);
        assert_eq!(in_flight(1), 0);
    }

    /// Counts its clones.
    #[derive(Debug)]
    struct Counted;

    static CLONES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    impl Clone for Counted {
        fn clone(&self) -> Self {
            CLONES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Counted
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_leader_alone_neither_reads_again_nor_clones() {
        let Turn::Lead(leader) = join::<Counted>(6, "k").await else {
            panic!("the first caller leads");
        };
        assert!(!leader.follows_another(), "it started the flight");
        leader.share(&Counted);
        assert_eq!(CLONES.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(in_flight(6), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_leader_hands_over_to_a_waiter() {
        let leader = tokio::spawn(async {
            let Turn::Lead(_leader) = join::<u32>(2, "k").await else {
                panic!("the first caller leads");
            };
            std::future::pending::<()>().await;
        });
        tokio::task::yield_now().await;
        let waiter = tokio::spawn(async {
            match join::<u32>(2, "k").await {
                Turn::Lead(leader) => leader.follows_another(),
                _ => false,
            }
        });
        tokio::task::yield_now().await;
        leader.abort();
        assert!(
            waiter.await.unwrap(),
            "the waiter leads once the leader is gone, and knows it follows one"
        );
        assert_eq!(in_flight(2), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_leader_hands_over_to_a_waiter() {
        let leader = tokio::spawn(async {
            let Turn::Lead(_leader) = join::<u32>(3, "k").await else {
                panic!("the first caller leads");
            };
            tokio::task::yield_now().await;
            panic!("the function panicked");
        });
        let waiter = tokio::spawn(async {
            tokio::task::yield_now().await;
            matches!(join::<u32>(3, "k").await, Turn::Lead(_))
        });
        assert!(leader.await.unwrap_err().is_panic());
        assert!(waiter.await.unwrap());
        assert_eq!(in_flight(3), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_waiter_leaves_no_flight_behind() {
        let Turn::Lead(leader) = join::<u32>(4, "k").await else {
            panic!("the first caller leads");
        };
        let waiter = tokio::spawn(async { drop(join::<u32>(4, "k").await) });
        tokio::task::yield_now().await;
        waiter.abort();
        let _ = waiter.await;
        drop(leader);
        assert_eq!(in_flight(4), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn another_value_type_on_the_same_key_runs_alone() {
        let Turn::Lead(_leader) = join::<u32>(5, "k").await else {
            panic!("the first caller leads");
        };
        assert!(matches!(join::<String>(5, "k").await, Turn::Alone));
    }
}

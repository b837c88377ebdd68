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
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::OwnedMutexGuard;

type Slot<V> = tokio::sync::Mutex<Option<V>>;

/// The flights under way in one cache, by key (held in the cache's
/// [`StrategyState`](crate::strategy::state::StrategyState), so a dropped
/// cache drops them). Hashed with foldhash, as the memory backend's map is:
/// every miss hashes its key here up to three times.
#[derive(Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<Arc<str>, Flight, foldhash::fast::RandomState>>,
}

struct Flight {
    /// A `Slot<V>`; its value type is known only to the callers, hence `Any`.
    slot: Arc<dyn Any + Send + Sync>,
    /// Callers between [`Flights::join`] and leaving: the last one out
    /// removes the flight. Counted apart from the `Arc`'s references, which
    /// futures cancelled mid-wait may drop in any order.
    members: usize,
}

/// What a caller of a missed key should do.
pub(crate) enum Turn<'a, V: Send + 'static> {
    /// Another caller computed the value while this one waited.
    Shared(V),
    /// Run the function, then [`Leader::share`] the value.
    Lead(Leader<'a, V>),
    /// Run the function alone: the key is in flight with another value
    /// type (two functions sharing one key), so there is nothing to share.
    Alone,
}

/// The caller whose turn it is to run the function.
pub(crate) struct Leader<'a, V: Send + 'static> {
    slot: OwnedMutexGuard<Option<V>>,
    _member: Member<'a>,
    first: bool,
}

impl<V: Clone + Send + 'static> Leader<'_, V> {
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

impl Flights {
    /// Waits for the turn of this caller on `key`.
    ///
    /// Cancel-safe: a caller cancelled while waiting just leaves the queue.
    pub(crate) async fn join<V>(&self, key: &str) -> Turn<'_, V>
    where
        V: Clone + Send + 'static,
    {
        let (member, slot, first) = {
            let key: Arc<str> = Arc::from(key);
            let mut map = self.map.lock();
            let mut first = false;
            let flight = map.entry(Arc::clone(&key)).or_insert_with(|| {
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
            (Member { flights: self, key }, slot, first)
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

    /// How many flights are under way.
    pub(crate) fn len(&self) -> usize {
        self.map.lock().len()
    }
}

/// One caller's membership of a flight.
///
/// A `Drop` guard so that a caller cancelled or unwinding at any point
/// still leaves, and the map never keeps finished flights.
struct Member<'a> {
    flights: &'a Flights,
    key: Arc<str>,
}

impl Drop for Member<'_> {
    fn drop(&mut self) {
        let mut map = self.flights.map.lock();
        if let Some(flight) = map.get_mut(&self.key) {
            flight.members -= 1;
            if flight.members == 0 {
                map.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flights of a cache that lives as long as the test's tasks.
    fn flights() -> &'static Flights {
        Box::leak(Box::default())
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_get_the_leaders_value_and_the_flight_is_removed() {
        let flights = flights();
        let Turn::Lead(leader) = flights.join::<u32>("k").await else {
            panic!("the first caller leads");
        };
        let waiter = tokio::spawn(async move {
            match flights.join::<u32>("k").await {
                Turn::Shared(v) => v,
                _ => panic!("a waiter gets the shared value"),
            }
        });
        tokio::task::yield_now().await;
        leader.share(&7);
        assert_eq!(waiter.await.unwrap(), 7);
        assert_eq!(flights.len(), 0);
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
        let flights = flights();
        let Turn::Lead(leader) = flights.join::<Counted>("k").await else {
            panic!("the first caller leads");
        };
        assert!(!leader.follows_another(), "it started the flight");
        leader.share(&Counted);
        assert_eq!(CLONES.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_leader_hands_over_to_a_waiter() {
        let flights = flights();
        let leader = tokio::spawn(async move {
            let Turn::Lead(_leader) = flights.join::<u32>("k").await else {
                panic!("the first caller leads");
            };
            std::future::pending::<()>().await;
        });
        tokio::task::yield_now().await;
        let waiter = tokio::spawn(async move {
            match flights.join::<u32>("k").await {
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
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_leader_hands_over_to_a_waiter() {
        let flights = flights();
        let leader = tokio::spawn(async move {
            let Turn::Lead(_leader) = flights.join::<u32>("k").await else {
                panic!("the first caller leads");
            };
            tokio::task::yield_now().await;
            panic!("the function panicked");
        });
        let waiter = tokio::spawn(async move {
            tokio::task::yield_now().await;
            matches!(flights.join::<u32>("k").await, Turn::Lead(_))
        });
        assert!(leader.await.unwrap_err().is_panic());
        assert!(waiter.await.unwrap());
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_waiter_leaves_no_flight_behind() {
        let flights = flights();
        let Turn::Lead(leader) = flights.join::<u32>("k").await else {
            panic!("the first caller leads");
        };
        let waiter = tokio::spawn(async move { drop(flights.join::<u32>("k").await) });
        tokio::task::yield_now().await;
        waiter.abort();
        let _ = waiter.await;
        drop(leader);
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn another_value_type_on_the_same_key_runs_alone() {
        let flights = flights();
        let Turn::Lead(_leader) = flights.join::<u32>("k").await else {
            panic!("the first caller leads");
        };
        assert!(matches!(flights.join::<String>("k").await, Turn::Alone));
    }
}

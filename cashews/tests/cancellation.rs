//! Cancellation at every poll: each strategy's call is dropped after its
//! n-th poll, for every n until the call completes uncancelled. After each
//! cancellation no lock outlives its owner, no single-flight slot is left,
//! a follow-up call completes within a bounded (paused-time) deadline, and
//! the wrapped function runs no more often than the case allows (no
//! refresh twice).

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cashews::backend::{Backend, MemoryBackend};
use cashews::strategy::invalidate::{Invalidation, after};
use cashews::strategy::{
    CircuitBreaker, Early, Failover, Hit, Locked, Perf, RateLimit, SliceRateLimit, Soft,
    circuit_breaker, early, failover, hit, locked, perf, rate_limit, soft, tagged,
};
use cashews::{Cache, Error, ErrorKind, Exist, Expiry, Result};

type Boxed = Pin<Box<dyn Future<Output = ()> + Send>>;

const MINUTE: Duration = Duration::from_secs(60);
/// The wrapped function's run time: every call has poll points inside it.
const TOOK: Duration = Duration::from_millis(10);

/// Polls the inner future at most `polls` times, then drops it.
struct CancelAfter {
    inner: Option<Boxed>,
    polls: usize,
}

impl Future for CancelAfter {
    /// Whether the inner future completed.
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        if self.polls == 0 {
            self.inner = None;
            return Poll::Ready(false);
        }
        self.polls -= 1;
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(false);
        };
        match inner.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(true),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The wrapped function: counts its runs, takes [`TOOK`].
fn counted(
    calls: &Arc<AtomicU32>,
) -> impl FnOnce() -> Pin<Box<dyn Future<Output = Result<u32, Error>> + Send>> + Send + 'static {
    let calls = Arc::clone(calls);
    move || {
        Box::pin(async move {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(TOOK).await;
            Ok(n)
        })
    }
}

/// Memory behind a round trip: every command yields before and after it
/// runs, so a call can be cancelled with its command not yet sent, or done
/// but unanswered, as on a network backend.
/// With `lose_replies`, a protective write (a lock) is done but answered
/// with a timeout, as when a reply is lost.
struct RoundTrips(MemoryBackend, LostReplies);

#[derive(Clone, Copy, PartialEq)]
enum LostReplies {
    None,
    OfProtectiveWrites,
}

async fn trip<T>(command: impl Future<Output = T>) -> T {
    tokio::task::yield_now().await;
    let answer = command.await;
    tokio::task::yield_now().await;
    answer
}

#[async_trait]
impl Backend for RoundTrips {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        trip(self.0.get(key)).await
    }
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        trip(self.0.get_many(keys)).await
    }
    async fn set(
        &self,
        key: &str,
        value: Bytes,
        expire: Option<Duration>,
        exist: Option<Exist>,
    ) -> Result<bool> {
        trip(self.0.set(key, value, expire, exist)).await
    }
    async fn set_many(&self, pairs: &[(&str, Bytes)], expire: Option<Duration>) -> Result<()> {
        trip(self.0.set_many(pairs, expire)).await
    }
    async fn delete(&self, key: &str) -> Result<bool> {
        trip(self.0.delete(key)).await
    }
    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        trip(self.0.delete_many(keys)).await
    }
    async fn delete_match(&self, pattern: &str) -> Result<u64> {
        trip(self.0.delete_match(pattern)).await
    }
    async fn scan(&self, pattern: &str) -> Result<Vec<String>> {
        trip(self.0.scan(pattern)).await
    }
    async fn get_match(&self, pattern: &str) -> Result<Vec<(String, Bytes)>> {
        trip(self.0.get_match(pattern)).await
    }
    async fn exists(&self, key: &str) -> Result<bool> {
        trip(self.0.exists(key)).await
    }
    async fn incr(&self, key: &str, by: i64, expire: Option<Duration>) -> Result<i64> {
        trip(self.0.incr(key, by, expire)).await
    }
    async fn expire(&self, key: &str, timeout: Duration) -> Result<bool> {
        trip(self.0.expire(key, timeout)).await
    }
    async fn get_expire(&self, key: &str) -> Result<Expiry> {
        trip(self.0.get_expire(key)).await
    }
    async fn ping(&self, message: Option<&[u8]>) -> Result<Bytes> {
        trip(self.0.ping(message)).await
    }
    async fn clear(&self) -> Result<()> {
        trip(self.0.clear()).await
    }
    async fn unlock(&self, key: &str, value: &[u8]) -> Result<bool> {
        trip(self.0.unlock(key, value)).await
    }
    async fn set_protective(
        &self,
        key: &str,
        value: Bytes,
        expire: Duration,
        exist: Option<Exist>,
    ) -> Result<bool> {
        let answer = trip(self.0.set_protective(key, value, expire, exist)).await;
        if self.1 == LostReplies::OfProtectiveWrites {
            return Err(Error::new(ErrorKind::Timeout, "reply lost"));
        }
        answer
    }
    async fn incr_protective(&self, key: &str, by: i64, expire: Duration) -> Result<i64> {
        trip(self.0.incr_protective(key, by, expire)).await
    }
    async fn set_add(&self, key: &str, members: &[&str], expire: Duration) -> Result<()> {
        trip(self.0.set_add(key, members, expire)).await
    }
    async fn set_members(&self, key: &str) -> Result<Vec<String>> {
        trip(self.0.set_members(key)).await
    }
    async fn set_remove(&self, key: &str, members: &[&str]) -> Result<u64> {
        trip(self.0.set_remove(key, members)).await
    }
    async fn get_size(&self, key: &str) -> Result<Option<u64>> {
        trip(self.0.get_size(key)).await
    }
    async fn get_keys_count(&self) -> Result<u64> {
        trip(self.0.get_keys_count()).await
    }
}

/// One strategy under cancellation.
struct Case {
    name: &'static str,
    /// Brings the cache to the state the call is tested in (a stored value
    /// due for refresh, …); its own function calls are not counted.
    prepare: fn(Cache) -> Boxed,
    /// The call: run cancelled, then once more as the follow-up.
    call: fn(Cache, Arc<AtomicU32>) -> Boxed,
    /// Whether a second caller runs alongside the cancelled one (and must
    /// not hang on what it leaves).
    concurrent: bool,
    /// The most runs of the function all the calls may make together:
    /// 3 for a strategy that runs it on every call (or on every
    /// concurrent miss), fewer where it shares or refreshes once.
    max_calls: u32,
}

fn nothing(_: Cache) -> Boxed {
    Box::pin(async {})
}

static LOCKED: Locked = Locked::new(MINUTE).lock_ttl(MINUTE);
static EARLY: Early = Early::new(MINUTE).early_ttl(Duration::from_secs(20));
static HIT: Hit = Hit::new(MINUTE, 10).update_after(1);
static PERF: Perf = Perf::new(MINUTE).trace_size(2);

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "simple cache, protected",
            prepare: nothing,
            call: |cache, calls| {
                Box::pin(async move {
                    let f = counted(&calls);
                    let _ = cache.cached("k", MINUTE).try_get_with(f).await;
                })
            },
            concurrent: true,
            max_calls: 2,
        },
        Case {
            name: "failover",
            prepare: nothing,
            call: |cache, calls| {
                Box::pin(async move {
                    let _ = failover(&cache, "k", &Failover::new(MINUTE), counted(&calls)).await;
                })
            },
            concurrent: true,
            max_calls: 3,
        },
        Case {
            name: "hit",
            prepare: |cache| {
                Box::pin(async move {
                    let _ = hit(&cache, "k", &HIT, counted(&Arc::default())).await;
                })
            },
            call: |cache, calls| {
                Box::pin(async move {
                    let _ = hit(&cache, "k", &HIT, counted(&calls)).await;
                })
            },
            // One refresh per generation of the value, at its first hit:
            // the cancelled call's, then the follow-up's of the new value.
            concurrent: true,
            max_calls: 2,
        },
        Case {
            name: "perf",
            prepare: nothing,
            call: |cache, calls| {
                Box::pin(async move {
                    let _ = perf(&cache, "k", &PERF, counted(&calls)).await;
                })
            },
            concurrent: true,
            max_calls: 3,
        },
        Case {
            name: "locked",
            prepare: nothing,
            call: |cache, calls| {
                Box::pin(async move {
                    let _ = locked(&cache, "k", &LOCKED, counted(&calls)).await;
                })
            },
            concurrent: true,
            max_calls: 2,
        },
        Case {
            name: "Cache::lock",
            prepare: nothing,
            call: |cache, _| {
                Box::pin(async move {
                    let guard = cache
                        .lock("k:lock", MINUTE)
                        .await
                        .expect("the lock is free");
                    tokio::time::sleep(TOOK).await;
                    guard.release().await.expect("released");
                })
            },
            concurrent: false,
            max_calls: 0,
        },
        Case {
            name: "early",
            prepare: |cache| {
                Box::pin(async move {
                    let _ = early(&cache, "k", &EARLY, counted(&Arc::default())).await;
                    tokio::time::advance(Duration::from_secs(30)).await;
                })
            },
            call: |cache, calls| {
                Box::pin(async move {
                    let _ = early(&cache, "k", &EARLY, counted(&calls)).await;
                })
            },
            // One refresh of the generation that is due.
            concurrent: true,
            max_calls: 1,
        },
        Case {
            name: "soft",
            prepare: |cache| {
                Box::pin(async move {
                    let options = Soft::new(MINUTE, Duration::from_secs(10));
                    let _ = soft(&cache, "k", &options, counted(&Arc::default())).await;
                    tokio::time::advance(Duration::from_secs(20)).await;
                })
            },
            call: |cache, calls| {
                Box::pin(async move {
                    let options = Soft::new(MINUTE, Duration::from_secs(10));
                    let _ = soft(&cache, "k", &options, counted(&calls)).await;
                })
            },
            concurrent: true,
            max_calls: 3,
        },
        Case {
            name: "rate_limit",
            prepare: nothing,
            call: |cache, calls| {
                Box::pin(async move {
                    let limit = RateLimit::new(5, MINUTE);
                    let _ = rate_limit(&cache, "k", &limit, counted(&calls)).await;
                })
            },
            concurrent: true,
            max_calls: 3,
        },
        Case {
            name: "slice_rate_limit",
            prepare: nothing,
            call: |cache, calls| {
                Box::pin(async move {
                    let limit = SliceRateLimit::new(5, MINUTE);
                    let _ = rate_limit(&cache, "k", &limit, counted(&calls)).await;
                })
            },
            concurrent: true,
            max_calls: 3,
        },
        Case {
            name: "circuit_breaker",
            prepare: nothing,
            call: |cache, calls| {
                Box::pin(async move {
                    let breaker = CircuitBreaker::new(50, MINUTE, MINUTE);
                    let _ = circuit_breaker(&cache, "k", &breaker, counted(&calls)).await;
                })
            },
            concurrent: true,
            max_calls: 3,
        },
        Case {
            name: "tagged",
            prepare: nothing,
            call: |cache, calls| {
                Box::pin(async move {
                    let _ = tagged(&cache, "k", &["t"], MINUTE, counted(&calls)).await;
                })
            },
            concurrent: true,
            max_calls: 3,
        },
        // Alone, so no concurrent caller tags the value the cancelled one
        // stored.
        Case {
            name: "tagged, alone",
            prepare: nothing,
            call: |cache, calls| {
                Box::pin(async move {
                    let _ = tagged(&cache, "k", &["t"], MINUTE, counted(&calls)).await;
                })
            },
            concurrent: false,
            max_calls: 2,
        },
        Case {
            name: "invalidate::after",
            prepare: |cache| {
                Box::pin(async move {
                    cache.set("page:1", &1, MINUTE).await.unwrap();
                })
            },
            call: |cache, calls| {
                Box::pin(async move {
                    let _ = after(
                        [Invalidation::new(&cache, "page:*")],
                        Result::is_ok,
                        counted(&calls),
                    )
                    .await;
                })
            },
            concurrent: true,
            max_calls: 3,
        },
    ]
}

/// Lets spawned cleanups (lock releases) and background refreshes run.
async fn settle() {
    tokio::time::sleep(TOOK * 5).await;
}

async fn locks_left(cache: &Cache) -> Vec<String> {
    let mut keys = cache.scan("*lock*").await.unwrap();
    keys.extend(cache.scan("*:early:*").await.unwrap());
    keys
}

async fn cancel_at_every_poll(case: &Case, make: fn() -> Cache) {
    for polls in 0.. {
        assert!(polls < 1_000, "{}: never completed", case.name);
        let cache = make();
        (case.prepare)(cache.clone()).await;
        let calls = Arc::new(AtomicU32::new(0));
        let waiter = case
            .concurrent
            .then(|| tokio::spawn((case.call)(cache.clone(), Arc::clone(&calls))));
        let completed = CancelAfter {
            inner: Some((case.call)(cache.clone(), Arc::clone(&calls))),
            polls,
        }
        .await;
        let at = format!("{} cancelled after {polls} polls", case.name);
        if let Some(waiter) = waiter {
            tokio::time::timeout(Duration::from_secs(1), waiter)
                .await
                .unwrap_or_else(|_| panic!("{at}: the concurrent caller hangs"))
                .unwrap();
        }
        settle().await;
        let locks = locks_left(&cache).await;
        // A successful early refresh keeps its lock until the old value
        // expires, by design: its generation is refreshed.
        let kept_by_design = case.name == "early" && calls.load(Ordering::SeqCst) == 1;
        assert!(
            locks.is_empty() || kept_by_design,
            "{at}: locks left {locks:?}"
        );
        assert_eq!(
            cashews::__private::flights_in(&cache),
            0,
            "{at}: single flight left"
        );
        if case.name.starts_with("tagged") && cache.exists("k").await.unwrap() {
            let index = cache.set_members("cashews:tag:t").await.unwrap();
            assert!(
                index.iter().any(|m| m == "k"),
                "{at}: a value its tag misses"
            );
        }
        let follow_up = (case.call)(cache.clone(), Arc::clone(&calls));
        tokio::time::timeout(Duration::from_secs(1), follow_up)
            .await
            .unwrap_or_else(|_| panic!("{at}: the follow-up call hangs"));
        settle().await;
        assert!(
            calls.load(Ordering::SeqCst) <= case.max_calls,
            "{at}: the function ran {} times",
            calls.load(Ordering::SeqCst)
        );
        assert_eq!(cashews::__private::flights_in(&cache), 0, "{at}");
        if completed {
            return;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn every_strategy_cancelled_at_every_poll_on_memory() {
    for case in cases() {
        cancel_at_every_poll(&case, || Cache::from_url("mem://").unwrap()).await;
    }
}

#[tokio::test(start_paused = true)]
async fn every_strategy_cancelled_at_every_poll_between_round_trips() {
    for case in cases() {
        cancel_at_every_poll(&case, || {
            let memory = MemoryBackend::new(Default::default());
            Cache::builder(RoundTrips(memory, LostReplies::None)).build()
        })
        .await;
    }
}

/// A lock taken on the backend whose reply is lost (safe mode answers
/// "not taken") is released all the same: by `Cache::lock` and by early's
/// refresh election.
#[tokio::test(start_paused = true)]
async fn a_lock_whose_reply_is_lost_is_released() {
    let memory = MemoryBackend::new(Default::default());
    let cache = Cache::builder(RoundTrips(memory.clone(), LostReplies::OfProtectiveWrites)).build();
    assert!(cache.lock("k", MINUTE).await.unwrap_err().is_locked());
    settle().await;
    assert!(
        !memory.exists("k").await.unwrap(),
        "Cache::lock left its lock"
    );

    let calls = Arc::new(AtomicU32::new(0));
    let _ = early(&cache, "e", &EARLY, counted(&Arc::default())).await;
    tokio::time::advance(Duration::from_secs(30)).await;
    let _ = early(&cache, "e", &EARLY, counted(&calls)).await;
    settle().await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "no refresh without the lock"
    );
    let left = memory.scan("e:early:*").await.unwrap();
    assert!(left.is_empty(), "early left its lock: {left:?}");
}

/// On Redis a lock command is a round trip, so `locked` and `Cache::lock`
/// are cancelled with their request on the wire: the lock may be taken on
/// the server although the caller never saw the answer. Real time, so the
/// assertions wait with a deadline.
#[cfg(feature = "redis")]
#[tokio::test]
async fn locks_cancelled_at_every_poll_on_redis() {
    use tokio::time::Instant;

    let server = support::servers::RedisServer::start().await;
    let cache = Cache::from_url(&server.url()).unwrap();
    let options = Locked::new(MINUTE).lock_ttl(Duration::from_secs(30));
    for (name, with_locked) in [("Cache::lock", false), ("locked", true)] {
        for polls in 0.. {
            assert!(polls < 1_000, "{name}: never completed");
            let key = format!("{name}:{polls}");
            let lock_key = format!("{key}:lock");
            let calls = Arc::new(AtomicU32::new(0));
            let call = |calls: Arc<AtomicU32>| -> Boxed {
                let (cache, key, lock_key) = (cache.clone(), key.clone(), lock_key.clone());
                Box::pin(async move {
                    if with_locked {
                        let _ = locked(&cache, &key, &options, counted(&calls)).await;
                    } else {
                        let guard = cache
                            .lock(&lock_key, Duration::from_secs(30))
                            .await
                            .unwrap();
                        tokio::time::sleep(TOOK).await;
                        guard.release().await.unwrap();
                    }
                })
            };
            let completed = CancelAfter {
                inner: Some(call(Arc::clone(&calls))),
                polls,
            }
            .await;
            let at = format!("{name} cancelled after {polls} polls");
            let deadline = Instant::now() + Duration::from_secs(5);
            while cache.exists(&lock_key).await.unwrap() {
                assert!(
                    Instant::now() < deadline,
                    "{at}: the lock outlives its owner"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert_eq!(cashews::__private::flights_in(&cache), 0, "{at}");
            tokio::time::timeout(Duration::from_secs(5), call(Arc::clone(&calls)))
                .await
                .unwrap_or_else(|_| panic!("{at}: the follow-up call hangs"));
            assert!(calls.load(Ordering::SeqCst) <= 2, "{at}");
            if completed {
                break;
            }
        }
    }
}

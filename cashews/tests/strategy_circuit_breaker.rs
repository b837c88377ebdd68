//! `circuit_breaker`: opens on a failure rate, rejects, half-opens, closes.

mod strategy_env;
#[cfg(feature = "redis")]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cashews::strategy::{CircuitBreaker, Served, circuit_breaker};
use cashews::{Cache, Error, ErrorKind};
use strategy_env::Env;

const MS: Duration = Duration::from_millis(1);
const S: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Ok,
    Failed,
    Open,
}

struct Upstream {
    runs: Arc<AtomicU32>,
}

impl Upstream {
    fn new() -> Self {
        Self {
            runs: Arc::new(AtomicU32::new(0)),
        }
    }

    fn runs(&self) -> u32 {
        self.runs.load(Ordering::SeqCst)
    }

    async fn call(
        &self,
        cache: &Cache,
        options: &CircuitBreaker<Error>,
        fail: bool,
        took: Duration,
    ) -> Outcome {
        let runs = self.runs.clone();
        let reported = circuit_breaker(cache, "payments", options, move || async move {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(took).await;
            if fail {
                Err(Error::new(ErrorKind::Connection, "down"))
            } else {
                Ok(())
            }
        })
        .await;
        let outcome = match reported.value {
            Ok(()) => Outcome::Ok,
            Err(e) if e.is_circuit_open() => Outcome::Open,
            Err(e) => {
                assert!(e.is_connection());
                Outcome::Failed
            }
        };
        let refused = reported.served == Served::CircuitOpen;
        assert_eq!(refused, outcome == Outcome::Open, "{:?}", reported.served);
        assert!(refused || reported.served == Served::Miss);
        outcome
    }
}

use Outcome::{Failed, Ok as Done, Open};

#[tokio::test(start_paused = true)]
async fn opens_rejects_half_opens_and_closes() {
    let env = Env::memory();
    let options = CircuitBreaker::new(50, 60 * S, 5 * S)
        .min_calls(4)
        .half_open(3 * S, 100);
    let up = Upstream::new();
    let (a, b) = (&env.a, &env.b);
    // 2 failures in 3 calls: over the rate, under min_calls.
    assert_eq!(up.call(a, &options, false, MS).await, Done);
    assert_eq!(up.call(b, &options, true, MS).await, Failed);
    assert_eq!(up.call(a, &options, true, MS).await, Failed);
    // 3 in 4: opens; both "processes" see it and the function no longer runs.
    assert_eq!(up.call(b, &options, true, MS).await, Failed);
    assert_eq!(up.runs(), 4);
    assert_eq!(up.call(a, &options, false, MS).await, Open);
    assert_eq!(up.call(b, &options, false, MS).await, Open);
    env.advance(5 * S - MS).await;
    assert_eq!(up.call(a, &options, false, MS).await, Open);
    assert_eq!(up.runs(), 4);
    env.advance(MS).await;
    // Half-open: a probe runs and fails, so it opens again for 5 s.
    assert_eq!(up.call(b, &options, true, MS).await, Failed);
    assert_eq!(up.call(a, &options, false, MS).await, Open);
    env.advance(5 * S - MS).await;
    assert_eq!(up.call(a, &options, false, MS).await, Open);
    env.advance(MS).await;
    // A probe succeeds: closed, and the failures that opened it are forgotten.
    assert_eq!(up.call(a, &options, false, MS).await, Done);
    assert_eq!(up.call(b, &options, true, MS).await, Failed);
    assert_eq!(up.call(a, &options, false, MS).await, Done);
    assert_eq!(up.call(b, &options, false, MS).await, Done);
    assert_eq!(up.runs(), 9);
}

#[tokio::test(start_paused = true)]
async fn without_half_open_it_closes_after_ttl() {
    let env = Env::memory();
    let options = CircuitBreaker::new(100, 60 * S, 5 * S);
    let up = Upstream::new();
    assert_eq!(up.call(&env.a, &options, true, MS).await, Failed);
    env.advance(5 * S - MS).await;
    assert_eq!(up.call(&env.a, &options, true, MS).await, Open);
    env.advance(MS).await;
    assert_eq!(up.call(&env.a, &options, false, MS).await, Done);
    assert_eq!(up.call(&env.a, &options, false, MS).await, Done);
}

#[tokio::test(start_paused = true)]
async fn half_open_lets_a_fraction_through() {
    let env = Env::memory();
    let options = CircuitBreaker::new(100, 60 * S, 5 * S).half_open(10 * S, 25);
    let up = Arc::new(Upstream::new());
    assert_eq!(up.call(&env.a, &options, true, MS).await, Failed);
    env.advance(5 * S).await;
    // Slow probes, so the breaker stays half-open while 20 calls arrive.
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let (cache, up) = (
                if i % 2 == 0 {
                    env.a.clone()
                } else {
                    env.b.clone()
                },
                up.clone(),
            );
            tokio::spawn(async move { up.call(&cache, &options, false, S).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for c in calls {
        outcomes.push(c.await.unwrap());
    }
    assert_eq!(outcomes.iter().filter(|o| **o == Done).count(), 5);
    assert_eq!(outcomes.iter().filter(|o| **o == Open).count(), 15);
    assert_eq!(up.runs(), 1 + 5);
    // The probes succeeded: closed.
    assert_eq!(up.call(&env.a, &options, false, MS).await, Done);
}

#[tokio::test(start_paused = true)]
async fn the_rate_counts_the_last_period() {
    let env = Env::memory();
    let options = CircuitBreaker::new(50, 10 * S, 5 * S).min_calls(2);
    let up = Upstream::new();
    // 1 failure in 10 calls at the start of a window: 10 %.
    for i in 0..10 {
        assert_eq!(
            up.call(&env.a, &options, i == 0, MS).await,
            if i == 0 { Failed } else { Done }
        );
    }
    // A whole period later those calls no longer count: 2 failures in 2 open it.
    env.advance(20 * S).await;
    assert_eq!(up.call(&env.a, &options, true, MS).await, Failed);
    assert_eq!(up.call(&env.a, &options, true, MS).await, Failed);
    assert_eq!(up.call(&env.a, &options, false, MS).await, Open);
}

#[tokio::test(start_paused = true)]
async fn only_chosen_errors_are_failures() {
    let env = Env::memory();
    let options = CircuitBreaker::new(50, 10 * S, 5 * S).failure(|e: &Error| e.is_timeout());
    let up = Upstream::new();
    for _ in 0..5 {
        // Connection errors do not count.
        assert_eq!(up.call(&env.a, &options, true, MS).await, Failed);
    }
    assert_eq!(up.runs(), 5);
}

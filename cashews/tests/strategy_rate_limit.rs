//! Rate limits: a fixed window with a ban and an exact sliding window, on
//! memory (exact to the millisecond on paused time) and on Redis.

mod strategy_env;
#[cfg(feature = "redis")]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cashews::strategy::{Limiter, RateLimit, Served, SliceRateLimit, rate_limit, rate_limit_or};
use cashews::{Cache, Error, ErrorKind};
use strategy_env::Env;

const MS: Duration = Duration::from_millis(1);
const S: Duration = Duration::from_secs(1);

async fn admitted(cache: &Cache, limiter: &impl Limiter, n: usize) -> Vec<bool> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(limiter.admit(cache, "api:ada").await.unwrap());
    }
    out
}

#[tokio::test(start_paused = true)]
async fn fixed_window_exact_at_the_boundary_and_after_the_ban() {
    let env = Env::memory();
    let limit = RateLimit::new(3, 10 * S).ban(20 * S);
    assert_eq!(admitted(&env.a, &limit, 3).await, [true; 3]);
    env.advance(S).await;
    // The 4th call of the window starts a 20 s ban at t = 1 s.
    assert_eq!(admitted(&env.b, &limit, 1).await, [false]);
    env.advance(9 * S - MS).await; // t = 9.999 s
    assert_eq!(admitted(&env.a, &limit, 1).await, [false]);
    env.advance(MS).await; // t = 10 s: the window is over, the ban is not
    assert_eq!(admitted(&env.a, &limit, 1).await, [false]);
    env.advance(11 * S - MS).await; // t = 20.999 s
    assert_eq!(admitted(&env.b, &limit, 1).await, [false]);
    env.advance(MS).await; // t = 21 s: banned 20 s from the refusal
    assert_eq!(admitted(&env.a, &limit, 4).await, [true, true, true, false]);
}

#[tokio::test(start_paused = true)]
async fn fixed_window_without_ban_reopens_with_the_next_window() {
    let env = Env::memory();
    let limit = RateLimit::new(2, 10 * S).ban(Duration::ZERO);
    assert_eq!(admitted(&env.a, &limit, 3).await, [true, true, false]);
    env.advance(10 * S - MS).await;
    assert_eq!(admitted(&env.a, &limit, 1).await, [false]);
    env.advance(MS).await;
    assert_eq!(admitted(&env.a, &limit, 3).await, [true, true, false]);
}

#[tokio::test(start_paused = true)]
async fn a_short_ban_lasts_until_the_window_ends() {
    let env = Env::memory();
    let limit = RateLimit::new(1, 10 * S).ban(2 * S);
    assert_eq!(admitted(&env.a, &limit, 2).await, [true, false]);
    env.advance(3 * S).await;
    // The ban is over but this window already had its call.
    assert_eq!(admitted(&env.a, &limit, 1).await, [false]);
    env.advance(7 * S).await;
    assert_eq!(admitted(&env.a, &limit, 1).await, [true]);
}

#[tokio::test(start_paused = true)]
async fn sliding_window_exact_at_the_edges() {
    let env = Env::memory();
    let limit = SliceRateLimit::new(3, 10 * S);
    assert_eq!(admitted(&env.a, &limit, 1).await, [true]); // t = 0
    env.advance(4 * S).await;
    assert_eq!(admitted(&env.b, &limit, 1).await, [true]); // t = 4
    env.advance(4 * S).await;
    assert_eq!(admitted(&env.a, &limit, 2).await, [true, false]); // t = 8
    env.advance(2 * S - MS).await; // t = 9.999: the call of t = 0 still counts
    assert_eq!(admitted(&env.b, &limit, 1).await, [false]);
    env.advance(MS).await; // t = 10: it no longer does
    assert_eq!(admitted(&env.a, &limit, 2).await, [true, false]);
    env.advance(4 * S - MS).await; // t = 13.999
    assert_eq!(admitted(&env.a, &limit, 1).await, [false]);
    env.advance(MS).await; // t = 14: the call of t = 4 is out
    assert_eq!(admitted(&env.b, &limit, 2).await, [true, false]);
    // Refusals are not counted: after a burst of them, a full window later
    // everything is free again.
    env.advance(10 * S).await;
    assert_eq!(admitted(&env.a, &limit, 4).await, [true, true, true, false]);
}

async fn concurrent_admissions(
    cache: &Cache,
    limiter: impl Limiter + Copy + Send + Sync + 'static,
) -> usize {
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { limiter.admit(&cache, "api:ada").await.unwrap() })
        })
        .collect();
    let mut n = 0;
    for t in tasks {
        n += usize::from(t.await.unwrap());
    }
    n
}

#[tokio::test(start_paused = true)]
async fn exact_under_concurrency() {
    let env = Env::memory();
    assert_eq!(
        concurrent_admissions(&env.a, RateLimit::new(100, 10 * S)).await,
        100
    );
    let env = Env::memory();
    assert_eq!(
        concurrent_admissions(&env.a, SliceRateLimit::new(100, 10 * S)).await,
        100
    );
}

#[tokio::test(start_paused = true)]
async fn refused_calls_do_not_run_and_get_a_typed_error() {
    #[derive(Debug)]
    enum ApiError {
        Limited,
        Other,
    }
    impl From<Error> for ApiError {
        fn from(e: Error) -> Self {
            if e.kind() == ErrorKind::RateLimited {
                Self::Limited
            } else {
                Self::Other
            }
        }
    }
    let env = Env::memory();
    let calls = Arc::new(AtomicU32::new(0));
    let limit = RateLimit::new(1, 10 * S);
    let call = || {
        let calls = calls.clone();
        rate_limit(&env.a, "api:ada", &limit, move || async move {
            Ok::<_, ApiError>(calls.fetch_add(1, Ordering::SeqCst) + 1)
        })
    };
    let admitted = call().await;
    assert_eq!(
        (admitted.value.unwrap(), admitted.served),
        (1, Served::Miss)
    );
    let refused = call().await;
    assert_eq!(refused.served, Served::RateLimited);
    assert!(matches!(refused.value, Err(ApiError::Limited)));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_custom_action_answers_refused_calls() {
    let env = Env::memory();
    let limit = SliceRateLimit::new(1, 10 * S);
    let call = || {
        rate_limit_or(
            &env.a,
            "api:ada",
            &limit,
            || async { Ok::<_, Error>("fresh") },
            || async { Ok("slow down") },
        )
    };
    assert_eq!(call().await.value.unwrap(), "fresh");
    let refused = call().await;
    assert_eq!(refused.served, Served::RateLimited);
    assert_eq!(refused.value.unwrap(), "slow down");
}

#[tokio::test(start_paused = true)]
async fn switched_off_limits_let_calls_through() {
    let env = Env::memory();
    let limit = RateLimit::new(1, 10 * S);
    let slice = SliceRateLimit::new(1, 10 * S);
    cashews::switch::disabled(async {
        assert_eq!(admitted(&env.a, &limit, 3).await, [true; 3]);
        assert_eq!(admitted(&env.a, &slice, 3).await, [true; 3]);
    })
    .await;
}

#[cfg(feature = "redis")]
mod redis {
    use super::*;

    #[tokio::test]
    async fn fixed_window_and_ban_on_redis() {
        let env = Env::redis().await;
        let limit = RateLimit::new(3, 10 * S).ban(20 * S);
        assert_eq!(admitted(&env.a, &limit, 3).await, [true; 3]);
        assert_eq!(admitted(&env.b, &limit, 1).await, [false]);
        env.advance(12 * S).await; // past the window, inside the ban
        assert_eq!(admitted(&env.a, &limit, 1).await, [false]);
        env.advance(9 * S).await; // past the ban
        assert_eq!(admitted(&env.b, &limit, 4).await, [true, true, true, false]);
    }

    #[tokio::test]
    async fn sliding_window_on_redis() {
        let env = Env::redis().await;
        let limit = SliceRateLimit::new(3, 10 * S);
        assert_eq!(admitted(&env.a, &limit, 1).await, [true]);
        env.advance(5 * S).await;
        assert_eq!(admitted(&env.b, &limit, 3).await, [true, true, false]);
        env.advance(5 * S + 100 * MS).await; // the first call is out
        assert_eq!(admitted(&env.a, &limit, 2).await, [true, false]);
    }

    #[tokio::test]
    async fn exact_under_concurrency_on_redis() {
        let env = Env::redis().await;
        assert_eq!(
            concurrent_admissions(&env.a, RateLimit::new(100, 10 * S)).await,
            100
        );
        assert_eq!(
            concurrent_admissions(&env.b, SliceRateLimit::new(100, 10 * S)).await,
            100
        );
    }
}

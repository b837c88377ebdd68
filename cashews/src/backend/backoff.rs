//! Reconnect backoff shared by the network backends.
//!
//! A cache must never slow its callers down more than a miss would, so a
//! backend whose server is unreachable fails fast instead of making every
//! command wait for a reconnect: after a failed connection attempt, commands
//! are refused at once until a delay has passed; the first command after it
//! makes the next attempt. The delay doubles with each failure (with jitter,
//! so many processes don't reconnect in lockstep) up to [`MAX_DELAY`], which
//! bounds how long caching stays off after the server is back.

use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

const MIN_DELAY: Duration = Duration::from_millis(25);
/// The longest wait between two connection attempts.
const MAX_DELAY: Duration = Duration::from_secs(1);

/// When the next connection attempt may be made.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    failures: u32,
    retry_at: Option<Instant>,
    last_error: String,
}

/// Why no connection attempt is made right now.
pub(crate) struct Waiting {
    /// Until the next attempt.
    pub(crate) left: Duration,
    /// What the last attempt failed with.
    pub(crate) last_error: String,
}

impl Backoff {
    /// `Ok` if an attempt may be made now.
    pub(crate) fn ready(&self) -> Result<(), Waiting> {
        let state = self.state.lock();
        match state.retry_at {
            Some(at) => {
                let now = Instant::now();
                if now < at {
                    Err(Waiting {
                        left: at - now,
                        last_error: state.last_error.clone(),
                    })
                } else {
                    Ok(())
                }
            }
            None => Ok(()),
        }
    }

    /// Records a failed attempt: the next waits longer.
    pub(crate) fn failed(&self, error: &dyn std::fmt::Display) {
        let mut state = self.state.lock();
        state.failures = state.failures.saturating_add(1);
        let doubled = MIN_DELAY.saturating_mul(1 << state.failures.min(16) >> 1);
        let delay = doubled.min(MAX_DELAY).mul_f64(0.5 + fastrand::f64() / 2.0);
        state.retry_at = Some(Instant::now() + delay);
        state.last_error = error.to_string();
    }

    /// Records a successful attempt: the next failure starts from the shortest delay.
    pub(crate) fn succeeded(&self) {
        let mut state = self.state.lock();
        state.failures = 0;
        state.retry_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn delays_grow_then_cap_and_reset_on_success() {
        let b = Backoff::default();
        assert!(b.ready().is_ok());
        let mut last = Duration::ZERO;
        for _ in 0..12 {
            b.failed(&"refused");
            let waiting = b.ready().expect_err("waits after a failure");
            assert_eq!(waiting.last_error, "refused");
            assert!(waiting.left <= MAX_DELAY);
            last = waiting.left;
        }
        assert!(last >= MAX_DELAY / 2, "capped delay {last:?}");
        tokio::time::advance(MAX_DELAY).await;
        assert!(
            b.ready().is_ok(),
            "an attempt is allowed once the delay passed"
        );
        b.succeeded();
        b.failed(&"refused");
        assert!(b.ready().expect_err("waits").left <= MIN_DELAY);
    }
}

//! The time strategies write into stored values (early and soft marks,
//! circuit-breaker buckets).
//!
//! It must mean the same thing in every process sharing a backend, so it is
//! wall-clock milliseconds since the Unix epoch. It advances with tokio's
//! clock, though, so tests on paused time (`tokio::time::advance`) move it:
//! the wall clock is read once, and tokio's monotonic time since then is
//! added to it.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

static BASE: OnceLock<(u64, Instant)> = OnceLock::new();

/// Milliseconds since the Unix epoch, moving with tokio's clock.
pub(crate) fn now_ms() -> u64 {
    let (wall, at) = *BASE.get_or_init(|| {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        (wall, Instant::now())
    });
    // Each paused test runtime starts its clock at the real time it was
    // built, never before `at`; saturating keeps an odd start harmless.
    wall + Instant::now().saturating_duration_since(at).as_millis() as u64
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn follows_paused_time() {
        let a = now_ms();
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(now_ms() - a, 1500);
        let real = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        assert!(a.abs_diff(real.as_millis() as u64) < 60_000);
    }
}

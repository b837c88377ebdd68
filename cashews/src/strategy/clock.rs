//! The time strategies write into stored values (early and soft marks,
//! circuit-breaker windows).
//!
//! It must mean the same thing in every process sharing a backend, so it is
//! wall-clock milliseconds since the Unix epoch. It also follows tokio's
//! clock, so tests on paused time (`tokio::time::advance`) move it exactly:
//! the wall clock and the real monotonic clock are read once, as an anchor,
//! and each reading adds how far tokio's clock is from that anchor. With
//! time paused, tokio's clock stands still between advances, so readings
//! are exact; otherwise it is the monotonic clock, and the result tracks
//! the wall clock (up to the drift of the two over the process's life).

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The wall clock (ns since the epoch) and the monotonic clock, read together.
static ANCHOR: OnceLock<(i128, Instant)> = OnceLock::new();

/// Milliseconds since the Unix epoch, moving with tokio's clock.
pub(crate) fn now_ms() -> u64 {
    let (wall, at) = *ANCHOR.get_or_init(|| {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        (wall, Instant::now())
    });
    // A paused test runtime's clock may start before the anchor was read
    // (by another runtime), so the offset is signed; it is added in
    // nanoseconds and rounded down once, so that two readings differ by
    // exactly the time advanced between them.
    let now = tokio::time::Instant::now().into_std();
    let offset = match now.checked_duration_since(at) {
        Some(after) => after.as_nanos() as i128,
        None => -((at - now).as_nanos() as i128),
    };
    u64::try_from((wall + offset).div_euclid(1_000_000)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn follows_paused_time_exactly() {
        let a = now_ms();
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(now_ms() - a, 1500);
        let real = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        assert!(a.abs_diff(real.as_millis() as u64) < 60_000);
    }

    #[tokio::test]
    async fn is_the_wall_clock_when_not_paused() {
        let real = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        assert!(now_ms().abs_diff(real.as_millis() as u64) < 1_000);
    }
}

//! When a memory entry dies, and the cheap liveness check of the hit path.
//!
//! Expiry is decided by tokio's clock, so that tests can pause and advance
//! it. Reading that clock is std's `Instant::now`, a `clock_gettime` of
//! `CLOCK_MONOTONIC` that takes 30 ns and more on a VM: a fifth of a whole
//! decorated hit. Linux's `CLOCK_MONOTONIC_COARSE` is the same clock as of
//! the last timer tick and takes 7 to 11 ns (measured on the VM of the
//! README's table, through glibc: rustix's own vDSO reader was no faster
//! and crashes programs run under valgrind). It lags the precise clock by a
//! few ticks at most, so it can only prove an entry live while the entry's
//! end is well ahead: each deadline keeps a coarse instant before which the
//! entry is surely live, [`MARGIN`] short of its end, and the hit path
//! reads the precise clock only after it.
//!
//! Under paused tokio time the coarse clock says nothing about tokio's, so
//! an entry written while tokio's clock stands still gets no coarse instant
//! and every check reads tokio's clock. (An entry written *before* the
//! clock is paused keeps its coarse instant, so on the hit path it lives on
//! in real time until the last `MARGIN`: tests that pause time pause it
//! before they write, as `start_paused` does.)

use std::time::Duration;

use tokio::time::Instant;

/// How far ahead of an entry's end the coarse clock stops vouching for it.
/// Far more than the coarse clock ever lags (a few ticks, 4 ms each at
/// the common `HZ=250`); entries with a shorter TTL always read tokio's
/// clock.
const MARGIN: Duration = Duration::from_secs(1);

/// The end of an entry's life.
#[derive(Clone, Copy, Debug)]
pub(super) struct Deadline {
    /// When the entry dies, on tokio's clock: the source of truth.
    at: Instant,
    /// Nanoseconds on the coarse clock before which the entry is surely
    /// live; 0 when the coarse clock cannot tell.
    surely_live_before: u64,
}

impl Deadline {
    /// The deadline of an entry written at `now` (read from tokio's clock
    /// just before) that lives for `ttl`; `None` if it never comes.
    pub(super) fn after(now: Instant, ttl: Duration) -> Option<Self> {
        let at = now.checked_add(ttl)?;
        Some(Self {
            at,
            surely_live_before: coarse_vouching(now, ttl),
        })
    }

    /// When the entry dies, on tokio's clock.
    pub(super) fn at(&self) -> Instant {
        self.at
    }

    /// Whether the entry is dead at `now` (tokio's clock).
    #[inline]
    pub(super) fn passed(&self, now: Instant) -> bool {
        self.at <= now
    }

    /// Whether the entry is dead now: the coarse clock first, tokio's only
    /// near the end.
    #[inline]
    pub(super) fn passed_now(&self) -> bool {
        if coarse::now_nanos().is_some_and(|c| c < self.surely_live_before) {
            return false;
        }
        self.passed(Instant::now())
    }
}

/// The coarse instant before which an entry written at `now` for `ttl` is
/// surely live, or 0.
fn coarse_vouching(now: Instant, ttl: Duration) -> u64 {
    let Some(coarse_now) = coarse::now_nanos() else {
        return 0;
    };
    // `now` was read a moment ago: if tokio's clock still reads the same,
    // it stands still (paused), and only it can tell when the entry dies.
    // A clock too coarse to move between two reads lands here too, safely.
    if Instant::now() == now {
        return 0;
    }
    // The coarse clock is behind the precise one, so counting the TTL from
    // its reading ends early, never late.
    let ttl = u64::try_from(ttl.saturating_sub(MARGIN).as_nanos()).unwrap_or(u64::MAX);
    if ttl == 0 {
        return 0;
    }
    coarse_now.saturating_add(ttl)
}

/// The kernel's coarse monotonic clock, where there is one.
mod coarse {
    /// Nanoseconds since an arbitrary start, as of the last tick.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[inline]
    pub(super) fn now_nanos() -> Option<u64> {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
        // Monotonic time is never negative.
        let secs = u64::try_from(t.tv_sec).ok()?;
        let nanos = u64::try_from(t.tv_nsec).ok()?;
        Some(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    /// No coarse clock here: every check reads tokio's clock.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    #[inline]
    pub(super) fn now_nanos() -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paused_time_gets_no_coarse_vouching() {
        let d = Deadline::after(Instant::now(), Duration::from_secs(600)).unwrap();
        assert_eq!(d.surely_live_before, 0);
        assert!(!d.passed_now());
        tokio::time::advance(Duration::from_secs(600)).await;
        assert!(d.passed_now(), "tokio's clock decides under pause");
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[tokio::test]
    async fn running_time_is_vouched_for_until_the_margin() {
        let before = coarse::now_nanos().unwrap();
        let ttl = Duration::from_secs(600);
        let d = Deadline::after(Instant::now(), ttl).unwrap();
        let after = coarse::now_nanos().unwrap();
        let span = (ttl - MARGIN).as_nanos() as u64;
        assert!(
            (before + span..=after + span).contains(&d.surely_live_before),
            "{} not within [{}, {}]",
            d.surely_live_before,
            before + span,
            after + span
        );
        assert!(!d.passed_now());
        // Within the margin, the coarse clock has no say.
        let short = Deadline::after(Instant::now(), MARGIN).unwrap();
        assert_eq!(short.surely_live_before, 0);
    }

    /// What the margin relies on: the coarse clock never reads ahead of the
    /// precise one (it is the same clock, as of the last tick).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn the_coarse_clock_lags_the_precise_one() {
        use rustix::time::{ClockId, clock_gettime};
        let nanos =
            |t: rustix::time::Timespec| t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128;
        for _ in 0..10_000 {
            let coarse = coarse::now_nanos().unwrap() as i128;
            let precise = nanos(clock_gettime(ClockId::Monotonic));
            assert!(
                coarse <= precise,
                "coarse {coarse} ahead of precise {precise}"
            );
        }
    }

    #[tokio::test]
    async fn an_unreachable_deadline_is_none() {
        assert!(Deadline::after(Instant::now(), Duration::MAX).is_none());
    }
}

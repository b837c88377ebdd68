//! Time to live: how long a stored value lives.
//!
//! A TTL is a [`Duration`], a whole number of seconds, or a string of
//! `<number><unit>` parts in descending order: `"1d2h3m50s"`, `"90s"`,
//! `"250ms"`. Units are `d`, `h`, `m`, `s`, `ms`. Anything else (`"1h30"`,
//! `"1.5s"`, `"abc"`, `""`) is an error, never a silent truncation. The parser
//! is a `const fn`, so the attribute macros reject a malformed literal at
//! compile time.
//!
//! Every [`Duration`] longer than zero is a valid TTL, up to
//! [`Duration::MAX`]. A TTL longer than a backend can represent is clamped
//! to the longest one it can: the memory backend's entry then never
//! expires (its deadline would lie past what [`std::time::Instant`]
//! holds), Redis keeps it for 2^52 ms (about 142,000 years; `PX` overflows
//! past `i64` milliseconds), and memcached until its largest expiry time,
//! 2038-01-19 (a 32-bit Unix time). Marks the strategies compute from a TTL
//! (early, soft, circuit breaker) saturate the same way, so no TTL panics.

use std::time::Duration;

use crate::error::{Error, Result};

/// Why a TTL string was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TtlSyntaxError {
    Empty,
    MissingNumber,
    MissingUnit,
    Fraction,
    UnknownUnit,
    Order,
    Overflow,
    Zero,
}

impl TtlSyntaxError {
    pub(crate) const fn message(self) -> &'static str {
        match self {
            Self::Empty => "a ttl string is empty",
            Self::MissingNumber => "a ttl unit has no number before it",
            Self::MissingUnit => "a ttl number has no unit after it (units: d, h, m, s, ms)",
            Self::Fraction => "a ttl has a fractional number; use a smaller unit (\"1500ms\")",
            Self::UnknownUnit => "a ttl has an unknown unit (units: d, h, m, s, ms)",
            Self::Order => "ttl units must appear once each, largest first (\"1d2h3m4s\")",
            Self::Overflow => "a ttl is too large",
            Self::Zero => "a ttl must be longer than zero",
        }
    }
}

/// Parses `"1d2h3m50s"` into a [`Duration`] in a `const` context.
///
/// Used by the attribute macros (through `__private`) so that a malformed
/// literal fails the build.
#[allow(
    clippy::indexing_slicing,
    reason = "every index is checked against `b.len()` just before; a const fn cannot call `get`"
)]
pub(crate) const fn parse_const(s: &str) -> std::result::Result<Duration, TtlSyntaxError> {
    const UNITS_MS: [u64; 5] = [86_400_000, 3_600_000, 60_000, 1_000, 1];
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(TtlSyntaxError::Empty);
    }
    let mut i = 0;
    let mut total: u64 = 0;
    // Index into UNITS_MS of the next unit allowed: enforces "largest first, once each".
    let mut next_unit = 0;
    while i < b.len() {
        let start = i;
        let mut n: u64 = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            n = match n.checked_mul(10) {
                Some(v) => match v.checked_add((b[i] - b'0') as u64) {
                    Some(v) => v,
                    None => return Err(TtlSyntaxError::Overflow),
                },
                None => return Err(TtlSyntaxError::Overflow),
            };
            i += 1;
        }
        if i < b.len() && (b[i] == b'.' || b[i] == b',') {
            return Err(TtlSyntaxError::Fraction);
        }
        if i == start {
            return Err(if b[i].is_ascii_alphabetic() {
                TtlSyntaxError::MissingNumber
            } else {
                TtlSyntaxError::UnknownUnit
            });
        }
        if i == b.len() {
            return Err(TtlSyntaxError::MissingUnit);
        }
        let unit = match b[i] {
            b'd' => 0,
            b'h' => 1,
            b'm' if i + 1 < b.len() && b[i + 1] == b's' => {
                i += 1;
                4
            }
            b'm' => 2,
            b's' => 3,
            _ => return Err(TtlSyntaxError::UnknownUnit),
        };
        i += 1;
        if unit < next_unit {
            return Err(TtlSyntaxError::Order);
        }
        next_unit = unit + 1;
        total = match n.checked_mul(UNITS_MS[unit]) {
            Some(ms) => match total.checked_add(ms) {
                Some(t) => t,
                None => return Err(TtlSyntaxError::Overflow),
            },
            None => return Err(TtlSyntaxError::Overflow),
        };
    }
    if total == 0 {
        return Err(TtlSyntaxError::Zero);
    }
    Ok(Duration::from_millis(total))
}

/// `d` in whole milliseconds, saturating at `u64::MAX` (585 million years):
/// what the strategies add to wall-clock milliseconds.
pub(crate) fn saturating_millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Parses a TTL string such as `"1d2h3m50s"`, `"90s"` or `"250ms"`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(cashews::parse_ttl("1h30m").unwrap(), Duration::from_secs(5400));
/// assert!(cashews::parse_ttl("1h30").unwrap_err().is_ttl());
/// assert!(cashews::parse_ttl("1.5s").is_err());
/// ```
pub fn parse_ttl(s: &str) -> Result<Duration> {
    parse_const(s).map_err(|e| Error::ttl(format!("{:?}: {}", s, e.message())))
}

/// Anything that can say how long a value lives: a [`Duration`], whole
/// seconds, a TTL string, or `None` for "no expiry".
///
/// ```
/// use std::time::Duration;
/// use cashews::IntoTtl;
/// assert_eq!(60.into_ttl().unwrap(), Some(Duration::from_secs(60)));
/// assert_eq!("2m".into_ttl().unwrap(), Some(Duration::from_secs(120)));
/// assert_eq!(None::<Duration>.into_ttl().unwrap(), None);
/// assert!(Duration::ZERO.into_ttl().is_err());
/// ```
pub trait IntoTtl {
    /// The TTL, `None` meaning the value never expires.
    fn into_ttl(self) -> Result<Option<Duration>>;
}

fn positive(d: Duration) -> Result<Option<Duration>> {
    if d.is_zero() {
        Err(Error::ttl(TtlSyntaxError::Zero.message()))
    } else {
        Ok(Some(d))
    }
}

impl IntoTtl for Duration {
    fn into_ttl(self) -> Result<Option<Duration>> {
        positive(self)
    }
}

impl IntoTtl for Option<Duration> {
    fn into_ttl(self) -> Result<Option<Duration>> {
        self.map_or(Ok(None), positive)
    }
}

impl IntoTtl for &str {
    fn into_ttl(self) -> Result<Option<Duration>> {
        parse_ttl(self).map(Some)
    }
}

impl IntoTtl for &String {
    fn into_ttl(self) -> Result<Option<Duration>> {
        self.as_str().into_ttl()
    }
}

impl IntoTtl for String {
    fn into_ttl(self) -> Result<Option<Duration>> {
        self.as_str().into_ttl()
    }
}

macro_rules! seconds_ttl {
    ($($t:ty),*) => {$(
        impl IntoTtl for $t {
            fn into_ttl(self) -> Result<Option<Duration>> {
                let secs = u64::try_from(self)
                    .map_err(|_| Error::ttl(format!("{self} seconds: a ttl must be positive")))?;
                positive(Duration::from_secs(secs))
            }
        }
    )*};
}
seconds_ttl!(i32, i64, u32, u64, usize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_unit_in_order() {
        let d = parse_ttl("1d2h3m50s250ms").unwrap();
        assert_eq!(
            d.as_millis(),
            ((86_400 + 7_200 + 180 + 50) * 1_000 + 250) as u128
        );
        assert_eq!(parse_ttl("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_ttl("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_ttl("250ms").unwrap(), Duration::from_millis(250));
    }

    #[test]
    fn rejects_malformed_strings() {
        for (input, cause) in [
            ("", TtlSyntaxError::Empty),
            ("1h30", TtlSyntaxError::MissingUnit),
            ("60", TtlSyntaxError::MissingUnit),
            ("1.5s", TtlSyntaxError::Fraction),
            ("abc", TtlSyntaxError::MissingNumber),
            ("h", TtlSyntaxError::MissingNumber),
            ("5x", TtlSyntaxError::UnknownUnit),
            (" 5s", TtlSyntaxError::UnknownUnit),
            ("5s ", TtlSyntaxError::UnknownUnit),
            ("-5s", TtlSyntaxError::UnknownUnit),
            ("1m1h", TtlSyntaxError::Order),
            ("1s1s", TtlSyntaxError::Order),
            ("0s", TtlSyntaxError::Zero),
            ("99999999999999999999s", TtlSyntaxError::Overflow),
            ("9999999999999999d", TtlSyntaxError::Overflow),
        ] {
            assert_eq!(parse_const(input), Err(cause), "{input:?}");
            let err = parse_ttl(input).unwrap_err();
            assert!(err.is_ttl());
            assert!(err.to_string().contains(&format!("{input:?}")), "{err}");
        }
    }

    #[test]
    fn seconds_and_durations() {
        assert_eq!(5u64.into_ttl().unwrap(), Some(Duration::from_secs(5)));
        assert!((-1).into_ttl().unwrap_err().is_ttl());
        assert!(0.into_ttl().is_err());
        assert!(Some(Duration::ZERO).into_ttl().is_err());
        assert_eq!(
            String::from("1h").into_ttl().unwrap(),
            Some(Duration::from_secs(3600))
        );
    }
}

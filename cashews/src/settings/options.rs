//! The query options of a setup URL, and how an error may quote a URL.

use std::borrow::Cow;
use std::time::Duration;

use super::{COMMON_OPTIONS, MEMCACHED_OPTIONS, MEMORY_OPTIONS, REDIS_OPTIONS};
use crate::error::{Error, Result};
use crate::ttl::parse_ttl;

/// The option that `value` holds as `name=` (or `name:`) at its start or
/// after `?`, `;`, `#`, `&` or a space: a mistyped separator that would
/// hide that option (a `hash_key` left unused) inside another option's
/// value. A `hash_key` anywhere in it counts: its secret would follow.
pub(super) fn swallowed_option(value: &str) -> Option<&'static str> {
    let value = value.to_ascii_lowercase();
    [
        COMMON_OPTIONS,
        MEMORY_OPTIONS,
        REDIS_OPTIONS,
        MEMCACHED_OPTIONS,
    ]
    .into_iter()
    .flatten()
    .copied()
    .find(|name| {
        value.match_indices(name).any(|(at, _)| {
            let before = value.get(..at).and_then(|b| b.chars().next_back());
            let after = value.get(at + name.len()..).unwrap_or_default();
            matches!(before, None | Some('?' | ';' | '#' | '&' | ' '))
                && after.starts_with(['=', ':'])
        }) || (*name == "hash_key" && holds_hash_key(&value))
    })
}

/// A host name or an IP address (`:` and a `%zone` for IPv6). Anything
/// else is a mistyped URL (an option without its `?`), refused rather
/// than looked up or shown.
pub(super) fn check_host(host: &str) -> Result<()> {
    if !holds_hash_key(host)
        && host
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '%'))
    {
        Ok(())
    } else {
        Err(Error::settings(format!(
            "{:?} is not a host name or an IP address",
            redacted(host)
        )))
    }
}

/// Whether a piece that is not an option holds a `hash_key` option glued
/// to it by a mistyped separator: its secret would follow.
pub(super) fn holds_hash_key(piece: &str) -> bool {
    piece.to_ascii_lowercase().contains("hash_key")
}

pub(super) fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// A piece of a setup URL as an error may quote it: user info (everything
/// up to the last `@`) and everything from a `hash_key` on (also when
/// percent-encoded) replaced by `***`. Every piece an error quotes goes
/// through it: a mistyped URL puts secrets in any piece.
pub(super) fn redacted(piece: &str) -> Cow<'_, str> {
    let mut shown = Cow::Borrowed(piece);
    if let Some((_, after)) = piece.rsplit_once('@') {
        shown = Cow::Owned(format!("***@{after}"));
    }
    let cut = shown.char_indices().find_map(|(at, _)| {
        let rest = decode(shown.get(at..).unwrap_or_default());
        rest.get(..8)
            .is_some_and(|name| name.eq_ignore_ascii_case("hash_key"))
            .then_some(at)
    });
    if let Some(at) = cut {
        let before = shown.get(..at).unwrap_or_default();
        shown = Cow::Owned(format!("{before}hash_key=***"));
    }
    shown
}

pub(super) fn bad_value(option: &str, value: &str, expected: &str) -> Error {
    Error::settings(format!(
        "bad value {:?} for option `{option}`; expected {expected}",
        redacted(value)
    ))
}

/// Query options not yet consumed; anything left unknown is rejected up front.
pub(super) struct Options(Vec<(String, String)>);

impl Options {
    pub(super) fn parse(scheme: &str, query: &str) -> Result<Self> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if pairs.iter().any(|(seen, _)| *seen == k) {
                return Err(Error::settings(format!(
                    "option `{}` is given twice in the {}:// URL",
                    redacted(&k),
                    redacted(scheme)
                )));
            }
            if let Some(name) = swallowed_option(&v) {
                return Err(Error::settings(format!(
                    "the value of option `{}` holds `{name}=`: separate options with `&`",
                    redacted(&k)
                )));
            }
            pairs.push((k.into_owned(), v.into_owned()));
        }
        Ok(Self(pairs))
    }

    /// Rejects any option that is neither common nor in `specific`.
    pub(super) fn allow(&self, specific: &[&str]) -> Result<()> {
        for (k, _) in &self.0 {
            if !COMMON_OPTIONS.contains(&k.as_str()) && !specific.contains(&k.as_str()) {
                let accepted: Vec<&str> = COMMON_OPTIONS.iter().chain(specific).copied().collect();
                return Err(Error::settings(format!(
                    "unknown option `{}`; accepted: {}",
                    redacted(k),
                    accepted.join(", ")
                )));
            }
        }
        Ok(())
    }

    pub(super) fn take(&mut self, name: &str) -> Result<Option<String>> {
        Ok(self
            .0
            .iter()
            .position(|(k, _)| k == name)
            .map(|i| self.0.swap_remove(i).1))
    }

    pub(super) fn take_bool(&mut self, name: &str) -> Result<Option<bool>> {
        let Some(v) = self.take(name)? else {
            return Ok(None);
        };
        match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(Some(true)),
            "0" | "false" | "no" | "off" => Ok(Some(false)),
            _ => Err(bad_value(
                name,
                &v,
                "one of 1, 0, true, false, yes, no, on, off",
            )),
        }
    }

    /// A size in bytes above 0: digits, then optionally `B`, `KiB`, `MiB`
    /// or `GiB` (any case).
    pub(super) fn take_size(&mut self, name: &str) -> Result<Option<usize>> {
        let Some(v) = self.take(name)? else {
            return Ok(None);
        };
        let digits = v.bytes().take_while(u8::is_ascii_digit).count();
        let (number, unit) = v.split_at(digits);
        let shift = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => Some(0),
            "kib" => Some(10),
            "mib" => Some(20),
            "gib" => Some(30),
            _ => None,
        };
        let bytes = shift.and_then(|shift| {
            let n = number.parse::<usize>().ok()?;
            n.checked_mul(1_usize.checked_shl(shift)?)
        });
        match bytes {
            Some(n) if n > 0 => Ok(Some(n)),
            _ => Err(bad_value(
                name,
                &v,
                "a size above 0 in bytes (1048576) or KiB, MiB, GiB (16MiB)",
            )),
        }
    }

    pub(super) fn take_duration(&mut self, name: &str) -> Result<Option<Duration>> {
        let Some(v) = self.take(name)? else {
            return Ok(None);
        };
        let seconds = v
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9);
        let duration = match seconds {
            Some(s) => Some(Duration::from_secs_f64(s)),
            None => parse_ttl(&v).ok(),
        };
        // At least a millisecond: less rounds to zero on every backend, and
        // a timer of zero panics.
        duration
            .filter(|d| *d >= Duration::from_millis(1))
            .map(Some)
            .ok_or_else(|| {
                bad_value(
                    name,
                    &v,
                    "positive seconds (0.5) or a duration (500ms, 2s), at least 1ms",
                )
            })
    }
}

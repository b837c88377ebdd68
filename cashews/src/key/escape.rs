//! Escaping of the values keys hold: `:` as `%3A` and `%` as `%25`, so
//! that a value never holds the separator; in patterns, glob characters
//! after that.

use std::borrow::Cow;

use super::KeyBuf;

/// The bytes every key escapes in its values: the separator, and `%`
/// that escapes it.
#[inline]
pub(super) fn is_separator(b: u8) -> bool {
    matches!(b, b':' | b'%')
}

/// The bytes a pattern escapes (with `\`) in its values and literal text.
pub(super) fn is_glob(b: u8) -> bool {
    matches!(b, b'*' | b'?' | b'[' | b']' | b'\\')
}

/// Whether `bytes` hold `:` or `%`: eight bytes at a time (the last word
/// overlapping the one before), shorter values byte by byte. Hand-written
/// (a dozen lines, checked against the byte loop by a property test)
/// because every key building runs it and a byte loop costs more there.
#[inline]
pub(super) fn has_separator(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    /// Whether a byte of `word` is `b` (the zero-byte test on `word ^ b…b`).
    fn holds(word: u64, b: u8) -> bool {
        let x = word ^ (ONES * u64::from(b));
        x.wrapping_sub(ONES) & !x & HIGHS != 0
    }
    #[inline(always)]
    fn word(chunk: &[u8]) -> bool {
        <[u8; 8]>::try_from(chunk).is_ok_and(|w| {
            let w = u64::from_le_bytes(w);
            holds(w, b':') | holds(w, b'%')
        })
    }
    match bytes.len().checked_sub(8) {
        None => bytes.iter().any(|&b| is_separator(b)),
        Some(last) => bytes.chunks_exact(8).any(word) || bytes.get(last..).is_some_and(word),
    }
}

pub(super) fn escape_separator(c: char, out: &mut KeyBuf) {
    out.push_str(if c == ':' { "%3A" } else { "%25" });
}

pub(super) fn escape_glob(c: char, out: &mut KeyBuf) {
    out.push('\\');
    out.push(c);
}

/// `value` escaped as keys escape the values they write: `:` as `%3A`, `%`
/// as `%25`. For keys and patterns written by hand that must meet the
/// attributes' keys (escape a pattern's values with this, then with
/// [`pattern::escape`](crate::pattern::escape)).
///
/// ```
/// use cashews::key::escape;
/// assert_eq!(escape("b:c"), "b%3Ac");
/// assert_eq!(escape("100%"), "100%25");
/// assert_eq!(escape("plain"), "plain");
/// ```
pub fn escape(value: &str) -> Cow<'_, str> {
    if !value.bytes().any(is_separator) {
        return Cow::Borrowed(value);
    }
    let mut out = KeyBuf::with_capacity(value.len() + 8);
    out.push_str(value);
    escape_tail(&mut out, 0, is_separator, escape_separator);
    Cow::Owned(out.into_string())
}

/// Rewrites the ASCII characters of `out[start..]` that `special` picks;
/// with none, it writes nothing and allocates nothing.
pub(super) fn escape_tail(
    out: &mut KeyBuf,
    start: usize,
    special: impl Fn(u8) -> bool,
    replace: impl Fn(char, &mut KeyBuf),
) {
    let Some(first) = out
        .as_bytes()
        .get(start..)
        .and_then(|tail| tail.iter().position(|&b| special(b)))
    else {
        return;
    };
    rewrite_tail(out, start + first, special, replace);
}

/// [`escape_tail`] from `from`, the first special byte (an ASCII
/// character, so a character boundary).
#[cold]
fn rewrite_tail(
    out: &mut KeyBuf,
    from: usize,
    special: impl Fn(u8) -> bool,
    replace: impl Fn(char, &mut KeyBuf),
) {
    let Some(tail) = out.get(from..).map(str::to_owned) else {
        return;
    };
    out.truncate(from);
    for c in tail.chars() {
        if c.is_ascii() && special(c as u8) {
            replace(c, out);
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn the_word_scan_finds_what_a_byte_scan_finds(bytes in proptest::collection::vec(
            proptest::sample::select(vec![0u8, b':', b'%', b'9', b';', b'$', 0x80, 0xba, 0xff]),
            0..40,
        )) {
            proptest::prop_assert_eq!(has_separator(&bytes), bytes.iter().any(|&b| is_separator(b)));
        }
    }

    #[test]
    fn escape_borrows_what_needs_no_escaping() {
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(escape("é:ß%"), "é%3Aß%25");
    }
}

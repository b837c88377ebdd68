//! Redis glob patterns: matching and escaping.
//!
//! Every backend treats patterns exactly as Redis's `SCAN … MATCH` does, so a
//! pattern that works on Redis works on memory too. The matcher is a port of
//! Redis's `stringmatchlen` (util.c), written by hand because glob crates
//! differ from Redis on the details that matter here: `[^…]`, reversed
//! ranges `[z-a]`, `\` escapes inside classes, an unclosed `[` and byte-wise
//! (not Unicode) matching.

use std::borrow::Cow;

/// Whether `key` matches the Redis glob `pattern`.
///
/// ```
/// use cashews::pattern::glob_match;
/// assert!(glob_match("user:*:profile", "user:42:profile"));
/// assert!(glob_match("h[a-e]llo", "hello"));
/// assert!(glob_match(r"literal\*", "literal*"));
/// assert!(!glob_match(r"literal\*", "literally"));
/// ```
pub fn glob_match(pattern: &str, key: &str) -> bool {
    // SCAN and KEYS skip matching for a lone `*`, so it matches even the
    // empty key, which `stringmatchlen` alone would not.
    if pattern == "*" {
        return true;
    }
    let mut skip_longer = false;
    matches(pattern.as_bytes(), key.as_bytes(), &mut skip_longer, 0)
}

/// Escapes the glob characters `*`, `?`, `[`, `]` and `\` of `value`, so it
/// can be placed in a pattern and match only itself.
///
/// ```
/// use cashews::pattern::{escape, glob_match};
/// let pattern = format!("user:{}:*", escape("*"));
/// assert!(glob_match(&pattern, "user:*:orders"));
/// assert!(!glob_match(&pattern, "user:alice:orders"));
/// ```
pub fn escape(value: &str) -> Cow<'_, str> {
    if !value.contains(is_special) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 4);
    for c in value.chars() {
        if is_special(c) {
            out.push('\\');
        }
        out.push(c);
    }
    Cow::Owned(out)
}

fn is_special(c: char) -> bool {
    matches!(c, '*' | '?' | '[' | ']' | '\\')
}

/// Whether `pattern` has no glob metacharacter (`*`, `?`, `[`) outside a
/// `\` escape: then it matches exactly one key, [`unescape`]`(pattern)`,
/// which can be deleted or read directly instead of by a scan.
///
/// ```
/// use cashews::pattern::is_literal;
/// assert!(is_literal(r"user:\*:profile"));
/// assert!(!is_literal("user:*:profile"));
/// ```
pub fn is_literal(pattern: &str) -> bool {
    let mut bytes = pattern.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'*' | b'?' | b'[' => return false,
            // The escaped byte is literal, whatever it is.
            b'\\' => {
                bytes.next();
            }
            _ => {}
        }
    }
    true
}

/// The key a [literal](is_literal) pattern matches: every `\x` becomes
/// `x` (a lone `\` at the end stays, as it matches itself). The inverse of
/// [`escape`].
///
/// ```
/// use cashews::pattern::{escape, unescape};
/// assert_eq!(unescape(r"user:\*:profile"), "user:*:profile");
/// assert_eq!(unescape(&escape("a*b[c]?\\")), "a*b[c]?\\");
/// ```
pub fn unescape(pattern: &str) -> Cow<'_, str> {
    if !pattern.contains('\\') {
        return Cow::Borrowed(pattern);
    }
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '\\' => chars.next().unwrap_or('\\'),
            other => other,
        });
    }
    Cow::Owned(out)
}

/// Redis compares bytes as C `char`, which is signed on the platforms it is
/// mostly run on; ranges over bytes above 0x7f follow that.
fn signed(b: u8) -> i8 {
    b as i8
}

#[allow(
    clippy::indexing_slicing,
    reason = "the loop runs while `p` and `s` are non-empty; each arm checks the lengths it steps over"
)]
fn matches(mut p: &[u8], mut s: &[u8], skip_longer: &mut bool, nesting: u32) -> bool {
    // Redis's guard against patterns built to recurse without end.
    if nesting > 1000 {
        return false;
    }
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if matches(&p[1..], s, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s = &s[1..];
                }
                // No match for the rest anywhere in the rest of the string:
                // earlier stars cannot help by matching longer (Redis's shortcut).
                *skip_longer = true;
                return false;
            }
            b'?' => s = &s[1..],
            b'[' => {
                p = &p[1..];
                let negate = p.first() == Some(&b'^');
                if negate {
                    p = &p[1..];
                }
                let c = s[0];
                let mut hit = false;
                loop {
                    match p {
                        [b'\\', escaped, ..] => {
                            p = &p[1..];
                            hit |= *escaped == c;
                        }
                        [b']', ..] => break,
                        [] => {
                            // Unclosed class: Redis treats the end of the pattern as `]`.
                            break;
                        }
                        [start, b'-', end, ..] => {
                            let (mut lo, mut hi) = (signed(*start), signed(*end));
                            if lo > hi {
                                std::mem::swap(&mut lo, &mut hi);
                            }
                            hit |= (lo..=hi).contains(&signed(c));
                            p = &p[2..];
                        }
                        [other, ..] => hit |= *other == c,
                    }
                    p = &p[1..];
                }
                if hit == negate {
                    return false;
                }
                s = &s[1..];
                if p.is_empty() {
                    // The class ran to the end of the pattern; nothing is left to step past.
                    return s.is_empty();
                }
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                if p[0] != s[0] {
                    return false;
                }
                s = &s[1..];
            }
            other => {
                if other != s[0] {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
        if s.is_empty() {
            while p.first() == Some(&b'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_questions() {
        assert!(glob_match("*", ""));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("a*", "a"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(!glob_match("", "a"));
        assert!(!glob_match("**", ""));
        assert!(glob_match("**a", "ba"));
    }

    #[test]
    fn classes() {
        assert!(glob_match("h[ae]llo", "hallo"));
        assert!(!glob_match("h[ae]llo", "hillo"));
        assert!(glob_match("h[^e]llo", "hallo"));
        assert!(!glob_match("h[^e]llo", "hello"));
        assert!(glob_match("h[a-b]llo", "hbllo"));
        assert!(glob_match("h[z-a]llo", "hqllo"));
        assert!(glob_match(r"[\]]", "]"));
        assert!(glob_match(r"[\-]", "-"));
        // `a-]` is the range `]`..`a`, then the class is unclosed (as on Redis).
        assert!(glob_match("[a-]", "a"));
        assert!(glob_match("[a-]", "_"));
        assert!(!glob_match("[a-]", "-"));
        // Unclosed class: Redis treats the pattern end as `]`.
        assert!(glob_match("a[bc", "ab"));
        assert!(!glob_match("a[bc", "abx"));
    }

    #[test]
    fn escapes() {
        assert!(glob_match(r"\*", "*"));
        assert!(!glob_match(r"\*", "x"));
        assert!(glob_match(r"a\?", "a?"));
        assert!(!glob_match(r"a\?", "ab"));
        // A lone trailing backslash matches itself.
        assert!(glob_match("a\\", "a\\"));
    }

    #[test]
    fn escape_round_trips_hostile_values() {
        for hostile in ["*", "?", "[", "]", "\\", "a*b?[c]\\", "plain"] {
            let pattern = format!("user:{}:*", escape(hostile));
            assert!(
                glob_match(&pattern, &format!("user:{hostile}:x")),
                "{pattern}"
            );
            assert!(!glob_match(&pattern, "user:other:x"), "{pattern}");
        }
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
    }

    /// Strings over an alphabet rich in glob characters, escapes and
    /// multi-byte characters, so that the properties meet every case.
    fn globby() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::string::string_regex(r"[ab:%*?\[\]\\^\-é🦀]{0,10}").expect("a valid regex")
    }

    proptest::proptest! {
        #[test]
        fn escaped_values_are_literal_and_match_only_themselves(s in globby(), other in globby()) {
            let escaped = escape(&s);
            proptest::prop_assert!(is_literal(&escaped));
            proptest::prop_assert_eq!(unescape(&escaped), s.as_str());
            proptest::prop_assert!(glob_match(&escaped, &s));
            proptest::prop_assert_eq!(glob_match(&escaped, &other), other == s);
        }

        #[test]
        fn a_literal_pattern_matches_its_unescaped_key_and_nothing_else(
            pattern in globby(),
            key in globby(),
        ) {
            if is_literal(&pattern) {
                let exact = unescape(&pattern);
                proptest::prop_assert!(glob_match(&pattern, &exact), "{:?} {:?}", pattern, exact);
                proptest::prop_assert_eq!(glob_match(&pattern, &key), key == exact);
            } else {
                // A metacharacter makes it a pattern: some other key matches it.
                proptest::prop_assert!(pattern.contains(['*', '?', '[']));
            }
        }
    }

    #[test]
    fn abusive_patterns_end() {
        let pattern = "*a".repeat(50) + "b";
        let key = "a".repeat(60);
        assert!(!glob_match(&pattern, &key));
    }
}

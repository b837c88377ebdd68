//! Cache keys: how the arguments of a call become text.
//!
//! The attributes build keys in two ways:
//!
//! - **Default key**: the function's path, then `:name:value` for each
//!   argument (`self` left out): `my_app::users::get_user:id:42`.
//! - **Template** (`key = "user:{id}"`): the text as written, with each
//!   `{…}` replaced by an argument (`{id}`), a field of one (`{user.id}`,
//!   `{pair.0}`), or either through a filter:
//!
//! | filter | writes |
//! |---|---|
//! | `{token:hash}` | the first 32 hex digits of the BLAKE3 hash of the value |
//! | `{name:lower}` / `{name:upper}` | the value in lower / upper case |
//! | `{items:len}` | `items.len()` |
//! | `{id:display}` | the value through its `Display` (for types that are not [`KeyArg`]) |
//!
//! Keys are injective: two calls never share a key unless everything the
//! key writes is the same for both. Every value, in both kinds of key and
//! after any filter, is escaped (`:` as `%3A`, `%` as `%25`), so that a
//! value never holds the separator, and a template must put a `:` between
//! any two values (the build fails otherwise; a `hash` value, fixed in
//! width, may be followed directly). What a key leaves out is many-to-one
//! by design: parameters a template does not name, and the filters `hash`,
//! `lower`, `upper` and `len`; `display` is as injective as the type's
//! `Display` (for a type whose `Display` writes two values alike, implement
//! [`KeyArg`]). Invalidation patterns and probes escape values the same
//! way, then escape glob characters, so they match exactly the keys they
//! name; [`escape`] does the same for keys and patterns written by hand.
//!
//! Values are written by [`KeyArg`]: integers, floats, `bool`, `char`,
//! strings, `Option`s of those (`None`, `Some(v)`) and references or smart
//! pointers to them. Keys are the same in every process and every version
//! of the program: nothing here hashes with a random seed.
//!
//! `hash` uses BLAKE3 (already the signing hash) because it is stable
//! across platforms and releases and fast; it keeps 128 bits (32 hex
//! digits), which makes a collision between two values of one key space
//! negligible (about 2⁻⁶⁴ after 2³² values) while halving the key compared
//! to the full hash: keys are stored with every value, and memcached caps
//! them at 250 bytes.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt::{self, Write};
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Waker};

use crate::cache::Cache;
use crate::error::{Error, ErrorKind, Result};
use crate::pattern;

pub use self::buf::KeyBuf;

mod buf;

/// A value that can be written into a cache key.
///
/// Implemented for integers, floats, `bool`, `char`, strings, `Option<T>`
/// and references and smart pointers to those. Each implementation must
/// write different text for different values, or two calls would share a
/// key; it may write any text (`:` and `%` are escaped after it).
///
/// ```
/// use cashews::{KeyArg, KeyBuf};
///
/// struct UserId(u64);
///
/// impl KeyArg for UserId {
///     fn write_key(&self, out: &mut KeyBuf) {
///         out.push_str("u");
///         self.0.write_key(out);
///     }
/// }
///
/// let mut key = KeyBuf::new();
/// UserId(42).write_key(&mut key);
/// assert_eq!(key.as_str(), "u42");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be written into a cache key",
    label = "this value is part of the cache key",
    note = "implement `cashews::KeyArg` for `{Self}` (write text that differs for different values), \
            or give the attribute a `key` template that names formattable fields (`key = \"user:{{user.id}}\"`), \
            or use the `display` filter (`{{arg:display}}`) for a type with `Display`"
)]
pub trait KeyArg {
    /// Whether the text [`write_key`](Self::write_key) writes never holds
    /// `:`, `%` or a glob character (`* ? [ ] \\`), for every value: then
    /// keys skip looking for them. `true` for integers, `bool` and
    /// `Option`s of those; leave it `false` unless that holds.
    const PLAIN: bool = false;

    /// Appends this value to `out`.
    fn write_key(&self, out: &mut KeyBuf);
}

impl KeyArg for str {
    fn write_key(&self, out: &mut KeyBuf) {
        out.push_str(self);
    }
}

impl KeyArg for String {
    fn write_key(&self, out: &mut KeyBuf) {
        out.push_str(self);
    }
}

impl KeyArg for Cow<'_, str> {
    fn write_key(&self, out: &mut KeyBuf) {
        out.push_str(self);
    }
}

impl KeyArg for char {
    fn write_key(&self, out: &mut KeyBuf) {
        out.push(*self);
    }
}

impl KeyArg for bool {
    const PLAIN: bool = true;

    fn write_key(&self, out: &mut KeyBuf) {
        out.push_str(if *self { "true" } else { "false" });
    }
}

/// Floats: `Display` writes the shortest text that reads back as the same
/// bits (so `-0` and `0` differ), but every NaN as `NaN`; a NaN other than
/// the standard one is written with its bits (`NaN0x7ff8000000000001`).
macro_rules! float_key_arg {
    ($($t:ty),*) => {$(
        impl KeyArg for $t {
            fn write_key(&self, out: &mut KeyBuf) {
                // Writing to a KeyBuf cannot fail.
                if self.is_nan() && self.to_bits() != <$t>::NAN.to_bits() {
                    let _ = write!(out, "NaN{:#x}", self.to_bits());
                } else {
                    let _ = write!(out, "{self}");
                }
            }
        }
    )*};
}
float_key_arg!(f32, f64);

/// Integers go through `itoa`: keys are built on every call, hits
/// included, and `fmt` machinery costs several times more.
macro_rules! integer_key_arg {
    ($($t:ty),*) => {$(
        impl KeyArg for $t {
            const PLAIN: bool = true;

            #[inline]
            fn write_key(&self, out: &mut KeyBuf) {
                out.push_str(itoa::Buffer::new().format(*self));
            }
        }
    )*};
}
integer_key_arg!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize
);

impl<T: KeyArg> KeyArg for Option<T> {
    const PLAIN: bool = T::PLAIN;

    /// `None`, or `Some(value)`: distinct from every value written bare.
    fn write_key(&self, out: &mut KeyBuf) {
        match self {
            None => out.push_str("None"),
            Some(v) => {
                out.push_str("Some(");
                v.write_key(out);
                out.push(')');
            }
        }
    }
}

impl<T: KeyArg + ?Sized> KeyArg for &T {
    const PLAIN: bool = T::PLAIN;

    fn write_key(&self, out: &mut KeyBuf) {
        (**self).write_key(out);
    }
}

impl<T: KeyArg + ?Sized> KeyArg for &mut T {
    const PLAIN: bool = T::PLAIN;

    fn write_key(&self, out: &mut KeyBuf) {
        (**self).write_key(out);
    }
}

impl<T: KeyArg + ?Sized> KeyArg for Box<T> {
    const PLAIN: bool = T::PLAIN;

    fn write_key(&self, out: &mut KeyBuf) {
        (**self).write_key(out);
    }
}

impl<T: KeyArg + ?Sized> KeyArg for Rc<T> {
    const PLAIN: bool = T::PLAIN;

    fn write_key(&self, out: &mut KeyBuf) {
        (**self).write_key(out);
    }
}

impl<T: KeyArg + ?Sized> KeyArg for Arc<T> {
    const PLAIN: bool = T::PLAIN;

    fn write_key(&self, out: &mut KeyBuf) {
        (**self).write_key(out);
    }
}

/// The hex digits of a value's hash kept by the `hash` filter.
const HASH_HEX_LEN: usize = 32;

/// The `hash` filter: the first 32 hex digits of the BLAKE3 hash of `value`.
///
/// ```
/// assert_eq!(cashews::key::hash("secret-token").len(), 32);
/// assert_eq!(cashews::key::hash("a"), cashews::key::hash(&String::from("a")));
/// assert_ne!(cashews::key::hash("a"), cashews::key::hash("b"));
/// ```
pub fn hash<A: KeyArg + ?Sized>(value: &A) -> String {
    let digest = blake3::hash(written(value).as_bytes());
    let mut hex = digest.to_hex().to_string();
    hex.truncate(HASH_HEX_LEN);
    hex
}

/// How a [`KeyWriter`] renders what it is given.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// A key, as stored.
    Key,
    /// The key of a cached function turned into a pattern matching it:
    /// everything escaped, the wildcard parameters (a bit per parameter
    /// index) as `*`.
    Probe(u64),
    /// An invalidation pattern: its text is a glob, its values are escaped.
    Pattern,
}

/// Builds a key or a pattern; the code the attributes generate drives it.
///
/// Not meant to be used by hand (build a `String`); public for the macros.
///
/// It writes into a [`KeyBuf`] that the caller owns, so that the key is
/// built where it stays (in the decorated call's future): a key moved
/// after it is written costs a store-forwarding stall per copy, which
/// showed in the hit's cost (`benches/hot_paths.rs`, `key/*`).
#[doc(hidden)]
#[derive(Debug)]
pub struct KeyWriter<'a> {
    out: &'a mut KeyBuf,
    mode: Mode,
}

thread_local! {
    /// Set while [`probe`] polls a call: the wildcard mask for the key
    /// writer that the call creates first.
    static PROBE: Cell<Option<u64>> = const { Cell::new(None) };
    /// Where the probed call leaves its cache and pattern.
    static PROBED: RefCell<Option<(Cache, String)>> = const { RefCell::new(None) };
}

impl<'a> KeyWriter<'a> {
    /// The writer of a cached function's key into `out`. Inside [`probe`],
    /// it writes the pattern of that key instead.
    #[inline]
    pub fn new(out: &'a mut KeyBuf) -> Self {
        let mode = match PROBE.with(Cell::take) {
            None => Mode::Key,
            Some(wildcards) => Mode::Probe(wildcards),
        };
        Self { out, mode }
    }

    /// The writer of an invalidation pattern.
    pub fn pattern(out: &'a mut KeyBuf) -> Self {
        Self {
            out,
            mode: Mode::Pattern,
        }
    }

    /// Text of a key template (taken literally).
    #[inline]
    pub fn text(&mut self, text: &str) {
        match self.mode {
            Mode::Key => self.out.push_str(text),
            Mode::Probe(_) | Mode::Pattern => self.out.push_str(&pattern::escape(text)),
        }
    }

    /// Text of an invalidation pattern (a glob).
    pub fn glob(&mut self, glob: &str) {
        self.out.push_str(glob);
    }

    /// The value of parameter number `param` (or a field of it).
    #[inline]
    pub fn arg<A: KeyArg + ?Sized>(&mut self, param: u32, value: &A) {
        if A::PLAIN && !self.is_wildcard(param) {
            value.write_key(self.out);
            return;
        }
        self.value(param, |out| value.write_key(out));
    }

    /// `:name:value` of the default key.
    #[inline]
    pub fn named<A: KeyArg + ?Sized>(&mut self, param: u32, name: &str, value: &A) {
        self.text(name);
        if A::PLAIN && !self.is_wildcard(param) {
            value.write_key(self.out);
            return;
        }
        self.value(param, |out| value.write_key(out));
    }

    /// The `hash` filter.
    pub fn hash<A: KeyArg + ?Sized>(&mut self, param: u32, value: &A) {
        self.value(param, |out| out.push_str(&hash(value)));
    }

    /// The `lower` filter.
    pub fn lower<A: KeyArg + ?Sized>(&mut self, param: u32, value: &A) {
        self.value(param, |out| {
            out.push_str(&written(value).to_lowercase());
        });
    }

    /// The `upper` filter.
    pub fn upper<A: KeyArg + ?Sized>(&mut self, param: u32, value: &A) {
        self.value(param, |out| {
            out.push_str(&written(value).to_uppercase());
        });
    }

    /// The `display` filter.
    pub fn display<D: fmt::Display + ?Sized>(&mut self, param: u32, value: &D) {
        self.value(param, |out| {
            let _ = write!(out, "{value}");
        });
    }

    /// Whether parameter `param` is written as `*` (a probe's wildcard).
    #[inline]
    fn is_wildcard(&self, param: u32) -> bool {
        matches!(self.mode, Mode::Probe(wildcards) if param < 64 && wildcards & (1 << param) != 0)
    }

    /// Writes one value, escaped: `:` as `%3A` and `%` as `%25` in every
    /// mode, so that a value never holds the separator and one key has one
    /// reading; in patterns, glob characters too, after that. A key's value
    /// with nothing to escape costs one byte scan; a [`KeyArg::PLAIN`]
    /// value costs none (its callers write it directly).
    #[inline(always)]
    fn value(&mut self, param: u32, write: impl FnOnce(&mut KeyBuf)) {
        let start = self.out.len();
        if self.is_wildcard(param) {
            self.out.push('*');
            return;
        }
        write(self.out);
        let plain = self
            .out
            .as_bytes()
            .get(start..)
            .is_none_or(|value| !has_separator(value));
        if !plain || !matches!(self.mode, Mode::Key) {
            self.escape(start);
        }
    }

    /// Escapes the value written from `start` (see [`Self::value`]).
    #[cold]
    #[inline(never)]
    fn escape(&mut self, start: usize) {
        escape_tail(self.out, start, is_separator, escape_separator);
        if !matches!(self.mode, Mode::Key) {
            escape_tail(
                self.out,
                start,
                |b| matches!(b, b'*' | b'?' | b'[' | b']' | b'\\'),
                |c, out| {
                    out.push('\\');
                    out.push(c);
                },
            );
        }
    }

    /// Whether the key is ready. Inside [`probe`], hands the pattern and
    /// `cache` to the prober and returns `false`: the call it belongs to
    /// must then never complete (the attributes await
    /// `std::future::pending()`).
    ///
    /// Not `async`: an awaited `finish` would add its own state to every
    /// decorated call's future.
    #[inline]
    pub fn finish(self, cache: &Cache) -> bool {
        if let Mode::Probe(_) = self.mode {
            let pattern = self.out.as_str().to_owned();
            PROBED.with(|p| *p.borrow_mut() = Some((cache.clone(), pattern)));
            return false;
        }
        true
    }
}

/// The bytes every key escapes in its values: the separator, and `%`
/// that escapes it.
#[inline]
fn is_separator(b: u8) -> bool {
    matches!(b, b':' | b'%')
}

/// Whether `bytes` hold `:` or `%`: eight bytes at a time (the last word
/// overlapping the one before), shorter values byte by byte. Hand-written
/// (a dozen lines, checked against the byte loop by a property test)
/// because every key building runs it and a byte loop costs more there.
#[inline]
fn has_separator(bytes: &[u8]) -> bool {
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

fn escape_separator(c: char, out: &mut KeyBuf) {
    out.push_str(if c == ':' { "%3A" } else { "%25" });
}

/// `value` escaped as keys escape the values they write: `:` as `%3A`, `%`
/// as `%25`. For keys and patterns written by hand that must meet the
/// attributes' keys (escape a pattern's values with this, then with
/// [`pattern::escape`]).
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
fn escape_tail(
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

fn written<A: KeyArg + ?Sized>(value: &A) -> KeyBuf {
    let mut text = KeyBuf::new();
    value.write_key(&mut text);
    text
}

/// Finds the cache and the key pattern of a call to a cached function
/// without running it.
///
/// `call` is polled once with a probe set: the key writer of the cached
/// function, the first thing its body does, writes the key as a pattern
/// (parameters whose index is in `wildcards` as `*`, everything else
/// escaped) and stops the call there. Parameters are counted from 0,
/// `self` included.
///
/// A call of a function that is not a cached one is reported as an error,
/// but its code has run up to its first `.await` by then: only name
/// functions with a `#[cashews::cache]` attribute.
pub(crate) fn probe<F: Future>(call: F, wildcards: &[usize]) -> Result<(Cache, String)> {
    let mut mask = 0u64;
    for &i in wildcards {
        if i >= 64 {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("wildcard parameter {i}: only the first 64 parameters can be wildcards"),
            ));
        }
        mask |= 1 << i;
    }
    /// Clears the probe even if the call panics, so that no later key
    /// writer on this thread mistakes itself for a probed one.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            PROBE.with(|p| p.set(None));
        }
    }
    let call = std::pin::pin!(call);
    let reset = Reset;
    PROBE.with(|p| p.set(Some(mask)));
    let mut cx = Context::from_waker(Waker::noop());
    let poll = call.poll(&mut cx);
    drop(reset);
    match PROBED.with(|p| p.borrow_mut().take()) {
        Some(found) => Ok(found),
        None => Err(Error::new(
            ErrorKind::Unsupported,
            if poll.is_ready() {
                "the call to invalidate completed: it is not a #[cashews::cache] function"
            } else {
                "the call to invalidate built no cache key: it is not a #[cashews::cache] function"
            },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(build: impl FnOnce(&mut KeyWriter<'_>)) -> String {
        let mut out = KeyBuf::new();
        build(&mut KeyWriter::new(&mut out));
        out.into_string()
    }

    #[test]
    fn default_key_escapes_separators_so_arguments_cannot_collide() {
        let a = key(|w| {
            w.text("f");
            w.named(0, ":a:", "x:b:y");
            w.named(1, ":b:", "z");
        });
        let b = key(|w| {
            w.text("f");
            w.named(0, ":a:", "x");
            w.named(1, ":b:", "y:b:z");
        });
        assert_eq!(a, "f:a:x%3Ab%3Ay:b:z");
        assert_ne!(a, b);
        assert_eq!(key(|w| w.named(0, ":p:", "100%")), ":p:100%25");
    }

    #[test]
    fn template_values_are_escaped_like_default_ones() {
        let acl = |a: &str, b: &str| {
            key(|w| {
                w.text("acl:");
                w.arg(0, a);
                w.text(":");
                w.arg(1, b);
            })
        };
        assert_eq!(acl("a", "b:c"), "acl:a:b%3Ac");
        assert_eq!(acl("a:b", "c"), "acl:a%3Ab:c");
        assert_eq!(acl("%3A", ""), "acl:%253A:");
        assert_eq!(key(|w| w.upper(0, "a:b")), "A%3AB");
        assert_eq!(
            key(|w| w.display(0, &"::1".parse::<std::net::IpAddr>().unwrap())),
            "%3A%3A1"
        );
    }

    proptest::proptest! {
        #[test]
        fn the_word_scan_finds_what_a_byte_scan_finds(bytes in proptest::collection::vec(
            proptest::sample::select(vec![0u8, b':', b'%', b'9', b';', b'$', 0x80, 0xba, 0xff]),
            0..40,
        )) {
            proptest::prop_assert_eq!(has_separator(&bytes), bytes.iter().any(|&b| is_separator(b)));
        }

        #[test]
        fn plain_values_write_nothing_to_escape(
            i in proptest::num::i128::ANY,
            u in proptest::num::u64::ANY,
            b in proptest::bool::ANY,
            o in proptest::option::of(proptest::option::of(proptest::num::i8::ANY)),
        ) {
            fn check<A: KeyArg>(value: A) -> Result<(), proptest::test_runner::TestCaseError> {
                proptest::prop_assert!(A::PLAIN);
                let text = written(&value);
                proptest::prop_assert!(!text.contains([':', '%', '*', '?', '[', ']', '\\']), "{}", text);
                Ok(())
            }
            check(i)?;
            check(u)?;
            check(b)?;
            check(std::sync::Arc::new(o))?;
            check(Box::new(i as isize))?;
            check(u as u8)?;
        }
    }

    #[test]
    fn plain_values_are_written_as_they_are_in_every_mode() {
        let mut out = KeyBuf::new();
        let mut w = KeyWriter::pattern(&mut out);
        w.arg(0, &-12i64);
        w.named(1, ":b:", &Some(true));
        assert_eq!(out, "-12:b:Some(true)");
    }

    #[test]
    fn escape_is_what_keys_write() {
        for value in ["", "plain", "a:b", "%3A", "::%%", "é:ß"] {
            assert_eq!(escape(value), key(|w| w.arg(0, value)), "{value:?}");
        }
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn floats_keep_their_sign_and_nan_payload() {
        let written = |f: f64| written(&f).into_string();
        assert_eq!(written(1.5), "1.5");
        assert_ne!(written(0.0), written(-0.0));
        assert_eq!(written(f64::NAN), "NaN");
        assert_eq!(
            written(f64::from_bits(0x7ff8_0000_0000_0001)),
            "NaN0x7ff8000000000001"
        );
        assert_ne!(written(-f64::NAN), "NaN");
        assert_eq!(super::written(&f32::NAN).into_string(), "NaN");
    }

    #[test]
    fn options_are_distinct_from_bare_values() {
        let mut out = KeyBuf::new();
        Some("None").write_key(&mut out);
        out.push('|');
        None::<&str>.write_key(&mut out);
        out.push('|');
        Some(Some(3u8)).write_key(&mut out);
        assert_eq!(out, "Some(None)|None|Some(Some(3))");
    }

    #[test]
    fn integers_are_written_in_decimal() {
        for (n, text) in [
            (0i64, "0"),
            (7, "7"),
            (-42, "-42"),
            (i64::MIN, "-9223372036854775808"),
        ] {
            let mut out = KeyBuf::new();
            n.write_key(&mut out);
            assert_eq!(out, text);
        }
        let mut out = KeyBuf::new();
        u64::MAX.write_key(&mut out);
        i8::MIN.write_key(&mut out);
        usize::MAX.write_key(&mut out);
        i128::MIN.write_key(&mut out);
        assert_eq!(
            out.as_str(),
            format!("{}{}{}{}", u64::MAX, i8::MIN, usize::MAX, i128::MIN)
        );
    }

    #[test]
    fn filters() {
        assert_eq!(key(|w| w.lower(0, "AbC")), "abc");
        assert_eq!(key(|w| w.upper(0, &String::from("straße"))), "STRASSE");
        assert_eq!(key(|w| w.display(0, &1.5f32)), "1.5");
        let h = key(|w| w.hash(0, "token"));
        assert_eq!(h.len(), 32);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
        // Stable across runs and versions: the BLAKE3 of "token".
        assert_eq!(h, &blake3::hash(b"token").to_hex()[..32]);
    }

    #[test]
    fn patterns_escape_values_but_keep_their_globs() {
        let mut out = KeyBuf::new();
        let mut w = KeyWriter::pattern(&mut out);
        w.glob("user:");
        w.arg(0, "*?[");
        w.glob(":");
        w.arg(1, "a:*");
        w.glob(":*");
        let p = out.into_string();
        assert_eq!(p, r"user:\*\?\[:a%3A\*:*");
        assert!(pattern::glob_match(&p, "user:*?[:a%3A*:orders"));
        assert!(!pattern::glob_match(&p, "user:alice:orders"));
    }

    #[test]
    fn a_probe_turns_the_key_into_a_pattern_with_wildcards() {
        PROBE.with(|p| p.set(Some(0b10)));
        let mut out = KeyBuf::new();
        let mut w = KeyWriter::new(&mut out);
        assert!(PROBE.with(Cell::get).is_none(), "the probe is taken once");
        w.text("m::f*");
        w.named(0, ":a:", "x*:");
        w.named(1, ":b:", &7u32);
        assert_eq!(w.out.as_str(), r"m::f\*:a:x\*%3A:b:*");
    }
}

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
//! [`KeyArg`]). Invalidation patterns, and the keys a cached function's
//! companion builds, escape values the same way, then escape glob
//! characters, so they match exactly the keys they name; [`escape`] does
//! the same for keys and patterns written by hand.
//!
//! Every caching attribute puts a companion next to its function,
//! `<name>_cache_key`, taking a [`KeyPart`] per argument: it returns the
//! function's cache and the key of that call, a pattern where an argument
//! is [`KeyPart::ANY`] (see [`cache`](crate::cache)).
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
use std::fmt::Write;
use std::rc::Rc;
use std::sync::Arc;

pub use self::buf::KeyBuf;
pub use self::escape::escape;
pub use self::writer::KeyWriter;

mod buf;
mod escape;
mod writer;

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

fn written<A: KeyArg + ?Sized>(value: &A) -> KeyBuf {
    let mut text = KeyBuf::new();
    value.write_key(&mut text);
    text
}

/// One argument given to a cached function's companion
/// (`<name>_cache_key`, see [`cache`](crate::cache)): a value, written as
/// the cached call writes it, or any value, written as `*`.
///
/// `W` is what a wildcard holds: [`Any`], or [`ChoosesCache`] for a
/// parameter the `cache` option reads, which cannot be left open.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// use cashews::KeyPart;
///
/// #[cashews::cache(ttl = "1h", key = "user:{id}:{field}")]
/// async fn user_field(id: u64, field: &str) -> String {
///     format!("{field} of {id}")
/// }
///
/// user_field(1, "name").await;
/// let one = user_field_cache_key(KeyPart::Value(1), KeyPart::Value("name"));
/// assert_eq!(one.key().as_deref(), Some("user:1:name"));
/// assert_eq!(one.cache().get::<String>("user:1:name").await?.as_deref(), Some("name of 1"));
/// let every_field = user_field_cache_key(1.into(), KeyPart::ANY);
/// assert_eq!(every_field.pattern(), "user:1:*");
/// assert_eq!(every_field.run().await?, 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyPart<T, W = Any> {
    /// This value.
    Value(T),
    /// Any value: the key becomes a pattern.
    Wildcard(W),
}

impl<T> KeyPart<T> {
    /// Any value: `KeyPart::Wildcard(Any)`.
    pub const ANY: Self = Self::Wildcard(Any);
}

impl<T, W> From<T> for KeyPart<T, W> {
    fn from(value: T) -> Self {
        Self::Value(value)
    }
}

/// What a [`KeyPart::Wildcard`] holds: any value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Any;

/// The wildcard type of a companion's parameter that the `cache` option
/// reads: it has no values, so that parameter is always
/// [`KeyPart::Value`] (it chooses the cache, so it cannot be left open).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChoosesCache {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern;

    fn key(build: impl FnOnce(&mut KeyWriter<'_>)) -> String {
        let mut out = KeyBuf::new();
        build(&mut KeyWriter::new(&mut out));
        out.into_string()
    }

    #[test]
    fn default_key_escapes_separators_so_arguments_cannot_collide() {
        let a = key(|w| {
            w.text("f");
            w.named(":a:", "x:b:y");
            w.named(":b:", "z");
        });
        let b = key(|w| {
            w.text("f");
            w.named(":a:", "x");
            w.named(":b:", "y:b:z");
        });
        assert_eq!(a, "f:a:x%3Ab%3Ay:b:z");
        assert_ne!(a, b);
        assert_eq!(key(|w| w.named(":p:", "100%")), ":p:100%25");
    }

    #[test]
    fn template_values_are_escaped_like_default_ones() {
        let acl = |a: &str, b: &str| {
            key(|w| {
                w.text("acl:");
                w.arg(a);
                w.text(":");
                w.arg(b);
            })
        };
        assert_eq!(acl("a", "b:c"), "acl:a:b%3Ac");
        assert_eq!(acl("a:b", "c"), "acl:a%3Ab:c");
        assert_eq!(acl("%3A", ""), "acl:%253A:");
        assert_eq!(key(|w| w.upper("a:b")), "A%3AB");
        assert_eq!(
            key(|w| w.display(&"::1".parse::<std::net::IpAddr>().unwrap())),
            "%3A%3A1"
        );
    }

    proptest::proptest! {
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
        w.arg(&-12i64);
        w.named(":b:", &Some(true));
        assert_eq!(out, "-12:b:Some(true)");
    }

    #[test]
    fn escape_is_what_keys_write() {
        for value in ["", "plain", "a:b", "%3A", "::%%", "é:ß"] {
            assert_eq!(escape(value), key(|w| w.arg(value)), "{value:?}");
        }
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
        assert_eq!(key(|w| w.lower("AbC")), "abc");
        assert_eq!(key(|w| w.upper(&String::from("straße"))), "STRASSE");
        assert_eq!(key(|w| w.display(&1.5f32)), "1.5");
        let h = key(|w| w.hash("token"));
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
        w.arg("*?[");
        w.glob(":");
        w.arg("a:*");
        w.glob(":*");
        let p = out.into_string();
        assert_eq!(p, r"user:\*\?\[:a%3A\*:*");
        assert!(pattern::glob_match(&p, "user:*?[:a%3A*:orders"));
        assert!(!pattern::glob_match(&p, "user:alice:orders"));
    }

    #[test]
    fn a_pattern_of_a_key_escapes_everything_but_its_wildcards() {
        let mut out = KeyBuf::new();
        let mut w = KeyWriter::pattern(&mut out);
        w.text("m::f*");
        w.named(":a:", "x*:");
        w.text(":b:");
        w.wildcard();
        w.named(":c:", &7u32);
        assert_eq!(out, r"m::f\*:a:x\*%3A:b:*:c:7");
        assert!(pattern::glob_match(
            out.as_str(),
            "m::f*:a:x*%3A:b:anything:c:7"
        ));
        assert!(!pattern::glob_match(
            out.as_str(),
            "m::fg:a:x*%3A:b:anything:c:7"
        ));
    }
}

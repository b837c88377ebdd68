//! [`KeyWriter`]: the one writer of the keys and patterns the attributes
//! build.

use std::fmt::{self, Write};

use super::escape::{
    escape_glob, escape_separator, escape_tail, has_separator, is_glob, is_separator,
};
use super::{KeyArg, KeyBuf, hash, written};
use crate::pattern;

/// What a [`KeyWriter`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// A key, as stored.
    Key,
    /// A pattern: template text and values glob-escaped (so they match only
    /// themselves), [`KeyWriter::glob`] text and wildcards as they are.
    Pattern,
}

/// Builds a key or a pattern; the code the attributes generate drives it.
///
/// Not meant to be used by hand (build a `String`); public for the macros.
///
/// It writes into a [`KeyBuf`] that the caller owns, so that the key is
/// built where it stays (in the decorated call's future): a key moved
/// after it is written costs a store-forwarding stall per copy.
///
/// A pattern written with the same calls as a key matches that key alone,
/// and [`pattern::unescape`] of it is that key, byte for byte.
#[doc(hidden)]
#[derive(Debug)]
pub struct KeyWriter<'a> {
    out: &'a mut KeyBuf,
    mode: Mode,
}

impl<'a> KeyWriter<'a> {
    /// The writer of a key into `out`.
    #[inline]
    pub fn new(out: &'a mut KeyBuf) -> Self {
        Self {
            out,
            mode: Mode::Key,
        }
    }

    /// The writer of a pattern into `out`: of an invalidation template, or
    /// of a cached function's key with some values left open.
    pub fn pattern(out: &'a mut KeyBuf) -> Self {
        Self {
            out,
            mode: Mode::Pattern,
        }
    }

    /// Text of a key template or default key (taken literally).
    #[inline]
    pub fn text(&mut self, text: &str) {
        match self.mode {
            Mode::Key => self.out.push_str(text),
            Mode::Pattern => self.out.push_str(&pattern::escape(text)),
        }
    }

    /// Text of an invalidation pattern (a glob).
    pub fn glob(&mut self, glob: &str) {
        self.out.push_str(glob);
    }

    /// A value left open: `*`. Only patterns have them.
    pub fn wildcard(&mut self) {
        self.out.push('*');
    }

    /// A value of a template (a parameter, or a field of one).
    #[inline]
    pub fn arg<A: KeyArg + ?Sized>(&mut self, value: &A) {
        if A::PLAIN {
            value.write_key(self.out);
            return;
        }
        self.value(|out| value.write_key(out));
    }

    /// `:name:value` of the default key.
    #[inline]
    pub fn named<A: KeyArg + ?Sized>(&mut self, name: &str, value: &A) {
        self.text(name);
        self.arg(value);
    }

    /// The `hash` filter.
    pub fn hash<A: KeyArg + ?Sized>(&mut self, value: &A) {
        self.value(|out| out.push_str(&hash(value)));
    }

    /// The `lower` filter.
    pub fn lower<A: KeyArg + ?Sized>(&mut self, value: &A) {
        self.value(|out| {
            out.push_str(&written(value).to_lowercase());
        });
    }

    /// The `upper` filter.
    pub fn upper<A: KeyArg + ?Sized>(&mut self, value: &A) {
        self.value(|out| {
            out.push_str(&written(value).to_uppercase());
        });
    }

    /// The `display` filter.
    pub fn display<D: fmt::Display + ?Sized>(&mut self, value: &D) {
        self.value(|out| {
            let _ = write!(out, "{value}");
        });
    }

    /// Writes one value, escaped: `:` as `%3A` and `%` as `%25` in both
    /// modes, so that a value never holds the separator and one key has one
    /// reading; in patterns, glob characters too, after that. A key's value
    /// with nothing to escape costs one byte scan; a [`KeyArg::PLAIN`]
    /// value costs none (its callers write it directly).
    #[inline(always)]
    fn value(&mut self, write: impl FnOnce(&mut KeyBuf)) {
        let start = self.out.len();
        write(self.out);
        let plain = self
            .out
            .as_bytes()
            .get(start..)
            .is_none_or(|value| !has_separator(value));
        if !plain || self.mode == Mode::Pattern {
            self.escape(start);
        }
    }

    /// Escapes the value written from `start` (see [`Self::value`]).
    #[cold]
    #[inline(never)]
    fn escape(&mut self, start: usize) {
        escape_tail(self.out, start, is_separator, escape_separator);
        if self.mode == Mode::Pattern {
            escape_tail(self.out, start, is_glob, escape_glob);
        }
    }
}

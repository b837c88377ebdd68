//! [`KeyBuf`]: the text a key is written into.

use std::fmt;

use arrayvec::ArrayString;

/// Bytes a key holds in place before it moves to the heap. Template keys
/// (`user:{id}`) and most default keys (`my_app::users::get_user:id:42`)
/// fit.
const INLINE: usize = 96;

/// The text of a cache key being written: a string that keeps short keys
/// in place (no allocation) and moves longer ones to the heap.
///
/// A decorated call builds its key on every call, hits included, and on
/// the memory backend a `String`'s `malloc` and `free` (or even reusing a
/// thread's spare one) cost more than the rest of key building together
/// (measured in `benches/hot_paths.rs`, `key/*`). Written by hand over
/// [`ArrayString`] because the crates that keep short strings in place
/// either hold fewer bytes (24 for `compact_str`) or are unmaintained.
///
/// ```
/// use std::fmt::Write;
/// use cashews::KeyBuf;
///
/// let mut key = KeyBuf::new();
/// key.push_str("user:");
/// write!(key, "{}", 42).unwrap();
/// assert_eq!(key.as_str(), "user:42");
/// ```
#[derive(Clone)]
pub struct KeyBuf(Repr);

#[derive(Clone)]
enum Repr {
    Inline(ArrayString<INLINE>),
    Heap(String),
}

impl KeyBuf {
    /// An empty key.
    #[inline]
    pub fn new() -> Self {
        Self(Repr::Inline(ArrayString::new()))
    }

    /// An empty key with room for `capacity` bytes.
    #[inline]
    pub fn with_capacity(capacity: usize) -> Self {
        if capacity <= INLINE {
            Self::new()
        } else {
            Self(Repr::Heap(String::with_capacity(capacity)))
        }
    }

    /// Appends `text`.
    #[inline]
    pub fn push_str(&mut self, text: &str) {
        match &mut self.0 {
            Repr::Inline(inline) => {
                if inline.try_push_str(text).is_err() {
                    self.spill(text);
                }
            }
            Repr::Heap(heap) => heap.push_str(text),
        }
    }

    /// Appends `c`.
    #[inline]
    pub fn push(&mut self, c: char) {
        self.push_str(c.encode_utf8(&mut [0; 4]));
    }

    /// The text written so far.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline(inline) => inline,
            Repr::Heap(heap) => heap,
        }
    }

    /// Shortens the text to `len` bytes (a character boundary).
    ///
    /// # Panics
    ///
    /// If `len` is not on a character boundary, as [`String::truncate`].
    pub fn truncate(&mut self, len: usize) {
        match &mut self.0 {
            Repr::Inline(inline) => inline.truncate(len),
            Repr::Heap(heap) => heap.truncate(len),
        }
    }

    /// The text, as an owned `String`.
    pub fn into_string(self) -> String {
        match self.0 {
            Repr::Inline(inline) => inline.as_str().to_owned(),
            Repr::Heap(heap) => heap,
        }
    }

    /// Moves the text to the heap, then appends `text`.
    #[cold]
    fn spill(&mut self, text: &str) {
        let mut heap = String::with_capacity((self.as_str().len() + text.len()).max(2 * INLINE));
        heap.push_str(self.as_str());
        heap.push_str(text);
        self.0 = Repr::Heap(heap);
    }
}

impl Default for KeyBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl std::ops::Deref for KeyBuf {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for KeyBuf {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Write for KeyBuf {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

impl fmt::Debug for KeyBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for KeyBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for KeyBuf {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for KeyBuf {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_stays_in_place_and_long_text_moves_whole() {
        let mut key = KeyBuf::new();
        key.push_str("user:");
        key.push('ß');
        assert!(matches!(key.0, Repr::Inline(_)));
        let long = "x".repeat(INLINE);
        key.push_str(&long);
        assert!(matches!(key.0, Repr::Heap(_)));
        assert_eq!(key.as_str(), format!("user:ß{long}"));
        key.truncate(5);
        assert_eq!(key, "user:");
    }

    #[test]
    fn a_large_capacity_starts_on_the_heap() {
        assert!(matches!(KeyBuf::with_capacity(INLINE).0, Repr::Inline(_)));
        let mut key = KeyBuf::with_capacity(INLINE + 1);
        assert!(matches!(key.0, Repr::Heap(_)));
        key.push_str("a");
        assert_eq!(key.into_string(), "a");
    }

    #[test]
    fn exactly_full_stays_in_place() {
        let mut key = KeyBuf::new();
        key.push_str(&"y".repeat(INLINE - 1));
        key.push('z');
        assert!(matches!(key.0, Repr::Inline(_)));
        // A character that does not fit moves whole, never split.
        key.truncate(INLINE - 1);
        key.push('ß');
        assert!(matches!(key.0, Repr::Heap(_)));
        assert!(key.ends_with('ß'));
    }
}

//! The one error type of the crate.
//!
//! [`Error`] is opaque: match on its [`ErrorKind`] or ask a predicate such as
//! [`Error::is_connection`]. Errors of *your* decorated functions never pass
//! through this type: strategies hand them back untouched.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

/// A `Result` whose error is [`cashews::Error`](Error).
pub type Result<T, E = Error> = std::result::Result<T, E>;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What went wrong, in broad strokes. New kinds may be added in minor releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A setup URL or option is malformed, unknown or out of range.
    Settings,
    /// A TTL is malformed (`"1h30"`, `"1.5s"`) or not positive.
    Ttl,
    /// The backend could not be reached, or the connection broke.
    Connection,
    /// The backend did not answer in time.
    Timeout,
    /// The backend answered with an error of its own.
    Backend,
    /// The command is not available on this backend (pattern commands on memcached).
    Unsupported,
    /// A value is longer than this backend is set to store (memcached's
    /// `max_value_size`); it was not sent. The message names the limit.
    ValueTooLarge,
    /// `incr` on a value that is not an integer.
    NotInteger,
    /// A value could not be serialized for storage.
    Encode,
    /// A scoped lock is held by someone else.
    Locked,
    /// A rate limit refused the call.
    RateLimited,
    /// A circuit breaker is open and refused the call.
    CircuitOpen,
    /// The global cache was configured, or used, before this `setup`.
    AlreadyConfigured,
    /// The memory backend's store of protective state (rate-limit windows,
    /// locks, circuit breakers, tag indexes) is at its `protected_size`: a new
    /// protective key was refused rather than an existing one evicted.
    ProtectedFull,
}

impl ErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Settings => "invalid settings",
            Self::Ttl => "invalid ttl",
            Self::Connection => "backend connection failed",
            Self::Timeout => "backend timed out",
            Self::Backend => "backend error",
            Self::Unsupported => "unsupported command",
            Self::ValueTooLarge => "value too large for this backend",
            Self::NotInteger => "value is not an integer",
            Self::Encode => "value could not be encoded",
            Self::Locked => "key is locked",
            Self::RateLimited => "rate limit reached",
            Self::CircuitOpen => "circuit breaker is open",
            Self::AlreadyConfigured => "global cache already configured",
            Self::ProtectedFull => "protective store full",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of every cache command and setup call.
///
/// ```
/// let err = cashews::Cache::from_url("mem://?size=lots").unwrap_err();
/// assert!(err.is_settings());
/// assert!(err.to_string().contains("size"));
/// ```
pub struct Error {
    kind: ErrorKind,
    message: Cow<'static, str>,
    source: Option<BoxError>,
}

impl Error {
    /// An error of `kind` with a human message.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying cause (a driver error, an I/O error).
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The broad category of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// A setup URL or option was rejected.
    pub fn is_settings(&self) -> bool {
        self.kind == ErrorKind::Settings
    }

    /// A TTL was malformed or not positive.
    pub fn is_ttl(&self) -> bool {
        self.kind == ErrorKind::Ttl
    }

    /// The backend could not be reached or the connection broke.
    pub fn is_connection(&self) -> bool {
        self.kind == ErrorKind::Connection
    }

    /// The backend did not answer in time.
    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::Timeout
    }

    /// The command is not available on this backend.
    pub fn is_unsupported(&self) -> bool {
        self.kind == ErrorKind::Unsupported
    }

    /// A value was longer than the backend is set to store, and not sent.
    pub fn is_value_too_large(&self) -> bool {
        self.kind == ErrorKind::ValueTooLarge
    }

    /// `incr` met a value that is not an integer.
    pub fn is_not_integer(&self) -> bool {
        self.kind == ErrorKind::NotInteger
    }

    /// A scoped lock is held by someone else.
    pub fn is_locked(&self) -> bool {
        self.kind == ErrorKind::Locked
    }

    /// A rate limit refused the call.
    pub fn is_rate_limited(&self) -> bool {
        self.kind == ErrorKind::RateLimited
    }

    /// A circuit breaker refused the call.
    pub fn is_circuit_open(&self) -> bool {
        self.kind == ErrorKind::CircuitOpen
    }

    /// The backend failed (unreachable, timed out, answered an error, or
    /// cannot store a value that long): the failures that safe mode turns
    /// into empty answers.
    pub fn is_backend_failure(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Connection
                | ErrorKind::Timeout
                | ErrorKind::Backend
                | ErrorKind::ValueTooLarge
        )
    }

    pub(crate) fn settings(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Settings, message)
    }

    pub(crate) fn ttl(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Ttl, message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            f.write_str(self.kind.as_str())
        } else {
            write!(f, "{}: {}", self.kind.as_str(), self.message)
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_kind_and_message() {
        let e = Error::new(ErrorKind::Timeout, "GET user:1 after 50ms");
        assert_eq!(e.to_string(), "backend timed out: GET user:1 after 50ms");
        assert!(e.is_timeout() && e.is_backend_failure() && !e.is_connection());
    }

    #[test]
    fn source_is_exposed() {
        let io = std::io::Error::other("reset by peer");
        let e = Error::new(ErrorKind::Connection, "").with_source(io);
        assert_eq!(e.source().unwrap().to_string(), "reset by peer");
        assert_eq!(e.to_string(), "backend connection failed");
    }
}

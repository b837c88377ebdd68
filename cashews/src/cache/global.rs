//! The global cache: what attributes that name no cache use.
//!
//! [`setup`] configures it once. Setting it up again with the same URL is
//! fine and returns it; another URL, or [`set_global`] with another cache,
//! fails with [`ErrorKind::AlreadyConfigured`], as does any setup after
//! [`global`] made the default cache.

use std::sync::OnceLock;

use super::Cache;
use crate::backend::MemoryBackend;
use crate::error::{Error, ErrorKind, Result};

/// The global cache and where it came from.
struct Global {
    cache: Cache,
    /// The BLAKE3 hash of the URL [`setup`] was given (not the URL: it may
    /// hold a password); `None` for a cache set otherwise.
    url_hash: Option<blake3::Hash>,
}

static GLOBAL: OnceLock<Global> = OnceLock::new();

/// Configures the global cache, used by attributes that name no cache.
///
/// Call it at start-up, before the global cache is first used. Calling it
/// again with the same URL returns the same cache; another URL, or any
/// call after [`global`] made the default cache, fails with
/// [`ErrorKind::AlreadyConfigured`] (the error does not repeat the URL,
/// which may hold a password).
///
/// ```
/// let cache = cashews::setup("mem://?size=10000").unwrap();
/// assert!(std::ptr::eq(cache, cashews::setup("mem://?size=10000").unwrap()));
/// assert!(cashews::setup("mem://").unwrap_err().kind() == cashews::ErrorKind::AlreadyConfigured);
/// ```
pub fn setup(url: &str) -> Result<&'static Cache> {
    let url_hash = blake3::hash(url.as_bytes());
    if let Some(global) = GLOBAL.get() {
        return configured_as(global, global.url_hash == Some(url_hash));
    }
    let cache = Cache::from_url(url)?;
    let global = GLOBAL.get_or_init(|| Global {
        cache,
        url_hash: Some(url_hash),
    });
    configured_as(global, global.url_hash == Some(url_hash))
}

/// Makes `cache` the global cache. Setting the global cache (or a clone
/// of it) again returns it; another cache, or any cache after [`global`]
/// made the default one, fails with [`ErrorKind::AlreadyConfigured`].
pub fn set_global(cache: Cache) -> Result<&'static Cache> {
    let asked = cache.clone();
    let global = GLOBAL.get_or_init(|| Global {
        cache,
        url_hash: None,
    });
    configured_as(global, global.cache.is_same(&asked))
}

/// `global`'s cache if it is the one asked for, else the error that says
/// the global cache is another.
fn configured_as(global: &'static Global, asked_for: bool) -> Result<&'static Cache> {
    if asked_for {
        return Ok(&global.cache);
    }
    Err(Error::new(
        ErrorKind::AlreadyConfigured,
        "the global cache is already configured (or was used before setup) with \
         another URL or cache: call cashews::setup once, before the global cache is first used",
    ))
}

/// The global cache: the one [`setup`] configured, else an in-memory
/// `mem://` cache made on first use.
pub fn global() -> &'static Cache {
    &GLOBAL
        .get_or_init(|| Global {
            cache: Cache::builder(MemoryBackend::new(Default::default())).build(),
            url_hash: None,
        })
        .cache
}

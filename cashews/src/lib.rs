//! Async caching toolkit: put a cache in front of any async function, on
//! memory, Redis or memcached, chosen by one URL.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
//! use std::time::Duration;
//!
//! let cache = cashews::Cache::from_url("mem://?size=10000")?;
//! cache.set("user:1", &"Ada", Duration::from_secs(60)).await?;
//! let name: Option<String> = cache.get("user:1").await?;
//! assert_eq!(name.as_deref(), Some("Ada"));
//! # Ok(()) }
//! ```
//!
//! The pieces:
//! - [`Cache`]: a cheap handle with the basic commands (`get`, `set`, `incr`,
//!   `delete_match`, locks, …), typing values through serde and signing them
//!   when a `hash_key` is set. [`setup`] configures a global one.
//! - [`settings`]: the setup URLs and their options.
//! - [`backend`]: the [`Backend`](backend::Backend) trait and the built-in backends.
//! - [`pattern`]: Redis glob patterns, matched and escaped.
//! - TTLs: [`IntoTtl`] and [`parse_ttl`].
//!
//! Safe mode (on by default) turns backend failures into empty answers (a
//! miss, `false`, `0`), logged with `tracing` and counted in
//! [`Cache::stats`]; with `safe=0` they come back as [`Error`]s.

pub mod backend;
mod cache;
mod codec;
mod error;
pub mod pattern;
pub mod settings;
pub mod strategy;
pub mod switch;
mod ttl;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

pub use backend::{Exist, Expiry};
pub use cache::{Cache, CacheBuilder, CacheStats, LockGuard, global, set_global, setup};
pub use error::{Error, ErrorKind, Result};
pub use settings::{BackendSettings, Secret, Settings};
pub use ttl::{IntoTtl, parse_ttl};

//! [`CacheBuilder`]: a cache's backend, routes and options.

use std::fmt;
use std::sync::Arc;

use super::{Cache, Counters, Inner};
use crate::backend::RoutedBackend;
use crate::backend::any::AnyBackend;
use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::settings::Settings;

/// Builds a [`Cache`] from settings or from a backend of your own.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
/// use cashews::{Cache, backend::MemoryBackend};
/// let cache = Cache::builder(MemoryBackend::new(Default::default()))
///     .prefix("app")
///     .hash_key("secret")
///     .build();
/// cache.set("k", &1.5, 60).await?;
/// # Ok(()) }
/// ```
#[must_use]
pub struct CacheBuilder {
    backend: AnyBackend,
    /// Prefix routes to other backends, in the order given.
    routes: Vec<(String, AnyBackend)>,
    hash_key: Option<String>,
    prefix: Option<String>,
    safe: bool,
    enable: bool,
}

impl fmt::Debug for CacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("prefix", &self.prefix)
            .field("safe", &self.safe)
            .field("enable", &self.enable)
            .finish_non_exhaustive()
    }
}

impl CacheBuilder {
    /// A builder configured by a setup URL (see [`Settings`]), to add
    /// [routes](Self::route) to before building.
    pub fn from_url(url: &str) -> Result<Self> {
        Self::from_settings(&Settings::from_url(url)?)
    }

    /// A builder configured by typed settings.
    pub fn from_settings(settings: &Settings) -> Result<Self> {
        Ok(CacheBuilder {
            hash_key: settings.hash_key.as_ref().map(|s| s.expose().to_owned()),
            prefix: settings.prefix.clone(),
            safe: settings.safe,
            enable: settings.enable,
            ..Self::over(AnyBackend::from_settings(&settings.backend)?)
        })
    }

    /// A builder of a cache over `backend`, with the default options.
    pub(super) fn over(backend: AnyBackend) -> Self {
        CacheBuilder {
            backend,
            routes: Vec::new(),
            hash_key: None,
            prefix: None,
            safe: true,
            enable: true,
        }
    }

    /// Prefix routing: keys that start with `prefix` go to the backend of
    /// `url`; the others stay on the cache's own backend (the longest
    /// matching prefix wins). The prefix is matched against the keys you
    /// pass, before the cache's own `prefix`. See
    /// [`RoutedBackend`](crate::backend::RoutedBackend) for how commands
    /// of several keys and patterns are split.
    ///
    /// `url` chooses a backend and its own options only: `safe`, `enable`,
    /// `hash_key` and `prefix` belong to the cache, and naming them in a
    /// route is an error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
    /// use cashews::CacheBuilder;
    ///
    /// // `user:` keys in a memory store of their own (Redis, in practice:
    /// // "redis://127.0.0.1/"), everything else in the default one.
    /// let cache = CacheBuilder::from_url("mem://?size=1000")?
    ///     .route("user:", "mem://?size=100000")?
    ///     .build();
    /// cache.set("user:1", &"Ada", 60).await?;
    /// assert_eq!(cache.get::<String>("user:1").await?.as_deref(), Some("Ada"));
    /// assert!(CacheBuilder::from_url("mem://")?.route("x:", "mem://?hash_key=s").is_err());
    /// # Ok(()) }
    /// ```
    pub fn route(mut self, prefix: impl Into<String>, url: &str) -> Result<Self> {
        let prefix = prefix.into();
        let settings = Settings::from_url(url)?;
        if !settings.safe
            || !settings.enable
            || settings.hash_key.is_some()
            || settings.prefix.is_some()
        {
            // The URL is not repeated: it may hold a password.
            return Err(Error::settings(format!(
                "route {prefix:?}: `safe`, `enable`, `hash_key` and `prefix` are options \
                 of the cache, not of a route; set them on the cache's own URL"
            )));
        }
        let backend = AnyBackend::from_settings(&settings.backend)?;
        self.routes.push((prefix, backend));
        Ok(self)
    }

    /// Signs every value with this secret; unsigned or tampered values read as misses.
    pub fn hash_key(mut self, secret: impl Into<String>) -> Self {
        self.hash_key = Some(secret.into());
        self
    }

    /// Prepends `prefix:` to every key.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Safe mode (default on): backend failures become empty answers.
    pub fn safe(mut self, safe: bool) -> Self {
        self.safe = safe;
        self
    }

    /// Caching on (default) or off.
    pub fn enable(mut self, enable: bool) -> Self {
        self.enable = enable;
        self
    }

    /// The cache.
    pub fn build(self) -> Cache {
        let prefix = self.prefix.map(|p| format!("{p}:"));
        let backend = if self.routes.is_empty() {
            self.backend
        } else {
            // Routes see keys as stored, after the cache's prefix.
            let own = prefix.as_deref().unwrap_or("");
            let routed = self.routes.into_iter().fold(
                RoutedBackend::over(self.backend),
                |routed, (route, backend)| routed.route_to(format!("{own}{route}"), backend),
            );
            AnyBackend::Routed(Arc::new(routed))
        };
        Cache {
            inner: Arc::new(Inner {
                codec: Codec::new(self.hash_key.as_deref()),
                prefix,
                backend,
                safe: self.safe,
                enable: self.enable,
                stats: Counters::default(),
                strategy_state: crate::strategy::state::StrategyState::default(),
            }),
        }
    }
}

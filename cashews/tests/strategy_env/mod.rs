//! Where strategy tests run: two caches over one backend (two "processes"
//! sharing it) and a way to let time pass for the backend.
//!
//! On memory, time is tokio's paused clock (the test must start paused); on
//! Redis, the server's TTLs are lowered (its keys age, the client clock does
//! not move), so only strategies whose timing lives in server TTLs (hit,
//! locked, rate limits, tags) run there.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use cashews::Cache;
use cashews::backend::MemoryBackend;

type Advance = Box<dyn Fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

pub struct Env {
    /// Two caches, one backend.
    pub a: Cache,
    pub b: Cache,
    advance: Advance,
    /// Keeps a server alive for the test.
    _server: Option<Arc<dyn Send + Sync>>,
}

impl Env {
    pub fn memory() -> Self {
        let backend = MemoryBackend::new(Default::default());
        Self {
            a: Cache::builder(backend.clone()).build(),
            b: Cache::builder(backend).build(),
            advance: Box::new(|d| Box::pin(tokio::time::advance(d))),
            _server: None,
        }
    }

    #[cfg(feature = "redis")]
    pub async fn redis() -> Self {
        let server = Arc::new(crate::support::servers::RedisServer::start().await);
        let url = server.url();
        let clock = server.clone();
        Self {
            a: Cache::from_url(&url).unwrap(),
            b: Cache::from_url(&url).unwrap(),
            advance: Box::new(move |d| {
                let server = clock.clone();
                Box::pin(async move { server.advance(d).await })
            }),
            _server: Some(server),
        }
    }

    pub async fn advance(&self, d: Duration) {
        (self.advance)(d).await
    }
}
